"""The committed pipeline definitions are exactly what the SageMaker SDK builds today.

Needs the SDK (requirements-pipeline.txt); skipped without it. The build runs once per session
in a subprocess: build_definition.py rewrites its process environment for the offline build
(fake credentials would make other tests' CDK synths look up the account), and the socket
functions are disabled there before the SDK is imported, so any network attempt is recorded.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.sdk

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS_DIR = REPO_ROOT / "pipeline_code" / "definitions"
COMMITTED_FILES = ("image_uris.json", "spot.json", "standard.json")

# Runs in the subprocess: refuse and record every connection and DNS lookup, build twice, and
# run the --check command line against a tampered copy of what it built.
PROBE = r"""
import json, socket, tempfile, threading, time
from pathlib import Path

attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args)[:200])
    raise OSError("network access disabled by test_definition.py")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

started = time.perf_counter()
from pipeline_code import build_definition as bd
import_seconds = time.perf_counter() - started

first = bd.build_all()
# A second build of the larger variant shows the output does not depend on process state
# (the image table is plain data; the spot variant differs only in the Train step).
second_standard = bd.to_json(bd.build_definition(spot=False))

with tempfile.TemporaryDirectory() as tmp:
    tampered = Path(tmp)
    for name, content in first.files.items():
        (tampered / name).write_text(content)
    standard = tampered / "standard.json"
    standard.write_text(standard.read_text().replace('"P30D"', '"P1D"', 1))
    lines = []
    # The command line's --check path on what was just built (a third build would only
    # cost time: determinism is checked above).
    bd.build_all = lambda: first
    check_exit = bd.main(["--check", "--definitions-dir", str(tampered)], out=lines.append)

# `make pipeline` refuses hyperparameters the training job would refuse, with the same words.
with tempfile.TemporaryDirectory() as tmp:
    bad = Path(tmp) / "hyperparameters.json"
    bad.write_text(json.dumps({"objective": "reg:squarederror", "num_round": 10, "eta": 2}))
    try:
        bd._load_hyperparameters(bad)
        refusal = None
    except ValueError as error:
        refusal = str(error)

# Telemetry used to be sent from background threads: give stragglers a chance to show up.
for thread in threading.enumerate():
    if thread is not threading.main_thread():
        thread.join(timeout=5)

print(json.dumps({
    "files": first.files,
    "same_twice": first.files["standard.json"] == second_standard,
    "drift": bd.drift(first.files, bd.DEFINITIONS_DIR),
    "check_exit": check_exit,
    "check_output": "\n".join(lines),
    "hyperparameter_refusal": refusal,
    "attempts": attempts,
    "threads": [t.name for t in threading.enumerate() if t is not threading.main_thread()],
    "seconds": {"sdk_import": bd.SDK_IMPORT_SECONDS, "module_import": import_seconds,
                **first.seconds},
}))
"""


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    # Not pytest.importorskip: importing the SDK here would cost seconds and needs a region.
    if importlib.util.find_spec("sagemaker.mlops") is None:
        pytest.skip("the SageMaker Python SDK is not installed (requirements-pipeline.txt)")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    report["seconds"]["subprocess"] = time.perf_counter() - started
    return report


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
