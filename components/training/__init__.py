"""Model building: the SageMaker pipeline, its execution role, the model-build CI/CD and its
failure alerts."""
