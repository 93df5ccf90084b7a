"""Start the scheduled drift check of one endpoint stage: a SageMaker processing job that runs
pipeline_code/monitor.py (docs/monitoring.md).

Wiring: EventBridge Scheduler (one schedule per monitored stage, every
``monitoring.interval_hours``) -> this function -> ``CreateProcessingJob``.

Contract
--------
Event (the schedule's input; Scheduler substitutes the time)::

    {"stage": "prod", "endpoint_name": "<endpoint>",
     "scheduled_time": "<aws.scheduler.scheduled-time>",
     "endpoint_role_arn": "<optional: a role of the endpoint's account>"}

``stage`` is ``staging`` or ``prod``; ``scheduled_time`` an ISO 8601 time (no zone: UTC);
``endpoint_role_arn``, for an endpoint in another account, is passed to monitor.py as
``--endpoint-role-arn`` (the job describes the endpoint as that role). An
event that breaks this is logged and raises: no retry can make it succeed.

Environment (all required; a missing or malformed one raises ``ConfigError`` naming it):

* ``RESOURCE_PREFIX`` - at most 39 characters of a SageMaker name; jobs are named
  ``<RESOURCE_PREFIX>-<stage>-mon-<yymmddHHMM of the scheduled time>``.
* ``ENVIRONMENT``, ``BUCKET``, ``NAMESPACE`` - passed to monitor.py as ``--environment``,
  ``--bucket``, ``--namespace``.
* ``JOB_ROLE_ARN`` - the processing job's role.
* ``IMAGE_URI``, ``INSTANCE_TYPE``, ``VOLUME_SIZE_GB``, ``MAX_RUNTIME_SECONDS`` - the job's
  container and resources.
* ``KMS_KEY_ARN`` - encrypts the job's volume; passed as ``--kms-key-id`` for what it writes.
* ``CODE_URIS`` - JSON object, keys ``monitor``, ``drift``, ``capture``, ``evaluate``, each the
  ``s3://`` URI of one file.
* ``MONITOR_ARGS`` - JSON object of further monitor.py flags (without ``--``) to values, e.g.
  ``{"threshold": "0.1", "min-records": "100"}``; passed in sorted order.
* ``VPC_CONFIG`` (optional) - JSON ``{"Subnets": [...], "SecurityGroupIds": [...]}``: the job
  runs in those subnets (the environment's ``network`` setting); unset, on SageMaker's network.
* ``LOG_LEVEL`` (optional, default ``INFO``).

Returns ``{"started": true, "job_name": ...}``, or ``{"started": false, "job_name": ...,
"reason": ...}`` when a check of the stage is already in progress or this invocation's job
already exists (a retried invocation of the same schedule time names the same job).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from shared_runtime import ROLE_ARN, Clients, function_logger

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.literals import ProcessingInstanceTypeType
    from mypy_boto3_sagemaker.type_defs import (
        CreateProcessingJobRequestTypeDef,
        NetworkConfigTypeDef,
        ProcessingInputTypeDef,
        ProcessingResourcesTypeDef,
    )

logger = function_logger("start_drift_check")
clients = Clients(max_attempts=3)

STAGES: Final = frozenset({"staging", "prod"})
CODE_KEYS: Final = ("monitor", "drift", "capture", "evaluate")
CODE_DIR: Final = "/opt/ml/processing/input/code"
MAX_PREFIX_CHARS: Final = 39
# SageMaker's name pattern (jobs, endpoints): letters, digits, single or repeated hyphens.
NAME_PATTERN: Final = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
MAX_NAME_CHARS: Final = 63
FLAG_PATTERN: Final = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
S3_FILE_PATTERN: Final = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S*[^/\s]")
# Flags the function sets itself; MONITOR_ARGS may not repeat them.
RESERVED_FLAGS: Final = frozenset(
    {
        "bucket",
        "stage",
        "environment",
        "endpoint-name",
        "namespace",
        "until",
        "job-name",
        "kms-key-id",
        "drift-module",
        "capture-module",
        "evaluate-module",
    }
)
# CreateProcessingJob's limits on the entrypoint list and each of its items.
MAX_ENTRYPOINT_ITEMS: Final = 100
MAX_ENTRYPOINT_ITEM_CHARS: Final = 256
MAX_VOLUME_SIZE_GB: Final = 16384
MAX_RUNTIME_LIMIT_SECONDS: Final = 777600
IN_PROGRESS: Final = "InProgress"
# SageMaker's VpcConfig limits: 1-16 subnets, 1-5 security groups.
VPC_CONFIG_LIMITS: Final = {"Subnets": (16, "subnet-"), "SecurityGroupIds": (5, "sg-")}


class ConfigError(RuntimeError):
    """The function's environment is incomplete or malformed; every invocation would fail."""


class EventError(ValueError):
    """The schedule's input is malformed; retrying the same event cannot succeed."""


# ---------------------------------------------------------------------------------------------
# Settings


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"Missing required environment variable {name}")
    return value


def _positive_int(env: Mapping[str, str], name: str, maximum: int) -> int:
    raw = _required(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not 1 <= value <= maximum:
        raise ConfigError(f"{name} must be between 1 and {maximum}, got {value}")
    return value


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = _required(env, name)
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def _resource_prefix(env: Mapping[str, str]) -> str:
    prefix = _required(env, "RESOURCE_PREFIX")
    if len(prefix) > MAX_PREFIX_CHARS or not NAME_PATTERN.fullmatch(prefix):
        raise ConfigError(
            f"RESOURCE_PREFIX must be at most {MAX_PREFIX_CHARS} letters, digits and inner "
            f"hyphens, got {prefix!r}"
        )
    return prefix


def _code_uris(env: Mapping[str, str]) -> dict[str, str]:
    uris = _json_object(env, "CODE_URIS")
    if sorted(uris) != sorted(CODE_KEYS):
        raise ConfigError(f"CODE_URIS must have exactly the keys {', '.join(CODE_KEYS)}")
    for key, uri in uris.items():
        if not isinstance(uri, str) or not S3_FILE_PATTERN.fullmatch(uri):
            raise ConfigError(f"CODE_URIS[{key!r}] must be the s3:// URI of a file, got {uri!r}")
    return {key: uris[key] for key in CODE_KEYS}


def _flag_value(name: str, value: Any) -> str:
    # bool is an int: a JSON true would become "True", which no flag of monitor.py reads.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"MONITOR_ARGS[{name!r}] must be a string or a number")
    text = str(value)
    if not text or len(text) > MAX_ENTRYPOINT_ITEM_CHARS:
        raise ConfigError(f"MONITOR_ARGS[{name!r}] must be 1-{MAX_ENTRYPOINT_ITEM_CHARS} chars")
    return text


def _monitor_args(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    args = _json_object(env, "MONITOR_ARGS")
    pairs: list[tuple[str, str]] = []
    for name in sorted(args):
        if not FLAG_PATTERN.fullmatch(name) or name in RESERVED_FLAGS:
            raise ConfigError(
                f"MONITOR_ARGS key {name!r} is not a flag name this function may pass "
                "(lower-case words joined by hyphens, no leading --, none of the flags it "
                "sets itself)"
            )
        pairs.append((f"--{name}", _flag_value(name, args[name])))
    return tuple(pairs)


def _vpc_config(env: Mapping[str, str]) -> dict[str, list[str]] | None:
    if not env.get("VPC_CONFIG", "").strip():
        return None
    config = _json_object(env, "VPC_CONFIG")
    if sorted(config) != sorted(VPC_CONFIG_LIMITS):
        raise ConfigError(
            f"VPC_CONFIG must have exactly the keys {', '.join(sorted(VPC_CONFIG_LIMITS))}"
        )
    for key, (maximum, prefix) in VPC_CONFIG_LIMITS.items():
        ids = config[key]
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= maximum
            or not all(isinstance(item, str) and item.startswith(prefix) for item in ids)
        ):
            raise ConfigError(
                f"VPC_CONFIG[{key!r}] must be a list of 1-{maximum} IDs starting with "
                f"{prefix!r}, got {ids!r}"
            )
    return {key: list(config[key]) for key in VPC_CONFIG_LIMITS}


@dataclass(frozen=True)
class Settings:
    resource_prefix: str
    environment: str
    bucket: str
    namespace: str
    job_role_arn: str
    image_uri: str
    instance_type: str
    volume_size_gb: int
    max_runtime_seconds: int
    kms_key_arn: str
    code_uris: Mapping[str, str]
    monitor_args: tuple[tuple[str, str], ...]
    vpc_config: Mapping[str, list[str]] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        settings = cls(
            resource_prefix=_resource_prefix(env),
            environment=_required(env, "ENVIRONMENT"),
            bucket=_required(env, "BUCKET"),
            namespace=_required(env, "NAMESPACE"),
            job_role_arn=_required(env, "JOB_ROLE_ARN"),
            image_uri=_required(env, "IMAGE_URI"),
            instance_type=_required(env, "INSTANCE_TYPE"),
            volume_size_gb=_positive_int(env, "VOLUME_SIZE_GB", MAX_VOLUME_SIZE_GB),
            max_runtime_seconds=_positive_int(
                env, "MAX_RUNTIME_SECONDS", MAX_RUNTIME_LIMIT_SECONDS
            ),
            kms_key_arn=_required(env, "KMS_KEY_ARN"),
            code_uris=_code_uris(env),
            monitor_args=_monitor_args(env),
            vpc_config=_vpc_config(env),
        )
        # The fixed part of the entrypoint: python3, the script, 3 modules and up to 9 flags.
        if 2 + 2 * (3 + 9 + len(settings.monitor_args)) > MAX_ENTRYPOINT_ITEMS:
            raise ConfigError("MONITOR_ARGS has too many flags for one container entrypoint")
        return settings


# ---------------------------------------------------------------------------------------------
# The event


@dataclass(frozen=True)
class Check:
    stage: str
    endpoint_name: str
    scheduled_time: datetime
    endpoint_role_arn: str | None = None

    @property
    def until(self) -> str:
        return self.scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ")


def _scheduled_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise EventError(f"scheduled_time must be an ISO 8601 time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise EventError(f"scheduled_time must be an ISO 8601 time, got {value!r}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_event(event: Any) -> Check:
    if not isinstance(event, Mapping):
        raise EventError("event must be a JSON object")
    stage = event.get("stage")
    if stage not in STAGES:
        raise EventError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")
    endpoint = event.get("endpoint_name")
    if (
        not isinstance(endpoint, str)
        or len(endpoint) > MAX_NAME_CHARS
        or not NAME_PATTERN.fullmatch(endpoint)
    ):
        raise EventError(f"endpoint_name must be a SageMaker endpoint name, got {endpoint!r}")
    role_arn = event.get("endpoint_role_arn")
    if role_arn is not None and not (isinstance(role_arn, str) and ROLE_ARN.fullmatch(role_arn)):
        raise EventError(f"endpoint_role_arn must be an IAM role ARN, got {role_arn!r}")
    return Check(str(stage), endpoint, _scheduled_time(event.get("scheduled_time")), role_arn)


# ---------------------------------------------------------------------------------------------
# The job


def job_name_prefix(settings: Settings, stage: str) -> str:
    return f"{settings.resource_prefix}-{stage}-mon-"


def job_name(settings: Settings, check: Check) -> str:
    """Same schedule time, same name: a retried invocation cannot start a second job."""
    return job_name_prefix(settings, check.stage) + check.scheduled_time.strftime("%y%m%d%H%M")


def code_path(settings: Settings, key: str) -> str:
    """Where the job finds one code file: its input's folder, the file's own name."""
    return f"{CODE_DIR}/{key}/{settings.code_uris[key].rpartition('/')[2]}"


def entrypoint(settings: Settings, check: Check, name: str) -> list[str]:
    modules = [
        item for key in CODE_KEYS[1:] for item in (f"--{key}-module", code_path(settings, key))
    ]
    flags = {
        "--bucket": settings.bucket,
        "--stage": check.stage,
        "--environment": settings.environment,
        "--endpoint-name": check.endpoint_name,
        "--namespace": settings.namespace,
        "--until": check.until,
        "--job-name": name,
        "--kms-key-id": settings.kms_key_arn,
    }
    if check.endpoint_role_arn is not None:
        flags["--endpoint-role-arn"] = check.endpoint_role_arn
    return [
        "python3",
        code_path(settings, "monitor"),
        *modules,
        *(item for pair in flags.items() for item in pair),
        *(item for pair in settings.monitor_args for item in pair),
    ]


def processing_inputs(settings: Settings) -> list[ProcessingInputTypeDef]:
    return [
        {
            "InputName": key,
            "S3Input": {
                "S3Uri": settings.code_uris[key],
                "LocalPath": f"{CODE_DIR}/{key}",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
        for key in CODE_KEYS
    ]


def resources(settings: Settings) -> ProcessingResourcesTypeDef:
    return {
        "ClusterConfig": {
            "InstanceCount": 1,
            # Any instance type SageMaker offers; CreateProcessingJob rejects an unknown one.
            "InstanceType": cast("ProcessingInstanceTypeType", settings.instance_type),
            "VolumeSizeInGB": settings.volume_size_gb,
            "VolumeKmsKeyId": settings.kms_key_arn,
        }
    }


def network_config(settings: Settings) -> NetworkConfigTypeDef:
    # The check reads S3 and SageMaker and writes CloudWatch metrics: no isolation. In a VPC
    # it reaches them through the VPC's endpoints (docs/operations.md).
    config: NetworkConfigTypeDef = {
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": True,
    }
    if settings.vpc_config is not None:
        config["VpcConfig"] = {
            "Subnets": list(settings.vpc_config["Subnets"]),
            "SecurityGroupIds": list(settings.vpc_config["SecurityGroupIds"]),
        }
    return config


def create_request(settings: Settings, check: Check) -> CreateProcessingJobRequestTypeDef:
    name = job_name(settings, check)
    return {
        "ProcessingJobName": name,
        "ProcessingInputs": processing_inputs(settings),
        "ProcessingResources": resources(settings),
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "AppSpecification": {
            "ImageUri": settings.image_uri,
            "ContainerEntrypoint": entrypoint(settings, check, name),
        },
        "NetworkConfig": network_config(settings),
        "RoleArn": settings.job_role_arn,
    }


def _in_progress_jobs(sagemaker: SageMakerClient, prefix: str) -> Iterator[str]:
    paginator = sagemaker.get_paginator("list_processing_jobs")
    # NameContains matches anywhere in the name; only names that start with it count.
    pages = paginator.paginate(NameContains=prefix, StatusEquals=IN_PROGRESS)
    for page in pages:
        for summary in page.get("ProcessingJobSummaries", []):
            name = summary.get("ProcessingJobName", "")
            if name.startswith(prefix) and summary.get("ProcessingJobStatus") == IN_PROGRESS:
                yield name


def already_exists(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "ResourceInUse" or "already exists" in str(error.get("Message", ""))


def start_check(sagemaker: SageMakerClient, settings: Settings, check: Check) -> dict[str, Any]:
    name = job_name(settings, check)
    fields = {"job_name": name, "stage": check.stage, "endpoint_name": check.endpoint_name}
    running = next(_in_progress_jobs(sagemaker, job_name_prefix(settings, check.stage)), None)
    if running is not None:
        reason = (
            f"processing job {name} already started (a retried invocation)"
            if running == name
            else f"drift check {running} of stage {check.stage} is still in progress"
        )
        logger.info("Drift check not started", extra={**fields, "reason": reason})
        return {"started": False, "job_name": name, "reason": reason}
    try:
        sagemaker.create_processing_job(**create_request(settings, check))
    except ClientError as exc:
        if not already_exists(exc):
            raise
        reason = f"processing job {name} already exists (a retried invocation)"
        logger.info("Drift check not started", extra={**fields, "reason": reason})
        return {"started": False, "job_name": name, "reason": reason}
    logger.info("Started drift check", extra={**fields, "until": check.until})
    return {"started": True, "job_name": name}


# ---------------------------------------------------------------------------------------------
# Entry point


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env(os.environ)
    try:
        check = parse_event(event)
    except EventError as exc:
        logger.error("Malformed schedule input", extra={"error": str(exc), "input": event})
        raise
    return start_check(clients("sagemaker"), settings, check)
