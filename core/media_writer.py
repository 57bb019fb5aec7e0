"""Write video clips: AVI files with H.264 video and a 16-bit PCM audio stream.

Used for the phantom cohort (the NeuroFace release's container) and for the landmark overlays.
H.264 is written without B-frames, so decoders return frames in order; every clip is written to a
temporary name and renamed into place.

Where a stream starts
---------------------
An AVI keeps no timestamps, only each stream's start (``dwStart`` in its stream header, in the
stream's own units) and the order of its chunks. FFmpeg's AVI muxer writes 0 as every start and
keeps of the timestamps it is given only what the order of chunks can show. Observed with PyAV 18.1 (libavformat 62.12), 50 fps, frames
given pts 1, 2, 3, ... and 16 kHz PCM given pts from 320 samples (one frame period): the first
frame went into chunk 0 and an empty chunk (a dropped frame) followed it, so the frames decoded
at slots 0, 2, 3, ...; the audio decoded from sample 0; FFmpeg's demuxer reported a start of 0
for the file and for both streams. It does honour ``dwStart``: with the headers set to 1 frame
and 320 samples, the first video chunk decoded with dts 1 and the first audio frame with pts 320
(the reported starts stayed 0). So ``write_clip`` encodes from pts 0 and writes a late start into
the stream headers afterwards.
"""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import av
import cv2
import numpy as np

from core.errors import ConfigError, MediaError
from core.files import atomic_write

VIDEO_CODEC = "libx264"
# ultrafast: 4x faster than veryfast here at the same crf; the files are larger, not worse
X264_OPTIONS = {"crf": "18", "preset": "ultrafast", "bf": "0", "threads": "1"}
AUDIO_CHUNK = 1024
# Byte offset of dwStart in an AVI stream header ('strh' chunk): after fccType, fccHandler,
# dwFlags, wPriority, wLanguage, dwInitialFrames, dwScale and dwRate.
STRH_START_OFFSET = 28


def _mux_audio(container, sound, pcm: np.ndarray, *, start: int, stop: int, rate: int) -> int:
    """Encode samples ``start:stop`` of mono 16-bit ``pcm`` in chunks; return ``stop``."""
    for first in range(start, stop, AUDIO_CHUNK):
        last = min(first + AUDIO_CHUNK, stop)
        chunk = av.AudioFrame.from_ndarray(pcm[None, first:last], format="s16", layout="mono")
        chunk.sample_rate, chunk.pts = rate, first
        container.mux(sound.encode(chunk))
    return stop


def _encode_clip(tmp: Path, frames: Iterable[np.ndarray], rate: Fraction, size: tuple[int, int],
                 audio: np.ndarray | None, audio_rate: int, *, first_pts: int,
                 audio_first_pts: int) -> None:
    width, height = size
    with av.open(str(tmp), mode="w", format="avi") as container:
        video = container.add_stream(VIDEO_CODEC, rate=rate, options=X264_OPTIONS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio is not None:
            sound = container.add_stream("pcm_s16le", rate=audio_rate, layout="mono")
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        written = 0
        for index, rgb in enumerate(frames):
            # OpenCV's colour conversion is several times faster than the encoder's own
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
            frame.pts = index
            container.mux(video.encode(frame))
            if sound is not None:
                # keep audio interleaved with video, as a camera's file would be: the samples
                # played by the end of this frame
                end_of_frame = round((first_pts + index + 1) / rate * audio_rate) - audio_first_pts
                upto = min(len(pcm), max(written, end_of_frame))
                written = _mux_audio(container, sound, pcm, start=written, stop=upto, rate=audio_rate)
        container.mux(video.encode())
        if sound is not None:
            _mux_audio(container, sound, pcm, start=written, stop=len(pcm), rate=audio_rate)
            container.mux(sound.encode())


def _chunks(fh: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """RIFF chunks between two file offsets: (fourcc, data offset, data size).

    A list chunk is given by its list type (``hdrl``, ``strl``, ...) and the offset and size of
    its contents.
    """
    position = start
    while position + 8 <= end:
        fh.seek(position)
        fourcc, size = struct.unpack("<4sI", fh.read(8))
        if fourcc == b"LIST":
            yield fh.read(4), position + 12, size - 4
        else:
            yield fourcc, position + 8, size
        position += 8 + size + (size & 1)  # chunks are padded to an even size


def _stream_headers(fh: BinaryIO) -> list[int]:
    """File offsets of the stream headers ('strh' data) of an AVI file, in stream order."""
    fh.seek(0)
    riff, size, form = struct.unpack("<4sI4s", fh.read(12))
    if (riff, form) != (b"RIFF", b"AVI "):
        raise MediaError(f"{fh.name}: not an AVI file (RIFF form {form!r})")
    headers = []
    for kind, offset, length in _chunks(fh, 12, 8 + size):
        if kind != b"hdrl":
            continue
        for stream_kind, stream_offset, stream_length in _chunks(fh, offset, offset + length):
            if stream_kind == b"strl":
                headers += [data for name, data, _ in
                            _chunks(fh, stream_offset, stream_offset + stream_length)
                            if name == b"strh"]
        return headers
    raise MediaError(f"{fh.name}: AVI file without a header list (hdrl)")


def _set_stream_starts(path: str | Path, starts_s: list[Fraction]) -> None:
    """Write each stream's start into a finished AVI file's stream headers (``dwStart``).

    Parameters
    ----------
    path : str or Path
        An AVI file, changed in place.
    starts_s : list of Fraction
        Start of each stream in seconds after the file's zero, in stream order; each must be a
        whole number of the stream's units (its header's dwScale / dwRate seconds: a frame
        period for video, a sample for PCM audio).
    """
    with open(path, "r+b") as fh:
        headers = _stream_headers(fh)
        if len(headers) != len(starts_s):
            raise MediaError(f"{path}: {len(headers)} streams, {len(starts_s)} starts given")
        for header, start_s in zip(headers, starts_s):
            fh.seek(header + STRH_START_OFFSET - 8)
            scale, rate = struct.unpack("<II", fh.read(8))
            units = Fraction(start_s) * rate / scale
            if units.denominator != 1:
                raise MediaError(f"{path}: start {float(start_s)} s is not a whole number of the "
                                 f"stream's units ({scale}/{rate} s)")
            fh.write(struct.pack("<I", int(units)))


def write_clip(path: str | Path, frames: Iterable[np.ndarray], *, fps: float,
               size: tuple[int, int], audio: np.ndarray | None, audio_rate: int,
               first_pts: int = 0, audio_first_pts: int | None = None) -> Path:
    """Write an AVI clip with H.264 video and optional mono PCM audio, atomically.

    Parameters
    ----------
    path : str or Path
        Destination ``.avi``.
    frames : iterable of ndarray, shape (height, width, 3), uint8
        RGB frames, consumed one at a time (memory does not grow with clip length).
    fps : float
        Frame rate in frames per second.
    size : (int, int)
        (width, height) in pixels.
    audio : ndarray or None
        Mono float samples in [-1, 1].
    audio_rate : int
        Audio sample rate in Hz.
    first_pts : int, optional
        Presentation time of the first frame, in frame periods after the file's zero (default 0).
        Frame ``k`` is then at ``(first_pts + k) / fps`` seconds on the file's clock.
    audio_first_pts : int or None, optional
        Presentation time of the first audio sample, in samples after the file's zero; None
        (default) starts the sound with the first frame, at ``first_pts / fps`` seconds rounded
        to a sample.

    Notes
    -----
    A late start is stored in the stream headers (see the module docstring); FFmpeg reads it back
    as the first video chunk's dts and the first audio frame's pts, and reports 0 as the start of
    the file, so decoded clip times are the times on the file's clock given here.
    """
    for name, value in (("first_pts", first_pts), ("audio_first_pts", audio_first_pts)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise ConfigError(f"{name} must be an integer >= 0; got {value!r}")
    rate = Fraction(str(fps)).limit_denominator(1000)
    if audio_first_pts is None:
        audio_first_pts = round(first_pts / rate * audio_rate)
    starts_s = [first_pts / rate]
    if audio is not None:
        starts_s.append(Fraction(audio_first_pts, audio_rate))

    def write(tmp: Path) -> None:
        _encode_clip(tmp, frames, rate, size, audio, audio_rate, first_pts=first_pts,
                     audio_first_pts=audio_first_pts)
        if any(starts_s):
            _set_stream_starts(tmp, starts_s)

    return atomic_write(path, write)
