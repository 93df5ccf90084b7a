"""What the build account lets the accounts that serve its models use (issue: endpoints in
their own accounts). Nothing here exists when every endpoint runs in the build account."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from components.deployment.endpoint_accounts import EndpointAccount, deploy_artifacts_prefix
from components.deployment.endpoint_stack import DATA_CAPTURE_PREFIX
from components.training.training_pipeline import TRAINED_MODELS


def _statement(
    sid: str,
    targets: Sequence[EndpointAccount],
    kind: str,
    actions: list[str],
    resources: list[str],
    *,
    conditions: dict[str, dict[str, str]] | None = None,
) -> iam.PolicyStatement:
    """Allows the ``kind`` roles of the target accounts, pinned by ``aws:PrincipalArn``.

    A condition rather than the role ARNs as principals: S3 and KMS reject a policy naming a
    role that does not exist yet, and the target accounts may be deployed after this stack.
    """
    accounts = sorted({target.account for target in targets})
    arns = sorted({target.role_arn(kind) for target in targets})
    return iam.PolicyStatement(
        sid=sid,
        principals=[iam.AccountPrincipal(account) for account in accounts],
        actions=actions,
        resources=resources,
        conditions={"ArnEquals": {"aws:PrincipalArn": arns}, **(conditions or {})},
    )


class ServingAccountAccess(Construct):
    """Bucket, key and model package group policies for the roles of the target accounts.

    - the model role of each target account reads the trained models (and writes captured
      traffic under its stage's capture prefix when the endpoint runs on instances);
    - the deploy action role reads the deploy pipeline's artifacts;
    - the deployer role describes this group's model packages (SageMaker's CreateModel) and
      lets SageMaker encrypt the endpoint's storage with the key (grants for AWS resources);
    - KMS use is through S3 only, except the grants SageMaker creates for endpoint storage.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        targets: Sequence[EndpointAccount],
        capturing: Sequence[EndpointAccount],
        bucket: s3.Bucket,
        key: kms.Key,
        group: sagemaker.CfnModelPackageGroup,
        package_arn_pattern: str,
    ) -> None:
        super().__init__(scope, id_)
        region = Stack.of(self).region
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
        artifacts = f"{deploy_artifacts_prefix(targets[0].resource_prefix)}*"
        for statement in (
            _statement(
                "ServingAccountsReadModels",
                targets,
                "model",
                ["s3:GetObject"],
                [bucket.arn_for_objects(TRAINED_MODELS)],
            ),
            _statement(
                "ServingAccountsReadDeployArtifacts",
                targets,
                "action",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [bucket.arn_for_objects(artifacts)],
            ),
            *(
                _statement(
                    f"{target.stage.capitalize()}AccountWritesCapturedData",
                    [target],
                    "model",
                    ["s3:PutObject"],
                    [bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}/{target.stage}/*")],
                )
                for target in capturing
            ),
        ):
            bucket.add_to_resource_policy(statement)
        key_statements = [
            _statement(
                "ServingAccountsDecryptModels",
                targets,
                "model",
                ["kms:Decrypt"],
                ["*"],
                conditions=via_s3,
            ),
            _statement(
                "ServingAccountsDecryptDeployArtifacts",
                targets,
                "action",
                ["kms:Decrypt"],
                ["*"],
                conditions=via_s3,
            ),
            # SageMaker encrypts the endpoint's storage through grants the deployer creates.
            _statement(
                "ServingAccountsGrantEndpointStorage",
                targets,
                "deployer",
                ["kms:CreateGrant"],
                ["*"],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            _statement(
                "ServingAccountsDescribeKey", targets, "deployer", ["kms:DescribeKey"], ["*"]
            ),
        ]
        if capturing:
            key_statements.append(
                _statement(
                    "ServingAccountsEncryptCapturedData",
                    capturing,
                    "model",
                    ["kms:GenerateDataKey"],
                    ["*"],
                    conditions=via_s3,
                )
            )
        for statement in key_statements:
            key.add_to_resource_policy(statement)
        # CreateModel from a package of this group, called by the deployer role.
        group.model_package_group_policy = {
            "Version": "2012-10-17",
            "Statement": [
                Stack.of(self).resolve(
                    _statement(
                        "ServingAccountsDeployVersions",
                        targets,
                        "deployer",
                        ["sagemaker:DescribeModelPackage"],
                        [package_arn_pattern],
                    ).to_statement_json()
                )
            ],
        }
