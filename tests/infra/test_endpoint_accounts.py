"""Staging and prod endpoints in accounts of their own (issue 15): who may do what, where."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from components.deployment.endpoint_stack import EndpointStage
from components.training.training_pipeline import OUTPUT_PREFIX, TRAINED_MODELS
from pipeline_code.template import load_template
from tests.infra.conftest import (
    BUILD_ACCOUNT,
    NETWORK_SUBNETS,
    PROD_ACCOUNT,
    STAGING_ACCOUNT,
    Synthesized,
    as_list,
    flatten,
)
from tests.infra.test_network import SAGEMAKER_VPC, _all_steps, _definition, _ec2_statements

TARGETS: dict[EndpointStage, str] = {"staging": STAGING_ACCOUNT, "prod": PROD_ACCOUNT}
PREFIX = "mlops-demo-dev"


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{PREFIX}-{name}"


def target_role(stage: EndpointStage, kind: str) -> str:
    return role(TARGETS[stage], f"{stage}-{kind}")


def account_stack(stage: str) -> str:
    return f"Dev-{stage.capitalize()}EndpointAccountStack"


def principal_accounts(statement: dict[str, Any]) -> set[str]:
    """The account ids of a statement's AWS principals (``arn:<partition>:iam::<id>:root``)."""
    accounts = set()
    for principal in as_list(statement["Principal"]["AWS"]):
        match = re.fullmatch(r"arn:[^:]+(?:::[^:]+)?:iam::([0-9]{12}):root", flatten(principal))
        # Never a role ARN: KMS and S3 refuse a policy naming a role that does not exist yet.
        assert match is not None, principal
        accounts.add(match.group(1))
    return accounts


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def resource_policies(synth: Synthesized) -> dict[str, list[dict[str, Any]]]:
    """The build account's bucket, key and model package group policies."""
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in synth.templates["Dev-RegistryStack"]["Resources"].values():
        props = resource["Properties"]
        document = {
            "AWS::S3::BucketPolicy": props.get("PolicyDocument"),
            "AWS::KMS::Key": props.get("KeyPolicy"),
            "AWS::SageMaker::ModelPackageGroup": props.get("ModelPackageGroupPolicy"),
        }.get(resource["Type"])
        if document is not None:
            found.setdefault(resource["Type"], []).extend(statements(document))
    return found


# ---------------------------------------------------------------------------------------------
# Stacks and accounts


def test_each_target_account_gets_a_stack_of_its_own(three_accounts: Synthesized) -> None:
    accounts = {
        stack.stack_name: stack.environment.account for stack in three_accounts.assembly.stacks
    }
    assert accounts[account_stack("staging")] == STAGING_ACCOUNT
    assert accounts[account_stack("prod")] == PROD_ACCOUNT
    for kind in ("Registry", "Pipeline", "Deploy", "Trigger", "Monitor"):
        assert accounts[f"Dev-{kind}Stack"] == BUILD_ACCOUNT
    # Prod's environment is untouched: no account stacks of its own.
    assert not any(name.startswith("Prod-") and "EndpointAccount" in name for name in accounts)


def test_the_default_single_account_layout_has_no_cross_account_access(
    synthesized: Synthesized,
) -> None:
    assert not any("EndpointAccount" in name for name in synthesized.templates)
    for policy in resource_policies(synthesized).values():
        assert not any("ServingAccounts" in s.get("Sid", "") for s in policy)
    group = synthesized.resources("Dev-RegistryStack", "AWS::SageMaker::ModelPackageGroup")
    assert all("ModelPackageGroupPolicy" not in r["Properties"] for r in group.values())


# ---------------------------------------------------------------------------------------------
# The build account's resource policies


def test_resource_policies_name_exactly_the_two_target_accounts(
    three_accounts: Synthesized,
) -> None:
    policies = resource_policies(three_accounts)
    cross_account = [
        s
        for policy in policies.values()
        for s in policy
        if isinstance(s.get("Principal"), dict)
        and "AWS" in s["Principal"]
        and any(account in json.dumps(s["Principal"]) for account in TARGETS.values())
    ]
    assert {account for s in cross_account for account in principal_accounts(s)} == set(
        TARGETS.values()
    )
    allowed_roles = {
        target_role(stage, kind)
        for stage in TARGETS
        for kind in ("model", "deploy-action", "deployer")
    }
    for statement in cross_account:
        assert statement["Effect"] == "Allow"
        pinned = as_list(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"])
        assert set(pinned) <= allowed_roles, statement["Sid"]
        # Every pinned role belongs to an account the statement names, and vice versa.
        assert {arn.split(":")[4] for arn in pinned} == principal_accounts(statement)


def test_the_bucket_lets_serving_accounts_read_models_and_pipeline_artifacts_only(
    three_accounts: Synthesized,
) -> None:
    bucket = {
        s["Sid"]: s
        for s in resource_policies(three_accounts)["AWS::S3::BucketPolicy"]
        if "Sid" in s
    }
    reads = bucket["ServingAccountsReadModels"]
    assert as_list(reads["Action"]) == ["s3:GetObject"]
    # The trained models only: not the splits, reports and baselines beside them.
    assert flatten(reads["Resource"]).endswith("/pipelines/*/Train/*")
    artifacts = bucket["ServingAccountsReadDeployArtifacts"]
    assert sorted(as_list(artifacts["Action"])) == ["s3:GetObject", "s3:GetObjectVersion"]
    # CodePipeline's folder: the first 20 characters of the deploy pipeline's name.
    assert flatten(artifacts["Resource"]).endswith(f"/{f'{PREFIX}-model-deploy'[:20]}/*")
    assert as_list(artifacts["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == sorted(
        target_role(stage, "deploy-action") for stage in TARGETS
    )
    for stage in TARGETS:
        capture = bucket[f"{stage.capitalize()}AccountWritesCapturedData"]
        assert as_list(capture["Action"]) == ["s3:PutObject"]
        assert flatten(capture["Resource"]).endswith(f"/data-capture/{stage}/*")
        assert capture["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
            target_role(stage, "model")
        ]
    writes = {
        action
        for s in bucket.values()
        if "ServingAccounts" in s["Sid"] or "AccountWrites" in s["Sid"]
        for action in as_list(s["Action"])
    }
    assert writes == {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}


def test_the_key_is_usable_through_s3_and_for_endpoint_storage_grants_only(
    three_accounts: Synthesized,
) -> None:
    key = [
        s
        for s in resource_policies(three_accounts)["AWS::KMS::Key"]
        if "Serving" in s.get("Sid", "")
    ]
    # Decrypt twice: the model roles (models) and the deploy action roles (artifacts).
    assert sorted(action for s in key for action in as_list(s["Action"])) == [
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKey",
    ]
    for statement in key:
        action = as_list(statement["Action"])[0]
        if action in {"kms:Decrypt", "kms:GenerateDataKey"}:
            assert (
                statement["Condition"]["StringEquals"]["kms:ViaService"]
                == "s3.eu-west-1.amazonaws.com"
            )
        if action == "kms:CreateGrant":
            assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
            assert as_list(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == sorted(
                target_role(stage, "deployer") for stage in TARGETS
            )


def test_the_model_package_group_lets_the_deployers_describe_its_versions_only(
    three_accounts: Synthesized,
) -> None:
    (statement,) = resource_policies(three_accounts)["AWS::SageMaker::ModelPackageGroup"]
    assert statement["Action"] == "sagemaker:DescribeModelPackage"
    assert flatten(statement["Resource"]).endswith(f":model-package/{PREFIX}/*")
    assert as_list(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == sorted(
        target_role(stage, "deployer") for stage in TARGETS
    )


# ---------------------------------------------------------------------------------------------
# The deploy pipeline


def pipeline(synth: Synthesized) -> dict[str, Any]:
    (resource,) = synth.resources("Dev-DeployStack", "AWS::CodePipeline::Pipeline").values()
    return dict(resource["Properties"])


def test_deploy_actions_run_as_roles_of_the_target_accounts(three_accounts: Synthesized) -> None:
    actions = {
        action["Name"]: action
        for stage in pipeline(three_accounts)["Stages"]
        for action in stage["Actions"]
    }
    for stage in TARGETS:
        action = actions[f"Deploy{stage.capitalize()}Endpoint"]
        assert action["RoleArn"] == target_role(stage, "deploy-action")
        configuration = action["Configuration"]
        assert configuration["RoleArn"] == target_role(stage, "deployer")
        overrides = json.loads(flatten(configuration["ParameterOverrides"]))
        assert overrides["ModelExecutionRoleArn"] == target_role(stage, "model")
    test = json.loads(actions["TestStagingEndpoint"]["Configuration"]["UserParameters"])
    assert test["role_arn"] == target_role("staging", "tester")


def test_the_pipeline_role_is_named_and_may_assume_only_the_action_roles_there(
    three_accounts: Synthesized,
) -> None:
    roles = three_accounts.resources("Dev-DeployStack", "AWS::IAM::Role")
    names = {r["Properties"].get("RoleName") for r in roles.values()}
    assert {f"{PREFIX}-deploy-pipeline", f"{PREFIX}-endpoint-test"} <= names
    assert pipeline(three_accounts)["Name"] == f"{PREFIX}-model-deploy"
    cross_account = {
        resource
        for policy in three_accounts.resources("Dev-DeployStack", "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "sts:AssumeRole"
        for resource in as_list(s["Resource"])
        if isinstance(resource, str)
    }
    assert cross_account == {
        target_role("staging", "deploy-action"),
        target_role("prod", "deploy-action"),
        target_role("staging", "tester"),
    }


# ---------------------------------------------------------------------------------------------
# The target accounts' roles


def trust(resource: dict[str, Any]) -> dict[str, Any]:
    (statement,) = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    return dict(statement)


@pytest.mark.parametrize("stage", TARGETS)
def test_each_role_there_trusts_exactly_one_build_account_role_or_service(
    three_accounts: Synthesized, stage: EndpointStage
) -> None:
    roles = {
        r["Properties"]["RoleName"]: trust(r)
        for r in three_accounts.resources(account_stack(stage), "AWS::IAM::Role").values()
    }
    expected_principals = {
        "deploy-action": role(BUILD_ACCOUNT, "deploy-pipeline"),
        "reader": role(BUILD_ACCOUNT, "drift-check"),
        **({"tester": role(BUILD_ACCOUNT, "endpoint-test")} if stage == "staging" else {}),
    }
    services = {"deployer": "cloudformation.amazonaws.com", "model": "sagemaker.amazonaws.com"}
    assert set(roles) == {f"{PREFIX}-{stage}-{kind}" for kind in [*expected_principals, *services]}
    for kind, principal in expected_principals.items():
        statement = roles[f"{PREFIX}-{stage}-{kind}"]
        assert principal_accounts(statement) == {BUILD_ACCOUNT}
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": principal}}
    for kind, service in services.items():
        assert roles[f"{PREFIX}-{stage}-{kind}"]["Principal"] == {"Service": service}


def policy_of(synth: Synthesized, stack: str, role_name: str) -> list[dict[str, Any]]:
    roles = synth.resources(stack, "AWS::IAM::Role")
    (logical_id,) = [lid for lid, r in roles.items() if r["Properties"]["RoleName"] == role_name]
    return [
        s
        for policy in synth.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": logical_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_action_role_deploys_its_endpoint_stack_and_reads_pipeline_artifacts_only(
    three_accounts: Synthesized,
) -> None:
    statements = {
        s["Sid"]: s
        for s in policy_of(three_accounts, account_stack("prod"), f"{PREFIX}-prod-deploy-action")
    }
    deploy = statements["DeployTheEndpointStack"]
    assert flatten(deploy["Resource"]).endswith(f":{PROD_ACCOUNT}:stack/{PREFIX}-prod-endpoint/*")
    # Prod is never deleted by the pipeline (staging's failed first create is replaced).
    assert "cloudformation:DeleteStack" not in deploy["Action"]
    staging = {
        s["Sid"]: s
        for s in policy_of(
            three_accounts, account_stack("staging"), f"{PREFIX}-staging-deploy-action"
        )
    }
    assert "cloudformation:DeleteStack" in staging["DeployTheEndpointStack"]["Action"]
    assert statements["PassTheDeployerRole"]["Resource"] == {
        "Fn::GetAtt": [
            next(
                lid
                for lid, r in three_accounts.resources(
                    account_stack("prod"), "AWS::IAM::Role"
                ).items()
                if r["Properties"]["RoleName"] == f"{PREFIX}-prod-deployer"
            ),
            "Arn",
        ]
    }
    artifacts = flatten(statements["ReadPipelineArtifacts"]["Resource"])
    assert artifacts.startswith(f"arn:<AWS::Partition>:s3:::{PREFIX}-{BUILD_ACCOUNT}-eu-west-1/")
    assert statements["DecryptPipelineArtifacts"]["Resource"] == (
        f"arn:aws:kms:eu-west-1:{BUILD_ACCOUNT}:key/*"
    )


def test_the_model_role_there_reads_models_and_writes_capture_in_the_build_bucket(
    three_accounts: Synthesized,
) -> None:
    statements = {
        s["Sid"]: s
        for s in policy_of(three_accounts, account_stack("staging"), f"{PREFIX}-staging-model")
    }
    bucket = f"arn:<AWS::Partition>:s3:::{PREFIX}-{BUILD_ACCOUNT}-eu-west-1"
    assert flatten(statements["ReadModelArtifactsObjects"]["Resource"]) == (
        f"{bucket}/pipelines/*/Train/*"
    )
    assert flatten(statements["WriteCapturedData"]["Resource"]) == f"{bucket}/data-capture/*"


# ---------------------------------------------------------------------------------------------
# Compliance and snapshot of the whole layout


def test_the_layout_is_cdk_nag_clean(three_accounts: Synthesized) -> None:
    # cfn-lint: test_compliance.py lints these templates with every other one, in one run.
    assembly = Path(three_accounts.assembly.directory)
    report = json.loads((assembly / "validation-report.json").read_text())
    assert [v for p in report.get("pluginReports", []) for v in p.get("violations", [])] == []


# ---------------------------------------------------------------------------------------------
# The same layout in a VPC (shared subnets, the same ids in every account)


def test_every_step_model_and_function_of_the_layout_runs_in_the_subnets(
    three_accounts: Synthesized,
) -> None:
    steps = [
        s for s in _all_steps(_definition(three_accounts)["Steps"]) if s["Type"] != "Condition"
    ]
    jobs = [s for s in steps if s["Type"] in ("Processing", "Training")]
    assert len(jobs) == 3
    for step in jobs:
        arguments = step["Arguments"]
        assert (arguments.get("NetworkConfig") or arguments)["VpcConfig"] == SAGEMAKER_VPC
    for stage in TARGETS:
        template = three_accounts.stacks["dev"].deploy.deploy.templates[stage]
        (model,) = [
            r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"
        ]
        assert model["Properties"]["VpcConfig"] == SAGEMAKER_VPC
    functions = [
        function
        for stack in three_accounts.templates
        if stack.startswith("Dev-")
        for function in three_accounts.resources(stack, "AWS::Lambda::Function").values()
    ]
    assert functions
    assert all(f["Properties"]["VpcConfig"]["SubnetIds"] == NETWORK_SUBNETS for f in functions)


@pytest.mark.parametrize("stage", TARGETS)
def test_the_model_role_there_may_attach_interfaces_in_the_subnets(
    three_accounts: Synthesized, stage: EndpointStage
) -> None:
    # SageMaker creates the endpoint's network interfaces with the model role of its account.
    ec2 = _ec2_statements(three_accounts.templates[account_stack(stage)])
    created = [s for s in ec2 if "ec2:CreateNetworkInterface" in as_list(s["Action"])]
    assert created
    subnets = {
        resource
        for s in created
        for resource in map(flatten, as_list(s["Resource"]))
        if ":subnet/" in resource
    }
    assert {arn.rsplit("/", 1)[1] for arn in subnets} == set(NETWORK_SUBNETS)
    assert all(f":{TARGETS[stage]}:subnet/" in arn or "<AWS::AccountId>" in arn for arn in subnets)


def test_a_mixed_layout_deploys_staging_there_and_prod_here(
    synthesize_variant: Any,
) -> None:
    mixed = synthesize_variant(
        {"prod.account": BUILD_ACCOUNT, "prod.staging_endpoint.account": STAGING_ACCOUNT}
    )
    assert [name for name in mixed.templates if "EndpointAccount" in name] == [
        "Prod-StagingEndpointAccountStack"
    ]
    (resource,) = mixed.resources("Prod-DeployStack", "AWS::CodePipeline::Pipeline").values()
    actions = {
        action["Name"]: action
        for stage in resource["Properties"]["Stages"]
        for action in stage["Actions"]
    }
    staging, prod = actions["DeployStagingEndpoint"], actions["DeployProdEndpoint"]
    assert (
        staging["RoleArn"] == "arn:aws:iam::222222222222:role/mlops-demo-prod-staging-deploy-action"
    )
    # Prod stays in the build account: the pipeline's own action role and deployer role.
    assert flatten(prod["RoleArn"]).startswith("<")
    assert flatten(prod["Configuration"]["RoleArn"]).startswith("<")
    overrides = json.loads(flatten(prod["Configuration"]["ParameterOverrides"]))
    assert overrides["ModelExecutionRoleArn"].startswith("<")
    roles = mixed.resources("Prod-DeployStack", "AWS::IAM::Role")
    assert any(lid.startswith("ModelRole") for lid in roles)


@pytest.mark.parametrize("spot", [False, True])
def test_trained_models_is_where_the_train_step_writes(spot: bool) -> None:
    # What another account may read must follow the definition: the Train step's output path
    # is <bucket>/pipelines/<pipeline>/<execution>/Train (then SageMaker's job folders).
    steps = load_template(spot=spot)["Steps"]
    (train,) = [step for step in steps if step["Type"] == "Training"]
    path = train["Arguments"]["OutputDataConfig"]["S3OutputPath"]["Std:Join"]
    values = path["Values"]
    assert path["On"] == "/"
    assert values[0].endswith("/" + OUTPUT_PREFIX.rstrip("/"))
    assert [v["Get"] for v in values[1:3]] == [
        "Execution.PipelineName",
        "Execution.PipelineExecutionId",
    ]
    assert f"{OUTPUT_PREFIX}*/{values[3]}/*" == TRAINED_MODELS
