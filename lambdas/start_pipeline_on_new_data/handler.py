"""Start the SageMaker pipeline when new training data lands, once per burst of uploads.

Wiring: S3 (EventBridge notifications) -> EventBridge rule (Object Created, input bucket, key
prefix) -> SQS -> this function (SQS event source with a batching window and
``ReportBatchItemFailures``) -> ``StartPipelineExecution``.

Contract
--------
Event: an SQS batch; each record's body is an EventBridge ``Object Created`` event from S3.

Environment:

* ``PIPELINE_NAME`` (required) - the SageMaker pipeline to start.
* ``INPUT_BUCKET`` (required) - only objects in this bucket count.
* ``INPUT_PREFIX`` (required, may be empty) - only keys under this prefix count, e.g.
  ``input-data/``.
* ``INPUT_PARAMETER_NAME`` (optional, default ``InputDataUri``) - the pipeline parameter that
  receives ``s3://<bucket>/<directory of the newest object>/``.
* ``LOG_LEVEL`` (optional, default ``INFO``); logs are Powertools JSON lines.

Returns ``{"batchItemFailures": [...]}`` through Powertools' ``BatchProcessor``. Records that
can never succeed (malformed, unrelated, folder markers, empty objects) are logged and
dropped, never retried. The valid records of a batch are reported as failures only when
starting the pipeline failed, so SQS redelivers them and its dead-letter queue catches what
keeps failing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from pipeline_runs import client_request_token, running_executions
from shared_runtime import Clients, function_logger

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

logger = function_logger("start_pipeline_on_new_data")
clients = Clients(max_attempts=3)

DEFAULT_INPUT_PARAMETER_NAME = "InputDataUri"
# Error codes after which a later attempt can succeed. Anything else is reported as a
# failure too (SQS retries, then the DLQ keeps it), but logged as an error that needs a human.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        # SageMaker's answer when too many executions already run; they finish eventually.
        "ResourceLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
MAX_DESCRIPTION_CHARS = 3072
# Bounds the extra calls spent confirming that a running execution reads the same data.
MAX_RUNNING_EXECUTIONS_TO_CHECK = 10


class ConfigError(RuntimeError):
    """The function's environment is incomplete; every record would fail the same way."""


@dataclass(frozen=True)
class Settings:
    pipeline_name: str
    input_bucket: str
    input_prefix: str
    input_parameter_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def required(name: str, allow_empty: bool = False) -> str:
            value = env.get(name)
            if value is None or (not allow_empty and not value.strip()):
                raise ConfigError(f"Missing required environment variable {name}")
            return value.strip()

        return cls(
            pipeline_name=required("PIPELINE_NAME"),
            input_bucket=required("INPUT_BUCKET"),
            input_prefix=required("INPUT_PREFIX", allow_empty=True),
            input_parameter_name=(
                env.get("INPUT_PARAMETER_NAME", "").strip() or DEFAULT_INPUT_PARAMETER_NAME
            ),
        )


@dataclass(frozen=True)
class NewObject:
    message_id: str
    event_id: str
    event_time: datetime
    bucket: str
    key: str


@dataclass(frozen=True)
class Ignored:
    message_id: str | None
    reason: str


# ---------------------------------------------------------------------------------------------
# Pure functions


def _parse_event_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _path(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, Mapping):
            return None
        document = document.get(key)
    return document


@dataclass(frozen=True)
class _S3Object:
    """The object an Object Created event names, once its bucket and key are known strings."""

    bucket: str
    key: str
    size: Any

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> _S3Object | None:
        bucket = _path(event, "detail", "bucket", "name")
        key = _path(event, "detail", "object", "key")
        if not isinstance(bucket, str) or not isinstance(key, str) or not key:
            return None
        return cls(bucket, key, _path(event, "detail", "object", "size"))


def _event_problem(event: Mapping[str, Any], event_time: datetime | None) -> str | None:
    """Checked before the object: an event that is not an S3 Object Created event, or cannot
    be dated or deduplicated, is unusable whatever object it names."""
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        return (
            f"not an S3 Object Created event (source={event.get('source')!r}, "
            f"detail-type={event.get('detail-type')!r})"
        )
    if not isinstance(event.get("id"), str) or not event["id"]:
        return "event has no id"
    if event_time is None:
        return f"event time {event.get('time')!r} is not an ISO 8601 timestamp"
    return None


def _in_other_bucket(obj: _S3Object, settings: Settings) -> str | None:
    if obj.bucket != settings.input_bucket:
        return f"object is in bucket {obj.bucket!r}, not {settings.input_bucket!r}"
    return None


def _outside_prefix(obj: _S3Object, settings: Settings) -> str | None:
    if not obj.key.startswith(settings.input_prefix):
        return f"key {obj.key!r} is outside prefix {settings.input_prefix!r}"
    return None


def _folder_marker(obj: _S3Object, settings: Settings) -> str | None:
    if obj.key.endswith("/"):
        return f"key {obj.key!r} is a folder marker"
    return None


def _not_csv(obj: _S3Object, settings: Settings) -> str | None:
    # Only a .csv upload starts a run: a README or a _SUCCESS marker is no new data, and
    # table data under other names (Spark's part-00000) is read by the next run.
    if not obj.key.lower().endswith(".csv"):
        return f"key {obj.key!r} is not a .csv file"
    return None


def _empty(obj: _S3Object, settings: Settings) -> str | None:
    if obj.size == 0:
        return f"object {obj.key!r} is empty"
    return None


# In this order: the first that applies is the reason logged.
_OBJECT_CHECKS: tuple[Callable[[_S3Object, Settings], str | None], ...] = (
    _in_other_bucket,
    _outside_prefix,
    _folder_marker,
    _not_csv,
    _empty,
)


def _ignore_reason(
    event: Mapping[str, Any], event_time: datetime | None, settings: Settings
) -> str | None:
    """Why an S3 EventBridge event does not count as new data, or None if it does.

    Only the first reason is given, so an event that is not an S3 Object Created event at all
    is reported as such rather than as, say, missing its object key.
    """
    problem = _event_problem(event, event_time)
    if problem is not None:
        return problem
    obj = _S3Object.of(event)
    if obj is None:
        return "event has no detail.bucket.name or detail.object.key"
    return next(
        (reason for check in _OBJECT_CHECKS if (reason := check(obj, settings)) is not None),
        None,
    )


def classify_record(record: Mapping[str, Any], settings: Settings) -> NewObject | Ignored:
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        return Ignored(None, "SQS record has no messageId")
    try:
        event = json.loads(record.get("body") or "")
    except (TypeError, ValueError):
        return Ignored(message_id, "body is not JSON")
    except RecursionError:
        return Ignored(message_id, "body is not JSON the parser can read: nested too deeply")
    if not isinstance(event, Mapping):
        return Ignored(message_id, "body is not a JSON object")
    event_time = _parse_event_time(event.get("time"))
    reason = _ignore_reason(event, event_time, settings)
    if reason is not None or event_time is None:
        return Ignored(message_id, reason or "event has no time")
    return NewObject(
        message_id=message_id,
        event_id=event["id"],
        event_time=event_time,
        bucket=event["detail"]["bucket"]["name"],
        key=event["detail"]["object"]["key"],
    )


def newest(objects: list[NewObject]) -> NewObject:
    """The latest event; equal timestamps (EventBridge has 1 s resolution) fall back to key."""
    return max(objects, key=lambda o: (o.event_time, o.key))


def input_data_uri(obj: NewObject) -> str:
    directory = obj.key.rpartition("/")[0]
    return f"s3://{obj.bucket}/{directory}/" if directory else f"s3://{obj.bucket}/"


def execution_description(trigger: NewObject, file_count: int) -> str:
    description = (
        f"New data: s3://{trigger.bucket}/{trigger.key} (newest of {file_count} new "
        f"object{'s' if file_count != 1 else ''} in this batch; event {trigger.event_id})"
    )
    return description[:MAX_DESCRIPTION_CHARS]


def is_transient(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.get("Code") in TRANSIENT_ERROR_CODES or int(status) >= 500
    # Connection resets, timeouts and the like.
    return isinstance(exc, BotoCoreError)


# ---------------------------------------------------------------------------------------------
# AWS calls


def _reads_uri(sagemaker: SageMakerClient, arn: str, settings: Settings, uri: str) -> bool:
    response = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    return any(
        p.get("Name") == settings.input_parameter_name and p.get("Value") == uri
        for p in response.get("PipelineParameters", [])
    )


def find_covering_execution(
    sagemaker: SageMakerClient, settings: Settings, since: datetime, uri: str
) -> str | None:
    """ARN of an Executing run, started at or after ``since``, that reads ``uri``.

    Such a run already sees the new objects, so starting another would only repeat it. The
    input URI is compared so that a run reading another directory does not hide this data.
    """
    running = running_executions(sagemaker, settings.pipeline_name, since)
    for checked, summary in enumerate(running):
        if checked >= MAX_RUNNING_EXECUTIONS_TO_CHECK:
            return None
        arn = summary["PipelineExecutionArn"]
        if _reads_uri(sagemaker, arn, settings, uri):
            return str(arn)
    return None


def start_execution(
    sagemaker: SageMakerClient, settings: Settings, trigger: NewObject, file_count: int
) -> str | None:
    """Start one execution for the burst; None when a running one already covers it."""
    uri = input_data_uri(trigger)
    covering = find_covering_execution(sagemaker, settings, trigger.event_time, uri)
    log_fields = {
        "pipeline_name": settings.pipeline_name,
        "input_data_uri": uri,
        "trigger_key": trigger.key,
        "trigger_event_id": trigger.event_id,
        "file_count": file_count,
    }
    if covering is not None:
        logger.info(
            "Pipeline already started for this data; skipping",
            extra={**log_fields, "pipeline_execution_arn": covering},
        )
        return None
    token = client_request_token(settings.pipeline_name, trigger.event_id)
    response = sagemaker.start_pipeline_execution(
        PipelineName=settings.pipeline_name,
        PipelineParameters=[{"Name": settings.input_parameter_name, "Value": uri}],
        PipelineExecutionDescription=execution_description(trigger, file_count),
        ClientRequestToken=token,
    )
    arn = str(response["PipelineExecutionArn"])
    logger.info(
        "Started pipeline execution",
        extra={**log_fields, "pipeline_execution_arn": arn, "client_request_token": token},
    )
    return arn


# ---------------------------------------------------------------------------------------------
# Entry point


class PipelineNotStartedError(RuntimeError):
    """Starting the pipeline for this record's data failed; SQS redelivers the record."""


def classify_batch(event: Any, settings: Settings) -> list[NewObject]:
    """The batch's new-data records; every other record is logged and dropped."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    new_objects: list[NewObject] = []
    for record in records if isinstance(records, list) else []:
        message = record if isinstance(record, Mapping) else {}
        try:
            outcome = classify_record(message, settings)
        except Exception as exc:
            # One record nothing foresaw must not fail the whole batch: SQS would redeliver
            # all of it until the dead-letter queue took it, valid records included.
            message_id = message.get("messageId")
            outcome = Ignored(
                message_id if isinstance(message_id, str) and message_id else None,
                f"record could not be classified: {type(exc).__name__}: {exc}",
            )
            logger.warning(
                "Could not classify record", exc_info=True, extra={"message_id": outcome.message_id}
            )
        if isinstance(outcome, Ignored):
            logger.info(
                "Ignoring record",
                extra={"message_id": outcome.message_id, "reason": outcome.reason},
            )
        else:
            new_objects.append(outcome)
    return new_objects


def start_for_batch(new_objects: list[NewObject], settings: Settings) -> set[str]:
    """Starts one execution for the batch; the message ids to retry (all the new-data
    records) when that failed, else none."""
    if not new_objects:
        logger.info("No new data objects in this batch; nothing to start")
        return set()
    try:
        start_execution(clients("sagemaker"), settings, newest(new_objects), len(new_objects))
    except Exception as exc:
        transient = is_transient(exc)
        log = logger.warning if transient else logger.error
        log(
            "Could not start the pipeline; returning the batch's new-data records for retry",
            exc_info=True,
            extra={
                "pipeline_name": settings.pipeline_name,
                "transient": transient,
                "error": f"{type(exc).__name__}: {exc}",
                "failed_records": len(new_objects),
            },
        )
        return {o.message_id for o in new_objects}
    return set()


# The whole batch is returned as failed when the start failed for all of it, rather than
# raised: the response lists exactly the records to redeliver either way.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = Settings.from_env(os.environ)
    retry = start_for_batch(classify_batch(event, settings), settings)
    if not retry:
        return {"batchItemFailures": []}

    def record_outcome(record: SQSRecord) -> None:
        # Read defensively: a malformed record (no messageId, not an object) is dropped.
        raw = record.raw_event
        if isinstance(raw, Mapping) and raw.get("messageId") in retry:
            raise PipelineNotStartedError(f"pipeline {settings.pipeline_name} did not start")

    return process_partial_response(
        event=event, record_handler=record_outcome, processor=processor, context=context
    )
