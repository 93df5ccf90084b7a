"""Train an XGBoost binary classifier on raw tabular splits, and serve it (the model's own code).

One self-contained file with two roles (docs/model-contract.md, sections 2 and 3):

* **Training** (the pipeline's Train step, run as ``python3 tabular_model.py`` in SageMaker's
  XGBoost framework image; locally ``python -m pipeline_code.tabular_model``): reads
  ``train/train.csv`` and ``validation/validation.csv``, or their part files
  ``train-<part>.csv`` and ``validation-<part>.csv`` (header, label first, typed by the
  folders' ``schema.json``), fits the categories of every categorical feature on the train split
  only, trains with XGBoost's native categorical support and early stopping on the validation
  split, picks the decision threshold that maximises F1 on the validation split, and writes
  ``xgboost-model``, ``model-schema.json`` and ``code/inference.py`` (a copy of this file) to the
  model folder; ``--archive`` also writes ``model.tar.gz`` of them, as SageMaker archives
  ``/opt/ml/model``. With a checkpoint folder (managed spot training) it saves the booster every
  ``--checkpoint-every`` rounds and resumes from the saved booster after an interruption.
  A training job of N > 1 instances trains one model on all of them, each on its share of the
  train split, and the first writes it (see "Distributed training" below).
* **Serving** (``code/inference.py`` in the model archive, loaded by SageMaker's XGBoost
  container in script mode, by ``local_predict`` and by Evaluate): ``model_fn``, ``input_fn``,
  ``predict_fn`` and ``output_fn``, plus ``predict_proba`` for a data frame of raw records.

It is shipped alone (as the training entrypoint and inside every model), so it imports nothing
from this repository, and only the standard library at import time: NumPy, pandas and XGBoost
are imported by the functions that use them, so the CDK app can import the hyperparameter
validation without them. It runs in the XGBoost 3.2-0 image (Python 3.12, pandas 2.2.3: the
pandas the tests run, requirements-dev.txt) and on Python 3.11 here.
"""

# NumPy, pandas and XGBoost are imported inside the functions that use them (see above).
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import contextlib
import csv
import difflib
import gzip
import io
import json
import math
import os
import re
import socket
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    import xgboost as xgb

    Scores = npt.NDArray[np.float64]

DEFAULT_TRAIN_DIR = Path("/opt/ml/input/data/train")
DEFAULT_VALIDATION_DIR = Path("/opt/ml/input/data/validation")
DEFAULT_MODEL_DIR = Path("/opt/ml/model")
DEFAULT_HYPERPARAMETERS = Path("/opt/ml/input/config/hyperparameters.json")
DEFAULT_CHECKPOINT_DIR = Path("/opt/ml/checkpoints")
# Every SageMaker training container has it: {"current_host": "algo-1", "hosts": [...], ...}.
DEFAULT_RESOURCE_CONFIG = Path("/opt/ml/input/config/resourceconfig.json")
# The first host's XGBoost tracker listens here, and says it is up on the next port.
TRACKER_PORT = 9099
# The longest one host waits for another (see _collective): reading a shard of a large split
# and starting an instance take minutes, not half an hour.
PEER_TIMEOUT_SECONDS = 1800
# SageMaker shows this file's text as the training job's FailureReason.
DEFAULT_FAILURE_FILE = Path("/opt/ml/output/failure")
# The committed hyperparameters, which the pipeline passes to SageMaker (local runs read them).
LOCAL_HYPERPARAMETERS = Path(__file__).resolve().with_name("hyperparameters.json")

MODEL_FILE = "xgboost-model"
MODEL_SCHEMA_FILE = "model-schema.json"
CODE_FILE = "code/inference.py"
MODEL_ARCHIVE = "model.tar.gz"
SCHEMA_FILE = "schema.json"
CHECKPOINT_FILE = "xgboost-checkpoint.json"
CHECKPOINT_EVERY = 10
SCHEMA_FORMAT_VERSION = 1
THRESHOLD_METRIC = "f1"
FALLBACK_THRESHOLD = 0.5
FEATURE_TYPES = ("numeric", "categorical")

CSV_TYPE = "text/csv"
JSON_TYPE = "application/json"

Value = int | float | str

# Metrics the built-in container maximizes when early stopping (its XGB_MAXIMIZE_METRICS).
_MAXIMIZE = frozenset({"auc", "aucpr", "map", "ndcg"})
_BINARY_METRICS = ("auc", "aucpr", "logloss", "error")
# What a boolean input column holds in a raw record; preprocess writes such columns as 0/1.
_BOOLEAN_WORDS = {"true": "1", "false": "0"}
# Missing in a numeric field, as when Preprocess read the training data: pandas' default
# missing-value markers (NA, N/A, null, None, NaN, #N/A...), compared in lower case.
_MISSING_WORDS = frozenset(
    {
        "nan",
        "-nan",
        "+nan",
        "na",
        "n/a",
        "#n/a",
        "#n/a n/a",
        "#na",
        "<na>",
        "null",
        "none",
        "-1.#ind",
        "1.#ind",
        "-1.#qnan",
        "1.#qnan",
    }
)


class HyperparameterError(ValueError):
    """The hyperparameters file is unusable; the message names every offending key."""


class TrainingDataError(ValueError):
    """A train or validation split cannot be used; the message names the file."""


class NoRowsError(TrainingDataError):
    """A split folder holds no file of its split, or files with a header and no rows."""


class ModelFileError(ValueError):
    """A model folder lacks a file this module needs, or holds an unreadable one."""


class InputError(ValueError):
    """A request cannot be scored; the message names the row, column or type at fault."""


# --------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    kind: str  # "int", "float", "choice" or "metrics"
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """The accepted values, phrased for the error messages that name the key."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "metrics":
            return "a comma-separated list of " + ", ".join(_BINARY_METRICS) + " or error@<t>"
        noun = "a whole number" if self.kind == "int" else "a number"
        if self.low == -math.inf and self.high == math.inf:
            return noun
        return f"{noun} in {self._interval()}"

    def _interval(self) -> str:
        # An infinite upper bound is never reached, so it is written open whatever high_open says.
        left = "(" if self.low_open else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        high = "inf" if self.high == math.inf else f"{self.high:g}"
        return f"{left}{self.low:g}, {high}{right}"

    def contains(self, number: float) -> bool:
        """nan and inf are outside every range, even an unbounded one."""
        return (
            math.isfinite(number)
            and (self.low < number if self.low_open else self.low <= number)
            and (number < self.high if self.high_open else number <= self.high)
        )


def _int(low: float = -math.inf, high: float = math.inf, *, open_: bool = False) -> _Spec:
    return _Spec("int", low, high, low_open=open_, high_open=open_)


def _float(low: float = 0, high: float = math.inf, *, low_open: bool = False) -> _Spec:
    return _Spec("float", low, high, low_open=low_open)


def _choice(*choices: str) -> _Spec:
    return _Spec("choice", choices=choices)


_FRACTION = _Spec("float", 0, 1, low_open=True)

# XGBoost's parameters (ranges as the built-in algorithm's validation declares them) that make
# sense for a binary classifier trained on a CPU.
SPECS: Mapping[str, _Spec] = {
    "num_round": _int(1),
    "early_stopping_rounds": _int(1),
    # Evaluate and the endpoint report probabilities, which only binary:logistic produces.
    "objective": _choice("binary:logistic"),
    "eval_metric": _Spec("metrics"),
    "booster": _choice("gbtree", "gblinear", "dart"),
    "tree_method": _choice("auto", "exact", "approx", "hist"),
    "eta": _float(0, 1),
    "gamma": _float(),
    "max_depth": _int(0),
    "min_child_weight": _float(),
    "max_delta_step": _float(),
    "subsample": _FRACTION,
    "colsample_bytree": _FRACTION,
    "colsample_bylevel": _FRACTION,
    "colsample_bynode": _FRACTION,
    "lambda": _float(),
    "alpha": _float(),
    "scale_pos_weight": _float(low_open=True),
    "base_score": _Spec("float", 0, 1, low_open=True, high_open=True),
    "grow_policy": _choice("depthwise", "lossguide"),
    "max_leaves": _int(0),
    "max_bin": _int(2),
    # Categorical features: one-hot splits below this many categories, else partition splits
    # that consider at most max_cat_threshold categories.
    "max_cat_to_onehot": _int(1),
    "max_cat_threshold": _int(1),
    "num_parallel_tree": _int(1),
    "seed": _int(-(2**31), 2**31 - 1, open_=True),
    "nthread": _int(1),
    "verbosity": _int(0, 3),
    "sample_type": _choice("uniform", "weighted"),
    "normalize_type": _choice("tree", "forest"),
    "rate_drop": _float(0, 1),
    "skip_drop": _float(0, 1),
    "one_drop": _int(0, 1),
}
REQUIRED = ("num_round", "objective")
ALIASES: Mapping[str, str] = {
    "learning_rate": "eta",
    "min_split_loss": "gamma",
    "reg_lambda": "lambda",
    "reg_alpha": "alpha",
}
# Accepted by the built-in algorithm container but meaningless or unsupported here.
CONTAINER_ONLY = frozenset(
    {
        "_kfold",
        "_num_cv_round",
        "_tuning_objective_metric",
        "aft_loss_distribution",
        "aft_loss_distribution_scale",
        "csv_weights",
        "deterministic_histogram",
        "dsplit",
        "interaction_constraints",
        "lambda_bias",
        "monotone_constraints",
        "num_class",
        "predictor",
        "prob_buffer_row",
        "process_type",
        "refresh_leaf",
        "sampling_method",
        "save_model_on_termination",
        "sketch_eps",
        "tweedie_variance_power",
        "updater",
        "use_dask_gpu_training",
    }
)
# XGBoost refuses categorical features with these (its categorical support needs hist/approx).
_NO_CATEGORICAL = (("tree_method", "exact"), ("booster", "gblinear"))


def _parse_value(key: str, raw: object, spec: _Spec) -> Value:
    """Parse one value from a JSON number or its string form (SageMaker writes strings)."""
    problem = f"{key!r} must be {spec.describe()}, got {raw!r}"
    # str(True) is not a number that anything parses back, so booleans are refused even where
    # a number is expected.
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise HyperparameterError(problem)
    # A kind that the table does not name is a real number.
    parse = _PARSERS.get(spec.kind, _parse_float)
    try:
        return parse(raw, spec)
    # A JSON integer such as 10**400 has no float: out of range, not a crash.
    except (ValueError, OverflowError):
        raise HyperparameterError(problem) from None


def _parse_choice(raw: int | float | str, spec: _Spec) -> str:
    if not isinstance(raw, str) or raw not in spec.choices:
        raise ValueError(raw)
    return raw


def _parse_metrics(raw: int | float | str, spec: _Spec) -> str:
    if not isinstance(raw, str):
        raise ValueError(raw)
    metrics = [m.strip() for m in raw.split(",")]
    if not all(_is_binary_metric(m) for m in metrics):
        raise ValueError(raw)
    return ",".join(metrics)


def _parse_int(raw: int | float | str, spec: _Spec) -> int:
    # int() would truncate 2.5, which is not a whole number.
    if isinstance(raw, float):
        raise ValueError(raw)
    number = int(raw)
    if not spec.contains(number):
        raise ValueError(raw)
    return number


def _parse_float(raw: int | float | str, spec: _Spec) -> float:
    number = float(raw)
    if not spec.contains(number):
        raise ValueError(raw)
    return number


# A parser raises ValueError for a value that its spec refuses, as int() and float() do.
_PARSERS: Mapping[str, Callable[[int | float | str, _Spec], Value]] = {
    "choice": _parse_choice,
    "metrics": _parse_metrics,
    "int": _parse_int,
    "float": _parse_float,
}


def _is_binary_metric(metric: str) -> bool:
    if metric.startswith("error@"):
        try:
            return 0 <= float(metric.removeprefix("error@")) <= 1
        except ValueError:
            return False
    return metric in _BINARY_METRICS


def validate_hyperparameters(raw: object) -> dict[str, Value]:
    """Validated hyperparameters keyed by canonical name; raise naming every bad key."""
    if not isinstance(raw, dict):
        raise HyperparameterError(
            f"hyperparameters must be a JSON object of name -> value, got {type(raw).__name__}"
        )
    values, problems = _parse_all(raw)
    problems += _missing(raw)
    if problems:
        raise HyperparameterError("invalid hyperparameters: " + "; ".join(problems))
    return values


def _parse_all(raw: dict[str, object]) -> tuple[dict[str, Value], list[str]]:
    """Every key is checked, so that one run reports all of its problems."""
    problems: list[str] = []
    values: dict[str, Value] = {}
    set_by: dict[str, str] = {}
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        problem = _name_problem(key, name, set_by)
        if problem is not None:
            problems.append(problem)
            continue
        set_by[name] = key
        try:
            values[name] = _parse_value(key, value, SPECS[name])
        except HyperparameterError as error:
            problems.append(str(error))
    return values, problems


def _name_problem(key: str, name: str, set_by: Mapping[str, str]) -> str | None:
    """Why ``key`` (canonical ``name``) cannot be used, given the keys already ``set_by``."""
    if name in CONTAINER_ONLY:
        return f"{key!r} is a built-in XGBoost hyperparameter that tabular_model does not support"
    if name not in SPECS:
        close = difflib.get_close_matches(key, [*SPECS, *ALIASES], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown hyperparameter {key!r}{hint}"
    if name in set_by:
        return f"{set_by[name]!r} and {key!r} are the same hyperparameter; set one"
    return None


def _missing(raw: Mapping[str, object]) -> list[str]:
    problems = [f"{key!r} is required" for key in REQUIRED if key not in raw]
    # Early stopping needs a metric to watch.
    if "early_stopping_rounds" in raw and "eval_metric" not in raw:
        problems.append("'early_stopping_rounds' needs 'eval_metric' (the metric to watch)")
    # Early stopping keeps the best iteration by slicing the trees, which a linear model has not.
    if "early_stopping_rounds" in raw and raw.get("booster") == "gblinear":
        problems.append("'early_stopping_rounds' cannot be used with booster 'gblinear'")
    return problems


def load_hyperparameters(path: Path) -> dict[str, Value]:
    """Read and validate a hyperparameters file: JSON numbers, or strings as SageMaker writes."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HyperparameterError(f"hyperparameters file {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise HyperparameterError(f"{path} is not valid JSON: {error}") from None
    try:
        return validate_hyperparameters(raw)
    except HyperparameterError as error:
        raise HyperparameterError(f"{path}: {error}") from None


def check_hyperparameters_for_features(
    hyperparameters: Mapping[str, Value], schema: Mapping[str, Any]
) -> None:
    """Refuse settings with which XGBoost cannot train this schema's categorical features."""
    categorical = [f["name"] for f in schema["features"] if f["type"] == "categorical"]
    if not categorical:
        return
    for key, value in _NO_CATEGORICAL:
        if hyperparameters.get(key) == value:
            names = ", ".join(repr(name) for name in categorical)
            raise HyperparameterError(
                f"{key} {value!r} cannot train the categorical feature(s) {names}: XGBoost's "
                "categorical support needs booster 'gbtree' or 'dart' with tree_method "
                "'hist', 'approx' or 'auto'"
            )


def booster_params(hyperparameters: Mapping[str, Value]) -> dict[str, Any]:
    """Booster parameters: everything except what is handed to ``xgb.train`` itself."""
    params: dict[str, Any] = {
        key: value
        for key, value in hyperparameters.items()
        if key not in ("num_round", "early_stopping_rounds")
    }
    if "eval_metric" in params:
        params["eval_metric"] = str(params["eval_metric"]).split(",")
    return params


# --------------------------------------------------------------------------------------------
# Schema and split files
# --------------------------------------------------------------------------------------------


def load_schema(path: Path) -> dict[str, Any]:
    """``schema.json`` of a split folder, checked against the contract."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingDataError(f"{path} does not exist (every split folder has one)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TrainingDataError(f"{path} is not valid JSON: {error}") from None
    problem = schema_problem(schema)
    if problem:
        raise TrainingDataError(f"{path}: {problem}")
    return dict(schema)


def schema_problem(schema: object) -> str | None:
    """What is wrong with a ``schema.json`` document, or None."""
    if not isinstance(schema, dict):
        return "expected a JSON object"
    if schema.get("format_version") != SCHEMA_FORMAT_VERSION:
        return (
            f"format_version must be {SCHEMA_FORMAT_VERSION}, got {schema.get('format_version')!r}"
        )
    for key in ("label_column", "positive_class", "negative_class"):
        if not isinstance(schema.get(key), str):
            return f"{key!r} must be a string, got {schema.get(key)!r}"
    excluded = schema.get("excluded_columns", [])
    if not isinstance(excluded, list) or not all(isinstance(c, str) for c in excluded):
        return "'excluded_columns' must be a list of column names"
    return _features_problem(schema.get("features"), schema["label_column"])


def _is_feature(feature: object) -> bool:
    return (
        isinstance(feature, dict)
        and isinstance(feature.get("name"), str)
        and feature.get("type") in FEATURE_TYPES
    )


def _features_problem(features: object, label_column: str) -> str | None:
    if not isinstance(features, list) or not features:
        return "'features' must be a non-empty list of {'name': ..., 'type': ...} objects"
    for index, feature in enumerate(features):
        if not _is_feature(feature):
            return (
                f"features[{index}] must be an object with a 'name' and a 'type' of "
                f"{' or '.join(FEATURE_TYPES)}, got {feature!r}"
            )
    names = [feature["name"] for feature in features]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        return f"feature names must be unique; repeated: {', '.join(map(repr, duplicates))}"
    if label_column in names:
        return f"the label column {label_column!r} is also listed as a feature"
    return None


@dataclass(frozen=True)
class Split:
    """One split: features (numeric as float32, categorical as text), labels and schema."""

    features: pd.DataFrame
    labels: npt.NDArray[np.float32]
    schema: dict[str, Any]
    path: Path
    """The split's one file, or its folder when it was read from part files."""


def split_files(split_dir: Path, split: str) -> list[Path]:
    """The CSV files of a split folder: ``<split>.csv`` alone, or its parts
    ``<split>-<anything>.csv`` (one or more preprocess instances wrote them) in sorted name
    order, whose rows concatenated are the split's rows."""
    whole = split_dir / f"{split}.csv"
    parts = sorted(split_dir.glob(f"{split}-*.csv"), key=lambda path: path.name)
    if whole.is_file() and parts:
        raise TrainingDataError(
            f"{split_dir} holds both {whole.name} and part files ({_names(parts)}); a split "
            f"folder holds either {split}.csv or {split}-<part>.csv files, not both"
        )
    if whole.is_file():
        return [whole]
    if parts:
        return parts
    present = sorted(p.name for p in split_dir.glob("*.csv")) if split_dir.is_dir() else []
    found = f" (found {_names(present)})" if present else ""
    where = "" if split_dir.is_dir() else " (no such folder)"
    raise NoRowsError(
        f"no {whole.name} in {split_dir}{where} and no part files {split}-<part>.csv{found}"
    )


def _names(paths: Sequence[Path | str]) -> str:
    return ", ".join(path.name if isinstance(path, Path) else path for path in paths)


def read_split(split_dir: Path, split: str, schema: Mapping[str, Any] | None = None) -> Split:
    """The split's file (or its parts, concatenated) typed by the folder's ``schema.json``,
    or by ``schema`` when the caller has already settled which schema applies (see
    ``split_schema``)."""
    import numpy as np
    import pandas as pd

    if schema is None:
        schema = load_schema(split_dir / SCHEMA_FILE)
    files = split_files(split_dir, split)
    chunks = [chunk for path in files for chunk in file_chunks(path, schema) if len(chunk[1])]
    if not chunks:
        raise NoRowsError(_no_rows(split_dir, files))
    path = files[0] if len(files) == 1 else split_dir
    if len(chunks) == 1:
        return Split(chunks[0][0], chunks[0][1], dict(schema), path)
    features = pd.concat([chunk[0] for chunk in chunks], ignore_index=True)
    labels = np.concatenate([chunk[1] for chunk in chunks])
    return Split(features, labels, dict(schema), path)


def _no_rows(split_dir: Path, files: Sequence[Path]) -> str:
    if len(files) == 1:
        return f"{files[0]} holds a header but no rows"
    return f"{split_dir}: the part files {_names(files)} hold a header but no rows"


# Rows that pandas parses at a time: the train split streams into XGBoost in chunks this size.
CHUNK_ROWS = 250_000

Chunk = tuple["pd.DataFrame", "npt.NDArray[np.float32]"]


def file_chunks(
    path: Path,
    schema: Mapping[str, Any],
    chunk_rows: int = CHUNK_ROWS,
    features: Sequence[str] | None = None,
) -> Iterator[Chunk]:
    """One CSV file's features and labels, ``chunk_rows`` rows at a time, each checked as a
    whole file is (errors name the file, and the row within it); none for a file that holds
    only its header row. ``features`` limits the features read (and checked) to those."""
    import pandas as pd

    columns = [schema["label_column"], *(f["name"] for f in schema["features"])]
    _check_header(path, columns)
    _check_row_widths(path, len(columns))
    options = _read_options(schema)
    if features is not None:
        # pandas then converts only these columns, the bulk of the cost of parsing.
        options["usecols"] = [schema["label_column"], *features]
    try:
        reader = pd.read_csv(path, index_col=False, chunksize=chunk_rows, **options)
    except pd.errors.EmptyDataError:
        raise TrainingDataError(f"{path} holds no rows") from None
    done = 0
    with reader:
        while (frame := _next_frame(reader, path, schema)) is not None:
            labels = _labels(frame.pop(schema["label_column"]), path, schema["label_column"], done)
            _check_finite(frame, schema, path)
            done += len(labels)
            yield frame, labels


def _next_frame(reader: Any, path: Path, schema: Mapping[str, Any]) -> pd.DataFrame | None:
    import numpy as np
    import pandas as pd

    try:
        # A row with one field too many would silently make the first column an index (and
        # with index_col=False lose a field, with only a warning): an error instead. A number
        # beyond float32 becomes inf, which _check_finite reports by column.
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame: pd.DataFrame = next(reader)
            return frame
    except StopIteration:
        return None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
        raise TrainingDataError(f"{path} is not a well-formed CSV file: {error}") from None
    except ValueError:
        # A cell that is not a number in a numeric column: find it to name row and column.
        raise TrainingDataError(_first_bad_number(path, schema)) from None


def _read_options(schema: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    dtypes: dict[str, Any] = {schema["label_column"]: np.float32}
    for feature in schema["features"]:
        # Text stays text (a code such as "01" is not the number 1): the schema decides.
        dtypes[feature["name"]] = np.float32 if feature["type"] == "numeric" else object
    # Only an empty cell is missing: "NA" or "None" may be a category of a text column.
    return {
        "dtype": dtypes,
        "keep_default_na": False,
        "na_values": [""],
        "encoding": "utf-8",
    }


def _check_header(path: Path, columns: Sequence[str]) -> None:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (UnicodeDecodeError, csv.Error) as error:
        raise TrainingDataError(f"{path} is not a UTF-8 CSV file: {error}") from None
    if header is None:
        raise TrainingDataError(f"{path} is empty (expected a header row and data rows)")
    if header == list(columns):
        return
    missing = [c for c in columns if c not in header]
    extra = [c for c in header if c not in columns]
    detail = (
        f"missing {missing}, unexpected {extra}" if missing or extra else "columns out of order"
    )
    raise TrainingDataError(
        f"{path}: header does not match {SCHEMA_FILE} ({detail}); expected {list(columns)}"
    )


# Bytes _check_row_widths reads at a time.
_WIDTH_SCAN_BYTES = 8 * 1024 * 1024


def _check_row_widths(path: Path, fields: int) -> None:
    """Refuse a file with a row of more or fewer than ``fields`` fields, naming its line.

    pandas cannot be trusted with it: a short row reads as missing values, and its chunked
    reader keeps an overlong row, dropping the extra fields, when ``usecols`` is given or (in
    pandas 2.2, the XGBoost image's) when the row starts a chunk. Plain lines (no quote) are
    counted by their commas, whole blocks at a time; a block with a quote (a comma or a line
    feed may be inside a field) or a lone carriage return (a line end to pandas) sends the
    file to the csv module. Blank lines are no rows (pandas skips them).
    """
    import numpy as np

    lines = 0
    with path.open("rb") as handle:
        for block in _whole_lines(handle, _WIDTH_SCAN_BYTES):
            if b'"' in block or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n")):
                # A quote, or a carriage return that ends a line by itself (as pandas reads
                # it): the csv module splits such rows as pandas does.
                _check_quoted_row_widths(path, fields)
                return
            data = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero(data == ord("\n"))
            starts = np.concatenate(([0], ends[:-1] + 1))
            # An empty line's sum is its line feed's: no comma.
            commas = np.add.reduceat(data == ord(","), starts, dtype=np.int32)
            length = ends - starts
            blank = (length == 0) | ((length == 1) & (data[ends - 1] == ord("\r")))
            bad = np.flatnonzero((commas != fields - 1) & ~blank)
            if len(bad):
                line = lines + int(bad[0]) + 1
                _refuse_width(path, line, int(commas[bad[0]]) + 1, fields)
            lines += len(ends)


def _whole_lines(handle: Any, size: int) -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines, each ending with a line feed (an unended
    last line is given one); a line longer than ``size`` is one block of its own."""
    carry = b""
    while block := handle.read(size):
        cut = block.rfind(b"\n") + 1
        if not cut:
            carry += block
            continue
        yield carry + block[:cut]
        carry = block[cut:]
    if carry:
        yield carry + b"\n"


def _check_quoted_row_widths(path: Path, fields: int) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        line = 1
        try:
            for row in reader:
                if row and len(row) != fields:
                    _refuse_width(path, line, len(row), fields)
                line = reader.line_num + 1
        except csv.Error as error:
            message = f"{path}, line {line}: not a well-formed CSV row: {error}"
            raise TrainingDataError(message) from None


def _refuse_width(path: Path, line: int, found: int, fields: int) -> NoReturn:
    raise TrainingDataError(
        f"{path}, line {line}: {found} fields where the header has {fields} (a comma inside "
        "an unquoted value, or a cell too many or too few?)"
    )


def _first_bad_number(path: Path, schema: Mapping[str, Any]) -> str:
    """Name the first cell of a numeric column that is not a number (only on failure)."""
    import pandas as pd

    text = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    numeric = [schema["label_column"]] + [
        f["name"] for f in schema["features"] if f["type"] == "numeric"
    ]
    for name in numeric:
        cells = text[name].str.strip()
        bad = pd.to_numeric(cells, errors="coerce").isna() & (cells != "")
        if bad.any():
            row = int(bad.to_numpy().argmax())
            return (
                f"{path}: row {row + 1} (line {row + 2}), column {name!r}: "
                f"{text[name].iloc[row]!r} is not a number"
            )
    return f"{path}: a numeric column holds text that is not a number"


def _labels(column: pd.Series, path: Path, name: str, done: int) -> npt.NDArray[np.float32]:
    """A chunk's labels; ``done`` rows of the file came before it."""
    import numpy as np

    labels: npt.NDArray[np.float32] = column.to_numpy(dtype=np.float32)
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        row = int(bad.argmax())
        raise TrainingDataError(
            f"{path}: labels (column {name!r}) must be 0 or 1; row {done + row + 1} holds "
            f"{'nothing' if np.isnan(labels[row]) else labels[row]} "
            f"({int(bad.sum())} such rows in rows {done + 1}-{done + len(labels)})"
        )
    return labels


def _check_finite(frame: pd.DataFrame, schema: Mapping[str, Any], path: Path) -> None:
    import numpy as np

    for feature in schema["features"]:
        if feature["name"] not in frame.columns or feature["type"] != "numeric":
            continue
        if np.isinf(frame[feature["name"]].to_numpy()).any():
            raise TrainingDataError(
                f"{path}: column {feature['name']!r} holds an infinite number (or one beyond "
                "float32's range), which XGBoost cannot train on"
            )


# --------------------------------------------------------------------------------------------
# Features as XGBoost sees them (training and serving share this code)
# --------------------------------------------------------------------------------------------


def fit_categories(frame: pd.DataFrame, schema: Mapping[str, Any]) -> dict[str, list[str]]:
    """Sorted distinct non-missing values of every categorical column, as text."""
    import pandas as pd

    categories: dict[str, list[str]] = {}
    for feature in schema["features"]:
        if feature["type"] == "categorical":
            distinct = pd.unique(_text_values(frame[feature["name"]]))
            categories[feature["name"]] = sorted(v for v in distinct if v is not None)
    return categories


def booster_feature_names(names: Sequence[str]) -> list[str]:
    """Column names for XGBoost, which refuses '[', ']' and '<' in them."""
    safe = [n.replace("[", "(").replace("]", ")").replace("<", "lt") for n in names]
    # Renaming could make two names equal; positions are always distinct.
    return safe if len(set(safe)) == len(safe) else [f"f{i}" for i in range(len(names))]


def encode_features(
    frame: pd.DataFrame, schema: Mapping[str, Any], categories: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """The data frame XGBoost trains and predicts on: float32 numbers, pandas categoricals.

    ``frame`` holds the features by name (other columns are ignored), either typed as
    ``read_split`` reads them or as raw text; a category not in ``categories`` is missing.
    """
    import pandas as pd

    names = [feature["name"] for feature in schema["features"]]
    absent = [name for name in names if name not in frame.columns]
    if absent:
        raise InputError(f"missing feature column(s) {absent}; expected {names}")
    columns: dict[str, Any] = {}
    for feature, column_name in zip(schema["features"], booster_feature_names(names), strict=True):
        series = frame[feature["name"]]
        if feature["type"] == "numeric":
            columns[column_name] = _numbers(series, feature["name"])
        else:
            columns[column_name] = _categorical(series, categories[feature["name"]])
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


def _text_values(series: pd.Series) -> npt.NDArray[Any]:
    """Object array of str, None where missing (empty text, None or NaN)."""
    # astype("string") turns numbers into their text and None/NaN into NA, in pandas 2 and 3.
    values: npt.NDArray[Any] = series.astype("string").to_numpy(dtype=object, na_value=None)
    values[values == ""] = None
    return values


def _categorical(series: pd.Series, categories: Sequence[str]) -> pd.Categorical:
    """Codes of the fitted categories; a value outside them (or missing) becomes missing."""
    import pandas as pd

    index = pd.Index(list(categories), dtype=object)
    codes = index.get_indexer(_text_values(series))
    return pd.Categorical.from_codes(codes, categories=index)


def _numbers(series: pd.Series, name: str) -> npt.NDArray[np.float32]:
    """float32 values of a numeric feature; raise naming the row and column of bad text."""
    import numpy as np
    import pandas as pd

    numbers: npt.NDArray[np.float32]
    if series.dtype == np.float32:
        # As read_split reads a split: no copy.
        numbers = series.to_numpy()
    elif pd.api.types.is_numeric_dtype(series.dtype):
        # Booleans become 0/1, as preprocess writes them.
        numbers = series.to_numpy(dtype=np.float32, na_value=np.nan)
    elif (parsed := _plain_numbers(series)) is not None:
        numbers = parsed
    else:
        text = series.astype("string").str.strip().str.lower()
        text = text.replace(_BOOLEAN_WORDS)
        with np.errstate(over="ignore"):
            numbers = pd.to_numeric(text, errors="coerce").to_numpy(
                dtype=np.float32, na_value=np.nan
            )
        given = text.fillna("").to_numpy(dtype=object) != ""
        spelled_missing = text.fillna("").isin(_MISSING_WORDS).to_numpy()
        bad = np.isnan(numbers) & given & ~spelled_missing
        _raise_first(bad, series, name, "is not a number")
    _raise_first(np.isinf(numbers), series, name, "is not a finite float32 number")
    return numbers


def _plain_numbers(series: pd.Series) -> npt.NDArray[np.float32] | None:
    """float32 values of text that is all plain numbers, or None.

    NumPy parses number text in one C loop; a request's dozens of numeric columns would
    otherwise each cost several pandas string operations, most of an endpoint's latency.
    Anything else (empty cells, markers, booleans, words) takes the careful path, which says
    what is wrong and where; "nan" and "inf" are left to it as well.
    """
    import numpy as np

    try:
        # Text beyond float32 becomes inf here, and the careful path names it.
        with np.errstate(over="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            numbers: npt.NDArray[np.float32] = np.asarray(series.to_numpy(dtype=object), np.float32)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if not np.isfinite(numbers).all() else numbers


def _raise_first(bad: npt.NDArray[np.bool_], series: pd.Series, name: str, what: str) -> None:
    if bad.any():
        row = int(bad.argmax())
        raise InputError(f"row {row + 1}, column {name!r}: {series.iloc[row]!r} {what}")


def _dmatrix(features: pd.DataFrame, labels: Any = None) -> xgb.DMatrix:
    import xgboost as xgb

    return xgb.DMatrix(features, label=labels, enable_categorical=True)


# --------------------------------------------------------------------------------------------
# The train split as XGBoost's matrix, read in chunks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainScan:
    """What a first pass over the train split finds: its rows, its positive rows, and the
    sorted categories of every categorical feature (as ``fit_categories`` finds them)."""

    rows: int
    positives: int
    categories: dict[str, list[str]]


def scan_train(
    files: Sequence[Path],
    schema: Mapping[str, Any],
    chunk_rows: int = CHUNK_ROWS,
    *,
    every_cell: bool = True,
    cache: ChunkCache | None = None,
) -> TrainScan:
    """Count the train split's rows and fit its categories, one chunk at a time.

    Labels and categorical cells are always checked; numeric cells only with ``every_cell``
    or a ``cache`` (otherwise ``train_matrix`` checks them as it reads them, and reading only
    the label and the categorical columns here costs a fraction of parsing every number).
    With a ``cache``, every chunk is also kept in it, so that ``train_matrix`` need not parse
    the files again.
    """
    names = [f["name"] for f in schema["features"] if f["type"] == "categorical"]
    seen = cache if cache is not None else _Categories(names)
    rows = positives = 0
    only = None if every_cell or cache is not None else names
    for path in files:
        for frame, labels in file_chunks(path, schema, chunk_rows, only):
            rows += len(labels)
            positives += int(labels.sum())
            seen.add(frame, labels)
    return TrainScan(rows, positives, seen.categories())


class _Categories:
    """The distinct values of the categorical columns of the chunks added, each coded in the
    order first seen (``codes``), so a chunk's cells can be kept as numbers."""

    def __init__(self, names: Sequence[str]) -> None:
        self._codes: dict[str, dict[str, int]] = {name: {} for name in names}

    def add(self, frame: pd.DataFrame, labels: npt.NDArray[np.float32]) -> None:
        for name in self._codes:
            self.codes(frame[name], name)

    def codes(self, series: pd.Series, name: str) -> npt.NDArray[np.int32]:
        """The column's cells as codes in the order first seen (-1: missing)."""
        import numpy as np
        import pandas as pd

        cells, distinct = pd.factorize(_text_values(series))  # a missing cell (None) is -1
        known = self._codes[name]
        # setdefault's default is evaluated before the value is added: the next free code.
        codes = [known.setdefault(value, len(known)) for value in distinct.tolist()]
        mapped: npt.NDArray[np.int32] = np.array([*codes, -1], dtype=np.int32)[cells]
        return mapped

    def categories(self) -> dict[str, list[str]]:
        """Sorted, as ``fit_categories`` sorts them."""
        return {name: sorted(known) for name, known in self._codes.items()}

    def positions(self, name: str, categories: Sequence[str]) -> npt.NDArray[np.int64]:
        """Each code's position in ``categories`` (a superset: every host's), and -1 last, so
        that indexing with a missing cell's -1 gives -1."""
        import numpy as np
        import pandas as pd

        index = pd.Index(list(categories), dtype=object)
        positions = index.get_indexer(list(self._codes[name]))
        return np.append(positions, -1).astype(np.int64)


# The scratch folders of the train split's chunks are named so (in --scratch-dir).
SCRATCH_PREFIX = "tabular-model-chunks-"


class ChunkCache(_Categories):
    """The train split's checked chunks in a scratch folder, for XGBoost's later passes.

    A QuantileDMatrix reads its iterator several times (four with XGBoost 3.2), and parsing
    and checking the CSV text was most of each pass. ``scan_train`` parses each chunk once and
    keeps it here as ``train_matrix`` hands it to XGBoost: the labels and float32 numbers as
    they are, a categorical column as codes (``_Categories``) that become the positions in the
    sorted categories once those are known (after the scan, or the hosts' union). Only one
    chunk is in memory at a time; the files hold NumPy arrays only (no pickle).
    """

    def __init__(self, folder: Path, schema: Mapping[str, Any]) -> None:
        features = schema["features"]
        super().__init__([f["name"] for f in features if f["type"] == "categorical"])
        self._folder = folder
        self._schema = schema
        self._files: list[Path] = []

    @property
    def folder(self) -> Path:
        return self._folder

    def add(self, frame: pd.DataFrame, labels: npt.NDArray[np.float32]) -> None:
        import numpy as np

        if not len(labels):
            return
        path = self._folder / f"chunk-{len(self._files):06d}.npy"
        with path.open("wb") as handle:
            np.save(handle, labels, allow_pickle=False)
            for feature in self._schema["features"]:
                name = feature["name"]
                is_numeric = feature["type"] == "numeric"
                values = frame[name].to_numpy() if is_numeric else self.codes(frame[name], name)
                np.save(handle, values, allow_pickle=False)
        self._files.append(path)

    def chunks(self, categories: Mapping[str, Sequence[str]]) -> Callable[[], Iterator[Chunk]]:
        """The chunks as ``encode_features`` encodes them with ``categories``."""
        import pandas as pd

        features = self._schema["features"]
        names = booster_feature_names([f["name"] for f in features])
        indexes = {name: pd.Index(list(categories[name]), dtype=object) for name in self._codes}
        positions = {name: self.positions(name, categories[name]) for name in self._codes}

        def column(handle: Any, feature: Mapping[str, Any]) -> Any:
            import numpy as np

            values = np.load(handle, allow_pickle=False)
            name = feature["name"]
            if feature["type"] == "numeric":
                return values
            return pd.Categorical.from_codes(positions[name][values], categories=indexes[name])

        def chunks() -> Iterator[Chunk]:
            import numpy as np

            for path in self._files:
                with path.open("rb") as handle:
                    labels = np.load(handle, allow_pickle=False)
                    columns = {n: column(handle, f) for n, f in zip(names, features, strict=True)}
                yield pd.DataFrame(columns, index=pd.RangeIndex(len(labels))), labels

        return chunks


@contextlib.contextmanager
def chunk_cache(schema: Mapping[str, Any], scratch_dir: Path | None) -> Iterator[ChunkCache]:
    """A ``ChunkCache`` in a new folder in ``scratch_dir`` (or the system's temporary folder),
    removed with everything in it when the block ends, however it ends."""
    with _scratch_folder(scratch_dir) as folder:
        yield ChunkCache(Path(folder), schema)


def _scratch_folder(parent: Path | None) -> tempfile.TemporaryDirectory[str]:
    if parent is not None:
        # When it cannot be written to (the model folder's parent need not exist yet), the
        # system's temporary folder serves.
        with contextlib.suppress(OSError):
            return tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=parent)
    return tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX)


def streams_into_quantiles(hyperparameters: Mapping[str, Value]) -> bool:
    """Whether the train split can be streamed into a QuantileDMatrix: the hist tree method
    (``auto`` is hist) of a tree booster; other settings need the rows themselves."""
    return hyperparameters.get("tree_method", "hist") in ("hist", "auto") and (
        hyperparameters.get("booster") != "gblinear"
    )


def train_matrix(
    files: Sequence[Path],
    schema: Mapping[str, Any],
    categories: Mapping[str, Sequence[str]],
    hyperparameters: Mapping[str, Value],
    chunk_rows: int = CHUNK_ROWS,
    *,
    cache: ChunkCache | None = None,
) -> xgb.DMatrix:
    """The train split as XGBoost's training matrix: its chunks from ``cache`` when
    ``scan_train`` filled one, else parsed from ``files`` on every pass.

    With the hist tree method, chunks of encoded rows go straight into a QuantileDMatrix, which
    keeps only each value's bin (a byte), so memory holds one chunk's data frames rather than
    the whole split's frames plus a float copy in a DMatrix. The bins are those of the
    quantile sketch that hist builds from a DMatrix too; fed in chunks, the sketch merges the
    chunks' sketches, which can move a cut point within its bin's share of the rows when a
    feature has more distinct values than bins.
    """
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    chunks = (
        cache.chunks(categories)
        if cache is not None
        else _encoded_chunks(files, schema, categories, chunk_rows)
    )
    if streams_into_quantiles(hyperparameters):
        max_bin = int(hyperparameters.get("max_bin", 256))
        return xgb.QuantileDMatrix(
            _chunk_iterator(chunks), max_bin=max_bin, enable_categorical=True
        )
    parts = list(chunks())
    features = pd.concat([part[0] for part in parts], ignore_index=True)
    return _dmatrix(features, np.concatenate([part[1] for part in parts]))


def _encoded_chunks(
    files: Sequence[Path],
    schema: Mapping[str, Any],
    categories: Mapping[str, Sequence[str]],
    chunk_rows: int,
) -> Callable[[], Iterator[Chunk]]:
    def chunks() -> Iterator[Chunk]:
        for path in files:
            for frame, labels in file_chunks(path, schema, chunk_rows):
                if len(labels):
                    yield encode_features(frame, schema, categories), labels

    return chunks


def _chunk_iterator(chunks: Callable[[], Iterator[Chunk]]) -> xgb.DataIter:
    import xgboost as xgb

    class _Chunks(xgb.DataIter):
        """XGBoost reads the chunks several times (sketch, then bins); ``reset`` starts them
        again."""

        def __init__(self) -> None:
            super().__init__(release_data=True)
            self._chunks: Iterator[Chunk] | None = None

        def next(self, input_data: Callable[..., None]) -> bool:
            if self._chunks is None:
                self._chunks = chunks()
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            input_data(data=chunk[0], label=chunk[1])
            return True

        def reset(self) -> None:
            self._chunks = None

    return _Chunks()


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train(
    hyperparameters: Mapping[str, Value],
    dtrain: xgb.DMatrix,
    dvalidation: xgb.DMatrix,
    checkpoint_dir: Path | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    *,
    resumed: xgb.Booster | None = None,
) -> xgb.Booster:
    """Train with early stopping on the validation split, resuming from a checkpoint.

    ``resumed`` is a checkpoint already loaded (the first host's, shared with every host);
    without it, ``checkpoint_dir``'s checkpoint is resumed from. Checkpoints are saved into
    ``checkpoint_dir``.
    """
    import xgboost as xgb

    if resumed is None and checkpoint_dir is not None:
        resumed = _load_checkpoint(checkpoint_dir, dtrain)
    done = resumed.num_boosted_rounds() if resumed is not None else 0
    callbacks: list[xgb.callback.TrainingCallback] = []
    if "early_stopping_rounds" in hyperparameters:
        callbacks.append(_early_stopping(hyperparameters, resumed))
    if checkpoint_dir is not None:
        callbacks.append(_checkpoint_callback(checkpoint_dir, checkpoint_every))
    return xgb.train(
        booster_params(hyperparameters),
        dtrain,
        num_boost_round=max(0, int(hyperparameters["num_round"]) - done),
        evals=[(dvalidation, "validation")],
        callbacks=callbacks,
        verbose_eval=False,
        xgb_model=resumed,
    )


def _early_stopping(
    hyperparameters: Mapping[str, Value], resumed: xgb.Booster | None
) -> xgb.callback.EarlyStopping:
    """Stop on the last eval_metric of the validation split and keep the best iteration."""
    import xgboost as xgb

    metric = str(hyperparameters["eval_metric"]).split(",")[-1]
    callback = xgb.callback.EarlyStopping(
        rounds=int(hyperparameters["early_stopping_rounds"]),
        metric_name=metric,
        data_name="validation",
        maximize=metric in _MAXIMIZE,
        save_best=True,
    )
    best_score = resumed.attr("best_score") if resumed is not None else None
    best_iteration = resumed.attr("best_iteration") if resumed is not None else None
    if resumed is not None and best_score is not None and best_iteration is not None:
        # The callback's memory is lost with the interrupted process; the checkpoint holds the
        # best round so far (EarlyStopping stores it as booster attributes), so resuming stops
        # where the uninterrupted run would.
        callback.stopping_history = {"validation": {metric: [float(best_score)]}}
        callback.best_scores = {"validation": {metric: [float(best_score)]}}
        callback.current_rounds = resumed.num_boosted_rounds() - 1 - int(best_iteration)
    return callback


def _checkpoint_callback(directory: Path, every: int) -> xgb.callback.TrainingCallback:
    import xgboost as xgb

    class _Checkpoint(xgb.callback.TrainingCallback):
        """Save the booster every ``every`` rounds, replacing the previous checkpoint."""

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if model.num_boosted_rounds() % every == 0:
                save_booster(model, directory / CHECKPOINT_FILE)
            return False

    return _Checkpoint()


def _load_checkpoint(directory: Path, dtrain: xgb.DMatrix) -> xgb.Booster | None:
    """The booster of an interrupted run, if ``directory`` holds one for these features."""
    path = directory / CHECKPOINT_FILE
    if not path.is_file():
        return None
    return _checkpoint_booster(path.read_bytes(), str(path), dtrain)


def _checkpoint_booster(raw: bytes, path: str, dtrain: xgb.DMatrix) -> xgb.Booster | None:
    """The checkpoint ``raw`` (read from ``path``) as a booster, None if it does not fit."""
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as error:
        print(f"tabular_model: ignoring unreadable checkpoint {path}: {error}", file=sys.stderr)
        return None
    if (booster.feature_names, booster.feature_types) != (
        dtrain.feature_names,
        dtrain.feature_types,
    ):
        print(f"tabular_model: ignoring checkpoint {path}: its features differ", file=sys.stderr)
        return None
    print(f"Resuming from checkpoint {path} ({booster.num_boosted_rounds()} rounds done)")
    return booster


def save_booster(booster: xgb.Booster, target: Path) -> None:
    """Save in XGBoost's JSON format under any name, atomically.

    ``save_model`` picks the format from the file name's extension, so the model is written
    to a ``.json`` temporary file next to ``target`` and renamed. ``Booster.load_model``
    recognises the JSON format by its content whatever the file name.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
    os.close(handle)
    try:
        booster.save_model(temporary)
        # mkstemp makes the file private; a model file is as readable as any other output.
        Path(temporary).chmod(0o644)
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def best_f1_threshold(labels: Any, scores: Any) -> tuple[float, float] | None:
    """The cut-off ``t`` (predict positive when ``score >= t``) that maximises F1, and that F1.

    Every distinct score is a candidate; sorting once and counting true positives cumulatively
    costs O(n log n). Among cut-offs with the same (maximal) F1 the highest is chosen: it
    flags the fewest rows for the same F1, and it is what the first maximum in descending
    score order gives. None when there are no positive labels (F1 is then 0 at any cut-off).
    """
    import numpy as np

    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    positives = float(y.sum())
    if positives == 0:
        return None
    order = np.argsort(-s, kind="stable")
    ranked, true_positives = s[order], np.cumsum(y[order])
    # The last position of every run of equal scores: a cut-off at a score flags all its ties.
    ends = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1)
    f1 = 2 * true_positives[ends] / (ends + 1 + positives)
    best = int(np.argmax(f1))
    return float(ranked[ends[best]]), float(f1[best])


def choose_threshold(labels: Any, scores: Any) -> tuple[float, str]:
    """The decision threshold for the model schema and a note saying how it was chosen."""
    chosen = best_f1_threshold(labels, scores)
    if chosen is None:
        return FALLBACK_THRESHOLD, (
            f"the validation split has no positive rows, so F1 cannot choose a cut-off; "
            f"using {FALLBACK_THRESHOLD}"
        )
    threshold, f1 = chosen
    return threshold, f"maximises F1 ({f1:.6f}) on {len(scores)} validation rows"


def model_schema(
    schema: Mapping[str, Any],
    categories: Mapping[str, Sequence[str]],
    threshold: tuple[float, str],
    hyperparameters: Mapping[str, Value],
    booster: xgb.Booster,
) -> dict[str, Any]:
    best = booster.attr("best_iteration")
    return {
        **schema,
        "categories": {name: list(values) for name, values in categories.items()},
        "decision_threshold": threshold[0],
        "threshold_metric": THRESHOLD_METRIC,
        "threshold_note": threshold[1],
        "hyperparameters": dict(hyperparameters),
        "best_iteration": int(best) if best is not None else booster.num_boosted_rounds() - 1,
    }


def write_model(model_dir: Path, booster: xgb.Booster, schema: Mapping[str, Any]) -> None:
    """``xgboost-model``, ``model-schema.json`` and ``code/inference.py`` (this very file)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    save_booster(booster, model_dir / MODEL_FILE)
    (model_dir / MODEL_SCHEMA_FILE).write_text(
        json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    code = model_dir / CODE_FILE
    code.parent.mkdir(parents=True, exist_ok=True)
    code.write_bytes(Path(__file__).read_bytes())


def write_tar_gz(archive: Path, members: Mapping[str, bytes]) -> None:
    """A reproducible archive (fixed timestamps and owners) with an entry for every folder."""
    folders = sorted({str(f) for name in members for f in PurePosixPath(name).parents} - {"."})
    archive.parent.mkdir(parents=True, exist_ok=True)
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(members[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(members[name]))


def archive_model(model_dir: Path) -> Path:
    """``model.tar.gz`` of the model files, as SageMaker archives ``/opt/ml/model``."""
    archive = model_dir / MODEL_ARCHIVE
    names = (MODEL_FILE, MODEL_SCHEMA_FILE, CODE_FILE)
    write_tar_gz(archive, {name: (model_dir / name).read_bytes() for name in names})
    return archive


def predict_scores(booster: xgb.Booster, data: xgb.DMatrix) -> Scores:
    import numpy as np

    return np.asarray(booster.predict(data), dtype=np.float64)


def _optional_dir(text: str) -> Path | None:
    return Path(text) if text else None


def _folder(text: str) -> Path:
    folder = Path(text)
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder")
    return folder


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tabular_model", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--train-dir", type=Path, default=DEFAULT_TRAIN_DIR)
    parser.add_argument("--validation-dir", type=Path, default=DEFAULT_VALIDATION_DIR)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--hyperparameters", type=Path, default=DEFAULT_HYPERPARAMETERS)
    parser.add_argument(
        "--checkpoint-dir",
        type=_optional_dir,
        default=DEFAULT_CHECKPOINT_DIR,
        help="resume from and save checkpoints here when the folder exists (empty: never)",
    )
    parser.add_argument(
        "--checkpoint-every", type=_positive_int, default=CHECKPOINT_EVERY, metavar="ROUNDS"
    )
    parser.add_argument(
        "--archive",
        action="store_true",
        help=f"also write <model-dir>/{MODEL_ARCHIVE} (SageMaker archives the folder itself)",
    )
    parser.add_argument("--failure-file", type=Path, default=DEFAULT_FAILURE_FILE)
    parser.add_argument(
        "--scratch-dir",
        type=_folder,
        help="where the train split's parsed chunks are kept while its matrix is built, in a "
        "folder removed afterwards (default: the model folder's parent; the system's temporary "
        "folder when that cannot be written to)",
    )
    cluster = parser.add_argument_group(
        "distributed training",
        f"the training job's hosts come from --resource-config; --hosts and --current-host "
        f"override it (local runs, tests). One host trains alone; N hosts train one model "
        f"together, the first running the tracker on port {TRACKER_PORT} (and {TRACKER_PORT} + 1 "
        f"to say it is up) and writing the model.",
    )
    cluster.add_argument("--resource-config", type=Path, default=DEFAULT_RESOURCE_CONFIG)
    cluster.add_argument("--hosts", type=_host_list, metavar="HOST,HOST,...")
    cluster.add_argument("--current-host", metavar="HOST")
    cluster.add_argument(
        "--tracker-address",
        type=_address,
        metavar="HOST:PORT",
        help=f"where the first host's tracker listens (default: the first host, {TRACKER_PORT})",
    )
    cluster.add_argument(
        "--peer-timeout",
        type=_positive_int,
        default=PEER_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="the longest a host waits for the others: to start, in each exchange (which "
        "includes the others' reading of their data), and to finish",
    )
    return parser


@dataclass(frozen=True)
class _TrainingData:
    schema: dict[str, Any]
    categories: dict[str, list[str]]
    dtrain: xgb.DMatrix
    dvalidation: xgb.DMatrix


def split_schema(
    train_dir: Path, validation_dir: Path, hyperparameters: Mapping[str, Value]
) -> dict[str, Any]:
    """The schema both splits are read with: the validation folder's ``schema.json``.

    The validation channel is always whole on every training instance; the train channel is
    sharded (ShardedByS3Key), so an instance may get no ``schema.json`` in its train folder.
    When it has one, the two must be the same file.
    """
    schema = load_schema(validation_dir / SCHEMA_FILE)
    own = train_dir / SCHEMA_FILE
    if own.is_file() and load_schema(own) != schema:
        raise TrainingDataError(
            f"{own} and {validation_dir / SCHEMA_FILE} differ; every split of one preprocess "
            "run has the same schema"
        )
    check_hyperparameters_for_features(hyperparameters, schema)
    return schema


def _check_both_classes(positives: int, rows: int, where: object) -> None:
    if positives in (0, rows):
        raise TrainingDataError(f"{where}: the train split needs rows of both classes")


def load_training_data(
    train_dir: Path,
    validation_dir: Path,
    hyperparameters: Mapping[str, Value],
    scratch_dir: Path | None = None,
) -> _TrainingData:
    """Both splits as XGBoost matrices, with the categories fitted on the train split.

    The train split is parsed and checked once, in chunks kept in a scratch folder in
    ``scratch_dir`` (``ChunkCache``), from which its matrix is built once its categories are
    known; its data frames are never all in memory at once. The folder is gone on return.
    """
    schema = split_schema(train_dir, validation_dir, hyperparameters)
    files = split_files(train_dir, "train")
    with chunk_cache(schema, scratch_dir) as cache:
        scan = scan_train(files, schema, CHUNK_ROWS, cache=cache)
        where = files[0] if len(files) == 1 else train_dir
        if not scan.rows:
            raise NoRowsError(_no_rows(train_dir, files))
        _check_both_classes(scan.positives, scan.rows, where)
        dtrain = train_matrix(
            files, schema, scan.categories, hyperparameters, CHUNK_ROWS, cache=cache
        )
    validation_split = read_split(validation_dir, "validation", schema)
    validation = _split_matrix(validation_split, scan.categories)
    return _TrainingData(schema, scan.categories, dtrain, validation)


def _split_matrix(split: Split, categories: Mapping[str, Sequence[str]]) -> xgb.DMatrix:
    return _dmatrix(encode_features(split.features, split.schema, categories), split.labels)


def run(args: argparse.Namespace) -> str:
    """Train and write the model; return a one-line summary."""
    hyperparameters = load_hyperparameters(args.hyperparameters)
    cluster = cluster_from_args(args)
    if cluster is not None:
        return run_distributed(args, hyperparameters, cluster)
    data = load_training_data(
        args.train_dir, args.validation_dir, hyperparameters, _scratch_dir(args)
    )
    checkpoint_dir = _existing_dir(args.checkpoint_dir)
    started = time.perf_counter()
    booster = train(
        hyperparameters, data.dtrain, data.dvalidation, checkpoint_dir, args.checkpoint_every
    )
    return _finish(args, hyperparameters, data, booster, boosting=time.perf_counter() - started)


def _scratch_dir(args: argparse.Namespace) -> Path:
    # Beside the model folder: in SageMaker /opt/ml, the ML storage volume, which holds the
    # training data already and is sized for it (its documented scratch space).
    scratch: Path = args.scratch_dir or args.model_dir.absolute().parent
    return scratch


def _existing_dir(folder: Path | None) -> Path | None:
    return folder if folder is not None and folder.is_dir() else None


def _finish(
    args: argparse.Namespace,
    hyperparameters: Mapping[str, Value],
    data: _TrainingData,
    booster: xgb.Booster,
    *,
    write: bool = True,
    boosting: float,
) -> str:
    """Choose the decision threshold, write the model (when ``write``), and summarise
    (``boosting``: the seconds the boosting rounds took, most of a large run's time and set by
    the hyperparameters rather than by the data's size alone)."""
    # Scored through a DMatrix built as serving builds it, so the cut-off suits served scores.
    threshold = choose_threshold(
        data.dvalidation.get_label(), predict_scores(booster, data.dvalidation)
    )
    schema = model_schema(data.schema, data.categories, threshold, hyperparameters, booster)
    if write:
        write_model(args.model_dir, booster, schema)
        written = f"wrote {archive_model(args.model_dir) if args.archive else args.model_dir}"
    else:
        written = f"wrote nothing to {args.model_dir}: the first host writes the model"
    return (
        f"Trained {booster.num_boosted_rounds()} trees on {data.dtrain.num_row()} rows "
        f"(best iteration {schema['best_iteration']}); decision threshold "
        f"{threshold[0]:.6f} ({threshold[1]}); {written}; boosting took {boosting:.1f} s"
    )


# --------------------------------------------------------------------------------------------
# Distributed training (a training job of N > 1 instances)
# --------------------------------------------------------------------------------------------
#
# Every instance reads its own shard of the train split (the train channel is ShardedByS3Key)
# and the whole validation split, and all of them train one model through XGBoost's collective
# (Rabit): each round's gradient histograms are summed over the instances, so the trees are
# those of the union of the shards. The first host runs the tracker that forms the group.
#
# The validation split is replicated, not sharded: every host evaluates the same rows, and
# XGBoost sums a metric's parts over the hosts before dividing (logloss, error and error@t:
# sum of row losses over row count; auc and aucpr: sum of areas over sum of their
# normalisers), so N identical copies give the value of one copy (checked for auc, aucpr,
# logloss, error and error@0.7 with 2 and 3 hosts: equal to the last digit). Every host thus
# sees the same metric values, early stopping stops every host at the same round (a host that
# stopped alone would leave the others waiting), and every host picks the same threshold from
# the same validation scores.


@dataclass(frozen=True)
class Cluster:
    """The training job's hosts, this host, and where the first host's tracker listens."""

    hosts: tuple[str, ...]
    current_host: str
    tracker_host: str
    tracker_port: int
    timeout: int

    @property
    def rank(self) -> int:
        return self.hosts.index(self.current_host)

    def describe(self) -> str:
        return f"host {self.current_host} (rank {self.rank} of {len(self.hosts)})"


class ClusterError(RuntimeError):
    """The hosts of a distributed training job could not train together; says which and why."""


def _host_list(text: str) -> tuple[str, ...]:
    hosts = tuple(host.strip() for host in text.split(","))
    if not all(hosts) or len(set(hosts)) != len(hosts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of distinct hosts"
        )
    return hosts


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (a port below 65535)")
    return host, int(port)


def _resource_hosts(path: Path) -> tuple[tuple[str, ...], str] | None:
    """``hosts`` and ``current_host`` of SageMaker's resource config, None without the file."""
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        hosts, current = tuple(config["hosts"]), config["current_host"]
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterError(
            f"{path} is not a resource config with 'hosts' and 'current_host': {error}"
        ) from None
    if not all(isinstance(host, str) and host for host in (*hosts, current)):
        raise ClusterError(f"{path}: 'hosts' and 'current_host' must be host names")
    return hosts, current


def cluster_from_args(args: argparse.Namespace) -> Cluster | None:
    """The job's hosts when there are several, else None (one host trains alone, as ever)."""
    if args.hosts is not None:
        if not args.current_host:
            raise ClusterError("--hosts needs --current-host (this host's name among them)")
        hosts, current = args.hosts, args.current_host
    else:
        found = _resource_hosts(args.resource_config)
        if found is None:
            return None
        hosts, current = found
    if current not in hosts:
        raise ClusterError(f"the current host {current!r} is not one of the hosts {list(hosts)}")
    if len(hosts) == 1:
        return None
    tracker_host, tracker_port = args.tracker_address or (hosts[0], TRACKER_PORT)
    return Cluster(tuple(hosts), current, tracker_host, tracker_port, args.peer_timeout)


def _resolve(host: str, timeout: float) -> str:
    """The address of ``host``, waiting for it to resolve: a new instance's name may not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError as error:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"the tracker host {host!r} did not resolve within {timeout:g} s: {error}"
                ) from None
            time.sleep(1)


class _ReadySignal:
    """A listener beside the tracker whose only answer is "the tracker is up".

    XGBoost's tracker must be listening before any worker connects to it: a worker that
    connects too early retries on a broken socket and the group fails to form. The other
    hosts wait for this port instead, which can be probed without disturbing the tracker.
    """

    def __init__(self, address: str, port: int) -> None:
        self._server = socket.create_server((address, port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:  # socket.timeout is an OSError: look at the stop flag again
                continue
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()


def _wait_until_ready(address: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError as error:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"the first host's tracker at {address}:{port - 1} was not up within "
                    f"{timeout:g} s (no answer on {port}): {error}"
                ) from None
            time.sleep(0.05)


# Where in XGBoost's sources a message was raised: "[12:00:00] /src/x.cc:83: ", "[x.cc:9|...]: ".
_XGBOOST_LOCATION = re.compile(r"\[[^\]]*\]:?\s*|\S+\.(?:cc|h):\d+:\s*")


def _xgboost_problem(error: BaseException) -> str:
    """An XGBoost error's own lines, without its native stack trace."""
    text = str(error).split("Stack trace:", 1)[0]
    # Lines such as "- [comm.cc:220|22:59:21]: Failed to bootstrap the communication group."
    lines = (_XGBOOST_LOCATION.sub("", line).strip(" -") for line in text.splitlines())
    return " ".join(line for line in lines if line)


@contextlib.contextmanager
def _collective(cluster: Cluster) -> Iterator[None]:
    """Join the hosts' communication group (the first host starts the tracker) for the block.

    ``peer_timeout`` bounds every wait on another host: for the tracker to come up, for all
    hosts to join and leave the group (the tracker's timeout), and for each collective
    operation (``dmlc_timeout``), so a host that hangs or whose machine is gone ends the others
    with an error rather than a wait without end; a host whose process dies closes its sockets
    and the others fail at once.
    """
    address = _resolve(cluster.tracker_host, cluster.timeout)
    tracker = _start_tracker(cluster, address) if cluster.rank == 0 else None
    ready = _ReadySignal(address, cluster.tracker_port + 1) if tracker is not None else None
    if tracker is None:
        _wait_until_ready(address, cluster.tracker_port + 1, cluster.timeout)
    try:
        with _group(cluster, address):
            yield
    except (TrainingDataError, HyperparameterError):
        # Every host raises this one (they agreed on it in an exchange) and leaves the group
        # in order: the tracker sees them all out before it goes.
        if tracker is not None:
            with contextlib.suppress(Exception):
                tracker.wait_for(cluster.timeout)
        raise
    except BaseException:
        if tracker is not None:
            # Freed now, quietly: its error repeats the one being raised, which names the host.
            with contextlib.suppress(Exception):
                tracker.free()
        raise
    finally:
        if ready is not None:
            ready.close()
    if tracker is not None:
        tracker.wait_for(cluster.timeout)


def _start_tracker(cluster: Cluster, address: str) -> Any:
    from xgboost.tracker import RabitTracker

    # Ranks follow the task ids (sortby="task"), so rank i is hosts[i] on every run.
    tracker = RabitTracker(
        n_workers=len(cluster.hosts),
        host_ip=address,
        port=cluster.tracker_port,
        sortby="task",
        timeout=cluster.timeout,
    )
    tracker.start()
    return tracker


@contextlib.contextmanager
def _group(cluster: Cluster, address: str) -> Iterator[None]:
    """This host's membership of the group (XGBoost's CommunicatorContext, minus its habit of
    replacing the block's error with the error of leaving a group whose peer has gone)."""
    import xgboost as xgb
    from xgboost import collective

    collective.init(
        dmlc_tracker_uri=address,
        dmlc_tracker_port=cluster.tracker_port,
        dmlc_task_id=f"{cluster.rank:06d}",
        dmlc_timeout=cluster.timeout,
    )
    try:
        if collective.get_rank() != cluster.rank:
            raise ClusterError(
                f"{cluster.describe()} was given rank {collective.get_rank()} by the tracker"
            )
        yield
    except BaseException:
        with contextlib.suppress(xgb.core.XGBoostError):
            collective.finalize()
        raise
    collective.finalize()


def _allgather(value: object) -> list[Any]:
    """Every host's ``value``, in rank order, on every host."""
    from xgboost import collective

    rank = collective.get_rank()
    gathered: list[Any] = []
    for root in range(collective.get_world_size()):
        # broadcast refuses None from its root, so each value travels wrapped.
        wrapped: tuple[Any] | None = (value,) if root == rank else None
        gathered.append(collective.broadcast(wrapped, root)[0])  # type: ignore[index]
    return gathered


@dataclass(frozen=True)
class _Shard:
    """What a host tells the others about its train shard (or why it has none to offer)."""

    host: str
    problem: str | None = None
    rows: int = 0
    positives: int = 0
    categories: Mapping[str, Sequence[str]] | None = None


@dataclass(frozen=True)
class _Local:
    """A host's own view of the data: the schema, its train files (and their chunks) and the
    validation split."""

    schema: dict[str, Any]
    train_files: list[Path]
    cache: ChunkCache
    validation: Split


def _read_shard(
    train_dir: Path,
    validation_dir: Path,
    hyperparameters: Mapping[str, Value],
    host: str,
    scratch: Path,
) -> tuple[_Shard, _Local | None]:
    """This host's train shard (checked, and kept in a ``ChunkCache`` in the folder
    ``scratch``) and the whole validation split, or the problem with them."""
    try:
        schema = split_schema(train_dir, validation_dir, hyperparameters)
        cache = ChunkCache(scratch, schema)
        files, scan = _scan_train_shard(train_dir, schema, cache)
        validation = read_split(validation_dir, "validation", schema)
    except (TrainingDataError, HyperparameterError) as error:
        return _Shard(host, problem=str(error)), None
    shard = _Shard(host, rows=scan.rows, positives=scan.positives, categories=scan.categories)
    return shard, _Local(schema, files, cache, validation)


def _scan_train_shard(
    train_dir: Path, schema: Mapping[str, Any], cache: ChunkCache
) -> tuple[list[Path], TrainScan]:
    try:
        files = split_files(train_dir, "train")
        # Every cell now, so that every host's problem is known before the hosts exchange.
        scan = scan_train(files, schema, CHUNK_ROWS, cache=cache)
        if not scan.rows:
            raise NoRowsError(_no_rows(train_dir, files))
    except NoRowsError as error:
        raise NoRowsError(
            f"{error} (the train channel is sharded by file: each training instance gets its "
            "share of the train split's files, so N instances need at least N part files with "
            "rows)"
        ) from None
    return files, scan


def _merge_shards(shards: Sequence[_Shard], train_dir: Path) -> dict[str, list[str]]:
    """Every host's categories of each feature, sorted; raise naming the hosts that failed."""
    problems = [f"host {shard.host}: {shard.problem}" for shard in shards if shard.problem]
    if problems:
        raise TrainingDataError("; ".join(problems))
    rows = sum(shard.rows for shard in shards)
    _check_both_classes(
        sum(shard.positives for shard in shards),
        rows,
        f"{train_dir} on all {len(shards)} hosts ({rows} rows)",
    )
    return _union_categories([shard.categories or {} for shard in shards])


def _union_categories(
    fitted: Sequence[Mapping[str, Sequence[str]]],
) -> dict[str, list[str]]:
    """The union of the hosts' categories of each feature, sorted as ``fit_categories`` sorts."""
    return {name: sorted({value for one in fitted for value in one[name]}) for name in fitted[0]}


def _shared_checkpoint(cluster: Cluster, checkpoint_dir: Path | None) -> bytes | None:
    """The first host's checkpoint, sent to every host so that all resume from the same one.

    Managed spot training restores the checkpoint folder on every instance, but only the
    first host writes checkpoints (they would be the same booster), so its copy is the one.
    """
    own: bytes | None = None
    if cluster.rank == 0 and checkpoint_dir is not None:
        path = checkpoint_dir / CHECKPOINT_FILE
        own = path.read_bytes() if path.is_file() else None
    shared: bytes | None = _allgather(own)[0]
    return shared


def run_distributed(
    args: argparse.Namespace, hyperparameters: Mapping[str, Value], cluster: Cluster
) -> str:
    """Train one model with the other hosts; only the first host writes it."""
    import xgboost as xgb

    try:
        with _collective(cluster):
            return f"{cluster.describe()}: " + _train_together(args, hyperparameters, cluster)
    except xgb.core.XGBoostError as error:
        raise ClusterError(
            f"{cluster.describe()}: training with the hosts {', '.join(cluster.hosts)} failed "
            f"(a host stopped or did not answer within --peer-timeout {cluster.timeout} s?): "
            f"{_xgboost_problem(error)}"
        ) from None


def _train_together(
    args: argparse.Namespace, hyperparameters: Mapping[str, Value], cluster: Cluster
) -> str:
    with _scratch_folder(_scratch_dir(args)) as scratch:
        shard, local = _read_shard(
            args.train_dir,
            args.validation_dir,
            hyperparameters,
            cluster.current_host,
            Path(scratch),
        )
        # Every host learns every host's problems, so all of them fail with the same message.
        categories = _merge_shards(_allgather(shard), args.train_dir)
        assert local is not None  # _merge_shards raised this host's problem
        # Every host builds its matrix here: a QuantileDMatrix merges the hosts' sketches.
        dtrain = train_matrix(
            local.train_files, local.schema, categories, hyperparameters, cache=local.cache
        )
    data = _TrainingData(
        local.schema, categories, dtrain, _split_matrix(local.validation, categories)
    )
    checkpoint_dir = _existing_dir(args.checkpoint_dir)
    saved = _shared_checkpoint(cluster, checkpoint_dir)
    source = f"{CHECKPOINT_FILE} of the first host {cluster.hosts[0]}"
    resumed = _checkpoint_booster(saved, source, dtrain) if saved is not None else None
    started = time.perf_counter()
    booster = train(
        hyperparameters,
        dtrain,
        data.dvalidation,
        checkpoint_dir if cluster.rank == 0 else None,
        args.checkpoint_every,
        resumed=resumed,
    )
    return _finish(
        args,
        hyperparameters,
        data,
        booster,
        write=cluster.rank == 0,
        boosting=time.perf_counter() - started,
    )


def _report_failure(message: str, failure_file: Path) -> None:
    print(f"tabular_model: {message}", file=sys.stderr)
    if failure_file.parent.is_dir():
        failure_file.write_text(message + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(run(args))
    except (HyperparameterError, TrainingDataError, InputError, ClusterError) as error:
        _report_failure(str(error), args.failure_file)
        return 1
    return 0


# --------------------------------------------------------------------------------------------
# Serving (SageMaker's script-mode handlers call these with exactly these parameters: the
# container counts them, so none may gain an optional one)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A loaded model: the booster and what ``model-schema.json`` says about its inputs."""

    booster: xgb.Booster
    schema: dict[str, Any]
    feature_names: list[str]
    categories: dict[str, list[str]]
    decision_threshold: float
    positive_class: str
    negative_class: str


@dataclass(frozen=True)
class Predictions:
    """Probabilities of the positive class and the labels at the decision threshold."""

    probabilities: Scores
    labels: list[str]


def model_fn(model_dir: str) -> Model:
    import xgboost as xgb

    folder = Path(model_dir)
    schema = _load_model_schema(folder / MODEL_SCHEMA_FILE)
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray((folder / MODEL_FILE).read_bytes()))
    except FileNotFoundError:
        raise ModelFileError(f"{folder / MODEL_FILE} does not exist") from None
    except xgb.core.XGBoostError as error:
        first = str(error).strip().splitlines()[0] if str(error) else ""
        raise ModelFileError(f"{folder / MODEL_FILE} is not an XGBoost model: {first}") from None
    return Model(
        booster=booster,
        schema=schema,
        feature_names=[feature["name"] for feature in schema["features"]],
        categories={name: list(values) for name, values in schema["categories"].items()},
        decision_threshold=float(schema["decision_threshold"]),
        positive_class=schema["positive_class"],
        negative_class=schema["negative_class"],
    )


def _load_model_schema(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path} is not valid JSON: {error}") from None
    problem = schema_problem(schema)
    if problem is None:
        problem = _model_schema_problem(schema)
    if problem:
        raise ModelFileError(f"{path}: {problem}")
    return dict(schema)


def _model_schema_problem(schema: Mapping[str, Any]) -> str | None:
    threshold = schema.get("decision_threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        return f"'decision_threshold' must be a number, got {threshold!r}"
    categories = schema.get("categories")
    wanted = [f["name"] for f in schema["features"] if f["type"] == "categorical"]
    if not isinstance(categories, dict) or sorted(categories) != sorted(wanted):
        return f"'categories' must list the categories of every categorical feature {wanted}"
    return None


def predict_proba(model: Model, frame: pd.DataFrame) -> Scores:
    """Probability of the positive class for each row of raw (or typed) feature values."""
    features = encode_features(frame, model.schema, model.categories)
    return predict_scores(model.booster, _dmatrix(features))


def input_fn(request_body: str | bytes, content_type: str) -> Records:
    """Parse a request's records (matched to the features by ``predict_fn``, which has them)."""
    media_type = _media_type(content_type)
    if media_type not in (CSV_TYPE, JSON_TYPE):
        raise InputError(
            f"unsupported content type {content_type!r}: send {CSV_TYPE} or {JSON_TYPE}"
        )
    text = _decode(request_body)
    records = _parse_csv(text) if media_type == CSV_TYPE else _parse_json(text)
    if not records.rows:
        raise InputError("the request holds no records")
    return records


def predict_fn(data: Records | pd.DataFrame, model: Model) -> Predictions:
    frame = data.frame(model.feature_names) if isinstance(data, Records) else data
    probabilities = predict_proba(model, frame)
    positive = probabilities >= model.decision_threshold
    labels = [model.positive_class if p else model.negative_class for p in positive.tolist()]
    return Predictions(probabilities, labels)


def output_fn(prediction: Predictions, accept: str | None) -> tuple[str, str]:
    """The response body and its content type, one answer per record in request order."""
    response_type = _response_type(accept)
    pairs = zip(prediction.probabilities.tolist(), prediction.labels, strict=True)
    if response_type == JSON_TYPE:
        body = {"predictions": [{"probability": round(p, 6), "label": lab} for p, lab in pairs]}
        return json.dumps(body, ensure_ascii=False), JSON_TYPE
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows((f"{p:.6f}", lab) for p, lab in pairs)
    return buffer.getvalue(), CSV_TYPE


@dataclass(frozen=True)
class Records:
    """A request's records as text ("" for missing): CSV lines of fields or JSON objects."""

    rows: Sequence[list[str] | dict[str, str]]

    def frame(self, feature_names: list[str]) -> pd.DataFrame:
        """One column per feature, in training order; raise naming the row at fault."""
        import pandas as pd

        rows = list(self.rows)
        if rows and isinstance(rows[0], list) and _is_header(rows[0], feature_names):
            header, rows = rows[0], rows[1:]
            # A line with another number of fields stays a list, refused below with its count.
            rows = [_by_name(header, row) for row in rows]
        cells = [_fields(number, row, feature_names) for number, row in enumerate(rows, 1)]
        if not cells:
            raise InputError("the request holds a header but no records")
        return pd.DataFrame(cells, columns=feature_names, dtype=object)


def _by_name(header: list[str], row: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
    return dict(zip(header, row, strict=True)) if len(row) == len(header) else row


def _is_header(fields: list[str], feature_names: list[str]) -> bool:
    return len(fields) == len(feature_names) and set(fields) == set(feature_names)


def _fields(number: int, row: list[str] | dict[str, str], feature_names: list[str]) -> list[str]:
    if isinstance(row, dict):
        unknown = [key for key in row if key not in feature_names]
        absent = [name for name in feature_names if name not in row]
        if unknown or absent:
            raise InputError(
                f"row {number}: unknown keys {unknown}, missing keys {absent} (use null for a "
                f"missing value); expected {feature_names}"
            )
        return [row[name] for name in feature_names]
    if len(row) != len(feature_names):
        raise InputError(
            f"row {number} has {len(row)} fields, expected {len(feature_names)} "
            f"({', '.join(feature_names)})"
        )
    return row


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _response_type(accept: str | None) -> str:
    if not accept or not accept.strip():
        return CSV_TYPE
    for part in accept.split(","):
        media_type = _media_type(part)
        if media_type in (CSV_TYPE, "text/*", "*/*"):
            return CSV_TYPE
        if media_type in (JSON_TYPE, "application/*"):
            return JSON_TYPE
    raise InputError(f"unsupported accept {accept!r}: ask for {CSV_TYPE} or {JSON_TYPE} (or */*)")


def _decode(body: str | bytes | bytearray | memoryview) -> str:
    if isinstance(body, str):
        return body
    try:
        return bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"the request body is not UTF-8 text: {error}") from None


def _parse_csv(text: str) -> Records:
    try:
        # A blank line is no record (a trailing one is common).
        return Records([row for row in csv.reader(io.StringIO(text)) if row])
    except csv.Error as error:
        raise InputError(f"the request is not valid CSV: {error}") from None


def _parse_json(text: str) -> Records:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"the request is not valid JSON: {error}") from None
    records = document if isinstance(document, list) else [document]
    return Records([_json_record(number, record) for number, record in enumerate(records, 1)])


def _json_record(number: int, record: object) -> dict[str, str]:
    if not isinstance(record, dict):
        raise InputError(
            f"row {number} is a JSON {type(record).__name__}; send an object keyed by "
            "feature name (or a list of them)"
        )
    return {key: _json_cell(number, key, value) for key, value in record.items()}


def _json_cell(number: int, name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InputError(
        f"row {number}, column {name!r}: a JSON {type(value).__name__} is not a value; send a "
        "number, a string or null"
    )


if __name__ == "__main__":
    sys.exit(main())
