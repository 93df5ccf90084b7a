"""The one check with everything on: cdk-nag (AwsSolutions) and cfn-lint over every template.

cfn-lint covers what CloudFormation's built-in synth validation checks (resource schemas)
and more, so the built-in validation stays off here too; `CDK_VALIDATION=true make synth`
runs it on demand.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cfnlint.api import ManualArgs, lint_file

import app as app_module
from config import EnvironmentConfig

CFN_LINT_IGNORED = ["W3005"]  # CDK always emits redundant DependsOn alongside Ref/GetAtt


@pytest.fixture(scope="module")
def checked_assembly(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthesizes exactly as app.py does (cdk-nag on); an unacknowledged finding raises here."""
    outdir = tmp_path_factory.mktemp("checked")
    app = cdk.App(context=cdk_context, outdir=str(outdir), builtin_cloud_formation_validation=False)
    app_module.build(app, nag=True)
    app.synth()
    return outdir


def test_cdk_nag_is_clean(checked_assembly: Path) -> None:
    report = json.loads((checked_assembly / "validation-report.json").read_text())
    failures = [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    assert failures == []
    assert len(list(checked_assembly.glob("*.template.json"))) == 8


def _lint(template: Path, regions: list[str]) -> list[str]:
    config = ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=regions)
    return [f"{template.name}: {match}" for match in lint_file(template, config)]


def test_cfn_lint_is_clean_on_every_shipped_template(
    checked_assembly: Path, environments: dict[str, EnvironmentConfig]
) -> None:
    # The stacks, plus the endpoint templates the deploy pipeline's CloudFormation actions run.
    # (Beside each endpoint template: its config files' JSON Schema, not a template.)
    templates = sorted(checked_assembly.glob("*.template.json")) + sorted(
        p
        for p in checked_assembly.glob("endpoint-templates/*/*.json")
        if not p.name.endswith(".schema.json")
    )
    assert len(templates) == 8 + 4
    regions = sorted({config.region for config in environments.values()})
    # cfn-lint takes about a second per template; both cores halve that.
    with ProcessPoolExecutor(max_workers=2) as pool:
        findings = [
            f for result in pool.map(_lint, templates, [regions] * len(templates)) for f in result
        ]
    assert findings == []
