"""What a target account holds so the build account's deploy pipeline can host the model there.

Deployed into the staging or prod account (stacks/endpoint_account_stack.py); every role has a
fixed name (components/deployment/endpoint_accounts.py) because the build account's stacks
write its ARN, and every role that the build account uses trusts exactly one build-account role.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from components.deployment.endpoint_accounts import (
    EndpointAccount,
    artifact_bucket_name,
    deploy_artifacts_prefix,
    deploy_pipeline_role_name,
    drift_check_role_name,
    endpoint_test_role_name,
)
from components.deployment.endpoint_deployment_role import endpoint_deployment_role
from components.deployment.endpoint_stack import DATA_CAPTURE_PREFIX, endpoint_name
from components.deployment.model_hosting_role import ModelHostingRole
from components.shared.nag import acknowledge_iam_wildcards, finding_for
from components.training.training_pipeline import TRAINED_MODELS
from config import EndpointSettings
from config.network_settings import NetworkSettings

# The build key's id is generated when the build account deploys, so a target account can
# only name the build account's keys; the key's own policy (components/registry/
# serving_accounts.py) is what lets exactly these roles use exactly that key.
BUILD_KEYS_REASON = (
    "Keys of the build account: its key id is generated there; the build key's policy grants "
    "this role alone, and a key policy is required for any cross-account use"
)


class EndpointAccess(Construct):
    """The roles that deploy, host, test and watch one stage's endpoint in its own account.

    - ``action_role``: the deploy pipeline's CloudFormation action runs as it (assumed by the
      build account's deploy pipeline role): the endpoint stack only, the pipeline's artifacts
      only, and passing ``deployer_role``;
    - ``deployer_role``: CloudFormation creates the endpoint stack's resources with it;
    - ``model_role``: SageMaker hosts the model with it (reads the model from the build
      account's bucket, writes captured traffic there);
    - ``tester_role`` (staging): the staging test invokes the endpoint with it;
    - ``reader_role`` (monitored stages): the drift check finds the deployed model with it.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        target: EndpointAccount,
        settings: EndpointSettings,
        image_uri: str,
        monitored: bool,
        network: NetworkSettings | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self._target = target
        stack = Stack.of(self)
        prefix = target.resource_prefix
        self.endpoint_name = name = endpoint_name(prefix, target.stage)
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=name
        )
        bucket = s3.Bucket.from_bucket_attributes(
            self,
            "BuildBucket",
            bucket_name=artifact_bucket_name(prefix, target.build_account, target.region),
            account=target.build_account,
        )
        self.build_keys = f"arn:{target.partition}:kms:{target.region}:{target.build_account}:key/*"
        key = kms.Key.from_key_arn(self, "BuildKey", self.build_keys)
        package_arn_pattern = (
            f"arn:{target.partition}:sagemaker:{target.region}:{target.build_account}:"
            f"model-package/{prefix}/*"
        )

        self.model_role = ModelHostingRole(
            self,
            "ModelRole",
            bucket=bucket,
            key=key,
            image_uri=image_uri,
            endpoint_names=[name],
            data_capture_prefix=DATA_CAPTURE_PREFIX if settings.mode == "instance" else None,
            description=f"Hosts the approved {prefix} model on {name}",
            role_name=target.role_name("model"),
            model_objects=TRAINED_MODELS,
            extra_reasons={finding_for(self, self.build_keys): BUILD_KEYS_REASON},
            network=network,
        ).role
        self.deployer_role = endpoint_deployment_role(
            self,
            "DeployerRole",
            stage=target.stage,
            settings=settings,
            endpoint_name=name,
            package_arn_pattern=package_arn_pattern,
            model_role_arn=self.model_role.role_arn,
            key_arn=self.build_keys,
            role_name=target.role_name("deployer"),
            extra_reasons={finding_for(self, self.build_keys): BUILD_KEYS_REASON},
            network=network,
        )
        self.action_role = self._action_role(bucket)
        self.tester_role = self._tester_role() if target.stage == "staging" else None
        self.reader_role = self._reader_role() if monitored else None

    def _assumed_from_build(
        self, construct_id: str, kind: str, build_role_name: str, description: str
    ) -> iam.Role:
        """The target's ``kind`` role, which only the build account's ``build_role_name``
        role may assume."""
        return iam.Role(
            self,
            construct_id,
            role_name=self._target.role_name(kind),
            assumed_by=self._target.trusting(build_role_name),
            description=description,
        )

    def _action_role(self, bucket: s3.IBucket) -> iam.Role:
        target = self._target
        stack = Stack.of(self)
        role = self._assumed_from_build(
            "ActionRole",
            "action",
            deploy_pipeline_role_name(target.resource_prefix),
            f"The {target.resource_prefix} deploy pipeline deploys the {self.endpoint_name} "
            "stack in this account as this role",
        )
        endpoint_stack = stack.format_arn(
            service="cloudformation", resource="stack", resource_name=f"{self.endpoint_name}/*"
        )
        stack_actions = [
            "cloudformation:CreateStack",
            "cloudformation:UpdateStack",
            "cloudformation:DescribeStacks",
            "cloudformation:DescribeStackEvents",
            "cloudformation:DescribeStackResources",
            "cloudformation:GetTemplate",
        ]
        if target.stage == "staging":
            # The staging action replaces a stack whose first create failed.
            stack_actions.append("cloudformation:DeleteStack")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DeployTheEndpointStack", actions=stack_actions, resources=[endpoint_stack]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ValidateTemplates",
                actions=["cloudformation:ValidateTemplate"],
                resources=["*"],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassTheDeployerRole",
                actions=["iam:PassRole"],
                resources=[self.deployer_role.role_arn],
                conditions={
                    "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
                },
            )
        )
        artifacts = bucket.arn_for_objects(f"{deploy_artifacts_prefix(target.resource_prefix)}*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPipelineArtifacts",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[artifacts],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptPipelineArtifacts",
                actions=["kms:Decrypt"],
                resources=[self.build_keys],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{target.region}.amazonaws.com"}
                },
            )
        )
        acknowledge_iam_wildcards(
            role,
            {
                finding_for(self, endpoint_stack): f"The {self.endpoint_name} stack; "
                "CloudFormation appends a generated id to stack ARNs",
                finding_for(self, artifacts): "The deploy pipeline's artifacts (templates and "
                "config files), named per execution by CodePipeline under the pipeline's folder",
                finding_for(self, self.build_keys): BUILD_KEYS_REASON,
            },
            any_resource={
                "cloudformation:ValidateTemplate": "ValidateTemplate has no resource-level "
                "permissions; it reads the template it is given and changes nothing",
            },
        )
        return role

    def _tester_role(self) -> iam.Role:
        target = self._target
        role = self._assumed_from_build(
            "TesterRole",
            "tester",
            endpoint_test_role_name(target.resource_prefix),
            f"The {target.resource_prefix} staging test invokes {self.endpoint_name} as this role",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeTheEndpoint",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
                resources=[self.endpoint_arn],
            )
        )
        return role

    def _reader_role(self) -> iam.Role:
        target = self._target
        role = self._assumed_from_build(
            "ReaderRole",
            "reader",
            drift_check_role_name(target.resource_prefix),
            f"The {target.resource_prefix} drift check finds the model {self.endpoint_name} "
            "serves as this role",
        )
        acknowledge_iam_wildcards(role, allow_finding_deployed_models(role, [self.endpoint_name]))
        return role


def allow_finding_deployed_models(role: iam.Role, endpoint_names: Sequence[str]) -> dict[str, str]:
    """Describing the endpoints of ``role``'s account, their configs and models (what the drift
    check reads to find the deployed model); returns the cdk-nag reasons of the wildcards."""
    stack = Stack.of(role)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DescribeMonitoredEndpoints",
            actions=["sagemaker:DescribeEndpoint"],
            resources=[
                stack.format_arn(service="sagemaker", resource="endpoint", resource_name=name)
                for name in endpoint_names
            ],
        )
    )
    # The endpoint's config and model are replaced on every deployment, under names
    # CloudFormation generates (components/deployment/endpoint_stack.py).
    generated = [
        stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
        for kind in ("endpoint-config", "model")
    ]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DescribeDeployedModel",
            actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
            resources=generated,
        )
    )
    return {
        finding_for(role, arn): f"The deployed endpoint's {kind} are replaced on every "
        "deployment under names CloudFormation generates; describe calls only"
        for arn, kind in zip(generated, ("endpoint configs", "models"), strict=True)
    }
