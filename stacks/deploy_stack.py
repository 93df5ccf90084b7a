"""DeployStack: the model-deploy repository, the deploy CodePipeline and what it runs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.deployment.deploy_config_checker import DeployConfigChecker
from components.deployment.endpoint_stack import (
    DATA_CAPTURE_PREFIX,
    STAGES,
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
from components.shared.code_source import CodeSource
from components.shared.lambda_layer import PythonLayer
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
        # By name: keeps this stack's IAM resources free of cross-stack imports.
        bucket = registry.store.bucket_for(self)
        key = registry.store.key
        model_registry = registry.registry
        self.endpoint_names = {
            stage: endpoint_name(config.resource_prefix, stage) for stage in STAGES
        }
        captures_data = any(endpoint_settings(config, stage).mode == "instance" for stage in STAGES)

        self.model_role = ModelHostingRole(
            self,
            "ModelRole",
            bucket=bucket,
            key=key,
            image_uri=image_uris_for(config.region)["xgboost"],
            endpoint_names=list(self.endpoint_names.values()),
            data_capture_prefix=DATA_CAPTURE_PREFIX if captures_data else None,
            description=f"Hosts the approved {config.project_name} model on the {config.name} "
            "endpoints",
        ).role
        # The job-event and reporting code the deploy pipeline's Lambda actions share.
        self.job_layer = PythonLayer(
            self,
            "CodePipelineJobLayer",
            code_dir_name="codepipeline_job",
            description="Reads CodePipeline job events and reports their results",
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
            topic=registry.notifications.topic,
            model_role=self.model_role,
            resolve_function=self.resolver.function,
            check_function=self.checker.function,
            test_function=self.tester.function,
        )
        self.pipeline = self.deploy.pipeline
        # The pipeline's invoke actions have granted the functions what they report with.
        for function in (self.resolver, self.checker, self.tester):
            function.acknowledge_wildcards()
