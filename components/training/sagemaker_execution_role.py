"""The role SageMaker assumes to run the training pipeline's jobs, with only what they need."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from components.registry.model_registry import ModelRegistry
from components.shared.nag import acknowledge_iam_wildcards, finding_for
from components.shared.network import allow_network_interfaces
from config.network_settings import NetworkSettings

_ECR_IMAGE = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+)(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$"
)
# Job names a pipeline execution generates start with this prefix.
PIPELINE_JOB_PREFIX = "pipelines-"
# Every role that pulls images from ECR needs this on "*" (see acknowledge_iam_wildcards).
ECR_AUTHORIZATION_TOKEN = {
    "ecr:GetAuthorizationToken": "ECR login tokens have no resource-level permissions; which "
    "images may be pulled is limited by the repository ARNs of the pull statement"
}


def ecr_repository_arn(scope: Construct, image_uri: str) -> str:
    """The repository ARN of an ECR image URI (AWS-owned SageMaker images included)."""
    match = _ECR_IMAGE.match(image_uri)
    if not match:
        raise ValueError(f"{image_uri!r} is not an ECR image URI")
    return Stack.of(scope).format_arn(
        service="ecr",
        account=match.group("account"),
        region=match.group("region"),
        resource="repository",
        resource_name=match.group("repository"),
    )


def allow_pulling_images(
    role: iam.IRole, scope: Construct, *, image_uris: list[str], sid: str
) -> None:
    """Pull these images (their repositories only) and log in to ECR, which has no
    resource-level permissions (acknowledge with ECR_AUTHORIZATION_TOKEN)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=sorted({ecr_repository_arn(scope, uri) for uri in image_uris}),
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="AuthenticateToEcr",
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],
        )
    )


def allow_job_logs(role: iam.IRole, scope: Construct, *, kinds: list[str]) -> dict[str, str]:
    """Write the logs of SageMaker jobs of these kinds ("ProcessingJobs", "TrainingJobs") to
    SageMaker's own log groups; returns each kind's log-group ARN (for the nag reasons)."""
    log_groups = {
        kind: Stack.of(scope).format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/sagemaker/{kind}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for kind in kinds
    }
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="WriteJobLogs",
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            resources=list(log_groups.values()),
        )
    )
    return log_groups


class SageMakerExecutionRole(Construct):
    """Least-privilege execution role for the pipeline and the jobs it starts.

    No managed policies: S3 is limited to the pipeline's prefixes, KMS to the project key,
    the registry to one model package group, ECR to the images the steps run, logs and
    metrics to SageMaker's own namespaces, and PassRole to this role for SageMaker only.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        registry: ModelRegistry,
        input_data_prefix: str,
        output_prefix: str,
        image_uris: list[str],
        code_assets: list[s3_assets.Asset],
        network: NetworkSettings | None = None,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs the training pipeline's processing and training jobs",
        )
        role = self.role

        for asset in code_assets:
            asset.grant_read(role)
        bucket.grant_read(role, f"{input_data_prefix}*")
        bucket.grant_read_write(role, f"{output_prefix}*")
        # Volume and output encryption make SageMaker create grants on the key for the jobs.
        key.grant(role, "kms:CreateGrant", "kms:DescribeKey")
        registry.grant_register(role)
        registry.grant_read(role)

        job_arns = [
            stack.format_arn(
                service="sagemaker", resource=kind, resource_name=f"{PIPELINE_JOB_PREFIX}*"
            )
            for kind in ("processing-job", "training-job")
        ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunPipelineJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=job_arns,
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassThisRoleToSageMakerJobs",
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        allow_pulling_images(role, self, image_uris=image_uris, sid="PullStepImages")
        # The steps' VpcConfig: SageMaker creates the jobs' interfaces as this role.
        allow_network_interfaces(role, network, "sagemaker")
        log_groups = allow_job_logs(role, self, kinds=["ProcessingJobs", "TrainingJobs"])
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            )
        )
        reasons = {
            "Action::s3:GetObject*": "CDK grant_read/grant_read_write object actions, on "
            "the pipeline's prefixes and the step-script assets only",
            "Action::s3:GetBucket*": "CDK grant_read: metadata of the artifact and CDK "
            "asset buckets only",
            "Action::s3:List*": "Processing inputs list their S3 prefix; the artifact and CDK "
            "asset buckets only",
            "Action::s3:DeleteObject*": "Jobs overwrite their own outputs under "
            f"{output_prefix} only",
            "Action::s3:Abort*": f"Multipart uploads of job outputs under {output_prefix} only",
            "Action::kms:GenerateDataKey*": "Encrypting job outputs with the project key; that "
            "key only",
            "Action::kms:ReEncrypt*": "S3 objects under SSE-KMS with the project key; that key "
            "only",
            finding_for(self, bucket.arn_for_objects(f"{input_data_prefix}*")): "Training data: "
            f"jobs read every object under {input_data_prefix}, named by whoever uploads it",
            finding_for(self, bucket.arn_for_objects(f"{output_prefix}*")): "Job outputs: "
            f"every execution writes and reads its own objects under {output_prefix}",
            finding_for(self, registry.package_arn_pattern): "Versions of this project's model "
            "package group; version numbers are assigned at registration",
        }
        for asset in code_assets:
            reasons[finding_for(self, asset.bucket.arn_for_objects("*"))] = (
                "Step scripts are CDK file assets in the bootstrap bucket; their object names "
                "are content hashes known only after synth"
            )
        for job_arn in job_arns:
            reasons[finding_for(self, job_arn)] = (
                "SageMaker Pipelines names each execution's jobs with the prefix "
                f"{PIPELINE_JOB_PREFIX} and a generated suffix"
            )
        for kind, log_group in log_groups.items():
            reasons[finding_for(self, log_group)] = (
                f"Log streams in SageMaker's {kind} log group, one per job, named by SageMaker"
            )
        acknowledge_iam_wildcards(
            self,
            reasons,
            any_resource={
                **ECR_AUTHORIZATION_TOKEN,
                "cloudwatch:PutMetricData": "Metric data has no resource-level permissions; the "
                "cloudwatch:namespace condition limits it to SageMaker's namespaces",
            },
        )
