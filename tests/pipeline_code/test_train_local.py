"""train_local: the local stand-in for the built-in XGBoost algorithm."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from pipeline_code import train_local
from pipeline_code.train_local import HyperparameterError, validate_hyperparameters

FEATURES = 4


def write_channel(folder: Path, name: str, rows: int, seed: int, *, noise: bool = False) -> Path:
    """Headerless, label-first CSV, as preprocess writes it."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, FEATURES))
    labels = rng.integers(0, 2, rows) if noise else (features[:, 0] + features[:, 1] > 0)
    data = np.column_stack([labels.astype(int), features])
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / f"{name}.csv", data, delimiter=",", fmt=["%d"] + ["%.6f"] * FEATURES)
    return folder


@pytest.fixture
def channels(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_channel(tmp_path / "train", "train", 300, seed=1),
        write_channel(tmp_path / "validation", "validation", 100, seed=2),
    )


def write_hyperparameters(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(json.dumps(values))
    return path


def train(tmp_path: Path, channels: tuple[Path, Path], hyperparameters: Path) -> int:
    return train_local.main(
        [
            f"--train-dir={channels[0]}",
            f"--validation-dir={channels[1]}",
            f"--model-dir={tmp_path / 'model'}",
            f"--hyperparameters={hyperparameters}",
        ]
    )


def load_archived_booster(archive: Path) -> tuple[list[str], xgb.Booster]:
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        member = tar.extractfile("xgboost-model")
        assert member is not None
        booster = xgb.Booster()
        booster.load_model(bytearray(member.read()))
    return names, booster


def test_writes_model_tar_gz_with_only_xgboost_model(
    tmp_path: Path, channels: tuple[Path, Path]
) -> None:
    assert train(tmp_path, channels, train_local.DEFAULT_HYPERPARAMETERS) == 0

    assert [p.name for p in (tmp_path / "model").iterdir()] == ["model.tar.gz"]
    names, booster = load_archived_booster(tmp_path / "model" / "model.tar.gz")
    assert names == ["xgboost-model"]
    assert booster.num_features() == FEATURES
    # The file is XGBoost's JSON model format, which load_model detects by content.
    with tarfile.open(tmp_path / "model" / "model.tar.gz") as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        assert json.loads(member.read())["learner"]["objective"]["name"] == "binary:logistic"


def test_num_round_sets_the_number_of_trees(tmp_path: Path, channels: tuple[Path, Path]) -> None:
    hyperparameters = write_hyperparameters(
        tmp_path / "hp.json", {"objective": "binary:logistic", "num_round": 7, "max_depth": 2}
    )
    assert train(tmp_path, channels, hyperparameters) == 0

    _, booster = load_archived_booster(tmp_path / "model" / "model.tar.gz")
    assert booster.num_boosted_rounds() == 7
    # The other hyperparameters reach the booster: no tree is deeper than max_depth.
    depths = [
        len(line) - len(line.lstrip("\t"))
        for tree in booster.get_dump()
        for line in tree.splitlines()
    ]
    assert max(depths) == 2


def test_early_stopping_watches_validation_and_keeps_the_best_round(tmp_path: Path) -> None:
    # Labels are noise, so the validation loss stops improving after a few rounds.
    noisy = (
        write_channel(tmp_path / "train", "train", 300, seed=1, noise=True),
        write_channel(tmp_path / "validation", "validation", 100, seed=2, noise=True),
    )
    hyperparameters = write_hyperparameters(
        tmp_path / "hp.json",
        {
            "objective": "binary:logistic",
            "num_round": 300,
            "early_stopping_rounds": 5,
            "eval_metric": "auc,logloss",
            "eta": 0.3,
        },
    )
    assert train(tmp_path, noisy, hyperparameters) == 0

    _, booster = load_archived_booster(tmp_path / "model" / "model.tar.gz")
    assert booster.num_boosted_rounds() < 300
    assert booster.num_boosted_rounds() == int(booster.attr("best_iteration") or -1) + 1


def test_training_is_deterministic(tmp_path: Path, channels: tuple[Path, Path]) -> None:
    assert train(tmp_path, channels, train_local.DEFAULT_HYPERPARAMETERS) == 0
    first_bytes = (tmp_path / "model" / "model.tar.gz").read_bytes()
    assert train(tmp_path, channels, train_local.DEFAULT_HYPERPARAMETERS) == 0
    assert (tmp_path / "model" / "model.tar.gz").read_bytes() == first_bytes
    assert first_bytes[4:8] == bytes(4)  # gzip header MTIME: no timestamp, reproducible bytes


def test_booster_params_map_like_the_built_in_container() -> None:
    values = validate_hyperparameters(
        {
            "objective": "binary:logistic",
            "num_round": "50",
            "early_stopping_rounds": 5,
            "eval_metric": "auc, logloss",
            "learning_rate": "0.2",
            "seed": 3,
        }
    )
    assert values["num_round"] == 50
    assert train_local.booster_params(values) == {
        "objective": "binary:logistic",
        "eval_metric": ["auc", "logloss"],
        "eta": 0.2,
        "seed": 3,
    }


def test_committed_hyperparameters_are_valid_and_flat() -> None:
    raw = json.loads(train_local.DEFAULT_HYPERPARAMETERS.read_text())
    assert all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in raw.values())
    values = train_local.load_hyperparameters(train_local.DEFAULT_HYPERPARAMETERS)
    assert values["objective"] == "binary:logistic"
    assert int(values["num_round"]) >= 1


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"max_dept": 5}, "unknown hyperparameter 'max_dept' (did you mean 'max_depth'?)"),
        ({"max_depth": "deep"}, "'max_depth' must be a whole number in [0, inf), got 'deep'"),
        ({"max_depth": 2.5}, "'max_depth' must be a whole number"),
        ({"eta": 1.5}, "'eta' must be a number in [0, 1], got 1.5"),
        ({"subsample": 0}, "'subsample' must be a number in (0, 1]"),
        ({"gamma": True}, "'gamma' must be a number"),
        ({"gamma": {"value": 1}}, "'gamma' must be a number"),
        ({"eta": "nan"}, "'eta' must be a number in [0, 1]"),
        # Too large for a float: refused, not an OverflowError traceback.
        ({"eta": 10**400}, "'eta' must be a number in [0, 1]"),
        ({"max_depth": 10**400}, "'max_depth' must be a whole number in [0, inf)"),
        ({"objective": "reg:squarederror"}, "'objective' must be one of 'binary:logistic'"),
        ({"eval_metric": "f1"}, "'eval_metric' must be a comma-separated list"),
        ({"eval_metric": "error@x"}, "'eval_metric' must be"),
        ({"early_stopping_rounds": 10}, "'early_stopping_rounds' needs 'eval_metric'"),
        (
            {"eta": 0.1, "learning_rate": 0.2},
            "'eta' and 'learning_rate' are the same hyperparameter",
        ),
        ({"csv_weights": 1}, "'csv_weights' is a built-in XGBoost hyperparameter that train_local"),
    ],
)
def test_bad_hyperparameters_are_refused_naming_the_key(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(HyperparameterError) as raised:
        validate_hyperparameters({"objective": "binary:logistic", "num_round": 10, **values})
    assert fragment in str(raised.value)


def test_required_keys_and_object_shape() -> None:
    with pytest.raises(HyperparameterError, match="'num_round' is required"):
        validate_hyperparameters({"objective": "binary:logistic"})
    with pytest.raises(HyperparameterError, match="'objective' is required"):
        validate_hyperparameters({"num_round": 10})
    with pytest.raises(HyperparameterError, match="JSON object"):
        validate_hyperparameters([["num_round", 10]])


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"num_round": 5, "objective": "binary:logistic", "max_dept": 3}', "'max_dept'"),
        ('{"num_round": 5,', "is not valid JSON"),
    ],
)
def test_main_rejects_a_bad_hyperparameters_file_and_writes_no_model(
    content: str,
    fragment: str,
    tmp_path: Path,
    channels: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text(content)

    assert train(tmp_path, channels, hyperparameters) == 1

    error = capsys.readouterr().err
    assert str(hyperparameters) in error
    assert fragment in error
    assert not (tmp_path / "model").exists()


def test_labels_other_than_0_and_1_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "train"
    bad.mkdir()
    (bad / "train.csv").write_text("2,0.5,0.1\n0,0.2,0.3\n")
    good = write_channel(tmp_path / "validation", "validation", 50, seed=3)

    assert train(tmp_path, (bad, good), train_local.DEFAULT_HYPERPARAMETERS) == 1
    assert "must be 0 or 1" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"booster": 1}, "'booster' must be one of 'gbtree', 'gblinear', 'dart', got 1"),
        (
            {"eval_metric": 1},
            "'eval_metric' must be a comma-separated list of auc, aucpr, logloss, error or "
            "error@<t>, got 1",
        ),
        (
            {"eval_metric": "auc,error@1.5"},
            "'eval_metric' must be a comma-separated list of auc, aucpr, logloss, error or "
            "error@<t>, got 'auc,error@1.5'",
        ),
        ({"gamma": None}, "'gamma' must be a number in [0, inf), got None"),
        ({"gamma": "inf"}, "'gamma' must be a number in [0, inf), got 'inf'"),
        ({"max_depth": -1}, "'max_depth' must be a whole number in [0, inf), got -1"),
        ({"max_depth": "1e3"}, "'max_depth' must be a whole number in [0, inf), got '1e3'"),
        ({"verbosity": 4}, "'verbosity' must be a whole number in [0, 3], got 4"),
        ({"scale_pos_weight": 0}, "'scale_pos_weight' must be a number in (0, inf), got 0"),
        ({"base_score": 1}, "'base_score' must be a number in (0, 1), got 1"),
        (
            {"seed": 2**31 - 1},
            "'seed' must be a whole number in (-2.14748e+09, 2.14748e+09), got 2147483647",
        ),
        ({"zzz": 1}, "unknown hyperparameter 'zzz'"),
    ],
)
def test_each_refusal_message_in_full(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HyperparameterError) as raised:
        validate_hyperparameters({"objective": "binary:logistic", "num_round": 10, **values})
    assert str(raised.value) == f"invalid hyperparameters: {message}"


def test_every_problem_is_reported_in_order() -> None:
    with pytest.raises(HyperparameterError) as raised:
        validate_hyperparameters(
            {
                "objective": "multi:softmax",
                "csv_weights": 1,
                "learning_rate": 2,
                "max_dept": 5,
                "eta": 0.1,
                "early_stopping_rounds": 3,
            }
        )
    assert str(raised.value) == (
        "invalid hyperparameters: "
        "'objective' must be one of 'binary:logistic', got 'multi:softmax'; "
        "'csv_weights' is a built-in XGBoost hyperparameter that train_local does not support; "
        "'learning_rate' must be a number in [0, 1], got 2; "
        "unknown hyperparameter 'max_dept' (did you mean 'max_depth'?); "
        "'learning_rate' and 'eta' are the same hyperparameter; set one; "
        "'num_round' is required; "
        "'early_stopping_rounds' needs 'eval_metric' (the metric to watch)"
    )
    with pytest.raises(HyperparameterError) as raised:
        validate_hyperparameters({})
    assert str(raised.value) == (
        "invalid hyperparameters: 'num_round' is required; 'objective' is required"
    )
    with pytest.raises(HyperparameterError) as raised:
        validate_hyperparameters(None)
    assert (
        str(raised.value) == "hyperparameters must be a JSON object of name -> value, got NoneType"
    )


def test_values_are_parsed_to_the_type_of_their_range() -> None:
    values = validate_hyperparameters(
        {
            "objective": "binary:logistic",
            "num_round": " 50 ",
            "reg_alpha": 1,
            "gamma": "0.5",
            "seed": -3,
            "booster": "dart",
            "eval_metric": " error@0.5 ,auc",
            "early_stopping_rounds": 2,
        }
    )
    assert values == {
        "objective": "binary:logistic",
        "num_round": 50,
        "alpha": 1.0,
        "gamma": 0.5,
        "seed": -3,
        "booster": "dart",
        "eval_metric": "error@0.5,auc",
        "early_stopping_rounds": 2,
    }
    assert [type(value) for value in values.values()] == [
        str,
        int,
        float,
        float,
        int,
        str,
        str,
        int,
    ]


@pytest.mark.parametrize(
    ("spec", "description"),
    [
        (train_local._Spec("int"), "a whole number"),
        (train_local._Spec("float"), "a number"),
        (train_local.SPECS["eta"], "a number in [0, 1]"),
        (train_local.SPECS["subsample"], "a number in (0, 1]"),
        (train_local.SPECS["base_score"], "a number in (0, 1)"),
        (train_local.SPECS["num_round"], "a whole number in [1, inf)"),
        (train_local.SPECS["tree_method"], "one of 'auto', 'exact', 'approx', 'hist'"),
    ],
)
def test_specs_describe_what_they_accept(spec: train_local._Spec, description: str) -> None:
    assert spec.describe() == description
