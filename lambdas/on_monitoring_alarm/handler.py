"""Tell the project's topic that a monitoring alarm fired, and retrain on drift if so configured.

Wiring: CloudWatch alarms ``<resource_prefix>-<stage>-drift`` and ``-quality``
(docs/monitoring.md) -> EventBridge rule (``CloudWatch Alarm State Change``, state ALARM) ->
this function (asynchronous invocation) -> SNS ``Publish`` and, for a drift alarm with
``ON_DRIFT=retrain``, ``StartPipelineExecution``.

Contract
--------
Event: an EventBridge ``CloudWatch Alarm State Change`` event (source ``aws.cloudwatch``).
Events of alarms not in ``ALARMS``, or whose new state is not ``ALARM``, are logged and
ignored.

Environment:

* ``TOPIC_ARN`` (required) - the SNS topic told about the alarm.
* ``BUCKET`` (required) - holds ``monitoring/<stage>/latest-report.json``, summarised in the
  message (a missing or unreadable report is said so; it does not fail the function).
* ``PIPELINE_NAME`` (required) - the training pipeline a drift alarm may start.
* ``ON_DRIFT`` (required) - ``retrain`` (start the pipeline on a drift alarm) or ``notify``.
* ``ALARMS`` (required) - JSON object, alarm name -> ``{"stage": "staging"|"prod", "kind":
  "drift"|"quality"}``.
* ``ENVIRONMENT`` (required) - the deployment environment's name, for the message.
* ``INPUT_DATA_URI`` (optional) - passed as the pipeline's ``InputDataUri``; empty: the
  pipeline's default applies.
* ``LOG_LEVEL`` (optional, default ``INFO``).

Retraining starts at most once per alarm episode (one state change event): the start's
``ClientRequestToken`` is derived from the pipeline and the event id, so a retried invocation
of the same event is the same request, and no run starts while one of the pipeline's
executions is Executing. A failed start is told in the message rather than retried. A failed
publish raises, so Lambda's asynchronous retry runs the function again.

Returns ``{"notified": true, "message_id": ..., "retraining": ...}`` or ``{"notified":
false, "reason": ...}`` for an ignored event.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from pipeline_runs import client_request_token, running_executions
from shared_runtime import Clients, function_logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import StartPipelineExecutionRequestTypeDef

logger = function_logger("on_monitoring_alarm")
clients = Clients(max_attempts=3)

STAGES: Final = frozenset({"staging", "prod"})
KINDS: Final = frozenset({"drift", "quality"})
ON_DRIFT_CHOICES: Final = frozenset({"retrain", "notify"})
INPUT_PARAMETER_NAME: Final = "InputDataUri"
ALARM_STATE: Final = "ALARM"
DETAIL_TYPE: Final = "CloudWatch Alarm State Change"
# Verdicts of pipeline_code/drift.py that count as drift.
ALARMING_VERDICTS: Final = frozenset({"drift", "missing column", "type mismatch"})
MAX_FEATURES_LISTED: Final = 10
MAX_REPORT_BYTES: Final = 5 * 1024 * 1024
MAX_SUBJECT_CHARS: Final = 100
MAX_DESCRIPTION_CHARS: Final = 3072
# Executions older than this are not looked at: no run of the pipeline lasts that long.
RUNNING_LOOKBACK: Final = timedelta(days=30)


class ConfigError(RuntimeError):
    """The function's environment is incomplete or malformed; every event would fail."""


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Watched:
    stage: str
    kind: str


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"Missing required environment variable {name}")
    return value


def _alarms(env: Mapping[str, str]) -> dict[str, Watched]:
    raw = _required(env, "ALARMS")
    try:
        alarms = json.loads(raw)
    except ValueError:
        raise ConfigError("ALARMS is not JSON") from None
    if not isinstance(alarms, dict) or not alarms:
        raise ConfigError("ALARMS must be a non-empty JSON object")
    watched: dict[str, Watched] = {}
    for name, spec in alarms.items():
        stage = spec.get("stage") if isinstance(spec, dict) else None
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if stage not in STAGES or kind not in KINDS:
            raise ConfigError(
                f"ALARMS[{name!r}] must be {{'stage': one of {sorted(STAGES)}, "
                f"'kind': one of {sorted(KINDS)}}}"
            )
        watched[name] = Watched(stage, kind)
    return watched


def _on_drift(env: Mapping[str, str]) -> str:
    value = _required(env, "ON_DRIFT")
    if value not in ON_DRIFT_CHOICES:
        raise ConfigError(f"ON_DRIFT must be one of {sorted(ON_DRIFT_CHOICES)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    topic_arn: str
    bucket: str
    pipeline_name: str
    on_drift: str
    alarms: Mapping[str, Watched]
    environment: str
    input_data_uri: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            topic_arn=_required(env, "TOPIC_ARN"),
            bucket=_required(env, "BUCKET"),
            pipeline_name=_required(env, "PIPELINE_NAME"),
            on_drift=_on_drift(env),
            alarms=_alarms(env),
            environment=_required(env, "ENVIRONMENT"),
            input_data_uri=env.get("INPUT_DATA_URI", "").strip(),
        )


# ---------------------------------------------------------------------------------------------
# The event


@dataclass(frozen=True)
class Alarm:
    name: str
    stage: str
    kind: str
    event_id: str
    region: str
    reason: str


def _path(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, Mapping):
            return None
        document = document.get(key)
    return document


def _not_an_alarm_event(event: Any) -> str | None:
    if not isinstance(event, Mapping):
        return "event is not a JSON object"
    if event.get("source") != "aws.cloudwatch" or event.get("detail-type") != DETAIL_TYPE:
        return (
            f"not a {DETAIL_TYPE} event (source={event.get('source')!r}, "
            f"detail-type={event.get('detail-type')!r})"
        )
    if not isinstance(event.get("id"), str) or not event["id"]:
        return "event has no id"
    return None


def parse_event(event: Any, settings: Settings, default_region: str) -> Alarm | str:
    """The alarm this event reports, or why the event is ignored."""
    problem = _not_an_alarm_event(event)
    if problem is not None:
        return problem
    name = _path(event, "detail", "alarmName")
    watched = settings.alarms.get(name) if isinstance(name, str) else None
    if watched is None:
        return f"alarm {name!r} is not a monitoring alarm of this function"
    state = _path(event, "detail", "state", "value")
    if state != ALARM_STATE:
        return f"alarm {name} changed to state {state!r}, not {ALARM_STATE}"
    region = event.get("region")
    reason = _path(event, "detail", "state", "reason")
    return Alarm(
        name=str(name),
        stage=watched.stage,
        kind=watched.kind,
        event_id=event["id"],
        region=region if isinstance(region, str) and region else default_region,
        reason=reason if isinstance(reason, str) else "",
    )


# ---------------------------------------------------------------------------------------------
# The report


def report_key(stage: str) -> str:
    return f"monitoring/{stage}/latest-report.json"


# The console's own domain in the partitions the configuration accepts (aws, aws-cn).
CONSOLE_DOMAINS = {"cn-": "console.amazonaws.cn"}
DEFAULT_CONSOLE_DOMAIN = "console.aws.amazon.com"


def console_url(bucket: str, key: str, region: str) -> str:
    domain = next(
        (d for prefix, d in CONSOLE_DOMAINS.items() if region.startswith(prefix)),
        DEFAULT_CONSOLE_DOMAIN,
    )
    return f"https://{domain}/s3/object/{quote(bucket)}?region={quote(region)}&prefix={quote(key)}"


def _fetch(s3: S3Client, bucket: str, key: str) -> tuple[bytes | None, str]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_REPORT_BYTES + 1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "404"}:
            return None, "No drift check report exists yet."
        return None, f"The report could not be read ({code or type(exc).__name__})."
    except BotoCoreError as exc:
        return None, f"The report could not be read ({type(exc).__name__})."
    if len(body) > MAX_REPORT_BYTES:
        return None, f"The report is larger than {MAX_REPORT_BYTES} bytes; not summarised."
    return body, ""


def read_report(s3: S3Client, bucket: str, key: str) -> tuple[dict[str, Any] | None, str]:
    """The report, or None and why it could not be read."""
    body, problem = _fetch(s3, bucket, key)
    if body is None:
        return None, problem
    try:
        report = json.loads(body)
    except (ValueError, RecursionError):
        return None, "The report is not JSON."
    if not isinstance(report, dict):
        return None, "The report is not a JSON object."
    return report, ""


def _drift_section(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """drift.py's report, nested under ``drift`` or at the top level."""
    nested = report.get("drift")
    return nested if isinstance(nested, Mapping) else report


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def drifted_features(report: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    """Name and distance of each alarming check (the scores' included), largest first."""
    drift = _drift_section(report)
    features = drift.get("features")
    results = [*(features if isinstance(features, list) else []), drift.get("score")]
    found = [
        (str(result.get("name")), _number(result.get("distance")))
        for result in results
        if isinstance(result, Mapping) and result.get("verdict") in ALARMING_VERDICTS
    ]
    if not found:
        names = drift.get("drifted_features")
        found = [(str(n), None) for n in names] if isinstance(names, list) else []
    return sorted(found, key=lambda item: -(item[1] if item[1] is not None else -1.0))


def _features_line(drifted: list[tuple[str, float | None]]) -> str:
    shown = ", ".join(
        name if distance is None else f"{name} ({distance:.3f})"
        for name, distance in drifted[:MAX_FEATURES_LISTED]
    )
    more = len(drifted) - MAX_FEATURES_LISTED
    return f"Drifted features ({len(drifted)}): {shown}" + (f" and {more} more" if more > 0 else "")


def quality_line(report: Mapping[str, Any]) -> str | None:
    quality = report.get("quality")
    if not isinstance(quality, Mapping):
        value = _number(report.get("model_quality"))
        return None if value is None else f"Model quality: {value:.4f}"
    value = _number(quality.get("value"))
    if value is None:
        return None
    metric = quality.get("metric") or "quality"
    labels = quality.get("labels")
    counted = f" on {labels} labels" if isinstance(labels, int) and labels > 0 else ""
    threshold = _number(quality.get("threshold"))
    limit = "" if threshold is None else f" (threshold {threshold:.4f})"
    return f"Model quality: {metric} {value:.4f}{counted}{limit}"


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    drift = _drift_section(report)
    status = _first(report.get("status"), drift.get("status"), "unknown")
    window = report.get("window")
    window = window if isinstance(window, Mapping) else {}
    # monitor.py's report (docs/monitoring.md) first; older or hand-written shapes after it.
    records = _first(report.get("records"), report.get("records_checked"), drift.get("rows"))
    job = _first(report.get("job"), report.get("job_name"))
    until = _first(window.get("until"), report.get("until"), report.get("checked_until"))
    lines = [f"Latest drift check: {status}" + (f" (job {job})" if job else "")]
    if until:
        lines.append(f"Checked until: {until}")
    lines.append(f"Records checked: {records if records is not None else 'unknown'}")
    drifted = drifted_features(report)
    if drifted:
        lines.append(_features_line(drifted))
    quality = quality_line(report)
    if quality:
        lines.append(quality)
    return lines


# ---------------------------------------------------------------------------------------------
# Retraining


def execution_description(alarm: Alarm) -> str:
    description = f"Retraining on drift: alarm {alarm.name} in ALARM (event {alarm.event_id})"
    return description[:MAX_DESCRIPTION_CHARS]


def _running(sagemaker: SageMakerClient, settings: Settings) -> tuple[str, str] | None:
    """ARN and description of an Executing run of the pipeline, if any."""
    since = datetime.now(UTC) - RUNNING_LOOKBACK
    summary = next(running_executions(sagemaker, settings.pipeline_name, since), None)
    if summary is None:
        return None
    return str(summary["PipelineExecutionArn"]), str(
        summary.get("PipelineExecutionDescription", "")
    )


def start_request(alarm: Alarm, settings: Settings) -> StartPipelineExecutionRequestTypeDef:
    request: StartPipelineExecutionRequestTypeDef = {
        "PipelineName": settings.pipeline_name,
        "PipelineExecutionDescription": execution_description(alarm),
        "ClientRequestToken": client_request_token(settings.pipeline_name, alarm.event_id),
    }
    if settings.input_data_uri:
        request["PipelineParameters"] = [
            {"Name": INPUT_PARAMETER_NAME, "Value": settings.input_data_uri}
        ]
    return request


def retrain(sagemaker: SageMakerClient, alarm: Alarm, settings: Settings) -> str:
    """Start the training pipeline unless a run is Executing; what happened, as a sentence."""
    fields = {"pipeline_name": settings.pipeline_name, "alarm": alarm.name}
    running = _running(sagemaker, settings)
    if running is not None:
        arn, description = running
        logger.info("Pipeline already running; not retraining", extra={**fields, "arn": arn})
        if alarm.event_id in description:
            return f"Retraining already started for this alarm: {arn}"
        return f"Retraining skipped: pipeline execution {arn} is still running."
    request = start_request(alarm, settings)
    try:
        arn = sagemaker.start_pipeline_execution(**request)["PipelineExecutionArn"]
    except (ClientError, BotoCoreError) as exc:
        logger.error("Could not start retraining", exc_info=True, extra=fields)
        return (
            f"Retraining could NOT be started ({type(exc).__name__}: {exc}); start pipeline "
            f"{settings.pipeline_name} by hand."
        )
    logger.info(
        "Started retraining",
        extra={**fields, "arn": arn, "client_request_token": request["ClientRequestToken"]},
    )
    return f"Retraining started: pipeline {settings.pipeline_name}, execution {arn}"


def retraining_outcome(alarm: Alarm, settings: Settings) -> str:
    if alarm.kind != "drift":
        return "Retraining: not started (only drift alarms retrain)."
    if settings.on_drift != "retrain":
        return "Retraining: not started (ON_DRIFT is notify); retrain by hand if needed."
    return retrain(clients("sagemaker"), alarm, settings)


# ---------------------------------------------------------------------------------------------
# The message


def subject(alarm: Alarm, settings: Settings, report: Mapping[str, Any] | None) -> str:
    if alarm.kind == "drift":
        count = len(drifted_features(report)) if report is not None else 0
        what = "data drift" + (f" ({count} feature{'s' if count != 1 else ''})" if count else "")
    else:
        what = "model quality below threshold"
    text = f"{settings.environment} {alarm.stage} endpoint: {what}"
    # SNS subjects: printable ASCII, no line breaks, at most 100 characters.
    printable = "".join(c if " " <= c <= "~" else "?" for c in text)
    return printable[:MAX_SUBJECT_CHARS]


def message(
    alarm: Alarm, settings: Settings, report: Mapping[str, Any] | None, problem: str, outcome: str
) -> str:
    key = report_key(alarm.stage)
    lines = [
        f"CloudWatch alarm {alarm.name} ({alarm.kind}) is in ALARM for the {alarm.stage} "
        f"endpoint of {settings.environment}.",
    ]
    if alarm.reason:
        lines.append(f"Reason: {alarm.reason}")
    lines.append("")
    lines.extend(summary_lines(report) if report is not None else [problem])
    lines += [
        "",
        f"Report: s3://{settings.bucket}/{key}",
        f"Console: {console_url(settings.bucket, key, alarm.region)}",
        "",
        outcome,
    ]
    return "\n".join(lines)


def handle(alarm: Alarm, settings: Settings) -> dict[str, Any]:
    key = report_key(alarm.stage)
    report, problem = read_report(clients("s3"), settings.bucket, key)
    if report is None:
        logger.warning("No report to summarise", extra={"key": key, "problem": problem})
    outcome = retraining_outcome(alarm, settings)
    response = clients("sns").publish(
        TopicArn=settings.topic_arn,
        Subject=subject(alarm, settings, report),
        Message=message(alarm, settings, report, problem, outcome),
    )
    message_id = str(response["MessageId"])
    logger.info(
        "Published alarm notification",
        extra={"alarm": alarm.name, "message_id": message_id, "retraining": outcome},
    )
    return {"notified": True, "message_id": message_id, "retraining": outcome}


# ---------------------------------------------------------------------------------------------
# Entry point


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env(os.environ)
    alarm = parse_event(event, settings, os.environ.get("AWS_REGION", ""))
    if isinstance(alarm, str):
        logger.info("Ignoring event", extra={"reason": alarm})
        return {"notified": False, "reason": alarm}
    return handle(alarm, settings)
