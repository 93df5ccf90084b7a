"""tabular_model: hyperparameters, split reading, training, the decision threshold, checkpoints,
the model folder and archive, and the serving functions (docs/model-contract.md, sections 2-3)."""

from __future__ import annotations

import dataclasses
import gzip
import inspect
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from pipeline_code import tabular_model
from pipeline_code.tabular_model import (
    HyperparameterError,
    InputError,
    TrainingDataError,
    validate_hyperparameters,
)

SCHEMA: dict[str, Any] = {
    "format_version": 1,
    "label_column": "churned",
    "positive_class": "Yes",
    "negative_class": "No",
    "excluded_columns": ["customer_id"],
    "features": [
        {"name": "tenure", "type": "numeric"},
        {"name": "contract", "type": "categorical"},
        {"name": "zone", "type": "categorical"},
        {"name": "charges", "type": "numeric"},
    ],
}
FEATURES = [feature["name"] for feature in SCHEMA["features"]]
# "None" is a category, not a missing value; a comma and quotes need CSV quoting.
CONTRACTS = ["month", "one year", "two year", "None", 'pay "as" you, go']
# Codes that look like numbers: the schema keeps them text ("01" is not 1).
ZONES = ["01", "02", "10"]
ONLY_IN_VALIDATION = "five year"
FAST = {
    "objective": "binary:logistic",
    "num_round": 30,
    "eval_metric": "auc,logloss",
    "early_stopping_rounds": 5,
    "eta": 0.3,
    "max_depth": 3,
    "tree_method": "hist",
    "seed": 1,
}


def make_rows(rows: int, seed: int, *, noise: bool = False) -> pd.DataFrame:
    """Features with missing values in every column and a label that depends on them."""
    rng = np.random.default_rng(seed)
    tenure = rng.normal(size=rows)
    contract = rng.choice(CONTRACTS, size=rows).astype(object)
    zone = rng.choice(ZONES, size=rows).astype(object)
    charges = rng.normal(size=rows)
    signal = tenure + 1.5 * (contract == "month") - (zone == "10") + rng.normal(0, 0.3, rows)
    label = rng.integers(0, 2, rows) if noise else (signal > 0.5).astype(int)
    tenure[rng.random(rows) < 0.1] = np.nan
    contract[rng.random(rows) < 0.1] = None
    zone[rng.random(rows) < 0.1] = None
    return pd.DataFrame(
        {"churned": label, "tenure": tenure, "contract": contract, "zone": zone, "charges": charges}
    )


def write_split(
    folder: Path, split: str, frame: pd.DataFrame, schema: dict[str, Any] = SCHEMA
) -> Path:
    """A split folder as preprocess writes it: ``<split>.csv`` with a header, ``schema.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{split}.csv", index=False, lineterminator="\n")
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    return folder


def write_splits(root: Path, *, noise: bool = False, rows: int = 300) -> tuple[Path, Path]:
    validation = make_rows(rows // 2, seed=2, noise=noise)
    validation.loc[:4, "contract"] = ONLY_IN_VALIDATION
    return (
        write_split(root / "train", "train", make_rows(rows, seed=1, noise=noise)),
        write_split(root / "validation", "validation", validation),
    )


def write_hyperparameters(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def train_main(
    root: Path,
    splits: tuple[Path, Path],
    hyperparameters: dict[str, Any] | Path = FAST,
    *extra: str,
    model_dir: Path | None = None,
) -> int:
    if isinstance(hyperparameters, dict):
        hyperparameters = write_hyperparameters(root / "hp.json", hyperparameters)
    return tabular_model.main(
        [
            f"--train-dir={splits[0]}",
            f"--validation-dir={splits[1]}",
            f"--model-dir={model_dir or root / 'model'}",
            f"--hyperparameters={hyperparameters}",
            f"--failure-file={root / 'no-such-folder' / 'failure'}",
            *(extra or ("--checkpoint-dir=",)),
        ]
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder (and archive) trained once for the tests that only read it."""
    root = tmp_path_factory.mktemp("trained")
    splits = write_splits(root)
    assert train_main(root, splits, FAST, "--checkpoint-dir=", "--archive") == 0
    return root


@pytest.fixture(scope="module")
def model(trained: Path) -> tabular_model.Model:
    return tabular_model.model_fn(str(trained / "model"))


def model_schema(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "model" / "model-schema.json").read_text(encoding="utf-8")))


def load_booster(path: Path) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(path.read_bytes()))
    return booster


# --------------------------------------------------------------------------------------------
# Hyperparameters (ported from train_local)
# --------------------------------------------------------------------------------------------


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
    assert tabular_model.booster_params(values) == {
        "objective": "binary:logistic",
        "eval_metric": ["auc", "logloss"],
        "eta": 0.2,
        "seed": 3,
    }


def test_committed_hyperparameters_are_valid_and_flat() -> None:
    raw = json.loads(tabular_model.LOCAL_HYPERPARAMETERS.read_text())
    assert all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in raw.values())
    values = tabular_model.load_hyperparameters(tabular_model.LOCAL_HYPERPARAMETERS)
    assert values["objective"] == "binary:logistic"
    assert int(values["num_round"]) >= 1


def test_string_values_as_sagemaker_writes_them_parse_like_json_numbers(tmp_path: Path) -> None:
    raw = json.loads(tabular_model.LOCAL_HYPERPARAMETERS.read_text())
    as_strings = write_hyperparameters(tmp_path / "hp.json", {k: str(v) for k, v in raw.items()})
    assert all(isinstance(v, str) for v in json.loads(as_strings.read_text()).values())

    from_strings = tabular_model.load_hyperparameters(as_strings)
    from_numbers = tabular_model.load_hyperparameters(tabular_model.LOCAL_HYPERPARAMETERS)
    assert from_strings == from_numbers
    assert [type(v) for v in from_strings.values()] == [type(v) for v in from_numbers.values()]
    assert type(from_strings["num_round"]) is int
    assert type(from_strings["min_child_weight"]) is float


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
        (
            {"csv_weights": 1},
            "'csv_weights' is a built-in XGBoost hyperparameter that tabular_model",
        ),
        ({"max_cat_to_onehot": 0}, "'max_cat_to_onehot' must be a whole number in [1, inf)"),
        ({"max_cat_threshold": "many"}, "'max_cat_threshold' must be a whole number in [1, inf)"),
        (
            {"booster": "gblinear", "early_stopping_rounds": 3, "eval_metric": "auc"},
            "'early_stopping_rounds' cannot be used with booster 'gblinear'",
        ),
    ],
)
def test_bad_hyperparameters_are_refused_naming_the_key(
    values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(HyperparameterError) as raised:
        validate_hyperparameters({"objective": "binary:logistic", "num_round": 10, **values})
    assert fragment in str(raised.value)


def test_categorical_split_settings_are_accepted_as_whole_numbers() -> None:
    values = validate_hyperparameters(
        {
            "objective": "binary:logistic",
            "num_round": 10,
            "max_cat_to_onehot": "4",
            "max_cat_threshold": 32,
        }
    )
    assert (values["max_cat_to_onehot"], values["max_cat_threshold"]) == (4, 32)


def test_required_keys_and_object_shape() -> None:
    with pytest.raises(HyperparameterError, match="'num_round' is required"):
        validate_hyperparameters({"objective": "binary:logistic"})
    with pytest.raises(HyperparameterError, match="'objective' is required"):
        validate_hyperparameters({"num_round": 10})
    with pytest.raises(HyperparameterError, match="JSON object"):
        validate_hyperparameters([["num_round", 10]])


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
        "'csv_weights' is a built-in XGBoost hyperparameter that tabular_model does not support; "
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
        (tabular_model._Spec("int"), "a whole number"),
        (tabular_model._Spec("float"), "a number"),
        (tabular_model.SPECS["eta"], "a number in [0, 1]"),
        (tabular_model.SPECS["subsample"], "a number in (0, 1]"),
        (tabular_model.SPECS["base_score"], "a number in (0, 1)"),
        (tabular_model.SPECS["num_round"], "a whole number in [1, inf)"),
        (tabular_model.SPECS["tree_method"], "one of 'auto', 'exact', 'approx', 'hist'"),
    ],
)
def test_specs_describe_what_they_accept(spec: tabular_model._Spec, description: str) -> None:
    assert spec.describe() == description


@pytest.mark.parametrize(
    ("setting", "named"),
    [({"tree_method": "exact"}, "tree_method 'exact'"), ({"booster": "gblinear"}, "'gblinear'")],
)
def test_settings_without_categorical_support_are_refused_naming_the_features(
    setting: dict[str, str], named: str
) -> None:
    hyperparameters = validate_hyperparameters({"objective": "binary:logistic", "num_round": 5})
    with pytest.raises(HyperparameterError) as raised:
        tabular_model.check_hyperparameters_for_features({**hyperparameters, **setting}, SCHEMA)
    assert named in str(raised.value)
    assert "'contract', 'zone'" in str(raised.value)
    assert "'hist', 'approx' or 'auto'" in str(raised.value)
    numeric_only = {**SCHEMA, "features": [{"name": "tenure", "type": "numeric"}]}
    tabular_model.check_hyperparameters_for_features({**hyperparameters, **setting}, numeric_only)


def test_main_refuses_exact_with_categorical_features_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    splits = write_splits(tmp_path)
    assert train_main(tmp_path, splits, {**FAST, "tree_method": "exact"}) == 1
    assert "tree_method 'exact' cannot train the categorical feature(s)" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"num_round": 5, "objective": "binary:logistic", "max_dept": 3}', "'max_dept'"),
        ('{"num_round": 5,', "is not valid JSON"),
    ],
)
def test_main_rejects_a_bad_hyperparameters_file_and_writes_no_model(
    content: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    splits = write_splits(tmp_path)
    hyperparameters = tmp_path / "bad.json"
    hyperparameters.write_text(content)

    assert train_main(tmp_path, splits, hyperparameters) == 1

    error = capsys.readouterr().err
    assert str(hyperparameters) in error
    assert fragment in error
    assert not (tmp_path / "model").exists()


def test_a_failure_is_written_where_sagemaker_reads_the_failure_reason(tmp_path: Path) -> None:
    splits = write_splits(tmp_path)
    (tmp_path / "output").mkdir()
    code = tabular_model.main(
        [
            f"--train-dir={splits[0]}",
            f"--validation-dir={splits[1]}",
            f"--model-dir={tmp_path / 'model'}",
            f"--hyperparameters={tmp_path / 'absent.json'}",
            f"--failure-file={tmp_path / 'output' / 'failure'}",
        ]
    )
    assert code == 1
    assert "absent.json does not exist" in (tmp_path / "output" / "failure").read_text()


# --------------------------------------------------------------------------------------------
# Reading the splits
# --------------------------------------------------------------------------------------------


def test_read_split_types_columns_by_the_schema(tmp_path: Path) -> None:
    folder = write_split(tmp_path / "train", "train", make_rows(40, seed=1))
    split = tabular_model.read_split(folder, "train")

    assert list(split.features.columns) == FEATURES
    assert split.features["tenure"].dtype == np.float32
    assert split.features["tenure"].isna().any()
    # Text stays text: "01" is not the number 1, and "None" is a category, not a missing value.
    zones = set(split.features["zone"].dropna())
    assert zones <= set(ZONES)
    assert "01" in zones
    assert "None" in set(split.features["contract"].dropna())
    assert split.features["contract"].isna().any()
    assert split.labels.dtype == np.float32
    assert set(split.labels.tolist()) == {0.0, 1.0}


def _replace_csv(old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / "train.csv"
        path.write_text(path.read_text().replace(old, new, 1))

    return change


def _set_cell(row: int, column: str, value: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        frame = pd.read_csv(folder / "train.csv", dtype=str, keep_default_na=False)
        frame.loc[row, column] = value
        frame.to_csv(folder / "train.csv", index=False)

    return change


def _write(name: str, text: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        (folder / name).write_text(text)

    return change


def _schema_with(**changes: Any) -> Callable[[Path], None]:
    return _write("schema.json", json.dumps({**SCHEMA, **changes}))


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda f: (f / "train.csv").rename(f / "data.csv"), ["no train.csv in", "found data.csv"]),
        (lambda f: (f / "schema.json").unlink(), ["schema.json does not exist"]),
        (_write("schema.json", "{not json"), ["schema.json is not valid JSON"]),
        (_schema_with(format_version=2), ["format_version must be 1, got 2"]),
        (_schema_with(positive_class=1), ["'positive_class' must be a string"]),
        (
            _schema_with(features=[{"name": "tenure", "type": "float"}]),
            ["features[0] must be an object with a 'name' and a 'type' of numeric or categorical"],
        ),
        (
            _schema_with(features=[{"name": "a", "type": "numeric"}] * 2),
            ["feature names must be unique; repeated: 'a'"],
        ),
        (
            _schema_with(features=[{"name": "churned", "type": "numeric"}]),
            ["the label column 'churned' is also listed as a feature"],
        ),
        (
            _replace_csv(
                "churned,tenure,contract,zone,charges", "churned,tenure,zone,contract,charges"
            ),
            ["header does not match schema.json (columns out of order)"],
        ),
        (
            _replace_csv(
                "churned,tenure,contract,zone,charges", "churned,tenure,plan,zone,charges"
            ),
            ["missing ['contract'], unexpected ['plan']"],
        ),
        (
            _set_cell(2, "churned", "2"),
            ["must be 0 or 1; row 3 holds 2.0 (1 such rows in rows 1-40)"],
        ),
        (_set_cell(4, "churned", ""), ["row 5 holds nothing"]),
        (_set_cell(6, "tenure", "abc"), ["row 7 (line 8), column 'tenure': 'abc' is not a number"]),
        (_set_cell(0, "churned", "yes"), ["row 1 (line 2), column 'churned': 'yes'"]),
        (_set_cell(1, "charges", "1e39"), ["column 'charges' holds an infinite number"]),
        (_write("train.csv", ""), ["train.csv is empty"]),
        (_write("train.csv", "churned,tenure,contract,zone,charges\n"), ["header but no rows"]),
        (
            _write("train.csv", "churned,tenure,contract,zone,charges\n1,2,a,b,3,4\n"),
            ["train.csv, line 2: 6 fields where the header has 5"],
        ),
        (
            _write("train.csv", "churned,tenure,contract,zone,charges\n1,2,a,b,3\n0,2,a,b\n"),
            ["train.csv, line 3: 4 fields where the header has 5"],
        ),
    ],
)
def test_unusable_splits_are_refused_naming_the_file(
    tmp_path: Path, change: Callable[[Path], None], fragments: list[str]
) -> None:
    folder = write_split(tmp_path / "train", "train", make_rows(40, seed=1))
    change(folder)
    with pytest.raises(TrainingDataError) as raised:
        tabular_model.read_split(folder, "train")
    message = str(raised.value)
    assert str(folder) in message
    for fragment in fragments:
        assert fragment in message


def test_training_refuses_a_single_class_and_differing_schemas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_class = make_rows(50, seed=1).assign(churned=0)
    splits = (
        write_split(tmp_path / "train", "train", one_class),
        write_split(tmp_path / "validation", "validation", make_rows(50, seed=2)),
    )
    assert train_main(tmp_path, splits) == 1
    assert "the train split needs rows of both classes" in capsys.readouterr().err

    write_split(splits[0], "train", make_rows(50, seed=1))
    write_split(splits[1], "validation", make_rows(50, seed=2), {**SCHEMA, "positive_class": "Y"})
    assert train_main(tmp_path, splits) == 1
    assert "differ; every split of one preprocess run has the same schema" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "model").exists()


# --------------------------------------------------------------------------------------------
# Training and the model folder
# --------------------------------------------------------------------------------------------


def test_the_summary_says_how_long_boosting_took(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    splits = (
        write_split(tmp_path / "train", "train", make_rows(80, seed=1)),
        write_split(tmp_path / "validation", "validation", make_rows(40, seed=2)),
    )
    assert train_main(tmp_path, splits) == 0
    summary = capsys.readouterr().out
    # `make bench-data` reads it there (tools/bench_data.py boosting_seconds).
    found = re.search(r"; boosting took ([0-9.]+) s$", summary.strip())
    assert found is not None, summary
    assert float(found.group(1)) >= 0


def test_model_folder_holds_booster_schema_and_its_own_code(trained: Path) -> None:
    folder = trained / "model"
    assert sorted(p.name for p in folder.iterdir()) == [
        "code",
        "model-schema.json",
        "model.tar.gz",
        "xgboost-model",
    ]
    # XGBoost's JSON format under a name without extension.
    assert json.loads((folder / "xgboost-model").read_bytes())["learner"]["objective"]["name"] == (
        "binary:logistic"
    )
    code = Path(tabular_model.__file__).read_bytes()
    assert (folder / "code" / "inference.py").read_bytes() == code

    schema = model_schema(trained)
    assert {k: schema[k] for k in SCHEMA} == SCHEMA
    # Sorted, as text, from the train split only.
    assert schema["categories"] == {"contract": sorted(CONTRACTS), "zone": ZONES}
    assert schema["threshold_metric"] == "f1"
    assert 0 < schema["decision_threshold"] < 1
    assert schema["hyperparameters"] == validate_hyperparameters(FAST)
    booster = load_booster(folder / "xgboost-model")
    assert schema["best_iteration"] == booster.num_boosted_rounds() - 1
    assert booster.feature_names == FEATURES
    assert booster.feature_types == ["float", "c", "c", "float"]


def test_archive_holds_the_model_files_as_sagemaker_archives_the_folder(trained: Path) -> None:
    folder = trained / "model"
    with tarfile.open(folder / "model.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == ["code", "code/inference.py", "model-schema.json", "xgboost-model"]
        assert members["code"].isdir()
        for name in ("code/inference.py", "model-schema.json", "xgboost-model"):
            member = tar.extractfile(name)
            assert member is not None
            assert member.read() == (folder / name).read_bytes()
    assert (folder / "model.tar.gz").read_bytes()[4:8] == bytes(4)  # gzip MTIME 0


def test_training_twice_gives_the_same_archive_bytes(tmp_path: Path, trained: Path) -> None:
    splits = (trained / "train", trained / "validation")
    assert train_main(tmp_path, splits, FAST, "--checkpoint-dir=", "--archive") == 0
    archive = (tmp_path / "model" / "model.tar.gz").read_bytes()
    assert archive == (trained / "model" / "model.tar.gz").read_bytes()


def test_without_archive_flag_only_the_folder_is_written(tmp_path: Path, trained: Path) -> None:
    splits = (trained / "train", trained / "validation")
    assert train_main(tmp_path, splits, {**FAST, "num_round": 3}) == 0
    assert not (tmp_path / "model" / "model.tar.gz").exists()
    assert (tmp_path / "model" / "xgboost-model").is_file()


def test_num_round_sets_the_trees_and_parameters_reach_the_booster(
    tmp_path: Path, trained: Path
) -> None:
    splits = (trained / "train", trained / "validation")
    values = {"objective": "binary:logistic", "num_round": 7, "max_depth": 2}
    assert train_main(tmp_path, splits, values) == 0

    booster = load_booster(tmp_path / "model" / "xgboost-model")
    assert booster.num_boosted_rounds() == 7
    assert model_schema(tmp_path)["best_iteration"] == 6
    depths = [
        len(line) - len(line.lstrip("\t"))
        for tree in booster.get_dump()
        for line in tree.splitlines()
    ]
    assert max(depths) == 2


def test_early_stopping_watches_validation_and_keeps_the_best_round(tmp_path: Path) -> None:
    # Labels are noise, so the validation loss stops improving after a few rounds.
    splits = write_splits(tmp_path, noise=True)
    values = {**FAST, "num_round": 300, "eval_metric": "auc,logloss"}
    assert train_main(tmp_path, splits, values) == 0

    booster = load_booster(tmp_path / "model" / "xgboost-model")
    assert booster.num_boosted_rounds() < 300
    assert booster.num_boosted_rounds() == model_schema(tmp_path)["best_iteration"] + 1


@pytest.mark.filterwarnings("ignore:.*only positive or negative samples:UserWarning")
def test_validation_without_positives_falls_back_to_one_half(tmp_path: Path) -> None:
    splits = (
        write_split(tmp_path / "train", "train", make_rows(200, seed=1)),
        write_split(tmp_path / "validation", "validation", make_rows(50, seed=2).assign(churned=0)),
    )
    assert train_main(tmp_path, splits, {**FAST, "num_round": 3}) == 0
    schema = model_schema(tmp_path)
    assert schema["decision_threshold"] == 0.5
    assert "no positive rows" in schema["threshold_note"]


def test_feature_names_xgboost_refuses_are_renamed_for_the_booster() -> None:
    assert tabular_model.booster_feature_names(["a[1]", "b<2", "c"]) == ["a(1)", "blt2", "c"]
    # Renaming would make two names equal: positions instead.
    assert tabular_model.booster_feature_names(["a[1]", "a(1)"]) == ["f0", "f1"]


def test_a_feature_named_with_brackets_trains_and_serves(tmp_path: Path) -> None:
    schema = {**SCHEMA, "features": [{"name": "income [USD]", "type": "numeric"}]}
    rng = np.random.default_rng(0)
    income = rng.normal(size=100)
    frame = pd.DataFrame({"churned": (income > 0).astype(int), "income [USD]": income})
    splits = (
        write_split(tmp_path / "train", "train", frame, schema),
        write_split(tmp_path / "validation", "validation", frame, schema),
    )
    assert train_main(tmp_path, splits, {**FAST, "num_round": 3}) == 0
    model = tabular_model.model_fn(str(tmp_path / "model"))
    records = tabular_model.input_fn("income [USD]\n2.5\n-2.5\n", "text/csv")
    assert tabular_model.predict_fn(records, model).labels == ["Yes", "No"]


# --------------------------------------------------------------------------------------------
# The decision threshold
# --------------------------------------------------------------------------------------------


def cut_off(labels: Any, scores: Any) -> Any:
    """best_f1_threshold's answer, compared below with approximate F1 values."""
    return tabular_model.best_f1_threshold(labels, scores)


def test_f1_cut_off_of_hand_made_scores() -> None:
    labels = [1, 1, 0, 1, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.6, 0.3, 0.1]
    # Cut-offs: 0.9 -> F1 2/4, 0.8 -> 4/5, 0.7 -> 4/6, 0.6 -> 6/7, 0.3 -> 6/8, 0.1 -> 6/9.
    assert cut_off(labels, scores) == (0.6, pytest.approx(6 / 7))


def test_f1_cut_off_flags_all_ties_of_a_score() -> None:
    # A cut-off at 0.5 flags both rows scored 0.5, one positive and one negative: F1 4/5, not
    # the 1.0 that splitting the tie after the positive would suggest (0.8 alone gives 2/3).
    assert cut_off([1, 1, 0, 0], [0.8, 0.5, 0.5, 0.2]) == (
        0.5,
        pytest.approx(0.8),
    )
    # Every row tied: the only cut-off flags them all.
    assert cut_off([1, 0, 0], [0.4, 0.4, 0.4]) == (0.4, pytest.approx(0.5))


def test_f1_cut_off_prefers_the_highest_of_equally_good_cut_offs() -> None:
    # 0.9 (1 of 2 positives, nothing else flagged) and 0.6 (both positives, 2 negatives
    # flagged) both give F1 2/3; the higher cut-off flags fewer rows.
    labels, scores = [1, 0, 0, 1], [0.9, 0.8, 0.7, 0.6]
    assert cut_off(labels, scores) == (0.9, pytest.approx(2 / 3))
    # The order of the input does not matter.
    assert cut_off(labels[::-1], scores[::-1]) == (
        0.9,
        pytest.approx(2 / 3),
    )


def test_f1_cut_off_matches_a_brute_force_search() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 400)
    # Rounded, so that many scores tie.
    scores = np.round(rng.random(400) * 0.5 + labels * 0.3, 2)

    def f1_at(cut: float) -> float:
        predicted = scores >= cut
        tp = int((predicted & (labels == 1)).sum())
        return 2 * tp / (int(predicted.sum()) + int(labels.sum()))

    best = max(f1_at(cut) for cut in np.unique(scores))
    highest_best = max(cut for cut in np.unique(scores) if f1_at(cut) == best)
    assert cut_off(labels, scores) == (highest_best, pytest.approx(best))


def test_no_positives_gives_no_f1_cut_off_and_the_fallback_says_why() -> None:
    assert tabular_model.best_f1_threshold([0, 0, 0], [0.2, 0.4, 0.9]) is None
    threshold, note = tabular_model.choose_threshold(np.zeros(3), np.array([0.2, 0.4, 0.9]))
    assert threshold == 0.5
    assert "no positive rows" in note


def test_stored_threshold_is_the_f1_best_cut_off_of_the_served_validation_scores(
    trained: Path, model: tabular_model.Model
) -> None:
    validation = tabular_model.read_split(trained / "validation", "validation")
    scores = tabular_model.predict_proba(model, validation.features)
    best = tabular_model.best_f1_threshold(validation.labels, scores)
    assert best is not None
    assert model.decision_threshold == best[0]


# --------------------------------------------------------------------------------------------
# Checkpoints (managed spot training)
# --------------------------------------------------------------------------------------------


def test_checkpoints_are_saved_only_into_an_existing_folder(tmp_path: Path, trained: Path) -> None:
    splits = (trained / "train", trained / "validation")
    absent = tmp_path / "checkpoints"
    values = {**FAST, "num_round": 6}
    assert train_main(tmp_path, splits, values, f"--checkpoint-dir={absent}") == 0
    assert not absent.exists()

    absent.mkdir()
    values.pop("early_stopping_rounds")
    assert (
        train_main(tmp_path, splits, values, f"--checkpoint-dir={absent}", "--checkpoint-every=4")
        == 0
    )
    # Saved after round 4 (round 8 never came); the file is a loadable booster.
    assert [p.name for p in absent.iterdir()] == ["xgboost-checkpoint.json"]
    assert load_booster(absent / "xgboost-checkpoint.json").num_boosted_rounds() == 4


@pytest.mark.parametrize("noise", [False, True])
def test_a_resumed_run_ends_with_the_model_of_an_uninterrupted_one(
    tmp_path: Path, noise: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    splits = write_splits(tmp_path, noise=noise)
    # Without row sampling, training is deterministic, so resuming must change nothing. Clean
    # labels train all num_round rounds (no early stopping); noisy ones make early stopping end
    # the run, whose memory of the best round comes back from the checkpoint.
    values = {**FAST, "num_round": 40, "eta": 0.5}
    if not noise:
        del values["early_stopping_rounds"]
    assert train_main(tmp_path, splits, values, model_dir=tmp_path / "whole") == 0
    whole = load_booster(tmp_path / "whole" / "xgboost-model")
    assert whole.num_boosted_rounds() < 40 if noise else whole.num_boosted_rounds() == 40

    # An interrupted run: it had saved a checkpoint after 4 of its rounds.
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    first = {**values, "num_round": 4}
    assert (
        train_main(
            tmp_path, splits, first, f"--checkpoint-dir={checkpoints}", "--checkpoint-every=4"
        )
        == 0
    )
    assert load_booster(checkpoints / "xgboost-checkpoint.json").num_boosted_rounds() == 4
    capsys.readouterr()

    resumed_dir = tmp_path / "resumed"
    assert (
        train_main(
            tmp_path, splits, values, f"--checkpoint-dir={checkpoints}", model_dir=resumed_dir
        )
        == 0
    )
    assert "Resuming from checkpoint" in capsys.readouterr().out
    resumed = load_booster(resumed_dir / "xgboost-model")
    assert resumed.num_boosted_rounds() == whole.num_boosted_rounds()
    assert resumed.get_dump() == whole.get_dump()
    assert (
        json.loads((resumed_dir / "model-schema.json").read_text())["best_iteration"]
        == (json.loads((tmp_path / "whole" / "model-schema.json").read_text())["best_iteration"])
    )


def test_a_checkpoint_for_other_features_is_ignored(
    tmp_path: Path, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    other = xgb.train({}, xgb.DMatrix(np.zeros((4, 2)), label=[0, 1, 0, 1]), 3)
    other.save_model(checkpoints / "other.json")
    (checkpoints / "other.json").rename(checkpoints / "xgboost-checkpoint.json")
    splits = (trained / "train", trained / "validation")
    values = {**FAST, "num_round": 2}
    assert train_main(tmp_path, splits, values, f"--checkpoint-dir={checkpoints}") == 0
    assert "ignoring checkpoint" in capsys.readouterr().err
    assert load_booster(tmp_path / "model" / "xgboost-model").num_boosted_rounds() == 2


# --------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------


def score(model: tabular_model.Model, body: str | bytes, content_type: str = "text/csv") -> Any:
    return tabular_model.predict_fn(tabular_model.input_fn(body, content_type), model)


def test_handlers_take_exactly_the_arguments_the_container_passes() -> None:
    # The serving container counts the parameters (one more means "pass the context").
    counts = {
        name: len(inspect.signature(getattr(tabular_model, name)).parameters)
        for name in ("model_fn", "input_fn", "predict_fn", "output_fn")
    }
    assert counts == {"model_fn": 1, "input_fn": 2, "predict_fn": 2, "output_fn": 2}


def test_model_fn_loads_what_the_schema_says(model: tabular_model.Model, trained: Path) -> None:
    schema = model_schema(trained)
    assert model.feature_names == FEATURES
    assert model.categories == schema["categories"]
    assert model.decision_threshold == schema["decision_threshold"]
    assert (model.positive_class, model.negative_class) == ("Yes", "No")
    assert model.booster.num_boosted_rounds() == schema["best_iteration"] + 1


def test_served_scores_equal_the_scores_of_the_typed_split(
    trained: Path, model: tabular_model.Model
) -> None:
    """Raw CSV text through input_fn scores exactly like the split read with its schema."""
    validation = tabular_model.read_split(trained / "validation", "validation")
    typed = tabular_model.predict_proba(model, validation.features)
    text = (trained / "validation" / "validation.csv").read_text()
    raw = "\n".join(line.split(",", 1)[1] for line in text.splitlines())
    served = score(model, raw).probabilities
    assert served.dtype == np.float64
    np.testing.assert_array_equal(served, typed)


def test_csv_with_without_and_with_reordered_header_score_alike(
    model: tabular_model.Model,
) -> None:
    rows = ["1.5,month,01,0.2", ",,,", "-1,two year,10,3"]
    plain = score(model, "\n".join(rows) + "\n")
    headed = score(model, "tenure,contract,zone,charges\n" + "\n".join(rows))
    reordered_rows = [",".join([r.split(",")[i] for i in (3, 2, 0, 1)]) for r in rows]
    reordered = score(model, "charges,zone,tenure,contract\n" + "\n".join(reordered_rows))
    np.testing.assert_array_equal(plain.probabilities, headed.probabilities)
    np.testing.assert_array_equal(plain.probabilities, reordered.probabilities)
    assert len(plain.labels) == 3


def test_json_object_and_list_score_like_csv(model: tabular_model.Model) -> None:
    csv_rows = score(model, "1.5,month,01,\n2,,10,-1\n")
    records = [
        {"tenure": 1.5, "contract": "month", "zone": "01", "charges": None},
        {"charges": "-1", "zone": "10", "tenure": 2, "contract": None},
    ]
    listed = score(model, json.dumps(records), "application/json")
    single = score(model, json.dumps(records[0]).encode(), "application/json; charset=utf-8")
    np.testing.assert_array_equal(listed.probabilities, csv_rows.probabilities)
    assert single.probabilities.tolist() == csv_rows.probabilities[:1].tolist()


def test_bytes_body_with_charset_and_booleans_are_accepted(model: tabular_model.Model) -> None:
    by_bytes = score(model, "\ufefftrue,month,01,0\n".encode(), "text/csv; charset=utf-8")
    by_number = score(model, "1,month,01,0\n")
    by_json = score(
        model,
        '{"tenure": true, "contract": "month", "zone": "01", "charges": 0}',
        "application/json",
    )
    assert by_bytes.probabilities.tolist() == by_number.probabilities.tolist()
    assert by_json.probabilities.tolist() == by_number.probabilities.tolist()


def test_missing_value_markers_in_numeric_fields_score_as_missing(
    model: tabular_model.Model,
) -> None:
    # Preprocess read these as missing when it read the training data (pandas' defaults), so
    # a client sending rows exported the same way gets the same treatment, not an error.
    empty = score(model, "1,month,01,\n").probabilities.tolist()
    for marker in ("NA", "N/A", "null", "None", "NaN", "#N/A"):
        assert score(model, f"1,month,01,{marker}\n").probabilities.tolist() == empty, marker


def test_unseen_and_validation_only_categories_score_as_missing(
    model: tabular_model.Model,
) -> None:
    unseen = score(model, f"1,never seen,99,0\n1,{ONLY_IN_VALIDATION},01,0\n")
    missing = score(model, "1,,,0\n1,,01,0\n")
    np.testing.assert_array_equal(unseen.probabilities, missing.probabilities)
    assert ONLY_IN_VALIDATION not in model.categories["contract"]
    # Text that looks like a number is not a known category either: "1" is not "01".
    assert score(model, "1,month,1,0\n").probabilities.tolist() == (
        score(model, "1,month,,0\n").probabilities.tolist()
    )


def test_labels_follow_the_decision_threshold(model: tabular_model.Model) -> None:
    rows = "\n".join(f"{t},month,01,0" for t in (-3, -1, 0, 1, 3))
    probabilities = score(model, rows).probabilities
    for cut in (probabilities.min(), float(np.median(probabilities)), 1.0):
        moved = dataclasses.replace(model, decision_threshold=float(cut))
        labels = score(moved, rows).labels
        assert labels == ["Yes" if p >= cut else "No" for p in probabilities]


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (
            "1.5,month,01\n",
            "text/csv",
            "row 1 has 3 fields, expected 4 (tenure, contract, zone, charges)",
        ),
        ("1,month,01,0\n2,month,01\n", "text/csv", "row 2 has 3 fields, expected 4"),
        ("tenure,contract,zone,charges\n1,a,b\n", "text/csv", "row 1 has 3 fields"),
        ("1,a,01,0\nabc,month,01,0\n", "text/csv", "row 2, column 'tenure': 'abc' is not a number"),
        ("charges,zone,tenure,contract\nx,01,1,a\n", "text/csv", "row 1, column 'charges': 'x'"),
        ("1e39,month,01,0\n", "text/csv", "row 1, column 'tenure': '1e39' is not a finite"),
        ("", "text/csv", "the request holds no records"),
        ("tenure,contract,zone,charges\n", "text/csv", "a header but no records"),
        ('{"tenure": 1}', "application/json", "missing keys ['contract', 'zone', 'charges']"),
        (
            '{"tenure": 1, "contract": "a", "zone": "01", "charges": 0, "churned": 1}',
            "application/json",
            "row 1: unknown keys ['churned']",
        ),
        (
            '[{"tenure": 1, "contract": "a", "zone": "01", "charges": 0}, 5]',
            "application/json",
            "row 2 is a JSON int",
        ),
        (
            '{"tenure": [1], "contract": "a", "zone": "01", "charges": 0}',
            "application/json",
            "row 1, column 'tenure': a JSON list",
        ),
        (
            '{"tenure": "x", "contract": "a", "zone": "01", "charges": 0}',
            "application/json",
            "row 1, column 'tenure': 'x' is not a number",
        ),
        ("{", "application/json", "the request is not valid JSON"),
        (b"\xff\xfe", "text/csv", "not UTF-8"),
        (
            "1,a,01,0",
            "text/plain",
            "unsupported content type 'text/plain': send text/csv or application/json",
        ),
    ],
)
def test_bad_requests_are_refused_naming_row_and_column(
    model: tabular_model.Model, body: str | bytes, content_type: str, fragment: str
) -> None:
    with pytest.raises(InputError) as raised:
        score(model, body, content_type)
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, "text/csv"),
        ("", "text/csv"),
        ("*/*", "text/csv"),
        ("text/csv", "text/csv"),
        ("text/csv; charset=utf-8", "text/csv"),
        ("application/json", "application/json"),
        ("application/xml, application/json;q=0.9", "application/json"),
    ],
)
def test_output_follows_accept(
    model: tabular_model.Model, accept: str | None, content_type: str
) -> None:
    prediction = score(model, "3,month,01,0\n-3,two year,10,0\n")
    body, returned_type = tabular_model.output_fn(prediction, accept)
    assert returned_type == content_type
    p = prediction.probabilities
    if content_type == "text/csv":
        assert body == f"{p[0]:.6f},{prediction.labels[0]}\n{p[1]:.6f},{prediction.labels[1]}\n"
    else:
        assert json.loads(body) == {
            "predictions": [
                {"probability": round(float(p[0]), 6), "label": prediction.labels[0]},
                {"probability": round(float(p[1]), 6), "label": prediction.labels[1]},
            ]
        }


def test_csv_labels_that_need_it_are_quoted() -> None:
    prediction = tabular_model.Predictions(np.array([0.25, 0.75]), ["No, stays", 'Yes "gone"'])
    body, _ = tabular_model.output_fn(prediction, "text/csv")
    assert body == '0.250000,"No, stays"\n0.750000,"Yes ""gone"""\n'


def test_an_unsupported_accept_names_what_is_accepted(model: tabular_model.Model) -> None:
    with pytest.raises(
        InputError, match=r"unsupported accept 'text/html': ask for text/csv or application/json"
    ):
        tabular_model.output_fn(score(model, "1,a,01,0\n"), "text/html")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: (d / "model-schema.json").unlink(), "model-schema.json does not exist"),
        (lambda d: (d / "xgboost-model").unlink(), "xgboost-model does not exist"),
        (lambda d: (d / "xgboost-model").write_text("not a model"), "is not an XGBoost model"),
        (lambda d: (d / "model-schema.json").write_text("{"), "is not valid JSON"),
        (
            lambda d: (d / "model-schema.json").write_text(json.dumps(SCHEMA)),
            "'decision_threshold' must be a number",
        ),
        (
            lambda d: (d / "model-schema.json").write_text(
                json.dumps({**SCHEMA, "decision_threshold": 0.5, "categories": {}})
            ),
            "'categories' must list the categories of every categorical feature",
        ),
    ],
)
def test_model_fn_names_the_unusable_file(
    tmp_path: Path, trained: Path, change: Callable[[Path], None], fragment: str
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(trained / "model", folder)
    change(folder)
    with pytest.raises(tabular_model.ModelFileError, match=fragment):
        tabular_model.model_fn(str(folder))


def test_predict_proba_needs_every_feature_column(model: tabular_model.Model) -> None:
    with pytest.raises(InputError, match=r"missing feature column\(s\) \['zone'\]"):
        tabular_model.predict_proba(
            model, pd.DataFrame({"tenure": [1.0], "contract": ["a"], "charges": [0.0]})
        )


# --------------------------------------------------------------------------------------------
# Shipping alone
# --------------------------------------------------------------------------------------------


def test_import_needs_only_the_standard_library() -> None:
    code = (
        "import sys; import pipeline_code.tabular_model as m; "
        "m.validate_hyperparameters({'objective': 'binary:logistic', 'num_round': 1}); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('numpy', 'pandas', 'xgboost')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(tabular_model.__file__).parents[1],
    )
    assert result.stdout.strip() == "[]"


def test_runs_as_a_lone_script_as_in_the_training_container(tmp_path: Path) -> None:
    script = tmp_path / "code" / "tabular_model.py"
    script.parent.mkdir()
    shutil.copy(tabular_model.__file__, script)
    result = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "--train-dir" in result.stdout


def test_write_tar_gz_lists_folders_before_their_files(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    tabular_model.write_tar_gz(archive, {"b/c/d.txt": b"x", "a.txt": b"y"})
    with gzip.open(archive) as raw, tarfile.open(fileobj=raw) as tar:
        assert tar.getnames() == ["b", "b/c", "a.txt", "b/c/d.txt"]
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())


WIDTH_SCHEMA: dict[str, Any] = {
    "label_column": "y",
    "features": [
        {"name": "a", "type": "numeric"},
        {"name": "b", "type": "numeric"},
        {"name": "c", "type": "categorical"},
    ],
}


@pytest.mark.parametrize(
    ("rows", "line", "found"),
    [
        # pandas 2.2's chunked reader keeps this row, the first of the second chunk, without
        # its extra field; 3.x keeps it too when only some columns are read.
        ("1,1,2,x\n0,1,2,x\n0,1,2,x,extra\n1,1,2,x\n", 4, 5),
        ("1,1,2,x\n0,1,2,x\n0,1,2,x\n1,1,2,x,extra\n", 5, 5),
        # pandas reads a short row as missing values.
        ("1,1,2,x\n0,1,2\n", 3, 3),
        ("1,1,2,x\n0,1,2,x\n1\n", 4, 1),
        ('1,1,2,"x, y"\n0,1,2,x,"z"\n', 3, 5),  # quoted: the csv module counts
        ("1,1,2,x\r\n0,1,2,x,9\r\n", 3, 5),
        ("1,1,2,x\r0,1,2,x,9\r", 3, 5),  # carriage returns alone end lines too
    ],
)
def test_rows_of_the_wrong_width_are_refused_naming_the_line(
    tmp_path: Path, rows: str, line: int, found: int
) -> None:
    path = tmp_path / "train.csv"
    path.write_text("y,a,b,c\n" + rows, newline="")
    for features in (None, ["a"]):
        with pytest.raises(TrainingDataError) as raised:
            list(tabular_model.file_chunks(path, WIDTH_SCHEMA, chunk_rows=2, features=features))
        assert str(raised.value) == (
            f"{path}, line {line}: {found} fields where the header has 4 (a comma inside an "
            "unquoted value, or a cell too many or too few?)"
        )


@pytest.mark.parametrize(
    "rows",
    [
        "1,1,2,x\n\n0,1,2,x\n",  # a blank line is no row, as pandas reads it
        "1,1,2,x\r\n\r\n0,1,2,x\r\n",
        '1,1,2,"x, y"\n0,1,2,"a\nb"\n',  # commas and a line feed inside quoted fields
        "1,1,2,x\n0,1,2,x",  # no line feed at the end
        "1,1,2,x\r0,1,2,x\r",
    ],
)
def test_rows_of_the_header_width_are_read(tmp_path: Path, rows: str) -> None:
    path = tmp_path / "train.csv"
    path.write_text("y,a,b,c\n" + rows, newline="")
    chunks = list(tabular_model.file_chunks(path, WIDTH_SCHEMA, chunk_rows=1))
    assert [labels.tolist() for _, labels in chunks] == [[1.0], [0.0]]


def test_the_width_check_follows_lines_across_its_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tabular_model, "_WIDTH_SCAN_BYTES", 7)  # lines span several blocks
    path = tmp_path / "train.csv"
    path.write_text("y,a,b,c\n" + "1,10.5,2,xyz\n" * 50 + "0,1,2\n" + "1,1,2,x\n")
    with pytest.raises(TrainingDataError, match=r"line 52: 3 fields"):
        tabular_model._check_row_widths(path, 4)
    path.write_text("y,a,b,c\n" + "1,10.5,2,xyz\n" * 50)
    tabular_model._check_row_widths(path, 4)
    path.write_text("y,a,b,c\n" + "1,10.5,2," + "x" * 40 + "\n0,1,2,3")  # lines of many blocks
    tabular_model._check_row_widths(path, 4)


def test_whole_lines_blocks_end_at_line_feeds() -> None:
    text = b"y,a,b,c\n" + b"1,2,3," + b"x" * 30 + b"\n0,1,2,3"
    blocks = list(tabular_model._whole_lines(io.BytesIO(text), 7))
    assert b"".join(blocks) == text + b"\n"
    assert all(block.endswith(b"\n") and block.count(b"\n") >= 1 for block in blocks)
