"""local_predict: scores raw rows through the serving code inside the model archive."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline_code import local_predict, tabular_model

SCHEMA = {
    "format_version": 1,
    "label_column": "label",
    "positive_class": "churned",
    "negative_class": "stayed",
    "excluded_columns": [],
    "features": [
        {"name": "tenure", "type": "numeric"},
        {"name": "plan", "type": "categorical"},
    ],
}
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": 5, "max_depth": 2, "seed": 1}


def write_split(folder: Path, split: str, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    tenure = rng.normal(size=rows)
    plan = rng.choice(["basic", "premium"], size=rows)
    label = ((tenure > 0) & (plan == "basic")).astype(int)
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"label": label, "tenure": tenure, "plan": plan})
    frame.to_csv(folder / f"{split}.csv", index=False)
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    return folder


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model archive trained by tabular_model, as make local-run leaves it."""
    root = tmp_path_factory.mktemp("local-predict")
    hyperparameters = root / "hp.json"
    hyperparameters.write_text(json.dumps(HYPERPARAMETERS))
    code = tabular_model.main(
        [
            f"--train-dir={write_split(root / 'train', 'train', 200, seed=1)}",
            f"--validation-dir={write_split(root / 'validation', 'validation', 100, seed=2)}",
            f"--model-dir={root / 'model'}",
            f"--hyperparameters={hyperparameters}",
            "--checkpoint-dir=",
            "--archive",
        ]
    )
    assert code == 0
    return root / "model" / "model.tar.gz"


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = local_predict.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prints_a_probability_and_a_label_per_row(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("plan,tenure\nbasic,2.5\npremium,-2\n,\n")

    code, out, err = run(capsys, "--input", rows, "--model", archive)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3
    for line in lines:
        probability, label = line.split(",")
        assert 0 <= float(probability) <= 1
        assert len(probability.split(".")[1]) == 6
        assert label in ("churned", "stayed")
    assert lines[0].endswith(",churned")
    assert lines[1].endswith(",stayed")


def test_scores_like_the_model_loaded_directly(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("1.5,basic\n-0.5,premium\n0.1,unknown\n")
    model = tabular_model.model_fn(str(archive.parent))
    expected, _ = tabular_model.output_fn(
        tabular_model.predict_fn(tabular_model.input_fn(rows.read_bytes(), "text/csv"), model),
        "text/csv",
    )
    code, out, _ = run(capsys, "--input", rows, "--model", archive)
    assert code == 0
    assert out == expected


def _copy_archive(source: Path, target: Path, changes: dict[str, bytes | None]) -> Path:
    """The archive with members replaced (bytes) or dropped (None)."""
    members: dict[str, bytes] = {}
    with tarfile.open(source) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member) if member.isfile() else None
            if data is not None:
                members[member.name] = data.read()
    for name, content in changes.items():
        if content is None:
            members.pop(name)
        else:
            members[name] = content
    tabular_model.write_tar_gz(target, members)
    return target


def test_the_code_that_scores_is_the_archive_s_own(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = (archive.parent / "code" / "inference.py").read_text()
    marked = code.replace(
        "    return buffer.getvalue(), CSV_TYPE",
        '    return "archived code\\n" + buffer.getvalue(), CSV_TYPE',
    )
    assert marked != code
    tampered = _copy_archive(
        archive, tmp_path / "model.tar.gz", {"code/inference.py": marked.encode()}
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("1,basic\n")

    exit_code, out, _ = run(capsys, "--input", rows, "--model", tampered)

    assert exit_code == 0
    assert out.splitlines()[0] == "archived code"
    assert len(out.splitlines()) == 2


def test_a_missing_model_says_to_run_local_run_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("1,basic\n")
    code, out, err = run(capsys, "--input", rows, "--model", tmp_path / "none" / "model.tar.gz")
    assert (code, out) == (1, "")
    assert "does not exist: run make local-run first" in err


@pytest.mark.parametrize(
    ("make_input", "fragment"),
    [
        (lambda p: p / "absent.csv", "absent.csv does not exist"),
        (lambda p: p, "is a folder; pass a CSV file"),
    ],
)
def test_a_missing_input_is_named(
    tmp_path: Path,
    archive: Path,
    capsys: pytest.CaptureFixture[str],
    make_input: Callable[[Path], Path],
    fragment: str,
) -> None:
    code, _, err = run(capsys, "--input", make_input(tmp_path), "--model", archive)
    assert code == 1
    assert fragment in err


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ("1,basic\nlots,premium\n", "row 2, column 'tenure': 'lots' is not a number"),
        ("1,basic,extra\n", "row 1 has 3 fields, expected 2 (tenure, plan)"),
        ("", "the request holds no records"),
    ],
)
def test_bad_rows_are_refused_with_the_model_s_message(
    tmp_path: Path,
    archive: Path,
    capsys: pytest.CaptureFixture[str],
    rows: str,
    fragment: str,
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(rows)
    code, out, err = run(capsys, "--input", path, "--model", archive)
    assert (code, out) == (1, "")
    assert err.startswith("local_predict: ")
    assert fragment in err


def _unsafe_archive(path: Path, member: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        if member.isfile():
            tar.addfile(member, io.BytesIO(b"x" * member.size))
        else:
            tar.addfile(member)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def _link(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        (_file("/tmp/evil"), "has an absolute path"),
        (_file("../evil"), "points outside the archive ('..')"),
        (_file("code/../../evil"), "points outside the archive ('..')"),
        (_link("code/inference.py"), "is a link or special file"),
    ],
)
def test_unsafe_archives_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], member: tarfile.TarInfo, fragment: str
) -> None:
    unsafe = _unsafe_archive(tmp_path / "model.tar.gz", member)
    rows = tmp_path / "rows.csv"
    rows.write_text("1,basic\n")
    code, _, err = run(capsys, "--input", rows, "--model", unsafe)
    assert code == 1
    assert fragment in err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not a tar file", "is not a readable tar archive"),
        (None, "has no code/inference.py"),
    ],
)
def test_unusable_archives_are_named(
    tmp_path: Path,
    archive: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    fragment: str,
) -> None:
    target = tmp_path / "model.tar.gz"
    if content is None:
        _copy_archive(archive, target, {"code/inference.py": None})
    else:
        target.write_bytes(content)
    rows = tmp_path / "rows.csv"
    rows.write_text("1,basic\n")
    code, _, err = run(capsys, "--input", rows, "--model", target)
    assert code == 1
    assert fragment in err


def test_the_imported_module_leaves_no_trace_in_sys_modules(archive: Path) -> None:
    before = set(sys.modules)
    local_predict.predict(archive, b"1,basic\n")
    assert {
        name for name in set(sys.modules) - before if name.startswith("_model_inference")
    } == set()
