"""The scheduled drift and model-quality check of the live endpoints (docs/monitoring.md).

EventBridge Scheduler invokes a small function per interval and stage; the function starts a
SageMaker processing job that runs pipeline_code/monitor.py (with drift.py, capture.py and
evaluate.py, the files the training pipeline and `make local-drift` use) in the project's
scikit-learn image. The statistics need NumPy and pandas, which the Lambda runtime lacks and
which the processing image has; the job reads S3 and publishes CloudWatch metrics itself, so it
runs without network isolation, as a role that can do exactly that and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.deployment.endpoint_access import allow_finding_deployed_models
from components.deployment.endpoint_accounts import drift_check_role_name, endpoint_accounts
from components.deployment.endpoint_stack import DATA_CAPTURE_PREFIX, VARIANT_NAME
from components.registry.model_registry import ModelRegistry
from components.shared.lambda_function import PythonLambda
from components.shared.nag import acknowledge_iam_wildcards, finding_for
from components.shared.network import allow_network_interfaces
from components.shared.queues import allow_encrypting_dead_letters, dead_letter_queue
from components.training.sagemaker_execution_role import (
    ECR_AUTHORIZATION_TOKEN,
    allow_job_logs,
    allow_pulling_images,
)
from components.training.training_pipeline import OUTPUT_PREFIX, PIPELINE_CODE_DIR
from config import EnvironmentConfig
from config.monitoring_settings import Stage

GROUND_TRUTH_PREFIX = "ground-truth"
MONITORING_PREFIX = "monitoring"
# The processing job's name: "<resource prefix>-<stage>-mon-<yymmddHHMM>" (lambdas/
# start_drift_check); at most 63 characters for every accepted project and environment name.
JOB_NAME_INFIX = "mon"
# The files the job runs: monitor.py imports the other three by path (they arrive hash-named).
JOB_SCRIPTS = {
    "monitor": "monitor.py",
    "drift": "drift.py",
    "capture": "capture.py",
    "evaluate": "evaluate.py",
}
FUNCTION_TIMEOUT = Duration.seconds(60)


def metric_namespace(project_name: str) -> str:
    """The project's own CloudWatch namespace: the check may put metrics there and nowhere else."""
    return f"{project_name}/Monitoring"


def stage_prefixes(stage: Stage, endpoint_name: str) -> dict[str, str]:
    """The artifact-bucket prefixes the check of one stage reads and writes."""
    return {
        "capture": f"{DATA_CAPTURE_PREFIX}/{stage}/{endpoint_name}/{VARIANT_NAME}/",
        "ground_truth": f"{GROUND_TRUTH_PREFIX}/{stage}/",
        "monitoring": f"{MONITORING_PREFIX}/{stage}/",
    }


def job_name_prefix(resource_prefix: str, stage: Stage) -> str:
    return f"{resource_prefix}-{stage}-{JOB_NAME_INFIX}-"


class DriftCheck(Construct):
    """One schedule per monitored stage → the starter function → the check's processing job.

    ``job_role`` is what the job runs as; ``function`` starts it; ``schedules`` maps each stage
    to its schedule. Missed invocations (after retries) land in a KMS-encrypted dead-letter
    queue.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        bucket: s3.IBucket,
        key: kms.IKey,
        registry: ModelRegistry,
        training_pipeline_name: str,
        endpoint_names: Mapping[Stage, str],
        image_uri: str,
        topic: sns.ITopic,
        shared_layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, id_)
        self.namespace = metric_namespace(config.project_name)
        self.scripts = {
            name: s3_assets.Asset(
                self, f"{name.capitalize()}Script", path=str(PIPELINE_CODE_DIR / file)
            )
            for name, file in JOB_SCRIPTS.items()
        }
        stages = tuple(endpoint_names)
        remote = {
            stage: target.role_arn("reader")
            for stage, target in endpoint_accounts(config).items()
            if stage in endpoint_names
        }
        self.job_role = _JobRole(
            self,
            "JobRole",
            bucket=bucket,
            key=key,
            registry=registry,
            namespace=self.namespace,
            endpoint_names=endpoint_names,
            baseline_objects=f"{OUTPUT_PREFIX}{training_pipeline_name}/*/Evaluate/evaluation/*",
            image_uri=image_uri,
            scripts=list(self.scripts.values()),
            reader_role_arns=remote,
            role_name=drift_check_role_name(config.resource_prefix) if remote else None,
        ).role
        # The check's job runs in the VPC too: it is created with the job role.
        allow_network_interfaces(self.job_role, config.network, "sagemaker")

        settings = config.monitoring
        self.starter = PythonLambda(
            self,
            "StartCheck",
            code_dir_name="start_drift_check",
            description=f"Starts the drift and quality check of {config.resource_prefix}'s "
            "endpoints",
            key=key,
            timeout=FUNCTION_TIMEOUT,
            environment={
                "RESOURCE_PREFIX": config.resource_prefix,
                "ENVIRONMENT": config.name,
                "BUCKET": bucket.bucket_name,
                "NAMESPACE": self.namespace,
                "JOB_ROLE_ARN": self.job_role.role_arn,
                "IMAGE_URI": image_uri,
                "INSTANCE_TYPE": settings.instance_type,
                "VOLUME_SIZE_GB": str(settings.volume_size_gb),
                "MAX_RUNTIME_SECONDS": str(settings.max_runtime_minutes * 60),
                "KMS_KEY_ARN": key.key_arn,
                "CODE_URIS": json.dumps(
                    {name: asset.s3_object_url for name, asset in self.scripts.items()}
                ),
                "MONITOR_ARGS": json.dumps(monitor_arguments(config), sort_keys=True),
                **_vpc_environment(config),
            },
            layers=[shared_layer],
        )
        self._allow_starting_jobs(config.resource_prefix, stages)

        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", key=key, holds="the drift check schedules' failed invocations"
        )
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description=f"Invokes the drift check starter of {config.resource_prefix}",
        )
        self.schedules = {
            stage: self._schedule(stage, name, settings.interval_hours, remote.get(stage))
            for stage, name in endpoint_names.items()
        }
        acknowledge_iam_wildcards(
            self.schedule_role,
            {
                finding_for(self, f"{self.starter.function.function_arn}:*"): "Scheduler's "
                "Lambda target may invoke the starter's versions too (granted by CDK); the one "
                "function only",
            },
        )
        allow_encrypting_dead_letters(self.schedule_role, key)
        self.failure_alerts = self._alert_failed_checks(config, topic, tuple(endpoint_names))

    def _alert_failed_checks(
        self, config: EnvironmentConfig, topic: sns.ITopic, stages: Sequence[Stage]
    ) -> events.Rule:
        """A check that fails or is stopped tells the topic: otherwise nobody would notice
        that drift is no longer watched."""
        rule = events.Rule(
            self,
            "CheckFailed",
            description=f"Failed or stopped drift checks of {config.resource_prefix}",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Processing Job State Change"],
                detail={
                    "ProcessingJobName": [
                        {"prefix": job_name_prefix(config.resource_prefix, stage)}
                        for stage in stages
                    ],
                    "ProcessingJobStatus": ["Failed", "Stopped"],
                },
            ),
        )
        message = events.RuleTargetInput.from_multiline_text(
            f"[{config.name}] The drift and quality check "
            f"{events.EventField.from_path('$.detail.ProcessingJobName')} is "
            f"{events.EventField.from_path('$.detail.ProcessingJobStatus')}: "
            f"{events.EventField.from_path('$.detail.FailureReason')}\n"
            "Its log is in CloudWatch Logs under /aws/sagemaker/ProcessingJobs; the next "
            "scheduled check covers the same window again (docs/monitoring.md)."
        )
        rule.add_target(targets.SnsTopic(topic, message=message, authorize_using_role=True))
        acknowledge_iam_wildcards(
            rule,
            {
                "Action::kms:GenerateDataKey*": "Publishing to the topic encrypted with the "
                "project key; that key only",
            },
        )
        return rule

    def _schedule(
        self, stage: Stage, endpoint_name: str, interval_hours: int, reader_role_arn: str | None
    ) -> scheduler.Schedule:
        # An endpoint of another account is described as its reader role there.
        role = {} if reader_role_arn is None else {"endpoint_role_arn": reader_role_arn}
        return scheduler.Schedule(
            self,
            f"{stage.capitalize()}Schedule",
            description=f"Drift and quality check of {endpoint_name} every {interval_hours} h",
            schedule=scheduler.ScheduleExpression.rate(Duration.hours(interval_hours)),
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.LambdaInvoke(
                self.starter.function,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "stage": stage,
                        "endpoint_name": endpoint_name,
                        # The same time on every retry: the job name, and the window, stay put.
                        "scheduled_time": scheduler.ContextAttribute.scheduled_time,
                        **role,
                    }
                ),
                role=self.schedule_role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                max_event_age=Duration.hours(1),
            ),
        )

    def _allow_starting_jobs(self, resource_prefix: str, stages: Sequence[Stage]) -> None:
        role = self.starter.role
        jobs = [
            Stack.of(self).format_arn(
                service="sagemaker",
                resource="processing-job",
                resource_name=f"{job_name_prefix(resource_prefix, stage)}*",
            )
            for stage in stages
        ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="StartCheckJobs", actions=["sagemaker:CreateProcessingJob"], resources=jobs
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SeeRunningCheckJobs",
                actions=["sagemaker:ListProcessingJobs"],
                resources=["*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassJobRoleToSageMaker",
                actions=["iam:PassRole"],
                resources=[self.job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        acknowledge_iam_wildcards(
            self.starter,
            {
                finding_for(self, job): "Check jobs of this stage; the starter names each with "
                "the time it was scheduled for"
                for job in jobs
            },
            any_resource={
                "sagemaker:ListProcessingJobs": "List calls have no resource-level permissions; "
                "the function lists this stage's check jobs by name prefix to avoid overlaps",
            },
        )


def _vpc_environment(config: EnvironmentConfig) -> dict[str, str]:
    """``VPC_CONFIG`` only with network set: without it the function's settings stay as
    they were (and the job runs on SageMaker's network)."""
    if config.network is None:
        return {}
    return {"VPC_CONFIG": json.dumps(config.network.sagemaker_vpc_config(), sort_keys=True)}


def monitor_arguments(config: EnvironmentConfig) -> dict[str, str]:
    """The check's settings as monitor.py flags (the starter adds the per-run ones)."""
    settings = config.monitoring
    return {
        # Named explicitly: boto3 in a processing container finds no region on its own.
        "region": config.region,
        "interval-hours": str(settings.interval_hours),
        "lookback-hours": str(settings.lookback_hours),
        "max-records": str(settings.max_records),
        "metric": config.metric_name,
        "min-labels": str(settings.min_labels),
        "min-records": str(settings.min_records),
        "threshold": repr(settings.drift_threshold),
    }


class _JobRole(Construct):
    """What the check's processing job may do: read capture, ground truth and its model's
    baseline, write its reports and state, describe what is deployed, put metrics in the
    project's namespace, pull its image and write its logs."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        registry: ModelRegistry,
        namespace: str,
        endpoint_names: Mapping[Stage, str],
        baseline_objects: str,
        image_uri: str,
        scripts: Sequence[s3_assets.Asset],
        reader_role_arns: Mapping[Stage, str],
        role_name: str | None,
    ) -> None:
        """``reader_role_arns``: the stages whose endpoints run in another account, with the
        role there the job describes them as (which trusts this role by ``role_name``)."""
        super().__init__(scope, id_)
        self.role = role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs the scheduled drift and model-quality check of the endpoints",
            role_name=role_name,
        )
        for script in scripts:
            script.grant_read(role)
        reasons: dict[str, str] = {}
        for stage, endpoint_name in endpoint_names.items():
            prefixes = stage_prefixes(stage, endpoint_name)
            bucket.grant_read(role, f"{prefixes['capture']}*")
            bucket.grant_read(role, f"{prefixes['ground_truth']}*")
            bucket.grant_read_write(role, f"{prefixes['monitoring']}*")
            for what, prefix in prefixes.items():
                reasons[finding_for(self, bucket.arn_for_objects(f"{prefix}*"))] = _PREFIX_REASONS[
                    what
                ].format(prefix=prefix)
        bucket.grant_read(role, baseline_objects)
        reasons[finding_for(self, bucket.arn_for_objects(baseline_objects))] = (
            "Evaluate's outputs (baseline.json) of the training pipeline's executions; the "
            "deployed version names its own, under an execution id SageMaker generates"
        )

        local = [name for stage, name in endpoint_names.items() if stage not in reader_role_arns]
        described = allow_finding_deployed_models(role, local) if local else {}
        if reader_role_arns:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DescribeEndpointsOfOtherAccounts",
                    actions=["sts:AssumeRole"],
                    resources=sorted(reader_role_arns.values()),
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeDeployedVersion",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[registry.package_arn_pattern],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PublishCheckMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            )
        )
        allow_pulling_images(role, self, image_uris=[image_uri], sid="PullCheckImage")
        (log_group,) = allow_job_logs(role, self, kinds=["ProcessingJobs"]).values()
        # The job's volume is encrypted with the project key: SageMaker creates a grant for it.
        key.grant(role, "kms:CreateGrant", "kms:DescribeKey")

        reasons |= {
            "Action::s3:GetObject*": "CDK grant_read/grant_read_write object actions, on the "
            "check's prefixes, the baselines and the check's script assets only",
            "Action::s3:GetBucket*": "CDK grant_read: metadata of the artifact and CDK asset "
            "buckets only",
            "Action::s3:List*": "The check lists the capture and ground-truth hours of its "
            "window; the artifact and CDK asset buckets only",
            "Action::s3:DeleteObject*": "CDK grant_read_write on the check's own monitoring "
            "prefix only (its state and latest report are overwritten)",
            "Action::s3:Abort*": "Multipart uploads of the check's reports under its own "
            "monitoring prefix only",
            "Action::kms:GenerateDataKey*": "Encrypting the check's reports with the project "
            "key; that key only",
            "Action::kms:ReEncrypt*": "S3 objects under SSE-KMS with the project key; that key "
            "only",
            finding_for(self, registry.package_arn_pattern): "Versions of this project's model "
            "package group; the deployed version is known only when the check runs",
            finding_for(self, log_group): "Log streams in SageMaker's ProcessingJobs log group, "
            "one per job, named by SageMaker",
            finding_for(self, scripts[0].bucket.arn_for_objects("*")): "The check's scripts "
            "are CDK file assets in the bootstrap bucket; their object names are content "
            "hashes known only after synth",
        }
        reasons |= described
        acknowledge_iam_wildcards(
            self,
            reasons,
            any_resource={
                **ECR_AUTHORIZATION_TOKEN,
                "cloudwatch:PutMetricData": "Metric data has no resource-level permissions; the "
                f"cloudwatch:namespace condition limits it to the project's {namespace}",
            },
        )


_PREFIX_REASONS = {
    "capture": "Captured requests and responses under {prefix}, in hour folders SageMaker names",
    "ground_truth": "Ground-truth labels users upload under {prefix}, in hour folders",
    "monitoring": "The check's own reports, state and prediction index under {prefix}",
}
