"""Exact cdk-nag acknowledgments for the IAM wildcards a construct needs, each with a reason.

cdk-nag 3 matches acknowledgments by exact id, e.g.
``AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<bucket>/pipelines/*]``. Writing those
strings by hand repeats what the grants already say and breaks whenever a logical id moves,
so this module computes them the way cdk-nag does (resolve the policy, flatten references)
and requires a documented reason for every one: a wildcard nobody explained fails synth.

Call it at the end of a construct, once its grants are complete. Wildcard resources must not
contain references to other stacks (cdk-nag sees those as imports, this module cannot):
reference shared buckets by name (see ``ArtifactStore.bucket_for``).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

WILDCARD_RULE = "AwsSolutions-IAM5"
# CDK's CodePipeline Lambda invoke action grants the invoked function these on "*".
CODEPIPELINE_JOB_RESULTS_REASON = (
    "codepipeline:PutJobSuccessResult/PutJobFailureResult (granted by CDK's Lambda invoke "
    "action) have no resource-level permissions"
)


def acknowledge_iam_wildcards(scope: Construct, reasons: Mapping[str, str]) -> list[str]:
    """Acknowledges every IAM5 finding of the policies under ``scope``.

    ``reasons`` maps a finding pattern (fnmatch syntax, e.g. ``Action::s3:GetObject*`` or
    ``Resource::*/pipelines/*``) to the reason a reviewer needs. Returns the acknowledged
    finding ids; raises ValueError naming any finding without a reason.
    """
    acknowledged: list[str] = []
    unexplained: list[str] = []
    for policy in _policies(scope):
        document = Stack.of(policy).resolve(policy.policy_document)
        acknowledgments: list[Acknowledgment] = []
        for finding in sorted(wildcard_findings(document)):
            reason = _reason_for(finding, reasons)
            if reason is None:
                unexplained.append(f"{policy.node.path}: {finding}")
                continue
            rule_id = f"{WILDCARD_RULE}[{finding}]"
            acknowledgments.append(Acknowledgment(id=rule_id, reason=reason))
            acknowledged.append(rule_id)
        if acknowledgments:
            # One call per policy: every jsii round-trip costs synth time.
            Validations.of(policy).acknowledge(*acknowledgments)
    if unexplained:
        raise ValueError(
            "IAM wildcards without a documented reason (add one to the reasons map, or "
            "narrow the grant):\n  " + "\n  ".join(unexplained)
        )
    return acknowledged


def finding_for(scope: IConstruct, arn: str) -> str:
    """The finding id of a wildcard resource as seen from ``scope``'s stack:
    ``Resource::arn:<AWS::Partition>:s3:::bucket/prefix/*``."""
    return f"Resource::{flatten_reference(Stack.of(scope).resolve(arn))}"


def wildcard_findings(document: Mapping[str, Any]) -> set[str]:
    """The findings cdk-nag's IAM5 rule reports for one resolved policy document."""
    findings: set[str] = set()
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        findings.update(
            f"Action::{action}" for action in _as_list(statement.get("Action")) if "*" in action
        )
        for resource in _as_list(statement.get("Resource")):
            flat = flatten_reference(resource)
            if "*" in flat:
                findings.add(f"Resource::{flat}")
    return findings


def flatten_reference(node: Any) -> str:  # noqa: PLR0911 (one return per intrinsic)
    """A CloudFormation value as cdk-nag prints it: ``<LogicalId.Attr>``, ``<AWS::Region>``."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, Mapping):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def _reason_for(finding: str, reasons: Mapping[str, str]) -> str | None:
    for pattern, reason in reasons.items():
        if finding == pattern or fnmatch.fnmatchcase(finding, pattern):
            return reason
    return None


def _policies(scope: IConstruct) -> Iterable[iam.CfnPolicy]:
    for construct in scope.node.find_all():
        if isinstance(construct, iam.CfnPolicy):
            yield construct


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
