"""The registry capability's entry construct: the stateful core every other capability uses."""

from __future__ import annotations

from constructs import Construct

from components.deployment.endpoint_accounts import endpoint_accounts
from components.deployment.endpoint_stack import endpoint_settings
from components.registry.artifact_store import ArtifactStore
from components.registry.model_registry import ModelRegistry
from components.registry.notifications import Notifications
from components.registry.serving_accounts import ServingAccountAccess
from config import EnvironmentConfig


class Registry(Construct):
    """Key, artifact bucket, model package group and notification topic of one environment."""

    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, id_)
        self.store = ArtifactStore(self, "ArtifactStore", resource_prefix=config.resource_prefix)
        self.model_registry = ModelRegistry(
            self,
            "ModelRegistry",
            group_name=config.resource_prefix,
            description=f"Versions of the {config.project_name} model trained in {config.name}",
        )
        self.notifications = Notifications(
            self,
            "Notifications",
            key=self.store.key,
            display_name=f"{config.resource_prefix} MLOps",
            email=config.notification_email,
        )
        targets = endpoint_accounts(config)
        if targets:
            self.serving_accounts = ServingAccountAccess(
                self,
                "ServingAccounts",
                targets=list(targets.values()),
                capturing=[
                    target
                    for stage, target in targets.items()
                    if endpoint_settings(config, stage).mode == "instance"
                ],
                bucket=self.store.bucket,
                key=self.store.key,
                group=self.model_registry.group,
                package_arn_pattern=self.model_registry.package_arn_pattern,
            )
