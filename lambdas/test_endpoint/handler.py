"""CodePipeline "Lambda invoke" action: smoke-test a freshly deployed endpoint.

Contract
--------
Event: the CodePipeline job event. ``UserParameters`` is a JSON object string::

    {"endpoint_name": "<endpoint>", "model_package_arn": "<model package ARN>",
     "role_arn": "<optional: a role of the endpoint's account>"}

With ``role_arn`` (the endpoint runs in another account), the endpoint is described and
invoked as that role; the model package and its sample payload are read with the function's
own role (they stay in the build account).

Steps: the endpoint must be ``InService``. The model package gives ``SamplePayloadUrl`` (an
``s3://`` .tar.gz holding ``payload.csv``: raw CSV records, no header, no label; fields may be
quoted and hold commas, quotes or line breaks; an empty field is a missing value) and,
optionally, ``CustomerMetadataProperties["DecisionThreshold"]`` (a number in [0, 1] as text;
packages registered before it was introduced have none). Up to ``MAX_ROWS`` non-empty records
are sent in one ``text/csv`` request, re-serialized one record per ``\\n``-terminated line with
every field's value unchanged.

The response must hold one prediction per record, in order, each a finite probability in
[0, 1]:

* CSV: one ``<probability>,<label>`` line per record (the label CSV-quoted where needed), or,
  from models registered before labels, a bare ``<probability>`` per line or all probabilities
  comma-separated on one line;
* JSON: ``{"predictions": [{"probability": p, "label": "..."}, ...]}``, or the older
  ``{"predictions": [{"score": p}, ...]}``, ``[{"score": p}, ...]`` or ``[p, ...]``.

Either every prediction has a label or none has. Labels name at most two classes. With a
decision threshold, labels must agree with it: every record whose probability is at or above
the threshold carries one label, every record below it another. A record within 1e-6 of the
threshold is exempt, because the endpoint rounds probabilities to six decimals.

Result, reported to CodePipeline: success with output variables ``RowsTested``, ``MinScore``,
``MaxScore``, ``DecisionThreshold`` (``""`` when the package has none) and ``Labels`` (the
distinct labels, sorted and comma-joined, ``""`` when the response has none; shortened to fit
CodePipeline's 1000 characters), all strings; or failure with a message saying what was wrong.
A malformed ``DecisionThreshold`` is a ``ConfigurationError``. Row numbers in messages count
records from 1.

Environment: ``LOG_LEVEL`` (optional, default ``INFO``). Logs are Powertools JSON lines.

CodePipeline invokes the function asynchronously, so an exception escaping the handler makes
Lambda retry a job that may already have a result. Every failure attributable to a job is
reported and the handler returns normally; it raises only when the event has no job id.
"""

from __future__ import annotations

import csv
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
    read_user_parameters,
    report_job_error,
    report_success_or_failure,
    require_job,
)
from shared_runtime import ROLE_ARN, Clients, function_logger

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
DECISION_THRESHOLD_PROPERTY = "DecisionThreshold"
# The endpoint writes probabilities with six decimals, so a record this close to the threshold
# may sit on either side of it; the tiny extra absorbs binary floating point.
THRESHOLD_TOLERANCE = 1e-6 + 1e-12
# CodePipeline's limit on an output variable's value.
MAX_OUTPUT_VARIABLE_CHARS = 1000
_ELLIPSIS = "..."
# A plain decimal number, as the model registration writes str(float); Python's float() would
# also take "nan", "inf" or "1_0".
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# The characters of bucket names, legacy us-east-1 ones included; S3 judges the rest.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Prediction:
    probability: float
    label: str | None = None


@dataclass(frozen=True)
class PackageDetails:
    sample_payload_url: str
    decision_threshold: float | None


@dataclass(frozen=True)
class EndpointTestResult:
    rows_tested: int
    min_score: float
    max_score: float
    decision_threshold: float | None = None
    labels: tuple[str, ...] = ()

    def output_variables(self) -> dict[str, str]:
        threshold = self.decision_threshold
        return {
            "RowsTested": str(self.rows_tested),
            "MinScore": f"{self.min_score:.6f}",
            "MaxScore": f"{self.max_score:.6f}",
            "DecisionThreshold": "" if threshold is None else str(threshold),
            "Labels": joined_labels(self.labels),
        }


def joined_labels(labels: tuple[str, ...], limit: int = MAX_OUTPUT_VARIABLE_CHARS) -> str:
    """Comma-joined; when too long for an output variable, each label is cut to an equal
    share of the limit, so every label still shows how it begins."""
    joined = ",".join(labels)
    if len(joined) <= limit:
        return joined
    share = (limit - (len(labels) - 1)) // len(labels)
    keep = max(share - len(_ELLIPSIS), 1)
    shortened = ",".join(
        label if len(label) <= share else label[:keep] + _ELLIPSIS for label in labels
    )
    return shortened[:limit]


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


def _is_blank(record: list[str]) -> bool:
    """An empty or whitespace-only line, such as editors leave at the end of a file. (A
    one-feature record whose value is missing would look the same; it cannot be told apart.)"""
    return not record or (len(record) == 1 and not record[0].strip())


def read_payload_rows(archive: bytes, source: str) -> list[list[str]]:
    """The first MAX_ROWS non-blank CSV records of payload.csv inside a (gzipped) tarball,
    each a list of its fields' values exactly as written."""
    text = _payload_text(_payload_bytes(archive, source), source)
    # newline="": line breaks inside quoted fields belong to the field. strict: an unclosed
    # quote would otherwise swallow the rest of the file into one field.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        for record in reader:
            if not _is_blank(record):
                records.append(record)
            if len(records) == MAX_ROWS:
                break
    except csv.Error as exc:
        raise JobError(
            f"{PAYLOAD_MEMBER} in {source} is not valid CSV at line {reader.line_num}: {exc}"
        ) from exc
    if not records:
        raise JobError(f"{PAYLOAD_MEMBER} in {source} has no rows.")
    return records


def serialize_records(records: list[list[str]]) -> str:
    """One ``\\n``-terminated CSV line per record; a field is quoted only when it holds a
    comma, a quote or a line break, so an empty field stays empty.

    The writer ends records with ``\\r\\n``, which it then shortens to ``\\n``: a writer
    ending records with ``\\n`` leaves a lone ``\\r`` unquoted before Python 3.13, and a
    reader would split the record there.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    lines: list[str] = []
    for record in records:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(record)
        lines.append(buffer.getvalue().removesuffix("\r\n") + "\n")
    return "".join(lines)


def _not_parseable(body: bytes) -> JobError:
    preview = body[:RESPONSE_PREVIEW_BYTES]
    return JobError(
        f"response is not parseable: {preview!r} (first {RESPONSE_PREVIEW_BYTES} bytes)"
    )


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _json_prediction(item: Any) -> Prediction | None:
    """A prediction from {"probability": p, "label": l}, {"score": p} or a bare number."""
    if not isinstance(item, dict):
        number = _as_number(item)
        return None if number is None else Prediction(number)
    probability = _as_number(item["probability"] if "probability" in item else item.get("score"))
    label = item.get("label")
    if probability is None or not (label is None or (isinstance(label, str) and label)):
        return None
    return Prediction(probability, label)


def _parse_json_predictions(document: Any) -> list[Prediction] | None:
    """Predictions from {"predictions": [item, ...]} or [item, ...]."""
    items = document.get("predictions") if isinstance(document, dict) else document
    if not isinstance(items, list):
        return None
    predictions: list[Prediction] = []
    for item in items:
        prediction = _json_prediction(item)
        if prediction is None:
            return None
        predictions.append(prediction)
    return predictions


def _response_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise _not_parseable(body) from exc
    if not text:
        raise _not_parseable(body)
    return text


def _json_predictions(text: str, body: bytes) -> list[Prediction]:
    try:
        predictions = _parse_json_predictions(json.loads(text))
    except ValueError as exc:
        raise _not_parseable(body) from exc
    if predictions is None:
        raise _not_parseable(body)
    return predictions


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _csv_record_prediction(record: list[str], body: bytes) -> Prediction:
    """``probability`` or ``probability,label``; a label is never empty."""
    if len(record) > 2 or not _is_number(record[0]) or record[1:] == [""]:
        raise _not_parseable(body)
    return Prediction(float(record[0]), record[1] if len(record) == 2 else None)


def _csv_records(text: str, body: bytes) -> list[list[str]]:
    try:
        records = [
            record
            for record in csv.reader(io.StringIO(text, newline=""), strict=True)
            if not _is_blank(record)
        ]
    except csv.Error as exc:
        raise _not_parseable(body) from exc
    if not records:
        raise _not_parseable(body)
    return records


def _csv_predictions(text: str, body: bytes, rows_sent: int | None) -> list[Prediction]:
    records = _csv_records(text, body)
    # Older XGBoost containers answer several rows with one comma-separated line. A model
    # with labels answers one line per record, so a single line of numbers for more than one
    # record is that older form, while for one record it is a probability and its label.
    single = records[0]
    if len(records) == 1 and rows_sent != 1 and all(_is_number(field) for field in single):
        return [Prediction(float(field)) for field in single]
    return [_csv_record_prediction(record, body) for record in records]


def parse_predictions(
    body: bytes, content_type: str | None = None, rows_sent: int | None = None
) -> list[Prediction]:
    """Predictions from the endpoint's CSV or JSON response (see the module docstring).

    ``rows_sent`` tells one labelled record (``0.3,1``) from two unlabelled ones on one line.
    """
    text = _response_text(body)
    looks_like_json = "json" in (content_type or "").lower() or text[0] in "[{"
    if looks_like_json:
        predictions = _json_predictions(text, body)
    else:
        predictions = _csv_predictions(text, body, rows_sent)
    if len({prediction.label is None for prediction in predictions}) > 1:
        # Half-labelled answers come from no model version; the body is something else.
        raise _not_parseable(body)
    return predictions


def _check_probability(row: int, value: float) -> None:
    if not math.isfinite(value):
        raise JobError(f"prediction {value} at row {row} is not a finite number")
    if not 0.0 <= value <= 1.0:
        raise JobError(f"prediction {value} at row {row} is not a probability")


def _side(above: bool) -> str:
    return "at or above" if above else "below"


def _check_labels_agree(predictions: list[Prediction], threshold: float) -> None:
    """Each side of the threshold carries one label, and the sides differ. Every record is
    compared with the first record seen on either side, so the message names the first record
    that breaks the rule."""
    first: dict[bool, tuple[int, Prediction]] = {}
    for row, prediction in enumerate(predictions, start=1):
        if abs(prediction.probability - threshold) <= THRESHOLD_TOLERANCE:
            continue
        above = prediction.probability >= threshold
        stated = (
            f"row {row}: probability {prediction.probability} is {_side(above)} the decision "
            f"threshold {threshold} but labelled {prediction.label!r}"
        )
        if above in first:
            seen_row, seen = first[above]
            if seen.label != prediction.label:
                raise JobError(
                    f"{stated}, while row {seen_row} (probability {seen.probability}, also "
                    f"{_side(above)} it) is labelled {seen.label!r}"
                )
            continue
        if (not above) in first:
            seen_row, seen = first[not above]
            if seen.label == prediction.label:
                raise JobError(
                    f"{stated}, the same label as row {seen_row} (probability "
                    f"{seen.probability}, {_side(not above)} it)"
                )
        first[above] = (row, prediction)


def _check_at_most_two_labels(predictions: list[Prediction]) -> None:
    seen: list[str] = []
    for row, prediction in enumerate(predictions, start=1):
        if prediction.label is None or prediction.label in seen:
            continue
        if len(seen) == 2:
            raise JobError(
                f"row {row}: label {prediction.label!r} is a third label after {seen[0]!r} "
                f"and {seen[1]!r}; a binary model answers with two labels at most"
            )
        seen.append(prediction.label)


def validate_predictions(
    predictions: list[Prediction], rows_sent: int, decision_threshold: float | None = None
) -> EndpointTestResult:
    if len(predictions) != rows_sent:
        raise JobError(f"endpoint returned {len(predictions)} predictions for {rows_sent} rows")
    for row, prediction in enumerate(predictions, start=1):
        _check_probability(row, prediction.probability)
    labels = sorted({p.label for p in predictions if p.label is not None})
    if labels and decision_threshold is not None:
        _check_labels_agree(predictions, decision_threshold)
    # Records exempt from the threshold check, or a package without a threshold, could
    # still bring a third label.
    _check_at_most_two_labels(predictions)
    probabilities = [p.probability for p in predictions]
    return EndpointTestResult(
        rows_tested=rows_sent,
        min_score=min(probabilities),
        max_score=max(probabilities),
        decision_threshold=decision_threshold,
        labels=tuple(labels),
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


def decision_threshold(model_package_arn: str, properties: Any) -> float | None:
    """The package's ``DecisionThreshold`` customer metadata property, if it has one."""
    raw = properties.get(DECISION_THRESHOLD_PROPERTY) if isinstance(properties, dict) else None
    if raw is None:
        return None
    value = float(raw) if isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip()) else None
    if value is None or not 0.0 <= value <= 1.0:
        raise JobError(
            f"Model package {model_package_arn} has CustomerMetadataProperties "
            f"{DECISION_THRESHOLD_PROPERTY} {raw!r}; expected a number in [0, 1] written as "
            'text, such as "0.42".',
            "ConfigurationError",
        )
    return value


def describe_package(sagemaker: SageMakerClient, model_package_arn: str) -> PackageDetails:
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
    return PackageDetails(
        sample_payload_url=url,
        decision_threshold=decision_threshold(
            model_package_arn, description.get("CustomerMetadataProperties")
        ),
    )


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
    runtime: SageMakerRuntimeClient, endpoint_name: str, records: list[list[str]]
) -> tuple[bytes, str | None]:
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            Body=serialize_records(records).encode("utf-8"),
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


def endpoint_clients(role_arn: str | None) -> Clients:
    """The clients that reach the endpoint: the function's own, or ``role_arn``'s."""
    if role_arn is None:
        return clients
    try:
        return clients.as_role(role_arn, "test-staging-endpoint")
    except ClientError as exc:
        raise JobError(
            f"Cannot assume {role_arn} to reach the endpoint: {error_code(exc)}: "
            f"{_error_message(exc)} (deploy the endpoint account's stack, see "
            "docs/operations.md)",
            failure_type_of(exc),
        ) from exc


def run_test(
    endpoint_name: str, model_package_arn: str, role_arn: str | None = None
) -> EndpointTestResult:
    at_endpoint = endpoint_clients(role_arn)
    require_in_service(at_endpoint("sagemaker"), endpoint_name)
    package = describe_package(clients("sagemaker"), model_package_arn)
    url = package.sample_payload_url
    records = read_payload_rows(download_archive(clients("s3"), url), url)
    logger.info(
        "Invoking endpoint with sample payload",
        extra={
            "endpoint_name": endpoint_name,
            "sample_payload_url": url,
            "rows": len(records),
            "decision_threshold": package.decision_threshold,
        },
    )
    body, content_type = invoke(at_endpoint("sagemaker-runtime"), endpoint_name, records)
    return validate_predictions(
        parse_predictions(body, content_type, rows_sent=len(records)),
        len(records),
        package.decision_threshold,
    )


def optional_role_arn(job: Any) -> str | None:
    """UserParameters' ``role_arn``: absent for an endpoint of the function's own account."""
    value = read_user_parameters(job).get("role_arn")
    if value is None:
        return None
    if not isinstance(value, str) or not ROLE_ARN.fullmatch(value.strip()):
        raise JobError(
            f"UserParameters role_arn must be an IAM role ARN, got {value!r}", "ConfigurationError"
        )
    return value.strip()


def summary(result: EndpointTestResult) -> str:
    scored = f"{result.rows_tested} rows scored in [{result.min_score:.4f}, {result.max_score:.4f}]"
    if result.decision_threshold is None:
        return scored
    if not result.labels:
        return (
            f"{scored}; no labels to check against decision threshold {result.decision_threshold}"
        )
    return f"{scored}; labels agree with decision threshold {result.decision_threshold}"


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
        result = run_test(endpoint_name, params["model_package_arn"], optional_role_arn(job))
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
        summary=summary(result),
        context=context,
        logger=logger,
    )
