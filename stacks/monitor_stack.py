"""MonitorStack: the drift and quality check of the live endpoints, alarms and the dashboard."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.monitoring import Monitoring
from config import EnvironmentConfig
from stacks.capability import CAPABILITY_ID
from stacks.pipeline_stack import PipelineStack
from stacks.registry_stack import RegistryStack


class MonitorStack(Stack):
    """Watches what the deployed endpoints receive; retrains on drift when configured."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        registry: RegistryStack,
        pipeline: PipelineStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        capability = Monitoring(
            self,
            CAPABILITY_ID,
            config=config,
            # By name: keeps this stack's IAM resources free of cross-stack imports.
            bucket=registry.store.bucket_for(self),
            key=registry.store.key,
            registry=registry.registry,
            topic=registry.notifications.topic,
            pipeline=pipeline.training.reference,
            input_data_uri=pipeline.training.input_data_uri,
        )
        self.check = capability.check
        self.alarms = capability.alarms
        self.response = capability.response
        self.dashboard = capability.dashboard
