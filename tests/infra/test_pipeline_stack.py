"""PipelineStack: the SageMaker pipeline resource, its role, model-build CI/CD and alerts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack

from components.training.model_build_pipeline import build_spec
from config import EnvironmentConfig
from pipeline_code.template import image_uris_for
from stacks.pipeline_stack import MODEL_BUILD_CONTENT, REPO_ROOT
from tests.infra.conftest import DEV_VARIANT_CONNECTION, Synthesized, as_list, flatten

DEV, PROD = "Dev-PipelineStack", "Prod-PipelineStack"


def _only(synthesized: Synthesized, stack: str, type_: str) -> dict[str, Any]:
    (resource,) = synthesized.resources(stack, type_).values()
    return resource


def _definition(synthesized: Synthesized, stack: str) -> dict[str, Any]:
    pipeline = _only(synthesized, stack, "AWS::SageMaker::Pipeline")
    body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    definition: dict[str, Any] = json.loads(flatten(body))
    return definition


def _step(definition: dict[str, Any], name: str) -> dict[str, Any]:
    (step,) = [s for s in definition["Steps"] if s["Name"] == name]
    found: dict[str, Any] = step
    return found


def _statements(synthesized: Synthesized, stack: str, policy_prefix: str) -> list[dict[str, Any]]:
    policies = [
        p
        for lid, p in synthesized.resources(stack, "AWS::IAM::Policy").items()
        if lid.startswith(policy_prefix)
    ]
    assert len(policies) == 1, [lid for lid in synthesized.resources(stack, "AWS::IAM::Policy")]
    statements: list[dict[str, Any]] = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    return statements


# The SageMaker pipeline ----------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "env"), [(DEV, "dev"), (PROD, "prod")])
def test_pipeline_is_named_and_runs_as_its_role(
    synthesized: Synthesized, environments: dict[str, EnvironmentConfig], stack: str, env: str
) -> None:
    pipeline = _only(synthesized, stack, "AWS::SageMaker::Pipeline")
    assert pipeline["Properties"]["PipelineName"] == f"mlops-demo-{env}-training"
    role_ref = pipeline["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    assert role_ref.startswith("TrainingPipelineExecutionRole")
    assert any(dep.startswith("TrainingPipelineExecutionRole") for dep in pipeline["DependsOn"])


@pytest.mark.parametrize(("stack", "env"), [(DEV, "dev"), (PROD, "prod")])
def test_parameter_defaults_come_from_the_environment_config(
    synthesized: Synthesized, environments: dict[str, EnvironmentConfig], stack: str, env: str
) -> None:
    config = environments[env]
    defaults = {p["Name"]: p["DefaultValue"] for p in _definition(synthesized, stack)["Parameters"]}
    assert defaults == {
        "InputDataUri": f"s3://mlops-demo-{env}-<AWS::AccountId>-eu-west-1/input-data/",
        "ProcessingInstanceType": config.processing_instance_type,
        "ProcessingInstanceCount": config.processing_instance_count,
        "TrainingInstanceType": config.training_instance_type,
        "TrainingInstanceCount": config.training_instance_count,
        "MetricThreshold": config.metric_threshold,
        "ModelApprovalStatus": "PendingManualApproval",
        # Unset in cdk.json: the labels are 0/1, no column is excluded.
        "PositiveClass": "",
        "ExcludeColumns": "",
        "MinPositives": config.min_positives,
        "MinNegatives": config.min_negatives,
        "ChampionMargin": config.champion_margin,
    }
    assert defaults["MetricThreshold"] == {"dev": 0.8, "prod": 0.9}[env]


def test_steps_and_their_order(synthesized: Synthesized) -> None:
    definition = _definition(synthesized, DEV)
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Preprocess", "Processing"),
        ("Train", "Training"),
        ("FindChampion", "Lambda"),
        ("Evaluate", "Processing"),
        ("CheckGate", "Condition"),
    ]
    condition = _step(definition, "CheckGate")["Arguments"]
    assert [(s["Name"], s["Type"]) for s in condition["IfSteps"]] == [
        ("RegisterModel", "RegisterModel")
    ]
    assert [(s["Name"], s["Type"]) for s in condition["ElseSteps"]] == [("ModelRejected", "Fail")]


def test_registration_uses_the_group_and_the_approval_parameter(synthesized: Synthesized) -> None:
    condition = _step(_definition(synthesized, PROD), "CheckGate")["Arguments"]
    (register,) = condition["IfSteps"]
    arguments = register["Arguments"]
    assert arguments["ModelPackageGroupName"] == "mlops-demo-prod"
    assert arguments["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    metrics = arguments["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert metrics["ContentType"] == "application/json"


def test_find_champion_step_invokes_the_function_the_role_may_invoke(
    synthesized: Synthesized,
) -> None:
    step = _step(_definition(synthesized, DEV), "FindChampion")
    assert step["FunctionArn"].startswith("<TrainingPipelineChampionFinderFunction")
    assert step["Arguments"]["ModelPackageGroupName"] == "mlops-demo-dev"
    statements = _statements(synthesized, DEV, "TrainingPipelineExecutionRoleDefaultPolicy")
    (invoke,) = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    # The function itself: no versions or aliases (":*"), nothing else.
    assert [flatten(r) for r in as_list(invoke["Resource"])] == [step["FunctionArn"]]


def test_champion_finder_reads_only_this_groups_versions(synthesized: Synthesized) -> None:
    statements = _statements(synthesized, DEV, "TrainingPipelineChampionFinderRoleDefaultPolicy")
    by_sid = {s["Sid"]: s for s in statements if "Sid" in s}
    assert flatten(by_sid["DescribeThisGroupsPackages"]["Resource"]) == (
        "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>:model-package/mlops-demo-dev/*"
    )
    assert by_sid["ListModelPackages"]["Action"] == "sagemaker:ListModelPackages"
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("sagemaker:") and "Model" not in a}


def test_metric_label_gate_and_hyperparameter_overrides_reach_the_definition(
    dev_variant: Synthesized,
) -> None:
    # conftest.DEV_VARIANT_OVERRIDES: metric auc, label is_fraud, positive class Yes, exclude
    # id,rownames, min 20/30, margin 0.05, max_depth 3 and eta 0.2.
    variant = dev_variant
    definition = _definition(variant, DEV)
    hyperparameters = _step(definition, "Train")["Arguments"]["HyperParameters"]
    assert (hyperparameters["max_depth"], hyperparameters["eta"]) == ("3", "0.2")
    prod_train = _step(_definition(variant, PROD), "Train")["Arguments"]["HyperParameters"]
    assert (prod_train["max_depth"], prod_train["eta"]) == ("6", "0.1")
    evaluate = _step(definition, "Evaluate")["Arguments"]["AppSpecification"]
    metric_flag = evaluate["ContainerArguments"].index("--metric")
    assert evaluate["ContainerArguments"][metric_flag + 1] == "auc"
    arguments = _step(definition, "Preprocess")["Arguments"]["AppSpecification"][
        "ContainerArguments"
    ]
    assert arguments[:2] == ["--label-column", "is_fraud"]
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert defaults["PositiveClass"] == "Yes"
    assert defaults["ExcludeColumns"] == "id,rownames"
    assert (defaults["MinPositives"], defaults["MinNegatives"]) == (20, 30)
    assert defaults["ChampionMargin"] == 0.05


def test_steps_run_the_regional_images_and_the_asset_scripts(synthesized: Synthesized) -> None:
    definition = _definition(synthesized, DEV)
    images = image_uris_for("eu-west-1")
    preprocess = _step(definition, "Preprocess")["Arguments"]
    evaluate = _step(definition, "Evaluate")["Arguments"]
    assert preprocess["AppSpecification"]["ImageUri"] == images["processing"]
    assert evaluate["AppSpecification"]["ImageUri"] == images["xgboost"]
    train = _step(definition, "Train")["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == images["xgboost"]
    (code,) = [c for c in train["InputDataConfig"] if c["ChannelName"] == "code"]
    uri = code["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri.startswith("s3://cdk-hnb659fds-assets-<AWS::AccountId>-eu-west-1/")
    assert train["AlgorithmSpecification"]["ContainerEntrypoint"] == [
        "python3",
        f"/opt/ml/input/data/code/{uri.rsplit('/', 1)[1]}",
    ]
    for arguments in (preprocess, evaluate):
        (code,) = [i for i in arguments["ProcessingInputs"] if i["InputName"] == "code"]
        uri = code["S3Input"]["S3Uri"]
        assert uri.startswith("s3://cdk-hnb659fds-assets-<AWS::AccountId>-eu-west-1/")
        script = uri.rsplit("/", 1)[1]
        entrypoint = arguments["AppSpecification"]["ContainerEntrypoint"]
        assert entrypoint == ["python3", f"/opt/ml/processing/input/code/{script}"]


def test_outputs_and_volumes_use_the_project_key(synthesized: Synthesized) -> None:
    definition = _definition(synthesized, DEV)
    key = "<import:Dev-RegistryStack:ExportsOutputFnGetAttArtifactStoreKey"
    for name in ("Preprocess", "Evaluate"):
        arguments = _step(definition, name)["Arguments"]
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"].startswith(key)
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"].startswith(key)
    train = _step(definition, "Train")["Arguments"]
    assert train["OutputDataConfig"]["KmsKeyId"].startswith(key)
    assert train["ResourceConfig"]["VolumeKmsKeyId"].startswith(key)


def test_spot_training_follows_the_config(synthesized: Synthesized) -> None:
    dev_train = _step(_definition(synthesized, DEV), "Train")["Arguments"]
    prod_train = _step(_definition(synthesized, PROD), "Train")["Arguments"]
    assert (
        "EnableManagedSpotTraining" not in dev_train or not dev_train["EnableManagedSpotTraining"]
    )
    assert prod_train["EnableManagedSpotTraining"] is True
    assert prod_train["CheckpointConfig"]["S3Uri"]["Std:Join"]["Values"][0].startswith(
        "s3://mlops-demo-prod-<AWS::AccountId>-eu-west-1/pipelines"
    )


def test_scheduler_facing_reference_names_this_pipeline(synthesized: Synthesized) -> None:
    reference = synthesized.stacks["dev"].pipeline.training.reference
    stack = Stack.of(reference)
    assert reference.pipeline_name == "mlops-demo-dev-training"
    assert flatten(stack.resolve(reference.pipeline_arn)) == (
        "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>:pipeline/mlops-demo-dev-training"
    )


# The execution role ---------------------------------------------------------------------------


def test_execution_role_is_assumed_by_sagemaker_only_and_has_no_managed_policies(
    synthesized: Synthesized,
) -> None:
    (role,) = [
        r
        for lid, r in synthesized.resources(DEV, "AWS::IAM::Role").items()
        if lid.startswith("TrainingPipelineExecutionRole")
    ]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_execution_role_policy_is_least_privilege(synthesized: Synthesized) -> None:
    statements = _statements(synthesized, DEV, "TrainingPipelineExecutionRoleDefaultPolicy")
    actions = {action for s in statements for action in as_list(s["Action"])}
    assert not {a for a in actions if a.endswith(":*") or a == "*"}
    resources_by_action: dict[str, set[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            resources_by_action.setdefault(action, set()).update(
                flatten(r) for r in as_list(statement["Resource"])
            )
    bucket = "arn:<AWS::Partition>:s3:::mlops-demo-dev-<AWS::AccountId>-eu-west-1"
    # Policy minimization merges object and bucket statements; only the prefix holds objects.
    assert resources_by_action["s3:PutObject"] - {bucket} == {f"{bucket}/pipelines/*"}
    assert f"{bucket}/input-data/*" in resources_by_action["s3:GetObject*"]
    assert f"{bucket}/*" not in resources_by_action["s3:GetObject*"]
    jobs = "arn:<AWS::Partition>:sagemaker:eu-west-1:<AWS::AccountId>"
    assert resources_by_action["sagemaker:CreateTrainingJob"] == {
        f"{jobs}:processing-job/pipelines-*",
        f"{jobs}:training-job/pipelines-*",
    }
    assert resources_by_action["sagemaker:CreateModelPackage"] == {
        f"{jobs}:model-package-group/mlops-demo-dev",
        f"{jobs}:model-package/mlops-demo-dev/*",
    }
    assert resources_by_action["ecr:BatchGetImage"] == {
        "arn:<AWS::Partition>:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn",
        "arn:<AWS::Partition>:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost",
    }
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert flatten(pass_role["Resource"]).startswith("<TrainingPipelineExecutionRole")
    (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}
    star = {a for s in statements if s["Resource"] == "*" for a in as_list(s["Action"])}
    assert star == {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


# Model-build CI/CD ----------------------------------------------------------------------------


def test_model_build_repository_is_seeded_and_retained(synthesized: Synthesized) -> None:
    repository = _only(synthesized, DEV, "AWS::CodeCommit::Repository")
    assert repository["Properties"]["RepositoryName"] == "mlops-demo-dev-model-build"
    assert repository["Properties"]["Code"]["BranchName"] == "main"
    assert "S3" in repository["Properties"]["Code"]
    assert repository["DeletionPolicy"] == "Retain"


def test_repository_content_is_the_project_without_local_state(synthesized: Synthesized) -> None:
    staged = [
        directory
        for directory in Path(synthesized.assembly.directory).glob("asset.*")
        if (directory / "app.py").is_file()
    ]
    assert len(staged) == 1
    (content,) = staged
    files = {p.relative_to(content).as_posix() for p in content.rglob("*") if p.is_file()}
    assert {"app.py", "cdk.json", "Makefile", "pipeline_code/preprocess.py"} <= files
    assert "pipeline_code/definitions/standard.json" in files
    assert not {f for f in files if f.startswith((".venv/", "node_modules/", "cdk.out", ".git/"))}
    assert not {f for f in files if "__pycache__" in f}
    # The build runs `make test`, which needs the snapshots and the test suites.
    assert any(f.startswith("tests/infra/__snapshots__/") for f in files)
    assert "tests/pipeline_code/test_definition.py" in files
    # Whatever .gitignore covers (local secrets, data) is never seeded into the repository.
    assert ".env" not in files
    # Only the project's own top-level entries: stray local files would change the template.
    top_level = {p.name for p in content.iterdir()}
    assert top_level == {e for e in MODEL_BUILD_CONTENT if (REPO_ROOT / e).exists()}


def test_seeded_content_lists_every_top_level_entry_git_tracks() -> None:
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout (e.g. the model-build CodeBuild's source artifact)")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {path.split("/")[0] for path in tracked} <= set(MODEL_BUILD_CONTENT)


def test_build_pipeline_is_v2_encrypted_and_runs_source_then_build(
    synthesized: Synthesized,
) -> None:
    pipeline = _only(synthesized, DEV, "AWS::CodePipeline::Pipeline")["Properties"]
    assert pipeline["PipelineType"] == "V2"
    assert [stage["Name"] for stage in pipeline["Stages"]] == ["Source", "TestDeployRun"]
    source, build = (stage["Actions"][0] for stage in pipeline["Stages"])
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source["Configuration"]["BranchName"] == "main"
    assert build["ActionTypeId"]["Provider"] == "CodeBuild"
    store = pipeline["ArtifactStore"]
    assert flatten(store["Location"]) == "mlops-demo-dev-<AWS::AccountId>-eu-west-1"
    assert store["EncryptionKey"]["Type"] == "KMS"


def test_codebuild_runs_the_ci_commands_then_deploys_this_stack_then_starts_the_pipeline(
    synthesized: Synthesized,
) -> None:
    project = _only(synthesized, DEV, "AWS::CodeBuild::Project")["Properties"]
    assert project["Environment"]["Image"] == "aws/codebuild/standard:7.0"
    assert "EncryptionKey" in project
    spec = json.loads(project["Source"]["BuildSpec"])
    commands = spec["phases"]["build"]["commands"]
    assert commands[:2] == ["make synth", "make test"]
    # The CLI pinned in package.json (make synth installs it), never a bare `npx cdk`.
    assert commands[2].startswith('node_modules/.bin/cdk deploy "$STACK_NAME" --exclusively')
    assert commands[3].startswith(
        'aws sagemaker start-pipeline-execution --pipeline-name "$PIPELINE_NAME"'
    )
    variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert variables == {"STACK_NAME": DEV, "PIPELINE_NAME": "mlops-demo-dev-training"}
    # Deployed from cdk.json alone, the build's deploy repeats no `-c` settings.
    assert " -c " not in commands[2]
    assert project["Cache"] == {"Type": "LOCAL", "Modes": ["LOCAL_CUSTOM_CACHE"]}
    assert spec["cache"]["paths"] == ["/root/.cache/pip/**/*", "/root/.npm/**/*"]


def test_the_builds_deploy_repeats_the_settings_given_with_c_and_quotes_them() -> None:
    spec = build_spec([("dev.label_column", "my label"), ("dev.metric_threshold", "0.85")])
    deploy = spec["phases"]["build"]["commands"][2]
    assert deploy.startswith(
        'node_modules/.bin/cdk deploy "$STACK_NAME" --exclusively '
        "-c 'dev.label_column=my label' -c dev.metric_threshold=0.85 --require-approval never"
    )


def test_codebuild_may_start_only_this_pipeline_and_assume_only_bootstrap_roles(
    synthesized: Synthesized,
) -> None:
    statements = _statements(synthesized, DEV, "ModelBuildRoleDefaultPolicy")
    (start,) = [s for s in statements if s["Action"] == "sagemaker:StartPipelineExecution"]
    assert flatten(start["Resource"]).endswith(":pipeline/mlops-demo-dev-training")
    (assume,) = [s for s in statements if s["Action"] == "sts:AssumeRole"]
    roles = sorted(flatten(r) for r in assume["Resource"])
    assert roles == sorted(
        f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-hnb659fds-{kind}-role-"
        "<AWS::AccountId>-eu-west-1"
        for kind in ("deploy", "file-publishing", "image-publishing", "lookup")
    )


def test_codeconnections_source_replaces_codecommit(dev_variant: Synthesized) -> None:
    # conftest.DEV_VARIANT_OVERRIDES: dev.source on CodeConnections, metric_threshold 0.85.
    connection = DEV_VARIANT_CONNECTION
    variant = dev_variant
    assert variant.resources(DEV, "AWS::CodeCommit::Repository") == {}
    pipeline = _only(variant, DEV, "AWS::CodePipeline::Pipeline")["Properties"]
    source = pipeline["Stages"][0]["Actions"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == connection
    assert source["Configuration"]["FullRepositoryId"] == "acme/churn-model-build"
    assert source["Configuration"]["BranchName"] == "main"
    assert len(variant.resources(PROD, "AWS::CodeCommit::Repository")) == 1
    # The build's own deploy keeps the connection: without the -c settings its first run
    # would switch the pipeline back to a new CodeCommit repository.
    project = _only(variant, DEV, "AWS::CodeBuild::Project")["Properties"]
    deploy = json.loads(project["Source"]["BuildSpec"])["phases"]["build"]["commands"][2]
    assert f"-c dev.source.connection_arn={connection}" in deploy
    assert "-c dev.source.provider=codeconnections" in deploy
    # Tunables come from cdk.json, the repository's source of truth (app.py says so).
    assert "metric_threshold" not in deploy
    prod_project = _only(variant, PROD, "AWS::CodeBuild::Project")["Properties"]
    assert (
        " -c "
        not in json.loads(prod_project["Source"]["BuildSpec"])["phases"]["build"]["commands"][2]
    )


# Failure alerts -------------------------------------------------------------------------------


def test_failed_and_stopped_executions_notify_the_topic(synthesized: Synthesized) -> None:
    rules = synthesized.resources(DEV, "AWS::Events::Rule")
    (rule,) = [r for lid, r in rules.items() if lid.startswith("FailureAlertsRule")]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == ["SageMaker Model Building Pipeline Execution Status Change"]
    assert pattern["detail"]["currentPipelineExecutionStatus"] == ["Failed", "Stopped"]
    (arn,) = pattern["detail"]["pipelineArn"]
    assert flatten(arn).endswith(":pipeline/mlops-demo-dev-training")
    (target,) = rule["Properties"]["Targets"]
    assert flatten(target["Arn"]).startswith(
        "<import:Dev-RegistryStack:ExportsOutputRefNotificationsTopic"
    )
    assert "RoleArn" in target
    assert (
        "[dev] SageMaker pipeline mlops-demo-dev-training"
        in target["InputTransformer"]["InputTemplate"]
    )
