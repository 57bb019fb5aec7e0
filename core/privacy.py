"""Recordings are named by their recording_id only: no path or file name reaches people.

File names of clinical recordings often hold a name or a birth date (``Smith John 1961-03-02
smile.avi``). The report, the exports and the error and validation tables name a recording by its
pseudonymous ``recording_id`` and say what went wrong in words avstroke chose. Free text that must
pass, the message of an exception, goes through ``scrub_paths`` first: every known path of the
manifest is removed as a whole string (its full form, each trailing run of its folders, its name
and its stem), spaces, dots and all, and then anything else that looks like a path or a file name.
"""
from __future__ import annotations

import math
import re
from pathlib import PurePath
from typing import Iterable


PLACEHOLDER = "[file]"
FILE_SUFFIXES = ("avi", "mp4", "mov", "mkv", "wav", "flac", "mp3", "m4a", "txt", "csv", "xlsx",
                 "parquet", "pts")
_SUFFIX = "(?:" + "|".join(FILE_SUFFIXES) + ")"
# A cell that is a path or a media/data file name (used to refuse ids that would leak one).
FILE_LIKE = re.compile(rf"[/\\]|\.{_SUFFIX}$", re.IGNORECASE)
# Path-like text a message may hold, most specific first. A path may contain spaces, so one that
# starts at a folder separator runs to the first file suffix; a quoted name ending in a suffix is
# taken whole; then whatever space-free token holds a separator or ends in a suffix.
_QUOTED_FILE = re.compile(rf"""(['"])[^'"\n]*\.{_SUFFIX}\1""", re.IGNORECASE)
_SPANNED_PATH = re.compile(rf"""(?:\b[A-Za-z]:)?[/\\][^\n;'"]*?\.{_SUFFIX}\b""", re.IGNORECASE)
# Trailing punctuation stays: "/x/a: no audio" -> "[file]: no audio".
_PATH_TOKEN = re.compile(r"\S*[/\\]\S*?(?=[:;,.)]*(?:\s|$))")
_FILE_TOKEN = re.compile(rf"\S*\.{_SUFFIX}\b", re.IGNORECASE)


# A shorter bare stem ("a" of a.avi) names no one and would blank ordinary words of a message.
MIN_STEM_CHARS = 3


def path_forms(path: str) -> list[str]:
    """The forms in which a path may appear in a message, longest first.

    Parameters
    ----------
    path : str
        A path as the manifest or a stage holds it.

    Returns
    -------
    list of str
        The path as given, each trailing run of its parts (``b/c.avi`` of ``/a/b/c.avi``, the form
        a relative path takes), its name and its stem (when at least ``MIN_STEM_CHARS`` long).
    """
    pure = PurePath(path)
    parts = pure.parts
    forms = {str(path), pure.name}
    if len(pure.stem) >= MIN_STEM_CHARS:
        forms.add(pure.stem)
    forms |= {"/".join(parts[start:]) for start in range(1, len(parts))}
    forms.discard("")
    return sorted(forms, key=len, reverse=True)


def scrub_paths(text, known: Iterable[str] = ()) -> str:
    """A message with every known path and anything path-like replaced by ``[file]``.

    Parameters
    ----------
    text : object
        The message; a missing value gives an empty string.
    known : iterable of str
        Forms of known paths, longest first (``pipeline.privacy.known_paths``). Each is matched as a whole string
        (not next to a letter or digit), whatever spaces, dots or other characters it holds.

    Returns
    -------
    str
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    text = str(text)
    for form in known:
        if form in text:
            text = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", PLACEHOLDER, text)
    text = _QUOTED_FILE.sub(lambda m: m.group(1) + PLACEHOLDER + m.group(1), text)
    text = _SPANNED_PATH.sub(PLACEHOLDER, text)
    return _FILE_TOKEN.sub(PLACEHOLDER, _PATH_TOKEN.sub(PLACEHOLDER, text))
