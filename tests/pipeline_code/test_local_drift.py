"""local_drift: raw records against the drift baseline of the last local run (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Callable
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


def capture_folder(run_dir: Path, folder: Path, change: dict[str, float] | None = None) -> Path:
    """The run's records as an endpoint captures them: one CSV record per request, the model's
    ``probability,label`` response, in an hour folder; plus one line that is not JSON."""
    frame = pd.read_csv(records(run_dir, folder.with_suffix(".csv"), change), dtype=str)
    scores, note = local_drift.model_scores(run_dir / "model" / "model.tar.gz", frame)
    assert note is None
    lines = ["not json"]
    for index, (row, score) in enumerate(zip(frame.to_numpy().tolist(), scores, strict=True)):
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "text/csv",
                            "mode": "INPUT",
                            "data": ",".join(row),
                            "encoding": "CSV",
                        },
                        "endpointOutput": {
                            "observedContentType": "text/csv",
                            "mode": "OUTPUT",
                            "data": f"{score:.6f},{int(score >= 0.5)}",
                            "encoding": "CSV",
                        },
                    },
                    "eventMetadata": {
                        "eventId": f"e{index}",
                        "inferenceTime": "2026-12-06T10:00:00Z",
                    },
                    "eventVersion": "0",
                }
            )
        )
    hour = folder / "prod-endpoint" / "AllTraffic" / "2026" / "12" / "06" / "10"
    hour.mkdir(parents=True)
    (hour / "capture.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def distances(output: str) -> dict[str, str]:
    """Feature -> its printed line (distance, threshold and verdict)."""
    return {line.split("  ")[0].strip(): line for line in output.splitlines() if "  " in line}


def test_capture_files_give_the_verdict_the_same_records_give_as_csv(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(run_dir, records(run_dir, tmp_path / "same.csv")) == local_drift.EXIT_NO_DRIFT
    from_csv = distances(capsys.readouterr().out)
    folder = capture_folder(run_dir, tmp_path / "capture")
    baseline = run_dir / "evaluation" / "baseline.json"
    code = local_drift.main([f"--capture={folder}", f"--baseline={baseline}"])
    out = capsys.readouterr().out
    assert code == local_drift.EXIT_NO_DRIFT
    assert "capture: 569 record(s) read, 1 malformed line(s), 0 record(s) skipped" in out
    assert "line 1" in out  # the malformed line is named
    from_capture = distances(out)
    # The same records: every feature's line is the same. The scores are the endpoint's,
    # rounded to 6 decimals in its response, so their distance may differ a little.
    score = "predicted score"
    features = {k: v for k, v in from_csv.items() if k != score}
    assert len(features) == 30
    assert {k: v for k, v in from_capture.items() if k in features} == features
    assert from_csv[score].endswith("  ok") and from_capture[score].endswith("  ok")


def test_shifted_capture_flags_only_that_feature(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = capture_folder(run_dir, tmp_path / "capture", {"mean radius": 1.5})
    baseline = run_dir / "evaluation" / "baseline.json"
    code = local_drift.main([f"--capture={folder}", f"--baseline={baseline}"])
    assert code == local_drift.EXIT_DRIFT
    seen = verdicts(capsys.readouterr().out)
    assert [name for name, verdict in seen.items() if verdict == "drift"] == ["mean radius"]


def test_capture_path_problems_exit_1(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = run_dir / "evaluation" / "baseline.json"
    assert local_drift.main([f"--capture={tmp_path / 'nowhere'}", f"--baseline={baseline}"]) == 1
    assert "capture path" in capsys.readouterr().err
    assert local_drift.main([f"--capture={tmp_path}", f"--baseline={baseline}"]) == 1
    assert "holds no .jsonl files" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:  # --input and --capture are exclusive
        local_drift.main([f"--capture={tmp_path}", f"--input={tmp_path / 'x.csv'}"])
    assert raised.value.code == 2


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda line: line.rsplit(",", 1)[0], "has {short}"),  # a short row: not missing values
        (lambda line: line + ",9", "has {long}"),
    ],
)
def test_rows_of_the_wrong_width_exit_1_naming_the_line(
    run_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[str], str],
    fragment: str,
) -> None:
    source = records(run_dir, tmp_path / "same.csv")
    lines = source.read_text().splitlines()
    width = len(lines[0].split(","))
    lines[5] = change(lines[5])
    source.write_text("\n".join(lines) + "\n")

    code = local_drift.main(
        [f"--input={source}", f"--baseline={run_dir / 'evaluation' / 'baseline.json'}"]
    )

    assert code == local_drift.EXIT_FAILED
    error = capsys.readouterr().err
    assert f"line 6 {fragment.format(short=width - 1, long=width + 1)}" in error, error
