"""The committed pipeline definitions are exactly what the SageMaker SDK builds today.

Needs the SDK (requirements-pipeline.txt); skipped without it. The build runs once per test
run in a subprocess, started in the background when the tests are collected (sdk_build.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline_code import sdk_build

pytestmark = pytest.mark.sdk

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS_DIR = REPO_ROOT / "pipeline_code" / "definitions"
COMMITTED_FILES = ("image_uris.json", "spot.json", "standard.json")


@pytest.fixture(scope="module")
def build(pytestconfig: pytest.Config) -> dict[str, Any]:
    # Not pytest.importorskip: importing the SDK here would cost seconds and needs a region.
    if not sdk_build.sdk_installed():
        pytest.skip("the SageMaker Python SDK is not installed (requirements-pipeline.txt)")
    return sdk_build.result(pytestconfig)


def test_committed_definitions_are_what_the_sdk_builds(build: dict[str, Any]) -> None:
    assert sorted(build["files"]) == sorted(COMMITTED_FILES)
    assert build["drift"] == [], (
        "pipeline_code/definitions/ is stale: run `python -m pipeline_code.build_definition`"
        " and commit the result\n" + "\n".join(build["drift"])
    )
    # Byte for byte, read here independently of the build module.
    for name, content in build["files"].items():
        assert (DEFINITIONS_DIR / name).read_bytes() == content.encode("utf-8"), name


def test_build_is_deterministic(build: dict[str, Any]) -> None:
    assert build["same_twice"]


def test_build_makes_no_network_attempt(build: dict[str, Any]) -> None:
    assert build["attempts"] == []
    assert build["threads"] == []


def test_check_reports_drift_as_a_diff(build: dict[str, Any]) -> None:
    assert build["check_exit"] == 1
    output = build["check_output"]
    assert "standard.json (committed)" in output
    assert '-        "ExpireAfter": "P1D"' in output
    assert '+        "ExpireAfter": "P30D"' in output
    assert "1 pipeline definition file(s) out of date" in output


def test_build_refuses_hyperparameters_the_training_job_refuses(build: dict[str, Any]) -> None:
    refusal = build["hyperparameter_refusal"]
    assert refusal is not None
    assert "hyperparameters.json" in refusal
    assert "'objective'" in refusal and "binary:logistic" in refusal
    assert "'eta'" in refusal


@pytest.mark.parametrize("variant", ["standard", "spot"])
def test_training_instances_share_the_train_split_and_each_gets_all_of_validation(
    variant: str,
) -> None:
    """N training instances each read about 1/N of the train split's files and the whole
    validation split; one instance gets every file (tabular_model.py trains on either)."""
    definition = json.loads((DEFINITIONS_DIR / f"{variant}.json").read_text(encoding="utf-8"))
    (train,) = [step for step in definition["Steps"] if step["Name"] == "Train"]
    channels = {
        channel["ChannelName"]: channel for channel in train["Arguments"]["InputDataConfig"]
    }
    distribution = {
        name: channel["DataSource"]["S3DataSource"]["S3DataDistributionType"]
        for name, channel in channels.items()
    }
    assert distribution == {
        "train": "ShardedByS3Key",
        "validation": "FullyReplicated",
        "code": "FullyReplicated",
    }
    assert {channels[name]["InputMode"] for name in channels} == {"File"}
    assert train["Arguments"]["ResourceConfig"]["InstanceCount"] == {
        "Get": "Parameters.TrainingInstanceCount"
    }
