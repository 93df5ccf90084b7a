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
    defaults, environments = _read_settings(context)
    raw_by_env, problems = _collect_environments(defaults, environments)
    problems.extend(_apply_overrides(context, raw_by_env, accepted=sorted(environments)))
    configs, invalid = _validate_environments(raw_by_env)
    problems.extend(invalid)
    if problems:
        raise ConfigError(problems)
    return configs


def _read_settings(context: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The defaults and the environments of the ``mlops`` key; nothing below a malformed top
    level can be checked, so its problems are raised at once."""
    settings = context.get(CONTEXT_KEY)
    if not isinstance(settings, Mapping):
        raise ConfigError(
            [f"context key {CONTEXT_KEY!r} is missing or not an object (see cdk.json)"]
        )
    defaults = settings.get("defaults", {})
    environments = settings.get("environments")
    problems = _top_level_problems(settings, defaults, environments)
    if problems:
        raise ConfigError(problems)
    assert isinstance(environments, Mapping) and isinstance(defaults, Mapping)
    return defaults, environments


def _top_level_problems(
    settings: Mapping[str, Any], defaults: object, environments: object
) -> list[str]:
    problems: list[str] = []
    unknown_top = sorted(set(settings) - {"defaults", "environments"})
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
    return problems


def _collect_environments(
    defaults: Mapping[str, Any], environments: Mapping[str, Any]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each usable environment's settings layered on the defaults, and the problems of the
    others (which are left out, so that nothing else is reported about them)."""
    raw_by_env: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for env_name, env_settings in environments.items():
        problem = _environment_problem(env_name, env_settings, defaults)
        if problem is not None:
            problems.append(problem)
            continue
        merged = _deep_merge(defaults, env_settings)
        merged["name"] = env_name
        raw_by_env[env_name] = merged
    return raw_by_env, problems


def _environment_problem(
    env_name: str, env_settings: object, defaults: Mapping[str, Any]
) -> str | None:
    """Only the first problem of an entry: once it is unusable, the rest would be noise."""
    # The key names the stacks (Dev-RegistryStack), so it is checked exactly as written.
    if not ENVIRONMENT_NAME.fullmatch(env_name):
        return (
            f"{CONTEXT_KEY}.environments: {env_name!r} is not a valid environment name; "
            "accepted: 1-10 lower-case letters/digits, starting with a letter (e.g. dev)"
        )
    if not isinstance(env_settings, Mapping):
        return f"[{env_name}] must be an object of settings"
    if "name" in env_settings or "name" in defaults:
        return (
            f"[{env_name}] name: an environment is named by its key under "
            f"{CONTEXT_KEY}.environments; remove the 'name' setting"
        )
    return None


def _validate_environments(
    raw_by_env: Mapping[str, dict[str, Any]],
) -> tuple[list[EnvironmentConfig], list[str]]:
    configs: list[EnvironmentConfig] = []
    problems: list[str] = []
    for env_name, raw in raw_by_env.items():
        try:
            configs.append(EnvironmentConfig.model_validate(raw))
        except ValidationError as error:
            problems.extend(_describe(env_name, error))
    return configs, problems


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
    """Applies the `-c` overrides in the order given, so that a later one builds on an earlier
    one (clear a group, then set one of its fields); returns their problems."""
    problems: list[str] = []
    for key, value in context.items():
        match = _OVERRIDE_KEY.fullmatch(key)
        if not match:
            continue
        env_name, path = match.group("env"), match.group("path").split(".")
        problem = _override_key_problem(key, env_name, path[0], accepted)
        # An environment missing from raw_by_env had its settings reported as invalid.
        if problem is None and env_name in raw_by_env:
            problem = _set_override(raw_by_env[env_name], key, path, value)
        if problem is not None:
            problems.append(problem)
    return problems


def _override_key_problem(key: str, env_name: str, field: str, accepted: list[str]) -> str | None:
    if env_name not in accepted:
        return (
            f"-c {key}: unknown environment {env_name!r}; accepted: {', '.join(accepted)} "
            "(overrides are -c <environment>.<field>[.<subfield>]=<value>)"
        )
    if field == "name":
        return (
            f"-c {key}: the environment name is its key under {CONTEXT_KEY}.environments "
            "and cannot be overridden"
        )
    return None


def _set_override(settings: dict[str, Any], key: str, path: list[str], value: Any) -> str | None:
    """Sets the setting at ``path``, creating the groups above it that are missing or null;
    returns the problem instead when a step of the path is not a group of settings."""
    target = settings
    for part in path[:-1]:
        child = target.get(part)
        if child is None:
            child = target[part] = {}
        elif not isinstance(child, dict):
            return f"-c {key}: {part!r} is not a group of settings"
        target = child
    parsed = _parse_cli_value(value)
    current = target.get(path[-1])
    # An object merges into the settings it overrides, like cdk.json's layers do.
    if isinstance(parsed, Mapping) and isinstance(current, Mapping):
        parsed = _deep_merge(current, parsed)
    target[path[-1]] = parsed
    return None


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
