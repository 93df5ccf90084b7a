"""CodePipeline "Lambda invoke" action: check the endpoint config files before any deploy.

Contract
--------
Event: the CodePipeline job event. ``data.inputArtifacts`` holds two zip artifacts, matched
by name: the model-deploy repository content (the config files at the zip root) and the
endpoint templates. They are read with ``data.artifactCredentials``. ``UserParameters`` is a
JSON object string::

    {"config_artifact": "DeployConfig", "templates_artifact": "EndpointTemplates",
     "stages": [{"config_file": "staging-config.json", "template_file": "staging.json",
                 "pipeline_parameters": ["ModelPackageArn", ...]}, ...],
     "at_least": {"AutoscalingMaxInstances": "InstanceCount"}}

``pipeline_parameters`` (optional, default none) are the parameters the pipeline's parameter
overrides set; ``at_least`` (optional) maps a parameter to one it must not be below.

Each config file is checked as CloudFormation would read it as a template configuration
file for its template: a JSON object with only ``Parameters``, ``Tags`` and ``StackPolicy``;
string parameter values; every name declared by the template and not set by the pipeline;
every parameter without a ``Default`` present; each value within the template's
``AllowedValues``, ``AllowedPattern`` and ``MinLength``/``MaxLength`` (String), and
``MinValue``/``MaxValue`` (Number) constraints, compared as CloudFormation does (the whole
value must match the pattern; numbers as numbers); the ``at_least`` pairs, with the
template's default standing in for an absent value; CloudFormation's tag limits. Other
parameter types are checked for presence and ``AllowedValues`` only.

Result, reported to CodePipeline:

* every file matches -> success, no output variables;
* problems -> one ``JobFailed`` failure listing every problem of every file, one line each,
  prefixed with the file name, the most fundamental problems first;
* malformed ``UserParameters``, an input artifact or template missing -> ``ConfigurationError``;
  S3 access denied -> ``PermissionError``; other read errors -> ``JobFailed``.

Environment: ``LOG_LEVEL`` (optional, default ``INFO``).

CodePipeline invokes the function asynchronously, so an exception escaping the handler makes
Lambda retry a job that may already have a result. Every failure attributable to a job is
reported and the handler returns normally; it raises only when the event has no job id.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import boto3
from aws_lambda_powertools.utilities.data_classes import CodePipelineJobEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from codepipeline_job import (
    MAX_FAILURE_MESSAGE_CHARS,
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

# CloudFormation's template configuration file format.
CONFIG_KEYS = ("Parameters", "Tags", "StackPolicy")
# CloudFormation's stack tag limits.
MAX_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
RESERVED_TAG_PREFIX = "aws:"
# A list of hundreds of instance types helps nobody in a one-line message.
ALLOWED_VALUES_SHOWN = 5
# Keeps one absurd value or name from using up the failure message.
MAX_SHOWN_CHARS = 80
# Config files are a few lines and CloudFormation refuses templates over 1 MB; a larger
# member is a mistake, and reading it would only risk the function's memory.
MAX_MEMBER_BYTES = 1024 * 1024
MAX_LISTED_MEMBERS = 10
# The repository artifact holds whatever users commit: spool it to /tmp beyond this size.
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024

USER_PARAMETER_KEYS = ("config_artifact", "templates_artifact", "stages", "at_least")
STAGE_KEYS = ("config_file", "template_file", "pipeline_parameters")

# What CloudFormation accepts for a Number parameter: an integer or a float.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# Problem ranks: lines are ordered by rank across all files, so when the failure message must
# be cut, what blocks every other check (a file CloudFormation cannot read) comes first and
# tag details come last.
FILE_RANK = 0
STRUCTURE_RANK = 1
PARAMETER_RANK = 2
RELATION_RANK = 3
TAG_RANK = 4


def _artifact_client(credentials: Mapping[str, Any]) -> Any:
    """An S3 client with the job's artifact credentials, so the function's own role needs no
    access to the artifact bucket or its key. Never cached: the credentials differ per job."""
    return boto3.client(
        "s3",
        aws_access_key_id=credentials["accessKeyId"],
        aws_secret_access_key=credentials["secretAccessKey"],
        aws_session_token=credentials["sessionToken"],
        config=clients.config,
    )


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class StageCheck:
    config_file: str
    template_file: str
    pipeline_parameters: frozenset[str]


@dataclass(frozen=True)
class CheckSettings:
    config_artifact: str
    templates_artifact: str
    stages: tuple[StageCheck, ...]
    at_least: tuple[tuple[str, str], ...]


def _settings_error(message: str) -> JobError:
    return JobError(f"UserParameters: {message}", "ConfigurationError")


def _non_empty_string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _settings_error(f"{where} must be a non-empty string, got {_show(value)}")
    return value.strip()


def _reject_unknown_keys(params: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    # A misspelt optional key would otherwise silently switch a check off.
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise _settings_error(
            f"unknown key(s) {', '.join(map(_show, unknown))} in {where}; "
            f"expected {', '.join(known)}"
        )


def _stage_check(raw: Any, index: int) -> StageCheck:
    where = f"stages[{index}]"
    if not isinstance(raw, dict):
        raise _settings_error(f"{where} must be an object, got {_json_type(raw)}")
    _reject_unknown_keys(raw, STAGE_KEYS, where)
    pipeline_parameters = raw.get("pipeline_parameters", [])
    if not isinstance(pipeline_parameters, list) or not all(
        isinstance(name, str) and name for name in pipeline_parameters
    ):
        raise _settings_error(f"{where}.pipeline_parameters must be a list of parameter names")
    return StageCheck(
        config_file=_non_empty_string(raw.get("config_file"), f"{where}.config_file"),
        template_file=_non_empty_string(raw.get("template_file"), f"{where}.template_file"),
        pipeline_parameters=frozenset(pipeline_parameters),
    )


def parse_settings(params: Mapping[str, Any]) -> CheckSettings:
    _reject_unknown_keys(params, USER_PARAMETER_KEYS, "UserParameters")
    config_artifact = _non_empty_string(params.get("config_artifact"), "config_artifact")
    templates_artifact = _non_empty_string(params.get("templates_artifact"), "templates_artifact")
    stages = params.get("stages")
    if not isinstance(stages, list) or not stages:
        raise _settings_error(f"stages must be a non-empty list of objects, got {_show(stages)}")
    checks = tuple(_stage_check(raw, index) for index, raw in enumerate(stages))
    config_files = [check.config_file for check in checks]
    if len(set(config_files)) != len(config_files):
        raise _settings_error(f"stages name a config file twice: {', '.join(config_files)}")
    at_least = params.get("at_least", {})
    if not isinstance(at_least, dict) or not all(
        isinstance(name, str) and name and isinstance(other, str) and other
        for name, other in at_least.items()
    ):
        raise _settings_error(
            'at_least must be an object of parameter names, e.g. {"Maximum": "Minimum"}'
        )
    return CheckSettings(
        config_artifact=config_artifact,
        templates_artifact=templates_artifact,
        stages=checks,
        at_least=tuple(at_least.items()),
    )


# ---------------------------------------------------------------------------------------------
# Artifacts


@dataclass(frozen=True)
class ArtifactLocation:
    name: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"input artifact {self.name!r} (s3://{self.bucket}/{self.key})"


def _job_data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event["CodePipeline.job"].get("data")
    return data if isinstance(data, Mapping) else {}


def artifact_location(event: Mapping[str, Any], name: str) -> ArtifactLocation:
    listed = _job_data(event).get("inputArtifacts")
    artifacts = [a for a in listed if isinstance(a, Mapping)] if isinstance(listed, list) else []
    for artifact in artifacts:
        if artifact.get("name") != name:
            continue
        location = (artifact.get("location") or {}).get("s3Location") or {}
        bucket, key = location.get("bucketName"), location.get("objectKey")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise JobError(f"Input artifact {name!r} has no S3 location in the job event.")
        return ArtifactLocation(name=name, bucket=bucket, key=key)
    present = ", ".join(repr(a.get("name")) for a in artifacts) or "none"
    raise JobError(
        f"The action has no input artifact {name!r} (it has: {present}); add it to the "
        "CheckDeployConfig action's inputs or correct UserParameters.",
        "ConfigurationError",
    )


def artifact_credentials(event: Mapping[str, Any]) -> Mapping[str, Any]:
    credentials = _job_data(event).get("artifactCredentials")
    if not isinstance(credentials, Mapping) or not all(
        isinstance(credentials.get(key), str)
        for key in ("accessKeyId", "secretAccessKey", "sessionToken")
    ):
        raise JobError("The job event has no data.artifactCredentials to read the artifacts with.")
    return credentials


@dataclass
class ZipArtifact:
    """An opened zip artifact; the files this function reads sit at its root."""

    location: ArtifactLocation
    archive: zipfile.ZipFile
    members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.members = {
            info.filename: info for info in self.archive.infolist() if not info.is_dir()
        }

    def describe_contents(self) -> str:
        names = sorted(name for name in self.members if "/" not in name)
        shown = ", ".join(names[:MAX_LISTED_MEMBERS]) or "no files at its root"
        more = len(names) - MAX_LISTED_MEMBERS
        return shown + (f" and {more} more" if more > 0 else "")

    def read(self, name: str) -> bytes | None:
        """The member's bytes; None when absent. Raises ValueError when it is too large."""
        info = self.members.get(name)
        if info is None:
            return None
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(
                f"is {info.file_size} bytes; expected a small JSON file "
                f"(limit {MAX_MEMBER_BYTES} bytes)"
            )
        try:
            return self.archive.read(info)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as exc:
            raise ValueError(f"cannot be extracted from the zip: {exc}") from exc


def _download(s3: Any, location: ArtifactLocation, spool: IO[bytes]) -> None:
    try:
        response = s3.get_object(Bucket=location.bucket, Key=location.key)
        shutil.copyfileobj(response["Body"], spool)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise JobError(
            f"Cannot read {location}: {error_code(exc)}: {message}",
            failure_type_of(exc),
        ) from exc
    spool.seek(0)


def open_artifact(s3: Any, location: ArtifactLocation, spool: IO[bytes]) -> ZipArtifact:
    _download(s3, location, spool)
    try:
        return ZipArtifact(location=location, archive=zipfile.ZipFile(spool))
    except zipfile.BadZipFile as exc:
        raise JobError(f"The {location} is not a zip file: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Problem:
    rank: int
    file: str
    text: str

    def __str__(self) -> str:
        return f"{self.file}: {self.text}"


def order_problems(problems: Iterable[Problem], stage_order: Sequence[str]) -> list[Problem]:
    """By rank, then by stage; within both, as found (sorted is stable)."""
    position = {name: index for index, name in enumerate(stage_order)}
    return sorted(problems, key=lambda p: (p.rank, position.get(p.file, len(position))))


def failure_message(problems: Sequence[Problem], limit: int = MAX_FAILURE_MESSAGE_CHARS) -> str:
    """One line per problem, cut at a line boundary (not mid-line by the layer) when too long."""
    lines = [str(problem) for problem in problems]
    message = "\n".join(lines)
    if len(message) <= limit:
        return message
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left = len(lines) - index
        tail = (
            f"... and {left} more problem{'s' if left > 1 else ''} (all are in the function's log)"
        )
        if used + len(line) + 1 + len(tail) > limit:
            return "\n".join([*kept, tail])[:limit]
        kept.append(line)
        used += len(line) + 1
    return message[:limit]  # pragma: no cover - the loop returns first


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, dict):
        return "a JSON object"
    return "a string"


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _joined(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# ---------------------------------------------------------------------------------------------
# Templates


def template_parameters(artifact: ZipArtifact, template_file: str) -> dict[str, dict[str, Any]]:
    """The template's Parameters section; a broken template is the pipeline's fault, not the
    config file's, so it fails the job outright."""
    where = f"Endpoint template {template_file} in {artifact.location}"
    try:
        data = artifact.read(template_file)
    except ValueError as exc:
        raise JobError(f"{where} {exc}.", "ConfigurationError") from exc
    if data is None:
        raise JobError(
            f"{where} does not exist; it holds: {artifact.describe_contents()}.",
            "ConfigurationError",
        )
    try:
        template = json.loads(data.decode("utf-8-sig"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise JobError(f"{where} is not a JSON template: {exc}", "ConfigurationError") from exc
    parameters = template.get("Parameters", {}) if isinstance(template, dict) else None
    if not isinstance(parameters, dict) or not all(
        isinstance(spec, dict) for spec in parameters.values()
    ):
        raise JobError(
            f"{where} has no valid Parameters section (an object of parameter declarations).",
            "ConfigurationError",
        )
    return parameters


# ---------------------------------------------------------------------------------------------
# Config files


class _DuplicateKeys:
    """object_pairs_hook that remembers keys given twice in one object: CloudFormation reads
    only one of the values, so the other edit is silently lost."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen and key not in self.names:
                self.names.append(key)
            seen[key] = value
        return seen


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON, and so CloudFormation, does not.
    raise ValueError(f"{name} is not a JSON value")


def load_config_file(data: bytes) -> tuple[Any, list[str]]:
    """The document and the keys given twice; raises ValueError with a located message."""
    duplicates = _DuplicateKeys()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 text: {exc}") from exc
    try:
        document = json.loads(text, object_pairs_hook=duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except ValueError as exc:
        raise ValueError(f"is not valid JSON: {exc}") from exc
    return document, duplicates.names


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


def _accepted_values(allowed: Sequence[Any]) -> str:
    shown = ", ".join(_show(str(value)) for value in allowed[:ALLOWED_VALUES_SHOWN])
    if len(allowed) > ALLOWED_VALUES_SHOWN:
        return f"one of {shown}, ... ({len(allowed)} accepted values)"
    return f"one of {shown}"


def constraint_violation(value: str, spec: Mapping[str, Any]) -> str | None:
    """What the value breaks of the declaration's constraints, as 'must ...'; None if fine."""
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and allowed and value not in [str(a) for a in allowed]:
        return f"must be {_accepted_values(allowed)}"
    if spec.get("Type") == "Number":
        return _number_violation(value, spec)
    if spec.get("Type") == "String":
        return _string_violation(value, spec)
    return None


def _number_violation(value: str, spec: Mapping[str, Any]) -> str | None:
    number = _decimal(value)
    if number is None:
        return "must be a number"
    minimum, maximum = _decimal(spec.get("MinValue")), _decimal(spec.get("MaxValue"))
    if minimum is not None and number < minimum:
        return f"must be at least {spec['MinValue']}"
    if maximum is not None and number > maximum:
        return f"must be at most {spec['MaxValue']}"
    return None


def _string_violation(value: str, spec: Mapping[str, Any]) -> str | None:
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str) and not _matches(pattern, value):
        return f"must match the pattern {pattern}"
    min_length, max_length = _decimal(spec.get("MinLength")), _decimal(spec.get("MaxLength"))
    if min_length is not None and len(value) < min_length:
        return f"must be at least {spec['MinLength']} characters long"
    if max_length is not None and len(value) > max_length:
        return f"must be at most {spec['MaxLength']} characters long"
    return None


def _matches(pattern: str, value: str) -> bool:
    # CloudFormation (Java) requires the whole value to match, anchors or not.
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        # A pattern Python cannot compile may still be valid Java: leave it to CloudFormation.
        logger.warning(
            "Skipping an AllowedPattern Python cannot compile", extra={"pattern": pattern}
        )
        return True


def _constraint_message(name: str, value: str, spec: Mapping[str, Any], violation: str) -> str:
    description = spec.get("ConstraintDescription")
    if isinstance(description, str) and description.strip():
        description = description.strip()
        # Read as a continuation of "<name> <value>" when phrased that way, as this
        # project's templates are.
        separator = " " if description.startswith("must") else ": "
        return f"{name} {_show(value)}{separator}{description}"
    return f"{name} {_show(value)} {violation}"


@dataclass
class ConfigFileCheck:
    """Collects the problems of one config file against its template."""

    stage: StageCheck
    declared: Mapping[str, Mapping[str, Any]]
    at_least: Sequence[tuple[str, str]]
    problems: list[Problem] = field(default_factory=list)

    def add(self, rank: int, text: str) -> None:
        self.problems.append(Problem(rank, self.stage.config_file, text))

    def run(self, document: Any, duplicates: Sequence[str]) -> list[Problem]:
        for name in duplicates:
            self.add(STRUCTURE_RANK, f"key {_show(name)} appears more than once in an object")
        if not isinstance(document, dict):
            self.add(
                FILE_RANK,
                "must hold a JSON object (a template configuration file), "
                f"got {_json_type(document)}",
            )
            return self.problems
        for key in document:
            if key not in CONFIG_KEYS:
                self.add(
                    STRUCTURE_RANK,
                    f"unknown top-level key {_show(key)}{_did_you_mean(key, CONFIG_KEYS)}; "
                    f"a template configuration file has only {_joined(CONFIG_KEYS)}",
                )
        self._check_parameters(document.get("Parameters", {}))
        if "Tags" in document:
            self._check_tags(document["Tags"])
        if "StackPolicy" in document and not isinstance(document["StackPolicy"], dict):
            self.add(
                STRUCTURE_RANK,
                f"StackPolicy must be a JSON object (a stack policy document), "
                f"got {_json_type(document['StackPolicy'])}",
            )
        return self.problems

    # -- Parameters ----------------------------------------------------------------------------

    def _check_parameters(self, parameters: Any) -> None:
        if not isinstance(parameters, dict):
            self.add(
                STRUCTURE_RANK,
                "Parameters must be a JSON object of parameter names to string values, "
                f"got {_json_type(parameters)}",
            )
            return
        settable = [n for n in self.declared if n not in self.stage.pipeline_parameters]
        values: dict[str, str] = {}
        for name, value in parameters.items():
            if name in self.stage.pipeline_parameters:
                self.add(
                    PARAMETER_RANK,
                    f"{name} is set by the pipeline; remove it from this file",
                )
            elif name not in self.declared:
                self.add(
                    PARAMETER_RANK,
                    f"{_show(name)} is not a parameter of {self.stage.template_file}"
                    f"{_did_you_mean(name, settable)}; it accepts "
                    f"{', '.join(sorted(settable)) or 'none'}",
                )
            elif not isinstance(value, str):
                self.add(PARAMETER_RANK, _not_a_string(name, value))
            else:
                values[name] = value
        for name in settable:
            if name not in parameters and "Default" not in self.declared[name]:
                self.add(
                    PARAMETER_RANK,
                    f"{name} is missing; {self.stage.template_file} declares no default for it",
                )
        for name, value in list(values.items()):
            spec = self.declared[name]
            violation = constraint_violation(value, spec)
            if violation is not None:
                self.add(PARAMETER_RANK, _constraint_message(name, value, spec, violation))
                del values[name]
        self._check_at_least(values, rejected=set(parameters) - set(values))

    def _check_at_least(self, values: Mapping[str, str], rejected: set[str]) -> None:
        for name, other in self.at_least:
            if not {name, other} <= set(self.declared) or {name, other} & rejected:
                # A value already reported wrong would only add noise to the report.
                continue
            (value, value_source), (bound, bound_source) = (
                self._effective(n, values) for n in (name, other)
            )
            number, minimum = _decimal(value), _decimal(bound)
            if number is None or minimum is None or number >= minimum:
                continue
            self.add(
                RELATION_RANK,
                f"{name} {_show(value)}{value_source} must be at least "
                f"{other} {_show(bound)}{bound_source}",
            )

    def _effective(self, name: str, values: Mapping[str, str]) -> tuple[Any, str]:
        if name in values:
            return values[name], ""
        return self.declared[name].get("Default"), " (the template's default)"

    # -- Tags -----------------------------------------------------------------------------------

    def _check_tags(self, tags: Any) -> None:
        if not isinstance(tags, dict):
            self.add(
                STRUCTURE_RANK,
                f"Tags must be a JSON object of tag keys to string values, got {_json_type(tags)}",
            )
            return
        if len(tags) > MAX_TAGS:
            self.add(
                STRUCTURE_RANK,
                f"Tags has {len(tags)} tags; CloudFormation accepts at most {MAX_TAGS}",
            )
        for key, value in tags.items():
            for problem in _tag_problems(key, value):
                self.add(TAG_RANK, problem)


def _not_a_string(name: str, value: Any) -> str:
    message = f"{name} must be a string, not {_json_type(value)}"
    if isinstance(value, bool | int | float):
        # The likely intent, quoted, is the fix.
        message += f": write {json.dumps(json.dumps(value))}"
    return message + " (values in this file are strings)"


def _tag_problems(key: str, value: Any) -> Iterator[str]:
    if not key:
        yield "a tag key is empty; keys are 1 to 128 characters"
    elif len(key) > MAX_TAG_KEY_CHARS:
        yield (
            f"tag key {_show(key)} is {len(key)} characters; "
            f"at most {MAX_TAG_KEY_CHARS} are allowed"
        )
    if key.lower().startswith(RESERVED_TAG_PREFIX):
        yield f"tag key {_show(key)} starts with {RESERVED_TAG_PREFIX!r}, which AWS reserves"
    if not isinstance(value, str):
        yield f"tag {_show(key)} must have a string value, not {_json_type(value)}"
    elif len(value) > MAX_TAG_VALUE_CHARS:
        yield (
            f"tag {_show(key)} has a value of {len(value)} characters; "
            f"at most {MAX_TAG_VALUE_CHARS} are allowed"
        )


def check_stage(
    stage: StageCheck,
    config: ZipArtifact,
    templates: ZipArtifact,
    at_least: Sequence[tuple[str, str]],
) -> list[Problem]:
    declared = template_parameters(templates, stage.template_file)
    check = ConfigFileCheck(stage=stage, declared=declared, at_least=at_least)
    try:
        data = config.read(stage.config_file)
        if data is None:
            check.add(
                FILE_RANK,
                f"not found at the root of {config.location}; "
                f"it holds: {config.describe_contents()}",
            )
            return check.problems
        document, duplicates = load_config_file(data)
    except ValueError as exc:
        check.add(FILE_RANK, str(exc))
        return check.problems
    return check.run(document, duplicates)


def check_deploy_config(
    settings: CheckSettings, config: ZipArtifact, templates: ZipArtifact
) -> list[Problem]:
    problems = [
        problem
        for stage in settings.stages
        for problem in check_stage(stage, config, templates, settings.at_least)
    ]
    return order_problems(problems, [stage.config_file for stage in settings.stages])


# ---------------------------------------------------------------------------------------------
# Entry point


def run_check(
    event: Mapping[str, Any], job: CodePipelineJobEvent, job_id: str
) -> tuple[CheckSettings, list[Problem]]:
    settings = parse_settings(read_user_parameters(job))
    config_location = artifact_location(event, settings.config_artifact)
    templates_location = artifact_location(event, settings.templates_artifact)
    logger.info(
        "Checking deploy config files",
        extra={
            "job_id": job_id,
            "config_files": [stage.config_file for stage in settings.stages],
            "config_artifact": str(config_location),
            "templates_artifact": str(templates_location),
        },
    )
    s3 = _artifact_client(artifact_credentials(event))
    with (
        tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as config_spool,
        tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as templates_spool,
    ):
        config = open_artifact(s3, config_location, config_spool)
        templates = open_artifact(s3, templates_location, templates_spool)
        return settings, check_deploy_config(settings, config, templates)


# The job event carries temporary artifact credentials: log identifiers, never the event.
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    job_id, job = require_job(event, logger)

    codepipeline = clients("codepipeline")
    try:
        settings, problems = run_check(event, job, job_id)
    except Exception as exc:
        report_job_error(
            codepipeline,
            job_id,
            exc,
            context=context,
            logger=logger,
            doing="checking the deploy config files",
        )
        return

    if problems:
        # The failure message may be cut; the log keeps every problem.
        logger.error(
            "Deploy config files do not match their templates",
            extra={"job_id": job_id, "problems": [str(problem) for problem in problems]},
        )
        report_job_error(
            codepipeline,
            job_id,
            JobError(failure_message(problems)),
            context=context,
            logger=logger,
            doing="checking the deploy config files",
        )
        return

    files = [stage.config_file for stage in settings.stages]
    verb = "matches its endpoint template" if len(files) == 1 else "match their endpoint templates"
    logger.info("Deploy config files match their templates", extra={"job_id": job_id})
    report_success_or_failure(
        codepipeline,
        job_id,
        variables={},
        summary=f"{_joined(files)} {verb}",
        context=context,
        logger=logger,
    )
