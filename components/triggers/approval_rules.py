"""Model registry events → people and deployments: Approved deploys, Pending notifies."""

from __future__ import annotations

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.shared.nag import acknowledge_iam_wildcards

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"


def model_package_pattern(group_name: str, status: str) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[MODEL_PACKAGE_STATE_CHANGE],
        detail={"ModelPackageGroupName": [group_name], "ModelApprovalStatus": [status]},
    )


class ApprovalRules(Construct):
    """Two rules on this project's model package group, and only on it.

    ``Approved`` — and only Approved: Rejected and PendingManualApproval never deploy — starts
    the deploy pipeline. ``PendingManualApproval`` tells reviewers a model version waits.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        model_package_group_name: str,
        deploy_pipeline: codepipeline.IPipeline,
        topic: sns.ITopic,
        environment_name: str,
    ) -> None:
        super().__init__(scope, id_)
        self.deploy_rule = events.Rule(
            self,
            "ApprovedDeploys",
            description=f"Approved versions of {model_package_group_name} start the deployment",
            event_pattern=model_package_pattern(model_package_group_name, "Approved"),
        )
        # Its own role, so this stack does not reach into the deploy pipeline's stack.
        self.deploy_role = iam.Role(
            self,
            "StartDeployRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Starts the deploy pipeline when a model version is approved",
        )
        self.deploy_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["codepipeline:StartPipelineExecution"],
                resources=[deploy_pipeline.pipeline_arn],
            )
        )
        self.deploy_rule.add_target(
            targets.CodePipeline(deploy_pipeline, event_role=self.deploy_role)
        )

        self.pending_rule = events.Rule(
            self,
            "PendingNotifies",
            description=f"New versions of {model_package_group_name} wait for a reviewer",
            event_pattern=model_package_pattern(model_package_group_name, "PendingManualApproval"),
        )
        message = events.RuleTargetInput.from_multiline_text(
            f"[{environment_name}] Model version "
            f"{events.EventField.from_path('$.detail.ModelPackageVersion')} of "
            f"{model_package_group_name} is waiting for approval: "
            f"{events.EventField.from_path('$.detail.ModelPackageArn')}\n"
            "Review its evaluation metrics in SageMaker Studio (Models > Model registry), then "
            "approve it to deploy to staging, or reject it."
        )
        self.pending_rule.add_target(
            targets.SnsTopic(topic, message=message, authorize_using_role=True)
        )
        acknowledge_iam_wildcards(
            self,
            {
                "Action::kms:GenerateDataKey*": "Publishing to the topic encrypted with the "
                "project key; that key only",
            },
        )
