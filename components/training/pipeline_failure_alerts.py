"""Tells people when a training pipeline execution fails or is stopped."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.shared.nag import acknowledge_iam_wildcards
from components.shared.pipeline_reference import PipelineReference

FAILED_STATUSES = ("Failed", "Stopped")


class PipelineFailureAlerts(Construct):
    """An EventBridge rule on this pipeline's Failed/Stopped executions → the project topic.

    The rule publishes through its own role, so the topic's stack needs no policy that
    points back at this stack.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pipeline: PipelineReference,
        topic: sns.ITopic,
        environment_name: str,
    ) -> None:
        super().__init__(scope, id_)
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Failed or stopped executions of {pipeline.pipeline_name}",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Building Pipeline Execution Status Change"],
                detail={
                    "pipelineArn": [pipeline.pipeline_arn],
                    "currentPipelineExecutionStatus": list(FAILED_STATUSES),
                },
            ),
        )
        message = events.RuleTargetInput.from_multiline_text(
            f"[{environment_name}] SageMaker pipeline {pipeline.pipeline_name}: execution "
            f"{events.EventField.from_path('$.detail.pipelineExecutionArn')} is "
            f"{events.EventField.from_path('$.detail.currentPipelineExecutionStatus')}.\n"
            "A model the gate rejects fails the ModelRejected step with the reason (metric "
            "below the threshold or below the approved model's, a single predicted class, too "
            "few test rows of a class); open the execution in SageMaker Studio for the step "
            "that failed and its logs."
        )
        self.rule.add_target(targets.SnsTopic(topic, message=message, authorize_using_role=True))
        acknowledge_iam_wildcards(
            self,
            {
                "Action::kms:GenerateDataKey*": "Publishing to the topic encrypted with the "
                "project key; that key only",
            },
        )
