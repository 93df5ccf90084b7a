"""What starts the pipelines: the retraining schedule, the new-data trigger and the model
approval rules. Entry construct: ``Triggers``."""

from components.triggers.triggers import Triggers

__all__ = ["Triggers"]
