"""Evaluate step: score the trained model on the test split and write its quality metrics.

Runs as ``python3 evaluate.py`` in the SageMaker built-in XGBoost image (the image that trained
the model, so the model file format matches), where it is the only file shipped, so it imports
nothing from this repository.

Outputs, in ``--output-dir``:

* ``evaluation.json``: SageMaker's model-quality format. The pipeline's condition step reads
  ``binary_classification_metrics.<metric>.value`` for a metric in ``METRICS``, and the model
  registry shows the file as the model version's quality metrics.
* ``sample-payload.tar.gz``: ``payload.csv`` with up to 10 test rows (features only, no label,
  no header), registered as the model package's sample payload and used to test the staging
  endpoint.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import pickle
import shutil
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score, roc_curve

DEFAULT_MODEL_DIR = Path("/opt/ml/processing/model")
DEFAULT_TEST_DIR = Path("/opt/ml/processing/test")
DEFAULT_OUTPUT_DIR = Path("/opt/ml/processing/evaluation")

MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "xgboost-model"
TEST_FILE = "test.csv"
EVALUATION_FILE = "evaluation.json"
PAYLOAD_ARCHIVE = "sample-payload.tar.gz"
PAYLOAD_FILE = "payload.csv"

METRICS = ("f1", "accuracy", "precision", "recall", "auc")
"""Metrics under ``binary_classification_metrics`` that the pipeline's condition may gate on."""

ROC_MAX_POINTS = 101
SAMPLE_ROWS = 10
# XGBoost scores float32 values; a larger magnitude fails inside the library.
FLOAT32_MAX = float(np.finfo(np.float32).max)

Labels = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float64]


class EvaluationError(ValueError):
    """The model or the test data cannot be evaluated."""


class UnsafeArchiveError(EvaluationError):
    """A model archive member could be written outside the extraction folder."""


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


def load_booster(path: Path) -> xgb.Booster:
    """Load a model saved by ``Booster.save_model``, or a pickled Booster (images < 1.3-1)."""
    raw = path.read_bytes()
    if not raw:
        # XGBoost aborts the whole process, with no exception or message, on zero bytes.
        raise EvaluationError(f"{path} is empty (0 bytes): the training job saved no model")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except Exception as native_error:  # xgboost raises several types for foreign formats
        try:
            # The archive is the output of this pipeline's own training job.
            unpickled = pickle.loads(raw)  # noqa: S301
        except Exception as pickle_error:
            # XGBoost appends a native stack trace; its first line says what went wrong.
            native = str(native_error).strip().splitlines()[0] if str(native_error) else ""
            raise EvaluationError(
                f"cannot load {path}: not an XGBoost model file ({native}) "
                f"nor a pickled Booster ({pickle_error})"
            ) from None
        if not isinstance(unpickled, xgb.Booster):
            raise EvaluationError(
                f"{path} holds a pickled {type(unpickled).__name__}, not an xgboost Booster"
            ) from None
        return unpickled
    return booster


def load_model_archive(archive: Path, scratch: Path) -> xgb.Booster:
    files = safe_extract(archive, scratch)
    model = scratch.resolve() / MODEL_FILE
    if model not in files:
        found = ", ".join(str(f.relative_to(scratch.resolve())) for f in files) or "nothing"
        raise EvaluationError(f"{archive} has no {MODEL_FILE!r} at its top level; found {found}")
    return load_booster(model)


def _unusable_cells(path: Path, values: npt.NDArray[np.float64]) -> str | None:
    """Why the test data cannot be scored, naming the first bad cell, or None.

    Missing features (empty cells) are scored as XGBoost scores them; a missing label is not.
    """
    label_missing = np.zeros_like(values, dtype=bool)
    label_missing[:, 0] = np.isnan(values[:, 0])
    checks = (
        (label_missing, "missing label(s) (short rows or empty cells)"),
        (np.isinf(values), "infinite value(s)"),
        (
            np.isfinite(values) & (np.abs(values) > FLOAT32_MAX),
            f"value(s) beyond the float32 range XGBoost scores (magnitude above {FLOAT32_MAX:.7g})",
        ),
    )
    for mask, what in checks:
        if mask.any():
            row, column = (int(i) for i in np.argwhere(mask)[0])
            return (
                f"{path} has {int(mask.sum())} {what}, the first at row {row + 1}, column "
                f"{column + 1} ({float(values[row, column])!r}); Preprocess writes none, so this "
                "is not its test split"
            )
    return None


def read_test_set(path: Path) -> tuple[Labels, pd.DataFrame]:
    """Labels and features of a headerless, label-first CSV file."""
    if path.is_dir():
        raise EvaluationError(f"test data {path} is a folder, not a CSV file")
    try:
        data = pd.read_csv(path, header=None)
    except FileNotFoundError:
        raise EvaluationError(f"test data {path} does not exist") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{path} is not a CSV file of numbers: {error}") from None
    except OSError as error:
        raise EvaluationError(f"cannot read test data {path}: {error}") from None
    if data.shape[1] < 2 or not all(pd.api.types.is_numeric_dtype(t) for t in data.dtypes):
        raise EvaluationError(f"{path} must hold numbers only: a 0/1 label, then the features")
    problem = _unusable_cells(path, data.to_numpy(dtype=np.float64))
    if problem:
        raise EvaluationError(problem)
    labels = data.iloc[:, 0]
    if not labels.isin([0, 1]).all():
        raise EvaluationError(f"the first column of {path} must be a 0/1 label")
    return labels.to_numpy(dtype=np.int64), data.iloc[:, 1:]


def predict(booster: xgb.Booster, features: pd.DataFrame) -> Scores:
    expected = booster.num_features()
    if features.shape[1] != expected:
        raise EvaluationError(
            f"the model expects {expected} features but the test data has {features.shape[1]}"
        )
    matrix = xgb.DMatrix(features.to_numpy(dtype=np.float32))
    scores = np.asarray(booster.predict(matrix), dtype=np.float64)
    if scores.ndim != 1 or not ((scores >= 0) & (scores <= 1)).all():
        raise EvaluationError(
            "the model's predictions are not probabilities; train with objective binary:logistic"
        )
    return scores


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
    fpr, tpr, _ = roc_curve(y_true, y_score)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return [float(x) for x in fpr], [float(y) for y in tpr]


def evaluation_report(y_true: Labels, y_score: Scores, threshold: float) -> dict[str, Any]:
    """``evaluation.json`` contents for predicted probabilities ``y_score``."""
    if len(y_true) != len(y_score):
        raise EvaluationError(f"{len(y_true)} labels but {len(y_score)} predictions")
    classes = set(np.unique(y_true).tolist())
    if classes != {0, 1}:
        # AUC and recall are undefined without both classes; Preprocess guarantees both.
        raise EvaluationError(
            f"the test data must contain both classes 0 and 1, found only {sorted(classes)}"
        )
    y_pred = (y_score >= threshold).astype(np.int64)
    counts = confusion_counts(y_true, y_pred)
    values = threshold_metrics(**counts)
    values["auc"] = float(roc_auc_score(y_true, y_score))
    false_positive_rates, true_positive_rates = roc_points(y_true, y_score)
    metrics: dict[str, Any] = {
        name: {"value": values[name], "standard_deviation": "NaN"} for name in METRICS
    }
    metrics["confusion_matrix"] = {
        "0": {"0": counts["tn"], "1": counts["fp"]},
        "1": {"0": counts["fn"], "1": counts["tp"]},
    }
    metrics["receiver_operating_characteristic_curve"] = {
        "false_positive_rates": false_positive_rates,
        "true_positive_rates": true_positive_rates,
    }
    return {"binary_classification_metrics": metrics}


def sample_payload(features: pd.DataFrame, rows: int = SAMPLE_ROWS) -> bytes:
    """The first ``rows`` feature rows as headerless CSV: what the endpoint accepts."""
    text = str(features.head(rows).to_csv(header=False, index=False, lineterminator="\n"))
    return text.encode("utf-8")


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


def evaluate(model_dir: Path, test_dir: Path, output_dir: Path, threshold: float) -> dict[str, Any]:
    # Checked first, so that a wrong output folder fails before any model is loaded and scored.
    if output_dir.exists() and not output_dir.is_dir():
        raise EvaluationError(f"output folder {output_dir} (--output-dir) is an existing file")
    with tempfile.TemporaryDirectory() as scratch:
        booster = load_model_archive(model_dir / MODEL_ARCHIVE, Path(scratch))
    y_true, features = read_test_set(test_dir / TEST_FILE)
    report = evaluation_report(y_true, predict(booster, features), threshold)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n", "utf-8")
        write_tar_gz(output_dir / PAYLOAD_ARCHIVE, {PAYLOAD_FILE: sample_payload(features)})
    except OSError as error:
        raise EvaluationError(
            f"cannot write to output folder {output_dir} (--output-dir): {error}"
        ) from None
    return report


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--test-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument(
        "--decision-threshold",
        type=_probability,
        default=0.5,
        help="a row is predicted positive when its probability is at least this",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = evaluate(args.model_dir, args.test_dir, args.output_dir, args.decision_threshold)
    except EvaluationError as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 1
    metrics = report["binary_classification_metrics"]
    summary = ", ".join(f"{name} {metrics[name]['value']:.4f}" for name in METRICS)
    print(f"Test metrics at threshold {args.decision_threshold}: {summary}")
    print(f"Wrote {args.output_dir / EVALUATION_FILE} and {args.output_dir / PAYLOAD_ARCHIVE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
