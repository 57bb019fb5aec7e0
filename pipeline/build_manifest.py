"""``avstroke manifest --layout neuroface ROOT --out data_manifest.csv``.

Finds a NeuroFace-layout release's videos, sidecar audio, manual landmarks, score workbooks and
participant facts anywhere under ROOT, joins the scores on file name (both raters and their mean)
and writes the manifest with paths relative to the manifest's folder. Prints a count of what it
placed and every file it could not place.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from core.files import atomic_write
from pipeline.neuroface import place_neuroface
from pipeline.stage import stage_main

log = logging.getLogger("avstroke")
DESCRIPTION = "Build data_manifest.csv from a NeuroFace-layout folder."
LAYOUTS = ("neuroface",)


def add_arguments(parser) -> None:
    parser.add_argument("root", type=Path, help="folder holding the recordings")
    parser.add_argument("--layout", choices=LAYOUTS, required=True, help="how the folder is laid out")
    parser.add_argument("--out", type=Path, default=Path("data_manifest.csv"),
                        help="manifest to write (default: %(default)s)")


def run(args) -> int:
    placed = place_neuroface(args.root, args.out.resolve().parent)
    atomic_write(args.out, lambda tmp: placed.manifest.to_csv(tmp, index=False, lineterminator="\n"))
    for problem in placed.unplaced:
        log.warning("not placed: %s", problem)
    summary = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in placed.counts.items())
    log.info("manifest: wrote %s (%s); %d files not placed", args.out, summary, len(placed.unplaced))
    return 0


def main(argv=None) -> int:
    return stage_main("avstroke manifest", DESCRIPTION, add_arguments, run, argv, common=False)


if __name__ == "__main__":
    sys.exit(main())
