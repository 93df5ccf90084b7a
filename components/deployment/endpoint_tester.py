"""The deploy pipeline's staging test: invokes the staging endpoint with the sample payload."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.registry.model_registry import ModelRegistry
from components.shared.lambda_function import PythonLambda
from components.shared.nag import CODEPIPELINE_JOB_RESULTS, acknowledge_iam_wildcards, finding_for
from components.training.training_pipeline import OUTPUT_PREFIX, grant_read_model_artifacts


class EndpointTester(PythonLambda):
    """``lambdas/test_endpoint``: may invoke one endpoint and read the registered sample
    payloads (model versions of this group, objects under the training output prefix)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        endpoint_name: str,
        registry: ModelRegistry,
        bucket: s3.IBucket,
        key: kms.IKey,
        layers: Sequence[lambda_.ILayerVersion],
        endpoint_role_arn: str | None = None,
        role_name: str | None = None,
    ) -> None:
        """``endpoint_role_arn``: the role to assume when the endpoint is in another account
        (its policy then decides what the test may do there)."""
        super().__init__(
            scope,
            id_,
            code_dir_name="test_endpoint",
            description=f"Sends the sample payload to {endpoint_name} and checks the predictions",
            key=key,
            layers=layers,
            timeout=Duration.minutes(5),
            role_name=role_name,
        )
        if endpoint_role_arn is None:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="InvokeTheEndpoint",
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="sagemaker", resource="endpoint", resource_name=endpoint_name
                        )
                    ],
                )
            )
        else:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="AssumeTheEndpointAccountsTesterRole",
                    actions=["sts:AssumeRole"],
                    resources=[endpoint_role_arn],
                )
            )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="FindTheSamplePayload",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[registry.package_arn_pattern],
            )
        )
        grant_read_model_artifacts(
            self.role, bucket=bucket, key=key, sid_prefix="ReadSamplePayload"
        )
        self._reasons = {
            finding_for(self, registry.package_arn_pattern): "DescribeModelPackage on the versions "
            "of this project's model package group; version numbers are assigned at registration",
            finding_for(self, bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")): "Sample payloads are "
            f"written by training executions under {OUTPUT_PREFIX} with generated names",
        }

    def acknowledge_wildcards(self) -> None:
        """Call once the pipeline action that invokes this function exists (it adds grants)."""
        acknowledge_iam_wildcards(self, self._reasons, any_resource=CODEPIPELINE_JOB_RESULTS)
