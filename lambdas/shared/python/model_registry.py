"""The newest approved version of a model package group, read the same way by every function
that needs it (the deploy pipeline's resolver, the training pipeline's champion lookup).

Shipped in the shared layer (this folder), so the functions import it as ``model_registry``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        DescribeModelPackageOutputTypeDef,
        ModelPackageSummaryTypeDef,
    )

APPROVED: Final = "Approved"
# SageMaker reports a missing model package as a ValidationException rather than by a
# not-found code; these phrases in its message tell that from a malformed request.
_NOT_FOUND_PHRASES = ("not found", "does not exist", "cannot find", "could not find")


def newest_first_key(summary: ModelPackageSummaryTypeDef) -> tuple[datetime, int]:
    # Versions grow monotonically within a group, so they break CreationTime ties exactly.
    created = summary.get("CreationTime")
    if not isinstance(created, datetime):
        created = datetime.min.replace(tzinfo=UTC)
    elif created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created, int(summary.get("ModelPackageVersion") or 0)


def list_approved_newest_first(
    sagemaker: SageMakerClient, group: str
) -> list[ModelPackageSummaryTypeDef]:
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
    return sorted(summaries, key=newest_first_key, reverse=True)


def is_not_found(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")).lower()
    return code in {"ResourceNotFound", "ResourceNotFoundException"} or (
        code == "ValidationException" and any(phrase in message for phrase in _NOT_FOUND_PHRASES)
    )


def describe_if_exists(
    sagemaker: SageMakerClient, arn: str
) -> DescribeModelPackageOutputTypeDef | None:
    try:
        description = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return description


def newest_approved(
    sagemaker: SageMakerClient, group: str, logger: Logger
) -> DescribeModelPackageOutputTypeDef | None:
    """The newest package whose approval still holds when described, or None.

    Approval can be revoked, or the package deleted, between the list and the describe; such
    a package is skipped in favour of the next newest rather than used.
    """
    candidates = list_approved_newest_first(sagemaker, group)
    logger.info(
        "Listed approved model packages",
        extra={"model_package_group": group, "approved_count": len(candidates)},
    )
    for summary in candidates:
        arn = summary["ModelPackageArn"]
        description = describe_if_exists(sagemaker, arn)
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
        return description
    return None
