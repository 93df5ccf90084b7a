"""The SageMaker SDK build that test_definition.py checks, started in the background as soon
as the tests are collected, once per test run (by the first pytest-xdist worker, or the only
process): it takes ~7 s of one core, which then overlaps other tests, and with worksteal the
definition tests may run on both workers, each of which would otherwise build its own.

The build runs in a subprocess: build_definition.py rewrites its process environment for the
offline build (fake credentials would make other tests' CDK synths look up the account), and
the socket functions are disabled there before the SDK is imported, so any network attempt is
recorded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests/pipeline_code/test_definition.py"
RESULT = "result.json"
# Folders of earlier runs older than this are removed when a run starts one.
STALE_SECONDS = 24 * 3600

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

# Runs PROBE and writes what it printed, its exit code and its time to RESULT in one rename,
# so a reader never sees half a file and a crashed probe is reported, not waited for.
RUNNER = r"""
import json, os, subprocess, sys, time
folder, probe = sys.argv[1], sys.argv[2]
started = time.perf_counter()
result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                        timeout=300, check=False)
partial = os.path.join(folder, "result.partial")
with open(partial, "w") as handle:
    json.dump({"returncode": result.returncode, "stdout": result.stdout,
               "stderr": result.stderr, "seconds": time.perf_counter() - started}, handle)
os.replace(partial, os.path.join(folder, "result.json"))
"""


def sdk_installed() -> bool:
    return importlib.util.find_spec("sagemaker.mlops") is not None


def _folder(config: pytest.Config) -> Path:
    # Every worker of one run has the same testrunuid; a run without xdist is one process.
    workerinput = getattr(config, "workerinput", None)
    run = workerinput["testrunuid"] if workerinput else f"solo-{os.getpid()}"
    return Path(tempfile.gettempdir()) / f"mlops-sdk-build-{run}"


def _remove_stale(now: float) -> None:
    for folder in Path(tempfile.gettempdir()).glob("mlops-sdk-build-*"):
        if now - folder.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)


def start(session: pytest.Session) -> None:
    """Start the build if this process is the first worker (or the only process) and the
    definition tests were selected."""
    workerinput = getattr(session.config, "workerinput", None)
    if workerinput is not None and workerinput.get("workerid") != "gw0":
        return
    if not sdk_installed() or not any(item.nodeid.startswith(MODULE) for item in session.items):
        return
    _remove_stale(time.time())
    folder = _folder(session.config)
    folder.mkdir(exist_ok=True)
    subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(folder), PROBE],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def result(config: pytest.Config, timeout: float = 330) -> dict[str, Any]:
    """The build's report, once the background build has written it."""
    path = _folder(config) / RESULT
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if time.monotonic() > deadline:
            pytest.fail(f"the SDK build did not finish within {timeout:.0f} s ({path})")
        time.sleep(0.05)
    outcome = json.loads(path.read_text(encoding="utf-8"))
    assert outcome["returncode"] == 0, outcome["stderr"][-5000:]
    report: dict[str, Any] = json.loads(outcome["stdout"].splitlines()[-1])
    report["seconds"]["subprocess"] = outcome["seconds"]
    return report
