"""start_pipeline_on_new_data: one debounced, idempotent pipeline start per SQS batch."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import pipeline_runs
from lambdas.start_pipeline_on_new_data import handler
from shared_runtime import Clients
from tests.lambdas.conftest import ACCOUNT_ID
from tests.lambdas.conftest import LAMBDA_CONTEXT as CONTEXT

PIPELINE = "churn-training"
BUCKET = "churn-data"
PREFIX = "input-data/"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def s3_event(
    key: str,
    *,
    at: datetime = T0,
    event_id: str = "e-1",
    bucket: str = BUCKET,
    size: int = 1024,
    detail_type: str = "Object Created",
    source: str = "aws.s3",
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT_ID,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": "abc", "sequencer": "01"},
            "request-id": "req",
            "requester": ACCOUNT_ID,
            "reason": "PutObject",
        },
    }


def sqs_record(body: dict[str, Any] | str, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:new-data",
        "awsRegion": "us-east-1",
    }


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "clients", Clients())
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("INPUT_BUCKET", BUCKET)
    monkeypatch.setenv("INPUT_PREFIX", PREFIX)
    monkeypatch.delenv("INPUT_PARAMETER_NAME", raising=False)


@pytest.fixture
def sagemaker(make_client: Any) -> Any:
    client = make_client("sagemaker")
    handler.clients.cache["sagemaker"] = client
    return client


@pytest.fixture
def pipeline(sagemaker: Any) -> str:
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-pipeline",
        PipelineDefinition=json.dumps(
            {
                "Version": "2020-12-01",
                "Parameters": [{"Name": "InputDataUri", "Type": "String"}],
                "Steps": [],
            }
        ),
    )
    return PIPELINE


@pytest.fixture
def start_calls(sagemaker: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    sagemaker.meta.events.register(
        "provide-client-params.sagemaker.StartPipelineExecution",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


@pytest.fixture
def executions_still_running(sagemaker: Any) -> None:
    """moto's executions succeed instantly; real ones run for many minutes."""

    def mark_executing(parsed: dict[str, Any], **_: Any) -> None:
        for summary in parsed.get("PipelineExecutionSummaries", []):
            summary["PipelineExecutionStatus"] = "Executing"

    sagemaker.meta.events.register("after-call.sagemaker.ListPipelineExecutions", mark_executing)


def executions(sagemaker: Any) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = sagemaker.list_pipeline_executions(PipelineName=PIPELINE)[
        "PipelineExecutionSummaries"
    ]
    return summaries


def input_uris(sagemaker: Any) -> list[str]:
    return [
        param["Value"]
        for summary in executions(sagemaker)
        for param in sagemaker.list_pipeline_parameters_for_execution(
            PipelineExecutionArn=summary["PipelineExecutionArn"]
        )["PipelineParameters"]
        if param["Name"] == "InputDataUri"
    ]


def expected_token(event_id: str) -> str:
    return hashlib.sha256(f"{PIPELINE}\n{event_id}".encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Starting


def test_one_new_object_starts_one_execution(
    pipeline: str, sagemaker: Any, start_calls: list[dict[str, Any]]
) -> None:
    event = s3_event("input-data/2026/03/customers.csv", event_id="evt-42")

    result = handler.lambda_handler(batch(sqs_record(event)), CONTEXT)

    assert result == {"batchItemFailures": []}
    assert start_calls == [
        {
            "PipelineName": PIPELINE,
            "PipelineParameters": [
                {"Name": "InputDataUri", "Value": f"s3://{BUCKET}/input-data/2026/03/"}
            ],
            "PipelineExecutionDescription": (
                f"New data: s3://{BUCKET}/input-data/2026/03/customers.csv "
                "(newest of 1 new object in this batch; event evt-42)"
            ),
            "ClientRequestToken": expected_token("evt-42"),
        }
    ]
    assert len(executions(sagemaker)) == 1
    assert input_uris(sagemaker) == [f"s3://{BUCKET}/input-data/2026/03/"]


def test_burst_of_uploads_starts_once_with_newest_directory(
    pipeline: str, sagemaker: Any, start_calls: list[dict[str, Any]]
) -> None:
    second = timedelta(seconds=1)
    events = [
        s3_event("input-data/day1/a.csv", at=T0, event_id="e1"),
        # Same second as e5 and listed first: only the key tie-break makes e5 the newest.
        s3_event("input-data/day1/c.csv", at=T0 + 90 * second, event_id="e4"),
        s3_event("input-data/day2/z.csv", at=T0 + 90 * second, event_id="e5"),
        s3_event("input-data/day1/b.csv", at=T0 + 10 * second, event_id="e2"),
        s3_event("input-data/day2/y.csv", at=T0 + 60 * second, event_id="e3"),
    ]

    result = handler.lambda_handler(
        batch(*(sqs_record(e, f"m-{i}") for i, e in enumerate(events))), CONTEXT
    )

    assert result == {"batchItemFailures": []}
    assert len(start_calls) == 1
    assert start_calls[0]["ClientRequestToken"] == expected_token("e5")
    assert "newest of 5 new objects" in start_calls[0]["PipelineExecutionDescription"]
    assert input_uris(sagemaker) == [f"s3://{BUCKET}/input-data/day2/"]


def test_upper_case_csv_suffix_starts_the_pipeline(
    pipeline: str, sagemaker: Any, start_calls: list[dict[str, Any]]
) -> None:
    handler.lambda_handler(batch(sqs_record(s3_event("input-data/x/EXPORT.CSV"))), CONTEXT)

    assert input_uris(sagemaker) == [f"s3://{BUCKET}/input-data/x/"]


def test_object_directly_under_prefix_uses_the_prefix(
    pipeline: str, sagemaker: Any, start_calls: list[dict[str, Any]]
) -> None:
    handler.lambda_handler(batch(sqs_record(s3_event("input-data/all.csv"))), CONTEXT)

    assert input_uris(sagemaker) == [f"s3://{BUCKET}/input-data/"]


def test_custom_input_parameter_name(
    pipeline: str,
    sagemaker: Any,
    start_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INPUT_PARAMETER_NAME", "TrainingData")

    handler.lambda_handler(batch(sqs_record(s3_event("input-data/x/1.csv"))), CONTEXT)

    assert start_calls[0]["PipelineParameters"] == [
        {"Name": "TrainingData", "Value": f"s3://{BUCKET}/input-data/x/"}
    ]


# ---------------------------------------------------------------------------------------------
# Ignoring


IGNORED: list[tuple[dict[str, Any] | str, str]] = [
    ("{not json", "body is not JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('"a string"', "body is not a JSON object"),
    (s3_event("input-data/a.csv", detail_type="Object Deleted"), "not an S3 Object Created"),
    (s3_event("input-data/a.csv", source="custom.app"), "not an S3 Object Created"),
    (s3_event("input-data/a.csv", bucket="other-bucket"), "is in bucket 'other-bucket'"),
    (s3_event("models/a.csv"), "is outside prefix 'input-data/'"),
    (s3_event("input-data/2026/"), "is a folder marker"),
    (s3_event("input-data/empty.csv", size=0), "is empty"),
    (s3_event("input-data/README.md"), "is not a .csv file"),
    (s3_event("input-data/2026/_SUCCESS"), "is not a .csv file"),
    ({**s3_event("input-data/a.csv"), "time": "yesterday"}, "is not an ISO 8601 timestamp"),
    ({**s3_event("input-data/a.csv"), "detail": "oops"}, "no detail.bucket.name"),
]


@pytest.mark.parametrize(("body", "reason"), IGNORED)
def test_unusable_records_are_ignored_with_a_reason(
    pipeline: str,
    sagemaker: Any,
    start_calls: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    body: Any,
    reason: str,
) -> None:
    result = handler.lambda_handler(batch(sqs_record(body, "m-ignored")), CONTEXT)

    assert result == {"batchItemFailures": []}
    assert start_calls == []
    assert executions(sagemaker) == []
    ignored = [r for r in caplog.records if r.getMessage() == "Ignoring record"]
    assert len(ignored) == 1
    assert ignored[0].message_id == "m-ignored"  # type: ignore[attr-defined]
    assert reason in ignored[0].reason  # type: ignore[attr-defined]


def test_ignored_records_do_not_block_valid_ones(
    pipeline: str, sagemaker: Any, start_calls: list[dict[str, Any]]
) -> None:
    records = [sqs_record(body, f"m-{i}") for i, (body, _) in enumerate(IGNORED)]
    records.append(sqs_record(s3_event("input-data/ok/1.csv", event_id="ok"), "m-ok"))

    result = handler.lambda_handler(batch(*records), CONTEXT)

    assert result == {"batchItemFailures": []}
    assert [c["ClientRequestToken"] for c in start_calls] == [expected_token("ok")]
    assert "newest of 1 new object" in start_calls[0]["PipelineExecutionDescription"]


def test_a_record_that_fails_classification_is_dropped_not_the_batch(
    pipeline: str,
    sagemaker: Any,
    start_calls: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ignore_reason = handler._ignore_reason

    def fail_on_one_key(event: Any, event_time: Any, settings: handler.Settings) -> str | None:
        if event["detail"]["object"]["key"].endswith("bad.csv"):
            raise KeyError("unforeseen")
        return ignore_reason(event, event_time, settings)

    monkeypatch.setattr(handler, "_ignore_reason", fail_on_one_key)
    records = [
        sqs_record(s3_event("input-data/x/bad.csv", event_id="bad"), "m-bad"),
        sqs_record(s3_event("input-data/x/ok.csv", event_id="ok"), "m-ok"),
    ]

    result = handler.lambda_handler(batch(*records), CONTEXT)

    assert result == {"batchItemFailures": []}
    assert [c["ClientRequestToken"] for c in start_calls] == [expected_token("ok")]
    ignored = [r for r in caplog.records if r.getMessage() == "Ignoring record"]
    assert [(r.message_id, r.reason) for r in ignored] == [  # type: ignore[attr-defined]
        ("m-bad", "record could not be classified: KeyError: 'unforeseen'")
    ]
    assert any(r.getMessage() == "Could not classify record" and r.exc_info for r in caplog.records)


# ---------------------------------------------------------------------------------------------
# Duplicates


def test_redelivered_event_reuses_the_client_request_token(
    pipeline: str, sagemaker: Any, start_calls: list[dict[str, Any]]
) -> None:
    # The first execution has already finished, so only SageMaker's token check can dedup.
    event = batch(sqs_record(s3_event("input-data/d/1.csv", event_id="dup")))

    handler.lambda_handler(event, CONTEXT)
    handler.lambda_handler(event, CONTEXT)

    tokens = [call["ClientRequestToken"] for call in start_calls]
    assert tokens == [expected_token("dup"), expected_token("dup")]
    assert start_calls[0] == start_calls[1]


def test_redelivered_event_while_execution_runs_is_skipped(
    pipeline: str,
    sagemaker: Any,
    start_calls: list[dict[str, Any]],
    executions_still_running: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = batch(sqs_record(s3_event("input-data/d/1.csv", event_id="dup")))

    first = handler.lambda_handler(event, CONTEXT)
    second = handler.lambda_handler(event, CONTEXT)

    assert first == second == {"batchItemFailures": []}
    assert len(start_calls) == 1
    assert start_calls[0]["ClientRequestToken"] == expected_token("dup")
    assert len(executions(sagemaker)) == 1
    assert any("already started" in r.getMessage() for r in caplog.records)


def test_running_execution_for_another_directory_does_not_hide_new_data(
    pipeline: str,
    sagemaker: Any,
    start_calls: list[dict[str, Any]],
    executions_still_running: None,
) -> None:
    handler.lambda_handler(batch(sqs_record(s3_event("input-data/b/1.csv", event_id="b"))), CONTEXT)
    handler.lambda_handler(batch(sqs_record(s3_event("input-data/a/1.csv", event_id="a"))), CONTEXT)

    assert sorted(input_uris(sagemaker)) == [
        f"s3://{BUCKET}/input-data/a/",
        f"s3://{BUCKET}/input-data/b/",
    ]


def test_running_execution_started_before_the_data_landed_does_not_count(
    pipeline: str,
    sagemaker: Any,
    start_calls: list[dict[str, Any]],
    executions_still_running: None,
) -> None:
    # moto stamps executions with the wall clock, so an event an hour ahead is "later data".
    later = datetime.now(UTC) + timedelta(hours=1)
    handler.lambda_handler(batch(sqs_record(s3_event("input-data/d/1.csv", event_id="1"))), CONTEXT)
    handler.lambda_handler(
        batch(sqs_record(s3_event("input-data/d/2.csv", event_id="2", at=later))), CONTEXT
    )

    assert [c["ClientRequestToken"] for c in start_calls] == [
        expected_token("1"),
        expected_token("2"),
    ]


# ---------------------------------------------------------------------------------------------
# Which running execution already covers the new data


def settings() -> handler.Settings:
    return handler.Settings(PIPELINE, BUCKET, PREFIX, "InputDataUri")


def execution_arn(n: int) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:pipeline/{PIPELINE}/execution/exec{n}"


def execution_summary(
    n: int, *, status: str = "Executing", start: datetime | None = T0
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "PipelineExecutionArn": execution_arn(n),
        "PipelineExecutionStatus": status,
    }
    if start is not None:
        summary["StartTime"] = start
    return summary


def list_params() -> dict[str, Any]:
    return {
        "PipelineName": PIPELINE,
        "CreatedAfter": T0,
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
    }


def test_a_running_execution_counts_only_if_executing_started_since_and_reading_the_uri(
    sagemaker: Any,
) -> None:
    uri = f"s3://{BUCKET}/input-data/d/"
    naive = T0.replace(tzinfo=None)
    summaries = [
        execution_summary(1, status="Succeeded"),
        execution_summary(2, start=None),
        execution_summary(3, start=T0 - timedelta(seconds=1)),
        # A start time without a zone is read as UTC.
        execution_summary(4, start=naive - timedelta(seconds=1)),
        execution_summary(5, start=naive),
        execution_summary(6),
        execution_summary(7),
    ]
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "list_pipeline_executions",
            {"PipelineExecutionSummaries": summaries},
            list_params(),
        )
        for n, parameters in [
            (5, [{"Name": "InputDataUri", "Value": f"s3://{BUCKET}/input-data/other/"}]),
            (6, [{"Name": "OtherParameter", "Value": uri}]),
            (7, [{"Name": "OtherParameter", "Value": "x"}, {"Name": "InputDataUri", "Value": uri}]),
        ]:
            stub.add_response(
                "list_pipeline_parameters_for_execution",
                {"PipelineParameters": parameters},
                {"PipelineExecutionArn": execution_arn(n)},
            )

        covering = handler.find_covering_execution(sagemaker, settings(), T0, uri)

        stub.assert_no_pending_responses()
    assert covering == execution_arn(7)


def test_at_most_ten_running_executions_are_checked(sagemaker: Any) -> None:
    uri = f"s3://{BUCKET}/input-data/d/"
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "list_pipeline_executions",
            {
                "PipelineExecutionSummaries": [execution_summary(n) for n in range(10)],
                "NextToken": "page-2",
            },
            list_params(),
        )
        for n in range(10):
            stub.add_response(
                "list_pipeline_parameters_for_execution",
                {"PipelineParameters": [{"Name": "InputDataUri", "Value": "s3://elsewhere/"}]},
                {"PipelineExecutionArn": execution_arn(n)},
            )
        # The eleventh running execution reads the same data, but is never asked about.
        stub.add_response(
            "list_pipeline_executions",
            {"PipelineExecutionSummaries": [execution_summary(10)]},
            {**list_params(), "NextToken": "page-2"},
        )

        covering = handler.find_covering_execution(sagemaker, settings(), T0, uri)

        stub.assert_no_pending_responses()
    assert covering is None


# ---------------------------------------------------------------------------------------------
# Why an event is not new data: each reason word for word, and the first check wins


def changed(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The event with top-level fields replaced; a field given as ... is removed."""
    return {k: v for k, v in {**event, **fields}.items() if v is not ...}


def with_detail(bucket: Any = BUCKET, key: Any = "input-data/a.csv", **obj: Any) -> dict[str, Any]:
    event = s3_event("input-data/a.csv")
    event["detail"] = {"bucket": {"name": bucket}, "object": {"key": key, **obj}}
    return event


NOT_CREATED = "not an S3 Object Created event"
NO_LOCATION = "event has no detail.bucket.name or detail.object.key"
REASONS: list[tuple[dict[str, Any], str | None]] = [
    (s3_event("input-data/a.csv"), None),
    (s3_event("input-data/d/A.CSV"), None),
    (changed(s3_event("input-data/a.csv"), time="2026-03-01T12:00:00"), None),
    (with_detail(), None),
    (with_detail(size=None), None),
    (
        s3_event("input-data/a.csv", source="custom.app"),
        f"{NOT_CREATED} (source='custom.app', detail-type='Object Created')",
    ),
    (
        changed(s3_event("x"), id=..., time=..., source=..., **{"detail-type": "Object Deleted"}),
        f"{NOT_CREATED} (source=None, detail-type='Object Deleted')",
    ),
    (changed(s3_event("input-data/a.csv"), id=...), "event has no id"),
    (changed(s3_event("input-data/a.csv"), id=""), "event has no id"),
    (changed(s3_event("input-data/a.csv"), id=7), "event has no id"),
    (changed(s3_event("x"), id="", time="soon", detail="oops"), "event has no id"),
    (
        changed(s3_event("input-data/a.csv"), time=...),
        "event time None is not an ISO 8601 timestamp",
    ),
    (
        changed(s3_event("x"), time="soon", detail="oops"),
        "event time 'soon' is not an ISO 8601 timestamp",
    ),
    (changed(s3_event("input-data/a.csv"), detail=...), NO_LOCATION),
    (with_detail(bucket=7), NO_LOCATION),
    (with_detail(key=7), NO_LOCATION),
    (with_detail(key=""), NO_LOCATION),
    (with_detail(bucket=None, key="models/"), NO_LOCATION),
    (
        s3_event("models/", bucket="other-bucket", size=0),
        "object is in bucket 'other-bucket', not 'churn-data'",
    ),
    (s3_event("models/x/", size=0), "key 'models/x/' is outside prefix 'input-data/'"),
    (s3_event("input-data/x/", size=0), "key 'input-data/x/' is a folder marker"),
    (s3_event("input-data/x.json", size=0), "key 'input-data/x.json' is not a .csv file"),
    (s3_event("input-data/x.csv", size=0), "object 'input-data/x.csv' is empty"),
    (with_detail(size=0.0), "object 'input-data/a.csv' is empty"),
]


@pytest.mark.parametrize(("event", "reason"), REASONS)
def test_ignore_reason(event: dict[str, Any], reason: str | None) -> None:
    event_time = handler._parse_event_time(event.get("time"))

    assert handler._ignore_reason(event, event_time, settings()) == reason


# ---------------------------------------------------------------------------------------------
# Failures


def test_throttling_returns_the_valid_records_for_retry(
    sagemaker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    records = [
        sqs_record(s3_event("input-data/t/1.csv", event_id="t1"), "m-1"),
        sqs_record("{not json", "m-junk"),
        sqs_record(s3_event("input-data/t/2.csv", event_id="t2", at=T0 + timedelta(1)), "m-2"),
    ]
    with Stubber(sagemaker) as stub:
        stub.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": []})
        stub.add_client_error(
            "start_pipeline_execution", "ThrottlingException", "Rate exceeded", 400
        )

        result = handler.lambda_handler(batch(*records), CONTEXT)

        stub.assert_no_pending_responses()
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    failure_logs = [r for r in caplog.records if r.getMessage().startswith("Could not start")]
    assert [(r.levelno, r.transient) for r in failure_logs] == [  # type: ignore[attr-defined]
        (logging.WARNING, True)
    ]


def test_missing_pipeline_is_logged_as_an_error_and_retried(
    sagemaker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # No pipeline fixture: moto answers like SageMaker for an unknown pipeline name.
    result = handler.lambda_handler(
        batch(sqs_record(s3_event("input-data/n/1.csv"), "m-1")), CONTEXT
    )

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    failure_logs = [r for r in caplog.records if r.getMessage().startswith("Could not start")]
    assert [(r.levelno, r.transient) for r in failure_logs] == [  # type: ignore[attr-defined]
        (logging.ERROR, False)
    ]


@pytest.mark.parametrize("name", ["PIPELINE_NAME", "INPUT_BUCKET", "INPUT_PREFIX"])
def test_missing_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv(name)

    with pytest.raises(
        handler.ConfigError, match=f"^Missing required environment variable {name}$"
    ):
        handler.lambda_handler(batch(sqs_record(s3_event("input-data/a.csv"))), CONTEXT)


def test_empty_prefix_accepts_the_whole_bucket(
    pipeline: str,
    sagemaker: Any,
    start_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INPUT_PREFIX", "")

    handler.lambda_handler(batch(sqs_record(s3_event("top.csv"))), CONTEXT)

    assert input_uris(sagemaker) == [f"s3://{BUCKET}/"]


# ---------------------------------------------------------------------------------------------
# Pure helpers


def test_client_request_token_is_deterministic_and_valid() -> None:
    event_id = "17793124-05d4-b198-2fde-7ededc63b103"
    token = pipeline_runs.client_request_token(PIPELINE, event_id)

    assert token == pipeline_runs.client_request_token(PIPELINE, event_id)
    assert token != pipeline_runs.client_request_token(PIPELINE, "another-event")
    assert token != pipeline_runs.client_request_token("other-pipeline", "another-event")
    assert re.fullmatch(r"[0-9a-f]{64}", token)


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("ThrottlingException", 400, True),
        ("ResourceLimitExceeded", 400, True),
        ("InternalFailure", 500, True),
        ("SomethingNew", 503, True),
        ("ResourceNotFound", 400, False),
        ("ValidationException", 400, False),
        ("AccessDeniedException", 403, False),
    ],
)
def test_is_transient(code: str, status: int, transient: bool) -> None:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {}}
    response["ResponseMetadata"]["HTTPStatusCode"] = status
    error = ClientError(response, "StartPipelineExecution")

    assert handler.is_transient(error) is transient


@pytest.mark.parametrize("starts", [True, False])
def test_malformed_records_are_dropped_without_failing_the_batch(
    pipeline: str, sagemaker: Any, monkeypatch: pytest.MonkeyPatch, starts: bool
) -> None:
    if not starts:
        monkeypatch.setenv("PIPELINE_NAME", "no-such-pipeline")
    valid = sqs_record(s3_event("input-data/ok/1.csv"), "m-ok")
    no_id = {
        k: v for k, v in sqs_record(s3_event("input-data/ok/2.csv")).items() if k != "messageId"
    }

    result = handler.lambda_handler(
        batch(no_id, cast(dict[str, Any], "not a record"), valid), CONTEXT
    )

    retried = [] if starts else [{"itemIdentifier": "m-ok"}]
    assert result == {"batchItemFailures": retried}
