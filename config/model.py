"""Typed, validated settings for one deployment environment (dev, prod, ...).

Every field is checked at synth time, so a bad value stops `cdk synth` before any template
exists. Error messages come from the validators here: they name the accepted values.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline_code.template import supported_regions

# SageMaker names (model package group, pipeline, endpoint) allow at most 63 characters.
SAGEMAKER_NAME_LIMIT = 63
# The longest suffix this app appends to "<project>-<environment>" when naming SageMaker resources.
LONGEST_NAME_SUFFIX = "-staging-endpoint-config"
# S3 bucket names: at most 63 characters; the artifact bucket is
# "<project>-<env>-<account>-<region>".
S3_BUCKET_NAME_LIMIT = 63
ACCOUNT_ID_LENGTH = 12

METRIC_NAMES = ("f1", "accuracy", "precision", "recall", "auc")

_INSTANCE_TYPE = re.compile(
    r"^ml\.[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|[1-9][0-9]*xlarge|xlarge|metal[a-z0-9-]*)$"
)
_NAME = re.compile(r"^[a-z0-9](-?[a-z0-9])*$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]{36}$"
)
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")
_S3_PREFIX = re.compile(r"^([A-Za-z0-9!_.*'()-]+/)+$")
_LABEL_COLUMN = re.compile(r"^[^\s\"',][^\"',]{0,127}$")

# EventBridge Scheduler cron: cron(minutes hours day-of-month month day-of-week year).
_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
_CRON_FIELD_CHARS = (
    re.compile(r"^[0-9,*/-]+$"),  # minutes
    re.compile(r"^[0-9,*/-]+$"),  # hours
    re.compile(r"^[0-9,*/?LW-]+$"),  # day-of-month
    re.compile(r"^([0-9,*/-]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)+$"),  # month
    re.compile(r"^([0-9,*/?L#-]|SUN|MON|TUE|WED|THU|FRI|SAT)+$"),  # day-of-week
    re.compile(r"^[0-9,*/-]+$"),  # year
)
_CRON_FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")


def _instance_type(value: str) -> str:
    if not _INSTANCE_TYPE.match(value):
        raise ValueError(
            f"{value!r} is not a SageMaker instance type; accepted: ml.<family>.<size>, "
            "e.g. ml.m5.large, ml.m5.xlarge, ml.c5.2xlarge, ml.g5.xlarge"
        )
    return value


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid name; accepted: lower-case letters, digits and single "
            "hyphens, starting and ending with a letter or digit (e.g. 'churn-model')"
        )
    return value


def _cron(value: str) -> str:
    match = _CRON.match(value.strip())
    if not match:
        raise ValueError(
            f"{value!r} is not an EventBridge Scheduler cron expression; accepted: "
            "cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 21 ? * TUE *)"
        )
    fields = match.group("fields").split()
    if len(fields) != len(_CRON_FIELD_NAMES):
        raise ValueError(
            f"{value!r} has {len(fields)} fields; a Scheduler cron has 6: "
            "minutes hours day-of-month month day-of-week year, e.g. cron(0 21 ? * TUE *)"
        )
    for field_value, pattern, field_name in zip(
        fields, _CRON_FIELD_CHARS, _CRON_FIELD_NAMES, strict=True
    ):
        if not pattern.match(field_value.upper()):
            raise ValueError(f"{value!r}: the {field_name} field {field_value!r} is not valid")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(
            f"{value!r}: exactly one of day-of-month and day-of-week must be '?', "
            "e.g. cron(0 21 ? * TUE *)"
        )
    return value.strip()


def _time_zone(value: str) -> str:
    if value not in zoneinfo.available_timezones():
        raise ValueError(
            f"{value!r} is not an IANA time zone; accepted: names such as UTC, "
            "Europe/Paris, America/New_York"
        )
    return value


def _pattern(regex: re.Pattern[str], accepted: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value!r} is not valid; accepted: {accepted}")
        return value

    return AfterValidator(check)


# `-c dev.notification_email=` (an empty value) clears an optional setting.
BlankIsNone = BeforeValidator(lambda value: None if value == "" else value)


def _not_a_boolean(value: object) -> object:
    # pydantic would read `true` as 1: a threshold or count of `true` is a mistake.
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean; a number is expected")
    return value


NotBoolean = BeforeValidator(_not_a_boolean)


def _supported_region(value: str) -> str:
    # The pipeline's images are regional; the SDK-built table lists where they exist.
    regions = supported_regions()
    if value not in regions:
        raise ValueError(
            f"{value!r} has no SageMaker XGBoost/scikit-learn images in this project's image "
            f"table (pipeline_code/definitions/image_uris.json); accepted: {', '.join(regions)}"
        )
    return value


InstanceType = Annotated[str, AfterValidator(_instance_type)]
InstanceCount = Annotated[int, Field(ge=1, le=100), NotBoolean]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class RetrainingSchedule(_Frozen):
    """When the training pipeline runs on its own (EventBridge Scheduler)."""

    cron: Annotated[str, AfterValidator(_cron)] = "cron(0 21 ? * TUE *)"
    time_zone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    enabled: bool = True


class EndpointSettings(_Frozen):
    """Defaults for one endpoint; the model-deploy repository's config files override them."""

    mode: Literal["serverless", "instance"] = "instance"
    instance_type: InstanceType = "ml.m5.large"
    instance_count: InstanceCount = 1
    # Serverless memory must be one of SageMaker's fixed sizes.
    serverless_memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    serverless_max_concurrency: Annotated[int, Field(ge=1, le=200), NotBoolean] = 5
    # Upper bound of prod's target-tracking autoscaling; unset means "instance_count".
    # Staging endpoints do not autoscale.
    autoscaling_max_instances: InstanceCount | None = None

    @model_validator(mode="after")
    def _max_covers_count(self) -> Self:
        maximum = self.autoscaling_max_instances
        if self.mode == "instance" and maximum is not None and maximum < self.instance_count:
            raise ValueError(
                f"autoscaling_max_instances ({maximum}) must be >= "
                f"instance_count ({self.instance_count})"
            )
        return self

    @property
    def max_instances(self) -> int:
        """The autoscaling ceiling: never below the instance count."""
        return max(self.instance_count, self.autoscaling_max_instances or 1)


class SourceSettings(_Frozen):
    """Where the model-build and model-deploy code lives."""

    provider: Literal["codecommit", "codeconnections"] = "codecommit"
    connection_arn: Annotated[
        Annotated[
            str,
            _pattern(
                _CONNECTION_ARN,
                "arn:aws:codeconnections:<region>:<account>:connection/<uuid>",
            ),
        ]
        | None,
        BlankIsNone,
    ] = None
    build_repository: Annotated[
        Annotated[str, _pattern(_REPOSITORY, "'owner/name' of the model-build repository")] | None,
        BlankIsNone,
    ] = None
    deploy_repository: Annotated[
        Annotated[str, _pattern(_REPOSITORY, "'owner/name' of the model-deploy repository")] | None,
        BlankIsNone,
    ] = None
    branch: Annotated[str, _pattern(_BRANCH, "a git branch name, e.g. main")] = "main"

    @model_validator(mode="after")
    def _connection_fields(self) -> Self:
        required = {
            "connection_arn": self.connection_arn,
            "build_repository": self.build_repository,
            "deploy_repository": self.deploy_repository,
        }
        if self.provider == "codeconnections":
            missing = sorted(name for name, value in required.items() if value is None)
            if missing:
                raise ValueError(
                    f"provider 'codeconnections' needs {', '.join(missing)} "
                    "(a CodeConnections connection ARN and 'owner/name' repositories)"
                )
        else:
            given = sorted(name for name, value in required.items() if value is not None)
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply to provider 'codeconnections'; "
                    "set provider to 'codeconnections' or remove them"
                )
        return self


class EnvironmentConfig(_Frozen):
    """Everything that differs between two deployments of the same project."""

    name: Annotated[
        str,
        _pattern(
            re.compile(r"^[a-z][a-z0-9]{0,9}$"),
            "1-10 lower-case letters/digits, starting with a letter",
        ),
    ]
    region: Annotated[
        str,
        _pattern(_REGION, "an AWS region code such as eu-west-1"),
        AfterValidator(_supported_region),
    ]
    project_name: Annotated[str, AfterValidator(_name), Field(min_length=1)]
    account: Annotated[
        Annotated[str, _pattern(_ACCOUNT, "a 12-digit AWS account id")] | None, BlankIsNone
    ] = None
    termination_protection: bool = False

    metric_name: Literal["f1", "accuracy", "precision", "recall", "auc"] = "f1"
    metric_threshold: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False), NotBoolean] = 0.8
    model_approval: Literal["manual", "automatic"] = "manual"

    schedule: RetrainingSchedule = RetrainingSchedule()
    input_data_prefix: Annotated[
        str, _pattern(_S3_PREFIX, "an S3 key prefix ending in '/', e.g. input-data/")
    ] = "input-data/"
    label_column: Annotated[
        str, _pattern(_LABEL_COLUMN, "a CSV column name without quotes or commas, e.g. label")
    ] = "label"

    processing_instance_type: InstanceType = "ml.m5.xlarge"
    processing_instance_count: InstanceCount = 1
    training_instance_type: InstanceType = "ml.m5.xlarge"
    training_instance_count: InstanceCount = 1
    use_spot_training: bool = False

    staging_endpoint: EndpointSettings = EndpointSettings()
    prod_endpoint: EndpointSettings = EndpointSettings()

    notification_email: Annotated[
        Annotated[str, _pattern(_EMAIL, "an e-mail address such as ml-team@example.com")] | None,
        BlankIsNone,
    ] = None
    source: SourceSettings = SourceSettings()

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
        for pattern, length, limit in names:
            if length > limit:
                budget = len(project_name) - (length - limit)
                raise ValueError(
                    f"{project_name!r} is too long: {pattern!r} would have {length} characters "
                    f"and AWS allows {limit}; use at most {budget} characters"
                )
        return project_name

    @property
    def resource_prefix(self) -> str:
        """Stable prefix of every physical name users see, e.g. ``churn-dev``."""
        return f"{self.project_name}-{self.name}"

    @property
    def stack_prefix(self) -> str:
        """Prefix of the CloudFormation stack names, e.g. ``Dev`` in ``Dev-RegistryStack``."""
        return self.name.capitalize()

    @property
    def approval_status(self) -> str:
        """The model registry status a newly registered model version gets."""
        return "Approved" if self.model_approval == "automatic" else "PendingManualApproval"
