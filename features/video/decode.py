"""Read video files frame by frame with PyAV, for landmark tracking.

Frames are streamed (one decoded frame in memory at a time) and stamped with their own
presentation time, so variable-frame-rate files give true times rather than ``index / fps``.

Grayscale frames are taken straight from the decoder's luma plane when the pixel format is 8-bit
YUV: this skips a colour conversion that costs more than decoding itself (measured here: 640x480
H.264 decodes at ~800 fps with the luma plane, ~350 fps through a grayscale conversion). Limited
("TV", 16-235) luma is stretched to full range with a lookup table, the same stretch FFmpeg's own
grayscale conversion applies (identical images on the MPEG-1 and H.264 test clips; on the HEVC
test clips FFmpeg's scaler differs from the exact formula by up to ~10 grey levels). The stretch
matters: dlib's shape predictor compares raw intensity differences with fixed thresholds, and
unstretched luma moved its landmarks by 0.7-1.8 px on average on the test clips.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from pipeline.errors import MediaError

# 8-bit YUV formats whose first plane is the luma image, with the range their name implies.
_LIMITED_RANGE_YUV = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv410p", "yuv411p", "yuv440p",
                                "nv12", "nv21", "nv16"})
_FULL_RANGE_YUV = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj411p", "yuvj440p"})
# FFmpeg's colour-range codes (AVColorRange): 2 is full ("JPEG") range.
_AVCOL_RANGE_JPEG = 2
# Limited-range luma 16..235 stretched to 0..255, as FFmpeg does when converting to gray:
# round(255 / 219 * (Y - 16)), clipped to 0..255.
_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class VideoInfo:
    """Facts about the video stream of one file.

    Attributes
    ----------
    fps : float
        Average frame rate of the stream, in frames per second.
    n_frames : int
        Number of video frames (from the header, or counted by demuxing when the header lacks it).
    width, height : int
        Frame size in pixels.
    duration_s : float
        Duration of the video stream in seconds (``n_frames / fps`` when the file does not say).
    codec : str
        Decoder name, e.g. ``"h264"``.
    has_audio : bool
        Whether the file also holds an audio stream.
    """

    fps: float
    n_frames: int
    width: int
    height: int
    duration_s: float
    codec: str
    has_audio: bool


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise MediaError(f"{path}: video file not found")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot be opened as a video file ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: has no video stream")
    return container


def _count_video_packets(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def probe_video(path: str | Path) -> VideoInfo:
    """Read the facts of a file's first video stream.

    Parameters
    ----------
    path : str or Path
        The video file.

    Returns
    -------
    VideoInfo

    Raises
    ------
    MediaError
        If the file is missing, unreadable, has no video stream, or no frame rate can be found.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise MediaError(f"{path}: the video stream declares no frame rate")
        fps = float(rate)
        n_frames = int(stream.frames or 0)
        if stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration_s = container.duration / av.time_base
        else:
            duration_s = math.nan
        info = dict(fps=fps, width=int(stream.codec_context.width),
                    height=int(stream.codec_context.height), codec=stream.codec_context.name,
                    has_audio=bool(container.streams.audio))
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot read the video stream's header ({exc})") from exc
    finally:
        container.close()
    if n_frames == 0:
        try:
            n_frames = _count_video_packets(path)
        except av.FFmpegError as exc:
            raise MediaError(f"{path}: cannot demux the video stream to count frames "
                             f"({exc})") from exc
    if math.isnan(duration_s):
        duration_s = n_frames / fps
    return VideoInfo(n_frames=n_frames, duration_s=duration_s, **info)


def _gray(frame: av.VideoFrame) -> np.ndarray:
    """8-bit full-range grayscale image of a decoded frame, (H, W), C-contiguous."""
    name = frame.format.name
    if name in _LIMITED_RANGE_YUV or name in _FULL_RANGE_YUV:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8, count=frame.height * plane.line_size).reshape(
            frame.height, plane.line_size)
        luma = rows[:, :frame.width]  # rows are padded to line_size bytes
        if name in _FULL_RANGE_YUV or frame.color_range == _AVCOL_RANGE_JPEG:
            return np.ascontiguousarray(luma)
        return cv2.LUT(luma, _LIMITED_TO_FULL)
    return frame.to_ndarray(format="gray")


def iter_frames(path: str | Path, *, gray: bool = True) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a file's first video stream one frame at a time.

    Parameters
    ----------
    path : str or Path
        The video file.
    gray : bool
        True yields 8-bit grayscale frames (what dlib's detector and shape predictor read);
        False yields RGB frames.

    Yields
    ------
    index : int
        0-based frame number in decoding (presentation) order.
    timestamp_s : float
        Presentation time in seconds, ``pts * time_base`` of the stream (not ``index / fps``, so
        variable frame rates are honoured). Not shifted to start at zero: it is on the
        container's clock, the clock its audio stream also uses.
    frame : ndarray, uint8
        (H, W) grayscale, or (H, W, 3) RGB.

    Raises
    ------
    MediaError
        If the file cannot be opened or decoded, has no video stream, a frame has no timestamp,
        or timestamps do not increase.
    """
    path = Path(path)
    container = _open(path)
    index = -1
    previous_s = -math.inf
    try:
        stream = container.streams.video[0]
        # integer arithmetic and one correctly rounded division: exact like Fraction, but cheaper
        tb_num, tb_den = stream.time_base.numerator, stream.time_base.denominator
        for index, frame in enumerate(container.decode(stream)):
            if frame.pts is None:
                raise MediaError(f"{path}: video frame {index} has no presentation timestamp; "
                                 f"remuxing the file (ffmpeg -i IN -c copy OUT.mkv) usually "
                                 f"fixes this")
            timestamp_s = frame.pts * tb_num / tb_den
            if timestamp_s <= previous_s:
                raise MediaError(f"{path}: video frame {index} has timestamp {timestamp_s:.6f} s, "
                                 f"not after the previous frame's {previous_s:.6f} s")
            previous_s = timestamp_s
            image = _gray(frame) if gray else frame.to_ndarray(format="rgb24")
            yield index, timestamp_s, image
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: decoding failed at video frame {index + 1} ({exc})") from exc
    finally:
        container.close()
