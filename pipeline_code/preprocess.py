"""Preprocess step: validate the raw CSV data and split it into train, validation and test.

Runs as ``python3 preprocess.py`` in the SageMaker scikit-learn processing container, where it
is the only file shipped, so it imports nothing from this repository. Every input problem is
reported here, in the first step of the pipeline, with the offending column or file named,
instead of surfacing later as an opaque training-container failure.

A feature column is numeric when all its values are numbers (booleans count as 0/1) and
categorical when they are text; text columns that cannot be categories (identifiers, free
text, numbers with a text missing-value marker) are refused.

Memory does not grow with the input: the files are read twice, ``CHUNK_ROWS`` rows at a time,
first into a profile of every column (``ColumnProfile``: counts, extremes, distinct values up
to the most a categorical column may have), on which every check is made, then again to write
each row into its split (the next chunk is read in a thread while one is used, see
``_prefetched``). Where a line of the input already holds its numbers as the split files
write them, the second read copies the line's bytes rather than format the parsed values
again (``_copied_lines``): the same bytes, at a fraction of the cost. A row's split is
decided by a seeded hash of its values, not by its position (``split_codes``). So N
processing instances, each given a shard of the files (``ShardedByS3Key``), exchange their
profiles (the first instance collects and returns them, see ``_Exchange``), reach the same
verdict, and write the same splits one instance would.

Outputs, in each of ``<train-dir>``, ``<validation-dir>`` and ``<test-dir>`` (section 1 of
docs/model-contract.md):

* ``<split>.csv`` (``train.csv``, ``validation.csv``, ``test.csv``): UTF-8 with a header row;
  the label column first as 0/1, then the features under their input names and in input
  order: numbers as numbers, categorical values as their input text, a missing value as an
  empty cell. With N instances, or ``--train-parts`` above 1, each instance writes
  ``<split>-<host>.csv`` instead, and the train split as ``train-<host>-<part>.csv``.
* ``schema.json``: the label column and its two values as text, the excluded columns, and
  each feature's name and type (``numeric`` or ``categorical``); the same on every instance.
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
import queue
import re
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

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


def _line_blocks(handle: BinaryIO, size: int = _PLAIN_SCAN_BYTES) -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines, each ending with a line feed (an unended
    last line is given one)."""
    carry = b""
    while block := handle.read(size):
        cut = block.rfind(b"\n") + 1
        yield carry + block[:cut]
        carry = block[cut:] if cut else carry + block
    if carry:
        yield carry + b"\n"


def _plain_bytes(block: bytes) -> bool:
    """Whether ``block`` is UTF-8 without a quote, carriage return or NUL: bytes that the csv
    module and pandas could split into fields differently."""
    if any(mark in block for mark in (b'"', b"\r", b"\x00")):
        return False
    if block.isascii():
        return True
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _plain_lines(block: bytes, fields: int) -> int | None:
    """The number of lines of ``block`` (whole lines) if each is plainly a row of ``fields``."""
    # A blank line has no comma, so the count below finds it (``fields`` is 2 or more).
    if not _plain_bytes(block):
        return None
    separators = _separators(np.frombuffer(block, dtype=np.uint8), fields)
    if separators is None:
        return None
    longest = int(np.diff(separators[:, -1], prepend=-1).max(initial=0))
    return None if longest > csv.field_size_limit() else len(separators)


def _separators(data: npt.NDArray[np.uint8], fields: int) -> npt.NDArray[np.int64] | None:
    """Where each line's separators are, ``[line, field]``: its ``fields - 1`` commas, then
    its line feed; None unless every line of ``data`` (whole lines) has that many commas."""
    found = np.flatnonzero((data == ord(",")) | (data == ord("\n")))
    if len(found) % fields:
        return None
    separators = found.reshape(-1, fields)
    kinds = data[separators]
    if (kinds[:, :-1] != ord(",")).any() or (kinds[:, -1] != ord("\n")).any():
        return None
    return separators


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
    """Concatenate the CSV files in memory, after the checks a run makes of each file: for
    tools and tests that want the data as a frame (a run reads a chunk at a time).

    The result is indexed by ``(file, data row)``, so later checks can say where a value is.
    """
    headers, problems = _scanned(files)
    texts = [text for _, text in problems]
    readable = [path for path in files if str(path) in headers]
    texts += _column_differences(readable, _by_path(headers)) if readable else []
    if texts:
        raise DataValidationError(texts)
    frames = _read_frames(files)
    # Columns are aligned by name, so files may order them differently; the first file's
    # order is the output order.
    first, expected = files[0], headers[str(files[0])]
    data = pd.concat(frames, keys=[str(path) for path in files], names=["file", "row"])[expected]
    if data.empty:
        where = f"{first}" if len(files) == 1 else f"any of the {len(files)} files"
        raise DataValidationError([f"no data rows: {where} has a header row only"])
    return data


def _by_path(headers: dict[str, list[str]]) -> dict[Path, list[str]]:
    return {Path(path): header for path, header in headers.items()}


def _scanned(files: Sequence[Path]) -> tuple[dict[str, list[str]], list[list[str]]]:
    """Each readable file's header, and each file's problems as ``[file, problem]``."""
    headers: dict[str, list[str]] = {}
    problems: list[list[str]] = []
    for path in files:
        try:
            header, layout = _scan_file(path)
        except DataValidationError as error:
            problems += [[str(path), problem] for problem in error.problems]
            continue
        headers[str(path)] = _pandas_names(header)
        problems += [[str(path), p] for p in [*layout, *_check_header(path, headers[str(path)])]]
    return headers, problems


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


def _scalar(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def min_rows_per_class(validation_fraction: float, test_fraction: float) -> int:
    """Rows of each class that guarantee every split at least one row of that class.

    The split gives a class of up to ``EXACT_SPLIT_ROWS`` rows ``round(count * share)`` rows of
    a split (see ``exact_cuts``), so the smallest share times the class count must reach one
    row. Rows repeated in the input stay together and can still leave a split short, which the
    run reports after splitting.
    """
    smallest_share = min(
        validation_fraction, test_fraction, 1 - validation_fraction - test_fraction
    )
    # The tolerance keeps 1 / 0.2 = 5.000000000000001 from demanding a sixth row.
    return math.ceil(1 / smallest_share - 1e-9)


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


def _has_identifier_name(name: str) -> bool:
    return bool(_IDENTIFIER_NAME.search(name.strip()))


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


def _class_count_problems(
    counts: dict[int, int], label_column: str, validation_fraction: float, test_fraction: float
) -> list[str]:
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


def validate_frame(
    data: pd.DataFrame,
    label_column: str,
    validation_fraction: float,
    test_fraction: float,
    *,
    positive_class: str | None = None,
    exclude_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, Labels]:
    """Check a data frame in memory and return ``(features, labels)``; raise with every problem
    found. The same checks as a run makes, on one profile of the whole frame.

    ``exclude_columns`` are dropped first, everywhere: they are neither checked nor trained on.
    The features come back typed as the splits hold them (see ``typed_rows``).
    """
    validate_fractions(validation_fraction, test_fraction)
    header = [str(name) for name in data.columns]
    _check_label_column_named(header, label_column)
    kept = data.drop(
        columns=[c for c in data.columns if c in exclude_columns and c != label_column]
    )
    the_plan = plan(
        profile_frame(kept, label_column),
        label_column,
        (validation_fraction, test_fraction),
        positive_class=positive_class,
        exclude_columns=exclude_columns,
        header=header,
    )
    rows = typed_rows(kept.reset_index(drop=True), the_plan)
    return rows.drop(columns=[label_column]), rows[label_column].to_numpy(dtype=np.int8)


def feature_types(features: pd.DataFrame) -> list[dict[str, str]]:
    """``[{"name": ..., "type": "numeric" | "categorical"}]`` of features typed as
    ``validate_frame`` returns them: the text columns are the categorical ones."""
    return [
        {
            "name": str(name),
            "type": NUMERIC if ptypes.is_numeric_dtype(features[name].dtype) else CATEGORICAL,
        }
        for name in features.columns
    ]


def split_dataset(
    features: pd.DataFrame,
    labels: Labels,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    label_column: str,
) -> dict[str, pd.DataFrame]:
    """The rows split as a run splits them (``split_codes``), each split with the label as 0/1
    in its first column, then the features; every split must hold both classes."""
    rows = pd.concat(
        [pd.Series(labels, name=label_column, dtype=np.int8), features.reset_index(drop=True)],
        axis="columns",
    )
    fractions = (validation_fraction, test_fraction)
    hashes = row_hashes(rows, seed)
    labels = rows.iloc[:, 0].to_numpy(dtype=np.int64)
    cuts = {
        cls: exact_cuts(hashes[labels == cls], fractions)
        for cls in (0, 1)
        if (labels == cls).sum() <= EXACT_SPLIT_ROWS
    }
    codes = split_codes(hashes, labels, fractions, cuts)
    counts = np.zeros((len(SPLITS), 2), dtype=np.int64)
    np.add.at(counts, (codes.astype(np.int64), labels), 1)
    _check_split_classes(counts)
    return {name: rows[codes == n].reset_index(drop=True) for n, name in enumerate(SPLITS)}


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
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow([str(name) for name in frame.columns])
        _write_cells(handle, _frame_cells(frame), frame, 0, len(frame))


def _column_cells(column: pd.Series, known: _Texts | None = None) -> _Cells | None:
    """How ``write_csv`` writes the column, or None if pandas must."""
    dtype = column.dtype
    if dtype == np.float64:
        values = column.to_numpy()
        return _coded_cells(values, np.isnan(values), repr, known)
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
    values: npt.NDArray[Any],
    missing: npt.NDArray[np.bool_] | None,
    text: Callable[[Any], str],
    known: _Texts | None = None,
) -> _Cells:
    """Cells of ``text(value)`` (empty where ``missing``), each distinct value formatted once
    (and once per run with ``known``, the texts of earlier chunks of the column).

    Floats are told apart by their bits, since -0.0 == 0.0 but is written "-0.0".
    """
    keys = values.view(np.int64) if values.dtype == np.float64 else values
    # factorize hashes (np.unique would sort): codes in order of first appearance.
    codes, distinct = pd.factorize(keys)
    formatted = (
        known.texts(distinct, values.dtype, text)
        if known is not None
        else list(map(text, distinct.view(values.dtype).tolist()))
    )
    texts = np.array([*formatted, ""], dtype=object)
    codes = codes.astype(np.int32 if len(values) < 2**31 else np.int64)
    if missing is not None:
        codes[missing] = len(distinct)
    return lambda start, stop: texts[codes[start:stop]].tolist()  # type: ignore[no-any-return]


# Formatted values the split writer keeps between chunks, over all columns (about 70 MB).
_KNOWN_TEXTS = 1_000_000


class _Texts:
    """A column's formatted values from one chunk to the next: a run's chunks share most of
    their distinct values (a measurement rounded to a few decimals), and formatting a float is
    most of the cost of writing it. Keeps at most ``limit`` values."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.keys = pd.Index([], dtype=np.int64)
        self.known: npt.NDArray[Any] = np.array([], dtype=object)

    def texts(
        self, distinct: npt.NDArray[Any], dtype: np.dtype[Any], text: Callable[[Any], str]
    ) -> list[str]:
        found = self.keys.get_indexer(distinct) if len(self.keys) else np.full(len(distinct), -1)
        result = np.empty(len(distinct), dtype=object)
        hit = found >= 0
        result[hit] = self.known[found[hit]]
        new = np.flatnonzero(~hit)
        fresh = list(map(text, distinct[new].view(dtype).tolist()))
        result[new] = fresh
        room = self.limit - len(self.keys)
        if room > 0 and len(new):
            self.keys = self.keys.append(pd.Index(distinct[new[:room]], dtype=np.int64))
            self.known = np.concatenate([self.known, np.array(fresh[:room], dtype=object)])
        return result.tolist()  # type: ignore[no-any-return]


def _all_text(column: pd.Series) -> bool:
    # Not present.map(type): pandas 3 types the map of no values (all missing) as text,
    # which cannot be compared with a type.
    return all(type(value) is str for value in column.dropna().tolist())


def _text_cells(values: list[str]) -> list[str]:
    return [
        value if _QUOTE_CHARS.search(value) is None else _quoted_cell(value) for value in values
    ]


def _quoted_cell(value: str) -> str:
    """The value as the csv module writes it in a row (quoted if it must be)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([value, ""])
    return buffer.getvalue()[: -len(",\n")]


# --------------------------------------------------------------------------------------------
# Column profiles: what every check needs, summed chunk by chunk, file by file and instance by
# instance. Every merge is free of order (counts add; a "first" is the one at the smallest
# (file, row)), so one instance reading every file and N instances reading a shard each reach
# the same verdict, and memory holds a chunk and the summaries, never the data.
# --------------------------------------------------------------------------------------------

# Where a value is: (file, data row from 0). A frame not read from files has the file "" and
# the row is the position.
Location = tuple[str, int]
# One more distinct value than a categorical column may have: a column past the limit is known
# to be past it without holding every value of an identifier column.
_MAX_TRACKED = _MAX_CATEGORIES + 1
_MOD64 = 2**64
_EXACT_INTEGERS = 2.0**53
_WORDS = list(_TRUE_WORDS)
# Rows pandas reads at a time; a chunk of 30 numeric columns is about 50 MB.
CHUNK_ROWS = 200_000

# The types a validated feature gets (the written file shows numbers and 0/1 alike; the
# difference is how a number is written: an integer column as integers, others as floats).
INTEGER, FLOAT, BOOLEAN = "integer", "float", "boolean"
_MARKED = "numbers with text"


def _earlier(a: Any, b: Any) -> Any:
    """Of two ``(location, value)`` pairs (or None), the one at the smaller location."""
    if a is None or b is None:
        return b if a is None else a
    return a if tuple(a[0]) <= tuple(b[0]) else b


def _add_counts(into: dict[Any, int] | None, other: dict[Any, int] | None) -> dict[Any, int] | None:
    """Counts added; None (too many to keep) once past ``_MAX_TRACKED`` distinct values."""
    if into is None or other is None:
        return None
    for key, count in other.items():
        into[key] = into.get(key, 0) + count
    return into if len(into) <= _MAX_TRACKED else None


def _same(a: object, b: object) -> bool:
    return a == b or (a is None and b is None)


_SUMMED = (
    "present",
    "missing",
    "numbers",
    "words",
    "text_chunks",
    "number_chunks",
    "float_chunks",
    "infinite",
    "too_large",
    "lone_cr",
)
_EARLIEST = ("too_large_first", "not_number_first", "lone_cr_first", "first")


@dataclass
class ColumnProfile:
    """A feature column's values, summarised for every check ``plan`` makes."""

    present: int = 0
    missing: int = 0
    numbers: int = 0  # present values that are numbers
    words: int = 0  # present values that are true or false
    text_chunks: int = 0  # chunks pandas read as text
    number_chunks: int = 0  # chunks pandas read as numbers or booleans
    float_chunks: int = 0  # chunks of floats, or of booleans with missing cells
    # Of the values that are numbers:
    minimum: float = math.inf
    maximum: float = -math.inf
    whole: bool = True  # each finite, whole and exact in a float64
    total: int = 0  # sum modulo 2**64, if whole
    squares: int = 0  # sum of squares modulo 2**64, if whole
    infinite: int = 0
    too_large: int = 0
    too_large_first: Any = None  # (location, value)
    # Of the values read as text; None where more than _MAX_TRACKED are distinct:
    values: dict[str, int] | None = field(default_factory=dict)
    not_numbers: dict[str, int] | None = field(default_factory=dict)
    not_number_firsts: dict[str, Location] = field(default_factory=dict)
    not_number_first: Any = None  # (location, text)
    lone_cr: int = 0
    lone_cr_first: Any = None  # (location, text)
    first: Any = None  # (location, the value or None where missing)
    varies: bool = False  # not every value (missing counting as one) is the first one

    def merge(self, other: ColumnProfile) -> None:
        both = self.first is not None and other.first is not None
        self.varies = (
            self.varies or other.varies or (both and not _same(self.first[1], other.first[1]))
        )
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _EARLIEST:
            setattr(self, name, _earlier(getattr(self, name), getattr(other, name)))
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.whole = self.whole and other.whole
        self.total = (self.total + other.total) % _MOD64
        self.squares = (self.squares + other.squares) % _MOD64
        self.values = _add_counts(self.values, other.values)
        self.not_numbers = _add_counts(self.not_numbers, other.not_numbers)
        if self.not_numbers is None:
            self.not_number_firsts = {}
        else:
            for key, where in other.not_number_firsts.items():
                mine = self.not_number_firsts.get(key, where)
                self.not_number_firsts[key] = min(tuple(mine), tuple(where))  # type: ignore[assignment]

    @property
    def kind(self) -> str:
        """What the values make the column: boolean, integer, float, or text (categorical
        or numbers with text, see ``_MARKED``)."""
        if self.present and self.words == self.present:
            return BOOLEAN
        if self.numbers == self.present:
            if self.text_chunks or self.float_chunks or self.missing or not self.present:
                return FLOAT
            return INTEGER
        if self.numbers >= _MIN_NUMBER_SHARE * self.present:
            return _MARKED
        return CATEGORICAL

    @property
    def distinct(self) -> int | None:
        return None if self.values is None else len(self.values)


@dataclass
class LabelProfile:
    """The label column: each distinct value (as ``_label_key`` encodes it) with its count and
    the first place it appears."""

    missing: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    firsts: dict[str, Location] = field(default_factory=dict)
    # More distinct values than are kept (the label is then refused anyway).
    overflow: bool = False

    def merge(self, other: LabelProfile) -> None:
        self.missing += other.missing
        self.overflow = self.overflow or other.overflow
        for key, count in other.counts.items():
            if key not in self.counts and len(self.counts) >= _MAX_TRACKED:
                self.overflow = True
                continue
            self.counts[key] = self.counts.get(key, 0) + count
            where = tuple(other.firsts[key])
            self.firsts[key] = min(tuple(self.firsts.get(key, where)), where)  # type: ignore[assignment]

    def ordered(self) -> list[str]:
        """The keys in order of first appearance."""
        return sorted(self.counts, key=lambda key: tuple(self.firsts[key]))


@dataclass
class TableProfile:
    rows: int = 0
    label: LabelProfile = field(default_factory=LabelProfile)
    columns: dict[str, ColumnProfile] = field(default_factory=dict)

    def merge(self, other: TableProfile) -> None:
        self.rows += other.rows
        self.label.merge(other.label)
        for name, column in other.columns.items():
            if name in self.columns:
                self.columns[name].merge(column)
            else:
                self.columns[name] = column

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableProfile:
        return cls(
            rows=data["rows"],
            label=LabelProfile(**data["label"]),
            columns={name: ColumnProfile(**c) for name, c in data["columns"].items()},
        )


class _Where(NamedTuple):
    """The locations of a chunk's rows: their file (one for all, or one each) and data row."""

    path: str | Sequence[str]
    rows: npt.NDArray[np.int64]

    def at(self, position: int) -> Location:
        path = self.path if isinstance(self.path, str) else str(self.path[position])
        return (path, int(self.rows[position]))


def _frame_where(frame: pd.DataFrame) -> _Where:
    """Locations of a frame's rows: by its (file, row) index as ``read_input`` makes it, else
    by position."""
    index = frame.index
    if isinstance(index, pd.MultiIndex) and index.nlevels == 2:
        return _Where(
            index.get_level_values(0).astype(str).tolist(),
            index.get_level_values(1).to_numpy(dtype=np.int64),
        )
    return _Where("", np.arange(len(frame), dtype=np.int64))


def _label_key(value: object) -> str:
    """A label value as JSON of [kind, value]: kinds b(oolean), i(nteger), f(loat), s(tring)."""
    value = _scalar(value)
    if isinstance(value, bool):
        return json.dumps(["b", value])
    if isinstance(value, int):
        return json.dumps(["i", value])
    if isinstance(value, float):
        return json.dumps(["f", value])
    return json.dumps(["s", str(value)])


def _profile_label(column: pd.Series, where: _Where) -> LabelProfile:
    present = column.dropna()
    profile = LabelProfile(missing=len(column) - len(present))
    positions = np.flatnonzero(column.notna().to_numpy())
    firsts = present.reset_index(drop=True).drop_duplicates()
    counts = present.value_counts(sort=False, dropna=True)
    for position, value in firsts.items():
        key = _label_key(value)
        if key in profile.counts:  # 1 and 1.0 in one object column: one key
            continue
        profile.counts[key] = int(counts[value])
        profile.firsts[key] = where.at(int(positions[int(position)]))  # type: ignore[call-overload]
    return profile


def _profile_column(column: pd.Series, where: _Where) -> ColumnProfile:
    missing = column.isna().to_numpy()
    profile = ColumnProfile(present=int((~missing).sum()), missing=int(missing.sum()))
    if len(column):
        profile.first = (where.at(0), None if missing[0] else _scalar(column.iloc[0]))
        profile.varies = _varies(column, missing)
    if ptypes.is_bool_dtype(column.dtype):
        profile.words, profile.number_chunks = profile.present, 1
        profile.float_chunks = int(profile.missing > 0)
    elif ptypes.is_numeric_dtype(column.dtype):
        profile.numbers, profile.number_chunks = profile.present, 1
        profile.float_chunks = int(not ptypes.is_integer_dtype(column.dtype))
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)[~missing]
        _number_stats(profile, values, ~missing, where)
    else:
        profile.text_chunks = 1
        _text_stats(profile, column, missing, where)
    return profile


def _varies(column: pd.Series, missing: npt.NDArray[np.bool_]) -> bool:
    if missing.any() and not missing.all():
        return True
    if missing.all():
        return False
    values = column.to_numpy()
    return bool((values != values[0]).any())


def _number_stats(
    profile: ColumnProfile,
    values: npt.NDArray[np.float64],
    positions: npt.NDArray[np.int64] | npt.NDArray[np.bool_],
    where: _Where,
) -> None:
    """``positions``: each value's position in the chunk, or a mask of the present positions
    (turned into positions only when one is reported)."""
    if not len(values):
        return
    finite = np.isfinite(values)
    magnitudes = np.abs(values)
    profile.infinite = int((~finite).sum())
    too_large = finite & (magnitudes > _FLOAT32_MAX)
    profile.too_large = int(too_large.sum())
    if profile.too_large:
        first = int(np.argmax(too_large))
        if positions.dtype == np.bool_:
            positions = np.flatnonzero(positions)
        profile.too_large_first = (where.at(int(positions[first])), float(values[first]))
    profile.minimum, profile.maximum = float(values.min()), float(values.max())
    profile.whole = bool(
        finite.all()
        and (magnitudes <= _EXACT_INTEGERS).all()
        and np.array_equal(values, np.floor(values))
    )
    if profile.whole:
        # uint64 arithmetic wraps around, which is the sum modulo 2**64.
        integers = values.astype(np.int64).view(np.uint64)
        profile.total = int(integers.sum(dtype=np.uint64))
        profile.squares = int((integers * integers).sum(dtype=np.uint64))


def _text_stats(
    profile: ColumnProfile, column: pd.Series, missing: npt.NDArray[np.bool_], where: _Where
) -> None:
    """Counts of the text values, each distinct value judged once."""
    positions = np.flatnonzero(~missing)
    text = pd.Series(column.to_numpy(dtype=object)[~missing], dtype=object).astype(str)
    empty = (text == "").to_numpy()
    if empty.any():
        # An empty string is a missing value, as an empty cell is.
        profile.present -= int(empty.sum())
        profile.missing += int(empty.sum())
        profile.varies = True
        text, positions = text[~empty].reset_index(drop=True), positions[~empty]
    codes, uniques = pd.factorize(text)
    keys = np.asarray(uniques, dtype=object)
    tally = np.bincount(codes, minlength=len(keys)).astype(np.int64)
    words = pd.Index(keys, dtype=object).str.strip().str.lower().isin(_WORDS)
    with np.errstate(over="ignore"):
        numbers = pd.to_numeric(pd.Series(keys, dtype=object), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    is_number = ~np.isnan(numbers)
    profile.words = int(tally[words].sum())
    profile.numbers = int(tally[is_number].sum())
    if is_number.any():
        row_numbers = numbers[codes]
        rows = ~np.isnan(row_numbers)
        _number_stats(profile, row_numbers[rows], positions[rows], where)
    profile.values = (
        dict(zip(keys.tolist(), tally.tolist(), strict=True)) if len(keys) <= _MAX_TRACKED else None
    )
    found = _Found(codes, positions, where, keys, tally)
    not_numbers = np.flatnonzero(~is_number)
    if len(not_numbers):
        profile.not_numbers = found.counts(not_numbers)
        if profile.not_numbers is not None:
            profile.not_number_firsts = found.firsts(not_numbers)
        profile.not_number_first = found.first(not_numbers)
    lone = np.flatnonzero(["\r" in key.replace("\r\n", "") for key in keys.tolist()])
    if len(lone):
        profile.lone_cr = int(tally[lone].sum())
        profile.lone_cr_first = found.first(lone)


class _Found(NamedTuple):
    """A chunk's distinct text values (``keys``, counted in ``tally``) and, per row, the code
    of its value; for finding where some of the values first appear."""

    codes: npt.NDArray[np.intp]
    positions: npt.NDArray[np.int64]
    where: _Where
    keys: npt.NDArray[Any]
    tally: npt.NDArray[np.int64]

    def counts(self, which: npt.NDArray[np.intp]) -> dict[str, int] | None:
        if len(which) > _MAX_TRACKED:
            return None
        return dict(zip(self.keys[which].tolist(), self.tally[which].tolist(), strict=True))

    def firsts(self, which: npt.NDArray[np.intp]) -> dict[str, Location]:
        """Where each of the values first appears."""
        first_rows = np.empty(len(self.keys), dtype=np.int64)
        # Assigned from the last row back, so each value keeps its first row.
        first_rows[self.codes[::-1]] = np.arange(len(self.codes) - 1, -1, -1)
        return {str(self.keys[n]): self.where.at(int(self.positions[first_rows[n]])) for n in which}

    def first(self, which: npt.NDArray[np.intp]) -> tuple[Location, str]:
        row = int(np.argmax(np.isin(self.codes, which)))
        return (self.where.at(int(self.positions[row])), str(self.keys[self.codes[row]]))


def profile_frame(
    frame: pd.DataFrame, label_column: str, where: _Where | None = None
) -> TableProfile:
    """The profile of a frame's label and feature columns (every column besides the label)."""
    where = _frame_where(frame) if where is None else where
    profile = TableProfile(rows=len(frame))
    if label_column in frame.columns:
        profile.label = _profile_label(frame[label_column], where)
    for name in frame.columns:
        if name != label_column:
            profile.columns[str(name)] = _profile_column(frame[name], where)
    return profile


# --------------------------------------------------------------------------------------------
# The plan: the verdict on a profile, and how each column is typed and written
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a valid input becomes: the features and their kinds, the label's 0/1 codes."""

    label_column: str
    features: dict[str, str]  # name -> INTEGER, FLOAT, BOOLEAN or CATEGORICAL, input order
    codes: dict[str, int]  # _label_key -> 0/1
    classes: tuple[str, str]  # (positive, negative) as text
    schema: dict[str, Any]
    class_rows: tuple[int, int]  # rows of class 0 and of class 1

    @property
    def text_columns(self) -> list[str]:
        return [name for name, kind in self.features.items() if kind == CATEGORICAL]


def _label_values(label: LabelProfile) -> pd.Series:
    """The distinct label values in order of appearance, as pandas would type the column."""
    decoded = [json.loads(key) for key in label.ordered()]
    kinds = {kind for kind, _ in decoded}
    if "s" in kinds:
        return pd.Series(
            [value if kind == "s" else str(value) for kind, value in decoded], dtype=object
        )
    if kinds == {"b"}:
        return pd.Series([value for _, value in decoded], dtype=bool)
    dtype = np.float64 if "f" in kinds else np.int64
    return pd.Series([value for _, value in decoded], dtype=dtype)


def _label_verdict(
    label: LabelProfile,
    label_column: str,
    fractions: tuple[float, float],
    positive_class: str | None,
) -> tuple[dict[str, int], list[str]]:
    """Each label key's 0/1 code and the label's problems (missing labels are reported on
    their own, with the features' problems)."""
    values = _label_values(label)
    labels, problem = binary_labels(values, label_column, positive_class)
    if label.overflow and problem:
        problem = problem.replace(" distinct values", " or more distinct values", 1)
    if problem:
        return {}, [problem]
    codes = {
        key: int(code)
        for key, code in zip(label.ordered(), labels.tolist(), strict=True)
        if not pd.isna(code)
    }
    if label.missing:
        return codes, []
    counts = {cls: 0 for cls in (0, 1)}
    for key, count in label.counts.items():
        counts[codes[key]] += count
    return codes, _class_count_problems(counts, label_column, *fractions)


def _class_texts(label: LabelProfile, codes: dict[str, int]) -> tuple[str, str]:
    """``(positive, negative)``: each class as its first row spells it, stripped."""
    ordered = label.ordered()
    positive, negative = (
        str(json.loads(next(key for key in ordered if codes[key] == cls))[1]).strip()
        for cls in (1, 0)
    )
    return positive, negative


def plan(
    profile: TableProfile,
    label_column: str,
    fractions: tuple[float, float],
    *,
    positive_class: str | None = None,
    exclude_columns: Sequence[str] = (),
    header: Sequence[str] = (),
) -> Plan:
    """The verdict on the profiled input: a plan, or DataValidationError with every problem.

    ``header`` is every column of the input in order, the label's included (default: the
    profiled ones); ``exclude_columns`` are dropped before anything else is checked.
    """
    header = list(header) or [label_column, *profile.columns]
    _check_label_column_named(header, label_column)
    problems = _excluded_problems(header, label_column, exclude_columns)
    columns = {
        name: profile.columns[name]
        for name in header
        if name != label_column and name not in exclude_columns
    }
    if not columns:
        problems.append(f"there are no feature columns besides the label column {label_column!r}")
    problems += _identifier_problems_of(columns)
    problems += _missing_label_problems(profile, label_column)
    problems += _text_problems_of(columns)
    problems += _value_problems_of(columns)
    codes, label_problems = _label_verdict(profile.label, label_column, fractions, positive_class)
    problems += label_problems
    if problems:
        raise DataValidationError(problems)
    features = {name: column.kind for name, column in columns.items()}
    classes = _class_texts(profile.label, codes)
    class_rows = [0, 0]
    for key, count in profile.label.counts.items():
        class_rows[codes[key]] += count
    return Plan(
        label_column,
        features,
        codes,
        classes,
        _schema(label_column, classes, exclude_columns, features),
        (class_rows[0], class_rows[1]),
    )


def _missing_label_problems(profile: TableProfile, label_column: str) -> list[str]:
    """Missing features are data XGBoost handles natively (it learns where they go); a row
    without a label is not."""
    if not profile.label.missing:
        return []
    return [
        f"label column {label_column!r} has {profile.label.missing} missing value(s) (empty, "
        f"NA, NaN or null cells) of {profile.rows} rows; every row needs a label, so drop or "
        "fill them"
    ]


def _schema(
    label_column: str,
    classes: tuple[str, str],
    exclude_columns: Sequence[str],
    features: dict[str, str],
) -> dict[str, Any]:
    """``schema.json``'s content (docs/model-contract.md, section 1)."""
    positive, negative = classes
    return {
        "format_version": SCHEMA_FORMAT_VERSION,
        "label_column": label_column,
        "positive_class": positive,
        "negative_class": negative,
        "excluded_columns": list(exclude_columns),
        "features": [
            {"name": name, "type": CATEGORICAL if kind == CATEGORICAL else NUMERIC}
            for name, kind in features.items()
        ],
    }


def _check_label_column_named(header: Sequence[str], label_column: str) -> None:
    """Raise if the label column is missing, with a close name as a hint.

    Raised on its own: the features are the columns besides the label, so nothing else can be
    checked without it.
    """
    if label_column in header:
        return
    found = [str(c) for c in header]
    close = difflib.get_close_matches(label_column, found, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DataValidationError(
        [f"label column {label_column!r} is missing; columns found: {_quoted(found)}." + hint]
    )


def _excluded_problems(
    header: Sequence[str], label_column: str, exclude_columns: Sequence[str]
) -> list[str]:
    problems = []
    unknown = [name for name in exclude_columns if name not in header]
    if unknown:
        problems.append(
            f"exclude_columns names column(s) the data does not have: {_quoted(unknown)}; "
            f"columns found: {_quoted([str(c) for c in header])}"
        )
    if label_column in exclude_columns:
        problems.append(
            f"exclude_columns names the label column {label_column!r}; it cannot be excluded"
        )
    return problems


def _is_row_number_column(column: ColumnProfile) -> bool:
    """Distinct whole numbers with no gap, e.g. 0..n-1 or 1..n (in any order).

    n values from the smallest to the largest with no gap are a run exactly when none repeats;
    a repeat is caught by the sum and the sum of squares, which for n distinct whole numbers
    from a to a+n-1 are those of the run (modulo 2**64, which a repeat matches by chance with
    odds of one in 2**64 or less).
    """
    n = column.present
    if n < _MIN_ROWS_FOR_ROW_NUMBERS or column.missing or column.kind not in (INTEGER, FLOAT):
        return False
    if not column.whole or column.maximum - column.minimum + 1 != n:
        return False
    a = int(column.minimum)
    total = n * a + n * (n - 1) // 2
    squares = n * a * a + a * n * (n - 1) + (n - 1) * n * (2 * n - 1) // 6
    return column.total == total % _MOD64 and column.squares == squares % _MOD64


def _identifier_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    """Columns that identify rows: a model would learn the row order, not the data (a leak)."""
    found = []
    for name, column in columns.items():
        if _has_identifier_name(name):
            found.append(f"{name!r} (an identifier's name)")
        elif _is_row_number_column(column):
            found.append(f"{name!r} (distinct whole numbers in one run, like row numbers)")
    if not found:
        return []
    return [
        f"column(s) that identify rows rather than describe them: {_listed(found)}; a model "
        f"trained on them learns the row order, not the data; {_DROP_HINT}"
    ]


def _text_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    # A column named like an identifier is refused as one; more reasons would only add noise.
    text = {
        name: c
        for name, c in columns.items()
        if c.kind in (_MARKED, CATEGORICAL) and not _has_identifier_name(name)
    }
    marked = {name: c for name, c in text.items() if c.kind == _MARKED}
    categories = {name: c for name, c in text.items() if c.kind == CATEGORICAL}
    return [
        *_marker_problems_of(marked),
        *_cardinality_problems_of(categories),
        *_lone_cr_problems_of(categories),
    ]


def _where(location: Sequence[Any]) -> str:
    path, row = location
    return f"data row {int(row) + 1} of {path}" if path else f"data row {int(row) + 1}"


def _marker_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    if not columns:
        return []
    found = [_markers_of(name, column) for name, column in columns.items()]
    return [
        f"column(s) of numbers that also hold text, most likely a missing-value marker: "
        f"{_listed(found)}; an empty cell is the missing-value marker the pipeline "
        f"understands, so write missing values as empty cells in the export, or {_DROP_HINT}"
    ]


def _markers_of(name: str, column: ColumnProfile) -> str:
    """``'name' (N of M values are not numbers: 'token' (count), ...; the first in ...)``."""
    # Most frequent first, ties in order of appearance.
    firsts = column.not_number_firsts
    tokens = sorted(
        (column.not_numbers or {}).items(),
        key=lambda item: (-item[1], tuple(firsts.get(item[0], ("", 0))), item[0]),
    )
    shown = ", ".join(f"{_clip(str(t))!r} ({int(n)})" for t, n in tokens[:_MAX_SHOWN_VALUES])
    if column.not_numbers is None:
        more = f", ... (more than {_MAX_CATEGORIES} distinct)"
    else:
        more = f", ... ({len(tokens)} distinct)" if len(tokens) > _MAX_SHOWN_VALUES else ""
    return (
        f"{name!r} ({column.present - column.numbers} of {column.present} values are not "
        f"numbers: {shown}{more}; the first in {_where(column.not_number_first[0])})"
    )


def _too_many(column: ColumnProfile) -> bool:
    distinct = column.distinct
    if distinct is None or distinct > _MAX_CATEGORIES:
        return True
    return bool(
        column.present >= _MIN_VALUES_FOR_DISTINCT_SHARE
        and distinct > _MAX_DISTINCT_SHARE * column.present
    )


def _cardinality_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    found = []
    for name, column in columns.items():
        if _too_many(column):
            distinct = column.distinct
            counted = f"more than {_MAX_CATEGORIES}" if distinct is None else str(distinct)
            example = column.not_number_first or column.first
            found.append(
                f"{name!r} ({counted} distinct of {column.present} values, e.g. "
                f"{_clip(str(_first_present(column) or example[1]))!r})"
            )
    if not found:
        return []
    return [
        f"text column(s) with too many distinct values to be categories: {_listed(found)}; "
        "such a column identifies rows or holds free text, and a model cannot learn from "
        f"values that barely recur; {_DROP_HINT}"
    ]


def _first_present(column: ColumnProfile) -> object:
    return column.first[1] if column.first is not None and column.first[1] is not None else None


def _lone_cr_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    """Values with a carriage return not followed by a line feed.

    The csv module quotes a value only for the characters of its line terminator (a line
    feed here), so such a value would be written unquoted and read back as two rows.
    """
    found = [
        f"{name!r} ({column.lone_cr} value(s), e.g. {_clip(column.lone_cr_first[1])!r} in "
        f"{_where(column.lone_cr_first[0])})"
        for name, column in columns.items()
        if column.lone_cr
    ]
    if not found:
        return []
    return [
        "text value(s) holding a carriage return (\\r) without a line feed, which the split "
        f"CSV files cannot keep intact: {_listed(found)}; remove or replace it in the export"
    ]


def _value_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    floats = {name: c for name, c in columns.items() if c.kind == FLOAT}
    return [
        *_infinite_problems_of(floats),
        *_float32_problems_of(floats),
        *_constant_problems_of(columns),
    ]


def _infinite_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    infinite = {name: c.infinite for name, c in columns.items() if c.infinite}
    if not infinite:
        return []
    counts = ", ".join(f"{name!r} ({count})" for name, count in infinite.items())
    return [f"infinite values in column(s) {counts}"]


def _float32_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    too_large = [
        f"{name!r} ({c.too_large} value(s), e.g. {c.too_large_first[1]!r} in "
        f"{_where(c.too_large_first[0])})"
        for name, c in columns.items()
        if c.too_large
    ]
    if not too_large:
        return []
    return [
        f"values beyond the float32 range XGBoost computes in (magnitude above "
        f"{_FLOAT32_MAX:.7g}) in column(s) {', '.join(too_large)}"
    ]


def _constant_problems_of(columns: dict[str, ColumnProfile]) -> list[str]:
    """A problem only if every feature is constant: one constant beside others does no harm."""
    constant = [
        f"{name!r} (always {_typed_value(c)!r})" for name, c in columns.items() if not c.varies
    ]
    if constant and len(constant) == len(columns):
        return [
            f"every feature column is constant, so a model can learn nothing from them: "
            f"{_listed(constant)}; check that the right data was uploaded"
        ]
    return []


def _typed_value(column: ColumnProfile) -> object:
    """The column's first value as the typed column holds it."""
    value = column.first[1] if column.first is not None else None
    if value is None:
        return math.nan
    kind = column.kind
    if kind == BOOLEAN and not isinstance(value, bool):
        return int(str(value).strip().lower() == "true")
    if kind in (FLOAT, INTEGER) and isinstance(value, str):
        return float(value)
    return value


# --------------------------------------------------------------------------------------------
# Typed rows and their split
# --------------------------------------------------------------------------------------------


def _label_codes(column: pd.Series, the_plan: Plan) -> npt.NDArray[np.int8]:
    lookup: dict[object, int] = {}
    for key, code in the_plan.codes.items():
        lookup.setdefault(json.loads(key)[1], code)
    codes = column.map(lookup)
    if codes.isna().any():  # a value the profile did not see: the input changed under us
        row = int(np.argmax(codes.isna().to_numpy()))
        raise DataValidationError(
            [
                f"label value {column.iloc[row]!r} was not in the input when it was first read; "
                "was the input changed during the run?"
            ]
        )
    result: npt.NDArray[np.int8] = codes.to_numpy(dtype=np.int8)
    return result


def _typed_column(column: pd.Series, kind: str) -> pd.Series:
    """A feature column as the splits hold it, whatever type pandas gave the chunk."""
    if kind == INTEGER:
        # int64 or, for values past its range, uint64: written as the integers they are.
        return column if ptypes.is_integer_dtype(column.dtype) else column.astype(np.int64)
    if kind == FLOAT:
        if ptypes.is_numeric_dtype(column.dtype) and not ptypes.is_bool_dtype(column.dtype):
            return pd.Series(column.to_numpy(dtype=np.float64, na_value=np.nan), index=column.index)
        with np.errstate(over="ignore"):
            return pd.to_numeric(column.astype(object), errors="coerce").astype(np.float64)
    if kind == BOOLEAN:
        if ptypes.is_bool_dtype(column.dtype):
            return column.astype("Int8")
        words = column.astype(object).map(lambda v: _TRUE_WORDS.get(str(v).strip().lower()))
        return words.astype("Int8")
    text = column.astype(object)
    text = text.where(text.notna(), None).map(lambda v: None if v is None else str(v))
    return text.where(text != "", None).astype(object)


def typed_rows(frame: pd.DataFrame, the_plan: Plan) -> pd.DataFrame:
    """The rows as the splits hold them: the label as 0/1 first, then the features, typed."""
    columns: dict[str, Any] = {
        the_plan.label_column: _label_codes(frame[the_plan.label_column], the_plan)
    }
    for name, kind in the_plan.features.items():
        # .array keeps an extension type (the booleans' Int8) that .to_numpy() would lose.
        columns[name] = _typed_column(frame[name], kind).array
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


# A class with at most this many rows is split exactly: each split gets its share of the
# class's rows, rounded, as a stratified split gives it (the rows of the class are ranked by
# hash, so it is still the same split whatever instance reads them). A larger class is split
# by fixed cuts of the hash range, whose shares differ from the exact ones by a fraction of a
# percent at this size, and which no instance needs the others' rows for.
EXACT_SPLIT_ROWS = 100_000
_SPLITMIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


def row_hashes(rows: pd.DataFrame, seed: int) -> npt.NDArray[np.uint64]:
    """A seeded 64-bit hash of each row's typed values (not of where the row is).

    pandas' row hash ignores its key for numbers, so the seed is mixed in afterwards with
    SplitMix64's finalizer, which spreads any change of seed over every bit.
    """
    # -0.0 is hashed as 0.0, the value it equals: pandas reads "-0" as 0 in a chunk of whole
    # numbers but as -0.0 in one with decimals, and a row's split must not depend on where
    # the chunks break (adding 0.0 turns -0.0 into 0.0 and leaves every other value as is).
    floats = {name: column + 0.0 for name, column in rows.items() if column.dtype == np.float64}
    if floats:
        rows = rows.assign(**floats)
    hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy(dtype=np.uint64)
    golden, first, second = (np.uint64(n) for n in _SPLITMIX)
    with np.errstate(over="ignore"):
        z = hashed ^ (np.uint64(seed % 2**64) * golden)
        z = (z ^ (z >> np.uint64(30))) * first
        z = (z ^ (z >> np.uint64(27))) * second
        result: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return result


Cuts = dict[int, tuple[int, int]]  # class -> (hashes below: test, below: validation)


def exact_cuts(hashes: npt.NDArray[np.uint64], fractions: tuple[float, float]) -> tuple[int, int]:
    """Hash cuts that give test and validation their rounded share of one class's rows."""
    ordered = np.sort(hashes)
    validation, test = (round(share * len(ordered)) for share in fractions)
    # Two shares rounded up (1.5 and 1.5 of 4 rows) may leave train none: validation gives one.
    validation = max(0, min(validation, len(ordered) - test - 1))

    def cut(rank: int) -> int:
        return int(ordered[rank]) if rank < len(ordered) else 2**64

    return cut(test), cut(test + validation)


def split_codes(
    hashes: npt.NDArray[np.uint64],
    labels: npt.NDArray[Any],
    fractions: tuple[float, float],
    cuts: Cuts,
) -> npt.NDArray[np.int8]:
    """Each row's split, 0 train, 1 validation, 2 test, decided by its hash alone: one instance
    or N, any order of files, a row lands in the same split, and a row repeated in the input
    lands in one split (a duplicate in both train and test would flatter the test score).

    A class in ``cuts`` is cut there (``exact_cuts``); others at fixed shares of the hash range.
    """
    unit = (hashes >> np.uint64(11)).astype(np.float64) * 2.0**-53
    validation, test = fractions
    codes = np.where(unit < test, 2, np.where(unit < test + validation, 1, 0)).astype(np.int8)
    for cls, (test_cut, validation_cut) in cuts.items():
        mine = labels == cls
        as_int = hashes[mine].astype(object) if validation_cut >= 2**64 else hashes[mine]
        codes[mine] = np.where(
            as_int < test_cut, 2, np.where(as_int < validation_cut, 1, 0)
        ).astype(np.int8)
    return codes


class _SplitWriter:
    """Writes each split's part files under temporary names; ``commit`` renames them, so a run
    that fails leaves no partial output."""

    def __init__(self, targets: dict[tuple[int, int], Path], header: Sequence[str]) -> None:
        self.targets = targets
        self.parts = max(part for _, part in targets) + 1
        self.counts = np.zeros((len(SPLITS), 2), dtype=np.int64)
        self.known = [_Texts(max(1_000, _KNOWN_TEXTS // len(header))) for _ in header]
        self.handles = {}
        for key, path in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._partial(path).open("w", encoding="utf-8", newline="")
            csv.writer(handle, lineterminator="\n").writerow([str(name) for name in header])
            self.handles[key] = handle

    @staticmethod
    def _partial(path: Path) -> Path:
        return path.with_name(f".{path.name}.partial")

    def write_rows(
        self,
        rows: pd.DataFrame,
        hashes: npt.NDArray[np.uint64],
        options: _Options,
        cuts: Cuts,
        lines: _Lines | None = None,
    ) -> None:
        """Each row into its split (``split_codes``) and train part (by hash); with ``lines``,
        the rows' lines are copied and only the label column of ``rows`` is read."""
        if not len(rows):
            return
        labels = rows.iloc[:, 0].to_numpy(dtype=np.int64)
        codes = split_codes(hashes, labels, options.fractions, cuts)
        # Only the train split is written in parts.
        parts = np.where(codes == 0, hashes % np.uint64(options.train_parts), 0)
        if lines is None:
            self.write(rows, codes, parts)
        else:
            self.write_lines(lines, labels, codes, parts)

    def write_lines(
        self,
        lines: _Lines,
        labels: npt.NDArray[np.int64],
        codes: npt.NDArray[np.int8],
        parts: npt.NDArray[Any],
    ) -> None:
        """``write`` for rows already written out as lines: each file's lines in input order."""
        np.add.at(self.counts, (codes.astype(np.int64), labels), 1)
        groups = codes.astype(np.int64) * self.parts + parts.astype(np.int64)
        starts = lines.ends + 1 - lines.lengths()
        for group in np.unique(groups).tolist():
            mine = np.flatnonzero(groups == group)
            # Runs of consecutive lines of the file are copied as one slice.
            cut = np.flatnonzero(np.diff(mine) != 1)
            firsts, lasts = mine[np.concatenate([[0], cut + 1])], mine[np.append(cut, -1)]
            data = lines.data.data  # a memoryview: slices are not copied
            text = b"".join(
                data[start:stop]
                for start, stop in zip(
                    starts[firsts].tolist(), (lines.ends[lasts] + 1).tolist(), strict=True
                )
            )
            handle = self.handles[divmod(group, self.parts)]
            handle.flush()  # the header row and any rows write() formatted go first
            handle.buffer.write(text)

    def write(
        self, rows: pd.DataFrame, codes: npt.NDArray[np.int8], parts: npt.NDArray[Any]
    ) -> None:
        labels = rows.iloc[:, 0].to_numpy(dtype=np.int64)
        np.add.at(self.counts, (codes.astype(np.int64), labels), 1)
        # Rows grouped by file (stable: each file keeps the input order), formatted once.
        groups = codes.astype(np.int64) * self.parts + parts.astype(np.int64)
        order = np.argsort(groups, kind="stable")
        ordered = rows.iloc[order].reset_index(drop=True)
        bounds = np.searchsorted(groups[order], np.arange(len(SPLITS) * self.parts + 1))
        cells = _frame_cells(ordered, self.known)
        for group in np.unique(groups).tolist():
            # Every row has a file: a (split, part) without one would be a KeyError, not a loss.
            handle = self.handles[divmod(group, self.parts)]
            _write_cells(handle, cells, ordered, int(bounds[group]), int(bounds[group + 1]))

    def commit(self) -> None:
        for key, handle in self.handles.items():
            handle.close()
            self._partial(self.targets[key]).replace(self.targets[key])

    def abort(self) -> None:
        for key, handle in self.handles.items():
            handle.close()
            self._partial(self.targets[key]).unlink(missing_ok=True)


def _frame_cells(frame: pd.DataFrame, known: Sequence[_Texts] | None = None) -> list[_Cells | None]:
    return [
        _column_cells(frame.iloc[:, n], None if known is None else known[n])
        for n in range(frame.shape[1])
    ]


def _write_cells(
    handle: Any, cells: list[_Cells | None], frame: pd.DataFrame, start: int, stop: int
) -> None:
    """Rows ``start:stop`` of ``frame``, as pandas would write them (see ``write_csv``)."""
    if any(column is None for column in cells):
        frame.iloc[start:stop].to_csv(
            handle, index=False, header=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL
        )
        return
    for block in range(start, stop, _WRITE_ROWS):
        end = min(block + _WRITE_ROWS, stop)
        columns = [column(block, end) for column in cells if column is not None]
        handle.write("\n".join(map(",".join, zip(*columns, strict=True))) + "\n")


# --------------------------------------------------------------------------------------------
# Copying the input's lines: where a block of the input's lines holds each number already as
# write_csv writes it, the split files get those bytes (minus the label's and the excluded
# columns' cells, plus the 0/1 label) instead of the parsed values formatted again, which is
# most of the cost of writing. The bytes are the same either way; any block that is not plain
# or holds a cell written otherwise ("1.50", "3" in a float column, "NA") is formatted.
# --------------------------------------------------------------------------------------------

# Input bytes read, parsed and copied at a time (about 35,000 rows of 30 numbers).
_COPY_BYTES = 8 * 1024 * 1024
# Digits of a float copied as it is written: Python's repr of a decimal of at most 15
# significant digits is those digits (DBL_DIG: no other decimal that short is the same
# double), which the byte checks below can see without formatting anything.
_COPY_DIGITS = 15
# An int64 of at most 18 digits is never past int64's range.
_COPY_INT_DIGITS = 18
_ZERO, _DOT, _MINUS, _COMMA, _NEWLINE = (ord(c) for c in "0.-,\n")
# Bytes a number's cell may hold after its sign, and the separators around cells.
_NUMBER_BYTES = np.zeros(256, dtype=np.bool_)
_NUMBER_BYTES[list(b"0123456789.,\n")] = True


class _Lines(NamedTuple):
    """Rows as the split files hold them: row n is ``data[ends[n - 1] + 1 : ends[n] + 1]``."""

    data: npt.NDArray[np.uint8]
    ends: npt.NDArray[np.int64]

    def lengths(self) -> npt.NDArray[np.int64]:
        return np.diff(self.ends, prepend=-1)

    def take(self, which: npt.NDArray[np.bool_]) -> _Lines:
        lengths = self.lengths()
        return _Lines(self.data[np.repeat(which, lengths)], np.cumsum(lengths[which]) - 1)


class _Block(NamedTuple):
    """Plain lines of a file, each a row: field ``j`` of line ``n`` is
    ``data[begin[n, j]:end[n, j]]``. ``raw`` is ``data`` and four NUL bytes."""

    raw: bytes
    data: npt.NDArray[np.uint8]
    begin: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    header: list[str]
    heads: npt.NDArray[np.uint32]  # [n, j]: the four bytes from field j of line n's start

    @property
    def window(self) -> npt.NDArray[np.uint32]:
        return _window(self.raw)


def _window(raw: bytes) -> npt.NDArray[np.uint32]:
    """At each position of ``raw`` but its last four, the four bytes from there as one
    little-endian number (a view: nothing is copied)."""
    return np.ndarray((len(raw) - 4,), dtype="<u4", buffer=raw, strides=(1,))


def _plain_block(block: bytes, header: list[str]) -> _Block | None:
    """``block`` (whole lines) with its fields, if each line is plainly one row of the
    header's fields (as ``_plain_lines``: the csv module and pandas read it alike)."""
    fields = len(header)
    if fields < 2 or not _plain_bytes(block):
        return None
    raw = block + bytes(4)
    data = np.frombuffer(raw, dtype=np.uint8)[: len(block)]
    end = _separators(data, fields)
    if end is None:
        return None
    begin = np.empty_like(end)
    begin.ravel()[0] = 0
    begin.ravel()[1:] = end.ravel()[:-1] + 1
    return _Block(raw, data, begin, end, header, _window(raw)[begin])


def _split_chunks(path: Path, the_plan: Plan) -> Iterator[tuple[pd.DataFrame, _Block | None]]:
    """The file's rows as ``_chunks`` reads them, each chunk with its lines where they are
    plain, and its features in the plan's order (other files are only read)."""
    usecols = [the_plan.label_column, *the_plan.features]
    header, start = _header_line(path)
    if start is None or [n for n in header if n in the_plan.features] != list(the_plan.features):
        yield from ((chunk, None) for chunk in _chunks(path, usecols, the_plan.text_columns))
        return
    options = _block_options(header, usecols, the_plan.text_columns)
    line = 2
    with path.open("rb") as handle:
        handle.seek(start)
        for block in _line_blocks(handle, _COPY_BYTES):
            plain = _plain_block(block, header)
            if plain is None:
                # Every line before is a whole row, so pandas reads on from this line.
                handle.seek(start)
                rest = _read_rows(path, handle, line, {**options, "chunksize": CHUNK_ROWS})
                yield from ((chunk, None) for chunk in rest)
                return
            yield from (
                (chunk, plain) for chunk in _read_rows(path, io.BytesIO(block), line, options)
            )
            start += len(block)
            line += len(plain.begin)


def _header_line(path: Path) -> tuple[list[str], int | None]:
    """The header as pandas names it, and where the data rows start if the header row is
    the first line (quoted or not) and the file is not empty."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        one_line = reader.line_num == 1
    with path.open("rb") as raw:
        first = raw.readline()
    return _pandas_names(header), len(first) if one_line and first.endswith(b"\n") else None


def _block_options(
    header: list[str], usecols: Sequence[str], text_columns: Sequence[str]
) -> dict[str, Any]:
    """``_chunks``' options for lines after the header row."""
    options: dict[str, Any] = {
        "encoding": "utf-8",
        "header": None,
        "names": header,
        "index_col": False,
        "usecols": list(usecols),
        "low_memory": False,
    }
    if text_columns:
        options["dtype"] = {name: str for name in text_columns}
    return options


def _read_rows(
    path: Path, source: Any, line: int, options: dict[str, Any]
) -> Iterator[pd.DataFrame]:
    """The rows pandas reads from ``source``, whose first line is the file's ``line``."""
    try:
        if "chunksize" not in options:
            yield pd.read_csv(source, **options)
            return
        with pd.read_csv(source, **options) as reader:
            yield from reader
    except (ValueError, UnicodeDecodeError) as error:  # ParserError is a ValueError
        raise DataValidationError(
            [f"{path} is not a readable CSV file from line {line} on: {error}".strip()]
        ) from None


def _copied_lines(
    block: _Block, chunk: pd.DataFrame, rows: pd.DataFrame, the_plan: Plan
) -> _Lines | None:
    """The rows' lines as ``write_csv`` writes them: copied from the block, but for the rows
    with a cell written otherwise, which are formatted; None if most rows are such."""
    if len(rows) != len(block.begin):  # a plain line is one row: the guard, should it not be
        return None
    copied = _rows_as_written(block, chunk, rows, the_plan)
    if copied is None or copied.sum() < len(copied) // 2:
        return None
    lines = _relabelled(block, the_plan, rows.iloc[:, 0].to_numpy(dtype=np.uint8))
    if copied.all():
        return lines
    formatted = np.frombuffer(_formatted(rows, ~copied), dtype=np.uint8)
    return _replaced(lines, np.flatnonzero(~copied), formatted)


def _formatted(rows: pd.DataFrame, which: npt.NDArray[np.bool_]) -> bytes:
    """Those rows' lines as ``write_csv`` writes them: for a few rows, with less setup."""
    columns = [_few_cells(rows[name], which) for name in rows.columns]
    text = io.StringIO()
    if any(column is None for column in columns):
        few = rows[which].reset_index(drop=True)
        _write_cells(text, _frame_cells(few), few, 0, len(few))
    else:
        text.write("".join(",".join(row) + "\n" for row in zip(*columns, strict=True)))
    return text.getvalue().encode("utf-8")


def _few_cells(column: pd.Series, which: npt.NDArray[np.bool_]) -> list[str] | None:
    """``_column_cells`` of a few rows of a column of numbers, else None."""
    if column.dtype == np.float64:
        values = column.to_numpy()[which].tolist()
        return ["" if math.isnan(value) else repr(value) for value in values]
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":
        return [str(value) for value in column.to_numpy()[which].tolist()]
    return None


def _rows_as_written(
    block: _Block, chunk: pd.DataFrame, rows: pd.DataFrame, the_plan: Plan
) -> npt.NDArray[np.bool_] | None:
    """Whether each row's feature cells are as ``write_csv`` writes them; None if they
    cannot be (booleans, written as 0/1; a column pandas did not read as numbers)."""
    cells = _NumberCells(block)
    copied = np.ones(len(rows), dtype=np.bool_)
    for kind in (FLOAT, INTEGER, CATEGORICAL, BOOLEAN):
        at = [n for n, name in enumerate(block.header) if the_plan.features.get(name) == kind]
        written = _kind_as_written(cells, chunk, rows, kind, at) if at else copied
        if written is None:
            return None
        copied &= written
    return copied


def _kind_as_written(
    cells: _NumberCells, chunk: pd.DataFrame, rows: pd.DataFrame, kind: str, columns: list[int]
) -> npt.NDArray[np.bool_] | None:
    """``_rows_as_written`` for the columns of one kind."""
    names = [cells.block.header[n] for n in columns]
    # A run of columns (all the features, often) is a view, not a copy.
    at = (
        slice(columns[0], columns[-1] + 1)
        if columns == [*range(columns[0], columns[-1] + 1)]
        else columns
    )
    if kind == CATEGORICAL:
        # Text is copied as it is: a missing value must be an empty cell, not "NA".
        missing = rows[names].isna().to_numpy(dtype=np.bool_)
        result: npt.NDArray[np.bool_] = ~(missing & ~cells.empty[:, at]).any(axis=1)
        return result
    if kind == BOOLEAN or any(chunk[name].dtype.kind not in _PARSED[kind] for name in names):
        return None
    if kind == FLOAT:
        written = cells.floats()[:, at] & _plain_values(
            rows[names].to_numpy(), cells.point_zero[:, at]
        )
        written |= cells.empty[:, at]
    else:
        written = cells.integers()[:, at]
    return np.asarray((written & ~cells.stray[:, at]).all(axis=1), dtype=np.bool_)


# The dtypes pandas gives a column of floats and one of integers that are copied.
_PARSED = {FLOAT: "fiu", INTEGER: "iu"}


def _stray_cells(block: _Block, signs: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The cells holding a byte no number is written with: anything but digits and a dot,
    or a minus that does not start the cell (found only in a block that has any)."""
    stray = np.zeros(block.begin.shape, dtype=np.bool_)
    # Below "0" a number has its dot and its sign, a row its separators: with no other byte
    # below "0" (and none above "9"), every minus starts a cell.
    data = block.data
    below = np.count_nonzero(data < _ZERO) - np.count_nonzero(data == _DOT) - block.begin.size
    if below == int(signs.sum()) and not (data > ord("9")).any():
        return stray
    odd = ~_NUMBER_BYTES[block.data]
    odd[block.begin[signs]] = False
    where = np.searchsorted(block.begin.ravel(), np.flatnonzero(odd), side="right") - 1
    stray.ravel()[where] = True
    return stray


class _NumberCells:
    """The bytes that tell whether each cell of a block is its number as ``write_csv``
    writes it: its first two after its sign, and its last two. Worked out for every cell at
    once, since whole arrays are much faster to work on than a selection of columns."""

    def __init__(self, block: _Block) -> None:
        self.block = block
        head = block.heads
        self.sign = (head & 0xFF) == _MINUS
        after = head >> (self.sign.astype(np.uint32) << 3)  # past the sign
        self.zero_first = (after & 0xFF) == _ZERO
        self.size = block.end - block.begin - self.sign
        self.empty = block.end == block.begin
        # No leading zero but a lone one ("0", "0.5").
        self.plain = ~self.zero_first | (self.size == 1) | (((after >> 8) & 0xFF) == _DOT)
        self.dot_first = (after & 0xFF) == _DOT
        self.stray = _stray_cells(block, self.sign)
        # A cell of one byte at the block's start wraps round: it is no float.
        self.tail = block.window[block.end - 2]  # the byte before the last, then the last
        self.point_zero = (self.tail & 0xFFFF) == (_DOT | _ZERO << 8)

    def integers(self) -> npt.NDArray[np.bool_]:
        """Integers as ``str`` writes them (the parse has seen no dot): "-0" is written "0"."""
        ok = self.plain & (self.size >= 1) & (self.size <= _COPY_INT_DIGITS)
        result: npt.NDArray[np.bool_] = ok & ~(self.sign & self.zero_first)
        return result

    def floats(self) -> npt.NDArray[np.bool_]:
        """Floats as repr writes them, as far as their bytes tell, for at most
        ``_COPY_DIGITS`` digits: one dot between digits, no trailing zero but a lone one."""
        last = (self.tail >> 8) & 0xFF
        ok = self.plain & (self.size >= 3) & (self.size <= _COPY_DIGITS + 1) & ~self.dot_first
        result: npt.NDArray[np.bool_] = ok & (last != _DOT) & ((last != _ZERO) | self.point_zero)
        return result


def _plain_values(
    values: npt.NDArray[np.float64], point_zero: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """What the bytes do not tell of a float written as repr writes it: a whole number has
    a dot ("<digits>.0"; any other has one), and no exponent (repr writes one below 1e-4)."""
    with np.errstate(invalid="ignore"):
        ok = (values != np.floor(values)) | point_zero
        size = np.abs(values)
        result: npt.NDArray[np.bool_] = ok & ((size >= _SMALLEST_PLAIN) | (size == 0))
    return result


# repr writes a smaller float with an exponent.
_SMALLEST_PLAIN = 1e-4


def _relabelled(block: _Block, the_plan: Plan, labels: npt.NDArray[np.uint8]) -> _Lines:
    """The block's lines with the label's and the excluded columns' cells dropped and the
    0/1 label put first."""
    begin, end, fields = block.begin, block.end, len(block.header)
    dropped = [n for n, name in enumerate(block.header) if name not in the_plan.features]
    if dropped == [0] and (begin[:, 1] == begin[:, 0] + 2).all():
        data = block.data.copy()  # a one-byte label first: the lines keep their length
        data[begin[:, 0]] = labels + ord("0")
        return _Lines(data, end[:, -1].copy())
    keep = np.ones(len(block.data), dtype=np.bool_)
    for n in dropped:
        # Each dropped cell goes with the comma after it (the last cell with the one before).
        low, high = (begin[:, n], begin[:, n + 1]) if n + 1 < fields else (end[:, n - 1], end[:, n])
        keep[_spans(low, high)] = False
    kept = block.data[keep]
    rows = len(labels)
    ends = np.flatnonzero(kept == _NEWLINE) + 2 * np.arange(1, rows + 1)
    starts = np.concatenate([[0], ends[:-1] + 1])
    data = np.empty(len(kept) + 2 * rows, dtype=np.uint8)
    copied = np.ones(len(data), dtype=np.bool_)
    copied[starts] = copied[starts + 1] = False
    data[copied] = kept
    data[starts] = labels + ord("0")
    data[starts + 1] = _COMMA
    return _Lines(data, ends)


def _spans(low: npt.NDArray[np.int64], high: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Every position from ``low[n]`` up to ``high[n]``, for each n."""
    sizes = high - low
    return np.repeat(low - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))


def _replaced(lines: _Lines, rows: npt.NDArray[np.intp], other: npt.NDArray[np.uint8]) -> _Lines:
    """``lines`` with the lines of ``rows`` (ascending) replaced by those of ``other``, in
    turn."""
    other_ends = np.flatnonzero(other == _NEWLINE)
    lengths = lines.lengths()
    pieces, done = [], 0
    for row, stop, other_start, other_stop in zip(
        rows.tolist(),
        (lines.ends[rows] + 1).tolist(),
        np.concatenate([[0], other_ends[:-1] + 1]).tolist(),
        (other_ends + 1).tolist(),
        strict=True,
    ):
        pieces += [lines.data[done : stop - lengths[row]], other[other_start:other_stop]]
        done = stop
    pieces.append(lines.data[done:])
    lengths[rows] = np.diff(other_ends, prepend=-1)
    return _Lines(np.concatenate(pieces), np.cumsum(lengths) - 1)


# --------------------------------------------------------------------------------------------
# Instances: N processing instances each read a shard of the files (ShardedByS3Key) and agree
# on one verdict by exchanging their profiles
# --------------------------------------------------------------------------------------------

# SageMaker writes the job's hosts here in every processing container.
RESOURCE_CONFIG = Path("/opt/ml/config/resourceconfig.json")
DEFAULT_PORT = 9731
# How long the instances wait for each other to start: SageMaker starts them together, but
# each downloads its shard first.
CONNECT_SECONDS = 900.0


@dataclass(frozen=True)
class Cluster:
    """The processing job's instances, this one among them, and where the first one listens."""

    hosts: tuple[str, ...] = ("algo-1",)
    current: str = "algo-1"
    address: tuple[str, int] | None = None  # default: the first host, DEFAULT_PORT

    def __post_init__(self) -> None:
        if (
            not self.hosts
            or self.current not in self.hosts
            or len(set(self.hosts)) != len(self.hosts)
        ):
            raise ValueError(
                f"current host {self.current!r} must be one of distinct hosts {list(self.hosts)}"
            )

    @property
    def leader(self) -> bool:
        return self.current == self.hosts[0]

    @property
    def rendezvous(self) -> tuple[str, int]:
        return self.address or (self.hosts[0], DEFAULT_PORT)

    @classmethod
    def from_resource_config(cls, path: Path = RESOURCE_CONFIG) -> Cluster:
        """The job's hosts as SageMaker lists them; one local host without the file."""
        if not path.is_file():
            return cls()
        config = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(config["hosts"]), config["current_host"])


class _Exchange:
    """Every instance's payload (JSON) to every instance, in host order: the first instance
    collects them and sends the list back. A peer that dies closes its connection, which ends
    the others' wait with an error naming it rather than a hang."""

    def __init__(self, cluster: Cluster, connect_seconds: float = CONNECT_SECONDS) -> None:
        self.cluster = cluster
        self.peers: dict[str, socket.socket] = {}
        if len(cluster.hosts) == 1:
            return
        if cluster.leader:
            self._accept(connect_seconds)
        else:
            self._connect(connect_seconds)

    def _accept(self, seconds: float) -> None:
        server = socket.create_server(("", self.cluster.rendezvous[1]), reuse_port=False)
        server.settimeout(seconds)
        expected = set(self.cluster.hosts[1:])
        try:
            while expected - set(self.peers):
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    missing = sorted(expected - set(self.peers))
                    raise RuntimeError(
                        f"instance(s) {', '.join(missing)} did not connect to "
                        f"{self.cluster.current} within {seconds:.0f} s"
                    ) from None
                connection.settimeout(None)
                host = _receive(connection, "a connecting instance")
                if host not in expected:
                    connection.close()
                    continue
                self.peers[str(host)] = connection
        finally:
            server.close()

    def _connect(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        leader = self.cluster.hosts[0]
        while True:
            try:
                connection = socket.create_connection(self.cluster.rendezvous, timeout=10)
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"could not reach the first instance {leader} at "
                        f"{self.cluster.rendezvous[0]}:{self.cluster.rendezvous[1]} within "
                        f"{seconds:.0f} s: {error}"
                    ) from None
                time.sleep(0.2)
        connection.settimeout(None)
        _send(connection, self.cluster.current)
        self.peers[leader] = connection

    def allgather(self, payload: Any) -> list[Any]:
        if len(self.cluster.hosts) == 1:
            return [payload]
        if not self.cluster.leader:
            leader = self.cluster.hosts[0]
            _send(self.peers[leader], payload)
            return list(_receive(self.peers[leader], f"the first instance {leader}"))
        gathered = [payload] + [
            _receive(self.peers[host], f"instance {host}") for host in self.cluster.hosts[1:]
        ]
        for host in self.cluster.hosts[1:]:
            _send(self.peers[host], gathered)
        return gathered

    def close(self) -> None:
        for connection in self.peers.values():
            connection.close()

    def __enter__(self) -> _Exchange:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _send(connection: socket.socket, payload: Any) -> None:
    data = json.dumps(payload).encode("utf-8")
    connection.sendall(len(data).to_bytes(8, "big") + data)


def _receive(connection: socket.socket, who: str) -> Any:
    size = int.from_bytes(_exactly(connection, 8, who), "big")
    return json.loads(_exactly(connection, size, who).decode("utf-8"))


def _exactly(connection: socket.socket, size: int, who: str) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            raise RuntimeError(f"{who} closed the connection (it failed: see its log)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------
# The step: find and scan the files, profile them, agree on a plan, write the splits
# --------------------------------------------------------------------------------------------


def _attempt(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work()``'s payload, or the problems that stopped it, for the other instances too."""
    try:
        return work()
    except DataValidationError as error:
        return {"problems": [["", problem] for problem in error.problems]}


def _raise_gathered(payloads: Sequence[dict[str, Any]]) -> None:
    """Raise with every instance's problems, in file order (folder-wide ones first)."""
    problems = [tuple(p) for payload in payloads for p in payload.get("problems", [])]
    if problems:
        raise DataValidationError([text for _, text in sorted(problems, key=lambda p: p[0])])


def _scan_files(input_dir: Path, instances: int) -> dict[str, Any]:
    """This instance's files with their headers, and each file's problems."""
    # With N instances a shard may hold no file at all; the union must hold one.
    if instances > 1 and not (input_dir.is_dir() and any(_visible_files(input_dir))):
        return {"files": {}, "problems": []}
    headers, problems = _scanned(find_csv_files(input_dir))
    return {"files": headers, "problems": problems}


def _agreed_files(exchange: _Exchange, input_dir: Path) -> tuple[list[Path], list[str]]:
    """This instance's files and the header of the first file of all (the output order).

    Every instance's problems, file by file in path order, then the files whose columns
    differ from the first file's, as ``read_input`` reports them.
    """
    payloads = exchange.allgather(
        _attempt(lambda: _scan_files(input_dir, len(exchange.cluster.hosts)))
    )
    headers = _by_path({path: h for p in payloads for path, h in p.get("files", {}).items()})
    everything = sorted(headers, key=str)
    problems = [tuple(p) for payload in payloads for p in payload.get("problems", [])]
    texts = [text for _, text in sorted(problems, key=lambda p: p[0])]
    texts += _column_differences(everything, headers) if everything else []
    if texts:
        raise DataValidationError(texts)
    if not everything:
        raise DataValidationError(
            [f"no CSV files found in the input of any of the {len(payloads)} instances"]
        )
    _say_idle(exchange.cluster, payloads)
    mine = payloads[exchange.cluster.hosts.index(exchange.cluster.current)]["files"]
    return [Path(path) for path in mine], headers[everything[0]]


def _say_idle(cluster: Cluster, payloads: Sequence[dict[str, Any]]) -> None:
    """Name the instances that got no file: not an error (the others' splits are whole), but
    the instances were paid for."""
    idle = [host for host, p in zip(cluster.hosts, payloads, strict=True) if not p["files"]]
    if idle:
        print(
            f"instance(s) {', '.join(idle)} got no input file: ShardedByS3Key deals out whole "
            f"files, so upload at least as many files as the {len(payloads)} instances"
        )


def _chunks(
    path: Path, usecols: Sequence[str], text_columns: Sequence[str]
) -> Iterator[pd.DataFrame]:
    """The file's rows, ``CHUNK_ROWS`` at a time, indexed by data row."""
    options: dict[str, Any] = {
        "encoding": "utf-8-sig",
        # The scan has rejected ragged rows; index_col=False is the guard should one slip
        # through, since pandas would otherwise shift every column by one without a word.
        "index_col": False,
        "usecols": list(usecols),
        "chunksize": CHUNK_ROWS,
        "low_memory": False,
    }
    if text_columns:
        options["dtype"] = {name: str for name in text_columns}
    try:
        with pd.read_csv(path, **options) as reader:
            yield from reader
    except (ValueError, UnicodeDecodeError) as error:  # ParserError is a ValueError
        raise DataValidationError([f"{path} is not a readable CSV file: {error}".strip()]) from None


_Item = TypeVar("_Item")
# Seconds between a waiting producer's looks at whether its consumer has stopped.
_PREFETCH_POLL = 0.1


def _prefetched(items: Iterator[_Item]) -> Iterator[_Item]:
    """``items`` in order, each produced in a thread while the one before is used: pandas
    parses (and NumPy scans bytes) with the GIL released, so the next chunk is read while
    this one is profiled or written, on a second core. One item waits at most, so memory
    holds three. The producer's error is raised here, in its turn."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand(done: bool, value: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put((done, value), timeout=_PREFETCH_POLL)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand(False, item):
                    return
            hand(True, None)
        except BaseException as error:  # raised again by the consumer
            hand(True, error)
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator: the files it reads, if the consumer stopped
                close()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            done, value = ready.get()
            if done:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        thread.join()


def _profile_files(
    files: Sequence[Path], label_column: str, usecols: Sequence[str], text_columns: Sequence[str]
) -> dict[str, Any]:
    profile, problems = TableProfile(), []
    for path in files:
        try:
            for chunk in _prefetched(_chunks(path, usecols, text_columns)):
                where = _Where(str(path), chunk.index.to_numpy(dtype=np.int64))
                profile.merge(profile_frame(chunk, label_column, where))
        except DataValidationError as error:
            problems += [[str(path), problem] for problem in error.problems]
    return {"profile": profile.to_json(), "problems": problems}


def _merged(payloads: Sequence[dict[str, Any]]) -> TableProfile:
    _raise_gathered(payloads)
    merged = TableProfile()
    for payload in payloads:
        merged.merge(TableProfile.from_json(payload["profile"]))
    return merged


class _Options(NamedTuple):
    label_column: str
    fractions: tuple[float, float]
    seed: int
    positive_class: str | None
    exclude_columns: tuple[str, ...]
    train_parts: int


def _agreed_plan(
    exchange: _Exchange, files: Sequence[Path], header: Sequence[str], options: _Options
) -> Plan:
    _check_label_column_named(header, options.label_column)
    usecols = [name for name in header if name not in options.exclude_columns]
    if options.label_column not in usecols:
        usecols.append(options.label_column)
    profile = _merged(
        exchange.allgather(
            _attempt(lambda: _profile_files(files, options.label_column, usecols, ()))
        )
    )
    # A column of text with chunks pandas read as numbers ("007" as 7): those chunks again,
    # as text, so that its categories are the values as written.
    again = [
        name
        for name, column in profile.columns.items()
        if column.kind == CATEGORICAL and column.number_chunks
    ]
    if again:
        redone = _merged(
            exchange.allgather(
                _attempt(lambda: _profile_files(files, options.label_column, again, again))
            )
        )
        profile.columns.update(redone.columns)
    if not profile.rows:
        raise DataValidationError(["no data rows: every input file has a header row only"])
    print(f"Read {profile.rows} rows x {len(usecols)} columns")
    return plan(
        profile,
        options.label_column,
        options.fractions,
        positive_class=options.positive_class,
        exclude_columns=options.exclude_columns,
        header=header,
    )


def _targets(
    out_dirs: dict[str, Path], cluster: Cluster, train_parts: int
) -> dict[tuple[int, int], Path]:
    """Each (split, part)'s file: ``<split>.csv`` from one instance writing one part, else
    ``<split>-<host>[-<part>].csv`` (docs/model-contract.md, section 1)."""
    if len(cluster.hosts) == 1 and train_parts == 1:
        return {(n, 0): out_dirs[name] / f"{name}.csv" for n, name in enumerate(SPLITS)}
    targets = {
        (0, part): out_dirs["train"] / f"train-{cluster.current}-{part:03d}.csv"
        for part in range(train_parts)
    }
    for n, name in enumerate(SPLITS[1:], start=1):
        targets[(n, 0)] = out_dirs[name] / f"{name}-{cluster.current}.csv"
    return targets


def _write_splits(
    exchange: _Exchange,
    files: Sequence[Path],
    the_plan: Plan,
    out_dirs: dict[str, Path],
    options: _Options,
) -> npt.NDArray[np.int64]:
    """Write this instance's rows into their splits; return every instance's (split, class)
    counts, once each split is known to hold both classes."""
    exact = [cls for cls in (0, 1) if the_plan.class_rows[cls] <= EXACT_SPLIT_ROWS]
    usecols = [the_plan.label_column, *the_plan.features]
    writer = _SplitWriter(_targets(out_dirs, exchange.cluster, options.train_parts), usecols)
    held: list[_Held] = []
    try:
        for chunk, block in _prefetched(_files_chunks(files, the_plan)):
            held += _write_chunk(writer, chunk, block, the_plan, options=options, exact=exact)
        cuts = _agreed_cuts(exchange, [(r, h) for r, h, _ in held], exact, options.fractions)
        for rows, hashes, lines in held:
            writer.write_rows(rows, hashes, options, cuts, lines)
        payloads = exchange.allgather({"counts": writer.counts.tolist()})
        counts: npt.NDArray[np.int64] = np.sum(
            [np.asarray(p["counts"], dtype=np.int64) for p in payloads], axis=0
        )
        _check_split_classes(counts)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    text = json.dumps(the_plan.schema, indent=2, ensure_ascii=False) + "\n"
    for name in SPLITS:
        (out_dirs[name] / SCHEMA_FILE).write_text(text, encoding="utf-8")
    return counts


# Rows of a class split exactly, with their hashes and lines, until the cuts are known.
_Held = tuple[pd.DataFrame, npt.NDArray[np.uint64], "_Lines | None"]


def _write_chunk(
    writer: _SplitWriter,
    chunk: pd.DataFrame,
    block: _Block | None,
    the_plan: Plan,
    *,
    options: _Options,
    exact: Sequence[int],
) -> list[_Held]:
    """Write the chunk's rows into their splits, but for the rows of a class split exactly,
    which wait (returned) until every instance's hashes are known."""
    rows = typed_rows(chunk, the_plan)
    hashes = row_hashes(rows, options.seed)
    lines = None if block is None else _copied_lines(block, chunk, rows, the_plan)
    if lines is not None:
        rows = rows.iloc[:, :1]  # the rest is in the lines
    waiting = rows.iloc[:, 0].isin(exact).to_numpy()
    held: list[_Held] = []
    if waiting.any():
        held.append((rows[waiting], hashes[waiting], _taken(lines, waiting)))
        rows, hashes, lines = rows[~waiting], hashes[~waiting], _taken(lines, ~waiting)
    writer.write_rows(rows, hashes, options, {}, lines)
    return held


def _taken(lines: _Lines | None, which: npt.NDArray[np.bool_]) -> _Lines | None:
    return None if lines is None else lines.take(which)


def _files_chunks(
    files: Sequence[Path], the_plan: Plan
) -> Iterator[tuple[pd.DataFrame, _Block | None]]:
    for path in files:
        yield from _split_chunks(path, the_plan)


def _agreed_cuts(
    exchange: _Exchange,
    held: Sequence[tuple[pd.DataFrame, npt.NDArray[np.uint64]]],
    exact: Sequence[int],
    fractions: tuple[float, float],
) -> Cuts:
    """The cuts of each exactly split class, from every instance's hashes of its rows."""
    if not exact:
        return {}
    mine = {
        cls: [
            int(h)
            for rows, hashes in held
            for h in hashes[rows.iloc[:, 0].to_numpy() == cls].tolist()
        ]
        for cls in exact
    }
    payloads = exchange.allgather({str(cls): hashes for cls, hashes in mine.items()})
    return {
        cls: exact_cuts(
            np.array([h for p in payloads for h in p[str(cls)]], dtype=np.uint64), fractions
        )
        for cls in exact
    }


def _check_split_classes(counts: npt.NDArray[np.int64]) -> None:
    short = [
        f"{name} has 0 row(s) of class {cls}"
        for n, name in enumerate(SPLITS)
        for cls in (0, 1)
        if not counts[n, cls]
    ]
    if short:
        raise DataValidationError(
            [f"too few rows to split with each class in every split: {'; '.join(short)}"]
        )


def _summary(counts: npt.NDArray[np.int64]) -> str:
    return ", ".join(
        f"{name} {int(counts[n].sum())} ({int(counts[n, 1])} positive)"
        for n, name in enumerate(SPLITS)
    )


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
    cluster: Cluster | None = None,
    train_parts: int = 1,
) -> dict[str, dict[int, int]]:
    """Validate everything before writing anything, so a failed run leaves no partial output.

    Reads the input twice, a chunk at a time: once to profile it (every check is made on the
    profile), once to write each row into its split. With a ``cluster`` of N instances each
    reads its own files and they agree on one verdict. Returns each split's rows per class.
    """
    validate_fractions(validation_fraction, test_fraction)
    if train_parts < 1:
        raise ValueError(f"train_parts must be 1 or more, not {train_parts}")
    options = _Options(
        label_column,
        (validation_fraction, test_fraction),
        seed,
        positive_class,
        tuple(exclude_columns),
        train_parts,
    )
    with _Exchange(cluster or Cluster()) as exchange:
        files, header = _agreed_files(exchange, input_dir)
        the_plan = _agreed_plan(exchange, files, header, options)
        counts = _write_splits(exchange, files, the_plan, out_dirs, options)
    print("Split: " + _summary(counts))
    return {name: {0: int(counts[n, 0]), 1: int(counts[n, 1])} for n, name in enumerate(SPLITS)}


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
        help="share of the rows for the validation split, of each class alike",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.15,
        help="share of the rows for the test split, of each class alike; train gets the rest",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed of the split: a row's split is decided by a hash of its values with this "
        "seed, so the same seed gives the same split on any number of instances",
    )
    parser.add_argument(
        "--train-parts",
        type=_positive_int,
        default=1,
        help="files each instance writes the train split into (the pipeline passes the number "
        "of training instances, so that a sharded train channel gives each a part)",
    )
    parser.add_argument(
        "--hosts",
        default="",
        help="comma-separated hosts of the job, this one with --current-host (default: "
        f"{RESOURCE_CONFIG}, as SageMaker writes it; without it, one host)",
    )
    parser.add_argument("--current-host", default="", help="this instance's host (with --hosts)")
    parser.add_argument(
        "--rendezvous",
        default="",
        help=f"HOST:PORT the first host listens on for the others (default: the first host, "
        f"port {DEFAULT_PORT})",
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not 1 or more")
    return value


def cluster_from_args(args: argparse.Namespace) -> Cluster:
    """The instances from --hosts/--current-host, else from SageMaker's resource config."""
    address = None
    if args.rendezvous:
        host, _, port = args.rendezvous.rpartition(":")
        address = (host, int(port))
    if args.hosts:
        hosts = tuple(_column_list(args.hosts))
        return Cluster(hosts, args.current_host or hosts[0], address)
    found = Cluster.from_resource_config()
    return Cluster(found.hosts, found.current, address)


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
            cluster=cluster_from_args(args),
            train_parts=args.train_parts,
        )
    except DataValidationError as error:
        print(f"preprocess: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
