"""Private networking: with `network` set, every job, endpoint model, function and build of
the environment runs in its subnets, and only then do roles get the EC2 interface grants.

The network variant is dev's three-account layout in shared subnets (its cdk-nag and cfn-lint
checks: test_endpoint_accounts.py, test_compliance.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from components.deployment.endpoint_stack import EndpointStage
from components.deployment.model_hosting_role import ModelHostingRole
from components.training.model_build_pipeline import place_project_in_network
from config.network_settings import NetworkSettings
from tests.infra.conftest import (
    BUILD_ACCOUNT,
    NETWORK_SECURITY_GROUPS,
    NETWORK_SUBNETS,
    PROD_ACCOUNT,
    STAGING_ACCOUNT,
    Synthesized,
    as_list,
    flatten,
)

SAGEMAKER_VPC = {"Subnets": NETWORK_SUBNETS, "SecurityGroupIds": NETWORK_SECURITY_GROUPS}
DEV_STACKS = [
    f"Dev-{kind}Stack" for kind in ("Registry", "Pipeline", "Deploy", "Trigger", "Monitor")
]
PROD_STACKS = [name.replace("Dev-", "Prod-") for name in DEV_STACKS]
# The network variant is the three-account layout (tests/infra/conftest.py).
ACCOUNT_STACKS = [f"Dev-{stage}EndpointAccountStack" for stage in ("Staging", "Prod")]


def _definition(synthesized: Synthesized) -> dict[str, Any]:
    (pipeline,) = synthesized.resources("Dev-PipelineStack", "AWS::SageMaker::Pipeline").values()
    body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    definition: dict[str, Any] = json.loads(flatten(body))
    return definition


def _all_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for step in steps:
        found.append(step)
        if step["Type"] == "Condition":
            arguments = step["Arguments"]
            found += _all_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))
    return found


def _ec2_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement of the template that grants an EC2 action."""
    statements = []
    for resource in template["Resources"].values():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if any(action.startswith("ec2:") for action in as_list(statement["Action"])):
                statements.append(statement)
    return statements


def test_every_job_step_runs_in_the_subnets_network_isolated(network_variant: Synthesized) -> None:
    steps = _all_steps(_definition(network_variant)["Steps"])
    processing = [s for s in steps if s["Type"] == "Processing"]
    training = [s for s in steps if s["Type"] == "Training"]
    assert [s["Name"] for s in processing + training] == ["Preprocess", "Evaluate", "Train"]
    for step in processing:
        assert step["Arguments"]["NetworkConfig"] == {
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": True,
            "VpcConfig": SAGEMAKER_VPC,
        }, step["Name"]
    for step in training:
        arguments = step["Arguments"]
        assert arguments["VpcConfig"] == SAGEMAKER_VPC
        assert arguments["EnableNetworkIsolation"] is True
        assert arguments["EnableInterContainerTrafficEncryption"] is True


def test_without_network_no_step_has_a_vpc_config(synthesized: Synthesized) -> None:
    text = json.dumps(_definition(synthesized))
    assert "VpcConfig" not in text
    assert "subnet-" not in json.dumps(synthesized.templates)


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_endpoint_models_run_in_the_subnets(
    network_variant: Synthesized, stage: EndpointStage
) -> None:
    template = network_variant.stacks["dev"].deploy.deploy.templates[stage]
    (model,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    assert model["Properties"]["VpcConfig"] == SAGEMAKER_VPC
    assert model["Properties"]["EnableNetworkIsolation"] is True
    # The deploy pipeline ships exactly this template.
    shipped = Path(network_variant.assembly.directory) / "endpoint-templates" / "Dev-DeployStack"
    assert json.loads((shipped / f"{stage}.json").read_text()) == template


def test_every_function_runs_in_the_subnets(network_variant: Synthesized) -> None:
    functions = {
        f"{stack}/{lid}": resource
        for stack in DEV_STACKS
        for lid, resource in network_variant.resources(stack, "AWS::Lambda::Function").items()
    }
    # The app's seven functions and the deploy-time VPC lookup of the model-build project.
    assert len(functions) == 8
    for name, function in functions.items():
        assert function["Properties"].get("VpcConfig") == {
            "SubnetIds": NETWORK_SUBNETS,
            "SecurityGroupIds": NETWORK_SECURITY_GROUPS,
        }, name
    assert not any(
        resource["Type"] == "AWS::CloudFormation::CustomResource"
        or (resource["Type"].startswith("Custom::") and resource["Type"] != "Custom::AWS")
        for stack in DEV_STACKS
        for resource in network_variant.templates[stack]["Resources"].values()
    )


def test_the_build_runs_in_the_subnets_of_the_looked_up_vpc(network_variant: Synthesized) -> None:
    projects = [
        resource
        for stack in DEV_STACKS
        for resource in network_variant.resources(stack, "AWS::CodeBuild::Project").values()
    ]
    assert len(projects) == 1
    vpc = projects[0]["Properties"]["VpcConfig"]
    assert vpc["Subnets"] == NETWORK_SUBNETS
    assert vpc["SecurityGroupIds"] == NETWORK_SECURITY_GROUPS
    # No vpc_id configured: the first subnet's VPC, read when the stack is deployed.
    (lookup_id,) = network_variant.resources("Dev-PipelineStack", "Custom::AWS")
    assert vpc["VpcId"] == {"Fn::GetAtt": [lookup_id, "Subnets.0.VpcId"]}
    lookup = network_variant.templates["Dev-PipelineStack"]["Resources"][lookup_id]
    call = json.loads(flatten(lookup["Properties"]["Create"]))
    assert call["action"] == "describeSubnets"
    assert call["parameters"] == {"SubnetIds": [NETWORK_SUBNETS[0]]}


def test_a_configured_vpc_id_is_used_without_a_lookup() -> None:
    # A small stack of its own: a whole synth would cost seconds for one property.
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Build", env=cdk.Environment(region="eu-west-1"))
    project = codebuild.PipelineProject(stack, "Project")
    network = NetworkSettings(
        subnet_ids=tuple(NETWORK_SUBNETS),
        security_group_ids=tuple(NETWORK_SECURITY_GROUPS),
        vpc_id="vpc-0123456789abcdef0",
    )

    place_project_in_network(stack, project, network, key=kms.Key(stack, "Key"))

    template = app.synth().get_stack_by_name("Build").template
    (resource,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CodeBuild::Project"
    ]
    assert resource["Properties"]["VpcConfig"] == {
        "VpcId": "vpc-0123456789abcdef0",
        "Subnets": NETWORK_SUBNETS,
        "SecurityGroupIds": NETWORK_SECURITY_GROUPS,
    }
    types = {r["Type"] for r in template["Resources"].values()}
    assert "Custom::AWS" not in types
    assert "AWS::Lambda::Function" not in types


def test_prod_without_network_is_unchanged(
    synthesized: Synthesized, network_variant: Synthesized
) -> None:
    for stack in PROD_STACKS:
        assert network_variant.templates[stack] == synthesized.templates[stack], stack
    assert (
        network_variant.stacks["prod"].deploy.deploy.templates
        == synthesized.stacks["prod"].deploy.deploy.templates
    )


def test_interface_grants_exist_only_with_network(
    synthesized: Synthesized, network_variant: Synthesized
) -> None:
    for stack in DEV_STACKS + PROD_STACKS:
        assert _ec2_statements(synthesized.templates[stack]) == [], stack
    for stack in PROD_STACKS:
        assert _ec2_statements(network_variant.templates[stack]) == [], stack
    # One policy per service and stack, attached to every role of that service there. Both
    # endpoints run in accounts of their own: their model roles' policies are there.
    policies = {
        f"{stack}/{lid}": resource
        for stack in DEV_STACKS + ACCOUNT_STACKS
        for lid, resource in network_variant.resources(stack, "AWS::IAM::ManagedPolicy").items()
    }
    assert sorted(_without_hash(name) for name in policies) == [
        "Dev-DeployStack/LambdaNetworkInterfaces",
        "Dev-MonitorStack/LambdaNetworkInterfaces",
        "Dev-MonitorStack/SagemakerNetworkInterfaces",
        "Dev-PipelineStack/CodebuildNetworkInterfaces",
        "Dev-PipelineStack/LambdaNetworkInterfaces",
        "Dev-PipelineStack/SagemakerNetworkInterfaces",
        "Dev-ProdEndpointAccountStack/SagemakerNetworkInterfaces",
        "Dev-StagingEndpointAccountStack/SagemakerNetworkInterfaces",
        "Dev-TriggerStack/LambdaNetworkInterfaces",
    ]


def _without_hash(logical_id: str) -> str:
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def _policy_attachments(template: dict[str, Any], policy_id: str) -> list[str]:
    """The roles whose ManagedPolicyArns reference the policy."""
    return sorted(
        lid
        for lid, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        and {"Ref": policy_id} in resource["Properties"].get("ManagedPolicyArns", [])
    )


def _statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    (found,) = [s for s in statements if s["Sid"] == sid]
    return found


def _ec2_arn(stack: str) -> str:
    # The stacks have an explicit account and region, so both are literal in their ARNs.
    account = {"Staging": STAGING_ACCOUNT, "Prod": PROD_ACCOUNT}.get(
        stack.removeprefix("Dev-").removesuffix("EndpointAccountStack"), BUILD_ACCOUNT
    )
    return f"arn:<AWS::Partition>:ec2:eu-west-1:{account}"


def _subnet_arns(stack: str) -> list[str]:
    return sorted(f"{_ec2_arn(stack)}:subnet/{subnet}" for subnet in NETWORK_SUBNETS)


def _flat(value: Any) -> list[str]:
    return [flatten(item) for item in as_list(value)]


@pytest.mark.parametrize(
    ("stack", "service", "roles"),
    [
        ("Dev-PipelineStack", "Sagemaker", ["TrainingPipelineExecutionRole"]),
        ("Dev-StagingEndpointAccountStack", "Sagemaker", ["ModelRole"]),
        ("Dev-ProdEndpointAccountStack", "Sagemaker", ["ModelRole"]),
        ("Dev-MonitorStack", "Sagemaker", ["DriftCheckJobRole"]),
        ("Dev-PipelineStack", "Codebuild", ["ModelBuildRole"]),
        (
            "Dev-PipelineStack",
            "Lambda",
            ["ModelBuildVpcOfSubnetRole", "TrainingPipelineChampionFinderRole"],
        ),
        (
            "Dev-DeployStack",
            "Lambda",
            ["CheckDeployConfigRole", "ResolveModelPackageRole", "TestEndpointRole"],
        ),
    ],
)
def test_interface_grants_are_scoped_to_the_subnets(
    network_variant: Synthesized, stack: str, service: str, roles: list[str]
) -> None:
    template = network_variant.templates[stack]
    ((policy_id, policy),) = [
        (lid, r)
        for lid, r in network_variant.resources(stack, "AWS::IAM::ManagedPolicy").items()
        if lid.startswith(f"{service}NetworkInterfaces")
    ]
    attached = _policy_attachments(template, policy_id)
    assert [_without_hash(role) for role in attached] == roles
    ec2_arn, subnets = _ec2_arn(stack), _subnet_arns(stack)
    create = _statement(policy, "CreateInterfacesInConfiguredSubnets")
    assert create["Action"] == "ec2:CreateNetworkInterface"
    assert sorted(_flat(create["Resource"])) == sorted(
        [
            *subnets,
            f"{ec2_arn}:security-group/{NETWORK_SECURITY_GROUPS[0]}",
            f"{ec2_arn}:network-interface/*",
        ]
    )
    manage = _statement(policy, "ManageInterfacesInConfiguredSubnets")
    assert _flat(manage["Resource"]) == [f"{ec2_arn}:network-interface/*"]
    assert sorted(_flat(manage["Condition"]["ArnEquals"]["ec2:Subnet"])) == subnets
    describe = _statement(policy, "DescribeNetwork")
    assert describe["Resource"] == "*"
    # On "*" only what has no resource-level permissions.
    assert all(
        action.startswith("ec2:Describe") or action == "ec2:DeleteNetworkInterfacePermission"
        for action in as_list(describe["Action"])
    )


def test_codebuild_may_attach_interfaces_only_for_codebuild(network_variant: Synthesized) -> None:
    ((_, policy),) = [
        (lid, r)
        for lid, r in network_variant.resources(
            "Dev-PipelineStack", "AWS::IAM::ManagedPolicy"
        ).items()
        if lid.startswith("CodebuildNetworkInterfaces")
    ]
    statement = _statement(policy, "LetCodeBuildAttachInterfaces")
    assert statement["Action"] == "ec2:CreateNetworkInterfacePermission"
    assert statement["Condition"]["StringEquals"] == {
        "ec2:AuthorizedService": "codebuild.amazonaws.com"
    }
    assert sorted(_flat(statement["Condition"]["ArnEquals"]["ec2:Subnet"])) == _subnet_arns(
        "Dev-PipelineStack"
    )


def test_the_drift_check_job_is_started_in_the_subnets(
    synthesized: Synthesized, network_variant: Synthesized
) -> None:
    def starter_environment(variant: Synthesized, stack: str) -> dict[str, Any]:
        (function,) = [
            resource
            for lid, resource in variant.resources(stack, "AWS::Lambda::Function").items()
            if lid.startswith("DriftCheckStartCheck")
        ]
        variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
        return variables

    dev = starter_environment(network_variant, "Dev-MonitorStack")
    assert json.loads(dev["VPC_CONFIG"]) == SAGEMAKER_VPC
    assert "VPC_CONFIG" not in starter_environment(synthesized, "Prod-MonitorStack")


def test_the_build_accounts_model_role_gets_the_interface_grants_with_network() -> None:
    # The network variant hosts both endpoints in other accounts; an endpoint of the build
    # account uses the same role construct, checked here on a small stack of its own.
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Hosting", env=cdk.Environment(region="eu-west-1"))
    network = NetworkSettings(
        subnet_ids=tuple(NETWORK_SUBNETS), security_group_ids=tuple(NETWORK_SECURITY_GROUPS)
    )
    ModelHostingRole(
        stack,
        "ModelRole",
        bucket=s3.Bucket(stack, "Bucket"),
        key=kms.Key(stack, "Key"),
        image_uri="141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.2-0",
        endpoint_names=["churn-dev-staging-endpoint"],
        data_capture_prefix=None,
        description="hosts",
        network=network,
    )

    template = app.synth().get_stack_by_name("Hosting").template
    ((policy_id, policy),) = [
        (lid, r)
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    ]
    assert [_without_hash(role) for role in _policy_attachments(template, policy_id)] == [
        "ModelRole"
    ]
    create = _statement(policy, "CreateInterfacesInConfiguredSubnets")
    assert sorted(r.rsplit("/", 1)[1] for r in _flat(create["Resource"]) if ":subnet/" in r) == (
        sorted(NETWORK_SUBNETS)
    )


def test_the_deployer_creates_only_isolated_models_in_the_subnets(
    network_variant: Synthesized,
) -> None:
    for stack in ACCOUNT_STACKS:
        statements = [
            s
            for policy in network_variant.resources(stack, "AWS::IAM::Policy").values()
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if "sagemaker:CreateModel" in as_list(s["Action"])
        ]
        (create,) = statements
        assert create["Sid"] == "CreateIsolatedModelsInTheSubnets"
        assert create["Condition"] == {
            "ForAllValues:StringEquals": {
                "sagemaker:VpcSubnets": NETWORK_SUBNETS,
                "sagemaker:VpcSecurityGroupIds": NETWORK_SECURITY_GROUPS,
            },
            "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"},
            "Bool": {"sagemaker:NetworkIsolation": "true"},
        }
