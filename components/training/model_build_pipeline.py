"""CI/CD of the model-build code: test, update the pipeline through CloudFormation, run it."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, DefaultStackSynthesizer, Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from components.shared.code_source import CodeSource
from components.shared.nag import acknowledge_iam_wildcards, finding_for
from components.shared.network import allow_network_interfaces
from components.shared.pipeline_reference import PipelineReference
from config.network_settings import NetworkSettings

# The CDK bootstrap roles `cdk deploy` assumes; names follow the default synthesizer.
_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")


class ModelBuildPipeline(Construct):
    """Source → Build. The build runs the project's tests (including the drift check of the
    SageMaker definition), deploys ``stack_name`` with `cdk deploy` so CloudFormation stays
    the pipeline's only owner, then starts a pipeline execution.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        source: CodeSource,
        artifact_bucket: s3.IBucket,
        key: kms.IKey,
        stack_name: str,
        training_pipeline: PipelineReference,
        context_overrides: Sequence[tuple[str, str]] = (),
        network: NetworkSettings | None = None,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(
            self,
            "BuildLogs",
            encryption_key=key,
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.project = codebuild.PipelineProject(
            self,
            "Build",
            description=f"Tests the model-build code, deploys {stack_name}, starts the pipeline",
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType.MEDIUM,
            ),
            # pip and npm downloads (~0.5 GB) are reused while the build host stays warm.
            cache=codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM),
            encryption_key=key,
            timeout=Duration.minutes(60),
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)
            ),
            environment_variables={
                "STACK_NAME": codebuild.BuildEnvironmentVariable(value=stack_name),
                "PIPELINE_NAME": codebuild.BuildEnvironmentVariable(
                    value=training_pipeline.pipeline_name
                ),
            },
            build_spec=codebuild.BuildSpec.from_object(build_spec(context_overrides)),
        )
        training_pipeline.grant_start_pipeline_execution(self.project)
        qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole"],
                resources=[
                    stack.format_arn(
                        service="iam",
                        region="",
                        resource="role",
                        resource_name=f"cdk-{qualifier}-{kind}-role-{stack.account}-{stack.region}",
                    )
                    for kind in _BOOTSTRAP_ROLES
                ],
            )
        )

        source_output = codepipeline.Artifact("Source")
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=artifact_bucket,
            restart_execution_on_update=False,
            stages=[
                codepipeline.StageProps(
                    stage_name="Source", actions=[source.source_action(source_output)]
                ),
                codepipeline.StageProps(
                    stage_name="TestDeployRun",
                    actions=[
                        actions.CodeBuildAction(
                            action_name="TestDeployAndStartPipeline",
                            project=self.project,
                            input=source_output,
                        )
                    ],
                ),
            ],
        )
        # CDK grants every project its default log group and report groups, named after it.
        project_name = self.project.project_name
        default_log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/codebuild/{project_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        report_groups = stack.format_arn(
            service="codebuild", resource="report-group", resource_name=f"{project_name}-*"
        )
        acknowledge_iam_wildcards(
            self,
            {
                "Action::s3:GetObject*": "CodePipeline artifacts: CDK's grant on the artifact "
                "bucket only",
                "Action::s3:GetBucket*": "CodePipeline artifacts: the artifact bucket only",
                "Action::s3:List*": "CodePipeline artifacts: the artifact bucket only",
                "Action::s3:DeleteObject*": "CodePipeline rewrites artifacts in its bucket",
                "Action::s3:Abort*": "Multipart uploads of pipeline artifacts",
                "Action::kms:GenerateDataKey*": "Artifacts encrypted with the project key only",
                "Action::kms:ReEncrypt*": "Artifacts encrypted with the project key only",
                finding_for(self, artifact_bucket.arn_for_objects("*")): "Objects of the "
                "artifact bucket: CodePipeline names artifacts per execution",
                finding_for(self, default_log_group): "Streams of CodeBuild's default log group "
                "for this project (CDK's grant; the build logs to its own group), one per build",
                finding_for(self, report_groups): "Test report groups of this project: CodeBuild "
                "names them <project>-<report group> when a build first reports",
            },
        )
        # After the acknowledgments above: the VPC lookup explains its own wildcard.
        if network is not None:
            place_project_in_network(self, self.project, network, key=key)


def place_project_in_network(
    scope: Construct, project: codebuild.Project, network: NetworkSettings, *, key: kms.IKey
) -> None:
    """The project builds in the configured subnets. CodeBuild needs the VPC's ID too: the
    configured one, else the first subnet's, looked up (under ``scope``) when the stack is
    deployed."""
    vpc_id = (
        network.vpc_id
        or VpcOfSubnet(scope, "VpcOfSubnet", subnet_id=network.subnet_ids[0], key=key).vpc_id
    )
    cfn_project = project.node.default_child
    assert isinstance(cfn_project, codebuild.CfnProject)
    cfn_project.vpc_config = codebuild.CfnProject.VpcConfigProperty(
        vpc_id=vpc_id,
        subnets=list(network.subnet_ids),
        security_group_ids=list(network.security_group_ids),
    )
    role = project.role
    assert role is not None
    # Attached through the role resource: CodeBuild checks these when the project is
    # created, and the role exists before the project.
    allow_network_interfaces(role, network, "codebuild")


class VpcOfSubnet(Construct):
    """The ID of the VPC a subnet belongs to, read with ec2:DescribeSubnets when the stack is
    deployed (never at synth). Its function is one of the stack's functions, so it runs in
    the configured subnets too and reaches EC2 through the VPC's ec2 endpoint."""

    def __init__(self, scope: Construct, id_: str, *, subnet_id: str, key: kms.IKey) -> None:
        super().__init__(scope, id_)
        # A role of its own, not CDK's default: that would carry the AWS-managed
        # AWSLambdaBasicExecutionRole, which allows writing to every log group.
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Reads which VPC {subnet_id} belongs to, for the model-build project",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeSubnets",
            parameters={"SubnetIds": [subnet_id]},
            physical_resource_id=cr.PhysicalResourceId.of(subnet_id),
            output_paths=["Subnets.0.VpcId"],
        )
        self.lookup = cr.AwsCustomResource(
            self,
            "Lookup",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        sid="DescribeTheSubnet", actions=["ec2:DescribeSubnets"], resources=["*"]
                    )
                ]
            ),
            role=role,
            log_group=self.log_group,
            install_latest_aws_sdk=False,
        )
        self.vpc_id = self.lookup.get_response_field("Subnets.0.VpcId")
        acknowledge_iam_wildcards(
            self,
            {},
            any_resource={
                "ec2:DescribeSubnets": "EC2 Describe actions have no resource-level "
                "permissions; the function reads one subnet's VPC ID",
            },
        )


# The same two commands as CI: `make synth` installs the CDK CLI pinned in package.json (a
# bare `npx cdk` without it would fetch whatever npm calls "cdk"), `make test` runs every
# gate (lint, types, unit tests, the SageMaker definition drift check). The deploy goes
# through CloudFormation so nothing updates the SageMaker pipeline behind its back.
def build_spec(context_overrides: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The build's commands. ``context_overrides`` are `-c <env>.<field>=<value>` settings this
    stack was deployed with that the build's own deploy must repeat, so its first run does not
    revert them (they show in `cdk diff` as part of this spec).
    """
    context_args = "".join(
        f" -c {shlex.quote(f'{key}={value}')}" for key, value in context_overrides
    )
    return {
        "version": "0.2",
        "env": {
            "shell": "bash",
            "variables": {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        },
        "phases": {
            "install": {
                "runtime-versions": {"python": "3.11", "nodejs": "20"},
            },
            "build": {
                "commands": [
                    "make synth",
                    "make test",
                    f'node_modules/.bin/cdk deploy "$STACK_NAME" --exclusively{context_args} '
                    "--require-approval never --no-notices --progress events",
                    'aws sagemaker start-pipeline-execution --pipeline-name "$PIPELINE_NAME" '
                    "--pipeline-execution-description "
                    '"model-build commit ${CODEBUILD_RESOLVED_SOURCE_VERSION:-unknown}"',
                ]
            },
        },
        "cache": {"paths": ["/root/.cache/pip/**/*", "/root/.npm/**/*"]},
    }
