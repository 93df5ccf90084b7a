"""The one check with everything on: cdk-nag (AwsSolutions) and cfn-lint over every template.

cfn-lint covers what CloudFormation's built-in synth validation checks (resource schemas)
and more, so the built-in validation stays off here too; `CDK_VALIDATION=true make synth`
runs it on demand.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

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
# Schema, which is not a template). One test each, from one cfn-lint run over all of them.
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


# The three-account layout in a VPC (tests/infra/conftest.py): what it adds or changes.
THREE_ACCOUNT_TEMPLATES = [
    *(f"Dev-{kind}Stack.template.json" for kind in ("Registry", "Pipeline", "Deploy", "Monitor")),
    *(f"Dev-{stage}EndpointAccountStack.template.json" for stage in ("Staging", "Prod")),
    *(f"endpoint-templates/Dev-DeployStack/{stage}.json" for stage in ("staging", "prod")),
]
LINTED = [*SHIPPED_TEMPLATES, *(f"three-accounts/{name}" for name in THREE_ACCOUNT_TEMPLATES)]


def test_every_shipped_template_is_linted(checked_assembly: Path) -> None:
    shipped = {
        path.relative_to(checked_assembly).as_posix()
        for pattern in ("*.template.json", "endpoint-templates/*/*.json")
        for path in checked_assembly.glob(pattern)
        if not path.name.endswith(".schema.json")
    }
    assert shipped == set(SHIPPED_TEMPLATES)


@pytest.fixture(scope="module")
def cfn_lint_findings(
    checked_assembly: Path,
    three_accounts: Synthesized,
    environments: dict[str, EnvironmentConfig],
    pytestconfig: pytest.Config,
) -> dict[str, list[str]]:
    """Every shipped template linted in one cfn-lint run: its rules load once, not per template
    (about 40 % of the lint time). Each finding under the template it names; one that names
    none (a configuration error) is charged to every template linted. cfn-lint is imported
    here, not at collection: a worker that never lints saves the second it takes.

    A clean result is kept in pytest's cache under what decides it (cfn-lint's version, its
    settings, the template's bytes), so a run lints only the templates that changed since
    the last clean run (about a second each); a template with findings is always linted."""
    from cfnlint.api import ManualArgs, lint_by_config  # noqa: PLC0415
    from cfnlint.version import __version__ as cfn_lint_version  # noqa: PLC0415

    regions = sorted({config.region for config in environments.values()})
    paths = {str(checked_assembly / template): template for template in SHIPPED_TEMPLATES}
    layout = Path(three_accounts.assembly.directory)
    paths |= {str(layout / name): f"three-accounts/{name}" for name in THREE_ACCOUNT_TEMPLATES}
    settings = json.dumps([cfn_lint_version, CFN_LINT_IGNORED, regions]).encode()
    keys = {
        path: "cfn-lint/" + hashlib.sha256(settings + Path(path).read_bytes()).hexdigest()
        for path in paths
    }
    cache = pytestconfig.cache
    findings: dict[str, list[str]] = {}
    stale = []
    for path, template in paths.items():
        if cache is not None and cache.get(keys[path], None) == []:
            findings[template] = []
        else:
            stale.append(path)
    if not stale:
        return findings
    unplaced: list[str] = []
    findings |= {paths[path]: [] for path in stale}
    config = ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=regions, templates=stale)
    for match in lint_by_config(config):
        where = findings[paths[match.filename]] if match.filename in paths else unplaced
        where.append(str(match))
    for path in stale:
        findings[paths[path]] += unplaced
        if cache is not None and not findings[paths[path]]:
            cache.set(keys[path], [])
    return findings


@pytest.mark.parametrize("template", LINTED)
def test_cfn_lint_is_clean(template: str, cfn_lint_findings: dict[str, list[str]]) -> None:
    assert cfn_lint_findings[template] == []
