"""Reusable constructs grouped by capability; each stack composes one capability.

- ``registry``: the artifact bucket and key, the model package group, the project topic.
- ``training``: the SageMaker pipeline, its execution role, the model-build CI/CD, alerts.
- ``deployment``: the endpoint templates and the deploy CodePipeline with its Lambdas.
- ``triggers``: the retraining schedule, the new-data trigger, the approval rules.
- ``shared``: building blocks every capability uses (Lambda functions, cdk-nag reasons, …).
"""
