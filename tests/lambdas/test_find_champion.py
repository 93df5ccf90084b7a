"""find_champion: the approved model a new one is compared with, or none (the Lambda step)."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.find_champion import handler
from shared_runtime import Clients
from tests.lambdas.conftest import ACCOUNT_ID, REGION

GROUP = "churn-models"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
NEW_MODEL = "s3://artifacts/pipelines/p/exec-9/Train/output/model.tar.gz"


def package_arn(version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model-package/{GROUP}/{version}"


def archive(version: int) -> str:
    return f"s3://artifacts/models/v{version}/model.tar.gz"


@pytest.fixture(autouse=True)
def sagemaker(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(handler, "clients", Clients())
    client = make_client("sagemaker")
    handler.clients.cache.update(sagemaker=client)
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    return client


def register(sagemaker: Any, statuses: list[str]) -> None:
    """One version per status, oldest first (moto numbers them 1, 2, ...)."""
    for version, status in enumerate(statuses, start=1):
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": archive(version)}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )


def invoke(lambda_context: Any, **event: Any) -> dict[str, str]:
    return handler.lambda_handler(
        {"ModelPackageGroupName": GROUP, "FallbackModelDataUrl": NEW_MODEL, **event},
        lambda_context,
    )


def test_newest_approved_version_is_the_champion(sagemaker: Any, lambda_context: Any) -> None:
    register(sagemaker, ["Approved", "Approved", "Rejected", "PendingManualApproval"])
    assert invoke(lambda_context) == {"ModelPackageArn": package_arn(2), "ModelDataUrl": archive(2)}


def test_without_approved_version_there_is_no_champion(sagemaker: Any, lambda_context: Any) -> None:
    register(sagemaker, ["Rejected", "PendingManualApproval"])
    # The fallback keeps Evaluate's champion input valid; the empty ARN says "none".
    assert invoke(lambda_context) == {"ModelPackageArn": "", "ModelDataUrl": NEW_MODEL}


def test_empty_group_has_no_champion(lambda_context: Any) -> None:
    assert invoke(lambda_context)["ModelPackageArn"] == ""


def test_approved_version_without_archive_is_no_champion(lambda_context: Any) -> None:
    description = {
        "ModelPackageArn": package_arn(1),
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {"Containers": [{"Image": IMAGE}]},
    }

    class Registry:
        def get_paginator(self, _: str) -> Any:
            class Pages:
                def paginate(self, **_: Any) -> list[dict[str, Any]]:
                    summary = {
                        "ModelPackageArn": package_arn(1),
                        "ModelApprovalStatus": "Approved",
                        "ModelPackageVersion": 1,
                    }
                    return [{"ModelPackageSummaryList": [summary]}]

            return Pages()

        def describe_model_package(self, **_: Any) -> dict[str, Any]:
            return description

    event = {"ModelPackageGroupName": GROUP, "FallbackModelDataUrl": NEW_MODEL}
    assert handler.find_champion(event, Registry()) == {  # type: ignore[arg-type]
        "ModelPackageArn": "",
        "ModelDataUrl": NEW_MODEL,
    }


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"ModelPackageGroupName": ""}, "ModelPackageGroupName"),
        ({"ModelPackageGroupName": None}, "ModelPackageGroupName"),
        ({"FallbackModelDataUrl": "https://bucket/model.tar.gz"}, "FallbackModelDataUrl"),
        ({"FallbackModelDataUrl": 3}, "FallbackModelDataUrl"),
    ],
)
def test_malformed_event_names_the_field(
    lambda_context: Any, event: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        invoke(lambda_context, **event)
