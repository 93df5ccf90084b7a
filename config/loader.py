"""Builds the environment configs from CDK context: cdk.json plus `-c` overrides.

cdk.json holds, under the ``mlops`` key, ``defaults`` shared by every environment and one
entry per environment under ``environments``. Any field of one environment can be
overridden on the command line with ``-c <environment>.<field>[.<subfield>]=<value>``, e.g.
``cdk synth -c prod.metric_threshold=0.95 -c dev.staging_endpoint.mode=serverless``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from config.environment_config import EnvironmentConfig
from config.validation import ENVIRONMENT_NAME

CONTEXT_KEY = "mlops"
# `<environment>.<field>[.<subfield>]`. CDK's own context keys contain ':' or '/' (feature
# flags, lookups), so any other dotted key is meant as an override and is checked as one.
_OVERRIDE_KEY = re.compile(r"^(?P<env>[^.:/@]+)\.(?P<path>[^:/@]+)$")
_NULL_WORDS = {"null", "none"}


class ConfigError(Exception):
    """Bad configuration: one readable line per problem, no templates produced."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


def load_environments(context: Mapping[str, Any]) -> list[EnvironmentConfig]:
    """Validates every environment; raises ConfigError listing every problem found."""
    settings = context.get(CONTEXT_KEY)
    if not isinstance(settings, Mapping):
        raise ConfigError(
            [f"context key {CONTEXT_KEY!r} is missing or not an object (see cdk.json)"]
        )
    unknown_top = sorted(set(settings) - {"defaults", "environments"})
    defaults = settings.get("defaults", {})
    environments = settings.get("environments")
    problems: list[str] = []
    if unknown_top:
        problems.append(
            f"{CONTEXT_KEY}: unknown key(s) {', '.join(unknown_top)}; "
            "accepted: defaults, environments"
        )
    if not isinstance(defaults, Mapping):
        problems.append(f"{CONTEXT_KEY}.defaults must be an object")
    if not isinstance(environments, Mapping) or not environments:
        problems.append(
            f"{CONTEXT_KEY}.environments must be an object with at least one environment"
        )
    if problems:
        raise ConfigError(problems)
    assert isinstance(environments, Mapping) and isinstance(defaults, Mapping)

    raw_by_env: dict[str, dict[str, Any]] = {}
    for env_name, env_settings in environments.items():
        # The key names the stacks (Dev-RegistryStack), so it is checked exactly as written.
        if not ENVIRONMENT_NAME.fullmatch(env_name):
            problems.append(
                f"{CONTEXT_KEY}.environments: {env_name!r} is not a valid environment name; "
                "accepted: 1-10 lower-case letters/digits, starting with a letter (e.g. dev)"
            )
            continue
        if not isinstance(env_settings, Mapping):
            problems.append(f"[{env_name}] must be an object of settings")
            continue
        if "name" in env_settings or "name" in defaults:
            problems.append(
                f"[{env_name}] name: an environment is named by its key under "
                f"{CONTEXT_KEY}.environments; remove the 'name' setting"
            )
            continue
        merged = _deep_merge(defaults, env_settings)
        merged["name"] = env_name
        raw_by_env[env_name] = merged

    problems.extend(_apply_overrides(context, raw_by_env, accepted=sorted(environments)))

    configs: list[EnvironmentConfig] = []
    for env_name, raw in raw_by_env.items():
        try:
            configs.append(EnvironmentConfig.model_validate(raw))
        except ValidationError as error:
            problems.extend(_describe(env_name, error))
    if problems:
        raise ConfigError(problems)
    return configs


# Settings that say where an environment's pipeline lives. The model-build pipeline repeats
# these `-c` overrides in its own deploys: reverting them would re-point or replace the
# pipeline (a CodeConnections source would turn back into a new CodeCommit repository).
# Every other setting comes from cdk.json there, its source of truth.
PIPELINE_IDENTITY_FIELDS = ("account", "region", "project_name", "source")


def overrides_of(
    context: Mapping[str, Any], env_name: str, *, fields: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """The `-c <env_name>.<field>=<value>` settings in ``context`` (only ``fields`` when
    given), sorted, values as text."""
    found = []
    for key, value in context.items():
        match = _OVERRIDE_KEY.fullmatch(key)
        if not match or match.group("env") != env_name:
            continue
        if fields is not None and match.group("path").split(".")[0] not in fields:
            continue
        found.append((key, value if isinstance(value, str) else json.dumps(value)))
    return sorted(found)


def _apply_overrides(
    context: Mapping[str, Any], raw_by_env: dict[str, dict[str, Any]], *, accepted: list[str]
) -> list[str]:
    problems: list[str] = []
    for key, value in context.items():
        match = _OVERRIDE_KEY.fullmatch(key)
        if not match:
            continue
        env_name, path = match.group("env"), match.group("path").split(".")
        if env_name not in accepted:
            problems.append(
                f"-c {key}: unknown environment {env_name!r}; accepted: {', '.join(accepted)} "
                "(overrides are -c <environment>.<field>[.<subfield>]=<value>)"
            )
            continue
        if path[0] == "name":
            problems.append(
                f"-c {key}: the environment name is its key under {CONTEXT_KEY}.environments "
                "and cannot be overridden"
            )
            continue
        if env_name not in raw_by_env:
            continue  # its settings were already reported as invalid
        target = raw_by_env[env_name]
        for part in path[:-1]:
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            elif not isinstance(child, dict):
                problems.append(f"-c {key}: {part!r} is not a group of settings")
                break
            target = child
        else:
            parsed = _parse_cli_value(value)
            current = target.get(path[-1])
            # An object merges into the settings it overrides, like cdk.json's layers do.
            if isinstance(parsed, Mapping) and isinstance(current, Mapping):
                parsed = _deep_merge(current, parsed)
            target[path[-1]] = parsed
    return problems


def _parse_cli_value(value: Any) -> Any:
    """`-c` values arrive as strings; pydantic coerces numbers and booleans from them."""
    if not isinstance(value, str):
        return value
    if value.strip().lower() in _NULL_WORDS:
        return None
    if value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _describe(env_name: str, error: ValidationError) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    errors = error.errors(include_url=False)
    # `X | None` fields report a second, useless "should be None" error for a bad X.
    fields_with_real_errors = {
        _field_path(item["loc"]) for item in errors if item["type"] != "none_required"
    }
    for item in errors:
        field = _field_path(item["loc"]) or "(environment)"
        if item["type"] == "none_required" and field in fields_with_real_errors:
            continue
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = (
                "unknown setting (check the spelling; see config/environment_config.py for "
                "the fields)"
            )
        got = "" if item["type"] in {"value_error", "missing"} else f" (got {item['input']!r})"
        line = f"[{env_name}] {field}: {message}{got}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


def _field_path(loc: tuple[int | str, ...]) -> str:
    # Union and validator tags such as "function-after[check(), str]" are noise for users.
    return ".".join(str(part) for part in loc if not (isinstance(part, str) and "[" in part))
