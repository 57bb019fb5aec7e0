"""Number formatting, words for codes, and the collector of a report's figures, shared by every
section."""
from __future__ import annotations

import base64
import math
import re

import numpy as np

from core.errors import ConfigError
from core.tasks import GROUPS, GROUP_NAMES
from reports.methods import METRIC_WORDS

UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt(value, digits: int = 2) -> str:
    """A number for a table cell; an en dash when missing."""
    if is_missing(value):
        return "\u2013"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def fmt_ci(estimate, low, high, digits: int = 2) -> str:
    """``0.81 (0.62 to 0.95)``; the interval is left out when missing."""
    if is_missing(low) or is_missing(high):
        return fmt(estimate, digits)
    return f"{fmt(estimate, digits)} ({fmt(low, digits)} to {fmt(high, digits)})"


def fmt_p(value) -> str:
    """A p-value with three decimals, or an en dash."""
    return "\u2013" if is_missing(value) else f"{float(value):.3f}"


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def slug(text: str) -> str:
    """A file-name-safe form of a target, model or participant id."""
    return UNSAFE_NAME_CHARS.sub("_", str(text)).strip("_") or "item"


def group_words(code: str) -> str:
    """``"PS (post-stroke)"`` for a group code."""
    return f"{code} ({GROUP_NAMES[code]})" if code in GROUP_NAMES else str(code)


def metric_words(name: str) -> str:
    """Plain name of a metric."""
    return METRIC_WORDS.get(name, name)


class Figures:
    """Collects figures under unique file names and hands out their data URIs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def add(self, name: str, png: bytes, *, alt: str, caption: str = "") -> dict:
        filename = slug(name) + ".png"
        if filename in self.files:
            raise ConfigError(f"two report figures are named {filename}")
        self.files[filename] = png
        return {"uri": data_uri(png), "alt": alt, "caption": caption, "file": filename}


def ordered_groups(values) -> list[str]:
    present = list(dict.fromkeys(str(v) for v in values))
    return [g for g in GROUPS if g in present] + sorted(g for g in present if g not in GROUPS)
