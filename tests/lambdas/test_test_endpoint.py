"""test_endpoint: parsing and validation units, then the handler against moto."""

from __future__ import annotations

import csv
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
    predictions = handler.parse_predictions(body, content_type)

    assert [p.probability for p in predictions] == pytest.approx(expected)
    assert [p.label for p in predictions] == [None] * len(expected)


@pytest.mark.parametrize(
    ("body", "content_type", "rows_sent", "expected"),
    [
        (b"0.912345,Yes\n0.100000,No\n", "text/csv", 2, [(0.912345, "Yes"), (0.1, "No")]),
        (b"0.9,Yes\r\n\r\n0.1,No", None, 2, [(0.9, "Yes"), (0.1, "No")]),
        (
            b'0.9,"Yes, churned"\n0.1,"Stayed ""loyal"""\n0.2,"two\nlines"\n',
            "text/csv",
            3,
            [(0.9, "Yes, churned"), (0.1, 'Stayed "loyal"'), (0.2, "two\nlines")],
        ),
        # One record: a probability and its label, even when the label is a number.
        (b"0.300000,1\n", "text/csv", 1, [(0.3, "1")]),
        (b"0.300000,0", "text/csv", 1, [(0.3, "0")]),
        # Several records on one line of numbers: an older container's comma-separated form.
        (b"0.3,1", "text/csv", 2, [(0.3, None), (1.0, None)]),
        (b"0.3", "text/csv", 1, [(0.3, None)]),
        (
            b'{"predictions": [{"probability": 0.912345, "label": "Yes"}, '
            b'{"probability": 0, "label": "No"}]}',
            "application/json",
            2,
            [(0.912345, "Yes"), (0.0, "No")],
        ),
        (
            b'[{"probability": 0.5, "label": "a,b"}]',
            None,
            1,
            [(0.5, "a,b")],
        ),
        (b'{"predictions": [{"probability": 0.4}]}', "application/json", 1, [(0.4, None)]),
    ],
)
def test_parse_predictions_reads_probabilities_and_labels(
    body: bytes, content_type: str | None, rows_sent: int, expected: list[tuple[float, str | None]]
) -> None:
    predictions = handler.parse_predictions(body, content_type, rows_sent=rows_sent)

    assert [p.probability for p in predictions] == pytest.approx([p for p, _ in expected])
    assert [p.label for p in predictions] == [label for _, label in expected]


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
        # Labelled and unlabelled records mixed.
        b"0.9,Yes\n0.1\n",
        b'{"predictions": [{"probability": 0.9, "label": "Yes"}, {"probability": 0.1}]}',
        # More than a probability and a label.
        b"0.9,Yes,extra\n0.1,No,extra\n",
        # An empty label, or a label that is not text.
        b"0.9,\n0.1,No\n",
        b'{"predictions": [{"probability": 0.9, "label": ""}]}',
        b'{"predictions": [{"probability": 0.9, "label": 1}]}',
        b'{"predictions": [{"probability": "0.9", "label": "Yes"}]}',
        # A label before its probability.
        b"Yes,0.9\nNo,0.1\n",
        # An unclosed quote, and a quoted empty line only.
        b'0.9,"Yes\n0.1,No\n',
        b'""',
    ],
)
def test_parse_predictions_rejects_malformed_bodies(body: bytes) -> None:
    with pytest.raises(JobError, match=r"^response is not parseable: "):
        handler.parse_predictions(body, "text/csv", rows_sent=2)


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_parse_predictions_reads_a_json_content_type_as_json(content_type: str) -> None:
    with pytest.raises(JobError, match=r"^response is not parseable: b'0\.5' \(first 80 bytes\)$"):
        handler.parse_predictions(b"0.5", content_type)


def test_parse_predictions_keeps_nan_for_validation_to_reject() -> None:
    predictions = handler.parse_predictions(b"0.5\nnan", "text/csv")

    assert predictions[0].probability == 0.5
    assert math.isnan(predictions[1].probability)


# ---------------------------------------------------------------------------------------------
# validate_predictions


def unlabelled(*probabilities: float) -> list[handler.Prediction]:
    return [handler.Prediction(p) for p in probabilities]


def labelled(*pairs: tuple[float, str]) -> list[handler.Prediction]:
    return [handler.Prediction(p, label) for p, label in pairs]


def test_validate_predictions_summarises_scores() -> None:
    result = handler.validate_predictions(unlabelled(0.2, 0.0, 1.0, 0.75), rows_sent=4)

    assert result.output_variables() == {
        "RowsTested": "4",
        "MinScore": "0.000000",
        "MaxScore": "1.000000",
        "DecisionThreshold": "",
        "Labels": "",
    }


def test_validate_predictions_accepts_labels_that_agree_with_the_threshold() -> None:
    predictions = labelled((0.9, "Yes"), (0.1, "No"), (0.42, "Yes"), (0.419999, "No"))

    result = handler.validate_predictions(predictions, rows_sent=4, decision_threshold=0.42)

    assert result.output_variables() == {
        "RowsTested": "4",
        "MinScore": "0.100000",
        "MaxScore": "0.900000",
        "DecisionThreshold": "0.42",
        "Labels": "No,Yes",
    }


@pytest.mark.parametrize(
    "predictions",
    [
        labelled((0.9, "Yes"), (0.8, "Yes")),
        labelled((0.1, "No"), (0.0, "No")),
        # A threshold of 0 puts every record on the positive side.
        labelled((0.0000011, "Yes")),
    ],
    ids=["all above", "all below", "just above zero"],
)
def test_validate_predictions_accepts_one_side_of_the_threshold_only(
    predictions: list[handler.Prediction],
) -> None:
    threshold = 0.0 if len(predictions) == 1 else 0.5

    result = handler.validate_predictions(predictions, len(predictions), threshold)

    assert result.labels == (predictions[0].label,)


@pytest.mark.parametrize(
    ("threshold", "near"),
    [
        # The model compared 0.4200004 >= 0.4200004 and said Yes, then wrote 0.420000.
        (0.4200004, labelled((0.42, "Yes"))),
        # It compared 0.4199996 < 0.42 and said No, then wrote 0.420000.
        (0.42, labelled((0.42, "No"))),
        # The rule's edge: exactly a millionth away, on either side.
        (0.42, labelled((0.420001, "No"), (0.419999, "Yes"))),
    ],
    ids=["rounded down below", "rounded up onto", "a millionth away"],
)
def test_validate_predictions_exempts_records_within_a_millionth_of_the_threshold(
    threshold: float, near: list[handler.Prediction]
) -> None:
    predictions = [*labelled((0.9, "Yes"), (0.1, "No")), *near]

    result = handler.validate_predictions(predictions, len(predictions), threshold)

    assert result.labels == ("No", "Yes")


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (
            labelled((0.9, "Yes"), (0.1, "No"), (0.7, "No")),
            "row 3: probability 0.7 is at or above the decision threshold 0.42 but labelled "
            "'No', while row 1 (probability 0.9, also at or above it) is labelled 'Yes'",
        ),
        (
            labelled((0.1, "No"), (0.2, "Yes")),
            "row 2: probability 0.2 is below the decision threshold 0.42 but labelled 'Yes', "
            "while row 1 (probability 0.1, also below it) is labelled 'No'",
        ),
        (
            labelled((0.1, "Yes"), (0.9, "Yes")),
            "row 2: probability 0.9 is at or above the decision threshold 0.42 but labelled "
            "'Yes', the same label as row 1 (probability 0.1, below it)",
        ),
        (
            # 2e-6 from the threshold is past the rounding of six decimals.
            labelled((0.9, "Yes"), (0.1, "No"), (0.419998, "Yes")),
            "row 3: probability 0.419998 is below the decision threshold 0.42 but labelled "
            "'Yes', while row 2 (probability 0.1, also below it) is labelled 'No'",
        ),
        (
            # Exempt from the threshold, but a third class all the same.
            labelled((0.9, "Yes"), (0.1, "No"), (0.42, "Maybe")),
            "row 3: label 'Maybe' is a third label after 'Yes' and 'No'; a binary model "
            "answers with two labels at most",
        ),
    ],
)
def test_validate_predictions_names_the_first_row_that_disagrees_with_the_threshold(
    predictions: list[handler.Prediction], message: str
) -> None:
    with pytest.raises(JobError) as caught:
        handler.validate_predictions(predictions, len(predictions), decision_threshold=0.42)

    assert str(caught.value) == message


def test_validate_predictions_without_a_threshold_allows_any_two_labels() -> None:
    # Without the package's threshold there is no way to tell which side a label belongs to.
    predictions = labelled((0.9, "No"), (0.1, "Yes"), (0.5, "No"))

    result = handler.validate_predictions(predictions, rows_sent=3)

    assert result.output_variables()["Labels"] == "No,Yes"
    assert result.output_variables()["DecisionThreshold"] == ""


def test_validate_predictions_without_a_threshold_refuses_a_third_label() -> None:
    predictions = labelled((0.9, "Yes"), (0.1, "No"), (0.5, "No"), (0.3, "Perhaps"))

    with pytest.raises(JobError) as caught:
        handler.validate_predictions(predictions, rows_sent=4)

    assert str(caught.value) == (
        "row 4: label 'Perhaps' is a third label after 'Yes' and 'No'; a binary model answers "
        "with two labels at most"
    )


def test_validate_predictions_with_a_threshold_and_no_labels_checks_probabilities_only() -> None:
    result = handler.validate_predictions(unlabelled(0.9, 0.1), rows_sent=2, decision_threshold=0.5)

    assert result.output_variables()["DecisionThreshold"] == "0.5"
    assert result.output_variables()["Labels"] == ""


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("No", "Yes"), "No,Yes"),
        (("x" * 1000,), "x" * 1000),
        (("x" * 1001,), "x" * 997 + "..."),
        (("a" * 600, "b" * 600), "a" * 496 + "...," + "b" * 496 + "..."),
        (("short", "b" * 2000), "short," + "b" * 496 + "..."),
        ((), ""),
    ],
    ids=["fits", "exactly the limit", "one long", "two long", "one long one short", "none"],
)
def test_labels_output_variable_fits_codepipeline_limit(
    labels: tuple[str, ...], expected: str
) -> None:
    result = handler.EndpointTestResult(1, 0.5, 0.5, labels=labels)

    value = result.output_variables()["Labels"]

    assert value == expected
    assert len(value) <= 1000


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
        handler.validate_predictions(unlabelled(*predictions), rows)

    assert str(caught.value) == message


# ---------------------------------------------------------------------------------------------
# read_payload_rows and parse_s3_uri


def test_read_payload_rows_skips_blank_lines_and_caps_rows() -> None:
    rows = [f"{i},{i + 1}" for i in range(15)]
    archive = tarball({"payload.csv": ("\n\n".join(rows) + "\n \n").encode()})

    assert handler.read_payload_rows(archive, PAYLOAD_URL) == [r.split(",") for r in rows[:10]]


def test_read_payload_rows_finds_payload_in_a_subdirectory_of_plain_tar() -> None:
    archive = tarball({"sample/README": b"hi", "sample/payload.csv": b"1,2\n3,4\n"}, gzip=False)

    assert handler.read_payload_rows(archive, PAYLOAD_URL) == [["1", "2"], ["3", "4"]]


# Raw records as Evaluate writes them: text categories, quoted fields holding commas, quotes
# and line breaks, empty cells for missing values (leading, inner and trailing), spaces kept.
RAW_PAYLOAD = (
    '12,"Month-to-month, paperless",,"said ""hi""\nthen left",\n,Two year,3.25, padded ,x\n,,,,\n'
)
RAW_RECORDS = [
    ["12", "Month-to-month, paperless", "", 'said "hi"\nthen left', ""],
    ["", "Two year", "3.25", " padded ", "x"],
    ["", "", "", "", ""],
]


def test_read_payload_rows_splits_records_not_lines() -> None:
    archive = tarball({"payload.csv": RAW_PAYLOAD.encode()})

    assert handler.read_payload_rows(archive, PAYLOAD_URL) == RAW_RECORDS


def test_read_payload_rows_counts_records_spanning_lines_as_one_row() -> None:
    records = "".join(f'{i},"line one\nline two"\n' for i in range(12))
    archive = tarball({"payload.csv": records.encode()})

    rows = handler.read_payload_rows(archive, PAYLOAD_URL)

    assert rows == [[str(i), "line one\nline two"] for i in range(10)]


def test_serialize_records_writes_each_record_as_one_csv_line() -> None:
    assert handler.serialize_records(RAW_RECORDS) == RAW_PAYLOAD


def test_serialize_records_quotes_only_where_csv_needs_it() -> None:
    # Quoting is a matter of CSV, not of the value: the values come through, not the quotes.
    records = list(csv.reader(io.StringIO('"plain","",1\n', newline="")))

    assert handler.serialize_records(records) == "plain,,1\n"


def test_serialize_records_quotes_a_lone_carriage_return() -> None:
    records = [["a\rb", "", "c\r\nd"], ["e", "f", ""]]

    text = handler.serialize_records(records)

    assert text == '"a\rb",,"c\r\nd"\ne,f,\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == records


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

    assert handler.read_payload_rows(archive, PAYLOAD_URL) == [["1", "2"], ["3", "4"]]


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
        (
            lambda _: tarball({"payload.csv": b'1,2\n3,"open\n4,5\n'}),
            f"payload.csv in {PAYLOAD_URL} is not valid CSV at line 3: unexpected end of data",
        ),
        (
            lambda _: tarball({"payload.csv": b'1,"a"b\n'}),
            f"payload.csv in {PAYLOAD_URL} is not valid CSV at line 1: ',' expected after '\"'",
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
    """An InService endpoint and a model package, registered before decision thresholds,
    whose sample payload holds ROWS."""
    return deploy(aws, PAYLOAD_KEY)


def deploy(
    aws: dict[str, Any],
    payload_key: str,
    payload: bytes | None = None,
    decision_threshold: str | None = None,
) -> dict[str, Any]:
    sagemaker, s3 = aws["sagemaker"], aws["s3"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=payload_key, Body=payload or payload_archive(ROWS))
    register_package(
        sagemaker,
        sample_payload_url=f"s3://{BUCKET}/{payload_key}",
        decision_threshold=decision_threshold,
    )
    create_endpoint(sagemaker)
    return aws


def create_endpoint(sagemaker: Any) -> None:
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


def register_package(
    sagemaker: Any, sample_payload_url: str | None, decision_threshold: str | None = None
) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    extra: dict[str, Any] = {"SamplePayloadUrl": sample_payload_url} if sample_payload_url else {}
    if decision_threshold is not None:
        extra["CustomerMetadataProperties"] = {"DecisionThreshold": decision_threshold}
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


def record_requests(aws: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    aws["sagemaker-runtime"].meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpoint",
        lambda params, **_: sent.append(dict(params)),
    )
    return sent


def test_a_model_registered_before_labels_passes_with_bare_probabilities(
    deployed: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    endpoint_returns("0.12\n0.5\n0.93\n")
    sent = record_requests(deployed)
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert sent == [
        {
            "EndpointName": ENDPOINT,
            "Body": "".join(f"{row}\n" for row in ROWS).encode(),
            "ContentType": "text/csv",
            "Accept": "text/csv",
        }
    ]
    report = codepipeline.success()
    assert report["outputVariables"] == {
        "RowsTested": "3",
        "MinScore": "0.120000",
        "MaxScore": "0.930000",
        "DecisionThreshold": "",
        "Labels": "",
    }
    assert report["executionDetails"] == {
        "summary": "3 rows scored in [0.1200, 0.9300]",
        "externalExecutionId": REQUEST_ID,
    }


def test_raw_records_are_sent_as_csv_records_byte_for_byte(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deploy(aws, PAYLOAD_KEY, payload=tarball({"payload.csv": RAW_PAYLOAD.encode()}))
    endpoint_returns("0.200000,No\n0.700000,Yes\n0.400000,No\n")
    sent = record_requests(aws)
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert [request["Body"] for request in sent] == [RAW_PAYLOAD.encode()]
    assert codepipeline.success()["outputVariables"]["RowsTested"] == "3"


def test_labels_that_agree_with_the_decision_threshold_pass(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deploy(aws, PAYLOAD_KEY, decision_threshold="0.42")
    # The record on the threshold is labelled as the rounding allows; the others must agree.
    endpoint_returns('0.912345,"Yes, churned"\n0.100000,No\n0.420000,No\n')
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    report = codepipeline.success()
    assert report["outputVariables"] == {
        "RowsTested": "3",
        "MinScore": "0.100000",
        "MaxScore": "0.912345",
        "DecisionThreshold": "0.42",
        "Labels": "No,Yes, churned",
    }
    assert report["executionDetails"]["summary"] == (
        "3 rows scored in [0.1000, 0.9123]; labels agree with decision threshold 0.42"
    )


def test_a_json_response_with_probabilities_and_labels_passes(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deploy(aws, PAYLOAD_KEY, decision_threshold="0.5")
    endpoint_returns(
        '{"predictions": [{"probability": 0.8, "label": "Yes"}, '
        '{"probability": 0.3, "label": "No"}, {"probability": 0.5, "label": "Yes"}]}',
        content_type="application/json",
    )
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    variables = codepipeline.success()["outputVariables"]
    assert (variables["DecisionThreshold"], variables["Labels"]) == ("0.5", "No,Yes")
    assert (variables["MinScore"], variables["MaxScore"]) == ("0.300000", "0.800000")


def test_a_label_that_disagrees_with_the_decision_threshold_fails_naming_the_row(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deploy(aws, PAYLOAD_KEY, decision_threshold="0.42")
    endpoint_returns("0.900000,Yes\n0.100000,No\n0.600000,No\n")
    codepipeline.expect_report()

    run(job_event, lambda_context)

    assert failure_message(codepipeline) == (
        "row 3: probability 0.6 is at or above the decision threshold 0.42 but labelled 'No', "
        "while row 1 (probability 0.9, also at or above it) is labelled 'Yes'"
    )


def test_a_malformed_decision_threshold_is_a_configuration_error(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    deploy(aws, PAYLOAD_KEY, decision_threshold="1.5")
    codepipeline.expect_report()

    run(job_event, lambda_context)

    assert failure_message(codepipeline, "ConfigurationError") == (
        f"Model package {PACKAGE_ARN} has CustomerMetadataProperties DecisionThreshold "
        """'1.5'; expected a number in [0, 1] written as text, such as "0.42"."""
    )


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        (None, None),
        ({}, None),
        ({"Team": "churn"}, None),
        ({"DecisionThreshold": "0.42"}, 0.42),
        ({"DecisionThreshold": " 0.5 "}, 0.5),
        ({"DecisionThreshold": "0"}, 0.0),
        ({"DecisionThreshold": "1"}, 1.0),
        ({"DecisionThreshold": "4.2e-1"}, 0.42),
        ({"DecisionThreshold": ".25"}, 0.25),
    ],
)
def test_decision_threshold_reads_the_customer_metadata_property(
    properties: dict[str, str] | None, expected: float | None
) -> None:
    assert handler.decision_threshold(PACKAGE_ARN, properties) == expected


@pytest.mark.parametrize(
    "value",
    ["high", "-0.1", "1.000001", "nan", "inf", "0.4.2", "1_0", "0x1", "1e400", "", "  ", 0.5],
)
def test_decision_threshold_refuses_anything_but_a_number_in_0_1(value: object) -> None:
    with pytest.raises(JobError) as caught:
        handler.decision_threshold(PACKAGE_ARN, {"DecisionThreshold": value})

    assert caught.value.failure_type == "ConfigurationError"
    assert f"DecisionThreshold {value!r}; expected a number in [0, 1]" in str(caught.value)


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


STAGING_ACCOUNT = "222222222222"
TESTER_ROLE = f"arn:aws:iam::{STAGING_ACCOUNT}:role/churn-dev-staging-tester"


def test_an_endpoint_in_another_account_is_reached_with_that_accounts_role(
    aws: dict[str, Any],
    make_client: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    # The package and its payload stay in the build account; the endpoint exists only in the
    # staging account, so the test passes only if it describes and invokes it as TESTER_ROLE.
    aws["sts"] = make_client("sts")
    handler.clients.cache["sts"] = aws["sts"]
    aws["s3"].create_bucket(Bucket=BUCKET)
    aws["s3"].put_object(Bucket=BUCKET, Key=PAYLOAD_KEY, Body=payload_archive(ROWS))
    register_package(aws["sagemaker"], sample_payload_url=PAYLOAD_URL)
    create_endpoint(handler.clients.as_role(TESTER_ROLE, "setup")("sagemaker"))
    assert aws["sagemaker"].list_endpoints()["Endpoints"] == []
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": STAGING_ACCOUNT,
            "region": REGION,
            "results": [{"Body": "0.1\n0.2\n0.3\n", "ContentType": "text/csv"}],
        },
        timeout=5,
    )
    assert response.status_code == 201, response.text
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context, role_arn=TESTER_ROLE)

    assert codepipeline.success()["outputVariables"]["RowsTested"] == "3"


def test_without_the_role_an_endpoint_of_another_account_is_not_found(
    aws: dict[str, Any],
    make_client: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    handler.clients.cache["sts"] = make_client("sts")
    register_package(aws["sagemaker"], sample_payload_url=PAYLOAD_URL)
    create_endpoint(handler.clients.as_role(TESTER_ROLE, "setup")("sagemaker"))
    codepipeline.expect_report("put_job_failure_result")

    run(job_event, lambda_context)

    assert f"Cannot describe endpoint {ENDPOINT!r}" in failure_message(codepipeline)


@pytest.mark.parametrize("role_arn", ["", "arn:aws:iam::1234:role/x", "not-an-arn"])
def test_a_malformed_role_arn_is_a_configuration_error(
    aws: dict[str, Any],
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    role_arn: str,
) -> None:
    codepipeline.expect_report("put_job_failure_result")

    run(job_event, lambda_context, role_arn=role_arn)

    assert "role_arn must be an IAM role ARN" in failure_message(codepipeline, "ConfigurationError")
