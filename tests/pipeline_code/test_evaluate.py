"""evaluate: metrics, evaluation.json, the sample payload and safe model extraction."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from config import METRIC_NAMES
from pipeline_code import evaluate
from pipeline_code.evaluate import EvaluationError, UnsafeArchiveError

FEATURES = 3
# Hand-checkable: at threshold 0.5 the predictions are 0 0 1 0 | 1 1 0 1 1 0.
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
Y_SCORE = np.array([0.1, 0.2, 0.6, 0.3, 0.9, 0.8, 0.4, 0.7, 0.5, 0.2])


def test_metrics_of_a_hand_computed_case() -> None:
    report = evaluate.evaluation_report(Y_TRUE, Y_SCORE, threshold=0.5)
    metrics = report["binary_classification_metrics"]

    # tn 3, fp 1, fn 2, tp 4; the score 0.5 counts as positive (>= threshold).
    assert metrics["confusion_matrix"] == {"0": {"0": 3, "1": 1}, "1": {"0": 2, "1": 4}}
    assert metrics["accuracy"]["value"] == pytest.approx(7 / 10)
    assert metrics["precision"]["value"] == pytest.approx(4 / 5)
    assert metrics["recall"]["value"] == pytest.approx(4 / 6)
    assert metrics["f1"]["value"] == pytest.approx(8 / 11)
    # 24 positive/negative pairs: 19 ranked right and one tie (0.2 vs 0.2) counting half.
    assert metrics["auc"]["value"] == pytest.approx(19.5 / 24)
    assert all(metrics[name]["standard_deviation"] == "NaN" for name in evaluate.METRICS)
    assert all(type(metrics[name]["value"]) is float for name in evaluate.METRICS)


def test_threshold_metrics_from_counts() -> None:
    assert evaluate.threshold_metrics(tn=50, fp=10, fn=5, tp=35) == {
        "accuracy": 0.85,
        "precision": 35 / 45,
        "recall": 35 / 40,
        "f1": 70 / 85,
    }


def test_no_predicted_positives_scores_zero_instead_of_failing() -> None:
    metrics = evaluate.evaluation_report(Y_TRUE, Y_SCORE, threshold=1.0)[
        "binary_classification_metrics"
    ]
    assert metrics["confusion_matrix"] == {"0": {"0": 4, "1": 0}, "1": {"0": 6, "1": 0}}
    assert metrics["precision"]["value"] == 0.0
    assert metrics["recall"]["value"] == 0.0
    assert metrics["f1"]["value"] == 0.0
    assert metrics["accuracy"]["value"] == 0.4


def test_everything_predicted_positive_at_threshold_zero() -> None:
    metrics = evaluate.evaluation_report(Y_TRUE, Y_SCORE, threshold=0.0)[
        "binary_classification_metrics"
    ]
    assert metrics["recall"]["value"] == 1.0
    assert metrics["precision"]["value"] == 0.6
    assert metrics["f1"]["value"] == pytest.approx(0.75)


def test_a_single_class_test_set_is_an_error_not_a_bogus_auc() -> None:
    with pytest.raises(EvaluationError, match=r"both classes 0 and 1, found only \[1\]"):
        evaluate.evaluation_report(np.ones(5, dtype=np.int64), np.full(5, 0.7), 0.5)
    with pytest.raises(EvaluationError, match="3 labels but 2 predictions"):
        evaluate.evaluation_report(np.array([0, 1, 1]), np.array([0.1, 0.9]), 0.5)


def test_roc_curve_is_thinned_to_at_most_101_points_keeping_both_ends() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 5000)
    y_score = np.clip(y_true * 0.3 + rng.random(5000) * 0.7, 0, 1)

    fpr, tpr = evaluate.roc_points(y_true, y_score)

    assert 50 < len(fpr) <= 101
    assert len(fpr) == len(tpr)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert fpr == sorted(fpr)
    assert tpr == sorted(tpr)
    short_fpr, _ = evaluate.roc_points(Y_TRUE, Y_SCORE)
    assert len(short_fpr) < 101  # short curves are kept whole


def test_metric_names_match_the_deployment_config() -> None:
    # The config validates metric_name against this tuple's twin; they must not drift apart.
    assert evaluate.METRICS == METRIC_NAMES


# --- the script end to end -------------------------------------------------------------------


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def test_split(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(40, FEATURES)).round(5)
    labels = (features[:, 0] > 0).astype(int)
    folder = tmp_path / "test"
    folder.mkdir()
    lines = [
        ",".join([str(y), *map(repr, row.tolist())])
        for y, row in zip(labels, features, strict=True)
    ]
    (folder / "test.csv").write_text("\n".join(lines) + "\n")
    return folder, features


@pytest.fixture
def booster() -> xgb.Booster:
    rng = np.random.default_rng(5)
    features = rng.normal(size=(200, FEATURES))
    labels = (features[:, 0] > 0).astype(int)
    return xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "seed": 1},
        xgb.DMatrix(features, label=labels),
        num_boost_round=10,
    )


def model_archive(folder: Path, booster: xgb.Booster) -> Path:
    return write_tar(folder / "model.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))})


def run_main(tmp_path: Path, model_dir: Path, test_dir: Path, *extra: str) -> int:
    return evaluate.main(
        [
            f"--model-dir={model_dir}",
            f"--test-dir={test_dir}",
            f"--output-dir={tmp_path / 'evaluation'}",
            *extra,
        ]
    )


def test_writes_evaluation_json_in_the_model_quality_format(
    tmp_path: Path, test_split: tuple[Path, np.ndarray], booster: xgb.Booster
) -> None:
    model_archive(tmp_path / "model", booster)

    assert run_main(tmp_path, tmp_path / "model", test_split[0]) == 0

    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert list(report) == ["binary_classification_metrics"]
    metrics = report["binary_classification_metrics"]
    assert set(metrics) == {
        *evaluate.METRICS,
        "confusion_matrix",
        "receiver_operating_characteristic_curve",
    }
    for name in evaluate.METRICS:
        assert set(metrics[name]) == {"value", "standard_deviation"}
        assert 0.8 < metrics[name]["value"] <= 1.0, name
    matrix = metrics["confusion_matrix"]
    assert sum(matrix[a][b] for a in "01" for b in "01") == 40
    roc = metrics["receiver_operating_characteristic_curve"]
    assert len(roc["false_positive_rates"]) == len(roc["true_positive_rates"]) <= 101


def test_sample_payload_holds_ten_feature_rows_without_label_or_header(
    tmp_path: Path, test_split: tuple[Path, np.ndarray], booster: xgb.Booster
) -> None:
    model_archive(tmp_path / "model", booster)
    run_main(tmp_path, tmp_path / "model", test_split[0])

    with tarfile.open(tmp_path / "evaluation" / "sample-payload.tar.gz") as tar:
        assert tar.getnames() == ["payload.csv"]
        member = tar.extractfile("payload.csv")
        assert member is not None
        lines = member.read().decode().splitlines()
    test_lines = (test_split[0] / "test.csv").read_text().splitlines()
    assert lines == [line.split(",", 1)[1] for line in test_lines[:10]]
    assert np.array_equal(np.loadtxt(lines, delimiter=","), test_split[1][:10])


def test_a_pickled_booster_from_old_images_still_loads(
    tmp_path: Path, test_split: tuple[Path, np.ndarray], booster: xgb.Booster
) -> None:
    model_archive(tmp_path / "native", booster)
    write_tar(tmp_path / "pickled" / "model.tar.gz", {"xgboost-model": pickle.dumps(booster)})

    assert run_main(tmp_path / "a", tmp_path / "native", test_split[0]) == 0
    assert run_main(tmp_path / "b", tmp_path / "pickled", test_split[0]) == 0
    native = (tmp_path / "a" / "evaluation" / "evaluation.json").read_text()
    assert (tmp_path / "b" / "evaluation" / "evaluation.json").read_text() == native


def test_a_file_that_is_no_model_is_reported(tmp_path: Path) -> None:
    (tmp_path / "xgboost-model").write_bytes(b"not a model")
    with pytest.raises(EvaluationError, match=r"not an XGBoost model file .* nor a pickled"):
        evaluate.load_booster(tmp_path / "xgboost-model")


def _symlink(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    return info


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        (tarfile.TarInfo("../escape"), "points outside the archive"),
        (tarfile.TarInfo("model/../../escape"), "points outside the archive"),
        (tarfile.TarInfo("/tmp/absolute"), "has an absolute path"),
        (_symlink("xgboost-model"), "is a link or special file"),
    ],
)
def test_unsafe_archive_members_are_rejected_before_anything_is_written(
    member: tarfile.TarInfo, fragment: str, tmp_path: Path, booster: xgb.Booster
) -> None:
    archive = tmp_path / "model" / "model.tar.gz"
    archive.parent.mkdir()
    model = bytes(booster.save_raw("json"))
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(model)
        tar.addfile(info, io.BytesIO(model))
        if member.isfile():
            member.size = 4
            tar.addfile(member, io.BytesIO(b"evil"))
        else:
            tar.addfile(member)
    destination = tmp_path / "scratch" / "inner"
    destination.mkdir(parents=True)

    with pytest.raises(UnsafeArchiveError, match=fragment):
        evaluate.safe_extract(archive, destination)
    assert list(destination.iterdir()) == []
    assert not (tmp_path / "scratch" / "escape").exists()


def test_main_fails_cleanly_on_an_unsafe_archive(
    tmp_path: Path, test_split: tuple[Path, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    write_tar(tmp_path / "model" / "model.tar.gz", {"../xgboost-model": b"x"})

    assert run_main(tmp_path, tmp_path / "model", test_split[0]) == 1
    assert "evaluate: archive member '../xgboost-model'" in capsys.readouterr().err
    assert not (tmp_path / "evaluation").exists()


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ({"model/xgboost-model": b"x"}, "has no 'xgboost-model' at its top level"),
        ({}, "found nothing"),
    ],
)
def test_an_archive_without_xgboost_model_is_reported(
    members: dict[str, bytes], fragment: str, tmp_path: Path
) -> None:
    archive = write_tar(tmp_path / "model.tar.gz", members)
    with pytest.raises(EvaluationError, match=fragment):
        evaluate.load_model_archive(archive, tmp_path / "scratch")


def test_feature_count_mismatch_and_missing_inputs_are_reported(
    tmp_path: Path, booster: xgb.Booster, capsys: pytest.CaptureFixture[str]
) -> None:
    model_archive(tmp_path / "model", booster)
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test.csv").write_text("1,0.5,0.2\n0,0.1,0.3\n")

    assert run_main(tmp_path, tmp_path / "model", tmp_path / "test") == 1
    assert "the model expects 3 features but the test data has 2" in capsys.readouterr().err

    assert run_main(tmp_path, tmp_path / "nowhere", tmp_path / "test") == 1
    assert "model archive" in capsys.readouterr().err


def test_an_empty_model_file_is_reported_instead_of_aborting(
    tmp_path: Path, test_split: tuple[Path, np.ndarray]
) -> None:
    write_tar(tmp_path / "model" / "model.tar.gz", {"xgboost-model": b""})
    script = Path(evaluate.__file__)

    # In a child process: XGBoost aborts the whole interpreter when it loads zero bytes.
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            f"--model-dir={tmp_path / 'model'}",
            f"--test-dir={test_split[0]}",
            f"--output-dir={tmp_path / 'evaluation'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert "xgboost-model is empty (0 bytes): the training job saved no model" in result.stderr
    assert not (tmp_path / "evaluation").exists()


def _truncated_archive(folder: Path, booster: xgb.Booster) -> None:
    archive = model_archive(folder, booster)
    archive.write_bytes(archive.read_bytes()[:200])


def _corrupt_deflate_stream(folder: Path, booster: xgb.Booster) -> None:
    # A valid first gzip member holding the tar header, then one whose data cannot inflate.
    plain = io.BytesIO()
    model = bytes(booster.save_raw("ubj"))
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(model)
        tar.addfile(info, io.BytesIO(model))
    header = gzip.compress(b"")[:10]
    folder.mkdir(parents=True)
    (folder / "model.tar.gz").write_bytes(
        gzip.compress(plain.getvalue()[:512]) + header + b"\xff" * 64
    )


def _archive_folder(folder: Path, booster: xgb.Booster) -> None:
    (folder / "model.tar.gz").mkdir(parents=True)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_truncated_archive, "(truncated or corrupt?): EOFError: Compressed file ended"),
        (_corrupt_deflate_stream, "(truncated or corrupt?): error: Error -3"),
        (_archive_folder, "model.tar.gz is a folder, not a .tar.gz file"),
    ],
    ids=["truncated", "corrupt deflate stream", "folder"],
)
def test_unreadable_model_archives_are_reported(
    make: Callable[[Path, xgb.Booster], None],
    fragment: str,
    tmp_path: Path,
    test_split: tuple[Path, np.ndarray],
    booster: xgb.Booster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make(tmp_path / "model", booster)

    assert run_main(tmp_path, tmp_path / "model", test_split[0]) == 1

    error = capsys.readouterr().err
    assert error.startswith("evaluate: ")
    assert fragment in error, error
    assert not (tmp_path / "evaluation").exists()


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        (
            "1,0.5,0.2,0.1\n,0.1,0.3,0.2\n",
            "has 1 missing label(s) (short rows or empty cells), the first at row 2, "
            "column 1 (nan)",
        ),
        ("NaN,0.5,,0.1\n,0.1,0.3,NaN\n", "has 2 missing label(s)"),
        ("1,0.5,0.2,0.1\n0,0.1,-inf,0.2\n", "infinite value(s), the first at row 2, column 3"),
        (
            "1,0.5,0.2,1e39\n0,0.1,0.3,0.2\n",
            "has 1 value(s) beyond the float32 range XGBoost scores (magnitude above "
            "3.402823e+38), the first at row 1, column 4 (1e+39)",
        ),
        ("1,0.5,0.2,0.1\n0,-1e39,0.3,0.2\n", "row 2, column 2 (-1e+39)"),
    ],
    ids=["missing label", "empty and NaN labels", "infinity", "1e39", "-1e39"],
)
def test_test_data_with_cells_preprocess_never_writes_is_refused(
    rows: str,
    fragment: str,
    tmp_path: Path,
    booster: xgb.Booster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_archive(tmp_path / "model", booster)
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test.csv").write_text(rows)

    assert run_main(tmp_path, tmp_path / "model", tmp_path / "test") == 1

    error = capsys.readouterr().err
    assert fragment in error, error
    assert "so this is not its test split" in error
    assert not (tmp_path / "evaluation").exists()


def test_a_folder_named_test_csv_is_reported(
    tmp_path: Path, booster: xgb.Booster, capsys: pytest.CaptureFixture[str]
) -> None:
    model_archive(tmp_path / "model", booster)
    (tmp_path / "test" / "test.csv").mkdir(parents=True)

    assert run_main(tmp_path, tmp_path / "model", tmp_path / "test") == 1

    assert "test.csv is a folder, not a CSV file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("taken", "(--output-dir) is an existing file"),
        ("taken/evaluation", "cannot write to output folder"),
    ],
    ids=["is a file", "is under a file"],
)
def test_an_output_dir_that_cannot_be_a_folder_is_reported(
    output: str,
    fragment: str,
    tmp_path: Path,
    test_split: tuple[Path, np.ndarray],
    booster: xgb.Booster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_archive(tmp_path / "model", booster)
    (tmp_path / "taken").write_text("a file")

    code = evaluate.main(
        [
            f"--model-dir={tmp_path / 'model'}",
            f"--test-dir={test_split[0]}",
            f"--output-dir={tmp_path / output}",
        ]
    )

    assert code == 1
    error = capsys.readouterr().err
    assert error.startswith("evaluate: ")
    assert fragment in error, error
    assert (tmp_path / "taken").read_text() == "a file"


def test_decision_threshold_must_be_a_probability(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        evaluate.main(["--decision-threshold=1.5"])
    assert raised.value.code == 2
    assert "1.5 is not between 0 and 1" in capsys.readouterr().err


def test_missing_features_are_scored_as_xgboost_scores_them(tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    path.write_text("1,0.5,,0.1\n0,0.1,0.3,\n")

    labels, features = evaluate.read_test_set(path)

    assert labels.tolist() == [1, 0]
    assert int(features.isna().sum().sum()) == 2
