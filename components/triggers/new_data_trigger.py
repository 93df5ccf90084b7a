"""Retraining when new data lands: S3 → EventBridge → SQS (debounce) → Lambda → pipeline."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from components.shared.lambda_function import PythonLambda
from components.shared.lambda_layer import PythonLayer
from components.shared.nag import acknowledge_iam_wildcards, finding_for
from components.shared.pipeline_reference import PipelineReference
from components.shared.queues import dead_letter_queue

# A burst of uploads within this window becomes one pipeline execution.
DEBOUNCE_WINDOW = Duration.minutes(5)
FUNCTION_TIMEOUT = Duration.seconds(60)
# Lambda's guidance for SQS sources: visibility >= 6 x function timeout + batching window.
QUEUE_VISIBILITY = Duration.seconds(6 * 60 + 300)
MAX_RECEIVES = 5


class NewDataTrigger(Construct):
    """Objects created under the input prefix of the artifact bucket start the pipeline.

    Debounce: the rule delivers to an SQS queue and the function reads it with a 5-minute
    batching window, so a burst of uploads is one invocation that starts one execution
    (with the newest object's folder as InputDataUri). Redelivered events reuse a
    deterministic ClientRequestToken, and an execution already running for the same input
    is not started twice. Records that keep failing go to a dead-letter queue.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket_name: str,
        input_prefix: str,
        pipeline: PipelineReference,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id_)
        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", key=key, holds="the new-data queue"
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=QUEUE_VISIBILITY,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVES
            ),
        )
        self.rule = events.Rule(
            self,
            "ObjectCreated",
            description=f"New objects under s3://{bucket_name}/{input_prefix}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [bucket_name]},
                    "object": {"key": [{"prefix": input_prefix}]},
                },
            ),
        )
        self.rule.add_target(targets.SqsQueue(self.queue))

        shared = PythonLayer(
            self,
            "SharedLayer",
            code_dir_name="shared",
            description="Logging and AWS clients the functions share",
        )
        self.handler = PythonLambda(
            self,
            "StartPipeline",
            code_dir_name="start_pipeline_on_new_data",
            description=f"Starts {pipeline.pipeline_name} when new training data lands",
            key=key,
            timeout=FUNCTION_TIMEOUT,
            environment={
                "PIPELINE_NAME": pipeline.pipeline_name,
                "INPUT_BUCKET": bucket_name,
                "INPUT_PREFIX": input_prefix,
                "INPUT_PARAMETER_NAME": "InputDataUri",
            },
            layers=[shared.layer],
        )
        self.handler.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=1000,
                max_batching_window=DEBOUNCE_WINDOW,
                report_batch_item_failures=True,
            )
        )
        role = self.handler.role
        pipeline.grant_start_pipeline_execution(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SeeRunningExecutions",
                actions=["sagemaker:ListPipelineExecutions"],
                resources=[pipeline.pipeline_arn],
            )
        )
        executions = Stack.of(self).format_arn(
            service="sagemaker",
            resource="pipeline",
            resource_name=f"{pipeline.pipeline_name}/execution/*",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CompareExecutionInputs",
                actions=["sagemaker:ListPipelineParametersForExecution"],
                resources=[executions],
            )
        )
        acknowledge_iam_wildcards(
            self,
            {
                finding_for(self, executions): "Executions of this one pipeline; SageMaker "
                "generates their ids at start",
            },
        )
