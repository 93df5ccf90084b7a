"""Everything that differs between two deployments (dev, prod, ...) of the same project.

Every field is checked at synth time, so a bad value stops `cdk synth` before any template
exists; the messages name the accepted values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.endpoint_settings import EndpointSettings
from config.frozen_settings import FrozenSettings
from config.monitoring_settings import MonitoringSettings, Stage
from config.network_settings import NetworkSettings
from config.powertools_layer import check_powertools_region
from config.retraining_schedule import RetrainingSchedule
from config.source_settings import SourceSettings
from config.validation import (
    ACCOUNT,
    EMAIL,
    ENVIRONMENT_NAME,
    LABEL_COLUMN,
    REGION,
    RESERVED_BUCKET_PREFIXES,
    S3_PREFIX,
    S3_PREFIX_LENGTH_LIMIT,
    BlankIsNone,
    InstanceCount,
    NotBoolean,
    ProcessingInstanceType,
    TrainingInstanceType,
    check_name,
    check_supported_region,
    partition_of,
    pattern,
)
from pipeline_code.tabular_model import HyperparameterError, validate_hyperparameters

# SageMaker names (model package group, pipeline, endpoint) allow at most 63 characters.
SAGEMAKER_NAME_LIMIT = 63
# The longest suffix this app appends to "<project>-<environment>" when naming SageMaker resources.
LONGEST_NAME_SUFFIX = "-staging-endpoint-config"
# S3 bucket names: at most 63 characters; the artifact bucket is
# "<project>-<env>-<account>-<region>".
S3_BUCKET_NAME_LIMIT = 63
ACCOUNT_ID_LENGTH = 12

METRIC_NAMES = ("f1", "accuracy", "precision", "recall", "auc")
# The model's hyperparameters; an environment's `hyperparameters` override some of them.
HYPERPARAMETERS_FILE = (
    Path(__file__).resolve().parents[1] / "pipeline_code" / "hyperparameters.json"
)
HyperparameterValue = str | int | float


def _hyperparameter_values(value: object) -> object:
    """Plain values only: SageMaker passes each one to the training job as a string."""
    if not isinstance(value, Mapping):
        return value
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"hyperparameters.{key} must be a number or a string, got {item!r}")
    return value


def _check_hyperparameters(
    overrides: dict[str, HyperparameterValue],
) -> dict[str, HyperparameterValue]:
    """Validate the file's values with these overrides exactly as the training job will.

    An override must use the file's spelling of a name (eta, not learning_rate, when the file
    sets eta): the job would refuse two spellings of one hyperparameter.
    """
    base = json.loads(HYPERPARAMETERS_FILE.read_text(encoding="utf-8"))
    try:
        validate_hyperparameters({**base, **overrides})
    except HyperparameterError as error:
        raise ValueError(
            f"hyperparameters (merged over {HYPERPARAMETERS_FILE.name}): {error}"
        ) from None
    return overrides


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(",") if name.strip())
    return value


class EnvironmentConfig(FrozenSettings):
    """One environment's settings: cdk.json's defaults, its own entry, then `-c` overrides."""

    name: Annotated[
        str, pattern(ENVIRONMENT_NAME, "1-10 lower-case letters/digits, starting with a letter")
    ]
    region: Annotated[
        str,
        pattern(REGION, "an AWS region code such as eu-west-1"),
        AfterValidator(check_supported_region),
        AfterValidator(check_powertools_region),
    ]
    project_name: Annotated[str, AfterValidator(check_name), Field(min_length=1)]
    account: Annotated[
        Annotated[str, pattern(ACCOUNT, "a 12-digit AWS account id")] | None, BlankIsNone
    ] = None
    termination_protection: bool = False

    metric_name: Literal["f1", "accuracy", "precision", "recall", "auc"] = "f1"
    metric_threshold: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False), NotBoolean] = 0.8
    model_approval: Literal["manual", "automatic"] = "manual"

    schedule: RetrainingSchedule = RetrainingSchedule()
    input_data_prefix: Annotated[
        str,
        Field(max_length=S3_PREFIX_LENGTH_LIMIT),
        pattern(
            S3_PREFIX,
            "an S3 key prefix ending in '/' made of letters, digits and !_.'()- (no '*', "
            "'.' or '..' folders), e.g. input-data/",
        ),
    ] = "input-data/"
    label_column: Annotated[
        str,
        pattern(
            LABEL_COLUMN,
            "a CSV column name of 1-128 characters without quotes, commas, control "
            "characters or surrounding spaces, e.g. label",
        ),
    ] = "label"
    # The label value that is class 1 ("Yes", "malignant"); unset: labels are 0/1 or true/false.
    positive_class: Annotated[
        Annotated[
            str,
            pattern(
                LABEL_COLUMN,
                "a label value of 1-128 characters without quotes, commas, control characters "
                "or surrounding spaces, e.g. Yes",
            ),
        ]
        | None,
        BlankIsNone,
    ] = None

    # Columns dropped before anything else (identifiers, free text): never checked or trained on.
    # A list in cdk.json; `-c dev.exclude_columns=id,rownames` on the command line.
    exclude_columns: Annotated[
        tuple[
            Annotated[
                str,
                pattern(
                    LABEL_COLUMN,
                    "CSV column names of 1-128 characters without quotes, commas, control "
                    'characters or surrounding spaces, e.g. ["id", "rownames"]',
                ),
            ],
            ...,
        ],
        BeforeValidator(_comma_separated),
    ] = ()

    # The gate (docs/model-contract.md): a test split with fewer rows of a class than this
    # cannot measure the metric, and the model is not registered.
    min_positives: Annotated[int, Field(ge=1, le=1_000_000), NotBoolean] = 5
    min_negatives: Annotated[int, Field(ge=1, le=1_000_000), NotBoolean] = 5
    # A new model is registered only if its metric on the test split is at least the approved
    # model's on the same split minus this margin (absorbs noise between retrains).
    champion_margin: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False), NotBoolean] = 0.01
    # Per-environment overrides of pipeline_code/hyperparameters.json, e.g. {"max_depth": 4}.
    hyperparameters: Annotated[
        dict[str, HyperparameterValue],
        BeforeValidator(_hyperparameter_values),
        AfterValidator(_check_hyperparameters),
    ] = Field(default_factory=dict)

    processing_instance_type: ProcessingInstanceType = "ml.m5.xlarge"
    processing_instance_count: InstanceCount = 1
    training_instance_type: TrainingInstanceType = "ml.m5.xlarge"
    training_instance_count: InstanceCount = 1
    use_spot_training: bool = False

    staging_endpoint: EndpointSettings = EndpointSettings()
    prod_endpoint: EndpointSettings = EndpointSettings()

    monitoring: MonitoringSettings = MonitoringSettings()
    # What a drift alarm does besides notifying the topic: start the training pipeline on the
    # current input data (at most once per alarm episode, never while an execution runs).
    on_drift: Literal["retrain", "notify"] = "notify"

    notification_email: Annotated[
        Annotated[str, pattern(EMAIL, "an e-mail address such as ml-team@example.com")] | None,
        BlankIsNone,
    ] = None
    source: SourceSettings = SourceSettings()
    # The subnets and security groups everything runs in; unset: AWS-managed networking.
    network: Annotated[NetworkSettings | None, BlankIsNone] = None

    @field_validator("project_name")
    @classmethod
    def _names_fit_aws_limits(cls, project_name: str, info: ValidationInfo) -> str:
        env_name = info.data.get("name", "")
        region = info.data.get("region", "")
        prefix = f"{project_name}-{env_name}"
        # (name pattern, its length, the limit): the longest SageMaker name and the bucket name.
        names = [
            (
                f"{prefix}{LONGEST_NAME_SUFFIX}",
                len(prefix) + len(LONGEST_NAME_SUFFIX),
                SAGEMAKER_NAME_LIMIT,
            ),
            (
                f"{prefix}-<account>-{region}",
                len(prefix) + 2 + ACCOUNT_ID_LENGTH + len(region),
                S3_BUCKET_NAME_LIMIT,
            ),
        ]
        bucket_pattern = names[1][0]
        if bucket_pattern.startswith(RESERVED_BUCKET_PREFIXES):
            raise ValueError(
                f"{project_name!r} cannot start the artifact bucket name {bucket_pattern!r}: "
                f"S3 reserves names starting with {', '.join(RESERVED_BUCKET_PREFIXES)}"
            )
        for shape, length, limit in names:
            if length > limit:
                budget = len(project_name) - (length - limit)
                raise ValueError(
                    f"{project_name!r} is too long: {shape!r} would have {length} characters "
                    f"and AWS allows {limit}; use at most {budget} characters"
                )
        return project_name

    @model_validator(mode="after")
    def _connection_matches_environment(self) -> Self:
        # A pipeline can only use a connection of its own partition, region and account.
        arn = self.source.connection_arn
        if arn is None:
            return self
        _, partition, _, region, account = arn.split(":")[:5]
        expected = {"partition": partition_of(self.region), "region": self.region}
        if self.account is not None:
            expected["account"] = self.account
        actual = {"partition": partition, "region": region, "account": account}
        wrong = [
            f"{part} {actual[part]!r}" for part, value in expected.items() if actual[part] != value
        ]
        if wrong:
            raise ValueError(
                f"source.connection_arn {arn!r} has {', '.join(wrong)}; the connection must be "
                "in this environment's "
                + ", ".join(f"{part} {value!r}" for part, value in expected.items())
            )
        return self

    @model_validator(mode="after")
    def _network_needs_instance_endpoints(self) -> Self:
        if self.network is None:
            return self
        serverless = [
            f"{stage}_endpoint.mode"
            for stage in ("staging", "prod")
            if self._endpoint(stage).mode == "serverless"
        ]
        if serverless:
            verb = "are" if len(serverless) > 1 else "is"
            raise ValueError(
                f"{' and '.join(serverless)} {verb} 'serverless', but network is set: SageMaker "
                "serverless endpoints cannot run in a VPC; set the mode to 'instance' (with an "
                "instance_type) or remove network"
            )
        return self

    @model_validator(mode="after")
    def _build_account_known_for_other_accounts(self) -> Self:
        # Roles in a target account trust the build account by id, and the build account's
        # bucket, key and model package group name the target accounts: both must be literal.
        for stage in ("staging", "prod"):
            target = self._endpoint(stage).account
            if target is not None and self.account is None:
                raise ValueError(
                    f"{stage}_endpoint.account is {target!r}, so account (the build account "
                    "that trains, registers and deploys) must be set too: a 12-digit AWS "
                    f"account id, e.g. -c {self.name}.account=<id>"
                )
        return self

    def endpoint_account(self, stage: Stage) -> str | None:
        """The account the stage's endpoint runs in when that is not the build account."""
        target = self._endpoint(stage).account
        return target if target is not None and target != self.account else None

    @property
    def remote_stages(self) -> tuple[Stage, ...]:
        """The stages whose endpoints run in another account than the build account."""
        return tuple(
            stage for stage in ("staging", "prod") if self.endpoint_account(stage) is not None
        )

    @property
    def resource_prefix(self) -> str:
        """Stable prefix of every physical name users see, e.g. ``churn-dev``."""
        return f"{self.project_name}-{self.name}"

    @property
    def stack_prefix(self) -> str:
        """Prefix of the CloudFormation stack names, e.g. ``Dev`` in ``Dev-RegistryStack``."""
        return self.name.capitalize()

    @property
    def monitored_stages(self) -> tuple[Stage, ...]:
        """The listed stages whose endpoints capture traffic (instance mode)."""
        if not self.monitoring.enabled:
            return ()
        return tuple(
            stage for stage in self.monitoring.stages if self._endpoint(stage).mode == "instance"
        )

    @property
    def unmonitored_stages(self) -> tuple[Stage, ...]:
        """Listed stages skipped because their endpoints are serverless (no data capture)."""
        if not self.monitoring.enabled:
            return ()
        return tuple(
            stage for stage in self.monitoring.stages if stage not in self.monitored_stages
        )

    @property
    def quality_threshold(self) -> float:
        """Model quality alarms below this; unset: the bar the model cleared to be registered."""
        threshold = self.monitoring.quality_threshold
        return self.metric_threshold if threshold is None else threshold

    def _endpoint(self, stage: Stage) -> EndpointSettings:
        return self.staging_endpoint if stage == "staging" else self.prod_endpoint

    @property
    def approval_status(self) -> str:
        """The model registry status a newly registered model version gets."""
        return "Approved" if self.model_approval == "automatic" else "PendingManualApproval"
