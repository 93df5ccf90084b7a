"""Split folders of part files (docs/model-contract.md, section 1): ``<split>-<part>.csv`` files
read in sorted name order are the split ``<split>.csv`` of their rows, for training and
evaluation alike; the folder's other shapes are refused naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline_code import evaluate, tabular_model
from pipeline_code.evaluate import EvaluationError
from pipeline_code.tabular_model import TrainingDataError, validate_hyperparameters
from tests.pipeline_code import test_evaluate as evaluate_tests
from tests.pipeline_code.test_tabular_model import (
    FAST,
    SCHEMA,
    make_rows,
    train_main,
    write_split,
)

HEADER = "churned,tenure,contract,zone,charges\n"


def write_parts(
    folder: Path, split: str, text: str, cuts: list[int], *, schema: object = SCHEMA
) -> list[str]:
    """The data lines of ``text`` (a CSV with a header) cut into part files at ``cuts``;
    ``cuts`` may repeat a position (a part with only its header). Written last part first,
    so that only the names give their order."""
    header, *lines = text.splitlines(keepends=True)
    bounds = [0, *cuts, len(lines)]
    names = [f"{split}-algo-{index // 2 + 1}-{index % 2}.csv" for index in range(len(bounds) - 1)]
    folder.mkdir(parents=True, exist_ok=True)
    for index in reversed(range(len(names))):
        body = "".join(lines[bounds[index] : bounds[index + 1]])
        (folder / names[index]).write_text(header + body, encoding="utf-8")
    if schema is not None:
        (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    return names


def csv_text(frame: pd.DataFrame) -> str:
    return str(frame.to_csv(index=False, lineterminator="\n"))


# --------------------------------------------------------------------------------------------
# Training (tabular_model)
# --------------------------------------------------------------------------------------------


def test_parts_read_as_the_one_file_of_their_rows(tmp_path: Path) -> None:
    rows = make_rows(120, seed=1)
    whole = tabular_model.read_split(write_split(tmp_path / "one", "train", rows), "train")
    # The second part holds only its header: an instance with no rows of this split.
    write_parts(tmp_path / "parts", "train", csv_text(rows), [50, 50])

    parts = tabular_model.read_split(tmp_path / "parts", "train")

    pd.testing.assert_frame_equal(parts.features, whole.features)
    np.testing.assert_array_equal(parts.labels, whole.labels)
    assert parts.path == tmp_path / "parts"
    assert whole.path == tmp_path / "one" / "train.csv"


def test_a_model_trained_on_parts_is_the_model_of_the_one_file(tmp_path: Path) -> None:
    train, validation = make_rows(300, seed=1), make_rows(150, seed=2)
    one = (
        write_split(tmp_path / "one" / "train", "train", train),
        write_split(tmp_path / "one" / "validation", "validation", validation),
    )
    parts = (tmp_path / "parts" / "train", tmp_path / "parts" / "validation")
    # A sharded train channel may give an instance no schema.json: the validation's is used.
    write_parts(parts[0], "train", csv_text(train), [100, 100, 220], schema=None)
    write_parts(parts[1], "validation", csv_text(validation), [70])

    assert train_main(tmp_path / "one", one) == 0
    assert train_main(tmp_path / "parts", parts) == 0

    for name in ("xgboost-model", "model-schema.json"):
        assert (tmp_path / "parts" / "model" / name).read_bytes() == (
            tmp_path / "one" / "model" / name
        ).read_bytes()


def _parts_with_bad_tenure(folder: Path) -> None:
    write_parts(folder, "train", HEADER + "1,0.5,month,01,2\n0,abc,month,01,2\n", [1])


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (
            lambda f: (
                write_split(f, "train", make_rows(20, seed=1)),
                write_parts(f, "train", csv_text(make_rows(20, seed=1)), [10]),
            ),
            [
                "holds both train.csv and part files (train-algo-1-0.csv, train-algo-1-1.csv)",
                "either train.csv or train-<part>.csv files",
            ],
        ),
        (
            lambda f: write_parts(f, "validation", csv_text(make_rows(20, seed=1)), [10]),
            ["no train.csv in", "no part files train-<part>.csv", "found validation-algo-1-0.csv"],
        ),
        (
            lambda f: write_parts(f, "train", HEADER, [0]),
            ["the part files train-algo-1-0.csv, train-algo-1-1.csv hold a header but no rows"],
        ),
        (
            _parts_with_bad_tenure,
            ["train-algo-1-1.csv: row 1 (line 2), column 'tenure': 'abc' is not a number"],
        ),
        (
            lambda f: (
                write_parts(f, "train", HEADER + "1,0.5,month,01,2\n", [1], schema=None)
                and (f / "train-algo-1-1.csv").write_text("churned,tenure,zone,contract,charges\n")
            ),
            ["train-algo-1-1.csv: header does not match schema.json (columns out of order)"],
        ),
    ],
    ids=["both", "none", "only-headers", "bad-cell", "bad-header"],
)
def test_unusable_part_folders_are_refused_naming_folder_and_file(
    tmp_path: Path, make: object, fragments: list[str]
) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    assert callable(make)
    make(folder)
    with pytest.raises(TrainingDataError) as raised:
        tabular_model.read_split(folder, "train", SCHEMA)
    message = str(raised.value)
    assert str(folder) in message
    for fragment in fragments:
        assert fragment in message, message


def test_a_train_schema_that_differs_from_the_validation_schema_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = make_rows(60, seed=1)
    train = tmp_path / "train"
    write_parts(train, "train", csv_text(rows), [30], schema={**SCHEMA, "positive_class": "Y"})
    validation = write_split(tmp_path / "validation", "validation", make_rows(30, seed=2))

    assert train_main(tmp_path, (train, validation), FAST) == 1

    error = capsys.readouterr().err
    assert f"{train / 'schema.json'} and {validation / 'schema.json'} differ" in error
    assert not (tmp_path / "model").exists()


# --------------------------------------------------------------------------------------------
# Evaluation (evaluate)
# --------------------------------------------------------------------------------------------


def test_test_parts_read_as_the_one_file_with_the_same_sample_payload(tmp_path: Path) -> None:
    whole = evaluate.read_test_split(evaluate_tests.write_split(tmp_path / "one"))
    names = write_parts(tmp_path / "parts", "test", evaluate_tests.TEST_CSV, [3, 3, 7], schema=None)
    (tmp_path / "parts" / "schema.json").write_text(json.dumps(evaluate_tests.SPLIT_SCHEMA))

    parts = evaluate.read_test_split(tmp_path / "parts")

    assert len(names) == 4
    assert parts.labels.tolist() == whole.labels.tolist()
    pd.testing.assert_frame_equal(parts.features, whole.features)
    assert parts.samples == whole.samples
    assert len(parts.samples) == 10


def test_evaluation_of_parts_is_the_evaluation_of_the_one_file(tmp_path: Path) -> None:
    runs = {}
    for name in ("one", "parts"):
        work = tmp_path / name
        evaluate_tests.model_archive(work / "model")
        if name == "one":
            evaluate_tests.write_split(work / "test")
        else:
            write_parts(work / "test", "test", evaluate_tests.TEST_CSV, [5], schema=None)
            (work / "test" / "schema.json").write_text(json.dumps(evaluate_tests.SPLIT_SCHEMA))
        assert evaluate_tests.run_main(work) == 0
        runs[name] = {
            file: (work / "evaluation" / file).read_bytes()
            for file in ("evaluation.json", "gate.json", "sample-payload.tar.gz")
        }
    assert runs["parts"] == runs["one"]


def _training_text(rows: int) -> str:
    lines = ["churned,score,alt,colour"]
    lines += [f"{i % 2},{i},{(i * 7) % 13},{'red' if i % 3 else ''}" for i in range(rows)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("max_rows", [3000, 300])
def test_training_parts_give_the_baseline_rows_of_the_one_file(
    tmp_path: Path, max_rows: int
) -> None:
    text = _training_text(2000)
    one = tmp_path / "one"
    one.mkdir()
    (one / "train.csv").write_text(text)
    (one / "schema.json").write_text(json.dumps(evaluate_tests.SPLIT_SCHEMA))
    parts = tmp_path / "parts"
    write_parts(parts, "train", text, [1, 700, 700, 1999], schema=evaluate_tests.SPLIT_SCHEMA)

    whole = evaluate.read_training_split(one, max_rows=max_rows, chunk_rows=150)
    for chunk_rows in (70, 5000):
        again = evaluate.read_training_split(parts, max_rows=max_rows, chunk_rows=chunk_rows)
        pd.testing.assert_frame_equal(again.features, whole.features)
        assert again.labels.tolist() == whole.labels.tolist()
    assert len(whole.labels) == min(max_rows, 2000)


@pytest.mark.parametrize("reader", ["test", "training"])
@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ("both", "holds both {split}.csv and part files ({split}-algo-1-0.csv)"),
        ("none", "there are no part files {split}-<part>.csv in {folder} (found other.csv)"),
        ("headers", "{folder}: the part files {split}-algo-1-0.csv, {split}-algo-1-1.csv hold"),
    ],
)
def test_unusable_part_folders_are_refused_by_evaluate(
    tmp_path: Path, reader: str, shape: str, fragment: str
) -> None:
    split = "test" if reader == "test" else "train"
    folder = tmp_path / split
    header = "churned,score,alt,colour\n"
    if shape == "both":
        write_parts(folder, split, header + "1,0.5,0.1,red\n", [], schema=None)
        (folder / f"{split}.csv").write_text(header + "1,0.5,0.1,red\n")
    elif shape == "none":
        folder.mkdir()
        (folder / "other.csv").write_text(header)
    else:
        write_parts(folder, split, header, [0], schema=None)
    (folder / "schema.json").write_text(json.dumps(evaluate_tests.SPLIT_SCHEMA))
    read = evaluate.read_test_split if reader == "test" else evaluate.read_training_split

    with pytest.raises(EvaluationError) as raised:
        read(folder)

    assert fragment.format(split=split, folder=folder) in str(raised.value)
    assert str(folder) in str(raised.value)


def test_a_missing_split_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match=r"no train\.csv in .*nowhere \(no such folder\)"):
        tabular_model.split_files(tmp_path / "nowhere", "train")


# --------------------------------------------------------------------------------------------
# The train split in chunks (bounded memory)
# --------------------------------------------------------------------------------------------


def test_errors_in_a_later_chunk_name_the_row_of_the_file(tmp_path: Path) -> None:
    rows = make_rows(20, seed=1)
    rows["churned"] = rows["churned"].astype(object)
    rows.loc[6, "churned"] = 2
    folder = write_split(tmp_path / "train", "train", rows)
    with pytest.raises(TrainingDataError, match=r"row 7 holds 2\.0 \(1 such rows in rows 7-9\)"):
        list(tabular_model.file_chunks(folder / "train.csv", SCHEMA, chunk_rows=3))


def test_the_streamed_quantile_matrix_trains_the_model_of_the_whole_split(tmp_path: Path) -> None:
    """hist bins a DMatrix with the same quantile sketch that a QuantileDMatrix builds from the
    chunks; on this data (fewer rows than the sketch keeps exactly) the models are the same."""
    folder = write_split(tmp_path / "train", "train", make_rows(2000, seed=1))
    validation_folder = write_split(tmp_path / "validation", "validation", make_rows(500, seed=2))
    files = [folder / "train.csv"]
    scan = tabular_model.scan_train(files, SCHEMA, chunk_rows=500)
    whole = tabular_model.read_split(folder, "train")
    assert scan.categories == tabular_model.fit_categories(whole.features, SCHEMA)
    assert (scan.rows, scan.positives) == (2000, int(whole.labels.sum()))
    validation = tabular_model._split_matrix(
        tabular_model.read_split(validation_folder, "validation"), scan.categories
    )

    hyperparameters = validate_hyperparameters(FAST)
    streamed = tabular_model.train_matrix(
        files, SCHEMA, scan.categories, hyperparameters, chunk_rows=500
    )
    assert type(streamed).__name__ == "QuantileDMatrix"
    models = [
        tabular_model.train(hyperparameters, matrix, validation).save_raw("json")
        for matrix in (streamed, tabular_model._split_matrix(whole, scan.categories))
    ]
    assert models[0] == models[1]


@pytest.mark.parametrize(
    ("settings", "streamed"),
    [
        ({}, True),
        ({"tree_method": "auto"}, True),
        ({"booster": "dart"}, True),
        ({"tree_method": "approx"}, False),
        ({"tree_method": "exact"}, False),
        ({"booster": "gblinear"}, False),
    ],
)
def test_only_hist_streams_into_quantiles(settings: dict[str, str], streamed: bool) -> None:
    assert tabular_model.streams_into_quantiles(settings) is streamed


@pytest.mark.parametrize("settings", [{}, {"tree_method": "approx"}])
def test_a_bad_number_is_named_when_the_matrix_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: dict[str, str]
) -> None:
    """Training's first pass reads only labels and categories; the numbers are checked as they
    stream into the matrix (inside XGBoost's iterator), and the error still names the cell."""
    train = make_rows(60, seed=1).astype({"tenure": object})
    train.loc[6, "tenure"] = "abc"
    splits = (
        write_split(tmp_path / "train", "train", train),
        write_split(tmp_path / "validation", "validation", make_rows(30, seed=2)),
    )
    assert train_main(tmp_path, splits, {**FAST, **settings}) == 1
    error = capsys.readouterr().err
    assert "train.csv: row 7 (line 8), column 'tenure': 'abc' is not a number" in error
    assert not (tmp_path / "model").exists()
