"""Paths and stage order in one place."""
from __future__ import annotations

from pathlib import Path

DEFAULT_MANIFEST = Path("data_manifest.csv")
DEFAULT_RUN_DIR = Path("runs/demo")

# The batch stages in the order `avstroke run` runs them: (command name, module).
STAGES: list[tuple[str, str]] = [
    ("validate", "pipeline.validate"),
    ("landmarks-train", "pipeline.landmarks_train"),
    ("landmarks", "pipeline.landmarks"),
    ("landmarks-eval", "pipeline.landmarks_eval"),
    ("face-features", "pipeline.face_features"),
    ("audio", "pipeline.audio"),
    ("assemble", "pipeline.assemble"),
    ("train", "pipeline.train"),
    ("report", "pipeline.report"),
    ("export", "pipeline.export"),
]

LOG_DIR = "logs"
