"""The CloudFormation template of one SageMaker endpoint, deployed by the deploy CodePipeline.

``EndpointStack`` is never part of the CDK app that `cdk deploy` deploys: the approved model
package is known only when the deploy pipeline runs, so the pipeline's CloudFormation actions
create and update this stack. ``synthesize_endpoint_templates`` synthesizes it in-process,
in an App of its own with a bootstrapless synthesizer (no assets, no bootstrap version
parameter), and returns plain template dicts.

This is the one place where CloudFormation parameters are right: ``ModelPackageArn`` is
resolved at run time, the sizing comes from the model-deploy repository's config files,
and the wiring values (role, key, bucket) come from the pipeline's parameter overrides.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config import EndpointSettings, EnvironmentConfig
from config.network_settings import NetworkSettings
from config.validation import hosting_instance_types

EndpointStage = Literal["staging", "prod"]
STAGES: tuple[EndpointStage, ...] = ("staging", "prod")
VARIANT_NAME = "AllTraffic"
# What the prod template's scalable target scales (the deployment role is limited to it).
SCALING_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"

# Parameters the pipeline fills in (parameter overrides), never the config files.
MODEL_PACKAGE_ARN = "ModelPackageArn"
MODEL_EXECUTION_ROLE_ARN = "ModelExecutionRoleArn"
KMS_KEY_ARN = "KmsKeyArn"
ARTIFACT_BUCKET_NAME = "ArtifactBucketName"
# Parameters the model-deploy repository's <stage>-config.json files set.
INSTANCE_TYPE = "InstanceType"
INSTANCE_COUNT = "InstanceCount"
AUTOSCALING_ENABLED = "AutoscalingEnabled"
AUTOSCALING_MAX_INSTANCES = "AutoscalingMaxInstances"
SERVERLESS_MEMORY = "ServerlessMemorySizeInMB"
SERVERLESS_MAX_CONCURRENCY = "ServerlessMaxConcurrency"

SERVERLESS_MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_CONCURRENCY = range(1, 201)
INSTANCE_COUNTS = range(1, 101)
MODEL_PACKAGE_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[A-Za-z0-9-]{1,63}/[0-9]+$"
)
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"
KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$"
BUCKET_NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"

# Captured requests and responses land here (instance endpoints only), one prefix per stage.
DATA_CAPTURE_PREFIX = "data-capture"
DATA_CAPTURE_SAMPLING_PERCENT = 100
# Canary: one instance of the new fleet takes traffic first. A canary may be at most 50% of
# the fleet, so a single-instance endpoint shifts all at once (still baked and rolled back on
# alarms); the instance count is a run-time parameter, hence a template condition.
CANARY_INSTANCE_COUNT = 1
BAKE_SECONDS = 600
BLUE_FLEET_TERMINATION_WAIT_SECONDS = 300
# Target tracking: invocations per instance per minute. A starting point for a small XGBoost
# model on an ml.m5.large; load-test and tune (AWS's guidance: max RPS x 60 x 0.5).
INVOCATIONS_PER_INSTANCE_TARGET = 500.0
SCALE_IN_COOLDOWN_SECONDS = 300
SCALE_OUT_COOLDOWN_SECONDS = 60
# Rollback alarms: any server error, or p90 model latency above 500 ms for two minutes.
MODEL_LATENCY_P90_THRESHOLD_MICROSECONDS = 500_000


def endpoint_name(resource_prefix: str, stage: EndpointStage) -> str:
    """The endpoint's fixed name (also the name of the CloudFormation stack that holds it)."""
    return f"{resource_prefix}-{stage}-endpoint"


def endpoint_settings(config: EnvironmentConfig, stage: EndpointStage) -> EndpointSettings:
    return config.staging_endpoint if stage == "staging" else config.prod_endpoint


def uses_blue_green(stage: EndpointStage, settings: EndpointSettings) -> bool:
    """Prod instance endpoints get autoscaling and a canary deployment with auto-rollback."""
    return stage == "prod" and settings.mode == "instance"


def sizing_parameter_values(stage: EndpointStage, settings: EndpointSettings) -> dict[str, str]:
    """The values the stage's config file starts with; keys are the template's parameters."""
    if settings.mode == "serverless":
        return {
            SERVERLESS_MEMORY: str(settings.serverless_memory_mb),
            SERVERLESS_MAX_CONCURRENCY: str(settings.serverless_max_concurrency),
        }
    values = {
        INSTANCE_TYPE: settings.instance_type,
        INSTANCE_COUNT: str(settings.instance_count),
    }
    if uses_blue_green(stage, settings):
        values[AUTOSCALING_ENABLED] = "true"
        values[AUTOSCALING_MAX_INSTANCES] = str(settings.max_instances)
    return values


def wiring_parameter_names(settings: EndpointSettings) -> tuple[str, ...]:
    """The parameters the pipeline overrides for a template of this mode."""
    names = (MODEL_PACKAGE_ARN, MODEL_EXECUTION_ROLE_ARN, KMS_KEY_ARN)
    return (*names, ARTIFACT_BUCKET_NAME) if settings.mode == "instance" else names


class EndpointStack(cdk.Stack):
    """Model (from the model package) → endpoint config → endpoint with a stable name.

    Model and endpoint config have no fixed names: both are immutable in SageMaker, so every
    change replaces them and CloudFormation needs to generate fresh names. Serverless mode
    has no data capture, no network isolation and no VPC (SageMaker supports none there).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: EndpointStage,
        settings: EndpointSettings,
        endpoint_name: str,
        description: str,
        network: NetworkSettings | None = None,
    ) -> None:
        super().__init__(
            scope,
            id_,
            description=description,
            synthesizer=cdk.BootstraplessSynthesizer(),
            analytics_reporting=False,
        )
        self.stage = stage
        self.settings = settings
        self.endpoint_name = endpoint_name
        self._instance = settings.mode == "instance"

        self.model_package_arn = self._string_parameter(
            MODEL_PACKAGE_ARN,
            "Approved model package to deploy (set by the deploy pipeline)",
            MODEL_PACKAGE_ARN_PATTERN,
            "a versioned model package ARN: arn:aws:sagemaker:<region>:<account>:"
            "model-package/<group>/<version>",
        )
        self.execution_role_arn = self._string_parameter(
            MODEL_EXECUTION_ROLE_ARN,
            "Role SageMaker assumes to run the model (set by the deploy pipeline)",
            ROLE_ARN_PATTERN,
            "an IAM role ARN",
        )
        self.kms_key_arn = self._string_parameter(
            KMS_KEY_ARN,
            "Project key: endpoint storage and captured data (set by the deploy pipeline)",
            KEY_ARN_PATTERN,
            "a KMS key ARN",
        )

        self.model = sagemaker.CfnModel(
            self,
            "Model",
            containers=[
                sagemaker.CfnModel.ContainerDefinitionProperty(
                    model_package_name=self.model_package_arn.value_as_string
                )
            ],
            execution_role_arn=self.execution_role_arn.value_as_string,
            # Serverless endpoints reject network isolation. The model's serving code needs
            # no network: SageMaker downloads the model, and the XGBoost image installs the
            # archive's code/ folder offline (it pins pip 25.2, which builds a setup.py-only
            # module without fetching setuptools).
            enable_network_isolation=True if self._instance else None,
            # The IDs are configuration literals, so the template carries them (no parameter);
            # the configuration refuses network with a serverless endpoint.
            vpc_config=_model_vpc_config(network) if self._instance else None,
        )
        variant, capture = (
            self._instance_variant() if self._instance else (self._serverless_variant(), None)
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[variant],
            # Instance mode: encrypts the ML storage volume. Serverless: encrypts the copy of
            # the container image SageMaker keeps (documented for serverless configs).
            kms_key_id=self.kms_key_arn.value_as_string,
            data_capture_config=capture,
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        self.rollback_alarms: list[cloudwatch.CfnAlarm] = []
        self.scalable_target: autoscaling.CfnScalableTarget | None = None
        if uses_blue_green(stage, settings):
            self._add_blue_green_deployment()
            self._add_autoscaling()

        cdk.CfnOutput(self, "EndpointName", value=self.endpoint.attr_endpoint_name)
        cdk.CfnOutput(self, "DeployedModelPackageArn", value=self.model_package_arn.value_as_string)

    # -----------------------------------------------------------------------------------------
    # Parameters

    def _string_parameter(
        self, name: str, description: str, pattern: str, accepted: str
    ) -> cdk.CfnParameter:
        return cdk.CfnParameter(
            self,
            name,
            type="String",
            description=description,
            allowed_pattern=pattern,
            constraint_description=f"must be {accepted}",
        )

    def _number_parameter(
        self,
        name: str,
        description: str,
        *,
        allowed: Sequence[int],
    ) -> cdk.CfnParameter:
        # Listed values rather than MinValue/MaxValue, which would let 1.5 through to SageMaker
        # and fail the deploy late instead of before any change.
        if isinstance(allowed, range):
            accepted = f"a whole number from {allowed[0]} to {allowed[-1]}"
        else:
            accepted = "one of " + ", ".join(str(value) for value in allowed)
        return cdk.CfnParameter(
            self,
            name,
            type="Number",
            description=description,
            allowed_values=[str(value) for value in allowed],
            constraint_description=f"must be {accepted} (edit {self.stage}-config.json)",
        )

    # -----------------------------------------------------------------------------------------
    # Variants

    def _serverless_variant(self) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        memory = self._number_parameter(
            SERVERLESS_MEMORY,
            "Memory of each serverless worker, in MB",
            allowed=SERVERLESS_MEMORY_SIZES,
        )
        concurrency = self._number_parameter(
            SERVERLESS_MAX_CONCURRENCY,
            "Most concurrent invocations before SageMaker throttles",
            allowed=SERVERLESS_CONCURRENCY,
        )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=self.model.attr_model_name,
            serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                memory_size_in_mb=memory.value_as_number,
                max_concurrency=concurrency.value_as_number,
            ),
        )

    def _instance_variant(
        self,
    ) -> tuple[
        sagemaker.CfnEndpointConfig.ProductionVariantProperty,
        sagemaker.CfnEndpointConfig.DataCaptureConfigProperty,
    ]:
        # SageMaker's own list: a type it would refuse fails before any change, not mid-deploy.
        instance_type = cdk.CfnParameter(
            self,
            INSTANCE_TYPE,
            type="String",
            description="SageMaker hosting instance type",
            allowed_values=hosting_instance_types(),
            constraint_description="must be a SageMaker hosting instance type such as "
            f"ml.m5.large (the hosting list of config/instance_types.json; edit "
            f"{self.stage}-config.json)",
        )
        self.instance_count = self._number_parameter(
            INSTANCE_COUNT,
            "Instances serving the endpoint (the autoscaling minimum in prod)",
            allowed=INSTANCE_COUNTS,
        )
        bucket = cdk.CfnParameter(
            self,
            ARTIFACT_BUCKET_NAME,
            type="String",
            description="Artifact bucket receiving captured data (set by the deploy pipeline)",
            allowed_pattern=BUCKET_NAME_PATTERN,
            constraint_description="must be an S3 bucket name",
        )
        variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=self.model.attr_model_name,
            instance_type=instance_type.value_as_string,
            initial_instance_count=self.instance_count.value_as_number,
            initial_variant_weight=1,
        )
        capture = sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=DATA_CAPTURE_SAMPLING_PERCENT,
            destination_s3_uri=cdk.Fn.join(
                "",
                ["s3://", bucket.value_as_string, f"/{DATA_CAPTURE_PREFIX}/{self.stage}/"],
            ),
            kms_key_id=self.kms_key_arn.value_as_string,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
            ],
            # Keep CSV payloads readable in S3 instead of base64-encoding them.
            capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                csv_content_types=["text/csv"], json_content_types=["application/json"]
            ),
        )
        return variant, capture

    # -----------------------------------------------------------------------------------------
    # Prod: canary deployment with auto-rollback, and autoscaling

    def _variant_alarm(
        self, id_: str, *, metric_name: str, description: str, **statistic: Any
    ) -> cloudwatch.CfnAlarm:
        return cloudwatch.CfnAlarm(
            self,
            id_,
            alarm_description=description,
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions=[
                cloudwatch.CfnAlarm.DimensionProperty(
                    name="EndpointName", value=self.endpoint_name
                ),
                cloudwatch.CfnAlarm.DimensionProperty(name="VariantName", value=VARIANT_NAME),
            ],
            period=60,
            # No traffic during the bake is not a failure.
            treat_missing_data="notBreaching",
            **statistic,
        )

    def _add_blue_green_deployment(self) -> None:
        errors = self._variant_alarm(
            "Invocation5XXErrorsAlarm",
            metric_name="Invocation5XXErrors",
            description=f"{self.endpoint_name}: the model returned server errors; "
            "rolls a canary deployment back",
            statistic="Sum",
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            evaluation_periods=1,
        )
        latency = self._variant_alarm(
            "ModelLatencyAlarm",
            metric_name="ModelLatency",
            description=f"{self.endpoint_name}: p90 model latency above "
            f"{MODEL_LATENCY_P90_THRESHOLD_MICROSECONDS // 1000} ms; "
            "rolls a canary deployment back",
            extended_statistic="p90",
            threshold=MODEL_LATENCY_P90_THRESHOLD_MICROSECONDS,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=2,
        )
        self.rollback_alarms = [errors, latency]
        single_instance = cdk.CfnCondition(
            self,
            "SingleInstance",
            expression=cdk.Fn.condition_equals(self.instance_count.value_as_string, "1"),
        )
        # Raw CloudFormation property names: Fn::If values are not converted by CDK.
        traffic_routing = cdk.Fn.condition_if(
            single_instance.logical_id,
            {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": BAKE_SECONDS},
            {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": CANARY_INSTANCE_COUNT},
                "WaitIntervalInSeconds": BAKE_SECONDS,
            },
        )
        self.endpoint.deployment_config = sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=traffic_routing,
                termination_wait_in_seconds=BLUE_FLEET_TERMINATION_WAIT_SECONDS,
            ),
            auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[
                    sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.ref)
                    for alarm in self.rollback_alarms
                ]
            ),
        )

    def _add_autoscaling(self) -> None:
        enabled = cdk.CfnParameter(
            self,
            AUTOSCALING_ENABLED,
            type="String",
            description="SageMaker rejects an instance type change while the variant is "
            "registered for autoscaling: set false, commit, change the type, then set true",
            allowed_values=["true", "false"],
            constraint_description="must be true or false (edit prod-config.json)",
        )
        maximum = self._number_parameter(
            AUTOSCALING_MAX_INSTANCES,
            "Most instances autoscaling may add (at least InstanceCount)",
            allowed=INSTANCE_COUNTS,
        )
        condition = cdk.CfnCondition(
            self,
            "AutoscalingIsEnabled",
            expression=cdk.Fn.condition_equals(enabled.value_as_string, "true"),
        )
        # No RoleARN: Application Auto Scaling uses its SageMaker service-linked role.
        self.scalable_target = autoscaling.CfnScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=SCALING_NAMESPACE,
            scalable_dimension=SCALABLE_DIMENSION,
            resource_id=cdk.Fn.join(
                "", ["endpoint/", self.endpoint.attr_endpoint_name, f"/variant/{VARIANT_NAME}"]
            ),
            min_capacity=self.instance_count.value_as_number,
            max_capacity=maximum.value_as_number,
        )
        policy = autoscaling.CfnScalingPolicy(
            self,
            "InvocationsPerInstancePolicy",
            policy_name=f"{self.endpoint_name}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.scalable_target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                target_value=INVOCATIONS_PER_INSTANCE_TARGET,
                scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
            ),
        )
        self.scalable_target.cfn_options.condition = condition
        policy.cfn_options.condition = condition


def _model_vpc_config(
    network: NetworkSettings | None,
) -> sagemaker.CfnModel.VpcConfigProperty | None:
    if network is None:
        return None
    return sagemaker.CfnModel.VpcConfigProperty(
        subnets=list(network.subnet_ids), security_group_ids=list(network.security_group_ids)
    )


def synthesize_endpoint_templates(
    config: EnvironmentConfig, *, context: Mapping[str, Any]
) -> dict[EndpointStage, dict[str, Any]]:
    """Both stages' endpoint templates, synthesized in a throwaway App of their own.

    ``context`` should carry the outer app's feature flags, so the templates do not depend on
    how the outer app was started. Path and version metadata are switched off (the CLI would
    otherwise turn them on through the environment), which keeps the templates identical
    between `cdk synth` and the tests. The App writes its assembly to a temporary directory
    that is removed again; only the returned dicts leave this function.
    """
    flags = {key: value for key, value in context.items() if key.startswith("@aws-cdk")}
    with tempfile.TemporaryDirectory(prefix="endpoint-templates-") as outdir:
        app = cdk.App(
            outdir=outdir,
            analytics_reporting=False,
            tree_metadata=False,
            stack_traces=False,
            builtin_cloud_formation_validation=False,
            post_cli_context={
                **flags,
                "aws:cdk:enable-path-metadata": False,
                "aws:cdk:enable-asset-metadata": False,
                "aws:cdk:version-reporting": False,
            },
        )
        stacks = {
            stage: EndpointStack(
                app,
                f"{stage.capitalize()}Endpoint",
                stage=stage,
                settings=endpoint_settings(config, stage),
                endpoint_name=endpoint_name(config.resource_prefix, stage),
                description=f"{config.project_name} {config.name}: {stage} SageMaker endpoint "
                "of the approved model (deployed by the model-deploy pipeline)",
                network=config.network,
            )
            for stage in STAGES
        }
        assembly = app.synth()
        return {
            stage: assembly.get_stack_artifact(stack.artifact_id).template
            for stage, stack in stacks.items()
        }
