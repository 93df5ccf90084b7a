"""CodePipeline "Lambda invoke" action: resolve the newest Approved model package of a group.

Contract
--------
Event: the CodePipeline job event. ``UserParameters`` is a JSON object string::

    {"model_package_group_name": "<group name or ARN>"}

Result, reported to CodePipeline (never through the return value):

* success -> ``PutJobSuccessResult`` with output variables ``ModelPackageArn``,
  ``ModelPackageVersion``, ``ModelDataUrl`` and ``ImageUri``; later actions read them as
  ``#{<namespace>.ModelPackageArn}``.
* no Approved package, malformed parameters, unexpected error -> ``PutJobFailureResult``.

Environment: ``LOG_LEVEL`` (optional, default ``INFO``).

CodePipeline invokes the function asynchronously, so an exception escaping the handler makes
Lambda retry the same job after the first attempt may already have reported a result. The
handler therefore reports every failure it can attribute to a job and returns normally; it
raises only when the event carries no job id (there is nothing to report to).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

logger = logging.getLogger("resolve_model_package")

APPROVED = "Approved"
# CodePipeline rejects longer output variable values; checking here turns an opaque API
# error into a message naming the variable.
MAX_OUTPUT_VARIABLE_CHARS = 1000
# PutJobFailureResult's failureDetails.message limit.
MAX_FAILURE_MESSAGE_CHARS = 5000
# SageMaker reports a missing model package as a ValidationException rather than by a
# not-found code; these phrases in its message tell that from a malformed request.
_NOT_FOUND_PHRASES = ("not found", "does not exist", "cannot find", "could not find")

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5)
_clients: dict[str, Any] = {}


def _client(service: str) -> Any:
    """Create clients on first use so importing the module never needs AWS."""
    if service not in _clients:
        _clients[service] = boto3.client(service, config=_BOTO_CONFIG)
    return _clients[service]


class JobError(Exception):
    """A failure to report to CodePipeline with the given failure type."""

    def __init__(self, message: str, failure_type: str = "JobFailed") -> None:
        super().__init__(message)
        self.failure_type = failure_type


@dataclass(frozen=True)
class ResolvedPackage:
    arn: str
    version: int
    model_data_url: str
    image_uri: str

    def output_variables(self) -> dict[str, str]:
        variables = {
            "ModelPackageArn": self.arn,
            "ModelPackageVersion": str(self.version),
            "ModelDataUrl": self.model_data_url,
            "ImageUri": self.image_uri,
        }
        for name, value in variables.items():
            if len(value) > MAX_OUTPUT_VARIABLE_CHARS:
                raise JobError(
                    f"Output variable {name} is {len(value)} characters; CodePipeline accepts "
                    f"at most {MAX_OUTPUT_VARIABLE_CHARS}. Value starts: {value[:100]!r}",
                    "ConfigurationError",
                )
        return variables


# ---------------------------------------------------------------------------------------------
# Job event parsing


def job_id_of(event: Any) -> str | None:
    job = event.get("CodePipeline.job") if isinstance(event, Mapping) else None
    job_id = job.get("id") if isinstance(job, Mapping) else None
    return job_id if isinstance(job_id, str) and job_id else None


def parse_user_parameters(event: Mapping[str, Any], required: Iterable[str]) -> dict[str, str]:
    """Return the required string parameters from the job's UserParameters JSON."""
    try:
        raw = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"][
            "UserParameters"
        ]
    except (KeyError, TypeError) as exc:
        raise JobError(
            "Job event has no data.actionConfiguration.configuration.UserParameters; "
            "configure the action's UserParameters as a JSON object.",
            "ConfigurationError",
        ) from exc
    try:
        params = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise JobError(
            f"UserParameters is not valid JSON: {str(raw)[:200]!r}", "ConfigurationError"
        ) from exc
    if not isinstance(params, dict):
        raise JobError(
            f"UserParameters must be a JSON object, got {type(params).__name__}",
            "ConfigurationError",
        )
    values: dict[str, str] = {}
    for key in required:
        value = params.get(key)
        if not isinstance(value, str) or not value.strip():
            raise JobError(
                f"UserParameters needs a non-empty string {key!r}; got keys {sorted(params)}",
                "ConfigurationError",
            )
        values[key] = value.strip()
    return values


# ---------------------------------------------------------------------------------------------
# Model registry


def _newest_first_key(summary: Mapping[str, Any]) -> tuple[datetime, int]:
    # Versions grow monotonically within a group, so they break CreationTime ties exactly.
    created = summary.get("CreationTime")
    if not isinstance(created, datetime):
        created = datetime.min.replace(tzinfo=UTC)
    elif created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created, int(summary.get("ModelPackageVersion") or 0)


def list_approved_newest_first(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    """All Approved packages of the group, newest first.

    The server sorts by CreationTime descending, which alone would put the newest first on
    page one. Every page is still read and the list re-sorted here so the answer does not
    depend on how the service orders items across pages; approved versions of one group are
    few, so this costs one call per 100 of them.
    """
    paginator = sagemaker.get_paginator("list_model_packages")
    pages = paginator.paginate(
        ModelPackageGroupName=group,
        ModelApprovalStatus=APPROVED,
        SortBy="CreationTime",
        SortOrder="Descending",
    )
    summaries = [
        summary
        for page in pages
        for summary in page.get("ModelPackageSummaryList", [])
        if summary.get("ModelApprovalStatus") == APPROVED
    ]
    return sorted(summaries, key=_newest_first_key, reverse=True)


def to_resolved_package(description: Mapping[str, Any]) -> ResolvedPackage:
    arn = description["ModelPackageArn"]
    containers = (description.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers:
        raise JobError(
            f"Model package {arn} has no InferenceSpecification.Containers to deploy.",
            "ConfigurationError",
        )
    container = containers[0]
    image_uri = container.get("Image")
    model_data_url = container.get("ModelDataUrl")
    missing = [
        name
        for name, value in (("Image", image_uri), ("ModelDataUrl", model_data_url))
        if not value
    ]
    if missing:
        raise JobError(
            f"Model package {arn} has no {' or '.join(missing)} in "
            "InferenceSpecification.Containers[0].",
            "ConfigurationError",
        )
    return ResolvedPackage(
        arn=arn,
        version=int(description.get("ModelPackageVersion") or 0),
        model_data_url=str(model_data_url),
        image_uri=str(image_uri),
    )


def _is_not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")).lower()
    return code in {"ResourceNotFound", "ResourceNotFoundException"} or (
        code == "ValidationException" and any(phrase in message for phrase in _NOT_FOUND_PHRASES)
    )


def _describe_if_exists(sagemaker: Any, arn: str) -> dict[str, Any] | None:
    try:
        description: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        if _is_not_found(exc):
            return None
        raise
    return description


def resolve_newest_approved(sagemaker: Any, group: str) -> ResolvedPackage:
    """Newest package whose approval still holds when described.

    Approval can be revoked, or the package deleted, between the list and the describe; such
    a package is skipped in favour of the next newest rather than deployed or failing the job.
    """
    candidates = list_approved_newest_first(sagemaker, group)
    logger.info(
        "Listed approved model packages",
        extra={"model_package_group": group, "approved_count": len(candidates)},
    )
    for summary in candidates:
        arn = summary["ModelPackageArn"]
        description = _describe_if_exists(sagemaker, arn)
        if description is None:
            logger.warning(
                "Skipping model package deleted since listing", extra={"model_package_arn": arn}
            )
            continue
        status = description.get("ModelApprovalStatus")
        if status != APPROVED:
            logger.warning(
                "Skipping model package whose approval changed since listing",
                extra={"model_package_arn": arn, "approval_status": status},
            )
            continue
        return to_resolved_package(description)
    raise JobError(
        f"No Approved model package in model package group '{group}'. Approve a version in "
        "the SageMaker model registry (Studio, or aws sagemaker update-model-package "
        "--model-package-arn ... --model-approval-status Approved) and re-run.",
        "ConfigurationError",
    )


# ---------------------------------------------------------------------------------------------
# CodePipeline reporting


def _execution_id(context: Any) -> str | None:
    request_id = getattr(context, "aws_request_id", None)
    return request_id[:1500] if isinstance(request_id, str) and request_id else None


def report_success(
    codepipeline: Any, job_id: str, variables: dict[str, str], summary: str, context: Any
) -> None:
    details: dict[str, Any] = {"summary": summary[:2048]}
    execution_id = _execution_id(context)
    if execution_id:
        details["externalExecutionId"] = execution_id
    codepipeline.put_job_success_result(
        jobId=job_id, outputVariables=variables, executionDetails=details
    )


def report_failure(
    codepipeline: Any, job_id: str, failure_type: str, message: str, context: Any
) -> None:
    details: dict[str, Any] = {
        "type": failure_type,
        "message": message[:MAX_FAILURE_MESSAGE_CHARS] or "failed",
    }
    execution_id = _execution_id(context)
    if execution_id:
        details["externalExecutionId"] = execution_id
    codepipeline.put_job_failure_result(jobId=job_id, failureDetails=details)


def _failure_type_of(exc: Exception) -> str:
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in {
        "AccessDenied",
        "AccessDeniedException",
    }:
        return "PermissionError"
    return "JobFailed"


# ---------------------------------------------------------------------------------------------
# Entry point


def _configure_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    try:
        logger.setLevel(level)
    except ValueError:
        logger.setLevel(logging.INFO)
        logger.warning("Unknown LOG_LEVEL; using INFO", extra={"log_level": level})


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    _configure_logging()
    # The job event carries temporary artifact credentials: log identifiers, never the event.
    job_id = job_id_of(event)
    if job_id is None:
        logger.error("Event is not a CodePipeline job event; nothing to report to")
        raise ValueError("Event has no 'CodePipeline.job'.id; is this a CodePipeline job event?")

    codepipeline = _client("codepipeline")
    try:
        params = parse_user_parameters(event, ["model_package_group_name"])
        group = params["model_package_group_name"]
        logger.info(
            "Resolving newest approved model package",
            extra={"job_id": job_id, "model_package_group": group},
        )
        package = resolve_newest_approved(_client("sagemaker"), group)
        variables = package.output_variables()
    except JobError as exc:
        logger.error(
            "Job failed",
            extra={"job_id": job_id, "failure_type": exc.failure_type, "reason": str(exc)},
        )
        report_failure(codepipeline, job_id, exc.failure_type, str(exc), context)
        return
    except Exception as exc:
        logger.exception("Unexpected error while resolving model package", extra={"job_id": job_id})
        report_failure(
            codepipeline,
            job_id,
            _failure_type_of(exc),
            f"Unexpected error resolving the model package: {type(exc).__name__}: {exc}",
            context,
        )
        return

    logger.info(
        "Chose model package",
        extra={
            "job_id": job_id,
            "model_package_arn": package.arn,
            "model_package_version": package.version,
        },
    )
    try:
        report_success(
            codepipeline,
            job_id,
            variables,
            f"Resolved {package.arn} (version {package.version})",
            context,
        )
    except Exception as exc:
        # E.g. the variables exceed a CodePipeline size limit, or throttling: fail the action
        # now rather than leave it hanging until its timeout. Raising would only make Lambda
        # retry the whole invocation.
        logger.exception("Could not report success", extra={"job_id": job_id})
        try:
            report_failure(
                codepipeline, job_id, "JobFailed", f"Could not report success: {exc}", context
            )
        except Exception:
            # Typically InvalidJobStateException: the job already has a result.
            logger.exception("Could not report failure either", extra={"job_id": job_id})
