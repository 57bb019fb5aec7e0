"""Shared fixtures: tiny media files written with the project's own writer, and the real-data root."""
from __future__ import annotations

import wave
import inspect
from pathlib import Path

import numpy as np
import pytest

from core.media_writer import write_clip

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def realdata(*parts: str) -> Path:
    """Path under ../shared/realdata, skipping the test with a reason when it is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/realdata is not beside the repo)")
    return path


def pytest_collection_modifyitems(items) -> None:
    """Mark every test whose body reads ../shared/realdata (through ``realdata``) or uses a cohort
    built from it, so ``-m "not realdata"`` leaves them all out without anyone remembering to
    mark them."""
    for item in items:
        function = getattr(item, "function", None)
        if function is None or item.get_closest_marker("realdata") is not None:
            continue
        if "realdata(" in inspect.getsource(function) or "truth_run" in item.fixturenames:
            item.add_marker(pytest.mark.realdata)


def tiny_clip(path: Path, *, seconds: float = 1.0, fps: float = 25.0, audio: bool = True,
              size=(64, 48)) -> Path:
    """A small moving-gradient video with an optional 200 Hz tone."""
    n = int(round(seconds * fps))
    ramp = np.linspace(0, 255, size[0], dtype=np.uint8)[None, :, None].repeat(size[1], 0).repeat(3, 2)
    frames = (np.roll(ramp, i, axis=1) for i in range(n))
    sr = 16000
    tone = 0.2 * np.sin(2 * np.pi * 200 * np.arange(int(seconds * sr)) / sr) if audio else None
    return write_clip(path, frames, fps=fps, size=size, audio=tone, audio_rate=sr)


def tiny_wav(path: Path, *, seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.2) -> Path:
    """A mono 16-bit WAV of a 200 Hz tone (``amplitude`` 0 writes digital silence)."""
    tone = amplitude * np.sin(2 * np.pi * 200 * np.arange(int(seconds * rate)) / rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(tone * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    """A folder with two valid clips, one without audio, a wav and a corrupt file."""
    tiny_clip(tmp_path / "a.avi")
    tiny_clip(tmp_path / "b.avi")
    tiny_clip(tmp_path / "silent.avi", audio=False)
    (tmp_path / "broken.avi").write_bytes(b"RIFF\x00\x00not a video at all" * 10)
    return tmp_path


SMALL_PHANTOM_TASKS = ("NSM_SPREAD", "DDK_PA")


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory) -> Path:
    """A tiny phantom cohort (2 subjects per group, 2 tasks, 2 s clips), made once per session."""
    from phantom.generate import PhantomParams, generate

    out = tmp_path_factory.mktemp("phantom")
    generate(out, PhantomParams(subjects_per_group=2, stroke_subjects=2, followup_share=0.5, seed=3, clip_s=2.0),
             workers=2, tasks=SMALL_PHANTOM_TASKS)
    return out


PHANTOM_RUN_TASKS = ("NSM_SPREAD", "DDK_PA", "BBP_NORMAL")
PHANTOM_RUN_SUBJECTS_PER_GROUP = 25


def phantom_cohort_run(root: Path, phantom_options: list[str], run_options: tuple = ()) -> dict:
    """Write a phantom cohort with ``avstroke-phantom`` and run it through ``assemble``
    (``run_options`` are added to ``avstroke run``).

    Returns
    -------
    dict
        ``data`` (phantom folder with ``truth/``) and ``run`` (run folder).
    """
    from phantom.__main__ import main as phantom
    from pipeline.cli import main as cli

    data, manifest, run = root / "data", root / "data_manifest.csv", root / "run"
    assert phantom(["--out", str(data), *phantom_options]) == 0
    assert cli(["manifest", "--layout", "neuroface", str(data), "--out", str(manifest)]) == 0
    assert cli(["run", "--manifest", str(manifest), "--out", str(run), "--to", "assemble",
                "--workers", "2", *run_options]) == 0
    return {"data": data, "run": run}


@pytest.fixture(scope="session")
def phantom_run(tmp_path_factory) -> dict:
    """A phantom cohort (25 subjects per group, every post-stroke subject seen again at
    follow-up; smile, /pa/ and sentence tasks) run through every stage up to ``assemble``.

    Used by the model proofs; about seven minutes on two cores. Fewer subjects would not do for
    the fusion proof: with 10 per group the paired interval of the fusion gain still includes zero.

    Returns
    -------
    dict
        ``data`` (phantom folder with ``truth/``), ``run`` (run folder) and
        ``subjects_per_group``.
    """
    cohort = phantom_cohort_run(tmp_path_factory.mktemp("phantom_run"), [
        "--subjects", str(PHANTOM_RUN_SUBJECTS_PER_GROUP),
        "--stroke-subjects", str(PHANTOM_RUN_SUBJECTS_PER_GROUP), "--seed", "5",
        "--tasks", ",".join(PHANTOM_RUN_TASKS)])
    return {**cohort, "subjects_per_group": PHANTOM_RUN_SUBJECTS_PER_GROUP}


TRUTH_SUBJECTS_PER_GROUP = 6


@pytest.fixture(scope="session")
def truth_run(tmp_path_factory) -> dict:
    """A truth cohort (``avstroke-phantom --truth-cohort``: identities from the hand-annotated LFPW
    photos, balanced across groups; smile, /pa/, /pa-ta-ka/ and sentence clips with several
    attempts and sentences; a first frame at pts 1), 6 subjects per group and every post-stroke
    subject followed up, run through every stage up to ``assemble`` with landmarks adapted to
    its annotated frames (``tests.oracle.TRUTH_RUN_OPTIONS``; the generic model's
    landmarks and face features are kept as the "before"). About 20 minutes on two cores shared
    with other jobs (19 min 33 s measured, 21 CPU-minutes; 34 minutes on a busier machine);
    skipped when ../shared/realdata is absent.

    Returns
    -------
    dict
        ``data`` (phantom folder with ``truth/``), ``run`` (run folder) and
        ``subjects_per_group``.
    """
    from tests.oracle import TRUTH_RUN_OPTIONS

    faces = realdata("faces", "lfpw")
    cohort = phantom_cohort_run(tmp_path_factory.mktemp("truth_run"), [
        "--faces", str(faces), "--truth-cohort", "--subjects", str(TRUTH_SUBJECTS_PER_GROUP),
        "--seed", "8"], TRUTH_RUN_OPTIONS)
    return {**cohort, "subjects_per_group": TRUTH_SUBJECTS_PER_GROUP}
