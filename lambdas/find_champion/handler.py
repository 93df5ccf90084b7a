"""The training pipeline's FindChampion step: the approved model a new one is compared with.

Contract
--------
Event (the Lambda step's arguments)::

    {"ModelPackageGroupName": "<group>", "FallbackModelDataUrl": "s3://.../model.tar.gz"}

Result (the step's output parameters)::

    {"ModelPackageArn": "<newest approved version's ARN, or empty>",
     "ModelDataUrl": "<its model archive, or FallbackModelDataUrl>"}

Evaluate scores the champion on the new model's test split through the champion's own serving
code. Without an approved version (or with one that names no model archive) the ARN is empty,
which tells Evaluate there is no champion, and ModelDataUrl falls back to the new model's own
archive, so that the step's S3 input always exists. A malformed event or an AWS error raises:
SageMaker fails the step with the message.

Environment: ``LOG_LEVEL`` (optional, default ``INFO``). Logs are Powertools JSON lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from model_registry import newest_approved

from shared_runtime import Clients, function_logger

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

logger = function_logger("find_champion")
clients = Clients(max_attempts=5)


def _required_text(event: Mapping[str, Any], name: str, *, prefix: str = "") -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value.strip() or not value.startswith(prefix):
        accepted = f"a string starting with {prefix!r}" if prefix else "a non-empty string"
        raise ValueError(f"event field {name!r} must be {accepted}; got {value!r}")
    return value


def find_champion(event: Mapping[str, Any], sagemaker: SageMakerClient) -> dict[str, str]:
    group = _required_text(event, "ModelPackageGroupName")
    fallback = _required_text(event, "FallbackModelDataUrl", prefix="s3://")
    description = newest_approved(sagemaker, group, logger)
    if description is None:
        logger.info("No approved model: no champion", extra={"model_package_group": group})
        return {"ModelPackageArn": "", "ModelDataUrl": fallback}
    arn = description["ModelPackageArn"]
    containers = (description.get("InferenceSpecification") or {}).get("Containers") or []
    model_data_url = containers[0].get("ModelDataUrl") if containers else None
    if not model_data_url:
        # Not one of this pipeline's versions (they all carry an archive); a version that
        # cannot be scored must not block every future model.
        logger.warning(
            "Approved model has no model archive: no champion", extra={"model_package_arn": arn}
        )
        return {"ModelPackageArn": "", "ModelDataUrl": fallback}
    logger.info("Champion found", extra={"model_package_arn": arn})
    return {"ModelPackageArn": arn, "ModelDataUrl": str(model_data_url)}


@logger.inject_lambda_context(log_event=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    return find_champion(event, clients("sagemaker"))
