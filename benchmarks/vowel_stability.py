"""How unstable the onset and offset of real sustained vowels are, and what trimming them changes.

Usage::

    .venv/bin/python benchmarks/vowel_stability.py

For each sustained vowel in ``../shared/realdata`` (``VOWELS``) the longest voiced stretch of the
pitch track (``features.audio.voice_quality``) is cut into 0.1 s windows counted from its onset
and from its offset. For each window the script prints, as a multiple of the same measure over the
stretch's middle 40%:

- ``jitter``: Praat's jitter (local) of the periods in the window;
- ``dF0``: the mean frame-to-frame change of F0 in semitones;
- ``dI``: the mean frame-to-frame change of intensity in dB.

Then the median over vowels of each window's multiple, and the jitter, shimmer, F0 SD and periods
of the whole stretch and of its middle as the vowel task measures it (``stable_vowel_span``). A
multiple near 1 means the window is as steady as the middle; the trim (``VOWEL_TRIM_S``) should
remove the windows clearly above 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from parselmouth.praat import call

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features.audio import voice_quality as vq  # noqa: E402
from features.audio.decode import load_audio  # noqa: E402

SPEECH = REPO.parent / "shared" / "realdata" / "speech"
VOWELS = ("neurospeech_hc/A.wav", "neurospeech_hc/E.wav", "neurospeech_hc/I.wav",
          "neurospeech_hc/O.wav", "neurospeech_hc/U.wav", "neurospeech_hc/U_1.wav",
          "pcgita/001_a1_PCGITA.wav", "misc/a.wav", "misc/healthy-me.wav")
WINDOW_S = 0.1
N_WINDOWS = 5
MIDDLE_SHARE = 0.4
PERIOD_ARGS = (vq.SHORTEST_PERIOD_S, vq.LONGEST_PERIOD_S, vq.MAX_PERIOD_FACTOR)


def jitter_pct(points, start: float, end: float) -> float:
    """Praat jitter (local) in percent of the periods from ``start`` to ``end`` (s)."""
    return 100.0 * call(points, "Get jitter (local)", start, end, *PERIOD_ARGS)


def frame_changes(sound, track: vq.PitchTrack, start: float, end: float) -> tuple:
    """Frame times and absolute frame-to-frame changes of F0 (semitones) and intensity (dB)."""
    intensity = sound.to_intensity(vq.PITCH_FLOOR_HZ, vq.PITCH_STEP_S)
    keep = (track.times_s >= start) & (track.times_s <= end) & track.voiced
    times = track.times_s[keep]
    semitones = 12.0 * np.log2(track.f0_hz[keep] / vq.SEMITONE_REFERENCE_HZ)
    level = np.interp(times, np.asarray(intensity.xs()), intensity.values[0])
    return times[1:], np.abs(np.diff(semitones)), np.abs(np.diff(level))


def window_mean(values: np.ndarray, distance: np.ndarray, first: float) -> float:
    """Mean of ``values`` whose ``distance`` from an edge lies in [first, first + WINDOW_S)."""
    chosen = (distance >= first) & (distance < first + WINDOW_S)
    return float(values[chosen].mean()) if chosen.any() else np.nan


def profile(relative: str) -> dict:
    """Window multiples from the onset and the offset, and whole versus trimmed values."""
    signal, _ = load_audio(SPEECH / relative)
    sound = vq.to_sound(signal, 16000)
    track = vq.analyse_pitch(sound)
    start, end = max(vq.voiced_intervals(track), key=lambda interval: interval[1] - interval[0])
    points = call([sound, track.praat_pitch], "To PointProcess (cc)")
    margin = (1.0 - MIDDLE_SHARE) / 2 * (end - start)
    middle_jitter = jitter_pct(points, start + margin, end - margin)
    times, d_f0, d_level = frame_changes(sound, track, start, end)
    in_middle = (times > start + margin) & (times < end - margin)
    edges = np.arange(N_WINDOWS) * WINDOW_S
    out = {"duration_s": end - start}
    for edge, distance in (("onset", times - start), ("offset", end - times)):
        out[f"{edge}_jitter"] = [
            jitter_pct(points, start + e, start + e + WINDOW_S) / middle_jitter if edge == "onset"
            else jitter_pct(points, end - e - WINDOW_S, end - e) / middle_jitter for e in edges]
        out[f"{edge}_df0"] = [window_mean(d_f0, distance, e) / d_f0[in_middle].mean() for e in edges]
        out[f"{edge}_di"] = [window_mean(d_level, distance, e) / d_level[in_middle].mean()
                             for e in edges]
    for name, span in (("whole", (start, end)), ("middle", vq.stable_vowel_span(track))):
        row, _ = vq.voice_quality(signal, 16000, track=track, span_s=span)
        out[name] = {key: row[f"voice__{key}"] for key in
                     ("jitter_local_pct", "shimmer_local_pct", "f0_sd_hz", "n_periods")}
    return out


def main() -> int:
    if not SPEECH.is_dir():
        print(f"real data not found at {SPEECH}", file=sys.stderr)
        return 1
    profiles = {relative: profile(relative) for relative in VOWELS}
    labels = " ".join(f"{e:.1f}-{e + WINDOW_S:.1f}" for e in np.arange(N_WINDOWS) * WINDOW_S)
    for key in ("jitter", "df0", "di"):
        for edge in ("onset", "offset"):
            print(f"\n{key} in 0.1 s windows from the {edge}, x the middle ({labels} s)")
            for relative, p in profiles.items():
                print(f"  {relative:28s} " + " ".join(f"{v:7.2f}" for v in p[f"{edge}_{key}"]))
            median = np.nanmedian([p[f"{edge}_{key}"] for p in profiles.values()], axis=0)
            print(f"  {'median':28s} " + " ".join(f"{v:7.2f}" for v in median))
    print(f"\nwhole longest voiced stretch -> stable middle (trim {vq.VOWEL_TRIM_S} s, at most "
          f"{vq.VOWEL_MAX_TRIM_SHARE:.0%} per end)")
    for relative, p in profiles.items():
        whole, middle = p["whole"], p["middle"]
        print(f"  {relative:28s} {p['duration_s']:5.2f} s  jitter {whole['jitter_local_pct']:.2f} -> "
              f"{middle['jitter_local_pct']:.2f} %  shimmer {whole['shimmer_local_pct']:.2f} -> "
              f"{middle['shimmer_local_pct']:.2f} %  F0 SD {whole['f0_sd_hz']:.1f} -> "
              f"{middle['f0_sd_hz']:.1f} Hz  periods {whole['n_periods']:.0f} -> "
              f"{middle['n_periods']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
