"""TriggerStack: what starts the training pipeline and what an approval starts."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_codepipeline as codepipeline
from constructs import Construct

from components.triggers import Triggers
from config import EnvironmentConfig
from stacks.capability import CAPABILITY_ID
from stacks.pipeline_stack import PipelineStack
from stacks.registry_stack import RegistryStack


class TriggerStack(Stack):
    """The retraining schedule, the new-data trigger and the approval rules of one environment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        registry: RegistryStack,
        pipeline: PipelineStack,
        deploy_pipeline: codepipeline.IPipeline,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        capability = Triggers(
            self,
            CAPABILITY_ID,
            config=config,
            training_pipeline=pipeline.training.reference,
            input_data_uri=pipeline.training.input_data_uri,
            bucket_name=registry.store.bucket_name,
            key=registry.store.key,
            model_package_group_name=registry.registry.group_name,
            deploy_pipeline=deploy_pipeline,
            topic=registry.notifications.topic,
        )
        self.schedule = capability.schedule
        self.new_data = capability.new_data
        self.approvals = capability.approvals
