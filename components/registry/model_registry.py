"""The SageMaker model package group that versions every trained model."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

_READ_ACTIONS = (
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
    "sagemaker:DescribeModelPackage",
)
_REGISTER_ACTIONS = (
    "sagemaker:CreateModelPackage",
    "sagemaker:AddTags",
)


# cdk-nag reasons for the statements of ModelRegistry.allow_finding_approved.
FIND_APPROVED_ANY_RESOURCE = {
    "sagemaker:ListModelPackages": "List calls have no resource-level permissions; the "
    "function asks for this project's model package group only",
}
FIND_APPROVED_VERSIONS_REASON = (
    "DescribeModelPackage on the versions of this project's model package group; version "
    "numbers are assigned at registration"
)


class ModelRegistry(Construct):
    """A model package group, retained on delete (it is the audit trail of every model)."""

    def __init__(self, scope: Construct, id_: str, *, group_name: str, description: str) -> None:
        super().__init__(scope, id_)
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=group_name,
            model_package_group_description=description,
        )
        self.group.apply_removal_policy(RemovalPolicy.RETAIN)
        self.group_name = group_name
        stack = Stack.of(self)
        self.group_arn = stack.format_arn(
            service="sagemaker", resource="model-package-group", resource_name=group_name
        )
        # Model package ARNs are <group>/<version>; scoping to the group keeps grants tight.
        self.package_arn_pattern = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{group_name}/*"
        )

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """List and describe the group's model versions (e.g. to find the approved one)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(_READ_ACTIONS),
            resource_arns=[self.group_arn, self.package_arn_pattern],
        )

    def allow_finding_approved(self, role: iam.IRole) -> None:
        """What finding the newest approved version takes (lambdas/shared/python/
        model_registry.py): list this group's versions, describe them.

        ListModelPackages has no resource-level permissions, so it is granted on "*"; acknowledge
        it with FIND_APPROVED_ANY_RESOURCE, and the versions with FIND_APPROVED_VERSIONS_REASON.
        """
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListModelPackages", actions=["sagemaker:ListModelPackages"], resources=["*"]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeThisGroupsPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[self.package_arn_pattern],
            )
        )

    def grant_register(self, grantee: iam.IGrantable) -> iam.Grant:
        """Register new model versions into this group."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(_REGISTER_ACTIONS),
            resource_arns=[self.group_arn, self.package_arn_pattern],
        )
