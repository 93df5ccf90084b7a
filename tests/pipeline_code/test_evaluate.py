"""evaluate: scoring through the archive's serving code, metrics, the gate and the outputs."""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from config import METRIC_NAMES
from pipeline_code import evaluate
from pipeline_code.evaluate import EvaluationError, UnsafeArchiveError

# Hand-checkable: at threshold 0.5 the predictions are 0 0 1 0 | 1 1 0 1 1 0.
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
Y_SCORE = np.array([0.1, 0.2, 0.6, 0.3, 0.9, 0.8, 0.4, 0.7, 0.5, 0.2])

SPLIT_SCHEMA: dict[str, Any] = {
    "format_version": 1,
    "label_column": "churned",
    "positive_class": "Yes",
    "negative_class": "No",
    "excluded_columns": ["customer_id"],
    "features": [
        {"name": "score", "type": "numeric"},
        {"name": "alt", "type": "numeric"},
        {"name": "colour", "type": "categorical"},
    ],
}
# "score" is Y_SCORE and "alt" another ranking, so the fake models below (which return one
# column as the probability) have hand-checkable metrics. The text keeps "0.10" and "1E-0" and
# quoted, "NA" and empty categorical cells: the payload must carry them unchanged.
TEST_CSV = (
    "churned,score,alt,colour\n"
    "0,0.10,0.1,red\n"
    '0,0.2,0.2,"red, dark"\n'
    "0,0.6,0.1,\n"
    '0,0.3,0.2,"say ""hi"""\n'
    "1,0.9,0.9,blue\n"
    "1,0.8,0.3,NA\n"
    "1,0.4,,green\n"
    "1,0.7,0.8,None\n"
    "1,0.5,1E-0,red\n"
    "1,0.2,0.9,\n"
)
# "score" at cut-off 0.35: tn 3, fp 1, fn 1, tp 5.
SCORE_F1 = 10 / 12
# "alt" at cut-off 0.5 (the empty cell scores 0): tn 4, fp 0, fn 2, tp 4.
ALT_F1 = 8 / 10

# A stand-in for the serving module (pipeline_code/tabular_model.py): the probability is one
# feature column, and it fails unless the frame is typed as the contract says.
FAKE_SERVING = """
import json
import math
import re
from pathlib import Path

import numpy as np


class Model:
    def __init__(self, schema):
        self.schema = schema
        self.decision_threshold = schema["decision_threshold"]


def model_fn(model_dir):
    return Model(json.loads((Path(model_dir) / "model-schema.json").read_text()))


def predict_proba(model, frame):
    assert list(frame.columns) == [f["name"] for f in model.schema["features"]]
    for feature in model.schema["features"]:
        column = frame[feature["name"]]
        if feature["type"] == "numeric":
            assert column.dtype == np.float64, column.dtype
        else:
            assert all(
                isinstance(v, str) or (isinstance(v, float) and math.isnan(v)) for v in column
            ), column.tolist()
    return frame[model.schema["fake_score_column"]].fillna(0.0).to_numpy()
"""
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/3"


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def model_schema(column: str = "score", cutoff: object = 0.35, **changes: Any) -> dict[str, Any]:
    return {
        **SPLIT_SCHEMA,
        "categories": {"colour": ["blue", "green", "red"]},
        "decision_threshold": cutoff,
        "threshold_metric": "f1",
        "fake_score_column": column,
        **changes,
    }


def model_archive(
    folder: Path,
    *,
    schema: dict[str, Any] | None = None,
    code: str = FAKE_SERVING,
    omit: tuple[str, ...] = (),
    booster: bytes = b"unused by the fake serving code",
) -> Path:
    members = {
        "xgboost-model": booster,
        "model-schema.json": json.dumps(schema or model_schema()).encode(),
        "code/inference.py": code.encode(),
    }
    return write_tar(folder / "model.tar.gz", {k: v for k, v in members.items() if k not in omit})


def write_split(
    folder: Path, csv_text: str = TEST_CSV, schema: dict[str, Any] = SPLIT_SCHEMA
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.csv").write_bytes(csv_text.encode())
    (folder / "schema.json").write_text(json.dumps(schema))
    return folder


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A test split and the challenger (the "score" column at cut-off 0.35)."""
    write_split(tmp_path / "test")
    model_archive(tmp_path / "model")
    return tmp_path


def run_main(folder: Path, *extra: str) -> int:
    return evaluate.main(
        [
            f"--model-dir={folder / 'model'}",
            f"--test-dir={folder / 'test'}",
            f"--output-dir={folder / 'evaluation'}",
            f"--champion-dir={folder / 'champion'}",
            *extra,
        ]
    )


def outputs(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    report = json.loads((folder / "evaluation" / "evaluation.json").read_text())
    gate = json.loads((folder / "evaluation" / "gate.json").read_text())
    return report["binary_classification_metrics"], gate


# --- metrics ----------------------------------------------------------------------------------


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
    assert metrics["f1"]["value"] == 0.0
    assert metrics["accuracy"]["value"] == 0.4


def test_everything_predicted_positive_at_threshold_zero() -> None:
    metrics = evaluate.evaluation_report(Y_TRUE, Y_SCORE, threshold=0.0)[
        "binary_classification_metrics"
    ]
    assert metrics["recall"]["value"] == 1.0
    assert metrics["precision"]["value"] == 0.6
    assert metrics["f1"]["value"] == pytest.approx(0.75)


def test_without_both_classes_auc_is_nan_text_and_the_curve_empty() -> None:
    metrics = evaluate.evaluation_report(np.ones(4, dtype=np.int64), Y_SCORE[:4], 0.5)[
        "binary_classification_metrics"
    ]
    assert metrics["auc"]["value"] == "NaN"
    assert metrics["receiver_operating_characteristic_curve"] == {
        "false_positive_rates": [],
        "true_positive_rates": [],
    }
    assert metrics["recall"]["value"] == 0.25  # only 0.6 reaches the cut-off
    assert evaluate.metric_value({"binary_classification_metrics": metrics}, "auc") is None
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


def test_numbers_print_with_enough_decimals_to_differ() -> None:
    assert evaluate.format_numbers(0.93124, 0.8) == ("0.9312", "0.8000")
    assert evaluate.format_numbers(10 / 12, 0.83334) == ("0.83333", "0.83334")
    assert evaluate.format_numbers(0.9, 0.9, 0.90001) == ("0.90000", "0.90000", "0.90001")
    assert evaluate.format_numbers(1e-20, 2e-20) == ("1e-20", "2e-20")


def test_the_champion_floor_subtracts_as_the_numbers_print() -> None:
    assert 0.8 - 0.1 != 0.7  # what the floor must not be
    assert evaluate.champion_floor(0.8, 0.1) == 0.7
    assert evaluate.champion_floor(0.85, 0.05) == 0.8
    assert evaluate.champion_floor(0.8, 0.0) == 0.8
    assert evaluate.champion_floor(SCORE_F1, 0.05) == pytest.approx(SCORE_F1 - 0.05, abs=1e-15)


# --- reading the test split -------------------------------------------------------------------


def test_the_test_split_is_typed_by_its_schema(tmp_path: Path) -> None:
    split = evaluate.read_test_split(write_split(tmp_path / "test"))

    assert split.labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert list(split.features.columns) == ["score", "alt", "colour"]
    assert split.features["score"].tolist() == Y_SCORE.tolist()
    assert split.features["alt"].dtype == np.float64
    assert math.isnan(split.features["alt"][6])
    assert split.features["alt"][8] == 1.0
    colour = split.features["colour"]
    assert colour.dtype == object
    assert colour[[0, 1, 3, 5, 7]].tolist() == ["red", "red, dark", 'say "hi"', "NA", "None"]
    assert colour.isna().tolist() == [False, False, True] + [False] * 6 + [True]


def test_categorical_codes_stay_text_and_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    schema = {**SPLIT_SCHEMA, "features": [{"name": "code", "type": "categorical"}]}
    text = "\ufeffchurned,code\n1,01\n0,1\n0,\n"
    split = evaluate.read_test_split(write_split(tmp_path, text, schema))
    assert split.features["code"].tolist()[:2] == ["01", "1"]
    assert split.samples == ("01", "1", "")


def _no_test_csv(folder: Path) -> None:
    (folder / "test.csv").unlink()


def _no_schema(folder: Path) -> None:
    (folder / "schema.json").unlink()


def _csv(text: str) -> Callable[[Path], object]:
    return lambda folder: (folder / "test.csv").write_text(text)


def _schema(**changes: Any) -> Callable[[Path], object]:
    return lambda folder: (folder / "schema.json").write_text(
        json.dumps({**SPLIT_SCHEMA, **changes})
    )


HEADER = "churned,score,alt,colour\n"


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (_no_test_csv, "test.csv does not exist"),
        (_no_schema, "test split schema {}/schema.json does not exist"),
        (
            _csv("churned,score,colour,alt\n1,0.5,red,0.1\n"),
            "the header of {}/test.csv does not match schema.json (order): expected "
            "churned,score,alt,colour, found churned,score,colour,alt",
        ),
        (
            _csv("churned,score,tenure\n1,0.5,4\n"),
            "(missing ['alt', 'colour'], unexpected ['tenure'])",
        ),
        (_csv(""), "test.csv is empty; expected the header row churned,score,alt,colour"),
        (_csv(HEADER), "test.csv has a header but no test rows"),
        (
            _csv(HEADER + "1,0.5,0.1,red\n2,0.5,0.1,red\nYes,0.1,0.1,red\n"),
            "the label column 'churned' must hold 0 or 1, found '2' on line 3 (2 such row(s))",
        ),
        (
            _csv(HEADER + "1,0.5,0.1,red\n,0.5,0.1,red\n"),
            "1 row(s) have no label (an empty 'churned' cell), the first on line 3",
        ),
        (
            _csv(HEADER + "1,0.5,0.1,red\n0,abc,0.1,red\n0,inf,0.1,red\n"),
            "column 'score' is numeric in schema.json but line 3 holds 'abc' (2 such cell(s))",
        ),
        (_csv(HEADER + "1,1e39,0.1,red\n"), "line 2 holds '1e39'"),
        (_csv(HEADER + "1,0.5,0.1,red\n0,0.5,0.1\n"), "line 3 of {}/test.csv has 3 fields"),
        (_csv(HEADER + '1,0.5,0.1,"red\n'), "is not valid CSV: unexpected end of data"),
        (_schema(label_column=""), "'label_column' must be non-empty text, found ''"),
        (
            _schema(features=[{"name": "score", "type": "number"}]),
            'feature 1 must be {{"name": <text>, "type": "numeric" or "categorical"}}',
        ),
        (
            _schema(features=[{"name": "churned", "type": "numeric"}]),
            "column name(s) 'churned' appear more than once",
        ),
    ],
    ids=[
        "no test.csv",
        "no schema.json",
        "header order",
        "header names",
        "empty file",
        "no rows",
        "label 2",
        "missing label",
        "numeric text",
        "float32 overflow",
        "short row",
        "open quote",
        "empty label column",
        "unknown type",
        "label among features",
    ],
)
def test_unusable_test_data_is_refused_naming_the_file(
    damage: Callable[[Path], object],
    fragment: str,
    work: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    damage(work / "test")

    assert run_main(work) == 1

    error = capsys.readouterr().err
    assert error.startswith("evaluate: ")
    assert fragment.format(work / "test") in error, error
    assert not (work / "evaluation").exists()


# --- scoring through the archive's own code ---------------------------------------------------


def test_scores_through_the_archives_code_at_its_stored_cut_off(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(work) == 0

    metrics, gate = outputs(work)
    assert set(metrics) == {
        *evaluate.METRICS,
        "confusion_matrix",
        "receiver_operating_characteristic_curve",
    }
    # At the stored cut-off 0.35, not 0.5 (which would give tn 3, fp 1, fn 2, tp 4).
    assert metrics["confusion_matrix"] == {"0": {"0": 3, "1": 1}, "1": {"0": 1, "1": 5}}
    assert metrics["f1"]["value"] == pytest.approx(SCORE_F1)
    assert metrics["precision"]["value"] == pytest.approx(5 / 6)
    assert metrics["auc"]["value"] == pytest.approx(19.5 / 24)
    assert gate == {
        "register": 1,
        "metric": "f1",
        "value": metrics["f1"]["value"],
        "threshold": 0.8,
        "decision_threshold": 0.35,
        "checks": {"passed": True, "failures": []},
        "test_rows": {"positive": 6, "negative": 4},
        "champion": {
            "status": "none",
            "model_package_arn": "",
            "value": None,
            "margin": 0.0,
            "floor": None,
            "note": "no approved model version",
        },
        "message": "f1 0.8333 >= threshold 0.8000; no approved model to compare with: register",
    }
    printed = capsys.readouterr().out
    assert "Test metrics at the model's cut-off 0.35: f1 0.8333, accuracy 0.8000" in printed
    assert f"Gate: {gate['message']}" in printed


def test_sample_payload_holds_the_test_rows_fields_byte_for_byte(work: Path) -> None:
    assert run_main(work) == 0

    with tarfile.open(work / "evaluation" / "sample-payload.tar.gz") as tar:
        assert tar.getnames() == ["payload.csv"]
        member = tar.extractfile("payload.csv")
        assert member is not None
        payload = member.read()
    rows = TEST_CSV.splitlines()[1:]
    assert payload == "".join(row.split(",", 1)[1] + "\n" for row in rows).encode()
    assert b'0.10,0.1,red\n0.2,0.2,"red, dark"\n0.6,0.1,\n0.3,0.2,"say ""hi"""\n' in payload
    assert b"0.4,,green\n" in payload
    assert b"0.5,1E-0,red\n" in payload


def test_the_payload_keeps_ten_records_with_their_own_line_breaks(tmp_path: Path) -> None:
    # CRLF endings and a quoted line break: records, not lines, are sampled.
    rows = ['1,0.9,0.5,"two\nlines"', *(f"{i % 2},0.{i},,red" for i in range(11))]
    split = evaluate.read_test_split(
        write_split(tmp_path, HEADER.replace("\n", "\r\n") + "\r\n".join(rows) + "\r\n")
    )

    assert len(split.labels) == 12
    assert split.features["colour"][0] == "two\nlines"
    assert split.samples == ('0.9,0.5,"two\nlines"', *(f"0.{i},,red" for i in range(9)))
    assert evaluate.sample_payload(split.samples).startswith(b'0.9,0.5,"two\nlines"\n0.0,,red\n')


def test_output_archives_are_reproducible(work: Path, tmp_path: Path) -> None:
    assert run_main(work) == 0
    first = (work / "evaluation" / "sample-payload.tar.gz").read_bytes()
    evaluate.write_tar_gz(tmp_path / "again.tar.gz", {"payload.csv": b"x\n"})
    evaluate.write_tar_gz(tmp_path / "twice.tar.gz", {"payload.csv": b"x\n"})

    assert (tmp_path / "again.tar.gz").read_bytes() == (tmp_path / "twice.tar.gz").read_bytes()
    assert run_main(work) == 0
    assert (work / "evaluation" / "sample-payload.tar.gz").read_bytes() == first


RAISES_ON_IMPORT = "raise RuntimeError('boom at import')\n"
MODEL_FN_FAILS = FAKE_SERVING + "\ndef model_fn(model_dir):\n    raise OSError('no booster')\n"
NO_PREDICT = "def model_fn(model_dir):\n    return None\n"
OUT_OF_RANGE = FAKE_SERVING + "\ndef predict_proba(model, frame):\n    return frame['score'] * 2\n"
WRONG_SHAPE = FAKE_SERVING + "\ndef predict_proba(model, frame):\n    return [0.5]\n"


@pytest.mark.parametrize(
    ("archive", "fragment"),
    [
        ({"omit": ("code/inference.py",)}, "has no code/inference.py (a model archive holds"),
        (
            {"omit": ("model-schema.json", "code/inference.py")},
            "has no code/inference.py and no model-schema.json",
        ),
        ({"omit": ("model-schema.json",)}, "found code/inference.py, xgboost-model"),
        (
            {"code": RAISES_ON_IMPORT},
            "importing code/inference.py from {}/model.tar.gz failed: RuntimeError: boom",
        ),
        ({"code": MODEL_FN_FAILS}, "model_fn of code/inference.py in {}/model.tar.gz failed"),
        (
            {"booster": b""},
            "xgboost-model in {}/model.tar.gz is empty (0 bytes): the training job saved no model",
        ),
        ({"code": NO_PREDICT}, "has no function predict_proba()"),
        ({"code": OUT_OF_RANGE}, "returned 4 value(s) outside [0, 1] (the first 1.2)"),
        ({"code": WRONG_SHAPE}, "returned shape (1,) for 10 rows"),
        ({"schema": model_schema(cutoff=1.5)}, "has decision_threshold 1.5; expected a"),
        ({"schema": model_schema(cutoff="0.3")}, "has decision_threshold '0.3'"),
        (
            {"schema": model_schema(features=[{"name": "tenure", "type": "numeric"}])},
            "cannot score {t}/test.csv: its feature(s) tenure are not in the test split",
        ),
        (
            {"schema": model_schema(positive_class="No")},
            "it predicts churned = 'No', but the test split's label is churned = 'Yes'",
        ),
        (
            {"schema": model_schema(features=[{"name": "score", "type": "categorical"}])},
            "feature type(s) differ: score (categorical in the model, numeric in the test",
        ),
    ],
    ids=[
        "no code",
        "no code, no schema",
        "no schema",
        "import fails",
        "model_fn fails",
        "empty booster",
        "no predict_proba",
        "not probabilities",
        "wrong shape",
        "cut-off 1.5",
        "cut-off text",
        "missing feature",
        "other label",
        "retyped feature",
    ],
)
def test_a_model_that_cannot_be_scored_stops_the_step(
    archive: dict[str, Any], fragment: str, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_archive(work / "model", **archive)

    assert run_main(work) == 1

    error = capsys.readouterr().err
    assert fragment.format(work / "model", t=work / "test") in error, error
    assert not (work / "evaluation").exists()


def test_a_missing_model_archive_is_reported(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "model" / "model.tar.gz").unlink()
    assert run_main(work) == 1
    assert f"model archive {work / 'model' / 'model.tar.gz'} does not exist" in (
        capsys.readouterr().err
    )


# --- the gate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "failure"),
    [
        (
            ["--min-positives=7"],
            "the test split has 6 positive row(s) (churned = Yes); measuring f1 needs at least "
            "7 (min_positives): add data or lower min_positives",
        ),
        (
            ["--min-negatives=5", "--metric=auc"],
            "the test split has 4 negative row(s) (churned = No); measuring auc needs at least "
            "5 (min_negatives): add data or lower min_negatives",
        ),
        (["--threshold=0.9"], "f1 0.8333 is below the threshold 0.9000"),
        (["--threshold=0.83334"], "f1 0.83333 is below the threshold 0.83334"),
        (["--metric=auc", "--threshold=0.82"], "auc 0.8125 is below the threshold 0.8200"),
    ],
    ids=["positives", "negatives", "threshold", "close threshold", "auc"],
)
def test_a_failed_check_writes_register_0_and_exits_0(
    flags: list[str], failure: str, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(work, *flags) == 0

    _, gate = outputs(work)
    assert gate["register"] == 0
    assert gate["checks"] == {"passed": False, "failures": [failure]}
    assert gate["message"] == f"do not register: {failure}"
    assert f"Gate: do not register: {failure}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("cutoff", "only"),
    [(0.95, "No (negative)"), (0.0, "Yes (positive)")],
)
def test_a_model_predicting_one_class_fails_the_gate(cutoff: float, only: str, work: Path) -> None:
    model_archive(work / "model", schema=model_schema(cutoff=cutoff))

    assert run_main(work, "--threshold=0") == 0

    _, gate = outputs(work)
    assert gate["register"] == 0
    assert gate["checks"]["failures"] == [
        f"the model predicts only {only} for all 10 test rows at its cut-off {cutoff}, so it "
        "has not learned to separate the classes"
    ]


def test_a_test_split_without_positives(work: Path) -> None:
    negatives_only = HEADER + "".join(f"0,0.{i},0.1,red\n" for i in range(1, 6))
    write_split(work / "test", negatives_only)

    assert run_main(work, "--threshold=0") == 0
    metrics, gate = outputs(work)
    assert metrics["auc"]["value"] == "NaN"
    assert gate["test_rows"] == {"positive": 0, "negative": 5}
    assert gate["checks"]["failures"] == [
        "the test split has 0 positive row(s) (churned = Yes); measuring f1 needs at least 1 "
        "(min_positives): add data or lower min_positives"
    ]

    # Allowed by min_positives 0, but AUC cannot be measured without positives.
    assert run_main(work, "--min-positives=0", "--metric=auc", "--threshold=0") == 0
    _, gate = outputs(work)
    assert gate["value"] is None
    assert gate["checks"]["failures"] == ["auc is undefined on a test split without both classes"]


def _champion(folder: Path, column: str, cutoff: float) -> None:
    model_archive(folder / "champion", schema=model_schema(column=column, cutoff=cutoff))


@pytest.mark.parametrize(
    ("margin", "register", "message"),
    [
        (
            "0.01",
            0,
            "do not register: f1 0.8000 is below the champion's floor 0.8233 (champion f1 "
            "0.8333 - margin 0.0100)",
        ),
        (
            "0.05",
            1,
            "f1 0.8000 >= threshold 0.5000 and >= champion floor 0.7833 (champion f1 0.8333 - "
            "margin 0.0500): register",
        ),
    ],
    ids=["better than the margin", "within the margin"],
)
def test_the_champion_scored_by_its_own_archive_sets_the_floor(
    margin: str, register: int, message: str, work: Path
) -> None:
    # The challenger ranks by "alt" (f1 0.8), the champion by "score" at 0.35 (f1 0.8333).
    model_archive(work / "model", schema=model_schema(column="alt", cutoff=0.5))
    _champion(work, "score", 0.35)

    args = (f"--champion-package-arn={ARN}", f"--champion-margin={margin}", "--threshold=0.5")
    assert run_main(work, *args) == 0

    _, gate = outputs(work)
    assert gate["value"] == pytest.approx(ALT_F1)
    assert gate["champion"] == {
        "status": "compared",
        "model_package_arn": ARN,
        "value": pytest.approx(SCORE_F1),
        "margin": float(margin),
        "floor": pytest.approx(SCORE_F1 - float(margin)),
        "note": "",
    }
    assert gate["register"] == register
    assert gate["message"] == message


def test_a_challenger_equal_to_the_champion_registers_at_margin_0(work: Path) -> None:
    _champion(work, "score", 0.35)

    assert run_main(work, f"--champion-package-arn={ARN}") == 0

    _, gate = outputs(work)
    assert gate["champion"]["value"] == gate["champion"]["floor"] == gate["value"]
    assert gate["register"] == 1


def _champion_without_code(folder: Path) -> None:
    model_archive(folder / "champion", omit=("code/inference.py",))


def _champion_with_other_features(folder: Path) -> None:
    schema = model_schema(features=[{"name": "tenure", "type": "numeric"}])
    model_archive(folder / "champion", schema=schema)


def _champion_failing_import(folder: Path) -> None:
    model_archive(folder / "champion", code=RAISES_ON_IMPORT)


def _champion_with_empty_booster(folder: Path) -> None:
    model_archive(folder / "champion", booster=b"")


def _no_champion_archive(folder: Path) -> None:
    (folder / "champion").mkdir()


@pytest.mark.parametrize(
    ("make", "note"),
    [
        (_champion_without_code, "cannot score it: {}/model.tar.gz has no code/inference.py"),
        (
            _champion_with_other_features,
            "cannot score it: the model in {}/model.tar.gz cannot score {t}/test.csv: its "
            "feature(s) tenure are not in the test split (which has score, alt, colour)",
        ),
        (
            _champion_failing_import,
            "cannot score it: importing code/inference.py from {}/model.tar.gz failed: "
            "RuntimeError: boom at import",
        ),
        (_champion_with_empty_booster, "cannot score it: xgboost-model in {}/model.tar.gz is"),
        (_no_champion_archive, "cannot score it: model archive {}/model.tar.gz does not exist"),
    ],
    ids=[
        "registered before serving code",
        "other features",
        "import fails",
        "empty booster",
        "no archive",
    ],
)
def test_an_unscorable_champion_is_noted_and_does_not_block(
    make: Callable[[Path], None], note: str, work: Path
) -> None:
    make(work)

    assert run_main(work, f"--champion-package-arn={ARN}") == 0

    _, gate = outputs(work)
    champion = gate["champion"]
    expected = note.format(work / "champion", t=work / "test")
    assert champion["status"] == "unscorable"
    assert champion["model_package_arn"] == ARN
    assert (champion["value"], champion["floor"]) == (None, None)
    assert champion["note"].startswith(expected), champion["note"]
    assert gate["register"] == 1
    assert gate["message"] == (
        f"f1 0.8333 >= threshold 0.8000; champion not compared ({champion['note']}): register"
    )


def test_an_unscorable_champion_is_named_in_a_failing_message(work: Path) -> None:
    _champion_without_code(work)

    assert run_main(work, f"--champion-package-arn={ARN}", "--threshold=0.9") == 0

    _, gate = outputs(work)
    assert gate["message"].startswith(
        "do not register: f1 0.8333 is below the threshold 0.9000; champion not compared "
        "(cannot score it: "
    )


@pytest.mark.parametrize("arn", ["", "   "])
def test_without_an_arn_the_champion_folder_is_ignored(arn: str, work: Path) -> None:
    # The folder holds a model that would block the challenger if it were compared.
    model_archive(work / "model", schema=model_schema(column="alt", cutoff=0.5))
    _champion(work, "score", 0.35)

    assert run_main(work, f"--champion-package-arn={arn}", "--threshold=0.5") == 0

    _, gate = outputs(work)
    assert gate["champion"]["status"] == "none"
    assert gate["champion"]["model_package_arn"] == ""
    assert gate["register"] == 1


# --- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "fragment"),
    [
        ("--threshold=1.5", "argument --threshold: 1.5 is not between 0 and 1"),
        ("--threshold=high", "argument --threshold: 'high' is not a number"),
        ("--champion-margin=-0.1", "argument --champion-margin: -0.1 is not between 0 and 1"),
        ("--champion-margin=nan", "argument --champion-margin: nan is not between 0 and 1"),
        ("--min-positives=-1", "argument --min-positives: -1 is negative; use 0 or more"),
        ("--min-negatives=1.5", "argument --min-negatives: '1.5' is not a whole number"),
        ("--metric=logloss", "argument --metric: invalid choice: 'logloss'"),
        ("--decision-threshold=0.5", "unrecognized arguments: --decision-threshold=0.5"),
    ],
)
def test_invalid_flags_are_refused_naming_the_flag(
    flag: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        evaluate.main([flag])
    assert raised.value.code == 2
    assert fragment in capsys.readouterr().err


# --- archives and output folders --------------------------------------------------------------


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
        (_symlink("code/inference.py"), "is a link or special file"),
    ],
)
def test_unsafe_archive_members_are_rejected_before_anything_is_written(
    member: tarfile.TarInfo, fragment: str, tmp_path: Path
) -> None:
    archive = tmp_path / "model" / "model.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("model-schema.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
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
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tar(work / "model" / "model.tar.gz", {"../code/inference.py": b"x"})

    assert run_main(work) == 1
    assert "evaluate: archive member '../code/inference.py'" in capsys.readouterr().err
    assert not (work / "evaluation").exists()


def _truncated_archive(folder: Path) -> None:
    archive = model_archive(folder)
    archive.write_bytes(archive.read_bytes()[:200])


def _corrupt_deflate_stream(folder: Path) -> None:
    # A valid first gzip member holding a tar header, then one whose data cannot inflate.
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("model-schema.json")
        info.size = 4096
        tar.addfile(info, io.BytesIO(b" " * 4096))
    header = gzip.compress(b"")[:10]
    (folder / "model.tar.gz").write_bytes(
        gzip.compress(plain.getvalue()[:512]) + header + b"\xff" * 64
    )


def _archive_folder(folder: Path) -> None:
    (folder / "model.tar.gz").unlink()
    (folder / "model.tar.gz").mkdir()


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
    make: Callable[[Path], None],
    fragment: str,
    work: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make(work / "model")

    assert run_main(work) == 1

    error = capsys.readouterr().err
    assert error.startswith("evaluate: ")
    assert fragment in error, error
    assert not (work / "evaluation").exists()


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("taken", "(--output-dir) is an existing file"),
        ("taken/evaluation", "cannot write to output folder"),
    ],
    ids=["is a file", "is under a file"],
)
def test_an_output_dir_that_cannot_be_a_folder_is_reported(
    output: str, fragment: str, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "taken").write_text("a file")

    code = evaluate.main(
        [
            f"--model-dir={work / 'model'}",
            f"--test-dir={work / 'test'}",
            f"--output-dir={work / output}",
        ]
    )

    assert code == 1
    error = capsys.readouterr().err
    assert error.startswith("evaluate: ")
    assert fragment in error, error
    assert (work / "taken").read_text() == "a file"


DRIFT_MODULE = Path(__file__).resolve().parents[2] / "pipeline_code" / "drift.py"


def test_the_drift_baseline_summarises_the_training_split_and_its_scores(work: Path) -> None:
    # The pipeline ships drift.py beside this script; the baseline is built from the
    # training split (here the test rows, written as train.csv) and the model's scores.
    train = write_split(work / "train")
    (train / "test.csv").rename(train / "train.csv")

    assert run_main(work, f"--train-dir={train}", f"--drift-module={DRIFT_MODULE}") == 0

    baseline = json.loads((work / "evaluation" / "baseline.json").read_text())
    assert [f["name"] for f in baseline["features"]] == [
        f["name"] for f in SPLIT_SCHEMA["features"]
    ]
    assert baseline["rows"] == len(TEST_CSV.splitlines()) - 1
    assert baseline["score"]["rows"] == baseline["rows"]
    colour = next(f for f in baseline["features"] if f["name"] == "colour")
    assert colour["type"] == "categorical" and "red" in json.dumps(colour)


def test_without_the_drift_module_no_baseline_is_written(work: Path) -> None:
    assert run_main(work) == 0
    assert not (work / "evaluation" / "baseline.json").exists()


def test_a_missing_drift_module_is_an_error_naming_the_flag(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(work, f"--drift-module={work / 'nowhere.py'}") == 1
    assert "--drift-module" in capsys.readouterr().err


def test_a_training_split_that_does_not_match_its_schema_is_named(work: Path) -> None:
    train = write_split(work / "train", "label,score,colour\n1,0.5,red\n")
    (train / "test.csv").rename(train / "train.csv")
    with pytest.raises(evaluate.EvaluationError, match=r"train\.csv does not match schema\.json"):
        evaluate.read_training_split(train)


def test_the_training_split_keeps_na_as_a_category_and_empty_as_missing(work: Path) -> None:
    train = write_split(work / "train")
    (train / "test.csv").rename(train / "train.csv")
    split = evaluate.read_training_split(train)
    typed = evaluate.read_test_split(write_split(work / "again"))
    pd.testing.assert_frame_equal(split.features, typed.features)
    np.testing.assert_array_equal(split.labels, typed.labels)


PLAIN_SCHEMA = {
    **SPLIT_SCHEMA,
    "features": [
        {"name": "score", "type": "numeric"},
        {"name": "alt", "type": "numeric"},
        {"name": "colour", "type": "categorical"},
    ],
}


@pytest.mark.parametrize(
    "rows",
    [
        "1,0.5,0.1,red\n0,-0,,NA\n1,00012,1e5, \n0,9007199254740993,-0.0,\n",
        "1, 1.5,+1,None\n0,.5,5.,x\n",
        "1,True,0.1,red\n",  # pandas alone would read True as 1.0
        "1,nan,0.1,red\n",
        "1,1e39,0.1,red\n",
        "1,0.5,0.1,red\n0,0.5,0.1\n0,0.5,0.1,red,extra\n",
        "1,0.5,0.1,red\n\n0,0.5,0.2,blue\n",  # a blank line: the line numbers shift
        "1,0.5,0.1,red\r\n0,0.5,0.2,blue\r\n",
        '1,0.5,0.1,"red, dark"\n0,0.5,0.2,blue\n',
        "1,0.5,0.1,red\n0,0.5,0.2,blue",  # no line feed at the end
        "2,0.5,0.1,red\n,0.5,0.1,red\n",
        "",
    ],
)
def test_the_one_pass_read_gives_what_the_record_by_record_read_gives(
    rows: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read(folder: Path) -> evaluate.SplitData | str:
        write_split(folder, "\ufeff" + HEADER + rows, PLAIN_SCHEMA)
        try:
            return evaluate.read_test_split(folder)
        except evaluate.EvaluationError as error:
            return str(error).replace(str(folder), "<dir>")

    # Several chunks, read either way: a reader that stops part-way hands over to the next.
    monkeypatch.setattr(evaluate, "_READ_ROWS", 2)
    monkeypatch.setattr(evaluate, "TYPED_ROWS", 2)
    fast = read(tmp_path / "fast")
    monkeypatch.setattr(evaluate, "_typed_chunks", lambda *args: None)
    monkeypatch.setattr(evaluate, "_read_plain_records", lambda path, expected: None)
    slow = read(tmp_path / "slow")

    if isinstance(slow, str):
        assert fast == slow
        return
    assert isinstance(fast, evaluate.SplitData)
    assert fast.labels.tolist() == slow.labels.tolist()
    assert fast.samples == slow.samples
    assert fast.features.dtypes.tolist() == slow.features.dtypes.tolist()
    for name in ("score", "alt"):  # bit for bit: -0.0 is not 0.0
        assert fast.features[name].to_numpy().tobytes() == slow.features[name].to_numpy().tobytes()
    assert fast.features["colour"].tolist() == slow.features["colour"].tolist()


@pytest.mark.parametrize(
    "rows",
    [
        "1,0.5,0.1,red\n0,-0,,NA\n1,00012,1e5, \n0,9007199254740993,-0.0,\n",
        # pandas 2.2's chunked reader keeps the first row of its second chunk without the
        # extra field, and every reader takes a short row as missing values.
        "1,0.5,0.1,red\n0,0.5,0.1,red\n0,0.5,0.1,red,extra\n1,0.5,0.1,red\n",
        "1,0.5,0.1,red\n0,0.5,0.1\n",
        "1.0,0.5,0.1,red\n",  # pandas alone reads these as numbers
        "1,TRUE,0.1,red\n",
        "1,inf,0.1,red\n",
        "1,1e39,0.1,red\n",
        "1,0.5,0.1,red\n\n0,0.5,0.2,blue\n",
        "1,0.5,0.1,red\r\n0,0.5,0.2,blue\r\n",
        '1,0.5,0.1,"red, dark"\n0,0.5,0.2,blue\n',
        "1,0.5,0.1,red\n0,0.5,0.2,blue",
        "2,0.5,0.1,red\n",
    ],
)
@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_the_training_split_is_read_by_the_test_splits_rules(
    rows: str, bom: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read(folder: Path) -> evaluate.SplitData | str:
        write_split(folder, bom + HEADER + rows, PLAIN_SCHEMA)
        (folder / "test.csv").rename(folder / "train.csv")
        try:
            # Two rows a chunk, and more rows than the sample keeps: read in chunks.
            return evaluate.read_training_split(folder, max_rows=2, chunk_rows=2)
        except evaluate.EvaluationError as error:
            return str(error).replace(str(folder), "<dir>")

    monkeypatch.setattr(evaluate, "_READ_ROWS", 2)
    fast = read(tmp_path / "fast")
    monkeypatch.setattr(evaluate, "_typed_chunks", lambda *args: None)
    monkeypatch.setattr(evaluate, "_read_plain_records", lambda path, expected: None)
    slow = read(tmp_path / "slow")

    if isinstance(slow, str):
        assert fast == slow
        assert "line" in slow
        return
    assert isinstance(fast, evaluate.SplitData)
    assert fast.labels.tolist() == slow.labels.tolist()
    for name in ("score", "alt"):
        assert fast.features[name].to_numpy().tobytes() == slow.features[name].to_numpy().tobytes()
    assert fast.features["colour"].tolist() == slow.features["colour"].tolist()


def test_a_plain_training_split_is_typed_by_pandas(tmp_path: Path) -> None:
    # The text path gives the same rows ten times slower: a pandas whose reading of the label
    # or the numbers changed would send every file there, which only this test would see.
    folder = write_split(tmp_path, HEADER + "1,0.5,0.1,red\n0,-0,,NA\n" * 3, PLAIN_SCHEMA)
    schema = evaluate.parse_schema(PLAIN_SCHEMA, "schema.json")
    chunks = evaluate._typed_chunks(folder / "test.csv", schema, 4)
    assert chunks is not None
    assert [len(labels) for labels, _ in chunks] == [4, 2]


@pytest.mark.parametrize(
    ("rows", "plain"),
    [
        ("1,0.5,0.1,red\n0,-0,,NA\n", True),
        ("1,True,0.1,red\n", True),  # read in one pass; the number check then names the line
        ("1,0.5,0.1,red\n\n0,0.5,0.2,blue\n", False),
        ("1,0.5,0.1,red\r\n", False),
        ('1,0.5,0.1,"red"\n', False),
        ("1,0.5,0.1,red", False),
        ("1,0.5,0.1\n0,0.5,0.1,red,extra\n", False),
    ],
)
def test_only_a_plain_layout_is_read_in_one_pass(rows: str, plain: bool, tmp_path: Path) -> None:
    folder = write_split(tmp_path, HEADER + rows, PLAIN_SCHEMA)
    expected = ["churned", "score", "alt", "colour"]

    chunks = evaluate._read_plain_records(folder / "test.csv", expected)

    def read_through(chunks: Any) -> bool:
        try:
            return bool(list(chunks))
        except ValueError:  # pandas refuses what the layout scan let through
            return False

    assert (chunks is not None and read_through(chunks)) == plain


def _train_split(folder: Path, rows: int) -> Path:
    """A training split whose "score" column is the row's position (so kept rows are known)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["churned,score,alt,colour"]
    lines += [f"{i % 2},{i},{(i * 7) % 13},{'red' if i % 3 else ''}" for i in range(rows)]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    (folder / "schema.json").write_text(json.dumps(SPLIT_SCHEMA))
    return folder


def test_a_training_split_within_the_cap_is_read_whole_in_order_however_chunked(
    tmp_path: Path,
) -> None:
    folder = _train_split(tmp_path / "train", 400)
    whole = evaluate.read_training_split(folder)
    assert whole.features["score"].tolist() == list(range(400))
    assert whole.labels.tolist() == [i % 2 for i in range(400)]
    assert whole.features["colour"].isna().sum() == len(range(0, 400, 3))
    for chunk_rows in (7, 400, 1000):
        again = evaluate.read_training_split(folder, chunk_rows=chunk_rows)
        pd.testing.assert_frame_equal(again.features, whole.features)
        assert again.labels.tolist() == whole.labels.tolist()


def test_a_longer_training_split_is_a_uniform_sample_that_does_not_depend_on_chunks(
    tmp_path: Path,
) -> None:
    folder = _train_split(tmp_path / "train", 2000)
    samples = [
        evaluate.read_training_split(folder, max_rows=300, chunk_rows=chunk_rows)
        for chunk_rows in (70, 150, 5000)
    ]
    positions = samples[0].features["score"].to_numpy()
    assert len(positions) == 300
    assert (np.diff(positions) > 0).all()  # distinct rows, in file order
    for other in samples[1:]:
        pd.testing.assert_frame_equal(other.features, samples[0].features)
    # Each kept row keeps its own label and fields.
    assert samples[0].labels.tolist() == [int(p) % 2 for p in positions]
    assert samples[0].features["alt"].tolist() == [(int(p) * 7) % 13 for p in positions]
    # Uniform over the file: about 15 % of each quarter (300 of 2000).
    quarters = np.bincount((positions // 500).astype(int), minlength=4)
    assert all(45 <= count <= 105 for count in quarters), quarters


def test_row_keys_are_the_same_whoever_computes_them() -> None:
    keys = evaluate.row_keys(0, 1000)
    assert len(set(keys.tolist())) == 1000
    assert (evaluate.row_keys(600, 400) == keys[600:]).all()
    assert not (evaluate.row_keys(0, 1000, seed=1) == keys).all()


def test_an_empty_training_split_is_refused_naming_it(tmp_path: Path) -> None:
    folder = _train_split(tmp_path / "train", 0)
    with pytest.raises(evaluate.EvaluationError, match=r"train\.csv has a header and no rows"):
        evaluate.read_training_split(folder)


# --- the typed read: pandas straight into the schema's types, else the text path -------------

SCHEMA = evaluate.parse_schema(PLAIN_SCHEMA, "schema.json")
EXPECTED = ["churned", "score", "alt", "colour"]

# Valid but tricky: signed zeros, exponents, more digits than a double holds, integers past
# 2**53, spaces around numbers, the float32 limit, missing cells and categories that pandas
# would take for missing by default. The first three rows' "score" cells are whole numbers,
# so the text path (three rows a chunk) parses that chunk as integers.
TRICKY_ROWS = (
    "1,-0,-0.0,NA\n"
    "0,00012,,null\n"
    "1,9007199254740993,1e5,nan\n"
    "0,-2.5E+3,1E-5,None\n"
    "1,0.1234567890123456789012,.5,\n"
    "0, 1.5 ,5.,N/A\n"
    "1,+3,3.4028234e38,#N/A\n"
    "0,-3.4028234e38,4.9e-324,-0\n"
    "1,1e-400,,\n"
    "0,123456789012345678901234567890,-0,x y\n"
    "1,0.30000000000000004,2.2250738585072014e-308, red \n"
)


def _joined_pieces(pieces: Any) -> tuple[Any, pd.DataFrame, list[str]]:
    labels, features, samples = zip(*pieces, strict=True)
    return (
        np.concatenate(labels),
        pd.concat(features, ignore_index=True),
        [sample for some in samples for sample in some],
    )


def _text_read(path: Path) -> tuple[Any, pd.DataFrame, list[str]]:
    return _joined_pieces(evaluate._text_pieces(path, SCHEMA))


def _typed_read(path: Path, schema: Any = None) -> tuple[Any, pd.DataFrame, list[str]] | None:
    """The whole file as pandas types it, or None where it leaves the file to the text."""
    pieces = evaluate._typed_pieces(path, schema or SCHEMA, evaluate.TYPED_ROWS)
    if pieces is None:
        return None
    try:
        return _joined_pieces(pieces)
    except evaluate._Unsure:
        return None


def test_the_typed_read_gives_what_the_text_read_gives_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_split(tmp_path, HEADER + TRICKY_ROWS, PLAIN_SCHEMA) / "test.csv"
    monkeypatch.setattr(evaluate, "_READ_ROWS", 3)

    typed = _typed_read(path)
    labels, features, samples = _text_read(path)

    assert typed is not None  # taken: nothing here needs the text path
    assert typed[0].dtype == labels.dtype == np.int64
    assert typed[0].tolist() == labels.tolist() == [1, 0] * 5 + [1]
    assert typed[2] == samples == [line.split(",", 1)[1] for line in TRICKY_ROWS.splitlines()[:10]]
    pd.testing.assert_frame_equal(typed[1], features, check_exact=True)
    for name in ("score", "alt"):  # bit for bit: -0.0 is not 0.0
        assert typed[1][name].to_numpy().tobytes() == features[name].to_numpy().tobytes()
    assert np.signbit(typed[1]["score"][0]) and np.signbit(typed[1]["alt"][9])
    assert typed[1]["colour"].tolist()[:4] == ["NA", "null", "nan", "None"]
    missing = [False] * 4 + [True] + [False] * 3 + [True, False, False]
    assert typed[1]["colour"].isna().tolist() == missing
    assert typed[1]["colour"][10] == " red "


def test_read_test_split_takes_the_typed_read_for_a_plain_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def text_path_not_used(*args: Any) -> None:
        raise AssertionError("the text path was used")

    monkeypatch.setattr(evaluate, "_typed_chunk", text_path_not_used)
    split = evaluate.read_test_split(write_split(tmp_path, HEADER + TRICKY_ROWS, PLAIN_SCHEMA))
    assert len(split.labels) == 11
    assert split.samples[0] == "-0,-0.0,NA"


def test_a_negative_zero_keeps_its_sign_in_a_column_of_whole_numbers() -> None:
    values = evaluate.parse_numeric(Path("t.csv"), "x", ["-0", "0", "-00", "+0", "7"], range(5))
    assert np.signbit(values).tolist() == [True, False, True, False, False]


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ("1,True,0.1,red\n", "line 2 holds 'True'"),  # pandas would read 1.0
        ("1,0.5,0.1,red\n0,FALSE,,red\n", "line 3 holds 'FALSE'"),
        ("1,0.5,0.1,red\n0,0.5,tRuE,red\n", "line 3 holds 'tRuE'"),
        ("1,0.5,0.1,True\n", None),  # a category: right, only read by the text path
        ("1,nan,0.1,red\n", "line 2 holds 'nan'"),
        ("1,NA,0.1,red\n", "line 2 holds 'NA'"),
        ("1,inf,0.1,red\n", "line 2 holds 'inf'"),
        ("1,0.5,-1e999,red\n", "line 2 holds '-1e999'"),
        ("1,1e39,0.1,red\n", "line 2 holds '1e39'"),
        ("1,0x10,0.1,red\n", "line 2 holds '0x10'"),
        ("1,1_000,0.1,red\n", "line 2 holds '1_000'"),
        ("1,0.5,0.1,red\n2,0.5,0.1,red\n", "found '2' on line 3"),
        ("1,0.5,0.1,red\n1.0,0.5,0.1,red\n", "found '1.0' on line 3"),
        ("1,0.5,0.1,red\n,0.5,0.1,red\n", "the first on line 3"),
        ("1,0.5,0.1,red\n0,0.5,0.1\n", "line 3 of {}/test.csv has 3 fields"),
        ("1,0.5,0.1,red\n0,0.5,0.1,red,extra\n", "line 3 of {}/test.csv has 5 fields"),
        ("1,0.5,0.1\n0,0.5,0.1,red,extra\n", "line 2 of {}/test.csv has 3 fields"),
        ("1,0.5,0.1,red\n\n0,0.5,0.1,x\n0,,0.1,\n", None),  # a blank line
        ("1,0.5,0.1,red\n \n", "line 3 of {}/test.csv has 1 fields"),
        ("1,0.5,0.1,red\r\n0,0.5,0.2,blue\r\n", None),
        ('1,0.5,0.1,"red, dark"\n', None),
        ("1,0.5,0.1,red", None),  # no line feed at the end
        ("1,0.5,0.1,r\udcffd\n", "is not UTF-8 text"),
    ],
)
def test_the_typed_read_leaves_anything_unusual_to_the_text_path(
    rows: str, fragment: str | None, tmp_path: Path
) -> None:
    folder = write_split(tmp_path, "", PLAIN_SCHEMA)
    path = folder / "test.csv"
    path.write_bytes((HEADER + rows).encode("utf-8", "surrogateescape"))

    assert _typed_read(path) is None
    if fragment is None:
        split = evaluate.read_test_split(folder)
        labels, features, _ = _text_read(path)
        pd.testing.assert_frame_equal(split.features, features, check_exact=True)
        assert split.labels.tolist() == labels.tolist()
        return
    with pytest.raises(EvaluationError) as error:
        evaluate.read_test_split(folder)
    assert fragment.format(folder) in str(error.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("\ufeff" + HEADER + "1,0.5,0.1,red\n", None),  # a byte-order mark
        ("churned,score,colour,alt\n1,0.5,red,0.1\n", "(order)"),
        (HEADER, "has a header but no test rows"),
    ],
)
def test_a_header_the_typed_read_does_not_expect_is_left_to_the_text_path(
    text: str, fragment: str | None, tmp_path: Path
) -> None:
    folder = write_split(tmp_path, text, PLAIN_SCHEMA)
    assert _typed_read(folder / "test.csv") is None
    if fragment is None:
        assert evaluate.read_test_split(folder).features["colour"].tolist() == ["red"]
        return
    with pytest.raises(EvaluationError, match=re.escape(fragment)):
        evaluate.read_test_split(folder)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 64])
@pytest.mark.parametrize(
    ("rows", "lines"),
    [
        ("1,0.5,0.1,red\n0,0.2,,\n", 3),
        ("1,0.5,0.1,True\n", None),
        ("1,0.5,0.1,fAlSe\n", None),
        ("1,TRUE,0.1,red\n", None),
        ("1,0.5,,FALSE\n", None),
        ("1,0.5,0.1,untrue\n0,falsehood,0.1,x\n", 3),  # not a field of its own
        ("1,0.5,0.1,tru\n0,0.5,0.1,e\n", 3),  # no word across lines
        ("1,0.5,0.1,red\n\n0,0.2,,\n", None),
        ("1,0.5,0.1,red\n0,0.2,,", None),
    ],
)
def test_the_layout_scan_finds_what_straddles_its_blocks(
    rows: str, lines: int | None, block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_split(tmp_path, HEADER + rows, PLAIN_SCHEMA) / "test.csv"
    monkeypatch.setattr(evaluate, "_SCAN_BYTES", block)
    assert evaluate._plain_layout(path, 4, booleans=False) == lines


def test_training_parts_read_whole_or_in_chunks_give_the_one_files_sample(
    tmp_path: Path,
) -> None:
    whole = _train_split(tmp_path / "one", 1100)
    lines = (whole / "train.csv").read_text().splitlines(keepends=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "schema.json").write_text(json.dumps(SPLIT_SCHEMA))
    # The first part fits the sample and is read whole; the second overflows it: chunks.
    (parts / "train-a.csv").write_text("".join(lines[:601]))
    (parts / "train-b.csv").write_text(lines[0] + "".join(lines[601:]))

    expected = evaluate.read_training_split(whole, max_rows=1000, chunk_rows=50)
    split = evaluate.read_training_split(parts, max_rows=1000, chunk_rows=50)

    assert len(split.labels) == 1000
    pd.testing.assert_frame_equal(split.features, expected.features)
    assert split.labels.tolist() == expected.labels.tolist()
    small = evaluate.read_training_split(parts, max_rows=1200, chunk_rows=50)  # both whole
    assert small.features["score"].tolist() == list(range(1100))


@pytest.mark.parametrize(
    ("broken", "fragment"),
    [
        ("test", "line 3 holds 'abc'"),
        ("model", "model.tar.gz does not exist"),
        ("drift", "(--drift-module) is not a readable file"),
        ("nothing", "train.csv does not match schema.json (missing ['churned', 'alt']"),
    ],
)
def test_the_training_split_read_early_reports_its_errors_after_the_earlier_ones(
    broken: str, fragment: str, work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The training split is read while the test split is scored; a problem with it is
    # reported only once nothing before it (test split, model, drift module) failed.
    train = write_split(work / "train", "label,score,colour\n1,0.5,red\n")
    (train / "test.csv").rename(train / "train.csv")
    drift = work / "nowhere.py" if broken == "drift" else DRIFT_MODULE
    if broken == "test":
        (work / "test" / "test.csv").write_text(HEADER + "1,0.5,0.1,red\n0,abc,0.1,red\n")
    if broken == "model":
        (work / "model" / "model.tar.gz").unlink()

    assert run_main(work, f"--train-dir={train}", f"--drift-module={drift}") == 1

    error = capsys.readouterr().err
    assert fragment in error, error
    assert error.count("\n") == 1


@pytest.mark.parametrize("block", [1, 4, 64])
def test_a_column_named_true_is_no_boolean(
    block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {**SPLIT_SCHEMA, "features": [{"name": "true", "type": "numeric"}]}
    path = write_split(tmp_path, "churned,true\n1,0.5\n0,\n", schema) / "test.csv"
    monkeypatch.setattr(evaluate, "_SCAN_BYTES", block)
    assert evaluate._plain_layout(path, 2, booleans=False) == 3
    typed = _typed_read(path, evaluate.parse_schema(schema, "schema.json"))
    assert typed is not None and typed[1]["true"].tolist()[0] == 0.5


@pytest.mark.parametrize("layout", ["plain", "quoted"])
def test_scoring_the_test_split_a_chunk_at_a_time_changes_no_output(
    layout: str, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if layout == "plain":  # typed by pandas; quoted cells send the file to the text path
        write_split(
            work / "test", TEST_CSV.replace('"red, dark"', "dark").replace('"say ""hi"""', "hi")
        )
    model_archive(work / "model", schema=model_schema(column="alt", cutoff=0.5))
    _champion(work, "score", 0.35)
    args = (f"--champion-package-arn={ARN}", "--threshold=0.5")
    names = ("evaluation.json", "gate.json", "sample-payload.tar.gz")

    assert run_main(work, *args) == 0
    whole = {name: (work / "evaluation" / name).read_bytes() for name in names}
    monkeypatch.setattr(evaluate, "TYPED_ROWS", 3)
    monkeypatch.setattr(evaluate, "_READ_ROWS", 3)
    assert run_main(work, *args) == 0

    assert {name: (work / "evaluation" / name).read_bytes() for name in names} == whole
    assert json.loads(whole["gate.json"])["champion"]["status"] == "compared"
