"""Known-answer tests of the phantom voice: Praat must read back the voice quality we injected."""
from __future__ import annotations

import dataclasses

import numpy as np
import parselmouth
import pytest
from parselmouth.praat import call

from core.errors import ConfigError
from core.tasks import MOVEMENT, NEUROFACE
from phantom.schedule import Event, Schedule, build_schedule, train_rhythm_truth
from phantom.voice import (
                           SPEECH_REF_RMS,
                           VOWEL_F1_F3_HZ,
                           RoomParams,
                           VoiceParams,
                           draw_room_params,
                           sustained_vowel,
                           synthesize,
                           voice_params_for,
                           vowel_formants_hz,
                           )

SR = 44100
# A steady voice: no intonation, so Praat's F0 and jitter see only what is injected.
STEADY = VoiceParams(f0_hz=120.0, f0_sd_st=0.0, jitter_pct=0.2, shimmer_pct=1.0, hnr_db=40.0,
                     formant_scale=1.0, intensity_decay_db=0.0)
QUIET_ROOM = RoomParams(noise_db=-70.0, hum_db=-85.0, hum_hz=50.0, gain_db=0.0)
NOISY_ROOM = RoomParams(noise_db=-35.0, hum_db=-45.0, hum_hz=60.0, gain_db=0.0)


def _sound(x: np.ndarray) -> parselmouth.Sound:
    return parselmouth.Sound(x.astype(np.float64), sampling_frequency=SR)


def _praat_voice(x: np.ndarray) -> dict:
    """Praat's standard voice report measures with default settings (75-500 Hz)."""
    sound = _sound(x)
    points = call(sound, "To PointProcess (periodic, cc)", 75, 500)
    harmonicity = call(sound, "To Harmonicity (cc)", 0.01, 75, 0.1, 1.0)
    return {
        "f0": call(call(sound, "To Pitch", 0.0, 75, 500), "Get mean", 0, 0, "Hertz"),
        "jitter": 100 * call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3),
        "shimmer": 100 * call([sound, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6),
        "hnr": call(harmonicity, "Get mean", 0, 0),
    }


def _voiced_share(x: np.ndarray) -> float:
    pitch = call(_sound(x), "To Pitch", 0.0, 75, 500)
    return call(pitch, "Count voiced frames") / call(pitch, "Get number of frames")


def _frame_db(x: np.ndarray, frame_n: int) -> np.ndarray:
    """Level in dB of consecutive frames of ``frame_n`` samples."""
    frames = x[: len(x) // frame_n * frame_n].astype(np.float64).reshape(-1, frame_n)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def _ddk_schedule(seed: int, task: str = "DDK_PA") -> Schedule:
    return build_schedule(task, duration_s=4.0, rate_hz=6.0, rate_cv=0.05, fatigue=0.2,
                          movement_s=1.0, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("f0_hz", [120.0, 210.0])
def test_long_syllable_f0_matches_praat(f0_hz):
    schedule = Schedule(task="DDK_PA", duration_s=2.5, events=(Event(0.25, 2.0, "pa", 1.0),))
    voice = dataclasses.replace(STEADY, f0_hz=f0_hz, jitter_pct=0.3, hnr_db=20.0)
    x = synthesize(schedule, voice=voice, room=NOISY_ROOM, rng=np.random.default_rng(0))
    assert abs(_praat_voice(x)["f0"] - f0_hz) < 2.0


def test_sentence_intonation_matches_praat_f0_mean_and_sd():
    voice = dataclasses.replace(STEADY, f0_sd_st=2.0, jitter_pct=0.3, hnr_db=20.0)
    schedule = build_schedule("BBP_NORMAL", duration_s=8.0, rate_hz=4.0, rate_cv=0.05,
                              fatigue=0.1, movement_s=1.0, rng=np.random.default_rng(3))
    x = synthesize(schedule, voice=voice, room=NOISY_ROOM, rng=np.random.default_rng(4))
    pitch = call(_sound(x), "To Pitch", 0.0, 75, 500)
    # The contour is normalised over the syllables, which is where Praat finds voicing.
    assert call(pitch, "Get standard deviation", 0, 0, "semitones") == pytest.approx(2.0, abs=0.25)
    mean_st = call(pitch, "Get mean", 0, 0, "semitones re 100 Hz")
    assert 100 * 2 ** (mean_st / 12) == pytest.approx(120.0, rel=0.02)


@pytest.mark.parametrize("field, injected, praat_key", [
    ("jitter_pct", (0.2, 1.0, 2.0, 4.0), "jitter"),
    ("shimmer_pct", (2.0, 4.0, 8.0, 12.0), "shimmer"),
])
def test_praat_perturbation_tracks_injected(field, injected, praat_key):
    measured = []
    for value in injected:
        voice = dataclasses.replace(STEADY, **{field: value})
        x = sustained_vowel("a", duration_s=2.0, voice=voice, rng=np.random.default_rng(1))
        measured.append(_praat_voice(x)[praat_key])
    assert np.all(np.diff(measured) > 0), measured
    ratios = np.asarray(measured) / np.asarray(injected)
    # Measured 0.85-1.0 times the injected value: Praat's peak picking and the formant ringing
    # that carries over from one cycle to the next smooth the perturbation a little.
    assert np.all((ratios > 0.7) & (ratios < 1.2)), ratios


def test_praat_hnr_tracks_injected():
    injected = (30.0, 20.0, 12.0, 7.0)
    measured = [_praat_voice(sustained_vowel("a", duration_s=2.0,
                                             voice=dataclasses.replace(STEADY, hnr_db=h),
                                             rng=np.random.default_rng(1)))["hnr"]
                for h in injected]
    assert np.all(np.diff(measured) < 0), measured
    assert np.allclose(measured, injected, atol=2.0), measured


@pytest.mark.parametrize("vowel", ["a", "i"])
def test_praat_formants_match_vowel_targets(vowel):
    x = sustained_vowel(vowel, duration_s=1.0, voice=STEADY, rng=np.random.default_rng(2))
    formant = call(_sound(x), "To Formant (burg)", 0.0, 5, 5000, 0.025, 50)
    f1 = call(formant, "Get mean", 1, 0.1, 0.9, "hertz")
    f2 = call(formant, "Get mean", 2, 0.1, 0.9, "hertz")
    target_f1, target_f2, _ = VOWEL_F1_F3_HZ[vowel]
    assert abs(f1 / target_f1 - 1) < 0.12 and abs(f2 / target_f2 - 1) < 0.08, (f1, f2)


def test_vowel_formants_scale_and_centralise():
    female = dataclasses.replace(STEADY, formant_scale=1.15)
    assert np.allclose(vowel_formants_hz("i", voice=female)[:3],
                       1.15 * np.asarray(VOWEL_F1_F3_HZ["i"]))
    fully_central = dataclasses.replace(STEADY, vowel_centralization=1.0)
    assert np.allclose(vowel_formants_hz("i", voice=fully_central)[:3], VOWEL_F1_F3_HZ["schwa"])
    half = dataclasses.replace(STEADY, vowel_centralization=0.5)
    assert vowel_formants_hz("i", voice=half)[1] == pytest.approx(0.5 * (2290.0 + 1500.0))


def test_ddk_intensity_onsets_count_the_events():
    schedule = _ddk_schedule(seed=4)
    voice = voice_params_for(0.0, "M", rng=np.random.default_rng(4))
    x = synthesize(schedule, voice=voice, room=NOISY_ROOM, rng=np.random.default_rng(5))
    intensity = call(_sound(x), "To Intensity", 100, 0.002, "yes")
    db = np.asarray(intensity.values).ravel()
    low, high = np.percentile(db, 10), np.percentile(db, 99)
    above = False
    onsets = 0
    for value in db:  # hysteresis: rise above 60 % of the range, fall below 30 %
        if not above and value > low + 0.6 * (high - low):
            above, onsets = True, onsets + 1
        elif above and value < low + 0.3 * (high - low):
            above = False
    assert len(schedule.events) >= 10
    assert abs(onsets - len(schedule.events)) <= 1, (onsets, len(schedule.events))


def test_each_burst_starts_at_its_event_onset():
    schedule = _ddk_schedule(seed=6)
    voice = voice_params_for(0.5, "F", rng=np.random.default_rng(6))
    x = synthesize(schedule, voice=voice, room=NOISY_ROOM, rng=np.random.default_rng(7))
    frame_n = 49  # 1.1 ms; times come from sample counts, so frames do not drift from the clock
    frame_s = frame_n / SR
    db = _frame_db(x, frame_n)
    lags = []
    for event in schedule.events:
        at = int(event.onset_s / frame_s)  # the frame holding the onset
        # Loudest room-noise frames in the closure before the release, plus a margin.
        threshold = np.percentile(db[at - 40: at - 10], 95) + 6.0
        # a burst stays loud for several 1.1 ms frames; one loud frame is room noise
        above = db[at - 10: at + 11] > threshold
        loud = np.flatnonzero(above[:-1] & above[1:])
        assert loud.size, f"no burst near {event.onset_s:.3f} s"
        lags.append((at - 10 + loud[0]) * frame_s - event.onset_s)
    # Asked for: within 10 ms. Achieved: within one 1.1 ms frame (the onset's, or the next one
    # when rounding to a sample crosses the frame boundary).
    assert np.all(np.abs(lags) < frame_s), lags


def test_burst_spectrum_follows_place_of_articulation():
    schedule = _ddk_schedule(seed=8, task="DDK_PATAKA")
    x = synthesize(schedule, voice=STEADY, room=QUIET_ROOM, rng=np.random.default_rng(9))
    centroids = {"pa": [], "ta": [], "ka": []}
    n = int(0.008 * SR)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    for event in schedule.events:
        start = int(round(event.onset_s * SR))
        power = np.abs(np.fft.rfft(x[start: start + n] * np.hanning(n))) ** 2
        centroids[event.label].append(np.sum(freqs * power) / np.sum(power))
    p, t, k = (np.median(centroids[label]) for label in ("pa", "ta", "ka"))
    assert p < k < t, (p, k, t)


def test_event_amplitude_and_clip_decay_set_vowel_levels():
    events = (Event(0.2, 0.3, "pa", 1.0), Event(0.8, 0.3, "pa", 0.5), Event(2.6, 0.3, "pa", 0.5))
    schedule = Schedule(task="DDK_PA", duration_s=3.0, events=events)
    voice = dataclasses.replace(STEADY, intensity_decay_db=6.0)
    x = synthesize(schedule, voice=voice, room=QUIET_ROOM, rng=np.random.default_rng(10))
    # Steady middle of each vowel: 80-240 ms after the release (VOT 40 ms, ramps 10 and 25 ms).
    levels = [_rms_db(x[int((e.onset_s + 0.08) * SR): int((e.onset_s + 0.24) * SR)])
              for e in events]
    decay_per_s = 6.0 / 3.0
    assert levels[0] - levels[1] == pytest.approx(20 * np.log10(2) + 0.6 * decay_per_s, abs=0.5)
    assert levels[1] - levels[2] == pytest.approx(1.8 * decay_per_s, abs=0.5)
    assert levels[0] == pytest.approx(20 * np.log10(SPEECH_REF_RMS) - 0.28 * decay_per_s, abs=0.5)


@pytest.mark.parametrize("task", NEUROFACE)
def test_output_contract_and_determinism(task):
    schedule = build_schedule(task, duration_s=3.3337, rate_hz=5.0, rate_cv=0.1, fatigue=0.3,
                              movement_s=0.9, rng=np.random.default_rng(11))
    voice = voice_params_for(1.0, "F", rng=np.random.default_rng(12))
    loud_room = RoomParams(noise_db=-30.0, hum_db=-40.0, hum_hz=50.0, gain_db=6.0)
    x = synthesize(schedule, voice=voice, room=loud_room, rng=np.random.default_rng(13))
    assert x.dtype == np.float32 and x.ndim == 1 and len(x) == round(3.3337 * SR)
    # Head room: even the loudest room gain stays clear of the [-1, 1] limit.
    assert np.abs(x).max() < 0.9
    again = synthesize(schedule, voice=voice, room=loud_room, rng=np.random.default_rng(13))
    other = synthesize(schedule, voice=voice, room=loud_room, rng=np.random.default_rng(14))
    assert np.array_equal(x, again) and not np.array_equal(x, other)


@pytest.mark.parametrize("task", [name for name, spec in NEUROFACE.items() if spec.kind == MOVEMENT])
def test_nonspeech_tasks_are_unvoiced(task):
    schedule = build_schedule(task, duration_s=4.0, rate_hz=5.0, rate_cv=0.1, fatigue=0.1,
                              movement_s=1.0, rng=np.random.default_rng(15))
    voice = voice_params_for(0.0, "M", rng=np.random.default_rng(16))
    room = draw_room_params(np.random.default_rng(17))
    x = synthesize(schedule, voice=voice, room=room, rng=np.random.default_rng(18))
    assert _voiced_share(x) < 0.05


def test_blow_adds_breath_noise_only_during_repetitions():
    schedule = build_schedule("NSM_BLOW", duration_s=4.0, rate_hz=5.0, rate_cv=0.1, fatigue=0.0,
                              movement_s=1.0, rng=np.random.default_rng(19))
    x = synthesize(schedule, voice=STEADY, room=NOISY_ROOM, rng=np.random.default_rng(20))
    event = schedule.events[0]
    mid = int((event.onset_s + 0.5 * event.duration_s) * SR)
    assert _rms_db(x[mid - 2000: mid + 2000]) > _rms_db(x[: int(0.25 * SR)]) + 15


def test_room_noise_level_is_the_same_in_speech_silences_and_nonspeech_clips():
    room = RoomParams(noise_db=-40.0, hum_db=-50.0, hum_hz=60.0, gain_db=-3.0)
    expected_db = (20 * np.log10(SPEECH_REF_RMS) + 10 * np.log10(10 ** -4.0 + 10 ** -5.0)
                   + room.gain_db)
    nonspeech = build_schedule("NSM_KISS", duration_s=4.0, rate_hz=5.0, rate_cv=0.1, fatigue=0.0,
                               movement_s=1.0, rng=np.random.default_rng(21))
    x = synthesize(nonspeech, voice=STEADY, room=room, rng=np.random.default_rng(22))
    assert _rms_db(x) == pytest.approx(expected_db, abs=0.1)
    speech = _ddk_schedule(seed=23)
    y = synthesize(speech, voice=STEADY, room=room, rng=np.random.default_rng(24))
    lead_in = y[: int((speech.events[0].onset_s - 0.01) * SR)]
    assert _rms_db(lead_in) == pytest.approx(expected_db, abs=2.0)


def test_voice_params_monotonic_in_severity_for_one_speaker():
    voices = [voice_params_for(s, "F", rng=np.random.default_rng(25)) for s in (0.0, 0.3, 0.7, 1.0)]
    for field, sign in [("jitter_pct", 1), ("shimmer_pct", 1), ("hnr_db", -1), ("f0_sd_st", -1),
                        ("intensity_decay_db", 1), ("vowel_centralization", 1)]:
        values = np.asarray([getattr(v, field) for v in voices])
        assert np.all(sign * np.diff(values) > 0), (field, values)
    assert len({v.f0_hz for v in voices}) == 1 and len({v.formant_scale for v in voices}) == 1
    assert voices[0].jitter_pct < 1.04 and voices[-1].jitter_pct > 2.0
    assert voices[0].hnr_db > 17 and voices[-1].hnr_db < 11


def test_voice_params_follow_sex():
    males = [voice_params_for(0.2, "M", rng=np.random.default_rng(s)) for s in range(30)]
    females = [voice_params_for(0.2, "F", rng=np.random.default_rng(s)) for s in range(30)]
    assert max(v.f0_hz for v in males) < min(v.f0_hz for v in females) + 20
    assert np.mean([v.f0_hz for v in females]) - np.mean([v.f0_hz for v in males]) > 60
    assert all(0.94 - 1e-9 <= v.formant_scale <= 1.06 + 1e-9 for v in males)
    assert all(1.09 - 1e-9 <= v.formant_scale <= 1.21 + 1e-9 for v in females)


def test_room_draws_are_valid_and_seeded():
    rooms = [draw_room_params(np.random.default_rng(s)) for s in range(20)]
    assert all(r.hum_db < r.noise_db and -6 <= r.gain_db <= 6 for r in rooms)
    assert draw_room_params(np.random.default_rng(3)) == rooms[3]


@pytest.mark.parametrize("call_bad", [
    lambda: voice_params_for(1.5, "M", rng=np.random.default_rng(0)),
    lambda: voice_params_for(0.5, "X", rng=np.random.default_rng(0)),
    lambda: dataclasses.replace(STEADY, jitter_pct=-1.0),
    lambda: RoomParams(noise_db=-40.0, hum_db=-50.0, hum_hz=55.0, gain_db=0.0),
    lambda: synthesize(Schedule("DDK_PA", 1.0, (Event(0.2, 0.1, "ba", 1.0),)), voice=STEADY,
                       room=QUIET_ROOM, rng=np.random.default_rng(0)),
    lambda: synthesize(Schedule("DDK_PA", 1.0, (Event(1.2, 0.1, "pa", 1.0),)), voice=STEADY,
                       room=QUIET_ROOM, rng=np.random.default_rng(0)),
    lambda: synthesize(_ddk_schedule(0), voice=STEADY, room=QUIET_ROOM, sr=8000,
                       rng=np.random.default_rng(0)),
])
def test_invalid_inputs_raise_config_error(call_bad):
    with pytest.raises(ConfigError):
        call_bad()


@pytest.mark.parametrize("rate_hz", [2.0, 4.0, 7.0])
def test_ddk_clips_hold_several_attempts_separated_by_pauses(rate_hz):
    schedule = build_schedule("DDK_PATAKA", duration_s=10.0, rate_hz=rate_hz, rate_cv=0.1,
                              fatigue=0.1, movement_s=1.0, rng=np.random.default_rng(1))
    trains = np.array([e.train for e in schedule.events])
    assert trains.max() >= 2 and np.all(np.diff(trains) >= 0)
    for k in range(trains.max()):
        last = [e for e in schedule.events if e.train == k][-1]
        first = next(e for e in schedule.events if e.train == k + 1)
        pause = first.onset_s - (last.onset_s + last.duration_s)
        assert pause >= max(0.3, 2.0 / rate_hz) - 1e-9
        assert first.label == "pa"  # every attempt starts the /pa-ta-ka/ cycle anew


def test_train_rhythm_truth_is_taken_within_trains_over_whole_cycles():
    def events(onsets_by_train):
        return tuple(Event(float(t), 0.05, "pa", 1.0, k)
                     for k, onsets in enumerate(onsets_by_train) for t in onsets)

    regular = events([0.5 + np.arange(8) / 5.0, 4.0 + np.arange(8) / 4.0])
    truth = train_rhythm_truth(regular)
    assert truth["n_trains"] == 2
    assert truth["event_rate_hz"] == pytest.approx(4.5)
    assert truth["event_interval_cv"] == pytest.approx(0.0, abs=1e-12)
    # /pa-ta-ka/ with a fixed short-long-long pattern: irregular syllable by syllable, but every
    # cycle lasts 0.6 s; 7 syllables hold two whole cycles
    pattern = np.cumsum([0.0] + [0.15, 0.2, 0.25] * 2)
    cycled = train_rhythm_truth(events([pattern]), cycle=3)
    assert cycled["event_rate_hz"] == pytest.approx(6 / 1.2)
    assert cycled["event_interval_cv"] == pytest.approx(0.0, abs=1e-12)
    assert train_rhythm_truth(events([pattern]))["event_interval_cv"] > 0.2
