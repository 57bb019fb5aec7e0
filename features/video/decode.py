"""Read video files frame by frame with PyAV, for landmark tracking.

Frames are streamed (one decoded frame in memory at a time) and stamped with their own
presentation time on clip time (``features.clip_time``), so variable-frame-rate files give true
times rather than ``index / fps``, on the clock the sound is also put on.

AVI stores no presentation times. A video frame's place on the AVI clock is the slot of its chunk
(the stream's ``dwStart`` plus the chunk's index, in frame periods; an empty chunk is a dropped
frame), which FFmpeg reports as the decoding timestamp (dts). The presentation time (pts) it
reports for H.264 in AVI is a guess, and late: with libavformat 62.12 and libx264 streams without
B-frames, each frame decodes with the slot of the next chunk that holds a frame, one frame period
late (0.02 s at 50 fps) or more before a dropped frame, while the sound is not shifted. MJPEG and
MPEG-4 decode with pts = slot. A stream without B-frames is shown in decoding order, each frame at
its slot, so in an AVI such frames are timed by their dts. With B-frames the reordered pts are
needed; FFmpeg delays them by its decoder delay (an MPEG-4 frame encoded at pts 0 decodes at 1),
so they are shifted to put the first decoded frame at the slot of the first chunk with data.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from core.errors import MediaError
from features.clip_time import clip_seconds, container_start

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


def _timed_frames(container: av.container.InputContainer, stream: av.video.VideoStream
                  ) -> Iterator[tuple[av.VideoFrame, int | None]]:
    """Decoded frames of ``stream`` with their presentation time in the stream's ticks.

    The time is None when the frame has none. In an AVI it is the frame's chunk slot, or for a
    stream with B-frames the reordered time anchored to the first slot (see the module docstring).
    """
    if container.format.name != "avi":
        return ((frame, frame.pts) for frame in container.decode(stream))
    if not stream.codec_context.has_b_frames:
        return ((frame, frame.dts) for frame in container.decode(stream))
    return _anchored_to_first_slot(container, stream)


def _anchored_to_first_slot(container: av.container.InputContainer, stream: av.video.VideoStream
                            ) -> Iterator[tuple[av.VideoFrame, int | None]]:
    """AVI frames in FFmpeg's reordered times, shifted to put the first one at the first slot."""
    first_slot = shift = None
    for packet in container.demux(stream):
        if first_slot is None and packet.size and packet.dts is not None:
            first_slot = packet.dts
        for frame in packet.decode():
            if frame.pts is None:
                yield frame, None
                continue
            if shift is None:
                shift = frame.pts - first_slot if first_slot is not None else 0
            yield frame, frame.pts - shift


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
        Clip time in seconds: the frame's presentation time (``pts * time_base`` of the stream;
        in an AVI, its chunk's slot, see the module docstring) minus the container's start
        (``features.clip_time``). Not ``index / fps``, so variable frame rates are honoured; not
        shifted to put the first frame at 0, so a video that starts after its sound keeps its
        delay. ``load_audio`` puts the file's sound on the same clock.
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
        seconds = clip_seconds(stream.time_base, container_start(container))
        for index, (frame, ticks) in enumerate(_timed_frames(container, stream)):
            if ticks is None:
                raise MediaError(f"{path}: video frame {index} has no presentation timestamp; "
                                 f"remuxing the file (ffmpeg -i IN -c copy OUT.mkv) usually "
                                 f"fixes this")
            timestamp_s = seconds(ticks)
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
