"""The role SageMaker assumes to host the approved model on the staging and prod endpoints."""

from __future__ import annotations

from collections.abc import Collection

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.shared.nag import acknowledge_iam_wildcards, finding_for
from components.shared.network import allow_network_interfaces
from components.training.sagemaker_execution_role import (
    ECR_AUTHORIZATION_TOKEN,
    ecr_repository_arn,
)
from components.training.training_pipeline import OUTPUT_PREFIX, grant_read_model_artifacts
from config.network_settings import NetworkSettings


class ModelHostingRole(Construct):
    """Reads the model artifacts, pulls the inference image, writes endpoint logs and, when
    an endpoint captures data, the captured requests; nothing else."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        image_uri: str,
        endpoint_names: Collection[str],
        data_capture_prefix: str | None,
        description: str,
        network: NetworkSettings | None = None,
        role_name: str | None = None,
        extra_reasons: dict[str, str] | None = None,
        model_objects: str = f"{OUTPUT_PREFIX}*",
    ) -> None:
        """``extra_reasons``: cdk-nag reasons for wildcards in the bucket or key given."""
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.role = role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=description,
            role_name=role_name,
        )
        grant_read_model_artifacts(
            role, bucket=bucket, key=key, sid_prefix="ReadModelArtifacts", objects=model_objects
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PullInferenceImage",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[ecr_repository_arn(self, image_uri)],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AuthenticateToEcr", actions=["ecr:GetAuthorizationToken"], resources=["*"]
            )
        )
        # SageMaker names each endpoint's log group after the endpoint.
        log_streams = {
            name: stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"/aws/sagemaker/Endpoints/{name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in endpoint_names
        }
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteEndpointLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=list(log_streams.values()),
            )
        )
        reasons = {
            finding_for(self, bucket.arn_for_objects(model_objects)): "Model artifacts "
            f"are written by training executions under {OUTPUT_PREFIX} with generated names",
        }
        for name, log_stream in log_streams.items():
            reasons[finding_for(self, log_stream)] = (
                f"Log streams of the {name} endpoint, named per instance by SageMaker"
            )
        # Data capture is written with the model's role.
        if data_capture_prefix is not None:
            captured = bucket.arn_for_objects(f"{data_capture_prefix}/*")
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="WriteCapturedData", actions=["s3:PutObject"], resources=[captured]
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="EncryptCapturedData",
                    actions=["kms:GenerateDataKey"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}
                    },
                )
            )
            reasons[finding_for(self, captured)] = (
                "SageMaker names captured-data objects by endpoint, variant and hour"
            )
        reasons.update(extra_reasons or {})
        acknowledge_iam_wildcards(self, reasons, any_resource=ECR_AUTHORIZATION_TOKEN)
        # Instance endpoints in the VPC: SageMaker creates their interfaces as this role.
        allow_network_interfaces(role, network, "sagemaker")
