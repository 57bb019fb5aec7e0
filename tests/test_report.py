"""The feature-importance report: importances with known answers, a self-contained HTML file that
a real browser renders with every figure, plain feature names, privacy, and the stage command."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import xgboost
from markupsafe import escape

from core.errors import ConfigError
from core.privacy import scrub_paths
from core.tasks import NEUROFACE
from features.table import subject_table
from models import artifacts, modelset
from models.explain import (FINAL, OUT_OF_FOLD, gain_importance, gain_of, oof_explanations,
                            permutation_of, shap_contributions, shap_of)
from models.targets import build_target
from models.xgb import fit_xgb
from pipeline import cache, report as report_stage, train as train_stage
from reports import figures
from reports.chance import PERMUTATION_ALPHA, above_chance
from reports.html import build_report
from reports.importance import ablation_table, mean_abs_shap, plain_name, signed_contributions
from reports.longitudinal import share_percent
from reports.methods import REFERENCES, methods_paragraphs
from reports.sections.inputs import RunInputs
from reports.sections.limitations import limitations
from reports.sections.participants import contribution_bar, deviation_rows
from reports.sections.results import (CONTROL_MODELS, benchmark_sentence, chance_sentence,
                                      chooser_caution, fusion_sentence)

CHROMIUM = "/usr/bin/chromium"
SIGNAL = "face__NSM_SPREAD__commissure_excursion_asym_pct"
SECRET_FOLDER = "/secret/clinic/recordings"
# File names as clinics write them: a name and birth date, with spaces, dots and non-ASCII letters.
PRIVATE_FILES = ("Smith John 1961-03-02 smile.avi", "Müller.Anna.2.mp4", "Øyvind Ås – 1.avi")
PRIVATE_PARTS = ("Smith", "John", "1961-03-02", "Müller", "Anna", "Øyvind", "Ås", "smile.avi", ".mp4")
TASK_FEATURES = {
    "NSM_SPREAD": ["face__commissure_excursion_asym_pct", "face__lip_width_rom"],
    "BBP_NORMAL": ["voice__f0_mean_hz", "timing__speaking_rate", "nonspeech__level_dbfs"],
    "DDK_PA": ["ddk__syllable_rate", "voice__jitter_local_pct"],
}


def synthetic_recordings(n_per_group: int = 14, seed: int = 0) -> pd.DataFrame:
    """Recording-level table: the patients' mouth-corner asymmetry is larger; all else is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, prefix in (("HC", "N"), ("PS", "S")):
        for k in range(1, n_per_group + 1):
            subject = f"{prefix}{k:03d}"
            asym = rng.normal(28.0 if group == "PS" else 8.0, 4.0)
            age, female = float(rng.integers(45, 80)), float(rng.integers(0, 2))
            for task, columns in TASK_FEATURES.items():
                row = {"recording_id": f"{subject}_02_{task}", "subject_id": subject,
                       "group": group, "task": task, "visit": "02",
                       "score_mean_tot": 5.0 + 0.4 * asym + rng.normal(0, 0.5),
                       "meta__age": age, "meta__sex_female": female}
                for column in columns:
                    row[column] = asym if column.endswith("asym_pct") else rng.normal(10.0, 3.0)
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with a subject table, a trained XGBoost (binary and regression target), the
    side tables, and the report written by the stage command."""
    run = tmp_path_factory.mktemp("report_run") / "RUN"
    recordings = synthetic_recordings()
    (run / "features").mkdir(parents=True)
    cache.write_parquet(recordings, run / "features" / "recordings.parquet")
    cache.write_parquet(subject_table(recordings), run / "features" / "table.parquet")
    code = train_stage.main(["--out", str(run), "--targets", "group:PS-vs-HC,score:score_mean_tot",
                             "--models", "xgb", "--folds", "3", "--permutations", "2",
                             "--bootstrap", "50", "--permutation-repeats", "3"])
    assert code == 0
    failed = recordings["recording_id"].iloc[4]
    private = dict(zip(recordings["recording_id"].iloc[5:8], PRIVATE_FILES))
    # The manifest's paths, and error tables written as an older version did: paths in messages,
    # some of which only the manifest's paths can find (a name with spaces, a bare stem).
    manifest = recordings[["recording_id"]].assign(video_path="")
    manifest.loc[manifest["recording_id"].isin(private), "video_path"] = \
        [f"{SECRET_FOLDER}/{private[r]}" for r in manifest["recording_id"] if r in private]
    cache.write_parquet(manifest, run / "manifest.validated.parquet")
    (smith, smith_file), (muller, muller_file), (oyvind, oyvind_file) = private.items()
    pd.DataFrame([
        {"stage": "audio", "recording_id": failed, "file": f"{SECRET_FOLDER}/{failed}_color.avi",
         "error": "MediaError", "message": f"{SECRET_FOLDER}/{failed}_color.avi: no audio stream and no "
                                           f"sidecar .wav"},
        {"stage": "landmarks", "recording_id": smith, "file": f"{SECRET_FOLDER}/{smith_file}",
         "error": "MediaError",
         "message": f"{SECRET_FOLDER}/{smith_file}: cannot be opened as a video file ([Errno 1094995529] "
                    f"Invalid data found when processing input: '{SECRET_FOLDER}/{smith_file}')"},
        {"stage": "landmarks", "recording_id": muller, "file": muller_file, "error": "NoFaceError",
         "message": f"no face found in {muller_file.rsplit('.', 1)[0]} (25 frames)"},
        {"stage": "landmarks-eval", "recording_id": oyvind, "file": oyvind_file, "error": "MediaError",
         "message": f"{oyvind_file} has 67 points in frame 3, expected 68"},
    ]).to_csv(run / "errors.csv", index=False)
    pd.DataFrame([{"severity": "warning", "file": f"{SECRET_FOLDER}/manifest.csv", "row": 3,
                   "column": "age", "recording_id": failed,
                   "message": f"age missing in {SECRET_FOLDER}/manifest.csv row 3"},
                  {"severity": "error", "file": f"{SECRET_FOLDER}/manifest.csv", "row": 9,
                   "column": "video_path", "recording_id": smith,
                   "message": f"cannot decode: {SECRET_FOLDER}/{smith_file}: cannot be read as audio or video"}]
                 ).to_csv(run / "validation.csv", index=False)
    quality = pd.DataFrame({"recording_id": recordings["recording_id"], "n_frames": 100,
                            "face_share": 1.0, "longest_gap_frames": 0, "longest_gap_s": 0.0})
    quality.loc[0, ["face_share", "longest_gap_s"]] = [0.5, 1.2]
    cache.write_parquet(quality, run / "landmarks_quality.parquet")
    error = recordings[["recording_id", "subject_id", "group", "task"]].copy()
    base = np.where(error["group"] == "PS", 0.05, 0.03)
    for column in ("overall", "jaw", "brows", "nose", "eyes", "lips"):
        error[column] = base
    error["n_faces"], error["n_missing"] = 6, 0
    cache.write_parquet(error, run / "landmarks_error.parquet")
    assert report_stage.main(["--out", str(run), "--top", "10"]) == 0
    return run


@pytest.fixture(scope="module")
def report_html(run_dir) -> str:
    return (run_dir / "report" / "report.html").read_text(encoding="utf-8")


def test_report_is_self_contained_with_every_section(report_html):
    assert "http://" not in report_html and "https://" not in report_html
    sources = re.findall(r"""src\s*=\s*["']([^"']*)["']""", report_html)
    images = re.findall(r"<img\b", report_html)
    assert len(images) >= 6 and len(sources) == len(images)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in report_html and "<script" not in report_html
    for section in ("cohort", "methods", "results", "importance", "landmarks", "limitations",
                    "participants", "references"):
        assert f'id="{section}"' in report_html, section


def test_report_names_features_in_plain_words(run_dir, report_html):
    assert plain_name(SIGNAL, NEUROFACE) in report_html
    table = pd.read_parquet(run_dir / "features" / "table.parquet")
    codes = [c for c in table.columns if "__" in c]
    assert [c for c in codes if c in report_html] == []


def test_report_states_results_claims_and_limitations(run_dir, report_html):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    headline = metrics["targets"]["group:PS-vs-HC"]["models"]["xgb"]["fusion_vs_unimodal"]
    expected = fusion_sentence({"fusion_vs_unimodal": headline})["text"]
    assert expected.replace("'", "&#39;") in report_html
    summary = metrics["targets"]["group:PS-vs-HC"]
    xgb = summary["models"]["xgb"]
    for name, (meaning, consequence) in CONTROL_MODELS.items():
        record = next(r for r in xgb["metrics"]
                      if r["modality_set"] == name and r["metric"] == "roc_auc")
        permutation = next((r for r in xgb["permutation"] if r["modality_set"] == name), {})
        sentence = chance_sentence(f"{summary['description']}, xgb: {meaning}", record,
                                   permutation, metric="roc_auc", consequence=consequence)
        assert str(escape(sentence)) in report_html, name
    assert "Sex across groups" in report_html
    # PS landmark error 0.05 against 0.03 for controls
    assert "Automatic landmarks err more on PS (post-stroke) faces" in report_html
    assert "[file]: no audio stream" in report_html


def test_report_keeps_participants_pseudonymous(run_dir, report_html):
    table = pd.read_parquet(run_dir / "features" / "table.parquet")
    pages = {p.stem: p.read_text(encoding="utf-8")
             for p in (run_dir / "report" / "subjects").glob("*.html")}
    assert set(pages) == set(table["subject_id"])
    recording_ids = pd.read_parquet(run_dir / "features" / "recordings.parquet")["recording_id"]
    for text in [report_html, *pages.values()]:
        assert str(run_dir) not in text and str(run_dir.parent) not in text
        assert SECRET_FOLDER not in text
        assert ".avi" not in text.lower() and ".wav" not in text.lower()
        assert not any(r in text for r in recording_ids)
        assert not [part for part in PRIVATE_PARTS if part in text]
    page = pages["S001"]
    assert "Out-of-fold predictions" in page and "Largest deviations" in page
    assert "towards PS" in page
    assert "<img" not in page and "src=" not in page


def test_train_keeps_every_subjects_outer_fold(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    predictions = pd.read_parquet(run_dir / "cv_predictions.parquet")
    assert predictions["fold"].notna().all()
    for target, summary in metrics["targets"].items():
        held_out = {s: k for k, fold in enumerate(summary["evaluation_plan"]["test_subjects"]) for s in fold}
        rows = predictions[predictions["target"] == target]
        assert sum(map(len, summary["evaluation_plan"]["test_subjects"])) == len(held_out)
        assert set(held_out) == set(rows["subject_id"]) == set(build_target(
            pd.read_parquet(run_dir / "features" / "table.parquet"), target).rows["subject_id"])
        assert (rows["fold"] == rows["subject_id"].map(held_out)).all()


def test_importances_train_keeps_are_the_saved_models_and_the_reports(run_dir, report_html):
    """The report fits nothing: the importances train keeps are exactly those of the saved final
    model and of refits on the evaluation's folds at its hyper-parameters (what the report used
    to compute itself), and the report's table shows them."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    importance = pd.read_parquet(run_dir / "models" / modelset.IMPORTANCE_FILE)
    shap = pd.read_parquet(run_dir / "models" / modelset.SHAP_FILE)
    table = pd.read_parquet(run_dir / "features" / "table.parquet")
    assert set(importance["target"]) == set(shap["target"]) == set(metrics["targets"])
    for target, summary in metrics["targets"].items():
        built = build_target(table, target)
        rows = built.rows.reset_index(drop=True)
        model = artifacts.load_bundle(modelset.bundle_folder(run_dir / "models", target, "xgb")).model
        pd.testing.assert_frame_equal(gain_of(importance, target), gain_importance(model))
        subjects, final = shap_of(shap, target, FINAL)
        assert subjects == list(rows["subject_id"].astype(str))
        expected = shap_contributions(model, rows)
        for part in ("values", "base", "data"):
            np.testing.assert_array_equal(getattr(final, part), getattr(expected, part))
        outer, explained = summary["evaluation_plan"]["outer"], summary["importance"]
        oof = oof_explanations(rows, built.y.to_numpy(), rows["subject_id"].astype(str),
                               columns=model.feature_columns, task_type=built.task_type,
                               setting=model.setting, n_splits=outer["n_splits"], seed=outer["seed"],
                               n_repeats=explained["n_repeats"])
        pd.testing.assert_frame_equal(permutation_of(importance, target), oof["permutation"])
        assert (explained["metric"], explained["baseline"]) == (oof["metric"], oof["baseline"])
        np.testing.assert_array_equal(shap_of(shap, target, OUT_OF_FOLD)[1].values, oof["shap"].values)
        # The report's first row: the feature of largest mean |SHAP|, with the stored numbers.
        stored = importance[importance["target"] == target].set_index("column")
        mean_abs = pd.Series(np.abs(final.values).mean(axis=0), index=final.columns)
        top = mean_abs.idxmax()
        assert (f'<td class="num">1</td><td>{escape(plain_name(top, NEUROFACE))}</td>') in report_html
        assert (f'<td class="num">{stored.loc[top, "gain_share"]:.3f}</td><td class="num">{mean_abs[top]:.3f}'
                f'</td><td class="num">{stored.loc[top, "permutation"]:.3f} \u00b1 '
                f'{stored.loc[top, "permutation_sd"]:.3f}</td>') in report_html


def test_stage_skips_an_up_to_date_report(run_dir):
    path = run_dir / "report" / "report.html"
    before = path.stat().st_mtime_ns
    assert report_stage.main(["--out", str(run_dir), "--top", "10"]) == 0
    assert path.stat().st_mtime_ns == before
    assert len(list((run_dir / "report" / "figures").glob("*.png"))) >= 6


def _browser_image_count(page, tmp_path) -> tuple[int, int, str]:
    """(loaded, total) images of a page copy opened in headless Chromium, and the DOM."""
    probe = tmp_path / f"probe_{page.stem}.html"
    script = ("<script>window.addEventListener('load', function () {"
              "var all = Array.prototype.slice.call(document.images);"
              "var ok = all.filter(function (i) { return i.complete && i.naturalWidth > 0; });"
              "document.body.setAttribute('data-images', ok.length + '/' + all.length);"
              "});</script>")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"),
                     encoding="utf-8")
    profile = tmp_path / f"profile_{page.stem}"
    profile.mkdir()
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'data-images="(\d+)/(\d+)"', result.stdout)
    assert found, f"no image count in Chromium's DOM dump; stderr: {result.stderr[-500:]}"
    return int(found.group(1)), int(found.group(2)), result.stdout


def test_a_real_browser_loads_every_figure(run_dir, tmp_path):
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    loaded, total, dom = _browser_image_count(run_dir / "report" / "report.html", tmp_path)
    assert total >= 6 and loaded == total
    assert "Limitations" in dom
    loaded, total, dom = _browser_image_count(run_dir / "report" / "subjects" / "S001.html",
                                              tmp_path)
    assert (loaded, total) == (0, 0) and "Top reasons" in dom and "towards PS" in dom


def _one_signal_table(n: int = 40, seed: int = 1):
    """Subjects whose label is decided by one feature; the other columns are noise."""
    rng = np.random.default_rng(seed)
    signal = rng.uniform(0, 40, n)
    table = pd.DataFrame({
        "subject_id": [f"P{i:03d}" for i in range(n)],
        SIGNAL: signal,
        "voice__BBP_NORMAL__f0_mean_hz": rng.normal(150, 20, n),
        "ddk__DDK_PA__syllable_rate": rng.normal(5, 1, n),
        "timing__BBP_NORMAL__speaking_rate": rng.normal(4, 1, n),
        "meta__age": rng.normal(60, 10, n),
    })
    return table, (signal > 20).astype(int)


def test_the_deciding_feature_ranks_first_by_gain_shap_and_permutation():
    table, y = _one_signal_table()
    columns = [c for c in table.columns if "__" in c]
    setting = {"max_depth": 2, "n_estimators": 50, "learning_rate": 0.1, "min_child_rows": 1}
    model = fit_xgb(table[columns], y, table["subject_id"], task_type="binary", n_classes=2,
                    seed=0, params={"grid": [setting]})
    assert gain_importance(model)["column"].iloc[0] == SIGNAL
    shap = shap_contributions(model, table)
    assert mean_abs_shap(shap)["column"].iloc[0] == SIGNAL
    # TreeSHAP is exact: the base value plus the contributions is the model's log-odds
    margin = model.booster.predict(xgboost.DMatrix(shap.data, feature_names=shap.columns,
                                                   missing=np.nan), output_margin=True)
    np.testing.assert_allclose(shap.base + shap.values.sum(axis=1), margin, atol=1e-4)
    oof = oof_explanations(table, y, table["subject_id"], columns=columns, task_type="binary",
                           setting=setting, n_splits=4, seed=0, n_repeats=3)
    assert oof["permutation"]["column"].iloc[0] == SIGNAL
    assert oof["permutation"]["importance"].iloc[0] > 0.2
    assert oof["baseline"] > 0.9
    assert oof["shap"].values.shape == (len(table), len(columns))
    loso = oof_explanations(table, y, table["subject_id"], columns=columns, task_type="binary",
                            setting=setting, n_splits=2, seed=0, n_repeats=2,
                            strategy="leave_one_subject_out")
    assert loso["n_splits"] == len(table)
    assert loso["permutation"]["column"].iloc[0] == SIGNAL
    assert loso["permutation"]["importance"].iloc[0] > 0.2


def test_plain_names_come_from_the_registry():
    assert plain_name(SIGNAL, NEUROFACE) == ("Left-right difference in mouth corner movement, in percent of "
                                  "the side that moves more (0 = symmetric) (%), tight-lip smile "
                                  "task")
    assert plain_name("face__NSM_SPREAD__lip_width_rom", NEUROFACE) == (
        "Range of motion of the mouth width between the corners (inter-ocular distances), "
        "tight-lip smile task")
    assert plain_name("meta__age", NEUROFACE) == "Age at the recording (years)"


def test_fusion_is_claimed_only_when_metrics_json_says_so():
    record = {"fusion_set": "video+audio", "unimodal_set": "audio", "metric": "roc_auc",
              "fusion": 0.9, "unimodal": 0.7, "difference": 0.2, "ci_low": 0.05, "ci_high": 0.3,
              "note": ""}
    yes = fusion_sentence({"fusion_vs_unimodal": {**record, "fusion_beats_unimodal": True}})
    no = fusion_sentence({"fusion_vs_unimodal": {**record, "fusion_beats_unimodal": False}})
    assert yes["claim"] and yes["text"].startswith("Fusion beats")
    assert not no["claim"] and no["text"].startswith("No claim")
    assert "0.20 (0.05 to 0.30)" in yes["text"]
    assert not fusion_sentence({"fusion_vs_unimodal": {"fusion_beats_unimodal": False,
                                                       "note": "no multimodal set"}})["claim"]


def test_a_difference_wholly_below_zero_is_said_to_be_worse_not_undecided():
    # The demo's recovery: XGBoost on the recordings 0.34 against baseline severity 0.69, the paired
    # interval -0.70 to -0.05. "Includes zero" would be false; the recordings did worse.
    record = {"modality_set": "all", "benchmark_set": "severity", "metric": "roc_auc",
              "higher_is_better": True, "model": 0.34, "benchmark": 0.69, "difference": -0.34,
              "ci_low": -0.70, "ci_high": -0.05, "beats_benchmark": False, "note": ""}
    worse = benchmark_sentence({"benchmark": [record]}, "all")
    assert not worse["claim"] and worse["text"].startswith("The recordings do worse than baseline severity")
    assert "includes zero" not in worse["text"]
    undecided = benchmark_sentence({"benchmark": [{**record, "ci_high": 0.10}]}, "all")
    assert not undecided["claim"] and undecided["text"].startswith("No claim")
    better = benchmark_sentence({"benchmark": [{**record, "difference": 0.2, "ci_low": 0.05, "ci_high": 0.3,
                                                "beats_benchmark": True}]}, "all")
    assert better["claim"] and better["text"].startswith("The recordings add to baseline severity")
    assert benchmark_sentence({"benchmark": []}, "all") == {}
    # lower is better (RMSE): an interval wholly above zero is the worse side
    fusion = {"fusion_set": "video+audio", "unimodal_set": "audio", "metric": "rmse",
              "higher_is_better": False, "fusion": 3.0, "unimodal": 2.0, "difference": 1.0,
              "ci_low": 0.2, "ci_high": 1.8, "fusion_beats_unimodal": False, "note": ""}
    assert fusion_sentence({"fusion_vs_unimodal": fusion})["text"].startswith("Fusion does worse")
    assert fusion_sentence({"fusion_vs_unimodal": {**fusion, "ci_low": -0.2}})["text"].startswith("No claim")


def test_above_chance_needs_the_interval_and_the_permutation_test_to_agree():
    both = above_chance("roc_auc", ci_low=0.6, p_value=0.01)
    assert (both.claimed, both.disagree) == (True, False)
    # the smallest p-value 19 permutations can give still counts
    assert above_chance("roc_auc", ci_low=0.6, p_value=1 / 20).claimed
    interval_only = above_chance("roc_auc", ci_low=0.6, p_value=0.10)
    assert (interval_only.claimed, interval_only.disagree) == (False, True)
    test_only = above_chance("roc_auc", ci_low=0.45, p_value=0.01)
    assert (test_only.claimed, test_only.disagree) == (False, True)
    neither = above_chance("roc_auc", ci_low=0.45, p_value=0.55)
    assert (neither.claimed, neither.disagree) == (False, False)
    assert not above_chance("roc_auc", ci_low=0.5, p_value=0.01).interval_above
    assert above_chance("spearman", ci_low=0.05, p_value=0.01).claimed
    assert not above_chance("spearman", ci_low=-0.05, p_value=0.2).claimed


def test_without_a_p_value_the_interval_alone_decides():
    for missing in (None, float("nan")):
        above = above_chance("roc_auc", ci_low=0.6, p_value=missing)
        assert (above.claimed, above.disagree, above.permutation_supports) == (True, False, None)
        assert not above_chance("roc_auc", ci_low=0.4, p_value=missing).claimed
    assert not above_chance("roc_auc", ci_low=None, p_value=0.01).claimed
    with pytest.raises(ConfigError):
        above_chance("rmse", ci_low=0.6, p_value=0.01)


def _auc(low: float, high: float) -> dict:
    return {"metric": "roc_auc", "estimate": (low + high) / 2, "ci_low": low, "ci_high": high}


def _p(value: float) -> dict:
    return {"metric": "roc_auc", "p_value": value}


def test_chance_sentences_give_both_numbers_and_alarm_only_on_agreement():
    def say(record, permutation):
        return chance_sentence("X", record, permutation, metric="roc_auc", consequence="ALARM")

    assert say(_auc(0.6, 0.9), _p(0.01)) == (
        "X predicts above chance (ROC AUC 0.75 (0.60 to 0.90): its interval lies above 0.5 and "
        "permutation p = 0.010 is at most 0.05): ALARM.")
    assert say(_auc(0.6, 0.9), _p(0.10)) == (
        "X is not claimed to predict above chance, because its interval and its permutation "
        "test disagree (ROC AUC 0.75 (0.60 to 0.90): its interval lies above 0.5 but "
        "permutation p = 0.100 is above 0.05).")
    assert say(_auc(0.45, 0.85), _p(0.03)) == (
        "X is not claimed to predict above chance, because its interval and its permutation "
        "test disagree (ROC AUC 0.65 (0.45 to 0.85): its interval does not lie above 0.5 but "
        "permutation p = 0.030 is at most 0.05).")
    assert say(_auc(0.3, 0.7), _p(0.55)) == (
        "X does not predict above chance (ROC AUC 0.50 (0.30 to 0.70): its interval does not lie "
        "above 0.5 and permutation p = 0.550 is above 0.05).")
    assert say(_auc(0.6, 0.9), {}) == (
        "X predicts above chance (ROC AUC 0.75 (0.60 to 0.90): its interval lies above 0.5; no "
        "permutation p-value exists for this set, so this rests on the interval alone): ALARM.")
    assert say(_auc(0.3, 0.7), {}).endswith("; no permutation p-value exists for this set).")
    rmse_p = chance_sentence("X", {"estimate": 0.3, "ci_low": 0.1, "ci_high": 0.5},
                             {"metric": "rmse", "p_value": 0.2}, metric="spearman",
                             consequence="ALARM")
    assert "above 0 but permutation p = 0.200 (on root mean squared error)" in rmse_p


def _control_run(nonspeech_p: float | None) -> tuple[list, list, dict]:
    """Limitations inputs for a 3-class target whose non-speech control (and metadata model,
    never permutation-tested) has an interval above chance; ``None`` leaves the control
    untested too."""
    permutation = [] if nonspeech_p is None else [
        {"modality_set": "nonspeech", "metric": "roc_auc", "p_value": nonspeech_p,
         "n_permutations": 19}]
    summary = {"metrics": [{"modality_set": name, **_auc(0.55, 0.8)}
                           for name in ("all", "metadata", "nonspeech")],
               "permutation": permutation}
    metrics = {"settings": {"permutations": 19},
               "targets": {"group_3class": {"models": {"xgb": summary}}}}
    sections = [{"target": "group_3class", "description": "HC vs PS vs ALS",
                 "task_type": "multiclass", "n_subjects": 30, "models": [{"model": "xgb"}]}]
    cohort = [{"code": "HC", "subjects": 10, "female_share": 0.5}]
    return cohort, sections, metrics


def test_a_control_at_p_010_raises_no_alarm_in_the_limitations():
    cohort, sections, metrics = _control_run(0.10)
    text = " ".join(limitations(cohort, sections, None, metrics))
    assert "reading the room" not in text
    assert "only the non-speech recording-condition control predicts above chance" not in text
    assert ("only the non-speech recording-condition control is not claimed to predict above "
            "chance, because its interval and its permutation test disagree") in text
    assert "p = 0.100 is above 0.05" in text
    # the metadata model has no p-value: its interval alone decides, and the text says so
    assert "only age and sex predicts above chance" in text
    assert "no permutation p-value exists for this set, so this rests on the interval alone" \
        in text


@pytest.mark.parametrize("p_value", [PERMUTATION_ALPHA, None])
def test_a_control_above_chance_by_the_rule_raises_the_alarm(p_value):
    cohort, sections, metrics = _control_run(p_value)
    text = " ".join(limitations(cohort, sections, None, metrics))
    assert "only the non-speech recording-condition control predicts above chance" in text
    assert "reading the room" in text


def test_ablation_table_reads_metrics_json_records():
    summary = {"protocol": {"primary_metric": "roc_auc",
                            "modality_sets": {"video": {"families": "video", "n_features": 3}}},
               "metrics": [{"modality_set": "video", "metric": "roc_auc", "estimate": 0.8,
                            "ci_low": 0.6, "ci_high": None, "note": ""},
                           {"modality_set": "video", "metric": "f1", "estimate": 0.5}],
               "permutation": [{"modality_set": "video", "metric": "roc_auc", "p_value": 0.04}]}
    table = ablation_table(summary)
    row = table.iloc[0]
    assert (row.modality_set, row.estimate, row.ci_low, row.p_value, row.n_features) == \
        ("video", 0.8, 0.6, 0.04, 3)
    assert np.isnan(row.ci_high) and len(table) == 1


def test_methods_state_the_run_settings_with_valid_citations():
    metrics = {"settings": {"targets": ["group:PS-vs-HC"], "models": ["xgb"], "folds": 5,
                            "seed": 7, "permutations": 123, "bootstrap": 456},
               "targets": {"group:PS-vs-HC": {"models": {"xgb": {"protocol": {
                   "model": "xgb", "outer_splits": {"method": "stratified_group_kfold",
                                                    "n_splits": 5},
                   "n_inner_splits": 3, "model_params": {}, "unit": "subject", "ci_level": 0.95,
                   "primary_metric": "roc_auc",
                   "modality_sets": {"video": {}, "audio": {}, "all": {}}}}}}}}
    text = " ".join(methods_paragraphs(metrics))
    for fact in ("123 permutations", "456 bootstrap", "seed was 7", "stratified group k-fold",
                 "5 folds", "eGeMAPSv02", "parselmouth", "68 facial landmarks",
                 "video, audio and all",
                 f"permutation p-value was at most {PERMUTATION_ALPHA:g}; when the two disagreed"):
        assert fact in text, fact
    cited = {int(n) for group in re.findall(r"\[([\d, ]+)\]", text) for n in group.split(",")}
    assert cited == set(range(1, len(REFERENCES) + 1))


def test_scrub_removes_paths_and_media_names():
    assert scrub_paths("C:\\data\\A001.avi failed; see /tmp/x/y.csv and clip.wav or .wav") == \
        "[file] failed; see [file] and [file] or [file]"


def test_roc_band_of_a_perfect_score_is_the_top_left_corner():
    y = np.array([0, 0, 0, 1, 1, 1])
    band = figures.roc_band(y, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), n_boot=50)
    assert np.allclose(band["tpr"].iloc[1:], 1.0)
    assert (band["tpr_low"] <= band["tpr"] + 1e-12).all()
    assert figures.roc_figure({"l": band}, title="t").startswith(b"\x89PNG")


def test_contribution_bars_diverge_from_the_centre():
    assert contribution_bar(2.0, 2.0) == {"left": 50.0, "width": 50.0, "towards": True}
    assert contribution_bar(-1.0, 2.0) == {"left": 25.0, "width": 25.0, "towards": False}
    assert contribution_bar(0.0, 0.0)["width"] == 0.0


def test_deviations_put_clinical_measures_first_and_read_the_sign():
    z = pd.DataFrame({"subject_id": ["S001", "S001", "N001"], "group": ["PS", "PS", "HC"],
                      "visit": ["02", "02", "02"], "task": ["NSM_SPREAD", "DDK_PA", "NSM_SPREAD"],
                      "face__commissure_excursion_asym_pct": [3.0, np.nan, 9.0],
                      "ddk__syllable_rate": [np.nan, -2.0, np.nan],
                      "voice__f0_mean_hz": [np.nan, 8.0, np.nan],
                      "nonspeech__level_dbfs": [50.0, 50.0, np.nan]})
    rows = deviation_rows(z, "S001", top=5, tasks=NEUROFACE)
    assert [(r["z"], r["meaning"]) for r in rows] == [
        ("3.0", "worse than controls"), ("-2.0", "worse than controls"),
        ("8.0", "higher than controls (no clinical direction)")]
    assert rows[0]["name"] == plain_name(SIGNAL, NEUROFACE)
    assert deviation_rows(z, "S001", top=1, tasks=NEUROFACE)[0]["z"] == "3.0"


@pytest.fixture(scope="module")
def followed_up_run(tmp_path_factory):
    """Every post-stroke subject is seen again at visit 03: every other one recovers (SLP total 6,
    its mouth-corner asymmetry halved), the others do not (15, unchanged asymmetry); the last
    one's follow-up score is missing. Recovery is trained (XGBoost) and the report written."""
    baseline = synthetic_recordings(n_per_group=12, seed=3)
    patients = baseline[baseline["group"] == "PS"]
    later = {s: (6.0 if k % 2 else 15.0) for k, s in enumerate(sorted(patients["subject_id"].unique()))}
    later[max(later)] = np.nan
    followup = patients.assign(visit="03", recording_id=patients["recording_id"].str.replace("_02_", "_03_"),
                               score_mean_tot=patients["subject_id"].map(later))
    recovering = followup["subject_id"].map(later) == 6.0
    asym = "face__commissure_excursion_asym_pct"
    followup.loc[recovering, asym] = followup.loc[recovering, asym] / 2
    recordings = pd.concat([baseline, followup], ignore_index=True)
    run = tmp_path_factory.mktemp("followed_up") / "RUN"
    (run / "features").mkdir(parents=True)
    cache.write_parquet(recordings, run / "features" / "recordings.parquet")
    cache.write_parquet(subject_table(recordings), run / "features" / "table.parquet")
    assert train_stage.main(["--out", str(run), "--targets", "recovery", "--models", "xgb", "--folds", "2",
                             "--permutations", "0", "--bootstrap", "20", "--permutation-repeats", "1"]) == 0
    assert report_stage.main(["--out", str(run), "--top", "3"]) == 0
    return run, later


def test_report_says_how_many_followed_up_subjects_recovery_left_out(followed_up_run):
    """The last subject's follow-up score is missing, so recovery leaves it out (not 'not
    recovered'), and metrics.json and the report say so, with how many the estimate rests on."""
    from models.targets import MISSING_LAST

    run, _ = followed_up_run
    summary = json.loads((run / "metrics.json").read_text())["targets"]["recovery"]
    assert summary["excluded"] == {MISSING_LAST: 1}
    assert summary["n_subjects"] == 11
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    assert f"1 subject left out: {MISSING_LAST}." in html
    assert "The estimate rests on 11 participants (6 not recovered, 5 recovered)." in html


def test_report_compares_recovery_with_baseline_severity(followed_up_run):
    """The baseline-severity benchmark is in metrics.json and the report states the paired
    difference and whether the recordings add to it."""
    from models.modalities import BENCHMARK_SET

    run, _ = followed_up_run
    xgb = json.loads((run / "metrics.json").read_text())["targets"]["recovery"]["models"]["xgb"]
    record = next(r for r in xgb["benchmark"] if r["modality_set"] == "all")
    assert record["benchmark_set"] == BENCHMARK_SET and record["metric"] == "roc_auc"
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    assert f"versus {BENCHMARK_SET}" in html and "baseline severity" in html


def test_a_share_just_short_of_recovery_never_reads_as_the_threshold():
    # The demo's S007: 12.5 -> 8.78 points is 49.6% of the impairment gone, not a recovery, and
    # "50%" beside "recovery is at least 50%" would contradict its own outcome.
    assert share_percent(0.496) == "49.6%"
    assert share_percent(0.4996) == "49.96%"
    assert share_percent(0.4999999) == "just under 50%"
    assert (share_percent(0.42), share_percent(0.5), share_percent(0.504)) == ("42%", "50%", "50%")
    assert share_percent(-0.1) == "-10%"


def test_features_chosen_by_a_recovery_model_below_chance_carry_a_caution():
    # The demo's recovery XGBoost: AUC 0.34 (0.00 to 0.75), p = 0.85. The features it leans on are
    # followed, but nothing says they predict recovery.
    def metrics(low, p):
        xgb = {"metrics": [{"modality_set": "all", "metric": "roc_auc", "estimate": 0.34,
                            "ci_low": low, "ci_high": 0.75}],
               "permutation": [{"modality_set": "all", "metric": "roc_auc", "p_value": p}]}
        return {"targets": {"recovery": {"models": {"xgb": xgb}}}}

    caution = chooser_caution(metrics(0.0, 0.85), {"xgb": "all"})
    assert caution.startswith("The recovery model that chose them (XGBoost, set all) does not predict "
                              "above chance (ROC AUC 0.34 (0.00 to 0.75)")
    assert "not because they are shown to predict recovery" in caution
    assert chooser_caution(metrics(0.6, 0.01), {"xgb": "all"}) == ""
    assert chooser_caution({"targets": {}}, {}) == ""


def test_report_follows_each_patient_across_visits(followed_up_run):
    """The change section lists every followed-up patient with the SLP change, the outcome and the
    out-of-fold probability of recovery; the cohort figure of trajectories is drawn; a patient's
    page reads the halved asymmetry (higher is worse) as better, with its unit."""
    run, later = followed_up_run
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="change"' in html and "P(recovery) at the first visit, xgb" in html
    assert (run / "report" / "figures" / "recovery_trajectories.png").is_file()
    recovered = min(s for s, score in later.items() if score == 6.0)
    page = (run / "report" / "subjects" / f"{recovered}.html").read_text(encoding="utf-8")
    assert "Change between visits" in page and "02 \u2192 03" in page and "; recovered." in page
    asymmetry = re.escape(plain_name("face__NSM_SPREAD__commissure_excursion_asym_pct", NEUROFACE))
    assert re.search(asymmetry + r"</td>(\s*<td[^>]*>[^<]*</td>){2}\s*<td>fell by [0-9.]+ % "
                     r"\(better; -[0-9.]+ control SDs\)</td>", page), page
    unjudged = max(later)
    assert "not judged" in (run / "report" / "subjects" / f"{unjudged}.html").read_text(encoding="utf-8")
    control = (run / "report" / "subjects" / "N001.html").read_text(encoding="utf-8")
    assert "seen at one visit only" in control


def test_report_without_landmark_error_leaves_the_section_out(run_dir):
    inputs = report_stage.load_inputs(run_dir)
    metrics = dict(inputs.metrics, targets={"score:score_mean_tot":
                                            inputs.metrics["targets"]["score:score_mean_tot"]})
    inputs = RunInputs(**{**inputs.__dict__, "metrics": metrics, "landmarks_error": None})
    report = build_report(inputs, created="2024-01-01T00:00:00", version="test", top=5)
    assert 'id="landmarks"' not in report.html and "Automatic landmarks" not in report.html
    assert 'id="importance"' in report.html and "Predicted versus true score" in report.html
    assert set(report.figures) >= {"score_score_mean_tot__xgb__predicted.png",
                                   "score_score_mean_tot__xgb__shap_summary.png"}


def test_multiclass_shap_ranks_the_deciding_feature_first():
    table, _ = _one_signal_table(n=45, seed=3)
    y = np.digitize(table[SIGNAL], [40 / 3, 80 / 3])
    columns = [c for c in table.columns if "__" in c]
    setting = {"max_depth": 2, "n_estimators": 30, "learning_rate": 0.1, "min_child_rows": 1}
    model = fit_xgb(table[columns], y, table["subject_id"], task_type="multiclass", n_classes=3,
                    seed=0, params={"grid": [setting]})
    shap = shap_contributions(model, table)
    assert shap.values.shape == (len(table), 3, len(columns))
    assert mean_abs_shap(shap)["column"].iloc[0] == SIGNAL
    towards = signed_contributions(shap, classes=y)
    assert towards.shape == (len(table), len(columns))
    np.testing.assert_allclose(towards[0], shap.values[0, y[0]])


def test_a_multiclass_target_gets_one_vs_rest_roc_and_calibration_curves():
    from reports.sections.common import Figures
    from reports.sections.results import _performance_figures

    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], 8)
    prob = rng.dirichlet(np.ones(3), size=len(y))
    prob[np.arange(len(y)), y] += 1.0  # every class ranks first for its own subjects
    prob /= prob.sum(axis=1, keepdims=True)
    preds = pd.DataFrame({"subject_id": [f"S{i:02d}" for i in range(len(y))], "y_true": y,
                          **{f"prob_{k}": prob[:, k] for k in range(3)}})
    summary = {"protocol": {"n_bootstrap": 30},
               "metrics": [{"modality_set": "all", "metric": "roc_auc", "estimate": 1.0,
                            "ci_low": 1.0, "ci_high": 1.0},
                           {"modality_set": "all", "metric": "brier", "estimate": 0.2,
                            "ci_low": 0.1, "ci_high": 0.3}]}
    figs = Figures()
    made = _performance_figures(figs, target="group_3class", model="xgb", summary=summary,
                                preds=preds, task_type="multiclass", labels=["HC", "PS", "ALS"],
                                modality_set="all", seed=0)
    assert [m["file"] for m in made] == ["group_3class__xgb__roc.png",
                                         "group_3class__xgb__calibration.png"]
    assert all(figs.files[m["file"]].startswith(b"\x89PNG") for m in made)
    assert "one-vs-rest AUCs" in made[0]["caption"] and "1.00 (1.00 to 1.00)" in made[0]["caption"]


def test_report_shows_adapted_landmarks_with_held_out_errors_and_the_smile_before_and_after(run_dir):
    inputs = report_stage.load_inputs(run_dir)
    assert inputs.landmarks_adaptation is None  # a run without shape models has no such section
    metrics = dict(inputs.metrics, targets={"score:score_mean_tot":
                                            inputs.metrics["targets"]["score:score_mean_tot"]})
    recordings = inputs.recordings.copy()
    smile = recordings["task"] == recordings["task"].iloc[0]
    recordings["face__commissure_excursion_asym_pct"] = np.where(smile, 20.0, np.nan)
    before = recordings[["recording_id"]].assign(
        face__commissure_excursion_asym_pct=np.where(smile, 10.0, np.nan))
    quality = inputs.landmarks_quality.assign(shape_model=[
        "generic" if k % 3 == 1 else f"subject_{s}"
        for k, s in enumerate(recordings.set_index("recording_id").loc[
            inputs.landmarks_quality["recording_id"], "subject_id"])])
    adaptation = pd.DataFrame([
        {"model": "subject", "evaluation": "leave one video out", "by": by, "level": level,
         "region": region, "n_subjects": 12, "n_frames": 300, "nme_generic": 0.02,
         "nme_adapted": 0.012, "change": -0.008, "change_ci_low": -0.011, "change_ci_high": -0.005,
         "change_pct": -40.0}
        for by, level in (("all", "all"), ("group", "PS"), ("task", "NSM_SPREAD"))
        for region in ("overall", "jaw", "lips")])
    inputs = RunInputs(**{**inputs.__dict__, "metrics": metrics, "recordings": recordings,
                          "landmarks_quality": quality, "landmarks_adaptation": adaptation,
                          "face_generic": before})
    html = build_report(inputs, created="2024-01-01T00:00:00", version="test", top=5).html
    section = html[html.index('id="adaptation"'):html.index('id="limitations"')]
    assert section.count("subject (leave one video out)") == 6  # overall and lips, not jaw
    assert "-0.0080 (-0.0110 to -0.0050)" in section and "post-stroke" in section
    adapted = (quality["shape_model"] != "generic").to_numpy()
    assert section.count("<td>subject_") == adapted.sum()
    assert re.search(r"<td class=\"num\">10\.0</td><td class=\"num\">20\.0</td>", section)
