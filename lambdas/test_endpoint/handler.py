"""CodePipeline "Lambda invoke" action: smoke-test a freshly deployed endpoint.

Contract
--------
Event: the CodePipeline job event. ``UserParameters`` is a JSON object string::

    {"endpoint_name": "<endpoint>", "model_package_arn": "<model package ARN>"}

Steps: the endpoint must be ``InService``; the model package's ``SamplePayloadUrl`` (an
``s3://`` .tar.gz holding ``payload.csv``: feature rows, no header, no label) is read; up to
``MAX_ROWS`` rows are sent in one ``text/csv`` request; the response must hold exactly one
finite probability in [0, 1] per row.

Result, reported to CodePipeline: success with output variables ``RowsTested``, ``MinScore``,
``MaxScore`` (strings), or failure with a message saying what was wrong. Row numbers in
messages count from 1.

Environment: ``LOG_LEVEL`` (optional, default ``INFO``). Logs are Powertools JSON lines.

CodePipeline invokes the function asynchronously, so an exception escaping the handler makes
Lambda retry a job that may already have a result. Every failure attributable to a job is
reported and the handler returns normally; it raises only when the event has no job id.
"""

from __future__ import annotations

import io
import json
import math
import re
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from codepipeline_job import (
    JobError,
    error_code,
    failure_type_of,
    parse_user_parameters,
    report_job_error,
    report_success_or_failure,
    require_job,
)
from shared_runtime import Clients, function_logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

logger = function_logger("test_endpoint")
# Endpoint invocations time out server-side after 60 s; waiting longer gains nothing.
clients = Clients(max_attempts=3, read_timeout=70)

MAX_ROWS = 10
PAYLOAD_MEMBER = "payload.csv"
# A sample payload is a handful of rows; anything far larger is a mistake, and reading it
# whole would only risk the function's memory.
MAX_ARCHIVE_BYTES = 20 * 1024 * 1024
MAX_PAYLOAD_BYTES = 5 * 1024 * 1024
RESPONSE_PREVIEW_BYTES = 80
# The characters of bucket names, legacy us-east-1 ones included; S3 judges the rest.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class EndpointTestResult:
    rows_tested: int
    min_score: float
    max_score: float

    def output_variables(self) -> dict[str, str]:
        return {
            "RowsTested": str(self.rows_tested),
            "MinScore": f"{self.min_score:.6f}",
            "MaxScore": f"{self.max_score:.6f}",
        }


# ---------------------------------------------------------------------------------------------
# Sample payload


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``, the key exactly as written.

    Split by hand: a URL parser would end the key at ``#`` or ``?``, which are ordinary
    characters in S3 keys, and nothing in an S3 URI is percent-encoded.
    """
    scheme, separator, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme.lower() != "s3" or not separator or not bucket or not key:
        raise JobError(f"SamplePayloadUrl {uri!r} is not an s3://bucket/key URI.")
    if not _BUCKET_NAME.fullmatch(bucket):
        raise JobError(
            f"SamplePayloadUrl {uri!r} is not an s3://bucket/key URI: {bucket!r} is not a "
            "valid bucket name."
        )
    return bucket, key


def _payload_member(tar: tarfile.TarFile, source: str) -> tarfile.TarInfo:
    """Found by name at any depth, since archives are often packed from a directory, and
    refused by size before its bytes are read into the function's memory."""
    members = [m for m in tar.getmembers() if m.isfile()]
    payload = next((m for m in members if m.name.rsplit("/", 1)[-1] == PAYLOAD_MEMBER), None)
    if payload is None:
        names = ", ".join(m.name for m in members[:20]) or "no files"
        raise JobError(
            f"Sample payload archive {source} has no {PAYLOAD_MEMBER} (it holds: {names})."
        )
    if payload.size > MAX_PAYLOAD_BYTES:
        raise JobError(
            f"{PAYLOAD_MEMBER} in {source} is {payload.size} bytes; a sample payload "
            f"should be a few rows (limit {MAX_PAYLOAD_BYTES} bytes)."
        )
    return payload


def _payload_bytes(archive: bytes, source: str) -> bytes:
    """One message for every way the archive can be broken, found while opening, listing or
    reading it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            handle = tar.extractfile(_payload_member(tar, source))
            if handle is None:
                raise JobError(f"{PAYLOAD_MEMBER} in {source} could not be read.")
            data = handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        # gzip signals corruption through OSError subclasses (BadGzipFile) and EOFError.
        raise JobError(f"Sample payload {source} is not a readable .tar.gz archive: {exc}") from exc
    return data


def _payload_text(data: bytes, source: str) -> str:
    """utf-8-sig: a byte order mark, which some editors and spreadsheet exports write, is not
    part of the first row."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobError(f"{PAYLOAD_MEMBER} in {source} is not UTF-8 text: {exc}") from exc


def read_payload_rows(archive: bytes, source: str) -> list[str]:
    """The non-blank lines of payload.csv inside a (gzipped) tarball, at most MAX_ROWS."""
    text = _payload_text(_payload_bytes(archive, source), source)
    rows = [line.strip() for line in text.splitlines() if line.strip()]
    if not rows:
        raise JobError(f"{PAYLOAD_MEMBER} in {source} has no rows.")
    return rows[:MAX_ROWS]


def _not_parseable(body: bytes) -> JobError:
    preview = body[:RESPONSE_PREVIEW_BYTES]
    return JobError(
        f"response is not parseable: {preview!r} (first {RESPONSE_PREVIEW_BYTES} bytes)"
    )


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _parse_json_predictions(document: Any) -> list[float] | None:
    """Scores from {"predictions": [{"score": x}, ...]}, [{"score": x}, ...] or [x, ...]."""
    items = document.get("predictions") if isinstance(document, dict) else document
    if not isinstance(items, list):
        return None
    scores: list[float] = []
    for item in items:
        score = _as_number(item.get("score") if isinstance(item, dict) else item)
        if score is None:
            return None
        scores.append(score)
    return scores


def _response_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise _not_parseable(body) from exc
    if not text:
        raise _not_parseable(body)
    return text


def _json_scores(text: str, body: bytes) -> list[float]:
    try:
        scores = _parse_json_predictions(json.loads(text))
    except ValueError as exc:
        raise _not_parseable(body) from exc
    if scores is None:
        raise _not_parseable(body)
    return scores


def _csv_scores(text: str, body: bytes) -> list[float]:
    # XGBoost separates rows by newlines or, in older containers, by commas; an empty field
    # between separators is malformed rather than something to skip.
    tokens = [
        token.strip() for line in text.splitlines() if line.strip() for token in line.split(",")
    ]
    try:
        return [float(token) for token in tokens]
    except ValueError as exc:
        raise _not_parseable(body) from exc


def parse_predictions(body: bytes, content_type: str | None = None) -> list[float]:
    """Predictions from a built-in XGBoost response: CSV (newline- or comma-separated) or JSON."""
    text = _response_text(body)
    looks_like_json = "json" in (content_type or "").lower() or text[0] in "[{"
    if looks_like_json:
        return _json_scores(text, body)
    return _csv_scores(text, body)


def validate_predictions(predictions: list[float], rows_sent: int) -> EndpointTestResult:
    if len(predictions) != rows_sent:
        raise JobError(f"endpoint returned {len(predictions)} predictions for {rows_sent} rows")
    for row, value in enumerate(predictions, start=1):
        if not math.isfinite(value):
            raise JobError(f"prediction {value} at row {row} is not a finite number")
        if not 0.0 <= value <= 1.0:
            raise JobError(f"prediction {value} at row {row} is not a probability")
    return EndpointTestResult(
        rows_tested=rows_sent, min_score=min(predictions), max_score=max(predictions)
    )


# ---------------------------------------------------------------------------------------------
# AWS calls


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", str(exc)))


def require_in_service(sagemaker: SageMakerClient, endpoint_name: str) -> None:
    try:
        status = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
    except ClientError as exc:
        raise JobError(
            f"Cannot describe endpoint {endpoint_name!r}: {error_code(exc)}: {_error_message(exc)}",
            failure_type_of(exc),
        ) from exc
    if status != "InService":
        raise JobError(f"Endpoint {endpoint_name!r} is {status}, not InService.")


def sample_payload_url(sagemaker: SageMakerClient, model_package_arn: str) -> str:
    try:
        description = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    except ClientError as exc:
        raise JobError(
            f"Cannot describe model package {model_package_arn}: "
            f"{error_code(exc)}: {_error_message(exc)}",
            # A missing package is a wiring problem; access or throttling is not.
            "ConfigurationError"
            if error_code(exc) == "ValidationException"
            else failure_type_of(exc),
        ) from exc
    url = description.get("SamplePayloadUrl")
    if not isinstance(url, str) or not url:
        raise JobError(
            f"Model package {model_package_arn} has no SamplePayloadUrl; register it with "
            "sample_payload_url pointing at a .tar.gz that holds payload.csv.",
            "ConfigurationError",
        )
    return url


def download_archive(s3: S3Client, url: str) -> bytes:
    bucket, key = parse_s3_uri(url)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise JobError(
            f"Sample payload {url} could not be read: {error_code(exc)}: {_error_message(exc)}",
            failure_type_of(exc),
        ) from exc
    size = int(response.get("ContentLength") or 0)
    if size > MAX_ARCHIVE_BYTES:
        raise JobError(
            f"Sample payload {url} is {size} bytes; expected a small archive "
            f"(limit {MAX_ARCHIVE_BYTES} bytes)."
        )
    body: bytes = response["Body"].read()
    return body


def invoke(
    runtime: SageMakerRuntimeClient, endpoint_name: str, rows: list[str]
) -> tuple[bytes, str | None]:
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            Body="\n".join(rows).encode("utf-8"),
            ContentType="text/csv",
            Accept="text/csv",
        )
    except ClientError as exc:
        raise JobError(
            f"endpoint error {error_code(exc)}: {_error_message(exc)}", failure_type_of(exc)
        ) from exc
    body: bytes = response["Body"].read()
    content_type = response.get("ContentType")
    return body, content_type if isinstance(content_type, str) else None


def run_test(endpoint_name: str, model_package_arn: str) -> EndpointTestResult:
    sagemaker = clients("sagemaker")
    require_in_service(sagemaker, endpoint_name)
    url = sample_payload_url(sagemaker, model_package_arn)
    rows = read_payload_rows(download_archive(clients("s3"), url), url)
    logger.info(
        "Invoking endpoint with sample payload",
        extra={"endpoint_name": endpoint_name, "sample_payload_url": url, "rows": len(rows)},
    )
    body, content_type = invoke(clients("sagemaker-runtime"), endpoint_name, rows)
    return validate_predictions(parse_predictions(body, content_type), len(rows))


# ---------------------------------------------------------------------------------------------
# Entry point


# The job event carries temporary artifact credentials: log identifiers, never the event.
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    job_id, job = require_job(event, logger)

    codepipeline = clients("codepipeline")
    try:
        params = parse_user_parameters(job, ["endpoint_name", "model_package_arn"])
        endpoint_name = params["endpoint_name"]
        logger.info(
            "Testing endpoint",
            extra={
                "job_id": job_id,
                "endpoint_name": endpoint_name,
                "model_package_arn": params["model_package_arn"],
            },
        )
        result = run_test(endpoint_name, params["model_package_arn"])
    except Exception as exc:
        report_job_error(
            codepipeline, job_id, exc, context=context, logger=logger, doing="testing the endpoint"
        )
        return

    logger.info(
        "Endpoint test passed",
        extra={"job_id": job_id, "endpoint_name": endpoint_name, **result.output_variables()},
    )
    # Never raises: a retry would test the endpoint again.
    report_success_or_failure(
        codepipeline,
        job_id,
        variables=result.output_variables(),
        summary=f"{result.rows_tested} rows scored in "
        f"[{result.min_score:.4f}, {result.max_score:.4f}]",
        context=context,
        logger=logger,
    )
