"""The checks behind the settings' types: patterns, AWS limits and the values AWS accepts.

Each check raises ValueError with a message that names the accepted values; the loader
prefixes it with the environment and the field.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from pipeline_code.template import supported_regions

ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")
INSTANCE_TYPE = re.compile(
    r"^ml\.[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|[1-9][0-9]*xlarge|xlarge|metal[a-z0-9-]*)$"
)
NAME = re.compile(r"^[a-z0-9](-?[a-z0-9])*$")
ACCOUNT = re.compile(r"^[0-9]{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
# RFC 5321 sizes (64-character local part, 254 in all) and the dot-atom forms mail systems
# and SNS accept; quoted local parts and IP-literal domains are left out on purpose.
EMAIL = re.compile(
    r"^(?=.{6,254}$)(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    r"(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]{36}$"
)
# owner/name, or group/subgroup/name on GitLab.
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
# Git ref rules (git check-ref-format --branch); CodeCommit allows 256 characters.
_BRANCH_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[-/.]|[/.]$|/\.|\.lock(/|$)")
BRANCH_LENGTH_LIMIT = 256
# S3's "safe" key characters; no "*" (it would widen the IAM grants built from the prefix)
# and no "." or ".." segments.
S3_PREFIX = re.compile(r"^(?!.*(^|/)\.{1,2}/)([A-Za-z0-9!_.'()-]+/)+$")
S3_PREFIX_LENGTH_LIMIT = 256
# One CSV header cell: no quotes, commas or control characters, no surrounding spaces.
LABEL_COLUMN = re.compile(
    r"^[^\s\"',\x00-\x1f\x7f]([^\"',\x00-\x1f\x7f]{0,126}[^\s\"',\x00-\x1f\x7f])?$"
)
# Strings CDK or CloudFormation would replace: CDK tokens and dynamic references.
TOKEN_MARKERS = ("${Token[", "{{resolve:")
# S3 rejects bucket names with these prefixes.
# ("xn--", the third, cannot occur: project names allow no double hyphen.)
RESERVED_BUCKET_PREFIXES = ("sthree-", "amzn-s3-demo-")
# Names java.time rejects (EventBridge Scheduler evaluates zones like it), and tzdata's
# placeholder zone.
_UNUSABLE_TIME_ZONES = frozenset({"Factory", "EST", "HST", "MST", "ROC"})

INSTANCE_TYPES_FILE = Path(__file__).with_name("instance_types.json")
InstanceUse = Literal["processing", "training", "hosting"]


@functools.cache
def _instance_types() -> dict[str, frozenset[str]]:
    table = json.loads(INSTANCE_TYPES_FILE.read_text(encoding="utf-8"))
    return {use: frozenset(types) for use, types in table.items()}


def hosting_instance_types() -> list[str]:
    """Every instance type SageMaker endpoints accept, sorted."""
    return sorted(_instance_types()["hosting"])


def instance_type(use: InstanceUse) -> AfterValidator:
    """A SageMaker instance type the API accepts for ``use`` (config/instance_types.json)."""

    def check(value: str) -> str:
        if not INSTANCE_TYPE.fullmatch(value):
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


def check_name(value: str) -> str:
    if not NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name; accepted: lower-case letters, digits and single "
            "hyphens, starting and ending with a letter or digit (e.g. 'churn-model')"
        )
    return value


@functools.cache
def _time_zones() -> frozenset[str]:
    # The pinned tzdata package, not the host's database: the same names pass everywhere.
    zones = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(zones.split()) - _UNUSABLE_TIME_ZONES


def check_time_zone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError(
            f"{value!r} is not an IANA time zone; accepted: names such as UTC, "
            "Europe/Paris, America/New_York"
        )
    return value


def check_branch(value: str) -> str:
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


def pattern(regex: re.Pattern[str], accepted: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not valid; accepted: {accepted}")
        return value

    return AfterValidator(check)


def partition_of(region: str) -> str:
    """The ARN partition of a region code."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith(("us-iso", "eu-isoe-")):
        return "aws-iso"
    return "aws"


def check_supported_region(value: str) -> str:
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


def _not_a_boolean(value: object) -> object:
    # pydantic would read `true` as 1: a threshold or count of `true` is a mistake.
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean; a number is expected")
    return value


def _int_from_text(value: object) -> object:
    # `-c` values are text; a Literal of numbers does not convert "4096" by itself.
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
        return int(value)
    return value


# `-c dev.notification_email=` (an empty value) clears an optional setting.
BlankIsNone = BeforeValidator(lambda value: None if value == "" else value)
NotBoolean = BeforeValidator(_not_a_boolean)
IntFromText = BeforeValidator(_int_from_text)

ProcessingInstanceType = Annotated[str, instance_type("processing")]
TrainingInstanceType = Annotated[str, instance_type("training")]
HostingInstanceType = Annotated[str, instance_type("hosting")]
InstanceCount = Annotated[int, Field(ge=1, le=100), NotBoolean]
