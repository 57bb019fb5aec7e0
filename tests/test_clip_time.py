"""Clip time: video frames and sound on one clock, whatever time the file's streams start at."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from pipeline.phantom.writer import write_clip

FPS = 50
AUDIO_RATE = 44100  # the phantom's
SIZE = (64, 48)  # width, height


def gray_frames(n: int, level: int = 60):
    return (np.full((SIZE[1], SIZE[0], 3), level, np.uint8) for _ in range(n))


def write_avi(path: Path, *, n_frames: int, video_first_pts: int, audio_first_pts: int) -> Path:
    """The project's AVI (H.264 + PCM) with its streams starting at the given pts."""
    silence = np.zeros(n_frames * AUDIO_RATE // FPS)
    return write_clip(path, gray_frames(n_frames), fps=FPS, size=SIZE, audio=silence,
                      audio_rate=AUDIO_RATE, first_pts=video_first_pts,
                      audio_first_pts=audio_first_pts)


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
