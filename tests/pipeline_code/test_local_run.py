"""local_run: preprocess -> train -> evaluate -> gate on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline_code import local_run


def run(work_dir: Path, *extra: str) -> int:
    return local_run.main([f"--work-dir={work_dir}", *extra])


def metric_value(work_dir: Path, metric: str) -> float:
    report = json.loads((work_dir / "evaluation" / "evaluation.json").read_text())
    return float(report["binary_classification_metrics"][metric]["value"])


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
    shown_value, shown_threshold = local_run.format_pair(value, 0.0)
    assert f"would REGISTER the model version (f1 {shown_value} >= {shown_threshold})" in out
    for step in ("[1/3] Preprocess", "[2/3] Train", "[3/3] Evaluate"):
        assert step in out
    assert out.count(" s\n") >= 4  # three step timings and the total
    assert str(work / "model" / "model.tar.gz") in out
    assert str(work / "evaluation" / "evaluation.json") in out
    assert (work / "model" / "model.tar.gz").is_file()
    assert (work / "evaluation" / "sample-payload.tar.gz").is_file()
    features = json.loads((work / "preprocess" / "test" / "features.json").read_text())
    assert "mean radius" in features["feature_columns"]
    assert len(features["feature_columns"]) == 30
    assert value > 0.9


def test_a_metric_below_the_threshold_fails_the_gate_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = random_label_csv(tmp_path / "random.csv")
    work = tmp_path / "work"

    assert run(work, f"--input={source}", "--metric=auc", "--threshold=0.9") == 3

    value = metric_value(work, "auc")
    assert value < 0.9
    shown, _ = local_run.format_pair(value, 0.9)
    assert f"would FAIL: auc {shown} is below the threshold 0.90" in capsys.readouterr().out


def test_bad_data_stops_after_preprocess_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("a,b,label\n1,x,0\n2,y,1\n3,z,2\n")
    work = tmp_path / "work"

    assert run(work, f"--input={source}") == 1

    captured = capsys.readouterr()
    assert "non-numeric feature column(s) 'b'" in captured.err
    assert "label column 'label' is not binary" in captured.err
    assert "[2/3]" not in captured.out
    assert not (work / "model").exists()
    assert not (work / "evaluation").exists()


def test_two_runs_give_identical_results(tmp_path: Path) -> None:
    assert run(tmp_path / "a", "--threshold=0") == 0
    assert run(tmp_path / "b", "--threshold=0") == 0
    # The written default dataset, given back as --input (column names with spaces and all),
    # is the same data once more.
    assert run(tmp_path / "a", "--threshold=0", f"--input={tmp_path / 'a/input/data.csv'}") == 0

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


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [
        ("--metric=rmse", "argument --metric: invalid choice: 'rmse'"),
        ("--threshold=1.5", "1.5 is not between 0 and 1"),
        ("--threshold=nan", "nan is not between 0 and 1"),
        ("--threshold=high", "'high' is not a number"),
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
    ("value", "threshold", "passed", "sentence"),
    [
        (0.97, 0.8, True, "would REGISTER the model version (f1 0.97 >= 0.80)"),
        (0.8, 0.8, True, "would REGISTER the model version (f1 0.80 >= 0.80)"),
        (0.62, 0.8, False, "would FAIL: f1 0.62 is below the threshold 0.80"),
        (0.7999, 0.8, False, "would FAIL: f1 0.7999 is below the threshold 0.8000"),
        (0.80001, 0.8, True, "would REGISTER the model version (f1 0.80001 >= 0.80000)"),
    ],
)
def test_gate_mirrors_the_condition_step(
    value: float, threshold: float, passed: bool, sentence: str
) -> None:
    assert local_run.gate("f1", value, threshold) == (passed, sentence)
