"""A SageMaker pipeline's running executions, listed the same way by every function that
starts the pipeline (new training data, a drift alarm) so none starts a run another covers.

Shipped in the shared layer (this folder), so the functions import it as ``pipeline_runs``.
Needs only what the Lambda runtime provides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import PipelineExecutionSummaryTypeDef

EXECUTING: Final = "Executing"


def client_request_token(pipeline_name: str, event_id: str) -> str:
    """Same event, same token: SageMaker then treats a redelivered start as the same request.

    A SHA-256 hex digest is 64 characters, inside the API's 32-128 range, and stays the same
    across invocations, unlike a random idempotency token.
    """
    return hashlib.sha256(f"{pipeline_name}\n{event_id}".encode()).hexdigest()


def running_since(summary: PipelineExecutionSummaryTypeDef, since: datetime) -> bool:
    """An Executing run that started at or after ``since``; a start time without a zone is
    read as UTC. A run that has finished, or started earlier, does not count."""
    start = summary.get("StartTime")
    if summary.get("PipelineExecutionStatus") != EXECUTING or not isinstance(start, datetime):
        return False
    return (start if start.tzinfo else start.replace(tzinfo=UTC)) >= since


def running_executions(
    sagemaker: SageMakerClient, pipeline_name: str, since: datetime
) -> Iterator[PipelineExecutionSummaryTypeDef]:
    """The pipeline's Executing runs created and started since ``since``, newest first.

    Lazy, so that no page is listed beyond the executions the caller gets to check: a caller
    that only needs to know whether any run is Executing stops at the first.
    """
    paginator = sagemaker.get_paginator("list_pipeline_executions")
    pages = paginator.paginate(
        PipelineName=pipeline_name,
        CreatedAfter=since,
        SortBy="CreationTime",
        SortOrder="Descending",
    )
    for page in pages:
        for summary in page.get("PipelineExecutionSummaries", []):
            if running_since(summary, since):
                yield summary
