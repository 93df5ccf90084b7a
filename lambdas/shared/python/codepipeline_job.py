"""What every CodePipeline "Lambda invoke" action of this project shares beyond Powertools:
the job's UserParameters as a checked JSON object, failure types, and reporting the job's
result (Powertools parses the job event but has no helper for PutJobSuccessResult or
PutJobFailureResult).

Shipped in the shared layer (this folder), so the functions import it as
``codepipeline_job``. boto3 clients are passed in.

CodePipeline invokes the functions asynchronously, so an exception escaping a handler makes
Lambda retry the same job after the first attempt may already have reported a result. The
handlers therefore report every failure they can attribute to a job and return normally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CodePipelineJobEvent

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt); the Lambda runtime has none and needs none.
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_codepipeline.type_defs import ExecutionDetailsTypeDef, FailureDetailsTypeDef

# PutJobFailureResult's failureDetails.message limit, and executionDetails' limits.
MAX_FAILURE_MESSAGE_CHARS = 5000
MAX_SUMMARY_CHARS = 2048
MAX_EXECUTION_ID_CHARS = 1500


# The failure types this project reports (CodePipeline's FailureType, spelt out so a typo is
# a type error).
FailureType = Literal["ConfigurationError", "JobFailed", "PermissionError"]
# S3 answers HeadObject (as in a download) with the bare status code.
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "403"})


class JobError(Exception):
    """A failure to report to CodePipeline with the given failure type."""

    def __init__(self, message: str, failure_type: FailureType = "JobFailed") -> None:
        super().__init__(message)
        self.failure_type = failure_type


def job_id_of(event: Any) -> str | None:
    job = event.get("CodePipeline.job") if isinstance(event, Mapping) else None
    job_id = job.get("id") if isinstance(job, Mapping) else None
    return job_id if isinstance(job_id, str) and job_id else None


def require_job(event: Any, logger: Logger) -> tuple[str, CodePipelineJobEvent]:
    """The job id and the event as Powertools' data class. Without a job id there is nothing
    to report to, so this raises instead."""
    job_id = job_id_of(event)
    if job_id is None:
        logger.error("Event is not a CodePipeline job event; nothing to report to")
        raise ValueError("Event has no 'CodePipeline.job'.id; is this a CodePipeline job event?")
    return job_id, CodePipelineJobEvent(event)


def read_user_parameters(job: CodePipelineJobEvent) -> dict[str, Any]:
    """The job's UserParameters, which this project always configures as a JSON object."""
    missing = JobError(
        "Job event has no data.actionConfiguration.configuration.UserParameters; "
        "configure the action's UserParameters as a JSON object.",
        "ConfigurationError",
    )
    try:
        raw = job.user_parameters
    except (KeyError, TypeError) as exc:
        raise missing from exc
    if raw is None:
        raise missing
    try:
        params = job.decoded_user_parameters
    except (TypeError, ValueError) as exc:
        raise JobError(
            f"UserParameters is not valid JSON: {str(raw)[:200]!r}", "ConfigurationError"
        ) from exc
    if not isinstance(params, dict):
        raise JobError(
            f"UserParameters must be a JSON object, got {type(params).__name__}",
            "ConfigurationError",
        )
    return params


def parse_user_parameters(job: CodePipelineJobEvent, required: Iterable[str]) -> dict[str, str]:
    """Return the required string parameters from the job's UserParameters JSON."""
    params = read_user_parameters(job)
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


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError (duck-typed: no botocore import here)."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, Mapping) else {}
    return str(error.get("Code", "Unknown")) if isinstance(error, Mapping) else "Unknown"


def failure_type_of(exc: Exception) -> FailureType:
    """CodePipeline's failure type for an unexpected error: access problems stand out."""
    return "PermissionError" if error_code(exc) in _ACCESS_DENIED else "JobFailed"


def _execution_id(context: Any) -> str | None:
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and request_id:
        return request_id[:MAX_EXECUTION_ID_CHARS]
    return None


def report_success(
    codepipeline: CodePipelineClient,
    job_id: str,
    variables: dict[str, str],
    summary: str,
    context: Any,
) -> None:
    details: ExecutionDetailsTypeDef = {"summary": summary[:MAX_SUMMARY_CHARS]}
    execution_id = _execution_id(context)
    if execution_id:
        details["externalExecutionId"] = execution_id
    codepipeline.put_job_success_result(
        jobId=job_id, outputVariables=variables, executionDetails=details
    )


def report_failure(
    codepipeline: CodePipelineClient,
    job_id: str,
    failure_type: FailureType,
    message: str,
    context: Any,
) -> None:
    details: FailureDetailsTypeDef = {
        "type": failure_type,
        "message": message[:MAX_FAILURE_MESSAGE_CHARS] or "failed",
    }
    execution_id = _execution_id(context)
    if execution_id:
        details["externalExecutionId"] = execution_id
    codepipeline.put_job_failure_result(jobId=job_id, failureDetails=details)


def _report_failure_or_log(
    codepipeline: CodePipelineClient,
    job_id: str,
    failure_type: FailureType,
    message: str,
    *,
    context: Any,
    logger: Logger,
) -> None:
    try:
        report_failure(codepipeline, job_id, failure_type, message, context)
    except Exception:
        # Typically throttling or InvalidJobStateException (the job already has a result);
        # raising would only make Lambda run the whole action again.
        logger.exception("Could not report failure", extra={"job_id": job_id})


def report_job_error(
    codepipeline: CodePipelineClient,
    job_id: str,
    exc: Exception,
    *,
    context: Any,
    logger: Logger,
    doing: str,
) -> None:
    """Fails the job for ``exc``: a JobError with its own message and type, anything else
    as an unexpected error while ``doing`` (e.g. "resolving the model package"). Never
    raises."""
    if isinstance(exc, JobError):
        logger.error(
            "Job failed",
            extra={"job_id": job_id, "failure_type": exc.failure_type, "reason": str(exc)},
        )
        _report_failure_or_log(
            codepipeline, job_id, exc.failure_type, str(exc), context=context, logger=logger
        )
        return
    logger.error(f"Unexpected error while {doing}", exc_info=exc, extra={"job_id": job_id})
    _report_failure_or_log(
        codepipeline,
        job_id,
        failure_type_of(exc),
        f"Unexpected error {doing}: {type(exc).__name__}: {exc}",
        context=context,
        logger=logger,
    )


def report_success_or_failure(
    codepipeline: CodePipelineClient,
    job_id: str,
    *,
    variables: dict[str, str],
    summary: str,
    context: Any,
    logger: Logger,
) -> None:
    """Reports success; if CodePipeline refuses it (a size limit, throttling), fails the job
    instead of leaving it hanging until its timeout; if that fails too (typically the job
    already has a result), only logs. Never raises: Lambda would retry the whole action."""
    try:
        report_success(codepipeline, job_id, variables, summary, context)
    except Exception as exc:
        logger.exception("Could not report success", extra={"job_id": job_id})
        _report_failure_or_log(
            codepipeline,
            job_id,
            "JobFailed",
            f"Could not report success: {exc}",
            context=context,
            logger=logger,
        )
