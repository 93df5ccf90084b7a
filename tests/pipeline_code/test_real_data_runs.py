"""Real data sets, exported as people export them, through the whole local pipeline (issue 12).

Each runs preprocess -> train -> evaluate -> gate exactly as `make local-run` does, with the
settings a user would give (label column, positive class, exclude_columns); then the trained
model scores raw rows through its own serving code, as `make local-predict` does.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline_code import local_predict, local_run
from tests.pipeline_code.real_datasets import DATASETS, RealDataset

# What a reviewer should see on each data set: the exit code, and what the gate or the model
# says about it.
EXPECTED = {
    # Text labels, categorical island and sex, missing measurements: registered.
    "penguins": (0, "register"),
    # With the label leak excluded, little predicts an incomplete clutch (36 of 344 rows, 5 in
    # the test split): the gate refuses the weak model.
    "penguins_raw": (3, "below the threshold"),
    # 1.6 % snow days: the test split holds too few to measure F1.
    "seattle_weather": (3, "min_positives"),
    # Categorical text dates and missing horsepower run; European origin is hard to tell.
    "cars": (3, "below the threshold"),
    # Text labels and a pandas index column, excluded.
    "breast_cancer": (0, "register"),
}


@pytest.fixture(scope="module")
def quick_hyperparameters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed hyperparameters with at most 100 rounds: the same model family and
    early stopping, in a fraction of the time (the committed file runs in test_local_run)."""
    settings = json.loads(local_run.DEFAULT_HYPERPARAMETERS.read_text())
    path = tmp_path_factory.mktemp("hyperparameters") / "quick.json"
    path.write_text(json.dumps({**settings, "num_round": 100}))
    return path


def run(dataset: RealDataset, source: Path, work: Path, *extra: str) -> int:
    return local_run.main(
        [
            f"--input={source}",
            f"--label-column={dataset.label_column}",
            f"--positive-class={dataset.positive_class}",
            f"--work-dir={work}",
            *extra,
        ]
    )


def exclusions(dataset: RealDataset) -> str:
    return "--exclude-columns=" + ",".join(dataset.exclude_columns)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_data_runs_end_to_end(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], quick_hyperparameters: Path
) -> None:
    dataset = DATASETS[name]
    source = dataset.write_csv(tmp_path / f"{name}.csv")
    work = tmp_path / "work"

    if dataset.exclude_columns:
        # Refused as exported, naming every column to exclude; nothing past preprocess.
        assert run(dataset, source, work) == local_run.EXIT_STEP_FAILED
        refusal = capsys.readouterr().err
        for column in dataset.exclude_columns:
            if column != "Comments":  # the leak is a judgement no check can make
                assert repr(column) in refusal, refusal
        assert not (work / "model").exists()

    code, says = EXPECTED[name]
    hyperparameters = f"--hyperparameters={quick_hyperparameters}"
    assert run(dataset, source, work, exclusions(dataset), hyperparameters) == code
    gate: dict[str, Any] = json.loads((work / "evaluation" / "gate.json").read_text())
    assert gate["register"] == (1 if code == 0 else 0)
    assert says in gate["message"], gate["message"]
    schema = json.loads((work / "preprocess" / "train" / "schema.json").read_text())
    assert schema["positive_class"] == dataset.positive_class
    assert schema["negative_class"] == dataset.negative_class
    assert [f["name"] for f in schema["features"]] == [
        c
        for c in dataset.frame().columns
        if c not in (dataset.label_column, *dataset.exclude_columns)
    ]


def raw_rows(dataset: RealDataset, source: Path, target: Path, rows: int) -> list[list[str]]:
    """The first rows of the export as a client would send them: no label, no excluded
    columns, text and empty cells as they are."""
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        records = [next(reader) for _ in range(rows)]
    names = [n for n in records[0] if n not in (dataset.label_column, *dataset.exclude_columns)]
    table = [[record[n] for n in names] for record in records]
    with target.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([names, *table])
    return table


def test_the_trained_model_scores_raw_exported_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], penguins_champion: tuple[Path, Path]
) -> None:
    dataset = DATASETS["penguins"]
    source, champion = penguins_champion
    work = champion.parent / "work"
    rows = raw_rows(dataset, source, tmp_path / "rows.csv", rows=8)
    # Rows with missing measurements and sex, as exported.
    assert any("" in row for row in rows)
    capsys.readouterr()

    model = work / "model" / "model.tar.gz"
    assert local_predict.main([f"--input={tmp_path / 'rows.csv'}", f"--model={model}"]) == 0

    lines = capsys.readouterr().out.splitlines()
    answers = list(csv.reader(io.StringIO("\n".join(lines))))
    assert len(answers) == len(rows)
    threshold = json.loads((work / "evaluation" / "gate.json").read_text())["decision_threshold"]
    for probability, label in answers:
        assert 0.0 <= float(probability) <= 1.0
        assert label == ("Adelie" if float(probability) >= threshold else "other")
    # The first rows of the export are Adelie penguins; the model says so.
    assert [label for _, label in answers].count("Adelie") >= len(rows) - 1


@pytest.fixture(scope="module")
def penguins_champion(
    tmp_path_factory: pytest.TempPathFactory, quick_hyperparameters: Path
) -> tuple[Path, Path]:
    """The penguins export and a model trained on it, kept aside as a champion."""
    folder = tmp_path_factory.mktemp("champion")
    dataset = DATASETS["penguins"]
    source = dataset.write_csv(folder / "penguins.csv")
    hyperparameters = f"--hyperparameters={quick_hyperparameters}"
    assert run(dataset, source, folder / "work", hyperparameters) == 0
    champion = folder / "champion.tar.gz"
    champion.write_bytes((folder / "work" / "model" / "model.tar.gz").read_bytes())
    return source, champion


@pytest.mark.parametrize(("margin", "code"), [("0", 3), ("0.5", 0)])
def test_a_champion_blocks_a_worse_model_unless_within_the_margin(
    margin: str, code: int, tmp_path: Path, penguins_champion: tuple[Path, Path]
) -> None:
    dataset = DATASETS["penguins"]
    source, champion = penguins_champion
    # A challenger of one shallow tree: worse on the same test split.
    weak = tmp_path / "weak.json"
    weak.write_text(json.dumps({"objective": "binary:logistic", "num_round": 1, "max_depth": 1}))

    assert (
        run(
            dataset,
            source,
            tmp_path / "work",
            f"--champion={champion}",
            f"--champion-margin={margin}",
            f"--hyperparameters={weak}",
            "--threshold=0.5",
        )
        == code
    )
    gate = json.loads((tmp_path / "work" / "evaluation" / "gate.json").read_text())
    assert gate["champion"]["status"] == "compared"
    assert gate["champion"]["model_package_arn"] == f"local:{champion}"
    assert gate["value"] < gate["champion"]["value"]
    assert str(round(gate["champion"]["value"], 2))[:3] in gate["message"]
