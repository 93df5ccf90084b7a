"""How one SageMaker endpoint (staging or prod) is hosted."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from config.frozen_settings import FrozenSettings
from config.validation import (
    ACCOUNT,
    BlankIsNone,
    HostingInstanceType,
    InstanceCount,
    IntFromText,
    NotBoolean,
    pattern,
)


class EndpointSettings(FrozenSettings):
    """Defaults for one endpoint; the model-deploy repository's config files override them."""

    mode: Literal["serverless", "instance"] = "instance"
    # The AWS account the endpoint runs in; unset: the environment's own (build) account.
    account: Annotated[
        Annotated[str, pattern(ACCOUNT, "a 12-digit AWS account id")] | None, BlankIsNone
    ] = None
    instance_type: HostingInstanceType = "ml.m5.large"
    instance_count: InstanceCount = 1
    # Serverless memory must be one of SageMaker's fixed sizes.
    serverless_memory_mb: Annotated[Literal[1024, 2048, 3072, 4096, 5120, 6144], IntFromText] = 2048
    serverless_max_concurrency: Annotated[int, Field(ge=1, le=200), NotBoolean] = 5
    # Upper bound of prod's target-tracking autoscaling; unset means "instance_count".
    # Staging endpoints do not autoscale.
    autoscaling_max_instances: InstanceCount | None = None

    @model_validator(mode="after")
    def _max_covers_count(self) -> Self:
        maximum = self.autoscaling_max_instances
        if self.mode == "instance" and maximum is not None and maximum < self.instance_count:
            raise ValueError(
                f"autoscaling_max_instances ({maximum}) must be >= "
                f"instance_count ({self.instance_count})"
            )
        return self

    @property
    def max_instances(self) -> int:
        """The autoscaling ceiling: never below the instance count."""
        return max(self.instance_count, self.autoscaling_max_instances or 1)
