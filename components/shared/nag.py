"""Exact cdk-nag acknowledgments for the IAM wildcards a construct needs, each with its reason.

cdk-nag 3 matches acknowledgments by exact id, e.g.
``AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<bucket>/pipelines/*]``. Writing those
strings by hand repeats what the grants already say and breaks whenever a logical id moves,
so this module computes them the way cdk-nag does (resolve the policy, flatten references)
and requires a documented reason for every one: a wildcard nobody explained fails synth.

Reasons are looked up by exact finding id, never by pattern: ``Action::s3:GetObject*`` and
``Resource::arn:...:log-group:/aws/sagemaker/TrainingJobs:*`` are literal ids that happen to
contain ``*``, and a pattern key would hand its reason to findings it was not written for.
The bare ``*`` resource (``Resource::*``) is explained per action instead, because one policy
may grant several unrelated actions on it: its acknowledgment names exactly the actions that
policy grants on ``*``, each with its own reason. A reason that explains no finding is an
error too (it is stale or mistyped), unless it is passed as optional.

Call it at the end of a construct, once its grants are complete. Wildcard resources must not
contain references to other stacks (cdk-nag sees those as imports, this module cannot):
reference shared buckets by name (see ``ArtifactStore.bucket_for``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

WILDCARD_RULE = "AwsSolutions-IAM5"
ANY_RESOURCE = "*"
ANY_RESOURCE_FINDING = f"Resource::{ANY_RESOURCE}"
# CDK's CodePipeline Lambda invoke action grants the invoked function these on "*".
CODEPIPELINE_JOB_RESULTS = {
    action: "CodePipeline job results have no resource-level permissions (granted by CDK's "
    "Lambda invoke action; the job id in the call identifies the job)"
    for action in ("codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult")
}


def acknowledge_iam_wildcards(
    scope: Construct,
    reasons: Mapping[str, str],
    *,
    any_resource: Mapping[str, str] | None = None,
    optional_reasons: Mapping[str, str] | None = None,
) -> list[str]:
    """Acknowledges every IAM5 finding of the policies under ``scope``, each with its reason.

    ``reasons`` maps an exact finding id (``Action::s3:GetObject*``, or
    ``finding_for(scope, arn)`` for a resource) to the reason a reviewer needs.
    ``any_resource`` maps each action granted on the bare ``*`` resource to why it is: the
    ``Resource::*`` finding of a policy is acknowledged with the reasons of exactly the
    actions that policy grants on ``*``. ``optional_reasons`` are for findings that exist in
    some configurations only; use them sparingly, a stale reason there goes unnoticed.

    Returns the acknowledged rule ids. Raises ValueError naming every finding (policy path
    and id) or ``*`` action without a reason, and every reason that explained nothing.
    """
    book = _ReasonBook(scope.node.path, reasons, any_resource or {}, optional_reasons or {})
    acknowledged: list[str] = []
    for policy in _policies(scope):
        document = Stack.of(policy).resolve(policy.policy_document)
        acknowledgments = [
            Acknowledgment(id=f"{WILDCARD_RULE}[{finding}]", reason=reason)
            for finding in sorted(wildcard_findings(document))
            if (reason := book.reason_for(policy.node.path, finding, document)) is not None
        ]
        if acknowledgments:
            # One call per policy: every jsii round-trip costs synth time.
            Validations.of(policy).acknowledge(*acknowledgments)
            acknowledged += [acknowledgment.id for acknowledgment in acknowledgments]
    problems = book.problems + book.unused()
    if problems:
        raise ValueError(
            "IAM wildcards and their documented reasons do not match (explain each finding "
            "exactly, narrow the grant, or drop the stale reason):\n  " + "\n  ".join(problems)
        )
    return acknowledged


class _ReasonBook:
    """The reasons of one construct: which finding each explains, which were used, and the
    problems found so far (all are reported at once)."""

    def __init__(
        self,
        path: str,
        reasons: Mapping[str, str],
        any_resource: Mapping[str, str],
        optional_reasons: Mapping[str, str],
    ) -> None:
        self.path = path
        self.reasons = {**optional_reasons, **reasons}
        self.required = set(reasons)
        self.any_resource = any_resource
        self.used_reasons: set[str] = set()
        self.used_actions: set[str] = set()
        if ANY_RESOURCE_FINDING in self.reasons:
            raise ValueError(
                f"{path}: {ANY_RESOURCE_FINDING!r} is explained per action; pass "
                "any_resource={action: reason} instead"
            )
        self.problems = [
            f"{path}: the reason for {key} is blank"
            for key, reason in {**self.reasons, **any_resource}.items()
            if not reason.strip()
        ]

    def reason_for(self, policy_path: str, finding: str, document: Mapping[str, Any]) -> str | None:
        """The reason for ``finding``, or None with the problem recorded."""
        if finding == ANY_RESOURCE_FINDING:
            return self._any_resource_reason(policy_path, document)
        if finding in self.reasons:
            self.used_reasons.add(finding)
            return self.reasons[finding]
        self.problems.append(f"{policy_path}: {finding}")
        return None

    def _any_resource_reason(self, policy_path: str, document: Mapping[str, Any]) -> str | None:
        actions = sorted(actions_on_any_resource(document))
        missing = [action for action in actions if action not in self.any_resource]
        if missing:
            self.problems.append(
                f"{policy_path}: {ANY_RESOURCE_FINDING} granted for {', '.join(missing)} "
                "(add each action to any_resource, or scope it to resources)"
            )
            return None
        self.used_actions.update(actions)
        return _any_resource_reason({action: self.any_resource[action] for action in actions})

    def unused(self) -> list[str]:
        """Reasons that explained nothing: stale or mistyped (optional ones may go unused)."""
        stale = [
            f"{self.path}: reason for {key} explains no finding (stale or mistyped)"
            for key in self.reasons
            if key in self.required and key not in self.used_reasons
        ]
        return stale + [
            f"{self.path}: any_resource reason for {action} explains no action granted on "
            f"{ANY_RESOURCE!r} (stale or mistyped)"
            for action in self.any_resource
            if action not in self.used_actions
        ]


def finding_for(scope: IConstruct, arn: str) -> str:
    """The finding id of a wildcard resource as seen from ``scope``'s stack:
    ``Resource::arn:<AWS::Partition>:s3:::bucket/prefix/*``."""
    return f"Resource::{flatten_reference(Stack.of(scope).resolve(arn))}"


def wildcard_findings(document: Mapping[str, Any]) -> set[str]:
    """The findings cdk-nag's IAM5 rule reports for one resolved policy document."""
    findings: set[str] = set()
    for statement in _allow_statements(document):
        findings.update(
            f"Action::{action}" for action in _as_list(statement.get("Action")) if "*" in action
        )
        for resource in _as_list(statement.get("Resource")):
            flat = flatten_reference(resource)
            if "*" in flat:
                findings.add(f"Resource::{flat}")
    return findings


def actions_on_any_resource(document: Mapping[str, Any]) -> set[str]:
    """The actions one resolved policy document allows on the bare ``*`` resource."""
    return {
        action
        for statement in _allow_statements(document)
        if ANY_RESOURCE in _as_list(statement.get("Resource"))
        for action in _as_list(statement.get("Action"))
    }


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


def _any_resource_reason(reasons_by_action: Mapping[str, str]) -> str:
    # Actions sharing a reason are listed together so the text stays readable.
    actions_by_reason: dict[str, list[str]] = {}
    for action, reason in sorted(reasons_by_action.items()):
        actions_by_reason.setdefault(reason, []).append(action)
    return "; ".join(
        f"{', '.join(actions)}: {reason}" for reason, actions in actions_by_reason.items()
    )


def _allow_statements(document: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    return (s for s in document.get("Statement", []) if s.get("Effect") == "Allow")


def _policies(scope: IConstruct) -> Iterable[iam.CfnPolicy | iam.CfnManagedPolicy]:
    for construct in scope.node.find_all():
        if isinstance(construct, iam.CfnPolicy | iam.CfnManagedPolicy):
            yield construct


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
