"""Content-keyed cache.

A stage output is keyed by a hash of its inputs' content, the parameters that change its result
and the source code of the modules that compute it (docs/architecture.md, "Cache"). The key is
stored inside the output (parquet schema metadata) or beside it (``<file>.key``), so a file is up
to date exactly when its stored key equals the key the stage would compute now. Every output is
written with ``core.files.atomic_write``, so an interrupted run never leaves a half-written output
that could pass for a finished one. An output that exists but cannot be read (a truncated file)
counts as absent, so it is recomputed.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.files import atomic_write

log = logging.getLogger("avstroke")

KEY_FIELD = b"avstroke_cache_key"
# Rows per parquet row group: a landmark table's 2,048 rows are about 1 MB.
ROW_GROUP_ROWS = 2048
# What reading a damaged file raises: pyarrow's errors, OSError, and ValueError (zip and numpy).
UNREADABLE = (pa.ArrowException, OSError, ValueError)
_CHUNK = 1 << 20
_digest_memo: dict[tuple, str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content, memoised per process by (path, size, mtime).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        Hex digest.
    """
    path = Path(path)
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _digest_memo:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
        _digest_memo[memo_key] = h.hexdigest()
    return _digest_memo[memo_key]


# Top-level packages whose modules count as the project's own code in ``code_modules``.
PROJECT_PACKAGES = ("core", "features", "models", "reports", "pipeline", "phantom")


def _module_source(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"cannot find the source of module {name!r}")
    return Path(spec.origin)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a name inside a module, not a submodule
        return False


def _imported_names(name: str) -> frozenset:
    """Every module name one module imports (see ``_parsed_imports``)."""
    source = _module_source(name)
    return _parsed_imports(name, str(source), source.stat().st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _parsed_imports(name: str, path: str, mtime_ns: int) -> frozenset:
    """Every module name one module imports, absolute (relative imports resolved), with each
    ``from X import y`` giving both ``X`` and ``X.y`` (``y`` may be a submodule); memoised per
    file version."""
    source = Path(path)
    package = name if source.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(found)


def code_modules(modules: list[str], *, packages: tuple = PROJECT_PACKAGES) -> list[str]:
    """The named modules and every module of ``packages`` they import, directly or through others.

    Deriving the list from the imports means a helper module that a stage's code starts to use
    is part of its cache key without anyone remembering to add it.
    """
    seen, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(n for n in _imported_names(name)
                        if n.split(".")[0] in packages and n not in seen and _is_module(n))
    return sorted(seen)


@functools.lru_cache(maxsize=1)
def _top_level_map() -> dict:
    return importlib.metadata.packages_distributions()


@functools.lru_cache(maxsize=None)
def _distributions_of(top: str) -> tuple:
    """The installed distributions providing top-level module ``top`` (empty for the standard
    library or an unknown module). Some wheels (dlib-bin, praat-parselmouth) do not list their
    module in ``top_level.txt``, so the module's own file is looked up in the distributions'
    file lists when the quick map does not know it."""
    known = _top_level_map().get(top)
    if known:
        return tuple(known)
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return ()
    origin = Path(spec.origin).resolve()
    # reading each RECORD as text and searching it is much cheaper than parsing every file list
    return tuple(dist.metadata["Name"] for dist in importlib.metadata.distributions()
                 if origin.name in (dist.read_text("RECORD") or "")
                 and any(f.name == origin.name and Path(dist.locate_file(f)).resolve() == origin
                         for f in dist.files or ()))


def library_versions(modules: list[str], *, packages: tuple = PROJECT_PACKAGES) -> dict:
    """Installed version of every third-party distribution the modules' code imports.

    Parameters
    ----------
    modules : list of str
        Module names; the project modules they import are followed (``code_modules``).
    packages : tuple of str
        Top-level packages that are the project's own (not libraries).

    Returns
    -------
    dict
        Distribution name -> version, e.g. ``{"dlib-bin": "20.0.1", "numpy": "2.2.6"}``: the
        libraries whose numbers a cached result depends on. The standard library is left out.
    """
    tops = {name.split(".")[0] for module in code_modules(modules, packages=packages)
            for name in _imported_names(module)}
    return {dist: importlib.metadata.version(dist)
            for top in sorted(tops - set(packages) - set(sys.stdlib_module_names))
            for dist in _distributions_of(top)}


def code_digest(modules: list[str], *, packages: tuple = PROJECT_PACKAGES) -> str:
    """SHA-256 over the source files of the named modules, of the project modules they import,
    and over the versions of the libraries they import (``library_versions``).

    Any edit to the code that computes a result, and any other version of a library that
    computes part of it (dlib, openSMILE, parselmouth, xgboost, torch, ...), changes this digest,
    so results computed by older code are never mistaken for current ones.
    """
    h = hashlib.sha256()
    for name in code_modules(modules, packages=packages):
        h.update(name.encode())
        h.update(_module_source(name).read_bytes())
    h.update(json.dumps(library_versions(modules, packages=packages), sort_keys=True).encode())
    return h.hexdigest()


def _jsonable(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"cannot put {type(value).__name__} into a cache key")


def make_key(*, inputs: dict, params: dict, code: str) -> str:
    """Cache key of one output.

    Parameters
    ----------
    inputs : dict
        Name -> content digest of every input the output depends on.
    params : dict
        Every parameter that changes the result (dataclasses are expanded).
    code : str
        Digest of the code that computes the output (see ``code_digest``).
    """
    blob = json.dumps({"inputs": inputs, "params": params, "code": code},
                      sort_keys=True, default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()


def write_parquet(df: pd.DataFrame, path: str | Path, *, key: str | None = None,
                  metadata: dict | None = None) -> Path:
    """Write a table atomically, with its cache key and any metadata in the parquet schema.

    The rows are converted and written ``ROW_GROUP_ROWS`` at a time (one parquet row group
    each), so writing a long table (a landmark table of a 10-minute video) takes little memory
    beyond the table itself.
    """
    schema = pa.Schema.from_pandas(df, preserve_index=False)
    extra = dict(schema.metadata or {})
    if key is not None:
        extra[KEY_FIELD] = key.encode()
    for name, value in (metadata or {}).items():
        extra[f"avstroke_{name}".encode()] = json.dumps(value, default=_jsonable).encode()
    schema = schema.with_metadata(extra)

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema) as writer:
            for start in range(0, max(len(df), 1), ROW_GROUP_ROWS):
                writer.write_table(pa.Table.from_pandas(df.iloc[start:start + ROW_GROUP_ROWS],
                                                        schema=schema, preserve_index=False))

    return atomic_write(path, write)


def read_parquet_metadata(path: str | Path) -> dict:
    """The ``metadata`` dict stored by ``write_parquet``."""
    raw = pq.read_schema(path).metadata or {}
    prefix = b"avstroke_"
    return {k[len(prefix):].decode(): json.loads(v) for k, v in raw.items()
            if k.startswith(prefix) and k != KEY_FIELD}


def stored_key(path: str | Path) -> str | None:
    """Cache key stored with an output, or None when it is absent or has none.

    Raises whatever reading a damaged parquet file raises (one of ``UNREADABLE``); ``freshness``
    turns that into "recompute".
    """
    path = Path(path)
    if path.suffix == ".parquet":
        if not path.exists():
            return None
        value = (pq.read_schema(path).metadata or {}).get(KEY_FIELD)
        return value.decode() if value else None
    side = path.with_name(path.name + ".key")
    return side.read_text().strip() if side.exists() and path.exists() else None


def write_key(path: str | Path, key: str) -> None:
    """Store the key of a non-parquet output beside it, after the output is complete."""
    path = Path(path)
    side = path.with_name(path.name + ".key")
    atomic_write(side, lambda tmp: tmp.write_text(key + "\n"))


def freshness(path: str | Path, key: str) -> tuple[bool, str]:
    """Whether ``path`` exists and was written under ``key``, and why an existing file is not usable.

    Returns
    -------
    fresh : bool
        True when the stored key equals ``key``.
    problem : str
        Empty, or "unreadable (<error type>)" when the file exists but its key cannot be read
        (e.g. truncated by a full disk or a bad copy); the output is then recomputed like an
        absent one, and the caller says so.
    """
    try:
        return stored_key(path) == key, ""
    except UNREADABLE as exc:
        return False, f"unreadable ({type(exc).__name__})"


def is_fresh(path: str | Path, key: str) -> bool:
    """True when ``path`` exists and was written under ``key``; an unreadable file is logged."""
    fresh, problem = freshness(path, key)
    if problem:
        log.warning("cache: %s is %s; it is recomputed", path, problem)
    return fresh
