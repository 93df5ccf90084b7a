"""TriggerStack: the retraining schedule, the new-data trigger and the approval rules."""

from __future__ import annotations

from typing import Any

import pytest

from components.shared.lambda_function import ARCHITECTURE, RUNTIME
from config.powertools_layer import layer_reference
from tests.infra.conftest import Synthesized, as_list, flatten

DEV, PROD = "Dev-TriggerStack", "Prod-TriggerStack"
PIPELINE_ARN = (
    "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>:pipeline/mlops-demo-{env}-training"
)


def _schedule(synthesized: Synthesized, stack: str) -> dict[str, Any]:
    (schedule,) = synthesized.resources(stack, "AWS::Scheduler::Schedule").values()
    properties: dict[str, Any] = schedule["Properties"]
    return properties


def _rule(synthesized: Synthesized, stack: str, prefix: str) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]
        for lid, r in synthesized.resources(stack, "AWS::Events::Rule").items()
        if lid.startswith(prefix)
    ]
    properties: dict[str, Any] = rule
    return properties


def _policy_of_role(synthesized: Synthesized, stack: str, role_prefix: str) -> list[dict[str, Any]]:
    policies = [
        p["Properties"]
        for p in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if any(r["Ref"].startswith(role_prefix) for r in p["Properties"]["Roles"])
    ]
    assert len(policies) == 1
    statements: list[dict[str, Any]] = policies[0]["PolicyDocument"]["Statement"]
    return statements


# Schedule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "env"), [(DEV, "dev"), (PROD, "prod")])
def test_schedule_starts_the_pipeline_weekly_on_tuesday_evening(
    synthesized: Synthesized, stack: str, env: str
) -> None:
    schedule = _schedule(synthesized, stack)
    assert schedule["ScheduleExpression"] == "cron(0 21 ? * TUE *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert flatten(target["Arn"]) == PIPELINE_ARN.format(env=env)
    (parameter,) = target["SageMakerPipelineParameters"]["PipelineParameterList"]
    assert parameter["Name"] == "InputDataUri"
    assert flatten(parameter["Value"]) == (
        f"s3://mlops-demo-{env}-<AWS::AccountId>-eu-west-1/input-data/"
    )
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 3}
    assert flatten(target["DeadLetterConfig"]["Arn"]).startswith(
        "<RetrainingScheduleDeadLetterQueue"
    )


def test_schedule_config_overrides_and_disabling(dev_variant: Synthesized) -> None:
    # conftest.DEV_VARIANT_OVERRIDES: dev.schedule cron, time zone and enabled=false.
    variant = dev_variant
    schedule = _schedule(variant, DEV)
    assert schedule["ScheduleExpression"] == "cron(30 2 ? * MON-FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["State"] == "DISABLED"
    assert _schedule(variant, PROD)["State"] == "ENABLED"


def test_schedule_role_may_start_this_pipeline_and_nothing_else(synthesized: Synthesized) -> None:
    statements = _policy_of_role(synthesized, DEV, "RetrainingScheduleRole")
    sagemaker = [
        s for s in statements if any(a.startswith("sagemaker:") for a in as_list(s["Action"]))
    ]
    assert len(sagemaker) == 1
    assert sagemaker[0]["Action"] == "sagemaker:StartPipelineExecution"
    assert flatten(sagemaker[0]["Resource"]) == PIPELINE_ARN.format(env="dev")
    others = {a for s in statements for a in as_list(s["Action"])} - {
        "sagemaker:StartPipelineExecution"
    }
    assert others == {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}
    # The dead-letter queue is encrypted with the project key: without it a failed
    # invocation could not be dead-lettered.
    (send,) = [s for s in statements if s["Action"] == "sqs:SendMessage"]
    assert flatten(send["Resource"]).startswith("<RetrainingScheduleDeadLetterQueue")
    (kms,) = [s for s in statements if "kms:Decrypt" in as_list(s["Action"])]
    assert flatten(kms["Resource"]).startswith(
        "<import:Dev-RegistryStack:ExportsOutputFnGetAttArtifactStoreKey"
    )
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}}


def test_dead_letter_queues_are_kms_encrypted(synthesized: Synthesized) -> None:
    queues = synthesized.resources(DEV, "AWS::SQS::Queue")
    assert len(queues) == 3
    for queue in queues.values():
        key = flatten(queue["Properties"]["KmsMasterKeyId"])
        assert key.startswith("<import:Dev-RegistryStack:ExportsOutputFnGetAttArtifactStoreKey")


# New data ------------------------------------------------------------------------------------


def test_new_objects_under_the_input_prefix_reach_the_queue(synthesized: Synthesized) -> None:
    rule = _rule(synthesized, DEV, "NewDataTriggerObjectCreated")
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    (bucket,) = pattern["detail"]["bucket"]["name"]
    assert flatten(bucket) == "mlops-demo-dev-<AWS::AccountId>-eu-west-1"
    assert pattern["detail"]["object"]["key"] == [{"prefix": "input-data/"}]
    (target,) = rule["Targets"]
    assert flatten(target["Arn"]).startswith("<NewDataTriggerQueue")


def test_the_queue_debounces_into_the_function(synthesized: Synthesized) -> None:
    (mapping,) = synthesized.resources(DEV, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["MaximumBatchingWindowInSeconds"] == 300
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    (queue,) = [
        q["Properties"]
        for lid, q in synthesized.resources(DEV, "AWS::SQS::Queue").items()
        if lid.startswith("NewDataTriggerQueue")
    ]
    assert queue["VisibilityTimeout"] >= 6 * 60 + 300
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5


def test_function_is_configured_for_this_pipeline_and_prefix(synthesized: Synthesized) -> None:
    functions = synthesized.resources(DEV, "AWS::Lambda::Function")
    (function,) = [f["Properties"] for f in functions.values()]
    assert function["Handler"] == "handler.lambda_handler"
    assert function["Runtime"] == RUNTIME.name
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    variables = {k: flatten(v) for k, v in function["Environment"]["Variables"].items()}
    assert variables == {
        "LOG_LEVEL": "INFO",
        "PIPELINE_NAME": "mlops-demo-dev-training",
        "INPUT_BUCKET": "mlops-demo-dev-<AWS::AccountId>-eu-west-1",
        "INPUT_PREFIX": "input-data/",
        "INPUT_PARAMETER_NAME": "InputDataUri",
    }
    (layer_id,) = synthesized.resources(DEV, "AWS::Lambda::LayerVersion")
    assert function["Layers"] == [
        {"Ref": layer_id},
        layer_reference(runtime=RUNTIME.name, architecture=ARCHITECTURE.name),
    ]


def test_function_may_start_and_inspect_only_this_pipeline(synthesized: Synthesized) -> None:
    statements = _policy_of_role(synthesized, DEV, "NewDataTriggerStartPipelineRole")
    by_action = {
        action: {flatten(r) for r in as_list(s["Resource"])}
        for s in statements
        for action in as_list(s["Action"])
        if action.startswith("sagemaker:")
    }
    arn = PIPELINE_ARN.format(env="dev")
    assert by_action == {
        "sagemaker:StartPipelineExecution": {arn},
        "sagemaker:ListPipelineExecutions": {arn},
        "sagemaker:ListPipelineParametersForExecution": {f"{arn}/execution/*"},
    }


# Approval → deployment -------------------------------------------------------------------------


def test_only_approved_versions_of_this_group_start_the_deploy_pipeline(
    synthesized: Synthesized,
) -> None:
    rule = _rule(synthesized, DEV, "ApprovalRulesApprovedDeploys")
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {
            "ModelPackageGroupName": ["mlops-demo-dev"],
            "ModelApprovalStatus": ["Approved"],
        },
    }
    (target,) = rule["Targets"]
    assert ":codepipeline:" in flatten(target["Arn"])
    assert "DeployStack" in flatten(target["Arn"])


@pytest.mark.parametrize("status", ["Rejected", "PendingManualApproval"])
def test_rejected_and_pending_events_do_not_deploy(synthesized: Synthesized, status: str) -> None:
    deploying_statuses = [
        rule["Properties"]["EventPattern"]["detail"]["ModelApprovalStatus"]
        for rule in synthesized.resources(DEV, "AWS::Events::Rule").values()
        if any(":codepipeline:" in flatten(t["Arn"]) for t in rule["Properties"]["Targets"])
    ]
    assert deploying_statuses == [["Approved"]]
    assert all(status not in statuses for statuses in deploying_statuses)


def test_pending_versions_notify_reviewers(synthesized: Synthesized) -> None:
    rule = _rule(synthesized, DEV, "ApprovalRulesPendingNotifies")
    assert rule["EventPattern"]["detail"] == {
        "ModelPackageGroupName": ["mlops-demo-dev"],
        "ModelApprovalStatus": ["PendingManualApproval"],
    }
    (target,) = rule["Targets"]
    assert flatten(target["Arn"]).startswith(
        "<import:Dev-RegistryStack:ExportsOutputRefNotificationsTopic"
    )
    assert "is waiting for approval" in target["InputTransformer"]["InputTemplate"]


def test_deploy_rule_role_may_start_only_the_deploy_pipeline(synthesized: Synthesized) -> None:
    statements = _policy_of_role(synthesized, DEV, "ApprovalRulesStartDeployRole")
    assert len(statements) == 1
    assert statements[0]["Action"] == "codepipeline:StartPipelineExecution"
    assert "DeployStack" in flatten(statements[0]["Resource"])
    deploy_outputs = synthesized.templates["Dev-DeployStack"].get("Outputs", {})
    assert not [name for name in deploy_outputs if "EventsRole" in name]
