"""CodePipeline "Lambda invoke" action: check the endpoint config files before any deploy.

Event: the CodePipeline job event with two zip input artifacts, matched by name: the
model-deploy repository (config files at its root) and the endpoint templates, each beside
its JSON Schema (``<stage>.schema.json``, built at synth from the template's parameters by
``schema.py``). ``UserParameters`` (checked by ``_USER_PARAMETERS``) names them::

    {"config_artifact": "DeployConfig", "templates_artifact": "EndpointTemplates",
     "stages": [{"config_file": "staging-config.json", "schema_file": "staging.schema.json"}],
     "at_least": {"AutoscalingMaxInstances": "InstanceCount"}}

Result: success when every file matches its schema and the ``at_least`` pairs (a rule no
template can express); otherwise one ``JobFailed`` failure listing every problem of every
file, one line each. Broken wiring -> ``ConfigurationError``; S3 access denied ->
``PermissionError``. Environment: ``LOG_LEVEL`` (optional, default ``INFO``).
"""

from __future__ import annotations

import difflib
import functools
import json
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

import fastjsonschema
from aws_lambda_powertools.utilities.data_classes import CodePipelineJobEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from codepipeline_job import (
    JobError,
    error_code,
    failure_type_of,
    read_user_parameters,
    report_job_error,
    report_success_or_failure,
    require_job,
)
from shared_runtime import Clients, function_logger

logger = function_logger("check_deploy_config")
clients = Clients(max_attempts=5)

MAX_SHOWN_CHARS = 80

_NAME = {"type": "string", "minLength": 1}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}  # fmt: skip


_STAGE = _object({"config_file": _NAME, "schema_file": _NAME}, "config_file", "schema_file")
_USER_PARAMETERS = fastjsonschema.compile(
    _object(
        {
            "config_artifact": _NAME,
            "templates_artifact": _NAME,
            "stages": {"type": "array", "minItems": 1, "items": _STAGE},
            "at_least": {"type": "object", "additionalProperties": _NAME},
        },
        *("config_artifact", "templates_artifact", "stages"),
    )
)


def parse_settings(job: CodePipelineJobEvent) -> dict[str, Any]:
    params = read_user_parameters(job)
    try:
        _USER_PARAMETERS(params)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise JobError(f"UserParameters: {exc.message}", "ConfigurationError") from exc
    return params


def read_file(job: CodePipelineJobEvent, artifact: str, name: str) -> str | None:
    """A file at the root of an input artifact, read by Powertools with the job's own
    credentials (the function's role needs no access to the artifacts); None when absent.
    ValueError when it is not text."""
    if job.find_input_artifact(artifact) is None:
        present = ", ".join(repr(a.name) for a in job.data.input_artifacts) or "none"
        raise JobError(
            f"The action has no input artifact {artifact!r} (it has: {present}).",
            "ConfigurationError",
        )
    try:
        return job.get_artifact(artifact, name)
    except KeyError:
        return None
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 text: {exc}") from exc
    except zipfile.BadZipFile as exc:
        raise JobError(f"Input artifact {artifact!r} is not a zip file: {exc}") from exc
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise JobError(
            f"Cannot read input artifact {artifact!r}: {error_code(exc)}: {message}",
            failure_type_of(exc),
        ) from exc


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON, and so CloudFormation, does not.
    raise ValueError(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys, so one of the user's edits would vanish unseen.
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears more than once in one object")
        seen.add(key)
    return dict(pairs)


def load_json(text: str) -> Any:
    # Editors on Windows save UTF-8 with a byte order mark; it is not part of the JSON.
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ValueError(f"is not valid JSON: {exc.msg} at {where}") from exc
    except ValueError as exc:
        raise ValueError(f"is not valid JSON: {exc}") from exc


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return "null" if value is None else f"a JSON {names.get(type(value), 'object')}"


@functools.cache
def _validator(schema_json: str) -> Any:
    return fastjsonschema.compile(json.loads(schema_json))


def problems(value: Any, schema: Mapping[str, Any], where: str) -> Iterator[str]:
    """Every problem of ``value``. fastjsonschema stops at the first error, so objects are
    checked member by member, each against its own sub-schema."""
    if schema.get("type") == "object" and isinstance(value, dict):
        yield from _object_problems(value, schema, where)
        return
    try:
        _validator(json.dumps(schema, sort_keys=True))(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        if exc.rule == "type":
            message = f"{where} must be a JSON {schema['type']}, not {_json_type(value)}"
            if schema["type"] == "string" and isinstance(value, bool | int | float):
                message += f": write {json.dumps(json.dumps(value))} (values are strings)"
            yield message
        else:
            yield f"{where} {_show(value)} {schema.get('description') or exc.message}"


def _object_problems(value: dict[str, Any], schema: Mapping[str, Any], where: str) -> Iterator[str]:
    """Member by member in the file's order, so a key's problems are listed together; then
    what the object as a whole lacks or has too much of."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    accepted = [name for name, sub in properties.items() if "not" not in sub]
    for key, item in value.items():
        yield from _key_problems(key, schema, where)
        yield from _member_problems(key, item, schema, accepted, where)
    yield from _missing_members(value, schema, where)
    yield from _too_many_members(value, schema, where)


def _key_problems(key: str, schema: Mapping[str, Any], where: str) -> Iterator[str]:
    """Some objects (Tags) restrict their keys as well as their values."""
    names = schema.get("propertyNames")
    if names is not None and any(problems(key, names, "")):
        yield f"{where} key {_show(key)} {names['description']}"


def _member_problems(
    key: str, item: Any, schema: Mapping[str, Any], accepted: list[str], where: str
) -> Iterator[str]:
    """A declared member is checked against its own schema; an undeclared one against
    additionalProperties, which is a schema, False to refuse it, or absent to accept it."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    at = f"{where}.{key}" if where else key
    if key in properties:
        yield from problems(item, properties[key], at)
    elif isinstance(extra, dict):
        yield from problems(item, extra, at)
    elif extra is False:
        yield _not_accepted(key, accepted, where)


def _not_accepted(key: str, accepted: list[str], where: str) -> str:
    """Names the closest accepted key, since a refused key is most often a misspelt one."""
    close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    inside = f"in {where}" if where else "at the top level"
    return f"{_show(key)} is not accepted {inside}{hint}; accepted: {', '.join(accepted)}"


def _missing_members(value: dict[str, Any], schema: Mapping[str, Any], where: str) -> Iterator[str]:
    for name in schema.get("required", []):
        if name not in value:
            yield f"{where}.{name} is missing; the template declares no default for it"


def _too_many_members(
    value: dict[str, Any], schema: Mapping[str, Any], where: str
) -> Iterator[str]:
    if len(value) > schema.get("maxProperties", len(value)):
        yield f"{where} has {len(value)} entries; at most {schema['maxProperties']} are accepted"


def relation_problems(document: Any, at_least: Mapping[str, str]) -> Iterator[str]:
    params = document.get("Parameters") if isinstance(document, dict) else None
    for name, other in at_least.items():
        value, bound = (params.get(n) if isinstance(params, dict) else None for n in (name, other))
        numbers = [int(v) for v in (value, bound) if isinstance(v, str) and v.isdigit()]
        # Values already reported (absent, not strings, not whole numbers) are not repeated.
        if len(numbers) == 2 and numbers[0] < numbers[1]:
            yield f"Parameters.{name} {value!r} must be at least Parameters.{other} {bound!r}"


def check_stage(job: CodePipelineJobEvent, settings: Any, stage: Mapping[str, str]) -> list[str]:
    config_file, schema_file = stage["config_file"], stage["schema_file"]
    try:
        text = read_file(job, settings["templates_artifact"], schema_file)
        schema = load_json(text) if text is not None else None
    except ValueError as exc:
        raise JobError(f"Schema {schema_file} {exc}", "ConfigurationError") from exc
    if not isinstance(schema, dict):
        raise JobError(f"The templates artifact has no schema {schema_file}", "ConfigurationError")
    try:
        text = read_file(job, settings["config_artifact"], config_file)
        if text is None:
            return [f"{config_file}: not found at the root of the model-deploy repository"]
        document = load_json(text)
    except ValueError as exc:
        return [f"{config_file}: {exc}"]
    at_least = settings.get("at_least", {})
    found = [*problems(document, schema, ""), *relation_problems(document, at_least)]
    return [f"{config_file}: {problem.lstrip()}" for problem in found]


def run_check(job: CodePipelineJobEvent) -> tuple[list[str], list[str]]:
    """The config files checked and every problem found in them."""
    settings = parse_settings(job)
    files = [stage["config_file"] for stage in settings["stages"]]
    logger.info("Checking deploy config files", extra={"config_files": files})
    return files, [p for stage in settings["stages"] for p in check_stage(job, settings, stage)]


# The job event carries temporary artifact credentials: log identifiers, never the event.
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    job_id, job = require_job(event, logger)
    codepipeline = clients("codepipeline")
    doing = "checking the deploy config files"
    try:
        files, found = run_check(job)
    except Exception as exc:
        report_job_error(codepipeline, job_id, exc, context=context, logger=logger, doing=doing)
        return
    if found:
        # The failure message may be cut at CodePipeline's limit; the log keeps every problem.
        logger.error("Deploy config files do not match their templates", extra={"problems": found})
        error = JobError("\n".join(found))
        report_job_error(codepipeline, job_id, error, context=context, logger=logger, doing=doing)
        return
    logger.info("Deploy config files match their templates", extra={"job_id": job_id})
    summary = f"{' and '.join(files)} match their endpoint templates"
    report_success_or_failure(
        codepipeline, job_id, variables={}, summary=summary, context=context, logger=logger
    )
