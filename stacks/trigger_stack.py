"""TriggerStack: what starts the training pipeline and what an approval starts."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_codepipeline as codepipeline
from constructs import Construct

from components.triggers.approval_rules import ApprovalRules
from components.triggers.new_data_trigger import NewDataTrigger
from components.triggers.retraining_schedule import RetrainingSchedule
from config import EnvironmentConfig
from stacks.pipeline_stack import PipelineStack
from stacks.registry_stack import RegistryStack


class TriggerStack(Stack):
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
        store = registry.store
        training = pipeline.training.reference
        self.schedule = RetrainingSchedule(
            self,
            "RetrainingSchedule",
            settings=config.schedule,
            pipeline=training,
            input_data_uri=pipeline.training.input_data_uri,
            key=store.key,
        )
        self.new_data = NewDataTrigger(
            self,
            "NewDataTrigger",
            bucket_name=store.bucket_name,
            input_prefix=config.input_data_prefix,
            pipeline=training,
            key=store.key,
        )
        self.approvals = ApprovalRules(
            self,
            "ApprovalRules",
            model_package_group_name=registry.registry.group_name,
            deploy_pipeline=deploy_pipeline,
            topic=registry.notifications.topic,
            environment_name=config.name,
        )
