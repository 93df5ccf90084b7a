"""Per-environment configuration, validated at synth time."""

from config.endpoint_settings import EndpointSettings
from config.environment_config import METRIC_NAMES, EnvironmentConfig
from config.loader import (
    CONTEXT_KEY,
    PIPELINE_IDENTITY_FIELDS,
    ConfigError,
    load_environments,
    overrides_of,
)
from config.retraining_schedule import RetrainingSchedule
from config.source_settings import SourceSettings

__all__ = [
    "CONTEXT_KEY",
    "METRIC_NAMES",
    "PIPELINE_IDENTITY_FIELDS",
    "ConfigError",
    "EndpointSettings",
    "EnvironmentConfig",
    "RetrainingSchedule",
    "SourceSettings",
    "load_environments",
    "overrides_of",
]
