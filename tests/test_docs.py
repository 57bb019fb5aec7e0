"""The project's own documents: present, linked from the README, cited instead of outside notes,
and the feature reference identical to what the registry gives now."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = ("docs/architecture.md", "docs/features.md", "docs/evaluation.md", "docs/neuroface.md",
             "docs/dependencies.md")
# Notes that lived outside the repository; nothing in it may send a reader there.
OUTSIDE_NOTES = re.compile(r"\b(ARCHITECTURE|FEATURES|NEUROFACE|EVALUATION)\.md\b")


def _project_files() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for package in ("pipeline", "features", "models", "reports", "benchmarks", "tests"):
        files += sorted((REPO / package).rglob("*.py"))
    return files


def test_features_md_is_what_the_registry_gives_now():
    # A fresh interpreter, as `python -m features.document > docs/features.md` runs: entries are
    # listed in the order their modules register them, which imports made by other tests change.
    printed = subprocess.run([sys.executable, "-m", "features.document"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
    stored = (REPO / "docs" / "features.md").read_text(encoding="utf-8")
    assert stored == printed, ("docs/features.md is out of date with the feature registry; "
                               "regenerate it: python -m features.document > docs/features.md")


def test_every_registered_feature_is_in_the_reference():
    from features import registry
    from features.metadata import COVARIATE_SOURCE

    text = (REPO / "docs" / "features.md").read_text(encoding="utf-8")
    missing = [f.column for f in registry.entries()
               if f.source != COVARIATE_SOURCE and f"`{f.column}`" not in text]
    assert not missing, missing


def test_readme_links_every_document_and_each_exists():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for document in DOCUMENTS:
        assert (REPO / document).is_file(), document
        assert f"]({document})" in readme, f"README does not link {document}"


def test_nothing_cites_a_note_outside_the_repository():
    citing = [f"{path.relative_to(REPO)}:{number}" for path in _project_files()
              for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
              if OUTSIDE_NOTES.search(line) and path.name != "test_docs.py"]
    assert not citing, citing


def test_links_between_documents_lead_to_files():
    broken = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            if "://" not in target and not (path.parent / target).exists():
                broken.append(f"{path.relative_to(REPO)} -> {target}")
    assert not broken, broken
