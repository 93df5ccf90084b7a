"""The deployment capability's entry construct: the model-deploy repository, the deploy
CodePipeline and the Lambdas it runs."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.deployment.deploy_config_checker import DeployConfigChecker
from components.deployment.endpoint_accounts import (
    EndpointAccount,
    endpoint_accounts,
    endpoint_test_role_name,
)
from components.deployment.endpoint_stack import (
    DATA_CAPTURE_PREFIX,
    STAGES,
    EndpointStage,
    endpoint_name,
    endpoint_settings,
)
from components.deployment.endpoint_tester import EndpointTester
from components.deployment.model_deploy_pipeline import (
    REPOSITORY_CONTENT_DIR,
    ModelDeployPipeline,
    staging_dir,
    write_repository_content,
)
from components.deployment.model_hosting_role import ModelHostingRole
from components.deployment.model_package_resolver import ModelPackageResolver
from components.registry.model_registry import ModelRegistry
from components.shared.code_source import CodeSource
from components.shared.lambda_layer import PythonLayer
from config import EnvironmentConfig


class Deployment(Construct):
    """Deploys the newest approved model: staging → test → manual approval → prod.

    ``pipeline`` is what the approval rule (triggers) starts; pushes to the model-deploy
    repository start it too.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        bucket: s3.IBucket,
        key: kms.IKey,
        model_registry: ModelRegistry,
        topic: sns.ITopic,
        xgboost_image_uri: str,
    ) -> None:
        super().__init__(scope, id_)
        self.endpoint_names = {
            stage: endpoint_name(config.resource_prefix, stage) for stage in STAGES
        }
        remote = endpoint_accounts(config)
        self.model_role = self._local_model_role(
            config,
            [stage for stage in STAGES if stage not in remote],
            bucket,
            key,
            xgboost_image_uri,
        )
        # The logging, client and job-reporting code the deploy pipeline's Lambda actions share
        # (lambdas/shared). The id predates that name and stays, so the layer's logical ID does.
        self.job_layer = PythonLayer(
            self,
            "CodePipelineJobLayer",
            code_dir_name="shared",
            description="Logging, AWS clients and CodePipeline job reporting the functions share",
        ).layer
        self.resolver = ModelPackageResolver(
            self,
            "ResolveModelPackage",
            registry=model_registry,
            key=key,
            layers=[self.job_layer],
        )
        self.checker = DeployConfigChecker(
            self, "CheckDeployConfig", key=key, layers=[self.job_layer]
        )
        self.tester = EndpointTester(
            self,
            "TestEndpoint",
            endpoint_name=self.endpoint_names["staging"],
            registry=model_registry,
            bucket=bucket,
            key=key,
            layers=[self.job_layer],
            **_tester_access(config, remote),
        )
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
            artifact_bucket=bucket,
            key=key,
            registry=model_registry,
            topic=topic,
            model_role=self.model_role,
            remote=remote,
            resolve_function=self.resolver.function,
            check_function=self.checker.function,
            test_function=self.tester.function,
        )
        self.pipeline = self.deploy.pipeline
        # The pipeline's invoke actions have granted the functions what they report with.
        for function in (self.resolver, self.checker, self.tester):
            function.acknowledge_wildcards()

    def _local_model_role(
        self,
        config: EnvironmentConfig,
        local: list[EndpointStage],
        bucket: s3.IBucket,
        key: kms.IKey,
        image_uri: str,
    ) -> iam.IRole | None:
        """The role that hosts the endpoints of this account; those in other accounts have
        theirs there (components/deployment/endpoint_access.py)."""
        if not local:
            return None
        captures_data = any(endpoint_settings(config, stage).mode == "instance" for stage in local)
        return ModelHostingRole(
            self,
            "ModelRole",
            bucket=bucket,
            key=key,
            image_uri=image_uri,
            endpoint_names=[self.endpoint_names[stage] for stage in local],
            data_capture_prefix=DATA_CAPTURE_PREFIX if captures_data else None,
            description=f"Hosts the approved {config.project_name} model on the "
            f"{config.name} endpoints",
            network=config.network,
        ).role


def _tester_access(
    config: EnvironmentConfig, remote: Mapping[EndpointStage, EndpointAccount]
) -> dict[str, str | None]:
    """The staging test's role there, and its own fixed name (trusted by name), when the
    staging endpoint runs in another account."""
    target = remote.get("staging")
    return {
        "endpoint_role_arn": None if target is None else target.role_arn("tester"),
        "role_name": endpoint_test_role_name(config.resource_prefix) if remote else None,
    }
