"""Evaluate step: score the trained model on the test split and decide whether to register it.

Runs as ``python3 evaluate.py`` in SageMaker's XGBoost image as a processing job, where it
imports nothing from this repository: the only other file shipped is ``drift.py``, which it
loads from ``--drift-module``. Every model is
loaded and scored through the serving code inside its own archive (``code/inference.py``: its
``model_fn`` and ``predict_proba``), so the test metrics are computed by the code that serves
the model, at the model's own ``decision_threshold``.

Inputs:

* ``--model-dir``: ``model.tar.gz``, the model to evaluate (the challenger);
* ``--test-dir``: ``test.csv`` or its part files ``test-<part>.csv`` (header row; the 0/1
  label first) and ``schema.json``;
* ``--champion-dir``: the approved model's ``model.tar.gz``, compared with when
  ``--champion-package-arn`` names that model version; ignored when the ARN is empty (there is
  no approved model, and the pipeline fills the folder with the challenger's own model);
* ``--train-dir`` and ``--drift-module``: the training split and ``drift.py``, for the drift
  baseline (skipped without ``--drift-module``).

Outputs, in ``--output-dir``:

* ``evaluation.json``: SageMaker's model-quality format (``binary_classification_metrics``,
  one entry per name in ``METRICS`` plus the confusion matrix and the ROC curve), registered as
  the model version's quality metrics. ``auc`` is the text ``"NaN"`` and the ROC curve empty
  when the test split lacks a class (possible only with ``--min-positives``/``--min-negatives``
  0).
* ``gate.json``: the registration decision read by the pipeline's condition step:
  ``register`` (1 or 0), the gated metric, every failed check, the class counts, the champion
  comparison and a one-line ``message``.
* ``sample-payload.tar.gz``: ``payload.csv`` with up to 10 raw test records (features only, no
  label, no header, each field exactly as the test split holds it), registered as the model
  package's sample payload and sent to the staging endpoint by its test.
* ``baseline.json`` (with ``--drift-module``): the model's drift baseline, the training split's
  features and the model's scores on them summarised by ``drift.build_baseline``; registered
  as the model version's data-quality statistics, so each deployed model is checked against
  its own training data.

Exit codes: 0 when the outputs are written, whether or not the model passes the gate
(``gate.json`` says which); 1 when the model or the test data cannot be evaluated or the
outputs cannot be written (the reason is printed to stderr); 2 for invalid command-line
arguments.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import io
import json
import numbers
import shutil
import sys
import tarfile
import tempfile
import uuid
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from itertools import combinations
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import ModuleType
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
import pandas as pd

DEFAULT_MODEL_DIR = Path("/opt/ml/processing/model")
DEFAULT_TEST_DIR = Path("/opt/ml/processing/test")
DEFAULT_CHAMPION_DIR = Path("/opt/ml/processing/champion")
DEFAULT_TRAIN_DIR = Path("/opt/ml/processing/train")
DEFAULT_OUTPUT_DIR = Path("/opt/ml/processing/evaluation")

MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "xgboost-model"
MODEL_SCHEMA_FILE = "model-schema.json"
SERVING_CODE = "code/inference.py"
SCHEMA_FILE = "schema.json"
EVALUATION_FILE = "evaluation.json"
# The model's drift baseline (pipeline_code/drift.py), built from the training split.
BASELINE_FILE = "baseline.json"
# The drift baseline summarises at most this many training rows (a uniform sample of a longer
# split): 101 quantiles of a million values are exact to far below the sketch's 1/100, and
# Evaluate's memory stays bounded however large the split.
BASELINE_MAX_ROWS = 1_000_000
BASELINE_SEED = 20_261_206
GATE_FILE = "gate.json"
PAYLOAD_ARCHIVE = "sample-payload.tar.gz"
PAYLOAD_FILE = "payload.csv"

METRICS = ("f1", "accuracy", "precision", "recall", "auc")
"""Metrics under ``binary_classification_metrics`` that the gate may be set on."""

FEATURE_TYPES = ("numeric", "categorical")
LABELS = ("0", "1")
ROC_MAX_POINTS = 101
SAMPLE_ROWS = 10
# XGBoost scores float32 values; a larger magnitude fails inside the library.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# SageMaker's model-quality format writes an unknown number as this text.
UNDEFINED = "NaN"

Labels = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float64]


class EvaluationError(ValueError):
    """The model or the test data cannot be evaluated."""


class UnsafeArchiveError(EvaluationError):
    """A model archive member could be written outside the extraction folder."""


# --- model archives ---------------------------------------------------------------------------


def check_member(member: tarfile.TarInfo) -> None:
    """Accept only plain files and folders with relative paths that stay inside the target."""
    name = member.name
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute():
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in PurePosixPath(name).parts or ".." in PureWindowsPath(name).parts:
        raise UnsafeArchiveError(f"archive member {name!r} points outside the archive ('..')")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            f"archive member {name!r} is a link or special file; only files and folders are allowed"
        )


def safe_extract(archive: Path, destination: Path) -> list[Path]:
    """Extract ``archive`` into ``destination`` after checking every member; return the files."""
    extracted: list[Path] = []
    root = destination.resolve()
    if archive.is_dir():
        raise EvaluationError(f"model archive {archive} is a folder, not a .tar.gz file")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            for member in members:
                target = (root / member.name).resolve()
                if not target.is_relative_to(root):
                    raise UnsafeArchiveError(f"archive member {member.name!r} escapes {root}")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                source = tar.extractfile(member)
                if source is None:
                    raise UnsafeArchiveError(f"archive member {member.name!r} has no data")
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                extracted.append(target)
    except FileNotFoundError:
        raise EvaluationError(f"model archive {archive} does not exist") from None
    except tarfile.TarError as error:
        raise EvaluationError(f"{archive} is not a readable tar archive: {error}") from None
    except (EOFError, OSError, zlib.error) as error:
        # gzip reports a truncated or corrupt stream through these rather than TarError.
        raise EvaluationError(
            f"cannot extract {archive} (truncated or corrupt?): {type(error).__name__}: {error}"
        ) from None
    return extracted


def _first_line(error: BaseException) -> str:
    # Foreign code's errors may carry native stack traces; their first line says what failed.
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


# --- schemas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """The parts of ``schema.json`` (or a model's ``model-schema.json``) evaluation relies on."""

    label_column: str
    positive_class: str
    negative_class: str
    features: tuple[tuple[str, str], ...]
    """``(name, type)`` in column order; type is one of ``FEATURE_TYPES``."""

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features]


def read_json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluationError(f"{what} {path} does not exist") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise EvaluationError(f"{what} {path} is not valid JSON: {error}") from None
    except OSError as error:
        raise EvaluationError(f"cannot read {what} {path}: {error}") from None


def _schema_features(raw: object, source: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise EvaluationError(
            f"{source}: 'features' must be a non-empty list of {{name, type}} objects, "
            f"found {type(raw).__name__} {raw!r:.200}"
        )
    features: list[tuple[str, str]] = []
    for position, item in enumerate(raw, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or kind not in FEATURE_TYPES:
            raise EvaluationError(
                f'{source}: feature {position} must be {{"name": <text>, "type": "numeric" or '
                f'"categorical"}}, found {item!r:.200}'
            )
        features.append((name, str(kind)))
    return tuple(features)


def parse_schema(raw: object, source: str) -> Schema:
    """Validate a schema document; ``source`` names it in errors."""
    if not isinstance(raw, dict):
        raise EvaluationError(f"{source} must hold a JSON object, found {type(raw).__name__}")
    texts: dict[str, str] = {}
    for key in ("label_column", "positive_class", "negative_class"):
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise EvaluationError(f"{source}: {key!r} must be non-empty text, found {value!r}")
        texts[key] = value
    features = _schema_features(raw.get("features"), source)
    counts = Counter([texts["label_column"], *(name for name, _ in features)])
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise EvaluationError(
            f"{source}: column name(s) {', '.join(map(repr, repeated))} appear more than once "
            "among the label column and the features"
        )
    return Schema(features=features, **texts)


def compatibility_problem(model: Schema, split: Schema) -> str | None:
    """Why a model with schema ``model`` cannot be scored on a split with ``split``, or None.

    The split may hold more features than the model uses (a column excluded since it was
    trained); each feature the model uses must be there with the same type.
    """
    if (model.label_column, model.positive_class) != (split.label_column, split.positive_class):
        return (
            f"it predicts {model.label_column} = {model.positive_class!r}, but the test "
            f"split's label is {split.label_column} = {split.positive_class!r}"
        )
    split_types = dict(split.features)
    missing = [name for name in model.feature_names if name not in split_types]
    if missing:
        return (
            f"its feature(s) {', '.join(missing)} are not in the test split (which has "
            f"{', '.join(split_types)})"
        )
    retyped = [
        f"{name} ({kind} in the model, {split_types[name]} in the test split)"
        for name, kind in model.features
        if split_types[name] != kind
    ]
    if retyped:
        return f"feature type(s) differ: {', '.join(retyped)}"
    return None


# --- the test split ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitData:
    """The test split, typed by its ``schema.json``."""

    path: Path
    schema: Schema
    labels: Labels
    features: pd.DataFrame
    """Numeric columns as float64, categorical columns as text (object); missing is NaN."""
    samples: tuple[str, ...]
    """The first records' feature fields, exactly as the file holds them (no line ending)."""


class _RecordText:
    """Feeds ``csv.reader`` line by line and keeps the text of the record it is parsing.

    ``csv.reader`` asks for lines only as it needs them, so the lines taken since the last
    record are exactly the current record's text (several lines when a quoted field holds a
    line break).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._parts: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._stream)
        self._parts.append(line)
        return line

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text


@dataclass
class _Records:
    columns: list[list[str]]
    lines: Sequence[int]
    samples: list[str]


def _without_label(record: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if record.endswith(ending):
            record = record[: -len(ending)]
            break
    # The label field is checked to be 0 or 1 (quoted or not), so the first comma ends it.
    return record.split(",", 1)[1]


def _header_problem(path: Path, header: list[str] | None, expected: list[str]) -> str:
    if header is None:
        return f"{path} is empty; expected the header row {','.join(expected)} and test rows"
    missing = [name for name in expected if name not in header]
    unexpected = [name for name in header if name not in expected]
    detail = f"missing {missing}, unexpected {unexpected}" if missing or unexpected else "order"
    return (
        f"the header of {path} does not match {SCHEMA_FILE} ({detail}): expected "
        f"{','.join(expected)}, found {','.join(header)}"
    )


def _parse_records(path: Path, stream: TextIO, expected: list[str]) -> Iterator[_Records]:
    """The records, ``_READ_ROWS`` at a time (at least one chunk, maybe empty)."""
    text = _RecordText(stream)
    reader = csv.reader(text, strict=True)
    chunk = _RecordChunk(expected)
    try:
        header = next(reader, None)
        text.take()
        if header != expected:
            raise EvaluationError(_header_problem(path, header, expected))
        for fields in reader:
            record = text.take()
            if not fields:  # a blank line
                continue
            if len(fields) != len(expected):
                raise EvaluationError(
                    f"line {reader.line_num} of {path} has {len(fields)} fields; the header "
                    f"has {len(expected)}"
                )
            chunk.add(fields, reader.line_num, record)
            if len(chunk.lines) == _READ_ROWS:
                yield chunk.records()
    except csv.Error as error:
        raise EvaluationError(
            f"line {reader.line_num} of {path} is not valid CSV: {error}"
        ) from None
    if chunk.lines or not chunk.sampled:
        yield chunk.records()


class _RecordChunk:
    """Records gathered column by column until a chunk is full; the first ``SAMPLE_ROWS``
    labelled records of the file are kept as the sample payload."""

    def __init__(self, expected: list[str]) -> None:
        self.width = len(expected)
        self.sampled = 0
        self._start()

    def _start(self) -> None:
        self.columns: list[list[str]] = [[] for _ in range(self.width)]
        self.lines: list[int] = []
        self.samples: list[str] = []

    def add(self, fields: list[str], line: int, record: str) -> None:
        for column, value in zip(self.columns, fields, strict=True):
            column.append(value)
        self.lines.append(line)
        if self.sampled < SAMPLE_ROWS and fields[0] in LABELS:
            self.samples.append(_without_label(record))
            self.sampled += 1

    def records(self) -> _Records:
        records = _Records(columns=self.columns, lines=self.lines, samples=self.samples)
        self._start()
        return records


# Bytes read at a time by _plain_layout.
_SCAN_BYTES = 16 * 1024 * 1024
# Bytes that make a layout not plain: the csv module and pandas could split it differently.
_UNPLAIN_BYTES = (b'"', b"\r", b"\x00")
_LINE_FEED, _COMMA = ord("\n"), ord(",")


# pandas' C parser reads a field "true" or "false", in any case, as a boolean even in a float64
# column (1.0 or 0.0) where the text path refuses it. A feature's field follows a comma (the
# label comes first) and ends at a comma or a line feed.
_BOOLEAN_FIELDS = tuple(
    f",{word}{end}".encode() for word in ("true", "false") for end in (",", "\n")
)
# A byte of each word in either case: a block without them needs no further search, and a
# byte is found far faster than a word.
_BOOLEAN_BYTES = (b"u", b"U", b"l", b"L")


def _boolean_field_in(block: bytes, tail: bytes) -> bool:
    """Whether ``tail + block`` (``tail``: the end of the block before) holds a field that
    pandas would read as a boolean."""
    if not any(byte in block or byte in tail for byte in _BOOLEAN_BYTES):
        return False
    text = (tail + block).lower()
    return any(field in text for field in _BOOLEAN_FIELDS)


def _after_header(block: bytes, ends: npt.NDArray[np.intp], lines: int) -> bytes:
    """The part of a block after the header line, given the lines of the blocks before it."""
    if lines:
        return block
    return block[int(ends[0]) + 1 :] if len(ends) else b""


def _blank_line(block: bytes, previous: bytes, ends: npt.NDArray[np.intp]) -> bool:
    return (previous == b"\n" and block.startswith(b"\n")) or bool((np.diff(ends) == 1).any())


def _plain_layout(path: Path, fields: int, booleans: bool = True) -> int | None:
    """The number of lines of a file that the csv module and pandas split alike, else None.

    Alike: no quote, carriage return or NUL, no blank line, every line ended by a line feed
    and holding ``fields - 1`` commas. Each line is then one record whose fields are the
    text between its commas. Every line is counted: pandas' chunked reader does not refuse
    a line with a field too many when it starts a chunk (pandas 2.2, the XGBoost image's),
    and none refuses a line with a field too few (it reads as missing values). Without
    ``booleans``, None too when a field is "true" or "false" in any case
    (``_boolean_field_in``).
    """
    lines = carry = 0  # carry: the commas of the line the block before left unended
    tail = b""
    previous = b"\n"  # the start of the file is the start of a line
    try:
        with path.open("rb") as stream:
            while block := stream.read(_SCAN_BYTES):
                data = np.frombuffer(block, dtype=np.uint8)
                ends = np.flatnonzero(data == _LINE_FEED)
                rows = _after_header(block, ends, lines)
                if not _plain_block(block, previous, ends) or (
                    not booleans and _boolean_field_in(rows, tail)
                ):
                    return None
                commas = _line_commas(data, ends)
                commas[0] += carry
                if (commas[: len(ends)] != fields - 1).any():
                    return None
                carry = int(commas[len(ends)]) if len(commas) > len(ends) else 0
                lines += len(ends)
                previous, tail = block[-1:], (tail + rows[-8:])[-8:]
    except OSError:
        return None
    return lines if previous == b"\n" else None


def _plain_block(block: bytes, previous: bytes, ends: npt.NDArray[np.intp]) -> bool:
    return not any(byte in block for byte in _UNPLAIN_BYTES) and not _blank_line(
        block, previous, ends
    )


def _line_commas(data: npt.NDArray[np.uint8], ends: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    """The commas of each line ended in ``data`` (at ``ends``), then of the rest, if any."""
    starts = np.concatenate(([0], ends + 1))
    starts = starts[starts < len(data)]
    # A line of no bytes (a blank line) sums its line feed: no comma.
    return np.add.reduceat(data == _COMMA, starts, dtype=np.int64)


# Records typed at a time: only their text is held, besides the typed columns.
_READ_ROWS = 20_000


def _plain_samples(path: Path) -> list[str]:
    """The sample records of a file with a plain layout: its first lines after the header."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        head = [line[:-1] for _, line in zip(range(SAMPLE_ROWS + 1), stream, strict=False)]
    return [line.split(",", 1)[1] for line in head[1:] if line.split(",", 1)[0] in LABELS]


def _plain_chunks(path: Path, expected: list[str], lines: int) -> Iterator[_Records]:
    """Each chunk's fields as text, read by pandas, with their line numbers."""
    samples = _plain_samples(path)
    line = 2
    with pd.read_csv(
        path,
        encoding="utf-8-sig",
        dtype=object,
        na_filter=False,
        index_col=False,
        chunksize=_READ_ROWS,
    ) as chunks:
        for chunk in chunks:
            yield _Records(
                columns=[chunk[name].tolist() for name in expected],
                lines=range(line, line + len(chunk)),
                samples=samples if line == 2 else [],
            )
            line += len(chunk)
    if line != lines + 1:  # the layout scan and pandas disagree: should never happen
        raise EvaluationError(f"{path}: read {line - 2} records of {lines - 1} lines")


def _read_plain_records(path: Path, expected: list[str]) -> Iterator[_Records] | None:
    """``read_records``' chunks, read by pandas' C parser, when the layout is plain.

    None when the file's layout is not plain (see ``_plain_layout``) or its header is not
    ``expected``: ``read_records`` then reads it record by record and names the line. The
    fields are the same text either way, and records are one per line from line 2.
    """
    lines = _plain_layout(path, len(expected))
    if lines is None or lines < 2:
        return None
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            header = stream.readline()[:-1].split(",")
    except (UnicodeDecodeError, OSError):
        return None
    if header != expected:
        return None
    return _plain_chunks(path, expected, lines)


# Rows pandas types at a time (the test split, and the training split by default).
TYPED_ROWS = 200_000


class _Unsure(Exception):  # noqa: N818 (not an error: a reason to read the text instead)
    """pandas' typing met a file or a cell only the text path can judge, and name."""


def _typed_chunks(
    path: Path, schema: Schema, chunk_rows: int
) -> Iterator[tuple[Labels, pd.DataFrame]] | None:
    """One file's labels and features, read by pandas' C parser straight into the schema's
    types ``chunk_rows`` at a time; None when the result might differ from the text path's
    (``_typed_chunk``), which then reads it. Raises ``_Unsure`` as it reads when a label or a
    number turns out to break the rules: the text path then names the line.

    The text path is right by definition, and names the line of any problem; this one is
    trusted only when the file and what pandas made of it leave no room for a difference: a
    plain layout (``_plain_layout``) without words pandas would read as booleans, the
    header expected (no byte-order mark), a row per line, every label the text 0 or 1 and
    every number finite within float32. Only an empty cell is missing ("NA" is a category
    and an error in a numeric column, as on the text path); a cell that is not a number
    fails the read. Both paths parse a number to the same bits (tests compare them on
    tricky cells). In chunks: pandas 2.2 (the XGBoost image's) reading a whole file into
    given types peaks at about seven times its size.
    """
    expected = [schema.label_column, *schema.feature_names]
    lines = _plain_layout(path, len(expected), booleans=False)
    if lines is None or lines < 2 or _first_line_fields(path) != expected:
        return None
    return _typed_reads(path, schema, chunk_rows, lines - 1)


def _typed_reads(
    path: Path, schema: Schema, chunk_rows: int, rows: int
) -> Iterator[tuple[Labels, pd.DataFrame]]:
    # The label as the category of its two texts, so "1.0" is no label; any other text reads
    # as missing (pandas 3 warns that it will raise, which would also end here).
    options: dict[str, Any] = {
        "dtype": _column_types(schema, pd.CategoricalDtype(list(LABELS))),
        "keep_default_na": False,
        "na_values": {name: [""] for name in schema.feature_names},
        "index_col": False,
        "encoding": "utf-8",
        "chunksize": chunk_rows,
    }
    read = 0
    try:
        with pd.read_csv(path, **options) as reader:
            while (frame := _quietly_next(reader)) is not None:
                labels = frame.pop(schema.label_column)
                if not labels.isin(LABELS).all() or not _numbers_in_range(frame, schema):
                    raise _Unsure
                read += len(frame)
                yield (labels == "1").to_numpy(dtype=np.int64), frame
    except (ValueError, UnicodeDecodeError, OSError):  # a ParserError is a ValueError
        raise _Unsure from None
    if read != rows:  # the layout scan and pandas disagree
        raise _Unsure


def _quietly_next(reader: Any) -> pd.DataFrame | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame: pd.DataFrame | None = next(reader, None)
        return frame


def _column_types(schema: Schema, label: Any) -> dict[str, Any]:
    """pandas dtypes: the label's ``label``, numeric float64, categorical text (object)."""
    types: dict[str, Any] = {schema.label_column: label}
    return types | {
        name: object if kind == "categorical" else np.float64 for name, kind in schema.features
    }


def _first_line_fields(path: Path) -> list[str] | None:
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            return stream.readline()[:-1].split(",")
    except (UnicodeDecodeError, OSError):
        return None


def _numbers_in_range(frame: pd.DataFrame, schema: Schema) -> bool:
    # NaN compares False: only an empty cell is NaN here, which is allowed.
    return not any(
        (np.abs(frame[name].to_numpy()) > FLOAT32_MAX).any()
        for name, kind in schema.features
        if kind == "numeric"
    )


def read_records(path: Path, expected_header: list[str]) -> Iterator[_Records]:
    """The fields of a CSV file with a header, column by column with their line numbers,
    ``_READ_ROWS`` records at a time."""
    try:
        # utf-8-sig: a byte-order mark would otherwise become part of the label's name.
        with path.open(encoding="utf-8-sig", newline="") as stream:
            yield from _parse_records(path, stream, expected_header)
    except FileNotFoundError:
        raise EvaluationError(f"test data {path} does not exist") from None
    except IsADirectoryError:
        raise EvaluationError(f"test data {path} is a folder, not a CSV file") from None
    except UnicodeDecodeError as error:
        raise EvaluationError(f"{path} is not UTF-8 text: {error}") from None
    except OSError as error:
        raise EvaluationError(f"cannot read test data {path}: {error}") from None


def parse_labels(path: Path, name: str, texts: Sequence[str], lines: Sequence[int]) -> Labels:
    bad = [row for row, text in enumerate(texts) if text not in LABELS]
    empty = [row for row in bad if texts[row] == ""]
    if empty:
        raise EvaluationError(
            f"{path}: {len(empty)} row(s) have no label (an empty {name!r} cell), the first on "
            f"line {lines[empty[0]]}; every test row needs its 0/1 label"
        )
    if bad:
        raise EvaluationError(
            f"{path}: the label column {name!r} must hold 0 or 1, found {texts[bad[0]]!r} on line "
            f"{lines[bad[0]]} ({len(bad)} such row(s))"
        )
    return np.fromiter((text == "1" for text in texts), dtype=np.int64, count=len(texts))


def parse_numeric(
    path: Path, name: str, texts: Sequence[str], lines: Sequence[int]
) -> npt.NDArray[np.float64]:
    """A numeric column; empty cells are missing (NaN), anything else must be a finite number."""
    cells = pd.Series(texts, dtype=object)
    numbers = pd.to_numeric(cells, errors="coerce")
    values: npt.NDArray[np.float64] = numbers.to_numpy(dtype=np.float64)
    if numbers.dtype.kind in "iu":
        # Whole numbers throughout, parsed as integers: "-0" became 0, which has no sign.
        # Restored, so that "-0" is -0.0 however the column's cells fall into chunks, as
        # pandas' C parser reads it (_typed_chunks).
        values[[row for row in np.flatnonzero(values == 0).tolist() if "-" in texts[row]]] = -0.0
    present = (cells != "").to_numpy(dtype=bool)
    bad = present & ~(np.isfinite(values) & (np.abs(values) <= FLOAT32_MAX))
    if bad.any():
        first = int(np.argmax(bad))
        raise EvaluationError(
            f"{path}: column {name!r} is numeric in {SCHEMA_FILE} but line {lines[first]} holds "
            f"{texts[first]!r} ({int(bad.sum())} such cell(s)); a numeric cell holds a finite "
            f"number of magnitude at most {FLOAT32_MAX:.7g} (XGBoost scores float32), or is "
            "empty when the value is missing"
        )
    return values


def categorical_column(texts: Sequence[str]) -> pd.Series:
    # Object dtype under pandas 2 and 3 alike; "NA" or "None" stay text, only empty is missing.
    return pd.Series([text if text else np.nan for text in texts], dtype=object)


def split_files(folder: Path, split: str) -> list[Path]:
    """The CSV files of a split folder: ``<split>.csv`` alone, or its parts
    ``<split>-<anything>.csv`` (written by one or more preprocess instances) in sorted name
    order, whose rows concatenated are the split's rows."""
    whole = folder / f"{split}.csv"
    parts = sorted(folder.glob(f"{split}-*.csv"), key=lambda path: path.name)
    if whole.is_file() and parts:
        raise EvaluationError(
            f"{folder} holds both {whole.name} and part files "
            f"({', '.join(part.name for part in parts)}); a split folder holds either "
            f"{split}.csv or {split}-<part>.csv files, not both"
        )
    if whole.is_file():
        return [whole]
    if parts:
        return parts
    present = sorted(path.name for path in folder.glob("*.csv")) if folder.is_dir() else []
    found = f" (found {', '.join(present)})" if present else ""
    where = "" if folder.is_dir() else " (no such folder)"
    raise EvaluationError(
        f"{split} data {whole} does not exist{where}, and there are no part files "
        f"{split}-<part>.csv in {folder}{found}"
    )


def _parts_hold(folder: Path, files: Sequence[Path]) -> str:
    return f"{folder}: the part files {', '.join(path.name for path in files)} hold a header"


Piece = tuple[Labels, pd.DataFrame, list[str]]


def _file_pieces(path: Path, schema: Schema, chunk_rows: int) -> Iterator[Piece]:
    """One file's labels, typed features and sample records, a chunk at a time (the sample
    records with the first chunks).

    Read by pandas straight into the schema's types, ``chunk_rows`` at a time, when that
    gives what reading the text gives (``_typed_chunks``); else as text split by pandas
    (``_read_plain_records``), else record by record, which names the line of any problem:
    memory holds one chunk's text, never every field as text. When a faster reader stops
    part-way, after chunks were handed on, the file is read record by record to name the
    line at fault.
    """
    handed = False
    for faster in (_typed_pieces, _plain_pieces):
        pieces = faster(path, schema, chunk_rows)
        if pieces is None:
            continue
        try:
            for piece in pieces:
                handed = True
                yield piece
            return
        except _Unsure:
            if handed:
                break
    text = _text_pieces(path, schema)
    if not handed:
        yield from text
        return
    for _ in text:  # raises, naming the line
        pass
    raise EvaluationError(f"{path}: pandas and the record-by-record read disagree on its rows")


def _typed_pieces(path: Path, schema: Schema, chunk_rows: int) -> Iterator[Piece] | None:
    chunks = _typed_chunks(path, schema, chunk_rows)
    if chunks is None:
        return None
    samples = _plain_samples(path)
    return (
        (labels, frame, samples if not index else [])
        for index, (labels, frame) in enumerate(chunks)
    )


def _plain_pieces(path: Path, schema: Schema, chunk_rows: int) -> Iterator[Piece] | None:
    # chunk_rows is the typed read's: text is split _READ_ROWS records at a time.
    records = _read_plain_records(path, [schema.label_column, *schema.feature_names])
    return None if records is None else _unsure_of(_typed_pieces_of(path, schema, records))


def _unsure_of(pieces: Iterator[Piece]) -> Iterator[Piece]:
    """pandas failing to split a plain layout after all (a field too many): ``_Unsure``."""
    try:
        yield from pieces
    except EvaluationError:
        raise
    except (ValueError, UnicodeDecodeError):  # a ParserError is a ValueError
        raise _Unsure from None


def _text_pieces(path: Path, schema: Schema) -> Iterator[Piece]:
    records = read_records(path, [schema.label_column, *schema.feature_names])
    return _typed_pieces_of(path, schema, records)


def _typed_pieces_of(path: Path, schema: Schema, chunks: Iterable[_Records]) -> Iterator[Piece]:
    for records in chunks:
        yield _typed_chunk(path, schema, records)


def _typed_chunk(path: Path, schema: Schema, records: _Records) -> Piece:
    """One chunk of records typed from their text by the rules (naming the line at fault)."""
    labels = parse_labels(path, schema.label_column, records.columns[0], records.lines)
    features = pd.DataFrame(
        {
            name: parse_numeric(path, name, texts, records.lines)
            if kind == "numeric"
            else categorical_column(texts)
            for (name, kind), texts in zip(schema.features, records.columns[1:], strict=True)
        }
    )
    return labels, features, records.samples


@dataclass(frozen=True)
class OpenSplit:
    """A split's files and schema, checked; its rows read as ``pieces`` are asked for."""

    path: Path
    """The one file, or the folder of the part files."""
    schema: Schema
    files: tuple[Path, ...]

    def pieces(self) -> Iterator[SplitData]:
        """The rows, a chunk at a time, file after file; the first chunks carry the sample
        records. Raises naming the file and line of a row that breaks the rules."""
        for path in self.files:
            for labels, features, samples in _file_pieces(path, self.schema, TYPED_ROWS):
                if len(labels):
                    yield SplitData(path, self.schema, labels, features, tuple(samples))

    def no_rows(self) -> EvaluationError:
        if len(self.files) == 1:
            return EvaluationError(f"{self.files[0]} has a header but no test rows")
        return EvaluationError(f"{_parts_hold(self.path, self.files)} but no test rows")


def open_split(test_dir: Path, split: str = "test") -> OpenSplit:
    """The test split (or another split) of ``test_dir``: ``<split>.csv`` or its part files
    (``split_files``), typed by the folder's ``schema.json``."""
    schema_path = test_dir / SCHEMA_FILE
    schema = parse_schema(read_json(schema_path, "test split schema"), str(schema_path))
    files = split_files(test_dir, split)
    return OpenSplit(files[0] if len(files) == 1 else test_dir, schema, tuple(files))


def read_test_split(test_dir: Path, split: str = "test") -> SplitData:
    """The whole test split (or another split), its files' rows one after the other."""
    opened = open_split(test_dir, split)
    pieces = list(opened.pieces())
    if not pieces:
        raise opened.no_rows()
    return joined(opened, pieces)


def joined(opened: OpenSplit, pieces: Sequence[SplitData]) -> SplitData:
    """Pieces of a split as one (one piece as it is)."""
    if len(pieces) == 1:
        return replace(pieces[0], path=opened.path)
    samples = [sample for piece in pieces for sample in piece.samples][:SAMPLE_ROWS]
    return SplitData(
        opened.path,
        opened.schema,
        np.concatenate([piece.labels for piece in pieces]),
        pd.concat([piece.features for piece in pieces], ignore_index=True),
        tuple(samples),
    )


# --- models, through their own serving code ---------------------------------------------------


@dataclass(frozen=True)
class ServedModel:
    """A model loaded by the ``model_fn`` of the serving code in its archive."""

    archive: Path
    model: Any
    predict_proba: Callable[[Any, pd.DataFrame], Any]
    decision_threshold: float
    schema: Schema


def import_serving_code(path: Path, archive: Path) -> ModuleType:
    """Import ``path`` under a name of its own, so two archives' modules never mix."""
    name = f"_evaluate_serving_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EvaluationError(f"cannot import {SERVING_CODE} from {archive}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as a normal import does: dataclasses and typing look it up.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the archive's code may fail in any way
        del sys.modules[name]
        raise EvaluationError(
            f"importing {SERVING_CODE} from {archive} failed: {_first_line(error)}"
        ) from None
    return module


def _serving_function(module: ModuleType, name: str, archive: Path) -> Callable[..., Any]:
    function: object = getattr(module, name, None)
    if not callable(function):
        raise EvaluationError(
            f"{SERVING_CODE} in {archive} has no function {name}(); the model contract's "
            "serving module defines model_fn and predict_proba"
        )
    return function


def _decision_threshold(model: object, archive: Path) -> float:
    value = getattr(model, "decision_threshold", None)
    threshold = float(value) if isinstance(value, numbers.Real) else None
    if isinstance(value, bool) or threshold is None or not 0 <= threshold <= 1:
        raise EvaluationError(
            f"the model loaded from {archive} has decision_threshold {value!r}; expected a "
            "probability between 0 and 1"
        )
    return threshold


def load_served_model(archive: Path, scratch: Path) -> ServedModel:
    """Extract ``archive`` into ``scratch`` and load it with its own ``code/inference.py``."""
    files = safe_extract(archive, scratch)
    root = scratch.resolve()
    missing = [name for name in (SERVING_CODE, MODEL_SCHEMA_FILE) if root / name not in files]
    if missing:
        found = ", ".join(sorted(str(f.relative_to(root)) for f in files)) or "nothing"
        raise EvaluationError(
            f"{archive} has no {' and no '.join(missing)} (a model archive holds its serving "
            f"code and {MODEL_SCHEMA_FILE}); found {found}"
        )
    if root / MODEL_FILE in files and (root / MODEL_FILE).stat().st_size == 0:
        # Loading zero bytes aborts the whole process inside XGBoost, with nothing to catch.
        raise EvaluationError(
            f"{MODEL_FILE} in {archive} is empty (0 bytes): the training job saved no model"
        )
    module = import_serving_code(root / SERVING_CODE, archive)
    model_fn = _serving_function(module, "model_fn", archive)
    predict_proba = _serving_function(module, "predict_proba", archive)
    try:
        # SageMaker hands model_fn the model folder as text.
        model = model_fn(str(root))
    except Exception as error:  # the archive's code may fail in any way
        raise EvaluationError(
            f"model_fn of {SERVING_CODE} in {archive} failed: {_first_line(error)}"
        ) from None
    threshold = _decision_threshold(model, archive)
    schema = parse_schema(getattr(model, "schema", None), f"the schema of the model in {archive}")
    return ServedModel(archive, model, predict_proba, threshold, schema)


def _probabilities(raw: object, rows: int, archive: Path) -> Scores:
    try:
        scores = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise EvaluationError(
            f"predict_proba of {archive} returned {type(raw).__name__}, not numbers: {error}"
        ) from None
    if scores.shape != (rows,):
        raise EvaluationError(
            f"predict_proba of {archive} returned shape {scores.shape} for {rows} rows; "
            "expected one probability per row"
        )
    outside = ~((scores >= 0) & (scores <= 1))
    if outside.any():
        raise EvaluationError(
            f"predict_proba of {archive} returned {int(outside.sum())} value(s) outside [0, 1] "
            f"(the first {float(scores[outside][0])!r}); it must return probabilities of the "
            "positive class"
        )
    return scores


def score(served: ServedModel, split: SplitData) -> Scores:
    """The model's probabilities of the positive class for every test row."""
    problem = compatibility_problem(served.schema, split.schema)
    if problem:
        raise EvaluationError(f"the model in {served.archive} cannot score {split.path}: {problem}")
    frame = split.features.loc[:, served.schema.feature_names]
    try:
        raw = served.predict_proba(served.model, frame)
    except Exception as error:  # the archive's code may fail in any way
        raise EvaluationError(
            f"predict_proba of {SERVING_CODE} in {served.archive} failed on {split.path}: "
            f"{_first_line(error)}"
        ) from None
    return _probabilities(raw, len(split.labels), served.archive)


# --- metrics ----------------------------------------------------------------------------------


def confusion_counts(y_true: Labels, y_pred: Labels) -> dict[str, int]:
    return {
        "tn": int(((y_true == 0) & (y_pred == 0)).sum()),
        "fp": int(((y_true == 0) & (y_pred == 1)).sum()),
        "fn": int(((y_true == 1) & (y_pred == 0)).sum()),
        "tp": int(((y_true == 1) & (y_pred == 1)).sum()),
    }


def _ratio(numerator: int, denominator: int) -> float:
    # An empty denominator means nothing was predicted (or found) positive, which earns no
    # credit, as in scikit-learn with zero_division=0.
    return numerator / denominator if denominator else 0.0


def threshold_metrics(tn: int, fp: int, fn: int, tp: int) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class 1 from confusion counts."""
    return {
        "accuracy": _ratio(tp + tn, tn + fp + fn + tp),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def roc_points(
    y_true: Labels, y_score: Scores, max_points: int = ROC_MAX_POINTS
) -> tuple[list[float], list[float]]:
    """The ROC curve's operating points, thinned evenly to ``max_points`` (ends always kept)."""
    # Imported when used: local_run imports this module for its arguments in every step,
    # and scikit-learn's ~2 s import is no part of preprocess's time (its container never
    # imports it); an evaluate run pays it anyway, when the model's XGBoost loads.
    from sklearn.metrics import roc_curve  # noqa: PLC0415

    fpr, tpr, _ = roc_curve(y_true, y_score)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return [float(x) for x in fpr], [float(y) for y in tpr]


def evaluation_report(y_true: Labels, y_score: Scores, threshold: float) -> dict[str, Any]:
    """``evaluation.json`` contents for probabilities ``y_score`` cut at ``threshold``.

    AUC and the ROC curve need both classes; without one, ``auc`` is ``"NaN"`` and the curve
    empty, while the threshold metrics count as usual.
    """
    if len(y_true) != len(y_score):
        raise EvaluationError(f"{len(y_true)} labels but {len(y_score)} predictions")
    y_pred = (y_score >= threshold).astype(np.int64)
    counts = confusion_counts(y_true, y_pred)
    values: dict[str, float | str] = dict(threshold_metrics(**counts))
    rates: tuple[list[float], list[float]] = ([], [])
    if set(np.unique(y_true).tolist()) == {0, 1}:
        from sklearn.metrics import roc_auc_score  # noqa: PLC0415  (see roc_points)

        values["auc"] = float(roc_auc_score(y_true, y_score))
        rates = roc_points(y_true, y_score)
    else:
        values["auc"] = UNDEFINED
    metrics: dict[str, Any] = {
        name: {"value": values[name], "standard_deviation": UNDEFINED} for name in METRICS
    }
    metrics["confusion_matrix"] = {
        "0": {"0": counts["tn"], "1": counts["fp"]},
        "1": {"0": counts["fn"], "1": counts["tp"]},
    }
    metrics["receiver_operating_characteristic_curve"] = {
        "false_positive_rates": rates[0],
        "true_positive_rates": rates[1],
    }
    return {"binary_classification_metrics": metrics}


def metric_value(report: Mapping[str, Any], metric: str) -> float | None:
    """The metric's value in an ``evaluation.json`` report, or None when it is undefined."""
    value = report["binary_classification_metrics"][metric]["value"]
    return None if isinstance(value, str) else float(value)


# --- the gate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateSettings:
    metric: str = "f1"
    threshold: float = 0.8
    champion_margin: float = 0.0
    min_positives: int = 1
    min_negatives: int = 1


@dataclass(frozen=True)
class Champion:
    """The comparison with the approved model version; ``gate.json``'s ``champion``."""

    status: str
    """``none`` (no approved model), ``compared`` or ``unscorable``."""
    model_package_arn: str
    value: float | None
    margin: float
    floor: float | None
    note: str


def format_numbers(*values: float) -> tuple[str, ...]:
    """Four decimals, or as many more as it takes for unequal numbers not to print alike."""
    for digits in range(4, 18):
        shown = tuple(f"{value:.{digits}f}" for value in values)
        if all(
            shown[i] != shown[j] or values[i] == values[j]
            for i, j in combinations(range(len(values)), 2)
        ):
            return shown
    return tuple(repr(float(value)) for value in values)


def champion_floor(value: float, margin: float) -> float:
    # Subtracted as the decimals print, so that champion 0.8 with margin 0.1 gives the floor
    # 0.7 that a reader computes, not binary arithmetic's 0.7000000000000001 (which a
    # challenger scoring 0.7 would miss).
    return float(Decimal(repr(float(value))) - Decimal(repr(float(margin))))


def load_champion(
    arn: str, champion_dir: Path, scratch: Path
) -> ServedModel | EvaluationError | None:
    """The approved model (None when ``arn`` names none), or why it cannot be loaded."""
    if not arn:
        # The pipeline then fills champion_dir with the challenger itself: never read it.
        return None
    try:
        return load_served_model(champion_dir / MODEL_ARCHIVE, scratch)
    except EvaluationError as error:
        return error


def champion_verdict(
    arn: str,
    scored: tuple[ServedModel, Scores] | EvaluationError | None,
    labels: Labels,
    settings: GateSettings,
) -> Champion:
    """The comparison with the approved model: its scores on the test split's ``labels``, or
    why there are none."""
    margin = settings.champion_margin
    if scored is None:
        return Champion("none", "", None, margin, None, "no approved model version")
    if isinstance(scored, EvaluationError):
        return Champion("unscorable", arn, None, margin, None, f"cannot score it: {scored}")
    served, scores = scored
    report = evaluation_report(labels, scores, served.decision_threshold)
    value = metric_value(report, settings.metric)
    if value is None:
        note = f"its {settings.metric} is undefined on a test split without both classes"
        return Champion("unscorable", arn, None, margin, None, note)
    return Champion("compared", arn, value, margin, champion_floor(value, margin), "")


def class_count_failures(
    schema: Schema, positives: int, negatives: int, settings: GateSettings
) -> list[str]:
    counts = (
        ("positive", positives, settings.min_positives, "min_positives", schema.positive_class),
        ("negative", negatives, settings.min_negatives, "min_negatives", schema.negative_class),
    )
    return [
        f"the test split has {count} {kind} row(s) ({schema.label_column} = {label}); measuring "
        f"{settings.metric} needs at least {minimum} ({flag}): add data or lower {flag}"
        for kind, count, minimum, flag, label in counts
        if count < minimum
    ]


def prediction_failures(schema: Schema, scores: Scores, cutoff: float) -> list[str]:
    predicted_positive = int((scores >= cutoff).sum())
    if 0 < predicted_positive < len(scores):
        return []
    only = (
        f"{schema.positive_class} (positive)"
        if predicted_positive
        else f"{schema.negative_class} (negative)"
    )
    return [
        f"the model predicts only {only} for all {len(scores)} test rows at its cut-off "
        f"{cutoff!r}, so it has not learned to separate the classes"
    ]


def metric_failures(settings: GateSettings, value: float | None, champion: Champion) -> list[str]:
    metric = settings.metric
    if value is None:
        return [f"{metric} is undefined on a test split without both classes"]
    failures = []
    if value < settings.threshold:
        shown, threshold = format_numbers(value, settings.threshold)
        failures.append(f"{metric} {shown} is below the threshold {threshold}")
    if champion.value is not None and champion.floor is not None and value < champion.floor:
        shown, floor, best, margin = format_numbers(
            value, champion.floor, champion.value, champion.margin
        )
        failures.append(
            f"{metric} {shown} is below the champion's floor {floor} (champion {metric} {best} "
            f"- margin {margin})"
        )
    return failures


def gate_message(
    settings: GateSettings, value: float | None, champion: Champion, failures: list[str]
) -> str:
    unscored = f"champion not compared ({champion.note})" if champion.status == "unscorable" else ""
    if failures or value is None:
        reasons = [*failures, unscored] if unscored else failures
        return "do not register: " + "; ".join(reasons)
    metric = settings.metric
    if champion.value is None or champion.floor is None:
        shown, threshold = format_numbers(value, settings.threshold)
        versus = unscored or "no approved model to compare with"
        return f"{metric} {shown} >= threshold {threshold}; {versus}: register"
    shown, threshold, floor, best, margin = format_numbers(
        value, settings.threshold, champion.floor, champion.value, champion.margin
    )
    return (
        f"{metric} {shown} >= threshold {threshold} and >= champion floor {floor} (champion "
        f"{metric} {best} - margin {margin}): register"
    )


def gate_decision(
    settings: GateSettings,
    split: SplitData,
    *,
    scores: Scores,
    cutoff: float,
    value: float | None,
    champion: Champion,
) -> dict[str, Any]:
    """``gate.json`` contents: register only when every check passes."""
    positives = int(split.labels.sum())
    negatives = len(split.labels) - positives
    failures = [
        *class_count_failures(split.schema, positives, negatives, settings),
        *prediction_failures(split.schema, scores, cutoff),
        *metric_failures(settings, value, champion),
    ]
    return {
        "register": 0 if failures else 1,
        "metric": settings.metric,
        "value": value,
        "threshold": settings.threshold,
        "decision_threshold": cutoff,
        "checks": {"passed": not failures, "failures": failures},
        "test_rows": {"positive": positives, "negative": negatives},
        "champion": asdict(champion),
        "message": gate_message(settings, value, champion, failures),
    }


# --- outputs ----------------------------------------------------------------------------------


def sample_payload(samples: Sequence[str]) -> bytes:
    """Raw feature records as headerless CSV lines: what the endpoint accepts."""
    return "".join(f"{record}\n" for record in samples).encode("utf-8")


def write_tar_gz(archive: Path, members: Mapping[str, bytes]) -> None:
    """A reproducible archive: fixed timestamps and owners, so equal inputs give equal bytes."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))


def write_outputs(
    output_dir: Path,
    report: Mapping[str, Any],
    gate: Mapping[str, Any],
    payload: bytes,
    baseline: Mapping[str, Any] | None = None,
) -> None:
    documents = [(EVALUATION_FILE, report), (GATE_FILE, gate)]
    if baseline is not None:
        documents.append((BASELINE_FILE, baseline))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        for name, document in documents:
            (output_dir / name).write_text(json.dumps(document, indent=2) + "\n", "utf-8")
        write_tar_gz(output_dir / PAYLOAD_ARCHIVE, {PAYLOAD_FILE: payload})
    except OSError as error:
        raise EvaluationError(
            f"cannot write to output folder {output_dir} (--output-dir): {error}"
        ) from None


@dataclass(frozen=True)
class Paths:
    model_dir: Path = DEFAULT_MODEL_DIR
    test_dir: Path = DEFAULT_TEST_DIR
    output_dir: Path = DEFAULT_OUTPUT_DIR
    champion_dir: Path = DEFAULT_CHAMPION_DIR
    train_dir: Path = DEFAULT_TRAIN_DIR
    # drift.py, shipped beside this script; None: no baseline is written.
    drift_module: Path | None = None


def import_drift_module(path: Path) -> ModuleType:
    """pipeline_code/drift.py, which the pipeline ships beside this script as its own file."""
    name = f"_evaluate_drift_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if not path.is_file() or spec is None or spec.loader is None:
        raise EvaluationError(f"drift module {path} (--drift-module) is not a readable file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def row_keys(start: int, count: int, seed: int = BASELINE_SEED) -> npt.NDArray[np.uint64]:
    """A pseudo-random 64-bit key per row position (SplitMix64 of seed + position): the same
    key for a row however the file is read in chunks."""
    with np.errstate(over="ignore"):
        z = np.arange(start, start + count, dtype=np.uint64) + np.uint64(seed)
        z = z * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class _Sample:
    """The rows with the smallest keys seen so far, at most ``max_rows`` once reduced.

    Chunks are reduced only when half as many rows again are pending, and a reduction picks
    the rows to keep by their keys alone before copying any row, so memory holds at most
    about 2.5 x ``max_rows`` rows; a split of at most ``max_rows`` rows is concatenated once,
    in file order.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.frames: list[pd.DataFrame] = []
        self.keys: list[npt.NDArray[np.uint64]] = []
        self.pending = 0
        self.rows = 0

    def add(self, chunk: pd.DataFrame) -> None:
        self.frames.append(chunk)
        self.keys.append(row_keys(self.rows, len(chunk)))
        self.rows += len(chunk)
        self.pending += len(chunk)
        if self.pending > self.max_rows + self.max_rows // 2:
            self.reduce()

    def reduce(self) -> pd.DataFrame:
        keys = np.concatenate(self.keys)
        if len(keys) > self.max_rows:
            # Keys are distinct (SplitMix64 of distinct positions): exactly max_rows are kept.
            cut = np.partition(keys, self.max_rows - 1)[self.max_rows - 1]
            frames, self.frames = self.frames, []
            frames.reverse()
            for part in self.keys:
                # Each chunk is let go once its rows are picked, so memory holds the pending
                # chunks, not the pending chunks and the kept rows of every one of them.
                self.frames.append(frames.pop()[part <= cut].reset_index(drop=True))
            self.keys = [part[part <= cut] for part in self.keys]
        frame = (
            pd.concat(self.frames, ignore_index=True) if len(self.frames) > 1 else self.frames[0]
        )
        keys = np.concatenate(self.keys)
        self.frames, self.keys, self.pending = [frame], [keys], len(frame)
        return frame


def read_training_split(
    train_dir: Path, max_rows: int = BASELINE_MAX_ROWS, chunk_rows: int = TYPED_ROWS
) -> SplitData:
    """``train.csv`` (or its part files, in order: ``split_files``) typed by its
    ``schema.json`` by the test split's rules; at most ``max_rows`` rows are kept.

    A file that pandas would type as reading its text types it (see ``_typed_chunks``) is
    read so, ``chunk_rows`` at a time; any other file, or one whose cells break the rules,
    is read as text a chunk at a time, which names the line at fault. The training split is
    the largest: it gives no sample payload, so no record is kept as text. A longer split is
    sampled uniformly without replacement (the rows with the smallest ``row_keys``), so
    memory stays bounded and the sample does not depend on ``chunk_rows``; a split of at
    most ``max_rows`` rows is kept whole, in file order.
    """
    schema_path = train_dir / SCHEMA_FILE
    schema = parse_schema(read_json(schema_path, "train split schema"), str(schema_path))
    files = split_files(train_dir, "train")
    sample = _Sample(max_rows)
    for path in files:
        # Row keys continue from file to file, so parts sample as the one file of their rows.
        _sample_file(path, schema, sample, chunk_rows)
    path = files[0] if len(files) == 1 else train_dir
    if not sample.rows:
        what = f"{path} has a header" if len(files) == 1 else _parts_hold(train_dir, files)
        raise EvaluationError(f"{what} and no rows: nothing to build a baseline from")
    kept = sample.reduce()
    labels = kept.pop(schema.label_column)
    return SplitData(
        path, schema, labels.to_numpy(dtype=np.int64), kept[list(schema.feature_names)], ()
    )


def _sample_file(path: Path, schema: Schema, sample: _Sample, chunk_rows: int) -> None:
    """Add one file's rows to ``sample``, read as the test split's are (``_file_pieces``)."""
    for labels, features, _ in _file_pieces(path, schema, chunk_rows):
        features.insert(0, schema.label_column, labels.astype(np.float64))
        sample.add(features)


def drift_baseline(served: ServedModel, paths: Paths) -> dict[str, Any] | None:
    """The model's drift baseline: its training split and its scores on it, summarised by
    drift.py (what the production check compares traffic with); None without the module."""
    if paths.drift_module is None:
        return None
    drift = import_drift_module(paths.drift_module)
    split = read_training_split(paths.train_dir)
    schema = read_json(paths.train_dir / SCHEMA_FILE, "train split schema")
    baseline: dict[str, Any] = drift.build_baseline(split.features, schema, score(served, split))
    return baseline


def score_split(
    opened: OpenSplit, challenger: ServedModel, champion: ServedModel | EvaluationError | None
) -> tuple[SplitData, Scores, tuple[ServedModel, Scores] | EvaluationError | None]:
    """Both models' scores on the test split, read and scored a chunk at a time, so memory
    holds one chunk's features and every row's label and scores (the split without its
    features), however long the split is. A champion that fails to score becomes the
    error."""
    pieces, scores, rival = [], [], []
    for piece in opened.pieces():
        scores.append(score(challenger, piece))
        if isinstance(champion, ServedModel):
            try:
                rival.append(score(champion, piece))
            except EvaluationError as error:
                champion = error
        pieces.append(replace(piece, features=piece.features.iloc[:0]))
    if not pieces:
        raise opened.no_rows()
    split = joined(opened, pieces)
    scored: tuple[ServedModel, Scores] | EvaluationError | None = (
        (champion, np.concatenate(rival)) if isinstance(champion, ServedModel) else champion
    )
    return split, np.concatenate(scores), scored


def evaluate(
    paths: Paths, settings: GateSettings, champion_arn: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score the model (and the champion), write the outputs; ``(evaluation, gate)``."""
    # Checked first, so that a wrong output folder fails before any model is loaded and scored.
    if paths.output_dir.exists() and not paths.output_dir.is_dir():
        raise EvaluationError(
            f"output folder {paths.output_dir} (--output-dir) is an existing file"
        )
    opened = open_split(paths.test_dir)
    with tempfile.TemporaryDirectory() as scratch:
        challenger = load_served_model(paths.model_dir / MODEL_ARCHIVE, Path(scratch) / "model")
        contender = load_champion(champion_arn, paths.champion_dir, Path(scratch) / "champion")
        split, scores, scored = score_split(opened, challenger, contender)
        report = evaluation_report(split.labels, scores, challenger.decision_threshold)
        champion = champion_verdict(champion_arn, scored, split.labels, settings)
        baseline = drift_baseline(challenger, paths)
    cutoff = challenger.decision_threshold
    value = metric_value(report, settings.metric)
    gate = gate_decision(
        settings, split, scores=scores, cutoff=cutoff, value=value, champion=champion
    )
    write_outputs(paths.output_dir, report, gate, sample_payload(split.samples), baseline)
    return report, gate


# --- command line -----------------------------------------------------------------------------


def probability_argument(text: str) -> float:
    """An argparse type: a number in [0, 1] (NaN and infinities refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def count_argument(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; use 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--test-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument(
        "--train-dir",
        type=Path,
        default=DEFAULT_TRAIN_DIR,
        help="the training split, summarised into the drift baseline (with --drift-module)",
    )
    parser.add_argument(
        "--drift-module",
        type=Path,
        help="pipeline_code/drift.py, to write the model's drift baseline (baseline.json)",
    )
    parser.add_argument(
        "--champion-dir",
        type=Path,
        default=DEFAULT_CHAMPION_DIR,
        help="folder holding the approved model's model.tar.gz (read only with an ARN)",
    )
    parser.add_argument(
        "--champion-package-arn",
        default="",
        help="the approved model version's ARN; empty when there is none",
    )
    parser.add_argument("--metric", choices=METRICS, default="f1", help="the gated metric")
    parser.add_argument(
        "--threshold", type=probability_argument, default=0.8, help="the metric's minimum (0 to 1)"
    )
    parser.add_argument(
        "--champion-margin",
        type=probability_argument,
        default=0.0,
        help="how far below the champion's metric the model may score (0 to 1)",
    )
    parser.add_argument(
        "--min-positives",
        type=count_argument,
        default=1,
        help="positive test rows needed (0 or more)",
    )
    parser.add_argument(
        "--min-negatives",
        type=count_argument,
        default=1,
        help="negative test rows needed (0 or more)",
    )
    return parser


def _shown(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = Paths(
        args.model_dir,
        args.test_dir,
        args.output_dir,
        args.champion_dir,
        args.train_dir,
        args.drift_module,
    )
    settings = GateSettings(
        args.metric, args.threshold, args.champion_margin, args.min_positives, args.min_negatives
    )
    try:
        report, gate = evaluate(paths, settings, args.champion_package_arn.strip())
    except EvaluationError as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 1
    metrics = report["binary_classification_metrics"]
    summary = ", ".join(f"{name} {_shown(metrics[name]['value'])}" for name in METRICS)
    print(f"Test metrics at the model's cut-off {gate['decision_threshold']!r}: {summary}")
    print(f"Gate: {gate['message']}")
    written: tuple[str, ...] = (EVALUATION_FILE, GATE_FILE, PAYLOAD_ARCHIVE)
    written += (BASELINE_FILE,) if args.drift_module is not None else ()
    print(f"Wrote {', '.join(str(args.output_dir / name) for name in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
