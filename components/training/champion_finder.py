"""The training pipeline's FindChampion step: a function that reads this project's approved
model versions, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from components.registry.model_registry import (
    FIND_APPROVED_ANY_RESOURCE,
    FIND_APPROVED_VERSIONS_REASON,
    ModelRegistry,
)
from components.shared.lambda_function import PythonLambda
from components.shared.nag import acknowledge_iam_wildcards, finding_for


class ChampionFinder(PythonLambda):
    """``lambdas/find_champion``: the newest approved version of the group, or none."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        registry: ModelRegistry,
        key: kms.IKey,
        layers: Sequence[lambda_.ILayerVersion],
    ) -> None:
        super().__init__(
            scope,
            id_,
            code_dir_name="find_champion",
            description=f"Finds the approved model of {registry.group_name} a new one must match",
            key=key,
            layers=layers,
            timeout=Duration.minutes(1),
        )
        registry.allow_finding_approved(self.role)
        acknowledge_iam_wildcards(
            self,
            {finding_for(self, registry.package_arn_pattern): FIND_APPROVED_VERSIONS_REASON},
            any_resource=FIND_APPROVED_ANY_RESOURCE,
        )
