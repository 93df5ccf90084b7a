"""resolve_model_package: newest Approved package of a group, reported to CodePipeline."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import model_registry
import pytest
from botocore.stub import Stubber

from codepipeline_job import JobError
from lambdas.resolve_model_package import handler
from shared_runtime import Clients, function_logger
from tests.lambdas.conftest import ACCOUNT_ID, JOB_ID, REGION, REQUEST_ID, CodePipelineRecorder

GROUP = "churn-models"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
NO_APPROVED_MESSAGE = (
    f"No Approved model package in model package group '{GROUP}'. Approve a version in the "
    "SageMaker model registry (Studio, or aws sagemaker update-model-package "
    "--model-package-arn ... --model-approval-status Approved) and re-run."
)


def package_arn(version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model-package/{GROUP}/{version}"


def model_data_url(version: int) -> str:
    return f"s3://artifacts/models/v{version}/model.tar.gz"


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "clients", Clients())


@pytest.fixture
def sagemaker(make_client: Any, codepipeline: CodePipelineRecorder) -> Any:
    client = make_client("sagemaker")
    handler.clients.cache.update(sagemaker=client, codepipeline=codepipeline.client)
    return client


@pytest.fixture
def group(sagemaker: Any) -> str:
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    return GROUP


def register(sagemaker: Any, statuses: list[str]) -> None:
    """Register one version per status, oldest first (moto numbers them 1, 2, ...)."""
    for version, status in enumerate(statuses, start=1):
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": model_data_url(version)}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )


def run(job_event: Any, lambda_context: Any, params: dict[str, Any] | str | None = None) -> None:
    event = job_event({"model_package_group_name": GROUP} if params is None else params)
    handler.lambda_handler(event, lambda_context)


def chosen_arn(codepipeline: CodePipelineRecorder) -> str:
    arn: str = codepipeline.success()["outputVariables"]["ModelPackageArn"]
    return arn


def test_success_report_has_exact_output_variables(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    register(sagemaker, ["Approved"])
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert codepipeline.success() == {
        "jobId": JOB_ID,
        "outputVariables": {
            "ModelPackageArn": package_arn(1),
            "ModelPackageVersion": "1",
            "ModelDataUrl": model_data_url(1),
            "ImageUri": IMAGE,
        },
        "executionDetails": {
            "summary": f"Resolved {package_arn(1)} (version 1)",
            "externalExecutionId": REQUEST_ID,
        },
    }


def test_older_approved_wins_over_newer_rejected_and_pending(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    register(sagemaker, ["Approved", "Rejected", "PendingManualApproval"])
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert chosen_arn(codepipeline) == package_arn(1)


def test_newest_of_two_approved_wins(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    register(sagemaker, ["Approved", "Rejected", "Approved", "PendingManualApproval"])
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert chosen_arn(codepipeline) == package_arn(3)
    assert codepipeline.success()["outputVariables"]["ModelPackageVersion"] == "3"


def test_reads_every_page_of_a_large_group(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    register(sagemaker, ["Approved"] * 120)
    first_page = sagemaker.list_model_packages(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved"
    )
    # Only meaningful if moto really splits 120 packages into pages.
    assert len(first_page["ModelPackageSummaryList"]) == 100
    assert "NextToken" in first_page
    list_calls: list[dict[str, Any]] = []
    sagemaker.meta.events.register(
        "provide-client-params.sagemaker.ListModelPackages",
        lambda params, **_: list_calls.append(dict(params)),
    )
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert len(list_calls) == 2
    assert "NextToken" in list_calls[1]
    assert chosen_arn(codepipeline) == package_arn(120)


def test_newest_on_a_later_page_still_wins(
    sagemaker: Any, codepipeline: CodePipelineRecorder, job_event: Any, lambda_context: Any
) -> None:
    # Guards the choice against service ordering that is only per page.
    base = datetime(2026, 1, 1, tzinfo=UTC)

    def summary(version: int) -> dict[str, Any]:
        return {
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": version,
            "ModelPackageArn": package_arn(version),
            "CreationTime": base + timedelta(days=version),
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "Approved",
        }

    list_params = {
        "ModelPackageGroupName": GROUP,
        "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
    }
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "list_model_packages",
            {"ModelPackageSummaryList": [summary(2), summary(1)], "NextToken": "page-2"},
            list_params,
        )
        stub.add_response(
            "list_model_packages",
            {"ModelPackageSummaryList": [summary(3)]},
            {**list_params, "NextToken": "page-2"},
        )
        stub.add_response(
            "describe_model_package",
            {
                "ModelPackageName": GROUP,
                "ModelPackageArn": package_arn(3),
                "ModelPackageVersion": 3,
                "CreationTime": base,
                "ModelPackageStatus": "Completed",
                "ModelPackageStatusDetails": {"ValidationStatuses": []},
                "ModelApprovalStatus": "Approved",
                "InferenceSpecification": {
                    "Containers": [{"Image": IMAGE, "ModelDataUrl": model_data_url(3)}]
                },
            },
            {"ModelPackageName": package_arn(3)},
        )
        codepipeline.expect_report("put_job_success_result")

        run(job_event, lambda_context)

        stub.assert_no_pending_responses()
    assert chosen_arn(codepipeline) == package_arn(3)


def test_approval_revoked_after_listing_falls_back_to_next_newest(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    register(sagemaker, ["Approved", "Approved"])

    def revoke_newest_once(params: dict[str, Any], **_: Any) -> None:
        if params["ModelPackageName"] == package_arn(2):
            sagemaker.update_model_package(
                ModelPackageArn=package_arn(2), ModelApprovalStatus="Rejected"
            )

    sagemaker.meta.events.register(
        "provide-client-params.sagemaker.DescribeModelPackage", revoke_newest_once
    )
    codepipeline.expect_report("put_job_success_result")

    run(job_event, lambda_context)

    assert chosen_arn(codepipeline) == package_arn(1)


LIST_PARAMS = {
    "ModelPackageGroupName": GROUP,
    "ModelApprovalStatus": "Approved",
    "SortBy": "CreationTime",
    "SortOrder": "Descending",
}
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def approved_summary(version: int) -> dict[str, Any]:
    return {
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": version,
        "ModelPackageArn": package_arn(version),
        "CreationTime": CREATED + timedelta(days=version),
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
    }


def approved_description(version: int) -> dict[str, Any]:
    return {
        "ModelPackageName": GROUP,
        "ModelPackageArn": package_arn(version),
        "ModelPackageVersion": version,
        "CreationTime": CREATED,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": model_data_url(version)}]
        },
    }


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", f"Model package {package_arn(3)} not found"),
        ("ValidationException", f"ModelPackage {package_arn(3)} does not exist."),
        ("ResourceNotFound", "Resource not found"),
    ],
    ids=["not found", "does not exist", "ResourceNotFound"],
)
def test_package_deleted_after_listing_falls_back_to_next_newest(
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
    code: str,
    message: str,
) -> None:
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "list_model_packages",
            {"ModelPackageSummaryList": [approved_summary(3), approved_summary(2)]},
            LIST_PARAMS,
        )
        stub.add_client_error(
            "describe_model_package",
            code,
            message,
            400,
            expected_params={"ModelPackageName": package_arn(3)},
        )
        stub.add_response(
            "describe_model_package",
            approved_description(2),
            {"ModelPackageName": package_arn(2)},
        )
        codepipeline.expect_report("put_job_success_result")

        run(job_event, lambda_context)

        stub.assert_no_pending_responses()
    assert chosen_arn(codepipeline) == package_arn(2)
    assert "Skipping model package deleted since listing" in [
        r.getMessage() for r in caplog.records
    ]


def test_every_listed_package_deleted_fails_with_guidance(
    sagemaker: Any, codepipeline: CodePipelineRecorder, job_event: Any, lambda_context: Any
) -> None:
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "list_model_packages", {"ModelPackageSummaryList": [approved_summary(1)]}, LIST_PARAMS
        )
        stub.add_client_error(
            "describe_model_package", "ValidationException", "Model package not found", 400
        )
        codepipeline.expect_report()

        run(job_event, lambda_context)

    assert codepipeline.failure()["message"] == NO_APPROVED_MESSAGE


def test_other_describe_errors_still_fail_the_job(
    sagemaker: Any, codepipeline: CodePipelineRecorder, job_event: Any, lambda_context: Any
) -> None:
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "list_model_packages",
            {"ModelPackageSummaryList": [approved_summary(2), approved_summary(1)]},
            LIST_PARAMS,
        )
        stub.add_client_error(
            "describe_model_package", "ValidationException", "1 validation error detected", 400
        )
        codepipeline.expect_report()

        run(job_event, lambda_context)

        stub.assert_no_pending_responses()
    failure = codepipeline.failure()
    assert failure["message"].startswith("Unexpected error resolving the model package:")
    assert "1 validation error detected" in failure["message"]


def test_no_approved_package_fails_with_guidance(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
) -> None:
    register(sagemaker, ["PendingManualApproval", "Rejected"])
    codepipeline.expect_report()

    run(job_event, lambda_context)

    assert codepipeline.failure() == {
        "type": "ConfigurationError",
        "message": NO_APPROVED_MESSAGE,
        "externalExecutionId": REQUEST_ID,
    }


@pytest.mark.parametrize(
    ("user_parameters", "expected"),
    [
        ("not json", "UserParameters is not valid JSON"),
        ('["a list"]', "UserParameters must be a JSON object, got list"),
        ({"model_package_group": GROUP}, "needs a non-empty string 'model_package_group_name'"),
        ({"model_package_group_name": "  "}, "needs a non-empty string"),
    ],
)
def test_malformed_user_parameters_fail_the_job(
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    user_parameters: Any,
    expected: str,
) -> None:
    codepipeline.expect_report()

    run(job_event, lambda_context, user_parameters)

    failure = codepipeline.failure()
    assert failure["type"] == "ConfigurationError"
    assert expected in failure["message"]


def test_job_without_user_parameters_fails_the_job(
    sagemaker: Any, codepipeline: CodePipelineRecorder, job_event: Any, lambda_context: Any
) -> None:
    event = job_event({})
    del event["CodePipeline.job"]["data"]["actionConfiguration"]
    codepipeline.expect_report()

    handler.lambda_handler(event, lambda_context)

    assert "has no data.actionConfiguration" in codepipeline.failure()["message"]


@pytest.mark.parametrize("event", [{}, {"CodePipeline.job": {"data": {}}}, {"Records": []}])
def test_event_without_job_id_raises(
    codepipeline: CodePipelineRecorder, lambda_context: Any, event: dict[str, Any]
) -> None:
    handler.clients.cache["codepipeline"] = codepipeline.client

    with pytest.raises(ValueError, match=re.escape("no 'CodePipeline.job'.id")):
        handler.lambda_handler(event, lambda_context)

    assert codepipeline.calls == []


def test_unexpected_error_is_reported_not_raised(
    sagemaker: Any, codepipeline: CodePipelineRecorder, job_event: Any, lambda_context: Any
) -> None:
    codepipeline.expect_report()
    with Stubber(sagemaker) as stub:
        stub.add_client_error("list_model_packages", "AccessDeniedException", "not authorized", 400)

        run(job_event, lambda_context)

    failure = codepipeline.failure()
    assert failure["type"] == "PermissionError"
    assert failure["message"].startswith("Unexpected error resolving the model package:")
    assert "AccessDeniedException" in failure["message"]


@pytest.mark.parametrize("code", ["ThrottlingException", "InvalidJobStateException"])
def test_a_failed_success_report_falls_back_to_a_failure_report(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    code: str,
) -> None:
    register(sagemaker, ["Approved"])
    codepipeline.stubber.add_client_error("put_job_success_result", code, "no", 400)
    codepipeline.expect_report("put_job_failure_result")

    run(job_event, lambda_context)  # returns: raising would make Lambda retry the invocation

    assert [operation for operation, _ in codepipeline.calls] == [
        "PutJobSuccessResult",
        "PutJobFailureResult",
    ]
    failure = codepipeline.calls[1][1]["failureDetails"]
    assert failure["type"] == "JobFailed"
    assert failure["message"].startswith(f"Could not report success: An error occurred ({code})")


def test_a_failed_failure_report_after_a_failed_success_report_is_only_logged(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    register(sagemaker, ["Approved"])
    for operation in ("put_job_success_result", "put_job_failure_result"):
        codepipeline.stubber.add_client_error(operation, "InvalidJobStateException", "done", 400)

    run(job_event, lambda_context)

    assert [operation for operation, _ in codepipeline.calls] == [
        "PutJobSuccessResult",
        "PutJobFailureResult",
    ]
    assert "Could not report failure" in [r.getMessage() for r in caplog.records]


def test_a_throttled_failure_report_is_logged_not_raised(
    group: str,
    sagemaker: Any,
    codepipeline: CodePipelineRecorder,
    job_event: Any,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    register(sagemaker, ["Rejected"])
    codepipeline.stubber.add_client_error("put_job_failure_result", "ThrottlingException", "", 400)

    run(job_event, lambda_context)  # returns: raising would make Lambda run the action again

    assert [operation for operation, _ in codepipeline.calls] == ["PutJobFailureResult"]
    assert "Could not report failure" in [r.getMessage() for r in caplog.records]


def test_output_variable_over_limit_is_rejected() -> None:
    package = handler.ResolvedPackage(
        arn=package_arn(1), version=1, model_data_url="s3://b/" + "k" * 1000, image_uri=IMAGE
    )

    with pytest.raises(JobError, match="ModelDataUrl is 1007 characters"):
        package.output_variables()


def test_output_variables_at_limit_are_accepted() -> None:
    url = "s3://b/" + "k" * (handler.MAX_OUTPUT_VARIABLE_CHARS - len("s3://b/"))
    package = handler.ResolvedPackage(
        arn=package_arn(1), version=1, model_data_url=url, image_uri=IMAGE
    )

    assert package.output_variables()["ModelDataUrl"] == url


def test_package_without_model_data_is_a_configuration_error() -> None:
    description = {
        "ModelPackageArn": package_arn(4),
        "ModelPackageVersion": 4,
        "InferenceSpecification": {"Containers": [{"Image": IMAGE}]},
    }

    with pytest.raises(JobError, match="has no ModelDataUrl") as caught:
        handler.to_resolved_package(description)
    assert caught.value.failure_type == "ConfigurationError"


def test_creation_time_ties_are_broken_by_version() -> None:
    same_time = datetime(2026, 1, 1, tzinfo=UTC)
    summaries: list[Any] = [
        {"ModelPackageVersion": v, "CreationTime": same_time, "ModelApprovalStatus": "Approved"}
        for v in (7, 9, 8)
    ]

    ordered = sorted(summaries, key=model_registry.newest_first_key, reverse=True)

    assert [s["ModelPackageVersion"] for s in ordered] == [9, 8, 7]


def test_an_unknown_log_level_falls_back_to_info(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Powertools raises on an unknown level, which would break the module's import.
    monkeypatch.setenv("LOG_LEVEL", "verbose")

    logger = function_logger("under-test")

    assert logger.log_level == logging.INFO
    assert [(r.getMessage(), r.log_level) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("Unknown LOG_LEVEL; using INFO", "VERBOSE")
    ]
