"""Clip time: the one clock that every stored time of a recording is on.

Clip time is seconds since the container's start: the earliest start of its streams, which FFmpeg
reports for the whole file as its format-level ``start_time`` (taken as 0 when the file does not
say). The ``ffmpeg`` command line shifts a file's timestamps by the same amount unless told to
copy them. On this clock a syllable heard at 1.30 s and a lip movement seen at 1.30 s happened
together, whatever clock the recorder's streams ran on:

- a video frame's clip time is its presentation time minus the container's start
  (``features.video.decode.iter_frames``);
- a decoded sound starts at its first frame's presentation time minus the container's start
  (``info["start_s"]`` of ``features.audio.decode.load_audio``), and every time measured on the
  sound is offset by that (``features.audio.audio_features``). The samples themselves are never
  padded or cut to make the sound start at 0: added digital silence would change the features.

A sidecar audio file (a ``.wav`` beside the video) is a container of its own, with a clock of its
own that starts at 0 with its first sample. Its sound is taken to start together with the video's
container (clip time 0). Nothing in the two files can check that: a recorder that started the
sound late puts every audio time early by that delay.

AVI files have no format-level start: FFmpeg reports 0 for the file and each stream, and places a
stream that starts late by its header's start field (``dwStart``), so AVI times are measured from
the file's zero (see ``core.media_writer`` for what was observed, and
``features.video.decode`` for how AVI video frames are timed).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

import av


def container_start(container: av.container.InputContainer) -> Fraction:
    """Where the container's clock starts, in seconds (exact); 0 when the container does not say.

    Parameters
    ----------
    container : av.container.InputContainer
        An open media file.

    Returns
    -------
    Fraction
        The format-level start time (the earliest start of the file's streams) in seconds.
    """
    if container.start_time is None:
        return Fraction(0)
    return Fraction(container.start_time, av.time_base)


def clip_seconds(time_base: Fraction, start: Fraction) -> Callable[[int], float]:
    """Converter from a stream's timestamps to clip time.

    Parameters
    ----------
    time_base : Fraction
        Seconds per tick of the stream's timestamps.
    start : Fraction
        The container's start in seconds (``container_start``).

    Returns
    -------
    callable
        ``ticks -> seconds``: ``ticks * time_base - start`` as a float, computed in integers with
        one correctly rounded division (exact like Fraction arithmetic, cheaper per frame).
    """
    scale = time_base.numerator * start.denominator
    offset = start.numerator * time_base.denominator
    denominator = time_base.denominator * start.denominator
    return lambda ticks: (ticks * scale - offset) / denominator
