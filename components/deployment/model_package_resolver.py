"""The deploy pipeline's first action: finds the newest approved version of the model."""

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
from components.shared.nag import CODEPIPELINE_JOB_RESULTS, acknowledge_iam_wildcards, finding_for


class ModelPackageResolver(PythonLambda):
    """``lambdas/resolve_model_package``, allowed to read this project's model versions only."""

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
            code_dir_name="resolve_model_package",
            description=f"Finds the newest approved version in {registry.group_name}",
            key=key,
            layers=layers,
            timeout=Duration.minutes(1),
        )
        registry.allow_finding_approved(self.role)
        self._reasons = {
            finding_for(self, registry.package_arn_pattern): FIND_APPROVED_VERSIONS_REASON,
        }

    def acknowledge_wildcards(self) -> None:
        """Call once the pipeline action that invokes this function exists (it adds grants)."""
        acknowledge_iam_wildcards(
            self,
            self._reasons,
            any_resource={**CODEPIPELINE_JOB_RESULTS, **FIND_APPROVED_ANY_RESOURCE},
        )
