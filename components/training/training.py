"""The training capability's entry construct: the SageMaker pipeline and its model-build CI/CD."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.registry.model_registry import ModelRegistry
from components.shared.code_source import CodeSource
from components.training.model_build_pipeline import ModelBuildPipeline
from components.training.pipeline_failure_alerts import PipelineFailureAlerts
from components.training.training_pipeline import TrainingPipeline
from config import EnvironmentConfig


class Training(Construct):
    """The training pipeline, the model-build repository that holds its code, the CodePipeline
    that tests and deploys that code, and the alerts on failed executions."""

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
        source_dir: Path,
        source_exclude: Sequence[str],
        stack_name: str,
        context_overrides: Sequence[tuple[str, str]],
    ) -> None:
        super().__init__(scope, id_)
        self.training = TrainingPipeline(
            self,
            "TrainingPipeline",
            config=config,
            bucket=bucket,
            key=key,
            registry=model_registry,
        )
        self.source = CodeSource(
            self,
            "ModelBuildSource",
            settings=config.source,
            codecommit_name=f"{config.resource_prefix}-model-build",
            description=f"Model-build code of {config.project_name} ({config.name}): "
            "pipeline steps, SageMaker definition and the CDK app",
            initial_content_dir=source_dir,
            initial_content_exclude=list(source_exclude),
            connection_repository=config.source.build_repository,
        )
        self.build = ModelBuildPipeline(
            self,
            "ModelBuild",
            source=self.source,
            artifact_bucket=bucket,
            key=key,
            stack_name=stack_name,
            training_pipeline=self.training.reference,
            context_overrides=context_overrides,
            network=config.network,
        )
        self.failure_alerts = PipelineFailureAlerts(
            self,
            "FailureAlerts",
            pipeline=self.training.reference,
            topic=topic,
            environment_name=config.name,
        )
