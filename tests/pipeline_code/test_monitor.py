"""monitor: the scheduled drift and model-quality check of one endpoint, against moto (issue 13)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends

from pipeline_code import drift, monitor

REGION = "us-east-1"
BUCKET = "artifacts"
STAGE = "prod"
ENDPOINT = "churn-prod"
NAMESPACE = "churn/Monitoring"
UNTIL = datetime(2026, 12, 6, 12, tzinfo=UTC)
BASELINE_KEY = "models/churn/1/baseline.json"
SCHEMA: dict[str, Any] = {
    "format_version": 1,
    "label_column": "churned",
    "positive_class": "Yes",
    "negative_class": "No",
    "excluded_columns": [],
    "features": [
        {"name": "age", "type": "numeric"},
        {"name": "income", "type": "numeric"},
        {"name": "visits", "type": "numeric"},
        {"name": "plan", "type": "categorical"},
    ],
}
NAMES = [feature["name"] for feature in SCHEMA["features"]]
PLANS = np.array(["basic", "plus", "pro"], dtype=object)
# Six labelled single-record requests: scores, and labels at the cut-off 0.5:
# predicted positive 0.9, 0.8, 0.6 -> tp 2 (0.9, 0.8), fp 1 (0.6), fn 1 (0.3): f1 = 4/6.
HAND_SCORES = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1]
HAND_LABELS = ["Yes", "Yes", "1", "No", "0", "No"]
# A capture file lands a few minutes after its hour ends.
LANDS = timedelta(minutes=65)


def records(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.round(rng.normal(40.0, 12.0, n) + shift * 12.0, 2),
            "income": np.round(rng.lognormal(10.0, 0.5, n), 2),
            "visits": rng.poisson(3.0, n).astype(float),
            "plan": rng.choice(PLANS, n, p=[0.6, 0.3, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    return drift.build_baseline(records(rng, 3000), SCHEMA, rng.beta(2.0, 5.0, 3000))


class CachedSession:
    """A boto3 session whose clients are created once for every test.

    Building a client under moto costs about 70 ms (and a fresh session re-reads the large
    SageMaker model); moto intercepts every client created after its import, so clients
    created in one test's ``mock_aws`` serve the next one's fresh backends.
    """

    def __init__(self) -> None:
        core = botocore.session.Session()
        core.set_config_variable("config_file", "/nonexistent/aws-config")
        core.set_config_variable("credentials_file", "/nonexistent/aws-credentials")
        self.session = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=REGION,
            botocore_session=core,
        )
        self.clients: dict[str, Any] = {}

    def client(self, name: str) -> Any:
        if name not in self.clients:
            self.clients[name] = self.session.client(name)  # type: ignore[call-overload]
        return self.clients[name]


@pytest.fixture(scope="session")
def boto_session() -> CachedSession:
    return CachedSession()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, boto_session: CachedSession) -> Iterator[Any]:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        boto_session.client("s3").create_bucket(Bucket=BUCKET)
        yield boto_session


def put(session: CachedSession, key: str, body: bytes | str, at: datetime) -> None:
    """An object whose LastModified is ``at`` (moto stamps the wall clock otherwise)."""
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    stored = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[BUCKET].keys[key]
    stored.last_modified = at.astimezone(UTC).replace(tzinfo=None)


def deploy(
    session: CachedSession, baseline: dict[str, Any] | None, endpoint: str = ENDPOINT
) -> str:
    """Endpoint -> config -> model -> model package (with the baseline as its statistics)."""
    sagemaker = session.client("sagemaker")
    metrics: dict[str, Any] = {}
    if baseline is not None:
        put(session, BASELINE_KEY, json.dumps(baseline), UNTIL - timedelta(days=30))
        statistics = {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{BASELINE_KEY}"}
        metrics = {"ModelDataQuality": {"Statistics": statistics}}
    arn: str = sagemaker.create_model_package(
        ModelPackageName="churn",
        ModelMetrics=metrics,
        CustomerMetadataProperties={"DecisionThreshold": "0.5"},
    )["ModelPackageArn"]
    serve(sagemaker, arn, endpoint)
    return arn


def serve(sagemaker: Any, arn: str, endpoint: str = ENDPOINT) -> None:
    """Endpoint -> config -> model of the package ``arn``."""
    sagemaker.create_model(
        ModelName="churn-model",
        ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/sm",
        PrimaryContainer={"ModelPackageName": arn},
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "churn-model",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker.create_endpoint_config(
        EndpointConfigName="churn-config", ProductionVariants=[variant]
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName="churn-config")


def capture_line(row: list[str], score: float, inference_id: str, at: datetime) -> str:
    def section(mode: str, data: str) -> dict[str, str]:
        return {"observedContentType": "text/csv", "mode": mode, "data": data, "encoding": "CSV"}

    label = "Yes" if score >= 0.5 else "No"
    return json.dumps(
        {
            "captureData": {
                "endpointInput": section("INPUT", ",".join(row)),
                "endpointOutput": section("OUTPUT", f"{score:.6f},{label}"),
            },
            "eventMetadata": {
                "eventId": f"event-{inference_id}",
                "inferenceId": inference_id,
                "inferenceTime": monitor.iso(at),
            },
            "eventVersion": "0",
        }
    )


def put_capture(
    session: CachedSession,
    frame: pd.DataFrame,
    scores: np.ndarray,
    hour: datetime,
    *,
    first_id: int = 0,
    written: datetime | None = None,
    extra_lines: tuple[str, ...] = (),
) -> str:
    """One capture file of the hour ``hour`` holding ``frame``'s records (ids from first_id)."""
    rows = frame.astype(str).to_numpy().tolist()
    lines = [
        capture_line(row, float(score), f"id-{first_id + i}", hour + timedelta(minutes=1))
        for i, (row, score) in enumerate(zip(rows, scores, strict=True))
    ]
    key = f"data-capture/{STAGE}/{ENDPOINT}/AllTraffic/{hour:%Y/%m/%d/%H}/f{first_id}.jsonl"
    put(session, key, "\n".join(lines + list(extra_lines)) + "\n", written or hour + LANDS)
    return key


def ground_truth_line(inference_id: str, label: str) -> str:
    return json.dumps(
        {
            "groundTruthData": {"data": label, "encoding": "CSV"},
            "eventMetadata": {"eventId": inference_id},
            "eventVersion": "0",
        }
    )


def args(until: datetime = UNTIL, *extra: str) -> list[str]:
    return [
        "--bucket",
        BUCKET,
        "--stage",
        STAGE,
        "--environment",
        "dev",
        "--endpoint-name",
        ENDPOINT,
        "--namespace",
        NAMESPACE,
        "--until",
        monitor.iso(until),
        "--job-name",
        f"churn-prod-mon-{until:%y%m%d%H%M}",
        "--min-labels",
        "6",
        *extra,
    ]


def read_json(session: CachedSession, key: str) -> Any:
    return json.loads(session.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def metrics(session: CachedSession) -> dict[str, float]:
    """The value of each metric published at UNTIL (FeatureDrift as FeatureDrift/<feature>)."""
    cloudwatch = session.client("cloudwatch")
    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    names = []
    for metric in listed:
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dimensions.pop("Environment") == "dev"
        assert dimensions.pop("Endpoint") == ENDPOINT
        feature = dimensions.pop("Feature", None)
        assert not dimensions and (feature is not None) == (metric["MetricName"] == "FeatureDrift")
        names.append(metric["MetricName"] + ("" if feature is None else f"/{feature}"))
    queries = [
        {"Id": f"m{i}", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Maximum"}}
        for i, metric in enumerate(listed)
    ]
    results = cloudwatch.get_metric_data(
        MetricDataQueries=queries,
        StartTime=UNTIL - timedelta(days=1),
        EndTime=UNTIL + timedelta(days=1),
    )["MetricDataResults"]
    values = {result["Id"]: max(result["Values"]) for result in results}
    return {name: values[f"m{i}"] for i, name in enumerate(names)}


def standard_traffic(session: CachedSession) -> None:
    """600 same-distribution records over three hours of the window, plus what must be left out:
    bad lines, a record with a wrong field count, files written before and after the window."""
    rng = np.random.default_rng(11)
    scores = rng.beta(2.0, 5.0, 600)
    scores[:6] = HAND_SCORES
    frame = records(rng, 600)
    bad = ("not json", json.dumps({"captureData": {}}))
    wrong_fields = capture_line(["1", "2"], 0.5, "short", UNTIL - timedelta(hours=3))
    for index, hours in enumerate((4, 3, 2)):
        part = slice(200 * index, 200 * (index + 1))
        extra = (*bad, wrong_fields) if index == 1 else ()
        put_capture(
            session,
            frame[part],
            scores[part],
            UNTIL - timedelta(hours=hours),
            first_id=200 * index,
            extra_lines=extra,
        )
    # Written before the window (checked by the last run) and after it (the next run's).
    old = UNTIL - timedelta(hours=25)
    before = old + timedelta(minutes=50)
    put_capture(session, frame[:50], scores[:50], old, first_id=9000, written=before)
    late = UNTIL - timedelta(hours=1)
    put_capture(session, frame[:50], scores[:50], late, first_id=8000, written=UNTIL + LANDS)
    truth = [ground_truth_line(f"id-{i}", label) for i, label in enumerate(HAND_LABELS)]
    truth += [ground_truth_line("id-7", "maybe"), ground_truth_line("nobody", "Yes"), "{oops"]
    put(session, f"ground-truth/{STAGE}/2026/12/06/11/labels.jsonl", "\n".join(truth), UNTIL)


# --------------------------------------------------------------------------------------------


def test_a_run_checks_drift_and_quality_and_publishes_metrics(
    aws: CachedSession, baseline: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    arn = deploy(aws, baseline)
    standard_traffic(aws)
    assert monitor.main(args(), session=aws) == 0

    job = f"churn-prod-mon-{UNTIL:%y%m%d%H%M}"
    report = read_json(aws, f"monitoring/{STAGE}/reports/2026/12/06/12/{job}.json")
    assert read_json(aws, f"monitoring/{STAGE}/latest-report.json") == report
    assert report["status"] == "ok"
    assert (report["job"], report["environment"], report["stage"]) == (job, "dev", STAGE)
    assert report["model_package_arn"] == arn
    assert report["baseline_uri"] == f"s3://{BUCKET}/{BASELINE_KEY}"
    assert report["window"] == {
        "since": "2026-12-05T12:00:00Z",
        "until": "2026-12-06T12:00:00Z",
        "clipped": False,
    }
    assert report["records"] == 600
    assert report["files"] == {"read": 3, "total": 3}
    assert report["malformed"]["lines"] == 2
    assert report["malformed"]["records"] == 1
    assert any("f200.jsonl line 201" in problem for problem in report["malformed"]["problems"])
    assert not report["truncated"]
    assert report["drift"]["drifted_features"] == []
    quality = report["quality"]
    assert quality["value"] == pytest.approx(4 / 6)
    assert (quality["labels"], quality["unmatched"], quality["bad_labels"]) == (6, 1, 1)
    assert quality["ground_truth"]["malformed"] == 1
    assert quality["decision_threshold"] == 0.5
    assert report["predictions_indexed"] == 600

    published = metrics(aws)
    assert published["RecordsChecked"] == 600
    assert published["MalformedRecords"] == 3
    assert published["DriftedFeatures"] == 0
    assert published["LabeledRecords"] == 6
    assert published["ModelQuality"] == pytest.approx(4 / 6)
    features = {name for name in published if name.startswith("FeatureDrift/")}
    assert features == {f"FeatureDrift/{name}" for name in [*NAMES, "predicted score"]}
    assert published["DriftScore"] == pytest.approx(max(published[name] for name in features))

    state = read_json(aws, f"monitoring/{STAGE}/state.json")
    assert state == {"format_version": 1, "checked_until": "2026-12-06T12:00:00Z", "job": job}
    index = aws.client("s3").get_object(
        Bucket=BUCKET, Key=f"monitoring/{STAGE}/predictions/2026/12/06/12/{job}.csv"
    )
    rows = list(csv.DictReader(io.StringIO(index["Body"].read().decode())))
    assert len(rows) == 600
    assert rows[0].keys() == {"inference_id", "score", "inference_time"}
    assert "ok" in capsys.readouterr().out


def test_the_next_run_starts_where_the_last_ended(
    aws: CachedSession, baseline: dict[str, Any]
) -> None:
    deploy(aws, baseline)
    standard_traffic(aws)
    assert monitor.main(args(), session=aws) == 0
    rng = np.random.default_rng(3)
    later = UNTIL + timedelta(hours=6)
    put_capture(aws, records(rng, 150), rng.beta(2.0, 5.0, 150), UNTIL + LANDS, first_id=5000)
    # Labels for predictions indexed by the first run: joined through its index file.
    truth = [ground_truth_line(f"id-{i}", label) for i, label in enumerate(HAND_LABELS)]
    put(aws, f"ground-truth/{STAGE}/2026/12/06/14/late.jsonl", "\n".join(truth), later)

    assert monitor.main(args(later), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert report["window"]["since"] == "2026-12-06T12:00:00Z"
    # The file written after the first window and the new one: 50 + 150 records.
    assert report["files"] == {"read": 2, "total": 2}
    assert report["records"] == 200
    assert report["quality"]["labels"] == 6
    assert report["quality"]["value"] == pytest.approx(4 / 6)


def test_no_traffic_is_reported_not_an_alarm(aws: CachedSession, baseline: dict[str, Any]) -> None:
    deploy(aws, baseline)
    assert monitor.main(args(), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert report["status"] == "no traffic"
    assert report["records"] == 0
    assert report["quality"]["status"] == "no labels"
    published = metrics(aws)
    assert published["RecordsChecked"] == 0
    assert "DriftedFeatures" not in published
    assert "ModelQuality" not in published
    assert read_json(aws, f"monitoring/{STAGE}/state.json")["checked_until"] == monitor.iso(UNTIL)


def test_a_shifted_feature_is_the_only_one_flagged(
    aws: CachedSession, baseline: dict[str, Any]
) -> None:
    deploy(aws, baseline)
    rng = np.random.default_rng(5)
    frame = records(rng, 500, shift=1.0)  # age one standard deviation higher
    put_capture(aws, frame, rng.beta(2.0, 5.0, 500), UNTIL - timedelta(hours=3))
    assert monitor.main(args(), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert report["status"] == "drift"
    assert report["drift"]["drifted_features"] == ["age"]
    assert metrics(aws)["DriftedFeatures"] == 1


def test_traffic_before_the_current_deployment_is_not_compared(
    aws: CachedSession, baseline: dict[str, Any]
) -> None:
    deploy(aws, baseline)
    # The endpoint's config (so its model) was replaced 2.5 hours before the window's end.
    deployed_at = UNTIL - timedelta(hours=2, minutes=30)
    configs = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].endpoint_configs
    configs["churn-config"].creation_time = deployed_at.isoformat()  # type: ignore[assignment]
    rng = np.random.default_rng(6)
    # The earlier model's traffic drifted (an old population); the new model's does not.
    put_capture(
        aws, records(rng, 300, shift=1.5), rng.beta(2.0, 5.0, 300), UNTIL - timedelta(hours=4)
    )
    put_capture(
        aws, records(rng, 400), rng.beta(2.0, 5.0, 400), UNTIL - timedelta(hours=2), first_id=300
    )
    assert monitor.main(args(), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert (report["status"], report["records"]) == ("ok", 400)
    assert report["window"]["since"] == monitor.iso(UNTIL - timedelta(hours=24))
    assert any(monitor.iso(deployed_at) in note for note in report["notes"])
    assert metrics(aws)["DriftedFeatures"] == 0


def test_served_window_starts_at_the_deployment_inside_the_window_only() -> None:
    window = monitor.Window(UNTIL - timedelta(hours=24), UNTIL)
    inside = UNTIL - timedelta(hours=3)
    assert monitor.served_window(window, inside) == monitor.Window(inside, UNTIL)
    for outside in (None, UNTIL - timedelta(days=3), UNTIL, UNTIL + timedelta(minutes=5)):
        assert monitor.served_window(window, outside) == window


def test_max_records_caps_the_sample_across_the_window(
    aws: CachedSession, baseline: dict[str, Any]
) -> None:
    deploy(aws, baseline)
    rng = np.random.default_rng(9)
    for hours in range(1, 13):  # twelve files of 50 records, one per hour
        hour = UNTIL - timedelta(hours=hours + 1)
        put_capture(aws, records(rng, 50), rng.beta(2, 5, 50), hour, first_id=100 * hours)
    assert monitor.main(args(UNTIL, "--max-records", "160"), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert report["records"] == 160
    assert report["truncated"]
    assert report["files"]["total"] == 12
    assert report["files"]["read"] in (4, 5)  # the parser peeks one line beyond the cap
    assert report["predictions_indexed"] == 160
    assert metrics(aws)["RecordsChecked"] == 160


def test_missing_endpoint_and_missing_baseline_are_reported(
    aws: CachedSession, baseline: dict[str, Any]
) -> None:
    assert monitor.main(args(), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert (report["status"], report["records"], report["drift"]) == ("no endpoint", 0, None)
    assert metrics(aws)["RecordsChecked"] == 0

    deploy(aws, None)
    assert monitor.main(args(), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert report["status"] == "no baseline"
    assert report["model_package_arn"].endswith("model-package/churn")


def test_failures_name_what_failed(
    aws: CachedSession, baseline: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(aws, baseline)
    put(aws, BASELINE_KEY, "{not json", UNTIL)
    assert monitor.main(args(), session=aws) == 1
    error = capsys.readouterr().err
    assert f"s3://{BUCKET}/{BASELINE_KEY}" in error and len(error.strip().splitlines()) == 1
    aws.client("s3").delete_object(Bucket=BUCKET, Key=BASELINE_KEY)
    put(aws, BASELINE_KEY, json.dumps(baseline), UNTIL)
    assert monitor.main([*args(), "--bucket", "elsewhere"], session=aws) == 1
    assert "elsewhere" in capsys.readouterr().err


def test_label_classes_accept_1_0_and_the_training_class_texts(
    baseline: dict[str, Any],
) -> None:
    assert monitor.label_classes(baseline) == {"1": 1, "0": 0, "Yes": 1, "No": 0}
    old = {key: value for key, value in baseline.items() if key != "label"}
    assert monitor.label_classes(old) == {"1": 1, "0": 0}


def test_window_is_clipped_to_the_lookback() -> None:
    window = monitor.choose_window(UNTIL - timedelta(days=30), UNTIL, 24, 168)
    assert window.since == UNTIL - timedelta(hours=168) and window.clipped
    assert monitor.choose_window(None, UNTIL, 24, 168).since == UNTIL - timedelta(hours=24)
    assert monitor.hour_of(UNTIL - timedelta(minutes=90)) == "2026/12/06/10"


def test_metrics_are_sent_in_chunks() -> None:
    calls: list[int] = []

    class Recorder:
        def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:  # noqa: N803
            calls.append(len(MetricData))
            assert all(datum["Timestamp"] == UNTIL for datum in MetricData)

    data = [{"MetricName": "FeatureDrift", "Value": 0.1}] * 1203
    monitor.publish(Recorder(), NAMESPACE, data, UNTIL)
    assert calls == [500, 500, 203]


def test_an_endpoint_in_another_account_is_described_as_its_reader_role(
    aws: CachedSession, baseline: dict[str, Any]
) -> None:
    # The package (and its baseline) stay in this account; the endpoint, its config and model
    # exist only in the endpoint's account, which only --endpoint-role-arn reaches.
    reader = "arn:aws:iam::222222222222:role/churn-dev-prod-reader"
    arn = deploy(aws, baseline, endpoint="elsewhere")
    serve(monitor._assumed(aws, reader).client("sagemaker"), arn)
    standard_traffic(aws)

    assert monitor.main(args(UNTIL, "--endpoint-role-arn", reader), session=aws) == 0

    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert (report["status"], report["model_package_arn"]) == ("ok", arn)
    assert monitor.main(args(UNTIL + timedelta(hours=1)), session=aws) == 0
    report = read_json(aws, f"monitoring/{STAGE}/latest-report.json")
    assert report["status"] == monitor.NO_ENDPOINT
