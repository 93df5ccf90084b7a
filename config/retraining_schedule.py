"""When the training pipeline runs on its own."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from config.cron import check_cron
from config.frozen_settings import FrozenSettings
from config.validation import check_time_zone


class RetrainingSchedule(FrozenSettings):
    """An EventBridge Scheduler cron in an IANA time zone; the seed's Tuesdays 21:00 UTC."""

    cron: Annotated[str, AfterValidator(check_cron)] = "cron(0 21 ? * TUE *)"
    time_zone: Annotated[str, AfterValidator(check_time_zone)] = "UTC"
    enabled: bool = True
