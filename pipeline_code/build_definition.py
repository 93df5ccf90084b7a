"""Generate the committed SageMaker Pipeline definition templates with the SageMaker SDK v3.

    python -m pipeline_code.build_definition            # rewrite pipeline_code/definitions/
    python -m pipeline_code.build_definition --check    # exit 1 if the committed files drifted

The definition is built once, offline and environment-independent: every account-, region- or
deploy-specific value is a placeholder literal (``placeholders.py``) that the CDK app replaces at
synth time (``template.render``), so the CDK app never imports this ~1 GB SDK. Writes:

* ``definitions/standard.json`` and ``definitions/spot.json``: the two pipeline variants (the
  spot one trains on managed spot capacity with checkpoints);
* ``definitions/image_uris.json``: region -> {"processing": scikit-learn image, "xgboost":
  XGBoost framework image}, for every region the SDK's bundled image table knows for both.

Output is JSON with sorted keys and a trailing newline, byte-for-byte deterministic, and the
build makes no network call (``--check`` is the drift gate run in CI and by the test suite).
Run it as its own process: importing this module reconfigures the process environment.
"""

# The offline environment has to be in place before the SDK is imported (it resolves the
# region at import time), so the SDK imports below deliberately follow code.
# ruff: noqa: E402

from __future__ import annotations

import os
import time


def _configure_offline_environment() -> None:
    """Make the SDK hermetic: fake credentials, fixed region, no metadata service, no config.

    Forced rather than defaulted so a developer's profile, region or SageMaker config file can
    neither reach AWS nor leak into the committed output.
    """
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        os.environ.pop(name)
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        os.environ.pop(name, None)
    os.environ.update(
        {
            # Credentials must exist (boto3 clients are created eagerly) but are never used.
            "AWS_ACCESS_KEY_ID": "AKIAOFFLINEBUILD0000",
            "AWS_SECRET_ACCESS_KEY": "offline-build-not-a-secret",
            # The build region only selects the SDK's code paths; nothing regional is emitted.
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            # The role placeholder is a full ARN; this also stops any iam:GetRole check.
            "SAGEMAKER_VALIDATE_ROLE": "false",
            # An empty SDK defaults config: a developer's ~/.config/sagemaker/config.yaml
            # would otherwise inject its defaults (tags, KMS keys, VPCs) into the template.
            "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": os.devnull,
            "SAGEMAKER_USER_CONFIG_OVERRIDE": os.devnull,
        }
    )


_configure_offline_environment()

import argparse
import difflib
import functools
import json
import logging
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from pipeline_code.placeholders import PLACEHOLDERS
from pipeline_code.tabular_model import validate_hyperparameters

_sdk_import_started = time.perf_counter()
import sagemaker.core.telemetry.telemetry_logging as _core_telemetry
import sagemaker.serve.utils.telemetry_logger as _serve_telemetry
from sagemaker.core import common_utils, image_uris
from sagemaker.core.lambda_helper import Lambda
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.network import NetworkConfig
from sagemaker.core.processing import ScriptProcessor
from sagemaker.core.shapes import (
    Channel,
    DataSource,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
    S3DataSource,
)
from sagemaker.core.training.configs import (
    CheckpointConfig,
    Compute,
    InputData,
    Networking,
    OutputDataConfig,
    StoppingCondition,
)
from sagemaker.core.workflow.conditions import ConditionEquals
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow.condition_step import ConditionStep
from sagemaker.mlops.workflow.fail_step import FailStep
from sagemaker.mlops.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
from sagemaker.mlops.workflow.model_step import ModelStep
from sagemaker.mlops.workflow.pipeline import Pipeline
from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train import ModelTrainer

SDK_IMPORT_SECONDS = time.perf_counter() - _sdk_import_started


def _no_telemetry(*_args: object, **_kwargs: object) -> None:
    return None


# SDK telemetry sends an STS call plus an HTTPS GET per decorated call. The documented opt-out
# (TelemetryOptOut in an SDK config) makes every config lookup re-validate the whole config
# schema, seconds per build, so the two senders are replaced instead (looked up at call time).
_core_telemetry._send_telemetry_request = _no_telemetry
_serve_telemetry._send_telemetry = _no_telemetry

PACKAGE_DIR = Path(__file__).resolve().parent
DEFINITIONS_DIR = PACKAGE_DIR / "definitions"
HYPERPARAMETERS_FILE = PACKAGE_DIR / "hyperparameters.json"

# Pinned so that an SDK upgrade never swaps an image silently; the build reports newer ones.
XGBOOST_VERSION = "3.2-0"
SKLEARN_VERSION = "1.9-0"

STEP_PREPROCESS = "Preprocess"
STEP_TRAIN = "Train"
STEP_FIND_CHAMPION = "FindChampion"
STEP_EVALUATE = "Evaluate"
STEP_CHECK_GATE = "CheckGate"
STEP_REGISTER = "RegisterModel"
STEP_FAIL = "ModelRejected"

SPLITS = ("train", "validation", "test")
EVALUATION_OUTPUT = "evaluation"
EVALUATION_FILE = "evaluation.json"
GATE_REPORT = "GateReport"
GATE_FILE = "gate.json"
SAMPLE_PAYLOAD_FILE = "sample-payload.tar.gz"
BASELINE_FILE = "baseline.json"

PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING_ROOT}/input/code"  # where ScriptProcessor mounts the script
INPUT_DATA_DIR = f"{PROCESSING_ROOT}/input/data"
MODEL_DIR = f"{PROCESSING_ROOT}/model"
CHAMPION_DIR = f"{PROCESSING_ROOT}/champion"
TRAIN_DIR = f"{PROCESSING_ROOT}/train"
DRIFT_CODE_DIR = f"{PROCESSING_ROOT}/input/drift"
TEST_DIR = f"{PROCESSING_ROOT}/test"
EVALUATION_DIR = f"{PROCESSING_ROOT}/evaluation"
# The training job runs tabular_model.py from its code channel with the image's Python: no
# training toolkit, no pip install, the same command as `make local-run`.
TRAIN_CODE_CHANNEL = "code"
TRAIN_CODE_DIR = f"/opt/ml/input/data/{TRAIN_CODE_CHANNEL}"
# N training instances train one model together (tabular_model.py): each reads its share of
# the train split's files and the whole validation split, whose metric is then the same on
# every instance. With one instance, ShardedByS3Key gives it every file, so one definition
# serves every TrainingInstanceCount.
TRAINING_CHANNEL_DISTRIBUTION: Mapping[str, str] = {
    "train": "ShardedByS3Key",
    "validation": "FullyReplicated",
}
# The model archive carries its serving code (code/inference.py, written by tabular_model.py);
# the XGBoost container serves it in script mode from these two variables.
SERVING_ENVIRONMENT: Mapping[str, str] = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    # A request without Accept (or */*) gets CSV; the container's own default is JSON.
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
}
# What the serving code reads and answers (docs/model-contract.md, section 3).
CONTENT_TYPES = ("text/csv", "application/json")

CACHE_EXPIRY = "P30D"
PROCESSING_MAX_RUNTIME_SECONDS = 3600
TRAINING_MAX_RUNTIME_SECONDS = 3600
# Spot capacity may take a while: the job may wait as long again as it may run.
SPOT_MAX_WAIT_SECONDS = 2 * TRAINING_MAX_RUNTIME_SECONDS
VOLUME_SIZE_GB = 30

# CPU instances suit a tabular XGBoost model (the image is CPU-only at inference).
INFERENCE_INSTANCE_TYPES = (
    "ml.t2.medium",
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.c5.large",
    "ml.c5.xlarge",
    "ml.c5.2xlarge",
)
TRANSFORM_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge")

# Placeholders of the right type only: template.render sets every default per environment.
PARAMETER_DEFAULTS: Mapping[str, str | int | float] = {
    "InputDataUri": "s3://set-at-cdk-synth/input/",
    "ProcessingInstanceType": "ml.m5.xlarge",
    "ProcessingInstanceCount": 1,
    "TrainingInstanceType": "ml.m5.xlarge",
    "TrainingInstanceCount": 1,
    "MetricThreshold": 0.8,
    "ModelApprovalStatus": "PendingManualApproval",
    # The label value that is class 1; empty: the labels are 0/1 or true/false.
    "PositiveClass": "",
    # Comma-separated columns Preprocess drops before anything else; empty: none.
    "ExcludeColumns": "",
    # A test split with fewer rows of a class cannot measure the gate metric.
    "MinPositives": 1,
    "MinNegatives": 1,
    # How much worse than the approved model (on the same test split) a new one may be.
    "ChampionMargin": 0.0,
}

VARIANTS = ("standard", "spot")


def _parameters() -> dict[str, Any]:
    """The pipeline parameters by name, in definition order."""
    kinds = {
        "InputDataUri": ParameterString,
        "ProcessingInstanceType": ParameterString,
        "ProcessingInstanceCount": ParameterInteger,
        "TrainingInstanceType": ParameterString,
        "TrainingInstanceCount": ParameterInteger,
        "MetricThreshold": ParameterFloat,
        "ModelApprovalStatus": ParameterString,
        "PositiveClass": ParameterString,
        "ExcludeColumns": ParameterString,
        "MinPositives": ParameterInteger,
        "MinNegatives": ParameterInteger,
        "ChampionMargin": ParameterFloat,
    }
    return {
        name: kind(name, default_value=PARAMETER_DEFAULTS[name]) for name, kind in kinds.items()
    }


def _run_uri(*parts: str) -> Any:
    """s3://<artifact bucket>/pipelines/<pipeline name>/<execution id>/<parts...>.

    Per-execution prefixes keep concurrent and past runs apart. Step caching is unaffected:
    output locations are not part of a processing or training step's cache key.
    """
    return Join(
        on="/",
        values=[
            f"s3://{PLACEHOLDERS['ARTIFACT_BUCKET']}/pipelines",
            ExecutionVariables.PIPELINE_NAME,
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            *parts,
        ],
    )


def _load_hyperparameters(path: Path = HYPERPARAMETERS_FILE) -> dict[str, str | int | float]:
    """The file's hyperparameters, validated exactly as the training script validates them.

    The file's own spelling is kept (validation only checks it), so the definition shows what
    the file says; a file the training job would refuse stops the build instead.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        validate_hyperparameters(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return dict(data)


def _processing_network() -> Any:
    # The scripts read and write only the local paths SageMaker stages for them.
    return NetworkConfig(enable_network_isolation=True, encrypt_inter_container_traffic=True)


def _preprocess_step(session: Any, params: Mapping[str, Any], cache: Any) -> Any:
    processor = ScriptProcessor(
        role=PLACEHOLDERS["ROLE_ARN"],
        image_uri=PLACEHOLDERS["PROCESSING_IMAGE_URI"],
        command=["python3"],
        instance_type=params["ProcessingInstanceType"],
        instance_count=params["ProcessingInstanceCount"],
        volume_size_in_gb=VOLUME_SIZE_GB,
        volume_kms_key=PLACEHOLDERS["KMS_KEY_ARN"],
        output_kms_key=PLACEHOLDERS["KMS_KEY_ARN"],
        max_runtime_in_seconds=PROCESSING_MAX_RUNTIME_SECONDS,
        base_job_name="preprocess",
        network_config=_processing_network(),
        sagemaker_session=session,
    )
    split_dirs = {split: f"{PROCESSING_ROOT}/{split}" for split in SPLITS}
    step_args = processor.run(
        code=PLACEHOLDERS["PREPROCESS_SCRIPT_URI"],
        inputs=[
            ProcessingInput(
                input_name="input-data",
                s3_input=ProcessingS3Input(
                    s3_uri=params["InputDataUri"],
                    local_path=INPUT_DATA_DIR,
                    s3_data_type="S3Prefix",
                    s3_input_mode="File",
                    # Each instance gets its share of the files; they agree on one verdict
                    # and split by a hash of each row (preprocess.py), so N instances share
                    # the work that FullyReplicated would have each repeat.
                    s3_data_distribution_type="ShardedByS3Key",
                ),
            )
        ],
        outputs=[
            ProcessingOutput(
                output_name=split,
                s3_output=ProcessingS3Output(
                    s3_uri=_run_uri(STEP_PREPROCESS, split),
                    local_path=split_dirs[split],
                    s3_upload_mode="EndOfJob",
                ),
            )
            for split in SPLITS
        ],
        # The script defaults to these paths; spelled out so the definition documents them.
        arguments=[
            "--label-column",
            PLACEHOLDERS["LABEL_COLUMN"],
            # One `--positive-class=<value>` argument: it stays a non-empty container
            # argument when the environment names no positive class.
            Join(on="=", values=["--positive-class", params["PositiveClass"]]),
            Join(on="=", values=["--exclude-columns", params["ExcludeColumns"]]),
            # One train file per training instance and processing instance: the Train step's
            # train channel is sharded by S3 key, so each training instance gets its part.
            Join(on="=", values=["--train-parts", params["TrainingInstanceCount"]]),
            "--input-dir",
            INPUT_DATA_DIR,
            "--train-dir",
            split_dirs["train"],
            "--validation-dir",
            split_dirs["validation"],
            "--test-dir",
            split_dirs["test"],
        ],
    )
    return ProcessingStep(name=STEP_PREPROCESS, step_args=step_args, cache_config=cache)


def _train_step(
    session: Any, params: Mapping[str, Any], cache: Any, preprocess: Any, *, spot: bool
) -> Any:
    kms_key = PLACEHOLDERS["KMS_KEY_ARN"]
    trainer = ModelTrainer(
        training_image=PLACEHOLDERS["XGBOOST_IMAGE_URI"],
        role=PLACEHOLDERS["ROLE_ARN"],
        base_job_name="train",
        hyperparameters=_load_hyperparameters(),
        compute=Compute(
            instance_type=params["TrainingInstanceType"],
            instance_count=params["TrainingInstanceCount"],
            volume_size_in_gb=VOLUME_SIZE_GB,
            volume_kms_key_id=kms_key,
            enable_managed_spot_training=True if spot else None,
        ),
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=TRAINING_MAX_RUNTIME_SECONDS,
            max_wait_time_in_seconds=SPOT_MAX_WAIT_SECONDS if spot else None,
        ),
        # Explicit, or the SDK asks S3 for its default bucket.
        output_data_config=OutputDataConfig(
            s3_output_path=_run_uri(STEP_TRAIN), kms_key_id=kms_key
        ),
        # Per execution: the training script resumes from whatever it finds there, so a
        # shared prefix would resume an unrelated run. (CheckpointConfig is part of the
        # training cache key, so the spot variant's Train step does not reuse past runs.)
        checkpoint_config=(
            CheckpointConfig(s3_uri=_run_uri(STEP_TRAIN, "checkpoints")) if spot else None
        ),
        # The script needs no network; SageMaker stages code, data and artifacts.
        networking=Networking(
            enable_network_isolation=True, enable_inter_container_traffic_encryption=True
        ),
        sagemaker_session=session,
    )
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    step_args = trainer.train(
        input_data_config=[
            Channel(
                channel_name=channel,
                data_source=DataSource(
                    s3_data_source=S3DataSource(
                        s3_data_type="S3Prefix",
                        s3_uri=outputs[channel].S3Output.S3Uri,
                        s3_data_distribution_type=TRAINING_CHANNEL_DISTRIBUTION[channel],
                    )
                ),
                content_type="text/csv",
                input_mode="File",
            )
            for channel in ("train", "validation")
        ]
        # The one-object prefix of the script's CDK asset: it lands as
        # /opt/ml/input/data/code/<asset key>, which the container entrypoint names.
        + [InputData(channel_name=TRAIN_CODE_CHANNEL, data_source=PLACEHOLDERS["TRAIN_SCRIPT_URI"])]
    )
    return TrainingStep(name=STEP_TRAIN, step_args=step_args, cache_config=cache)


def _find_champion_step(train: Any) -> Any:
    """The approved model version the new one must not fall behind, looked up at run time.

    Not cached: approvals change between executions. Without an approved version the function
    answers the new model's own archive (so Evaluate's champion input always exists) and an
    empty ARN, which tells Evaluate there is no champion.
    """
    return LambdaStep(
        name=STEP_FIND_CHAMPION,
        lambda_func=Lambda(function_arn=PLACEHOLDERS["FIND_CHAMPION_FUNCTION_ARN"]),
        inputs={
            "ModelPackageGroupName": PLACEHOLDERS["MODEL_PACKAGE_GROUP"],
            "FallbackModelDataUrl": train.properties.ModelArtifacts.S3ModelArtifacts,
        },
        outputs=[
            LambdaOutput(output_name=name, output_type=LambdaOutputTypeEnum.String)
            for name in ("ModelPackageArn", "ModelDataUrl")
        ],
    )


def _processing_input(name: str, s3_uri: Any, local_path: str) -> Any:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=s3_uri, local_path=local_path, s3_data_type="S3Prefix", s3_input_mode="File"
        ),
    )


def _option(flag: str, value: Any) -> Any:
    """One ``--flag=<value>`` container argument: it stays one non-empty argument whatever the
    value (an empty ARN or column list included)."""
    return Join(on="=", values=[flag, value])


def _evaluate_step(
    session: Any,
    params: Mapping[str, Any],
    cache: Any,
    steps: Mapping[str, Any],
) -> tuple[Any, Any]:
    preprocess, train, champion = (
        steps[STEP_PREPROCESS],
        steps[STEP_TRAIN],
        steps[STEP_FIND_CHAMPION],
    )
    # The scikit-learn image has no xgboost: evaluate in the XGBoost image, where each model
    # is scored by the serving code inside its own archive, as its endpoint would score it.
    processor = ScriptProcessor(
        role=PLACEHOLDERS["ROLE_ARN"],
        image_uri=PLACEHOLDERS["XGBOOST_IMAGE_URI"],
        command=["python3"],
        instance_type=params["ProcessingInstanceType"],
        # One process scores the test split; more instances would only repeat the work.
        instance_count=1,
        volume_size_in_gb=VOLUME_SIZE_GB,
        volume_kms_key=PLACEHOLDERS["KMS_KEY_ARN"],
        output_kms_key=PLACEHOLDERS["KMS_KEY_ARN"],
        max_runtime_in_seconds=PROCESSING_MAX_RUNTIME_SECONDS,
        base_job_name="evaluate",
        network_config=_processing_network(),
        sagemaker_session=session,
    )
    gate = PropertyFile(name=GATE_REPORT, output_name=EVALUATION_OUTPUT, path=GATE_FILE)
    test_uri = preprocess.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri
    step_args = processor.run(
        code=PLACEHOLDERS["EVALUATE_SCRIPT_URI"],
        inputs=[
            _processing_input("model", train.properties.ModelArtifacts.S3ModelArtifacts, MODEL_DIR),
            _processing_input("test", test_uri, TEST_DIR),
            _processing_input(
                "champion", champion.properties.Outputs["ModelDataUrl"], CHAMPION_DIR
            ),
            # The training split and drift.py: Evaluate writes the model's drift baseline.
            _processing_input(
                "train",
                preprocess.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri,
                TRAIN_DIR,
            ),
            _processing_input("drift-code", PLACEHOLDERS["DRIFT_SCRIPT_URI"], DRIFT_CODE_DIR),
        ],
        outputs=[
            ProcessingOutput(
                output_name=EVALUATION_OUTPUT,
                s3_output=ProcessingS3Output(
                    s3_uri=_run_uri(STEP_EVALUATE, EVALUATION_OUTPUT),
                    local_path=EVALUATION_DIR,
                    s3_upload_mode="EndOfJob",
                ),
            )
        ],
        # Paths are the script's defaults, spelled out so the definition documents them.
        arguments=[
            "--model-dir",
            MODEL_DIR,
            "--test-dir",
            TEST_DIR,
            "--champion-dir",
            CHAMPION_DIR,
            "--train-dir",
            TRAIN_DIR,
            "--drift-module",
            f"{DRIFT_CODE_DIR}/{PLACEHOLDERS['DRIFT_SCRIPT_NAME']}",
            "--output-dir",
            EVALUATION_DIR,
            "--metric",
            PLACEHOLDERS["METRIC_NAME"],
            _option("--threshold", params["MetricThreshold"]),
            _option("--min-positives", params["MinPositives"]),
            _option("--min-negatives", params["MinNegatives"]),
            _option("--champion-margin", params["ChampionMargin"]),
            _option("--champion-package-arn", champion.properties.Outputs["ModelPackageArn"]),
        ],
    )
    step = ProcessingStep(
        name=STEP_EVALUATE, step_args=step_args, property_files=[gate], cache_config=cache
    )
    return step, gate


def _register_step(
    session: Any, params: Mapping[str, Any], train: Any, evaluate: Any, gate: Any
) -> Any:
    evaluation_uri = evaluate.properties.ProcessingOutputConfig.Outputs[
        EVALUATION_OUTPUT
    ].S3Output.S3Uri
    builder = ModelBuilder(
        s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
        image_uri=PLACEHOLDERS["XGBOOST_IMAGE_URI"],
        role_arn=PLACEHOLDERS["ROLE_ARN"],
        env_vars=dict(SERVING_ENVIRONMENT),
        sagemaker_session=session,
        # The default {"auto": True} asks S3 for the session's default bucket.
        dependencies=None,
        log_level=logging.ERROR,
    )
    step_args = builder.register(
        model_package_group_name=PLACEHOLDERS["MODEL_PACKAGE_GROUP"],
        approval_status=params["ModelApprovalStatus"],
        content_types=list(CONTENT_TYPES),
        response_types=list(CONTENT_TYPES),
        inference_instances=list(INFERENCE_INSTANCE_TYPES),
        transform_instances=list(TRANSFORM_INSTANCE_TYPES),
        model_metrics=ModelMetrics(
            model_statistics=MetricsSource(
                content_type="application/json",
                s3_uri=Join(on="/", values=[evaluation_uri, EVALUATION_FILE]),
            ),
            # The drift baseline (pipeline_code/drift.py) travels with the version, so each
            # deployed model is compared with its own training data.
            model_data_statistics=MetricsSource(
                content_type="application/json",
                s3_uri=Join(on="/", values=[evaluation_uri, BASELINE_FILE]),
            ),
        ),
        # The cut-off the model answers labels with (chosen on the validation split), readable
        # without downloading the model: the staging test checks the endpoint against it.
        customer_metadata_properties={
            "DecisionThreshold": Join(
                on="",
                values=[
                    JsonGet(
                        step_name=evaluate.name, property_file=gate, json_path="decision_threshold"
                    )
                ],
            )
        },
        sample_payload_url=Join(on="/", values=[evaluation_uri, SAMPLE_PAYLOAD_FILE]),
    )
    return ModelStep(name=STEP_REGISTER, step_args=step_args)


def _build_pipeline(*, spot: bool) -> Any:
    session = PipelineSession()
    params = _parameters()
    cache = CacheConfig(enable_caching=True, expire_after=CACHE_EXPIRY)

    preprocess = _preprocess_step(session, params, cache)
    train = _train_step(session, params, cache, preprocess, spot=spot)
    champion = _find_champion_step(train)
    evaluate, gate = _evaluate_step(
        session,
        params,
        cache,
        {STEP_PREPROCESS: preprocess, STEP_TRAIN: train, STEP_FIND_CHAMPION: champion},
    )

    # Evaluate decides (gate.json, docs/model-contract.md): the test split can measure the
    # metric, the model predicts both classes, the metric reaches the threshold and the
    # approved model's score minus the margin. The message says which check failed.
    fail = FailStep(
        name=STEP_FAIL,
        error_message=Join(
            on=" ",
            values=[
                "Model not registered:",
                JsonGet(step_name=evaluate.name, property_file=gate, json_path="message"),
            ],
        ),
    )
    check = ConditionStep(
        name=STEP_CHECK_GATE,
        conditions=[
            ConditionEquals(
                left=JsonGet(step_name=evaluate.name, property_file=gate, json_path="register"),
                right=1,
            )
        ],
        if_steps=[_register_step(session, params, train, evaluate, gate)],
        else_steps=[fail],
    )
    return Pipeline(
        # Not part of the definition: the CDK app names the pipeline.
        name="pipeline-definition-template",
        parameters=list(params.values()),
        steps=[preprocess, train, champion, evaluate, check],
        # None rather than the SDK default, which depends on the build region and would make
        # every execution create a SageMaker Experiments experiment and trial.
        pipeline_experiment_config=None,
        sagemaker_session=session,
    )


def _find_step(steps: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    for step in steps:
        if step["Name"] == name:
            return step
    raise KeyError(name)


def _point_entrypoint_at_script_name(
    step: dict[str, Any], *, script_uri: str, script_name: str
) -> None:
    """Replace the script file name the SDK derived from the code URI with its own placeholder.

    ScriptProcessor runs ``python3 <code dir>/<basename of the code URI>``. The real URI is a
    CDK asset whose basename is ``<sha256>.py``, so the basename needs its own placeholder
    (and a URI placeholder containing it would break the no-substring rule of placeholders).
    """
    app = step["Arguments"]["AppSpecification"]
    sdk_entrypoint = ["python3", f"{CODE_DIR}/{PurePosixPath(urlparse(script_uri).path).name}"]
    if app["ContainerEntrypoint"] != sdk_entrypoint:
        raise RuntimeError(
            f"step {step['Name']}: the SDK's entrypoint changed to {app['ContainerEntrypoint']},"
            f" expected {sdk_entrypoint}; update _point_entrypoint_at_script_name"
        )
    app["ContainerEntrypoint"] = ["python3", f"{CODE_DIR}/{script_name}"]


def _run_train_script(step: dict[str, Any]) -> None:
    """Run tabular_model.py from the code channel instead of the image's built-in algorithm.

    CreateTrainingJob's ContainerEntrypoint, which ModelTrainer only sets for its own
    S3-uploaded source code (an upload at build time, which this offline build cannot make).
    """
    spec = step["Arguments"]["AlgorithmSpecification"]
    if "ContainerEntrypoint" in spec:
        raise RuntimeError(
            f"step {step['Name']}: the SDK now sets a container entrypoint "
            f"({spec['ContainerEntrypoint']}); update _run_train_script"
        )
    spec["ContainerEntrypoint"] = [
        "python3",
        f"{TRAIN_CODE_DIR}/{PLACEHOLDERS['TRAIN_SCRIPT_NAME']}",
    ]


def build_definition(*, spot: bool) -> dict[str, Any]:
    """The pipeline definition template of one variant, as a JSON-ready dict."""
    definition: dict[str, Any] = json.loads(_build_pipeline(spot=spot).definition())
    steps = definition["Steps"]
    _run_train_script(_find_step(steps, STEP_TRAIN))
    for step_name, uri_key, name_key in (
        (STEP_PREPROCESS, "PREPROCESS_SCRIPT_URI", "PREPROCESS_SCRIPT_NAME"),
        (STEP_EVALUATE, "EVALUATE_SCRIPT_URI", "EVALUATE_SCRIPT_NAME"),
    ):
        _point_entrypoint_at_script_name(
            _find_step(steps, step_name),
            script_uri=PLACEHOLDERS[uri_key],
            script_name=PLACEHOLDERS[name_key],
        )
    return definition


def _newest_version(framework: str, scope: str) -> str:
    """Newest plain ``X.Y-Z`` version in the SDK's bundled image table (no aliases/variants)."""
    config = image_uris.config_for_framework(framework)
    versions: list[str] = [v for v in config[scope]["versions"] if re.fullmatch(r"\d+\.\d+-\d+", v)]
    return max(versions, key=lambda v: tuple(int(n) for n in re.split(r"[.-]", v)))


def _registries(framework: str, scope: str, version: str) -> set[str]:
    config = image_uris.config_for_framework(framework)
    return set(config[scope]["versions"][version]["registries"])


@contextmanager
def _cached_endpoint_resolver() -> Iterator[None]:
    """image_uris.retrieve re-parses botocore's endpoints.json on every call (~0.1 s each)."""
    original = common_utils._botocore_resolver
    common_utils._botocore_resolver = functools.cache(original)
    try:
        yield
    finally:
        common_utils._botocore_resolver = original


def build_image_uris() -> dict[str, dict[str, str]]:
    """Region -> image URIs, read offline from the JSON tables bundled with the SDK."""
    with _cached_endpoint_resolver():
        return _image_uris_by_region()


def _image_uris_by_region() -> dict[str, dict[str, str]]:
    regions = _registries("xgboost", "training", XGBOOST_VERSION) & _registries(
        "sklearn", "training", SKLEARN_VERSION
    )
    table: dict[str, dict[str, str]] = {}
    for region in sorted(regions):
        xgboost = image_uris.retrieve(
            "xgboost", region=region, version=XGBOOST_VERSION, image_scope="training"
        )
        # One URI serves training, evaluation and hosting, so the scopes must agree.
        xgboost_inference = image_uris.retrieve(
            "xgboost", region=region, version=XGBOOST_VERSION, image_scope="inference"
        )
        if xgboost_inference != xgboost:
            raise RuntimeError(
                f"{region}: XGBoost {XGBOOST_VERSION} training image {xgboost} differs from "
                f"its inference image {xgboost_inference}; the template has one XGBoost image"
            )
        table[region] = {
            # ScriptProcessor is v2's SKLearnProcessor minus the class: same (training) image.
            "processing": image_uris.retrieve(
                "sklearn", region=region, version=SKLEARN_VERSION, image_scope="training"
            ),
            "xgboost": xgboost,
        }
    return table


def to_json(document: object) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class BuildResult:
    files: dict[str, str]  # file name in definitions/ -> exact content
    seconds: dict[str, float]  # what each part of the build took


def build_all() -> BuildResult:
    """Every committed file, in memory."""
    files: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for variant in VARIANTS:
        started = time.perf_counter()
        files[f"{variant}.json"] = to_json(build_definition(spot=variant == "spot"))
        seconds[variant] = time.perf_counter() - started
    started = time.perf_counter()
    files["image_uris.json"] = to_json(build_image_uris())
    seconds["image_uris"] = time.perf_counter() - started
    return BuildResult(files=files, seconds=seconds)


def drift(files: Mapping[str, str], directory: Path) -> list[str]:
    """A unified diff per file in ``directory`` that differs from ``files`` (empty: no drift)."""
    reports = []
    for name, expected in sorted(files.items()):
        path = directory / name
        committed = path.read_text(encoding="utf-8") if path.is_file() else ""
        if committed == expected:
            continue
        diff = difflib.unified_diff(
            committed.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile=f"{path} (committed)" if path.is_file() else f"{path} (missing)",
            tofile=f"{path} (built now)",
        )
        reports.append("".join(diff))
    return reports


def _newer_images_note() -> str | None:
    pinned = {"xgboost": XGBOOST_VERSION, "sklearn": SKLEARN_VERSION}
    newer = {
        framework: newest
        for framework, version in pinned.items()
        if (newest := _newest_version(framework, "training")) != version
    }
    if not newer:
        return None
    listed = ", ".join(f"{f} {v} (pinned {pinned[f]})" for f, v in newer.items())
    return f"note: the SDK lists newer images: {listed}"


def _quiet_sdk(verbose: bool) -> None:
    if verbose:
        logging.basicConfig(level=logging.INFO)
        return
    # Expected noise, some of it from loggers the SDK sets to INFO itself: job names popped
    # from the definition, "no job started" in a pipeline session, credentials found,
    # telemetry and defaults notices. Errors still show.
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"sagemaker(\.|$)")


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline_code.build_definition", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="build in memory and exit 1 if any committed file differs (the drift gate)",
    )
    parser.add_argument("--definitions-dir", type=Path, default=DEFINITIONS_DIR)
    parser.add_argument("--verbose", action="store_true", help="show SDK logs and timings")
    args = parser.parse_args(argv)
    _quiet_sdk(args.verbose)

    result = build_all()
    if args.verbose:
        timings = {"sdk_import": SDK_IMPORT_SECONDS, **result.seconds}
        out("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    if note := _newer_images_note():
        out(note)

    if args.check:
        reports = drift(result.files, args.definitions_dir)
        for report in reports:
            out(report)
        if reports:
            out(
                f"{len(reports)} pipeline definition file(s) out of date; regenerate with"
                " `python -m pipeline_code.build_definition` and commit the result"
            )
            return 1
        out(f"pipeline definitions up to date ({', '.join(sorted(result.files))})")
        return 0

    args.definitions_dir.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(result.files.items()):
        path = args.definitions_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8", newline="\n")
            out(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
