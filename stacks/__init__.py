"""The five stacks of one environment and how they are wired together."""

from stacks.deploy_stack import DeployStack
from stacks.environment import EnvironmentStacks, add_environment
from stacks.registry_stack import RegistryStack

__all__ = ["DeployStack", "EnvironmentStacks", "RegistryStack", "add_environment"]
