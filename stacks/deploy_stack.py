"""DeployStack: the model-deploy repository, the deploy CodePipeline and what it runs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.deployment import Deployment
from config import EnvironmentConfig
from pipeline_code.template import image_uris_for
from stacks.capability import CAPABILITY_ID
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
        capability = Deployment(
            self,
            CAPABILITY_ID,
            config=config,
            # By name: keeps this stack's IAM resources free of cross-stack imports.
            bucket=registry.store.bucket_for(self, import_key=bool(config.remote_stages)),
            key=registry.store.key,
            model_registry=registry.registry,
            topic=registry.notifications.topic,
            xgboost_image_uri=image_uris_for(config.region)["xgboost"],
        )
        self.endpoint_names = capability.endpoint_names
        self.model_role = capability.model_role
        self.job_layer = capability.job_layer
        self.resolver = capability.resolver
        self.checker = capability.checker
        self.tester = capability.tester
        self.source = capability.source
        self.deploy = capability.deploy
        self.pipeline = capability.pipeline
