"""Weekly (or any cron) retraining: EventBridge Scheduler starts the SageMaker pipeline."""

from __future__ import annotations

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from components.shared.pipeline_reference import PipelineReference
from components.shared.queues import allow_encrypting_dead_letters, dead_letter_queue
from config import RetrainingSchedule as ScheduleSettings


class RetrainingSchedule(Construct):
    """A schedule whose role may start this one pipeline and nothing else.

    Invocations that still fail after the retries land in a KMS-encrypted dead-letter queue,
    so a missed retraining is visible instead of silent. ``enabled: false`` in the config
    pauses the schedule without deleting it.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: ScheduleSettings,
        pipeline: PipelineReference,
        input_data_uri: str,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id_)
        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", key=key, holds="the retraining schedule's failed invocations"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description=f"Starts the {pipeline.pipeline_name} pipeline on schedule",
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=(
                f"Retrains {pipeline.pipeline_name} on {settings.cron} ({settings.time_zone})"
            ),
            schedule=scheduler.ScheduleExpression.expression(
                settings.cron, TimeZone.of(settings.time_zone)
            ),
            enabled=settings.enabled,
            time_window=scheduler.TimeWindow.off(),
            target=targets.SageMakerStartPipelineExecution(
                pipeline,
                pipeline_parameter_list=[
                    targets.SageMakerPipelineParameter(name="InputDataUri", value=input_data_uri)
                ],
                role=self.role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                max_event_age=Duration.hours(6),
            ),
        )
        allow_encrypting_dead_letters(self.role, key)
