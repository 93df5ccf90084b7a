"""Local stand-in for the SageMaker built-in XGBoost algorithm (the pipeline's Train step).

In SageMaker, training runs the built-in algorithm container with the hyperparameters in
``hyperparameters.json``; this script trains the same way on this machine, so that
``local_run`` exercises preprocess -> train -> evaluate end to end without AWS. It mirrors the
container (sagemaker-xgboost-container, algorithm mode):

* reads the headerless, label-first ``*.csv`` files of the train and validation channels;
* ``num_round`` becomes ``num_boost_round``; ``early_stopping_rounds`` stops on the last
  ``eval_metric`` of the validation set and keeps the best iteration (``save_best``); every
  other hyperparameter is passed to the booster as is;
* writes ``<model-dir>/model.tar.gz`` holding one file, ``xgboost-model``, written by
  ``Booster.save_model`` (the archive SageMaker makes of ``/opt/ml/model``).

Hyperparameters are validated up front, like the container does, with errors naming the key.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb

# Runs only on this machine (never shipped to a container), so it may share evaluate's
# reproducible archive writer.
from pipeline_code.evaluate import write_tar_gz

DEFAULT_TRAIN_DIR = Path("/opt/ml/input/data/train")
DEFAULT_VALIDATION_DIR = Path("/opt/ml/input/data/validation")
DEFAULT_MODEL_DIR = Path("/opt/ml/model")
DEFAULT_HYPERPARAMETERS = Path(__file__).resolve().with_name("hyperparameters.json")

MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "xgboost-model"

Matrix = npt.NDArray[np.float32]
Vector = npt.NDArray[np.float32]
Value = int | float | str

# Metrics the built-in container maximizes when early stopping (its XGB_MAXIMIZE_METRICS).
_MAXIMIZE = frozenset({"auc", "aucpr", "map", "ndcg"})
_BINARY_METRICS = ("auc", "aucpr", "logloss", "error")


class HyperparameterError(ValueError):
    """The hyperparameters file is unusable; the message names every offending key."""


class TrainingDataError(ValueError):
    """A train or validation channel holds no usable data."""


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

# The built-in algorithm's hyperparameters (ranges as its validation declares them) that a
# CPU xgboost can honour locally for a binary classifier.
SPECS: Mapping[str, _Spec] = {
    "num_round": _int(1),
    "early_stopping_rounds": _int(1),
    # Evaluate scores predictions as probabilities, which only binary:logistic produces.
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
# Accepted by the container but meaningless or unsupported for this local stand-in.
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


def _parse_value(key: str, raw: object, spec: _Spec) -> Value:
    """Parse one value as the container would, from a JSON number or its string form."""
    problem = f"{key!r} must be {spec.describe()}, got {raw!r}"
    # The pipeline passes str(value) to SageMaker, and str(True) is not what the container
    # parses, so booleans are refused even where a number is expected.
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
        return f"{key!r} is a built-in XGBoost hyperparameter that train_local does not support"
    if name not in SPECS:
        close = difflib.get_close_matches(key, [*SPECS, *ALIASES], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown hyperparameter {key!r}{hint}"
    if name in set_by:
        return f"{set_by[name]!r} and {key!r} are the same hyperparameter; set one"
    return None


def _missing(raw: Mapping[str, object]) -> list[str]:
    problems = [f"{key!r} is required" for key in REQUIRED if key not in raw]
    # The container only stops early when it has a metric to watch.
    if "early_stopping_rounds" in raw and "eval_metric" not in raw:
        problems.append("'early_stopping_rounds' needs 'eval_metric' (the metric to watch)")
    return problems


def load_hyperparameters(path: Path) -> dict[str, Value]:
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


def read_channel(channel_dir: Path) -> tuple[Matrix, Vector]:
    """Features and labels of every ``*.csv`` in a channel folder (headerless, label first)."""
    files = sorted(p for p in channel_dir.glob("*.csv") if p.is_file())
    if not files:
        raise TrainingDataError(f"no *.csv files in {channel_dir}")
    frames = []
    for path in files:
        try:
            frames.append(pd.read_csv(path, header=None, dtype=np.float32))
        except (ValueError, UnicodeDecodeError) as error:  # also empty and malformed files
            raise TrainingDataError(f"{path} is not a numeric CSV file: {error}") from None
    data = pd.concat(frames, ignore_index=True).to_numpy() if len(frames) > 1 else frames[0]
    matrix = np.asarray(data, dtype=np.float32)
    if matrix.shape[0] == 0 or matrix.shape[1] < 2:
        raise TrainingDataError(f"{channel_dir} needs rows with a label and at least one feature")
    labels = matrix[:, 0]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise TrainingDataError(f"labels in {channel_dir} must be 0 or 1 (first column)")
    return matrix[:, 1:], labels


def booster_params(hyperparameters: Mapping[str, Value]) -> dict[str, object]:
    """Booster parameters: everything except what the container hands to ``xgb.train``."""
    params: dict[str, object] = {
        key: value
        for key, value in hyperparameters.items()
        if key not in ("num_round", "early_stopping_rounds")
    }
    if "eval_metric" in params:
        params["eval_metric"] = str(params["eval_metric"]).split(",")
    return params


def train(
    hyperparameters: Mapping[str, Value],
    train_data: tuple[Matrix, Vector],
    validation_data: tuple[Matrix, Vector],
) -> xgb.Booster:
    if train_data[0].shape[1] != validation_data[0].shape[1]:
        raise TrainingDataError(
            f"train has {train_data[0].shape[1]} features but validation has "
            f"{validation_data[0].shape[1]}"
        )
    params = booster_params(hyperparameters)
    dtrain = xgb.DMatrix(train_data[0], label=train_data[1])
    dvalidation = xgb.DMatrix(validation_data[0], label=validation_data[1])
    callbacks: list[xgb.callback.TrainingCallback] = []
    rounds = hyperparameters.get("early_stopping_rounds")
    if rounds is not None:
        metric = str(hyperparameters["eval_metric"]).split(",")[-1]
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=int(rounds),
                metric_name=metric,
                data_name="validation",
                maximize=metric in _MAXIMIZE,
                save_best=True,
            )
        )
    return xgb.train(
        params,
        dtrain,
        num_boost_round=int(hyperparameters["num_round"]),
        evals=[(dtrain, "train"), (dvalidation, "validation")],
        callbacks=callbacks,
        verbose_eval=False,
    )


def save_model(booster: xgb.Booster, model_dir: Path) -> Path:
    """Write ``model.tar.gz`` with the single member ``xgboost-model``.

    The file holds XGBoost's JSON model format: ``Booster.load_model`` recognises it by its
    content whatever the file name, from XGBoost 1.0 to today, so any built-in XGBoost image
    (and the local evaluate) can load it.
    """
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{MODEL_FILE}.json"
        booster.save_model(path)
        data = path.read_bytes()
    archive = model_dir / MODEL_ARCHIVE
    write_tar_gz(archive, {MODEL_FILE: data})
    return archive


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--train-dir", type=Path, default=DEFAULT_TRAIN_DIR)
    parser.add_argument("--validation-dir", type=Path, default=DEFAULT_VALIDATION_DIR)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--hyperparameters", type=Path, default=DEFAULT_HYPERPARAMETERS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        hyperparameters = load_hyperparameters(args.hyperparameters)
        train_data = read_channel(args.train_dir)
        validation_data = read_channel(args.validation_dir)
        booster = train(hyperparameters, train_data, validation_data)
    except (HyperparameterError, TrainingDataError) as error:
        print(f"train_local: {error}", file=sys.stderr)
        return 1
    archive = save_model(booster, args.model_dir)
    best = booster.attr("best_iteration")
    stopped = f", early stopping kept iteration {best}" if best is not None else ""
    print(
        f"Trained {booster.num_boosted_rounds()} trees on {len(train_data[1])} rows"
        f"{stopped}; wrote {archive}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
