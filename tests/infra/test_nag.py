"""components/shared/nag.py: every IAM5 finding gets the reason written for it, only that."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks

from components.shared.nag import (
    ANY_RESOURCE_FINDING,
    acknowledge_iam_wildcards,
    actions_on_any_resource,
    finding_for,
    flatten_reference,
    wildcard_findings,
)
from tests.infra.conftest import Synthesized

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
LOGICAL_ID = "aws:cdk:logicalId"
RULE = re.compile(r"^(?:Annotation::)?AwsSolutions-IAM5\[(?P<finding>.*)\]$")
LOGS = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:*"
OBJECTS = "arn:aws:s3:::bucket/pipelines/*"
# An action the IAM reference lists without resource types, so it is granted on "*".
TOKEN = "ecr:GetAuthorizationToken"


def _stack() -> cdk.Stack:
    app = cdk.App(outdir=None, builtin_cloud_formation_validation=False)
    return cdk.Stack(app, "Nag", env=cdk.Environment(account="123456789012", region="eu-west-1"))


def _policy(scope: cdk.Stack, id_: str, *statements: tuple[list[str], list[str]]) -> iam.Policy:
    role = iam.Role(scope, f"{id_}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    return iam.Policy(
        scope,
        id_,
        roles=[role],
        statements=[
            iam.PolicyStatement(actions=actions, resources=resources)
            for actions, resources in statements
        ],
    )


def _acknowledgments(stack: cdk.Stack) -> dict[str, dict[str, str]]:
    """Policy construct path -> {finding: reason}, as cdk-nag reads them from the assembly."""
    assembly = cdk.App.of(stack).synth()  # type: ignore[union-attr]
    return _read_acknowledgments(Path(assembly.directory), stack.artifact_id)


def _read_acknowledgments(directory: Path, artifact_id: str) -> dict[str, dict[str, str]]:
    metadata = json.loads((directory / f"{artifact_id}.metadata.json").read_text())
    found: dict[str, dict[str, str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] != ACKNOWLEDGED:
                continue
            for rule_id, reason in entry["data"].items():
                match = RULE.match(rule_id)
                if match:
                    found.setdefault(path, {})[match["finding"]] = reason
    return found


# ---------------------------------------------------------------------------------------------
# The module on small stacks


def test_each_finding_gets_the_reason_written_for_it() -> None:
    stack = _stack()
    _policy(stack, "Jobs", (["s3:GetObject*"], [OBJECTS]), (["logs:PutLogEvents"], [LOGS]))
    reasons = {
        "Action::s3:GetObject*": "the object actions of grant_read",
        f"Resource::{OBJECTS}": "outputs of every execution",
        f"Resource::{LOGS}": "one stream per job",
    }

    acknowledged = acknowledge_iam_wildcards(stack, reasons)

    assert sorted(acknowledged) == sorted(f"AwsSolutions-IAM5[{key}]" for key in reasons)
    assert _acknowledgments(stack) == {"/Nag/Jobs/Resource": reasons}


def test_bare_star_explains_exactly_the_actions_a_policy_grants_on_it() -> None:
    stack = _stack()
    _policy(stack, "Pull", ([TOKEN], ["*"]), (["logs:PutLogEvents"], [LOGS]))
    _policy(stack, "Report", (["codepipeline:PutJobSuccessResult"], ["*"]))

    acknowledge_iam_wildcards(
        stack,
        {f"Resource::{LOGS}": "one stream per job"},
        any_resource={
            TOKEN: "login tokens have no resource-level permissions",
            "codepipeline:PutJobSuccessResult": "job results have no resource-level permissions",
        },
    )

    assert _acknowledgments(stack) == {
        "/Nag/Pull/Resource": {
            ANY_RESOURCE_FINDING: f"{TOKEN}: login tokens have no resource-level permissions",
            f"Resource::{LOGS}": "one stream per job",
        },
        "/Nag/Report/Resource": {
            ANY_RESOURCE_FINDING: "codepipeline:PutJobSuccessResult: job results have no "
            "resource-level permissions",
        },
    }


def test_a_bare_star_reason_never_covers_another_wildcard() -> None:
    # The defect: "Resource::*" used to match every resource finding as a pattern.
    stack = _stack()
    _policy(stack, "Pull", ([TOKEN], ["*"]), (["logs:PutLogEvents"], [LOGS]))

    with pytest.raises(ValueError, match=re.escape(f"/Pull/Resource: Resource::{LOGS}")):
        acknowledge_iam_wildcards(stack, {}, any_resource={TOKEN: "no resource-level permissions"})


def test_the_bare_star_is_not_a_reasons_key() -> None:
    stack = _stack()
    _policy(stack, "Pull", ([TOKEN], ["*"]), (["logs:PutLogEvents"], [LOGS]))

    with pytest.raises(ValueError, match="explained per action"):
        acknowledge_iam_wildcards(stack, {"Resource::*": "tokens have no resource-level perms"})


def test_keys_are_ids_not_patterns() -> None:
    stack = _stack()
    _policy(stack, "Read", (["s3:GetObject*"], ["arn:aws:s3:::bucket/data/*"]))

    with pytest.raises(ValueError) as raised:
        acknowledge_iam_wildcards(
            stack,
            {"Action::s3:*": "any S3 action", "Resource::*/data/*": "any data prefix"},
        )

    message = str(raised.value)
    assert "Nag/Read/Resource: Action::s3:GetObject*" in message
    assert "Nag/Read/Resource: Resource::arn:aws:s3:::bucket/data/*" in message
    assert "reason for Action::s3:* explains no finding" in message
    assert "reason for Resource::*/data/* explains no finding" in message


def test_an_unexplained_wildcard_names_its_policy_and_finding() -> None:
    stack = _stack()
    _policy(stack, "Jobs", (["s3:GetObject*"], [OBJECTS]), (["logs:PutLogEvents"], [LOGS]))

    with pytest.raises(ValueError) as raised:
        acknowledge_iam_wildcards(stack, {"Action::s3:GetObject*": "grant_read"})

    assert str(raised.value).splitlines()[1:] == [
        f"  Nag/Jobs/Resource: Resource::{LOGS}",
        f"  Nag/Jobs/Resource: Resource::{OBJECTS}",
    ]


def test_an_action_on_star_without_a_reason_is_named() -> None:
    stack = _stack()
    _policy(stack, "Pull", ([TOKEN, "cloudwatch:PutMetricData"], ["*"]))

    with pytest.raises(ValueError, match=r"Resource::\* granted for cloudwatch:PutMetricData \("):
        acknowledge_iam_wildcards(stack, {}, any_resource={TOKEN: "no resource-level permissions"})


@pytest.mark.parametrize(
    ("reasons", "any_resource", "stale"),
    [
        ({f"Resource::{OBJECTS}": "outputs", "Action::s3:GetObject*": "grant_read"}, {}, "reason "),
        ({f"Resource::{OBJECTS}": "outputs"}, {TOKEN: "tokens"}, "any_resource reason "),
    ],
    ids=["finding", "action-on-star"],
)
def test_a_reason_that_explains_nothing_is_reported(
    reasons: dict[str, str], any_resource: dict[str, str], stale: str
) -> None:
    stack = _stack()
    _policy(stack, "Write", (["s3:PutObject"], [OBJECTS]))

    with pytest.raises(ValueError, match=f"Nag: {stale}for .* explains no .*stale or mistyped"):
        acknowledge_iam_wildcards(stack, reasons, any_resource=any_resource)


def test_optional_reasons_may_explain_nothing() -> None:
    stack = _stack()
    _policy(stack, "Write", (["s3:PutObject"], [OBJECTS]))

    acknowledged = acknowledge_iam_wildcards(
        stack,
        {f"Resource::{OBJECTS}": "outputs"},
        optional_reasons={"Action::s3:GetObject*": "only with data capture"},
    )

    assert acknowledged == [f"AwsSolutions-IAM5[Resource::{OBJECTS}]"]


def test_a_blank_reason_is_no_reason() -> None:
    stack = _stack()
    _policy(stack, "Write", (["s3:PutObject"], [OBJECTS]))

    with pytest.raises(ValueError, match="is blank"):
        acknowledge_iam_wildcards(stack, {f"Resource::{OBJECTS}": "  "})


def test_finding_ids_are_the_ones_cdk_nag_reports() -> None:
    """References of every kind, acknowledged through finding_for, pass the real rule."""
    stack = _stack()
    target = iam.Role(stack, "Target", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    prefix = cdk.CfnParameter(stack, "Prefix", type="String")
    arns = [
        f"{target.role_arn}/*",  # Fn::Join of Fn::GetAtt
        f"arn:aws:s3:::bucket/{prefix.value_as_string}/*",  # Fn::Join of Ref
        cdk.Fn.sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:x:*"),
        stack.format_arn(service="sagemaker", resource="model-package", resource_name="g/*"),
    ]
    _policy(stack, "Refs", (["s3:GetObject*"], arns), ([TOKEN], ["*"]))
    acknowledge_iam_wildcards(
        stack,
        {
            "Action::s3:GetObject*": "object actions",
            **{finding_for(stack, arn): f"wildcard {index}" for index, arn in enumerate(arns)},
        },
        any_resource={TOKEN: "no resource-level permissions"},
    )
    app = cdk.App.of(stack)
    assert app is not None
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))

    assembly = app.synth()  # raises on any finding left unacknowledged

    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    assert [v for plugin in report["pluginReports"] for v in plugin["violations"]] == []


JOIN_REF = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b/*"]]}
SUB = {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:x:*"}


@pytest.mark.parametrize(
    ("node", "flat"),
    [
        (JOIN_REF, "arn:<AWS::Partition>:s3:::b/*"),
        ({"Fn::Join": [":", ["a", "b"]]}, "a:b"),
        (SUB, "arn:<AWS::Partition>:logs:<AWS::Region>:x:*"),
        ({"Fn::GetAtt": ["Function1A2B", "Arn"]}, "<Function1A2B.Arn>"),
        ({"Ref": "Bucket83908E77"}, "<Bucket83908E77>"),
        ({"Fn::ImportValue": "Shared:ExportsOutputRefBucket"}, "Shared:ExportsOutputRefBucket"),
        ("arn:${AWS::Partition}:s3:::b", "arn:<AWS::Partition>:s3:::b"),
        (None, ""),
        ({"Fn::Select": [0, ["a"]]}, '{"Fn::Select":[0,["a"]]}'),
    ],
    ids=["join-ref", "join", "sub", "getatt", "ref", "import", "string", "none", "other"],
)
def test_flatten_reference(node: Any, flat: str) -> None:
    assert flatten_reference(node) == flat


# ---------------------------------------------------------------------------------------------
# The whole app: what its constructs acknowledged


@pytest.fixture(scope="module")
def acknowledgments(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, str]]:
    """(stack name, policy logical id) -> {finding: reason} for every policy of the app."""
    directory = Path(synthesized.assembly.directory)
    found: dict[tuple[str, str], dict[str, str]] = {}
    for stack_name in synthesized.templates:
        metadata = json.loads((directory / f"{stack_name}.metadata.json").read_text())
        for path, reasons in _read_acknowledgments(directory, stack_name).items():
            (logical_id,) = [e["data"] for e in metadata[path] if e["type"] == LOGICAL_ID]
            found[stack_name, logical_id] = reasons
    return found


def test_each_policy_acknowledges_exactly_its_own_wildcards(
    synthesized: Synthesized, acknowledgments: dict[tuple[str, str], dict[str, str]]
) -> None:
    findings = {
        (stack, lid): wildcard_findings(policy["Properties"]["PolicyDocument"])
        for stack in synthesized.templates
        for lid, policy in synthesized.resources(stack, "AWS::IAM::Policy").items()
    }
    granted = {policy: found for policy, found in findings.items() if found}

    assert {policy: set(reasons) for policy, reasons in acknowledgments.items()} == granted
    assert sum(len(found) for found in granted.values()) > 200


def test_each_bare_star_reason_names_exactly_the_actions_its_policy_grants_on_star(
    synthesized: Synthesized, acknowledgments: dict[tuple[str, str], dict[str, str]]
) -> None:
    checked = 0
    for (stack, lid), reasons in acknowledgments.items():
        document = synthesized.templates[stack]["Resources"][lid]["Properties"]["PolicyDocument"]
        granted = actions_on_any_resource(document)
        if ANY_RESOURCE_FINDING not in reasons:
            assert not granted, (stack, lid)
            continue
        named = set(re.findall(r"\b[a-z0-9-]+:[A-Z][A-Za-z0-9]+\b", reasons[ANY_RESOURCE_FINDING]))
        assert named == granted, (stack, lid)
        checked += 1
    assert checked >= 10


def test_a_bare_star_reason_is_never_attached_to_another_finding(
    acknowledgments: dict[tuple[str, str], dict[str, str]],
) -> None:
    star_reasons = {
        r[ANY_RESOURCE_FINDING] for r in acknowledgments.values() if ANY_RESOURCE_FINDING in r
    }
    misplaced = [
        (policy, finding)
        for policy, reasons in acknowledgments.items()
        for finding, reason in reasons.items()
        if finding != ANY_RESOURCE_FINDING
        and (reason in star_reasons or "no resource-level permissions" in reason)
    ]
    assert star_reasons
    assert misplaced == []
