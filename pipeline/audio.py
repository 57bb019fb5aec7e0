"""``avstroke audio``: eGeMAPS, Praat voice quality, diadochokinesis and speech timing.

Each recording's sound (its sidecar audio file, else the video's audio stream) is decoded once to
16 kHz mono and cached under ``RUN/cache/audio16k/`` with the clip time of its first sample; its
features are cached under ``RUN/cache/audio/`` and gathered into ``RUN/features/audio.parquet``.
Each feature file's metadata also holds the recording's speech intervals, pauses, syllable nuclei,
DDK syllable onsets and peaks and a vowel's stable middle, in clip time (seconds since the video
container's start, the clock of the landmark times; see ``features.clip_time``). The features
depend on the recording's task definition (its kind, and a ddk task's cycle: its ``TaskSpec`` in
the run's vocabulary, ``pipeline.task_file``), which is part of their cache key. A recording
without sound is skipped and listed in ``RUN/errors.csv`` (a video-only cohort is valid), and the
others go on; a skipped or failed recording's cached feature row is deleted, so it can never stand
in for the current file. A task asking for the voice whose sound is silent
(``features.audio.silence``) keeps its row, with its voice and speech features NaN and the reason
in ``nan_reasons``; ``avstroke validate`` lists it among its warnings.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.files import atomic_write
from core.tasks import task_spec
from features.audio.audio_features import audio_features
from features.audio.decode import TARGET_SR, load_audio
from pipeline import cache
from pipeline.recordings import (audio_source, cache_path, drop_outputs, finish, gather, one_row, recomputed,
                                 valid_recordings)
from pipeline.runner import ItemResult, run_items
from pipeline.stage import stage_main
from pipeline.task_file import run_vocabulary

DESCRIPTION = "Compute acoustic features (eGeMAPS, voice quality, DDK, timing) per recording."
DECODE_MODULES = ["features.audio.decode", "features.clip_time"]
FEATURE_MODULES = ["features.audio.audio_features", "features.audio.egemaps", "features.audio.voice_quality",
                   "features.audio.ddk", "features.audio.timing", "features.audio.segments",
                   "features.audio.silence"]
KIND = "audio"
# Parts of audio_features' info that are stored with the features: the clip-time events.
STORED_TIMES = ("start_s", "segmentation", "timing", "ddk", "vowel")


def add_arguments(parser) -> None:
    """No options of its own: the feature sets are fixed and versioned by code."""


def _save_decoded(tmp: Path, signal: np.ndarray, start_s: float) -> None:
    with open(tmp, "wb") as fh:
        np.savez(fh, signal=signal.astype(np.float32, copy=False), start_s=np.float64(start_s))


def _load_decoded(cache_file: Path) -> tuple[np.ndarray, float]:
    with np.load(cache_file) as stored:
        return stored["signal"], float(stored["start_s"])


def decoded_audio(source: str, cache_file: Path, code: str) -> tuple[np.ndarray, float, str, str]:
    """16 kHz mono samples of ``source``, decoded once and cached as ``.npz``.

    Returns the samples, the clip time of the first one in seconds (``load_audio``'s
    ``start_s``), their cache key, and why the cached samples were decoded again ('' when they
    were absent, stale or read): a damaged file counts as absent.
    """
    key = cache.make_key(inputs={"media": cache.file_digest(source)}, params={"sr": TARGET_SR}, code=code)
    fresh, problem = cache.freshness(cache_file, key)
    if fresh:
        try:
            return *_load_decoded(cache_file), key, ""
        except (*cache.UNREADABLE, zipfile.BadZipFile, EOFError, KeyError) as exc:
            problem = f"unreadable ({type(exc).__name__})"
    signal, info = load_audio(source, target_sr=TARGET_SR)
    atomic_write(cache_file, lambda tmp: _save_decoded(tmp, signal, info["start_s"]))
    cache.write_key(cache_file, key)
    return signal, info["start_s"], key, problem


def features_one(item: dict) -> ItemResult:
    """Audio features of one recording, or its cached row."""
    rid, source, out = item["recording_id"], item["file"], item["out"]
    signal, start_s, audio_key, decode_problem = decoded_audio(source, Path(item["pcm"]), item["decode_code"])
    key = cache.make_key(inputs={"audio": audio_key}, params={"task": item["task"].definition()},
                         code=item["code"])
    fresh, problem = cache.freshness(out, key)
    warning = "; ".join(filter(None, (recomputed("16 kHz samples", decode_problem),
                                      recomputed("audio features", problem))))
    if fresh:
        return ItemResult(rid, "cached", source, warning=warning)
    row, info = audio_features(signal, TARGET_SR, task=item["task"], start_s=start_s)
    times = {name: info[name] for name in STORED_TIMES if name in info}
    cache.write_parquet(one_row(row, rid), out, key=key,
                        metadata={"nan_reasons": info.get("nan_reasons", {}),
                                  "egemaps": info.get("egemaps", {}), **times})
    return ItemResult(rid, "done", source, warning=warning)


def soundless(media: pd.DataFrame) -> set:
    """Recording ids whose files validation opened and found without an audio stream.

    A recording validation did not open (``validate --no-probe``) is not among them: whether it
    has sound is for decoding to tell.
    """
    flags = media.reindex(columns=["video_has_audio", "audio_has_audio"])
    opened = flags.notna().any(axis=1)
    return set(media.loc[opened & ~flags.eq(True).any(axis=1), "recording_id"])


def run(args) -> int:
    recordings = valid_recordings(args.out)
    vocabulary = run_vocabulary(args.out)
    no_sound = soundless(pd.read_parquet(args.out / "media.parquet"))
    decode_code, code = cache.code_digest(DECODE_MODULES), cache.code_digest(FEATURE_MODULES)
    items, skipped = [], []
    for _, r in recordings.iterrows():
        source = audio_source(r)
        if r["recording_id"] in no_sound:
            skipped.append(ItemResult(r["recording_id"], "skipped", source, "NoAudioError",
                                      "no audio stream in the recording (its audio_path file or, "
                                      "without one, its video); no audio features"))
            continue
        items.append({"recording_id": r["recording_id"], "file": source,
                      "task": task_spec(r["task"], vocabulary), "code": code,
                      "decode_code": decode_code, "out": str(cache_path(args.out, KIND, r["recording_id"])),
                      "pcm": str(Path(args.out) / "cache" / "audio16k" / f"{r['recording_id']}.npz")})
    results = skipped + run_items("audio", items, features_one, workers=args.workers, dask_address=args.dask)
    drop_outputs(args.out, KIND, results)
    cache.write_parquet(gather(args.out, KIND, results), args.out / "features" / "audio.parquet")
    return finish(args.out, "audio", results)


def main(argv=None) -> int:
    return stage_main("avstroke audio", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
