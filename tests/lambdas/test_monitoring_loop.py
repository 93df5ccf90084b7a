"""The monitoring loop end to end, offline: drifted traffic in the endpoint's capture → the
scheduled check (pipeline_code/monitor.py) → its report and metrics → the drift alarm's event
→ on_monitoring_alarm → an e-mail naming the drifted feature with the report's link, and one
retraining execution of the training pipeline, not two.

CloudWatch itself turns ``DriftedFeatures >= 1`` into the alarm's state change (moto does not
evaluate alarms); the alarm's wiring is tested in tests/infra/test_monitor_stack.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from lambdas.on_monitoring_alarm import handler
from pipeline_code import drift, monitor
from shared_runtime import Clients
from tests.lambdas.conftest import LAMBDA_CONTEXT
from tests.pipeline_code import test_monitor as check

PIPELINE = "churn-dev-training"
ALARM = "churn-dev-prod-drift"


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Iterator[check.CachedSession]:
    session = check.CachedSession()
    with mock_aws():
        session.client("s3").create_bucket(Bucket=check.BUCKET)
        yield session


def _topic_with_inbox(session: check.CachedSession) -> tuple[str, str]:
    """The project topic, and a queue subscribed to it that plays the team's inbox."""
    topic = session.client("sns").create_topic(Name="churn-dev-notifications")["TopicArn"]
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    session.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


def _training_pipeline(session: check.CachedSession) -> None:
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": []}
    session.client("sagemaker").create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps(definition),
        RoleArn="arn:aws:iam::123456789012:role/pipeline",
    )


def _alarm_event(event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "region": check.REGION,
        "resources": [f"arn:aws:cloudwatch:{check.REGION}:123456789012:alarm:{ALARM}"],
        "detail": {
            "alarmName": ALARM,
            "state": {"value": "ALARM", "reason": "Threshold Crossed: 1 datapoint [1.0]"},
        },
    }


def test_drifted_traffic_ends_in_an_email_and_one_retraining(
    loop: check.CachedSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    baseline = drift.build_baseline(check.records(rng, 3000), check.SCHEMA, rng.beta(2, 5, 3000))
    check.deploy(loop, baseline)
    drifted = check.records(rng, 800, shift=1.0)  # age one standard deviation higher
    check.put_capture(loop, drifted, rng.beta(2, 5, 800), check.UNTIL - timedelta(hours=5))

    assert monitor.main(check.args(), session=loop) == 0
    assert check.metrics(loop)["DriftedFeatures"] == 1

    topic, inbox = _topic_with_inbox(loop)
    _training_pipeline(loop)
    monkeypatch.setattr(handler, "clients", Clients())
    handler.clients.cache.update({name: loop.client(name) for name in ("s3", "sns", "sagemaker")})
    for name, value in {
        "TOPIC_ARN": topic,
        "BUCKET": check.BUCKET,
        "PIPELINE_NAME": PIPELINE,
        "ON_DRIFT": "retrain",
        "ALARMS": json.dumps({ALARM: {"stage": check.STAGE, "kind": "drift"}}),
        "ENVIRONMENT": "dev",
        "INPUT_DATA_URI": "",
    }.items():
        monkeypatch.setenv(name, value)

    first = handler.lambda_handler(_alarm_event("evt-1"), LAMBDA_CONTEXT)
    assert first["notified"] is True
    assert first["retraining"].startswith(f"Retraining started: pipeline {PIPELINE}")
    # moto finishes executions at once; a real one trains for a while. EventBridge then
    # redelivers the event, and the alarm goes OK and fires again, while the run executes.
    pipelines = sagemaker_backends[DEFAULT_ACCOUNT_ID][check.REGION].pipelines
    for execution in pipelines[PIPELINE].pipeline_executions.values():
        execution.pipeline_execution_status = "Executing"
    again = handler.lambda_handler(_alarm_event("evt-1"), LAMBDA_CONTEXT)
    assert again["retraining"].startswith("Retraining already started for this alarm")
    later = handler.lambda_handler(_alarm_event("evt-2"), LAMBDA_CONTEXT)
    assert later["retraining"].startswith("Retraining skipped: pipeline execution")

    executions = loop.client("sagemaker").list_pipeline_executions(PipelineName=PIPELINE)
    assert len(executions["PipelineExecutionSummaries"]) == 1

    messages = loop.client("sqs").receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages["Messages"]]
    assert len(bodies) == 3  # one e-mail per alarm event
    first_mail = next(b for b in bodies if "Retraining started" in b["Message"])
    assert first_mail["Subject"] == "dev prod endpoint: data drift (1 feature)"
    text = first_mail["Message"]
    assert "Latest drift check: drift" in text
    assert "Records checked: 800" in text
    assert "Drifted features (1): age (" in text
    assert f"Report: s3://{check.BUCKET}/monitoring/{check.STAGE}/latest-report.json" in text
    assert f"Retraining started: pipeline {PIPELINE}" in text
