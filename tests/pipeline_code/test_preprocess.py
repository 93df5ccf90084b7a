"""Preprocess: validation of the raw CSV data, and the split CSV files and schema.json."""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline_code import preprocess
from pipeline_code.preprocess import DataValidationError

ROWS = 400


def make_frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "mean radius": rng.normal(10, 2, rows).round(4),
            "count": rng.integers(0, 50, rows),
            "flag": rng.random(rows) < 0.5,
            "label": (rng.random(rows) < 0.3).astype(int),
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def out_dirs(base: Path) -> dict[str, Path]:
    return {name: base / name for name in preprocess.SPLITS}


def run_main(source: Path, out: Path, *extra: str) -> int:
    dirs = out_dirs(out)
    return preprocess.main(
        [
            f"--input-dir={source}",
            f"--train-dir={dirs['train']}",
            f"--validation-dir={dirs['validation']}",
            f"--test-dir={dirs['test']}",
            *extra,
        ]
    )


def read_schema(out: Path, name: str = "test") -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((out / name / "schema.json").read_text(encoding="utf-8"))
    return schema


def read_split(out: Path, name: str) -> pd.DataFrame:
    """A split as the contract says to read it: categorical columns as text, per schema.json,
    and only an empty cell as missing."""
    categorical = [f["name"] for f in read_schema(out, name)["features"] if f["type"] != "numeric"]
    return pd.read_csv(
        out / name / f"{name}.csv",
        dtype=dict.fromkeys(categorical, str),
        keep_default_na=False,
        na_values=[""],
    )


def output_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file()] if out.exists() else []


def test_happy_path_writes_stratified_label_first_splits_with_a_header(tmp_path: Path) -> None:
    frame = make_frame()
    assert run_main(write(frame, tmp_path / "in" / "data.csv"), tmp_path / "out") == 0

    splits = {name: read_split(tmp_path / "out", name) for name in preprocess.SPLITS}
    assert [len(s) for s in splits.values()] == [280, 60, 60]
    overall_rate = frame["label"].mean()
    for name, split in splits.items():
        assert list(split.columns) == ["label", "mean radius", "count", "flag"], name
        assert split["label"].dtype == np.int64, name
        assert set(split["label"]) == {0, 1}, name
        assert abs(split["label"].mean() - overall_rate) < 0.02, name

    # A header row, then lines of numbers only, the label first, written 0 or 1.
    header, first_line = (tmp_path / "out" / "train" / "train.csv").read_text().splitlines()[:2]
    assert header == "label,mean radius,count,flag"
    assert first_line.split(",")[0] in {"0", "1"}
    assert all(preprocess._is_number(field) for field in first_line.split(","))

    # Together the splits hold exactly the input rows (booleans as 0/1), label first.
    expected = frame[["label", "mean radius", "count", "flag"]].astype({"flag": int})
    combined = pd.concat(splits.values(), ignore_index=True)
    key = list(expected.columns)
    pd.testing.assert_frame_equal(
        combined.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


def test_every_split_folder_holds_its_csv_and_the_same_schema_json(tmp_path: Path) -> None:
    frame = make_frame()
    frame.insert(0, "customer_id", range(ROWS))
    frame["plan"] = ["basic", "pro", "team", "basic"] * (ROWS // 4)
    frame["notes"] = [f"called on day {n}" for n in range(ROWS)]  # free text, excluded
    source = write(frame, tmp_path / "data.csv")

    assert run_main(source, tmp_path / "out", "--exclude-columns=customer_id,notes") == 0

    out = tmp_path / "out"
    for name in preprocess.SPLITS:
        assert {p.name for p in (out / name).iterdir()} == {f"{name}.csv", "schema.json"}
        assert read_schema(out, name) == {
            "format_version": 1,
            "label_column": "label",
            "positive_class": "1",
            "negative_class": "0",
            "excluded_columns": ["customer_id", "notes"],
            "features": [
                {"name": "mean radius", "type": "numeric"},
                {"name": "count", "type": "numeric"},
                {"name": "flag", "type": "numeric"},
                {"name": "plan", "type": "categorical"},
            ],
        }
    assert (out / "test" / "schema.json").read_bytes().endswith(b"}\n")


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    source = write(make_frame(), tmp_path / "data.csv")
    run_main(source, tmp_path / "a", "--seed=7")
    run_main(source, tmp_path / "b", "--seed=7")
    run_main(source, tmp_path / "c", "--seed=8")

    for name in preprocess.SPLITS:
        a, b, c = ((tmp_path / run / name / f"{name}.csv").read_bytes() for run in "abc")
        assert a == b, name
        assert a != c, name


def test_label_column_option_and_fractions_are_honoured(tmp_path: Path) -> None:
    frame = make_frame().rename(columns={"label": "is fraud"})
    source = write(frame, tmp_path / "data.csv")
    code = run_main(
        source,
        tmp_path / "out",
        "--label-column=is fraud",
        "--validation-fraction=0.1",
        "--test-fraction=0.25",
    )
    assert code == 0
    assert [len(read_split(tmp_path / "out", n)) for n in preprocess.SPLITS] == [260, 40, 100]


def test_reads_every_csv_under_the_folder_sorted_and_skips_hidden_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = make_frame(300)
    source = tmp_path / "in"
    write(frame.iloc[:100], source / "b.csv")
    write(frame.iloc[100:200], source / "2024" / "01" / "a.csv")
    write(frame.iloc[200:250], source / "D.CSV")
    # Columns in another order are aligned by name.
    write(frame.iloc[250:][["label", "flag", "count", "mean radius"]], source / "c.csv")
    write(frame.iloc[:50], source / ".ipynb_checkpoints" / "b-checkpoint.csv")
    (source / ".DS_Store").write_bytes(b"\x00\x01")
    # Files that are not data are listed and skipped: one stray README must not break every
    # scheduled run.
    (source / "_SUCCESS").touch()
    (source / "README.md").write_text("Uploads from the churn export job")

    assert [p.relative_to(source).as_posix() for p in preprocess.find_csv_files(source)] == [
        "2024/01/a.csv",
        "D.CSV",
        "b.csv",
        "c.csv",
    ]
    assert run_main(source, tmp_path / "out") == 0
    assert sum(len(read_split(tmp_path / "out", n)) for n in preprocess.SPLITS) == 300
    assert "Skipping 2 file(s) that are not data: README.md, _SUCCESS" in capsys.readouterr().out


# A 1x1 transparent PNG, and the start of a Finder .DS_Store (binary, NUL bytes).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)
DS_STORE = b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00\x00\x00\x08\x00" + bytes(64)


def test_files_that_are_not_tables_are_listed_and_skipped_whatever_their_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    write(make_frame(), source / "data.csv")
    # Commas in prose do not make a table: the lines do not split alike.
    (source / "README.txt").write_text(
        "Churn export, refreshed nightly by the data team.\nQuestions: #churn-data\n"
    )
    (source / "README").write_text("Uploaded by the export job.\nDo not edit by hand.\n")
    # Prose whose lines happen to hold the same number of commas, and a note laid out as a
    # small table of words: no numbers, so no training data.
    (source / "NOTES.txt").write_text(
        "Exported by the nightly job, do not edit\nOwner: data team, ml team\n"
    )
    (source / "CONTACTS.md").write_text("name,team\nAna,data\nBo,ml\n")
    notes = {"owner": "data team", "rows": ROWS, "columns": ["mean radius", "count"]}
    (source / "notes.json").write_text(json.dumps(notes, indent=2))
    (source / "_SUCCESS").touch()
    (source / "preview.png").write_bytes(PNG)
    (source / "Icon").write_bytes(DS_STORE)

    assert [p.name for p in preprocess.find_csv_files(source)] == ["data.csv"]
    assert run_main(source, tmp_path / "out") == 0

    assert sum(len(read_split(tmp_path / "out", n)) for n in preprocess.SPLITS) == ROWS
    assert (
        "Skipping 8 file(s) that are not data: CONTACTS.md, Icon, NOTES.txt, README, "
        "README.txt, _SUCCESS, notes.json, preview.png" in capsys.readouterr().out
    )


def test_comma_separated_tables_are_read_whatever_their_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = make_frame(300)
    source = tmp_path / "in"
    write(frame.iloc[:100], source / "spark" / "part-00000")
    write(frame.iloc[100:200], source / "export.txt")
    write(frame.iloc[200:], source / "c.csv")

    assert [p.relative_to(source).as_posix() for p in preprocess.find_csv_files(source)] == [
        "c.csv",
        "export.txt",
        "spark/part-00000",
    ]
    assert run_main(source, tmp_path / "out") == 0

    assert sum(len(read_split(tmp_path / "out", n)) for n in preprocess.SPLITS) == 300
    out = capsys.readouterr().out
    assert "as comma-delimited tables: export.txt, spark/part-00000" in out
    assert "Skipping" not in out


def test_a_table_with_a_header_wider_than_the_first_read_is_still_recognized(
    tmp_path: Path,
) -> None:
    wide = pd.DataFrame({f"feature number {n}": [n] * 20 for n in range(1500)})
    path = write(pd.concat([make_frame(20), wide], axis="columns"), tmp_path / "in" / "part-00000")
    assert len(path.read_text().splitlines()[0]) > 16 * 1024

    assert preprocess.find_csv_files(tmp_path / "in") == [path]


def _gzip_csv(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(index=False).encode())


def _records(frame: pd.DataFrame, lines: bool) -> bytes:
    return str(frame.to_json(orient="records", lines=lines)).encode()


REFUSED_FORMS: dict[str, tuple[str, Callable[[pd.DataFrame], bytes], str]] = {
    "gzip named .csv.gz": ("data.csv.gz", _gzip_csv, "gzip-compressed"),
    "gzip without a suffix": ("part-0000", _gzip_csv, "gzip-compressed"),
    "bzip2": ("data.csv.bz2", lambda f: bz2.compress(f.to_csv().encode()), "bzip2-compressed"),
    "xz": ("data.csv.xz", lambda f: lzma.compress(f.to_csv().encode()), "xz-compressed"),
    "zstd": ("data.csv.zst", lambda f: b"\x28\xb5\x2f\xfd" + bytes(16), "zstd-compressed"),
    "excel workbook": ("book.xlsx", lambda f: b"PK\x03\x04" + bytes(26), "a ZIP archive"),
    "parquet": ("part-0001.snappy.parquet", lambda f: b"PAR1\x15\x04" + bytes(8), "a Parquet file"),
    "tab-separated .txt": (
        "data.txt",
        lambda f: f.to_csv(sep="\t", index=False).encode(),
        "tab-delimited",
    ),
    "semicolon-separated, decimal commas": (
        "export",
        lambda f: f.to_csv(sep=";", decimal=",", index=False).encode(),
        "semicolon-delimited",
    ),
    "pipe-separated": ("rows.psv", lambda f: f.to_csv(sep="|", index=False).encode(), "pipe"),
    "UTF-16 tab-separated (Excel's Unicode text)": (
        "unicode.txt",
        lambda f: f.to_csv(sep="\t", index=False).encode("utf-16"),
        "tab-delimited UTF-16 text",
    ),
    "JSON lines": ("records.jsonl", lambda f: _records(f, lines=True), "JSON-lines records"),
    "JSON array": ("records.json", lambda f: _records(f, lines=False), "a JSON array of records"),
}


@pytest.mark.parametrize("case", REFUSED_FORMS)
def test_table_data_in_a_form_not_read_is_refused_by_name_and_form(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, make, form = REFUSED_FORMS[case]
    source = tmp_path / "in"
    write(make_frame(), source / "a.csv")
    (source / name).write_bytes(make(make_frame(60)))

    assert run_main(source, tmp_path / "out") == 1

    error = capsys.readouterr().err
    assert f"does not read: {name} ({form}" in error, error
    assert "only uncompressed, comma-delimited UTF-8 text is read" in error
    assert output_files(tmp_path / "out") == []


def test_a_csv_file_that_is_not_a_table_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    write(make_frame(), source / "a.csv")
    (source / "notes.csv").write_text("Export notes\nThe churn export runs nightly.\n")
    (source / "logo.csv").write_bytes(PNG)

    assert run_main(source, tmp_path / "out") == 1

    error = capsys.readouterr().err
    assert f"{source / 'notes.csv'} does not look like a table: its first line " in error
    assert "'Export notes' has no comma" in error
    assert f"{source / 'logo.csv'} does not look like a table: it is binary" in error
    assert "different columns" not in error
    assert output_files(tmp_path / "out") == []


def test_read_input_keeps_column_names_with_spaces(tmp_path: Path) -> None:
    data = preprocess.read_input([write(make_frame(), tmp_path / "data.csv")])
    assert list(data.columns) == ["mean radius", "count", "flag", "label"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1, 1, 0], [0, 1, 1, 0]),
        ([0.0, 1.0, 0.0, 1.0], [0, 1, 0, 1]),
        ([True, False, True, True], [1, 0, 1, 1]),
        (["true", "FALSE", " True ", "false"], [1, 0, 1, 0]),
        (["1", "0", "true", "0.0"], [1, 0, 1, 0]),
    ],
)
def test_accepted_label_encodings_map_to_0_and_1(values: list[object], expected: list[int]) -> None:
    parsed, offending = preprocess.parse_labels(pd.Series(values))
    assert offending == []
    assert parsed.tolist() == expected


@pytest.mark.parametrize(
    ("fractions", "per_class"),
    [((0.15, 0.15), 7), ((0.2, 0.2), 5), ((0.1, 0.3), 10), ((0.3, 0.3), 4), ((0.45, 0.45), 10)],
)
def test_min_rows_per_class_is_enough_and_one_less_is_refused(
    fractions: tuple[float, float], per_class: int
) -> None:
    validation, test = fractions
    assert preprocess.min_rows_per_class(validation, test) == per_class

    for majority in (per_class, per_class + 1, 3 * per_class + 2, 500):
        labels = np.array([0] * majority + [1] * per_class, dtype=np.int8)
        features = pd.DataFrame({"x": np.arange(len(labels), dtype=float)})
        for seed in range(5):
            splits = preprocess.split_dataset(
                features, labels, validation, test, seed, label_column="y"
            )
            for name, split in splits.items():
                assert set(split["y"]) == {0, 1}, (fractions, majority, seed, name)

    too_few = [1] * (per_class - 1) + [0] * 30
    frame = pd.DataFrame({"x": np.arange(len(too_few), dtype=float), "label": too_few})
    with pytest.raises(DataValidationError, match=f"at least {per_class} rows of each class"):
        preprocess.validate_frame(frame, "label", validation, test)


def _csv(text: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "data.csv"
        path.write_text(text)
        return path

    return make


def _frame(**changes: object) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        frame = make_frame(60)
        for column, value in changes.items():
            if value is None:
                frame = frame.drop(columns=[column])
            else:
                frame[column] = value
        return write(frame, folder / "data.csv")

    return make


def _nan_cells(folder: Path) -> Path:
    frame = make_frame(60).astype({"count": float})
    frame.loc[[3, 7], "count"] = np.nan
    frame.loc[5, "mean radius"] = np.nan
    return write(frame, folder / "data.csv")


def _missing_labels(folder: Path) -> Path:
    frame = make_frame(60).astype({"label": float})
    frame.loc[[3, 7], "label"] = np.nan
    return write(frame, folder / "data.csv")


def _too_few_rows(folder: Path) -> Path:
    frame = make_frame(40)
    frame["label"] = [1] * 5 + [0] * 35
    return write(frame, folder / "data.csv")


def _mismatched_files(folder: Path) -> Path:
    frame = make_frame(60)
    write(frame, folder / "a.csv")
    write(frame.rename(columns={"count": "total"}), folder / "b.csv")
    return folder


def _empty_folder(folder: Path) -> Path:
    (folder / "README.md").write_text("no csv here")
    return folder


def _unread_files(folder: Path) -> Path:
    frame = make_frame(60)
    write(frame, folder / "a.csv")
    with gzip.open(folder / "c.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    frame.to_csv(folder / "d.tsv", sep="\t", index=False)
    return folder


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "data.csv"
        path.write_bytes(data)
        return path

    return make


def _shifted_rows(folder: Path) -> Path:
    # A row index written on the data rows but not on the header row.
    header, _, rows = str(make_frame(60).to_csv(index=True)).partition("\n")
    path = folder / "data.csv"
    path.write_text(header.removeprefix(",") + "\n" + rows)
    return path


def _constant_features(folder: Path) -> Path:
    frame = make_frame(60).assign(**{"mean radius": 1.5, "count": 0, "flag": True})
    return write(frame, folder / "data.csv")


BAD_INPUTS = {
    "no csv files": (
        _empty_folder,
        ["no CSV files found", "or its subfolders holds comma-delimited table data"],
    ),
    "table data in other forms": (
        _unread_files,
        [
            "does not read: c.csv.gz (gzip-compressed), d.tsv (tab-delimited text);",
            "only uncompressed, comma-delimited UTF-8 text is read, so convert or remove them",
        ],
    ),
    "gzip named .csv": (
        _bytes(gzip.compress(b"a,b,label\n1,2,0\n")),
        ["data.csv is gzip-compressed: only uncompressed, comma-delimited UTF-8 text is read"],
    ),
    "parquet named .csv": (
        _bytes(b"PAR1\x15\x04\x15\x10"),
        ["data.csv is a Parquet file: only uncompressed, comma-delimited UTF-8 text is read"],
    ),
    "prose named .csv": (
        _csv("Hello, this is the export, refreshed daily.\nSee the wiki.\nThanks\n"),
        ["data.csv does not look like a table: 2 of the 2 lines after its first have no comma"],
    ),
    "one column named .csv": (
        _csv("label\n0\n1\n"),
        ["data.csv does not look like a table: its first line 'label' has no comma"],
    ),
    "row index on data rows only": (
        _shifted_rows,
        [
            "data.csv: 60 of 60 data row(s) do not have the header row's 4 fields",
            "line 2 has 5, line 3 has 5, line 4 has 5, line 5 has 5, line 6 has 5, ...",
            "a row index column without a name",
        ],
    ),
    "trailing comma on data rows": (
        _csv("a,b,label\n1,2,0,\n3,4,1,\n"),
        ["data.csv: 2 of 2 data row(s) do not have the header row's 3", "a trailing comma"],
    ),
    "short row": (
        _csv("a,b,label\n1,2,0\n\n3,4\n5,6,1\n"),
        ["data.csv: 1 of 3 data row(s) do not have the header row's 3 fields: line 4 has 2"],
    ),
    "semicolon-delimited": (
        _csv("a;b;label\n1;2,5;0\n"),
        ["data.csv is semicolon-delimited text: only uncompressed, comma-delimited"],
    ),
    "tab-delimited": (
        _csv("a\tb\tlabel\n1\t2\t0\n"),
        ["data.csv is tab-delimited text: only uncompressed, comma-delimited"],
    ),
    "every feature constant": (
        _constant_features,
        [
            "every feature column is constant",
            "'mean radius' (always 1.5), 'count' (always 0), 'flag' (always True)",
        ],
    ),
    "beyond float32": (
        _frame(**{"mean radius": [1.0] * 4 + [-1e39] + [1.0] * 55}),
        ["beyond the float32 range", "'mean radius' (1 value(s), e.g. -1e+39 in data row 5 of"],
    ),
    "missing folder": (lambda f: f / "nowhere", ["no CSV files found", "does not exist"]),
    "empty file": (_csv(""), ["is empty", "header row"]),
    "header only": (_csv("a,b,label\n"), ["no data rows", "header row only"]),
    "headerless file": (_csv("1,2,0\n3,4,1\n"), ["looks like data", "header row is required"]),
    # A pandas index written to the file: named as pandas names it, refused as an identifier.
    "unnamed index column": (
        _csv(",a,label\n0,1.5,0\n1,2.5,1\n"),
        ["'Unnamed: 0' (an identifier's name)", "exclude_columns"],
    ),
    "duplicate columns": (_csv("a,a,label\n1,2,0\n"), ["duplicate column names 'a'"]),
    "mismatched files": (
        _mismatched_files,
        ["b.csv has different columns than", "a.csv", "missing 'count'", "unexpected 'total'"],
    ),
    "label missing": (
        _frame(label=None),
        ["label column 'label' is missing", "'mean radius', 'count', 'flag'"],
    ),
    "label not binary": (
        _frame(label=["yes", "no", "1", 2, 0] * 12),
        ["label column 'label' is not binary", "found 5 distinct values: 'yes', 'no', '1', '2'"],
    ),
    "label with many bad values": (
        _frame(label=list(range(60))),
        ["'label' is not binary", "found 60 distinct values: 0, 1, 2, 3, 4, ... (60 distinct)"],
    ),
    "single class": (_frame(label=1), ["'label' has a single class", "all 60 rows are 1"]),
    "text with too many distinct values": (
        _frame(colour=["red", "blue"] * 30, name=[f"Customer {n}" for n in range(60)]),
        [
            "text column(s) with too many distinct values to be categories: 'name' (60 distinct "
            "of 60 values, e.g. 'Customer 0')",
            "drop them with exclude_columns (cdk.json, per environment) or --exclude-columns",
        ],
    ),
    "numbers with a text missing-value marker": (
        _frame(**{"mean radius": ["?", "1.5", "2.25", "?", "n/a "] + ["3.5"] * 55}),
        [
            "column(s) of numbers that also hold text, most likely a missing-value marker: "
            "'mean radius' (3 of 60 values are not numbers: '?' (2), 'n/a ' (1); the first in "
            "data row 1 of ",
            "an empty cell is the missing-value marker the pipeline understands",
        ],
    ),
    "missing labels": (
        _missing_labels,
        ["label column 'label' has 2 missing value(s)", "of 60 rows; every row needs a label"],
    ),
    "infinite values": (_frame(**{"mean radius": [np.inf] + [1.0] * 59}), ["infinite", "radius"]),
    "too few rows": (
        _too_few_rows,
        ["too few rows", "at least 7 rows of each class (14 in total)", "5 row(s) with label=1"],
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_with_a_message_naming_the_problem_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, fragments = BAD_INPUTS[case]
    folder = tmp_path / "in"
    folder.mkdir()
    source = make(folder)
    out = tmp_path / "out"

    assert run_main(source, out) == 1

    error = capsys.readouterr().err
    assert error.startswith("preprocess: Input data is not usable")
    for fragment in fragments:
        assert fragment in error, (fragment, error)
    assert "Did you mean" not in error
    assert output_files(out) == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (gzip.compress(b"a,b,label\n1,2,0\n"), "is gzip-compressed: only uncompressed, comma"),
        (b"a;b;label\n1;2;0\n", "is semicolon-delimited (its header row 'a;b;label' is a single"),
    ],
    ids=["gzip", "semicolon"],
)
def test_read_input_checks_files_that_were_not_sniffed(
    content: bytes, fragment: str, tmp_path: Path
) -> None:
    # read_input is public: a caller may hand it files that find_csv_files never judged.
    path = tmp_path / "data.csv"
    path.write_bytes(content)

    with pytest.raises(DataValidationError, match=re.escape(f"{path} {fragment}")):
        preprocess.read_input([path])


def test_header_only_files_are_named_among_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    write(make_frame(), source / "a.csv")
    write(make_frame(0), source / "b.csv")
    write(make_frame(0), source / "c.csv")

    assert run_main(source, tmp_path / "out") == 1

    error = capsys.readouterr().err
    assert f"no data rows: {source / 'b.csv'} has a header row only" in error
    assert f"no data rows: {source / 'c.csv'} has a header row only" in error
    assert "distinct values" not in error


def test_a_feature_may_have_any_name_and_its_header_cell_reads_back(tmp_path: Path) -> None:
    names = {"mean radius": "__label__", "count": "0", "flag": 'weight, "kg"'}
    frame = make_frame().rename(columns=names)

    assert run_main(write(frame, tmp_path / "data.csv"), tmp_path / "out") == 0

    features = [f["name"] for f in read_schema(tmp_path / "out")["features"]]
    assert features == ["__label__", "0", 'weight, "kg"']
    train = read_split(tmp_path / "out", "train")
    assert list(train.columns) == ["label", *features]
    assert set(train["label"]) == {0, 1}
    assert set(train["0"]) <= set(frame["0"])


def test_a_constant_column_beside_informative_ones_is_kept(tmp_path: Path) -> None:
    frame = make_frame().assign(version=3)

    assert run_main(write(frame, tmp_path / "data.csv"), tmp_path / "out") == 0

    features = [f["name"] for f in read_schema(tmp_path / "out")["features"]]
    assert features == ["mean radius", "count", "flag", "version"]
    assert set(read_split(tmp_path / "out", "train")["version"]) == {3}


def test_values_up_to_the_float32_limit_are_accepted() -> None:
    frame = make_frame(60).astype({"mean radius": float})
    frame.loc[0, "mean radius"] = float(np.finfo(np.float32).max)
    frame.loc[1, "mean radius"] = -float(np.finfo(np.float32).max)

    features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)

    assert features["mean radius"].abs().max() == np.finfo(np.float32).max


@pytest.mark.parametrize(
    ("fractions", "fragment"),
    [
        (("0", "0.15"), "--validation-fraction must be greater than 0 and less than 1, got 0.0"),
        (("0.15", "1.2"), "--test-fraction must be greater than 0 and less than 1, got 1.2"),
        (("0.5", "0.5"), "must be less than 1 so that the train split gets rows"),
        (("nan", "0.1"), "--validation-fraction must be greater than 0"),
    ],
)
def test_fractions_out_of_range_are_refused(
    fractions: tuple[str, str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(make_frame(), tmp_path / "data.csv")
    validation, test = fractions
    code = run_main(
        source, tmp_path / "out", f"--validation-fraction={validation}", f"--test-fraction={test}"
    )
    assert code == 1
    assert fragment in capsys.readouterr().err
    assert output_files(tmp_path / "out") == []


def test_every_problem_is_reported_at_once() -> None:
    frame = make_frame(60).astype({"count": float})
    frame.loc[0, "count"] = np.nan
    frame["colour"] = "red"  # a category, constant: no problem beside informative columns
    frame["comment"] = [f"called on day {n}" for n in range(60)]
    frame["label"] = ["yes", "no"] * 30

    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15)

    problems = raised.value.problems
    # The missing 'count' is no problem: XGBoost learns where missing values go.
    assert len(problems) == 2
    assert "'comment'" in problems[0]
    assert "'colour'" not in problems[0]
    assert "'label' holds two values, 'yes', 'no'" in problems[1]
    assert "positive_class" in problems[1]
    assert str(raised.value).startswith("Input data is not usable (2 problems):\n  1. ")


def test_missing_label_column_suggests_a_close_name() -> None:
    frame = make_frame(60).rename(columns={"label": "Label"})
    with pytest.raises(DataValidationError, match="Did you mean 'Label'"):
        preprocess.validate_frame(frame, "label", 0.15, 0.15)


@pytest.mark.parametrize("dtype", ["str", "object", pd.StringDtype()])
def test_text_columns_are_categorical_whatever_the_pandas_string_dtype(dtype: object) -> None:
    frame = make_frame(60)
    frame["code"] = pd.Series(["a1", "007", None] * 20, dtype=dtype)

    features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)

    assert preprocess.feature_types(features)[-1] == {"name": "code", "type": "categorical"}
    assert features["code"].iloc[:3].tolist()[:2] == ["a1", "007"]
    assert features["code"].isna().sum() == 20


def test_boolean_features_are_written_as_0_and_1(tmp_path: Path) -> None:
    run_main(write(make_frame(), tmp_path / "data.csv"), tmp_path / "out")
    train = read_split(tmp_path / "out", "train")
    assert set(train["flag"]) == {0, 1}


def _judged(folder: Path, name: str, content: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What find_csv_files does with one file beside a good CSV: read, skipped, or the problem.

    In a problem, FILE stands for the file's path, FOLDER for the folder's and NAME for the
    file's name in the folder.
    """
    write(make_frame(), folder / "a.csv")
    path = folder / name
    path.write_text(content)
    try:
        found = preprocess.find_csv_files(folder)
    except DataValidationError as error:
        (problem,) = error.problems
        return (
            problem.replace(str(path), "FILE")
            .replace(str(folder), "FOLDER")
            .replace(f": {name} (", ": NAME (")
        )
    out = capsys.readouterr().out
    if path in found:
        return "read"
    assert f"Skipping 1 file(s) that are not data: {name}" in out
    return "skipped"


def _unread(form: str) -> str:
    return (
        f"FOLDER holds table data in a form this step does not read: NAME ({form}); only "
        "uncompressed, comma-delimited UTF-8 text is read, so convert or remove them"
    )


_JSON = "FILE does not look like a table: it is JSON, not records"
_NO_COMMA = (
    "FILE does not look like a table: its first line '{\"a\":1}' has no comma (a header row "
    "names the label and feature columns, separated by commas)"
)
# (content, outcome without a .csv name, outcome named .csv): JSON-looking text is judged by
# its shape, and text that only starts with a bracket is read as a table.
JUDGED_BY_SHAPE = {
    "header starting with a bracket": ("[id],x,label\n1,2,0\n3,4,1\n", "read", "read"),
    "header starting with a brace": ("{id},x,label\n1,2,0\n3,4,1\n", "read", "read"),
    "array with one record": ('[{"a": 1, "b": 2}]', "skipped", _JSON),
    "one JSON line": ('{"a": 1, "b": 2}\n', "skipped", _JSON),
    "array of numbers": ("[1, 2, 3]", "skipped", _JSON),
    "array of lists": ("[[1,2],[3,4],[5,6]]", "skipped", _JSON),
    "JSON lines with different keys": ('{"a":1}\n{"b":2}\n', "skipped", _NO_COMMA),
    "array cut short": ('[{"a":1}, {"a":2', "skipped", "read"),
    "JSON lines, then a line that is not JSON": (
        '{"a":1,"b":2}\n{"a":3,"b":4}\nnot json\n',
        _unread("JSON-lines records"),
        _unread("JSON-lines records"),
    ),
    "array of records, then more text": (
        '[{"a":1},{"a":2}] trailing',
        _unread("a JSON array of records"),
        _unread("a JSON array of records"),
    ),
}


@pytest.mark.parametrize("case", JUDGED_BY_SHAPE)
@pytest.mark.parametrize("suffix", ["", ".csv"])
def test_json_and_bracketed_text_are_judged_by_shape(
    case: str, suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, unsuffixed, named_csv = JUDGED_BY_SHAPE[case]

    outcome = _judged(tmp_path, "case" + suffix, content, capsys)

    assert outcome == (named_csv if suffix else unsuffixed)


def test_a_folder_of_unread_forms_only_is_not_also_said_to_have_no_csv_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "part-0.gz").write_bytes(_gzip_csv(make_frame()))

    with pytest.raises(DataValidationError) as raised:
        preprocess.find_csv_files(tmp_path)

    assert raised.value.problems == [
        f"{tmp_path} holds table data in a form this step does not read: part-0.gz "
        "(gzip-compressed); only uncompressed, comma-delimited UTF-8 text is read, so convert "
        "or remove them"
    ]


def test_folder_problems_come_in_file_order_then_the_unread_forms(tmp_path: Path) -> None:
    write(make_frame(), tmp_path / "a.csv")
    (tmp_path / "b.csv").write_bytes(PNG)
    (tmp_path / "c.gz").write_bytes(_gzip_csv(make_frame()))
    (tmp_path / "d.csv").write_text("Notes\nMore notes\n")
    (tmp_path / "e.tsv").write_text(make_frame().to_csv(sep="\t", index=False))

    with pytest.raises(DataValidationError) as raised:
        preprocess.find_csv_files(tmp_path)

    assert raised.value.problems == [
        f"{tmp_path / 'b.csv'} does not look like a table: it is binary, not text",
        f"{tmp_path / 'd.csv'} does not look like a table: its first line 'Notes' has no comma "
        "(a header row names the label and feature columns, separated by commas)",
        f"{tmp_path} holds table data in a form this step does not read: c.gz (gzip-compressed), "
        "e.tsv (tab-delimited text); only uncompressed, comma-delimited UTF-8 text is read, so "
        "convert or remove them",
    ]


def test_long_lists_of_skipped_and_unsuffixed_files_are_cut_after_ten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(12):
        (tmp_path / f"README{n:02}").write_text("Notes only.\n")
        write(make_frame(20), tmp_path / f"part-{n:02}")

    assert len(preprocess.find_csv_files(tmp_path)) == 12

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "Skipping 12 file(s) that are not data: "
        + ", ".join(f"README{n:02}" for n in range(10))
        + ", ... (12 in total)",
        "Reading 12 file(s) without a .csv name as comma-delimited tables: "
        + ", ".join(f"part-{n:02}" for n in range(10))
        + ", ... (12 in total)",
    ]


def test_a_file_given_by_name_is_read_whatever_its_name(tmp_path: Path) -> None:
    path = write(make_frame(), tmp_path / "part-00000")
    assert preprocess.find_csv_files(path) == [path]


def _problems_of_read_input(*files: Path) -> list[str]:
    with pytest.raises(DataValidationError) as raised:
        preprocess.read_input(files)
    return raised.value.problems


def test_a_blank_first_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("\na,b,label\n1,2,0\n")

    assert _problems_of_read_input(path) == [
        f"{path}: the first line is blank; a header row is required"
    ]


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b,label\n1,caf\xe9,0\n")

    assert _problems_of_read_input(path) == [
        f"{path} is not a UTF-8 CSV file: 'utf-8' codec can't decode byte 0xe9 in position 15: "
        "invalid continuation byte"
    ]


@pytest.mark.parametrize(("line", "at"), [(1, 0), (3, 2), (4, 3)])
def test_a_row_the_csv_reader_cannot_read_is_named_by_line(
    line: int, at: int, tmp_path: Path
) -> None:
    rows = ["a,b,label", "1,2,0", "", "3,4,1", "5,6,0"]
    rows[at] = 'x,"' + "y" * 200_000 + '",0'
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")

    assert _problems_of_read_input(path) == [
        f"{path}: line {line} is not a readable CSV row: field larger than field limit (131072)"
    ]


def test_read_input_problems_come_file_by_file_then_the_column_differences(
    tmp_path: Path,
) -> None:
    a = tmp_path / "a.csv"
    a.write_text("x,y,label\n1,2,0\n")
    b = tmp_path / "b.csv"
    b.write_text("x,x,label\n1,2,0\n1,2\n")
    c = tmp_path / "c.csv"
    c.write_text("x,label\n1,0\n")
    d = tmp_path / "d.csv"
    d.write_text("x,y,z,label\n1,2,3,0\n")

    assert _problems_of_read_input(a, b, c, d) == [
        f"{b}: 1 of 2 data row(s) do not have the header row's 3 fields: line 3 has 2",
        f"{b}: duplicate column names 'x'",
        f"{b} has different columns than {a}: missing 'y'",
        f"{c} has different columns than {a}: missing 'y'",
        f"{d} has different columns than {a}: unexpected 'z'",
    ]


def test_columns_are_not_compared_when_a_file_has_another_delimiter(tmp_path: Path) -> None:
    a = write(make_frame(), tmp_path / "a.csv")
    b = tmp_path / "b.csv"
    b.write_text("x;label\n1;0\n")

    assert _problems_of_read_input(a, b) == [
        f"{b} is semicolon-delimited (its header row 'x;label' is a single column); only "
        "comma-delimited CSV files are accepted"
    ]


def test_files_pandas_cannot_parse_are_each_named(tmp_path: Path) -> None:
    # The csv module reads a quote left open to the end of the file; pandas does not.
    paths = []
    for name in ("a.csv", "b.csv"):
        paths.append(tmp_path / name)
        paths[-1].write_text('a,b\n1,2\n3,"x\n')

    assert _problems_of_read_input(*paths) == [
        f"{path} is not a readable CSV file: Error tokenizing data. C error: EOF inside string "
        "starting at row 2"
        for path in paths
    ]


@pytest.mark.parametrize(("count", "where"), [(1, "{first}"), (2, "any of the 2 files")])
def test_no_data_rows_after_reading_names_the_file_or_counts_them(
    count: int, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scan counts rows as pandas does, so only a reader that disagrees gets here.
    paths = [write(make_frame(20), tmp_path / f"{n}.csv") for n in range(count)]
    monkeypatch.setattr(pd, "read_csv", lambda *_, **__: make_frame(0))

    assert _problems_of_read_input(*paths) == [
        f"no data rows: {where.format(first=paths[0])} has a header row only"
    ]


def test_a_frame_with_only_the_label_column_has_no_features() -> None:
    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(pd.DataFrame({"label": [0, 1] * 30}), "label", 0.15, 0.15)

    assert raised.value.problems == [
        "there are no feature columns besides the label column 'label'"
    ]


def test_missing_labels_are_reported_without_counting_classes() -> None:
    frame = pd.DataFrame({"x": np.linspace(0, 1, 60), "label": [1.0] * 59 + [np.nan]})

    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15)

    assert raised.value.problems == [
        "label column 'label' has 1 missing value(s) (empty, NA, NaN or null cells) of 60 rows; "
        "every row needs a label, so drop or fill them"
    ]


def test_every_kind_of_frame_problem_is_reported_in_order() -> None:
    frame = pd.DataFrame(
        {
            "empty": [np.nan] * 60,
            "colour": ["red"] * 60,
            "inf": [np.inf] * 60,
            "big": [1e39] * 60,
            "label": ["yes", "no"] * 30,
        }
    )

    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15)

    assert raised.value.problems == [
        "infinite values in column(s) 'inf' (60)",
        "values beyond the float32 range XGBoost computes in (magnitude above 3.402823e+38) in "
        "column(s) 'big' (60 value(s), e.g. 1e+39 in data row 1)",
        "every feature column is constant, so a model can learn nothing from them: 'empty' "
        "(always nan), 'colour' (always 'red'), 'inf' (always inf), 'big' (always 1e+39); check "
        "that the right data was uploaded",
        "label column 'label' holds two values, 'yes', 'no', and neither is 0/1 or true/false, "
        "so which one is the positive class is ambiguous; name it with positive_class "
        "(cdk.json, per environment) or --positive-class (local run)",
    ]


# --- labels named by positive_class ------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "positive", "expected"),
    [
        (["Yes", "No"] * 30, "Yes", [1, 0] * 30),
        (["benign", "malignant"] * 30, "malignant", [0, 1] * 30),
        ([" yes ", "no"] * 30, "yes", [1, 0] * 30),  # cells are compared stripped
        ([1, 2] * 30, "2", [0, 1] * 30),  # a numeric column matches the text "2"
        ([1.0, 2.0] * 30, "1", [1, 0] * 30),
        ([0, 1] * 30, "0", [1, 0] * 30),  # 0/1 with positive_class: 0 is the positive one
        ([True, False] * 30, "true", [1, 0] * 30),
    ],
)
def test_any_two_label_values_work_with_positive_class(
    labels: list[object], positive: str, expected: list[int]
) -> None:
    frame = make_frame(60)
    frame["label"] = labels

    _, result = preprocess.validate_frame(frame, "label", 0.15, 0.15, positive_class=positive)

    assert result.tolist() == expected


@pytest.mark.parametrize(
    ("labels", "positive", "message"),
    [
        (
            ["Yes", "No"] * 30,
            None,
            "label column 'label' holds two values, 'Yes', 'No', and neither is 0/1 or "
            "true/false, so which one is the positive class is ambiguous",
        ),
        (
            ["Yes", "No", "Maybe"] * 20,
            "Yes",
            "label column 'label' holds 3 distinct values, 'Yes', 'No', 'Maybe'; a binary "
            "classifier needs exactly two",
        ),
        (
            ["Yes", "No"] * 30,
            "yes",
            "positive_class 'yes' is not a value of label column 'label'; found 'Yes', 'No'",
        ),
        (["Yes"] * 60, "Yes", "label column 'label' has a single class: all 60 rows are 1"),
    ],
)
def test_labels_that_cannot_be_made_binary_are_refused_naming_the_values(
    labels: list[object], positive: str | None, message: str
) -> None:
    frame = make_frame(60)
    frame["label"] = labels

    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15, positive_class=positive)

    assert any(message in problem for problem in raised.value.problems), raised.value.problems


def test_positive_class_reaches_the_splits_from_the_command_line(tmp_path: Path) -> None:
    source = tmp_path / "in" / "data.csv"
    source.parent.mkdir()
    frame = make_frame(60)
    frame["label"] = ["spam", "ham"] * 30
    frame.to_csv(source, index=False)
    out = {name: tmp_path / name for name in ("train", "validation", "test")}
    args = [f"--{name}-dir={path}" for name, path in out.items()]

    refused = preprocess.main([f"--input-dir={source.parent}", *args, "--positive-class="])
    accepted = preprocess.main([f"--input-dir={source.parent}", *args, "--positive-class=spam"])

    assert refused == 1
    assert accepted == 0
    written = pd.concat(pd.read_csv(next(path.glob("*.csv"))) for path in out.values())
    # Label first, 0/1, one positive for every "spam" row.
    assert written.columns[0] == "label"
    assert sorted(written["label"].unique()) == [0, 1]
    assert int(written["label"].sum()) == 30


# --- identifiers and exclude_columns -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "values", "reason"),
    [
        ("id", None, "an identifier's name"),
        ("Unnamed: 0", None, "an identifier's name"),  # a pandas index written by to_csv
        ("rownames", None, "an identifier's name"),  # R's write.csv
        ("customer_id", None, "an identifier's name"),
        ("Order ID", None, "an identifier's name"),
        ("n", np.arange(1, 61), "distinct whole numbers in one run, like row numbers"),
        ("n", np.random.default_rng(1).permutation(60), "distinct whole numbers in one run"),
    ],
)
def test_columns_that_identify_rows_are_refused_by_name(
    name: str, values: object, reason: str
) -> None:
    frame = make_frame(60)
    frame.insert(0, name, np.random.default_rng(2).normal(size=60) if values is None else values)

    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15)

    (problem,) = raised.value.problems
    assert problem.startswith(
        f"column(s) that identify rows rather than describe them: {name!r} ({reason}"
    )
    assert "exclude_columns" in problem


@pytest.mark.parametrize("name", ["paid", "valid", "width", "idle_minutes", "grid"])
def test_names_that_merely_contain_id_and_measured_whole_numbers_are_features(name: str) -> None:
    frame = make_frame(60)
    # Whole numbers with gaps (a count, an amount) are data, not row numbers.
    frame[name] = np.arange(60) * 3

    features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)

    assert name in features.columns


def test_excluded_columns_are_dropped_before_any_check() -> None:
    frame = make_frame(60)
    frame.insert(0, "id", range(60))
    # Would be refused as text with too many distinct values to be categories.
    frame["comment"] = [f"free text {n}" for n in range(60)]

    features, _ = preprocess.validate_frame(
        frame, "label", 0.15, 0.15, exclude_columns=["id", "comment"]
    )

    assert list(features.columns) == ["mean radius", "count", "flag"]


def test_excluding_unknown_columns_or_the_label_is_refused_naming_them() -> None:
    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(
            make_frame(60), "label", 0.15, 0.15, exclude_columns=["rowid", "label"]
        )

    assert raised.value.problems[:2] == [
        "exclude_columns names column(s) the data does not have: 'rowid'; columns found: "
        "'mean radius', 'count', 'flag', 'label'",
        "exclude_columns names the label column 'label'; it cannot be excluded",
    ]


def test_exclude_columns_reaches_the_splits_from_the_command_line(tmp_path: Path) -> None:
    frame = make_frame(60)
    frame.insert(0, "Unnamed: 0", range(60))
    source = write(frame, tmp_path / "in" / "data.csv")
    out = {name: tmp_path / name for name in ("train", "validation", "test")}
    args = [f"--input-dir={source.parent}", *(f"--{n}-dir={p}" for n, p in out.items())]

    assert preprocess.main(args) == 1
    assert preprocess.main([*args, "--exclude-columns=Unnamed: 0"]) == 0
    # Label first, then the three features: the excluded column is nowhere.
    assert list(pd.read_csv(out["train"] / "train.csv").columns) == [
        "label",
        "mean radius",
        "count",
        "flag",
    ]


def test_missing_feature_values_go_through_as_empty_cells(tmp_path: Path) -> None:
    source = _nan_cells(tmp_path / "in")

    assert run_main(source.parent, tmp_path / "out") == 0

    written = pd.concat(read_split(tmp_path / "out", name) for name in preprocess.SPLITS)
    # XGBoost treats an empty cell as missing, in training and at the endpoint alike.
    assert int(written.isna().sum().sum()) == 3


# --- categorical features and the split CSV files ----------------------------------------

# Values a CSV writer must quote or a reader could mistake for numbers or missing values.
TRICKY_TEXT = [
    "Two year, paid",
    'say "hi"',
    "007",
    " 1.5",
    "01",
    "naïve",
    "two\nlines",
    "two\r\nlines",
    "n/a ",
]


def test_categorical_values_are_written_as_their_input_text(tmp_path: Path) -> None:
    frame = make_frame(90)
    frame["contract"] = TRICKY_TEXT * 10
    frame.loc[[2, 9, 40], "contract"] = np.nan  # as read back: missing is NaN
    source = write(frame, tmp_path / "in" / "data.csv")

    assert run_main(source, tmp_path / "out") == 0

    assert read_schema(tmp_path / "out")["features"][-1] == {
        "name": "contract",
        "type": "categorical",
    }
    written = pd.concat(read_split(tmp_path / "out", n) for n in preprocess.SPLITS)
    expected = frame[["label", "mean radius", "count", "flag", "contract"]].astype({"flag": int})
    key = ["mean radius", "count", "label"]
    pd.testing.assert_frame_equal(
        written.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    lines = (tmp_path / "out" / "train" / "train.csv").read_text(encoding="utf-8")
    assert '"Two year, paid"' in lines
    assert '"say ""hi"""' in lines
    # A missing category is an empty last cell.
    assert re.search(r"^[01],[^,]+,[^,]+,[01],$", lines, re.MULTILINE)


def test_a_code_column_keeps_its_text_when_one_file_holds_only_numbers(tmp_path: Path) -> None:
    # pandas reads each file on its own: a.csv alone would give 7 and 12.
    source = tmp_path / "in"
    write(make_frame(60).assign(code=["007", "012"] * 30), source / "a.csv")
    write(make_frame(60, seed=1).assign(code=["A1", "007", "012"] * 20), source / "b.csv")

    assert run_main(source, tmp_path / "out") == 0

    written = pd.concat(read_split(tmp_path / "out", n) for n in preprocess.SPLITS)
    assert written["code"].value_counts().to_dict() == {"007": 50, "012": 50, "A1": 20}


def test_text_of_booleans_with_missing_cells_is_a_numeric_0_1_feature(tmp_path: Path) -> None:
    frame = make_frame(60)
    frame["active"] = ["true", "false", None] * 20  # pandas reads it as text
    source = write(frame, tmp_path / "data.csv")

    assert run_main(source, tmp_path / "out") == 0

    assert read_schema(tmp_path / "out")["features"][-1] == {"name": "active", "type": "numeric"}
    written = pd.concat(read_split(tmp_path / "out", n) for n in preprocess.SPLITS)
    assert written["active"].value_counts().to_dict() == {1: 20, 0: 20}
    assert int(written["active"].isna().sum()) == 20


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["true", "FALSE", None] * 20, [1, 0, None]),
        ([str(10**24 * (n % 3 + 1)) for n in range(60)], [1e24, 2e24, 3e24]),  # beyond 64 bits
    ],
    ids=["booleans", "huge integers"],
)
def test_text_of_numbers_or_booleans_is_a_numeric_feature(
    values: list[str | None], expected: list[float | None]
) -> None:
    frame = make_frame(60)
    frame["x"] = pd.Series(values, dtype=object)

    features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)

    assert preprocess.feature_types(features)[-1] == {"name": "x", "type": "numeric"}
    assert [None if pd.isna(v) else v for v in features["x"].iloc[:3]] == expected


@pytest.mark.parametrize(
    ("labels", "option", "classes"),
    [
        (["Yes", "No"] * 30, "--positive-class=Yes", ("Yes", "No")),
        (["No", "Yes"] * 30, "--positive-class=No", ("No", "Yes")),
        ([" malignant", "benign "] * 30, "--positive-class=malignant", ("malignant", "benign")),
        ([0, 1] * 30, "--positive-class=", ("1", "0")),
        ([1, 2] * 30, "--positive-class=2", ("2", "1")),
        (["true", "false"] * 30, "--positive-class=", ("True", "False")),
        (["TRUE", "FALSE"] * 30, "--positive-class=", ("True", "False")),
    ],
)
def test_schema_names_the_label_values_as_text(
    labels: list[object], option: str, classes: tuple[str, str], tmp_path: Path
) -> None:
    frame = make_frame(60)
    frame["label"] = labels
    source = write(frame, tmp_path / "data.csv")

    assert run_main(source, tmp_path / "out", option) == 0

    schema = read_schema(tmp_path / "out")
    assert (schema["positive_class"], schema["negative_class"]) == classes
    # The label column itself is 0/1, 1 for the positive class.
    written = pd.concat(read_split(tmp_path / "out", n) for n in preprocess.SPLITS)
    assert int(written["label"].sum()) == 30


def test_numbers_are_written_so_that_they_read_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    floats = rng.normal(size=57) * 10.0 ** rng.integers(-300, 300, 57)
    features = pd.DataFrame(
        {
            "x": [*floats, 0.1, 1 / 3, 5e-324],
            "n": 2**53 + np.arange(60, dtype=np.int64),  # not all representable as floats
        }
    )
    labels = np.array([0, 1] * 30, dtype=np.int8)
    splits = preprocess.split_dataset(features, labels, 0.2, 0.2, 0, label_column="y")
    for name, split in splits.items():
        (tmp_path / name).mkdir()
        preprocess.write_csv(split, tmp_path / name / f"{name}.csv")

    rows = [
        row
        for name in preprocess.SPLITS
        for row in list(csv.reader((tmp_path / name / f"{name}.csv").open(newline="")))[1:]
    ]
    assert sorted(float(row[1]) for row in rows) == sorted(features["x"])
    assert sorted(int(row[2]) for row in rows) == sorted(features["n"])
    assert {row[1] for row in rows} == {repr(float(x)) for x in features["x"]}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([f"c{n % 30}" for n in range(60)], None),  # half the values distinct
        ([f"c{n}" for n in range(19)] + [None] * 41, None),  # too few values to judge
        ([f"c{n % 31}" for n in range(60)], "'city' (31 distinct of 60 values, e.g. 'c0')"),
        ([f"c{n}" for n in range(20)] + [None] * 40, "'city' (20 distinct of 20 values"),
    ],
    ids=["half distinct", "19 values", "more than half distinct", "20 values all distinct"],
)
def test_a_text_column_with_mostly_distinct_values_is_refused(
    values: list[str | None], problem: str | None
) -> None:
    frame = make_frame(60)
    frame["city"] = values

    if problem is None:
        features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)
        assert preprocess.feature_types(features)[-1]["type"] == "categorical"
        return
    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15)
    (refused,) = raised.value.problems
    assert f"too many distinct values to be categories: {problem}" in refused


@pytest.mark.parametrize("distinct", [10_000, 10_001])
def test_more_than_10000_categories_are_refused_however_often_each_recurs(distinct: int) -> None:
    rows = 3 * distinct
    frame = make_frame(rows)
    frame["product"] = [f"p{n % distinct}" for n in range(rows)]

    if distinct == 10_000:
        features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)
        assert features["product"].nunique() == 10_000
        return
    with pytest.raises(DataValidationError, match="'product' \\(10001 distinct of 30003 values"):
        preprocess.validate_frame(frame, "label", 0.15, 0.15)


@pytest.mark.parametrize(
    ("markers", "problem"),
    [
        ([" "] * 6, "'total' (6 of 60 values are not numbers: ' ' (6); the first in data row 1)"),
        (
            ["-", "unknown", "-", "?", "#", "n/a "],
            "'total' (6 of 60 values are not numbers: '-' (2), 'unknown' (1), '?' (1), '#' (1), "
            "'n/a ' (1); the first in data row 1)",
        ),
        (["x"] * 7, None),  # 53 of 60 numbers, under 90%: categories
    ],
    ids=["blank", "several markers", "under 90% numbers"],
)
def test_numbers_with_a_few_text_values_are_refused_naming_the_values(
    markers: list[str], problem: str | None
) -> None:
    frame = make_frame(60)
    frame["total"] = markers + [str(n % 4 + 0.5) for n in range(60 - len(markers))]

    if problem is None:
        features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)
        assert preprocess.feature_types(features)[-1]["type"] == "categorical"
        return
    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15)
    (refused,) = raised.value.problems
    assert f"most likely a missing-value marker: {problem}; an empty cell is" in refused


def test_text_column_problems_are_reported_in_order_and_an_identifier_only_once() -> None:
    frame = make_frame(60)
    frame.insert(0, "customer_id", [f"C-{n:04}" for n in range(60)])
    frame["score"] = ["?"] * 6 + ["1.5", "2.5"] * 27
    frame["name"] = [f"Person {n}" for n in range(60)]
    frame["memo"] = ["a\rb", "c", "d\r\ne"] * 20
    frame["label"] = ["yes", "no"] * 30
    drop = (
        "drop them with exclude_columns (cdk.json, per environment) or --exclude-columns "
        "(local run)"
    )

    with pytest.raises(DataValidationError) as raised:
        preprocess.validate_frame(frame, "label", 0.15, 0.15)

    assert raised.value.problems[:4] == [
        "column(s) that identify rows rather than describe them: 'customer_id' (an identifier's "
        f"name); a model trained on them learns the row order, not the data; {drop}",
        "column(s) of numbers that also hold text, most likely a missing-value marker: 'score' "
        "(6 of 60 values are not numbers: '?' (6); the first in data row 1); an empty cell is "
        "the missing-value marker the pipeline understands, so write missing values as empty "
        f"cells in the export, or {drop}",
        "text column(s) with too many distinct values to be categories: 'name' (60 distinct of "
        "60 values, e.g. 'Person 0'); such a column identifies rows or holds free text, and a "
        f"model cannot learn from values that barely recur; {drop}",
        "text value(s) holding a carriage return (\\r) without a line feed, which the split "
        "CSV files cannot keep intact: 'memo' (20 value(s), e.g. 'a\\rb' in data row 1); remove "
        "or replace it in the export",
    ]
    assert "'label' holds two values" in raised.value.problems[4]


def tricky_frame(rows: int = 1_000) -> pd.DataFrame:
    """Every kind of column preprocess writes, with the values whose text is easy to get wrong."""
    rng = np.random.default_rng(4)
    floats = np.array(
        [0.0, -0.0, np.nan, 1e16, 9999999999999998.0, 1e-4, 1e-5, 5e-324, 0.1 + 0.2, -1.5, 2.0**60]
    )
    text = np.array(["a", "b,c", 'say "hi"', "two\nlines", "crlf\r\nend", " pad ", "é", ""])
    return pd.DataFrame(
        {
            "label": rng.integers(0, 2, rows).astype(np.int8),
            'odd, "name"': rng.choice(floats, rows),
            "normal": rng.standard_normal(rows),
            "rounded": rng.standard_normal(rows).round(3),
            "count": rng.integers(-5, 2**40, rows),
            "flag": pd.array(
                rng.choice(np.array([True, False, None], dtype=object), rows), dtype="boolean"
            ).astype("Int8"),
            "text": pd.Series(rng.choice(text, rows), dtype=object).replace("", np.nan),
            "category": pd.Series(
                rng.choice(np.array(["x", "y", None], dtype=object), rows), dtype="string"
            ),
        }
    )


@pytest.mark.parametrize("block_rows", [7, 50_000])
def test_split_files_are_written_exactly_as_pandas_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_rows: int
) -> None:
    monkeypatch.setattr(preprocess, "_WRITE_ROWS", block_rows)
    frame = tricky_frame()
    expected = frame.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)

    preprocess.write_csv(frame, tmp_path / "fast.csv")

    assert (tmp_path / "fast.csv").read_bytes() == expected.encode("utf-8")


def test_a_column_of_another_type_is_written_by_pandas(tmp_path: Path) -> None:
    frame = tricky_frame(20).assign(small=np.float32(0.1), mixed=[1, "a"] * 10)

    preprocess.write_csv(frame, tmp_path / "out.csv")

    expected = frame.to_csv(index=False, lineterminator="\n")
    assert (tmp_path / "out.csv").read_bytes() == expected.encode("utf-8")


@pytest.mark.parametrize(
    "text",
    [
        "a,b,label\n1,2,0\n3,4,1\n",
        '"a","b","label"\n1,2,0\n3,4,1',  # a quoted header; no line feed at the end
        "\ufeffa,b,label\r\n1,2,0\r\n3,4,1\r\n",
        "a,b,label\n1,2,0\n\n3,4,1\n   \n",  # blank lines are no rows
        "a,b,label\n1,2,0\n3,4\n5,6,7,8\n,,\n",
        'a,b,label\n1,"2,5",0\n3,"x\ny",1\n',
        "a,b,label\n1,2\r0\n",
        "a,b,label\n1,2,0\x00\n",
        "a,b,label\n1,2,0\n" + "x" * 80 + ",2,1\n",  # a field past the limit below
        '"a\nb",c,label\n1,2,0\n',
        "a,b,label\n1,é,0\n",
        "label\n1\n\n0\n",
    ],
)
@pytest.mark.parametrize("block_bytes", [5, 8 * 1024 * 1024])
def test_the_byte_scan_counts_rows_as_the_csv_module_does(
    text: str, block_bytes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preprocess, "_PLAIN_SCAN_BYTES", block_bytes)
    limit = csv.field_size_limit(60)
    try:
        path = tmp_path / "data.csv"
        path.write_bytes(text.encode("utf-8"))
        fast = preprocess._scan_file(path)
        monkeypatch.setattr(preprocess, "_plain_counts", lambda path, fields: None)
        try:
            slow: object = preprocess._scan_file(path)
        except DataValidationError as error:
            slow = error.problems
        assert fast == slow
    except DataValidationError as error:
        monkeypatch.setattr(preprocess, "_plain_counts", lambda path, fields: None)
        with pytest.raises(DataValidationError) as again:
            preprocess._scan_file(path)
        assert error.problems == again.value.problems
    finally:
        csv.field_size_limit(limit)


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("a,b,label\n1,2,0\n3,4,1\n", True),
        ('"a","b","label"\r\n1,2,0\n3,4,1', True),
        ("a,b,label\n1,2,0\n\n3,4,1\n", False),
        ("a,b,label\n1,2,0\r\n", False),
        ("a,b,label\n1,2\n", False),
        ("a,b,label\n1,\xff,0\n", False),
    ],
)
def test_only_plain_rows_are_counted_from_bytes(text: str, plain: bool, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode("latin-1"))

    counts = preprocess._plain_counts(path, 3)

    assert (counts is not None) == plain
    if counts is not None:
        assert counts.rows == 2
