"""Placeholder literals of the committed pipeline definition templates.

The pipeline definition is generated once, offline, by ``build_definition.py`` and committed;
the CDK app fills in the per-environment values at synth time with plain string replacement
(``template.render``), so it never imports the ~1 GB SageMaker SDK.

Each literal is shaped like the real value so that the SDK accepts it without calling AWS
(a full role ARN, so it never calls ``iam:GetRole``; ``s3://`` URIs, so nothing is uploaded; ECR
URIs for images). Every literal contains ``placeholder`` and none is a substring of another, so
the order of replacement never matters. Pure standard library: the CDK app imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

PLACEHOLDERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Execution role of every job the pipeline starts (and the model's role).
        "ROLE_ARN": "arn:aws:iam::000000000000:role/placeholder-sagemaker-execution-role",
        # Bucket name only: the template builds s3://<bucket>/... URIs around it.
        "ARTIFACT_BUCKET": "placeholder-artifact-bucket-name",
        # Customer managed key for volumes, job outputs and checkpoints.
        "KMS_KEY_ARN": "arn:aws:kms:us-east-1:000000000000:key/placeholder-kms-key-id",
        "MODEL_PACKAGE_GROUP": "placeholder-model-package-group-name",
        # Full s3:// URIs of the CDK file assets holding the processing scripts and the model
        # code (tabular_model.py: the training job's entrypoint and the model's serving code).
        "PREPROCESS_SCRIPT_URI": "s3://placeholder-code-bucket-preprocess/code/preprocess.py",
        "EVALUATE_SCRIPT_URI": "s3://placeholder-code-bucket-evaluate/code/evaluate.py",
        "TRAIN_SCRIPT_URI": "s3://placeholder-code-bucket-train/code/tabular_model.py",
        # drift.py, shipped to Evaluate beside its script to build the model's drift baseline.
        "DRIFT_SCRIPT_URI": "s3://placeholder-code-bucket-drift/code/drift.py",
        # File names the scripts get inside the processing container: SageMaker downloads the
        # code object into /opt/ml/processing/input/code/ under its S3 key's last path segment
        # (for a CDK file asset "<sha256>.py"), and the container entrypoint must name it.
        "PREPROCESS_SCRIPT_NAME": "placeholder-preprocess-script-file-name.py",
        "EVALUATE_SCRIPT_NAME": "placeholder-evaluate-script-file-name.py",
        # The same for the training job's code channel (/opt/ml/input/data/code/).
        "TRAIN_SCRIPT_NAME": "placeholder-train-script-file-name.py",
        "DRIFT_SCRIPT_NAME": "placeholder-drift-script-file-name.py",
        # The Lambda function that finds the approved model (the champion) of the group.
        "FIND_CHAMPION_FUNCTION_ARN": (
            "arn:aws:lambda:us-east-1:000000000000:function:placeholder-find-champion-function"
        ),
        # Region-specific ECR images (see image_uris.json): scikit-learn for Preprocess, the
        # XGBoost framework image for Train (our script), Evaluate and the registered model.
        "PROCESSING_IMAGE_URI": (
            "000000000000.dkr.ecr.us-east-1.amazonaws.com/placeholder-processing-image:latest"
        ),
        "XGBOOST_IMAGE_URI": (
            "000000000000.dkr.ecr.us-east-1.amazonaws.com/placeholder-xgboost-image:latest"
        ),
        # Name of the target column in the input CSV (a Preprocess argument).
        "LABEL_COLUMN": "placeholder-label-column-name",
        # Key under binary_classification_metrics in evaluation.json that gates registration.
        "METRIC_NAME": "placeholder-metric-name",
    }
)
"""Placeholder name -> the literal that stands for its value in the committed templates."""
