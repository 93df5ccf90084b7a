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

Environment: ``LOG_LEVEL`` (optional, default ``INFO``). Logs are Powertools JSON lines.

CodePipeline invokes the function asynchronously, so an exception escaping the handler makes
Lambda retry the same job after the first attempt may already have reported a result. The
handler therefore reports every failure it can attribute to a job and returns normally; it
raises only when the event carries no job id (there is nothing to report to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from model_registry import newest_approved

from codepipeline_job import (
    JobError,
    parse_user_parameters,
    report_job_error,
    report_success_or_failure,
    require_job,
)
from shared_runtime import Clients, function_logger

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

logger = function_logger("resolve_model_package")
clients = Clients(max_attempts=5)

# CodePipeline rejects longer output variable values; checking here turns an opaque API
# error into a message naming the variable.
MAX_OUTPUT_VARIABLE_CHARS = 1000


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
# Model registry


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


def resolve_newest_approved(sagemaker: SageMakerClient, group: str) -> ResolvedPackage:
    """Newest package whose approval still holds when described.

    Approval can be revoked, or the package deleted, between the list and the describe; such
    a package is skipped in favour of the next newest rather than deployed or failing the job.
    """
    description = newest_approved(sagemaker, group, logger)
    if description is not None:
        return to_resolved_package(description)
    raise JobError(
        f"No Approved model package in model package group '{group}'. Approve a version in "
        "the SageMaker model registry (Studio, or aws sagemaker update-model-package "
        "--model-package-arn ... --model-approval-status Approved) and re-run.",
        "ConfigurationError",
    )


# ---------------------------------------------------------------------------------------------
# Entry point


# The job event carries temporary artifact credentials: log identifiers, never the event.
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    job_id, job = require_job(event, logger)

    codepipeline = clients("codepipeline")
    try:
        params = parse_user_parameters(job, ["model_package_group_name"])
        group = params["model_package_group_name"]
        logger.info(
            "Resolving newest approved model package",
            extra={"job_id": job_id, "model_package_group": group},
        )
        package = resolve_newest_approved(clients("sagemaker"), group)
        variables = package.output_variables()
    except Exception as exc:
        report_job_error(
            codepipeline,
            job_id,
            exc,
            context=context,
            logger=logger,
            doing="resolving the model package",
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
    report_success_or_failure(
        codepipeline,
        job_id,
        variables=variables,
        summary=f"Resolved {package.arn} (version {package.version})",
        context=context,
        logger=logger,
    )
