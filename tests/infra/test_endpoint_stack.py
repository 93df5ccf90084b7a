"""The endpoint templates the deploy pipeline ships, per environment and stage.

They are read from the asset the pipeline's S3 source action points at, so these tests check
what CloudFormation will actually receive.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from components.deployment.endpoint_stack import EndpointStack
from config import EndpointSettings
from config.validation import INSTANCE_TYPES_FILE
from tests.infra.conftest import Synthesized

STACK = {"dev": "Dev-DeployStack", "prod": "Prod-DeployStack"}
# (environment, stage) -> endpoint mode, from cdk.json
CASES = [
    ("dev", "staging", "serverless"),
    ("dev", "prod", "serverless"),
    ("prod", "staging", "instance"),
    ("prod", "prod", "instance"),
]
WIRING = ["KmsKeyArn", "ModelExecutionRoleArn", "ModelPackageArn"]


def _template_dir(synthesized: Synthesized, env: str) -> Path:
    pipeline = next(
        r
        for r in synthesized.templates[STACK[env]]["Resources"].values()
        if r["Type"] == "AWS::CodePipeline::Pipeline"
    )
    source = pipeline["Properties"]["Stages"][0]["Actions"][1]
    key = source["Configuration"]["S3ObjectKey"].removesuffix(".zip")
    return Path(synthesized.assembly.directory) / f"asset.{key}"


def _template(synthesized: Synthesized, env: str, stage: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (_template_dir(synthesized, env) / f"{stage}.json").read_text()
    )
    return document


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == type_}


def _config_file(synthesized: Synthesized, env: str, stage: str) -> dict[str, str]:
    repo = next(
        r
        for r in synthesized.templates[STACK[env]]["Resources"].values()
        if r["Type"] == "AWS::CodeCommit::Repository"
    )
    key = repo["Properties"]["Code"]["S3"]["Key"].removesuffix(".zip")
    path = Path(synthesized.assembly.directory) / f"asset.{key}" / f"{stage}-config.json"
    parameters: dict[str, str] = json.loads(path.read_text())["Parameters"]
    return parameters


# ---------------------------------------------------------------------------------------------
# Every template


@pytest.mark.parametrize(("env", "stage", "mode"), CASES)
def test_model_comes_from_the_package_and_names_are_generated_except_the_endpoint(
    synthesized: Synthesized, env: str, stage: str, mode: str
) -> None:
    template = _template(synthesized, env, stage)
    model = template["Resources"]["Model"]
    assert model["Type"] == "AWS::SageMaker::Model"
    assert model["Properties"]["Containers"] == [{"ModelPackageName": {"Ref": "ModelPackageArn"}}]
    assert model["Properties"]["ExecutionRoleArn"] == {"Ref": "ModelExecutionRoleArn"}
    assert "ModelName" not in model["Properties"]
    config = template["Resources"]["EndpointConfig"]["Properties"]
    assert "EndpointConfigName" not in config
    (variant,) = config["ProductionVariants"]
    assert variant["ModelName"] == {"Fn::GetAtt": ["Model", "ModelName"]}
    assert variant["VariantName"] == "AllTraffic"
    endpoint = template["Resources"]["Endpoint"]["Properties"]
    assert endpoint["EndpointName"] == f"mlops-demo-{env}-{stage}-endpoint"
    assert endpoint["EndpointConfigName"] == {
        "Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]
    }


@pytest.mark.parametrize(("env", "stage", "mode"), CASES)
def test_templates_need_no_bootstrap_assets_or_lambda(
    synthesized: Synthesized, env: str, stage: str, mode: str
) -> None:
    template = _template(synthesized, env, stage)
    assert "BootstrapVersion" not in template["Parameters"]
    assert "Rules" not in template
    assert "Metadata" not in template
    types = {r["Type"] for r in template["Resources"].values()}
    assert not {t for t in types if t.startswith(("AWS::Lambda", "AWS::IAM", "AWS::CDK"))}
    assert all("Metadata" not in r for r in template["Resources"].values())


@pytest.mark.parametrize(("env", "stage", "mode"), CASES)
def test_parameters_are_the_wiring_plus_the_sizing_of_the_mode(
    synthesized: Synthesized, env: str, stage: str, mode: str
) -> None:
    parameters = _template(synthesized, env, stage)["Parameters"]
    sizing = {
        "serverless": ["ServerlessMaxConcurrency", "ServerlessMemorySizeInMB"],
        "instance": ["ArtifactBucketName", "InstanceCount", "InstanceType"],
    }[mode]
    if (stage, mode) == ("prod", "instance"):
        sizing += ["AutoscalingEnabled", "AutoscalingMaxInstances"]
    assert sorted(parameters) == sorted(WIRING + sizing)
    assert all("Default" not in p for p in parameters.values())  # config files set them all
    assert all(p["ConstraintDescription"].startswith("must be ") for p in parameters.values())


@pytest.mark.parametrize(("env", "stage", "mode"), CASES)
def test_config_file_values_satisfy_the_template_constraints(
    synthesized: Synthesized, env: str, stage: str, mode: str
) -> None:
    parameters = _template(synthesized, env, stage)["Parameters"]
    values = _config_file(synthesized, env, stage)
    assert values
    for name, value in values.items():
        assert _accepts(parameters[name], value), (name, value)


def _accepts(parameter: dict[str, Any], value: str) -> bool:
    if "AllowedValues" in parameter and value not in parameter["AllowedValues"]:
        return False
    if "AllowedPattern" in parameter and not re.fullmatch(parameter["AllowedPattern"], value):
        return False
    if parameter["Type"] == "Number":
        number = float(value)
        if number < parameter.get("MinValue", number) or number > parameter.get("MaxValue", number):
            return False
    return True


def test_allowed_patterns_reject_typos(synthesized: Synthesized) -> None:
    parameters = _template(synthesized, "prod", "prod")["Parameters"]
    accepted = {
        "ModelPackageArn": (
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlops-demo-prod/7"
        ),
        "InstanceType": "ml.c5.2xlarge",
        "ModelExecutionRoleArn": "arn:aws:iam::123456789012:role/Prod-DeployStack-ModelRole-AbC",
        "KmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/0e1e9c8b-4a5f-4d5e-9f1a-2b3c4d5e6f70",
        "ArtifactBucketName": "mlops-demo-prod-123456789012-eu-west-1",
        "InstanceCount": "4",
        "AutoscalingEnabled": "false",
    }
    rejected = {
        "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/x",
        "InstanceType": "ml.m5.lrge",
        "ModelExecutionRoleArn": "Prod-DeployStack-ModelRole",
        "KmsKeyArn": "alias/mlops",
        "ArtifactBucketName": "Mlops_Bucket",
        "InstanceCount": "0",
        "AutoscalingEnabled": "yes",
    }
    for name, value in accepted.items():
        assert _accepts(parameters[name], value), (name, value)
    for name, value in rejected.items():
        assert not _accepts(parameters[name], value), (name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # Shaped like instance types, but SageMaker would refuse them mid-deploy.
        ("InstanceType", "ml.t2.micro"),
        ("InstanceType", "ml.foo.large"),
        ("InstanceType", "ml.m5.1xlarge"),
        # Numbers SageMaker needs whole; MinValue/MaxValue alone would let them through.
        ("InstanceCount", "1.5"),
        ("InstanceCount", "01"),
        ("InstanceCount", "101"),
        ("AutoscalingMaxInstances", "2.5"),
    ],
)
def test_values_sagemaker_would_refuse_fail_before_any_change(
    synthesized: Synthesized, name: str, value: str
) -> None:
    parameters = _template(synthesized, "prod", "prod")["Parameters"]
    assert not _accepts(parameters[name], value)
    assert "edit prod-config.json" in parameters[name]["ConstraintDescription"]


def test_instance_types_are_sagemakers_hosting_list(synthesized: Synthesized) -> None:
    allowed = _template(synthesized, "prod", "staging")["Parameters"]["InstanceType"]
    table = json.loads(INSTANCE_TYPES_FILE.read_text(encoding="utf-8"))
    assert allowed["AllowedValues"] == sorted(table["hosting"])
    assert {"ml.m5.large", "ml.c5.2xlarge", "ml.g5.xlarge"} <= set(allowed["AllowedValues"])


# ---------------------------------------------------------------------------------------------
# Serverless


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_serverless_endpoint_has_no_capture_no_isolation_and_no_instances(
    synthesized: Synthesized, stage: str
) -> None:
    template = _template(synthesized, "dev", stage)
    config = template["Resources"]["EndpointConfig"]["Properties"]
    assert "DataCaptureConfig" not in config
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {
        "MemorySizeInMB": {"Ref": "ServerlessMemorySizeInMB"},
        "MaxConcurrency": {"Ref": "ServerlessMaxConcurrency"},
    }
    assert not {"InstanceType", "InitialInstanceCount"} & set(variant)
    # SageMaker documents KmsKeyId for serverless configs (it encrypts the image copy).
    assert config["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert "EnableNetworkIsolation" not in template["Resources"]["Model"]["Properties"]
    assert "DeploymentConfig" not in template["Resources"]["Endpoint"]["Properties"]
    assert _of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget") == {}
    parameters = template["Parameters"]
    assert parameters["ServerlessMemorySizeInMB"]["AllowedValues"] == [
        "1024",
        "2048",
        "3072",
        "4096",
        "5120",
        "6144",
    ]
    concurrency = parameters["ServerlessMaxConcurrency"]
    assert concurrency["AllowedValues"] == [str(n) for n in range(1, 201)]


# ---------------------------------------------------------------------------------------------
# Instances


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_instance_endpoint_encrypts_storage_and_captures_data_with_the_project_key(
    synthesized: Synthesized, stage: str
) -> None:
    template = _template(synthesized, "prod", stage)
    config = template["Resources"]["EndpointConfig"]["Properties"]
    assert config["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == {"Ref": "InstanceType"}
    assert variant["InitialInstanceCount"] == {"Ref": "InstanceCount"}
    assert "ServerlessConfig" not in variant
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 100
    assert capture["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert capture["DestinationS3Uri"] == {
        "Fn::Join": ["", ["s3://", {"Ref": "ArtifactBucketName"}, f"/data-capture/{stage}/"]]
    }
    model = template["Resources"]["Model"]["Properties"]
    assert model["EnableNetworkIsolation"] is True


def test_staging_instance_endpoint_has_no_autoscaling_or_canary(synthesized: Synthesized) -> None:
    template = _template(synthesized, "prod", "staging")
    assert "DeploymentConfig" not in template["Resources"]["Endpoint"]["Properties"]
    assert _of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget") == {}
    assert _of_type(template, "AWS::CloudWatch::Alarm") == {}
    assert template["Parameters"]["InstanceCount"]["AllowedValues"][0] == "1"


def test_prod_instance_endpoint_deploys_by_canary_and_rolls_back_on_alarms(
    synthesized: Synthesized,
) -> None:
    template = _template(synthesized, "prod", "prod")
    deployment = template["Resources"]["Endpoint"]["Properties"]["DeploymentConfig"]
    routing = deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    # A canary may be at most half the fleet: one instance shifts all at once, still baked.
    condition, single, fleet = routing["Fn::If"]
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "InstanceCount"}, "1"]}
    assert single["Type"] == "ALL_AT_ONCE"
    assert fleet["Type"] == "CANARY"
    assert fleet["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    assert single["WaitIntervalInSeconds"] == fleet["WaitIntervalInSeconds"] >= 300
    rollback = deployment["AutoRollbackConfiguration"]["Alarms"]
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    assert sorted(a["AlarmName"]["Ref"] for a in rollback) == sorted(alarms)
    metrics = {}
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["Namespace"] == "AWS/SageMaker"
        assert props["Dimensions"] == [
            {"Name": "EndpointName", "Value": "mlops-demo-prod-prod-endpoint"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ]
        assert props["TreatMissingData"] == "notBreaching"
        assert "AlarmName" not in props  # named by CloudFormation, as the deploy role expects
        metrics[props["MetricName"]] = props
    assert set(metrics) == {"Invocation5XXErrors", "ModelLatency"}
    assert metrics["Invocation5XXErrors"]["Statistic"] == "Sum"
    assert metrics["Invocation5XXErrors"]["Threshold"] == 1
    assert metrics["ModelLatency"]["ExtendedStatistic"] == "p90"


def test_prod_instance_endpoint_scales_on_invocations_between_the_configured_bounds(
    synthesized: Synthesized,
) -> None:
    template = _template(synthesized, "prod", "prod")
    (target,) = _of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert target["Condition"] == "AutoscalingIsEnabled"
    props = target["Properties"]
    assert props["MinCapacity"] == {"Ref": "InstanceCount"}
    assert props["MaxCapacity"] == {"Ref": "AutoscalingMaxInstances"}
    assert props["ServiceNamespace"] == "sagemaker"
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert props["ResourceId"] == {
        "Fn::Join": [
            "",
            ["endpoint/", {"Fn::GetAtt": ["Endpoint", "EndpointName"]}, "/variant/AllTraffic"],
        ]
    }
    assert "RoleARN" not in props  # the Application Auto Scaling service-linked role
    (policy,) = _of_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    assert policy["Condition"] == "AutoscalingIsEnabled"
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["TargetValue"] > 0
    assert template["Conditions"]["AutoscalingIsEnabled"] == {
        "Fn::Equals": [{"Ref": "AutoscalingEnabled"}, "true"]
    }
    assert template["Parameters"]["AutoscalingEnabled"]["AllowedValues"] == ["true", "false"]


def test_prod_instance_count_of_one_synthesizes_and_is_accepted() -> None:
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = EndpointStack(
        app,
        "Prod",
        stage="prod",
        settings=EndpointSettings(mode="instance", instance_count=1),
        endpoint_name="x-prod-endpoint",
        description="test",
    )
    parameters = app.synth().get_stack_artifact(stack.artifact_id).template["Parameters"]
    assert _accepts(parameters["InstanceCount"], "1")
    assert _accepts(parameters["AutoscalingMaxInstances"], "1")


# ---------------------------------------------------------------------------------------------
# Snapshots: the stack snapshots show the template asset only as <asset-hash>, so any change
# to an endpoint template shows up in review here.


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_endpoint_templates_match_their_snapshots(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    for env, stage, _ in CASES:
        assert _template(synthesized, env, stage) == snapshot_json(name=f"{env}-{stage}")
