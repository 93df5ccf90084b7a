"""The triggers capability's entry construct: what starts the pipelines."""

from __future__ import annotations

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.shared.pipeline_reference import PipelineReference
from components.triggers.approval_rules import ApprovalRules
from components.triggers.new_data_trigger import NewDataTrigger
from components.triggers.retraining_schedule import RetrainingSchedule
from config import EnvironmentConfig


class Triggers(Construct):
    """The retraining schedule and the new-data trigger start the training pipeline; an
    approved model version starts the deploy pipeline, a pending one notifies the topic."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        training_pipeline: PipelineReference,
        input_data_uri: str,
        bucket_name: str,
        key: kms.IKey,
        model_package_group_name: str,
        deploy_pipeline: codepipeline.IPipeline,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, id_)
        self.schedule = RetrainingSchedule(
            self,
            "RetrainingSchedule",
            settings=config.schedule,
            pipeline=training_pipeline,
            input_data_uri=input_data_uri,
            key=key,
        )
        self.new_data = NewDataTrigger(
            self,
            "NewDataTrigger",
            bucket_name=bucket_name,
            input_prefix=config.input_data_prefix,
            pipeline=training_pipeline,
            key=key,
        )
        self.approvals = ApprovalRules(
            self,
            "ApprovalRules",
            model_package_group_name=model_package_group_name,
            deploy_pipeline=deploy_pipeline,
            topic=topic,
            environment_name=config.name,
        )
