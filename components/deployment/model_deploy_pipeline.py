"""CD of the approved model: staging endpoint → test → manual approval → prod endpoint."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Stack, Stage
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.deployment.endpoint_accounts import (
    EndpointAccount,
    deploy_pipeline_name,
    deploy_pipeline_role_name,
)
from components.deployment.endpoint_deployment_role import endpoint_deployment_role
from components.deployment.endpoint_stack import (
    ARTIFACT_BUCKET_NAME,
    AUTOSCALING_ENABLED,
    AUTOSCALING_MAX_INSTANCES,
    INSTANCE_COUNT,
    INSTANCE_TYPE,
    KMS_KEY_ARN,
    MODEL_EXECUTION_ROLE_ARN,
    MODEL_PACKAGE_ARN,
    SERVERLESS_MAX_CONCURRENCY,
    SERVERLESS_MEMORY,
    STAGES,
    EndpointStage,
    endpoint_name,
    endpoint_settings,
    sizing_parameter_values,
    synthesize_endpoint_templates,
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
        model_role: iam.IRole | None,
        resolve_function: lambda_.IFunction,
        check_function: lambda_.IFunction,
        test_function: lambda_.IFunction,
        remote: Mapping[EndpointStage, EndpointAccount] | None = None,
    ) -> None:
        """``remote``: the stages whose endpoints run in another account (deployed there with
        that account's roles, components/deployment/endpoint_access.py); ``model_role`` hosts
        the others."""
        super().__init__(scope, id_)
        self._remote = dict(remote or {})
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
            # Its artifacts folder is named after it, and endpoint accounts read that folder.
            pipeline_name=deploy_pipeline_name(config.resource_prefix) if self._remote else None,
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
                            user_parameters=self._test_parameters(),
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
        if self._remote:
            # Endpoint accounts trust the pipeline's role by name.
            cfn_role = self.pipeline.role.node.default_child
            assert isinstance(cfn_role, iam.CfnRole)
            cfn_role.role_name = deploy_pipeline_role_name(config.resource_prefix)
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
        target = self._remote.get(stage)
        available = {
            MODEL_PACKAGE_ARN: f"#{{{RESOLVE_NAMESPACE}.ModelPackageArn}}",
            MODEL_EXECUTION_ROLE_ARN: self._model_role_arn(stage),
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
            # In another account, the action runs as that account's role (its own policy
            # there decides what it may do; CDK cannot add to an imported role's policy).
            role=None
            if target is None
            else iam.Role.from_role_arn(
                self, f"{stage.capitalize()}ActionRole", target.role_arn("action"), mutable=False
            ),
            # A failed first create leaves a stack that cannot be updated; recreating it is
            # fine for staging, but prod is never deleted by the pipeline.
            replace_on_failure=stage == "staging",
        )

    def _test_parameters(self) -> dict[str, str]:
        parameters = {
            "endpoint_name": self.endpoint_names["staging"],
            "model_package_arn": f"#{{{RESOLVE_NAMESPACE}.ModelPackageArn}}",
        }
        target = self._remote.get("staging")
        if target is not None:
            parameters["role_arn"] = target.role_arn("tester")
        return parameters

    def _model_role_arn(self, stage: EndpointStage) -> str:
        target = self._remote.get(stage)
        if target is not None:
            return target.role_arn("model")
        assert self._model_role is not None, "a local endpoint has the local model role"
        return self._model_role.role_arn

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
            finding_for(self, self._bucket.arn_for_objects("*")): "CodePipeline names artifact "
            "objects per execution",
        }
        for function in invoked:
            reasons[finding_for(self, f"{function.function_arn}:*")] = (
                "CDK's Lambda invoke action grant: invoking this one function qualified by any "
                "version or alias"
            )
        local = [stage for stage in STAGES if stage not in self._remote]
        if local:
            reasons |= {
                "Action::cloudformation:DescribeStack*": "CDK's CloudFormation action grant, on "
                "the endpoint stack of its own stage only",
                "Action::cloudformation:GetTemplate*": "CDK's CloudFormation action grant, on "
                "the endpoint stack of its own stage only",
            }
        for name in (self.endpoint_names[stage] for stage in local):
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

    def _deployment_role(self, stage: EndpointStage) -> iam.IRole:
        target = self._remote.get(stage)
        if target is not None:
            return iam.Role.from_role_arn(
                self,
                f"{stage.capitalize()}DeploymentRole",
                target.role_arn("deployer"),
                mutable=False,
            )
        return endpoint_deployment_role(
            self,
            f"{stage.capitalize()}DeploymentRole",
            stage=stage,
            settings=endpoint_settings(self._config, stage),
            endpoint_name=self.endpoint_names[stage],
            package_arn_pattern=self._registry.package_arn_pattern,
            model_role_arn=self._model_role_arn(stage),
            key_arn=self._key.key_arn,
            network=self._config.network,
        )
