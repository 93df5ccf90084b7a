"""Private networking: the subnets and security groups every job, model, function and build
of an environment runs in (docs/operations.md, "Private networking (VPC)").

The IDs are given, never looked up: nothing reaches AWS at synth. Subnets in at least two
Availability Zones are recommended (SageMaker and Lambda place instances and interfaces in
any of them), but that cannot be checked offline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from config.frozen_settings import FrozenSettings
from config.validation import BlankIsNone, pattern

# EC2 IDs: the resource prefix, then 8 (older resources) or 17 lower-case hex digits.
SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
SECURITY_GROUP_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
VPC_ID = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
# SageMaker's VpcConfig limits (Subnets 1-16, SecurityGroupIds 1-5); Lambda and CodeBuild
# accept as many.
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5


def _comma_separated(value: object) -> object:
    # `-c dev.network.subnet_ids=subnet-a,subnet-b`: the command line passes text.
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _list_of(what: str, maximum: int, example: str) -> AfterValidator:
    """1 to ``maximum`` IDs, each once (SageMaker rejects a repeated one)."""

    def check(values: Sequence[str]) -> Sequence[str]:
        if not 1 <= len(values) <= maximum:
            raise ValueError(
                f"{len(values)} {what} given; accepted: 1-{maximum} {what}, as a list or "
                f"comma-separated text, e.g. {example}"
            )
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once; list each ID once")
        return values

    return AfterValidator(check)


class NetworkSettings(FrozenSettings):
    """Explicit EC2 IDs; ``vpc_id`` only matters to CodeBuild (see ``ModelBuildPipeline``)."""

    subnet_ids: Annotated[
        tuple[
            Annotated[
                str,
                pattern(
                    SUBNET_ID,
                    "a subnet ID: 'subnet-' and 8 or 17 lower-case hex digits, "
                    "e.g. subnet-0123456789abcdef0",
                ),
            ],
            ...,
        ],
        BeforeValidator(_comma_separated),
        _list_of("subnet IDs", MAX_SUBNETS, "subnet-0123456789abcdef0,subnet-0fedcba9876543210"),
    ]
    security_group_ids: Annotated[
        tuple[
            Annotated[
                str,
                pattern(
                    SECURITY_GROUP_ID,
                    "a security group ID: 'sg-' and 8 or 17 lower-case hex digits, "
                    "e.g. sg-0123456789abcdef0",
                ),
            ],
            ...,
        ],
        BeforeValidator(_comma_separated),
        _list_of("security group IDs", MAX_SECURITY_GROUPS, "sg-0123456789abcdef0"),
    ]
    vpc_id: Annotated[
        Annotated[
            str,
            pattern(
                VPC_ID,
                "a VPC ID: 'vpc-' and 8 or 17 lower-case hex digits, e.g. vpc-0123456789abcdef0",
            ),
        ]
        | None,
        BlankIsNone,
    ] = None

    def sagemaker_vpc_config(self) -> dict[str, list[str]]:
        """SageMaker's VpcConfig (jobs, models, pipeline steps) in its API spelling."""
        return {"Subnets": list(self.subnet_ids), "SecurityGroupIds": list(self.security_group_ids)}
