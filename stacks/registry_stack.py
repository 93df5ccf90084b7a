"""RegistryStack: the stateful core every other stack builds on."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.registry import Registry
from config import EnvironmentConfig
from stacks.capability import CAPABILITY_ID


class RegistryStack(Stack):
    """Key, artifact bucket, model package group and notification topic of one environment."""

    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        capability = Registry(self, CAPABILITY_ID, config=config)
        self.store = capability.store
        self.registry = capability.model_registry
        self.notifications = capability.notifications
