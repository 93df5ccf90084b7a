"""The JSON Schema of a config file (a CloudFormation template configuration file), built at
synth from the endpoint template's own Parameters so the check cannot drift from them.

The deploy pipeline writes it beside the template (``<stage>.schema.json`` in the templates
artifact), so each run checks against the schema of the templates it deploys. Pure Python:
the app imports it at synth, the handler reads its output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# CloudFormation's stack tag limits.
MAX_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
# Constraints a JSON Schema of string values can express; a template declaring any other
# would silently go unchecked, so synth refuses it.
_SUPPORTED = {"Type", "Default", "Description", "ConstraintDescription", "NoEcho"}
_STRING_CONSTRAINTS = {"AllowedValues", "AllowedPattern", "MinLength", "MaxLength"}


def parameter_schema(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    unsupported = set(spec) - _SUPPORTED - _STRING_CONSTRAINTS
    if unsupported:
        raise ValueError(
            f"parameter {name} declares {sorted(unsupported)}; the config check "
            f"supports {sorted(_STRING_CONSTRAINTS)}"
        )
    schema: dict[str, Any] = {"type": "string"}
    if "AllowedValues" in spec:
        schema["enum"] = [str(value) for value in spec["AllowedValues"]]
    if "AllowedPattern" in spec:
        # CloudFormation matches the whole value; JSON Schema patterns search.
        schema["pattern"] = f"^(?:{spec['AllowedPattern']})$"
    if "MinLength" in spec:
        schema["minLength"] = int(spec["MinLength"])
    if "MaxLength" in spec:
        schema["maxLength"] = int(spec["MaxLength"])
    accepted = spec.get("ConstraintDescription")
    if accepted:
        schema["description"] = str(accepted)
    return schema


def config_file_schema(
    parameters: Mapping[str, Mapping[str, Any]], pipeline_parameters: Iterable[str]
) -> dict[str, Any]:
    """Parameters: every template parameter the pipeline does not set, each a string within
    its constraints, those without a Default required; Tags and StackPolicy as CloudFormation
    accepts them; nothing else."""
    owned = set(pipeline_parameters)
    settable = {name: spec for name, spec in parameters.items() if name not in owned}
    properties: dict[str, Any] = {
        name: parameter_schema(name, spec) for name, spec in sorted(settable.items())
    }
    for name in sorted(owned & set(parameters)):
        properties[name] = {"not": {}, "description": "is set by the pipeline; remove it"}
    return {
        "type": "object",
        "properties": {
            "Parameters": {
                "type": "object",
                "properties": properties,
                "required": sorted(n for n, spec in settable.items() if "Default" not in spec),
                "additionalProperties": False,
            },
            "Tags": {
                "type": "object",
                "maxProperties": MAX_TAGS,
                "propertyNames": {
                    "minLength": 1,
                    "maxLength": MAX_TAG_KEY_CHARS,
                    "not": {"pattern": "^[aA][wW][sS]:"},
                    "description": f"must be 1-{MAX_TAG_KEY_CHARS} characters, not starting "
                    "with 'aws:' (AWS reserves it)",
                },
                "additionalProperties": {
                    "type": "string",
                    "maxLength": MAX_TAG_VALUE_CHARS,
                    "description": f"must be a string of at most {MAX_TAG_VALUE_CHARS} characters",
                },
            },
            "StackPolicy": {"type": "object"},
        },
        "additionalProperties": False,
    }
