"""The one check with everything on: cdk-nag (AwsSolutions) and cfn-lint over every template.

cfn-lint covers what CloudFormation's built-in synth validation checks (resource schemas)
and more, so the built-in validation stays off here too; `CDK_VALIDATION=true make synth`
runs it on demand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

from config import EnvironmentConfig
from tests.infra.conftest import Synthesized

CFN_LINT_IGNORED = ["W3005"]  # CDK always emits redundant DependsOn alongside Ref/GetAtt


@pytest.fixture(scope="module")
def checked_assembly(synthesized: Synthesized) -> Path:
    """The session synth: app.py's build with cdk-nag on (an unacknowledged finding raises)."""
    return Path(synthesized.assembly.directory)


def test_cdk_nag_is_clean(checked_assembly: Path) -> None:
    report = json.loads((checked_assembly / "validation-report.json").read_text())
    failures = [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    assert failures == []
    assert len(list(checked_assembly.glob("*.template.json"))) == 10


# Every template that ships, by path in the assembly: the stacks, and the endpoint templates
# the deploy pipeline's CloudFormation actions run (beside each: its config files' JSON
# Schema, which is not a template). One test each, so the workers share the ~1 s per template.
SHIPPED_TEMPLATES = [
    *(
        f"{env}-{kind}Stack.template.json"
        for env in ("Dev", "Prod")
        for kind in ("Registry", "Pipeline", "Deploy", "Trigger", "Monitor")
    ),
    *(
        f"endpoint-templates/{env}-DeployStack/{stage}.json"
        for env in ("Dev", "Prod")
        for stage in ("staging", "prod")
    ),
]


def test_every_shipped_template_is_linted(checked_assembly: Path) -> None:
    shipped = {
        path.relative_to(checked_assembly).as_posix()
        for pattern in ("*.template.json", "endpoint-templates/*/*.json")
        for path in checked_assembly.glob(pattern)
        if not path.name.endswith(".schema.json")
    }
    assert shipped == set(SHIPPED_TEMPLATES)


@pytest.mark.parametrize("template", SHIPPED_TEMPLATES)
def test_cfn_lint_is_clean(
    template: str, checked_assembly: Path, environments: dict[str, EnvironmentConfig]
) -> None:
    regions = sorted({config.region for config in environments.values()})
    config = ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=regions)
    assert [str(match) for match in lint_file(checked_assembly / template, config)] == []
