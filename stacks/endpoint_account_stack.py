"""EndpointAccountStack: what one target account needs to host a stage's endpoint."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.deployment.endpoint_access import EndpointAccess
from components.deployment.endpoint_accounts import EndpointAccount
from config import EnvironmentConfig
from pipeline_code.template import image_uris_for
from stacks.capability import CAPABILITY_ID


class EndpointAccountStack(Stack):
    """Deployed into the staging or prod account (CDK bootstrap trust lets the build account's
    `cdk deploy` do it); the endpoint stack itself is created there by the deploy pipeline."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        target: EndpointAccount,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.access = EndpointAccess(
            self,
            CAPABILITY_ID,
            target=target,
            settings=config.staging_endpoint if target.stage == "staging" else config.prod_endpoint,
            image_uri=image_uris_for(config.region)["xgboost"],
            monitored=target.stage in config.monitored_stages,
            network=config.network,
        )
