"""Scheduled drift and model-quality check of one SageMaker endpoint (issue 13).

    python3 monitor.py --bucket B --stage prod --environment dev --endpoint-name E
        --namespace "<project>/Monitoring" --until 2026-12-06T21:00:00Z [--job-name J] ...

docs/monitoring.md is the contract: the S3 layout, the flags, the metrics and their dimensions.
This runs as a SageMaker processing job (the project's scikit-learn image, with network access
and its own role), started by the start_drift_check Lambda, and just as well locally. It
imports nothing from this repository: ``drift.py``, ``capture.py`` and ``evaluate.py`` arrive
as files of their own (``--drift-module``, ``--capture-module``, ``--evaluate-module``, by
default the files beside this one) and are loaded by path. SageMaker Model Monitor is not used.

Method, one run:

1. **The deployed model.** endpoint -> endpoint config -> its first production variant's model
   -> the model package that model was created from. The package's data-quality statistics
   are the model's ``baseline.json`` (``drift.build_baseline`` on its training split and its
   scores there) and its ``DecisionThreshold`` the model's cut-off. No endpoint, or a model
   without a baseline, is reported as such (status ``no endpoint``/``no baseline``), not an
   error: a stage may not be deployed yet.
2. **The window** ``(since, until]``: ``since`` is ``state.json``'s ``checked_until`` (the
   last successful run's ``until``), else ``until - interval``; never more than the lookback
   before ``until`` (the report says when it was clipped). Capture written before the
   endpoint's current configuration was created came from an earlier model version and is
   left out of the comparison (the report notes it).
3. **The sample.** The capture files of the window (``LastModified`` in it; listed per hour
   folder from the hour before ``since``'s, since a file lands a little after its hour) are
   read in an order shuffled deterministically from ``until`` until ``--max-records``
   records are parsed: the work is bounded, the sample spreads over the whole window rather
   than its oldest hour, and a retried run draws the same sample. Bad lines and records are
   counted, never fatal.
4. **Drift:** ``drift.compare`` of the sample (and its scores) with the baseline; its verdicts
   and effective thresholds are kept as they are (see drift.py).
5. **Prediction index:** the score of every sampled single-record request that carried an
   inference id, written as CSV so that labels arriving later can be joined with it.
6. **Model quality:** ground-truth records uploaded in the window, joined by inference id with
   the prediction index of the lookback period (this run's included), labels mapped to 1/0
   by the baseline's label classes; with at least ``--min-labels`` joined labels, Evaluate's
   own metric at the model's cut-off (``evaluate.evaluation_report``).
7. **Outputs:** the report (dated and ``latest-report.json``), the CloudWatch metrics, and
   last ``state.json``, so that a run that fails anywhere is retried over the same window.

Exit codes: 0 when the check ran, whatever it found (drift, no traffic, no endpoint); 1 when
something could not be read or written (one line on stderr naming the bucket/key or ARN);
2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import importlib.util
import io
import json
import math
import random
import re
import sys
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

HERE = Path(__file__).resolve().parent
REPORT_FORMAT_VERSION = 1
STATE_FORMAT_VERSION = 1
METRICS = ("f1", "accuracy", "precision", "recall", "auc")
# Capture files fetched ahead of the parser (S3 latency, not CPU, bounds reading).
PREFETCH = 8
# PutMetricData accepts up to 1,000 datums (and 1 MB) per call; half keeps well inside both.
MAX_DATUMS = 500
MAX_PROBLEMS = 10
PROCESSING_JOB_CONFIG = Path("/opt/ml/config/processingjobconfig.json")

NO_ENDPOINT = "no endpoint"
NO_BASELINE = "no baseline"
NO_TRAFFIC = "no traffic"
INSUFFICIENT = "insufficient data"
DRIFT = "drift"
OK = "ok"

# Quality statuses.
QUALITY_OK = "ok"
NO_LABELS = "no labels"
INSUFFICIENT_LABELS = "insufficient labels"
NO_CUTOFF = "no decision threshold"
UNDEFINED = "undefined"

HOUR = timedelta(hours=1)
_LINE_PROBLEM = re.compile(r"line (\d+): (.*)", re.DOTALL)


class MonitorError(Exception):
    """The check could not run; the message is one line naming what failed."""


# --------------------------------------------------------------------------------------------
# Arguments


def utc_time(text: str) -> datetime:
    """An ISO-8601 time, in UTC (a time without an offset is taken as UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    required = {"--bucket": "the artifact bucket", "--stage": "the stage monitored (S3 prefixes)"}
    required |= {"--environment": "the Environment metric dimension"}
    required |= {"--endpoint-name": "the endpoint checked", "--namespace": "CloudWatch namespace"}
    for flag, text in required.items():
        parser.add_argument(flag, required=True, help=text)
    parser.add_argument("--until", type=utc_time, required=True, help="window end, ISO-8601 UTC")
    parser.add_argument("--job-name", help="names the outputs (default: the processing job's)")
    counts = {"--max-records": 100_000, "--min-records": 100, "--min-labels": 30}
    for flag, default in counts.items():
        parser.add_argument(flag, type=_positive(int), default=default)
    hours = {"--lookback-hours": 168.0, "--interval-hours": 24.0}
    for flag, hours_default in hours.items():
        parser.add_argument(flag, type=_positive(float), default=hours_default)
    parser.add_argument("--threshold", type=_positive(float), default=0.1, help="drift distance")
    parser.add_argument("--metric", choices=METRICS, default="f1", help="model-quality metric")
    for name in ("drift", "capture", "evaluate"):
        parser.add_argument(f"--{name}-module", type=Path, default=HERE / f"{name}.py")
    parser.add_argument("--kms-key-id", help="KMS key for the outputs (default: the bucket's)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument(
        "--endpoint-role-arn", help="a role of the endpoint's account that may describe it"
    )
    return parser


# --------------------------------------------------------------------------------------------
# Shipped modules

_LOADED: dict[Path, ModuleType] = {}


def load_module(path: Path, flag: str) -> ModuleType:
    """A shipped module (hash-named in the job) loaded by path; loaded once per process."""
    resolved = path.resolve()
    if resolved in _LOADED:
        return _LOADED[resolved]
    name = f"_monitor_{path.stem}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if not resolved.is_file() or spec is None or spec.loader is None:
        raise MonitorError(f"{flag} {path} is not a readable file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _LOADED[resolved] = module
    return module


# --------------------------------------------------------------------------------------------
# AWS


@dataclass(frozen=True)
class Clients:
    s3: Any
    sagemaker: Any
    cloudwatch: Any
    # Describes the endpoint, its config and model: ``sagemaker`` unless the endpoint runs in
    # another account (then a client of that account's reader role).
    endpoint: Any = None

    @classmethod
    def from_session(cls, session: Any, endpoint_role_arn: str | None = None) -> Clients:
        sagemaker = session.client("sagemaker")
        return cls(
            s3=session.client("s3"),
            sagemaker=sagemaker,
            cloudwatch=session.client("cloudwatch"),
            endpoint=sagemaker
            if endpoint_role_arn is None
            else _assumed(session, endpoint_role_arn).client("sagemaker"),
        )


def _assumed(session: Any, role_arn: str) -> Any:
    """A session of ``role_arn``, in the same region."""
    sts = session.client("sts")
    with aws_call(f"assume_role {role_arn}"):
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="drift-check")[
            "Credentials"
        ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=sts.meta.region_name,
    )


def _error_text(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'error')}: {details.get('Message', '')}".strip()
    return str(error)


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Turns an AWS error into a MonitorError naming the call and the resource."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise MonitorError(f"{what} failed: {_error_text(error)}") from None


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def read_object(s3: Any, bucket: str, key: str) -> bytes | None:
    """An object's bytes; None when it does not exist."""
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if _error_code(error) in ("NoSuchKey", "404"):
            return None
        raise MonitorError(f"reading s3://{bucket}/{key} failed: {_error_text(error)}") from None
    except BotoCoreError as error:
        raise MonitorError(f"reading s3://{bucket}/{key} failed: {error}") from None
    return body


def put_object(
    s3: Any, bucket: str, key: str, body: bytes, *, content_type: str, kms_key_id: str | None
) -> None:
    # Always SSE-KMS: the bucket's default key unless the caller names one.
    extra = {"SSEKMSKeyId": kms_key_id} if kms_key_id else {}
    with aws_call(f"writing s3://{bucket}/{key}"):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
            **extra,
        )


def hour_of(moment: datetime) -> str:
    """The ``yyyy/mm/dd/hh`` folder of a UTC time."""
    return moment.astimezone(UTC).strftime("%Y/%m/%d/%H")


_HOUR_FOLDER = re.compile(r"\d{4}/\d{2}/\d{2}/\d{2}/")


def list_hours(
    s3: Any, bucket: str, prefix: str, first: str, last: str
) -> Iterator[tuple[str, datetime]]:
    """(key, LastModified) of the objects in ``prefix``'s hour folders ``first``..``last``.

    One listing that starts at the first folder and stops after the last (the folders sort as
    their hours): as many requests as pages of objects, where a listing per hour folder would
    take 170 requests for a week. Keys outside the ``yyyy/mm/dd/hh/`` layout are skipped.
    """
    paginator = s3.get_paginator("list_objects_v2")
    # StartAfter is exclusive: every key in folder ``first`` extends, so follows, its name.
    pages = paginator.paginate(Bucket=bucket, Prefix=prefix, StartAfter=prefix + first)
    with aws_call(f"listing s3://{bucket}/{prefix}"):
        for page in pages:
            for item in page.get("Contents", []):
                folder = item["Key"][len(prefix) : len(prefix) + 14]
                if folder[:13] > last:
                    return
                if _HOUR_FOLDER.fullmatch(folder):
                    yield item["Key"], item["LastModified"]


# --------------------------------------------------------------------------------------------
# The deployed model


@dataclass(frozen=True)
class Deployed:
    """What the endpoint serves: its variant, model package, baseline and cut-off."""

    variant: str
    model_package_arn: str | None = None
    baseline_uri: str | None = None
    decision_threshold: float | None = None
    # When the endpoint's current configuration (so its current model) was created.
    deployed_at: datetime | None = None


def _describe_endpoint(sagemaker: Any, endpoint: str) -> dict[str, Any] | None:
    try:
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=endpoint)
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if _error_code(error) == "ValidationException" and "Could not find endpoint" in message:
            return None
        raise MonitorError(f"describe_endpoint {endpoint} failed: {_error_text(error)}") from None
    return described


def _package_name(model: Mapping[str, Any]) -> str | None:
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    names = [c.get("ModelPackageName") for c in containers if c.get("ModelPackageName")]
    return str(names[0]) if names else None


def _decision_threshold(package: Mapping[str, Any]) -> float | None:
    text = (package.get("CustomerMetadataProperties") or {}).get("DecisionThreshold")
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def _baseline_uri(package: Mapping[str, Any]) -> str | None:
    quality = (package.get("ModelMetrics") or {}).get("ModelDataQuality") or {}
    uri = (quality.get("Statistics") or {}).get("S3Uri")
    return str(uri) if uri else None


def find_deployed(sagemaker: Any, endpoint: str, registry: Any = None) -> Deployed | None:
    """The endpoint's model, or None when the endpoint does not exist.

    ``registry`` describes the model package (default ``sagemaker``): the registry stays in
    the build account when the endpoint runs in another.
    """
    described = _describe_endpoint(sagemaker, endpoint)
    if described is None:
        return None
    config_name = described["EndpointConfigName"]
    with aws_call(f"describe_endpoint_config {config_name}"):
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variant = config["ProductionVariants"][0]
    with aws_call(f"describe_model {variant['ModelName']}"):
        model = sagemaker.describe_model(ModelName=variant["ModelName"])
    package_name = _package_name(model)
    created = config.get("CreationTime")
    deployed_at = created.astimezone(UTC) if isinstance(created, datetime) else None
    if package_name is None:
        return Deployed(variant=variant["VariantName"], deployed_at=deployed_at)
    with aws_call(f"describe_model_package {package_name}"):
        package = (registry or sagemaker).describe_model_package(ModelPackageName=package_name)
    return Deployed(
        variant=variant["VariantName"],
        model_package_arn=package.get("ModelPackageArn", package_name),
        baseline_uri=_baseline_uri(package),
        decision_threshold=_decision_threshold(package),
        deployed_at=deployed_at,
    )


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if match is None:
        raise MonitorError(f"the baseline {uri!r} is not an s3:// URI")
    return match.group(1), match.group(2)


def read_baseline(s3: Any, uri: str) -> dict[str, Any]:
    bucket, key = split_s3_uri(uri)
    body = read_object(s3, bucket, key)
    if body is None:
        raise MonitorError(f"the baseline {uri} does not exist")
    try:
        baseline = json.loads(body)
    except ValueError as error:
        raise MonitorError(f"the baseline {uri} is not JSON: {error}") from None
    features = baseline.get("features") if isinstance(baseline, dict) else None
    if not isinstance(features, list) or not features:
        raise MonitorError(f"the baseline {uri} is not a drift baseline (no features)")
    return dict(baseline)


# --------------------------------------------------------------------------------------------
# The window


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    clipped: bool = False

    @property
    def empty(self) -> bool:
        return self.since >= self.until

    def holds(self, moment: datetime) -> bool:
        return self.since < moment <= self.until

    def to_dict(self) -> dict[str, Any]:
        return {"since": iso(self.since), "until": iso(self.until), "clipped": self.clipped}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def state_key(stage: str) -> str:
    return f"monitoring/{stage}/state.json"


def read_state(s3: Any, bucket: str, stage: str) -> datetime | None:
    """The last successful run's ``until``; None before the first."""
    key = state_key(stage)
    body = read_object(s3, bucket, key)
    if body is None:
        return None
    try:
        return utc_time(str(json.loads(body)["checked_until"]))
    except (ValueError, KeyError, TypeError, argparse.ArgumentTypeError) as error:
        raise MonitorError(f"s3://{bucket}/{key} is not a monitoring state: {error}") from None


def choose_window(
    checked_until: datetime | None, until: datetime, interval_hours: float, lookback_hours: float
) -> Window:
    since = checked_until or until - timedelta(hours=interval_hours)
    earliest = until - timedelta(hours=lookback_hours)
    if since < earliest:
        return Window(earliest, until, clipped=True)
    return Window(since, until)


def served_window(window: Window, deployed_at: datetime | None) -> Window:
    """The part of the window the deployed model served: a deployment replaces the endpoint
    config, so traffic before the current config was created came from another model version
    and is not compared with this version's baseline."""
    if deployed_at is None or not window.since < deployed_at < window.until:
        return window
    return Window(deployed_at, window.until, window.clipped)


def keys_in_window(s3: Any, bucket: str, prefix: str, window: Window) -> list[str]:
    """The objects written within the window, in ``prefix``'s hour folders from the one before
    ``since``'s (a file lands a little after its hour) to ``until``'s; sorted."""
    first = hour_of(window.since.replace(minute=0, second=0, microsecond=0) - HOUR)
    listed = list_hours(s3, bucket, prefix, first, hour_of(window.until))
    return sorted(key for key, at in listed if window.holds(at))


def sample_order(keys: Sequence[str], until: datetime) -> list[str]:
    """The keys shuffled, the same way for the same ``until`` (a retry draws the same sample)."""
    ordered = sorted(keys)
    random.Random(iso(until)).shuffle(ordered)  # noqa: S311 (sampling, not security)
    return ordered


# --------------------------------------------------------------------------------------------
# Capture


def _prefetched(
    keys: Sequence[str], fetch: Callable[[str], bytes]
) -> Generator[tuple[str, bytes], None, None]:
    """``(key, fetch(key))`` in order, with up to ``PREFETCH`` fetches running ahead."""
    remaining = iter(keys)
    with ThreadPoolExecutor(PREFETCH) as pool:
        pending: deque[tuple[str, Future[bytes]]] = deque(
            (key, pool.submit(fetch, key)) for key in islice(remaining, PREFETCH)
        )
        try:
            while pending:
                key, future = pending.popleft()
                following = next(remaining, None)
                if following is not None:
                    pending.append((following, pool.submit(fetch, following)))
                yield key, future.result()
        finally:
            # Closed early (the sample is full): fetches not started are not waited for.
            for _, future in pending:
                future.cancel()


@dataclass
class _Files:
    """The files whose lines were handed to the parser, and their first line numbers."""

    keys: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)

    def lines(self, stream: Iterator[tuple[str, bytes]]) -> Iterator[bytes]:
        number = 1
        for key, body in stream:
            self.keys.append(key)
            self.starts.append(number)
            lines = body.splitlines()
            yield from lines
            number += len(lines)

    def locate(self, problem: str) -> str:
        """``line N: ...`` of the concatenated input as ``<key> line n: ...``."""
        match = _LINE_PROBLEM.fullmatch(problem)
        if match is None or not self.keys:
            return problem
        number = int(match.group(1))
        index = max(bisect.bisect_right(self.starts, number) - 1, 0)
        return f"{self.keys[index]} line {number - self.starts[index] + 1}: {match.group(2)}"


@dataclass(frozen=True)
class Traffic:
    sample: Any  # capture.CaptureSample
    files_total: int
    files_read: int
    problems: list[str]


def capture_prefix(stage: str, endpoint: str, variant: str) -> str:
    return f"data-capture/{stage}/{endpoint}/{variant}/"


def read_traffic(
    s3: Any,
    bucket: str,
    prefix: str,
    window: Window,
    *,
    names: Sequence[str],
    max_records: int,
    capture: ModuleType,
) -> Traffic:
    keys = sample_order(keys_in_window(s3, bucket, prefix, window), window.until)

    def fetch(key: str) -> bytes:
        body = read_object(s3, bucket, key)
        return b"" if body is None else body  # deleted since listed: nothing to read

    files = _Files()
    with closing(_prefetched(keys, fetch)) as stream:
        sample = capture.parse_capture_lines(
            files.lines(stream), list(names), max_records=max_records
        )
    problems = [files.locate(problem) for problem in sample.problems]
    return Traffic(sample, len(keys), len(files.keys), problems)


def prediction_rows(sample: Any) -> list[tuple[str, float, str]]:
    """``(inference id, score, inference time)`` of the sampled single-record requests."""
    rows = []
    for inference_id, score, moment, size in zip(
        sample.inference_ids,
        sample.scores.tolist(),
        sample.event_times,
        sample.request_sizes,
        strict=True,
    ):
        if size == 1 and inference_id and math.isfinite(score):
            rows.append((inference_id, score, moment or ""))
    return rows


def predictions_csv(rows: Iterable[tuple[str, float, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["inference_id", "score", "inference_time"])
    writer.writerows((inference_id, repr(score), moment) for inference_id, score, moment in rows)
    return text.getvalue().encode("utf-8")


def dated_key(stage: str, kind: str, until: datetime, job: str, suffix: str) -> str:
    return f"monitoring/{stage}/{kind}/{until:%Y/%m/%d/%H}/{job}{suffix}"


# --------------------------------------------------------------------------------------------
# Drift


def drift_status(report: Any) -> str:
    """The run's status from drift.compare's report (its verdicts are kept as they are)."""
    if report.rows == 0:
        return NO_TRAFFIC
    if report.drifted:
        return DRIFT
    if all(result.threshold is None for result in report.results):
        return INSUFFICIENT  # too few records for any statistical check
    return OK


# --------------------------------------------------------------------------------------------
# Ground truth and model quality


@dataclass
class GroundTruth:
    """Labels by inference id (raw text; the last upload wins) and what could not be read."""

    labels: dict[str, str] = field(default_factory=dict)
    records: int = 0
    malformed: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def ground_truth_record(line: bytes) -> tuple[str, str]:
    """(inference id, label text) of one ground-truth line (AWS's record format)."""
    record = json.loads(line)
    event_id = record["eventMetadata"]["eventId"]
    label = record["groundTruthData"]["data"]
    if not isinstance(event_id, str) or not event_id or not isinstance(label, (str, int)):
        raise ValueError("eventId or data is not text")
    return event_id, str(label).strip()


def add_ground_truth(truth: GroundTruth, key: str, body: bytes) -> None:
    truth.files += 1
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        truth.records += 1
        try:
            event_id, label = ground_truth_record(line)
        except (ValueError, KeyError, TypeError) as error:
            truth.problem(f"{key} line {number}: {type(error).__name__}: {error}")
            continue
        truth.labels[event_id] = label


def read_ground_truth(s3: Any, bucket: str, stage: str, window: Window) -> GroundTruth:
    truth = GroundTruth()
    for key in keys_in_window(s3, bucket, f"ground-truth/{stage}/", window):
        add_ground_truth(truth, key, read_object(s3, bucket, key) or b"")
    return truth


def label_classes(baseline: Mapping[str, Any]) -> dict[str, int]:
    """Label text -> 1/0: ``1``/``0``, and the training data's class texts when known."""
    classes = {"1": 1, "0": 0}
    label = baseline.get("label") or {}
    for key, value in (("negative_class", 0), ("positive_class", 1)):
        if label.get(key) is not None:
            classes[str(label[key])] = value
    return classes


def read_predictions(
    s3: Any, bucket: str, stage: str, since: datetime, until: datetime
) -> dict[str, float]:
    """Scores by inference id from the prediction index files of the hours since..until."""
    scores: dict[str, float] = {}
    root = f"monitoring/{stage}/predictions/"
    for key, _ in list_hours(s3, bucket, root, hour_of(since), hour_of(until)):
        scores |= _index_scores(s3, bucket, key)
    return scores


def _index_scores(s3: Any, bucket: str, key: str) -> dict[str, float]:
    text = (read_object(s3, bucket, key) or b"").decode("utf-8", errors="replace")
    scores = {}
    for row in csv.DictReader(io.StringIO(text)):
        try:
            scores[row["inference_id"]] = float(row["score"])
        except (KeyError, TypeError, ValueError):
            continue  # the index is ours; a damaged row only costs a join
    return scores


@dataclass(frozen=True)
class Quality:
    metric: str
    status: str
    value: float | None
    labels: int
    unmatched: int
    bad_labels: int
    truth: GroundTruth
    decision_threshold: float | None
    min_labels: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "status": self.status,
            "value": self.value,
            "labels": self.labels,
            "unmatched": self.unmatched,
            "bad_labels": self.bad_labels,
            "ground_truth": {
                "files": self.truth.files,
                "records": self.truth.records,
                "malformed": self.truth.malformed,
                "problems": self.truth.problems,
            },
            "decision_threshold": self.decision_threshold,
            "min_labels": self.min_labels,
        }


@dataclass(frozen=True)
class QualityInputs:
    truth: GroundTruth
    scores: Mapping[str, float]
    classes: Mapping[str, int]
    metric: str
    min_labels: int
    decision_threshold: float | None


def _joined(inputs: QualityInputs) -> tuple[list[int], list[float], int, int]:
    """Labels and scores of the labelled predictions; unmatched and bad label counts."""
    labels, scores, unmatched, bad = [], [], 0, 0
    for inference_id, text in inputs.truth.labels.items():
        label = inputs.classes.get(text)
        if label is None:
            bad += 1
        elif inference_id not in inputs.scores:
            unmatched += 1
        else:
            labels.append(label)
            scores.append(inputs.scores[inference_id])
    return labels, scores, unmatched, bad


def _quality_status(inputs: QualityInputs, labels: int) -> str:
    if labels == 0:
        return NO_LABELS
    if labels < inputs.min_labels:
        return INSUFFICIENT_LABELS
    return QUALITY_OK if inputs.decision_threshold is not None else NO_CUTOFF


def assess_quality(inputs: QualityInputs, evaluate: Callable[[], ModuleType]) -> Quality:
    labels, scores, unmatched, bad = _joined(inputs)
    status = _quality_status(inputs, len(labels))
    value = None
    if status == QUALITY_OK and inputs.decision_threshold is not None:
        module = evaluate()
        report = module.evaluation_report(
            np.asarray(labels, dtype=np.int64),
            np.asarray(scores, dtype=np.float64),
            inputs.decision_threshold,
        )
        value = module.metric_value(report, inputs.metric)
        status = QUALITY_OK if value is not None else UNDEFINED
    return Quality(
        metric=inputs.metric,
        status=status,
        value=value,
        labels=len(labels),
        unmatched=unmatched,
        bad_labels=bad,
        truth=inputs.truth,
        decision_threshold=inputs.decision_threshold,
        min_labels=inputs.min_labels,
    )


# --------------------------------------------------------------------------------------------
# One check


@dataclass
class Outcome:
    """What one run found (see ``report``)."""

    status: str
    deployed: Deployed | None = None
    window: Window | None = None
    traffic: Traffic | None = None
    drift: Any = None  # drift.DriftReport
    quality: Quality | None = None
    predictions: list[tuple[str, float, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    args: argparse.Namespace
    clients: Clients
    job: str

    def module(self, name: str) -> ModuleType:
        return load_module(getattr(self.args, f"{name}_module"), f"--{name}-module")


def check(run: Run) -> Outcome:
    """Steps 1-6 of the module's docstring: everything but writing the outputs."""
    args, s3 = run.args, run.clients.s3
    clients = run.clients
    deployed = find_deployed(
        clients.endpoint or clients.sagemaker, args.endpoint_name, clients.sagemaker
    )
    if deployed is None:
        return Outcome(NO_ENDPOINT, notes=[f"endpoint {args.endpoint_name} does not exist"])
    if deployed.baseline_uri is None:
        note = f"model package {deployed.model_package_arn or '(none)'} has no baseline"
        return Outcome(NO_BASELINE, deployed, notes=[note])
    baseline = read_baseline(s3, deployed.baseline_uri)
    window = choose_window(
        read_state(s3, args.bucket, args.stage),
        args.until,
        args.interval_hours,
        args.lookback_hours,
    )
    outcome = Outcome(NO_TRAFFIC, deployed, window)
    if window.clipped:
        outcome.notes.append(f"window clipped to the last {args.lookback_hours:g} hours")
    if not window.empty:
        check_window(run, baseline, outcome)
    return outcome


def check_window(run: Run, baseline: dict[str, Any], outcome: Outcome) -> None:
    args, s3 = run.args, run.clients.s3
    assert outcome.deployed is not None and outcome.window is not None
    names = [str(spec["name"]) for spec in baseline["features"]]
    prefix = capture_prefix(args.stage, args.endpoint_name, outcome.deployed.variant)
    served = served_window(outcome.window, outcome.deployed.deployed_at)
    if served.since != outcome.window.since:
        outcome.notes.append(
            f"traffic before {iso(served.since)} (when the endpoint's current configuration "
            "was created) came from an earlier model version and is not compared"
        )
    traffic = read_traffic(
        s3,
        args.bucket,
        prefix,
        served,
        names=names,
        max_records=args.max_records,
        capture=run.module("capture"),
    )
    try:
        report = run.module("drift").compare(
            baseline,
            traffic.sample.frame,
            traffic.sample.scores,
            threshold=args.threshold,
            min_rows=args.min_records,
        )
    except ValueError as error:
        message = f"the baseline {outcome.deployed.baseline_uri} is unusable: {error}"
        raise MonitorError(message) from None
    outcome.traffic, outcome.drift, outcome.status = traffic, report, drift_status(report)
    outcome.predictions = prediction_rows(traffic.sample)
    outcome.quality = check_quality(run, baseline, outcome)


def check_quality(run: Run, baseline: Mapping[str, Any], outcome: Outcome) -> Quality:
    args, s3 = run.args, run.clients.s3
    assert outcome.window is not None and outcome.deployed is not None
    truth = read_ground_truth(s3, args.bucket, args.stage, outcome.window)
    scores: dict[str, float] = {}
    if truth.labels:  # the index is only read when there is something to join
        since = args.until - timedelta(hours=args.lookback_hours)
        scores = read_predictions(s3, args.bucket, args.stage, since, args.until)
    scores |= {inference_id: score for inference_id, score, _ in outcome.predictions}
    inputs = QualityInputs(
        truth=truth,
        scores=scores,
        classes=label_classes(baseline),
        metric=args.metric,
        min_labels=args.min_labels,
        decision_threshold=outcome.deployed.decision_threshold,
    )
    return assess_quality(inputs, lambda: run.module("evaluate"))


# --------------------------------------------------------------------------------------------
# The report and the metrics


def _traffic_fields(traffic: Traffic | None) -> dict[str, Any]:
    if traffic is None:
        return {
            "records": 0,
            "malformed": {"lines": 0, "records": 0, "unpaired_requests": 0, "problems": []},
            "files": {"read": 0, "total": 0},
            "truncated": False,
        }
    sample = traffic.sample
    return {
        "records": int(sample.records),
        "malformed": {
            "lines": int(sample.malformed),
            "records": int(sample.skipped_records),
            "unpaired_requests": int(sample.unpaired_requests),
            "problems": traffic.problems,
        },
        "files": {"read": traffic.files_read, "total": traffic.files_total},
        "truncated": bool(sample.truncated),
    }


def build_report(run: Run, outcome: Outcome) -> dict[str, Any]:
    args, deployed = run.args, outcome.deployed or Deployed(variant="")
    window = outcome.window or Window(args.until, args.until)
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "job": run.job,
        "environment": args.environment,
        "stage": args.stage,
        "endpoint": args.endpoint_name,
        "variant": deployed.variant or None,
        "model_package_arn": deployed.model_package_arn,
        "baseline_uri": deployed.baseline_uri,
        "window": window.to_dict(),
        "status": outcome.status,
        **_traffic_fields(outcome.traffic),
        "drift": None if outcome.drift is None else outcome.drift.to_dict(),
        "quality": None if outcome.quality is None else outcome.quality.to_dict(),
        "predictions_indexed": len(outcome.predictions),
        "settings": {
            "max_records": args.max_records,
            "min_records": args.min_records,
            "threshold": args.threshold,
            "min_labels": args.min_labels,
            "lookback_hours": args.lookback_hours,
            "interval_hours": args.interval_hours,
        },
        "notes": outcome.notes,
    }


def _datum(name: str, value: float, dimensions: list[dict[str, str]], unit: str) -> dict[str, Any]:
    return {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit}


def _drift_data(drift: Mapping[str, Any], dimensions: list[dict[str, str]]) -> list[dict[str, Any]]:
    data = [_datum("DriftedFeatures", len(drift["drifted_features"]), dimensions, "Count")]
    if drift["drift_score"] is not None:
        data.append(_datum("DriftScore", drift["drift_score"], dimensions, "None"))
    results = list(drift["features"]) + ([drift["score"]] if drift["score"] else [])
    for result in results:
        if result["distance"] is not None:
            feature = [*dimensions, {"Name": "Feature", "Value": result["name"]}]
            data.append(_datum("FeatureDrift", result["distance"], feature, "None"))
    return data


def metric_data(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's CloudWatch datums (docs/monitoring.md, "Metrics"), from its report."""
    dimensions = [
        {"Name": "Environment", "Value": report["environment"]},
        {"Name": "Endpoint", "Value": report["endpoint"]},
    ]
    malformed = report["malformed"]["lines"] + report["malformed"]["records"]
    quality = report["quality"] or {}
    data = [
        _datum("RecordsChecked", report["records"], dimensions, "Count"),
        _datum("MalformedRecords", malformed, dimensions, "Count"),
        _datum("LabeledRecords", quality.get("labels", 0), dimensions, "Count"),
    ]
    if report["drift"] is not None and report["records"] > 0:
        data += _drift_data(report["drift"], dimensions)
    if quality.get("status") == QUALITY_OK:
        data.append(_datum("ModelQuality", quality["value"], dimensions, "None"))
    return data


def publish(cloudwatch: Any, namespace: str, data: Sequence[dict[str, Any]], at: datetime) -> None:
    for start in range(0, len(data), MAX_DATUMS):
        chunk = [{**datum, "Timestamp": at} for datum in data[start : start + MAX_DATUMS]]
        with aws_call(f"cloudwatch put_metric_data ({namespace})"):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=chunk)


def summary_lines(report: Mapping[str, Any], outcome: Outcome) -> list[str]:
    window = report["window"]
    lines = [
        f"{report['endpoint']} ({report['stage']}), {window['since']} .. {window['until']}: "
        f"{report['status']}",
        f"records {report['records']} from {report['files']['read']} of "
        f"{report['files']['total']} capture files, malformed {report['malformed']['lines']} "
        f"lines + {report['malformed']['records']} records",
    ]
    lines += [] if outcome.drift is None else outcome.drift.lines()
    quality = report["quality"]
    if quality is not None:
        lines.append(
            f"quality {quality['metric']} {quality['value']} ({quality['status']}): "
            f"{quality['labels']} labels, {quality['unmatched']} unmatched, "
            f"{quality['bad_labels']} bad"
        )
    return lines + [f"note: {note}" for note in report["notes"]]


def write_outputs(run: Run, outcome: Outcome, report: Mapping[str, Any]) -> list[str]:
    """Index, report, metrics, then the state (last: a failed run is retried). Keys written."""
    args = run.args

    def put(key: str, body: bytes, content_type: str) -> None:
        put_object(
            run.clients.s3,
            args.bucket,
            key,
            body,
            content_type=content_type,
            kms_key_id=args.kms_key_id,
        )

    written = []
    if outcome.predictions:
        key = dated_key(args.stage, "predictions", args.until, run.job, ".csv")
        put(key, predictions_csv(outcome.predictions), "text/csv")
        written.append(key)
    body = json.dumps(report, indent=2, allow_nan=False).encode("utf-8")
    key = dated_key(args.stage, "reports", args.until, run.job, ".json")
    for target in (key, f"monitoring/{args.stage}/latest-report.json"):
        put(target, body, "application/json")
        written.append(target)
    publish(run.clients.cloudwatch, args.namespace, metric_data(report), args.until)
    if outcome.window is None or not outcome.window.empty:  # never move the state back
        state = {
            "format_version": STATE_FORMAT_VERSION,
            "checked_until": iso(args.until),
            "job": run.job,
        }
        put(state_key(args.stage), json.dumps(state).encode("utf-8"), "application/json")
        written.append(state_key(args.stage))
    return written


def default_job_name(until: datetime) -> str:
    """The processing job's own name when run as one, else one derived from ``until``."""
    try:
        config = json.loads(PROCESSING_JOB_CONFIG.read_text())
        return str(config["ProcessingJobName"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"local-mon-{until:%y%m%d%H%M}"


def monitor(args: argparse.Namespace, session: Any) -> dict[str, Any]:
    """One check (the module's docstring); returns the report it wrote."""
    for name in ("drift", "capture"):  # fail before touching AWS when a module is missing
        load_module(getattr(args, f"{name}_module"), f"--{name}-module")
    if not args.evaluate_module.is_file():
        raise MonitorError(f"--evaluate-module {args.evaluate_module} is not a readable file")
    clients = Clients.from_session(session, args.endpoint_role_arn)
    run = Run(args, clients, args.job_name or default_job_name(args.until))
    outcome = check(run)
    report = build_report(run, outcome)
    print("\n".join(summary_lines(report, outcome)))
    write_outputs(run, outcome, report)
    return report


def main(argv: Sequence[str] | None = None, session: Any = None) -> int:
    """The command line; ``session`` (anything with boto3.Session's ``client``) is for tests."""
    args = build_parser().parse_args(argv)
    try:
        monitor(args, session or boto3.Session(region_name=args.region))
    except MonitorError as error:
        print(f"monitor: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
