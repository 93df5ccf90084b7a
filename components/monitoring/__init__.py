"""Monitoring: the scheduled drift and model-quality check of the live endpoints, its alarms,
what an alarm does, and the environment's dashboard (docs/monitoring.md)."""

from components.monitoring.monitoring import Monitoring

__all__ = ["Monitoring"]
