"""Run the training pipeline on this machine: preprocess -> train -> evaluate -> gate.

    python -m pipeline_code.local_run [--input CSV_OR_DIR] [--label-column label]
                                      [--positive-class VALUE] [--exclude-columns A,B]
                                      [--metric f1] [--threshold 0.8]
                                      [--min-positives 5] [--min-negatives 5]
                                      [--champion MODEL_TAR_GZ] [--champion-margin 0.01]
                                      [--hyperparameters FILE] [--work-dir .local-run]
                                      [--steps preprocess,train,evaluate]

Each step is the script the pipeline runs, unchanged (``preprocess.py``, ``tabular_model.py``
as the training job runs it, ``evaluate.py``), called with folders under ``--work-dir``
instead of container paths. The gate is Evaluate's own decision (``gate.json``), which the
pipeline's condition step reads: the test split can measure the metric, the model predicts
both classes, the metric reaches the threshold and, with ``--champion`` (a ``model.tar.gz`` of
an earlier run), the champion's metric on the same test split minus the margin.

``--steps`` runs some of the steps only, each on what the previous one left in ``--work-dir``
(``make bench-data`` runs each in its own process to measure it); only the folders of the
steps run are emptied, and the gate is reported when evaluate runs.

Exit codes: 0 the model would be registered (or, without evaluate, the steps succeeded), 3 the
gate would fail, 1 a step failed (bad input data stops the run after preprocess), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# XGBoost's OpenMP threads spin while they wait for each other; on a machine that is busy with
# anything else a spinning thread holds a core its peer needs, and a 2 s run took 10-15 s on
# two shared cores; sleeping waiters cost nothing measurable on it. OpenMP reads this once, when
# the library loads, so it must be set before scikit-learn and xgboost are imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pipeline_code import drift, evaluate, preprocess, tabular_model

EXIT_REGISTER = 0
EXIT_STEP_FAILED = 1
EXIT_GATE_FAILED = 3

DEFAULT_WORK_DIR = Path(".local-run")
DEFAULT_DATASET_FILE = "data.csv"
DEFAULT_HYPERPARAMETERS = Path(__file__).resolve().with_name("hyperparameters.json")
MODEL_ARCHIVE = "model.tar.gz"
# Evaluate summarises the training split with it into the model's drift baseline, which
# `make local-drift` compares new records with.
DRIFT_MODULE = Path(drift.__file__).resolve()
# What the pipeline's FindChampion step passes as the champion's ARN; locally, the path.
LOCAL_CHAMPION_PREFIX = "local:"
STEP_NAMES = ("preprocess", "train", "evaluate")


def write_default_dataset(path: Path, label_column: str) -> int:
    """Write scikit-learn's bundled breast-cancer data (569 x 30, target 0 = malignant)."""
    # Imported here: scikit-learn takes ~2 s to import, and a run with --input (or a
    # preprocess container) never needs it.
    from sklearn.datasets import load_breast_cancer  # noqa: PLC0415

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": label_column})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    return len(frame)


def gate_decision(report: dict[str, object]) -> tuple[bool, str]:
    """Evaluate's decision from ``gate.json``, phrased as the pipeline would act on it."""
    message = str(report.get("message", ""))
    if report.get("register") == 1:
        return True, f"would REGISTER the model version ({message})"
    return False, f"would FAIL: {message}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline_code.local_run",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--input",
        type=Path,
        help="a CSV file, or a folder read recursively for CSV data, judged by content "
        "(default: scikit-learn's breast-cancer dataset)",
    )
    parser.add_argument("--label-column", default="label")
    parser.add_argument(
        "--positive-class",
        default="",
        help="the label value that is the positive class, e.g. Yes; needed unless the labels "
        "are 0/1 or true/false (the environment's positive_class in the pipeline)",
    )
    parser.add_argument(
        "--exclude-columns",
        default="",
        help="comma-separated columns to drop, e.g. id,rownames (the environment's "
        "exclude_columns in the pipeline)",
    )
    parser.add_argument(
        "--metric",
        choices=evaluate.METRICS,
        default="f1",
        help="metric the gate compares with --threshold (default: f1)",
    )
    parser.add_argument(
        "--threshold",
        type=evaluate.probability_argument,
        default=0.8,
        help="register when the metric is at least this, between 0 and 1 (default: 0.8)",
    )
    parser.add_argument(
        "--min-positives",
        type=evaluate.count_argument,
        default=5,
        help="fewest positive test rows that can measure the metric (default: 5)",
    )
    parser.add_argument(
        "--min-negatives",
        type=evaluate.count_argument,
        default=5,
        help="fewest negative test rows that can measure the metric (default: 5)",
    )
    parser.add_argument(
        "--champion",
        type=Path,
        help="a model.tar.gz (e.g. an earlier run's, copied aside) the new model must match "
        "on this run's test split (the pipeline uses the approved model version)",
    )
    parser.add_argument(
        "--champion-margin",
        type=evaluate.probability_argument,
        default=0.01,
        help="how much below the champion's metric the new model may be (default: 0.01)",
    )
    parser.add_argument(
        "--hyperparameters",
        type=Path,
        default=DEFAULT_HYPERPARAMETERS,
        help="the training hyperparameters (default: pipeline_code/hyperparameters.json)",
    )
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument(
        "--steps",
        type=steps_argument,
        default=STEP_NAMES,
        help="comma-separated steps to run, in pipeline order whatever the order given, each on "
        "the outputs the previous one left in --work-dir (default: "
        f"{','.join(STEP_NAMES)})",
    )
    return parser


def steps_argument(text: str) -> tuple[str, ...]:
    """The named steps in pipeline order; an unknown or missing name is an argument error."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in STEP_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: name one or more of {', '.join(STEP_NAMES)}, separated by commas"
        )
    return tuple(name for name in STEP_NAMES if name in names)


class _Layout:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.input = work_dir / "input"
        self.preprocess = work_dir / "preprocess"
        self.split = {name: self.preprocess / name for name in preprocess.SPLITS}
        self.model = work_dir / "model"
        self.champion = work_dir / "champion"
        self.evaluation = work_dir / "evaluation"

    def step_folders(self, with_input: bool, steps: Sequence[str] = ()) -> list[Path]:
        """The folders the run rewrites; with ``steps``, only those of the steps named."""
        owned = {
            "preprocess": [self.preprocess],
            "train": [self.model],
            "evaluate": [self.champion, self.evaluation],
        }
        folders = [folder for name in steps or STEP_NAMES for folder in owned[name]]
        return [self.input, *folders] if with_input else folders


def _overlap_problem(user_input: Path, layout: _Layout) -> str | None:
    """Refuse inputs that this run would delete, or that hold this run's own CSV outputs."""
    source, work = user_input.resolve(), layout.work_dir.resolve()
    for folder in layout.step_folders(with_input=False):
        if source.is_relative_to(folder.resolve()):
            return f"--input {user_input} is inside {folder}, which local_run rewrites each run"
    if source.is_dir() and work.is_relative_to(source):
        return (
            f"--input {user_input} contains the work dir {layout.work_dir}, so preprocess would "
            "read this run's own CSV files; choose a --work-dir outside it"
        )
    return None


def _step(number: int, title: str, call: Callable[[], int]) -> int:
    print(f"[{number}/{len(STEP_NAMES)}] {title}", flush=True)
    start = time.perf_counter()
    code = call()
    elapsed = time.perf_counter() - start
    print(f"      {'done' if code == 0 else 'FAILED'} in {elapsed:.2f} s", flush=True)
    return code


def _input_problem(args: argparse.Namespace, layout: _Layout) -> str | None:
    if args.input is not None and (problem := _overlap_problem(args.input, layout)):
        return problem
    if args.champion is not None and not args.champion.is_file():
        return f"--champion {args.champion} is not a file; give an earlier run's model.tar.gz"
    return None


def _prepare(args: argparse.Namespace, layout: _Layout) -> tuple[Path, str]:
    """Empty the step folders, stage the champion and the input; (input path, champion name)."""
    # Read before the folders are emptied: the champion may be the previous run's model.
    champion_bytes = args.champion.read_bytes() if args.champion is not None else None
    default_input = args.input is None and "preprocess" in args.steps
    for folder in layout.step_folders(with_input=default_input, steps=args.steps):
        shutil.rmtree(folder, ignore_errors=True)
    champion_name = ""
    if champion_bytes is not None and "evaluate" in args.steps:
        layout.champion.mkdir(parents=True)
        (layout.champion / MODEL_ARCHIVE).write_bytes(champion_bytes)
        champion_name = f"{LOCAL_CHAMPION_PREFIX}{args.champion}"
    if args.input is None:
        source = layout.input / DEFAULT_DATASET_FILE
        if not default_input:
            return source, champion_name
        rows = write_default_dataset(source, args.label_column)
        print(f"Input: scikit-learn breast-cancer dataset, {rows} rows, written to {source}")
    else:
        source = args.input
        print(f"Input: {source}")
    return source, champion_name


def _steps(
    args: argparse.Namespace, layout: _Layout, source: Path, champion_name: str
) -> list[tuple[str, Callable[[], int], str]]:
    """(title, call, what stopped the run) of each step, in order."""
    return [
        (
            "Preprocess: validate and split",
            lambda: preprocess.main(
                [
                    f"--input-dir={source}",
                    f"--train-dir={layout.split['train']}",
                    f"--validation-dir={layout.split['validation']}",
                    f"--test-dir={layout.split['test']}",
                    f"--label-column={args.label_column}",
                    f"--positive-class={args.positive_class}",
                    f"--exclude-columns={args.exclude_columns}",
                ]
            ),
            "preprocess rejected the input data",
        ),
        (
            f"Train: tabular_model.py with {args.hyperparameters.name}",
            lambda: tabular_model.main(
                [
                    f"--train-dir={layout.split['train']}",
                    f"--validation-dir={layout.split['validation']}",
                    f"--model-dir={layout.model}",
                    f"--hyperparameters={args.hyperparameters}",
                    # No spot interruptions here: nothing to resume from.
                    f"--checkpoint-dir={layout.model / 'no-checkpoints'}",
                    "--archive",
                ]
            ),
            "training failed",
        ),
        (
            "Evaluate: score the test split through the model's serving code",
            lambda: evaluate.main(
                [
                    f"--model-dir={layout.model}",
                    f"--test-dir={layout.split['test']}",
                    f"--output-dir={layout.evaluation}",
                    f"--champion-dir={layout.champion}",
                    f"--champion-package-arn={champion_name}",
                    f"--metric={args.metric}",
                    f"--threshold={args.threshold}",
                    f"--min-positives={args.min_positives}",
                    f"--min-negatives={args.min_negatives}",
                    f"--champion-margin={args.champion_margin}",
                    f"--train-dir={layout.split['train']}",
                    f"--drift-module={DRIFT_MODULE}",
                ]
            ),
            "evaluation failed",
        ),
    ]


def _summary(layout: _Layout, started: float) -> bool:
    """Print the gate's decision and the artifacts; whether the model would be registered."""
    gate_path = layout.evaluation / evaluate.GATE_FILE
    passed, decision = gate_decision(json.loads(gate_path.read_text(encoding="utf-8")))
    print(f"Gate: {decision}")
    print("Artifacts:")
    print(f"  splits          {layout.preprocess}/{{train,validation,test}}/")
    print(f"  model           {layout.model / MODEL_ARCHIVE}")
    print(f"  evaluation      {layout.evaluation / evaluate.EVALUATION_FILE}")
    print(f"  gate            {gate_path}")
    print(f"  drift baseline  {layout.evaluation / evaluate.BASELINE_FILE}")
    print(f"  sample payload  {layout.evaluation / evaluate.PAYLOAD_ARCHIVE}")
    print('Score raw rows with it: make local-predict ARGS="--input rows.csv"')
    print('Check new rows for drift: make local-drift ARGS="--input new.csv"')
    print(f"Total {time.perf_counter() - started:.2f} s")
    return passed


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    layout = _Layout(args.work_dir)
    problem = _input_problem(args, layout)
    if problem:
        print(f"local_run: {problem}", file=sys.stderr)
        return EXIT_STEP_FAILED
    source, champion_name = _prepare(args, layout)
    steps = _steps(args, layout, source, champion_name)
    for number, (name, (title, call, failure)) in enumerate(
        zip(STEP_NAMES, steps, strict=True), start=1
    ):
        if name in args.steps and _step(number, title, call) != 0:
            print(f"local_run: stopped, {failure}", file=sys.stderr)
            return EXIT_STEP_FAILED
    if "evaluate" not in args.steps:
        print(f"Total {time.perf_counter() - started:.2f} s")
        return EXIT_REGISTER
    return EXIT_REGISTER if _summary(layout, started) else EXIT_GATE_FAILED


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
