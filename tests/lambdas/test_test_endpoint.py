"""test_endpoint: parsing and validation units, then the handler against moto."""

from __future__ import annotations

import io
import math
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from botocore.stub import Stubber

from codepipeline_job import JobError
from lambdas.test_endpoint import handler
from shared_runtime import Clients
from tests.lambdas.conftest import ACCOUNT_ID, REGION, REQUEST_ID, CodePipelineRecorder

ENDPOINT = "churn-staging"
BUCKET = "artifacts"
PAYLOAD_KEY = "samples/payload.tar.gz"
PAYLOAD_URL = f"s3://{BUCKET}/{PAYLOAD_KEY}"
ROWS = ["0.1,2,3.5", "4,5,6", "7,8.25,9"]
GROUP = "churn-models"
PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model-package/{GROUP}/1"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def tarball(files: dict[str, bytes], gzip: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def payload_archive(rows: list[str]) -> bytes:
    return tarball({"payload.csv": ("\n".join(rows) + "\n").encode()})


# ---------------------------------------------------------------------------------------------
# parse_predictions


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"0.1\n0.5\n0.9", "text/csv", [0.1, 0.5, 0.9]),
        (b"0.1\r\n0.5\r\n0.9\r\n", "text/csv", [0.1, 0.5, 0.9]),
        (b"0.1,0.5,0.9", "text/csv; charset=utf-8", [0.1, 0.5, 0.9]),
        (b" 0.25 , 1e-3 ", None, [0.25, 0.001]),
        (b'{"predictions": [{"score": 0.2}, {"score": 0.8}]}', "application/json", [0.2, 0.8]),
        (b'[{"score": 0.3}, {"score": 0.7}]', "application/json", [0.3, 0.7]),
        (b"[0.4, 1]", None, [0.4, 1.0]),
    ],
)
def test_parse_predictions_accepts_xgboost_formats(
    body: bytes, content_type: str | None, expected: list[float]
) -> None:
    assert handler.parse_predictions(body, content_type) == pytest.approx(expected)


def test_parse_predictions_reports_first_80_bytes_of_garbage() -> None:
    body = b"<html><body>" + b"x" * 200 + b"</body></html>"

    with pytest.raises(JobError) as caught:
        handler.parse_predictions(body, "text/html")

    assert str(caught.value) == (f"response is not parseable: {body[:80]!r} (first 80 bytes)")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"0.1,,0.3",
        b"0.1\nyes",
        b"\xff\xfe\x00",
        b'{"predictions": [{"label": 1}]}',
        b'{"predictions": [{"score": true}]}',
        b'{"score": 0.5}',
        b"{not json",
    ],
)
def test_parse_predictions_rejects_malformed_bodies(body: bytes) -> None:
    with pytest.raises(JobError, match=r"^response is not parseable: "):
        handler.parse_predictions(body, "text/csv")


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_parse_predictions_reads_a_json_content_type_as_json(content_type: str) -> None:
    with pytest.raises(JobError, match=r"^response is not parseable: b'0\.5' \(first 80 bytes\)$"):
        handler.parse_predictions(b"0.5", content_type)


def test_parse_predictions_keeps_nan_for_validation_to_reject() -> None:
    predictions = handler.parse_predictions(b"0.5\nnan", "text/csv")

    assert predictions[0] == 0.5
    assert math.isnan(predictions[1])


# ---------------------------------------------------------------------------------------------
# validate_predictions


def test_validate_predictions_summarises_scores() -> None:
    result = handler.validate_predictions([0.2, 0.0, 1.0, 0.75], rows_sent=4)

    assert result.output_variables() == {
        "RowsTested": "4",
        "MinScore": "0.000000",
        "MaxScore": "1.000000",
    }


@pytest.mark.parametrize(
    ("predictions", "rows", "message"),
    [
        ([0.1, 0.2, 0.3], 10, "endpoint returned 3 predictions for 10 rows"),
        ([], 1, "endpoint returned 0 predictions for 1 rows"),
        ([0.1, 0.2, 0.3, 1.7], 4, "prediction 1.7 at row 4 is not a probability"),
        ([-0.01], 1, "prediction -0.01 at row 1 is not a probability"),
        ([0.5, math.nan], 2, "prediction nan at row 2 is not a finite number"),
        ([math.inf], 1, "prediction inf at row 1 is not a finite number"),
    ],
)
def test_validate_predictions_rejects(predictions: list[float], rows: int, message: str) -> None:
    with pytest.raises(JobError) as caught:
        handler.validate_predictions(predictions, rows)

    assert str(caught.value) == message


# ---------------------------------------------------------------------------------------------
# read_payload_rows and parse_s3_uri


def test_read_payload_rows_skips_blank_lines_and_caps_rows() -> None:
    rows = [f"{i},{i + 1}" for i in range(15)]
    archive = tarball({"payload.csv": ("\n\n".join(rows) + "\n").encode()})

    assert handler.read_payload_rows(archive, PAYLOAD_URL) == rows[:10]


def test_read_payload_rows_finds_payload_in_a_subdirectory_of_plain_tar() -> None:
    archive = tarball({"sample/README": b"hi", "sample/payload.csv": b"1,2\n3,4\n"}, gzip=False)

    assert handler.read_payload_rows(archive, PAYLOAD_URL) == ["1,2", "3,4"]


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (tarball({"data.csv": b"1,2\n"}), "has no payload.csv (it holds: data.csv)"),
        (tarball({"payload.csv": b"\n \n"}), "payload.csv in s3://artifacts/samples/"),
        (b"definitely not a tarball", "is not a readable .tar.gz archive"),
        (payload_archive(ROWS)[:40], "is not a readable .tar.gz archive"),
    ],
    # Named: an id made of gzip bytes holds the time it was built, and pytest-xdist needs
    # every worker to collect the same ids.
    ids=["no payload.csv", "blank payload.csv", "not an archive", "archive cut short"],
)
def test_read_payload_rows_explains_bad_archives(archive: bytes, message: str) -> None:
    with pytest.raises(JobError) as caught:
        handler.read_payload_rows(archive, PAYLOAD_URL)

    assert message in str(caught.value)


def test_read_payload_rows_strips_a_byte_order_mark_and_carriage_returns() -> None:
    archive = tarball({"payload.csv": b"\xef\xbb\xbf1,2\r\n3,4"})

    assert handler.read_payload_rows(archive, PAYLOAD_URL) == ["1,2", "3,4"]


def test_read_payload_rows_names_at_most_20_files_and_no_directories() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        directory = tarfile.TarInfo("payload.csv")
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for n in range(21):
            tar.addfile(tarfile.TarInfo(f"f{n:02}"), io.BytesIO(b""))

    with pytest.raises(JobError) as caught:
        handler.read_payload_rows(buffer.getvalue(), PAYLOAD_URL)

    names = ", ".join(f"f{n:02}" for n in range(20))
    assert str(caught.value) == (
        f"Sample payload archive {PAYLOAD_URL} has no payload.csv (it holds: {names})."
    )


def payload_too_large(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setattr(handler, "MAX_PAYLOAD_BYTES", 7)
    return tarball({"payload.csv": b"1,2\n3,4\n"})


def payload_unreadable(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda tar, member: None)
    return payload_archive(ROWS)


def payload_cut_short(monkeypatch: pytest.MonkeyPatch) -> bytes:
    # A plain tar whose member headers are intact but whose payload data ends early.
    return tarball({"payload.csv": b"1,2\n" * 500}, gzip=False)[:700]


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (
            lambda _: tarball({"data.csv": b"1,2\n"}),
            f"Sample payload archive {PAYLOAD_URL} has no payload.csv (it holds: data.csv).",
        ),
        (
            lambda _: tarball({}),
            f"Sample payload archive {PAYLOAD_URL} has no payload.csv (it holds: no files).",
        ),
        (
            payload_too_large,
            f"payload.csv in {PAYLOAD_URL} is 8 bytes; a sample payload should be a few rows "
            "(limit 7 bytes).",
        ),
        (payload_unreadable, f"payload.csv in {PAYLOAD_URL} could not be read."),
        (
            payload_cut_short,
            f"Sample payload {PAYLOAD_URL} is not a readable .tar.gz archive: ",
        ),
        (
            lambda _: b"definitely not a tarball",
            f"Sample payload {PAYLOAD_URL} is not a readable .tar.gz archive: ",
        ),
        (
            lambda _: tarball({"payload.csv": b"1,2\n\xff\n"}),
            f"payload.csv in {PAYLOAD_URL} is not UTF-8 text: 'utf-8' codec can't decode byte "
            "0xff in position 4: invalid start byte",
        ),
        (
            lambda _: tarball({"payload.csv": b"\n \n"}),
            f"payload.csv in {PAYLOAD_URL} has no rows.",
        ),
    ],
)
def test_read_payload_rows_messages(
    monkeypatch: pytest.MonkeyPatch, archive: Callable[[pytest.MonkeyPatch], bytes], message: str
) -> None:
    built = archive(monkeypatch)

    with pytest.raises(JobError) as caught:
        handler.read_payload_rows(built, PAYLOAD_URL)

    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        "https://bucket/key",
        "s3://bucket",
        "s3://bucket/",
        "s3:///key",
        "s3:/bucket/key",
        "bucket/key",
        "s3://my bucket/key",
        "s3://bucket:443/key",
    ],
)
def test_parse_s3_uri_rejects_non_s3_object_uris(uri: str) -> None:
    with pytest.raises(JobError, match="is not an s3://bucket/key URI"):
        handler.parse_s3_uri(uri)


@pytest.mark.parametrize(
    "key",
    [
        "runs/exec#1/sample-payload.tar.gz",
        "runs/a?versionId=3/sample-payload.tar.gz",
        "runs/100%25 done/sample payload.tar.gz",
        "runs//double-slash/sample-payload.tar.gz",
        "/leading-slash.tar.gz",
    ],
)
def test_parse_s3_uri_keeps_the_key_exactly(key: str) -> None:
    assert handler.parse_s3_uri(f"s3://b/{key}") == ("b", key)


# ---------------------------------------------------------------------------------------------
# Handler against moto


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "clients", Clients())


@pytest.fixture
def aws(make_client: Any, codepipeline: CodePipelineRecorder) -> dict[str, Any]:
    clients = {
        "sagemaker": make_client("sagemaker"),
        "sagemaker-runtime": make_client("sagemaker-runtime"),
        "s3": make_client("s3"),
        "codepipeline": codepipeline.client,
    }
    handler.clients.cache.update(clients)
    return clients


@pytest.fixture
def deployed(aws: dict[str, Any]) -> dict[str, Any]:
    """An InService endpoint and a model package whose sample payload holds ROWS."""
    return deploy(aws, PAYLOAD_KEY)


def deploy(aws: dict[str, Any], payload_key: str) -> dict[str, Any]:
    sagemaker, s3 = aws["sagemaker"], aws["s3"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=payload_key, Body=payload_archive(ROWS))
    register_package(sagemaker, sample_payload_url=f"s3://{BUCKET}/{payload_key}")
    sagemaker.create_model(
        ModelName="churn-model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker",
        Containers=[{"ModelPackageName": PACKAGE_ARN}],
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="churn-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "churn-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="churn-config")
    return aws


def register_package(sagemaker: Any, sample_payload_url: str | None) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    extra = {"SamplePayloadUrl": sample_payload_url} if sample_payload_url else {}
    response = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **extra,
    )
    assert response["ModelPackageArn"] == PACKAGE_ARN


def endpoint_returns(body: str, content_type: str = "text/csv") -> None:
    """Queue moto's next InvokeEndpoint answer (its documented test API)."""
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": ACCOUNT_ID,
            "region": REGION,
            "results": [{"Body": body, "ContentType": content_type}],
        },
        timeout=5,
    )
    assert response.status_code == 201, response.text


def run(job_event: Any, lambda_context: Any, **overrides: str) -> None:
    params = {"endpoint_name": ENDPOINT, "model_package_arn": PACKAGE_ARN, **overrides}
    handler.lambda_handler(job_event(params), lambda_context)


def failure_message(codepipeline: CodePipelineRecorder, failure_type: str = "JobFailed") -> str:
    failure = codepipeline.failure()
    assert failure["type"] == failure_type
    assert failure["externalExecutionId"] == REQUEST_ID
    message: str = failure["message"]
    return message


def test_valid_probabilities_pass(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    endpoint_returns("0.12\n0.5\n0.93\n")
    sent: list[dict[str, Any]] = []
    deployed["sagemaker-runtime"].meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpoint",
        lambda params, **_: sent.append(dict(params)),
    )
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert sent == [
        {
            "EndpointName": ENDPOINT,
            "Body": "\n".join(ROWS).encode(),
            "ContentType": "text/csv",
            "Accept": "text/csv",
        }
    ]
    report = codepipeline.success()
    assert report["outputVariables"] == {
        "RowsTested": "3",
        "MinScore": "0.120000",
        "MaxScore": "0.930000",
    }
    assert report["executionDetails"]["externalExecutionId"] == REQUEST_ID


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "<html><body>502 Bad Gateway</body></html>",
            "response is not parseable: b'<html><body>502 Bad Gateway</body></html>' "
            "(first 80 bytes)",
        ),
        ("0.1\n0.2", "endpoint returned 2 predictions for 3 rows"),
        ("0.1\n1.7\n0.2", "prediction 1.7 at row 2 is not a probability"),
        ("nan\n0.2\n0.3", "prediction nan at row 1 is not a finite number"),
    ],
)
def test_bad_responses_fail_the_job(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    body: str,
    expected: str,
) -> None:
    endpoint_returns(body)
    codepipeline.expect_report()

    run(job_event, lambda_context)

    assert failure_message(codepipeline) == expected


def test_model_error_fails_the_job(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    detail = 'Received client error (400) from primary with message "feature_names mismatch"'
    codepipeline.expect_report()
    with Stubber(deployed["sagemaker-runtime"]) as runtime:
        runtime.add_client_error("invoke_endpoint", "ModelError", detail, 424)

        run(job_event, lambda_context)

    assert failure_message(codepipeline) == f"endpoint error ModelError: {detail}"


def test_endpoint_not_in_service_fails_before_invoking(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    codepipeline.expect_report()
    with Stubber(aws["sagemaker"]) as sagemaker:
        sagemaker.add_response(
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/{ENDPOINT}",
                "EndpointStatus": "Updating",
                "CreationTime": now,
                "LastModifiedTime": now,
            },
            {"EndpointName": ENDPOINT},
        )

        run(job_event, lambda_context)

        sagemaker.assert_no_pending_responses()
    assert failure_message(codepipeline) == f"Endpoint '{ENDPOINT}' is Updating, not InService."


def test_missing_endpoint_fails_the_job(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    codepipeline.expect_report()

    run(job_event, lambda_context, endpoint_name="no-such-endpoint")

    assert failure_message(codepipeline).startswith("Cannot describe endpoint 'no-such-endpoint'")


def test_access_denied_on_the_endpoint_is_a_permission_error(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    codepipeline.expect_report()
    with Stubber(deployed["sagemaker"]) as stub:
        stub.add_client_error("describe_endpoint", "AccessDeniedException", "not authorized", 400)

        run(job_event, lambda_context)

    assert "AccessDeniedException" in failure_message(codepipeline, "PermissionError")


def test_package_without_sample_payload_is_a_configuration_error(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    sagemaker = aws["sagemaker"]
    register_package(sagemaker, sample_payload_url=None)
    sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker",
        PrimaryContainer={"Image": IMAGE},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {
                "VariantName": "v",
                "ModelName": "m",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c")
    codepipeline.expect_report()

    run(job_event, lambda_context)

    assert failure_message(codepipeline, "ConfigurationError").startswith(
        f"Model package {PACKAGE_ARN} has no SamplePayloadUrl"
    )


def test_missing_payload_object_fails_the_job(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deployed["s3"].delete_object(Bucket=BUCKET, Key=PAYLOAD_KEY)
    codepipeline.expect_report()

    run(job_event, lambda_context)

    assert failure_message(codepipeline).startswith(
        f"Sample payload {PAYLOAD_URL} could not be read: NoSuchKey"
    )


def test_corrupt_payload_archive_fails_the_job(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deployed["s3"].put_object(Bucket=BUCKET, Key=PAYLOAD_KEY, Body=b"\x1f\x8b garbage")
    codepipeline.expect_report()

    run(job_event, lambda_context)

    assert failure_message(codepipeline).startswith(
        f"Sample payload {PAYLOAD_URL} is not a readable .tar.gz archive"
    )


def test_payload_key_with_url_special_characters_is_read_as_written(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deploy(aws, "runs/exec#1/sample-payload.tar.gz")
    endpoint_returns("0.1\n0.2\n0.3\n")
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert codepipeline.success()["outputVariables"]["RowsTested"] == "3"


@pytest.mark.parametrize("code", ["ThrottlingException", "InvalidJobStateException"])
def test_a_failed_success_report_falls_back_to_a_failure_report(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    code: str,
) -> None:
    endpoint_returns("0.1\n0.2\n0.3\n")
    codepipeline.stubber.add_client_error("put_job_success_result", code, "no", 400)
    codepipeline.expect_report("put_job_failure_result")

    run(job_event, lambda_context)  # returns: raising would make Lambda re-run the test

    assert [operation for operation, _ in codepipeline.calls] == [
        "PutJobSuccessResult",
        "PutJobFailureResult",
    ]
    failure = codepipeline.calls[1][1]["failureDetails"]
    assert failure["type"] == "JobFailed"
    assert failure["message"].startswith(f"Could not report success: An error occurred ({code})")


def test_a_failed_failure_report_after_a_failed_success_report_is_only_logged(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint_returns("0.1\n0.2\n0.3\n")
    for operation in ("put_job_success_result", "put_job_failure_result"):
        codepipeline.stubber.add_client_error(operation, "InvalidJobStateException", "done", 400)

    run(job_event, lambda_context)

    assert [operation for operation, _ in codepipeline.calls] == [
        "PutJobSuccessResult",
        "PutJobFailureResult",
    ]
    assert "Could not report failure" in [r.getMessage() for r in caplog.records]


def test_missing_user_parameter_is_a_configuration_error(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    codepipeline.expect_report()

    handler.lambda_handler(job_event({"endpoint_name": ENDPOINT}), lambda_context)

    assert "needs a non-empty string 'model_package_arn'" in failure_message(
        codepipeline, "ConfigurationError"
    )
