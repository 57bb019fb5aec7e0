"""A methods section written from the run's own settings, with numbered references.

``methods_paragraphs(metrics)`` reads ``metrics.json`` (its ``settings`` and each model's
``protocol``) and returns paragraphs that state what was done, with bracketed reference numbers
that index ``REFERENCES``. Nothing is claimed that the run did not record: a setting the run did
not record is left out rather than guessed.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError
from features.audio.voice_quality import VOWEL_MAX_TRIM_SHARE, VOWEL_TRIM_S
from models.xgb import DEEP_TREES_MIN_SUBJECTS, default_grid
from reports.chance import CHANCE_LEVEL, PERMUTATION_ALPHA

FUSION_WORDS = {"mean": "embeddings averaged over the modalities present",
                "concat": "embeddings concatenated, absent modalities zeroed"}
SPLIT_WORDS = {"stratified_group_kfold": "stratified group k-fold",
               "group_kfold": "group k-fold",
               "leave_one_group_out": "leave-one-subject-out"}
METRIC_WORDS = {"roc_auc": "ROC AUC", "balanced_accuracy": "balanced accuracy",
                "sensitivity": "sensitivity", "specificity": "specificity", "f1": "F1",
                "brier": "Brier score", "calibration_slope": "calibration slope",
                "calibration_intercept": "calibration intercept", "mae": "mean absolute error",
                "rmse": "root mean squared error", "spearman": "Spearman correlation"}


@dataclass(frozen=True)
class Reference:
    """One cited work: a short key used in the text and the full entry."""

    key: str
    entry: str


REFERENCES = (
    Reference("King 2009", "King DE. Dlib-ml: a machine learning toolkit. Journal of Machine "
                           "Learning Research. 2009;10:1755-1758."),
    Reference("Kazemi 2014", "Kazemi V, Sullivan J. One millisecond face alignment with an "
                             "ensemble of regression trees. Proceedings of the IEEE Conference "
                             "on Computer Vision and Pattern Recognition (CVPR). 2014:1867-1874."),
    Reference("Guarin 2018", "Guarin DL, Dusseldorp J, Hadlock TA, Jowett N. A machine learning "
                             "approach for automated facial measurements in facial palsy. JAMA "
                             "Facial Plastic Surgery. 2018;20(4):335-337."),
    Reference("Bandini 2021", "Bandini A, Rezaei S, Guarin DL, et al. A new dataset for facial "
                              "motion analysis in individuals with neurological disorders. IEEE "
                              "Journal of Biomedical and Health Informatics. "
                              "2021;25(4):1111-1119."),
    Reference("Eyben 2010", "Eyben F, Woellmer M, Schuller B. openSMILE: the Munich versatile and "
                            "fast open-source audio feature extractor. Proceedings of ACM "
                            "Multimedia. 2010:1459-1462."),
    Reference("Eyben 2016", "Eyben F, Scherer KR, Schuller BW, et al. The Geneva Minimalistic "
                            "Acoustic Parameter Set (GeMAPS) for voice research and affective "
                            "computing. IEEE Transactions on Affective Computing. "
                            "2016;7(2):190-202."),
    Reference("Boersma", "Boersma P, Weenink D. Praat: doing phonetics by computer [computer "
                         "program]. University of Amsterdam."),
    Reference("Jadoul 2018", "Jadoul Y, Thompson B, de Boer B. Introducing Parselmouth: a Python "
                             "interface to Praat. Journal of Phonetics. 2018;71:1-15."),
    Reference("Chen 2016", "Chen T, Guestrin C. XGBoost: a scalable tree boosting system. "
                           "Proceedings of the 22nd ACM SIGKDD International Conference on "
                           "Knowledge Discovery and Data Mining. 2016:785-794."),
    Reference("Vabalas 2019", "Vabalas A, Gowen E, Poliakoff E, Casson AJ. Machine learning "
                              "algorithm validation with a limited sample size. PLoS ONE. "
                              "2019;14(11):e0224365."),
    Reference("Phipson 2010", "Phipson B, Smyth GK. Permutation p-values should never be zero: "
                              "calculating exact p-values when permutations are randomly drawn. "
                              "Statistical Applications in Genetics and Molecular Biology. "
                              "2010;9(1):Article 39."),
    Reference("Van Calster 2019", "Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg "
                                  "EW. Calibration: the Achilles heel of predictive analytics. "
                                  "BMC Medicine. 2019;17:230."),
    Reference("Lundberg 2020", "Lundberg SM, Erion G, Chen H, et al. From local explanations to "
                               "global understanding with explainable AI for trees. Nature "
                               "Machine Intelligence. 2020;2:56-67."),
    Reference("Collins 2024", "Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: "
                              "updated guidance for reporting clinical prediction models that "
                              "use regression or machine learning methods. BMJ. "
                              "2024;385:e078378."),
)


def cite(*keys: str) -> str:
    """Bracketed reference numbers, e.g. ``cite("King 2009", "Kazemi 2014") -> "[1, 2]"``."""
    numbers = {ref.key: i for i, ref in enumerate(REFERENCES, start=1)}
    unknown = [k for k in keys if k not in numbers]
    if unknown:
        raise ConfigError(f"unknown reference(s) {unknown}; known: {', '.join(numbers)}")
    return "[" + ", ".join(str(numbers[k]) for k in keys) + "]"


def _join(words: list) -> str:
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _protocols(metrics: dict) -> list[dict]:
    return [summary["protocol"] for target in metrics.get("targets", {}).values()
            for summary in target.get("models", {}).values() if "protocol" in summary]


def _distinct(protocols: list[dict], read) -> list:
    values = []
    for protocol in protocols:
        try:
            value = read(protocol)
        except (KeyError, TypeError):
            continue
        if value not in values:
            values.append(value)
    return values


def _features_paragraph() -> str:
    return (
        "Face. In every video frame a face was located with dlib's detector and 68 facial "
        f"landmarks were fitted with dlib's shape predictor {cite('King 2009')}, an ensemble of "
        f"regression trees {cite('Kazemi 2014')}; the face was re-detected only when tracking was "
        "lost, and the share of frames with a face and the longest gap were recorded per "
        "recording to flag poorly tracked recordings. Landmarks were rotated so that the eyes lie "
        "level and distances were expressed in inter-ocular distances, so head motion and camera "
        "distance do not read as facial motion. From them the pipeline computed static and "
        f"movement asymmetries in the manner of Emotrics {cite('Guarin 2018')} and kinematics of "
        "the lips, jaw and brows (range of motion, speed, acceleration, jerk, repetition rate, "
        "regularity and fatigue), separately for each examination task: those of the Toronto "
        f"NeuroFace protocol {cite('Bandini 2021')}, and any task the clinic defined, measured like "
        "the NeuroFace task of the movement it asks for. "
        "Voice. Audio was resampled to 16 kHz mono. The 88 eGeMAPSv02 functionals "
        f"{cite('Eyben 2016')} were computed with openSMILE {cite('Eyben 2010')}; pitch, jitter, "
        "shimmer, harmonics-to-noise ratio, cepstral peak prominence and formants were measured "
        f"with Praat {cite('Boersma')} through parselmouth {cite('Jadoul 2018')} on voiced frames "
        "(of a sustained vowel, on its stable middle: the longest voiced stretch less its first "
        f"and last {VOWEL_TRIM_S:g} s, at most {VOWEL_MAX_TRIM_SHARE:.0%} of it at each end); "
        "syllable-repetition (diadochokinesis) rate and regularity and speech timing were derived "
        "from the intensity envelope. As a recording-condition control, level, spectral shape "
        "and harmonicity of the non-speech parts of each recording were computed: if these "
        "separate the groups, a model can be reading the room rather than the participant. "
        "Features were kept per task (never pooled across tasks) and spread to one row per "
        "participant and visit.")


def _model_paragraph(models: list, protocols: list[dict]) -> str:
    parts = []
    if "xgb" in models:
        grids = _distinct([p for p in protocols if p.get("model") == "xgb"],
                          lambda p: p["model_params"].get("grid"))
        if any(grid for grid in grids):
            grid_text = "hyper-parameters chosen from a user-given grid"
        else:
            small, large = default_grid(1), default_grid(DEEP_TREES_MIN_SUBJECTS)
            depths = sorted({s["max_depth"] for s in small})
            grid_text = (f"hyper-parameters chosen from {len(small)} shallow settings (tree depth "
                         f"{_join(depths)}; {len(large)} settings, adding deeper trees, for "
                         f"training parts of {DEEP_TREES_MIN_SUBJECTS} or more participants)")
        parts.append(f"XGBoost {cite('Chen 2016')} with {grid_text} by the pooled out-of-fold "
                     "loss of grouped inner folds; missing values were left to the trees' learnt "
                     "default directions")
    if "fusion" in models:
        modes = _distinct([p for p in protocols if p.get("model") == "fusion"],
                          lambda p: p["model_params"].get("fusion", "mean"))
        combine = _join([FUSION_WORDS.get(m, str(m)) for m in modes] or [FUSION_WORDS["mean"]])
        parts.append("a small multimodal fusion neural network (one encoder per modality family, "
                     f"{combine}), with its weight penalty, its modality dropout rate (hiding "
                     "whole modalities in training, so that a participant missing one can be "
                     "scored) and its training length chosen on grouped inner folds")
    if not parts:
        return ""
    return "Models: " + "; ".join(parts) + "."


def _permutation_sentence(permutations, primaries: list) -> str:
    if not permutations:
        return "No label permutation test was run."
    return (f"A participant-wise label permutation test ({permutations} permutations, each "
            "rerunning the whole nested cross-validation) gave p-values computed as in "
            f"{cite('Phipson 2010')} on the primary metric ({_join(primaries)}).")


def _chance_rule_sentence() -> str:
    levels = _join([f"{METRIC_WORDS[m]} {level:g}" for m, level in CHANCE_LEVEL.items()])
    return ("A model was said to predict above chance only when the lower bound of its "
            f"bootstrap interval lay above chance ({levels}) and its permutation p-value was at "
            f"most {PERMUTATION_ALPHA:g}; when the two disagreed, the report says so and claims "
            "nothing, and for a set without a permutation test the interval alone decided, "
            "which the report states.")


def _benchmark_sentence(protocols: list[dict]) -> str:
    """How a target's benchmark set (recovery: baseline severity) was compared, when one was."""
    benchmarks = _distinct(protocols, lambda p: p["benchmark_set"])
    benchmarks = [b for b in benchmarks if b]
    if not benchmarks:
        return ""
    return (f"For recovery, every modality set was also compared with the benchmark set "
            f"({_join(benchmarks)}): the same estimator, through the same preprocessing and on identical "
            "outer folds, given only the SLP total at the first visit, since more severely impaired "
            "patients recover less. The recordings were said to add to baseline severity only when the "
            "paired bootstrap interval of the difference in the primary metric excluded zero. ")


def methods_paragraphs(metrics: dict) -> list[str]:
    """The methods section, paragraph by paragraph, from a run's ``metrics.json``.

    Parameters
    ----------
    metrics : dict
        ``metrics.json`` as written by ``avstroke train``: ``settings`` (targets, models, folds,
        seed, permutations, bootstrap) and ``targets`` with each model's ``protocol``.

    Returns
    -------
    list of str
        Plain-text paragraphs with bracketed numbers indexing ``REFERENCES``.

    Raises
    ------
    ConfigError
        If ``metrics`` has no ``settings``.
    """
    settings = metrics.get("settings")
    if not isinstance(settings, dict):
        raise ConfigError("metrics.json has no 'settings' record; rerun `avstroke train`")
    protocols = _protocols(metrics)
    models = list(settings.get("models", []))
    targets = list(metrics.get("targets", {}))
    split_methods = _distinct(protocols, lambda p: SPLIT_WORDS.get(p["outer_splits"]["method"],
                                                                   p["outer_splits"]["method"]))
    fold_counts = _distinct(protocols, lambda p: p["outer_splits"]["n_splits"])
    inner = _distinct(protocols, lambda p: p["n_inner_splits"])
    sets = _distinct(protocols, lambda p: tuple(p["modality_sets"]))
    set_names = list(dict.fromkeys(name for names in sets for name in names))
    units = _distinct(protocols, lambda p: p["unit"])
    levels = _distinct(protocols, lambda p: p["ci_level"])
    primaries = _distinct(protocols, lambda p: METRIC_WORDS.get(p["primary_metric"],
                                                                p["primary_metric"]))
    evaluation = (
        f"Evaluation. Targets: {_join(targets) or 'none trained'}. Models were evaluated by "
        f"nested cross-validation {cite('Vabalas 2019')} split by participant, so all recordings "
        "of one participant were always on the same side of every split. The outer loop "
        f"({_join(split_methods) or 'subject-grouped'}, "
        f"{_join(fold_counts) or settings.get('folds')} folds, at most {settings.get('folds')} "
        "requested and fewer when the smallest class had fewer participants, so that every fold "
        "holds each class; leave-one-subject-out was not used, because holding out one participant "
        "lowers their own class's share of the training part and so biases the AUC of a small group "
        "downwards) only scored; "
        f"preprocessing and hyper-parameter choice used {_join(inner) or 'the'} grouped inner "
        "folds of each outer training part. Every modality set "
        f"({_join(set_names)}) was scored on identical outer folds. Out-of-fold predictions "
        f"were averaged per {_join(units) or 'participant'} before scoring. Each metric has a "
        f"{_join([f'{100 * level:g}%' for level in levels]) or '95%'} percentile interval from "
        f"{settings.get('bootstrap')} bootstrap resamples of participants. "
        f"{_permutation_sentence(settings.get('permutations'), primaries)} "
        f"{_chance_rule_sentence()} {_benchmark_sentence(protocols)}Fusion was said to beat the best single "
        "modality only when the paired bootstrap interval of the difference excluded zero. "
        "Calibration was summarised by the calibration slope and intercept and the Brier score "
        f"{cite('Van Calster 2019')}. The random seed was {settings.get('seed')}; the same "
        "inputs and settings give identical tables.")
    importance = (
        "Interpretation. For XGBoost, feature importance is reported three ways: the total gain "
        "of the final model (refit on all participants with every modality); exact TreeSHAP "
        f"values {cite('Lundberg 2020')} of the final model, computed by XGBoost itself; and "
        "out-of-fold permutation importance, how much the primary metric worsens when one "
        "feature is shuffled among the held-out participants of models refit on each outer fold "
        "at the final model's hyper-parameters. The per-participant reasons come from the same "
        "fold models, so each participant is explained by a model that did not see them. "
        "Modality-level importance is the ablation above. The report follows the TRIPOD+AI "
        f"reporting items where the data allow {cite('Collins 2024')}.")
    return [p for p in (_features_paragraph(), _model_paragraph(models, protocols), evaluation,
                        importance) if p]


def reference_list() -> list[str]:
    """The references in citation-number order, each as ``"[n] entry"``."""
    return [f"[{i}] {ref.entry}" for i, ref in enumerate(REFERENCES, start=1)]
