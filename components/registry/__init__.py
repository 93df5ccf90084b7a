"""Where models and their artifacts live: the artifact bucket and key, the model package group
and the project's notification topic. Entry construct: ``Registry``."""

from components.registry.registry import Registry

__all__ = ["Registry"]
