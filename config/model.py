"""Typed, validated settings for one deployment environment (dev, prod, ...).

Every field is checked at synth time, so a bad value stops `cdk synth` before any template
exists. Error messages come from the validators here: they name the accepted values.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

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
# RFC 5321 sizes (64-character local part, 254 in all) and the dot-atom forms mail systems
# and SNS accept; quoted local parts and IP-literal domains are left out on purpose.
_EMAIL = re.compile(
    r"^(?=.{6,254}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]{36}$"
)
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
# Git ref rules (git check-ref-format --branch); CodeCommit allows 256 characters.
_BRANCH_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[-/.]|[/.]$|/\.|\.lock(/|$)")
BRANCH_LENGTH_LIMIT = 256
# S3's "safe" key characters; no "*" (it would widen the IAM grants built from the prefix)
# and no "." or ".." segments.
_S3_PREFIX = re.compile(r"^(?!.*(^|/)\.{1,2}/)([A-Za-z0-9!_.'()-]+/)+$")
S3_PREFIX_LENGTH_LIMIT = 256
# One CSV header cell: no quotes, commas or control characters, no surrounding spaces.
_LABEL_COLUMN = re.compile(
    r"^[^\s\"',\x00-\x1f\x7f]([^\"',\x00-\x1f\x7f]{0,126}[^\s\"',\x00-\x1f\x7f])?$"
)
# Strings CDK or CloudFormation would replace: CDK tokens and dynamic references.
_TOKEN_MARKERS = ("${Token[", "{{resolve:")
# S3 rejects bucket names with these prefixes.
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")

# EventBridge Scheduler cron: cron(minutes hours day-of-month month day-of-week year), with
# the ranges and wildcards of the EventBridge cron reference. A ScheduleExpression has at
# most 256 characters.
_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
SCHEDULE_EXPRESSION_LIMIT = 256
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()

    def value(self, text: str) -> int | None:
        """The field's number for ``text`` (a number or a name), None when out of range."""
        if text in self.names:
            return self.names.index(text) + 1
        if text.isdigit() and self.low <= int(text) <= self.high:
            return int(text)
        return None

    def accepted(self) -> str:
        names = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{names}"


_MINUTES = _CronField("minutes", 0, 59)
_HOURS = _CronField("hours", 0, 23)
_DAY_OF_MONTH = _CronField("day-of-month", 1, 31)
_MONTH = _CronField("month", 1, 12, _MONTHS)
_DAY_OF_WEEK = _CronField("day-of-week", 1, 7, _WEEKDAYS)
_YEAR = _CronField("year", 1970, 2199)
_CRON_FIELDS = (_MINUTES, _HOURS, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _YEAR)
_CRON_EXTRAS = {
    _DAY_OF_MONTH.name: "; also ?, L, LW and <day>W",
    _DAY_OF_WEEK.name: "; also ?, L, <day>L and <day>#<1-5>",
}


INSTANCE_TYPES_FILE = Path(__file__).with_name("instance_types.json")
InstanceUse = Literal["processing", "training", "hosting"]


@functools.cache
def _instance_types() -> dict[str, frozenset[str]]:
    table = json.loads(INSTANCE_TYPES_FILE.read_text(encoding="utf-8"))
    return {use: frozenset(types) for use, types in table.items()}


def _instance_type(use: InstanceUse) -> AfterValidator:
    def check(value: str) -> str:
        if not _INSTANCE_TYPE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a SageMaker instance type; accepted: ml.<family>.<size>, "
                "e.g. ml.m5.large, ml.m5.xlarge, ml.c5.2xlarge, ml.g5.xlarge"
            )
        if value not in _instance_types()[use]:
            raise ValueError(
                f"{value!r} is not a SageMaker {use} instance type; accepted: the {use} list "
                f"in config/instance_types.json, e.g. ml.m5.xlarge, ml.c5.2xlarge"
            )
        return value

    return AfterValidator(check)


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name; accepted: lower-case letters, digits and single "
            "hyphens, starting and ending with a letter or digit (e.g. 'churn-model')"
        )
    return value


def _special_day_item(field: _CronField, item: str) -> bool | None:
    """Whether an L, W or # form of a day field is valid; None when ``item`` is none of them."""
    if field is _DAY_OF_MONTH and item.endswith("W"):
        return item == "LW" or field.value(item[:-1]) is not None
    if field is _DAY_OF_WEEK and "#" in item:
        day, _, nth = item.partition("#")
        return field.value(day) is not None and nth in {"1", "2", "3", "4", "5"}
    if field in (_DAY_OF_MONTH, _DAY_OF_WEEK) and item.endswith("L"):
        return item == "L" or (field is _DAY_OF_WEEK and field.value(item[:-1]) is not None)
    return None


def _cron_item_is_valid(field: _CronField, item: str) -> bool:
    """One comma-separated item: ``*``, ``5``, ``1-5``, ``*/10``, ``0/15``, ``MON-FRI``..."""
    special = _special_day_item(field, item)
    if special is not None:
        return special
    base, slash, step = item.partition("/")
    step_is_valid = not slash or (step.isdigit() and 1 <= int(step) <= field.high)
    # A range may wrap (e.g. FRI-MON); both of its ends must be in range.
    ends = base.split("-", 1)
    return step_is_valid and (base == "*" or all(field.value(end) is not None for end in ends))


def _cron(value: str) -> str:
    expression = value.strip()
    match = _CRON.fullmatch(expression)
    if not match:
        raise ValueError(
            f"{value!r} is not an EventBridge Scheduler cron expression; accepted: "
            "cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 21 ? * TUE *)"
        )
    if len(expression) > SCHEDULE_EXPRESSION_LIMIT:
        raise ValueError(
            f"{expression[:40]!r}... has {len(expression)} characters; EventBridge Scheduler "
            f"accepts at most {SCHEDULE_EXPRESSION_LIMIT}"
        )
    fields = match.group("fields").split(" ")
    if len(fields) != len(_CRON_FIELDS) or "" in fields:
        raise ValueError(
            f"{value!r} must have 6 fields separated by single spaces: minutes hours "
            "day-of-month month day-of-week year, e.g. cron(0 21 ? * TUE *)"
        )
    for field, text in zip(_CRON_FIELDS, fields, strict=True):
        if text == "?" and field in (_DAY_OF_MONTH, _DAY_OF_WEEK):
            continue
        if not all(_cron_item_is_valid(field, item) for item in text.upper().split(",")):
            raise ValueError(
                f"{value!r}: the {field.name} field {text!r} is not valid; accepted: "
                f"{field.accepted()}, lists (,), ranges (-), * and increments (/)"
                f"{_CRON_EXTRAS.get(field.name, '')}"
            )
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(
            f"{value!r}: exactly one of day-of-month and day-of-week must be '?', "
            "e.g. cron(0 21 ? * TUE *)"
        )
    return expression


# Names java.time rejects (EventBridge Scheduler evaluates zones like it), and tzdata's
# placeholder zone.
_UNUSABLE_TIME_ZONES = frozenset({"Factory", "EST", "HST", "MST", "ROC"})


@functools.cache
def _time_zones() -> frozenset[str]:
    # The pinned tzdata package, not the host's database: the same names pass everywhere.
    zones = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(zones.split()) - _UNUSABLE_TIME_ZONES


def _time_zone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError(
            f"{value!r} is not an IANA time zone; accepted: names such as UTC, "
            "Europe/Paris, America/New_York"
        )
    return value


def _branch(value: str) -> str:
    if (
        not value
        or len(value) > BRANCH_LENGTH_LIMIT
        or value in ("@", "HEAD")
        or _BRANCH_FORBIDDEN.search(value)
    ):
        raise ValueError(
            f"{value!r} is not a valid git branch name; accepted: 1-{BRANCH_LENGTH_LIMIT} "
            "characters as `git check-ref-format --branch` allows them (no spaces, '..', "
            "'~^:?*[\\', '@{' or '//'; no leading '-', '/' or '.'; no trailing '/', '.' or "
            "'.lock'), e.g. main or release/1.2"
        )
    return value


def _pattern(regex: re.Pattern[str], accepted: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
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


def _int_from_text(value: object) -> object:
    # `-c` values are text; a Literal of numbers does not convert "4096" by itself.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def partition_of(region: str) -> str:
    """The ARN partition of a region code."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith(("us-iso", "eu-isoe-")):
        return "aws-iso"
    return "aws"


def _supported_region(value: str) -> str:
    # The pipeline's images are regional; the SDK-built table lists where they exist.
    # The isolated partitions have neither CodeCommit nor EventBridge Scheduler.
    regions = [region for region in supported_regions() if partition_of(region) != "aws-iso"]
    if value not in regions:
        raise ValueError(
            f"{value!r} has no SageMaker XGBoost/scikit-learn images in this project's image "
            "table (pipeline_code/definitions/image_uris.json) or is in an isolated partition; "
            f"accepted: {', '.join(regions)}"
        )
    return value


ProcessingInstanceType = Annotated[str, _instance_type("processing")]
TrainingInstanceType = Annotated[str, _instance_type("training")]
HostingInstanceType = Annotated[str, _instance_type("hosting")]
InstanceCount = Annotated[int, Field(ge=1, le=100), NotBoolean]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_tokens(cls, value: Any) -> Any:
        # CDK would turn "${Token[...]}" into a reference to some other resource, and
        # CloudFormation would resolve "{{resolve:...}}" at deploy: settings are literals.
        if isinstance(value, str) and any(marker in value for marker in _TOKEN_MARKERS):
            raise ValueError(
                f"{value!r} contains a CDK token or a CloudFormation dynamic reference; "
                "accepted: literal values only"
            )
        return value


class RetrainingSchedule(_Frozen):
    """When the training pipeline runs on its own (EventBridge Scheduler)."""

    cron: Annotated[str, AfterValidator(_cron)] = "cron(0 21 ? * TUE *)"
    time_zone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    enabled: bool = True


class EndpointSettings(_Frozen):
    """Defaults for one endpoint; the model-deploy repository's config files override them."""

    mode: Literal["serverless", "instance"] = "instance"
    instance_type: HostingInstanceType = "ml.m5.large"
    instance_count: InstanceCount = 1
    # Serverless memory must be one of SageMaker's fixed sizes.
    serverless_memory_mb: Annotated[
        Literal[1024, 2048, 3072, 4096, 5120, 6144], BeforeValidator(_int_from_text)
    ] = 2048
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
    branch: Annotated[str, AfterValidator(_branch)] = "main"

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
        str,
        Field(max_length=S3_PREFIX_LENGTH_LIMIT),
        _pattern(
            _S3_PREFIX,
            "an S3 key prefix ending in '/' made of letters, digits and !_.'()- (no '*', "
            "'.' or '..' folders), e.g. input-data/",
        ),
    ] = "input-data/"
    label_column: Annotated[
        str,
        _pattern(
            _LABEL_COLUMN,
            "a CSV column name of 1-128 characters without quotes, commas, control "
            "characters or surrounding spaces, e.g. label",
        ),
    ] = "label"

    processing_instance_type: ProcessingInstanceType = "ml.m5.xlarge"
    processing_instance_count: InstanceCount = 1
    training_instance_type: TrainingInstanceType = "ml.m5.xlarge"
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
        bucket_pattern = names[1][0]
        if bucket_pattern.startswith(_RESERVED_BUCKET_PREFIXES):
            raise ValueError(
                f"{project_name!r} cannot start the artifact bucket name {bucket_pattern!r}: "
                f"S3 reserves names starting with {', '.join(_RESERVED_BUCKET_PREFIXES)}"
            )
        for pattern, length, limit in names:
            if length > limit:
                budget = len(project_name) - (length - limit)
                raise ValueError(
                    f"{project_name!r} is too long: {pattern!r} would have {length} characters "
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
