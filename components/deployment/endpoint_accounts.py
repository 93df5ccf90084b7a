"""The names both sides agree on when an endpoint runs outside the build account.

A stack in the build account and a stack in a target account cannot refer to each other's
resources (CloudFormation exports stay in one account), so every role that crosses the
boundary has a fixed name built here, and each side writes the other's ARNs as plain text.
Trust and resource policies name the other account as principal and pin the exact role with
an ``aws:PrincipalArn`` condition: unlike a role ARN as principal, a condition does not need
the role to exist yet, so the stacks of the three accounts can be deployed in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_iam as iam

from config import EnvironmentConfig
from config.monitoring_settings import Stage
from config.validation import partition_of

# Suffixes of the fixed role names; the longest keeps "<project>-<env>" (at most 39
# characters, see SAGEMAKER_NAME_LIMIT) within IAM's 64.
_TARGET_ROLES = {
    "action": "deploy-action",
    "deployer": "deployer",
    "model": "model",
    "tester": "tester",
    "reader": "reader",
}


@dataclass(frozen=True)
class EndpointAccount:
    """One stage whose endpoint runs in ``account`` while ``build_account`` deploys it."""

    stage: Stage
    account: str
    build_account: str
    region: str
    resource_prefix: str

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def role_name(self, kind: str) -> str:
        """A role of the target account: action, deployer, model, tester or reader."""
        return f"{self.resource_prefix}-{self.stage}-{_TARGET_ROLES[kind]}"

    def role_arn(self, kind: str) -> str:
        return self._arn(self.account, self.role_name(kind))

    def build_role_arn(self, name: str) -> str:
        return self._arn(self.build_account, name)

    def _arn(self, account: str, role_name: str) -> str:
        return f"arn:{self.partition}:iam::{account}:role/{role_name}"

    def trusting(self, build_role_name: str) -> iam.IPrincipal:
        """The build account's role ``build_role_name``, as a target-account trust principal."""
        return iam.AccountPrincipal(self.build_account).with_conditions(
            {"ArnEquals": {"aws:PrincipalArn": self.build_role_arn(build_role_name)}}
        )


# The build account's roles a target account trusts (fixed names, only when some endpoint is
# in another account, so single-account templates keep their generated names).
def deploy_pipeline_role_name(resource_prefix: str) -> str:
    return f"{resource_prefix}-deploy-pipeline"


def endpoint_test_role_name(resource_prefix: str) -> str:
    return f"{resource_prefix}-endpoint-test"


def drift_check_role_name(resource_prefix: str) -> str:
    return f"{resource_prefix}-drift-check"


def deploy_pipeline_name(resource_prefix: str) -> str:
    """The deploy CodePipeline's name when some endpoint is in another account."""
    return f"{resource_prefix}-model-deploy"


def deploy_artifacts_prefix(resource_prefix: str) -> str:
    """Where the deploy pipeline keeps its artifacts in the artifact bucket: CodePipeline uses
    the first 20 characters of the pipeline's name as the folder."""
    return f"{deploy_pipeline_name(resource_prefix)[:20]}/"


def artifact_bucket_name(resource_prefix: str, account: str, region: str) -> str:
    """The build account's artifact bucket (components/registry/artifact_store.py)."""
    return f"{resource_prefix}-{account}-{region}"


def endpoint_accounts(config: EnvironmentConfig) -> dict[Stage, EndpointAccount]:
    """The stages whose endpoints run in another account, with that account."""
    accounts: dict[Stage, EndpointAccount] = {}
    for stage in config.remote_stages:
        account = config.endpoint_account(stage)
        # remote_stages only lists stages with an account, and the config requires the
        # build account whenever one is set.
        assert account is not None and config.account is not None
        accounts[stage] = EndpointAccount(
            stage=stage,
            account=account,
            build_account=config.account,
            region=config.region,
            resource_prefix=config.resource_prefix,
        )
    return accounts
