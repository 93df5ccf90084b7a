"""What a monitoring alarm does: tell the project topic, with a link to the report, and (when
the environment says `on_drift: retrain`) start the training pipeline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.monitoring.drift_check import MONITORING_PREFIX
from components.shared.lambda_function import PythonLambda
from components.shared.nag import acknowledge_iam_wildcards
from components.shared.pipeline_reference import PipelineReference
from components.shared.queues import dead_letter_queue
from config import EnvironmentConfig

LATEST_REPORT = "latest-report.json"
FUNCTION_TIMEOUT = Duration.seconds(60)


class AlarmResponse(Construct):
    """EventBridge delivers each alarm's change to ALARM, once per episode, to one function.

    The function publishes the alarm with the latest report's summary and link, and for a
    drift alarm with ``on_drift: retrain`` starts the pipeline on its default input data,
    unless an execution is running (lambdas/on_monitoring_alarm). Events the function keeps
    failing on land in a dead-letter queue.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        alarms: Sequence[cloudwatch.IAlarm],
        alarm_stages: Mapping[str, Mapping[str, str]],
        bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        pipeline: PipelineReference,
        input_data_uri: str,
        shared_layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, id_)
        self.handler = PythonLambda(
            self,
            "Respond",
            code_dir_name="on_monitoring_alarm",
            description=f"Reports {config.resource_prefix}'s monitoring alarms and retrains on "
            "drift when configured",
            key=key,
            timeout=FUNCTION_TIMEOUT,
            environment={
                "TOPIC_ARN": topic.topic_arn,
                "BUCKET": bucket.bucket_name,
                "PIPELINE_NAME": pipeline.pipeline_name,
                "ON_DRIFT": config.on_drift,
                "ALARMS": json.dumps(alarm_stages, sort_keys=True),
                "ENVIRONMENT": config.name,
                "INPUT_DATA_URI": input_data_uri,
            },
            layers=[shared_layer],
        )
        role = self.handler.role
        stages = sorted({entry["stage"] for entry in alarm_stages.values()})
        for stage in stages:
            bucket.grant_read(role, f"{MONITORING_PREFIX}/{stage}/{LATEST_REPORT}")
        topic.grant_publish(role)
        key.grant(role, "kms:Decrypt", "kms:GenerateDataKey*")
        if config.on_drift == "retrain":
            pipeline.grant_start_pipeline_execution(role)
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="SeeRunningExecutions",
                    actions=["sagemaker:ListPipelineExecutions"],
                    resources=[pipeline.pipeline_arn],
                )
            )

        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", key=key, holds="the monitoring alarm response"
        )
        self.rule = events.Rule(
            self,
            "AlarmStateChange",
            description=f"{config.resource_prefix}'s monitoring alarms going into ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn for alarm in alarms],
                detail={"state": {"value": ["ALARM"]}},
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.handler.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                max_event_age=Duration.hours(2),
            )
        )
        acknowledge_iam_wildcards(
            self.handler,
            {
                "Action::s3:GetObject*": "CDK grant_read object actions on the latest "
                "monitoring report of each monitored stage only",
                "Action::s3:GetBucket*": "CDK grant_read: metadata of the artifact bucket only",
                "Action::s3:List*": "CDK grant_read on the latest report objects only",
                "Action::kms:GenerateDataKey*": "Publishing to the topic encrypted with the "
                "project key; that key only",
            },
        )
