"""Creates and wires the stacks of one environment; the only place stacks meet."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
from constructs import Construct

from components.deployment.endpoint_accounts import endpoint_accounts
from components.shared.network import place_functions_in_network
from config import EnvironmentConfig
from config.monitoring_settings import Stage
from stacks.deploy_stack import DeployStack
from stacks.endpoint_account_stack import EndpointAccountStack
from stacks.monitor_stack import MonitorStack
from stacks.pipeline_stack import PipelineStack
from stacks.registry_stack import RegistryStack
from stacks.trigger_stack import TriggerStack


@dataclass(frozen=True)
class EnvironmentStacks:
    registry: RegistryStack
    pipeline: PipelineStack
    deploy: DeployStack
    trigger: TriggerStack
    monitor: MonitorStack
    # Stages whose endpoints run in another account: the stack deployed there.
    endpoint_accounts: dict[Stage, EndpointAccountStack] = field(default_factory=dict)


def add_environment(scope: Construct, *, config: EnvironmentConfig) -> EnvironmentStacks:
    """Adds `<Env>-RegistryStack` and the stacks built on it for one environment."""
    env = cdk.Environment(account=config.account, region=config.region)
    common = {
        "env": env,
        "termination_protection": config.termination_protection,
    }
    registry = RegistryStack(
        scope,
        f"{config.stack_prefix}-RegistryStack",
        config=config,
        description=f"{config.project_name} {config.name}: key, artifact bucket, model registry",
        **common,
    )
    pipeline = PipelineStack(
        scope,
        f"{config.stack_prefix}-PipelineStack",
        config=config,
        registry=registry,
        description=f"{config.project_name} {config.name}: SageMaker training pipeline and "
        "model-build CI/CD",
        **common,
    )
    deploy = DeployStack(
        scope,
        f"{config.stack_prefix}-DeployStack",
        config=config,
        registry=registry,
        description=f"{config.project_name} {config.name}: model-deploy repository and the "
        "staging → test → approval → prod deploy pipeline",
        **common,
    )
    trigger = TriggerStack(
        scope,
        f"{config.stack_prefix}-TriggerStack",
        config=config,
        registry=registry,
        pipeline=pipeline,
        deploy_pipeline=deploy.pipeline,
        description=f"{config.project_name} {config.name}: retraining schedule, new-data "
        "trigger, approval → deployment rule",
        **common,
    )
    monitor = MonitorStack(
        scope,
        f"{config.stack_prefix}-MonitorStack",
        config=config,
        registry=registry,
        pipeline=pipeline,
        description=f"{config.project_name} {config.name}: drift and model-quality checks of "
        "the live endpoints, alarms, retraining on drift, dashboard",
        **common,
    )
    targets = {
        stage: EndpointAccountStack(
            scope,
            f"{config.stack_prefix}-{stage.capitalize()}EndpointAccountStack",
            config=config,
            target=target,
            description=f"{config.project_name} {config.name}: the roles that deploy, host, "
            f"test and watch the {stage} endpoint in account {target.account}",
            env=cdk.Environment(account=target.account, region=config.region),
            termination_protection=config.termination_protection,
        )
        for stage, target in endpoint_accounts(config).items()
    }
    stacks = EnvironmentStacks(
        registry=registry,
        pipeline=pipeline,
        deploy=deploy,
        trigger=trigger,
        monitor=monitor,
        endpoint_accounts=targets,
    )
    for stack in (registry, pipeline, deploy, trigger, monitor, *targets.values()):
        cdk.Tags.of(stack).add("Project", config.project_name)
        cdk.Tags.of(stack).add("Environment", config.name)
        if config.network is not None:
            place_functions_in_network(stack, config.network)
    return stacks
