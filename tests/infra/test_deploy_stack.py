"""DeployStack: the model-deploy repository, the deploy pipeline and the roles it runs with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from aws_cdk import aws_codepipeline as codepipeline

from components.shared.lambda_function import ARCHITECTURE, RUNTIME
from components.shared.nag import flatten_reference
from config import EnvironmentConfig
from config.powertools_layer import layer_reference
from lambdas.check_deploy_config.schema import config_file_schema
from tests.infra.conftest import DEV_VARIANT_CONNECTION, Synthesized, as_list

ENVS = ["dev", "prod"]
STACK = {"dev": "Dev-DeployStack", "prod": "Prod-DeployStack"}
STAGE_NAMES = ["Source", "Resolve", "DeployStaging", "TestStaging", "ApproveProd", "DeployProd"]
WIRING = {"ModelPackageArn", "ModelExecutionRoleArn", "KmsKeyArn"}
RESOLVED_ARN = "#{Resolve.ModelPackageArn}"
PARTITION = "arn:<AWS::Partition>"
SCALABLE_TARGETS = (
    f"{PARTITION}:application-autoscaling:eu-west-1:<AWS::AccountId>:scalable-target/*"
)
SAGEMAKER_VARIANTS_ONLY = json.dumps(
    {
        "StringEquals": {
            "application-autoscaling:service-namespace": "sagemaker",
            "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
        }
    },
    sort_keys=True,
)
CONNECTION = DEV_VARIANT_CONNECTION


@pytest.fixture(scope="module")
def variant(dev_variant: Synthesized) -> Synthesized:
    """The shared variant synth (conftest.py) for every variant test: dev on CodeConnections
    (acme/churn-model-deploy), prod staging resized (ml.c5.xlarge x 3)."""
    return dev_variant


# ---------------------------------------------------------------------------------------------
# Helpers


def _resources(synthesized: Synthesized, env: str, type_: str) -> dict[str, dict[str, Any]]:
    return synthesized.resources(STACK[env], type_)


def _only(synthesized: Synthesized, env: str, type_: str) -> dict[str, Any]:
    (resource,) = _resources(synthesized, env, type_).values()
    return resource


def _logical_id(synthesized: Synthesized, env: str, type_: str, prefix: str) -> str:
    (lid,) = [lid for lid in _resources(synthesized, env, type_) if lid.startswith(prefix)]
    return lid


def _stages(synthesized: Synthesized, env: str) -> dict[str, list[dict[str, Any]]]:
    pipeline = _only(synthesized, env, "AWS::CodePipeline::Pipeline")["Properties"]
    return {stage["Name"]: stage["Actions"] for stage in pipeline["Stages"]}


def _action(synthesized: Synthesized, env: str, stage: str) -> dict[str, Any]:
    (action,) = _stages(synthesized, env)[stage]
    return action


def _flat(value: Any) -> str:
    return flatten_reference(value)


def _join_literally(node: Any) -> str:
    """A Fn::Join of literals and references; literals kept as is (``#{...}`` included)."""
    if isinstance(node, str):
        return node
    if "Fn::Join" in node:
        delimiter, items = node["Fn::Join"]
        return str(delimiter).join(_join_literally(item) for item in items)
    return _flat(node)


def _overrides(action: dict[str, Any]) -> dict[str, str]:
    """ParameterOverrides with references flattened, e.g. ``<ModelRole997FC3A9.Arn>``."""
    return dict(json.loads(_join_literally(action["Configuration"]["ParameterOverrides"])))


def _asset_dir(synthesized: Synthesized, key: str) -> Path:
    asset_hash = key.removesuffix(".zip")
    return Path(synthesized.assembly.directory) / f"asset.{asset_hash}"


def _repository_content(synthesized: Synthesized, env: str) -> Path:
    repo = _only(synthesized, env, "AWS::CodeCommit::Repository")
    return _asset_dir(synthesized, repo["Properties"]["Code"]["S3"]["Key"])


def _statements(synthesized: Synthesized, env: str, role_prefix: str) -> set[tuple[Any, ...]]:
    """Every statement of every policy attached to the role, as (actions, resources, condition)."""
    role_id = _logical_id(synthesized, env, "AWS::IAM::Role", role_prefix)
    found = set()
    for policy in _resources(synthesized, env, "AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            found.add(
                (
                    tuple(sorted(actions if isinstance(actions, list) else [actions])),
                    tuple(
                        sorted(
                            _flat(r)
                            for r in (resources if isinstance(resources, list) else [resources])
                        )
                    ),
                    json.dumps(statement.get("Condition"), sort_keys=True),
                )
            )
    return found


def _only_role(synthesized: Synthesized, env: str, prefix: str) -> dict[str, Any]:
    lid = _logical_id(synthesized, env, "AWS::IAM::Role", prefix)
    role: dict[str, Any] = synthesized.templates[STACK[env]]["Resources"][lid]
    return role


def _arn(service: str, rest: str, region: str = "eu-west-1") -> str:
    return f"{PARTITION}:{service}:{region}:<AWS::AccountId>:{rest}"


def _bucket(env: str) -> str:
    return f"{PARTITION}:s3:::mlops-demo-{env}-<AWS::AccountId>-eu-west-1"


def _key_import(env: str) -> str:
    return (
        f"{env.capitalize()}-RegistryStack:ExportsOutputFnGetAttArtifactStoreKey28E2B6CFArnEFBA5EFE"
    )


def _no_condition() -> str:
    return json.dumps(None)


def _via_s3() -> str:
    return json.dumps({"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}})


# ---------------------------------------------------------------------------------------------
# Pipeline shape


@pytest.mark.parametrize("env", ENVS)
def test_stages_run_in_order_with_the_expected_action_types(
    synthesized: Synthesized, env: str
) -> None:
    stages = _stages(synthesized, env)
    assert list(stages) == STAGE_NAMES
    providers = {
        name: [(a["ActionTypeId"]["Category"], a["ActionTypeId"]["Provider"]) for a in actions]
        for name, actions in stages.items()
    }
    assert providers == {
        "Source": [("Source", "CodeCommit"), ("Source", "S3")],
        "Resolve": [("Invoke", "Lambda"), ("Invoke", "Lambda")],
        "DeployStaging": [("Deploy", "CloudFormation")],
        "TestStaging": [("Invoke", "Lambda")],
        "ApproveProd": [("Approval", "Manual")],
        "DeployProd": [("Deploy", "CloudFormation")],
    }


@pytest.mark.parametrize("env", ENVS)
def test_pipeline_is_v2_on_the_kms_encrypted_artifact_bucket(
    synthesized: Synthesized, env: str
) -> None:
    props = _only(synthesized, env, "AWS::CodePipeline::Pipeline")["Properties"]
    assert props["PipelineType"] == "V2"
    assert props["ExecutionMode"] == "SUPERSEDED"
    assert props["RestartExecutionOnUpdate"] is False
    store = props["ArtifactStore"]
    assert _flat(store["Location"]) == f"mlops-demo-{env}-<AWS::AccountId>-eu-west-1"
    assert store["EncryptionKey"] == {"Id": {"Fn::ImportValue": _key_import(env)}, "Type": "KMS"}


def test_pipeline_is_exposed_for_the_approval_rule(synthesized: Synthesized) -> None:
    deploy = synthesized.stacks["dev"].deploy
    assert isinstance(deploy.pipeline, codepipeline.Pipeline)
    assert deploy.pipeline is deploy.deploy.pipeline
    lid = deploy.resolve(deploy.pipeline.pipeline_name)["Ref"]
    assert synthesized.templates["Dev-DeployStack"]["Resources"][lid]["Type"] == (
        "AWS::CodePipeline::Pipeline"
    )


@pytest.mark.parametrize("env", ENVS)
def test_commits_to_the_deploy_repository_start_the_pipeline(
    synthesized: Synthesized, env: str
) -> None:
    source = _stages(synthesized, env)["Source"][0]
    repo_id = _logical_id(synthesized, env, "AWS::CodeCommit::Repository", "ModelDeploySource")
    assert source["Configuration"] == {
        "RepositoryName": {"Fn::GetAtt": [repo_id, "Name"]},
        "BranchName": "main",
        "PollForSourceChanges": False,
    }
    assert source["OutputArtifacts"] == [{"Name": "DeployConfig"}]
    (rule,) = _resources(synthesized, env, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.codecommit"]
    assert pattern["detail"]["referenceName"] == ["main"]
    pipeline_id = _logical_id(synthesized, env, "AWS::CodePipeline::Pipeline", "ModelDeploy")
    (target,) = rule["Properties"]["Targets"]
    assert pipeline_id in _flat(target["Arn"])


@pytest.mark.parametrize("env", ENVS)
def test_endpoint_templates_come_from_the_staged_asset_without_a_trigger(
    synthesized: Synthesized, env: str
) -> None:
    templates = _stages(synthesized, env)["Source"][1]
    config = templates["Configuration"]
    assert config["S3Bucket"] == {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-eu-west-1"}
    assert config["PollForSourceChanges"] is False
    assert templates["OutputArtifacts"] == [{"Name": "EndpointTemplates"}]
    staged = _asset_dir(synthesized, config["S3ObjectKey"])
    assert sorted(p.name for p in staged.iterdir()) == [
        "prod.json",
        "prod.schema.json",
        "staging.json",
        "staging.schema.json",
    ]
    in_memory = synthesized.stacks[env].deploy.deploy.templates
    for stage in ("staging", "prod"):
        text = (staged / f"{stage}.json").read_text()
        assert text == json.dumps(in_memory[stage], indent=2, sort_keys=True) + "\n"
        # The config check's schema comes from the same template: they cannot drift.
        schema = json.loads((staged / f"{stage}.schema.json").read_text())
        assert schema == config_file_schema(in_memory[stage]["Parameters"], _wiring(env))


def _wiring(env: str) -> list[str]:
    wiring = ["ModelPackageArn", "ModelExecutionRoleArn", "KmsKeyArn"]
    if env == "prod":  # instance endpoints also capture data into the artifact bucket
        wiring.append("ArtifactBucketName")
    return wiring


@pytest.mark.parametrize("env", ENVS)
def test_resolve_action_exports_the_package_arn_under_the_resolve_namespace(
    synthesized: Synthesized, env: str
) -> None:
    action, _ = _stages(synthesized, env)["Resolve"]
    assert action["Namespace"] == "Resolve"
    function_id = _logical_id(synthesized, env, "AWS::Lambda::Function", "ResolveModelPackage")
    assert action["Configuration"]["FunctionName"] == {"Ref": function_id}
    assert json.loads(action["Configuration"]["UserParameters"]) == {
        "model_package_group_name": f"mlops-demo-{env}"
    }


@pytest.mark.parametrize("env", ENVS)
def test_both_config_files_are_checked_against_their_templates_before_staging(
    synthesized: Synthesized, env: str
) -> None:
    _, check = _stages(synthesized, env)["Resolve"]
    assert check["Name"] == "CheckDeployConfig"
    assert check["RunOrder"] == 1  # beside Resolve, before anything is deployed
    assert check["InputArtifacts"] == [{"Name": "DeployConfig"}, {"Name": "EndpointTemplates"}]
    function_id = _logical_id(synthesized, env, "AWS::Lambda::Function", "CheckDeployConfig")
    assert check["Configuration"]["FunctionName"] == {"Ref": function_id}
    assert json.loads(check["Configuration"]["UserParameters"]) == {
        "config_artifact": "DeployConfig",
        "templates_artifact": "EndpointTemplates",
        "stages": [
            {"config_file": f"{stage}-config.json", "schema_file": f"{stage}.schema.json"}
            for stage in ("staging", "prod")
        ],
        "at_least": {"AutoscalingMaxInstances": "InstanceCount"},
    }


@pytest.mark.parametrize(
    ("env", "stage", "mode", "replace"),
    [
        ("dev", "staging", "serverless", True),
        ("dev", "prod", "serverless", False),
        ("prod", "staging", "instance", True),
        ("prod", "prod", "instance", False),
    ],
)
def test_deploy_actions_carry_the_resolved_arn_and_the_stage_config_file(
    synthesized: Synthesized, env: str, stage: str, mode: str, replace: bool
) -> None:
    action = _action(synthesized, env, f"Deploy{stage.capitalize()}")
    config = action["Configuration"]
    assert config["StackName"] == f"mlops-demo-{env}-{stage}-endpoint"
    assert config["TemplatePath"] == f"EndpointTemplates::{stage}.json"
    assert config["TemplateConfiguration"] == f"DeployConfig::{stage}-config.json"
    assert config["ActionMode"] == ("REPLACE_ON_FAILURE" if replace else "CREATE_UPDATE")
    assert "Capabilities" not in config  # the endpoint template creates no IAM resources
    role_id = _logical_id(
        synthesized, env, "AWS::IAM::Role", f"ModelDeploy{stage.capitalize()}DeploymentRole"
    )
    assert config["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    model_role = _logical_id(synthesized, env, "AWS::IAM::Role", "ModelRole")
    expected = {
        "ModelPackageArn": RESOLVED_ARN,
        "ModelExecutionRoleArn": f"<{model_role}.Arn>",
        "KmsKeyArn": _key_import(env),
    }
    if mode == "instance":
        expected["ArtifactBucketName"] = f"mlops-demo-{env}-<AWS::AccountId>-eu-west-1"
    assert _overrides(action) == expected


@pytest.mark.parametrize("env", ENVS)
def test_staging_test_runs_against_the_staging_endpoint_with_the_same_arn(
    synthesized: Synthesized, env: str
) -> None:
    action = _action(synthesized, env, "TestStaging")
    assert action["Namespace"] == "TestStaging"
    function_id = _logical_id(synthesized, env, "AWS::Lambda::Function", "TestEndpoint")
    assert action["Configuration"]["FunctionName"] == {"Ref": function_id}
    assert json.loads(action["Configuration"]["UserParameters"]) == {
        "endpoint_name": f"mlops-demo-{env}-staging-endpoint",
        "model_package_arn": RESOLVED_ARN,
    }
    staging = synthesized.stacks[env].deploy.deploy.templates["staging"]
    assert staging["Resources"]["Endpoint"]["Properties"]["EndpointName"] == (
        f"mlops-demo-{env}-staging-endpoint"
    )


@pytest.mark.parametrize("env", ENVS)
def test_prod_approval_notifies_the_topic_with_the_package_and_a_console_link(
    synthesized: Synthesized, env: str
) -> None:
    action = _action(synthesized, env, "ApproveProd")
    config = action["Configuration"]
    assert config["NotificationArn"] == {
        "Fn::ImportValue": f"{env.capitalize()}-RegistryStack:"
        "ExportsOutputRefNotificationsTopicAE679CBD5DA074D6"
    }
    assert "#{Resolve.ModelPackageArn}" in config["CustomData"]
    assert "(version #{Resolve.ModelPackageVersion})" in config["CustomData"]
    assert "#{TestStaging.RowsTested} rows" in config["CustomData"]
    assert len(config["CustomData"]) <= 500  # CodePipeline's limit, before substitution too
    assert config["ExternalEntityLink"] == (
        "https://console.aws.amazon.com/sagemaker/home?region=eu-west-1"
        f"#/endpoints/mlops-demo-{env}-staging-endpoint"
    )


# ---------------------------------------------------------------------------------------------
# The model-deploy repository


@pytest.mark.parametrize("env", ENVS)
def test_repository_is_seeded_with_both_config_files_and_a_readme(
    synthesized: Synthesized, env: str, environments: dict[str, EnvironmentConfig]
) -> None:
    repo = _only(synthesized, env, "AWS::CodeCommit::Repository")
    assert repo["Properties"]["RepositoryName"] == f"mlops-demo-{env}-model-deploy"
    assert repo["Properties"]["Code"]["BranchName"] == "main"
    assert repo["DeletionPolicy"] == "Retain"
    content = _repository_content(synthesized, env)
    assert sorted(p.name for p in content.iterdir()) == [
        "README.md",
        "prod-config.json",
        "staging-config.json",
    ]
    readme = (content / "README.md").read_text()
    for name in (f"mlops-demo-{env}-staging-endpoint", f"mlops-demo-{env}-prod-endpoint"):
        assert name in readme
    config = environments[env]
    for stage in ("staging", "prod"):
        document = json.loads((content / f"{stage}-config.json").read_text())
        assert document["Tags"] == {"Project": "mlops-demo", "Environment": env, "Stage": stage}
        settings = config.staging_endpoint if stage == "staging" else config.prod_endpoint
        if settings.mode == "serverless":
            assert document["Parameters"] == {
                "ServerlessMemorySizeInMB": str(settings.serverless_memory_mb),
                "ServerlessMaxConcurrency": str(settings.serverless_max_concurrency),
            }


@pytest.mark.parametrize("env", ENVS)
def test_the_seeded_config_files_pass_their_own_check(synthesized: Synthesized, env: str) -> None:
    content = _repository_content(synthesized, env)
    templates = synthesized.stacks[env].deploy.deploy.templates
    for stage in ("staging", "prod"):
        schema = config_file_schema(templates[stage]["Parameters"], _wiring(env))
        document = json.loads((content / f"{stage}-config.json").read_text())
        validate = fastjsonschema.compile(schema)
        validate(document)
        # And the template's constraints are in it: a value outside them is caught.
        for name in document["Parameters"]:
            wrong = {**document, "Parameters": {**document["Parameters"], name: "0"}}
            with pytest.raises(fastjsonschema.JsonSchemaValueException, match=name):
                validate(wrong)


def test_config_file_values_come_from_the_environment_config(synthesized: Synthesized) -> None:
    dev = _repository_content(synthesized, "dev")
    prod = _repository_content(synthesized, "prod")

    def parameters(content: Path, stage: str) -> dict[str, str]:
        return dict(json.loads((content / f"{stage}-config.json").read_text())["Parameters"])

    assert parameters(dev, "staging") == {
        "ServerlessMemorySizeInMB": "2048",
        "ServerlessMaxConcurrency": "5",
    }
    assert parameters(prod, "staging") == {"InstanceType": "ml.m5.large", "InstanceCount": "1"}
    assert parameters(prod, "prod") == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": "2",
        "AutoscalingEnabled": "true",
        "AutoscalingMaxInstances": "4",
    }


@pytest.mark.parametrize("env", ENVS)
def test_config_files_set_exactly_the_template_parameters_the_pipeline_does_not(
    synthesized: Synthesized, env: str
) -> None:
    content = _repository_content(synthesized, env)
    templates = synthesized.stacks[env].deploy.deploy.templates
    for stage in ("staging", "prod"):
        action = _action(synthesized, env, f"Deploy{stage.capitalize()}")
        configured = set(json.loads((content / f"{stage}-config.json").read_text())["Parameters"])
        overridden = set(_overrides(action))
        assert configured.isdisjoint(overridden)
        assert configured | overridden == set(templates[stage]["Parameters"])


def test_variant_sizes_reach_the_config_files(variant: Synthesized) -> None:
    content = _repository_content(variant, "prod")
    document = json.loads((content / "staging-config.json").read_text())
    assert document["Parameters"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": "3"}


# ---------------------------------------------------------------------------------------------
# Lambda functions


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize(
    ("prefix", "code_dir", "timeout"),
    [
        ("ResolveModelPackage", "resolve_model_package", 60),
        ("CheckDeployConfig", "check_deploy_config", 60),
        ("TestEndpoint", "test_endpoint", 300),
    ],
)
def test_functions_log_json_to_their_own_encrypted_log_group(
    synthesized: Synthesized, env: str, prefix: str, code_dir: str, timeout: int
) -> None:
    function_id = _logical_id(synthesized, env, "AWS::Lambda::Function", prefix)
    props = synthesized.templates[STACK[env]]["Resources"][function_id]["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Handler"] == "handler.lambda_handler"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] == timeout
    assert props["Environment"] == {"Variables": {"LOG_LEVEL": "INFO"}}
    log_group_id = _logical_id(synthesized, env, "AWS::Logs::LogGroup", f"{prefix}Logs")
    assert props["LoggingConfig"] == {
        "ApplicationLogLevel": "INFO",  # the same as LOG_LEVEL: Powertools lets it win
        "LogFormat": "JSON",
        "LogGroup": {"Ref": log_group_id},
    }
    role_id = _logical_id(synthesized, env, "AWS::IAM::Role", f"{prefix}Role")
    assert props["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "ReservedConcurrentExecutions" not in props
    log_group = synthesized.templates[STACK[env]]["Resources"][log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 90
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::ImportValue": _key_import(env)}
    assert log_group["DeletionPolicy"] == "Retain"
    code = _asset_dir(synthesized, props["Code"]["S3Key"])
    repo_code = Path(__file__).resolve().parents[2] / "lambdas" / code_dir
    assert (code / "handler.py").read_text() == (repo_code / "handler.py").read_text()
    assert not (code / "__pycache__").exists()
    # Powertools from the AWS-published layer of the stack's region, pinned to one version;
    # the shared code from the project's layer, as /opt/python/codepipeline_job.py.
    (layer_id,) = _resources(synthesized, env, "AWS::Lambda::LayerVersion")
    # (In no particular order: the two layers share no file.)
    assert sorted(map(json.dumps, props["Layers"])) == sorted(
        map(
            json.dumps,
            [
                {"Ref": layer_id},
                layer_reference(runtime=RUNTIME.name, architecture=ARCHITECTURE.name),
            ],
        )
    )


@pytest.mark.parametrize("env", ENVS)
def test_the_shared_job_layer_ships_its_python_folder(synthesized: Synthesized, env: str) -> None:
    (layer,) = _resources(synthesized, env, "AWS::Lambda::LayerVersion").values()
    props = layer["Properties"]
    assert props["CompatibleRuntimes"] == ["python3.14"]
    assert props["CompatibleArchitectures"] == ["arm64"]
    content = _asset_dir(synthesized, props["Content"]["S3Key"])
    repo_modules = Path(__file__).resolve().parents[2] / "lambdas" / "shared" / "python"
    for name in ("codepipeline_job.py", "shared_runtime.py"):
        assert (content / "python" / name).read_text() == (repo_modules / name).read_text()


# ---------------------------------------------------------------------------------------------
# IAM: the exact permissions of every role a user would audit


@pytest.mark.parametrize("env", ENVS)
def test_no_role_has_managed_policies(synthesized: Synthesized, env: str) -> None:
    roles = _resources(synthesized, env, "AWS::IAM::Role")
    assert roles
    assert {lid: r["Properties"].get("ManagedPolicyArns") for lid, r in roles.items()} == {
        lid: None for lid in roles
    }


@pytest.mark.parametrize("env", ENVS)
def test_resolve_function_can_list_and_describe_its_groups_packages_only(
    synthesized: Synthesized, env: str
) -> None:
    log_group = _logical_id(synthesized, env, "AWS::Logs::LogGroup", "ResolveModelPackageLogs")
    assert _statements(synthesized, env, "ResolveModelPackageRole") == {
        (("logs:CreateLogStream", "logs:PutLogEvents"), (f"<{log_group}.Arn>",), _no_condition()),
        (("sagemaker:ListModelPackages",), ("*",), _no_condition()),
        (
            ("sagemaker:DescribeModelPackage",),
            (_arn("sagemaker", f"model-package/mlops-demo-{env}/*"),),
            _no_condition(),
        ),
        (
            ("codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"),
            ("*",),
            _no_condition(),
        ),
    }


@pytest.mark.parametrize("env", ENVS)
def test_config_checker_role_only_logs_and_reports(synthesized: Synthesized, env: str) -> None:
    # It reads the artifacts with the job's own credentials: its role needs no S3 or KMS.
    log_group = _logical_id(synthesized, env, "AWS::Logs::LogGroup", "CheckDeployConfigLogs")
    assert _statements(synthesized, env, "CheckDeployConfigRole") == {
        (("logs:CreateLogStream", "logs:PutLogEvents"), (f"<{log_group}.Arn>",), _no_condition()),
        (
            ("codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"),
            ("*",),
            _no_condition(),
        ),
    }


@pytest.mark.parametrize("env", ENVS)
def test_test_function_reaches_the_staging_endpoint_and_sample_payloads_only(
    synthesized: Synthesized, env: str
) -> None:
    log_group = _logical_id(synthesized, env, "AWS::Logs::LogGroup", "TestEndpointLogs")
    assert _statements(synthesized, env, "TestEndpointRole") == {
        (("logs:CreateLogStream", "logs:PutLogEvents"), (f"<{log_group}.Arn>",), _no_condition()),
        (
            ("sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"),
            (_arn("sagemaker", f"endpoint/mlops-demo-{env}-staging-endpoint"),),
            _no_condition(),
        ),
        (
            ("sagemaker:DescribeModelPackage",),
            (_arn("sagemaker", f"model-package/mlops-demo-{env}/*"),),
            _no_condition(),
        ),
        (("s3:GetObject",), (f"{_bucket(env)}/pipelines/*",), _no_condition()),
        (("kms:Decrypt",), (_key_import(env),), _via_s3()),
        (
            ("codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"),
            ("*",),
            _no_condition(),
        ),
    }


@pytest.mark.parametrize(("env", "captures"), [("dev", False), ("prod", True)])
def test_model_role_reads_artifacts_pulls_xgboost_and_writes_endpoint_logs(
    synthesized: Synthesized, env: str, captures: bool
) -> None:
    role = _only_role(synthesized, env, "ModelRole")
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
        }
    ]
    log_groups = tuple(
        sorted(
            _arn("logs", f"log-group:/aws/sagemaker/Endpoints/mlops-demo-{env}-{stage}-endpoint:*")
            for stage in ("staging", "prod")
        )
    )
    expected = {
        (("s3:GetObject",), (f"{_bucket(env)}/pipelines/*",), _no_condition()),
        (("kms:Decrypt",), (_key_import(env),), _via_s3()),
        (
            (
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ),
            (f"{PARTITION}:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost",),
            _no_condition(),
        ),
        (("ecr:GetAuthorizationToken",), ("*",), _no_condition()),
        (
            (
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
            ),
            log_groups,
            _no_condition(),
        ),
    }
    if captures:
        expected |= {
            (("s3:PutObject",), (f"{_bucket(env)}/data-capture/*",), _no_condition()),
            (("kms:GenerateDataKey",), (_key_import(env),), _via_s3()),
        }
    assert _statements(synthesized, env, "ModelRole") == expected


@pytest.mark.parametrize(
    ("env", "stage", "blue_green"),
    [
        ("dev", "staging", False),
        ("dev", "prod", False),
        ("prod", "staging", False),
        ("prod", "prod", True),
    ],
)
def test_deployment_roles_manage_only_their_own_endpoint(
    synthesized: Synthesized, env: str, stage: str, blue_green: bool
) -> None:
    # Every prod role manages alarms and scaling: a switch from instances to serverless
    # must be able to delete what the instance endpoint had.
    manages_scaling = stage == "prod"
    prefix = f"ModelDeploy{stage.capitalize()}DeploymentRole"
    role = _only_role(synthesized, env, prefix)
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "cloudformation.amazonaws.com"
    }
    name = f"mlops-demo-{env}-{stage}-endpoint"
    endpoint = _arn("sagemaker", f"endpoint/{name}")
    models = (_arn("sagemaker", "endpoint-config/*"), _arn("sagemaker", "model/*"))
    model_role = _logical_id(synthesized, env, "AWS::IAM::Role", "ModelRole")
    endpoint_actions = [
        "sagemaker:CreateEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:DescribeEndpoint",
        "sagemaker:UpdateEndpoint",
    ]
    if blue_green:
        endpoint_actions.append("sagemaker:UpdateEndpointWeightsAndCapacities")
    expected = {
        (tuple(endpoint_actions), (endpoint,), _no_condition()),
        (
            (
                "sagemaker:CreateEndpointConfig",
                "sagemaker:CreateModel",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:DeleteModel",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DescribeModel",
            ),
            models,
            _no_condition(),
        ),
        # SageMaker authorizes CreateEndpoint/UpdateEndpoint on the endpoint config as well.
        (
            ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"),
            (models[0],),
            _no_condition(),
        ),
        (
            ("sagemaker:AddTags", "sagemaker:DeleteTags", "sagemaker:ListTags"),
            (models[0], endpoint, models[1]),
            _no_condition(),
        ),
        (
            ("sagemaker:DescribeModelPackage",),
            (_arn("sagemaker", f"model-package/mlops-demo-{env}/*"),),
            _no_condition(),
        ),
        (
            ("iam:PassRole",),
            (f"<{model_role}.Arn>",),
            json.dumps({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
        ),
        (("kms:CreateGrant", "kms:DescribeKey"), (_key_import(env),), _no_condition()),
    }
    if manages_scaling:
        # A serverless prod endpoint keeps only what removing them needs (a mode switch).
        alarm_actions = ["DeleteAlarms", "DescribeAlarms"]
        scaling_writes = ["DeleteScalingPolicy", "DeregisterScalableTarget"]
        scaling_reads = ["DescribeScalableTargets", "DescribeScalingPolicies"]
        if blue_green:
            alarm_actions += [
                "ListTagsForResource",
                "PutMetricAlarm",
                "TagResource",
                "UntagResource",
            ]
            scaling_writes += ["PutScalingPolicy", "RegisterScalableTarget"]
            scaling_reads += ["DescribeScalingActivities"]
            expected.add(
                (
                    tuple(
                        f"application-autoscaling:{a}"
                        for a in ("ListTagsForResource", "TagResource", "UntagResource")
                    ),
                    (SCALABLE_TARGETS,),
                    _no_condition(),
                )
            )
        expected |= {
            (
                tuple(sorted(f"cloudwatch:{a}" for a in alarm_actions)),
                (
                    _arn(
                        "cloudwatch", f"alarm:TargetTracking-endpoint/{name}/variant/AllTraffic-*"
                    ),
                    _arn("cloudwatch", f"alarm:{name}-*"),
                ),
                _no_condition(),
            ),
            (
                tuple(sorted(f"application-autoscaling:{a}" for a in scaling_writes)),
                (SCALABLE_TARGETS,),
                SAGEMAKER_VARIANTS_ONLY,
            ),
            (
                tuple(sorted(f"application-autoscaling:{a}" for a in scaling_reads)),
                ("*",),
                _no_condition(),
            ),
        }
    if blue_green:
        expected |= {
            (
                ("iam:CreateServiceLinkedRole",),
                (
                    f"{PARTITION}:iam::<AWS::AccountId>:role/aws-service-role/"
                    "sagemaker.application-autoscaling.amazonaws.com/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
                ),
                json.dumps(
                    {
                        "StringEquals": {
                            "iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"
                        }
                    }
                ),
            ),
        }
    assert _statements(synthesized, env, prefix) == expected


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_deploy_action_roles_touch_only_their_own_stack_and_deployment_role(
    synthesized: Synthesized, env: str, stage: str
) -> None:
    action = _action(synthesized, env, f"Deploy{stage.capitalize()}")
    action_role = action["RoleArn"]["Fn::GetAtt"][0]
    deployment_role = _logical_id(
        synthesized, env, "AWS::IAM::Role", f"ModelDeploy{stage.capitalize()}DeploymentRole"
    )
    statements = _statements(synthesized, env, action_role)
    by_service = {
        actions[0].split(":")[0]: resources
        for actions, resources, _ in statements
        if actions[0].startswith(("cloudformation:", "iam:"))
    }
    assert by_service == {
        "cloudformation": (_arn("cloudformation", f"stack/mlops-demo-{env}-{stage}-endpoint/*"),),
        "iam": (f"<{deployment_role}.Arn>",),
    }
    cfn_actions = {
        a for actions, _, _ in statements for a in actions if a.startswith("cloudformation:")
    }
    # Only the staging stack may be deleted and recreated after a failed first create.
    assert ("cloudformation:DeleteStack" in cfn_actions) == (stage == "staging")


@pytest.mark.parametrize("env", ENVS)
def test_star_resources_only_where_the_api_has_no_resource_level_permissions(
    synthesized: Synthesized, env: str
) -> None:
    allowed = {
        "codepipeline:PutJobSuccessResult",
        "codepipeline:PutJobFailureResult",
        "sagemaker:ListModelPackages",
        "ecr:GetAuthorizationToken",
        "lambda:ListFunctions",
    }
    star_actions = set()
    for policy in _resources(synthesized, env, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert "*" not in actions
            assert not any(a.startswith("sagemaker:*") or a.endswith(":*") for a in actions)
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            if "*" in resources:
                star_actions.update(actions)
    autoscaling = {a for a in star_actions if a.startswith("application-autoscaling:")}
    assert star_actions - autoscaling <= allowed
    # Only Application Auto Scaling's Describe calls lack resource-level permissions, and only
    # the prod endpoint's deployment role (either mode: it may have to remove a scaling
    # target) holds any of its actions.
    assert autoscaling
    assert {a.split(":")[1] for a in autoscaling} <= {
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "DescribeScalingActivities",
    }
    holders = {
        role_id["Ref"]
        for policy in _resources(synthesized, env, "AWS::IAM::Policy").values()
        if any(
            str(action).startswith("application-autoscaling:")
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            for action in as_list(statement["Action"])
        )
        for role_id in policy["Properties"]["Roles"]
    }
    assert len(holders) == 1
    assert holders.pop().startswith("ModelDeployProdDeploymentRole")


@pytest.mark.parametrize("env", ENVS)
def test_autoscaling_writes_are_limited_to_sagemaker_variants(
    synthesized: Synthesized, env: str
) -> None:
    """Register/Deregister/Put/Delete support the service-namespace and scalable-dimension
    keys (IAM service authorization reference), so every grant of them carries both."""
    writes = {
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DeleteScalingPolicy",
    }
    granted = []
    for policy in _resources(synthesized, env, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = set(as_list(statement["Action"]))
            if actions & writes:
                assert actions <= writes
                granted.append(
                    (
                        [_flat(r) for r in as_list(statement["Resource"])],
                        json.dumps(statement.get("Condition"), sort_keys=True),
                    )
                )
    assert granted == [([SCALABLE_TARGETS], SAGEMAKER_VARIANTS_ONLY)]


# ---------------------------------------------------------------------------------------------
# CodeConnections instead of CodeCommit


def test_codeconnections_source_replaces_the_codecommit_repository(variant: Synthesized) -> None:
    assert _resources(variant, "dev", "AWS::CodeCommit::Repository") == {}
    source, templates = _stages(variant, "dev")["Source"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == CONNECTION
    assert source["Configuration"]["FullRepositoryId"] == "acme/churn-model-deploy"
    assert source["Configuration"]["BranchName"] == "main"
    assert source["OutputArtifacts"] == [{"Name": "DeployConfig"}]
    assert templates["ActionTypeId"]["Provider"] == "S3"
    deploy = _action(variant, "dev", "DeployStaging")
    assert deploy["Configuration"]["TemplateConfiguration"] == "DeployConfig::staging-config.json"
    # The prod environment keeps its CodeCommit repository.
    assert len(_resources(variant, "prod", "AWS::CodeCommit::Repository")) == 1
