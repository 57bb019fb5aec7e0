"""Generate the phantom cohort: media in the NeuroFace layout plus the truth behind every file.

Output folder::

    <out>/healthy_controls/Videos/N001_02_NSM_SPREAD_color.avi   (H.264 + PCM audio)
    <out>/healthy_controls/Landmarks_gt/N001_02_NSM_SPREAD_color.txt   (sampled "manual" frames;
                                                               first visits only unless annotate_followups)
    <out>/healthy_controls/SLP_Assessment_HC.xlsx, participants.csv
    <out>/stroke/Videos_and_metadata/..., <out>/als/Videos/...
    <out>/truth/subjects.csv      latent truth per subject and visit
    <out>/truth/recordings.csv    per clip: timing, voice and motion truth
    <out>/truth/events.csv        every syllable / movement event
    <out>/truth/landmarks/<recording_id>.parquet   true landmarks of every frame

Every time in ``truth/`` is clip time, seconds on the file's own clock (``features.clip_time``):
with ``first_pts`` the first frame, and the sound with it, start ``first_pts / fps`` seconds in.

Each clip is written atomically and keyed by its parameters and the generator's code, so an
interrupted generation resumes and a re-run with the same settings writes nothing.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from core.errors import ConfigError, MediaError
from core.files import atomic_write
from core.media_writer import write_clip
from core.tasks import GROUPS, NEUROFACE
from core.workers import quiet_worker_recycling
from features.video.landmark_error import read_ibug_pts
from phantom import design, face, landmark_txt, motion, scores, voice
from phantom.schedule import build_schedule, train_rhythm_truth
from pipeline import cache, neuroface
from pipeline.runner import progress_enabled

log = logging.getLogger("avstroke")
CODE_MODULES = ["phantom.design", "phantom.face", "phantom.motion",
                "phantom.voice", "phantom.schedule", "phantom.scores",
                "phantom.landmark_txt", "core.media_writer", "phantom.generate"]
ANNOTATOR_SD_PX = 0.5
ASTRONAUT = "astronaut"


@dataclass(frozen=True)
class PhantomParams:
    """Settings of a phantom cohort (all of them change the output).

    ``subjects_per_group`` is the number of controls and of ALS subjects, ``stroke_subjects`` of
    post-stroke subjects (None: as many), of whom ``followup_share`` are seen again. The default,
    the demo cohort, has twice as many post-stroke subjects, every one followed up, so that the
    recovery target holds enough of both outcomes for nested cross-validation (with 6, the
    measured SLP totals called 2 recovered, and a training part with one recovered subject
    allows no inner split). ``task_seconds`` gives some tasks a clip length other than
    ``clip_s``, as (task, seconds) pairs; ``first_pts`` is the presentation timestamp, in frames,
    of every clip's first frame. ``annotate_followups`` False writes manual landmark files for
    the first visit only, as a clinic that annotates a patient once would: the follow-up visits
    are then tracked with the model adapted to the patient's first-visit frames, never with one
    that saw them (NeuroFace annotates every video; the truth cohort does too).
    """

    subjects_per_group: int = 6
    stroke_subjects: int | None = 12
    followup_share: float = 1.0
    seed: int = 0
    fps: float = 50.0
    clip_s: float = 3.0
    audio_rate: int = 44100
    width: int = 640
    height: int = 480
    task_seconds: tuple = ()
    first_pts: int = 0
    annotate_followups: bool = False

    def seconds(self, task: str) -> float:
        """Clip length of ``task`` in seconds."""
        return dict(self.task_seconds).get(task, self.clip_s)


# The truth cohort, for checking features against truth dlib cannot have shaped: identities from
# hand-annotated photos (``face_sources``), the tasks whose features have known truth, clips long
# enough for several DDK attempts and BBP sentences, and a first frame at pts 1 as some writers
# produce. Its defaults are the ones the truth tests and benchmarks/phantom_truth.py use.
TRUTH_TASKS = ("NSM_SPREAD", "DDK_PA", "DDK_PATAKA", "BBP_NORMAL")
TRUTH_TASK_SECONDS = (("NSM_SPREAD", 4.0), ("DDK_PA", 7.0), ("DDK_PATAKA", 7.0), ("BBP_NORMAL", 6.0))
TRUTH_FIRST_PTS = 1


def truth_cohort_params(*, subjects_per_group: int, seed: int) -> PhantomParams:
    """Settings of a truth cohort (see ``TRUTH_TASKS``): ``subjects_per_group`` in every group, every
    post-stroke subject followed up."""
    return PhantomParams(subjects_per_group=subjects_per_group, stroke_subjects=None, seed=seed,
                         task_seconds=TRUTH_TASK_SECONDS, first_pts=TRUTH_FIRST_PTS,
                         annotate_followups=True)


@dataclass(frozen=True)
class FaceSource:
    """A photograph an identity is made from, with its neutral landmarks' origin."""

    name: str
    image_path: str  # '' for the astronaut shipped by scikit-image
    pts_path: str  # '' when landmarks come from dlib


def face_sources(faces_dir: Path | None) -> list[FaceSource]:
    """The photographs identities are made from.

    Without ``faces_dir``, the astronaut photo, whose landmarks are dlib's own fit. With it, only
    the ``*.png`` files of ``faces_dir`` that have an iBUG ``.pts`` of manual landmarks beside
    them and can be animated (lips parted, see ``face.make_identity``): a cohort whose truth dlib
    cannot have shaped, for checking features against.

    Raises
    ------
    ConfigError
        If ``faces_dir`` holds no usable annotated photo.
    """
    if faces_dir is None:
        return [FaceSource(ASTRONAUT, "", "")]
    sources, refused = [], []
    for png in sorted(Path(faces_dir).glob("*.png")):
        pts = png.with_suffix(".pts")
        if not pts.is_file():
            continue
        source = FaceSource(png.stem, str(png.resolve()), str(pts.resolve()))
        try:
            face.check_photo(*_photo(source))
        except MediaError as reason:
            refused.append(f"{png.name}: {reason}")
            continue
        sources.append(source)
    for line in refused:
        log.warning("phantom: photo left out: %s", line)
    if not sources:
        raise ConfigError(f"--faces {faces_dir}: no *.png with a .pts of 68 manual landmarks that "
                          f"can be animated ({len(refused)} left out)")
    return sources


def source_for(truth: design.SubjectTruth, params: PhantomParams, sources: list) -> FaceSource:
    """The photo of one subject: the n-th subject of every group gets the same photo, so each
    group holds the same faces and a face never gives a group away."""
    return sources[(design.number_in_group(truth) - 1) % len(sources)]


@functools.lru_cache(maxsize=8)
def _photo(source: FaceSource) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    if source.name == ASTRONAUT:
        return face.astronaut_source()
    image = cv2.cvtColor(cv2.imread(source.image_path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    landmarks = read_ibug_pts(source.pts_path)
    if face.inner_lips_swapped(landmarks):
        # some 300-W files number the inner lips from the other side; the points are right
        log.info("phantom: %s numbers its inner lips bottom-up; read top-down", source.name)
        landmarks = face.swap_inner_lips(landmarks)
    return image, landmarks


@functools.lru_cache(maxsize=64)
def _identity(source: FaceSource, identity_seed: int) -> face.Identity:
    rng = np.random.default_rng([identity_seed, 7])
    image, landmarks = _photo(source)
    params = face.draw_identity_params(rng)
    return face.make_identity(image, landmarks, params=params, rng=rng)


def clip_rng(params: PhantomParams, truth: design.SubjectTruth, task: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([params.seed, truth.index, int(truth.visit), list(NEUROFACE).index(task), stream])


SCORE_STREAM = 4


def clip_scores(params: PhantomParams, truth: design.SubjectTruth, task: str) -> dict:
    """Both simulated raters' SLP scores of one clip (``scores.rate_video``), drawn from the clip's
    own stream, so they can be known without rendering the clip."""
    return scores.rate_video(truth, task, clip_rng(params, truth, task, SCORE_STREAM))


def subject_voice(params: PhantomParams, truth: design.SubjectTruth) -> voice.VoiceParams:
    """The subject's voice at this visit (the same in every task)."""
    return voice.voice_params_for(truth.dysarthria, truth.sex,
                                  rng=design.subject_rng(params.seed, truth.index, stream=10 + int(truth.visit)))


def subject_room(params: PhantomParams, truth: design.SubjectTruth) -> voice.RoomParams:
    """The recording room of this visit, drawn independently of group."""
    return voice.draw_room_params(design.subject_rng(params.seed, truth.index, stream=30 + int(truth.visit)))


def head_poses(n_frames: int, fps: float, rng: np.random.Generator) -> list[face.Pose]:
    """Slow head drift (rotation, translation, scale), drawn independently of group."""
    t = np.arange(n_frames) / fps
    rot_amp, shift_amp, scale_amp = rng.uniform(0, 3.0), rng.uniform(0, 6.0), rng.uniform(0, 0.02)
    f = rng.uniform(0.1, 0.4, size=4)
    phase = rng.uniform(0, 2 * np.pi, size=4)
    rot = rot_amp * np.sin(2 * np.pi * f[0] * t + phase[0])
    dx = shift_amp * np.sin(2 * np.pi * f[1] * t + phase[1])
    dy = 0.5 * shift_amp * np.sin(2 * np.pi * f[2] * t + phase[2])
    scale = 1 + scale_amp * np.sin(2 * np.pi * f[3] * t + phase[3])
    return [face.Pose(roll_deg=float(r), dx_px=float(x), dy_px=float(y), scale=float(s))
            for r, x, y, s in zip(rot, dx, dy, scale)]


def stem_of(truth: design.SubjectTruth, task: str) -> str:
    return f"{truth.subject_id}_{truth.visit}_{task}_color"


def recording_id(truth: design.SubjectTruth, task: str) -> str:
    return f"{truth.subject_id}_{truth.visit}_{task}"


def _truth_landmark_table(points: np.ndarray, fps: float, start_s: float) -> pd.DataFrame:
    n = len(points)
    data = {"frame": np.arange(n), "time_s": start_s + np.arange(n) / fps}
    for k in range(68):
        data[f"x{k}"] = points[:, k, 0]
        data[f"y{k}"] = points[:, k, 1]
    return pd.DataFrame(data)


def make_clip(out: Path, params: PhantomParams, truth: design.SubjectTruth, task: str,
              source: FaceSource, code: str) -> dict:
    """Render, synthesise and write one clip (or find it already written); return its truth row."""
    rid = recording_id(truth, task)
    truth_path = out / "truth" / "landmarks" / f"{rid}.parquet"
    video = neuroface.video_path(out, truth.group, truth.subject_id, truth.visit, task)
    key = cache.make_key(inputs={}, params={"phantom": params, "subject": truth, "task": task,
                                            "source": source}, code=code)
    if video.is_file() and cache.is_fresh(truth_path, key):
        return cache.read_parquet_metadata(truth_path)["clip"]
    rng_sched, rng_audio, rng_pose, rng_marks = (clip_rng(params, truth, task, s) for s in range(SCORE_STREAM))
    schedule = build_schedule(task, duration_s=params.seconds(task), rate_hz=(
        truth.ddk_rate_hz if task.startswith("DDK") else truth.speech_rate_hz),
        rate_cv=truth.rate_cv, fatigue=truth.fatigue, movement_s=truth.movement_s, rng=rng_sched)
    n_frames = int(round(params.seconds(task) * params.fps))
    identity = _identity(source, truth.identity_seed)
    impairment = motion.FaceImpairment(weak_side=truth.weak_side or None, weakness=truth.facial_weakness,
                                       bilateral=truth.bilateral, natural_asymmetry=truth.natural_asymmetry)
    displacements = motion.task_displacements(schedule, impairment=impairment,
                                              neutral_landmarks=identity.landmarks, fps=params.fps,
                                              n_frames=n_frames)
    poses = head_poses(n_frames, params.fps, rng_pose)
    points = np.empty((n_frames, 68, 2))

    def frames():
        for i in range(n_frames):
            image, points[i] = face.render_frame(identity, displacements[i], poses[i], i)
            yield image

    voice_params = subject_voice(params, truth)
    audio = voice.synthesize(schedule, voice=voice_params, room=subject_room(params, truth),
                             sr=params.audio_rate, rng=rng_audio)
    write_clip(video, frames(), fps=params.fps, size=(params.width, params.height),
               audio=audio, audio_rate=params.audio_rate, first_pts=params.first_pts)
    manual_file = neuroface.landmarks_path(out, truth.group, truth.subject_id, truth.visit, task)
    if params.annotate_followups or truth.visit == design.BASELINE_VISIT:
        marked = np.sort(rng_marks.choice(n_frames, size=int(rng_marks.integers(6, 16)), replace=False))
        manual = points[marked] + rng_marks.normal(0, ANNOTATOR_SD_PX, size=points[marked].shape)
        landmark_txt.write_landmark_txt(manual_file, landmark_txt.landmark_table(marked, manual))
    else:
        # a file an earlier cohort in this folder wrote would be read as this clip's annotation
        manual_file.unlink(missing_ok=True)
    start_s = params.first_pts / params.fps  # the first frame's time on the file's clock
    events = [{**dataclasses.asdict(e), "onset_s": start_s + e.onset_s} for e in schedule.events]
    clip = {
        "recording_id": rid, "subject_id": truth.subject_id, "visit": truth.visit, "task": task,
        "group": truth.group, "face_source": source.name, "n_frames": n_frames, "fps": params.fps,
        "n_events": len(events),
        **train_rhythm_truth(schedule.events, cycle=NEUROFACE[task].syllables_per_cycle or 1),
        **{f"voice_{k}": v for k, v in dataclasses.asdict(voice_params).items()},
        **{f"motion_{k}": v for k, v in motion.motion_truth_summary(
            displacements, neutral_landmarks=identity.landmarks, fps=params.fps).items()},
        "scores": clip_scores(params, truth, task), "events": events,
    }
    cache.write_parquet(_truth_landmark_table(points, params.fps, start_s), truth_path, key=key,
                        metadata={"clip": clip})
    return clip


def _workbooks(out: Path, clips: list[dict]) -> None:
    for group in GROUPS:
        rows = [{"File Name": f"{c['recording_id']}_color", "Subject ID": c["subject_id"], **c["scores"]}
                for c in clips if c["group"] == group]
        table = pd.DataFrame(rows)
        atomic_write(neuroface.workbook_path(out, group),
                           lambda tmp, t=table: t.to_excel(tmp, index=False, engine="openpyxl"))


def _participants(out: Path, cohort: list[design.SubjectTruth]) -> None:
    for group in GROUPS:
        table = pd.DataFrame([{"Subject ID": s.subject_id, "Sex": s.sex, "Age": int(s.age)}
                              for s in cohort if s.group == group and s.visit == design.BASELINE_VISIT])
        path = out / neuroface.GROUP_FOLDERS[group] / "participants.csv"
        atomic_write(path, lambda tmp, t=table: t.to_csv(tmp, index=False))


def _truth_tables(out: Path, cohort: list[design.SubjectTruth], clips: list[dict], params: PhantomParams) -> None:
    truth_dir = out / "truth"
    subjects = pd.DataFrame([dataclasses.asdict(s) for s in cohort])
    atomic_write(truth_dir / "subjects.csv", lambda tmp: subjects.to_csv(tmp, index=False))
    recordings = pd.DataFrame([{k: v for k, v in c.items() if k not in ("scores", "events")} for c in clips])
    atomic_write(truth_dir / "recordings.csv", lambda tmp: recordings.to_csv(tmp, index=False))
    events = pd.DataFrame([{"recording_id": c["recording_id"], **e} for c in clips for e in c["events"]])
    atomic_write(truth_dir / "events.csv", lambda tmp: events.to_csv(tmp, index=False))
    info = {"params": dataclasses.asdict(params), "n_subjects": subjects["subject_id"].nunique(),
            "n_visits": len(subjects), "n_recordings": len(clips)}
    atomic_write(truth_dir / "cohort.json", lambda tmp: tmp.write_text(json.dumps(info, indent=2)))


def cohort_of(params: PhantomParams) -> list[design.SubjectTruth]:
    """Every subject-visit of the cohort ``params`` describes (``design.draw_cohort``)."""
    return design.draw_cohort(subjects_per_group=params.subjects_per_group, stroke_subjects=params.stroke_subjects,
                              followup_share=params.followup_share, seed=params.seed)


def generate(out: Path, params: PhantomParams, *, workers: int = 1, faces_dir: Path | None = None,
             tasks: tuple = tuple(NEUROFACE)) -> dict:
    """Write a whole phantom cohort to ``out``; return counts of written and reused clips."""
    cohort = cohort_of(params)
    sources = face_sources(faces_dir)
    code = cache.code_digest(CODE_MODULES)
    jobs = [(truth, task, source_for(truth, params, sources)) for truth in cohort for task in tasks]
    log.info("phantom: %d subjects, %d visits, %d clips -> %s", len({s.subject_id for s in cohort}),
             len(cohort), len(jobs), out)
    run = joblib.Parallel(n_jobs=workers, return_as="generator")
    from tqdm import tqdm

    with quiet_worker_recycling():
        clips = list(tqdm(run(joblib.delayed(make_clip)(out, params, t, task, src, code)
                              for t, task, src in jobs),
                          total=len(jobs), desc="phantom", unit="clip", disable=not progress_enabled()))
    _workbooks(out, clips)
    _participants(out, cohort)
    _truth_tables(out, cohort, clips, params)
    return {"clips": len(clips), "subjects": len({s.subject_id for s in cohort})}
