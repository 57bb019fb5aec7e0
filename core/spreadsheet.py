"""Tables meant for people: nothing a user typed reaches a spreadsheet as a formula.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula, also when it comes from a CSV file, and a leading tab or carriage return can hide such a
start. Every text cell of every table avstroke writes for people (the clinician export, the
prediction, refusal, error and validation tables) therefore goes through ``neutralise``: a text
value with one of those starts gets a leading ``'``, which spreadsheets show as text (the OWASP
rule against CSV injection). Numbers are left alone, so a negative number stays a number.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

from core.files import atomic_write

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def neutralise(value):
    """A cell value that no spreadsheet runs as a formula.

    Parameters
    ----------
    value : object
        One cell or column header.

    Returns
    -------
    object
        ``"'" + value`` for a text value starting with one of ``FORMULA_STARTS``; any other value
        (numbers, missing values, harmless text) unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return TEXT_MARK + value
    return value


def _holds_text(column: pd.Series) -> bool:
    return (is_object_dtype(column) or is_string_dtype(column)
            or isinstance(column.dtype, pd.CategoricalDtype))


def neutralised(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with every text cell and column header passed through ``neutralise``.

    Numeric and boolean columns are not touched; in a column of mixed values only the text ones
    change.
    """
    cells = {position: column.map(neutralise) if _holds_text(column) else column
             for position, (_, column) in enumerate(table.items())}
    out = pd.DataFrame(cells, index=table.index)
    out.columns = [neutralise(name) for name in table.columns]
    return out


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table for people as CSV (UTF-8, no index, empty cell for missing), neutralised,
    atomically.

    Rows end in CR LF (RFC 4180): the csv writer quotes a cell holding a character of the row
    ending, and only then is a carriage return inside a cell kept in its cell instead of splitting
    the row.
    """
    safe = neutralised(table)
    return atomic_write(path, lambda tmp: safe.to_csv(tmp, index=False, lineterminator="\r\n"))


def store_text_as_text(sheet) -> None:
    """Mark every text cell of an openpyxl worksheet as a string cell.

    openpyxl reads a type into a text value it is given: one starting with ``=`` becomes a formula
    and one spelling an error code (``#N/A``, ``#REF!``) an error cell. After ``neutralise`` no
    text starts with ``=``, but an error code is still taken for one, so the type is set here.
    """
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
