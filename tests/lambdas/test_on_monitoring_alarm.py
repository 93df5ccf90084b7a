"""on_monitoring_alarm: one message per alarm, retraining on drift at most once and never over a
running execution.

S3, SNS and SageMaker answer through Stubbers on clients made once per module (inside moto):
each test queues exactly the calls it expects, so an unexpected call fails it, and botocore
still validates every request against the API model. Per-test moto clients and resources
made this file several times slower.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws

import pipeline_runs
from lambdas.on_monitoring_alarm import handler
from shared_runtime import Clients
from tests.lambdas.conftest import ACCOUNT_ID
from tests.lambdas.conftest import LAMBDA_CONTEXT as CONTEXT

PIPELINE = "churn-training"
BUCKET = "churn-artifacts"
REGION = "eu-west-1"  # the event's region, not the function's (us-east-1 in these tests)
DRIFT_ALARM = "churn-dev-prod-drift"
QUALITY_ALARM = "churn-dev-prod-quality"
ALARMS = {
    DRIFT_ALARM: {"stage": "prod", "kind": "drift"},
    QUALITY_ALARM: {"stage": "prod", "kind": "quality"},
    "churn-dev-staging-drift": {"stage": "staging", "kind": "drift"},
}
KEY = "monitoring/prod/latest-report.json"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:churn-dev-notifications"
EXECUTION = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:pipeline/{PIPELINE}/execution/abc123"
CONSOLE = (
    f"https://console.aws.amazon.com/s3/object/{BUCKET}?region={REGION}"
    "&prefix=monitoring/prod/latest-report.json"
)


def feature(name: str, verdict: str, distance: float | None) -> dict[str, Any]:
    return {"name": name, "kind": "numeric", "verdict": verdict, "distance": distance}


# The shape pipeline_code/monitor.py writes (build_report), trimmed to what the message uses.
REPORT: dict[str, Any] = {
    "format_version": 1,
    "job": "churn-dev-prod-mon-2612062100",
    "window": {"since": "2026-12-05T21:00:00Z", "until": "2026-12-06T21:00:00Z", "clipped": False},
    "status": "drift",
    "records": 1234,
    "drift": {
        "status": "drift",
        "rows": 1234,
        "drifted_features": ["income", "age", "plan", "predicted score"],
        "features": [
            feature("age", "drift", 0.21),
            feature("tenure", "ok", 0.03),
            feature("income", "drift", 0.42),
            feature("plan", "missing column", None),
        ],
        "score": feature("predicted score", "drift", 0.15),
    },
    "quality": {"metric": "f1", "status": "ok", "value": 0.7123, "labels": 80},
}


def alarm_event(
    name: str = DRIFT_ALARM, state: str = "ALARM", event_id: str = "evt-1", **fields: Any
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT_ID,
        "time": "2026-12-06T21:12:00Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {
                "value": state,
                "reason": "Threshold Crossed: 1 datapoint [3.0] was >= the threshold (1.0).",
                "timestamp": "2026-12-06T21:12:00.000+0000",
            },
            "previousState": {"value": "OK"},
        },
        **fields,
    }


def token(event_id: str) -> str:
    return hashlib.sha256(f"{PIPELINE}\n{event_id}".encode()).hexdigest()


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    monkeypatch.setattr(handler, "clients", Clients())
    monkeypatch.setenv("TOPIC_ARN", TOPIC)
    monkeypatch.setenv("BUCKET", BUCKET)
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("ON_DRIFT", "retrain")
    monkeypatch.setenv("ALARMS", json.dumps(ALARMS))
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.delenv("INPUT_DATA_URI", raising=False)


@pytest.fixture(scope="module")
def module_clients(boto_session: boto3.Session) -> Iterator[dict[str, Any]]:
    """Created once (a client costs tens of milliseconds), inside moto so that nothing can
    reach AWS; every test answers through Stubbers, which also check each request against
    the API model."""
    with mock_aws():
        yield {name: boto_session.client(name) for name in ("s3", "sns", "sagemaker")}


@dataclass
class Aws:
    s3: Stubber
    sns: Stubber
    sagemaker: Stubber
    published: list[dict[str, Any]] = field(default_factory=list)

    def report(self, report: Any, stage: str = "prod") -> None:
        body = report if isinstance(report, bytes) else json.dumps(report).encode()
        self.s3.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(body), len(body))},
            {"Bucket": BUCKET, "Key": f"monitoring/{stage}/latest-report.json"},
        )

    def no_report(self) -> None:
        self.s3.add_client_error(
            "get_object", "NoSuchKey", "The specified key does not exist.", 404
        )

    def running(self, *summaries: dict[str, Any]) -> None:
        self.sagemaker.add_response(
            "list_pipeline_executions",
            {"PipelineExecutionSummaries": list(summaries)},
            {
                "PipelineName": PIPELINE,
                "CreatedAfter": ANY,
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
            },
        )

    def start(self, event_id: str = "evt-1", alarm: str = DRIFT_ALARM, **extra: Any) -> None:
        self.sagemaker.add_response(
            "start_pipeline_execution",
            {"PipelineExecutionArn": EXECUTION},
            {
                "PipelineName": PIPELINE,
                "PipelineExecutionDescription": (
                    f"Retraining on drift: alarm {alarm} in ALARM (event {event_id})"
                ),
                "ClientRequestToken": token(event_id),
                **extra,
            },
        )

    def publish(self) -> None:
        self.sns.add_response("publish", {"MessageId": "msg-1"})

    def only_message(self) -> dict[str, Any]:
        assert len(self.published) == 1, self.published
        return self.published[0]


@pytest.fixture
def aws(module_clients: dict[str, Any]) -> Iterator[Aws]:
    handler.clients.cache.update(module_clients)
    stubbers = {name: Stubber(client) for name, client in module_clients.items()}
    recorder = Aws(s3=stubbers["s3"], sns=stubbers["sns"], sagemaker=stubbers["sagemaker"])

    def record(params: dict[str, Any], **_: Any) -> None:
        recorder.published.append(dict(params))

    sns = module_clients["sns"].meta.events
    sns.register("provide-client-params.sns.Publish", record)
    with stubbers["s3"], stubbers["sns"], stubbers["sagemaker"]:
        yield recorder
        for stubber in stubbers.values():
            stubber.assert_no_pending_responses()
    sns.unregister("provide-client-params.sns.Publish", record)


def executing(description: str = "Retraining on drift (event earlier)") -> dict[str, Any]:
    return {
        "PipelineExecutionArn": EXECUTION,
        "PipelineExecutionStatus": "Executing",
        "StartTime": datetime.now(UTC) - timedelta(hours=1),
        "PipelineExecutionDescription": description,
    }


# ---------------------------------------------------------------------------------------------
# Drift: the message and retraining


def test_drift_alarm_tells_what_drifted_and_retrains(aws: Aws) -> None:
    aws.report(REPORT)
    aws.running()
    aws.start()
    aws.publish()

    result = handler.lambda_handler(alarm_event(), CONTEXT)

    outcome = f"Retraining started: pipeline {PIPELINE}, execution {EXECUTION}"
    assert result == {"notified": True, "message_id": "msg-1", "retraining": outcome}
    message = aws.only_message()
    assert message["TopicArn"] == TOPIC
    assert message["Subject"] == "dev prod endpoint: data drift (4 features)"
    assert message["Message"].splitlines() == [
        f"CloudWatch alarm {DRIFT_ALARM} (drift) is in ALARM for the prod endpoint of dev.",
        "Reason: Threshold Crossed: 1 datapoint [3.0] was >= the threshold (1.0).",
        "",
        "Latest drift check: drift (job churn-dev-prod-mon-2612062100)",
        "Checked until: 2026-12-06T21:00:00Z",
        "Records checked: 1234",
        "Drifted features (4): income (0.420), age (0.210), predicted score (0.150), plan",
        "Model quality: f1 0.7123 on 80 labels",
        "",
        f"Report: s3://{BUCKET}/{KEY}",
        f"Console: {CONSOLE}",
        "",
        outcome,
    ]


def test_input_data_uri_is_passed_when_configured(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INPUT_DATA_URI", "s3://churn-data/input-data/")
    aws.report(REPORT)
    aws.running()
    aws.start(PipelineParameters=[{"Name": "InputDataUri", "Value": "s3://churn-data/input-data/"}])
    aws.publish()

    assert handler.lambda_handler(alarm_event(), CONTEXT)["notified"] is True


def test_retried_event_after_its_run_finished_reuses_the_token(aws: Aws) -> None:
    # Only SageMaker's token check can deduplicate now: the same request, token included.
    for _ in range(2):
        aws.no_report()
        aws.running()
        aws.start("again")
        aws.publish()

        handler.lambda_handler(alarm_event(event_id="again"), CONTEXT)


def test_retried_event_while_its_run_executes_says_it_started(aws: Aws) -> None:
    aws.no_report()
    aws.running(executing(f"Retraining on drift: alarm {DRIFT_ALARM} in ALARM (event again)"))
    aws.publish()

    result = handler.lambda_handler(alarm_event(event_id="again"), CONTEXT)

    assert result["retraining"] == f"Retraining already started for this alarm: {EXECUTION}"


def test_no_retraining_while_an_execution_runs(aws: Aws) -> None:
    aws.report(REPORT)
    # A finished run does not count; an Executing one does.
    finished = {**executing(), "PipelineExecutionStatus": "Succeeded"}
    aws.running(finished, executing())
    aws.publish()

    result = handler.lambda_handler(alarm_event(), CONTEXT)

    assert result["retraining"] == (
        f"Retraining skipped: pipeline execution {EXECUTION} is still running."
    )
    assert aws.only_message()["Message"].endswith(result["retraining"])


def test_failed_start_is_told_not_raised(aws: Aws) -> None:
    aws.report(REPORT)
    aws.running()
    aws.sagemaker.add_client_error("start_pipeline_execution", "AccessDeniedException", "no", 400)
    aws.publish()

    result = handler.lambda_handler(alarm_event(), CONTEXT)

    assert result["retraining"].startswith("Retraining could NOT be started (ClientError: ")
    assert result["retraining"].endswith(f"start pipeline {PIPELINE} by hand.")
    assert aws.only_message()["Message"].endswith(result["retraining"])


def test_notify_only_mode_never_starts(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ON_DRIFT", "notify")
    aws.report(REPORT)
    aws.publish()

    result = handler.lambda_handler(alarm_event(), CONTEXT)

    assert result["retraining"] == (
        "Retraining: not started (ON_DRIFT is notify); retrain by hand if needed."
    )
    assert aws.only_message()["Subject"] == "dev prod endpoint: data drift (4 features)"


def test_quality_alarm_never_retrains(aws: Aws) -> None:
    aws.report(REPORT)
    aws.publish()

    result = handler.lambda_handler(alarm_event(QUALITY_ALARM), CONTEXT)

    assert result["retraining"] == "Retraining: not started (only drift alarms retrain)."
    message = aws.only_message()
    assert message["Subject"] == "dev prod endpoint: model quality below threshold"
    assert "Model quality: f1 0.7123 on 80 labels" in message["Message"].splitlines()


def test_staging_alarm_reads_the_staging_report(aws: Aws) -> None:
    aws.report({"status": "drift", "rows": 5, "drifted_features": ["age"]}, stage="staging")
    aws.running()
    aws.start(alarm="churn-dev-staging-drift")
    aws.publish()

    handler.lambda_handler(alarm_event("churn-dev-staging-drift"), CONTEXT)

    lines = aws.only_message()["Message"].splitlines()
    assert f"Report: s3://{BUCKET}/monitoring/staging/latest-report.json" in lines


# ---------------------------------------------------------------------------------------------
# The report


def test_missing_report_is_said_and_does_not_fail(aws: Aws) -> None:
    aws.no_report()
    aws.running()
    aws.start()
    aws.publish()

    result = handler.lambda_handler(alarm_event(), CONTEXT)

    assert result["notified"] is True
    message = aws.only_message()
    assert message["Subject"] == "dev prod endpoint: data drift"
    lines = message["Message"].splitlines()
    assert "No drift check report exists yet." in lines
    assert f"Report: s3://{BUCKET}/{KEY}" in lines
    assert f"Console: {CONSOLE}" in lines


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "The report is not JSON."),
        (b"[1, 2]", "The report is not a JSON object."),
        (b"[" * 100_000 + b"]" * 100_000, "The report is not JSON."),
    ],
)
def test_unreadable_report_is_said(aws: Aws, body: bytes, problem: str) -> None:
    aws.report(body)
    aws.publish()

    handler.lambda_handler(alarm_event(QUALITY_ALARM), CONTEXT)

    assert problem in aws.only_message()["Message"].splitlines()


def test_report_denied_is_said(aws: Aws) -> None:
    aws.s3.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
    aws.publish()

    handler.lambda_handler(alarm_event(QUALITY_ALARM), CONTEXT)

    assert "The report could not be read (AccessDenied)." in aws.only_message()["Message"]


def test_top_level_drift_report_and_long_feature_lists() -> None:
    report = {
        "status": "drift",
        "rows": 50,
        "features": [feature(f"f{n:02d}", "drift", n / 100) for n in range(12)],
        "score": None,
        "model_quality": 0.5,
    }

    lines = handler.summary_lines(report)

    assert lines == [
        "Latest drift check: drift",
        "Records checked: 50",
        "Drifted features (12): "
        + ", ".join(f"f{n:02d} (0.{n:02d}0)" for n in range(11, 1, -1))
        + " and 2 more",
        "Model quality: 0.5000",
    ]


def test_report_with_names_only_and_no_counts() -> None:
    assert handler.summary_lines({"drifted_features": ["a", "b"]}) == [
        "Latest drift check: unknown",
        "Records checked: unknown",
        "Drifted features (2): a, b",
    ]


# ---------------------------------------------------------------------------------------------
# Ignored events and failures


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (alarm_event("someone-elses-alarm"), "alarm 'someone-elses-alarm' is not a monitoring"),
        (alarm_event(state="OK"), f"alarm {DRIFT_ALARM} changed to state 'OK', not ALARM"),
        (alarm_event(state="INSUFFICIENT_DATA"), "changed to state 'INSUFFICIENT_DATA'"),
        (alarm_event(source="aws.s3"), "not a CloudWatch Alarm State Change event"),
        (alarm_event(id=""), "event has no id"),
        (alarm_event(detail="oops"), "alarm None is not a monitoring alarm"),
        ("ALARM", "event is not a JSON object"),
    ],
)
def test_other_events_are_ignored(aws: Aws, event: Any, reason: str) -> None:
    # No response queued: any call to S3, SageMaker or SNS would fail the test.
    result = handler.lambda_handler(event, CONTEXT)

    assert result["notified"] is False
    assert reason in result["reason"]


def test_publishing_failure_raises(aws: Aws) -> None:
    aws.report(REPORT)
    aws.sns.add_client_error("publish", "InternalError", "try again", 500)

    with pytest.raises(ClientError, match="InternalError"):
        handler.lambda_handler(alarm_event(QUALITY_ALARM), CONTEXT)


@pytest.mark.parametrize(
    "name", ["TOPIC_ARN", "BUCKET", "PIPELINE_NAME", "ON_DRIFT", "ALARMS", "ENVIRONMENT"]
)
def test_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv(name)

    with pytest.raises(
        handler.ConfigError, match=f"^Missing required environment variable {name}$"
    ):
        handler.lambda_handler(alarm_event(), CONTEXT)


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("ON_DRIFT", "Retrain", "ON_DRIFT must be one of"),
        ("ALARMS", "{not json", "ALARMS is not JSON"),
        ("ALARMS", "{}", "ALARMS must be a non-empty JSON object"),
        ("ALARMS", '{"a": {"stage": "dev", "kind": "drift"}}', r"ALARMS\['a'\] must be"),
        ("ALARMS", '{"a": {"stage": "prod", "kind": "bias"}}', r"ALARMS\['a'\] must be"),
        ("ALARMS", '{"a": "prod"}', r"ALARMS\['a'\] must be"),
    ],
)
def test_malformed_environment_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, error: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(handler.ConfigError, match="^" + error):
        handler.lambda_handler(alarm_event(), CONTEXT)


def test_subject_stays_within_sns_limits() -> None:
    settings = handler.Settings.from_env(
        {
            "TOPIC_ARN": "t",
            "BUCKET": "b",
            "PIPELINE_NAME": "p",
            "ON_DRIFT": "notify",
            "ALARMS": json.dumps(ALARMS),
            "ENVIRONMENT": "prödüction-" * 12,
        }
    )
    alarm = handler.Alarm(DRIFT_ALARM, "prod", "drift", "e", REGION, "")

    subject = handler.subject(alarm, settings, REPORT)

    assert len(subject) == 100
    assert subject.isascii() and subject.isprintable()


def test_the_shared_token_is_the_one_both_functions_use() -> None:
    assert pipeline_runs.client_request_token(PIPELINE, "evt-1") == token("evt-1")


def test_the_console_link_is_the_partitions_own() -> None:
    key = "monitoring/prod/latest-report.json"
    assert handler.console_url("b", key, "eu-west-1") == (
        "https://console.aws.amazon.com/s3/object/b?region=eu-west-1"
        "&prefix=monitoring/prod/latest-report.json"
    )
    assert handler.console_url("b", key, "cn-north-1").startswith(
        "https://console.amazonaws.cn/s3/object/b?region=cn-north-1&"
    )
