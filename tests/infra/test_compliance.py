"""The one check with everything on: CloudFormation validation, cdk-nag and cfn-lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from config import load_environments
from stacks import add_environment

CFN_LINT_IGNORED = ["W3005"]  # CDK always emits redundant DependsOn alongside Ref/GetAtt


@pytest.fixture(scope="module")
def checked_assembly(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthesizes with built-in validation and cdk-nag on; any finding raises here."""
    outdir = tmp_path_factory.mktemp("checked")
    app = cdk.App(context=cdk_context, outdir=str(outdir), builtin_cloud_formation_validation=True)
    for config in load_environments(app.node.get_all_context()):
        add_environment(app, config=config)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return outdir


def test_cdk_nag_and_cloudformation_validation_are_clean(checked_assembly: Path) -> None:
    report = json.loads((checked_assembly / "validation-report.json").read_text())
    failures = [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    assert failures == []
    assert sorted(p.name for p in checked_assembly.glob("*.template.json"))


def test_cfn_lint_is_clean(checked_assembly: Path, environments: dict[str, Any]) -> None:
    templates = sorted(checked_assembly.glob("*.template.json"))
    assert templates
    regions = sorted({config.region for config in environments.values()})
    config = ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=regions)
    findings = [
        f"{template.name}: {match}"
        for template in templates
        for match in lint_file(template, config)
    ]
    assert findings == []
