"""One CloudWatch dashboard per environment: training, serving and monitoring side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from components.deployment.endpoint_stack import STAGES, VARIANT_NAME
from components.monitoring.monitoring_alarms import (
    DRIFT_SCORE,
    DRIFTED_FEATURES,
    FEATURE_DRIFT,
    LABELED_RECORDS,
    MALFORMED_RECORDS,
    MODEL_QUALITY,
    RECORDS_CHECKED,
    check_metric,
)
from config import EnvironmentConfig
from config.monitoring_settings import Stage

PIPELINE_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
ENDPOINT_NAMESPACE = "AWS/SageMaker"
WIDTH = 24
THIRD = WIDTH // 3


class MonitoringDashboard(Construct):
    """``<prefix>-mlops``: pipeline executions; invocations, errors and latency of each
    endpoint; and, for each monitored endpoint, drift per feature, the overall drift, the
    records checked and the model quality against its alarm threshold."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        pipeline_name: str,
        endpoint_names: Mapping[Stage, str],
        monitored: Sequence[Stage],
        namespace: str,
        alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, id_)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{config.resource_prefix}-mlops",
            default_interval=Duration.days(14),
        )
        self.dashboard.add_widgets(self._pipeline_widget(pipeline_name))
        for stage in STAGES:
            self.dashboard.add_widgets(
                *_endpoint_widgets(stage, endpoint_names[stage], config.endpoint_account(stage))
            )
        period = Duration.hours(config.monitoring.interval_hours)
        for stage in monitored:
            self.dashboard.add_widgets(
                *_monitoring_widgets(config, stage, endpoint_names[stage], namespace, period)
            )
        if alarms:
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(
                    title="Monitoring alarms", alarms=list(alarms), width=WIDTH
                )
            )
        if not monitored:
            self.dashboard.add_widgets(
                cloudwatch.TextWidget(
                    markdown="No endpoint of this environment is monitored for drift: "
                    "serverless endpoints cannot capture traffic (docs/monitoring.md).",
                    width=WIDTH,
                    height=2,
                )
            )

    @staticmethod
    def _pipeline_widget(pipeline_name: str) -> cloudwatch.GraphWidget:
        def metric(name: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=PIPELINE_NAMESPACE,
                metric_name=name,
                dimensions_map={"PipelineName": pipeline_name},
                statistic="Sum",
                period=Duration.days(1),
                label=label,
            )

        return cloudwatch.GraphWidget(
            title=f"Training pipeline {pipeline_name}: executions per day",
            left=[
                metric("ExecutionStarted", "started"),
                metric("ExecutionSucceeded", "succeeded"),
                metric("ExecutionFailed", "failed"),
            ],
            width=WIDTH,
        )


def _endpoint_widgets(
    stage: Stage, endpoint_name: str, account: str | None
) -> list[cloudwatch.IWidget]:
    """``account``: where the endpoint runs when not here (its metrics show once CloudWatch
    cross-account observability links that account to this one, docs/operations.md)."""

    def metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            account=account,
            namespace=ENDPOINT_NAMESPACE,
            metric_name=name,
            dimensions_map={"EndpointName": endpoint_name, "VariantName": VARIANT_NAME},
            statistic=statistic,
            period=Duration.minutes(5),
            label=label,
        )

    return [
        cloudwatch.GraphWidget(
            title=f"{stage}: invocations",
            left=[metric("Invocations", "Sum", "invocations")],
            width=THIRD,
        ),
        cloudwatch.GraphWidget(
            title=f"{stage}: errors",
            left=[
                metric("Invocation4XXErrors", "Sum", "4xx"),
                metric("Invocation5XXErrors", "Sum", "5xx"),
            ],
            width=THIRD,
        ),
        cloudwatch.GraphWidget(
            title=f"{stage}: model latency (µs)",
            left=[metric("ModelLatency", "p50", "p50"), metric("ModelLatency", "p90", "p90")],
            width=THIRD,
        ),
    ]


def _monitoring_widgets(
    config: EnvironmentConfig,
    stage: Stage,
    endpoint_name: str,
    namespace: str,
    period: Duration,
) -> list[cloudwatch.IWidget]:
    def metric(name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
        return check_metric(
            namespace,
            name,
            environment=config.name,
            endpoint_name=endpoint_name,
            period=period,
            statistic=statistic,
        )

    per_feature = cloudwatch.MathExpression(
        expression=(
            f'SEARCH(\'{{"{namespace}",Endpoint,Environment,Feature}} '
            f'MetricName="{FEATURE_DRIFT}" Endpoint="{endpoint_name}" '
            f"Environment=\"{config.name}\"', 'Maximum', {int(period.to_seconds())})"
        ),
        label="",
        period=period,
    )
    threshold = config.monitoring.drift_threshold
    return [
        cloudwatch.GraphWidget(
            title=f"{stage}: drift per feature (L∞ distance)",
            left=[per_feature],
            left_annotations=[
                cloudwatch.HorizontalAnnotation(value=threshold, label=f"threshold {threshold}")
            ],
            width=THIRD,
        ),
        cloudwatch.GraphWidget(
            title=f"{stage}: drift overall",
            left=[metric(DRIFT_SCORE)],
            right=[metric(DRIFTED_FEATURES)],
            width=THIRD,
        ),
        cloudwatch.GraphWidget(
            title=f"{stage}: records checked",
            left=[metric(RECORDS_CHECKED, "Sum"), metric(MALFORMED_RECORDS, "Sum")],
            width=THIRD,
        ),
        cloudwatch.GraphWidget(
            title=f"{stage}: model quality ({config.metric_name}) on ground truth",
            left=[metric(MODEL_QUALITY, "Minimum")],
            left_annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=config.quality_threshold,
                    label=f"alarm below {config.quality_threshold}",
                )
            ],
            right=[metric(LABELED_RECORDS, "Sum")],
            width=WIDTH,
        ),
    ]
