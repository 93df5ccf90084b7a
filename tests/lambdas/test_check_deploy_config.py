"""check_deploy_config: both config files against their endpoint templates, artifacts in moto S3."""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.check_deploy_config import handler
from shared_runtime import Clients
from tests.lambdas.conftest import JOB_ID, REQUEST_ID, CodePipelineRecorder

BUCKET = "mlops-demo-deploy-artifacts"
CONFIG_KEY = "mlops-demo-deploy/DeployConfi/Ab3dE7f.zip"
TEMPLATES_KEY = "mlops-demo-deploy/EndpointTe/Xy9zW1v.zip"
CONFIG_LOCATION = f"input artifact 'DeployConfig' (s3://{BUCKET}/{CONFIG_KEY})"
TEMPLATES_LOCATION = f"input artifact 'EndpointTemplates' (s3://{BUCKET}/{TEMPLATES_KEY})"
WIRING = ["ModelPackageArn", "ModelExecutionRoleArn", "KmsKeyArn"]
USER_PARAMETERS: dict[str, Any] = {
    "config_artifact": "DeployConfig",
    "templates_artifact": "EndpointTemplates",
    "stages": [
        {
            "config_file": "staging-config.json",
            "template_file": "staging.json",
            "pipeline_parameters": WIRING,
        },
        {
            "config_file": "prod-config.json",
            "template_file": "prod.json",
            "pipeline_parameters": [*WIRING, "ArtifactBucketName"],
        },
    ],
    "at_least": {"AutoscalingMaxInstances": "InstanceCount"},
}
SUCCESS_SUMMARY = "staging-config.json and prod-config.json match their endpoint templates"

# ---------------------------------------------------------------------------------------------
# Small templates using every constraint kind the endpoint templates use, and the rest.

INSTANCE_TYPES = [
    "ml.c5.large",
    "ml.c5.xlarge",
    "ml.g4dn.xlarge",
    "ml.m5.large",
    "ml.m5.xlarge",
    "ml.m5.2xlarge",
    "ml.r5.large",
]


def endpoint_template(stage: str) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "ModelPackageArn": {
            "Type": "String",
            "AllowedPattern": r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:"
            r"model-package/[A-Za-z0-9-]{1,63}/[0-9]+$",
            "ConstraintDescription": "must be a versioned model package ARN",
        },
        "ModelExecutionRoleArn": {
            "Type": "String",
            "AllowedPattern": r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$",
        },
        "KmsKeyArn": {"Type": "String", "AllowedPattern": r"^arn:aws[a-z-]*:kms:.+$"},
        "InstanceType": {"Type": "String", "AllowedValues": INSTANCE_TYPES},
        "InstanceCount": {"Type": "Number", "MinValue": 1, "MaxValue": 10},
        "EndpointSuffix": {
            "Type": "String",
            # Unanchored on purpose: CloudFormation still requires the whole value to match.
            "AllowedPattern": "[a-z][a-z0-9-]*",
            "MinLength": 3,
            "MaxLength": "12",
        },
        "LogLevel": {
            "Type": "String",
            "Default": "INFO",
            "AllowedValues": ["DEBUG", "INFO", "WARNING"],
        },
    }
    if stage == "prod":
        parameters |= {
            "ArtifactBucketName": {
                "Type": "String",
                "AllowedPattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            },
            "AutoscalingEnabled": {
                "Type": "String",
                "AllowedValues": ["true", "false"],
                "ConstraintDescription": "must be true or false (edit prod-config.json)",
            },
            "AutoscalingMaxInstances": {
                "Type": "Number",
                "Default": "3",
                "AllowedValues": [str(n) for n in range(1, 11)],
                "ConstraintDescription": "must be a whole number from 1 to 10 "
                "(edit prod-config.json)",
            },
        }
    return {
        "Description": f"{stage} endpoint",
        "Parameters": parameters,
        "Resources": {"Endpoint": {"Type": "AWS::SageMaker::Endpoint", "Properties": {}}},
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
        "AutoscalingEnabled": "true",
        "AutoscalingMaxInstances": "4",
        "LogLevel": "WARNING",
    },
    "Tags": {"Project": "mlops-demo", "Stage": "prod"},
    "StackPolicy": {
        "Statement": [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]
    },
}
PROD_ACCEPTS = (
    "AutoscalingEnabled, AutoscalingMaxInstances, EndpointSuffix, InstanceCount, InstanceType, "
    "LogLevel"
)

FileContent = dict[str, Any] | list[Any] | str | bytes


def zip_bytes(files: dict[str, FileContent]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            data = json.dumps(content, indent=2) if isinstance(content, dict | list) else content
            archive.writestr(name, data)
    return buffer.getvalue()


def repository(**overrides: FileContent | None) -> dict[str, FileContent]:
    """The model-deploy repository's files; an override of None removes the file."""
    files: dict[str, FileContent] = {
        "README.md": "# model-deploy\n",
        "staging-config.json": copy.deepcopy(VALID_STAGING),
        "prod-config.json": copy.deepcopy(VALID_PROD),
    }
    for name, content in overrides.items():
        file_name = f"{name.replace('_', '-')}.json"
        if content is None:
            del files[file_name]
        else:
            files[file_name] = content
    return files


def templates() -> dict[str, FileContent]:
    return {f"{stage}.json": endpoint_template(stage) for stage in ("staging", "prod")}


def with_prod(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(VALID_PROD)
    change(document)
    return document


def set_parameter(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document["Parameters"].__setitem__(name, value)


def drop_parameter(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: document["Parameters"].pop(name)


# ---------------------------------------------------------------------------------------------
# Fixtures


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
    # The handler creates its artifact client per job through boto3's default session; the
    # shared one (set after moto started) saves re-reading the S3 model in every test.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto_session)
    client = make_client("s3")
    client.create_bucket(Bucket=BUCKET)
    handler.clients.cache["codepipeline"] = codepipeline.client
    return client


def upload(
    s3: Any,
    config: dict[str, FileContent] | bytes | None = None,
    endpoint_templates: dict[str, FileContent] | bytes | None = None,
) -> None:
    for key, content in (
        (CONFIG_KEY, repository() if config is None else config),
        (TEMPLATES_KEY, templates() if endpoint_templates is None else endpoint_templates),
    ):
        body = content if isinstance(content, bytes) else zip_bytes(content)
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def artifact(name: str, key: str) -> dict[str, Any]:
    return {
        "name": name,
        "revision": None,
        "location": {"type": "S3", "s3Location": {"bucketName": BUCKET, "objectKey": key}},
    }


@pytest.fixture
def event(job_event: Any) -> Callable[..., dict[str, Any]]:
    def build(params: dict[str, Any] | str | None = None) -> dict[str, Any]:
        built: dict[str, Any] = job_event(USER_PARAMETERS if params is None else params)
        built["CodePipeline.job"]["data"]["inputArtifacts"] = [
            artifact("DeployConfig", CONFIG_KEY),
            artifact("EndpointTemplates", TEMPLATES_KEY),
        ]
        return built

    return build


def run(event: Any, lambda_context: Any, codepipeline: CodePipelineRecorder) -> None:
    codepipeline.expect_report()
    handler.lambda_handler(event, lambda_context)


def failure_lines(codepipeline: CodePipelineRecorder) -> list[str]:
    failure = codepipeline.failure()
    assert failure["type"] == "JobFailed"
    lines: list[str] = failure["message"].split("\n")
    return lines


# ---------------------------------------------------------------------------------------------
# Valid files


def test_valid_files_pass_with_no_output_variables(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    upload(s3)
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(event(), lambda_context)

    assert codepipeline.success() == {
        "jobId": JOB_ID,
        "outputVariables": {},
        "executionDetails": {"summary": SUCCESS_SUMMARY, "externalExecutionId": REQUEST_ID},
    }


@pytest.mark.parametrize(
    "prod",
    [
        # Parameters and Tags are both optional in the format; defaults fill the rest.
        with_prod(lambda d: d.pop("Tags")),
        with_prod(drop_parameter("LogLevel")),
        with_prod(drop_parameter("AutoscalingMaxInstances")),
        with_prod(set_parameter("InstanceCount", "2.5")),
        with_prod(set_parameter("InstanceCount", "1e0")),
        with_prod(set_parameter("EndpointSuffix", "a" * 12)),
        with_prod(lambda d: d["Tags"].update({"k" * 128: "v" * 256, "Empty": ""})),
        with_prod(lambda d: d["Tags"].update({f"Tag{n}": "x" for n in range(48)})),
    ],
    ids=[
        "no tags",
        "default used",
        "default satisfies at_least",
        "decimal number",
        "exponent number",
        "longest suffix",
        "longest tag key and value",
        "50 tags",
    ],
)
def test_edge_values_within_the_limits_pass(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    prod: dict[str, Any],
) -> None:
    upload(s3, config=repository(prod_config=prod))
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(event(), lambda_context)

    assert codepipeline.success()["outputVariables"] == {}


# ---------------------------------------------------------------------------------------------
# The real endpoint templates (the infra tests' snapshots) and the config files the CDK app
# seeds the model-deploy repository with (cdk.json: dev serverless, prod on instances).

SNAPSHOTS = Path(__file__).resolve().parents[1] / "infra" / "__snapshots__" / "test_endpoint_stack"
REAL_CONFIG: dict[str, dict[str, dict[str, str]]] = {
    "dev": {
        "staging": {"ServerlessMemorySizeInMB": "2048", "ServerlessMaxConcurrency": "5"},
        "prod": {"ServerlessMemorySizeInMB": "2048", "ServerlessMaxConcurrency": "5"},
    },
    "prod": {
        "staging": {"InstanceCount": "1", "InstanceType": "ml.m5.large"},
        "prod": {
            "AutoscalingEnabled": "true",
            "AutoscalingMaxInstances": "4",
            "InstanceCount": "2",
            "InstanceType": "ml.m5.large",
        },
    },
}


def real_template(env: str, stage: str) -> bytes:
    path = SNAPSHOTS / f"test_endpoint_templates_match_their_snapshots[{env}-{stage}].json"
    return path.read_bytes()


def real_artifacts(env: str, prod_parameters: dict[str, str] | None = None) -> tuple[Any, Any]:
    config: dict[str, FileContent] = {
        f"{stage}-config.json": {
            "Parameters": (prod_parameters if stage == "prod" else None) or parameters,
            "Tags": {"Project": "mlops-demo", "Environment": env, "Stage": stage},
        }
        for stage, parameters in REAL_CONFIG[env].items()
    }
    endpoint_templates: dict[str, FileContent] = {
        f"{stage}.json": real_template(env, stage) for stage in ("staging", "prod")
    }
    return config, endpoint_templates


def real_user_parameters(env: str) -> dict[str, Any]:
    # As the pipeline sets them: serverless endpoints (dev) capture no data, so take no bucket.
    wiring = WIRING if env == "dev" else [*WIRING, "ArtifactBucketName"]
    params = copy.deepcopy(USER_PARAMETERS)
    for stage in params["stages"]:
        stage["pipeline_parameters"] = wiring
    return params


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_real_templates_accept_the_seeded_config_files(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any, env: str
) -> None:
    config, endpoint_templates = real_artifacts(env)
    upload(s3, config=config, endpoint_templates=endpoint_templates)
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(event(real_user_parameters(env)), lambda_context)

    assert codepipeline.success()["executionDetails"]["summary"] == SUCCESS_SUMMARY


def test_real_prod_template_rejects_an_instance_type_and_a_maximum_below_the_count(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    prod = {**REAL_CONFIG["prod"]["prod"], "InstanceType": "ml.t2.micro"}
    prod["AutoscalingMaxInstances"] = "1"
    config, endpoint_templates = real_artifacts("prod", prod)
    upload(s3, config=config, endpoint_templates=endpoint_templates)

    run(event(real_user_parameters("prod")), lambda_context, codepipeline)

    assert failure_lines(codepipeline) == [
        "prod-config.json: InstanceType 'ml.t2.micro' must be a SageMaker hosting instance type "
        "such as ml.m5.large (the hosting list of config/instance_types.json; edit "
        "prod-config.json)",
        "prod-config.json: AutoscalingMaxInstances '1' must be at least InstanceCount '2'",
    ]


def test_real_dev_template_rejects_a_serverless_memory_size(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    prod = {"ServerlessMemorySizeInMB": "2000", "ServerlessMaxConcurrency": "500"}
    config, endpoint_templates = real_artifacts("dev", prod)
    upload(s3, config=config, endpoint_templates=endpoint_templates)

    run(event(real_user_parameters("dev")), lambda_context, codepipeline)

    assert failure_lines(codepipeline) == [
        "prod-config.json: ServerlessMemorySizeInMB '2000' must be one of 1024, 2048, 3072, "
        "4096, 5120, 6144 (edit prod-config.json)",
        "prod-config.json: ServerlessMaxConcurrency '500' must be a whole number from 1 to 200 "
        "(edit prod-config.json)",
    ]


# ---------------------------------------------------------------------------------------------
# Each check


LONG_KEY = "k" * 129
SHOWN_LONG_KEY = "'" + "k" * 76 + "..."
PROBLEM_CASES: list[tuple[str, FileContent | None, list[str]]] = [
    (
        "file missing",
        None,
        [f"not found at the root of {CONFIG_LOCATION}; it holds: README.md, staging-config.json"],
    ),
    (
        "JSON syntax",
        '{\n  "Parameters": {\n    "InstanceType": "ml.m5.large"\n    "InstanceCount": "2"\n'
        "  }\n}\n",
        ["is not valid JSON: Expecting ',' delimiter at line 4 column 5"],
    ),
    (
        "NaN",
        '{"Parameters": {"InstanceCount": NaN}}',
        ["is not valid JSON: NaN is not a JSON value"],
    ),
    ("empty file", "", ["is not valid JSON: Expecting value at line 1 column 1"]),
    (
        "not an object",
        ["InstanceType=ml.m5.large"],
        ["must hold a JSON object (a template configuration file), got a JSON array"],
    ),
    (
        "duplicate key",
        json.dumps(VALID_PROD).replace(
            '"InstanceCount": "2"', '"InstanceCount": "2", "InstanceCount": "3"'
        ),
        ["key 'InstanceCount' appears more than once in an object"],
    ),
    (
        "unknown top-level key",
        with_prod(lambda d: d.update(Tag={"Owner": "ml-team"})),
        [
            "unknown top-level key 'Tag' (did you mean Tags?); a template configuration file "
            "has only Parameters, Tags and StackPolicy"
        ],
    ),
    (
        "Parameters not an object",
        with_prod(lambda d: d.update(Parameters=["InstanceType=ml.m5.large"])),
        ["Parameters must be a JSON object of parameter names to string values, got a JSON array"],
    ),
    (
        "number value",
        with_prod(set_parameter("InstanceCount", 2)),
        [
            'InstanceCount must be a string, not a JSON number: write "2" '
            "(values in this file are strings)"
        ],
    ),
    (
        "boolean value",
        with_prod(set_parameter("AutoscalingEnabled", True)),
        [
            'AutoscalingEnabled must be a string, not a JSON boolean: write "true" '
            "(values in this file are strings)"
        ],
    ),
    (
        "null value",
        with_prod(set_parameter("LogLevel", None)),
        ["LogLevel must be a string, not null (values in this file are strings)"],
    ),
    (
        "misspelt name",
        with_prod(
            lambda d: d["Parameters"].update(InstanceTyp=d["Parameters"].pop("InstanceType"))
        ),
        [
            f"'InstanceTyp' is not a parameter of prod.json (did you mean InstanceType?); "
            f"it accepts {PROD_ACCEPTS}",
            "InstanceType is missing; prod.json declares no default for it",
        ],
    ),
    (
        "unknown name",
        with_prod(set_parameter("Memory", "2048")),
        [f"'Memory' is not a parameter of prod.json; it accepts {PROD_ACCEPTS}"],
    ),
    (
        "pipeline parameter",
        with_prod(set_parameter("ModelPackageArn", "arn:aws:sagemaker:::model-package/g/1")),
        ["ModelPackageArn is set by the pipeline; remove it from this file"],
    ),
    (
        "prod-only pipeline parameter",
        with_prod(set_parameter("ArtifactBucketName", "my-bucket")),
        ["ArtifactBucketName is set by the pipeline; remove it from this file"],
    ),
    (
        "missing",
        with_prod(drop_parameter("InstanceCount")),
        ["InstanceCount is missing; prod.json declares no default for it"],
    ),
    (
        "no Parameters",
        with_prod(lambda d: d.pop("Parameters")),
        [
            f"{name} is missing; prod.json declares no default for it"
            for name in ("InstanceType", "InstanceCount", "EndpointSuffix", "AutoscalingEnabled")
        ],
    ),
    (
        "long AllowedValues",
        with_prod(set_parameter("InstanceType", "ml.t2.micro")),
        [
            "InstanceType 'ml.t2.micro' must be one of 'ml.c5.large', 'ml.c5.xlarge', "
            "'ml.g4dn.xlarge', 'ml.m5.large', 'ml.m5.xlarge', ... (7 accepted values)"
        ],
    ),
    (
        "short AllowedValues",
        with_prod(set_parameter("LogLevel", "info")),
        ["LogLevel 'info' must be one of 'DEBUG', 'INFO', 'WARNING'"],
    ),
    (
        "ConstraintDescription",
        with_prod(set_parameter("AutoscalingEnabled", "yes")),
        ["AutoscalingEnabled 'yes' must be true or false (edit prod-config.json)"],
    ),
    (
        "AllowedPattern matches only a prefix",
        with_prod(set_parameter("EndpointSuffix", "churn_a")),
        ["EndpointSuffix 'churn_a' must match the pattern [a-z][a-z0-9-]*"],
    ),
    (
        "MinLength",
        with_prod(set_parameter("EndpointSuffix", "ab")),
        ["EndpointSuffix 'ab' must be at least 3 characters long"],
    ),
    (
        "MaxLength",
        with_prod(set_parameter("EndpointSuffix", "a" * 13)),
        [f"EndpointSuffix '{'a' * 13}' must be at most 12 characters long"],
    ),
    (
        "not a number",
        with_prod(set_parameter("InstanceCount", "two")),
        ["InstanceCount 'two' must be a number"],
    ),
    (
        "NaN number",
        with_prod(set_parameter("InstanceCount", "NaN")),
        ["InstanceCount 'NaN' must be a number"],
    ),
    (
        "padded number",
        with_prod(set_parameter("InstanceCount", " 2")),
        ["InstanceCount ' 2' must be a number"],
    ),
    (
        "MinValue",
        with_prod(set_parameter("InstanceCount", "0")),
        ["InstanceCount '0' must be at least 1"],
    ),
    (
        "MaxValue",
        with_prod(set_parameter("InstanceCount", "10.5")),
        ["InstanceCount '10.5' must be at most 10"],
    ),
    (
        "Tags as CloudFormation's list",
        with_prod(lambda d: d.update(Tags=[{"Key": "Project", "Value": "mlops-demo"}])),
        ["Tags must be a JSON object of tag keys to string values, got a JSON array"],
    ),
    (
        "too many tags",
        with_prod(lambda d: d["Tags"].update({f"Tag{n}": "x" for n in range(49)})),
        ["Tags has 51 tags; CloudFormation accepts at most 50"],
    ),
    (
        "empty tag key",
        with_prod(lambda d: d["Tags"].update({"": "x"})),
        ["a tag key is empty; keys are 1 to 128 characters"],
    ),
    (
        "long tag key",
        with_prod(lambda d: d["Tags"].update({LONG_KEY: "x"})),
        [f"tag key {SHOWN_LONG_KEY} is 129 characters; at most 128 are allowed"],
    ),
    (
        "reserved tag key",
        with_prod(lambda d: d["Tags"].update({"AWS:Owner": "x"})),
        ["tag key 'AWS:Owner' starts with 'aws:', which AWS reserves"],
    ),
    (
        "tag value not a string",
        with_prod(lambda d: d["Tags"].update({"CostCenter": 42})),
        ["tag 'CostCenter' must have a string value, not a JSON number"],
    ),
    (
        "long tag value",
        with_prod(lambda d: d["Tags"].update({"Owner": "v" * 257})),
        ["tag 'Owner' has a value of 257 characters; at most 256 are allowed"],
    ),
    (
        "StackPolicy not an object",
        with_prod(lambda d: d.update(StackPolicy="deny all")),
        ["StackPolicy must be a JSON object (a stack policy document), got a string"],
    ),
    (
        "too large",
        " " * (1024 * 1024) + "{}",
        ["is 1048578 bytes; expected a small JSON file (limit 1048576 bytes)"],
    ),
]


@pytest.mark.parametrize(
    ("prod", "expected"),
    [case[1:] for case in PROBLEM_CASES],
    ids=[case[0] for case in PROBLEM_CASES],
)
def test_each_problem_fails_the_job_with_a_message_naming_it(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    prod: FileContent | None,
    expected: list[str],
) -> None:
    upload(s3, config=repository(prod_config=prod))

    run(event(), lambda_context, codepipeline)

    assert failure_lines(codepipeline) == [f"prod-config.json: {line}" for line in expected]


def test_a_file_that_is_not_utf8_is_reported(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    upload(s3, config=repository(prod_config='{"Tags": {"Owner": "café"}}'.encode("latin-1")))

    run(event(), lambda_context, codepipeline)

    (line,) = failure_lines(codepipeline)
    assert line.startswith("prod-config.json: is not UTF-8 text: 'utf-8' codec can't decode")


def test_problems_of_both_files_are_reported_in_one_failure_most_fundamental_first(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    staging = copy.deepcopy(VALID_STAGING)
    staging["Parameters"]["InstanceCount"] = 5
    staging["Tags"] = {"aws:owner": "ml-team"}
    prod = copy.deepcopy(VALID_PROD)
    prod["Parameters"] = {
        "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/3",
        "InstanceCount": "0",
        "EndpointSuffix": "churn",
        "AutoscalingEnabled": "false",
    }
    prod["Parametres"] = {}
    upload(s3, config=repository(staging_config=staging, prod_config=prod))

    run(event(), lambda_context, codepipeline)

    assert failure_lines(codepipeline) == [
        "prod-config.json: unknown top-level key 'Parametres' (did you mean Parameters?); "
        "a template configuration file has only Parameters, Tags and StackPolicy",
        'staging-config.json: InstanceCount must be a string, not a JSON number: write "5" '
        "(values in this file are strings)",
        "prod-config.json: ModelPackageArn is set by the pipeline; remove it from this file",
        "prod-config.json: InstanceType is missing; prod.json declares no default for it",
        "prod-config.json: InstanceCount '0' must be at least 1",
        "staging-config.json: tag key 'aws:owner' starts with 'aws:', which AWS reserves",
    ]


def test_a_missing_file_does_not_hide_the_other_files_problems(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    upload(
        s3,
        config=repository(
            staging_config=None, prod_config=with_prod(drop_parameter("InstanceCount"))
        ),
    )

    run(event(), lambda_context, codepipeline)

    assert failure_lines(codepipeline) == [
        f"staging-config.json: not found at the root of {CONFIG_LOCATION}; it holds: "
        "README.md, prod-config.json",
        "prod-config.json: InstanceCount is missing; prod.json declares no default for it",
    ]


def test_a_config_file_in_a_folder_is_not_at_the_root(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    files = repository(prod_config=None)
    files["config/prod-config.json"] = copy.deepcopy(VALID_PROD)
    upload(s3, config=files)

    run(event(), lambda_context, codepipeline)

    assert failure_lines(codepipeline) == [
        f"prod-config.json: not found at the root of {CONFIG_LOCATION}; it holds: README.md, "
        "staging-config.json"
    ]


# ---------------------------------------------------------------------------------------------
# at_least


@pytest.mark.parametrize(
    ("maximum", "count", "expected"),
    [
        ("4", "2", []),
        ("2", "2", []),
        # Compared as numbers: as strings "10" < "9".
        ("10", "9", []),
        ("1", "2", ["AutoscalingMaxInstances '1' must be at least InstanceCount '2'"]),
        ("9", "10", ["AutoscalingMaxInstances '9' must be at least InstanceCount '10'"]),
        (
            None,
            "5",
            [
                "AutoscalingMaxInstances '3' (the template's default) must be at least "
                "InstanceCount '5'"
            ],
        ),
        # Only the value's own problem: a comparison with a non-number means nothing.
        (
            "many",
            "2",
            [
                "AutoscalingMaxInstances 'many' must be a whole number from 1 to 10 "
                "(edit prod-config.json)"
            ],
        ),
    ],
    ids=["above", "equal", "numeric order", "below", "below two digits", "default", "nan"],
)
def test_autoscaling_maximum_must_be_at_least_the_instance_count(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    maximum: str | None,
    count: str,
    expected: list[str],
) -> None:
    prod = copy.deepcopy(VALID_PROD)
    prod["Parameters"]["InstanceCount"] = count
    if maximum is None:
        del prod["Parameters"]["AutoscalingMaxInstances"]
    else:
        prod["Parameters"]["AutoscalingMaxInstances"] = maximum
    upload(s3, config=repository(prod_config=prod))
    codepipeline.expect_report("put_job_failure_result" if expected else "put_job_success_result")

    handler.lambda_handler(event(), lambda_context)

    if expected:
        assert failure_lines(codepipeline) == [f"prod-config.json: {line}" for line in expected]
    else:
        assert codepipeline.success()["outputVariables"] == {}


def test_without_at_least_a_maximum_below_the_count_passes(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    prod = with_prod(set_parameter("AutoscalingMaxInstances", "1"))
    upload(s3, config=repository(prod_config=prod))
    params = {key: value for key, value in USER_PARAMETERS.items() if key != "at_least"}
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(event(params), lambda_context)

    assert codepipeline.success()["outputVariables"] == {}


# ---------------------------------------------------------------------------------------------
# The failure message limit


def test_a_long_report_is_cut_at_a_line_and_keeps_the_most_useful_lines(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    staging = copy.deepcopy(VALID_STAGING)
    staging["Tags"] = {f"aws:{'x' * 125}{n:03}": "v" * 300 for n in range(60)}
    prod = with_prod(set_parameter("InstanceType", "ml.t2.micro"))
    upload(s3, config=repository(staging_config=staging, prod_config=prod))

    run(event(), lambda_context, codepipeline)

    message = codepipeline.failure()["message"]
    lines = message.split("\n")
    assert len(message) <= 5000
    assert lines[0] == "staging-config.json: Tags has 60 tags; CloudFormation accepts at most 50"
    assert lines[1].startswith("prod-config.json: InstanceType 'ml.t2.micro' must be one of")
    assert all(line.startswith("staging-config.json: tag ") for line in lines[2:-1])
    logged: list[str] = next(
        r.__dict__["problems"] for r in caplog.records if "problems" in r.__dict__
    )
    assert len(logged) == 2 + 60 * 3
    assert lines[-1] == (
        f"... and {len(logged) - len(lines) + 1} more problems (all are in the function's log)"
    )
    assert lines[:-1] == logged[: len(lines) - 1]


def test_failure_message_fits_the_limit_exactly() -> None:
    problems = [handler.Problem(handler.PARAMETER_RANK, "a.json", f"problem {n}") for n in range(5)]
    full = "\n".join(f"a.json: problem {n}" for n in range(5))

    assert handler.failure_message(problems, limit=len(full)) == full
    cut = handler.failure_message(problems, limit=len(full) - 1)
    assert cut == "a.json: problem 0\n... and 4 more problems (all are in the function's log)"
    assert len(cut) <= len(full) - 1
    long_last = [problems[0], handler.Problem(handler.TAG_RANK, "a.json", "x" * 100)]
    assert handler.failure_message(long_last, limit=80) == (
        "a.json: problem 0\n... and 1 more problem (all are in the function's log)"
    )


# ---------------------------------------------------------------------------------------------
# Artifacts


def test_reads_the_artifacts_with_the_jobs_artifact_credentials(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upload(s3)
    built = event()
    built["CodePipeline.job"]["data"]["artifactCredentials"] = {
        "accessKeyId": "ASIAJOBKEY",
        "secretAccessKey": "job-secret",
        "sessionToken": "job-token",
    }
    created: list[tuple[str, dict[str, Any]]] = []
    real_client = boto3.client

    def recording_client(service: str, **kwargs: Any) -> Any:
        created.append((service, kwargs))
        return real_client(service, **kwargs)

    monkeypatch.setattr(boto3, "client", recording_client)
    codepipeline.expect_report("put_job_success_result")

    handler.lambda_handler(built, lambda_context)

    assert codepipeline.success()["outputVariables"] == {}
    assert [service for service, _ in created] == ["s3"]
    kwargs = created[0][1]
    assert (
        kwargs["aws_access_key_id"],
        kwargs["aws_secret_access_key"],
        kwargs["aws_session_token"],
    ) == ("ASIAJOBKEY", "job-secret", "job-token")


def test_access_denied_is_a_permission_error(
    make_client: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler.clients.cache["codepipeline"] = codepipeline.client
    s3 = make_client("s3")
    monkeypatch.setattr(handler, "_artifact_client", lambda credentials: s3)
    with Stubber(s3) as stub:
        stub.add_client_error(
            "get_object",
            "AccessDenied",
            "Access Denied",
            403,
            expected_params={"Bucket": BUCKET, "Key": CONFIG_KEY},
        )

        run(event(), lambda_context, codepipeline)

        stub.assert_no_pending_responses()
    assert codepipeline.failure() == {
        "type": "PermissionError",
        "message": f"Cannot read {CONFIG_LOCATION}: AccessDenied: Access Denied",
        "externalExecutionId": REQUEST_ID,
    }


def test_missing_artifact_object_fails_the_job(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=zip_bytes(repository()))

    run(event(), lambda_context, codepipeline)

    failure = codepipeline.failure()
    assert failure["type"] == "JobFailed"
    assert failure["message"].startswith(f"Cannot read {TEMPLATES_LOCATION}: NoSuchKey: ")


def test_artifact_missing_from_the_event_is_a_configuration_error(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    upload(s3)
    built = event()
    del built["CodePipeline.job"]["data"]["inputArtifacts"][1]

    run(built, lambda_context, codepipeline)

    failure = codepipeline.failure()
    assert failure["type"] == "ConfigurationError"
    assert failure["message"] == (
        "The action has no input artifact 'EndpointTemplates' (it has: 'DeployConfig'); add it "
        "to the CheckDeployConfig action's inputs or correct UserParameters."
    )


def test_artifact_that_is_not_a_zip_fails_the_job(
    s3: Any, codepipeline: CodePipelineRecorder, event: Any, lambda_context: Any
) -> None:
    upload(s3, config=b'{"ref": "refs/heads/main"}')

    run(event(), lambda_context, codepipeline)

    assert codepipeline.failure()["message"] == (
        f"The {CONFIG_LOCATION} is not a zip file: File is not a zip file"
    )


@pytest.mark.parametrize(
    ("endpoint_templates", "expected"),
    [
        (
            {"staging.json": endpoint_template("staging")},
            f"Endpoint template prod.json in {TEMPLATES_LOCATION} does not exist; it holds: "
            "staging.json.",
        ),
        (
            {**templates(), "prod.json": "Parameters: {}"},
            f"Endpoint template prod.json in {TEMPLATES_LOCATION} is not a JSON template: "
            "Expecting value: line 1 column 1 (char 0)",
        ),
        (
            {**templates(), "prod.json": {"Parameters": {"InstanceType": "String"}}},
            f"Endpoint template prod.json in {TEMPLATES_LOCATION} has no valid Parameters "
            "section (an object of parameter declarations).",
        ),
    ],
    ids=["missing", "not JSON", "bad Parameters"],
)
def test_a_broken_template_is_a_configuration_error(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    endpoint_templates: dict[str, FileContent],
    expected: str,
) -> None:
    upload(s3, endpoint_templates=endpoint_templates)

    run(event(), lambda_context, codepipeline)

    failure = codepipeline.failure()
    assert failure["type"] == "ConfigurationError"
    assert failure["message"] == expected


# ---------------------------------------------------------------------------------------------
# Event and UserParameters


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in USER_PARAMETERS.items() if k != key}


def _with_stage(**changes: Any) -> dict[str, Any]:
    params = copy.deepcopy(USER_PARAMETERS)
    params["stages"][0].update(changes)
    return params


@pytest.mark.parametrize(
    ("user_parameters", "expected"),
    [
        ("not json", "UserParameters is not valid JSON: 'not json'"),
        ('["a list"]', "UserParameters must be a JSON object, got list"),
        (
            _without("config_artifact"),
            "UserParameters: config_artifact must be a non-empty string, got None",
        ),
        (
            {**USER_PARAMETERS, "templates_artifact": " "},
            "UserParameters: templates_artifact must be a non-empty string, got ' '",
        ),
        (
            _without("stages"),
            "UserParameters: stages must be a non-empty list of objects, got None",
        ),
        (
            {**USER_PARAMETERS, "stages": []},
            "UserParameters: stages must be a non-empty list of objects, got []",
        ),
        (
            {**USER_PARAMETERS, "stages": ["staging-config.json"]},
            "UserParameters: stages[0] must be an object, got a string",
        ),
        (
            _with_stage(config_file=None),
            "UserParameters: stages[0].config_file must be a non-empty string, got None",
        ),
        (
            _with_stage(pipeline_parameters="ModelPackageArn"),
            "UserParameters: stages[0].pipeline_parameters must be a list of parameter names",
        ),
        (
            _with_stage(pipeline_parameter=[]),
            "UserParameters: unknown key(s) 'pipeline_parameter' in stages[0]; expected "
            "config_file, template_file, pipeline_parameters",
        ),
        (
            _with_stage(config_file="prod-config.json"),
            "UserParameters: stages name a config file twice: prod-config.json, prod-config.json",
        ),
        (
            {**USER_PARAMETERS, "at_least": [["AutoscalingMaxInstances", "InstanceCount"]]},
            'UserParameters: at_least must be an object of parameter names, e.g. {"Maximum": '
            '"Minimum"}',
        ),
        (
            {**_without("at_least"), "atleast": {}},
            "UserParameters: unknown key(s) 'atleast' in UserParameters; expected "
            "config_artifact, templates_artifact, stages, at_least",
        ),
    ],
    ids=[
        "not JSON",
        "not an object",
        "no config_artifact",
        "blank templates_artifact",
        "no stages",
        "empty stages",
        "stage not an object",
        "stage without config_file",
        "pipeline_parameters not a list",
        "unknown stage key",
        "config file twice",
        "at_least not an object",
        "unknown key",
    ],
)
def test_malformed_user_parameters_are_a_configuration_error(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    user_parameters: dict[str, Any] | str,
    expected: str,
) -> None:
    upload(s3)

    run(event(user_parameters), lambda_context, codepipeline)

    failure = codepipeline.failure()
    assert failure["type"] == "ConfigurationError"
    assert failure["message"] == expected


@pytest.mark.parametrize("bad_event", [{}, {"CodePipeline.job": {"data": {}}}, {"Records": []}])
def test_event_without_job_id_raises(
    codepipeline: CodePipelineRecorder, lambda_context: Any, bad_event: dict[str, Any]
) -> None:
    handler.clients.cache["codepipeline"] = codepipeline.client

    with pytest.raises(ValueError, match=re.escape("no 'CodePipeline.job'.id")):
        handler.lambda_handler(bad_event, lambda_context)

    assert codepipeline.calls == []


@pytest.mark.parametrize("valid", [True, False], ids=["success", "failure"])
def test_the_event_and_its_credentials_are_never_logged(
    s3: Any,
    codepipeline: CodePipelineRecorder,
    event: Any,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    valid: bool,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG, logger="check_deploy_config")
    upload(s3, config=None if valid else repository(prod_config=[]))
    codepipeline.expect_report("put_job_success_result" if valid else "put_job_failure_result")

    handler.lambda_handler(event(), lambda_context)

    records = [r for r in caplog.records if r.name == "check_deploy_config"]
    assert records, "the handler logs what it checks"
    for record in records:
        assert "never-logged" not in f"{record.getMessage()} {vars(record)}"
