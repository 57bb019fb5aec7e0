"""The README's promises point to tests that exist, and the commands it quotes exist."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_test_the_readme_cites_exists():
    cited = re.findall(r"tests/(test_\w+\.py)::(\w+)", README)
    assert len(cited) >= 20
    missing = [f"{file}::{name}" for file, name in cited
               if not re.search(rf"^def {name}\(", (REPO / "tests" / file).read_text(encoding="utf-8"),
                                re.MULTILINE)]
    assert not missing, missing


def test_every_script_the_readme_cites_exists():
    scripts = set(re.findall(r"benchmarks/\w+\.py", README))
    assert scripts and not [s for s in scripts if not (REPO / s).is_file()]
