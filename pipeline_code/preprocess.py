"""Preprocess step: validate the raw CSV data and split it into train, validation and test.

Runs as ``python3 preprocess.py`` in the SageMaker scikit-learn processing container, where it
is the only file shipped, so it imports nothing from this repository. Every input problem is
reported here, in the first step of the pipeline, with the offending column or file named,
instead of surfacing later as an opaque training-container failure.

A feature column is numeric when all its values are numbers (booleans count as 0/1) and
categorical when they are text; text columns that cannot be categories (identifiers, free
text, numbers with a text missing-value marker) are refused.

Outputs, in each of ``<train-dir>``, ``<validation-dir>`` and ``<test-dir>`` (section 1 of
docs/model-contract.md):

* ``<split>.csv`` (``train.csv``, ``validation.csv``, ``test.csv``): UTF-8 with a header row;
  the label column first as 0/1, then the features under their input names and in input
  order: numbers as numbers, categorical values as their input text, a missing value as an
  empty cell.
* ``schema.json``: the label column and its two values as text, the excluded columns, and
  each feature's name and type (``numeric`` or ``categorical``).
"""

from __future__ import annotations

import argparse
import codecs
import csv
import difflib
import io
import itertools
import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import train_test_split

if TYPE_CHECKING:
    from _csv import Reader

DEFAULT_INPUT_DIR = Path("/opt/ml/processing/input/data")
DEFAULT_TRAIN_DIR = Path("/opt/ml/processing/train")
DEFAULT_VALIDATION_DIR = Path("/opt/ml/processing/validation")
DEFAULT_TEST_DIR = Path("/opt/ml/processing/test")

SPLITS = ("train", "validation", "test")
SCHEMA_FILE = "schema.json"
SCHEMA_FORMAT_VERSION = 1
NUMERIC = "numeric"
CATEGORICAL = "categorical"

_TRUE_WORDS = {"true": 1, "false": 0}
_MAX_SHOWN_VALUES = 5
_MAX_SHOWN_NAMES = 10
# XGBoost holds every value as a 32-bit float; a larger magnitude would become infinite there.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_ACCEPTED = "only uncompressed, comma-delimited UTF-8 text is read"
# Leading bytes of table containers: refused rather than skipped, since they may hold data
# that would otherwise be left out of training without a word.
_MAGIC_BYTES = (
    (b"\x1f\x8b", "gzip-compressed"),
    *((b"BZh" + bytes([digit]), "bzip2-compressed") for digit in b"123456789"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"\x04\x22\x4d\x18", "LZ4-compressed"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"PK\x03\x04", "a ZIP archive or an Excel/OpenDocument workbook"),
    (b"PK\x05\x06", "a ZIP archive or an Excel/OpenDocument workbook"),
    (b"PAR1", "a Parquet file"),
    (b"Obj\x01", "an Avro file"),
    (b"ARROW1", "an Arrow/Feather file"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
# Enough for a header row and a few data rows of a typical table; a wider header is read
# further, up to the cap, so that at least two data rows are seen. Never the whole file.
_SNIFF_BYTES = 8 * 1024
_SNIFF_MAX_BYTES = 1024 * 1024
_SNIFF_ROWS = 50
_MAX_SHOWN_CHARS = 60
_DROP_HINT = (
    "drop them with exclude_columns (cdk.json, per environment) or --exclude-columns (local run)"
)

Labels = npt.NDArray[np.int8]


class DataValidationError(ValueError):
    """The input data cannot be used; ``problems`` holds one sentence per problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"Input data is not usable: {self.problems[0]}"
        else:
            listed = "\n".join(f"  {n}. {p}" for n, p in enumerate(self.problems, start=1))
            message = f"Input data is not usable ({len(self.problems)} problems):\n{listed}"
        super().__init__(message)


def _show(values: Sequence[object], limit: int = _MAX_SHOWN_VALUES) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} distinct)" if len(values) > limit else "")


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _listed(items: Sequence[str], limit: int = _MAX_SHOWN_NAMES) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in total)" if len(items) > limit else "")


def validate_fractions(validation_fraction: float, test_fraction: float) -> None:
    """Each split needs a positive share, and train needs what is left."""
    problems = [
        f"{name} must be greater than 0 and less than 1, got {value!r}"
        for name, value in (
            ("--validation-fraction", validation_fraction),
            ("--test-fraction", test_fraction),
        )
        if not 0 < value < 1
    ]
    if not problems and not validation_fraction + test_fraction < 1:
        problems.append(
            "--validation-fraction + --test-fraction must be less than 1 so that the train split "
            f"gets rows, got {validation_fraction!r} + {test_fraction!r} = "
            f"{validation_fraction + test_fraction!r}"
        )
    if problems:
        raise DataValidationError(problems)


class _Verdict(NamedTuple):
    """What a file's first bytes show: ``read`` it, or why not (``form`` or ``reason``)."""

    read: bool
    form: str = ""  # table data in a form this step does not read
    reason: str = ""  # why the file is not table data at all


def _head(path: Path) -> tuple[bytes, bool]:
    """The file's first bytes (see ``_SNIFF_BYTES``) and whether they are the whole file."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        while head.count(b"\n") < 3 and len(head) < _SNIFF_MAX_BYTES:
            more = handle.read(len(head))
            if not more:
                return head, True
            head += more
        return head, not handle.read(1)


def _field_counts(text: str, delimiter: str) -> list[int]:
    """Fields per non-blank row of the sample, the header row first."""
    counts: list[int] = []
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            if len(row) > 1 or (row and row[0].strip()):
                counts.append(len(row))
                if len(counts) > _SNIFF_ROWS:
                    break
    except csv.Error:
        pass  # a NUL byte or a quote left open by the cut: judged on the rows before it
    return counts


def _has_numbers(text: str, delimiter: str) -> bool:
    """Whether a cell below the header of the sample is a number."""
    try:
        rows = list(
            itertools.islice(csv.reader(io.StringIO(text), delimiter=delimiter), _SNIFF_ROWS)
        )
    except csv.Error:
        return False
    return any(_is_number(cell) for row in rows[1:] for cell in row)


def _is_table(counts: Sequence[int], meant_as_data: bool) -> bool:
    """A header of two or more fields and rows that split alike.

    A file meant as data (named .csv, or given by name) needs only a header and mostly
    multi-field rows, so that ragged rows reach the scan that names their lines; any other
    file must show at least one data row and every row with the header's field count.
    """
    if not counts or counts[0] < 2:
        return False
    rows = counts[1:]
    if meant_as_data:
        return 2 * sum(count >= 2 for count in rows) >= len(rows)
    return bool(rows) and all(count == counts[0] for count in rows)


def _json_lines_items(text: str) -> list[object]:
    """The values of the first lines, up to the first line that is not one JSON value."""
    items: list[object] = []
    for line in text.splitlines()[:_SNIFF_ROWS]:
        try:
            items.append(json.loads(line))
        except ValueError:
            break
    return items


def _json_array_items(text: str) -> list[object]:
    """The first elements of a JSON array, up to the first that does not decode.

    Decoded one by one, since the sample may cut the array short.
    """
    decoder = json.JSONDecoder()
    items: list[object] = []
    position = 1
    while len(items) < _SNIFF_ROWS:
        try:
            item, position = decoder.raw_decode(text, _skip_space(text, position))
        except ValueError:
            break
        items.append(item)
        position = _skip_space(text, position)
        if text[position : position + 1] != ",":
            break
        position += 1
    return items


# The two forms JSON records take, by the character the text starts with: how to read the
# first items, and the form to name.
_JSON_RECORD_FORMS: dict[str, tuple[Callable[[str], list[object]], str]] = {
    "{": (_json_lines_items, "JSON-lines records"),
    "[": (_json_array_items, "a JSON array of records"),
}


def _are_records(items: Sequence[object]) -> bool:
    """Two or more objects with the same keys, like the rows of a table."""
    keys = [tuple(sorted(item)) if isinstance(item, dict) else None for item in items]
    return len(keys) >= 2 and bool(keys[0]) and all(key == keys[0] for key in keys)


def _is_one_json_document(text: str) -> bool:
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return False
    return end >= len(text)


def _json_form(text: str) -> _Verdict | None:
    """JSON records are table data; any other JSON document is not; None if not JSON."""
    stripped = text.strip()
    if stripped[:1] not in _JSON_RECORD_FORMS:
        return None
    first_items, form = _JSON_RECORD_FORMS[stripped[:1]]
    if _are_records(first_items(stripped)):
        return _Verdict(read=False, form=form)
    # Anything but one whole JSON document is judged as text (a header row may start with a
    # bracket); one that does not fit in the sample is not records either way.
    if not _is_one_json_document(stripped):
        return None
    return _Verdict(read=False, reason="it is JSON, not records")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _not_a_table(text: str) -> str:
    """Why text that no delimiter splits into a table is not one."""
    counts = _field_counts(text, ",")
    if not counts or counts[0] < 2:
        first = next((line for line in text.splitlines() if line.strip()), "")
        return (
            f"its first line {_clip(first)!r} has no comma (a header row names the label and "
            "feature columns, separated by commas)"
        )
    single = sum(count < 2 for count in counts[1:])
    if 2 * single > len(counts) - 1:
        return f"{single} of the {len(counts) - 1} lines after its first have no comma"
    return "its lines do not split alike at a comma, semicolon, tab or pipe"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


def _decode(head: bytes, whole: bool) -> tuple[str, str] | None:
    """The sample as text and what kind of text it is, or None if it is binary."""
    if not whole and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # no row or character cut in two
    if head.startswith(_UTF16_BOMS):
        return head[: len(head) // 2 * 2].decode("utf-16", errors="replace"), "UTF-16 text"
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8-sig"), "text"
    except UnicodeDecodeError:
        # Judged on its shape: a table in another encoding is read, and the scan names the
        # line that is not UTF-8.
        return head.decode("latin-1"), "text"


def _sniff(path: Path, meant_as_data: bool) -> _Verdict:
    """Decide from the first bytes whether ``path`` is comma-delimited table data.

    ``meant_as_data`` (a .csv name, or a file given by name) lets through anything the scan
    reports better itself: an empty file, a header row only, ragged rows, text that is not
    UTF-8.
    """
    head, whole = _head(path)
    if not head:
        return _Verdict(read=meant_as_data, reason="it is empty")
    form = next((what for magic, what in _MAGIC_BYTES if head.startswith(magic)), None)
    if form is not None:
        return _Verdict(read=False, form=form)
    decoded = _decode(head, whole)
    if decoded is None:
        return _Verdict(read=False, reason="it is binary, not text")
    text, encoding = decoded
    # JSON first: a line of JSON-lines records splits alike at its commas.
    return (
        _json_form(text)
        or _delimited(text, encoding, meant_as_data)
        or _Verdict(read=False, reason=_not_a_table(text))
    )


def _delimited(text: str, encoding: str, meant_as_data: bool) -> _Verdict | None:
    for delimiter, name in {",": "comma", **_OTHER_DELIMITERS}.items():
        counts = _field_counts(text, delimiter)
        # Any other file must look like training data, whose features are numbers: prose and
        # notes can split alike by chance, and a few lines of words often do.
        if _is_table(counts, meant_as_data) and (
            meant_as_data or (len(counts) >= 3 and _has_numbers(text, delimiter))
        ):
            if delimiter == "," and encoding == "text":
                return _Verdict(read=True)
            return _Verdict(read=False, form=f"{name}-delimited {encoding}")
    return None


def _refusal(path: Path, verdict: _Verdict) -> str:
    """The problem with a file meant as data that is not read."""
    if verdict.form:
        return f"{path} is {verdict.form}: {_ACCEPTED}"
    return f"{path} does not look like a table: {verdict.reason}"


def _named_file(path: Path) -> list[Path]:
    verdict = _sniff(path, meant_as_data=True)
    if not verdict.read:
        raise DataValidationError([_refusal(path, verdict)])
    return [path]


def _visible_files(folder: Path) -> list[Path]:
    """The files under ``folder``, sorted, leaving out hidden files and folders."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


class _Survey:
    """The files of an input folder, sorted by what becomes of each, with names relative to it."""

    def __init__(self) -> None:
        self.files: list[Path] = []  # read
        self.unsuffixed: list[str] = []  # read without a .csv name: listed
        self.refused: list[str] = []  # "name (form)" of table data not read
        self.skipped: list[str] = []  # not table data: listed
        self.problems: list[str] = []  # named .csv, but not a table

    def add(self, path: Path, name: str) -> None:
        """A .csv name says the file was meant as data: not being a table is then a problem."""
        named_csv = path.suffix.lower() == ".csv"
        verdict = _sniff(path, meant_as_data=named_csv)
        if verdict.read:
            self.files.append(path)
            self.unsuffixed.extend([] if named_csv else [name])
        elif verdict.form:
            self.refused.append(f"{name} ({verdict.form})")
        elif named_csv:
            self.problems.append(_refusal(path, verdict))
        else:
            self.skipped.append(name)

    def announce(self) -> None:
        """Print the files read or skipped on content alone, so none of them goes unnoticed."""
        for listed, what in (
            (self.skipped, "Skipping {} file(s) that are not data: "),
            (self.unsuffixed, "Reading {} file(s) without a .csv name as comma-delimited tables: "),
        ):
            if listed:
                print(what.format(len(listed)) + _listed(listed))

    def folder_problems(self, folder: Path) -> list[str]:
        """The files' own problems, then one for all table data not read, or else for no data."""
        problems = list(self.problems)
        if self.refused:
            problems.append(
                f"{folder} holds table data in a form this step does not read: "
                f"{_listed(self.refused)}; {_ACCEPTED}, so convert or remove them"
            )
        if not self.files and not problems:
            problems.append(
                f"no CSV files found: no file in {folder} or its subfolders holds "
                "comma-delimited table data"
            )
        return problems


def find_csv_files(input_path: Path) -> list[Path]:
    """The files under ``input_path`` that hold comma-delimited table data, or ``input_path``.

    Each file is judged by its first bytes, not its name, so a README, notes.json or Spark's
    ``_SUCCESS`` never stops a run: files that are not table data are listed and skipped.
    Table data in a form this step does not read (compressed, Parquet, Excel, JSON records,
    another delimiter or encoding) is refused with its name and form, since skipping it would
    leave part of the data out of training without a word.

    Comma-delimited text is read whatever its name: Spark, Hive, Redshift UNLOAD and Firehose
    write parts without a .csv suffix (``part-00000``), and refusing them would only make
    someone rename every part; the files read without a .csv name are listed. A .csv name, or
    a file given by name, says the file was meant as data, so one whose content is not a
    table (prose, an image) is refused with the reason instead of skipped.

    Hidden files and folders are skipped without a word: editors and notebooks leave copies of
    data files there (``.ipynb_checkpoints/``), which would silently duplicate rows.
    """
    if input_path.is_file():
        return _named_file(input_path)
    if not input_path.is_dir():
        raise DataValidationError([f"no CSV files found: {input_path} does not exist"])
    survey = _Survey()
    for path in _visible_files(input_path):
        survey.add(path, path.relative_to(input_path).as_posix())
    survey.announce()
    problems = survey.folder_problems(input_path)
    if problems:
        raise DataValidationError(problems)
    return survey.files


def _check_not_binary(path: Path) -> None:
    with path.open("rb") as handle:
        start = handle.read(8)
    for magic, what in _MAGIC_BYTES:
        if start.startswith(magic):
            raise DataValidationError([f"{path} is {what}: {_ACCEPTED}"])


def _other_delimiter(header: Sequence[str]) -> str | None:
    """The delimiter a one-column header row shows the file really uses, if any."""
    if len(header) != 1:
        return None
    return next((name for char, name in _OTHER_DELIMITERS.items() if char in header[0]), None)


class _RowCounts(NamedTuple):
    """The data rows of a file, counted against the header row's field count."""

    rows: int
    mismatched: int
    only_longer: bool  # every mismatched row has more fields than the header
    shown: list[str]  # "line N has M" for the first mismatched rows


def _unreadable_row(path: Path, line: int, error: csv.Error) -> DataValidationError:
    return DataValidationError([f"{path}: line {line} is not a readable CSV row: {error}"])


def _header_row(path: Path, reader: Reader) -> list[str]:
    """The first row, which must name the columns: without it no row can be counted."""
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise _unreadable_row(path, 1, error) from None
    if header is None:
        raise DataValidationError([f"{path} is empty: a header row and data rows are required"])
    if not any(name.strip() for name in header):
        raise DataValidationError([f"{path}: the first line is blank; a header row is required"])
    return header


def _count_rows(path: Path, reader: Reader, header: list[str]) -> _RowCounts:
    """Count the rows after the header.

    The loop runs once per row of every input file, so it stays inline here, with no helper
    called per row.
    """
    rows, mismatched, only_longer = 0, 0, True
    shown: list[str] = []
    line = reader.line_num + 1
    try:
        for row in reader:
            # pandas skips blank and whitespace-only lines, so they are not rows.
            if len(row) > 1 or (row and row[0].strip()):
                rows += 1
                if len(row) != len(header):
                    mismatched += 1
                    only_longer = only_longer and len(row) > len(header)
                    if len(shown) < _MAX_SHOWN_VALUES:
                        shown.append(f"line {line} has {len(row)}")
            line = reader.line_num + 1
    except csv.Error as error:
        raise _unreadable_row(path, line, error) from None
    return _RowCounts(rows, mismatched, only_longer, shown)


# Bytes _plain_counts reads at a time.
_PLAIN_SCAN_BYTES = 8 * 1024 * 1024


def _plain_counts(path: Path, fields: int) -> _RowCounts | None:
    """``_count_rows``' counts of a file whose rows have nothing to report, from its bytes.

    Plain: after the header line (which the csv module has read as the first line), no
    quote, carriage return or NUL, no blank line, UTF-8,
    every line shorter than the csv module's field size limit and holding ``fields - 1``
    commas: the csv module reads each line as one row of ``fields`` fields, so there is no
    mismatched row to name. None for any other file, which ``_count_rows`` reads row by row
    (about ten times slower) to name the lines at fault.
    """
    if fields < 2:  # a line of one field may be a blank line, which is no row
        return None
    rows = 0
    with path.open("rb") as handle:
        for number, block in enumerate(_line_blocks(handle)):
            rest = block
            if number == 0:
                header, _, rest = block.removeprefix(codecs.BOM_UTF8).partition(b"\n")
                if b"\r" in header.removesuffix(b"\r"):  # the csv module ends a line at \r
                    return None
            lines = _plain_lines(rest, fields)
            if lines is None:
                return None
            rows += lines
    return _RowCounts(rows, mismatched=0, only_longer=True, shown=[])


def _line_blocks(handle: BinaryIO) -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines, each ending with a line feed (an unended
    last line is given one)."""
    carry = b""
    while block := handle.read(_PLAIN_SCAN_BYTES):
        cut = block.rfind(b"\n") + 1
        yield carry + block[:cut]
        carry = block[cut:] if cut else carry + block
    if carry:
        yield carry + b"\n"


def _plain_lines(block: bytes, fields: int) -> int | None:
    """The number of lines of ``block`` (whole lines) if each is plainly a row of ``fields``."""
    if block.startswith(b"\n") or any(mark in block for mark in (b'"', b"\r", b"\x00", b"\n\n")):
        return None
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    commas = np.diff(np.searchsorted(np.flatnonzero(data == ord(",")), ends), prepend=0)
    longest = int(np.diff(ends, prepend=-1).max(initial=0))
    if (commas != fields - 1).any() or longest > csv.field_size_limit():
        return None
    return len(ends)


def _layout_problems(path: Path, header: list[str], counts: _RowCounts) -> list[str]:
    problems = []
    if counts.mismatched:
        more = ", ..." if counts.mismatched > len(counts.shown) else ""
        hint = (
            " (a trailing comma, a row index column without a name, or an unquoted comma "
            "inside a value?)"
            if counts.only_longer
            else ""
        )
        problems.append(
            f"{path}: {counts.mismatched} of {counts.rows} data row(s) do not have the header "
            f"row's {len(header)} fields: {', '.join(counts.shown)}{more}{hint}"
        )
    if not counts.rows:
        problems.append(f"no data rows: {path} has a header row only")
    return problems


def _scan_file(path: Path) -> tuple[list[str], list[str]]:
    """The header row and the problems with the file's layout.

    pandas guesses rather than fails on rows whose field count differs from the header's: one
    extra field on every row turns the first column into the index and shifts every column
    name onto its neighbour's values, and short rows become missing values. The csv module
    counts the fields as written, so each row is checked here before pandas reads the file.
    """
    _check_not_binary(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = _header_row(path, reader)
            delimiter = _other_delimiter(header)
            if delimiter is not None:
                return header, [
                    f"{path} is {delimiter}-delimited (its header row {header[0]!r} is a single "
                    "column); only comma-delimited CSV files are accepted"
                ]
            # A header on one line (quoted or not) is followed by the rows' lines.
            plain = _plain_counts(path, len(header)) if reader.line_num == 1 else None
            counts = plain or _count_rows(path, reader, header)
    except UnicodeDecodeError as error:
        raise DataValidationError([f"{path} is not a UTF-8 CSV file: {error}"]) from None
    return header, _layout_problems(path, header, counts)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _pandas_names(header: list[str]) -> list[str]:
    """The header as pandas names it: a blank name is ``Unnamed: <position from 0>``.

    That is what a row index written by ``to_csv`` without ``index=False`` looks like once
    read, so the identifier check can name it and exclude_columns can drop it.
    """
    return [name if name.strip() else f"Unnamed: {n}" for n, name in enumerate(header)]


def _check_header(path: Path, header: list[str]) -> list[str]:
    problems = []
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        problems.append(f"{path}: duplicate column names {_quoted(duplicates)}")
    if all(_is_number(name) for name in header):
        problems.append(
            f"{path}: the first row {_show(header, 3)} looks like data, not column names; "
            "a header row is required"
        )
    return problems


def _column_changes(expected: Sequence[str], header: Sequence[str]) -> str:
    """``missing 'a'; unexpected 'b'``, or "" if ``header`` has the expected columns."""
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    return "; ".join(
        f"{what} {_quoted(columns)}"
        for what, columns in (("missing", missing), ("unexpected", extra))
        if columns
    )


def _column_differences(files: Sequence[Path], headers: dict[Path, list[str]]) -> list[str]:
    """One problem per file whose columns differ from the first file's (their order may)."""
    first, expected = files[0], headers[files[0]]
    # A header read with the wrong delimiter is one long name; comparing it would only add noise.
    if any(_other_delimiter(header) for header in headers.values()):
        return []
    problems = []
    for path in files[1:]:
        changes = _column_changes(expected, headers[path])
        if changes:
            problems.append(f"{path} has different columns than {first}: {changes}")
    return problems


def _read_all(files: Sequence[Path], **options: object) -> list[pd.DataFrame]:
    frames, problems = [], []
    for path in files:
        try:
            # pandas warns of a column whose chunks it typed differently; _read_frames re-reads
            # every such column as text, so the warning would only alarm.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.DtypeWarning)
                # The scan has rejected ragged rows; index_col=False is the guard should one
                # slip through, since pandas would otherwise shift every column by one without
                # a word.
                frames.append(pd.read_csv(path, encoding="utf-8-sig", index_col=False, **options))
        except (ValueError, UnicodeDecodeError) as error:  # ParserError is a ValueError
            problems.append(f"{path} is not a readable CSV file: {error}".strip())
    if problems:
        raise DataValidationError(problems)
    return frames


def _text_columns(frames: Sequence[pd.DataFrame]) -> list[str]:
    """The columns that pandas did not read as numbers or booleans in at least one file."""
    found = {
        str(name): None
        for frame in frames
        for name in frame.columns
        if not ptypes.is_numeric_dtype(frame[name].dtype)
    }
    return list(found)


def _read_frames(files: Sequence[Path]) -> list[pd.DataFrame]:
    """The files as data frames, with every column that holds text in any file read as text.

    pandas types a column chunk by chunk and file by file, so a column of codes with a few
    letters comes back as numbers where a chunk or file holds none ("007" as 7) and as text
    elsewhere. Re-reading those columns (only those, and only when there are any) as text
    keeps every value as written, at the cost of a second parse of such files.
    """
    frames = _read_all(files)
    text = _text_columns(frames)
    if not text:
        return frames
    texts = _read_all(files, usecols=text, dtype=str)
    return [
        frame.assign(**{str(name): column for name, column in as_text.items()})
        for frame, as_text in zip(frames, texts, strict=True)
    ]


def read_input(files: Sequence[Path]) -> pd.DataFrame:
    """Concatenate the CSV files, which must all have a header row with the same columns.

    The result is indexed by ``(file, data row)``, so later checks can say where a value is.
    """
    scans = {path: _scan_file(path) for path in files}
    headers = {path: _pandas_names(header) for path, (header, _) in scans.items()}
    problems = [
        problem
        for path, (_, layout) in scans.items()
        for problem in [*layout, *_check_header(path, headers[path])]
    ]
    problems += _column_differences(files, headers)
    if problems:
        raise DataValidationError(problems)
    frames = _read_frames(files)
    # Columns are aligned by name, so files may order them differently; the first file's
    # order is the output order.
    first, expected = files[0], headers[files[0]]
    data = pd.concat(frames, keys=[str(path) for path in files], names=["file", "row"])[expected]
    if data.empty:
        where = f"{first}" if len(files) == 1 else f"any of the {len(files)} files"
        raise DataValidationError([f"no data rows: {where} has a header row only"])
    return data


def parse_labels(values: pd.Series) -> tuple[pd.Series, list[object]]:
    """Map a label column to 0/1 and return it with the distinct values that are not binary.

    Accepted: 0 and 1 (also as 0.0/1.0 or text), booleans, and "true"/"false" in any case.
    Missing cells map to <NA> and are not reported here (the missing-value check names them).
    """
    present = values.dropna()
    if ptypes.is_bool_dtype(present.dtype):
        return values.astype("Int8"), []
    if ptypes.is_numeric_dtype(present.dtype):
        numeric = present.astype("float64")
    else:
        text = present.astype(str).str.strip().str.lower()
        numeric = pd.to_numeric(text, errors="coerce")
        words = text.map(_TRUE_WORDS)
        numeric = numeric.where(words.isna(), words.astype("float64"))
    binary = numeric.isin([0.0, 1.0])
    offending = list(dict.fromkeys(present[~binary].tolist()))
    return numeric.where(binary).reindex(values.index).astype("Int8"), offending


def _location(index: pd.Index, position: int) -> str:
    """Where the row at ``position`` came from, for a frame indexed like ``read_input``'s."""
    label = index[position]
    if isinstance(label, tuple) and len(label) == 2:
        path, row = label
        return f"data row {int(row) + 1} of {path}"
    return f"data row {position + 1}"


def _scalar(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def split_sizes(rows: int, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    """``(validation rows, test rows)``, both rounded against the total row count.

    Whole numbers are handed to ``train_test_split``: a relative float fraction for the second
    split (``v / (1 - t)``) carries a rounding error that ``ceil`` can turn into one extra row.
    """
    return round(validation_fraction * rows), round(test_fraction * rows)


def min_rows_per_class(validation_fraction: float, test_fraction: float) -> int:
    """Rows of each class that guarantee every split at least one row of that class.

    A stratified split gives a class about ``count * share`` rows of a split, so the smallest
    share times the class count must reach one row. (Checked exhaustively against
    ``split_dataset`` for fractions on a 0.05 grid and randomly elsewhere.)
    """
    smallest_share = min(
        validation_fraction, test_fraction, 1 - validation_fraction - test_fraction
    )
    # The tolerance keeps 1 / 0.2 = 5.000000000000001 from demanding a sixth row.
    return math.ceil(1 / smallest_share - 1e-9)


def _check_label_column(data: pd.DataFrame, label_column: str) -> None:
    """Raise if the label column is missing, with a close name as a hint.

    Raised on its own: the features are the columns besides the label, so nothing else can be
    checked without it.
    """
    if label_column in data.columns:
        return
    found = [str(c) for c in data.columns]
    close = difflib.get_close_matches(label_column, found, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DataValidationError(
        [f"label column {label_column!r} is missing; columns found: {_quoted(found)}." + hint]
    )


def _feature_count_problems(features: pd.DataFrame, label_column: str) -> list[str]:
    if features.shape[1] == 0:
        return [f"there are no feature columns besides the label column {label_column!r}"]
    return []


def _missing_counts(data: pd.DataFrame) -> pd.Series:
    """Missing cells per column that has any, the label column included."""
    missing = data.isna().sum()
    return missing[missing > 0]


def _missing_label_problems(missing: pd.Series, label_column: str, rows: int) -> list[str]:
    """Missing features are data XGBoost handles natively (it learns where they go); a row
    without a label is not."""
    if label_column not in missing:
        return []
    return [
        f"label column {label_column!r} has {missing[label_column]} missing value(s) (empty, "
        f"NA, NaN or null cells) of {rows} rows; every row needs a label, so drop or fill them"
    ]


def _float_columns(features: pd.DataFrame) -> list[str]:
    """The columns that can hold infinite or out-of-range values: integers and booleans cannot."""
    return [c for c in features.columns if ptypes.is_float_dtype(features[c].dtype)]


def _infinite_problems(features: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    infinite = {c: int(np.isinf(features[c].to_numpy()).sum()) for c in columns}
    infinite = {c: n for c, n in infinite.items() if n}
    if not infinite:
        return []
    counts = ", ".join(f"{name!r} ({count})" for name, count in infinite.items())
    return [f"infinite values in column(s) {counts}"]


def _float32_problems(features: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    too_large = _too_large_for_float32(features, columns)
    if not too_large:
        return []
    return [
        f"values beyond the float32 range XGBoost computes in (magnitude above "
        f"{_FLOAT32_MAX:.7g}) in column(s) {', '.join(too_large)}"
    ]


def _constant_problems(features: pd.DataFrame) -> list[str]:
    """A problem only if every feature is constant: one constant beside others does no harm."""
    constant = _constant_columns(features)
    if constant and len(constant) == features.shape[1]:
        return [
            f"every feature column is constant, so a model can learn nothing from them: "
            f"{_listed(constant)}; check that the right data was uploaded"
        ]
    return []


def _label_problems(
    values: pd.Series,
    label_column: str,
    label_missing: bool,
    fractions: tuple[float, float],
    positive_class: str | None = None,
) -> tuple[pd.Series, list[str]]:
    """The labels as 0/1 and their problems.

    Classes are counted only when every label is 0 or 1: a label that is not, or is missing,
    would make the counts wrong and is reported on its own.
    """
    labels, problem = binary_labels(values, label_column, positive_class)
    if problem:
        return labels, [problem]
    if label_missing:
        return labels, []
    return labels, _class_count_problems(labels, label_column, *fractions)


def binary_labels(
    values: pd.Series, label_column: str, positive_class: str | None
) -> tuple[pd.Series, str | None]:
    """The labels as 0/1 (<NA> where missing) and, when they cannot be, why.

    With ``positive_class`` the column may hold any two values ("Yes"/"No",
    "malignant"/"benign", 1/2): that one is 1, the other 0. Without it, only labels whose
    positive class is plain are accepted: 0/1, booleans and true/false.
    """
    if positive_class is not None:
        return _labels_by_positive_class(values, label_column, positive_class)
    labels, offending = parse_labels(values)
    if not offending:
        return labels, None
    distinct = _distinct(values)
    if len(distinct) == 2:
        return labels, (
            f"label column {label_column!r} holds two values, {_show(distinct)}, and neither "
            "is 0/1 or true/false, so which one is the positive class is ambiguous; name it "
            "with positive_class (cdk.json, per environment) or --positive-class (local run)"
        )
    return labels, (
        f"label column {label_column!r} is not binary: accepted values are 0/1, true/false, "
        f"booleans, or any two values with positive_class set; found {len(distinct)} "
        f"distinct values: {_show(distinct)}"
    )


def _distinct(values: pd.Series) -> list[object]:
    return list(dict.fromkeys(values.dropna().tolist()))


def _labels_by_positive_class(
    values: pd.Series, label_column: str, positive_class: str
) -> tuple[pd.Series, str | None]:
    distinct = _distinct(values)
    if len(distinct) > 2:
        return values.isna().astype("Int8"), (
            f"label column {label_column!r} holds {len(distinct)} distinct values, "
            f"{_show(distinct)}; a binary classifier needs exactly two"
        )
    positive = _is_positive(values.dropna(), positive_class)
    if not positive.any():
        return values.isna().astype("Int8"), (
            f"positive_class {positive_class!r} is not a value of label column "
            f"{label_column!r}; found {_show(distinct)}"
        )
    labels = positive.astype("int8").reindex(values.index).astype("Int8")
    return labels, None


def _is_positive(present: pd.Series, positive_class: str) -> pd.Series:
    """Whether each label is ``positive_class``, compared as text (1 and "1" match, and a
    numeric column also matches numerically, so "1" names 1.0)."""
    text = present.astype(str).str.strip()
    matches = text == positive_class.strip()
    if ptypes.is_numeric_dtype(present.dtype) and not ptypes.is_bool_dtype(present.dtype):
        number = pd.to_numeric(pd.Series([positive_class]), errors="coerce").iloc[0]
        if pd.notna(number):
            matches |= present.astype("float64") == float(number)
    elif ptypes.is_bool_dtype(present.dtype):
        matches = text.str.lower() == positive_class.strip().lower()
    return matches


# Names that say a column identifies a row rather than describes it: id, index, rownames (R),
# "Unnamed: 0" (a pandas index written with to_csv), row_id, customer_id, "Order ID"...
_IDENTIFIER_NAME = re.compile(
    r"^(ids?|idx|index|rownames?|row[ _.-]?(ids?|num|number|index|name)|unnamed: ?\d+)$"
    r"|(^|[ _.-])ids?$",
    re.IGNORECASE,
)
# Fewer rows than this and a short run of distinct whole numbers is no evidence of row numbers.
_MIN_ROWS_FOR_ROW_NUMBERS = 10


def _excluded(
    data: pd.DataFrame, label_column: str, exclude_columns: Sequence[str]
) -> tuple[pd.DataFrame, list[str]]:
    """``data`` without the columns the user excluded, and the problems with that list."""
    problems = []
    unknown = [name for name in exclude_columns if name not in data.columns]
    if unknown:
        problems.append(
            f"exclude_columns names column(s) the data does not have: {_quoted(unknown)}; "
            f"columns found: {_quoted([str(c) for c in data.columns])}"
        )
    if label_column in exclude_columns:
        problems.append(
            f"exclude_columns names the label column {label_column!r}; it cannot be excluded"
        )
    dropped = [name for name in exclude_columns if name in data.columns and name != label_column]
    return data.drop(columns=dropped), problems


def _identifier_problems(features: pd.DataFrame) -> list[str]:
    """Columns that identify rows: a model would learn the row order, not the data (a leak)."""
    found = [
        f"{name!r} ({reason})"
        for name in features.columns
        if (reason := _identifier_reason(str(name), features[name]))
    ]
    if not found:
        return []
    return [
        f"column(s) that identify rows rather than describe them: {_listed(found)}; a model "
        f"trained on them learns the row order, not the data; {_DROP_HINT}"
    ]


def _has_identifier_name(name: str) -> bool:
    return bool(_IDENTIFIER_NAME.search(name.strip()))


def _identifier_reason(name: str, column: pd.Series) -> str | None:
    if _has_identifier_name(name):
        return "an identifier's name"
    if _is_row_number(column):
        return "distinct whole numbers in one run, like row numbers"
    return None


def _is_row_number(column: pd.Series) -> bool:
    """Distinct whole numbers with no gap, e.g. 0..n-1 or 1..n (in any order)."""
    if len(column) < _MIN_ROWS_FOR_ROW_NUMBERS or not ptypes.is_numeric_dtype(column.dtype):
        return False
    if ptypes.is_bool_dtype(column.dtype) or column.isna().any():
        return False
    values = column.to_numpy(dtype=np.float64)
    # Infinite values are reported on their own; they are no row numbers.
    if not np.isfinite(values).all() or not np.array_equal(values, np.round(values)):
        return False
    # The range first: it rules out nearly every real column without sorting a million values.
    if values.max() - values.min() + 1 != len(values):
        return False
    return len(np.unique(values)) == len(values)


# A text column is categorical unless its values show it is something else; shares are of the
# column's non-missing values.
# Numbers with at most one text value in ten are a numeric column whose export wrote a
# missing-value marker ("?", "-", "n/a", " ") instead of an empty cell. A column of codes or
# words holds far more text than that.
_MIN_NUMBER_SHARE = 0.9
# A category is worth learning only if it recurs. When more than half the values are distinct
# (a value appears fewer than twice on average) the column identifies rows (names, ticket or
# order numbers, e-mail addresses) or holds free text; below 20 values the share says nothing.
# Past 10,000 distinct values a column is an identifier however often each recurs (customers,
# products), and XGBoost's categorical splits over that many categories are slow and overfit.
_MIN_VALUES_FOR_DISTINCT_SHARE = 20
_MAX_DISTINCT_SHARE = 0.5
_MAX_CATEGORIES = 10_000


class _Typed(NamedTuple):
    """A text column typed: numbers, or text with each value as a number (NaN if not one)."""

    values: pd.Series
    numbers: pd.Series | None = None  # None: the values are numbers


def _as_text(column: pd.Series) -> pd.Series:
    """Each value as text, NaN where missing; an empty string is missing, as an empty cell is."""
    text = column.astype(str).where(column.notna())
    return text.where(text != "")


def _typed(column: pd.Series) -> _Typed:
    """A text column as 0/1 if it holds only true/false, as numbers if only numbers, else text.

    pandas reads a column of true/false with missing cells, and numbers too large for 64 bits,
    as text; they stay what they are.
    """
    text = _as_text(column)
    present = text.dropna()
    words = text.str.strip().str.lower()
    if len(present) and words.dropna().isin(list(_TRUE_WORDS)).all():
        return _Typed(words.map(_TRUE_WORDS).astype("Int8"))
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.count() == len(present):
        return _Typed(numbers.astype("float64"))
    return _Typed(text, numbers)


def _typed_features(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The features with their text columns typed (see ``_typed``), and the problems of the
    text columns that cannot be categories.

    Only columns pandas read as text are looked at, cell by cell; a numeric column costs a
    look at its type.
    """
    typed = {
        name: _typed(features[name])
        for name in features.columns
        if not ptypes.is_numeric_dtype(features[name].dtype)
    }
    if not typed:
        return features, []
    features = features.copy()
    for name, column in typed.items():
        features[name] = column.values
    # A column named like an identifier is refused as one; more reasons would only add noise.
    text = {
        str(name): column
        for name, column in typed.items()
        if column.numbers is not None and not _has_identifier_name(str(name))
    }
    return features, _text_problems(text, features.index)


def _text_problems(columns: dict[str, _Typed], index: pd.Index) -> list[str]:
    marked = {name: column for name, column in columns.items() if _mostly_numbers(column)}
    categories = {name: c.values for name, c in columns.items() if name not in marked}
    return [
        *_marker_problems(marked, index),
        *_cardinality_problems(categories),
        *_carriage_return_problems(categories, index),
    ]


def _mostly_numbers(column: _Typed) -> bool:
    assert column.numbers is not None
    return bool(column.numbers.count() >= _MIN_NUMBER_SHARE * column.values.count())


def _marker_problems(columns: dict[str, _Typed], index: pd.Index) -> list[str]:
    if not columns:
        return []
    found = [_markers(name, column, index) for name, column in columns.items()]
    return [
        f"column(s) of numbers that also hold text, most likely a missing-value marker: "
        f"{_listed(found)}; an empty cell is the missing-value marker the pipeline "
        f"understands, so write missing values as empty cells in the export, or {_DROP_HINT}"
    ]


def _markers(name: str, column: _Typed, index: pd.Index) -> str:
    """``'name' (N of M values are not numbers: 'token' (count), ...; the first in ...)``."""
    assert column.numbers is not None
    not_number = column.values.notna() & column.numbers.isna()
    counts = column.values[not_number].value_counts(sort=False)
    # Most frequent first, ties in order of appearance, whatever pandas' sort does with ties.
    tokens = sorted(counts.items(), key=lambda item: -int(item[1]))
    shown = ", ".join(f"{_clip(str(t))!r} ({int(n)})" for t, n in tokens[:_MAX_SHOWN_VALUES])
    more = f", ... ({len(tokens)} distinct)" if len(tokens) > _MAX_SHOWN_VALUES else ""
    first = int(np.argmax(not_number.to_numpy()))
    return (
        f"{name!r} ({int(not_number.sum())} of {column.values.count()} values are not "
        f"numbers: {shown}{more}; the first in {_location(index, first)})"
    )


def _too_many_categories(values: pd.Series) -> bool:
    present, distinct = values.count(), values.nunique()
    if distinct > _MAX_CATEGORIES:
        return True
    return bool(
        present >= _MIN_VALUES_FOR_DISTINCT_SHARE and distinct > _MAX_DISTINCT_SHARE * present
    )


def _cardinality_problems(columns: dict[str, pd.Series]) -> list[str]:
    found = [
        f"{name!r} ({values.nunique()} distinct of {values.count()} values, e.g. "
        f"{_clip(str(values.dropna().iloc[0]))!r})"
        for name, values in columns.items()
        if _too_many_categories(values)
    ]
    if not found:
        return []
    return [
        f"text column(s) with too many distinct values to be categories: {_listed(found)}; "
        "such a column identifies rows or holds free text, and a model cannot learn from "
        f"values that barely recur; {_DROP_HINT}"
    ]


def _carriage_return_problems(columns: dict[str, pd.Series], index: pd.Index) -> list[str]:
    """Values with a carriage return not followed by a line feed.

    The csv module quotes a value only for the characters of its line terminator (a line
    feed here), so such a value would be written unquoted and read back as two rows.
    """
    found = []
    for name, values in columns.items():
        without_crlf = values.str.replace("\r\n", "", regex=False)
        lone = without_crlf.str.contains("\r", regex=False, na=False).astype(bool)
        if lone.any():
            first = int(np.argmax(lone.to_numpy()))
            found.append(
                f"{name!r} ({int(lone.sum())} value(s), e.g. {_clip(str(values.iloc[first]))!r} "
                f"in {_location(index, first)})"
            )
    if not found:
        return []
    return [
        "text value(s) holding a carriage return (\\r) without a line feed, which the split "
        f"CSV files cannot keep intact: {_listed(found)}; remove or replace it in the export"
    ]


def validate_frame(
    data: pd.DataFrame,
    label_column: str,
    validation_fraction: float,
    test_fraction: float,
    *,
    positive_class: str | None = None,
    exclude_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, Labels]:
    """Check the data frame and return ``(features, labels)``; raise with every problem found.

    ``exclude_columns`` are dropped first, everywhere: they are neither checked nor trained on.
    The features come back typed: the text columns left are the categorical ones, holding
    their values as text (see ``feature_types``); all others are numeric.
    """
    validate_fractions(validation_fraction, test_fraction)
    _check_label_column(data, label_column)
    data, problems = _excluded(data, label_column, exclude_columns)
    features = data.drop(columns=[label_column])
    problems += _feature_count_problems(features, label_column)
    features, text_problems = _typed_features(features)
    problems += _identifier_problems(features)
    missing = _missing_counts(data)
    problems += _missing_label_problems(missing, label_column, len(data))
    problems += text_problems
    floats = _float_columns(features)
    problems += _infinite_problems(features, floats)
    problems += _float32_problems(features, floats)
    problems += _constant_problems(features)
    labels, label_problems = _label_problems(
        data[label_column],
        label_column,
        label_column in missing,
        (validation_fraction, test_fraction),
        positive_class,
    )
    problems += label_problems
    if problems:
        raise DataValidationError(problems)
    return features, labels.to_numpy(dtype=np.int8)


def _too_large_for_float32(features: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """``'name' (count, e.g. value in row)`` for each column holding finite values too large."""
    found = []
    for name in columns:
        values = features[name].to_numpy(dtype=np.float64, na_value=np.nan)
        outside = np.isfinite(values) & (np.abs(values) > _FLOAT32_MAX)
        if outside.any():
            first = int(np.argmax(outside))
            found.append(
                f"{name!r} ({int(outside.sum())} value(s), e.g. {float(values[first])!r} in "
                f"{_location(features.index, first)})"
            )
    return found


def _constant_columns(features: pd.DataFrame) -> list[str]:
    """``'name' (always value)`` for each column with a single value (missing counts as one)."""
    return [
        f"{name!r} (always {_scalar(features[name].iloc[0])!r})"
        for name in features.columns
        if features[name].nunique(dropna=False) <= 1
    ]


def _class_count_problems(
    labels: pd.Series, label_column: str, validation_fraction: float, test_fraction: float
) -> list[str]:
    counts = {cls: int((labels == cls).sum()) for cls in (0, 1)}
    present = ", ".join(f"{n} row(s) with {label_column}={cls}" for cls, n in counts.items())
    if min(counts.values()) == 0:
        only = next(cls for cls, n in counts.items() if n)
        return [
            f"label column {label_column!r} has a single class: all {counts[only]} rows are "
            f"{only}; a binary classifier needs rows of both classes 0 and 1"
        ]
    needed = min_rows_per_class(validation_fraction, test_fraction)
    if min(counts.values()) < needed:
        return [
            "too few rows to split: train, validation and test must each get at least one row "
            f"of each class, which with validation fraction {validation_fraction} and test "
            f"fraction {test_fraction} needs at least {needed} rows of each class "
            f"({2 * needed} in total); found {present}"
        ]
    return []


def split_dataset(
    features: pd.DataFrame,
    labels: Labels,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    label_column: str,
) -> dict[str, pd.DataFrame]:
    """Stratified, seeded train/validation/test split.

    Each frame holds the label as 0/1 in its first column, named ``label_column``, then the
    features under their own names (none is the label's: the label is not a feature).
    """
    # Booleans become 0/1, as the contract writes them; nullable ones keep their missing cells.
    numbers = features.astype(
        {
            c: "Int8" if isinstance(features[c].dtype, pd.BooleanDtype) else "int8"
            for c in features.columns
            if ptypes.is_bool_dtype(features[c].dtype)
        }
    )
    rows = np.arange(len(labels))
    validation_rows, test_rows = split_sizes(len(rows), validation_fraction, test_fraction)
    rest, test = train_test_split(rows, test_size=test_rows, stratify=labels, random_state=seed)
    train, validation = train_test_split(
        rest, test_size=validation_rows, stratify=labels[rest], random_state=seed
    )
    splits: dict[str, pd.DataFrame] = {}
    for name, index in zip(SPLITS, (train, validation, test), strict=True):
        part = numbers.iloc[index].reset_index(drop=True)
        label = pd.Series(labels[index], name=label_column)
        splits[name] = pd.concat([label, part], axis="columns")
    short = [
        f"{name} has 0 row(s) of class {cls}"
        for name, part in splits.items()
        for cls in (0, 1)
        if not (part.iloc[:, 0] == cls).any()
    ]
    if short:
        raise DataValidationError(
            [f"too few rows to split with each class in every split: {'; '.join(short)}"]
        )
    return splits


def class_texts(values: pd.Series, labels: Labels) -> tuple[str, str]:
    """``(positive, negative)``: the label values as text, stripped, as the input holds them.

    A class spelled more than one way (1 and "true") is named by its first row's spelling.
    pandas has read 0/1 as numbers (1 is "1", 1.0 is "1.0") and true/false in any case as
    booleans ("True", "False").
    """
    positive, negative = (
        str(_scalar(values.iloc[int(np.argmax(labels == cls))])).strip() for cls in (1, 0)
    )
    return positive, negative


def feature_types(features: pd.DataFrame) -> list[dict[str, str]]:
    """``[{"name": ..., "type": "numeric" | "categorical"}]`` of validated features: the text
    columns left after ``validate_frame`` are the categorical ones."""
    return [
        {
            "name": str(name),
            "type": NUMERIC if ptypes.is_numeric_dtype(features[name].dtype) else CATEGORICAL,
        }
        for name in features.columns
    ]


def build_schema(
    label_column: str,
    classes: tuple[str, str],
    exclude_columns: Sequence[str],
    features: pd.DataFrame,
) -> dict[str, object]:
    """``schema.json``'s content (docs/model-contract.md, section 1)."""
    positive, negative = classes
    return {
        "format_version": SCHEMA_FORMAT_VERSION,
        "label_column": label_column,
        "positive_class": positive,
        "negative_class": negative,
        "excluded_columns": list(exclude_columns),
        "features": feature_types(features),
    }


def write_outputs(
    splits: dict[str, pd.DataFrame], out_dirs: dict[str, Path], schema: dict[str, object]
) -> None:
    """``<split>.csv`` and ``schema.json`` in each split's folder.

    pandas writes a float as its shortest repr, which reads back as the same float, and the
    csv module quotes a name or value that holds a comma, a quote or a line feed; a missing
    value is an empty cell.
    """
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    for name, frame in splits.items():
        out_dirs[name].mkdir(parents=True, exist_ok=True)
        write_csv(frame, out_dirs[name] / f"{name}.csv")
        (out_dirs[name] / SCHEMA_FILE).write_text(text, encoding="utf-8")


# Rows joined into text at a time by write_csv: their text is held in memory at once.
_WRITE_ROWS = 50_000
# Characters for which the csv module may quote a value (the delimiter, the quote character,
# line breaks); any other text is written as it is.
_QUOTE_CHARS = re.compile(r'[,"\r\n]')

# A column's cells from one row to another (``cells(start, stop)``), as write_csv writes them.
_Cells = Callable[[int, int], list[str]]


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv(path, index=False, lineterminator="\\n")``: the same bytes, faster.

    pandas formats each float with NumPy's shortest repr, then hands the rows to the csv
    module. Here a number column is formatted as pandas formats it (a float64 as Python's
    ``repr``, which is NumPy's shortest repr; an integer as ``str``; a missing value as an
    empty cell), each distinct value once, since formatting is most of the cost and columns
    repeat values; text goes through the csv module only where it may need quotes; rows are
    joined with commas a block at a time. A frame with a column of any other type is
    written by pandas itself.
    """
    columns = [_column_cells(frame.iloc[:, n]) for n in range(frame.shape[1])]
    if any(cells is None for cells in columns):
        frame.to_csv(
            path, index=False, encoding="utf-8", lineterminator="\n", quoting=csv.QUOTE_MINIMAL
        )
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow([str(name) for name in frame.columns])
        for start in range(0, len(frame), _WRITE_ROWS):
            stop = start + _WRITE_ROWS
            block = [cells(start, stop) for cells in columns if cells is not None]
            handle.write("\n".join(map(",".join, zip(*block, strict=True))) + "\n")


def _column_cells(column: pd.Series) -> _Cells | None:
    """How ``write_csv`` writes the column, or None if pandas must."""
    dtype = column.dtype
    if dtype == np.float64:
        values = column.to_numpy()
        return _coded_cells(values, np.isnan(values), repr)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return _coded_cells(column.to_numpy(), None, str)
    if isinstance(dtype, pd.Int8Dtype):
        values = column.to_numpy(dtype=np.int64, na_value=0)
        return _coded_cells(values, column.isna().to_numpy(), str)
    if (ptypes.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)) and _all_text(column):
        texts = column.astype(object).where(column.notna(), "")
        return lambda start, stop: _text_cells(texts.iloc[start:stop].tolist())
    return None


def _coded_cells(
    values: npt.NDArray[Any], missing: npt.NDArray[np.bool_] | None, text: Callable[[Any], str]
) -> _Cells:
    """Cells of ``text(value)`` (empty where ``missing``), each distinct value formatted once.

    Floats are told apart by their bits, since -0.0 == 0.0 but is written "-0.0".
    """
    keys = values.view(np.int64) if values.dtype == np.float64 else values
    # factorize hashes (np.unique would sort): codes in order of first appearance.
    codes, distinct = pd.factorize(keys)
    texts = np.array([*map(text, distinct.view(values.dtype).tolist()), ""], dtype=object)
    codes = codes.astype(np.int32 if len(values) < 2**31 else np.int64)
    if missing is not None:
        codes[missing] = len(distinct)
    return lambda start, stop: texts[codes[start:stop]].tolist()  # type: ignore[no-any-return]


def _all_text(column: pd.Series) -> bool:
    present = column.dropna()
    return bool(present.map(type).eq(str).all())


def _text_cells(values: list[str]) -> list[str]:
    return [
        value if _QUOTE_CHARS.search(value) is None else _quoted_cell(value) for value in values
    ]


def _quoted_cell(value: str) -> str:
    """The value as the csv module writes it in a row (quoted if it must be)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([value, ""])
    return buffer.getvalue()[: -len(",\n")]


def _summary(name: str, frame: pd.DataFrame) -> str:
    positives = int(frame.iloc[:, 0].sum())
    return f"{name} {len(frame)} ({positives} positive)"


def _validated_input(
    input_dir: Path,
    label_column: str,
    fractions: tuple[float, float],
    *,
    positive_class: str | None,
    exclude_columns: Sequence[str],
) -> tuple[pd.DataFrame, Labels, dict[str, object]]:
    """The input's features, labels and ``schema.json``; the frame as read is freed on return."""
    files = find_csv_files(input_dir)
    data = read_input(files)
    print(f"Read {len(data)} rows x {data.shape[1]} columns from {len(files)} CSV file(s)")
    features, labels = validate_frame(
        data,
        label_column,
        *fractions,
        positive_class=positive_class,
        exclude_columns=exclude_columns,
    )
    classes = class_texts(data[label_column], labels)
    return features, labels, build_schema(label_column, classes, exclude_columns, features)


def run(
    *,
    input_dir: Path,
    out_dirs: dict[str, Path],
    label_column: str,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    positive_class: str | None = None,
    exclude_columns: Sequence[str] = (),
) -> dict[str, pd.DataFrame]:
    """Validate everything before writing anything, so a failed run leaves no partial output."""
    validate_fractions(validation_fraction, test_fraction)
    features, labels, schema = _validated_input(
        input_dir,
        label_column,
        (validation_fraction, test_fraction),
        positive_class=positive_class,
        exclude_columns=exclude_columns,
    )
    splits = split_dataset(
        features, labels, validation_fraction, test_fraction, seed, label_column=label_column
    )
    # The splits hold copies of every row: the input's frames go before writing, whose own
    # memory then comes on top of the splits' alone.
    del features
    write_outputs(splits, out_dirs, schema)
    print("Split: " + ", ".join(_summary(name, frame) for name, frame in splits.items()))
    return splits


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--input-dir",
        type=Path,
        default=DEFAULT_INPUT_DIR,
        help="folder read recursively for comma-delimited table data with a header row, "
        "judged by content whatever the file names (hidden files skipped), or one CSV file",
    )
    for name, default in (
        ("train", DEFAULT_TRAIN_DIR),
        ("validation", DEFAULT_VALIDATION_DIR),
        ("test", DEFAULT_TEST_DIR),
    ):
        parser.add_argument(
            f"--{name}-dir",
            type=Path,
            default=default,
            help=f"folder for {name}.csv (header row, label first as 0/1, then the features; "
            "numbers, categorical text, empty cells for missing values) and schema.json",
        )
    parser.add_argument(
        "--label-column",
        default="label",
        help="the column to predict; it must hold two values (see --positive-class)",
    )
    parser.add_argument(
        "--positive-class",
        default="",
        help="the label value that is the positive class (1); needed unless the labels are "
        "0/1 or true/false (empty: not set)",
    )
    parser.add_argument(
        "--exclude-columns",
        default="",
        help="comma-separated columns to drop before anything else, e.g. identifiers or free "
        "text (empty: none); a feature column of text is categorical, unless it has too many "
        "distinct values to be categories",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.15,
        help="share of the rows for the validation split, stratified by label",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.15,
        help="share of the rows for the test split, stratified by label; train gets the rest",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="seed of the split: the same seed, the same split"
    )
    return parser


def _column_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out_dirs = {"train": args.train_dir, "validation": args.validation_dir, "test": args.test_dir}
    try:
        run(
            input_dir=args.input_dir,
            out_dirs=out_dirs,
            label_column=args.label_column,
            validation_fraction=args.validation_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
            # The pipeline passes `--positive-class=` when the environment sets none.
            positive_class=args.positive_class.strip() or None,
            exclude_columns=_column_list(args.exclude_columns),
        )
    except DataValidationError as error:
        print(f"preprocess: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
