"""Facts about a media file read from the file itself (never assumed from names).

Used by validation before any heavy work. Every stream is decoded in full, because a damaged file
often opens and decodes its first frames: a file cut short (an interrupted copy) or corrupted in
the middle decodes fewer frames and samples than it states. What a file states is, per stream:

- video frames: the stream's frame count (AVI, MP4 and MOV state it), else its duration times its
  frame rate, else the container's duration (from the stream's first frame) times the rate
  (Matroska states only that);
- sound: for a WAV file the size its header gives the sound (FFmpeg reports a WAV file's length
  from the bytes present, so to FFmpeg a WAV file cut short looks whole), else the stream's
  duration, else for PCM its sample count (AVI states it), else the container's duration from
  the sound's first sample.

The sound is decoded exactly as the audio stage decodes it (``features.audio.decode.load_audio``,
16 kHz mono), so the peak level that decides whether it is silent (``features.audio.silence``) is
read on the same samples the features will be.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import av

from core.errors import MediaError
from features.audio.decode import load_audio
from features.audio.silence import peak_dbfs
from features.clip_time import container_start

WAV_UNSET_SIZES = (0, 0xFFFFFFFF)


@dataclass(frozen=True)
class MediaFacts:
    """Streams of one media file.

    Attributes
    ----------
    has_video, has_audio : bool
        Whether a stream of that kind exists.
    fps : float
        Average video frame rate in frames per second (NaN without video).
    n_frames : int
        Video frames the file states (see the module docstring; 0 when it states nothing).
    n_frames_decoded : int
        Video frames that decode.
    width, height : int
        Frame size in pixels.
    video_duration_s : float
        Video length the file states, in seconds; decoded frames / fps when it states none.
    audio_duration_s : float
        Sound length the file states, in seconds (NaN without audio or when not stated).
    video_missing_share, audio_missing_share : float
        Share (0-1) of the stated frames, or of the stated sound's length, that does not decode;
        0 when more decodes than stated, NaN when nothing is stated.
    video_codec, audio_codec : str
    audio_rate : int
        Audio sample rate in Hz (0 without audio).
    audio_channels : int
    audio_decoded_s : float
        Length of the sound that decodes, in seconds (NaN without audio).
    audio_peak_dbfs : float
        Level of the loudest decoded sample (16 kHz mono), dB re full scale; -inf for digital
        silence, NaN without audio.
    """

    has_video: bool = False
    fps: float = math.nan
    n_frames: int = 0
    n_frames_decoded: int = 0
    width: int = 0
    height: int = 0
    video_duration_s: float = math.nan
    video_missing_share: float = math.nan
    video_codec: str = ""
    has_audio: bool = False
    audio_rate: int = 0
    audio_channels: int = 0
    audio_duration_s: float = math.nan
    audio_decoded_s: float = math.nan
    audio_missing_share: float = math.nan
    audio_peak_dbfs: float = math.nan
    audio_codec: str = ""


def missing_share(stated: float, decoded: float) -> float:
    """Share of ``stated`` (a count or a length) that ``decoded`` falls short of.

    Parameters
    ----------
    stated, decoded : float
        What the file states and what decodes, in the same unit (frames, or seconds of sound).

    Returns
    -------
    float
        ``(stated - decoded) / stated`` clipped at 0 (decoding more than stated is no loss);
        NaN when ``stated`` is not a positive number.
    """
    if not stated > 0:
        return math.nan
    return max(0.0, (stated - decoded) / stated)


def wav_declared_s(path: Path) -> float:
    """Seconds of sound a WAV file's header declares: its data chunk's size over its byte rate.

    Returns
    -------
    float
        NaN when the file is not RIFF/WAVE or the header leaves the size unset (0 or 0xFFFFFFFF,
        as a recorder that was still writing leaves it).
    """
    with open(path, "rb") as fh:
        riff, _, form = struct.unpack("<4sI4s", fh.read(12))
        if (riff, form) != (b"RIFF", b"WAVE"):
            return math.nan
        byte_rate = 0
        while len(head := fh.read(8)) == 8:
            fourcc, size = struct.unpack("<4sI", head)
            if fourcc == b"data":
                return size / byte_rate if byte_rate and size not in WAV_UNSET_SIZES else math.nan
            body = fh.read(size + (size & 1))  # chunks are padded to an even size
            if fourcc == b"fmt " and len(body) >= 12:
                byte_rate = struct.unpack_from("<I", body, 8)[0]  # after format, channels, rate
    return math.nan


def _stated_length_s(stream, container, first_s: float) -> float:
    """Seconds the stream's own header states, else the container's from ``first_s`` on."""
    if container.format.name == "wav" and math.isfinite(declared := wav_declared_s(container.name)):
        return declared
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if stream.type == "audio" and stream.codec_context.name.startswith("pcm_") and stream.frames:
        return stream.frames / stream.codec_context.sample_rate  # a PCM frame is one sample
    if container.duration is not None:
        return container.duration / av.time_base - first_s
    return math.nan


def _decoded_frames(path: Path) -> tuple[int, float]:
    """Video frames that decode, and the first one's time on the file's clock (s, 0 if untimed).

    Raises
    ------
    MediaError
        Decoding stops with an error part-way (the frames before it are named).
    """
    count, first_s = 0, 0.0
    with av.open(str(path)) as container:
        start = float(container_start(container))
        try:
            for frame in container.decode(video=0):
                if count == 0 and frame.time is not None:
                    first_s = frame.time - start
                count += 1
        except av.FFmpegError as exc:
            raise MediaError(f"{path}: decoding stops after {count} video frames ({exc})") from exc
    return count, first_s


def _video_facts(path: Path, container, stream) -> dict:
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else math.nan
    decoded, first_s = _decoded_frames(path)
    if decoded == 0:
        raise MediaError(f"{path}: the video stream has no decodable frame")
    length_s = _stated_length_s(stream, container, first_s)
    stated = int(stream.frames) if stream.frames else (
        round(length_s * fps) if math.isfinite(length_s * fps) else 0)
    return dict(has_video=True, fps=fps, n_frames=stated, n_frames_decoded=decoded,
                width=stream.codec_context.width, height=stream.codec_context.height,
                video_duration_s=length_s if math.isfinite(length_s) else decoded / fps,
                video_missing_share=missing_share(stated, decoded),
                video_codec=stream.codec_context.name)


def _audio_facts(path: Path, container, stream) -> dict:
    signal, info = load_audio(path)
    stated_s = _stated_length_s(stream, container, info["start_s"])
    return dict(has_audio=True, audio_rate=int(stream.codec_context.sample_rate or 0),
                audio_channels=int(stream.codec_context.channels or 0),
                audio_duration_s=stated_s, audio_decoded_s=info["duration_s"],
                audio_missing_share=missing_share(stated_s, info["duration_s"]),
                audio_peak_dbfs=peak_dbfs(signal), audio_codec=stream.codec_context.name)


def probe(path: str | Path) -> MediaFacts:
    """Read the stream facts of a video or audio file, decoding every stream in full.

    Raises
    ------
    MediaError
        If the file is missing or empty, cannot be opened, or a stream it declares decodes
        nothing or stops with an error.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")
    try:
        with av.open(str(path)) as container:
            facts = {}
            if container.streams.video:
                facts.update(_video_facts(path, container, container.streams.video[0]))
            if container.streams.audio:
                facts.update(_audio_facts(path, container, container.streams.audio[0]))
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot decode it as audio or video ({exc})") from exc
    return MediaFacts(**facts)
