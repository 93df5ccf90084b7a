"""local_run: preprocess -> train -> evaluate -> gate on this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline_code import local_predict, local_run


def run(work_dir: Path, *extra: str) -> int:
    return local_run.main([f"--work-dir={work_dir}", *extra])


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``--hyperparameters`` of the committed file with at most 50 rounds, for tests about
    the run rather than the model (the committed file itself runs in the default test)."""
    settings = json.loads(local_run.DEFAULT_HYPERPARAMETERS.read_text())
    path = tmp_path_factory.mktemp("hyperparameters") / "quick.json"
    path.write_text(json.dumps({**settings, "num_round": 50}))
    return f"--hyperparameters={path}"


def metric_value(work_dir: Path, metric: str) -> float:
    report = json.loads((work_dir / "evaluation" / "evaluation.json").read_text())
    return float(report["binary_classification_metrics"][metric]["value"])


def gate_report(work_dir: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((work_dir / "evaluation" / "gate.json").read_text())
    return report


def random_label_csv(path: Path) -> Path:
    """Labels independent of the features: no model can rank them well."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(300, 5)), columns=[f"x{i}" for i in range(5)])
    frame["label"] = rng.integers(0, 2, len(frame))
    frame.to_csv(path, index=False)
    return path


def test_default_dataset_registers_at_threshold_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"

    assert run(work, "--threshold=0") == 0

    out = capsys.readouterr().out
    value = metric_value(work, "f1")
    gate = gate_report(work)
    assert gate["register"] == 1
    assert gate["value"] == value
    assert f"would REGISTER the model version ({gate['message']})" in out
    for step in ("[1/3] Preprocess", "[2/3] Train", "[3/3] Evaluate"):
        assert step in out
    assert out.count(" s\n") >= 4  # three step timings and the total
    assert str(work / "model" / "model.tar.gz") in out
    assert str(work / "evaluation" / "evaluation.json") in out
    assert (work / "model" / "model.tar.gz").is_file()
    assert (work / "evaluation" / "sample-payload.tar.gz").is_file()
    schema = json.loads((work / "preprocess" / "test" / "schema.json").read_text())
    names = [feature["name"] for feature in schema["features"]]
    assert "mean radius" in names
    assert len(names) == 30
    assert value > 0.9
    # The cut-off was chosen on the validation split and evaluation used it.
    assert 0 < gate["decision_threshold"] < 1


def test_a_metric_below_the_threshold_fails_the_gate_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = random_label_csv(tmp_path / "random.csv")
    work = tmp_path / "work"

    assert run(work, f"--input={source}", "--metric=auc", "--threshold=0.9") == 3

    value = metric_value(work, "auc")
    assert value < 0.9
    gate = gate_report(work)
    assert gate["register"] == 0
    assert "threshold" in gate["message"]
    assert f"would FAIL: {gate['message']}" in capsys.readouterr().out


def test_bad_data_stops_after_preprocess_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("a,b,label\n1,x,0\n2,y,1\n3,z,2\n")
    work = tmp_path / "work"

    assert run(work, f"--input={source}") == 1

    captured = capsys.readouterr()
    assert "label column 'label' is not binary" in captured.err
    assert "[2/3]" not in captured.out
    assert not (work / "model").exists()
    assert not (work / "evaluation").exists()


def test_two_runs_give_identical_results(tmp_path: Path, quick: str) -> None:
    assert run(tmp_path / "a", "--threshold=0", quick) == 0
    # The written default dataset, given back as --input (column names with spaces and all),
    # is the same data once more.
    source = f"--input={tmp_path / 'a/input/data.csv'}"
    assert run(tmp_path / "b", "--threshold=0", source, quick) == 0

    for artifact in ("evaluation/evaluation.json", "model/model.tar.gz"):
        assert (tmp_path / "a" / artifact).read_bytes() == (tmp_path / "b" / artifact).read_bytes()


def test_each_run_replaces_the_previous_artifacts(tmp_path: Path) -> None:
    source = random_label_csv(tmp_path / "random.csv")
    work = tmp_path / "work"
    stale = work / "preprocess" / "train" / "old.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("1,2\n")
    (work / "model").mkdir()
    (work / "model" / "model.tar.gz").write_bytes(b"stale")

    run(work, f"--input={source}", "--threshold=0")

    assert not stale.exists()
    assert (work / "model" / "model.tar.gz").read_bytes() != b"stale"
    assert source.exists()


def test_input_folder_holding_the_work_dir_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    random_label_csv(tmp_path / "random.csv")

    assert run(tmp_path / "work", f"--input={tmp_path}") == 1
    assert "contains the work dir" in capsys.readouterr().err


def test_input_inside_a_folder_the_run_rewrites_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    source = random_label_csv(tmp_path / "random.csv")
    inside = work / "preprocess" / "train" / "data.csv"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(source.read_bytes())

    assert run(work, f"--input={inside}") == 1
    assert "which local_run rewrites each run" in capsys.readouterr().err
    assert inside.exists()


def test_steps_run_one_at_a_time_on_what_the_previous_left(
    tmp_path: Path, quick: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seam `make bench-data` measures each step through, one process per step."""
    source = tmp_path / "data.csv"
    local_run.write_default_dataset(source, "label")
    work = tmp_path / "work"

    assert run(work, f"--input={source}", "--steps=preprocess") == 0
    out = capsys.readouterr().out
    assert "[1/3] Preprocess" in out and "[2/3]" not in out and "Gate:" not in out
    train_csv = work / "preprocess" / "train" / "train.csv"
    split = train_csv.read_bytes()
    assert not (work / "model").exists()

    # Any order: the steps run in pipeline order; preprocess's output is left as it is.
    assert run(work, "--threshold=0", quick, "--steps=evaluate, train") == 0
    out = capsys.readouterr().out
    assert "[1/3]" not in out and "[2/3] Train" in out and "[3/3] Evaluate" in out
    assert "Gate: would REGISTER" in out
    assert train_csv.read_bytes() == split
    assert (work / "model" / "model.tar.gz").is_file()
    assert not (work / "input").exists()


def test_a_step_without_its_inputs_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path / "work", "--steps=train") == 1
    assert "local_run: stopped, training failed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [
        ("--metric=rmse", "argument --metric: invalid choice: 'rmse'"),
        ("--threshold=1.5", "1.5 is not between 0 and 1"),
        ("--threshold=nan", "nan is not between 0 and 1"),
        ("--threshold=high", "'high' is not a number"),
        ("--steps=train,deploy", "name one or more of preprocess, train, evaluate"),
        ("--steps=,", "name one or more of preprocess, train, evaluate"),
    ],
)
def test_bad_arguments_are_refused(
    argument: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        run(tmp_path / "work", argument)
    assert raised.value.code == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    ("report", "passed", "sentence"),
    [
        (
            {"register": 1, "message": "f1 0.97 >= 0.80"},
            True,
            "would REGISTER the model version (f1 0.97 >= 0.80)",
        ),
        ({"register": 0, "message": "f1 0.62 < 0.80"}, False, "would FAIL: f1 0.62 < 0.80"),
        # Anything but an explicit 1 is no registration, as in the condition step.
        ({"register": "1", "message": "odd"}, False, "would FAIL: odd"),
        ({"message": "no decision"}, False, "would FAIL: no decision"),
    ],
)
def test_gate_follows_evaluates_decision_as_the_condition_step_does(
    report: dict[str, object], passed: bool, sentence: str
) -> None:
    assert local_run.gate_decision(report) == (passed, sentence)


REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")


def _make_can_load() -> bool:
    """Whether this make has GNU make's `load` (macOS's make 3.81 does not)."""
    if MAKE is None:
        return False
    probe = subprocess.run(
        [MAKE, "-s", "-f", "-", "features"],
        input="features:\n\t@echo $(.FEATURES)\n",
        capture_output=True,
        text=True,
        check=False,
    )
    return "load" in probe.stdout.split()


needs_make_and_cc = pytest.mark.skipif(
    not _make_can_load() or shutil.which("cc") is None,
    reason="make local-run keeps the run's exit code only where make has `load` and cc can "
    "build its make helper",
)


def make_local_run(
    state: Path, *args: str, make_options: Sequence[str] = (), target: str = "local-run"
) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    # Under `make pytest` the outer make's flags and jobserver would reach this make too.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    return subprocess.run(
        [
            MAKE,
            "--no-print-directory",
            "-C",
            str(REPO),
            *make_options,
            # Never (re)install the virtualenv from here: parallel test workers would race.
            "-o",
            ".venv/.dev-deps",
            target,
            f"LOCAL_RUN_STATE={state}",
            f"ARGS={' '.join(args)}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def make_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state folder for the module, so make's exit helper is compiled once."""
    return tmp_path_factory.mktemp("make-state")


def fake_python(folder: Path) -> str:
    """A stand-in for the virtualenv's python that exits with the code given as ARGS.

    Runs make's side of local-run in milliseconds instead of seconds of imports.
    """
    script = folder / "python"
    script.write_text('#!/bin/sh\n# called as: python -m pipeline_code.local_run CODE\nexit "$3"\n')
    script.chmod(0o755)
    return f"PY={script}"


@needs_make_and_cc
def test_make_local_run_exits_with_the_runs_own_code(make_state: Path, tmp_path: Path) -> None:
    # One real run through make (a failed gate); the other codes with a stand-in python.
    source = random_label_csv(tmp_path / "in.csv")

    result = make_local_run(
        make_state, f"--input={source}", f"--work-dir={tmp_path / 'work'}", "--threshold=1"
    )

    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "local-run: exit code 3 (the gate would fail)"
    assert (make_state / "exit-code").read_text() == "3\n"


@needs_make_and_cc
@pytest.mark.parametrize(
    ("code", "meaning"),
    [(0, "success"), (1, "a step failed"), (2, "bad arguments"), (5, "unexpected")],
)
def test_make_local_run_hands_on_any_code(
    code: int, meaning: str, make_state: Path, tmp_path: Path
) -> None:
    result = make_local_run(make_state, str(code), make_options=[fake_python(tmp_path)])

    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"local-run: exit code {code} ({meaning})"
    assert (make_state / "exit-code").read_text() == f"{code}\n"


@needs_make_and_cc
@pytest.mark.parametrize(("code", "meaning"), [(0, "no drift"), (4, "drift"), (1, "a file")])
def test_make_local_drift_hands_on_its_code(
    code: int, meaning: str, make_state: Path, tmp_path: Path
) -> None:
    result = make_local_run(
        make_state, str(code), make_options=[fake_python(tmp_path)], target="local-drift"
    )

    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(f"local-drift: exit code {code} ({meaning}")
    assert (make_state / "drift-exit-code").read_text() == f"{code}\n"


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_without_its_exit_helper_make_exits_2_and_names_the_code(tmp_path: Path) -> None:
    state = tmp_path / "state"

    result = make_local_run(state, "3", make_options=["CC=false", fake_python(tmp_path)])

    assert result.returncode == 2
    assert result.stdout.splitlines()[-1] == (
        f"local-run: exit code 3 (the gate would fail); this make exits 2 on any failure, the "
        f"code is in {state}/exit-code"
    )
    assert "local-run] Error 3" in result.stderr
    assert (state / "exit-code").read_text() == "3\n"


@needs_make_and_cc
def test_a_dry_run_neither_runs_nor_exits_with_a_previous_code(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "exit-code").write_text("3\n")

    result = make_local_run(state, "--threshold=1", make_options=["-n"])

    assert result.returncode == 0, result.stderr
    assert "-m pipeline_code.local_run --threshold=1" in result.stdout
    assert (state / "exit-code").read_text() == "3\n"


# Text labels, identifier columns and categorical features on real exported data sets run
# end to end in test_real_data_runs.py.


def test_missing_feature_values_run_end_to_end(tmp_path: Path, quick: str) -> None:
    source = tmp_path / "gaps.csv"
    local_run.write_default_dataset(source, "label")
    frame = pd.read_csv(source)
    features = frame.columns.drop("label")
    gaps = np.random.default_rng(5).random((len(frame), len(features))) < 0.05
    frame[features] = frame[features].mask(gaps)
    frame.to_csv(source, index=False)
    work = tmp_path / "work"

    assert run(work, f"--input={source}", "--threshold=0.8", quick) == 0
    with tarfile.open(work / "evaluation" / "sample-payload.tar.gz") as archive:
        member = archive.extractfile("payload.csv")
        assert member is not None
        payload = member.read().decode()
    # Empty cells reach the endpoint's sample payload, as clients send them.
    assert ",," in payload or payload.startswith(",") or ",\n" in payload


def test_the_serving_code_answers_the_staging_payload(
    tmp_path: Path, quick: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The request the staging test sends, answered by the code the endpoint runs.
    work = tmp_path / "work"
    assert run(work, "--threshold=0", quick) == 0
    with tarfile.open(work / "evaluation" / "sample-payload.tar.gz") as archive:
        member = archive.extractfile("payload.csv")
        assert member is not None
        (tmp_path / "payload.csv").write_bytes(member.read())
    capsys.readouterr()

    model = work / "model" / "model.tar.gz"
    assert local_predict.main([f"--input={tmp_path / 'payload.csv'}", f"--model={model}"]) == 0

    answers = [line.split(",") for line in capsys.readouterr().out.splitlines()]
    rows = (tmp_path / "payload.csv").read_text().splitlines()
    assert len(answers) == len(rows) == 10
    cut_off = gate_report(work)["decision_threshold"]
    for probability, label in answers:
        assert label == ("1" if float(probability) >= cut_off else "0")
