"""CD of the approved model: staging endpoint → test → manual approval → prod endpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Stack, Stage
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.deployment.endpoint_stack import (
    ARTIFACT_BUCKET_NAME,
    AUTOSCALING_ENABLED,
    AUTOSCALING_MAX_INSTANCES,
    INSTANCE_COUNT,
    INSTANCE_TYPE,
    KMS_KEY_ARN,
    MODEL_EXECUTION_ROLE_ARN,
    MODEL_PACKAGE_ARN,
    SCALABLE_DIMENSION,
    SCALING_NAMESPACE,
    SERVERLESS_MAX_CONCURRENCY,
    SERVERLESS_MEMORY,
    STAGES,
    VARIANT_NAME,
    EndpointStage,
    endpoint_name,
    endpoint_settings,
    sizing_parameter_values,
    synthesize_endpoint_templates,
    uses_blue_green,
    wiring_parameter_names,
)
from components.registry.model_registry import ModelRegistry
from components.shared.code_source import CodeSource
from components.shared.nag import acknowledge_iam_wildcards, finding_for
from config import EnvironmentConfig
from lambdas.check_deploy_config.schema import config_file_schema

# Where, under the app's output directory, the generated files are staged before CDK turns
# them into assets (one sub-directory per stack).
TEMPLATES_DIR = "endpoint-templates"
REPOSITORY_CONTENT_DIR = "model-deploy-repository"
RESOLVE_NAMESPACE = "Resolve"
TEST_NAMESPACE = "TestStaging"
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
AUTOSCALING_SERVICE_LINKED_ROLE = (
    f"aws-service-role/{AUTOSCALING_SERVICE}/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def config_file_name(stage: EndpointStage) -> str:
    return f"{stage}-config.json"


def template_file_name(stage: EndpointStage) -> str:
    return f"{stage}.json"


def schema_file_name(stage: EndpointStage) -> str:
    return f"{stage}.schema.json"


def _fresh_dir(path: Path) -> Path:
    # Only files written by this synth may end up in the asset.
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _write_json(path: Path, document: Any) -> None:
    # Sorted keys and a fixed layout: the asset hash (and so the template) only changes when
    # the content does.
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def staging_dir(scope: Construct, kind: str) -> Path:
    """A directory in the app's output directory for the files ``scope``'s stack generates."""
    stage = Stage.of(scope)
    assert stage is not None, "constructs live in an App"
    return Path(stage.outdir) / kind / Stack.of(scope).artifact_id


def write_repository_content(directory: Path, *, config: EnvironmentConfig) -> Path:
    """The model-deploy repository's first commit: both config files and a README."""
    _fresh_dir(directory)
    for stage in STAGES:
        _write_json(
            directory / config_file_name(stage),
            {
                "Parameters": sizing_parameter_values(stage, endpoint_settings(config, stage)),
                "Tags": {
                    "Project": config.project_name,
                    "Environment": config.name,
                    "Stage": stage,
                },
            },
        )
    (directory / "README.md").write_text(_readme(config), encoding="utf-8")
    return directory


def _readme(config: EnvironmentConfig) -> str:
    modes = "\n".join(
        f"- `{config_file_name(stage)}`: {endpoint_settings(config, stage).mode} endpoint"
        for stage in STAGES
    )
    table = "\n".join(
        f"| `{name}` | {mode} | {meaning} |" for name, (mode, meaning) in _PARAMETER_HELP.items()
    )
    staging, prod = (endpoint_name(config.resource_prefix, stage) for stage in STAGES)
    return f"""# {config.resource_prefix} model-deploy

How the approved {config.project_name} model is hosted in the `{config.name}` environment.
Every commit to this repository, and every model version approved in the model registry,
runs the deploy pipeline with the **newest approved** model version:

1. check `staging-config.json` and `prod-config.json` against the endpoint templates;
2. deploy the `{staging}` endpoint (CloudFormation stack `{staging}`) with `staging-config.json`;
3. send the model's sample payload to it and check every prediction is a probability;
4. wait for a manual approval (the project's SNS topic is notified);
5. deploy the `{prod}` endpoint (stack `{prod}`) with `prod-config.json`.

Until a model version has been approved, runs stop at the Resolve stage with a message
saying so (CodePipeline also starts one run when the pipeline is created).

## What you can change here

`staging-config.json` and `prod-config.json` are CloudFormation template configuration
files: `Parameters` size each endpoint, `Tags` are added to its stack and resources. Values
are strings. The endpoint template declares what each parameter accepts (instance types
from SageMaker's hosting list, whole numbers in range, the serverless memory sizes). Every
run first checks both files against it (the CheckDeployConfig action: unknown or missing
parameters, values out of range, `AutoscalingMaxInstances` below `InstanceCount`, tags), so
a mistake in either file stops the run, with every problem listed, before anything changes.

{modes}

| Parameter | Mode | Meaning |
|---|---|---|
{table}

The model package ARN, the model's role, the key and the bucket are filled in by the
pipeline; do not add them here. Whether an endpoint is serverless or runs on instances is
set in the CDK app (`cdk.json`, `staging_endpoint` / `prod_endpoint`); after changing the
mode there, replace the file's parameters with those of the new mode.

In prod on instances, SageMaker refuses to change the instance type of a variant that is
registered for autoscaling: commit `"AutoscalingEnabled": "false"` first, then the new
`InstanceType` together with `"AutoscalingEnabled": "true"`.
"""


_PARAMETER_HELP = {
    INSTANCE_TYPE: ("instance", "hosting instance type, e.g. `ml.m5.large`, `ml.c5.xlarge`"),
    INSTANCE_COUNT: (
        "instance",
        "instances serving the endpoint; in prod the autoscaling minimum, and with 2 or more "
        "a new model first takes traffic on one canary instance",
    ),
    AUTOSCALING_ENABLED: ("instance, prod", "`true` or `false`: scale on invocations per instance"),
    AUTOSCALING_MAX_INSTANCES: ("instance, prod", "most instances autoscaling may run"),
    SERVERLESS_MEMORY: ("serverless", "1024, 2048, 3072, 4096, 5120 or 6144"),
    SERVERLESS_MAX_CONCURRENCY: ("serverless", "concurrent invocations before throttling, 1-200"),
}


class ModelDeployPipeline(Construct):
    """Source → Resolve → DeployStaging → TestStaging → ApproveProd → DeployProd.

    One execution carries one model package ARN (the Resolve action's output variable)
    through staging and prod, so what was tested is what is approved and deployed.

    How the endpoint templates reach the pipeline: the templates are synthesized in-process
    (``synthesize_endpoint_templates``), written deterministically into a directory under
    the app's output directory, and wrapped in an S3 asset. `cdk deploy` uploads that zip to
    the bootstrap assets bucket (versioned, which an S3 source action requires) under a
    content-hash key, and a second source action reads it. So the templates travel the same
    way as every other asset (nothing is uploaded at synth, no custom resource copies files),
    each template change updates the pipeline definition and is visible in `cdk diff`, and
    a pipeline run always uses the templates of the app version that deployed it. The source
    action has no trigger: runs start on commits and approvals only.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        source: CodeSource,
        artifact_bucket: s3.IBucket,
        key: kms.IKey,
        registry: ModelRegistry,
        topic: sns.ITopic,
        model_role: iam.IRole,
        resolve_function: lambda_.IFunction,
        check_function: lambda_.IFunction,
        test_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id_)
        self._config = config
        self._bucket = artifact_bucket
        self._key = key
        self._registry = registry
        self._model_role = model_role
        self.endpoint_names = {
            stage: endpoint_name(config.resource_prefix, stage) for stage in STAGES
        }

        self.templates = synthesize_endpoint_templates(config, context=self.node.get_all_context())
        templates_dir = _fresh_dir(staging_dir(self, TEMPLATES_DIR))
        for stage, template in self.templates.items():
            _write_json(templates_dir / template_file_name(stage), template)
            # Beside its template, so a run checks config files against the templates it
            # deploys (lambdas/check_deploy_config).
            _write_json(
                templates_dir / schema_file_name(stage),
                config_file_schema(
                    template.get("Parameters", {}),
                    wiring_parameter_names(endpoint_settings(config, stage)),
                ),
            )
        self.templates_asset = s3_assets.Asset(self, "EndpointTemplates", path=str(templates_dir))

        self.deployment_roles = {stage: self._deployment_role(stage) for stage in STAGES}

        config_output = codepipeline.Artifact("DeployConfig")
        templates_output = codepipeline.Artifact("EndpointTemplates")
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=artifact_bucket,
            # Resolve always picks the newest approved model, so a newer run may replace an
            # older one waiting to enter a stage.
            execution_mode=codepipeline.ExecutionMode.SUPERSEDED,
            restart_execution_on_update=False,
            stages=[
                codepipeline.StageProps(
                    stage_name="Source",
                    actions=[
                        source.source_action(config_output),
                        actions.S3SourceAction(
                            action_name="EndpointTemplates",
                            bucket=self.templates_asset.bucket,
                            bucket_key=self.templates_asset.s3_object_key,
                            output=templates_output,
                            trigger=actions.S3Trigger.NONE,
                        ),
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="Resolve",
                    actions=[
                        actions.LambdaInvokeAction(
                            action_name="ResolveModelPackage",
                            lambda_=resolve_function,
                            user_parameters={"model_package_group_name": registry.group_name},
                            variables_namespace=RESOLVE_NAMESPACE,
                        ),
                        # Both config files, before anything is deployed: a mistake in
                        # prod-config.json would otherwise show only after staging and the
                        # approval.
                        actions.LambdaInvokeAction(
                            action_name="CheckDeployConfig",
                            lambda_=check_function,
                            inputs=[config_output, templates_output],
                            user_parameters=self._check_parameters(config_output, templates_output),
                        ),
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="DeployStaging",
                    actions=[self._deploy_action("staging", templates_output, config_output)],
                ),
                codepipeline.StageProps(
                    stage_name="TestStaging",
                    actions=[
                        actions.LambdaInvokeAction(
                            action_name="TestStagingEndpoint",
                            lambda_=test_function,
                            user_parameters={
                                "endpoint_name": self.endpoint_names["staging"],
                                "model_package_arn": f"#{{{RESOLVE_NAMESPACE}.ModelPackageArn}}",
                            },
                            variables_namespace=TEST_NAMESPACE,
                        )
                    ],
                ),
                codepipeline.StageProps(
                    stage_name="ApproveProd",
                    actions=[self._approval_action(topic)],
                ),
                codepipeline.StageProps(
                    stage_name="DeployProd",
                    actions=[self._deploy_action("prod", templates_output, config_output)],
                ),
            ],
        )
        self._acknowledge_cdk_grants([resolve_function, check_function, test_function])

    # -----------------------------------------------------------------------------------------
    # Actions

    def _deploy_action(
        self,
        stage: EndpointStage,
        templates: codepipeline.Artifact,
        config_files: codepipeline.Artifact,
    ) -> actions.CloudFormationCreateUpdateStackAction:
        settings = endpoint_settings(self._config, stage)
        available = {
            MODEL_PACKAGE_ARN: f"#{{{RESOLVE_NAMESPACE}.ModelPackageArn}}",
            MODEL_EXECUTION_ROLE_ARN: self._model_role.role_arn,
            KMS_KEY_ARN: self._key.key_arn,
            ARTIFACT_BUCKET_NAME: self._bucket.bucket_name,
        }
        return actions.CloudFormationCreateUpdateStackAction(
            action_name=f"Deploy{stage.capitalize()}Endpoint",
            stack_name=self.endpoint_names[stage],
            template_path=templates.at_path(template_file_name(stage)),
            template_configuration=config_files.at_path(config_file_name(stage)),
            parameter_overrides={
                name: available[name] for name in wiring_parameter_names(settings)
            },
            admin_permissions=False,
            deployment_role=self.deployment_roles[stage],
            # A failed first create leaves a stack that cannot be updated; recreating it is
            # fine for staging, but prod is never deleted by the pipeline.
            replace_on_failure=stage == "staging",
        )

    def _check_parameters(
        self, config_files: codepipeline.Artifact, templates: codepipeline.Artifact
    ) -> dict[str, Any]:
        """What lambdas/check_deploy_config compares: each config file with its schema."""
        return {
            "config_artifact": config_files.artifact_name,
            "templates_artifact": templates.artifact_name,
            "stages": [
                {"config_file": config_file_name(stage), "schema_file": schema_file_name(stage)}
                for stage in STAGES
            ],
            # The one rule CloudFormation parameters cannot express.
            "at_least": {AUTOSCALING_MAX_INSTANCES: INSTANCE_COUNT},
        }

    def _approval_action(self, topic: sns.ITopic) -> actions.ManualApprovalAction:
        stack = Stack.of(self)
        staging = self.endpoint_names["staging"]
        resolved = f"#{{{RESOLVE_NAMESPACE}.ModelPackageArn}}"
        version = f"#{{{RESOLVE_NAMESPACE}.ModelPackageVersion}}"
        return actions.ManualApprovalAction(
            action_name="ApproveProd",
            notification_topic=topic,
            additional_information=(
                f"[{self._config.name}] Deploy model package {resolved} (version {version}) "
                f"to {self.endpoint_names['prod']}? It passed the test of {staging}: "
                f"#{{{TEST_NAMESPACE}.RowsTested}} rows scored in "
                f"[#{{{TEST_NAMESPACE}.MinScore}}, #{{{TEST_NAMESPACE}.MaxScore}}]."
            ),
            external_entity_link=(
                f"https://console.aws.amazon.com/sagemaker/home?region={stack.region}"
                f"#/endpoints/{staging}"
            ),
        )

    def _acknowledge_cdk_grants(self, invoked: list[lambda_.IFunction]) -> None:
        """The wildcards CDK's CodePipeline actions grant their roles, each explained."""
        stack = Stack.of(self)
        reasons = {
            "Action::s3:GetObject*": "CDK's artifact grants: the pipeline's artifact bucket "
            "and the one endpoint-template asset object only",
            "Action::s3:GetBucket*": "CDK's artifact grants: those two buckets only",
            "Action::s3:List*": "CDK's artifact grants: those two buckets only",
            "Action::s3:DeleteObject*": "CodePipeline replaces the artifacts it writes to its "
            "artifact bucket",
            "Action::s3:Abort*": "Multipart uploads of pipeline artifacts to the artifact bucket",
            "Action::kms:GenerateDataKey*": "Artifacts and notifications are encrypted with "
            "the project key; that key only",
            "Action::kms:ReEncrypt*": "Artifacts are encrypted with the project key; that key only",
            "Action::cloudformation:DescribeStack*": "CDK's CloudFormation action grant, on the "
            "endpoint stack of its own stage only",
            "Action::cloudformation:GetTemplate*": "CDK's CloudFormation action grant, on the "
            "endpoint stack of its own stage only",
            finding_for(self, self._bucket.arn_for_objects("*")): "CodePipeline names artifact "
            "objects per execution",
        }
        for function in invoked:
            reasons[finding_for(self, f"{function.function_arn}:*")] = (
                "CDK's Lambda invoke action grant: invoking this one function qualified by any "
                "version or alias"
            )
        for name in self.endpoint_names.values():
            stack_arn = stack.format_arn(
                service="cloudformation", resource="stack", resource_name=f"{name}/*"
            )
            reasons[finding_for(self, stack_arn)] = (
                f"The {name} stack; CloudFormation appends a generated id to stack ARNs"
            )
        acknowledge_iam_wildcards(
            self.pipeline,
            reasons,
            any_resource={
                "lambda:ListFunctions": "Listing functions has no resource-level permissions "
                "(CDK's Lambda invoke action grants it to the action's role)"
            },
        )

    # -----------------------------------------------------------------------------------------
    # The role CloudFormation uses to deploy one endpoint stack

    def _deployment_role(self, stage: EndpointStage) -> iam.Role:
        """Only what the endpoint template creates, for this stage's endpoint only."""
        stack = Stack.of(self)
        name = self.endpoint_names[stage]
        settings = endpoint_settings(self._config, stage)
        role = iam.Role(
            self,
            f"{stage.capitalize()}DeploymentRole",
            assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
            description=f"CloudFormation deploys the {name} endpoint stack with this role",
        )

        def sagemaker_arn(resource: str, resource_name: str) -> str:
            return stack.format_arn(
                service="sagemaker", resource=resource, resource_name=resource_name
            )

        endpoint_arn = sagemaker_arn("endpoint", name)
        endpoint_actions = [
            "sagemaker:CreateEndpoint",
            "sagemaker:DescribeEndpoint",
            "sagemaker:UpdateEndpoint",
            "sagemaker:DeleteEndpoint",
        ]
        if uses_blue_green(stage, settings):
            # Registering a variant for autoscaling checks the caller may change its capacity.
            endpoint_actions.append("sagemaker:UpdateEndpointWeightsAndCapacities")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ManageTheEndpoint",
                actions=endpoint_actions,
                resources=[endpoint_arn],
            )
        )
        # Models and endpoint configs are immutable and replaced on every change, so
        # CloudFormation generates their names: only the resource type can be pinned down.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReplaceModelsAndEndpointConfigs",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                ],
                resources=[sagemaker_arn("model", "*"), sagemaker_arn("endpoint-config", "*")],
            )
        )
        # SageMaker authorizes CreateEndpoint/UpdateEndpoint on the endpoint config too.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PointTheEndpointAtNewConfigs",
                actions=["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"],
                resources=[sagemaker_arn("endpoint-config", "*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TagEndpointResources",
                actions=["sagemaker:AddTags", "sagemaker:DeleteTags", "sagemaker:ListTags"],
                resources=[
                    endpoint_arn,
                    sagemaker_arn("model", "*"),
                    sagemaker_arn("endpoint-config", "*"),
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CreateModelsFromThisGroup",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[self._registry.package_arn_pattern],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassTheModelRole",
                actions=["iam:PassRole"],
                resources=[self._model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # SageMaker creates grants with the caller's credentials to encrypt endpoint storage.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptEndpointStorage",
                actions=["kms:CreateGrant", "kms:DescribeKey"],
                resources=[self._key.key_arn],
            )
        )
        reasons = {
            finding_for(role, sagemaker_arn("model", "*")): "CloudFormation generates the names "
            "of models, which are immutable and replaced on every change",
            finding_for(role, sagemaker_arn("endpoint-config", "*")): "CloudFormation generates "
            "the names of endpoint configs, which are immutable and replaced on every change",
            finding_for(role, self._registry.package_arn_pattern): "Versions of this project's "
            "model package group; version numbers are assigned at registration",
        }
        any_resource: dict[str, str] = {}
        # Prod in either mode: switching it from instances to serverless in cdk.json must
        # still let CloudFormation delete the alarms and scaling target the instances had.
        if stage == "prod":
            stage_reasons, any_resource = self._allow_autoscaling_and_alarms(
                role, name, create=uses_blue_green(stage, settings)
            )
            reasons.update(stage_reasons)
        acknowledge_iam_wildcards(role, reasons, any_resource=any_resource)
        return role

    def _allow_autoscaling_and_alarms(
        self, role: iam.Role, name: str, *, create: bool
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Grants for the prod template's alarms and autoscaling; returns the wildcard reasons
        (by finding, and by action granted on "*").

        ``create`` false (a serverless endpoint) leaves only what removing them needs.
        """
        stack = Stack.of(self)

        def alarm_arn(alarm_name: str) -> str:
            return stack.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=alarm_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )

        # The stack's own rollback alarms (CloudFormation names them <stack>-<id>-<suffix>),
        # and the ones target tracking creates for the variant with the caller's credentials.
        stack_alarms = alarm_arn(f"{name}-*")
        scaling_alarms = alarm_arn(f"TargetTracking-endpoint/{name}/variant/{VARIANT_NAME}-*")
        alarm_actions = ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"]
        # Writes take the scalable target's ARN, whose id Application Auto Scaling generates,
        # and the service-namespace and scalable-dimension condition keys: SageMaker variants'
        # instance counts only, never another service's scaling. Tagging supports neither
        # key, and the Describe calls support no resource or key at all.
        scaling_writes = [
            "application-autoscaling:DeregisterScalableTarget",
            "application-autoscaling:DeleteScalingPolicy",
        ]
        scaling_reads = [
            "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:DescribeScalingPolicies",
        ]
        scaling_tags: list[str] = []
        if create:
            alarm_actions += [
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
                "cloudwatch:ListTagsForResource",
            ]
            scaling_writes += [
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
            ]
            scaling_reads.append("application-autoscaling:DescribeScalingActivities")
            scaling_tags += [
                "application-autoscaling:TagResource",
                "application-autoscaling:UntagResource",
                "application-autoscaling:ListTagsForResource",
            ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ManageEndpointAlarms",
                actions=alarm_actions,
                resources=[stack_alarms, scaling_alarms],
            )
        )
        scalable_targets = stack.format_arn(
            service="application-autoscaling", resource="scalable-target", resource_name="*"
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ScaleSageMakerVariantsOnly",
                actions=scaling_writes,
                resources=[scalable_targets],
                conditions={
                    "StringEquals": {
                        "application-autoscaling:service-namespace": SCALING_NAMESPACE,
                        "application-autoscaling:scalable-dimension": SCALABLE_DIMENSION,
                    }
                },
            )
        )
        if scaling_tags:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="TagScalableTargets", actions=scaling_tags, resources=[scalable_targets]
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="DescribeScaling", actions=scaling_reads, resources=["*"])
        )
        reasons = {
            finding_for(role, stack_alarms): "The stack's rollback alarms; CloudFormation names "
            "them <stack>-<logical id>-<generated suffix>",
            finding_for(role, scaling_alarms): "The alarms target tracking creates for this "
            "variant, named with a generated suffix",
            finding_for(role, scalable_targets): "Application Auto Scaling generates scalable "
            "target ids at registration; writes are limited to SageMaker variant instance "
            "counts by the service-namespace and scalable-dimension conditions",
        }
        any_resource = dict.fromkeys(
            scaling_reads,
            "Application Auto Scaling's Describe calls have no resource-level permissions nor "
            "condition keys",
        )
        if not create:
            return reasons, any_resource
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CreateAutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    stack.format_arn(
                        service="iam",
                        region="",
                        resource="role",
                        resource_name=AUTOSCALING_SERVICE_LINKED_ROLE,
                    )
                ],
                conditions={"StringEquals": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
            )
        )
        return reasons, any_resource
