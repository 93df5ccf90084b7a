"""Compare raw records with the drift baseline of the last local run's model.

    python -m pipeline_code.local_drift --input new.csv
                                        [--baseline .local-run/evaluation/baseline.json]
                                        [--model .local-run/model/model.tar.gz]
                                        [--threshold 0.1] [--min-rows 100]
    python -m pipeline_code.local_drift --capture data-capture/ --baseline baseline.json
                                        [--max-records 100000]

``--capture`` reads endpoint data-capture files instead (a ``.jsonl`` file or a folder of them,
e.g. one day synced from ``s3://<bucket>/data-capture/prod/``), with the scores the endpoint
returned, as the scheduled check does (``pipeline_code/capture.py``, docs/monitoring.md): with
the deployed version's baseline (its ``ModelDataQuality`` statistics in the registry) it
reproduces a production verdict on a laptop.

The records are a CSV file with a header, as clients send them to the endpoint (the training
columns minus the label; the label and excluded columns may be there and are ignored). Each
feature's distribution is compared with the training split's (``pipeline_code/drift.py``, the
code the scheduled check runs), and so are the model's scores on the records, scored by the
serving code inside the model archive. Prints one line per feature with its distance, the
threshold it was held to and the verdict, then a summary.

Exit codes: 0 no drift (or too few records to tell), 4 drift, 1 a file is missing or
unusable, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

# Like local_run: XGBoost's OpenMP threads must not spin on a busy machine (read at load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pandas as pd

from pipeline_code import capture, drift, evaluate, preprocess

EXIT_NO_DRIFT = 0
EXIT_FAILED = 1
EXIT_DRIFT = 4

DEFAULT_BASELINE = Path(".local-run/evaluation/baseline.json")
DEFAULT_MODEL = Path(".local-run/model/model.tar.gz")


class DriftCheckError(Exception):
    """A file is missing or unusable; the message says which and what to do."""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def _rows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is below 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline_code.local_drift",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="CSV of raw records")
    source.add_argument(
        "--capture",
        type=Path,
        help="endpoint data-capture JSON Lines: a file, or a folder searched for *.jsonl",
    )
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument(
        "--max-records",
        type=_rows,
        default=100_000,
        help="with --capture: the most records read, as the scheduled check's sample cap "
        "(default 100000)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        help="model archive whose scores on the records are compared too",
    )
    parser.add_argument(
        "--threshold",
        type=_fraction,
        default=drift.DEFAULT_THRESHOLD,
        help="L-infinity distance beyond which a distribution drifted "
        f"(default {drift.DEFAULT_THRESHOLD}, as AWS documents for its own monitor)",
    )
    parser.add_argument(
        "--min-rows",
        type=_rows,
        default=drift.DEFAULT_MIN_ROWS,
        help=f"fewest records to judge (default {drift.DEFAULT_MIN_ROWS})",
    )
    return parser


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        baseline: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DriftCheckError(
            f"baseline {path} does not exist: run make local-run first (or pass --baseline)"
        ) from None
    except (OSError, ValueError) as error:
        raise DriftCheckError(f"baseline {path} is not readable JSON: {error}") from None
    return baseline


def read_records(path: Path) -> pd.DataFrame:
    """Every column as text, missing as pandas reads it (its NA markers, as Preprocess read
    the training data): the comparison parses numbers itself and matches categories as text.

    The rows are checked first as Preprocess checks its input: pandas alone would read a
    short row as missing values, which the comparison would count as such.
    """
    try:
        _, problems = preprocess._scan_file(path)
    except preprocess.DataValidationError as error:
        problems = error.problems
    except FileNotFoundError:
        raise DriftCheckError(f"input file {path} does not exist") from None
    except OSError as error:
        raise DriftCheckError(f"input file {path} is not readable: {error}") from None
    if problems:
        raise DriftCheckError("; ".join(problems))
    try:
        return pd.read_csv(path, dtype=str, encoding="utf-8-sig", index_col=False)
    except FileNotFoundError:
        raise DriftCheckError(f"input file {path} does not exist") from None
    except pd.errors.EmptyDataError:
        raise DriftCheckError(f"input file {path} is empty; it needs a header row") from None
    except (OSError, ValueError) as error:
        raise DriftCheckError(f"input file {path} is not a readable CSV file: {error}") from None


def model_scores(model: Path, records: pd.DataFrame) -> tuple[Any, str | None]:
    """The model's scores on the records, or None and why they could not be computed (the
    features are still compared)."""
    if records.empty:
        return None, None
    if not model.is_file():
        return None, f"no scores compared: model archive {model} does not exist"
    try:
        with tempfile.TemporaryDirectory(prefix="local-drift-") as scratch:
            served = evaluate.load_served_model(model, Path(scratch))
            return served.predict_proba(served.model, records), None
    # The serving code refuses records it cannot score (a missing column, text in a
    # numeric column) with a ValueError naming the row and column.
    except ValueError as error:
        return None, f"no scores compared: {error}"


def capture_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DriftCheckError(f"capture path {path} does not exist")
    files = sorted(p for p in path.rglob("*.jsonl") if p.is_file())
    if not files:
        raise DriftCheckError(f"capture folder {path} holds no .jsonl files")
    return files


def read_capture(path: Path, baseline: dict[str, Any], max_records: int) -> Any:
    """The captured records and the endpoint's scores on them (what the scheduled check reads);
    malformed lines are counted and reported, not fatal."""
    names = [str(feature.get("name")) for feature in baseline.get("features") or []]
    if not names:
        raise DriftCheckError("the baseline lists no features")

    def lines() -> Any:
        for file in capture_files(path):
            with file.open("rb") as stream:
                yield from stream

    try:
        sample = capture.parse_capture_lines(lines(), names, max_records=max_records)
    except OSError as error:
        raise DriftCheckError(f"cannot read capture files under {path}: {error}") from None
    skipped = sample.malformed + sample.skipped_records
    if skipped or sample.truncated:
        print(
            f"capture: {sample.records} record(s) read, {sample.malformed} malformed line(s), "
            f"{sample.skipped_records} record(s) skipped"
            + (f", stopped at --max-records {max_records}" if sample.truncated else "")
        )
    for problem in sample.problems:
        print(f"capture: {problem}")
    return sample


def check(args: argparse.Namespace) -> drift.DriftReport:
    baseline = read_baseline(args.baseline)
    if args.capture is not None:
        sample = read_capture(args.capture, baseline, args.max_records)
        records, scores = sample.frame, sample.scores
        source = args.capture
    else:
        records = read_records(args.input)
        scores, note = model_scores(args.model, records)
        if note:
            print(note)
        source = args.input
    try:
        return drift.compare(
            baseline, records, scores, threshold=args.threshold, min_rows=args.min_rows
        )
    except ValueError as error:
        raise DriftCheckError(f"cannot compare {source} with {args.baseline}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = check(args)
    except DriftCheckError as error:
        print(f"local_drift: {error}", file=sys.stderr)
        return EXIT_FAILED
    for line in report.lines():
        print(line)
    print(report.summary())
    return EXIT_DRIFT if report.drifted else EXIT_NO_DRIFT


if __name__ == "__main__":
    sys.exit(main())
