"""DeployStack: the model-deploy repository, the deploy CodePipeline and what it runs."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from components.code_source import CodeSource
from components.endpoint_stack import DATA_CAPTURE_PREFIX, STAGES, endpoint_name, endpoint_settings
from components.lambda_function import PythonLambda
from components.model_deploy_pipeline import (
    REPOSITORY_CONTENT_DIR,
    ModelDeployPipeline,
    staging_dir,
    write_repository_content,
)
from components.nag import acknowledge_iam_wildcards, flatten_reference
from components.sagemaker_execution_role import ecr_repository_arn
from components.training_pipeline import OUTPUT_PREFIX as MODEL_ARTIFACTS_PREFIX
from config import EnvironmentConfig
from pipeline_code.template import image_uris_for
from stacks.registry_stack import RegistryStack


class DeployStack(Stack):
    """Deploys the newest approved model: staging → test → manual approval → prod.

    ``pipeline`` is what the approval rule (TriggerStack) starts; pushes to the model-deploy
    repository start it too.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        registry: RegistryStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self._config = config
        # By name: keeps this stack's IAM resources free of cross-stack imports.
        self._bucket = registry.store.bucket_for(self)
        self._key = key = registry.store.key
        model_registry = registry.registry
        self.endpoint_names = {
            stage: endpoint_name(config.resource_prefix, stage) for stage in STAGES
        }

        self.model_role = self._build_model_role()

        self.resolver = PythonLambda(
            self,
            "ResolveModelPackage",
            code_dir_name="resolve_model_package",
            description=f"Finds the newest approved version in {model_registry.group_name}",
            key=key,
            timeout=Duration.minutes(1),
        )
        # ListModelPackages has no resource-level permissions; the handler filters by group.
        self.resolver.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListModelPackages",
                actions=["sagemaker:ListModelPackages"],
                resources=["*"],
            )
        )
        self.resolver.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeThisGroupsPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[model_registry.package_arn_pattern],
            )
        )

        staging_endpoint_arn = self.format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_names["staging"]
        )
        self.tester = PythonLambda(
            self,
            "TestEndpoint",
            code_dir_name="test_endpoint",
            description=f"Sends the sample payload to {self.endpoint_names['staging']} and checks "
            "the predictions",
            key=key,
            timeout=Duration.minutes(5),
        )
        tester_role = self.tester.role
        tester_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeTheStagingEndpoint",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
                resources=[staging_endpoint_arn],
            )
        )
        tester_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="FindTheSamplePayload",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[model_registry.package_arn_pattern],
            )
        )
        self._allow_reading_model_artifacts(tester_role, sid_prefix="ReadSamplePayload")

        self.source = CodeSource(
            self,
            "ModelDeploySource",
            settings=config.source,
            codecommit_name=f"{config.resource_prefix}-model-deploy",
            description=f"Endpoint settings of {config.project_name} ({config.name}): "
            "staging-config.json and prod-config.json; a commit redeploys the approved model",
            initial_content_dir=write_repository_content(
                staging_dir(self, REPOSITORY_CONTENT_DIR), config=config
            ),
            initial_content_exclude=[],
            connection_repository=config.source.deploy_repository,
        )
        self.deploy = ModelDeployPipeline(
            self,
            "ModelDeploy",
            config=config,
            source=self.source,
            artifact_bucket=self._bucket,
            key=key,
            registry=model_registry,
            topic=registry.notifications.topic,
            model_role=self.model_role,
            resolve_function=self.resolver.function,
            test_function=self.tester.function,
        )
        self.pipeline = self.deploy.pipeline
        self._acknowledge_wildcards(model_registry.package_arn_pattern)

    # -----------------------------------------------------------------------------------------

    def _allow_reading_model_artifacts(self, role: iam.IRole, *, sid_prefix: str) -> None:
        """Objects under the training output prefix, and the key to decrypt them through S3."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=f"{sid_prefix}Objects",
                actions=["s3:GetObject"],
                resources=[self._bucket.arn_for_objects(f"{MODEL_ARTIFACTS_PREFIX}*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=f"{sid_prefix}Decrypt",
                actions=["kms:Decrypt"],
                resources=[self._key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
            )
        )

    def _build_model_role(self) -> iam.Role:
        """The role SageMaker assumes to host the model: artifacts, image, logs, capture."""
        config = self._config
        role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Hosts the approved {config.project_name} model on the {config.name} "
            "endpoints",
        )
        self._allow_reading_model_artifacts(role, sid_prefix="ReadModelArtifacts")
        # The model packages the training pipeline registers run in the built-in XGBoost image.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PullInferenceImage",
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[ecr_repository_arn(self, image_uris_for(config.region)["xgboost"])],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AuthenticateToEcr",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteEndpointLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=list(self._endpoint_log_groups().values()),
            )
        )
        # Data capture (instance endpoints only) is written with the model's role.
        if any(endpoint_settings(config, stage).mode == "instance" for stage in STAGES):
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="WriteCapturedData",
                    actions=["s3:PutObject"],
                    resources=[self._bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}/*")],
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="EncryptCapturedData",
                    actions=["kms:GenerateDataKey"],
                    resources=[self._key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}
                    },
                )
            )
        return role

    def _acknowledge_wildcards(self, package_arn_pattern: str) -> None:
        def finding(arn: str) -> str:
            return f"Resource::{flatten_reference(self.resolve(arn))}"

        packages = finding(package_arn_pattern)
        artifacts = finding(self._bucket.arn_for_objects(f"{MODEL_ARTIFACTS_PREFIX}*"))
        no_resource_level = (
            "codepipeline:PutJobSuccessResult/PutJobFailureResult (granted by CDK's Lambda "
            "invoke action) have no resource-level permissions"
        )
        acknowledge_iam_wildcards(
            self.resolver,
            {
                "Resource::*": f"{no_resource_level}; nor has sagemaker:ListModelPackages (the "
                "handler filters by model package group)",
                packages: "Versions of this project's model package group only",
            },
        )
        acknowledge_iam_wildcards(
            self.tester,
            {
                "Resource::*": no_resource_level,
                packages: "Versions of this project's model package group only",
                artifacts: "Sample payloads are written by training executions under "
                f"{MODEL_ARTIFACTS_PREFIX} with generated names",
            },
        )
        model_reasons = {
            artifacts: "Model artifacts are written by training executions under "
            f"{MODEL_ARTIFACTS_PREFIX} with generated names",
            finding(self._bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}/*")): "SageMaker "
            "names captured-data objects by endpoint, variant and hour",
            "Resource::*": "ecr:GetAuthorizationToken has no resource-level permissions",
        }
        for name, log_group in self._endpoint_log_groups().items():
            model_reasons[finding(log_group)] = (
                f"Log streams of the {name} endpoint, named per instance by SageMaker"
            )
        acknowledge_iam_wildcards(self.model_role, model_reasons)

    def _endpoint_log_groups(self) -> dict[str, str]:
        """Endpoint name -> ARN of its log group's streams (SageMaker names the group)."""
        return {
            name: self.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"/aws/sagemaker/Endpoints/{name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in self.endpoint_names.values()
        }
