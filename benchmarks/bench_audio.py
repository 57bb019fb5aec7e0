"""Real-time factor of each audio extractor on real speech, one process, one core.

Run pinned to one core, since other jobs share the machine::

    taskset -c 0 .venv/bin/python benchmarks/bench_audio.py [--repeats 3]

The real-time factor is audio seconds processed per second (higher is faster), given both per
wall-clock second and per CPU second of this process (the two differ when other jobs hold the
core); each extractor is timed as the best of ``--repeats`` runs per file, summed over the files.
It also prints CPPS at the Maryn and Weenink time step (0.002 s) next to the one used (0.01 s), the
measurement behind that choice. Reads ``../shared/realdata`` next to the repository.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import parselmouth
from parselmouth.praat import call

from core.tasks import DDK, MOVEMENT, NEUROFACE
from features.audio import audio_features as af
from features.audio import ddk, egemaps, segments, timing, voice_quality
from features.audio.decode import load_audio

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
FILES = (  # (path under realdata, task it stands in for)
    ("speech/neurospeech_hc/Readtext.wav", "BBP_NORMAL"),
    ("speech/pcgita/001_readtext_PCGITA.wav", "BBP_NORMAL"),
    ("speech/misc/116-288045-0000.flac", "BBP_NORMAL"),
    ("speech/neurospeech_hc/DDK.wav", "DDK_PATAKA"),
    ("speech/pcgita/001_ddk1_PCGITA.wav", "DDK_PATAKA"),
    ("speech/neurospeech_hc/DDK4.wav", "DDK_PA"),
    ("video/pyfeat/single_face.mp4", "NSM_BIGSMILE"),
)


def best_time(function, repeats: int) -> tuple[float, float]:
    """Shortest wall time and shortest CPU time (this process) in seconds of ``repeats`` calls.

    CPU time is what one core spends on the call; wall time also counts waiting while other jobs
    hold the core, so the two differ when the machine is shared.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def cpps_at(voiced: parselmouth.Sound, time_step: float) -> float:
    """CPPS in dB with every Maryn and Weenink (2015) setting except ``time_step``."""
    cepstrogram = call(voiced, "To PowerCepstrogram", 60.0, time_step, 5000.0, 50.0)
    return call(cepstrogram, "Get CPPS", "no", 0.01, 0.001, 60.0, 330.0, 0.05, "Parabolic",
                0.001, 0.0, "Straight", "Robust")


def extractors(signal: np.ndarray, sr: int, task: str) -> dict:
    """Named zero-argument calls of each extractor on one recording."""
    sound = voice_quality.to_sound(signal, sr)
    track = voice_quality.analyse_pitch(sound)
    seg = segments.segment_speech(signal, sr, voiced_times_s=track.times_s, voiced=track.voiced)
    voiced = voice_quality.joined_sound(signal, sr, voice_quality.sample_spans(
        voice_quality.voiced_intervals(track), sr, len(signal)))
    calls = {
        "eGeMAPS": lambda: egemaps.egemaps_features(signal, sr),
        "pitch (cc)": lambda: voice_quality.analyse_pitch(sound),
        "voice quality (all, incl. pitch)": lambda: voice_quality.voice_quality(signal, sr),
        "  of which CPPS": lambda: voice_quality.cpps(voiced),
        "segments": lambda: segments.segment_speech(signal, sr, voiced_times_s=track.times_s,
                                                    voiced=track.voiced),
        "timing": lambda: timing.timing_features(signal, sr, segmentation=seg),
        "DDK": lambda: ddk.ddk_features(signal, sr),
        "non-speech control": lambda: af.nonspeech_control(signal, sr, segmentation=seg),
        "audio_features (whole)": lambda: af.audio_features(signal, sr, task=NEUROFACE[task]),
    }
    if NEUROFACE[task].kind != DDK:
        del calls["DDK"]
    if NEUROFACE[task].kind == MOVEMENT:
        for name in ("timing", "voice quality (all, incl. pitch)", "  of which CPPS"):
            del calls[name]
    return calls


def main(argv=None) -> int:
    """Print the real-time factor table and the CPPS time-step comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per file (best kept)")
    args = parser.parse_args(argv)
    if not REALDATA.is_dir():
        print(f"real data not found at {REALDATA}", file=sys.stderr)
        return 1
    audio_s: dict = {}
    wall_s: dict = {}
    cpu_s: dict = {}
    print(f"{'file':40s} {'task':12s} {'s':>6s}  CPPS@0.002  CPPS@0.01  (dB; CPU s per call)")
    for relative, task in FILES:
        signal, info = load_audio(REALDATA / relative)
        sr = info["sr"]
        af.audio_features(signal, sr, task=NEUROFACE[task])  # warm-up: imports, openSMILE set-up
        for name, function in extractors(signal, sr, task).items():
            wall, cpu = best_time(function, args.repeats)
            audio_s[name] = audio_s.get(name, 0.0) + info["duration_s"]
            wall_s[name] = wall_s.get(name, 0.0) + wall
            cpu_s[name] = cpu_s.get(name, 0.0) + cpu
        line = f"{relative:40s} {task:12s} {info['duration_s']:6.2f}"
        if NEUROFACE[task].kind != MOVEMENT:
            track = voice_quality.analyse_pitch(voice_quality.to_sound(signal, sr))
            voiced = voice_quality.joined_sound(signal, sr, voice_quality.sample_spans(
                voice_quality.voiced_intervals(track), sr, len(signal)))
            fine = cpps_at(voiced, 0.002)
            coarse = cpps_at(voiced, 0.01)
            t_fine = best_time(lambda: cpps_at(voiced, 0.002), 1)[1]
            t_coarse = best_time(lambda: cpps_at(voiced, 0.01), args.repeats)[1]
            line += f"  {fine:6.2f} ({t_fine:.3f})  {coarse:6.2f} ({t_coarse:.3f})"
        print(line)
    print()
    print(f"{'extractor':36s} {'audio s':>8s} {'wall s':>8s} {'CPU s':>8s} "
          f"{'x real time (wall)':>19s} {'x real time (CPU)':>18s}")
    for name in audio_s:
        print(f"{name:36s} {audio_s[name]:8.2f} {wall_s[name]:8.3f} {cpu_s[name]:8.3f} "
              f"{audio_s[name] / wall_s[name]:19.1f} {audio_s[name] / cpu_s[name]:18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
