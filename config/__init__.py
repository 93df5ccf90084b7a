"""Per-environment configuration, validated at synth time."""

from config.loader import CONTEXT_KEY, ConfigError, load_environments
from config.model import (
    METRIC_NAMES,
    EndpointSettings,
    EnvironmentConfig,
    RetrainingSchedule,
    SourceSettings,
)

__all__ = [
    "CONTEXT_KEY",
    "METRIC_NAMES",
    "ConfigError",
    "EndpointSettings",
    "EnvironmentConfig",
    "RetrainingSchedule",
    "SourceSettings",
    "load_environments",
]
