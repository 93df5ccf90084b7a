"""Times each step of the local run at several input sizes: wall time, rows/s and peak memory.

    make bench-data [ARGS="--rows 200000"]   # default: --rows 1000000 4000000

For each size a synthetic CSV is written (once; later runs reuse it): a 0/1 label with a
learnable signal, ``--features`` numeric features (normal, four decimals), optionally
``--categorical`` text columns and ``--missing`` empty cells, all from ``--seed``. Then
``python -m pipeline_code.local_run --steps <step>`` runs preprocess, train and evaluate each
in its own process, so that each step's peak RSS is its own (``os.wait4``; Linux carries the
high-water mark over fork + exec, so a step never reads below this small process's size).
Wall time is the process's, interpreter start and imports included, as a pipeline step pays
them too.

The table ends with the total per size (the sum of the times, the largest peak) and, with two
or more sizes, each size's time and memory relative to the first size's. The machine's load
average is printed before and after: other work on the machine slows the steps. The train
row also shows the seconds its boosting rounds took (as the step reports them): that share
depends on the hyperparameters and on how soon early stopping ends, not only on the rows.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

REPO_ROOT = Path(__file__).resolve().parents[1]
STEPS = ("preprocess", "train", "evaluate")
TOTAL = "total"
DEFAULT_ROWS = (1_000_000, 4_000_000)
DEFAULT_WORK_DIR = REPO_ROOT / ".bench" / "data"
CHUNK_ROWS = 250_000
CATEGORIES = ("red", "green", "blue", "amber", "violet")
LABEL_COLUMN = "label"


@dataclass(frozen=True)
class DataSpec:
    rows: int
    features: int = 30
    categorical: int = 0
    missing: float = 0.0
    seed: int = 7

    @property
    def file_name(self) -> str:
        return (
            f"rows{self.rows}-f{self.features}-c{self.categorical}-"
            f"m{self.missing:g}-s{self.seed}.csv"
        )


@dataclass(frozen=True)
class Measurement:
    rows: int
    step: str
    seconds: float
    peak_mb: float
    # Of ``seconds``, the train step's boosting rounds (its own report): set by the
    # hyperparameters and the data's signal (early stopping) as much as by the data's size.
    boosting: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _chunk(spec: DataSpec, rng: np.random.Generator, weights: np.ndarray, rows: int) -> pa.Table:
    """``rows`` rows: the label first, then x0.. (numbers), then c0.. (text)."""
    numbers = np.round(rng.standard_normal((rows, spec.features)), 4)
    codes = rng.integers(0, len(CATEGORIES), (rows, spec.categorical))
    # The label follows a few features (and the categories' codes) through a logistic link.
    signal = numbers[:, : len(weights)] @ weights + 0.4 * (codes - 2).sum(axis=1)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-signal))).astype(np.int8)
    gaps = rng.random((rows, spec.features + spec.categorical)) < spec.missing
    columns: dict[str, pa.Array] = {LABEL_COLUMN: pa.array(labels)}
    for n in range(spec.features):
        columns[f"x{n}"] = pa.array(numbers[:, n], mask=gaps[:, n])
    names = np.array(CATEGORIES, dtype=object)
    for n in range(spec.categorical):
        columns[f"c{n}"] = pa.array(names[codes[:, n]], mask=gaps[:, spec.features + n])
    return pa.table(columns)


def write_dataset(spec: DataSpec, path: Path) -> None:
    """The synthetic CSV, written in chunks so that memory does not grow with ``spec.rows``."""
    rng = np.random.default_rng(spec.seed)
    weights = rng.normal(size=min(spec.features, 8))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    writer = None
    try:
        for start in range(0, spec.rows, CHUNK_ROWS):
            table = _chunk(spec, rng, weights, min(CHUNK_ROWS, spec.rows - start))
            if writer is None:
                options = pa_csv.WriteOptions(quoting_style="none")
                writer = pa_csv.CSVWriter(str(partial), table.schema, write_options=options)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    partial.replace(path)


def dataset(spec: DataSpec, data_dir: Path) -> Path:
    """The CSV for ``spec`` under ``data_dir``, written unless an earlier run left it."""
    path = data_dir / spec.file_name
    if not path.is_file():
        started = time.perf_counter()
        write_dataset(spec, path)
        size = path.stat().st_size / 1e6
        print(f"wrote {path} ({size:,.0f} MB) in {time.perf_counter() - started:.1f} s")
    return path


def measure(command: Sequence[str], log: Path, *, succeed: bool = True) -> tuple[float, float]:
    """``(wall seconds, peak RSS in MB)`` of ``command``, which must succeed unless
    ``succeed`` is False; its output goes to ``log``."""
    started = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 (our own command)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if succeed and process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}; see {log}")
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def step_command(step: str, source: Path, work_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipeline_code.local_run",
        f"--input={source}",
        f"--work-dir={work_dir}",
        f"--steps={step}",
        # The bench measures the steps, not the model: the gate's verdict does not matter.
        "--threshold=0",
    ]


def run_size(spec: DataSpec, work_dir: Path) -> list[Measurement]:
    source = dataset(spec, work_dir / "inputs")
    run_dir = work_dir / f"run-{spec.rows}"
    measurements = []
    for step in STEPS:
        log = work_dir / f"{spec.rows}-{step}.log"
        seconds, peak = measure(step_command(step, source, run_dir), log)
        boosting = boosting_seconds(log.read_text(encoding="utf-8", errors="replace"))
        measurements.append(Measurement(spec.rows, step, seconds, peak, boosting))
        print(f"  {spec.rows:>11,} {step:<10} {seconds:8.1f} s {peak:8,.0f} MB", flush=True)
    return [*measurements, total(measurements)]


_BOOSTING = re.compile(r"boosting took ([0-9.]+) s")


def boosting_seconds(output: str) -> float:
    """The boosting time a train step reports (``tabular_model``'s summary), else 0."""
    found = _BOOSTING.search(output)
    return float(found.group(1)) if found else 0.0


def total(measurements: Sequence[Measurement]) -> Measurement:
    """The sum of the steps' times and the largest of their peaks."""
    return Measurement(
        measurements[0].rows,
        TOTAL,
        sum(m.seconds for m in measurements),
        max(m.peak_mb for m in measurements),
        sum(m.boosting for m in measurements),
    )


def format_table(measurements: Sequence[Measurement]) -> str:
    lines = [
        f"{'rows':>11}  {'step':<10} {'wall s':>8} {'boosting s':>10} {'rows/s':>11} "
        f"{'peak RSS MB':>12}"
    ]
    lines += [
        f"{m.rows:>11,}  {m.step:<10} {m.seconds:8.1f} "
        f"{f'{m.boosting:.1f}' if m.boosting else '-':>10} {m.rows_per_second:>11,.0f} "
        f"{m.peak_mb:>12,.0f}"
        for m in measurements
    ]
    return "\n".join(lines)


def format_ratios(measurements: Sequence[Measurement]) -> str:
    """Each larger size's time and peak memory per step as a multiple of the smallest size's."""
    sizes = sorted({m.rows for m in measurements})
    if len(sizes) < 2:
        return ""
    by_key = {(m.rows, m.step): m for m in measurements}
    base = sizes[0]
    lines = []
    for rows in sizes[1:]:
        lines.append(f"{rows:,} / {base:,} rows ({rows / base:g}x the data):")
        for step in (*STEPS, TOTAL):
            big, small = by_key[rows, step], by_key[base, step]
            lines.append(
                f"  {step:<10} time x{big.seconds / small.seconds:.2f}  "
                f"memory x{big.peak_mb / small.peak_mb:.2f}"
            )
    return "\n".join(lines)


def break_row(source: Path, row: int, broken: Path) -> None:
    """A copy of ``source`` whose ``row``-th data row (1-based) has one field too many."""
    with source.open("rb") as src, broken.open("wb") as dst:
        number = -1
        for number, line in enumerate(src):  # line 0 is the header
            dst.write(line.rstrip(b"\r\n") + b",1\n" if number == row else line)
    if number < row:
        raise ValueError(f"{source} has {number} data rows, fewer than --bad-row {row}")


def bad_row_check(source: Path, row: int, work_dir: Path) -> tuple[bool, float, str]:
    """Whether preprocess refuses a copy of ``source`` with a ragged ``row``-th data row
    naming its line (the header is line 1), how long that took, and what it said."""
    broken = work_dir / f"bad-row-{row}.csv"
    break_row(source, row, broken)
    log = work_dir / f"bad-row-{row}.log"
    command = step_command("preprocess", broken, work_dir / "bad-row-run")
    seconds, _ = measure(command, log, succeed=False)
    said = log.read_text(encoding="utf-8", errors="replace")
    broken.unlink()
    return f"line {row + 1} has" in said, seconds, said


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--features", type=int, default=30, help="numeric features")
    parser.add_argument("--categorical", type=int, default=0, help="categorical text features")
    parser.add_argument("--missing", type=float, default=0.0, help="share of empty feature cells")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--bad-row",
        type=int,
        default=3_000_000,
        help="make this data row of the largest input ragged and check that preprocess names "
        "its line (skipped when the input is shorter; 0: never)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="inputs (kept for later runs), each size's run folder and each step's log",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"Before: {_load()}", flush=True)
    measurements = []
    for rows in args.rows:
        spec = DataSpec(rows, args.features, args.categorical, args.missing, args.seed)
        measurements += run_size(spec, args.work_dir)
    print(f"After: {_load()}")
    print(format_table(measurements))
    ratios = format_ratios(measurements)
    if ratios:
        print(ratios)
    largest = max(args.rows)
    if 0 < args.bad_row <= largest:
        spec = DataSpec(largest, args.features, args.categorical, args.missing, args.seed)
        found, seconds, said = bad_row_check(
            dataset(spec, args.work_dir / "inputs"), args.bad_row, args.work_dir
        )
        verdict = "named its line" if found else "did NOT name its line"
        print(
            f"A ragged data row {args.bad_row:,} of {largest:,}: preprocess {verdict} "
            f"in {seconds:.1f} s"
        )
        if not found:
            print(said[-2000:])
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
