"""Preprocess at scale: chunked reading, the hash split, train parts, and N instances that
each read a shard of the files and agree on one verdict."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline_code import preprocess
from pipeline_code.preprocess import Cluster, DataValidationError

FILES = 4
ROWS_PER_FILE = 150


def dataset(seed: int = 0) -> list[pd.DataFrame]:
    """Four files: text labels, a categorical column whose first file holds only digit codes
    (pandas reads those as numbers there), missing numbers and booleans."""
    rng = np.random.default_rng(seed)
    frames = []
    for n in range(FILES):
        rows = ROWS_PER_FILE
        codes = (
            [f"{c:03d}" for c in rng.integers(0, 9, rows)]
            if n == 0
            else list(rng.choice(["007", "A12", "B3", "010"], rows))
        )
        x = rng.normal(size=rows).round(4)
        x[rng.random(rows) < 0.1] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "x": x,
                    "code": codes,
                    "flag": rng.random(rows) < 0.5,
                    "outcome": np.where(rng.random(rows) < 0.3, "churned", "stayed"),
                }
            )
        )
    return frames


def write_files(frames: list[pd.DataFrame], folder: Path, which: range) -> Path:
    folder.mkdir(parents=True)
    for n in which:
        frames[n].to_csv(folder / f"part-{n:05d}.csv", index=False)
    return folder


def out_dirs(base: Path) -> dict[str, Path]:
    return {name: base / name for name in preprocess.SPLITS}


def run(source: Path, out: Path, **options: Any) -> dict[str, dict[int, int]]:
    return preprocess.run(
        input_dir=source,
        out_dirs=out_dirs(out),
        label_column="outcome",
        positive_class="churned",
        validation_fraction=0.15,
        test_fraction=0.15,
        seed=11,
        **options,
    )


def split_rows(out: Path, name: str) -> list[tuple[str, ...]]:
    """Every row of a split, from all its files, as text, sorted."""
    rows = []
    for path in sorted((out / name).glob(f"{name}*.csv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "outcome,x,code,flag", path
        rows += [tuple(line.split(",")) for line in lines[1:]]
    return sorted(rows)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_instances(sources: list[Path], out: Path, **options: Any) -> list[Any]:
    """Each source read by its own instance (a thread), as SageMaker shards by S3 key."""
    hosts = tuple(f"algo-{n + 1}" for n in range(len(sources)))
    address = ("127.0.0.1", free_port())
    results: list[Any] = [None] * len(sources)

    def instance(n: int) -> None:
        try:
            results[n] = run(sources[n], out, cluster=Cluster(hosts, hosts[n], address), **options)
        except Exception as error:  # the test compares what each instance raised
            results[n] = error

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(len(sources))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_instances_write_the_same_splits_as_one(tmp_path: Path) -> None:
    frames = dataset()
    one = run(write_files(frames, tmp_path / "one", range(FILES)), tmp_path / "out-one")
    shards = [
        write_files(frames, tmp_path / "a", range(0, 2)),
        write_files(frames, tmp_path / "b", range(2, FILES)),
    ]

    results = run_instances(shards, tmp_path / "out-two")

    # Both instances agree on the counts of the whole input, and they are one instance's.
    assert results == [one, one]
    for name in preprocess.SPLITS:
        assert split_rows(tmp_path / "out-two", name) == split_rows(tmp_path / "out-one", name)
        schema = (tmp_path / "out-two" / name / "schema.json").read_text()
        assert schema == (tmp_path / "out-one" / name / "schema.json").read_text()
    # Each instance wrote its own files; none is left half-written.
    assert sorted(p.name for p in (tmp_path / "out-two" / "test").iterdir()) == [
        "schema.json",
        "test-algo-1.csv",
        "test-algo-2.csv",
    ]
    # The digit codes of the first file stay text (categories), as the other files show.
    assert ("007" in {row[2] for row in split_rows(tmp_path / "out-one", "train")}) is True
    assert '"type": "categorical"' in schema


def test_a_problem_in_one_shard_stops_every_instance_with_the_same_message(
    tmp_path: Path,
) -> None:
    frames = dataset()
    frames[3].loc[5, "x"] = np.inf
    shards = [
        write_files(frames, tmp_path / "a", range(0, 2)),
        write_files(frames, tmp_path / "b", range(2, FILES)),
    ]

    first, second = run_instances(shards, tmp_path / "out")

    assert isinstance(first, DataValidationError)
    assert isinstance(second, DataValidationError)
    assert first.problems == second.problems == ["infinite values in column(s) 'x' (1)"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.csv"))


def test_an_instance_that_dies_ends_the_others_wait_naming_it() -> None:
    hosts, address = ("algo-1", "algo-2"), ("127.0.0.1", free_port())
    outcome: list[object] = []

    def leader() -> None:
        try:
            with preprocess._Exchange(Cluster(hosts, "algo-1", address), 20) as exchange:
                outcome.append(exchange.allgather({"n": 1}))
        except RuntimeError as error:
            outcome.append(error)

    thread = threading.Thread(target=leader)
    thread.start()
    worker = preprocess._Exchange(Cluster(hosts, "algo-2", address), 20)
    worker.close()  # as a crashed instance's connection is closed
    thread.join(timeout=30)

    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError)
    assert "instance algo-2 closed the connection" in str(outcome[0])


def test_the_chunk_size_does_not_change_a_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_files(dataset(), tmp_path / "in", range(FILES))
    run(source, tmp_path / "whole")
    monkeypatch.setattr(preprocess, "CHUNK_ROWS", 37)
    run(source, tmp_path / "chunked")

    for name in preprocess.SPLITS:
        whole = (tmp_path / "whole" / name / f"{name}.csv").read_bytes()
        assert (tmp_path / "chunked" / name / f"{name}.csv").read_bytes() == whole


def test_train_parts_hold_the_train_split_between_them(tmp_path: Path) -> None:
    source = write_files(dataset(), tmp_path / "in", range(FILES))
    run(source, tmp_path / "one")
    run(source, tmp_path / "three", train_parts=3)

    parts = sorted(p.name for p in (tmp_path / "three" / "train").glob("*.csv"))
    assert parts == [f"train-algo-1-{n:03d}.csv" for n in range(3)]
    for name in preprocess.SPLITS:
        assert split_rows(tmp_path / "three", name) == split_rows(tmp_path / "one", name)
    sizes = [
        len(p.read_text().splitlines()) - 1 for p in (tmp_path / "three" / "train").glob("*.csv")
    ]
    assert min(sizes) > 0.2 * sum(sizes)


def test_a_run_of_whole_numbers_is_told_from_one_with_a_repeat() -> None:
    rng = np.random.default_rng(5)
    labels = rng.permutation([0, 1] * 30)
    run_of_numbers = rng.permutation(60) + 1000
    frame = pd.DataFrame({"label": labels, "n": run_of_numbers, "x": rng.normal(size=60)})
    with pytest.raises(DataValidationError, match=r"'n' \(distinct whole numbers in one run"):
        preprocess.validate_frame(frame, "label", 0.15, 0.15)

    # The same smallest, largest and count, but 1010 twice and no 1011: not row numbers.
    frame["n"] = np.where(run_of_numbers == 1011, 1010, run_of_numbers)
    features, _ = preprocess.validate_frame(frame, "label", 0.15, 0.15)
    assert list(features.columns) == ["n", "x"]


@pytest.mark.parametrize("rows", [4, 5, 7, 10, 40])
def test_exact_cuts_give_each_split_its_rounded_share_and_train_at_least_one(rows: int) -> None:
    hashes = np.random.default_rng(rows).integers(0, 2**63, rows, dtype=np.uint64)
    labels = np.zeros(rows, dtype=np.int8)
    fractions = (0.375, 0.375)  # 1.5 and 1.5 of 4 rows: both round up
    codes = preprocess.split_codes(
        hashes, labels, fractions, {0: preprocess.exact_cuts(hashes, fractions)}
    )
    test = round(0.375 * rows)
    assert (codes == 2).sum() == test
    assert (codes == 1).sum() == min(round(0.375 * rows), rows - test - 1)
    assert (codes == 0).sum() >= 1


def test_file_problems_of_every_shard_are_reported_by_every_instance(tmp_path: Path) -> None:
    frames = dataset()
    shards = [
        write_files(frames, tmp_path / "a", range(0, 2)),
        write_files(frames, tmp_path / "b", range(2, FILES)),
    ]
    ragged = shards[0] / "part-00001.csv"
    ragged.write_text(ragged.read_text() + "1.5,A12,True\n")
    other = shards[1] / "part-00003.csv"
    frames[3].drop(columns=["flag"]).to_csv(other, index=False)

    first, second = run_instances(shards, tmp_path / "out")

    assert isinstance(first, DataValidationError) and isinstance(second, DataValidationError)
    assert first.problems == second.problems
    assert first.problems == [
        f"{ragged}: 1 of {ROWS_PER_FILE + 1} data row(s) do not have the header row's 4 "
        f"fields: line {ROWS_PER_FILE + 2} has 3",
        f"{other} has different columns than {shards[0] / 'part-00000.csv'}: missing 'flag'",
    ]


def test_an_instance_without_a_file_is_named_and_the_others_split_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = dataset()
    one = run(write_files(frames, tmp_path / "one", range(FILES)), tmp_path / "out-one")
    empty = tmp_path / "c"
    empty.mkdir()

    results = run_instances(
        [write_files(frames, tmp_path / "a", range(FILES)), empty], tmp_path / "out"
    )

    assert results == [one, one]
    assert "instance(s) algo-2 got no input file" in capsys.readouterr().out
    for name in preprocess.SPLITS:
        assert split_rows(tmp_path / "out", name) == split_rows(tmp_path / "out-one", name)


def test_minus_zero_is_hashed_as_zero_so_chunk_breaks_do_not_move_a_row() -> None:
    # pandas reads "-0" as 0 in a chunk of whole numbers and as -0.0 in one with decimals.
    whole = pd.DataFrame({"label": [1, 0], "x": [0.0, 2.5], "n": [3, 4]})
    signed = whole.assign(x=[-0.0, 2.5])
    other = whole.assign(x=[1e-300, 2.5])

    hashes = preprocess.row_hashes(whole, seed=11)
    assert preprocess.row_hashes(signed, seed=11).tolist() == hashes.tolist()
    assert preprocess.row_hashes(other, seed=11)[0] != hashes[0]
    assert np.signbit(signed["x"].iloc[0])  # the caller's frame is left as it was
