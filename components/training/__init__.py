"""Model building: the SageMaker pipeline, its execution role, the model-build CI/CD and its
failure alerts. Entry construct: ``Training``."""

from components.training.training import Training

__all__ = ["Training"]
