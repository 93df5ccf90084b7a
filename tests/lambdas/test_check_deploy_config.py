"""check_deploy_config: both config files against their schemas, artifacts in moto S3."""

from __future__ import annotations

import copy
import io
import json
import logging
import zipfile
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import CodePipelineJobEvent
from botocore.stub import Stubber

from lambdas.check_deploy_config import handler
from lambdas.check_deploy_config.schema import config_file_schema
from shared_runtime import Clients
from tests.lambdas.conftest import JOB_ID, REQUEST_ID, CodePipelineRecorder

BUCKET = "mlops-demo-deploy-artifacts"
CONFIG_KEY = "mlops-demo-deploy/DeployConfi/Ab3dE7f.zip"
TEMPLATES_KEY = "mlops-demo-deploy/EndpointTe/Xy9zW1v.zip"
WIRING = ["ModelPackageArn", "ModelExecutionRoleArn", "KmsKeyArn"]
USER_PARAMETERS: dict[str, Any] = {
    "config_artifact": "DeployConfig",
    "templates_artifact": "EndpointTemplates",
    "stages": [
        {"config_file": f"{stage}-config.json", "schema_file": f"{stage}.schema.json"}
        for stage in ("staging", "prod")
    ],
    "at_least": {"AutoscalingMaxInstances": "InstanceCount"},
}

# Small templates with every constraint kind the schema supports.
PARAMETERS: dict[str, Any] = {
    "ModelPackageArn": {"Type": "String", "AllowedPattern": "^arn:aws[a-z-]*:sagemaker:.+$"},
    "ModelExecutionRoleArn": {"Type": "String", "AllowedPattern": "^arn:aws[a-z-]*:iam::.+$"},
    "KmsKeyArn": {"Type": "String", "AllowedPattern": "^arn:aws[a-z-]*:kms:.+$"},
    "InstanceType": {"Type": "String", "AllowedValues": ["ml.m5.large", "ml.m5.xlarge"]},
    "InstanceCount": {
        "Type": "Number",
        "AllowedValues": [str(n) for n in range(1, 11)],
        "ConstraintDescription": "must be a whole number from 1 to 10",
    },
    # Unanchored on purpose: CloudFormation still requires the whole value to match.
    "EndpointSuffix": {
        "Type": "String",
        "AllowedPattern": "[a-z][a-z0-9-]*",
        "MinLength": 3,
        "MaxLength": 12,
    },
    "LogLevel": {"Type": "String", "Default": "INFO", "AllowedValues": ["INFO", "DEBUG"]},
}
PROD_PARAMETERS: dict[str, Any] = {
    **PARAMETERS,
    "ArtifactBucketName": {"Type": "String", "AllowedPattern": "^[a-z0-9.-]+$"},
    "AutoscalingMaxInstances": {"Type": "Number", "AllowedValues": [str(n) for n in range(1, 11)]},
}
VALID_STAGING: dict[str, Any] = {
    "Parameters": {"InstanceType": "ml.m5.large", "InstanceCount": "1", "EndpointSuffix": "churn"},
    "Tags": {"Project": "mlops-demo", "Stage": "staging"},
}
VALID_PROD: dict[str, Any] = {
    "Parameters": {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": "2",
        "EndpointSuffix": "churn",
        "AutoscalingMaxInstances": "4",
    },
    "Tags": {"Project": "mlops-demo", "Stage": "prod"},
    "StackPolicy": {"Statement": []},
}
SUMMARY = "staging-config.json and prod-config.json match their endpoint templates"


def zip_bytes(files: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(
                name, content if isinstance(content, str | bytes) else json.dumps(content)
            )
    return buffer.getvalue()


def schemas() -> dict[str, Any]:
    return {
        "staging.schema.json": config_file_schema(PARAMETERS, WIRING),
        "prod.schema.json": config_file_schema(PROD_PARAMETERS, [*WIRING, "ArtifactBucketName"]),
    }


def repository(staging: Any = VALID_STAGING, prod: Any = VALID_PROD) -> dict[str, Any]:
    files = {"README.md": "# model-deploy\n"}
    for name, content in (("staging-config.json", staging), ("prod-config.json", prod)):
        if content is not None:
            files[name] = content
    return files


def prod_with(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    document = copy.deepcopy(VALID_PROD)
    change(document)
    return document


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "clients", Clients())


@pytest.fixture
def s3(
    make_client: Any,
    codepipeline: CodePipelineRecorder,
    boto_session: boto3.Session,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    # The artifact client is created per job through boto3's default session; the shared one
    # (set after moto started) saves re-reading the S3 model in every test.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto_session)
    client = make_client("s3")
    client.create_bucket(Bucket=BUCKET)
    handler.clients.cache["codepipeline"] = codepipeline.client
    return client


def upload(s3: Any, config: dict[str, Any] | bytes | None = None, templates: Any = None) -> None:
    for key, given in ((CONFIG_KEY, config or repository()), (TEMPLATES_KEY, templates)):
        content = schemas() if given is None else given
        s3.put_object(
            Bucket=BUCKET,
            Key=key,
            Body=content if isinstance(content, bytes) else zip_bytes(content),
        )


@pytest.fixture
def event(job_event: Any) -> Callable[..., dict[str, Any]]:
    def build(params: Any = None) -> dict[str, Any]:
        built: dict[str, Any] = job_event(USER_PARAMETERS if params is None else params)
        built["CodePipeline.job"]["data"]["inputArtifacts"] = [
            {
                "name": name,
                "location": {"type": "S3", "s3Location": {"bucketName": BUCKET, "objectKey": key}},
            }
            for name, key in (("DeployConfig", CONFIG_KEY), ("EndpointTemplates", TEMPLATES_KEY))
        ]
        return built

    return build


def failure(
    codepipeline: CodePipelineRecorder,
    event: dict[str, Any],
    context: Any,
    type_: str = "JobFailed",
) -> list[str]:
    codepipeline.expect_report()
    handler.lambda_handler(event, context)
    details = codepipeline.failure()
    assert details["type"] == type_, details
    lines: list[str] = details["message"].split("\n")
    return lines


# ---------------------------------------------------------------------------------------------
# Valid files


@pytest.mark.parametrize(
    "prod",
    [
        VALID_PROD,
        prod_with(lambda d: d.pop("Tags")),
        prod_with(lambda d: d["Parameters"].update(LogLevel="DEBUG")),
        prod_with(lambda d: d["Parameters"].update(EndpointSuffix="a" * 12)),
        prod_with(lambda d: d["Tags"].update({"k" * 128: "v" * 256, "Empty": ""})),
        prod_with(lambda d: d["Tags"].update({f"Tag{n}": "x" for n in range(48)})),
    ],
    ids=["valid", "no tags", "default overridden", "longest suffix", "longest tag", "50 tags"],
)
def test_valid_files_pass_with_no_output_variables(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any, prod: Any
) -> None:
    upload(s3, repository(prod=prod))
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(event(), lambda_context)

    assert codepipeline.success() == {
        "jobId": JOB_ID,
        "outputVariables": {},
        "executionDetails": {"summary": SUMMARY, "externalExecutionId": REQUEST_ID},
    }


# ---------------------------------------------------------------------------------------------
# One problem each, named with the file, the parameter and what is accepted

P = "prod-config.json: Parameters"
BAD_PROD = [
    (
        prod_with(lambda d: d["Parameters"].update(InstanceTyp="ml.m5.large")),
        "prod-config.json: 'InstanceTyp' is not accepted in Parameters (did you mean "
        "InstanceType?); accepted: AutoscalingMaxInstances, EndpointSuffix, InstanceCount, "
        "InstanceType, LogLevel",
    ),
    (
        prod_with(lambda d: d["Parameters"].update(ModelPackageArn="arn:aws:sagemaker:x")),
        f"{P}.ModelPackageArn 'arn:aws:sagemaker:x' is set by the pipeline; remove it",
    ),
    (
        prod_with(lambda d: d["Parameters"].pop("InstanceType")),
        f"{P}.InstanceType is missing; the template declares no default for it",
    ),
    (
        prod_with(lambda d: d["Parameters"].update(InstanceCount=2)),
        f'{P}.InstanceCount must be a JSON string, not a JSON number: write "2" '
        "(values are strings)",
    ),
    (
        prod_with(lambda d: d["Parameters"].update(InstanceCount="0")),
        f"{P}.InstanceCount '0' must be a whole number from 1 to 10",
    ),
    (
        prod_with(lambda d: d["Parameters"].update(InstanceType="ml.m5.huge")),
        f"{P}.InstanceType 'ml.m5.huge' data must be one of ['ml.m5.large', 'ml.m5.xlarge']",
    ),
    (
        prod_with(lambda d: d["Parameters"].update(EndpointSuffix="churn!")),
        f"{P}.EndpointSuffix 'churn!' data must match pattern ^(?:[a-z][a-z0-9-]*)$",
    ),
    (
        prod_with(lambda d: d["Parameters"].update(EndpointSuffix="ab")),
        f"{P}.EndpointSuffix 'ab' data must be longer than or equal to 3 characters",
    ),
    (
        prod_with(lambda d: d["Parameters"].update(AutoscalingMaxInstances="1")),
        "prod-config.json: Parameters.AutoscalingMaxInstances '1' must be at least "
        "Parameters.InstanceCount '2'",
    ),
    (
        prod_with(lambda d: d.update(Parameter={})),
        "prod-config.json: 'Parameter' is not accepted at the top level (did you mean "
        "Parameters?); accepted: Parameters, Tags, StackPolicy",
    ),
    (
        prod_with(lambda d: d.update(Parameters=["InstanceType"])),
        "prod-config.json: Parameters must be a JSON object, not a JSON array",
    ),
    (
        prod_with(lambda d: d.update(StackPolicy="deny")),
        "prod-config.json: StackPolicy must be a JSON object, not a JSON string",
    ),
    ([VALID_PROD], "prod-config.json: must be a JSON object, not a JSON array"),
    (
        prod_with(lambda d: d["Tags"].update({"aws:owner": "me"})),
        "prod-config.json: Tags key 'aws:owner' must be 1-128 characters, not starting with "
        "'aws:' (AWS reserves it)",
    ),
    (
        prod_with(lambda d: d["Tags"].update(Owner=7)),
        "prod-config.json: Tags.Owner must be a JSON string, not a JSON number: write "
        '"7" (values are strings)',
    ),
    (
        prod_with(lambda d: d["Tags"].update({f"T{n}": "x" for n in range(49)})),
        "prod-config.json: Tags has 51 entries; at most 50 are accepted",
    ),
    (
        None,
        "prod-config.json: not found at the root of the model-deploy repository",
    ),
    (
        '{"Parameters": {"InstanceType": "ml.m5.large",}}',
        "prod-config.json: is not valid JSON: "
        "Expecting property name enclosed in double quotes at line 1 column 47",
    ),
    ('{"Parameters": NaN}', "prod-config.json: is not valid JSON: NaN is not a JSON value"),
    (
        '{"Parameters": {"InstanceCount": "1", "InstanceCount": "2"}}',
        "prod-config.json: is not valid JSON: key 'InstanceCount' appears more than once in one "
        "object",
    ),
    (
        prod_with(lambda d: d["Tags"].update(Owner="v" * 257)),
        "prod-config.json: Tags.Owner '" + "v" * 76 + "... must be a string of at most 256 "
        "characters",
    ),
    (b"\xff\xfe", "prod-config.json: is not UTF-8 text: 'utf-8' codec can't decode byte 0xff"),
]


@pytest.mark.parametrize(("prod", "expected"), BAD_PROD)
def test_each_problem_names_file_parameter_and_what_is_accepted(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    prod: Any,
    expected: str,
) -> None:
    upload(s3, repository(prod=prod))

    (line,) = failure(codepipeline, event(), lambda_context)

    assert line.startswith(expected), line


def test_problems_are_listed_member_by_member_in_the_file_order(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    # Each member's own problems (its key, then its value), then the missing members, then
    # the count; an object the schema leaves open (StackPolicy) accepts any member.
    prod = {
        "Parameters": {
            "InstanceType": "ml.m5.huge",
            "Colour": "blue",
            "InstanceCont": "2",
            "KmsKeyArn": "arn",
        },
        "Tags": {"aws:x": 7, **{f"T{n}": "x" for n in range(50)}},
        "StackPolicy": {"Anything": 1},
        "Extra": 1,
    }
    upload(s3, repository(prod=prod))

    lines = failure(codepipeline, event(), lambda_context)

    accepted = "AutoscalingMaxInstances, EndpointSuffix, InstanceCount, InstanceType, LogLevel"
    missing = "is missing; the template declares no default for it"
    assert lines == [
        f"{P}.InstanceType 'ml.m5.huge' data must be one of ['ml.m5.large', 'ml.m5.xlarge']",
        f"prod-config.json: 'Colour' is not accepted in Parameters; accepted: {accepted}",
        "prod-config.json: 'InstanceCont' is not accepted in Parameters (did you mean "
        f"InstanceCount?); accepted: {accepted}",
        f"{P}.KmsKeyArn 'arn' is set by the pipeline; remove it",
        f"{P}.AutoscalingMaxInstances {missing}",
        f"{P}.EndpointSuffix {missing}",
        f"{P}.InstanceCount {missing}",
        "prod-config.json: Tags key 'aws:x' must be 1-128 characters, not starting with 'aws:' "
        "(AWS reserves it)",
        'prod-config.json: Tags.aws:x must be a JSON string, not a JSON number: write "7" '
        "(values are strings)",
        "prod-config.json: Tags has 51 entries; at most 50 are accepted",
        "prod-config.json: 'Extra' is not accepted at the top level; accepted: Parameters, "
        "Tags, StackPolicy",
    ]


def test_every_problem_of_both_files_is_listed_at_once_and_logged(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    staging = {"Parameters": {"InstanceType": 1, "InstanceCount": "11", "Colour": "blue"}}
    prod = prod_with(lambda d: d["Parameters"].update(InstanceType="x", KmsKeyArn="arn"))
    upload(s3, repository(staging=staging, prod=prod))

    lines = failure(codepipeline, event(), lambda_context)

    assert [line.split(" ")[0] for line in lines] == [
        "staging-config.json:",
        "staging-config.json:",
        "staging-config.json:",
        "staging-config.json:",
        "prod-config.json:",
        "prod-config.json:",
    ]
    assert "Parameters.EndpointSuffix is missing" in lines[3]
    logged = [r.__dict__["problems"] for r in caplog.records if "problems" in r.__dict__]
    assert logged == [lines]


# ---------------------------------------------------------------------------------------------
# Wiring problems: the pipeline's fault, not the config files'


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("not json", "UserParameters is not valid JSON"),
        ({**USER_PARAMETERS, "stages": []}, "UserParameters: data.stages must contain at least 1"),
        ({**USER_PARAMETERS, "colour": "blue"}, "UserParameters: data must not contain {'colour'}"),
        (
            {**USER_PARAMETERS, "config_artifact": "Repo"},
            "The action has no input artifact 'Repo' (it has: 'DeployConfig', 'EndpointTemplates')",
        ),
    ],
)
def test_wiring_problems_are_configuration_errors(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    params: Any,
    expected: str,
) -> None:
    upload(s3)

    (line,) = failure(codepipeline, event(params), lambda_context, "ConfigurationError")

    assert line.startswith(expected), line


def test_a_missing_schema_is_a_configuration_error(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    upload(s3, templates={"staging.schema.json": schemas()["staging.schema.json"]})

    (line,) = failure(codepipeline, event(), lambda_context, "ConfigurationError")

    assert line == "The templates artifact has no schema prod.schema.json"


def test_an_artifact_that_is_not_a_zip_fails_the_job(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    upload(s3, config=b"not a zip")

    (line,) = failure(codepipeline, event(), lambda_context)

    assert line.startswith("Input artifact 'DeployConfig' is not a zip file")


def test_artifacts_are_read_with_the_job_credentials(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upload(s3)
    created: list[dict[str, Any]] = []
    real_client: Callable[..., Any] = boto3.client

    def recording_client(service: str, **kwargs: Any) -> Any:
        created.append(kwargs)
        return real_client(service, **kwargs)

    monkeypatch.setattr(boto3, "client", recording_client)
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(event(), lambda_context)

    assert codepipeline.success()["outputVariables"] == {}
    assert {kw["aws_access_key_id"] for kw in created} == {"never-logged"}


def test_access_denied_is_a_permission_error(
    make_client: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler.clients.cache["codepipeline"] = codepipeline.client
    s3 = make_client("s3")
    monkeypatch.setattr(CodePipelineJobEvent, "setup_s3_client", lambda job: s3)
    with Stubber(s3) as stub:
        # A download starts with HeadObject, which S3 answers with the bare status code.
        stub.add_client_error("head_object", "403", "Forbidden", 403)

        (line,) = failure(codepipeline, event(), lambda_context, "PermissionError")

    assert line == "Cannot read input artifact 'EndpointTemplates': 403: Forbidden"


def test_an_event_without_a_job_id_raises(
    lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    with pytest.raises(ValueError, match=r"no 'CodePipeline\.job'\.id"):
        handler.lambda_handler({"Records": []}, lambda_context)


# ---------------------------------------------------------------------------------------------
# The schema builder


def test_the_schema_refuses_constraints_it_cannot_check() -> None:
    with pytest.raises(ValueError, match="InstanceCount declares \\['MaxValue'\\]"):
        config_file_schema({"InstanceCount": {"Type": "Number", "MaxValue": 10}}, [])


def test_a_byte_order_mark_before_the_json_is_accepted(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    # Editors on Windows save UTF-8 with one; it is not part of the document.
    upload(s3, repository(prod="\ufeff" + json.dumps(VALID_PROD)))
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(event(), lambda_context)

    assert codepipeline.success()["outputVariables"] == {}
