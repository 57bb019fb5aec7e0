"""The packages form layers that import downward only (docs/architecture.md, "Layers").

Read from the source with ``ast``, so imports inside functions count as much as those at the top.
"""
from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Each package and the project packages it may import, itself included.
ALLOWED = {
    "core": {"core"},
    "features": {"core", "features"},
    "models": {"core", "features", "models"},
    "reports": {"core", "features", "models", "reports"},
    "pipeline": {"core", "features", "models", "reports", "pipeline"},
    "phantom": {"core", "features", "pipeline", "phantom"},
}


def imported_packages(path: Path) -> dict[str, int]:
    """Top-level name of every absolute import in a module -> the first line importing it."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


def upward_imports(package: str, root: Path = REPO) -> list[str]:
    """``file:line imports X`` for every import of a project package that ``package`` (a folder
    of ``root``) may not use."""
    project = set(ALLOWED) | {"tests", "benchmarks"}
    return [f"{path.relative_to(root)}:{line} imports {top}"
            for path in sorted((root / package).rglob("*.py"))
            for top, line in imported_packages(path).items()
            if top in project and top not in ALLOWED[package]]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_layers_below_it(package):
    assert upward_imports(package) == []


def test_the_check_sees_an_upward_import_inside_a_function(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text("def f():\n    from pipeline.cache import make_key\n")
    assert upward_imports("core", tmp_path) == ["core/bad.py:2 imports pipeline"]


def test_every_layer_is_a_package_the_install_includes():
    """A folder without ``__init__.py``, or one missing from setup.cfg's package list, imports
    from a checkout (the current folder is on the path) but not from an installed avstroke."""
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    included = set(parser["options.packages.find"]["include"].split())
    for package in ALLOWED:
        assert (REPO / package / "__init__.py").is_file(), package
        assert {package, f"{package}.*"} <= included, package
