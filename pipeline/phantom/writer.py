"""Write phantom media in the NeuroFace release's formats.

Videos are AVI files with H.264 video (libx264, no B-frames, so decoders return frames in order
with exact timestamps) and a 16-bit PCM audio stream. Manual-landmark files follow the release's
comma-separated layout ``Frame, x1, y1, ..., x68, y68``. Every file is written to a temporary
name and renamed into place.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import cv2
import numpy as np
import pandas as pd

from pipeline.cache import atomic_write

VIDEO_CODEC = "libx264"
# ultrafast: 4x faster than veryfast here at the same crf; the files are larger, not worse
X264_OPTIONS = {"crf": "18", "preset": "ultrafast", "bf": "0", "threads": "1"}
AUDIO_CHUNK = 1024


def _mux_audio(container, sound, pcm: np.ndarray, *, start: int, stop: int, rate: int) -> int:
    """Encode samples ``start:stop`` of mono 16-bit ``pcm`` in chunks; return ``stop``."""
    for first in range(start, stop, AUDIO_CHUNK):
        last = min(first + AUDIO_CHUNK, stop)
        chunk = av.AudioFrame.from_ndarray(pcm[None, first:last], format="s16", layout="mono")
        chunk.sample_rate, chunk.pts = rate, first
        container.mux(sound.encode(chunk))
    return stop


def _encode_clip(tmp: Path, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int],
                 audio: np.ndarray | None, audio_rate: int) -> None:
    width, height = size
    with av.open(str(tmp), mode="w", format="avi") as container:
        video = container.add_stream(VIDEO_CODEC, rate=Fraction(str(fps)).limit_denominator(1000),
                                     options=X264_OPTIONS)
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
                # keep audio interleaved with video, as a camera's file would be
                upto = min(len(pcm), int(round((index + 1) / fps * audio_rate)))
                written = _mux_audio(container, sound, pcm, start=written, stop=upto, rate=audio_rate)
        container.mux(video.encode())
        if sound is not None:
            _mux_audio(container, sound, pcm, start=written, stop=len(pcm), rate=audio_rate)
            container.mux(sound.encode())


def write_clip(path: str | Path, frames: Iterable[np.ndarray], *, fps: float,
               size: tuple[int, int], audio: np.ndarray | None, audio_rate: int) -> Path:
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
    """
    return atomic_write(path, lambda tmp: _encode_clip(tmp, frames, fps, size, audio, audio_rate))


def landmark_table(frames: np.ndarray, points: np.ndarray) -> pd.DataFrame:
    """A NeuroFace manual-landmark table: ``Frame, x1, y1, ..., x68, y68``.

    Parameters
    ----------
    frames : ndarray of int, shape (N,)
        Frame indices (0-based).
    points : ndarray, shape (N, 68, 2)
        Pixel coordinates (x, y).
    """
    columns = {"Frame": frames.astype(int)}
    for k in range(points.shape[1]):
        columns[f"x{k + 1}"] = np.round(points[:, k, 0], 2)
        columns[f"y{k + 1}"] = np.round(points[:, k, 1], 2)
    return pd.DataFrame(columns)


def write_landmark_txt(path: str | Path, table: pd.DataFrame) -> Path:
    """Write a manual-landmark table in the release's comma-separated text format."""
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, sep=",", lineterminator="\n"))
