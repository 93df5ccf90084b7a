"""Synthesizes the whole app once per test session, exactly as app.py does (cdk-nag on), and
shares the templates.

The first synth in a process pays the jsii start-up (~1 s); later ones cost tens of ms,
so tests that need a variant configuration build small apps of their own (cdk-nag off: the
session synth and test_compliance.py check it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as app_module
from config import EnvironmentConfig, load_environments
from stacks import EnvironmentStacks

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Synthesized:
    app: cdk.App
    assembly: cdk.cx_api.CloudAssembly
    stacks: dict[str, EnvironmentStacks]
    templates: dict[str, dict[str, Any]]

    def template(self, stack_name: str) -> Template:
        return Template.from_json(self.templates[stack_name])

    def resources(self, stack_name: str, type_: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for every resource of one CloudFormation type."""
        resources = self.templates[stack_name]["Resources"]
        return {lid: r for lid, r in resources.items() if r["Type"] == type_}


def flatten(node: Any) -> str:
    """A CloudFormation value as text: <Ref>, <LogicalId.Attr>, <import:ExportName>."""
    if isinstance(node, str):
        return node
    if "Fn::Join" in node:
        delimiter, parts = node["Fn::Join"]
        return str(delimiter).join(flatten(part) for part in parts)
    if "Ref" in node:
        return f"<{node['Ref']}>"
    if "Fn::GetAtt" in node:
        return "<{}.{}>".format(*node["Fn::GetAtt"])
    if "Fn::ImportValue" in node:
        return f"<import:{flatten(node['Fn::ImportValue'])}>"
    if "Fn::Sub" in node:
        return str(node["Fn::Sub"]).replace("${", "<").replace("}", ">")
    raise AssertionError(f"unexpected intrinsic {node}")


def as_list(value: Any) -> list[Any]:
    """IAM's Action/Resource: a string or a list of them."""
    return value if isinstance(value, list) else [value]


def synthesize(context: dict[str, Any], outdir: Path, *, nag: bool = False) -> Synthesized:
    app = cdk.App(context=context, outdir=str(outdir), builtin_cloud_formation_validation=False)
    stacks = app_module.build(app, nag=nag)
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    return Synthesized(app=app, assembly=assembly, stacks=stacks, templates=templates)


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


@pytest.fixture(scope="session")
def environments(cdk_context: dict[str, Any]) -> dict[str, EnvironmentConfig]:
    return {config.name: config for config in load_environments(cdk_context)}


@pytest.fixture(scope="session")
def synthesized(
    cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    # An unacknowledged cdk-nag finding fails here, as it fails `cdk synth`.
    return synthesize(cdk_context, tmp_path_factory.mktemp("cdk.out"), nag=True)


@pytest.fixture(scope="session")
def synthesize_variant(
    cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Synthesized]:
    """Synthesizes the app with extra `-c`-style overrides, e.g. {"dev.notification_email": ...}."""

    def build(overrides: dict[str, Any]) -> Synthesized:
        return synthesize({**cdk_context, **overrides}, tmp_path_factory.mktemp("variant"))

    return build


DEV_VARIANT_CONNECTION = (
    "arn:aws:codeconnections:eu-west-1:123456789012:connection/0e1e9c8b-4a5f-4d5e-9f1a-2b3c4d5e6f70"
)
# Independent dev settings of several stacks, synthesized together once (a synth costs
# seconds): the registry's e-mail subscription, the trigger's schedule, the pipeline's metric,
# label, gate and hyperparameters, CodeConnections as the source (of both the model-build
# and the deploy pipeline), and the monitoring of staging (an instance endpoint) and prod
# (serverless: skipped) with retraining on drift. Prod keeps cdk.json's values, which the
# tests compare with, except its staging endpoint's size (test_deploy_stack.py: sizes reach
# the deploy config files), which only the prod deploy stack and its endpoint templates see.
DEV_VARIANT_OVERRIDES: dict[str, Any] = {
    "dev.notification_email": "ml-team@example.com",
    "dev.schedule.cron": "cron(30 2 ? * MON-FRI *)",
    "dev.schedule.time_zone": "Europe/Paris",
    "dev.schedule.enabled": "false",
    "dev.metric_name": "auc",
    "dev.label_column": "is_fraud",
    "dev.positive_class": "Yes",
    "dev.exclude_columns": "id,rownames",
    "dev.min_positives": 20,
    "dev.min_negatives": 30,
    "dev.champion_margin": 0.05,
    "dev.hyperparameters": '{"max_depth": 3, "eta": 0.2}',
    "dev.metric_threshold": "0.85",
    "dev.source.provider": "codeconnections",
    "dev.source.connection_arn": DEV_VARIANT_CONNECTION,
    "dev.source.build_repository": "acme/churn-model-build",
    "dev.source.deploy_repository": "acme/churn-model-deploy",
    "dev.staging_endpoint.mode": "instance",
    "dev.monitoring.stages": "staging,prod",
    "dev.monitoring.interval_hours": "6",
    "dev.monitoring.drift_evaluation_periods": "4",
    "dev.monitoring.drift_datapoints_to_alarm": "2",
    "dev.monitoring.quality_threshold": "0.7",
    "dev.on_drift": "retrain",
    "prod.staging_endpoint.instance_type": "ml.c5.xlarge",
    "prod.staging_endpoint.instance_count": "3",
}


@pytest.fixture(scope="session")
def dev_variant(synthesize_variant: Callable[..., Synthesized]) -> Synthesized:
    return synthesize_variant(DEV_VARIANT_OVERRIDES)


NETWORK_SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
NETWORK_SECURITY_GROUPS = ["sg-0123456789abcdef0"]
# Dev in the VPC (its endpoints are serverless in cdk.json, which a VPC does not allow), as
# the JSON object `-c dev.network=...` takes; prod keeps cdk.json's settings (no network).
NETWORK_VARIANT_OVERRIDES: dict[str, Any] = {
    "dev.network": json.dumps(
        {"subnet_ids": NETWORK_SUBNETS, "security_group_ids": NETWORK_SECURITY_GROUPS}
    ),
    "dev.staging_endpoint.mode": "instance",
    "dev.prod_endpoint.mode": "instance",
}


BUILD_ACCOUNT = "111111111111"
STAGING_ACCOUNT = "222222222222"
PROD_ACCOUNT = "333333333333"
# The enterprise layout of issue 15 for dev: the build account trains, registers and deploys;
# staging and prod endpoints run, on instances and monitored, in accounts of their own.
THREE_ACCOUNT_OVERRIDES: dict[str, Any] = {
    "dev.account": BUILD_ACCOUNT,
    "dev.staging_endpoint.account": STAGING_ACCOUNT,
    "dev.prod_endpoint.account": PROD_ACCOUNT,
    "dev.staging_endpoint.mode": "instance",
    "dev.prod_endpoint.mode": "instance",
    "dev.monitoring.stages": "staging,prod",
    # Shared subnets (AWS RAM) carry the same ids in every account of the organization.
    "dev.network": NETWORK_VARIANT_OVERRIDES["dev.network"],
}


@pytest.fixture(scope="session")
def three_accounts(
    cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    # cdk-nag on, as `cdk synth` runs it: an unacknowledged finding fails here.
    return synthesize(
        {**cdk_context, **THREE_ACCOUNT_OVERRIDES},
        tmp_path_factory.mktemp("three-accounts"),
        nag=True,
    )


@pytest.fixture(scope="session")
def network_variant(three_accounts: Synthesized) -> Synthesized:
    """Dev in the VPC: the three-account layout has it (one synth with cdk-nag costs seconds)."""
    return three_accounts
