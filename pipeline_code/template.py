"""Fill the committed pipeline definition templates in at CDK synth time (standard library only).

``build_definition.py`` generates the templates once with the SageMaker SDK and commits them
under ``definitions/``; every environment-specific value in them is a placeholder literal from
``placeholders.py``. The CDK app never imports the SDK (about 1 GB, seconds to import): it loads
a template, renders it with its own values, and serializes the result into the pipeline
resource. Values may be CDK token strings such as ``"${Token[TOKEN.123]}"``: rendering is plain
string replacement, so tokens survive for the CDK to resolve.

    template = load_template(spot=False)
    definition = render(
        template,
        values={"XGBOOST_IMAGE_URI": image_uris_for("eu-west-1")["xgboost"], ...},
        parameter_defaults={"InputDataUri": "s3://...", ...},
    )

``PLACEHOLDERS`` lists every value name; ``render`` insists on all of them.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pipeline_code.placeholders import PLACEHOLDERS

DEFINITIONS_DIR: Final = Path(__file__).resolve().parent / "definitions"

# image_uris.json key -> the placeholder name its URI fills in.
IMAGE_PLACEHOLDERS: Final[Mapping[str, str]] = {
    "processing": "PROCESSING_IMAGE_URI",
    "xgboost": "XGBOOST_IMAGE_URI",
}

# Definition parameter type -> the Python types its DefaultValue may have.
_PARAMETER_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "String": (str,),
    "Integer": (int,),
    "Float": (float, int),
    "Boolean": (bool,),
}


# CreateProcessingJob's NetworkConfig.VpcConfig and CreateTrainingJob's VpcConfig.
VPC_CONFIG_KEYS: Final = ("Subnets", "SecurityGroupIds")
# Step types that start jobs or models with a VpcConfig of their own.
_UNPLACED_COMPUTE: Final = frozenset({"Transform", "CreateModel", "Tuning", "AutoML", "EMR"})


class TemplateError(ValueError):
    """The template cannot be rendered with the values given; the message says why."""


@functools.cache
def _read_json(name: str) -> Any:
    return json.loads((DEFINITIONS_DIR / name).read_text(encoding="utf-8"))


def load_template(*, spot: bool) -> dict[str, Any]:
    """A fresh copy of a definition template: ``spot`` trains on managed spot capacity."""
    template: dict[str, Any] = copy.deepcopy(_read_json("spot.json" if spot else "standard.json"))
    return template


def supported_regions() -> list[str]:
    """Regions whose SageMaker images the templates know (from the SDK's bundled tables)."""
    return sorted(_read_json("image_uris.json"))


def image_uris_for(region: str) -> dict[str, str]:
    """``{"processing": scikit-learn image URI, "xgboost": XGBoost image URI}`` of a region.

    They fill in the placeholders named in ``IMAGE_PLACEHOLDERS``.
    """
    table: dict[str, dict[str, str]] = _read_json("image_uris.json")
    if region not in table:
        hint = (
            " (a CDK token: give the stack an explicit region, as the image account differs"
            " per region)"
            if "${Token[" in region
            else ""
        )
        raise ValueError(
            f"no SageMaker image URIs known for region {region!r}{hint}; supported regions: "
            + ", ".join(sorted(table))
        )
    return dict(table[region])


def render(
    template: Mapping[str, Any],
    *,
    values: Mapping[str, str],
    parameter_defaults: Mapping[str, str | int | float],
    hyperparameters: Mapping[str, str | int | float] | None = None,
    vpc_config: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The definition with every placeholder replaced and every parameter default set.

    ``values`` maps each name of ``PLACEHOLDERS`` to its value, ``parameter_defaults`` each
    pipeline parameter name to its default. Both must be complete and contain no unknown name,
    so that a renamed or forgotten setting fails at synth instead of in a pipeline execution.
    ``hyperparameters`` (already validated) replace or add the training step's values.
    ``vpc_config`` (``{"Subnets": [...], "SecurityGroupIds": [...]}``) puts every processing
    and training step in those subnets; the steps keep their network isolation.
    The template itself is not modified.
    """
    _check_names("placeholder value", given=values, expected=PLACEHOLDERS)
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise TemplateError(f"the value of placeholder {name} must be a non-empty string")

    rendered = _replace_in_strings(template, values)
    if not isinstance(rendered, dict):
        raise TemplateError("a pipeline definition template must be a JSON object")
    _set_parameter_defaults(rendered, parameter_defaults)
    _override_hyperparameters(rendered, hyperparameters or {})
    if vpc_config is not None:
        _set_vpc_config(rendered, vpc_config)

    leftovers = sorted(set(_placeholders_in(rendered)))
    if leftovers:
        listed = "; ".join(f"{name} at {path}" for name, path in leftovers)
        raise TemplateError(f"placeholders still present after rendering: {listed}")
    return rendered


def _check_names(kind: str, *, given: Mapping[str, object], expected: Mapping[str, object]) -> None:
    missing = sorted(set(expected) - set(given))
    unknown = sorted(set(given) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing {kind}(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown {kind}(s): {', '.join(unknown)}")
    if problems:
        raise TemplateError("; ".join(problems) + f" (expected: {', '.join(sorted(expected))})")


# One pass over each string: replaced text is never scanned again, so a value can never be
# mistaken for a placeholder (it is reported as left over instead).
_NAME_OF_LITERAL: Final[Mapping[str, str]] = {
    literal: name for name, literal in PLACEHOLDERS.items()
}
_ANY_LITERAL: Final = re.compile("|".join(re.escape(literal) for literal in _NAME_OF_LITERAL))


def _replace_in_strings(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _ANY_LITERAL.sub(lambda match: values[_NAME_OF_LITERAL[match[0]]], node)
    if isinstance(node, Mapping):
        return {key: _replace_in_strings(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_in_strings(item, values) for item in node]
    return node


def _set_parameter_defaults(
    definition: dict[str, Any], defaults: Mapping[str, str | int | float]
) -> None:
    parameters: list[dict[str, Any]] = definition.get("Parameters", [])
    _check_names(
        "pipeline parameter",
        given=defaults,
        expected={parameter["Name"]: parameter for parameter in parameters},
    )
    for parameter in parameters:
        name, kind = parameter["Name"], parameter["Type"]
        value = defaults[name]
        allowed = _PARAMETER_TYPES[kind]
        # bool is an int subclass, but True is no Integer or Float default.
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise TemplateError(
                f"default of pipeline parameter {name} must be a {kind}, "
                f"got {type(value).__name__} {value!r}"
            )
        parameter["DefaultValue"] = float(value) if kind == "Float" else value


def _override_hyperparameters(
    definition: dict[str, Any], overrides: Mapping[str, str | int | float]
) -> None:
    if not overrides:
        return
    training = [s for s in definition.get("Steps", []) if s.get("Type") == "Training"]
    if not training:
        raise TemplateError("hyperparameters given, but the template has no training step")
    for step in training:
        # CreateTrainingJob takes strings; the training script parses them back.
        step["Arguments"]["HyperParameters"].update(
            {name: str(value) for name, value in overrides.items()}
        )


def _all_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step, those a condition step runs (IfSteps, ElseSteps) included."""
    found: list[dict[str, Any]] = []
    for step in steps:
        found.append(step)
        arguments = step.get("Arguments", {})
        if step.get("Type") == "Condition":
            found.extend(_all_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", [])))
    return found


def _set_vpc_config(definition: dict[str, Any], vpc_config: Mapping[str, Sequence[str]]) -> None:
    _check_names("VpcConfig key", given=vpc_config, expected=dict.fromkeys(VPC_CONFIG_KEYS))
    config = {key: list(vpc_config[key]) for key in VPC_CONFIG_KEYS}
    if not all(config.values()):
        raise TemplateError("VpcConfig needs at least one subnet and one security group")
    steps = _all_steps(definition.get("Steps", []))
    unplaced = sorted(step["Name"] for step in steps if step.get("Type") in _UNPLACED_COMPUTE)
    if unplaced:
        # A step this module cannot place would run outside the VPC unnoticed.
        raise TemplateError(
            f"steps {', '.join(unplaced)} run compute that render() cannot put in a VPC; "
            "only Processing and Training steps are supported"
        )
    for step in steps:
        if step.get("Type") == "Processing":
            step["Arguments"].setdefault("NetworkConfig", {})["VpcConfig"] = copy.deepcopy(config)
        elif step.get("Type") == "Training":
            step["Arguments"]["VpcConfig"] = copy.deepcopy(config)


def _placeholders_in(node: Any, path: str = "$") -> list[tuple[str, str]]:
    """(placeholder name, JSON path) of every literal left anywhere, keys included."""
    found: list[tuple[str, str]] = []
    if isinstance(node, str):
        found.extend((name, path) for name, literal in PLACEHOLDERS.items() if literal in node)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            found.extend(_placeholders_in(key, f"{path}.{key}"))
            found.extend(_placeholders_in(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_placeholders_in(item, f"{path}[{index}]"))
    return found
