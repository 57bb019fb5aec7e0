"""Decode the sound of a recording into one 16 kHz mono float32 signal.

Every audio feature reads the signal this module returns, so that a video container (NeuroFace
``.avi``, ``.mp4``, ``.mov``, ``.mpg``) and a sidecar audio file (``.wav``, ``.flac``) give the
same kind of input. Decoding is done by FFmpeg through PyAV; channels are averaged (an equal-weight
downmix, so a stereo file whose channels are identical keeps its level) and the sample rate is
converted by FFmpeg's resampler.

The samples are returned as decoded, from the first decoded frame on; where that first sample sits
on the recording's clock is returned beside them (``info["start_s"]``, clip time, see
``features.clip_time``), never padded in or cut off.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from core.errors import ConfigError, MediaError, NoAudioError
from features.clip_time import clip_seconds, container_start

TARGET_SR = 16000


def load_audio(path, *, target_sr: int = TARGET_SR) -> tuple[np.ndarray, dict]:
    """Read the first audio stream of a media file as a mono float32 signal.

    Parameters
    ----------
    path : str or os.PathLike
        An audio file or a video container with an audio stream.
    target_sr : int, optional
        Output sample rate in Hz (default 16000, the rate every audio feature expects).

    Returns
    -------
    signal : numpy.ndarray
        1-D float32 samples, full scale = 1.0, channels averaged.
    info : dict
        ``path``, ``codec``, ``original_sr`` (Hz), ``original_channels``, ``channel_layout``,
        ``sr`` (Hz, = ``target_sr``), ``n_samples``, ``duration_s`` (decoded length in seconds),
        ``container_duration_s`` (what the container header claims, or None), ``start_s`` (clip
        time of the first sample in seconds: the first decoded frame's presentation time, else
        the stream's start, minus the container's start; 0 for a stream that states neither).
        Sample ``i`` is at clip time ``start_s + i / sr``. A sidecar audio file is its own
        container, so its ``start_s`` is measured from its own start, which is taken to be the
        video container's start (``features.clip_time``).

    Raises
    ------
    NoAudioError
        The file has no audio stream.
    MediaError
        The file does not exist, cannot be opened, or its audio cannot be decoded.
    ConfigError
        ``target_sr`` is not a positive integer.
    """
    if not isinstance(target_sr, int) or isinstance(target_sr, bool) or target_sr <= 0:
        raise ConfigError(f"target_sr must be a positive integer number of Hz; got {target_sr!r}")
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    try:
        container = av.open(str(path))
    except av.FFmpegError as error:
        raise MediaError(f"{path}: cannot be opened as media ({error})") from error
    with container:
        if not container.streams.audio:
            raise NoAudioError(f"{path}: has no audio stream (streams: "
                               f"{_describe_streams(container)}); give a sidecar audio file")
        stream = container.streams.audio[0]
        info = {
            "path": str(path),
            "codec": stream.codec_context.name,
            "original_sr": int(stream.sample_rate),
            "original_channels": int(stream.layout.nb_channels),
            "channel_layout": stream.layout.name,
            "sr": target_sr,
            "container_duration_s": (container.duration / av.time_base
                                     if container.duration is not None else None),
        }
        try:
            signal, first_pts = _decode_mono(container, stream, target_sr=target_sr)
        except av.FFmpegError as error:
            raise MediaError(f"{path}: audio stream ({info['codec']}) cannot be decoded "
                             f"({error})") from error
        info["start_s"] = _start_s(container, stream, first_pts)
    if signal.size == 0:
        raise MediaError(f"{path}: audio stream ({info['codec']}) decodes to no samples")
    info["n_samples"] = int(signal.size)
    info["duration_s"] = signal.size / target_sr
    return signal, info


def _decode_mono(container, stream, *, target_sr: int) -> tuple[np.ndarray, int | None]:
    """Decode, resample to ``target_sr`` keeping the channels, then average the channels.

    Returns the samples and the first decoded frame's presentation time in the stream's ticks
    (None when it has none or nothing decodes).
    """
    # Planar float keeps each channel separate so that the downmix is a plain mean that we control,
    # rather than FFmpeg's default -3 dB pan law.
    resampler = av.AudioResampler(format="fltp", rate=target_sr)
    # Each resampled frame is averaged as it arrives, so only mono samples are kept; the mean
    # runs over channels sample by sample, so this equals averaging the whole planar signal.
    chunks = []
    first_pts = None
    for index, frame in enumerate(container.decode(stream)):
        if index == 0:
            first_pts = frame.pts
        chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32), first_pts
    return np.concatenate(chunks).astype(np.float32, copy=False), first_pts


def _start_s(container, stream, first_pts: int | None) -> float:
    """Clip time of the first decoded sample, in seconds (see ``load_audio``)."""
    ticks = first_pts if first_pts is not None else stream.start_time
    if ticks is None:
        return 0.0
    return clip_seconds(stream.time_base, container_start(container))(ticks)


def _describe_streams(container) -> str:
    """Kinds of the streams a container holds, e.g. ``'video'`` or ``'none'``."""
    kinds = [s.type for s in container.streams]
    return ", ".join(kinds) if kinds else "none"
