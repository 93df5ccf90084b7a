"""The split writer copies the input's lines where their cells are already written as
``write_csv`` writes them, and formats the rest: the split files are the same bytes either
way, whatever the input's layout, the block size, or the number of instances."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline_code import preprocess
from pipeline_code.preprocess import DataValidationError
from tests.pipeline_code import test_preprocess_scale as scale

# Cells that are numbers but not as write_csv writes them, and cells that are.
ODD_FLOATS = [
    "2", "-0", "1.50", "0.00001", "1e5", " 1.5", "007.5", "12345678901234567",
    "0.1234567890123456", ".5", "5.", "1E-7", "NA", "", "nan",
]  # fmt: skip
PLAIN_FLOATS = ["-0.0", "0.0", "0.0001", "123456789012345.6", "-7.25", "10.0"]
ODD_INTEGERS = ["-0", "007", "1234567890123456789", "+4"]
PLAIN_INTEGERS = ["0", "-5", "9007199254740993", "42"]
CODES = ["a", "b c", " padded ", "é", "NA", "", "007", "x-1", "null"]


def cells(rng: np.random.Generator, rows: int, odd: list[str], plain: list[str]) -> list[str]:
    """Mostly plain numbers, one in ten of ``odd``."""
    digits = rng.integers(0, 6, rows).tolist()
    values = [repr(round(float(v), d)) for v, d in zip(rng.normal(0, 3, rows), digits, strict=True)]
    if plain == PLAIN_INTEGERS:
        values = [str(v) for v in rng.integers(-1000, 1000, rows)]
    picks = rng.random(rows)
    return [
        str(rng.choice(odd)) if p < 0.1 else str(rng.choice(plain)) if p < 0.2 else v
        for v, p in zip(values, picks, strict=True)
    ]


def mixed_rows(rows: int, seed: int) -> str:
    """Label in the middle, an excluded column in the middle and one last."""
    rng = np.random.default_rng(seed)
    columns = {
        "x": cells(rng, rows, ODD_FLOATS, PLAIN_FLOATS),
        "outcome": list(rng.choice(["yes", "no"], rows)),
        "n": cells(rng, rows, ODD_INTEGERS, PLAIN_INTEGERS),
        "id": [f"row-{seed}-{n}" for n in range(rows)],
        "code": list(rng.choice(CODES, rows)),
        "note": list(rng.choice(["free text", "", "more"], rows)),
    }
    lines = [",".join(row) for row in zip(*columns.values(), strict=True)]
    return ",".join(columns) + "\n" + "\n".join(lines) + "\n"


def numbers_rows(rows: int, seed: int, classes: tuple[str, str] = ("0", "1")) -> str:
    """The label first, then floats: with 0/1 labels, the input the benchmark generates."""
    rng = np.random.default_rng(seed)
    labels = [classes[v] for v in rng.integers(0, 2, rows)]
    x = cells(rng, rows, ODD_FLOATS[:3], PLAIN_FLOATS)
    y = [repr(float(v)) for v in rng.normal(size=rows).round(4)]
    lines = [",".join(row) for row in zip(labels, x, y, strict=True)]
    return '"outcome","x","y"\n' + "\n".join(lines) + "\n"


def write_inputs(folder: Path, make: Any) -> Path:
    """The same kind of rows as a plain file, a CRLF file, a file with a quoted cell near its
    end (plain blocks, then pandas from there), and a file without a last line feed."""
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(make(150, 1), encoding="utf-8", newline="")
    (folder / "b.csv").write_text(make(80, 2).replace("\n", "\r\n"), encoding="utf-8", newline="")
    header, *lines = make(120, 3).splitlines(keepends=True)
    cell, comma, rest = lines[-3].partition(",")
    lines[-3] = f'"{cell}"{comma}{rest}'
    (folder / "c.csv").write_text(header + "".join(lines), encoding="utf-8", newline="")
    (folder / "d.csv").write_text(make(90, 4).rstrip("\n"), encoding="utf-8", newline="")
    return folder


def run(source: Path, out: Path, **options: Any) -> dict[str, dict[int, int]]:
    return preprocess.run(
        input_dir=source,
        out_dirs={name: out / name for name in preprocess.SPLITS},
        label_column="outcome",
        positive_class=options.pop("positive_class", "yes"),
        validation_fraction=0.2,
        test_fraction=0.2,
        seed=5,
        **options,
    )


def split_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))}


class Calls:
    """How often the writer copied lines, and how often it mixed in formatted ones."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.copied = self.replaced = 0
        copied, replaced = preprocess._copied_lines, preprocess._replaced

        def count_copied(*args: Any) -> Any:
            result = copied(*args)
            self.copied += result is not None
            return result

        def count_replaced(*args: Any) -> Any:
            self.replaced += 1
            return replaced(*args)

        monkeypatch.setattr(preprocess, "_copied_lines", count_copied)
        monkeypatch.setattr(preprocess, "_replaced", count_replaced)


@pytest.mark.parametrize(
    ("make", "options"),
    [
        (mixed_rows, {"exclude_columns": ("id", "note")}),
        (numbers_rows, {"positive_class": "1"}),
    ],
    ids=["label-inside-excluded-text", "numbers-label-first"],
)
@pytest.mark.parametrize("exact_rows", [preprocess.EXACT_SPLIT_ROWS, 0], ids=["held", "direct"])
def test_copied_lines_are_the_bytes_the_formatter_writes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Any,
    options: dict[str, Any],
    exact_rows: int,
) -> None:
    source = write_inputs(tmp_path / "in", make)
    monkeypatch.setattr(preprocess, "EXACT_SPLIT_ROWS", exact_rows)
    with monkeypatch.context() as formatting:
        formatting.setattr(preprocess, "_copied_lines", lambda *_: None)
        expected = run(source, tmp_path / "formatted", **dict(options))
    monkeypatch.setattr(preprocess, "_COPY_BYTES", 500)  # blocks of a few lines
    calls = Calls(monkeypatch)

    assert run(source, tmp_path / "copied", **dict(options)) == expected

    assert split_bytes(tmp_path / "copied") == split_bytes(tmp_path / "formatted")
    assert calls.copied > 10 and calls.replaced > 0  # both paths were taken


def test_one_instance_and_two_copy_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preprocess, "_COPY_BYTES", 1000)
    texts = [numbers_rows(250, seed, ("stayed", "churned")) for seed in range(4)]
    for name, which in (("one", range(4)), ("a", range(2)), ("b", range(2, 4))):
        (tmp_path / name).mkdir()
        for n in which:
            (tmp_path / name / f"part-{n}.csv").write_text(texts[n], encoding="utf-8")
    calls = Calls(monkeypatch)
    one = scale.run(tmp_path / "one", tmp_path / "out-one")

    two = scale.run_instances([tmp_path / "a", tmp_path / "b"], tmp_path / "out-two")

    assert two == [one, one] and calls.copied > 0
    for name in preprocess.SPLITS:
        whole = (tmp_path / "out-one" / name / f"{name}.csv").read_text().splitlines()
        parts = sorted((tmp_path / "out-two" / name).glob("*.csv"))
        rows = [line for p in parts for line in p.read_text().splitlines()[1:]]
        assert sorted(rows) == sorted(whole[1:])


def number_cells(texts: list[str], kind: str) -> tuple[np.ndarray, np.ndarray]:
    """What the copy checks say of each text, and whether it is written that way."""
    body = "".join(f"0,{text}\n" for text in texts).encode()
    block = preprocess._plain_block(body, ["label", "x"])
    assert block is not None
    parsed = pd.read_csv(io.BytesIO(body), header=None, names=["label", "x"])
    cells = preprocess._NumberCells(block)
    said = preprocess._kind_as_written(cells, parsed, parsed, kind, [1])
    assert said is not None
    if kind == preprocess.FLOAT:
        written = ["" if v != v else repr(v) for v in parsed["x"].astype(np.float64).tolist()]
    else:
        written = [str(v) for v in parsed["x"].tolist()]
    return said, np.array([w == t for w, t in zip(written, texts, strict=True)])


def test_a_float_is_copied_only_when_it_is_written_as_repr_writes_it() -> None:
    rng = np.random.default_rng(3)
    plain = [
        repr(float(v))
        for v in (rng.normal(size=3000) * 10.0 ** rng.integers(-3, 12, 3000)).round(5)
    ]
    texts = [t for t in plain if "e" not in t and len(t.lstrip("-")) <= 16]
    texts += [
        f"{v:.{d}f}" for v, d in zip(rng.normal(size=500), rng.integers(0, 8, 500), strict=True)
    ]
    texts += [t for t in ODD_FLOATS if t not in ("NA", "nan")] + PLAIN_FLOATS

    said, written = number_cells(texts, preprocess.FLOAT)

    assert not (said & ~written).any(), [
        t for t, s, w in zip(texts, said, written, strict=True) if s and not w
    ]
    # Every number of at most 15 digits written as repr writes it is copied.
    short = np.array([len(t.lstrip("-").replace(".", "")) <= 15 for t in texts])
    assert (said == written)[short].all()


def test_an_integer_is_copied_only_when_it_is_written_as_str_writes_it() -> None:
    texts = [*ODD_INTEGERS, *PLAIN_INTEGERS, "00", "-007", "5", "-12", "900"]

    said, written = number_cells(texts, preprocess.INTEGER)

    assert not (said & ~written).any()
    # Every integer of at most 18 digits written as str writes it is copied.
    short = np.array([len(t.lstrip("-")) <= 18 for t in texts])
    assert (said == written)[short].all() and said.sum() == len(PLAIN_INTEGERS) + 3


def numbers(stop: int, fail_at: int | None = None) -> Iterator[int]:
    for n in range(stop):
        if n == fail_at:
            raise DataValidationError([f"bad item {n}"])
        yield n


def test_prefetched_items_come_in_order_and_an_error_in_its_turn() -> None:
    assert list(preprocess._prefetched(numbers(50))) == list(range(50))
    seen = []
    with pytest.raises(DataValidationError, match="bad item 7"):
        for n in preprocess._prefetched(numbers(50, fail_at=7)):
            seen.append(n)
    assert seen == list(range(7))


def test_a_consumer_that_stops_early_closes_the_producer() -> None:
    closed = []

    def items() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.append(True)

    for n in preprocess._prefetched(items()):
        if n == 3:
            break

    assert closed == [True]


def test_a_block_pandas_cannot_read_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    options = preprocess._block_options(["a", "b"], ["a", "b"], [])

    with pytest.raises(DataValidationError, match=rf"{path}.* from line 7 on"):
        list(preprocess._read_rows(path, io.BytesIO(b'1,"2\n3,4\n'), 7, options))
