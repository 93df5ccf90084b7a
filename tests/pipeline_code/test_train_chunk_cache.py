"""tabular_model parses the train split once: ``scan_train`` keeps each checked chunk in a
scratch folder (``ChunkCache``) and the matrix's passes read them back, which must give XGBoost
exactly what parsing the files again gives it; the folder is gone afterwards, however training
ends."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline_code import tabular_model
from pipeline_code.tabular_model import ChunkCache
from tests.pipeline_code.test_tabular_model import (
    FAST,
    SCHEMA,
    make_rows,
    train_main,
    write_split,
)

CHUNK = 40
# One thread: XGBoost's threads spin-wait, which is slow on a busy machine (xdist workers).
HYPERPARAMETERS = {**FAST, "nthread": 1}
# Where only the scratch folder matters, not the model.
QUICK = {**HYPERPARAMETERS, "num_round": 2}
# Sorted before every category of the data, so that it moves every position by one, as a
# category seen only on another host does.
ELSEWHERE = "aaa elsewhere"


def train_parts(folder: Path) -> list[Path]:
    """A train split of three part files: a category that appears only in a late chunk of the
    second file, a part file holding only its header, and missing cells in every column."""
    first, second = make_rows(130, seed=1), make_rows(110, seed=3)
    second.loc[90:, "zone"] = "late zone"
    write_split(folder, "train-a", first)
    write_split(folder, "train-b", second)
    write_split(folder, "train-c", second.iloc[:0])
    return tabular_model.split_files(folder, "train")


@pytest.mark.parametrize("extra", [False, True], ids=["own categories", "every host's"])
def test_replayed_chunks_are_the_chunks_parsed_from_the_files(tmp_path: Path, extra: bool) -> None:
    files = train_parts(tmp_path / "train")
    scan = tabular_model.scan_train(files, SCHEMA, CHUNK, every_cell=False)
    categories = {
        name: sorted([*values, ELSEWHERE]) if extra else values
        for name, values in scan.categories.items()
    }
    with tabular_model.chunk_cache(SCHEMA, tmp_path) as cache:
        assert tabular_model.scan_train(files, SCHEMA, CHUNK, cache=cache) == scan
        replayed = list(cache.chunks(categories)())
        parsed = list(tabular_model._encoded_chunks(files, SCHEMA, categories, CHUNK)())

    assert "late zone" in scan.categories["zone"]
    assert len(replayed) == len(parsed) == 7  # 4 + 3 chunks; the header-only file has none
    for (features, labels), (expected_features, expected_labels) in zip(
        replayed, parsed, strict=True
    ):
        pd.testing.assert_frame_equal(features, expected_features, check_exact=True)
        assert labels.dtype == expected_labels.dtype
        np.testing.assert_array_equal(labels, expected_labels)
        for name in ("contract", "zone"):
            codes, expected = features[name].cat.codes, expected_features[name].cat.codes
            assert codes.dtype == expected.dtype
            np.testing.assert_array_equal(codes, expected)


@dataclass
class Spied:
    written: list[Path] = field(default_factory=list)
    """The folders that chunks were written to."""
    chunks: int = 0
    """How many chunks were written."""
    replayed: list[tuple[Path, int]] = field(default_factory=list)
    """Each folder the matrix read chunks from, and how many chunk files it held then."""


def spy(monkeypatch: pytest.MonkeyPatch) -> Spied:
    spied = Spied()
    add, chunks = ChunkCache.add, ChunkCache.chunks

    def spy_add(self: ChunkCache, frame: pd.DataFrame, labels: Any) -> None:
        add(self, frame, labels)
        spied.chunks += 1
        if self.folder not in spied.written:
            spied.written.append(self.folder)

    def spy_chunks(self: ChunkCache, categories: Any) -> Any:
        spied.replayed.append((self.folder, len(list(self.folder.glob("chunk-*.npy")))))
        return chunks(self, categories)

    monkeypatch.setattr(ChunkCache, "add", spy_add)
    monkeypatch.setattr(ChunkCache, "chunks", spy_chunks)
    monkeypatch.setattr(tabular_model, "CHUNK_ROWS", CHUNK)
    return spied


def splits_of(root: Path, train: Callable[[Path], object] = train_parts) -> tuple[Path, Path]:
    train(root / "train")
    validation = write_split(root / "validation", "validation", make_rows(80, seed=2))
    return root / "train", validation


def scratch_folders(parent: Path) -> list[Path]:
    return sorted(parent.glob(f"{tabular_model.SCRATCH_PREFIX}*"))


@contextlib.contextmanager
def no_cache(schema: Any, scratch_dir: Path | None) -> Iterator[None]:
    yield None


def test_training_writes_the_model_it_wrote_when_it_parsed_every_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spied = spy(monkeypatch)
    splits = splits_of(tmp_path)
    assert train_main(tmp_path, splits, HYPERPARAMETERS, model_dir=tmp_path / "cached") == 0
    # The cache off: the matrix's every pass parses the files, as before the cache.
    monkeypatch.setattr(tabular_model, "chunk_cache", no_cache)
    assert train_main(tmp_path, splits, HYPERPARAMETERS, model_dir=tmp_path / "parsed") == 0

    assert [count for _, count in spied.replayed] == [7]  # the first run only

    for name in (tabular_model.MODEL_FILE, tabular_model.MODEL_SCHEMA_FILE):
        assert (tmp_path / "cached" / name).read_bytes() == (
            tmp_path / "parsed" / name
        ).read_bytes()


def test_the_scratch_folder_beside_the_model_is_removed_after_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spied = spy(monkeypatch)
    splits = splits_of(tmp_path)
    (tmp_path / "out").mkdir()

    assert train_main(tmp_path, splits, QUICK, model_dir=tmp_path / "out" / "model") == 0

    # In the model folder's parent, holding the 7 chunks when the matrix read them.
    assert [(folder.parent, count) for folder, count in spied.replayed] == [(tmp_path / "out", 7)]
    assert spied.written == [spied.replayed[0][0]]
    assert not spied.written[0].exists()
    assert not scratch_folders(tmp_path / "out")


def bad_number_in_a_late_chunk(folder: Path) -> None:
    second = make_rows(110, seed=3).astype({"tenure": object})
    second.loc[95, "tenure"] = "abc"
    write_split(folder, "train-a", make_rows(130, seed=1))
    write_split(folder, "train-b", second)


def one_class(folder: Path) -> None:
    rows = make_rows(130, seed=1)
    rows["churned"] = 0
    write_split(folder, "train", rows)


@pytest.mark.parametrize(
    ("train", "message", "written"),
    [
        # Found as its chunk is parsed, once the first file's 4 chunks and 2 of the second
        # file's were kept.
        (
            bad_number_in_a_late_chunk,
            "train-b.csv: row 96 (line 97), column 'tenure': 'abc' is not a number",
            6,
        ),
        # Found once every chunk is kept, before the matrix reads them.
        (one_class, "the train split needs rows of both classes", 4),
    ],
    ids=["bad number", "one class"],
)
def test_the_scratch_folder_is_removed_when_training_fails(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    train: Callable[[Path], None],
    message: str,
    written: int,
) -> None:
    spied = spy(monkeypatch)

    assert train_main(tmp_path, splits_of(tmp_path, train), QUICK) == 1

    assert message in capsys.readouterr().err
    assert spied.chunks == written
    assert len(spied.written) == 1
    assert spied.replayed == []
    assert not spied.written[0].exists()
    assert not scratch_folders(tmp_path)
    assert not (tmp_path / "model").exists()


def test_a_given_scratch_folder_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spied = spy(monkeypatch)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    splits = splits_of(tmp_path, one_class)

    assert train_main(tmp_path, splits, QUICK, f"--scratch-dir={scratch}") == 1

    assert "needs rows of both classes" in capsys.readouterr().err
    assert [folder.parent for folder in spied.written] == [scratch]
    assert list(scratch.iterdir()) == []


def test_a_scratch_folder_that_does_not_exist_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        train_main(tmp_path, splits_of(tmp_path), QUICK, f"--scratch-dir={tmp_path / 'nowhere'}")

    assert exited.value.code == 2
    assert "--scratch-dir: 'nowhere' is not a folder" in capsys.readouterr().err.replace(
        str(tmp_path) + "/", ""
    )


def test_the_system_temporary_folder_serves_when_the_folder_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when the model folder's parent does not exist yet (the model folder is made later)."""
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system))

    with tabular_model.chunk_cache(SCHEMA, tmp_path / "new") as cache:
        assert cache.folder.parent == system
        assert cache.folder.name.startswith(tabular_model.SCRATCH_PREFIX)

    assert list(system.iterdir()) == []
    assert not (tmp_path / "new").exists()
