"""``avstroke export``: feature tables clinicians can open in Excel.

Reads ``RUN/features/recordings.parquet`` (written by ``avstroke assemble``) and writes
``RUN/export/features.xlsx`` (sheets values, z_scores, changes, control_norms, dictionary, about)
and the same sheets as ``RUN/export/<sheet>.csv``. ``--columns`` keeps only the measures a clinic
uses; z-scores are against the first visit of ``--control-group``; changes compare each
followed-up participant's first and last visits, scaled by the same controls. Only pseudonymous subject ids are
exported: no recording ids, file names or paths.
"""
from __future__ import annotations

import logging
import sys
from datetime import datetime

import pandas as pd

from core.errors import ConfigError, check_option
from core.tasks import GROUPS
from pipeline import __version__
from pipeline.stage import stage_main
from pipeline.task_file import run_vocabulary
from reports.export import (KEY_COLUMNS, MIN_CONTROLS, about_sheet, change_scores, control_norms, data_dictionary,
                            feature_values, write_csvs, write_workbook, z_scores)

log = logging.getLogger("avstroke")
DESCRIPTION = "Export feature values, control norms, z-scores and a data dictionary as XLSX and CSV."
WORKBOOK = "features.xlsx"


def add_arguments(parser) -> None:
    parser.add_argument("--columns", default=None,
                        help="comma-separated feature names or column names to export "
                             "(default: every feature), e.g. commissure_excursion_asym_pct,ddk__syllable_rate")
    parser.add_argument("--control-group", default="HC",
                        help=f"group the norms and z-scores refer to, one of {', '.join(GROUPS)} "
                             "(default: %(default)s)")
    parser.add_argument("--highlight-beyond", type=float, default=2.0,
                        help="highlight z-score cells with |z| above this (default: %(default)s)")


def selected_columns(text: str | None) -> list[str] | None:
    """The ``--columns`` list, or None for every feature."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"--columns {text!r} names no feature; give comma-separated feature names")
    return names


def exported_tasks(values: pd.DataFrame, vocabulary: dict) -> list:
    """The TaskSpec of each task in ``values``, in the vocabulary's order.

    Raises
    ------
    ConfigError
        If a task is not in the vocabulary (the features were assembled from another validation).
    """
    present = set(values["task"].astype(str))
    unknown = sorted(present.difference(vocabulary))
    if unknown:
        raise ConfigError(f"the feature table holds tasks the run's validated vocabulary does not "
                          f"({', '.join(unknown)}); run `avstroke run` from validate again")
    return [spec for name, spec in vocabulary.items() if name in present]


def run(args) -> int:
    check_option("--control-group", args.control_group, GROUPS)
    if not args.highlight_beyond > 0:
        raise ConfigError(f"--highlight-beyond must be a positive number of SDs; got {args.highlight_beyond}")
    source = args.out / "features" / "recordings.parquet"
    if not source.is_file():
        raise ConfigError(f"{source} not found: run `avstroke assemble --out {args.out}` (or `avstroke run`) "
                          "before exporting")
    selected = selected_columns(args.columns)
    recordings = pd.read_parquet(source)
    values = feature_values(recordings, columns=selected)
    # The norms come from the recordings, which carry what visits are ordered by; values do not.
    norms = control_norms(recordings, control_group=args.control_group,
                          columns=[c for c in values.columns if c not in KEY_COLUMNS])
    z = z_scores(values, norms)
    changes = change_scores(recordings, values, norms, control_group=args.control_group)
    sheets = {
        "values": values,
        "z_scores": z,
        "changes": changes,
        "control_norms": norms,
        "dictionary": data_dictionary(list(values.columns),
                                      exported_tasks(values, run_vocabulary(args.out))),
        "about": about_sheet(created=datetime.now().isoformat(timespec="seconds"), version=__version__,
                             control_group=args.control_group, highlight_beyond=args.highlight_beyond,
                             selected=selected, values=values),
    }
    folder = args.out / "export"
    highlighted = write_workbook(folder / WORKBOOK, sheets, highlight_beyond=args.highlight_beyond)
    write_csvs(folder, sheets)
    usable = int((norms["note"] == "").sum())
    if len(norms) and usable == 0:
        log.warning("export: no feature has %d or more %s values with SD > 0 in any task: every z-score is "
                    "empty", MIN_CONTROLS, args.control_group)
    log.info("export: %d rows (%d subjects), %d features, %d of %d task norms usable, %d z-scores beyond "
             "%g highlighted, changes of %d followed-up subjects (%s)", len(values), values["subject_id"].nunique(),
             len(values.columns) - len(KEY_COLUMNS), usable, len(norms), highlighted, args.highlight_beyond,
             changes["subject_id"].nunique(), folder / WORKBOOK)
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke export", DESCRIPTION, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
