"""Score raw records with the model of the last local run, through the model's own serving code.

    python -m pipeline_code.local_predict --input rows.csv [--model .local-run/model/model.tar.gz]

The archive is extracted (safely) to a temporary folder and its ``code/inference.py`` is
imported from there, so the records are scored exactly as the endpoint scores them:
``input_fn(file bytes, "text/csv")`` -> ``predict_fn`` -> ``output_fn(..., "text/csv")``. The
rows may have a header (the feature names, any order) or not (features in training order).
Prints one ``<probability>,<label>`` line per row. Exit codes: 0 scored, 1 a file is missing or
unusable or a row is bad, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

# Like local_run: XGBoost's OpenMP threads must not spin on a busy machine. OpenMP reads this
# when the library loads, which happens when the model's code is imported below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Evaluate's archive checks and import (scikit-learn, which it imports, loads OpenMP too).
from pipeline_code import evaluate

DEFAULT_MODEL = Path(".local-run/model/model.tar.gz")
CODE_MEMBER = "code/inference.py"


class PredictError(Exception):
    """A file is missing or unusable; the message says which and what to do."""


def import_serving_code(model_dir: Path, archive: Path) -> ModuleType:
    """The model's own ``code/inference.py``, imported as Evaluate imports it."""
    path = model_dir / CODE_MEMBER
    if not path.is_file():
        raise PredictError(
            f"the model archive has no {CODE_MEMBER}: it was not trained by "
            "pipeline_code.tabular_model (run make local-run again)"
        )
    return evaluate.import_serving_code(path, archive)


def predict(model_archive: Path, rows: bytes) -> str:
    """The ``text/csv`` response of the model in ``model_archive`` to the CSV ``rows``."""
    with tempfile.TemporaryDirectory(prefix="local-predict-") as scratch:
        # Evaluate's checks: no absolute paths, no "..", no links in the archive.
        evaluate.safe_extract(model_archive, Path(scratch))
        serving = import_serving_code(Path(scratch), model_archive)
        model = serving.model_fn(scratch)
        records = serving.input_fn(rows, "text/csv")
        body, _ = serving.output_fn(serving.predict_fn(records, model), "text/csv")
    return str(body)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline_code.local_predict",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--input",
        type=Path,
        required=True,
        help="CSV rows of raw feature values, with or without a header row",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        help=f"model archive (default: {DEFAULT_MODEL}, written by make local-run)",
    )
    return parser


def _read_inputs(args: argparse.Namespace) -> bytes:
    if not args.model.is_file():
        raise PredictError(
            f"model archive {args.model} does not exist: run make local-run first "
            "(or pass --model PATH/model.tar.gz)"
        )
    try:
        return Path(args.input).read_bytes()
    except FileNotFoundError:
        raise PredictError(f"input file {args.input} does not exist") from None
    except IsADirectoryError:
        raise PredictError(f"input {args.input} is a folder; pass a CSV file") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = predict(args.model, _read_inputs(args))
    # The model's code raises its own InputError (a ValueError) for bad rows, and a
    # ValueError subclass for unusable model files; Evaluate's archive errors are ValueErrors.
    except (PredictError, ValueError) as error:
        print(f"local_predict: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
