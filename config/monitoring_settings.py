"""How the live endpoints are watched for drift and model quality (docs/monitoring.md)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from config.frozen_settings import FrozenSettings
from config.validation import NotBoolean, ProcessingInstanceType

# CloudWatch: an alarm's period times its evaluation periods may not exceed seven days.
ALARM_WINDOW_LIMIT_HOURS = 7 * 24
Stage = Literal["staging", "prod"]


def _stage_list(value: object) -> object:
    """`-c dev.monitoring.stages=prod,staging` on the command line; a list in cdk.json."""
    if isinstance(value, str):
        return tuple(stage.strip() for stage in value.split(",") if stage.strip())
    return value


class MonitoringSettings(FrozenSettings):
    """The scheduled drift and quality check of each monitored instance endpoint.

    Serverless endpoints cannot capture traffic, so a listed stage whose endpoint is
    serverless is skipped (synth says so).
    """

    enabled: bool = True
    stages: Annotated[tuple[Stage, ...], BeforeValidator(_stage_list)] = ("prod",)
    # One check, and one alarm period, per interval: the traffic captured since the last check.
    interval_hours: Annotated[int, Field(ge=1, le=24), NotBoolean] = 24
    # AWS's documented rule for its own monitor: L-infinity distance between CDFs above 0.1.
    drift_threshold: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False), NotBoolean] = 0.1
    # Fewer captured records than this: distributions are not compared (schema checks still are).
    min_records: Annotated[int, Field(ge=10, le=1_000_000), NotBoolean] = 100
    # The sample cap: the most records one check parses, so a check's work is bounded.
    max_records: Annotated[int, Field(ge=100, le=5_000_000), NotBoolean] = 100_000
    drift_evaluation_periods: Annotated[int, Field(ge=1, le=168), NotBoolean] = 1
    drift_datapoints_to_alarm: Annotated[int, Field(ge=1, le=168), NotBoolean] = 1
    # Model quality alarms below this value of the environment's gate metric; unset: the
    # environment's metric_threshold (the bar a model had to clear to be registered).
    quality_threshold: Annotated[
        Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None, NotBoolean
    ] = None
    quality_evaluation_periods: Annotated[int, Field(ge=1, le=168), NotBoolean] = 1
    # Fewer labels joined with predictions than this: quality is not measured for the run.
    min_labels: Annotated[int, Field(ge=1, le=1_000_000), NotBoolean] = 30
    # How far back a label may find its prediction (labels usually arrive later).
    lookback_hours: Annotated[int, Field(ge=1, le=24 * 90), NotBoolean] = 7 * 24
    instance_type: ProcessingInstanceType = "ml.m5.large"
    volume_size_gb: Annotated[int, Field(ge=1, le=16_384), NotBoolean] = 30
    max_runtime_minutes: Annotated[int, Field(ge=5, le=24 * 60), NotBoolean] = 60

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.stages)) != len(self.stages):
            raise ValueError(f"stages {','.join(self.stages)} lists a stage twice")
        if self.drift_datapoints_to_alarm > self.drift_evaluation_periods:
            raise ValueError(
                f"drift_datapoints_to_alarm ({self.drift_datapoints_to_alarm}) must be <= "
                f"drift_evaluation_periods ({self.drift_evaluation_periods})"
            )
        for name in ("drift_evaluation_periods", "quality_evaluation_periods"):
            periods = getattr(self, name)
            if periods * self.interval_hours > ALARM_WINDOW_LIMIT_HOURS:
                raise ValueError(
                    f"{name} ({periods}) x interval_hours ({self.interval_hours}) is "
                    f"{periods * self.interval_hours} hours; CloudWatch alarms look back at "
                    f"most {ALARM_WINDOW_LIMIT_HOURS} hours (7 days)"
                )
        if self.lookback_hours < self.interval_hours:
            raise ValueError(
                f"lookback_hours ({self.lookback_hours}) must be >= interval_hours "
                f"({self.interval_hours}): a check reads at least one interval of traffic"
            )
        if self.max_records < self.min_records:
            raise ValueError(
                f"max_records ({self.max_records}) must be >= min_records ({self.min_records})"
            )
        return self
