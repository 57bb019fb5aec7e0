"""Facts about a media file read from the file itself (never assumed from names).

Used by validation before any heavy work: a file that cannot be opened, has no decodable stream,
or whose frame rate or duration is out of range is reported with its manifest row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av

from pipeline.errors import MediaError


@dataclass(frozen=True)
class MediaFacts:
    """Streams of one media file.

    Attributes
    ----------
    has_video, has_audio : bool
        Whether a decodable stream of that kind exists.
    fps : float
        Average video frame rate in frames per second (NaN without video).
    n_frames : int
        Video frames (counted by demuxing when the header does not say; 0 without video).
    width, height : int
        Frame size in pixels.
    video_duration_s, audio_duration_s : float
        Stream durations in seconds (NaN when absent).
    video_codec, audio_codec : str
    audio_rate : int
        Audio sample rate in Hz (0 without audio).
    audio_channels : int
    """

    has_video: bool = False
    fps: float = math.nan
    n_frames: int = 0
    width: int = 0
    height: int = 0
    video_duration_s: float = math.nan
    video_codec: str = ""
    has_audio: bool = False
    audio_rate: int = 0
    audio_channels: int = 0
    audio_duration_s: float = math.nan
    audio_codec: str = ""


def _duration_s(stream, container) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return math.nan


def _count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def _first_frame_decodes(path: Path, kind: str) -> bool:
    with av.open(str(path)) as container:
        selector = {"video": 0} if kind == "video" else {"audio": 0}
        for _frame in container.decode(**selector):
            return True
    return False


def probe(path: str | Path) -> MediaFacts:
    """Read the stream facts of a video or audio file and check that each stream decodes.

    Raises
    ------
    MediaError
        If the file is missing, cannot be opened, or a stream it declares does not decode.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            facts = {}
            if video is not None:
                rate = video.average_rate or video.guessed_rate
                facts.update(has_video=True, fps=float(rate) if rate else math.nan,
                             n_frames=int(video.frames or 0), width=video.codec_context.width,
                             height=video.codec_context.height,
                             video_duration_s=_duration_s(video, container),
                             video_codec=video.codec_context.name)
            if audio is not None:
                facts.update(has_audio=True, audio_rate=int(audio.codec_context.sample_rate or 0),
                             audio_channels=int(audio.codec_context.channels or 0),
                             audio_duration_s=_duration_s(audio, container),
                             audio_codec=audio.codec_context.name)
        if facts.get("has_video"):
            if not _first_frame_decodes(path, "video"):
                raise MediaError(f"{path}: the video stream has no decodable frame")
            if facts["n_frames"] == 0:
                facts["n_frames"] = _count_frames(path)
            if math.isnan(facts["video_duration_s"]) and facts["fps"] > 0:
                facts["video_duration_s"] = facts["n_frames"] / facts["fps"]
        if facts.get("has_audio") and not _first_frame_decodes(path, "audio"):
            raise MediaError(f"{path}: the audio stream has no decodable frame")
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot be read as audio or video ({exc})") from exc
    return MediaFacts(**facts)
