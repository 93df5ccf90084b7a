"""The real data sets load from their packages offline and their CSV files have what is claimed."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
from pandas.api import types as ptypes

from pipeline_code import preprocess
from pipeline_code.preprocess import DataValidationError
from tests.pipeline_code.real_datasets import (
    DATASETS,
    MAX_IMBALANCED_SHARE,
    Covers,
    RealDataset,
    write_csv,
)

NAMES = sorted(DATASETS)
ALL_COVERED = Covers.STRING_LABELS | Covers.CATEGORICAL | Covers.MISSING_VALUES
ALL_COVERED |= Covers.ID_COLUMN | Covers.IMBALANCED


@pytest.fixture(scope="module", params=NAMES)
def written(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RealDataset, pd.DataFrame]:
    """The data set and its CSV file read back as preprocess reads input files."""
    dataset = DATASETS[request.param]
    path = dataset.write_csv(tmp_path_factory.mktemp(dataset.name) / f"{dataset.name}.csv")
    return dataset, pd.read_csv(path, encoding="utf-8-sig", index_col=False)


def features(dataset: RealDataset, data: pd.DataFrame) -> pd.DataFrame:
    return data.drop(columns=[dataset.label_column, *dataset.exclude_columns])


def identifier_problems(dataset: RealDataset, data: pd.DataFrame, exclude: list[str]) -> list[str]:
    try:
        preprocess.validate_frame(
            data,
            dataset.label_column,
            0.15,
            0.15,
            positive_class=dataset.positive_class,
            exclude_columns=exclude,
        )
    except DataValidationError as error:
        return [problem for problem in error.problems if "identify rows" in problem]
    return []


def _is_row_identifier(column: pd.Series) -> bool:
    return bool(column.notna().all() and column.is_unique)


def found_covers(dataset: RealDataset, data: pd.DataFrame) -> Covers:
    """What the CSV file shows, judged without the registry's claims."""
    labels = data[dataset.label_column]
    feature_data = features(dataset, data)
    _, not_binary = preprocess.parse_labels(labels)
    found = Covers.NONE
    if not ptypes.is_numeric_dtype(labels.dtype) and len(not_binary) == labels.nunique():
        found |= Covers.STRING_LABELS
    if any(not ptypes.is_numeric_dtype(dtype) for dtype in feature_data.dtypes):
        found |= Covers.CATEGORICAL
    if feature_data.isna().any().any():
        found |= Covers.MISSING_VALUES
    refused = identifier_problems(dataset, data, [])
    if refused and any(_is_row_identifier(data[name]) for name in dataset.identifier_columns):
        found |= Covers.ID_COLUMN
    if (labels == dataset.positive_class).mean() <= MAX_IMBALANCED_SHARE:
        found |= Covers.IMBALANCED
    return found


def test_the_data_sets_together_cover_issue_12() -> None:
    assert len(DATASETS) >= 4
    covered = Covers.NONE
    for dataset in DATASETS.values():
        covered |= dataset.covers
    assert covered == ALL_COVERED
    # Real data sets, not the same one cut differently: one file per source.
    assert len({dataset.source for dataset in DATASETS.values()}) == len(DATASETS)


def test_csv_has_the_registered_shape_and_two_labels(
    written: tuple[RealDataset, pd.DataFrame],
) -> None:
    dataset, data = written
    assert data.shape == (dataset.rows, dataset.columns)
    labels = data[dataset.label_column]
    assert labels.notna().all()
    assert set(labels) == {dataset.positive_class, dataset.negative_class}
    assert int((labels == dataset.positive_class).sum()) == dataset.positives
    assert set(dataset.exclude_columns) <= set(data.columns)
    assert dataset.label_column not in dataset.exclude_columns


def test_csv_covers_exactly_what_is_claimed(written: tuple[RealDataset, pd.DataFrame]) -> None:
    dataset, data = written
    assert found_covers(dataset, data) == dataset.covers


def test_identifier_check_refuses_the_identifier_columns_until_excluded(
    written: tuple[RealDataset, pd.DataFrame],
) -> None:
    dataset, data = written
    refused = identifier_problems(dataset, data, [])
    if dataset.identifier_columns:
        assert len(refused) == 1
        for name in dataset.identifier_columns:
            assert f"{name!r}" in refused[0]
    else:
        assert refused == []
    assert set(dataset.identifier_columns) <= set(dataset.exclude_columns)
    assert identifier_problems(dataset, data, list(dataset.exclude_columns)) == []


def read_back(dataset: RealDataset, tmp_path: Path) -> pd.DataFrame:
    path = dataset.write_csv(tmp_path / f"{dataset.name}.csv")
    return pd.read_csv(path, encoding="utf-8-sig", index_col=False)


def test_index_column_is_the_pandas_index_written_by_to_csv(tmp_path: Path) -> None:
    dataset = DATASETS["breast_cancer"]
    path = dataset.write_csv(tmp_path / "breast_cancer.csv")
    # to_csv writes the unnamed index under an empty header; pandas reads it as "Unnamed: 0".
    assert path.read_text().startswith(",mean radius,")
    data = read_back(dataset, tmp_path)
    assert data.columns[0] == "Unnamed: 0"
    assert data["Unnamed: 0"].tolist() == list(range(dataset.rows))


def test_penguins_raw_comments_leak_the_label(tmp_path: Path) -> None:
    dataset = DATASETS["penguins_raw"]
    data = read_back(dataset, tmp_path)
    no_full_clutch = data["Comments"].str.contains("Nest never observed with full clutch", na=False)
    assert (no_full_clutch == (data[dataset.label_column] == "No")).all()


def test_loaders_open_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a data set loader opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for dataset in DATASETS.values():
        # The uncached loader: the cache may already hold the frame.
        assert len(dataset.load()) == dataset.rows


def test_frame_is_a_copy_of_the_cached_export() -> None:
    dataset = DATASETS["penguins"]
    changed = dataset.frame()
    changed[dataset.label_column] = "changed"
    assert set(dataset.frame()[dataset.label_column]) == {"Adelie", "other"}


def test_write_csv_names_the_known_data_sets(tmp_path: Path) -> None:
    assert write_csv("cars", tmp_path / "cars.csv").stat().st_size > 0
    with pytest.raises(KeyError, match="no real data set 'titanic'; known: breast_cancer"):
        write_csv("titanic", tmp_path / "titanic.csv")
