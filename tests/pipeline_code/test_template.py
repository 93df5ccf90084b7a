"""The committed pipeline definition templates and their rendering (no SageMaker SDK needed).

These run in the fast suite: they read pipeline_code/definitions/*.json as committed. That the
files are what the SDK builds today is test_definition.py's job (marked ``sdk``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pipeline_code.placeholders import PLACEHOLDERS
from pipeline_code.template import (
    IMAGE_PLACEHOLDERS,
    TemplateError,
    image_uris_for,
    load_template,
    render,
    supported_regions,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HYPERPARAMETERS_FILE = REPO_ROOT / "pipeline_code" / "hyperparameters.json"
# AWS's pipeline-definition schema, shipped with the tests (provenance in data/README.md) so
# the check runs in every clone and in the model-build repository's build.
SCHEMA_DIR = Path(__file__).resolve().parent / "data"
SCHEMA = SCHEMA_DIR / "pipeline-definition.schema.json"

REGION = "eu-west-1"
IMAGES = image_uris_for(REGION)
BUCKET = "${Token[TOKEN.102]}"
KMS_KEY = "${Token[TOKEN.103]}"
ROLE = "${Token[TOKEN.101]}"
PREPROCESS_KEY = "3f1c0ffee6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b.py"
EVALUATE_KEY = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d.py"
TRAIN_KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9.py"
DRIFT_KEY = "5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b.py"
FIND_CHAMPION = "${Token[TOKEN.105]}"
METRIC = "f1"
LABEL = "diagnosis"
VALUES: dict[str, str] = {
    "ROLE_ARN": ROLE,
    "ARTIFACT_BUCKET": BUCKET,
    "KMS_KEY_ARN": KMS_KEY,
    "MODEL_PACKAGE_GROUP": "mlops-dev-models",
    "PREPROCESS_SCRIPT_URI": f"s3://${{Token[TOKEN.104]}}/{PREPROCESS_KEY}",
    "EVALUATE_SCRIPT_URI": f"s3://${{Token[TOKEN.104]}}/{EVALUATE_KEY}",
    "PREPROCESS_SCRIPT_NAME": PREPROCESS_KEY,
    "EVALUATE_SCRIPT_NAME": EVALUATE_KEY,
    "TRAIN_SCRIPT_URI": f"s3://${{Token[TOKEN.104]}}/{TRAIN_KEY}",
    "TRAIN_SCRIPT_NAME": TRAIN_KEY,
    "DRIFT_SCRIPT_URI": f"s3://${{Token[TOKEN.104]}}/{DRIFT_KEY}",
    "DRIFT_SCRIPT_NAME": DRIFT_KEY,
    "FIND_CHAMPION_FUNCTION_ARN": FIND_CHAMPION,
    "PROCESSING_IMAGE_URI": IMAGES["processing"],
    "XGBOOST_IMAGE_URI": IMAGES["xgboost"],
    "LABEL_COLUMN": LABEL,
    "METRIC_NAME": METRIC,
}
DEFAULTS: dict[str, str | int | float] = {
    "InputDataUri": "s3://raw-data/input/",
    "ProcessingInstanceType": "ml.m5.large",
    "ProcessingInstanceCount": 2,
    "TrainingInstanceType": "ml.m5.2xlarge",
    "TrainingInstanceCount": 1,
    "MetricThreshold": 0.75,
    "ModelApprovalStatus": "PendingManualApproval",
    "PositiveClass": "Yes",
    "ExcludeColumns": "id,rownames",
    "MinPositives": 5,
    "MinNegatives": 7,
    "ChampionMargin": 0.02,
}
POSITIVE_CLASS = {"Get": "Parameters.PositiveClass"}
EXCLUDE_COLUMNS = {"Get": "Parameters.ExcludeColumns"}
EXPECTED_PARAMETERS = [
    ("InputDataUri", "String"),
    ("ProcessingInstanceType", "String"),
    ("ProcessingInstanceCount", "Integer"),
    ("TrainingInstanceType", "String"),
    ("TrainingInstanceCount", "Integer"),
    ("MetricThreshold", "Float"),
    ("ModelApprovalStatus", "String"),
    ("PositiveClass", "String"),
    ("ExcludeColumns", "String"),
    ("MinPositives", "Integer"),
    ("MinNegatives", "Integer"),
    ("ChampionMargin", "Float"),
]
EXPECTED_STEPS = {
    "Preprocess": "Processing",
    "Train": "Training",
    "FindChampion": "Lambda",
    "Evaluate": "Processing",
    "CheckGate": "Condition",
    "RegisterModel": "RegisterModel",
    "ModelRejected": "Fail",
}
GATE_REPORT = {"Get": "Steps.Evaluate.PropertyFiles.GateReport"}
THRESHOLD = {"Get": "Parameters.MetricThreshold"}
CHAMPION_ARN = {"Get": "Steps.FindChampion.OutputParameters['ModelPackageArn']"}


def _gate(path: str) -> dict[str, Any]:
    return {"Std:JsonGet": {"Path": path, "PropertyFile": GATE_REPORT}}


def _option(flag: str, value: Any) -> dict[str, Any]:
    return {"Std:Join": {"On": "=", "Values": [flag, value]}}


def _output_uri(step: str, output: str) -> dict[str, str]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def _steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step by name, the condition's branches included."""
    found: dict[str, dict[str, Any]] = {}

    def visit(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            assert step["Name"] not in found, f"duplicate step name {step['Name']}"
            found[step["Name"]] = step
            if step["Type"] == "Condition":
                visit(step["Arguments"].get("IfSteps", []))
                visit(step["Arguments"].get("ElseSteps", []))

    visit(definition["Steps"])
    return found


def _is_run_uri(uri: object, *parts: str) -> bool:
    """s3://<artifact bucket>/pipelines/<pipeline name>/<execution id>/<parts>."""
    return uri == {
        "Std:Join": {
            "On": "/",
            "Values": [
                f"s3://{BUCKET}/pipelines",
                {"Get": "Execution.PipelineName"},
                {"Get": "Execution.PipelineExecutionId"},
                *parts,
            ],
        }
    }


@pytest.fixture(scope="module")
def standard() -> dict[str, Any]:
    return render(load_template(spot=False), values=VALUES, parameter_defaults=DEFAULTS)


@pytest.fixture(scope="module")
def spot() -> dict[str, Any]:
    return render(load_template(spot=True), values=VALUES, parameter_defaults=DEFAULTS)


@pytest.fixture(scope="module")
def steps(standard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _steps(standard)


# --- placeholders and rendering ---------------------------------------------------------------


def test_placeholder_literals_are_unique_and_never_nested() -> None:
    literals = list(PLACEHOLDERS.values())
    assert len(set(literals)) == len(literals)
    for name, literal in PLACEHOLDERS.items():
        assert "placeholder" in literal, name
        others = [n for n, other in PLACEHOLDERS.items() if n != name and literal in other]
        assert not others, f"{name}'s literal is a substring of {others}"


def test_placeholder_literals_have_the_shape_the_sdk_accepts() -> None:
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", PLACEHOLDERS["ROLE_ARN"])
    assert PLACEHOLDERS["KMS_KEY_ARN"].startswith("arn:aws:kms:")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", PLACEHOLDERS["ARTIFACT_BUCKET"])
    for name in ("PREPROCESS_SCRIPT_URI", "EVALUATE_SCRIPT_URI"):
        assert PLACEHOLDERS[name].startswith("s3://"), name
    for name in IMAGE_PLACEHOLDERS.values():
        assert ".dkr.ecr." in PLACEHOLDERS[name], name


@pytest.mark.parametrize("spot_variant", [False, True], ids=["standard", "spot"])
def test_every_placeholder_is_used_and_rendering_leaves_none(spot_variant: bool) -> None:
    template = load_template(spot=spot_variant)
    text = json.dumps(template)
    unused = [name for name, literal in PLACEHOLDERS.items() if literal not in text]
    assert not unused, f"placeholders absent from the template: {unused}"

    rendered = render(template, values=VALUES, parameter_defaults=DEFAULTS)
    rendered_text = json.dumps(rendered)
    for literal in PLACEHOLDERS.values():
        assert literal not in rendered_text
    assert "placeholder" not in rendered_text
    # Nothing of the offline build's own environment (region, fake account) leaks through.
    assert "us-east-1" not in rendered_text
    assert "000000000000" not in rendered_text
    for token in (ROLE, BUCKET, KMS_KEY):
        assert token in rendered_text


def test_render_sets_every_parameter_default(standard: dict[str, Any]) -> None:
    defaults = {p["Name"]: p["DefaultValue"] for p in standard["Parameters"]}
    assert defaults == DEFAULTS
    threshold = next(p for p in standard["Parameters"] if p["Name"] == "MetricThreshold")
    assert isinstance(threshold["DefaultValue"], float)


def test_render_coerces_an_integer_float_default() -> None:
    rendered = render(
        load_template(spot=False),
        values=VALUES,
        parameter_defaults={**DEFAULTS, "MetricThreshold": 1},
    )
    threshold = next(p for p in rendered["Parameters"] if p["Name"] == "MetricThreshold")
    assert threshold["DefaultValue"] == 1.0
    assert isinstance(threshold["DefaultValue"], float)


def test_render_leaves_the_template_untouched() -> None:
    template = load_template(spot=False)
    before = copy.deepcopy(template)
    render(template, values=VALUES, parameter_defaults=DEFAULTS)
    assert template == before
    # Each load is a fresh copy, so a caller's edits never leak into the next one.
    template["Steps"].clear()
    assert load_template(spot=False) == before


def test_render_rejects_a_missing_value() -> None:
    values = {k: v for k, v in VALUES.items() if k != "KMS_KEY_ARN"}
    with pytest.raises(TemplateError, match=r"missing placeholder value\(s\): KMS_KEY_ARN"):
        render(load_template(spot=False), values=values, parameter_defaults=DEFAULTS)


def test_render_rejects_an_unknown_value_name() -> None:
    with pytest.raises(TemplateError, match=r"unknown placeholder value\(s\): KMS_KEY\b"):
        render(
            load_template(spot=False),
            values={**VALUES, "KMS_KEY": "x"},
            parameter_defaults=DEFAULTS,
        )


@pytest.mark.parametrize("bad", ["", 42], ids=["empty", "not-a-string"])
def test_render_rejects_a_value_that_is_not_a_non_empty_string(bad: Any) -> None:
    with pytest.raises(TemplateError, match="LABEL_COLUMN must be a non-empty string"):
        render(
            load_template(spot=False),
            values={**VALUES, "LABEL_COLUMN": bad},
            parameter_defaults=DEFAULTS,
        )


def test_render_rejects_an_unknown_parameter_name() -> None:
    with pytest.raises(TemplateError, match=r"unknown pipeline parameter\(s\): InputDataURI"):
        render(
            load_template(spot=False),
            values=VALUES,
            parameter_defaults={**DEFAULTS, "InputDataURI": "s3://x/"},
        )


def test_render_rejects_a_missing_parameter_default() -> None:
    defaults = {k: v for k, v in DEFAULTS.items() if k != "TrainingInstanceCount"}
    with pytest.raises(
        TemplateError, match=r"missing pipeline parameter\(s\): TrainingInstanceCount"
    ):
        render(load_template(spot=False), values=VALUES, parameter_defaults=defaults)


@pytest.mark.parametrize(
    ("name", "bad"),
    [("ProcessingInstanceCount", "2"), ("TrainingInstanceCount", True), ("MetricThreshold", "0.8")],
)
def test_render_rejects_a_default_of_the_wrong_type(name: str, bad: Any) -> None:
    with pytest.raises(TemplateError, match=f"default of pipeline parameter {name} must be"):
        render(load_template(spot=False), values=VALUES, parameter_defaults={**DEFAULTS, name: bad})


def test_render_rejects_a_placeholder_left_after_rendering() -> None:
    # A value that itself carries a placeholder literal cannot yield a finished definition.
    values = {**VALUES, "LABEL_COLUMN": PLACEHOLDERS["METRIC_NAME"]}
    with pytest.raises(TemplateError, match=r"still present after rendering: METRIC_NAME at \$"):
        render(load_template(spot=False), values=values, parameter_defaults=DEFAULTS)


def test_image_uris_for_a_known_region() -> None:
    images = image_uris_for("us-west-2")
    assert set(images) == set(IMAGE_PLACEHOLDERS)
    assert re.fullmatch(
        r"\d{12}\.dkr\.ecr\.us-west-2\.amazonaws\.com/sagemaker-xgboost:\d+\.\d+-\d+",
        images["xgboost"],
    )
    assert re.fullmatch(
        r"\d{12}\.dkr\.ecr\.us-west-2\.amazonaws\.com/sagemaker-scikit-learn:[\w.-]+",
        images["processing"],
    )
    assert {"us-east-1", "eu-west-1", "cn-north-1"} <= set(supported_regions())
    assert image_uris_for("cn-north-1")["xgboost"].split("/")[0].endswith(".amazonaws.com.cn")


def test_image_uris_for_an_unknown_region_names_it_and_the_supported_ones() -> None:
    with pytest.raises(ValueError, match="mars-north-1") as raised:
        image_uris_for("mars-north-1")
    assert "us-east-1" in str(raised.value)
    assert "eu-west-1" in str(raised.value)


def test_image_uris_for_a_token_region_asks_for_an_explicit_one() -> None:
    with pytest.raises(ValueError, match="explicit region"):
        image_uris_for("${Token[AWS.Region.12]}")


def test_template_modules_never_import_the_sdk() -> None:
    code = (
        "import sys, pipeline_code.template, pipeline_code.placeholders;"
        "sdk = sorted(m for m in sys.modules if m.split('.')[0] == 'sagemaker');"
        "assert not sdk, sdk"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


# --- the rendered standard definition ---------------------------------------------------------


def test_parameters(standard: dict[str, Any]) -> None:
    assert [(p["Name"], p["Type"]) for p in standard["Parameters"]] == EXPECTED_PARAMETERS


def test_step_names_and_types(standard: dict[str, Any], steps: dict[str, Any]) -> None:
    assert {name: step["Type"] for name, step in steps.items()} == EXPECTED_STEPS
    assert [s["Name"] for s in standard["Steps"]] == [
        "Preprocess",
        "Train",
        "FindChampion",
        "Evaluate",
        "CheckGate",
    ]


def test_preprocess(steps: dict[str, Any]) -> None:
    args = steps["Preprocess"]["Arguments"]
    app = args["AppSpecification"]
    assert app["ImageUri"] == IMAGES["processing"]
    assert app["ContainerEntrypoint"] == [
        "python3",
        f"/opt/ml/processing/input/code/{PREPROCESS_KEY}",
    ]
    assert app["ContainerArguments"] == [
        "--label-column", LABEL,
        {"Std:Join": {"On": "=", "Values": ["--positive-class", POSITIVE_CLASS]}},
        {"Std:Join": {"On": "=", "Values": ["--exclude-columns", EXCLUDE_COLUMNS]}},
        {"Std:Join": {"On": "=", "Values": [
            "--train-parts", {"Get": "Parameters.TrainingInstanceCount"}
        ]}},
        "--input-dir", "/opt/ml/processing/input/data",
        "--train-dir", "/opt/ml/processing/train",
        "--validation-dir", "/opt/ml/processing/validation",
        "--test-dir", "/opt/ml/processing/test",
    ]  # fmt: skip
    inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
    assert inputs["input-data"]["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    assert inputs["input-data"]["LocalPath"] == "/opt/ml/processing/input/data"
    # Each processing instance reads its share of the files, not all of them.
    assert inputs["input-data"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["code"]["S3Uri"] == VALUES["PREPROCESS_SCRIPT_URI"]
    assert inputs["code"]["LocalPath"] == "/opt/ml/processing/input/code"
    outputs = {o["OutputName"]: o["S3Output"] for o in args["ProcessingOutputConfig"]["Outputs"]}
    assert set(outputs) == {"train", "validation", "test"}
    for name, output in outputs.items():
        assert output["LocalPath"] == f"/opt/ml/processing/{name}"
        assert _is_run_uri(output["S3Uri"], "Preprocess", name), output["S3Uri"]
    cluster = args["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert cluster["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}
    assert args["RoleArn"] == ROLE


def test_train_runs_the_model_script_on_the_preprocess_splits(steps: dict[str, Any]) -> None:
    args = steps["Train"]["Arguments"]
    # The repository's training script in the XGBoost framework image, not the built-in
    # algorithm: the script's asset arrives through the code channel under its own key.
    assert args["AlgorithmSpecification"] == {
        "TrainingImage": IMAGES["xgboost"],
        "TrainingInputMode": "File",
        "ContainerEntrypoint": ["python3", f"/opt/ml/input/data/code/{TRAIN_KEY}"],
    }
    channels = {c["ChannelName"]: c for c in args["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "code"}
    assert (
        channels.pop("code")["DataSource"]["S3DataSource"]["S3Uri"] == (VALUES["TRAIN_SCRIPT_URI"])
    )
    for name, channel in channels.items():
        assert channel["ContentType"] == "text/csv"
        assert channel["DataSource"]["S3DataSource"]["S3Uri"] == _output_uri("Preprocess", name)
    resources = args["ResourceConfig"]
    assert resources["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert resources["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    assert _is_run_uri(args["OutputDataConfig"]["S3OutputPath"], "Train")
    assert args["RoleArn"] == ROLE
    assert "EnableManagedSpotTraining" not in args
    assert "CheckpointConfig" not in args


def test_train_hyperparameters_are_those_of_hyperparameters_json(steps: dict[str, Any]) -> None:
    # The training job gets strings; a changed file needs `make pipeline`.
    expected = json.loads(HYPERPARAMETERS_FILE.read_text(encoding="utf-8"))
    as_strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in expected.items()}
    assert steps["Train"]["Arguments"]["HyperParameters"] == as_strings


def test_evaluate_consumes_the_model_and_the_test_split(steps: dict[str, Any]) -> None:
    step = steps["Evaluate"]
    args = step["Arguments"]
    app = args["AppSpecification"]
    assert app["ImageUri"] == IMAGES["xgboost"]
    assert app["ContainerEntrypoint"] == [
        "python3",
        f"/opt/ml/processing/input/code/{EVALUATE_KEY}",
    ]
    assert app["ContainerArguments"] == [
        "--model-dir", "/opt/ml/processing/model",
        "--test-dir", "/opt/ml/processing/test",
        "--champion-dir", "/opt/ml/processing/champion",
        "--train-dir", "/opt/ml/processing/train",
        "--drift-module", f"/opt/ml/processing/input/drift/{DRIFT_KEY}",
        "--output-dir", "/opt/ml/processing/evaluation",
        "--metric", METRIC,
        _option("--threshold", THRESHOLD),
        _option("--min-positives", {"Get": "Parameters.MinPositives"}),
        _option("--min-negatives", {"Get": "Parameters.MinNegatives"}),
        _option("--champion-margin", {"Get": "Parameters.ChampionMargin"}),
        _option("--champion-package-arn", CHAMPION_ARN),
    ]  # fmt: skip
    inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
    assert inputs["model"]["S3Uri"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert inputs["model"]["LocalPath"] == "/opt/ml/processing/model"
    assert inputs["champion"]["S3Uri"] == {
        "Get": "Steps.FindChampion.OutputParameters['ModelDataUrl']"
    }
    assert inputs["champion"]["LocalPath"] == "/opt/ml/processing/champion"
    # The drift baseline is built from the training split by the shipped drift.py.
    assert inputs["train"]["S3Uri"] == _output_uri("Preprocess", "train")
    assert inputs["train"]["LocalPath"] == "/opt/ml/processing/train"
    assert inputs["drift-code"]["S3Uri"] == VALUES["DRIFT_SCRIPT_URI"]
    assert inputs["drift-code"]["LocalPath"] == "/opt/ml/processing/input/drift"
    assert inputs["test"]["S3Uri"] == _output_uri("Preprocess", "test")
    assert inputs["test"]["LocalPath"] == "/opt/ml/processing/test"
    assert inputs["code"]["S3Uri"] == VALUES["EVALUATE_SCRIPT_URI"]
    [output] = args["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "evaluation"
    assert output["S3Output"]["LocalPath"] == "/opt/ml/processing/evaluation"
    assert _is_run_uri(output["S3Output"]["S3Uri"], "Evaluate", "evaluation")
    assert step["PropertyFiles"] == [
        {"PropertyFileName": "GateReport", "OutputName": "evaluation", "FilePath": "gate.json"}
    ]


def test_find_champion_asks_the_function_for_the_approved_model(steps: dict[str, Any]) -> None:
    step = steps["FindChampion"]
    assert step["FunctionArn"] == FIND_CHAMPION
    assert step["Arguments"] == {
        "ModelPackageGroupName": VALUES["MODEL_PACKAGE_GROUP"],
        "FallbackModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
    }
    assert step["OutputParameters"] == [
        {"OutputName": "ModelPackageArn", "OutputType": "String"},
        {"OutputName": "ModelDataUrl", "OutputType": "String"},
    ]
    # Approvals change between executions: the answer must never come from a cache.
    assert "CacheConfig" not in step


def test_check_gate_registers_only_what_evaluate_accepted(steps: dict[str, Any]) -> None:
    args = steps["CheckGate"]["Arguments"]
    assert args["Conditions"] == [
        {"Type": "Equals", "LeftValue": _gate("register"), "RightValue": 1}
    ]
    assert [s["Name"] for s in args["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in args["ElseSteps"]] == ["ModelRejected"]


def test_fail_message_is_the_gate_message(steps: dict[str, Any]) -> None:
    assert steps["ModelRejected"]["Arguments"]["ErrorMessage"] == {
        "Std:Join": {"On": " ", "Values": ["Model not registered:", _gate("message")]}
    }


def test_register_model(steps: dict[str, Any]) -> None:
    args = steps["RegisterModel"]["Arguments"]
    assert args["ModelPackageGroupName"] == VALUES["MODEL_PACKAGE_GROUP"]
    assert args["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    spec = args["InferenceSpecification"]
    [container] = spec["Containers"]
    assert container["Image"] == IMAGES["xgboost"]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    # The archive's own serving code answers raw records (docs/model-contract.md).
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    }
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert spec["SupportedResponseMIMETypes"] == ["text/csv", "application/json"]
    assert args["CustomerMetadataProperties"] == {
        "DecisionThreshold": {"Std:Join": {"On": "", "Values": [_gate("decision_threshold")]}}
    }
    assert spec["SupportedRealtimeInferenceInstanceTypes"]
    evaluation = _output_uri("Evaluate", "evaluation")
    assert args["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": {"Std:Join": {"On": "/", "Values": [evaluation, "evaluation.json"]}},
    }
    # The drift baseline travels with the version as its data-quality statistics.
    assert args["ModelMetrics"]["ModelDataQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": {"Std:Join": {"On": "/", "Values": [evaluation, "baseline.json"]}},
    }
    assert args["SamplePayloadUrl"] == {
        "Std:Join": {"On": "/", "Values": [evaluation, "sample-payload.tar.gz"]}
    }


def test_caching_is_on_for_the_jobs(steps: dict[str, Any]) -> None:
    for name in ("Preprocess", "Train", "Evaluate"):
        assert steps[name]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}, name


def test_kms_key_encrypts_every_volume_and_output(steps: dict[str, Any]) -> None:
    for name in ("Preprocess", "Evaluate"):
        args = steps[name]["Arguments"]
        assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS_KEY, name
        assert args["ProcessingOutputConfig"]["KmsKeyId"] == KMS_KEY, name
    train = steps["Train"]["Arguments"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == KMS_KEY
    assert train["OutputDataConfig"]["KmsKeyId"] == KMS_KEY


def test_jobs_run_network_isolated_with_encrypted_traffic(steps: dict[str, Any]) -> None:
    for name in ("Preprocess", "Evaluate"):
        assert steps[name]["Arguments"]["NetworkConfig"] == {
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": True,
        }, name
    train = steps["Train"]["Arguments"]
    assert train["EnableNetworkIsolation"] is True
    assert train["EnableInterContainerTrafficEncryption"] is True


def test_spot_variant_differs_only_in_spot_training(
    standard: dict[str, Any], spot: dict[str, Any]
) -> None:
    spot = copy.deepcopy(spot)
    train = _steps(spot)["Train"]["Arguments"]
    assert train.pop("EnableManagedSpotTraining") is True
    stopping = train["StoppingCondition"]
    assert stopping.pop("MaxWaitTimeInSeconds") >= stopping["MaxRuntimeInSeconds"]
    checkpoint = train.pop("CheckpointConfig")
    assert _is_run_uri(checkpoint["S3Uri"], "Train", "checkpoints")
    assert checkpoint["LocalPath"] == "/opt/ml/checkpoints"
    assert spot == standard


# --- AWS pipeline definition schema -------------------------------------------------------------

# What CreatePipeline needs of each step type we use (keys of the AWS definition schema and the
# required members of the job APIs behind them). The schema itself lags the SDK (no
# PropertyFiles, Std:JsonGet, ModelApprovalStatus...), so only these facts are checked always.
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
COMMON_STEP_KEYS = {"Name", "Type", "Arguments", "DependsOn", "DisplayName", "Description"}
ALLOWED_STEP_KEYS = {
    "Processing": COMMON_STEP_KEYS | {"RetryPolicies", "CacheConfig", "PropertyFiles"},
    "Training": COMMON_STEP_KEYS | {"RetryPolicies", "CacheConfig"},
    "RegisterModel": COMMON_STEP_KEYS | {"RetryPolicies"},
    "Condition": COMMON_STEP_KEYS,
    "Fail": COMMON_STEP_KEYS,
    "Lambda": COMMON_STEP_KEYS | {"FunctionArn", "OutputParameters", "CacheConfig"},
}
REQUIRED_ARGUMENTS = {
    "Processing": {"AppSpecification", "ProcessingResources", "RoleArn"},
    "Training": {
        "AlgorithmSpecification",
        "OutputDataConfig",
        "ResourceConfig",
        "RoleArn",
        "StoppingCondition",
    },
    "RegisterModel": {"InferenceSpecification", "ModelPackageGroupName"},
    "Condition": {"Conditions"},
    "Fail": {"ErrorMessage"},
    "Lambda": set(),
}


@pytest.mark.parametrize("spot_variant", [False, True], ids=["standard", "spot"])
def test_steps_have_the_shape_create_pipeline_needs(spot_variant: bool) -> None:
    template = load_template(spot=spot_variant)
    assert template["Version"] == "2020-12-01"
    for name, step in _steps(template).items():
        kind = step["Type"]
        assert STEP_NAME.match(name), name
        assert {"Name", "Type", "Arguments"} <= set(step), name
        assert set(step) <= ALLOWED_STEP_KEYS[kind], (name, set(step) - ALLOWED_STEP_KEYS[kind])
        missing = REQUIRED_ARGUMENTS[kind] - set(step["Arguments"])
        assert not missing, (name, missing)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


def test_the_schema_is_the_upstream_file_its_readme_names(schema: dict[str, Any]) -> None:
    (recorded,) = re.findall(r"sha256: `([0-9a-f]{64})`", (SCHEMA_DIR / "README.md").read_text())
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == recorded
    assert schema["title"] == "SageMaker Pipeline Definition JSON Schema"
    assert {"ProcessingStep", "TrainingStep", "RegisterModelStep"} <= set(schema["definitions"])


def _validator(schema: dict[str, Any], definition: str) -> Any:
    ref = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return jsonschema.Draft7Validator(ref)


def _type_name_and_required_errors(validator: Any, instance: dict[str, Any]) -> list[str]:
    """Schema errors about Type, Name or a missing required key, at the step or its Arguments."""
    errors = []
    for error in validator.iter_errors(instance):
        path = list(error.absolute_path)
        if error.validator == "required" and path in ([], ["Arguments"]):
            errors.append(error.message)
        elif path in (["Type"], ["Name"]):
            errors.append(f"{path[0]}: {error.message}")
    return errors


@pytest.mark.parametrize("spot_variant", [False, True], ids=["standard", "spot"])
def test_steps_match_the_aws_schema(schema: dict[str, Any], spot_variant: bool) -> None:
    definitions = {
        "Processing": "ProcessingStep",
        "Training": "TrainingStep",
        "RegisterModel": "RegisterModelStep",
        "Condition": "ConditionStep",
        "Fail": "FailStep",
        "Lambda": "LambdaStep",
    }
    template = load_template(spot=spot_variant)
    for name, step in _steps(template).items():
        validator = _validator(schema, definitions[step["Type"]])
        assert _type_name_and_required_errors(validator, step) == [], name
        # Sub-structures the schema already knows in full are checked strictly.
        if "CacheConfig" in step:
            cache = _validator(schema, "CacheConfig")
            assert list(cache.iter_errors(step["CacheConfig"])) == [], name
        if step["Type"] == "Lambda":
            # The schema knows a Lambda step whole: checked strictly, not only required keys.
            assert list(validator.iter_errors(step)) == [], name
    for parameter in template["Parameters"]:
        validator = _validator(schema, f"{parameter['Type']}Parameter")
        assert list(validator.iter_errors(parameter)) == [], parameter["Name"]


# --- per-environment hyperparameters ------------------------------------------------------------


def test_hyperparameter_overrides_reach_the_training_job_as_strings() -> None:
    rendered = render(
        load_template(spot=False),
        values=VALUES,
        parameter_defaults=DEFAULTS,
        hyperparameters={"max_depth": 4, "eta": 0.05, "max_cat_to_onehot": 8},
    )
    hyperparameters = _steps(rendered)["Train"]["Arguments"]["HyperParameters"]
    assert hyperparameters["max_depth"] == "4"
    assert hyperparameters["eta"] == "0.05"
    assert hyperparameters["max_cat_to_onehot"] == "8"
    # The rest stays as hyperparameters.json says.
    assert hyperparameters["num_round"] == "500"


def test_without_overrides_the_template_hyperparameters_are_untouched() -> None:
    template = load_template(spot=False)
    rendered = render(template, values=VALUES, parameter_defaults=DEFAULTS, hyperparameters={})
    assert (
        _steps(rendered)["Train"]["Arguments"]["HyperParameters"]
        == _steps(template)["Train"]["Arguments"]["HyperParameters"]
    )


# --- private networking -------------------------------------------------------------------------

VPC_CONFIG = {
    "Subnets": ["subnet-0123456789abcdef0", "subnet-01234567"],
    "SecurityGroupIds": ["sg-0123456789abcdef0"],
}


def _in_vpc(spot: bool = False) -> dict[str, Any]:
    return render(
        load_template(spot=spot), values=VALUES, parameter_defaults=DEFAULTS, vpc_config=VPC_CONFIG
    )


@pytest.mark.parametrize("spot_variant", [False, True], ids=["standard", "spot"])
def test_vpc_config_reaches_every_job_step_and_isolation_stays_on(spot_variant: bool) -> None:
    template = load_template(spot=spot_variant)
    rendered = _in_vpc(spot_variant)
    steps = _steps(rendered)
    for name in ("Preprocess", "Evaluate"):
        assert steps[name]["Arguments"]["NetworkConfig"] == {
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": True,
            "VpcConfig": VPC_CONFIG,
        }, name
    train = steps["Train"]["Arguments"]
    assert train["VpcConfig"] == VPC_CONFIG
    assert train["EnableNetworkIsolation"] is True
    assert train["EnableInterContainerTrafficEncryption"] is True
    # Nothing else changes: removing the VpcConfigs gives the plain rendering back.
    for name in ("Preprocess", "Evaluate"):
        del steps[name]["Arguments"]["NetworkConfig"]["VpcConfig"]
    del train["VpcConfig"]
    assert rendered == render(template, values=VALUES, parameter_defaults=DEFAULTS)


def _network_errors(validator: Any, step: dict[str, Any]) -> list[str]:
    """Schema errors in a step's network settings, or about where they are."""
    return [
        f"{list(error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(step)
        if {"NetworkConfig", "VpcConfig"} & set(map(str, error.absolute_path))
        or "VpcConfig" in error.message
        or "NetworkConfig" in error.message
    ]


def test_vpc_config_matches_the_aws_schema_strictly(schema: dict[str, Any]) -> None:
    steps = _steps(_in_vpc())
    for name, definition in (
        ("Preprocess", "ProcessingStep"),
        ("Evaluate", "ProcessingStep"),
        ("Train", "TrainingStep"),
    ):
        validator = _validator(schema, definition)
        assert _network_errors(validator, steps[name]) == [], name
        # The check can fail: a misplaced or misspelt key is reported.
        wrong = copy.deepcopy(steps[name])
        wrong["Arguments"]["VpcConfigs"] = VPC_CONFIG
        if name == "Train":
            wrong["Arguments"]["VpcConfig"] = {"Subnet": ["subnet-01234567"]}
        else:
            wrong["Arguments"]["NetworkConfig"]["VpcConfig"] = {"Subnet": ["subnet-01234567"]}
        assert len(_network_errors(validator, wrong)) == 2, name


def test_vpc_config_does_not_alias_between_steps() -> None:
    steps = _steps(_in_vpc())
    steps["Train"]["Arguments"]["VpcConfig"]["Subnets"].append("subnet-89abcdef")
    assert steps["Preprocess"]["Arguments"]["NetworkConfig"]["VpcConfig"] == VPC_CONFIG


@pytest.mark.parametrize(
    ("vpc_config", "error"),
    [
        ({"Subnets": ["subnet-01234567"]}, "missing VpcConfig key"),
        ({**VPC_CONFIG, "VpcId": ["vpc-01234567"]}, "unknown VpcConfig key"),
        ({**VPC_CONFIG, "Subnets": []}, "at least one subnet and one security group"),
    ],
)
def test_render_rejects_a_malformed_vpc_config(vpc_config: dict[str, Any], error: str) -> None:
    with pytest.raises(TemplateError, match=error):
        render(
            load_template(spot=False),
            values=VALUES,
            parameter_defaults=DEFAULTS,
            vpc_config=vpc_config,
        )


def test_render_refuses_a_compute_step_it_cannot_place_in_the_vpc() -> None:
    template = load_template(spot=False)
    template["Steps"].append({"Name": "Score", "Type": "Transform", "Arguments": {}})
    with pytest.raises(TemplateError, match="steps Score run compute"):
        render(template, values=VALUES, parameter_defaults=DEFAULTS, vpc_config=VPC_CONFIG)
