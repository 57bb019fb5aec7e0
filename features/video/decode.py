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
