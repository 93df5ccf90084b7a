"""start_drift_check: one processing job per schedule time, never two checks of a stage at once.

SageMaker is a Stubber: moto's CreateProcessingJob drops ProcessingResources and accepts a
duplicate name, so only the stub can pin the exact request and SageMaker's answers. The
client is made once per module inside moto, so a call no test stubbed can never reach AWS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.start_drift_check import handler
from shared_runtime import Clients
from tests.lambdas.conftest import ACCOUNT_ID, REGION
from tests.lambdas.conftest import LAMBDA_CONTEXT as CONTEXT

PREFIX = "churn-dev"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/churn-dev-monitor-job"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0e8a4c6f-1111-2222-3333-444455556666"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
CODE = "s3://churn-artifacts/monitor-code/0123abcd"
CODE_URIS = {
    "monitor": f"{CODE}/monitor.py",
    "drift": f"{CODE}/drift.py",
    "capture": f"{CODE}/capture.py",
    "evaluate": f"{CODE}/evaluate.py",
}
MONITOR_ARGS = {"threshold": "0.1", "min-records": "100", "metric": "f1", "max-records": 100000}
ENV = {
    "RESOURCE_PREFIX": PREFIX,
    "ENVIRONMENT": "dev",
    "BUCKET": "churn-artifacts",
    "NAMESPACE": "churn/Monitoring",
    "JOB_ROLE_ARN": ROLE,
    "IMAGE_URI": IMAGE,
    "INSTANCE_TYPE": "ml.m5.large",
    "VOLUME_SIZE_GB": "30",
    "MAX_RUNTIME_SECONDS": "3600",
    "KMS_KEY_ARN": KMS,
    "CODE_URIS": json.dumps(CODE_URIS),
    "MONITOR_ARGS": json.dumps(MONITOR_ARGS),
}
EVENT = {
    "stage": "prod",
    "endpoint_name": "churn-dev-prod",
    "scheduled_time": "2026-12-06T21:00:00Z",
}
JOB = f"{PREFIX}-prod-mon-2612062100"
CODE_DIR = "/opt/ml/processing/input/code"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "clients", Clients())
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def sagemaker_client(boto_session: boto3.Session) -> Iterator[Any]:
    """Made once: a client costs tens of milliseconds. Inside moto, so nothing reaches AWS."""
    with mock_aws():
        yield boto_session.client("sagemaker")


@pytest.fixture
def sagemaker(sagemaker_client: Any, aws_env: None) -> Iterator[Stubber]:
    handler.clients.cache["sagemaker"] = sagemaker_client
    with Stubber(sagemaker_client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def list_params(stage: str = "prod") -> dict[str, Any]:
    return {"NameContains": f"{PREFIX}-{stage}-mon-", "StatusEquals": "InProgress"}


def summaries(*names: str) -> dict[str, Any]:
    return {
        "ProcessingJobSummaries": [
            {
                "ProcessingJobName": name,
                "ProcessingJobArn": (
                    f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:processing-job/{name}"
                ),
                "CreationTime": "2026-12-06T20:00:00Z",
                "ProcessingJobStatus": "InProgress",
            }
            for name in names
        ]
    }


def created(job: str = JOB) -> dict[str, Any]:
    return {"ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:processing-job/{job}"}


EXPECTED_REQUEST = {
    "ProcessingJobName": JOB,
    "ProcessingInputs": [
        {
            "InputName": key,
            "S3Input": {
                "S3Uri": CODE_URIS[key],
                "LocalPath": f"{CODE_DIR}/{key}",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
        for key in ("monitor", "drift", "capture", "evaluate")
    ],
    "ProcessingResources": {
        "ClusterConfig": {
            "InstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "VolumeSizeInGB": 30,
            "VolumeKmsKeyId": KMS,
        }
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "AppSpecification": {
        "ImageUri": IMAGE,
        "ContainerEntrypoint": [
            "python3",
            f"{CODE_DIR}/monitor/monitor.py",
            "--drift-module",
            f"{CODE_DIR}/drift/drift.py",
            "--capture-module",
            f"{CODE_DIR}/capture/capture.py",
            "--evaluate-module",
            f"{CODE_DIR}/evaluate/evaluate.py",
            "--bucket",
            "churn-artifacts",
            "--stage",
            "prod",
            "--environment",
            "dev",
            "--endpoint-name",
            "churn-dev-prod",
            "--namespace",
            "churn/Monitoring",
            "--until",
            "2026-12-06T21:00:00Z",
            "--job-name",
            JOB,
            "--kms-key-id",
            KMS,
            # MONITOR_ARGS, sorted by flag; numbers as text.
            "--max-records",
            "100000",
            "--metric",
            "f1",
            "--min-records",
            "100",
            "--threshold",
            "0.1",
        ],
    },
    "NetworkConfig": {
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": True,
    },
    "RoleArn": ROLE,
}


# ---------------------------------------------------------------------------------------------
# Starting


def test_starts_the_check_with_the_exact_request(sagemaker: Stubber) -> None:
    sagemaker.add_response("list_processing_jobs", {"ProcessingJobSummaries": []}, list_params())
    sagemaker.add_response("create_processing_job", created(), EXPECTED_REQUEST)

    assert handler.lambda_handler(EVENT, CONTEXT) == {"started": True, "job_name": JOB}


@pytest.mark.parametrize(
    ("scheduled_time", "until", "name_time"),
    [
        ("2026-12-06T22:30:59+01:00", "2026-12-06T21:30:59Z", "2612062130"),
        ("2026-01-02T03:04:05", "2026-01-02T03:04:05Z", "2601020304"),
        ("2026-01-02T03:04:05.123Z", "2026-01-02T03:04:05Z", "2601020304"),
    ],
)
def test_scheduled_time_is_normalised_to_utc(
    scheduled_time: str, until: str, name_time: str
) -> None:
    check = handler.parse_event({**EVENT, "scheduled_time": scheduled_time})
    settings = handler.Settings.from_env(ENV)

    entrypoint = handler.entrypoint(settings, check, handler.job_name(settings, check))

    assert handler.job_name(settings, check) == f"{PREFIX}-prod-mon-{name_time}"
    assert entrypoint[entrypoint.index("--until") + 1] == until


def test_longest_prefix_and_stage_give_a_valid_job_name() -> None:
    settings = handler.Settings.from_env({**ENV, "RESOURCE_PREFIX": "p" * 39})
    check = handler.parse_event({**EVENT, "stage": "staging"})

    name = handler.job_name(settings, check)

    assert len(name) == 62  # SageMaker allows 63
    assert handler.NAME_PATTERN.fullmatch(name)


def test_no_monitor_args_and_code_in_other_folders() -> None:
    uris = {key: f"s3://code-bucket/{key}/v1/{key}_check.py" for key in CODE_URIS}
    settings = handler.Settings.from_env(dict(ENV, CODE_URIS=json.dumps(uris), MONITOR_ARGS="{}"))

    entrypoint = handler.entrypoint(settings, handler.parse_event(EVENT), JOB)

    assert entrypoint[:4] == [
        "python3",
        f"{CODE_DIR}/monitor/monitor_check.py",
        "--drift-module",
        f"{CODE_DIR}/drift/drift_check.py",
    ]
    assert entrypoint[-2:] == ["--kms-key-id", KMS]


# ---------------------------------------------------------------------------------------------
# Guard and retries


def test_check_in_progress_is_not_started_again(
    sagemaker: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    running = f"{PREFIX}-prod-mon-2612052100"
    sagemaker.add_response("list_processing_jobs", summaries(running), list_params())

    result = handler.lambda_handler(EVENT, CONTEXT)

    assert result == {
        "started": False,
        "job_name": JOB,
        "reason": f"drift check {running} of stage prod is still in progress",
    }
    assert any(r.getMessage() == "Drift check not started" for r in caplog.records)


def test_only_names_that_start_with_the_prefix_count(sagemaker: Stubber) -> None:
    # NameContains matches anywhere: another project's prefix may end with this one.
    sagemaker.add_response(
        "list_processing_jobs",
        {
            **summaries(f"other-{PREFIX}-prod-mon-2612052100"),
            "NextToken": "page-2",
        },
        list_params(),
    )
    sagemaker.add_response(
        "list_processing_jobs",
        summaries(f"x{PREFIX}-prod-mon-2612052100"),
        {**list_params(), "NextToken": "page-2"},
    )
    sagemaker.add_response("create_processing_job", created(), EXPECTED_REQUEST)

    assert handler.lambda_handler(EVENT, CONTEXT)["started"] is True


def test_retry_after_the_job_started_says_so(sagemaker: Stubber) -> None:
    sagemaker.add_response("list_processing_jobs", summaries(JOB), list_params())

    result = handler.lambda_handler(EVENT, CONTEXT)

    assert result["started"] is False
    assert result["reason"] == f"processing job {JOB} already started (a retried invocation)"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ResourceInUse", "Processing job names must be unique"),
        ("ValidationException", f"Job {JOB} already exists in this account"),
    ],
)
def test_retry_after_the_job_finished_is_idempotent(
    sagemaker: Stubber, code: str, message: str
) -> None:
    sagemaker.add_response("list_processing_jobs", {"ProcessingJobSummaries": []}, list_params())
    sagemaker.add_client_error("create_processing_job", code, message, 400, None, EXPECTED_REQUEST)

    result = handler.lambda_handler(EVENT, CONTEXT)

    assert result == {
        "started": False,
        "job_name": JOB,
        "reason": f"processing job {JOB} already exists (a retried invocation)",
    }


def test_other_errors_raise(sagemaker: Stubber) -> None:
    sagemaker.add_response("list_processing_jobs", {"ProcessingJobSummaries": []}, list_params())
    sagemaker.add_client_error("create_processing_job", "AccessDeniedException", "no", 400)

    with pytest.raises(Exception, match="AccessDeniedException"):
        handler.lambda_handler(EVENT, CONTEXT)


# ---------------------------------------------------------------------------------------------
# Bad events and environments


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ("prod", "event must be a JSON object"),
        ({**EVENT, "stage": "dev"}, "stage must be one of ['prod', 'staging'], got 'dev'"),
        (
            {k: v for k, v in EVENT.items() if k != "stage"},
            "stage must be one of ['prod', 'staging'], got None",
        ),
        ({**EVENT, "endpoint_name": ""}, "endpoint_name must be a SageMaker endpoint name"),
        ({**EVENT, "endpoint_name": "a_b"}, "endpoint_name must be a SageMaker endpoint name"),
        ({**EVENT, "endpoint_name": "e" * 64}, "endpoint_name must be a SageMaker endpoint name"),
        ({**EVENT, "scheduled_time": "tomorrow"}, "scheduled_time must be an ISO 8601 time"),
        ({**EVENT, "scheduled_time": 1765054800}, "scheduled_time must be an ISO 8601 time"),
        (
            {**EVENT, "scheduled_time": "<aws.scheduler.scheduled-time>"},
            "scheduled_time must be an ISO 8601 time",
        ),
    ],
)
def test_bad_event_is_logged_and_raises(
    sagemaker: Stubber, caplog: pytest.LogCaptureFixture, event: Any, error: str
) -> None:
    with pytest.raises(handler.EventError, match="^" + error.replace("[", r"\[")):
        handler.lambda_handler(event, CONTEXT)

    logged = [r for r in caplog.records if r.getMessage() == "Malformed schedule input"]
    assert [r.levelno for r in logged] == [logging.ERROR]


@pytest.mark.parametrize("name", sorted(ENV))
def test_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, " ")

    with pytest.raises(
        handler.ConfigError, match=f"^Missing required environment variable {name}$"
    ):
        handler.lambda_handler(EVENT, CONTEXT)


BAD_SETTINGS: list[tuple[str, Any, str]] = [
    ("RESOURCE_PREFIX", "p" * 40, "RESOURCE_PREFIX must be at most 39"),
    ("RESOURCE_PREFIX", "churn_dev", "RESOURCE_PREFIX must be at most 39"),
    ("RESOURCE_PREFIX", "churn-", "RESOURCE_PREFIX must be at most 39"),
    ("VOLUME_SIZE_GB", "30GB", "VOLUME_SIZE_GB must be an integer, got '30GB'"),
    ("VOLUME_SIZE_GB", "0", "VOLUME_SIZE_GB must be between 1 and 16384, got 0"),
    ("MAX_RUNTIME_SECONDS", "777601", "MAX_RUNTIME_SECONDS must be between 1 and 777600"),
    ("CODE_URIS", "{not json", "CODE_URIS is not JSON"),
    ("CODE_URIS", "[]", "CODE_URIS must be a JSON object"),
    ("CODE_URIS", {"monitor": CODE_URIS["monitor"]}, "CODE_URIS must have exactly the keys"),
    ("CODE_URIS", {**CODE_URIS, "extra": "s3://b/x.py"}, "CODE_URIS must have exactly the keys"),
    ("CODE_URIS", {**CODE_URIS, "drift": "s3://b/code/"}, r"CODE_URIS\['drift'\] must be"),
    ("CODE_URIS", {**CODE_URIS, "drift": "/tmp/drift.py"}, r"CODE_URIS\['drift'\] must be"),
    ("CODE_URIS", {**CODE_URIS, "drift": 7}, r"CODE_URIS\['drift'\] must be"),
    ("MONITOR_ARGS", "7", "MONITOR_ARGS must be a JSON object"),
    ("MONITOR_ARGS", {"--threshold": "0.1"}, "MONITOR_ARGS key '--threshold' is not a flag"),
    ("MONITOR_ARGS", {"bucket": "other"}, "MONITOR_ARGS key 'bucket' is not a flag"),
    ("MONITOR_ARGS", {"Threshold": "0.1"}, "MONITOR_ARGS key 'Threshold' is not a flag"),
    ("MONITOR_ARGS", {"verbose": True}, r"MONITOR_ARGS\['verbose'\] must be a string or a n"),
    ("MONITOR_ARGS", {"metric": None}, r"MONITOR_ARGS\['metric'\] must be a string or a num"),
    ("MONITOR_ARGS", {"metric": ""}, r"MONITOR_ARGS\['metric'\] must be 1-256 chars"),
    (
        "MONITOR_ARGS",
        {f"flag-{n}": "1" for n in range(39)},
        "MONITOR_ARGS has too many flags for one container entrypoint",
    ),
    ("VPC_CONFIG", "[]", "VPC_CONFIG must be a JSON object"),
    ("VPC_CONFIG", {"Subnets": ["subnet-1"]}, "VPC_CONFIG must have exactly the keys"),
    (
        "VPC_CONFIG",
        {"Subnets": [], "SecurityGroupIds": ["sg-1"]},
        r"VPC_CONFIG\['Subnets'\] must be a list of 1-16 IDs starting with 'subnet-'",
    ),
    (
        "VPC_CONFIG",
        {"Subnets": ["subnet-1"], "SecurityGroupIds": ["subnet-1"]},
        r"VPC_CONFIG\['SecurityGroupIds'\] must be a list of 1-5 IDs starting with 'sg-'",
    ),
]


@pytest.mark.parametrize(("name", "value", "error"), BAD_SETTINGS)
def test_malformed_environment_variable_is_named(name: str, value: Any, error: str) -> None:
    raw = value if isinstance(value, str) else json.dumps(value)

    with pytest.raises(handler.ConfigError, match="^" + error):
        handler.Settings.from_env({**ENV, name: raw})


def test_vpc_config_puts_the_job_in_the_subnets(
    sagemaker: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    vpc = {"Subnets": ["subnet-0123456789abcdef0"], "SecurityGroupIds": ["sg-01234567"]}
    monkeypatch.setenv("VPC_CONFIG", json.dumps(vpc))
    network = {
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": True,
        "VpcConfig": vpc,
    }
    sagemaker.add_response("list_processing_jobs", {"ProcessingJobSummaries": []}, list_params())
    sagemaker.add_response(
        "create_processing_job", created(), {**EXPECTED_REQUEST, "NetworkConfig": network}
    )

    assert handler.lambda_handler(EVENT, CONTEXT) == {"started": True, "job_name": JOB}


def test_most_monitor_args_that_fit_are_accepted() -> None:
    # Room is kept for the optional --endpoint-role-arn of an endpoint in another account.
    args = json.dumps({f"flag-{n}": "1" for n in range(37)})
    event = {**EVENT, "endpoint_role_arn": "arn:aws:iam::222222222222:role/churn-dev-prod-reader"}

    settings = handler.Settings.from_env({**ENV, "MONITOR_ARGS": args})

    assert len(handler.entrypoint(settings, handler.parse_event(event), JOB)) == 100
    with pytest.raises(handler.ConfigError, match="too many flags"):
        handler.Settings.from_env(
            {**ENV, "MONITOR_ARGS": json.dumps({f"flag-{n}": "1" for n in range(38)})}
        )


def test_an_endpoint_role_is_passed_to_the_check() -> None:
    role = "arn:aws:iam::222222222222:role/churn-dev-prod-reader"
    settings = handler.Settings.from_env(ENV)

    command = handler.entrypoint(
        settings, handler.parse_event({**EVENT, "endpoint_role_arn": role}), JOB
    )

    assert command[command.index("--endpoint-role-arn") + 1] == role
    assert "--endpoint-role-arn" not in handler.entrypoint(
        settings, handler.parse_event(EVENT), JOB
    )


@pytest.mark.parametrize("role", ["", "role/x", 7, "arn:aws:iam::12:role/x"])
def test_a_malformed_endpoint_role_is_refused(role: object) -> None:
    with pytest.raises(handler.EventError, match="endpoint_role_arn must be an IAM role ARN"):
        handler.parse_event({**EVENT, "endpoint_role_arn": role})
