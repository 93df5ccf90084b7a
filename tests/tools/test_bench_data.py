"""tools/bench_data.py: its synthetic data, its measurement and its table, on tiny inputs (the
bench itself takes minutes and runs only through `make bench-data`)."""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline_code import preprocess
from tests.tools.scripts import import_script

bench_data = import_script("bench_data")


def test_the_data_is_deterministic_with_a_learnable_label_gaps_and_categories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_data, "CHUNK_ROWS", 700)  # several chunks
    spec = bench_data.DataSpec(rows=2_000, features=4, categorical=2, missing=0.1, seed=3)

    first = bench_data.dataset(spec, tmp_path / "a")
    second = bench_data.dataset(spec, tmp_path / "b")

    assert first.read_bytes() == second.read_bytes()
    frame = pd.read_csv(first)
    assert list(frame.columns) == ["label", "x0", "x1", "x2", "x3", "c0", "c1"]
    assert len(frame) == 2_000
    assert set(frame["label"]) == {0, 1}
    assert frame["label"].notna().all()
    assert 0.05 < frame.drop(columns="label").isna().to_numpy().mean() < 0.15
    assert set(frame["c0"].dropna()) <= set(bench_data.CATEGORIES)
    # The label follows the features: far from independent of the first one.
    assert abs(np.corrcoef(frame["x0"].fillna(0), frame["label"])[0, 1]) > 0.1


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    paths = [
        bench_data.dataset(bench_data.DataSpec(rows=50, features=2, seed=seed), tmp_path)
        for seed in (1, 2)
    ]
    assert paths[0] != paths[1]
    assert paths[0].read_bytes() != paths[1].read_bytes()


def test_a_step_is_measured_in_its_own_process(tmp_path: Path) -> None:
    allocate = "import time; block = bytearray(200 * 1024 * 1024); time.sleep(0.05)"

    seconds, peak_mb = bench_data.measure([sys.executable, "-c", allocate], tmp_path / "log")

    assert seconds >= 0.05
    assert peak_mb > 200
    # Linux keeps the high-water mark across fork + exec: a child never reads below the
    # parent's size at the fork (a big pytest worker here; the bench's own process is small).
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < max(400, parent_mb + 50)


def test_a_failed_step_stops_the_bench_naming_its_log(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"exited 3; see .*log"):
        bench_data.measure([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "log")


def test_the_table_has_rows_per_second_totals_and_ratios() -> None:
    def size(rows: int, scale: float) -> list[object]:
        steps = [
            bench_data.Measurement(rows, step, seconds * scale, peak * scale, boosting * scale)
            for step, seconds, peak, boosting in (
                ("preprocess", 10.0, 800.0, 0.0),
                ("train", 20.0, 1000.0, 12.5),
                ("evaluate", 5.0, 400.0, 0.0),
            )
        ]
        return [*steps, bench_data.total(steps)]

    measurements = size(1_000_000, 1.0) + size(4_000_000, 4.0)

    table = bench_data.format_table(measurements)
    lines = table.splitlines()
    assert lines[1].split() == ["1,000,000", "preprocess", "10.0", "-", "100,000", "800"]
    assert lines[2].split() == ["1,000,000", "train", "20.0", "12.5", "50,000", "1,000"]
    assert lines[4].split() == ["1,000,000", "total", "35.0", "12.5", "28,571", "1,000"]
    ratios = bench_data.format_ratios(measurements)
    assert ratios.splitlines()[0] == "4,000,000 / 1,000,000 rows (4x the data):"
    assert "  total      time x4.00  memory x4.00" in ratios
    assert bench_data.format_ratios(measurements[:4]) == ""


def test_the_boosting_time_is_read_from_the_train_step_s_summary() -> None:
    summary = (
        "Trained 125 trees on 699897 rows (best iteration 124); decision threshold 0.400688 "
        "(maximises F1); wrote model.tar.gz; boosting took 20.6 s\n      done in 31.2 s"
    )
    assert bench_data.boosting_seconds(summary) == 20.6
    assert bench_data.boosting_seconds("[1/3] Preprocess\n      done in 9.9 s") == 0.0


def test_a_ragged_row_deep_in_the_input_is_named_by_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = bench_data.dataset(bench_data.DataSpec(rows=300, features=3, seed=5), tmp_path)
    broken = tmp_path / "broken.csv"
    bench_data.break_row(source, 250, broken)
    # Preprocess's own scan, in this process: what the bench looks for in its output.
    (problem,) = preprocess._scan_file(broken)[1]
    assert "line 251 has 5" in problem
    with pytest.raises(ValueError, match="fewer than --bad-row 400"):
        bench_data.break_row(source, 400, tmp_path / "short.csv")

    # The check runs the step (here a stand-in that prints that problem) and reads its output.
    def step(text: str) -> Any:
        command = [sys.executable, "-c", f"print({text!r}); raise SystemExit(1)"]
        return lambda *_: command

    monkeypatch.setattr(bench_data, "step_command", step(problem))
    assert bench_data.bad_row_check(source, 250, tmp_path)[0]
    monkeypatch.setattr(bench_data, "step_command", step("line 250 has 5"))
    assert not bench_data.bad_row_check(source, 250, tmp_path)[0]
