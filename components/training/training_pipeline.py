"""The SageMaker training pipeline as a CloudFormation resource, built from the SDK template."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from components.registry.model_registry import ModelRegistry
from components.shared.lambda_layer import PythonLayer
from components.shared.pipeline_reference import PipelineReference
from components.training.champion_finder import ChampionFinder
from components.training.sagemaker_execution_role import SageMakerExecutionRole
from config import EnvironmentConfig
from pipeline_code.template import image_uris_for, load_template, render

PIPELINE_CODE_DIR = Path(__file__).resolve().parents[2] / "pipeline_code"
# Every job of every execution writes under this prefix of the artifact bucket.
OUTPUT_PREFIX = "pipelines/"
# Where the Train step writes the model (<prefix><pipeline>/<execution>/Train/<job>/output/
# model.tar.gz; pipeline_code/build_definition.py, STEP_TRAIN): all another account's
# endpoint needs, without the splits, reports and baselines beside it.
TRAINED_MODELS = f"{OUTPUT_PREFIX}*/Train/*"


def grant_read_model_artifacts(
    grantee: iam.IGrantable,
    *,
    bucket: s3.IBucket,
    key: kms.IKey,
    sid_prefix: str,
    objects: str = f"{OUTPUT_PREFIX}*",
) -> None:
    """Objects under the training output prefix (or ``objects``), and the key to decrypt them
    through S3 only.

    Narrower than ``bucket.grant_read``: no listing, and the key is usable via S3 alone.
    """
    region = Stack.of(bucket).region
    principal = grantee.grant_principal
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid=f"{sid_prefix}Objects",
            actions=["s3:GetObject"],
            resources=[bucket.arn_for_objects(objects)],
        )
    )
    principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid=f"{sid_prefix}Decrypt",
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        )
    )


class TrainingPipeline(Construct):
    """preprocess → train → evaluate → gate → register (or fail), owned by CloudFormation.

    The definition comes from the committed SDK-built template (pipeline_code/definitions)
    with this environment's values filled in, so the SDK never runs at synth and the
    definition cannot drift from the code unnoticed (a test rebuilds it with the SDK).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        bucket: s3.IBucket,
        key: kms.IKey,
        registry: ModelRegistry,
    ) -> None:
        super().__init__(scope, id_)
        images = image_uris_for(config.region)

        self.preprocess_script = s3_assets.Asset(
            self, "PreprocessScript", path=str(PIPELINE_CODE_DIR / "preprocess.py")
        )
        self.evaluate_script = s3_assets.Asset(
            self, "EvaluateScript", path=str(PIPELINE_CODE_DIR / "evaluate.py")
        )
        # The training job's entrypoint, which also copies itself into the model as its
        # serving code (docs/model-contract.md).
        self.train_script = s3_assets.Asset(
            self, "TrainScript", path=str(PIPELINE_CODE_DIR / "tabular_model.py")
        )
        # The drift statistics: Evaluate builds the model's baseline with them.
        self.drift_script = s3_assets.Asset(
            self, "DriftScript", path=str(PIPELINE_CODE_DIR / "drift.py")
        )
        shared_layer = PythonLayer(
            self,
            "SharedLayer",
            code_dir_name="shared",
            description="Logging, AWS clients and model registry reads the functions share",
        )
        self.champion_finder = ChampionFinder(
            self, "ChampionFinder", registry=registry, key=key, layers=[shared_layer.layer]
        )

        self.execution_role = SageMakerExecutionRole(
            self,
            "ExecutionRole",
            bucket=bucket,
            key=key,
            registry=registry,
            input_data_prefix=config.input_data_prefix,
            output_prefix=OUTPUT_PREFIX,
            image_uris=sorted(images.values()),
            code_assets=[
                self.preprocess_script,
                self.evaluate_script,
                self.train_script,
                self.drift_script,
            ],
            network=config.network,
        )
        role = self.execution_role.role
        # The pipeline runs as this role, and its FindChampion step invokes the function: the
        # function itself, not its versions (grant_invoke would add "<arn>:*").
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeFindChampion",
                actions=["lambda:InvokeFunction"],
                resources=[self.champion_finder.function.function_arn],
            )
        )

        self.input_data_uri = f"s3://{bucket.bucket_name}/{config.input_data_prefix}"
        definition = render(
            load_template(spot=config.use_spot_training),
            values={
                "ROLE_ARN": role.role_arn,
                "ARTIFACT_BUCKET": bucket.bucket_name,
                "KMS_KEY_ARN": key.key_arn,
                "MODEL_PACKAGE_GROUP": registry.group_name,
                "PREPROCESS_SCRIPT_URI": self.preprocess_script.s3_object_url,
                "EVALUATE_SCRIPT_URI": self.evaluate_script.s3_object_url,
                "PREPROCESS_SCRIPT_NAME": self.preprocess_script.s3_object_key,
                "EVALUATE_SCRIPT_NAME": self.evaluate_script.s3_object_key,
                "TRAIN_SCRIPT_URI": self.train_script.s3_object_url,
                "TRAIN_SCRIPT_NAME": self.train_script.s3_object_key,
                "DRIFT_SCRIPT_URI": self.drift_script.s3_object_url,
                "DRIFT_SCRIPT_NAME": self.drift_script.s3_object_key,
                "FIND_CHAMPION_FUNCTION_ARN": self.champion_finder.function.function_arn,
                "PROCESSING_IMAGE_URI": images["processing"],
                "XGBOOST_IMAGE_URI": images["xgboost"],
                "LABEL_COLUMN": config.label_column,
                "METRIC_NAME": config.metric_name,
            },
            parameter_defaults={
                "InputDataUri": self.input_data_uri,
                "ProcessingInstanceType": config.processing_instance_type,
                "ProcessingInstanceCount": config.processing_instance_count,
                "TrainingInstanceType": config.training_instance_type,
                "TrainingInstanceCount": config.training_instance_count,
                "MetricThreshold": config.metric_threshold,
                "ModelApprovalStatus": config.approval_status,
                "PositiveClass": config.positive_class or "",
                "ExcludeColumns": ",".join(config.exclude_columns),
                "MinPositives": config.min_positives,
                "MinNegatives": config.min_negatives,
                "ChampionMargin": config.champion_margin,
            },
            hyperparameters=config.hyperparameters,
            vpc_config=None if config.network is None else config.network.sagemaker_vpc_config(),
        )

        self.pipeline_name = f"{config.resource_prefix}-training"
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=self.pipeline_name,
            pipeline_description=(
                f"Trains, evaluates and registers the {config.project_name} model ({config.name})"
            ),
            role_arn=role.role_arn,
            pipeline_definition={
                "PipelineDefinitionBody": Stack.of(self).to_json_string(definition)
            },
        )
        # The pipeline's role must be able to act before the first execution starts.
        self.pipeline.node.add_dependency(role)
        self.reference = PipelineReference(
            self, "Reference", pipeline_name=self.pipeline_name, cfn_pipeline=self.pipeline
        )
