"""MonitorStack: the scheduled drift check, its least-privilege roles, alarms, the alarm
response (notify / retrain) and the dashboard; no SageMaker Model Monitor anywhere."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from pipeline_code import monitor
from tests.infra.conftest import REPO_ROOT, Synthesized, as_list, flatten

PROD = "Prod-MonitorStack"
DEV = "Dev-MonitorStack"
NAMESPACE = "mlops-demo/Monitoring"
BUCKET = "mlops-demo-{env}-<AWS::AccountId>-eu-west-1"
# Model Monitor's resources: closed to new customers, so none may be created.
MODEL_MONITOR_TYPES = {
    "AWS::SageMaker::MonitoringSchedule",
    "AWS::SageMaker::DataQualityJobDefinition",
    "AWS::SageMaker::ModelQualityJobDefinition",
    "AWS::SageMaker::ModelBiasJobDefinition",
    "AWS::SageMaker::ModelExplainabilityJobDefinition",
}


def _one(synthesized: Synthesized, stack: str, type_: str) -> dict[str, Any]:
    (resource,) = synthesized.resources(stack, type_).values()
    return resource["Properties"]  # type: ignore[no-any-return]


def _function(synthesized: Synthesized, stack: str, prefix: str) -> dict[str, Any]:
    (function,) = [
        r["Properties"]
        for lid, r in synthesized.resources(stack, "AWS::Lambda::Function").items()
        if lid.startswith(prefix)
    ]
    return function  # type: ignore[no-any-return]


def _statements(synthesized: Synthesized, stack: str, role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for lid, policy in synthesized.resources(stack, "AWS::IAM::Policy").items()
        if lid.startswith(role_prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _granted(statements: list[dict[str, Any]], action: str) -> list[str]:
    return sorted(
        flatten(resource)
        for s in statements
        if action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    )


def test_no_model_monitor_resources_in_any_template(synthesized: Synthesized) -> None:
    for name, template in synthesized.templates.items():
        types = {r["Type"] for r in template.get("Resources", {}).values()}
        assert not types & MODEL_MONITOR_TYPES, name
        assert "CreateMonitoringSchedule" not in json.dumps(template), name


def test_prod_checks_its_prod_endpoint_on_a_schedule(synthesized: Synthesized) -> None:
    schedule = _one(synthesized, PROD, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(1 day)"
    target = schedule["Target"]
    assert json.loads(target["Input"]) == {
        "stage": "prod",
        "endpoint_name": "mlops-demo-prod-prod-endpoint",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    assert flatten(target["Arn"]).startswith("<DriftCheckStartCheckFunction")
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3
    assert flatten(target["DeadLetterConfig"]["Arn"]).startswith("<DriftCheckDeadLetterQueue")


def test_starter_gets_the_job_settings_from_config(synthesized: Synthesized) -> None:
    env = _function(synthesized, PROD, "DriftCheckStartCheck")["Environment"]["Variables"]
    assert env["RESOURCE_PREFIX"] == "mlops-demo-prod"
    assert env["NAMESPACE"] == NAMESPACE
    assert env["IMAGE_URI"] == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    )
    assert env["INSTANCE_TYPE"] == "ml.m5.large"
    assert env["MAX_RUNTIME_SECONDS"] == "3600"
    assert json.loads(env["MONITOR_ARGS"]) == {
        "interval-hours": "24",
        "lookback-hours": "168",
        "max-records": "100000",
        "metric": "f1",
        "min-labels": "30",
        "min-records": "100",
        "region": "eu-west-1",
        "threshold": "0.1",
    }
    code_uris = json.loads(flatten(env["CODE_URIS"]))
    assert set(code_uris) == {"monitor", "drift", "capture", "evaluate"}
    assert all(uri.startswith("s3://cdk-") and uri.endswith(".py") for uri in code_uris.values())


def test_starter_may_start_only_this_stages_check_jobs(synthesized: Synthesized) -> None:
    statements = _statements(synthesized, PROD, "DriftCheckStartCheckRole")
    assert _granted(statements, "sagemaker:CreateProcessingJob") == [
        "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>:processing-job/"
        "mlops-demo-prod-prod-mon-*"
    ]
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert flatten(pass_role["Resource"]).startswith("<DriftCheckJobRole")
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sagemaker:CreateProcessingJob",
        "sagemaker:ListProcessingJobs",
        "iam:PassRole",
    }


def test_job_role_reads_capture_and_labels_writes_its_prefix_and_puts_project_metrics(
    synthesized: Synthesized,
) -> None:
    statements = _statements(synthesized, PROD, "DriftCheckJobRole")
    bucket = BUCKET.format(env="prod")
    readable = {r for r in _granted(statements, "s3:GetObject*") if "cdk-" not in r}
    assert readable == {
        f"arn:<AWS::Partition>:s3:::{bucket}",
        f"arn:<AWS::Partition>:s3:::{bucket}/data-capture/prod/mlops-demo-prod-prod-endpoint/"
        "AllTraffic/*",
        f"arn:<AWS::Partition>:s3:::{bucket}/ground-truth/prod/*",
        f"arn:<AWS::Partition>:s3:::{bucket}/monitoring/prod/*",
        f"arn:<AWS::Partition>:s3:::{bucket}/pipelines/mlops-demo-prod-training/*/Evaluate/"
        "evaluation/*",
    }
    assert {r for r in _granted(statements, "s3:PutObject") if "cdk-" not in r} == {
        f"arn:<AWS::Partition>:s3:::{bucket}",
        f"arn:<AWS::Partition>:s3:::{bucket}/monitoring/prod/*",
    }
    (metrics,) = [s for s in statements if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert metrics["Resource"] == "*"
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    assert _granted(statements, "sagemaker:DescribeEndpoint") == [
        "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>:endpoint/"
        "mlops-demo-prod-prod-endpoint"
    ]
    assert _granted(statements, "sagemaker:DescribeModelPackage") == [
        "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>:model-package/mlops-demo-prod/*"
    ]
    actions = {a for s in statements for a in as_list(s["Action"])}
    # Reads and describes only: nothing that creates, deletes or starts SageMaker resources.
    assert {a for a in actions if a.startswith("sagemaker:")} == {
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:DescribeModel",
        "sagemaker:DescribeModelPackage",
    }


def test_alarms_on_drift_and_quality_ignore_missing_data(synthesized: Synthesized) -> None:
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synthesized.resources(PROD, "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {"mlops-demo-prod-prod-drift", "mlops-demo-prod-prod-quality"}
    drift, quality = alarms["mlops-demo-prod-prod-drift"], alarms["mlops-demo-prod-prod-quality"]
    dimensions = [
        {"Name": "Endpoint", "Value": "mlops-demo-prod-prod-endpoint"},
        {"Name": "Environment", "Value": "prod"},
    ]
    assert drift["Namespace"] == quality["Namespace"] == NAMESPACE
    assert drift["MetricName"] == "DriftedFeatures"
    assert drift["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert drift["Threshold"] == 1
    assert quality["MetricName"] == "ModelQuality"
    assert quality["ComparisonOperator"] == "LessThanThreshold"
    # Unset quality_threshold: prod's metric_threshold, the bar its models had to clear.
    assert quality["Threshold"] == 0.9
    for alarm in (drift, quality):
        assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == dimensions
        assert alarm["Period"] == 86400
        assert alarm["EvaluationPeriods"] == 1
        assert alarm["TreatMissingData"] == "notBreaching"


def test_alarm_changes_reach_the_response_function_which_only_notifies_by_default(
    synthesized: Synthesized,
) -> None:
    (rule,) = [
        r["Properties"]
        for lid, r in synthesized.resources(PROD, "AWS::Events::Rule").items()
        if lid.startswith("AlarmResponse")
    ]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    assert sorted(flatten(arn) for arn in pattern["resources"]) == [
        f"<{lid}.Arn>" for lid in sorted(synthesized.resources(PROD, "AWS::CloudWatch::Alarm"))
    ]
    (target,) = rule["Targets"]
    assert flatten(target["Arn"]).startswith("<AlarmResponseRespondFunction")
    assert flatten(target["DeadLetterConfig"]["Arn"]).startswith("<AlarmResponseDeadLetterQueue")
    env = _function(synthesized, PROD, "AlarmResponseRespond")["Environment"]["Variables"]
    assert env["ON_DRIFT"] == "notify"
    assert json.loads(env["ALARMS"]) == {
        "mlops-demo-prod-prod-drift": {"stage": "prod", "kind": "drift"},
        "mlops-demo-prod-prod-quality": {"stage": "prod", "kind": "quality"},
    }
    statements = _statements(synthesized, PROD, "AlarmResponseRespondRole")
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("sagemaker:")}
    assert "sns:Publish" in actions
    assert {r for r in _granted(statements, "s3:GetObject*")} == {
        f"arn:<AWS::Partition>:s3:::{BUCKET.format(env='prod')}",
        f"arn:<AWS::Partition>:s3:::{BUCKET.format(env='prod')}/monitoring/prod/latest-report.json",
    }


def test_a_failed_or_stopped_check_tells_the_topic(synthesized: Synthesized) -> None:
    (rule,) = [
        r["Properties"]
        for lid, r in synthesized.resources(PROD, "AWS::Events::Rule").items()
        if lid.startswith("DriftCheckCheckFailed")
    ]
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {
            "ProcessingJobName": [{"prefix": "mlops-demo-prod-prod-mon-"}],
            "ProcessingJobStatus": ["Failed", "Stopped"],
        },
    }
    (target,) = rule["Targets"]
    assert flatten(target["Arn"]).startswith(
        "<import:Prod-RegistryStack:ExportsOutputRefNotificationsTopic"
    )
    template = target["InputTransformer"]["InputTemplate"]
    assert "The drift and quality check <name> is <status>: <FailureReason>" in template.replace(
        "<detail-ProcessingJobName>", "<name>"
    ).replace("<detail-ProcessingJobStatus>", "<status>").replace(
        "<detail-FailureReason>", "<FailureReason>"
    )


def test_on_drift_retrain_may_start_and_list_this_pipeline_only(dev_variant: Synthesized) -> None:
    # conftest.DEV_VARIANT_OVERRIDES: dev monitors staging (instance) and prod (serverless),
    # checks every 6 hours and retrains on drift.
    env = _function(dev_variant, DEV, "AlarmResponseRespond")["Environment"]["Variables"]
    assert env["ON_DRIFT"] == "retrain"
    statements = _statements(dev_variant, DEV, "AlarmResponseRespondRole")
    pipeline = (
        "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>:pipeline/mlops-demo-dev-training"
    )
    assert _granted(statements, "sagemaker:StartPipelineExecution") == [pipeline]
    assert _granted(statements, "sagemaker:ListPipelineExecutions") == [pipeline]


def test_serverless_stages_are_skipped_and_settings_reach_alarms(dev_variant: Synthesized) -> None:
    (schedule,) = dev_variant.resources(DEV, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == "rate(6 hours)"
    assert json.loads(schedule["Properties"]["Target"]["Input"])["stage"] == "staging"
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in dev_variant.resources(DEV, "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {"mlops-demo-dev-staging-drift", "mlops-demo-dev-staging-quality"}
    drift = alarms["mlops-demo-dev-staging-drift"]
    assert (drift["Period"], drift["EvaluationPeriods"], drift["DatapointsToAlarm"]) == (
        21600,
        4,
        2,
    )
    assert alarms["mlops-demo-dev-staging-quality"]["Threshold"] == 0.7
    artifact = dev_variant.assembly.get_stack_by_name(DEV)
    messages = [str(entry.data) for entry in artifact.find_metadata_by_type("aws:cdk:info")]
    assert any("prod endpoint is serverless, which cannot capture traffic" in m for m in messages)


def test_dev_with_serverless_endpoints_gets_a_dashboard_and_no_check(
    synthesized: Synthesized,
) -> None:
    types = {r["Type"] for r in synthesized.templates[DEV]["Resources"].values()}
    assert types == {"AWS::CloudWatch::Dashboard"}
    body = flatten(_one(synthesized, DEV, "AWS::CloudWatch::Dashboard")["DashboardBody"])
    assert "serverless endpoints cannot capture traffic" in body


def test_dashboard_shows_training_serving_drift_and_quality(synthesized: Synthesized) -> None:
    properties = _one(synthesized, PROD, "AWS::CloudWatch::Dashboard")
    assert properties["DashboardName"] == "mlops-demo-prod-mlops"
    body = json.loads(flatten(properties["DashboardBody"]))
    titles = [w["properties"].get("title") for w in body["widgets"]]
    assert titles[0] == "Training pipeline mlops-demo-prod-training: executions per day"
    for stage in ("staging", "prod"):
        for what in ("invocations", "errors", "model latency (µs)"):
            assert f"{stage}: {what}" in titles
    assert "prod: drift per feature (L∞ distance)" in titles
    assert "prod: model quality (f1) on ground truth" in titles
    assert "Monitoring alarms" in titles
    assert "staging: drift per feature (L∞ distance)" not in titles
    metrics = [m for w in body["widgets"] for m in w["properties"].get("metrics", [])]
    assert [
        "AWS/Sagemaker/ModelBuildingPipeline",
        "ExecutionFailed",
        "PipelineName",
        "mlops-demo-prod-training",
        {"label": "failed", "period": 86400, "stat": "Sum"},
    ] in metrics
    endpoint = ["EndpointName", "mlops-demo-prod-prod-endpoint", "VariantName", "AllTraffic"]
    assert ["AWS/SageMaker", "Invocation5XXErrors", *endpoint, {"label": "5xx", "stat": "Sum"}] in (
        metrics
    )
    (search,) = [m[0]["expression"] for m in metrics if "expression" in m[0]]
    assert search == (
        'SEARCH(\'{"mlops-demo/Monitoring",Endpoint,Environment,Feature} '
        'MetricName="FeatureDrift" Endpoint="mlops-demo-prod-prod-endpoint" '
        "Environment=\"prod\"', 'Maximum', 86400)"
    )
    quality = [m for m in metrics if m[:2] == [NAMESPACE, "ModelQuality"]]
    assert quality and quality[0][2:6] == [
        "Endpoint",
        "mlops-demo-prod-prod-endpoint",
        "Environment",
        "prod",
    ]


def test_the_starters_command_line_is_one_monitor_py_accepts(synthesized: Synthesized) -> None:
    """The synthesized environment → the starter's CreateProcessingJob request → the job's
    command line, parsed by monitor.py's own parser: the three parts agree on every flag."""
    layer = str(REPO_ROOT / "lambdas" / "shared" / "python")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    starter = importlib.import_module("lambdas.start_drift_check.handler")
    variables = _function(synthesized, PROD, "DriftCheckStartCheck")["Environment"]["Variables"]
    # As CloudFormation resolves them in account 123456789012.
    env = {
        name: flatten(value).replace("<AWS::AccountId>", "123456789012")
        for name, value in variables.items()
    }
    settings = starter.Settings.from_env(env)
    check = starter.parse_event(
        {
            "stage": "prod",
            "endpoint_name": "mlops-demo-prod-prod-endpoint",
            "scheduled_time": "2026-12-06T21:00:00Z",
        }
    )
    request = starter.create_request(settings, check)
    command = request["AppSpecification"]["ContainerEntrypoint"]
    assert command[:2] == [
        "python3",
        f"/opt/ml/processing/input/code/monitor/{command[1].rsplit('/', 1)[-1]}",
    ]
    args = monitor.build_parser().parse_args(command[2:])
    assert (args.bucket, args.stage, args.endpoint_name, args.namespace) == (
        "mlops-demo-prod-123456789012-eu-west-1",
        "prod",
        "mlops-demo-prod-prod-endpoint",
        NAMESPACE,
    )
    assert (args.threshold, args.max_records, args.min_records, args.metric) == (
        0.1,
        100_000,
        100,
        "f1",
    )
    assert (args.interval_hours, args.lookback_hours, args.min_labels) == (24, 168, 30)
    assert args.region == "eu-west-1"
    assert request["ProcessingJobName"] == "mlops-demo-prod-prod-mon-2612062100"
    assert request["NetworkConfig"]["EnableNetworkIsolation"] is False
    mounted = {i["S3Input"]["LocalPath"] for i in request["ProcessingInputs"]}
    for name in ("drift", "capture", "evaluate"):
        module = getattr(args, f"{name}_module")
        assert str(module.parent) in mounted, name
