"""Times one monitor.py check over captured traffic held in moto's in-process S3 (no network).

    .venv/bin/python tools/bench_monitor.py [--records 100000] [--features 30] [--files 100]

Prints the end-to-end time of ``monitor.main`` (list, read, parse, compare, quality, report,
metrics), then the phases timed on their own: listing, reading the files, parsing the lines
(capture.parse_capture_lines), drift.compare. moto's S3 answers in-process, so listing and
reading measure the client side only (real S3 adds latency, which the job's prefetch overlaps).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pipeline_code import capture, drift, monitor  # noqa: E402 (after the path is set)

BUCKET = "bench"
ENDPOINT = "bench-endpoint"
UNTIL = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _capture_line(row: str, score: float, number: int) -> str:
    def section(mode: str, data: str) -> dict[str, str]:
        return {"observedContentType": "text/csv", "mode": mode, "data": data, "encoding": "CSV"}

    return json.dumps(
        {
            "captureData": {
                "endpointInput": section("INPUT", row),
                "endpointOutput": section("OUTPUT", f"{score:.6f},No"),
            },
            "eventMetadata": {
                "eventId": f"e{number}",
                "inferenceId": f"id-{number}",
                "inferenceTime": "2026-12-06T10:00:00Z",
            },
            "eventVersion": "0",
        }
    )


def _setup(session: Any, records: int, features: int, files: int) -> None:
    rng = np.random.default_rng(1)
    names = [f"f{i}" for i in range(features)]
    schema = {"features": [{"name": name, "type": "numeric"} for name in names]}
    train = pd.DataFrame(rng.normal(size=(20_000, features)), columns=names)
    baseline = drift.build_baseline(train, schema, rng.beta(2, 5, 20_000))
    s3 = session.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="baseline.json", Body=json.dumps(baseline))
    sagemaker = session.client("sagemaker")
    statistics = {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/baseline.json"}
    arn = sagemaker.create_model_package(
        ModelPackageName="bench",
        ModelMetrics={"ModelDataQuality": {"Statistics": statistics}},
        CustomerMetadataProperties={"DecisionThreshold": "0.5"},
    )["ModelPackageArn"]
    sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        PrimaryContainer={"ModelPackageName": arn},
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant])
    # Deployed before any of the traffic (the files are written, so stamped, just after).
    configs = sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].endpoint_configs
    configs["c"].creation_time = (datetime.now(UTC) - timedelta(days=2)).isoformat()  # type: ignore[assignment]
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c")
    values = np.round(rng.normal(size=(records, features)), 6).astype(str)
    rows = [",".join(row) for row in values.tolist()]
    scores = rng.beta(2, 5, records)
    per_file = -(-records // files)
    for index in range(files):
        start = index * per_file
        hour = UNTIL - timedelta(hours=1 + index % 10)
        lines = (
            _capture_line(rows[n], float(scores[n]), n)
            for n in range(start, min(start + per_file, records))
        )
        key = f"data-capture/prod/{ENDPOINT}/AllTraffic/{hour:%Y/%m/%d/%H}/file-{index}.jsonl"
        s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    # The objects were written now, not in the capture hours: window by wall time.


def _timed(what: str, timings: dict[str, tuple[float, float]], call: Any) -> Any:
    """Wall and CPU seconds (CPU: this process, all threads; the machine may be shared)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = call()
    timings[what] = (time.perf_counter() - start, time.process_time() - cpu)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--files", type=int, default=100)
    options = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 (moto's fake credentials)
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        _setup(session, options.records, options.features, options.files)
        until = datetime.now(UTC) + timedelta(minutes=1)
        argv = [
            "--bucket",
            BUCKET,
            "--stage",
            "prod",
            "--environment",
            "bench",
            "--endpoint-name",
            ENDPOINT,
            "--namespace",
            "bench/Monitoring",
            "--until",
            monitor.iso(until),
            "--job-name",
            "bench",
            "--max-records",
            str(options.records),
        ]
        monitor.load_module(monitor.HERE / "drift.py", "--drift-module")  # imports, not timed
        monitor.load_module(monitor.HERE / "capture.py", "--capture-module")
        timings: dict[str, tuple[float, float]] = {}
        code = _timed("end to end (monitor.main)", timings, lambda: monitor.main(argv, session))
        assert code == 0
        report = json.loads(
            session.client("s3")
            .get_object(Bucket=BUCKET, Key="monitoring/prod/latest-report.json")["Body"]
            .read()
        )
        s3 = session.client("s3")
        window = monitor.Window(until - timedelta(hours=24), until)
        prefix = f"data-capture/prod/{ENDPOINT}/AllTraffic/"
        keys = _timed(
            "listing", timings, lambda: monitor.keys_in_window(s3, BUCKET, prefix, window)
        )
        bodies = _timed(
            "reading (sequential)",
            timings,
            lambda: [monitor.read_object(s3, BUCKET, key) or b"" for key in keys],
        )
        lines = [line for body in bodies for line in body.splitlines()]
        names = [f"f{i}" for i in range(options.features)]
        sample = _timed(
            "parsing",
            timings,
            lambda: capture.parse_capture_lines(lines, names, max_records=options.records),
        )
        baseline = json.loads(s3.get_object(Bucket=BUCKET, Key="baseline.json")["Body"].read())
        _timed(
            "drift.compare", timings, lambda: drift.compare(baseline, sample.frame, sample.scores)
        )
    print(
        f"{report['records']} records x {options.features} features in {len(keys)} files, "
        f"status {report['status']}"
    )
    print(f"  {'':<28} {'wall':>8} {'CPU':>8}")
    for what, (wall, cpu) in timings.items():
        print(f"  {what:<28} {wall:6.2f} s {cpu:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
