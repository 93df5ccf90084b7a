"""The base of every settings model: immutable, strict about keys, literal values only."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from config.validation import TOKEN_MARKERS


class FrozenSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_tokens(cls, value: Any) -> Any:
        # CDK would turn "${Token[...]}" into a reference to some other resource, and
        # CloudFormation would resolve "{{resolve:...}}" at deploy: settings are literals.
        if isinstance(value, str) and any(marker in value for marker in TOKEN_MARKERS):
            raise ValueError(
                f"{value!r} contains a CDK token or a CloudFormation dynamic reference; "
                "accepted: literal values only"
            )
        return value
