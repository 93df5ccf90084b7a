"""Private networking (docs/operations.md, "Private networking (VPC)"): what puts the app's
functions, builds and SageMaker roles in the configured subnets, and the EC2 permissions
each service needs to create its network interfaces there.

The subnet and security group IDs are literals from the configuration (no ``IVpc``, no
lookup at synth). The permissions come from one customer-managed policy per service and
stack, attached to every role that needs it: the policy is attached through the role
resource itself, so CloudFormation creates it before any function, project or job that
checks the role's permissions on creation, and it holds the only wildcards, explained once.
"""

from __future__ import annotations

from typing import Literal

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

from components.shared.nag import acknowledge_iam_wildcards, finding_for
from config.network_settings import NetworkSettings

NetworkService = Literal["sagemaker", "lambda", "codebuild"]

# The Describe calls each service makes before it creates an interface: EC2 Describe* actions
# have no resource-level permissions. SageMaker also deletes the interface permissions it
# created, which are named by permission ID, not by interface (no resource type either).
_ANY_RESOURCE_ACTIONS: dict[NetworkService, tuple[str, ...]] = {
    "sagemaker": (
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DeleteNetworkInterfacePermission",
    ),
    # AWSLambdaVPCAccessExecutionRole's EC2 actions, scoped here instead of on "*".
    "lambda": ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"),
    "codebuild": (
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
    ),
}
# Actions on interfaces that already exist, limited to interfaces in the configured subnets.
_INTERFACE_ACTIONS: dict[NetworkService, tuple[str, ...]] = {
    "sagemaker": ("ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"),
    "lambda": (
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ),
    "codebuild": ("ec2:DeleteNetworkInterface",),
}
_DESCRIPTIONS: dict[NetworkService, str] = {
    "sagemaker": "SageMaker jobs and models",
    "lambda": "Lambda functions",
    "codebuild": "CodeBuild builds",
}
_DESCRIBE_REASON = (
    "EC2 Describe actions have no resource-level permissions; {service} reads the configured "
    "subnets, security groups and its own interfaces before it attaches them"
)


def network_interface_policy(
    scope: IConstruct, network: NetworkSettings, service: NetworkService
) -> iam.ManagedPolicy:
    """The stack's policy that lets ``service`` manage network interfaces in the configured
    subnets (created on first use, then shared by every role of that service in the stack)."""
    stack = Stack.of(scope)
    id_ = f"{service.capitalize()}NetworkInterfaces"
    existing = stack.node.try_find_child(id_)
    if isinstance(existing, iam.ManagedPolicy):
        return existing

    subnets = [
        stack.format_arn(service="ec2", resource="subnet", resource_name=subnet)
        for subnet in network.subnet_ids
    ]
    security_groups = [
        stack.format_arn(service="ec2", resource="security-group", resource_name=group)
        for group in network.security_group_ids
    ]
    interfaces = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
    in_subnets = {"ArnEquals": {"ec2:Subnet": subnets}}
    statements = [
        # An interface is created in a subnet with security groups: both must be the
        # configured ones; the interface itself has no ID yet.
        iam.PolicyStatement(
            sid="CreateInterfacesInConfiguredSubnets",
            actions=["ec2:CreateNetworkInterface"],
            resources=[*subnets, *security_groups, interfaces],
        ),
        iam.PolicyStatement(
            sid="ManageInterfacesInConfiguredSubnets",
            actions=list(_INTERFACE_ACTIONS[service]),
            resources=[interfaces],
            conditions=in_subnets,
        ),
        iam.PolicyStatement(
            sid="DescribeNetwork", actions=list(_ANY_RESOURCE_ACTIONS[service]), resources=["*"]
        ),
    ]
    if service == "codebuild":
        # CodeBuild's documented service-role statement: it lets the CodeBuild service attach
        # the interface to its build host, and only in the configured subnets.
        statements.append(
            iam.PolicyStatement(
                sid="LetCodeBuildAttachInterfaces",
                actions=["ec2:CreateNetworkInterfacePermission"],
                resources=[interfaces],
                conditions={
                    **in_subnets,
                    "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                },
            )
        )
    policy = iam.ManagedPolicy(
        stack,
        id_,
        description=f"Network interfaces of this stack's {_DESCRIPTIONS[service]} in the "
        "configured subnets and security groups",
        statements=statements,
    )
    acknowledge_iam_wildcards(
        policy,
        {
            finding_for(policy, interfaces): "Network interfaces get their IDs when "
            f"{_DESCRIPTIONS[service]} create them; the ec2:Subnet condition (and, for "
            "CreateNetworkInterface, the subnet and security group resources) limits them to "
            "the configured subnets",
        },
        any_resource={
            action: _DESCRIBE_REASON.format(service=_DESCRIPTIONS[service])
            for action in _ANY_RESOURCE_ACTIONS[service]
        },
    )
    return policy


def allow_network_interfaces(
    role: iam.IRole, network: NetworkSettings | None, service: NetworkService
) -> None:
    """With ``network`` set, ``role`` may manage ``service``'s interfaces in its subnets."""
    if network is not None:
        role.add_managed_policy(network_interface_policy(role, network, service))


def place_functions_in_network(scope: IConstruct, network: NetworkSettings) -> list[str]:
    """Puts every Lambda function under ``scope`` in the configured subnets (their roles get
    the interface permissions); returns the functions' construct paths.

    Call it once a stack is complete: functions added afterwards would stay outside.
    """
    placed = []
    for node in scope.node.find_all():
        if not isinstance(node, lambda_.Function):
            continue
        function = node.node.default_child
        if not isinstance(function, lambda_.CfnFunction) or node.role is None:
            raise TypeError(f"{node.node.path}: cannot put this function in the VPC")
        function.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
            subnet_ids=list(network.subnet_ids),
            security_group_ids=list(network.security_group_ids),
        )
        allow_network_interfaces(node.role, network, "lambda")
        placed.append(node.node.path)
    return placed
