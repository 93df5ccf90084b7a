"""Real public data sets that ship inside PyPI packages, written as CSV files the way people
export them with pandas (issue 12).

Every file comes from inside an installed package (requirements-dev.txt): palmerpenguins
(CC0 data), vega_datasets' local files (MIT package; NOAA and StatLib data) and scikit-learn's
bundled breast-cancer data. Nothing is downloaded: ``vega_datasets.local_data`` only reads the
package's own files, unlike ``vega_datasets.data``, which may fetch.

The pipeline refuses more than two label values, so a multi-class label is made binary the
way a user would: the positive class keeps its value and every other value becomes
``"other"`` (see ``_one_against_other``).

Use::

    dataset = DATASETS["penguins"]
    dataset.write_csv(tmp_path / "penguins.csv")
    # label_column, positive_class and exclude_columns are what the pipeline run is given.
"""

from __future__ import annotations

import enum
import functools
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from palmerpenguins import load_penguins, load_penguins_raw
from sklearn.datasets import load_breast_cancer
from vega_datasets import local_data  # type: ignore[import-untyped]

OTHER = "other"


class Covers(enum.Flag):
    """What a data set exercises in the pipeline, as found in its CSV file."""

    NONE = 0
    # The label column holds two text values that are not 0/1 or true/false.
    STRING_LABELS = enum.auto()
    # A feature column (after exclude_columns) holds text.
    CATEGORICAL = enum.auto()
    # A feature column (after exclude_columns) has empty cells; the label never has.
    MISSING_VALUES = enum.auto()
    # A column identifies rows (a value per row, unique) and the identifier check refuses it.
    ID_COLUMN = enum.auto()
    # The positive class is at most MAX_IMBALANCED_SHARE of the rows.
    IMBALANCED = enum.auto()


MAX_IMBALANCED_SHARE = 0.10


@dataclass(frozen=True)
class RealDataset:
    """One data set, its CSV export and what a pipeline run on it is given and should expect."""

    name: str
    source: str
    load: Callable[[], pd.DataFrame]
    label_column: str
    positive_class: str
    negative_class: str
    covers: Covers
    rows: int
    columns: int
    positives: int
    # Written like ``frame.to_csv(path)``: the unnamed pandas index becomes "Unnamed: 0".
    keep_index: bool = False
    # Column -> why a run drops it (exclude_columns / --exclude-columns).
    exclude_columns: Mapping[str, str] = field(default_factory=dict)
    # The excluded columns the identifier check refuses when they are not excluded (row
    # identifiers, and identifiers of something else, like penguins_raw's bird tags).
    identifier_columns: tuple[str, ...] = ()

    def frame(self) -> pd.DataFrame:
        """The data as exported, before the CSV round trip (a copy: the cache is shared)."""
        return _exported(self.name).copy()

    def write_csv(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        _exported(self.name).to_csv(path, index=self.keep_index)
        return path


def _one_against_other(frame: pd.DataFrame, column: str, positive: str) -> pd.DataFrame:
    """``column`` with every value but ``positive`` replaced by OTHER (missing stays missing)."""
    values = frame[column]
    frame[column] = values.where(values.isna() | (values == positive), OTHER)
    return frame


def _penguins() -> pd.DataFrame:
    return _one_against_other(load_penguins(), "species", "Adelie")


def _penguins_raw() -> pd.DataFrame:
    return load_penguins_raw()


def _seattle_weather() -> pd.DataFrame:
    return _one_against_other(local_data.seattle_weather(), "weather", "snow")


def _cars() -> pd.DataFrame:
    # The package's loader passes read_json's convert_dates, deprecated in pandas 3; "Year"
    # stays the text the file holds ("1970-01-01"), as an export of the file would.
    frame = pd.read_json(io.BytesIO(local_data.cars.raw()))
    return _one_against_other(frame, "Origin", "Europe")


def _breast_cancer() -> pd.DataFrame:
    bunch = load_breast_cancer(as_frame=True)
    # What a user does with the 0/1 target and its names: 0 is "malignant", 1 "benign".
    frame = bunch.frame.drop(columns="target")
    frame["diagnosis"] = bunch.target_names[bunch.target.to_numpy()]
    return frame


_IDENTIFIER = "refused by the identifier check"

DATASETS: dict[str, RealDataset] = {
    dataset.name: dataset
    for dataset in (
        RealDataset(
            name="penguins",
            source="palmerpenguins load_penguins() (Palmer Station LTER, CC0)",
            load=_penguins,
            label_column="species",
            positive_class="Adelie",
            negative_class=OTHER,  # Chinstrap (68) and Gentoo (124)
            covers=Covers.STRING_LABELS | Covers.CATEGORICAL | Covers.MISSING_VALUES,
            rows=344,
            columns=8,
            positives=152,
        ),
        RealDataset(
            name="penguins_raw",
            source="palmerpenguins load_penguins_raw() (the study's own export, CC0)",
            load=_penguins_raw,
            label_column="Clutch Completion",
            positive_class="No",
            negative_class="Yes",
            covers=Covers.STRING_LABELS | Covers.CATEGORICAL | Covers.MISSING_VALUES,
            rows=344,
            columns=17,
            positives=36,
            exclude_columns={
                # 190 birds in 344 rows (nests over three seasons): not a row identifier.
                "Individual ID": f"the bird's tag, e.g. N1A1; {_IDENTIFIER} (named like an id)",
                "Comments": 'leaks the label: every "No" row says "Nest never observed with '
                'full clutch."',
            },
            identifier_columns=("Individual ID",),
        ),
        RealDataset(
            name="seattle_weather",
            source="vega_datasets local_data.seattle_weather() (NOAA, public domain)",
            load=_seattle_weather,
            label_column="weather",
            positive_class="snow",
            negative_class=OTHER,  # sun, fog, rain and drizzle
            covers=Covers.STRING_LABELS | Covers.IMBALANCED,
            rows=1461,
            columns=6,
            positives=23,
            exclude_columns={
                # Preprocess refuses text with a value per row: it cannot be categories.
                "date": "text unique per row (1461 distinct dates), so no category recurs",
            },
        ),
        RealDataset(
            name="cars",
            source="vega_datasets local_data.cars() (StatLib Auto MPG)",
            load=_cars,
            label_column="Origin",
            positive_class="Europe",
            negative_class=OTHER,  # USA and Japan
            # Year (written as text dates) is categorical.
            covers=Covers.STRING_LABELS | Covers.CATEGORICAL | Covers.MISSING_VALUES,
            rows=406,
            columns=9,
            positives=73,
            exclude_columns={
                "Name": "free text: 311 distinct car names in 406 rows, too many to be categories",
            },
        ),
        RealDataset(
            name="breast_cancer",
            source="scikit-learn load_breast_cancer() (UCI Wisconsin Diagnostic Breast Cancer)",
            load=_breast_cancer,
            label_column="diagnosis",
            positive_class="malignant",
            negative_class="benign",
            covers=Covers.STRING_LABELS | Covers.ID_COLUMN,
            rows=569,
            columns=32,  # with the index column
            positives=212,
            keep_index=True,
            exclude_columns={"Unnamed: 0": f"the pandas index to_csv wrote; {_IDENTIFIER}"},
            identifier_columns=("Unnamed: 0",),
        ),
    )
}


@functools.cache
def _exported(name: str) -> pd.DataFrame:
    return DATASETS[name].load()


def write_csv(name: str, path: Path) -> Path:
    """Write the data set ``name`` (a key of DATASETS) to ``path``, as its export does."""
    if name not in DATASETS:
        raise KeyError(f"no real data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name].write_csv(path)
