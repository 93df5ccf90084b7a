"""local_drift: raw records against the drift baseline of the last local run (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline_code import local_drift, local_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local run of the default data set: its model and drift baseline."""
    work = tmp_path_factory.mktemp("run")
    settings = json.loads(local_run.DEFAULT_HYPERPARAMETERS.read_text())
    quick = work / "quick.json"
    quick.write_text(json.dumps({**settings, "num_round": 50}))
    assert (
        local_run.main([f"--work-dir={work}", "--threshold=0", f"--hyperparameters={quick}"]) == 0
    )
    return work


def records(run_dir: Path, path: Path, change: dict[str, float] | None = None) -> Path:
    """The run's input data as a client would send it: no label, maybe one column scaled."""
    frame = pd.read_csv(run_dir / "input" / "data.csv").drop(columns=["label"])
    for column, factor in (change or {}).items():
        frame[column] = frame[column] * factor
    frame.to_csv(path, index=False)
    return path


def check(run_dir: Path, source: Path, *extra: str) -> int:
    return local_drift.main(
        [
            f"--input={source}",
            f"--baseline={run_dir / 'evaluation' / 'baseline.json'}",
            f"--model={run_dir / 'model' / 'model.tar.gz'}",
            *extra,
        ]
    )


def verdicts(output: str) -> dict[str, str]:
    """Feature -> verdict, from the aligned per-feature lines."""
    found = {}
    for line in output.splitlines():
        for verdict in ("ok", "drift", "insufficient data", "missing column"):
            if line.endswith(f"  {verdict}"):
                found[line.split("  ")[0].strip()] = verdict
    return found


def test_the_training_distribution_is_no_drift(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(run_dir, records(run_dir, tmp_path / "same.csv")) == local_drift.EXIT_NO_DRIFT
    out = capsys.readouterr().out
    seen = verdicts(out)
    assert len(seen) == 31  # 30 features and the predicted score
    assert set(seen.values()) == {"ok"}
    assert out.splitlines()[-1].startswith("ok: 569 records checked")


def test_one_shifted_feature_is_the_only_one_flagged_and_exits_4(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = records(run_dir, tmp_path / "shifted.csv", {"mean radius": 1.5})
    assert check(run_dir, source) == local_drift.EXIT_DRIFT
    seen = verdicts(capsys.readouterr().out)
    assert seen["mean radius"] == "drift"
    assert [name for name, verdict in seen.items() if verdict == "drift"] == ["mean radius"]


def test_a_missing_column_is_drift_and_the_scores_are_skipped_with_a_note(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = records(run_dir, tmp_path / "fewer.csv")
    pd.read_csv(source).drop(columns=["mean texture"]).to_csv(source, index=False)
    assert check(run_dir, source) == local_drift.EXIT_DRIFT
    out = capsys.readouterr().out
    assert verdicts(out)["mean texture"] == "missing column"
    assert "no scores compared" in out and "mean texture" in out


def test_a_few_records_are_too_few_to_judge(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = records(run_dir, tmp_path / "few.csv", {"mean radius": 3.0})
    pd.read_csv(source).head(20).to_csv(source, index=False)
    assert check(run_dir, source) == local_drift.EXIT_NO_DRIFT
    assert "drift" not in verdicts(capsys.readouterr().out).values()


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [
        ("--baseline=/nonexistent/baseline.json", "run make local-run first"),
        ("--input=/nonexistent/new.csv", "does not exist"),
    ],
)
def test_missing_files_exit_1_naming_them(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argument: str, fragment: str
) -> None:
    source = records(run_dir, tmp_path / "same.csv")
    code = local_drift.main(
        [f"--input={source}", f"--baseline={run_dir / 'evaluation' / 'baseline.json'}", argument]
    )
    assert code == local_drift.EXIT_FAILED
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [("--threshold=0", "not in (0, 1]"), ("--min-rows=0", "below 1")],
)
def test_bad_arguments_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argument: str, fragment: str
) -> None:
    with pytest.raises(SystemExit) as raised:
        local_drift.main([f"--input={tmp_path / 'x.csv'}", argument])
    assert raised.value.code == 2
    assert fragment in capsys.readouterr().err
