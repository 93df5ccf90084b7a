"""Creates and wires the stacks of one environment; the only place stacks meet."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from constructs import Construct

from config import EnvironmentConfig
from stacks.registry_stack import RegistryStack


@dataclass(frozen=True)
class EnvironmentStacks:
    registry: RegistryStack


def add_environment(scope: Construct, *, config: EnvironmentConfig) -> EnvironmentStacks:
    """Adds `<Env>-RegistryStack` (and the stacks that depend on it) for one environment."""
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
    for stack in (registry,):
        cdk.Tags.of(stack).add("Project", config.project_name)
        cdk.Tags.of(stack).add("Environment", config.name)
    return EnvironmentStacks(registry=registry)
