"""The role CloudFormation assumes to deploy one endpoint stack: only what the endpoint
template creates, for that stage's endpoint only.

Used in the build account (the deploy pipeline's own stages) and in a target account (an
endpoint that runs there, components/deployment/endpoint_access.py); the SageMaker resources
are always those of the account of the stack the role is created in.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from components.deployment.endpoint_stack import (
    SCALABLE_DIMENSION,
    SCALING_NAMESPACE,
    VARIANT_NAME,
    EndpointStage,
    uses_blue_green,
)
from components.shared.nag import acknowledge_iam_wildcards, finding_for
from config import EndpointSettings
from config.network_settings import NetworkSettings

AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
AUTOSCALING_SERVICE_LINKED_ROLE = (
    f"aws-service-role/{AUTOSCALING_SERVICE}/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def endpoint_deployment_role(
    scope: Construct,
    id_: str,
    *,
    stage: EndpointStage,
    settings: EndpointSettings,
    endpoint_name: str,
    package_arn_pattern: str,
    model_role_arn: str,
    key_arn: str,
    role_name: str | None = None,
    extra_reasons: dict[str, str] | None = None,
    network: NetworkSettings | None = None,
) -> iam.Role:
    """Only what the endpoint template creates, for this stage's endpoint only.

    ``extra_reasons``: cdk-nag reasons for wildcards in the ARNs given (by finding).
    ``network``: models may then be created only network-isolated in these subnets and
    security groups (what the endpoint template asks for).
    """
    stack = Stack.of(scope)
    name = endpoint_name
    role = iam.Role(
        scope,
        id_,
        assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
        description=f"CloudFormation deploys the {name} endpoint stack with this role",
        role_name=role_name,
    )

    def sagemaker_arn(resource: str, resource_name: str) -> str:
        return stack.format_arn(service="sagemaker", resource=resource, resource_name=resource_name)

    endpoint_arn = sagemaker_arn("endpoint", name)
    endpoint_actions = [
        "sagemaker:CreateEndpoint",
        "sagemaker:DescribeEndpoint",
        "sagemaker:UpdateEndpoint",
        "sagemaker:DeleteEndpoint",
    ]
    if uses_blue_green(stage, settings):
        # Registering a variant for autoscaling checks the caller may change its capacity.
        endpoint_actions.append("sagemaker:UpdateEndpointWeightsAndCapacities")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ManageTheEndpoint",
            actions=endpoint_actions,
            resources=[endpoint_arn],
        )
    )
    # Models and endpoint configs are immutable and replaced on every change, so
    # CloudFormation generates their names: only the resource type can be pinned down.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReplaceModelsAndEndpointConfigs",
            actions=[
                *(["sagemaker:CreateModel"] if network is None else []),
                "sagemaker:DescribeModel",
                "sagemaker:DeleteModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
            ],
            resources=[sagemaker_arn("model", "*"), sagemaker_arn("endpoint-config", "*")],
        )
    )
    if network is not None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CreateIsolatedModelsInTheSubnets",
                actions=["sagemaker:CreateModel"],
                resources=[sagemaker_arn("model", "*")],
                conditions={
                    "ForAllValues:StringEquals": {
                        "sagemaker:VpcSubnets": list(network.subnet_ids),
                        "sagemaker:VpcSecurityGroupIds": list(network.security_group_ids),
                    },
                    # ForAllValues alone would also allow a model without a VPC.
                    "Null": {
                        "sagemaker:VpcSubnets": "false",
                        "sagemaker:VpcSecurityGroupIds": "false",
                    },
                    "Bool": {"sagemaker:NetworkIsolation": "true"},
                },
            )
        )
    # SageMaker authorizes CreateEndpoint/UpdateEndpoint on the endpoint config too.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PointTheEndpointAtNewConfigs",
            actions=["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
            resources=[sagemaker_arn("endpoint-config", "*")],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="TagEndpointResources",
            actions=["sagemaker:AddTags", "sagemaker:DeleteTags", "sagemaker:ListTags"],
            resources=[
                endpoint_arn,
                sagemaker_arn("model", "*"),
                sagemaker_arn("endpoint-config", "*"),
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="CreateModelsFromThisGroup",
            actions=["sagemaker:DescribeModelPackage"],
            resources=[package_arn_pattern],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PassTheModelRole",
            actions=["iam:PassRole"],
            resources=[model_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    # SageMaker creates grants with the caller's credentials to encrypt endpoint storage.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="EncryptEndpointStorage",
            actions=["kms:CreateGrant", "kms:DescribeKey"],
            resources=[key_arn],
        )
    )
    reasons = {
        finding_for(role, sagemaker_arn("model", "*")): "CloudFormation generates the names "
        "of models, which are immutable and replaced on every change",
        finding_for(role, sagemaker_arn("endpoint-config", "*")): "CloudFormation generates "
        "the names of endpoint configs, which are immutable and replaced on every change",
        finding_for(role, package_arn_pattern): "Versions of this project's "
        "model package group; version numbers are assigned at registration",
    }
    any_resource: dict[str, str] = {}
    # Prod in either mode: switching it from instances to serverless in cdk.json must
    # still let CloudFormation delete the alarms and scaling target the instances had.
    if stage == "prod":
        stage_reasons, any_resource = _allow_autoscaling_and_alarms(
            role, name, create=uses_blue_green(stage, settings)
        )
        reasons.update(stage_reasons)
    reasons.update(extra_reasons or {})
    acknowledge_iam_wildcards(role, reasons, any_resource=any_resource)
    return role


def _allow_autoscaling_and_alarms(
    role: iam.Role, name: str, *, create: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """Grants for the prod template's alarms and autoscaling; returns the wildcard reasons
    (by finding, and by action granted on "*").

    ``create`` false (a serverless endpoint) leaves only what removing them needs.
    """
    stack = Stack.of(role)

    def alarm_arn(alarm_name: str) -> str:
        return stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=alarm_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    # The stack's own rollback alarms (CloudFormation names them <stack>-<id>-<suffix>),
    # and the ones target tracking creates for the variant with the caller's credentials.
    stack_alarms = alarm_arn(f"{name}-*")
    scaling_alarms = alarm_arn(f"TargetTracking-endpoint/{name}/variant/{VARIANT_NAME}-*")
    alarm_actions = ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"]
    # Writes take the scalable target's ARN, whose id Application Auto Scaling generates,
    # and the service-namespace and scalable-dimension condition keys: SageMaker variants'
    # instance counts only, never another service's scaling. Tagging supports neither
    # key, and the Describe calls support no resource or key at all.
    scaling_writes = [
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:DeleteScalingPolicy",
    ]
    scaling_reads = [
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies",
    ]
    scaling_tags: list[str] = []
    if create:
        alarm_actions += [
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
            "cloudwatch:ListTagsForResource",
        ]
        scaling_writes += [
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:PutScalingPolicy",
        ]
        scaling_reads.append("application-autoscaling:DescribeScalingActivities")
        scaling_tags += [
            "application-autoscaling:TagResource",
            "application-autoscaling:UntagResource",
            "application-autoscaling:ListTagsForResource",
        ]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ManageEndpointAlarms",
            actions=alarm_actions,
            resources=[stack_alarms, scaling_alarms],
        )
    )
    scalable_targets = stack.format_arn(
        service="application-autoscaling", resource="scalable-target", resource_name="*"
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ScaleSageMakerVariantsOnly",
            actions=scaling_writes,
            resources=[scalable_targets],
            conditions={
                "StringEquals": {
                    "application-autoscaling:service-namespace": SCALING_NAMESPACE,
                    "application-autoscaling:scalable-dimension": SCALABLE_DIMENSION,
                }
            },
        )
    )
    if scaling_tags:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagScalableTargets", actions=scaling_tags, resources=[scalable_targets]
            )
        )
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="DescribeScaling", actions=scaling_reads, resources=["*"])
    )
    reasons = {
        finding_for(role, stack_alarms): "The stack's rollback alarms; CloudFormation names "
        "them <stack>-<logical id>-<generated suffix>",
        finding_for(role, scaling_alarms): "The alarms target tracking creates for this "
        "variant, named with a generated suffix",
        finding_for(role, scalable_targets): "Application Auto Scaling generates scalable "
        "target ids at registration; writes are limited to SageMaker variant instance "
        "counts by the service-namespace and scalable-dimension conditions",
    }
    any_resource = dict.fromkeys(
        scaling_reads,
        "Application Auto Scaling's Describe calls have no resource-level permissions nor "
        "condition keys",
    )
    if not create:
        return reasons, any_resource
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="CreateAutoscalingServiceLinkedRole",
            actions=["iam:CreateServiceLinkedRole"],
            resources=[
                stack.format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name=AUTOSCALING_SERVICE_LINKED_ROLE,
                )
            ],
            conditions={"StringEquals": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
        )
    )
    return reasons, any_resource
