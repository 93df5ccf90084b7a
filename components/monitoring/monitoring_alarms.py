"""The alarms on what the drift check publishes: drift, and model quality below the bar."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from config import EnvironmentConfig
from config.monitoring_settings import Stage

DRIFTED_FEATURES = "DriftedFeatures"
DRIFT_SCORE = "DriftScore"
FEATURE_DRIFT = "FeatureDrift"
RECORDS_CHECKED = "RecordsChecked"
MALFORMED_RECORDS = "MalformedRecords"
MODEL_QUALITY = "ModelQuality"
LABELED_RECORDS = "LabeledRecords"
KINDS = ("drift", "quality")


def check_metric(
    namespace: str,
    name: str,
    *,
    environment: str,
    endpoint_name: str,
    period: Duration,
    statistic: str = "Maximum",
) -> cloudwatch.Metric:
    """One of the check's metrics for one endpoint (dimensions as monitor.py publishes them)."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"Environment": environment, "Endpoint": endpoint_name},
        period=period,
        statistic=statistic,
    )


@dataclass(frozen=True)
class StageAlarms:
    drift: cloudwatch.Alarm
    quality: cloudwatch.Alarm


class MonitoringAlarms(Construct):
    """Per monitored stage: ``<prefix>-<stage>-drift`` (any drifted feature, the scores or a
    schema problem in ``drift_datapoints_to_alarm`` of ``drift_evaluation_periods`` checks)
    and ``<prefix>-<stage>-quality`` (the gate metric below the threshold in every one of
    ``quality_evaluation_periods`` checks). A check without traffic or labels publishes no
    such datapoint: missing data is not breaching, so silence never alarms.

    ``by_name`` maps each alarm name to its stage and kind (what the alarm response needs).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        namespace: str,
        endpoint_names: dict[Stage, str],
    ) -> None:
        super().__init__(scope, id_)
        settings = config.monitoring
        period = Duration.hours(settings.interval_hours)
        self.alarms: dict[Stage, StageAlarms] = {}
        self.by_name: dict[str, dict[str, str]] = {}
        for stage, endpoint_name in endpoint_names.items():

            def metric(name: str, endpoint: str = endpoint_name) -> cloudwatch.Metric:
                return check_metric(
                    namespace, name, environment=config.name, endpoint_name=endpoint, period=period
                )

            prefix = f"{config.resource_prefix}-{stage}"
            drift = cloudwatch.Alarm(
                self,
                f"{stage.capitalize()}Drift",
                alarm_name=f"{prefix}-drift",
                alarm_description=f"Traffic of {endpoint_name} drifted from its model's training "
                "baseline (features, predicted scores or schema); see the latest report under "
                f"monitoring/{stage}/ in the artifact bucket",
                metric=metric(DRIFTED_FEATURES),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=settings.drift_evaluation_periods,
                datapoints_to_alarm=settings.drift_datapoints_to_alarm,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            quality = cloudwatch.Alarm(
                self,
                f"{stage.capitalize()}Quality",
                alarm_name=f"{prefix}-quality",
                alarm_description=f"{config.metric_name} of {endpoint_name} on ground-truth "
                f"labels below {config.quality_threshold}",
                metric=metric(MODEL_QUALITY, endpoint_name).with_(statistic="Minimum"),
                threshold=config.quality_threshold,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=settings.quality_evaluation_periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            self.alarms[stage] = StageAlarms(drift=drift, quality=quality)
            for kind in KINDS:
                self.by_name[f"{prefix}-{kind}"] = {"stage": stage, "kind": kind}

    @property
    def all(self) -> list[cloudwatch.Alarm]:
        return [alarm for pair in self.alarms.values() for alarm in (pair.drift, pair.quality)]
