"""app.py as the CDK CLI runs it: context in, templates (or one error per problem) out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk

import app as app_module
from tests.infra.conftest import REPO_ROOT, Synthesized


def _run_app(context: dict[str, Any], outdir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CDK_"))}
    env.update(
        CDK_CONTEXT_JSON=json.dumps(context),
        CDK_OUTDIR=str(outdir),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        MLOPS_NAG="false",
    )
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_build_adds_every_environment_and_wires_cdk_nag(synthesized: Synthesized) -> None:
    # The session synth is app.build(nag=True); test_compliance.py checks what it produced.
    app = synthesized.app
    assert [plugin.name for plugin in app.policy_validation_beta1] == ["AwsSolutions"]
    assert sorted(synthesized.stacks) == ["dev", "prod"]
    assert sorted(
        child.node.id for child in app.node.children if isinstance(child, cdk.Stack)
    ) == sorted(
        f"{env}-{kind}Stack"
        for env in ("Dev", "Prod")
        for kind in ("Registry", "Pipeline", "Deploy", "Trigger", "Monitor")
    )


def test_bad_config_exits_non_zero_with_readable_errors_and_no_templates(
    cdk_context: dict[str, Any], tmp_path: Path
) -> None:
    context = {**cdk_context, "prod.metric_threshold": "1.2", "dev.model_approval": "sometimes"}
    result = _run_app(context, tmp_path)
    assert result.returncode == 2
    assert (
        "[prod] metric_threshold: Input should be less than or equal to 1 (got '1.2')"
        in result.stderr
    )
    assert (
        "[dev] model_approval: Input should be 'manual' or 'automatic' (got 'sometimes')"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_settings_the_model_build_pipeline_would_revert_are_pointed_out(
    cdk_context: dict[str, Any], capsys: Any
) -> None:
    context = {
        **cdk_context,
        "dev.metric_threshold": "0.5",
        "dev.source.branch": "develop",
        "prod.training_instance_count": "2",
    }
    app_module._note_overrides_the_build_reverts(context, "dev")
    note = capsys.readouterr().err
    assert "reverts dev.metric_threshold=0.5;" in note
    # Where the pipeline lives is repeated by its own deploys, so it is not reverted.
    assert "dev.source.branch" not in note
    assert "prod." not in note
    app_module._note_overrides_the_build_reverts(cdk_context, "dev")
    assert capsys.readouterr().err == ""
