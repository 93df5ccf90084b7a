"""The deploy pipeline's pre-flight check of the endpoint settings users edit."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from components.shared.lambda_function import PythonLambda
from components.shared.nag import CODEPIPELINE_JOB_RESULTS, acknowledge_iam_wildcards


class DeployConfigChecker(PythonLambda):
    """``lambdas/check_deploy_config``: checks staging-config.json and prod-config.json
    against the endpoint templates before anything is deployed.

    It reads both artifacts with the credentials CodePipeline hands to the job, so its role
    needs nothing beyond writing its logs and reporting the job's result.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        key: kms.IKey,
        layers: Sequence[lambda_.ILayerVersion],
    ) -> None:
        super().__init__(
            scope,
            id_,
            code_dir_name="check_deploy_config",
            description="Checks the model-deploy repository's endpoint config files against "
            "the endpoint templates",
            key=key,
            layers=layers,
            timeout=Duration.minutes(1),
        )

    def acknowledge_wildcards(self) -> None:
        """Call once the pipeline action that invokes this function exists (it adds grants)."""
        acknowledge_iam_wildcards(self, {}, any_resource=CODEPIPELINE_JOB_RESULTS)
