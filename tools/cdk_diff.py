#!/usr/bin/env python3
"""Markdown report of the CloudFormation diff of two synthesized cloud assemblies (base → head).

Used by `make diff BASE=main` and by the pull-request workflow (.github/workflows/pr-diff.yml),
so reviewers see the same report locally and on the pull request.

    python tools/cdk_diff.py --base-dir BASE_CDK_OUT --head-dir HEAD_CDK_OUT [--output report.md]

No AWS access is needed: both templates of a stack are read from disk and compared by
@aws-cdk/cloudformation-diff, the library `cdk diff` itself uses (pinned in package.json,
installed by `npm ci`). tools/cdk_diff.js runs it in one node process for every stack that
changed and prints the library's structured diff as JSON: each resource change with its
replacement impact, the IAM statement, managed policy and security-group changes, and the
library's own text of the diff. This script renders the Markdown: a summary table, the
security-relevant changes (those tables, and changed IAM/policy/security-group/key
resources), the resources that would be replaced, and each changed stack's diff in a
<details> block. Stacks that are identical, or differ only in asset hashes (new Lambda or
script code), are decided here from the JSON and never reach node.

The base may also be a plain directory of `<stack>.template.json` files (for example
templates fetched from deployed stacks with `aws cloudformation get-template`). A stack only
in head is new (diffed against an empty template), one only in base is removed.

Exit status: 0, or 1 with --fail when any stack's template differs, or 2 when something
failed (no node, the library not installed, a template that is not JSON).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypedDict

NODE_SCRIPT = Path(__file__).resolve().with_name("cdk_diff.js")

# A pull-request comment holds at most 65,536 characters: the workflow passes --max-bytes and
# long diffs and tables are cut with this note.
TRUNCATION_NOTE = (
    "… {count} more {what} cut to fit the comment; run `make diff BASE=<base>` locally "
    "or download the `cdk-diff-report` artifact of this run for the whole diff."
)

# Asset hashes are SHA-256 hex digests (S3 keys, image tags, `aws:asset:path` metadata). Any
# other 64-hex-digit value in a template would be taken for one; this app has none.
_ASSET_HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
# The library's ResourceImpact values, in the words `cdk diff` prints for them; the others
# (create, update, no change) add nothing to the change itself.
_IMPACT_WORDS = {
    "WILL_REPLACE": "replace",
    "MAY_REPLACE": "may be replaced",
    "WILL_DESTROY": "destroy",
    "WILL_ORPHAN": "orphan",
    "WILL_IMPORT": "import",
}
_QUIET_IMPACTS = frozenset({"WILL_CREATE", "WILL_UPDATE", "NO_CHANGE"})
_REPLACEMENTS = frozenset({"replace", "may be replaced"})
_OPS = {"add": "+", "remove": "-", "update": "~", "import": "←"}
# Resource types whose changes alter who may do what; the library's tables cover only some of
# them (statements, managed policies, security-group rules), so these are listed as well.
_SECURITY_TYPES = (
    "AWS::IAM::",
    "AWS::EC2::SecurityGroup",
    "AWS::KMS::Key",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::Permission",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::Events::EventBusPolicy",
    "AWS::CodeStarConnections::",
)


class CdkDiffError(Exception):
    """A template could not be read or the diff library failed; the message says which."""


class Status(Enum):
    MODIFIED = "modified"
    NEW = "new stack"
    REMOVED = "removed stack"
    ASSETS_ONLY = "only asset hashes changed"
    PATHS_ONLY = "only construct paths changed"
    HIDDEN_ONLY = "only changes `cdk diff` hides"
    UNCHANGED = "no changes"


# Statuses with no resource changes to count or show.
_ONE_LINERS = frozenset(
    {Status.ASSETS_ONLY, Status.PATHS_ONLY, Status.HIDDEN_ONLY, Status.UNCHANGED}
)


@dataclass(frozen=True)
class StackTemplate:
    name: str  # artifact ID: the key that pairs base and head
    template: Path


@dataclass(frozen=True)
class ResourceChange:
    op: str  # "+", "-", "~" or "←" (import)
    type: str
    path: str  # construct path as `cdk diff` shows it, or the logical ID without metadata
    logical_id: str
    impact: str | None  # as `cdk diff` words it ("replace", "orphan", ...), None when plain

    @property
    def is_replacement(self) -> bool:
        return self.impact in _REPLACEMENTS

    @property
    def is_security_relevant(self) -> bool:
        return self.type.startswith(_SECURITY_TYPES)

    def describe(self) -> str:
        impact = f" ({self.impact})" if self.impact else ""
        where = self.path if self.path == self.logical_id else f"{self.path} ({self.logical_id})"
        return f"[{self.op}] {self.type} {where}{impact}"


@dataclass(frozen=True)
class SecurityTable:
    """One of the library's change tables (IAM statements, managed policies, security-group
    rules, IAM Identity Center); each row starts with "+" or "-"."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class StackDiff:
    name: str
    status: Status
    diff_text: str = ""
    resources: list[ResourceChange] = field(default_factory=list)
    tables: list[SecurityTable] = field(default_factory=list)
    permissions_broadened: bool = False
    changed_asset_hashes: int = 0
    hidden_changes: int = 0  # the AWS::CDK::Metadata resource, the bootstrap-version rule
    mangled_changes: int = 0  # non-ASCII characters CloudFormation stores as "?"

    def count(self, op: str) -> int:
        return sum(1 for change in self.resources if change.op == op)

    @property
    def replacements(self) -> list[ResourceChange]:
        return [change for change in self.resources if change.is_replacement]

    # A removed stack's roles and rules are gone with it; that is not a grant to review.
    @property
    def security_resources(self) -> list[ResourceChange]:
        if self.status is Status.REMOVED:
            return []
        return [change for change in self.resources if change.is_security_relevant]

    @property
    def security_tables(self) -> list[SecurityTable]:
        return [] if self.status is Status.REMOVED else self.tables

    @property
    def has_security_changes(self) -> bool:
        return bool(self.security_tables or self.security_resources)


# --- reading assemblies -------------------------------------------------------------------


def load_stacks(directory: Path) -> dict[str, StackTemplate]:
    """The stacks of a cloud assembly (manifest order), or of a directory of templates."""
    if not directory.is_dir():
        raise CdkDiffError(f"{directory} is not a directory")
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return {
            path.name.removesuffix(".template.json"): StackTemplate(
                name=path.name.removesuffix(".template.json"), template=path
            )
            for path in sorted(directory.glob("*.template.json"))
        }
    try:
        artifacts: Mapping[str, Any] = json.loads(manifest.read_text(encoding="utf-8")).get(
            "artifacts", {}
        )
    except (OSError, ValueError) as error:
        raise CdkDiffError(f"cannot read {manifest}: {error}") from error
    # Top-level stacks only: this app has no Stages (nested assemblies have their own
    # manifests).
    return {
        artifact_id: StackTemplate(
            name=artifact_id,
            template=directory / str(artifact["properties"]["templateFile"]),
        )
        for artifact_id, artifact in artifacts.items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }


def _read_template(path: Path) -> dict[str, Any]:
    try:
        template = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CdkDiffError(f"cannot read template {path}: {error}") from error
    if not isinstance(template, dict):
        raise CdkDiffError(f"template {path} is not a JSON object")
    return template


def _normalized(template: Mapping[str, Any]) -> str:
    return _ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True))


def _without_paths(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template without ``aws:cdk:path`` metadata: moving a construct under a parent
    that CDK leaves out of logical IDs (``Default``) changes only that metadata."""
    resources = {
        logical_id: {
            **resource,
            "Metadata": {
                key: value
                for key, value in (resource.get("Metadata") or {}).items()
                if key != "aws:cdk:path"
            },
        }
        for logical_id, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, Mapping)
    }
    return {**template, "Resources": resources}


def _asset_hashes(template: Mapping[str, Any]) -> set[str]:
    return set(_ASSET_HASH.findall(json.dumps(template)))


# --- the diff library (tools/cdk_diff.js) -------------------------------------------------


class _Resource(TypedDict):
    logicalId: str
    path: str | None
    oldType: str | None
    newType: str | None
    change: str
    impact: str


class _Table(TypedDict):
    title: str
    header: list[str]
    rows: list[list[str]]


class _Stack(TypedDict):
    name: str
    differs: bool
    resources: list[_Resource]
    securityTables: list[_Table]
    permissionsBroadened: bool
    hiddenChanges: int
    mangledChanges: int
    text: str


def run_library(node: str, pairs: Sequence[Mapping[str, str | None]]) -> list[_Stack]:
    """The library's diff of each {name, base, head} pair (template paths; None for the side
    a new or removed stack is missing from), from one node process."""
    executable = shutil.which(node)
    if executable is None:
        raise CdkDiffError(
            f"node ({node}) not found: install Node.js 20 (as for the CDK CLI) or pass --node"
        )
    try:
        result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            [executable, str(NODE_SCRIPT), "-"],
            input=json.dumps(list(pairs)),
            capture_output=True,
            encoding="utf-8",
            check=False,
        )
    except OSError as error:
        raise CdkDiffError(f"cannot run {executable}: {error}") from error
    if result.returncode != 0:
        raise CdkDiffError(
            result.stderr.strip() or f"{NODE_SCRIPT.name} failed with status {result.returncode}"
        )
    try:
        stacks: list[_Stack] = json.loads(result.stdout)["stacks"]
    except (ValueError, KeyError, TypeError) as error:
        raise CdkDiffError(f"unexpected output from {NODE_SCRIPT.name}: {error}") from error
    if [stack["name"] for stack in stacks] != [pair["name"] for pair in pairs]:
        raise CdkDiffError(f"{NODE_SCRIPT.name} answered for other stacks than asked")
    return stacks


def _resource_change(resource: _Resource) -> ResourceChange:
    impact = resource["impact"]
    return ResourceChange(
        op=_OPS.get(resource["change"], "?"),
        type=resource["newType"] or resource["oldType"] or "?",
        path=resource["path"] or resource["logicalId"],
        logical_id=resource["logicalId"],
        # An impact a newer library adds is shown as it is named rather than dropped.
        impact=None
        if impact in _QUIET_IMPACTS
        else _IMPACT_WORDS.get(impact, impact.lower().replace("_", " ")),
    )


def _stack_diff(stack: _Stack, status: Status) -> StackDiff:
    if status is Status.MODIFIED and not stack["differs"]:
        status = Status.HIDDEN_ONLY
    return StackDiff(
        name=stack["name"],
        status=status,
        diff_text=stack["text"],
        resources=[_resource_change(resource) for resource in stack["resources"]],
        tables=[
            SecurityTable(
                title=table["title"],
                header=tuple(table["header"]),
                rows=tuple(tuple(row) for row in table["rows"]),
            )
            for table in stack["securityTables"]
        ],
        permissions_broadened=stack["permissionsBroadened"],
        hidden_changes=stack["hiddenChanges"],
        mangled_changes=stack["mangledChanges"],
    )


# --- comparing ----------------------------------------------------------------------------


def compare(
    base_dir: Path, head_dir: Path, *, node: str = "node", stacks: str = "*"
) -> list[StackDiff]:
    """One StackDiff per stack of head (manifest order), then the stacks head removed.

    Identical templates, asset-hash-only and path-only changes are decided here, from the
    JSON; the other stacks go to the diff library, all in one node process (it takes about a
    second to start)."""
    base = _matching(load_stacks(base_dir), stacks)
    head = _matching(load_stacks(head_dir), stacks)
    if not head and not base:
        raise CdkDiffError(f"no stack matches {stacks!r} in {base_dir} or {head_dir}")

    results: dict[str, StackDiff] = {}
    to_diff: list[tuple[str, StackTemplate | None, StackTemplate | None, Status]] = []
    for name, stack in head.items():
        decided = _decided_locally(name, base.get(name), stack)
        if decided is not None:
            results[name] = decided
        else:
            to_diff.append((name, base.get(name), stack, _status_for(base.get(name))))
    for name, stack in base.items():
        if name not in head:
            _read_template(stack.template)  # a broken one is reported like any other
            to_diff.append((name, stack, None, Status.REMOVED))
    results.update(_library_diffs(node, to_diff))
    return [results[name] for name in head] + [results[name] for name in base if name not in head]


def _matching(found: Mapping[str, StackTemplate], pattern: str) -> dict[str, StackTemplate]:
    return {name: stack for name, stack in found.items() if fnmatch.fnmatch(name, pattern)}


def _status_for(base: StackTemplate | None) -> Status:
    return Status.NEW if base is None else Status.MODIFIED


def _decided_locally(
    name: str, base: StackTemplate | None, head: StackTemplate
) -> StackDiff | None:
    """The StackDiff of a stack whose change needs no diff library, else None."""
    head_template = _read_template(head.template)
    if base is None:
        return None
    base_template = _read_template(base.template)
    if base_template == head_template:
        return StackDiff(name=name, status=Status.UNCHANGED)
    if _normalized(base_template) == _normalized(head_template):
        changed = _asset_hashes(head_template) - _asset_hashes(base_template)
        return StackDiff(name=name, status=Status.ASSETS_ONLY, changed_asset_hashes=len(changed))
    # Exactly equal without the paths: a stack whose assets changed too is diffed in full.
    if _without_paths(base_template) == _without_paths(head_template):
        return StackDiff(name=name, status=Status.PATHS_ONLY)
    return None


def _library_diffs(
    node: str, to_diff: Sequence[tuple[str, StackTemplate | None, StackTemplate | None, Status]]
) -> dict[str, StackDiff]:
    if not to_diff:
        return {}
    pairs = [
        {
            "name": name,
            "base": str(old.template.resolve()) if old else None,
            "head": str(new.template.resolve()) if new else None,
        }
        for name, old, new, _ in to_diff
    ]
    return {
        name: _stack_diff(stack_json, status)
        for (name, _, _, status), stack_json in zip(to_diff, run_library(node, pairs), strict=True)
    }


# --- the report ---------------------------------------------------------------------------


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside, so the text cannot close it early.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{text}\n{ticks}"


def _code(text: str) -> str:
    """Inline code that no backtick inside can end early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _cell(text: str) -> str:
    # The library puts one value per line (several actions, principals); a table cell is
    # one line. In a GFM table `\|` is a literal pipe, inside code spans too.
    lines = [line for line in text.splitlines() if line.strip()]
    return "<br>".join(_code(line) for line in lines).replace("|", "\\|")


def _truncate(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, TRUNCATION_NOTE.format(count=len(lines) - len(kept), what="lines")])


def _counts_row(diff: StackDiff) -> str:
    if diff.status in _ONE_LINERS:
        counts = ["-"] * 5
    else:
        counts = [
            str(diff.count("+")),
            str(diff.count("-")),
            str(diff.count("~")),
            str(len(diff.security_resources)),
            str(len(diff.replacements)),
        ]
    status = diff.status.value
    if diff.status in (Status.NEW, Status.REMOVED):
        status = f"**{status}**"
    flags = []
    if diff.has_security_changes:
        flags.append("🔐")
    if diff.replacements:
        flags.append("♻️")
    name = f"`{diff.name}`" + (f" {' '.join(flags)}" if flags else "")
    return f"| {name} | {status} | " + " | ".join(counts) + " |"


def _summary_line(diff: StackDiff) -> str:
    parts = []
    for op, word in (("+", "added"), ("-", "removed"), ("~", "modified")):
        if diff.count(op):
            parts.append(f"{diff.count(op)} {word}")
    if diff.replacements:
        parts.append(f"{len(diff.replacements)} replaced")
    if diff.has_security_changes:
        parts.append("security changes")
    detail = ", ".join(parts) if parts else "no resource changes"
    return f"<code>{diff.name}</code> ({diff.status.value}): {detail}"


def render(
    diffs: Sequence[StackDiff],
    *,
    title: str = "cdk diff",
    max_bytes: int | None = None,
) -> str:
    """The Markdown report. With max_bytes (UTF-8, so never fewer than the characters GitHub
    counts), the diff texts are shortened first, then the rows of the security tables, until
    the report fits; the summary, the security-relevant resources and the replacements stay
    complete."""
    report = _render(diffs, title=title)
    if max_bytes is None or _size(report) <= max_bytes:
        return report
    longest_diff = max((len(d.diff_text) for d in diffs), default=0)
    diff_limit = _largest_fitting(
        longest_diff, lambda limit: _render(diffs, title=title, diff_limit=limit), max_bytes
    )
    if diff_limit is not None:
        return _render(diffs, title=title, diff_limit=diff_limit)
    most_rows = max((len(t.rows) for d in diffs for t in d.security_tables), default=0)
    row_limit = _largest_fitting(
        most_rows,
        lambda limit: _render(diffs, title=title, diff_limit=0, row_limit=limit),
        max_bytes,
    )
    # Past that only the lists are left; the report is then as short as it can be.
    return _render(diffs, title=title, diff_limit=0, row_limit=row_limit or 0)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _largest_fitting(upper: int, build: Callable[[int], str], max_bytes: int) -> int | None:
    """The largest limit in [0, upper] whose report fits (binary search), or None."""
    if _size(build(0)) > max_bytes:
        return None
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if _size(build(middle)) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return low


def _render(
    diffs: Sequence[StackDiff],
    *,
    title: str,
    diff_limit: int | None = None,
    row_limit: int | None = None,
) -> str:
    changed = [d for d in diffs if d.status is not Status.UNCHANGED]
    unchanged = [d for d in diffs if d.status is Status.UNCHANGED]
    out = [f"## {title}", ""]
    if not changed:
        out.append(f"No differences in {len(diffs)} stack(s).")
        return "\n".join(out) + "\n"

    out += [
        f"{len(changed)} of {len(diffs)} stack(s) differ. Counts are resources; "
        "🔐 marks security-relevant changes, ♻️ replacements.",
        "",
        "| Stack | Change | Added | Removed | Modified | Security | Replacements |",
        "|---|---|---:|---:|---:|---:|---:|",
        *(_counts_row(d) for d in changed),
        "",
    ]
    if unchanged:
        out += ["Unchanged: " + ", ".join(f"`{d.name}`" for d in unchanged) + ".", ""]

    out += _security_section(changed, row_limit)
    out += _replacement_section(changed)

    out += ["### Diff per stack", ""]
    for diff in changed:
        out += _stack_section(diff, diff_limit)
    return "\n".join(out).rstrip() + "\n"


def _table(table: SecurityTable, row_limit: int | None) -> list[str]:
    rows = table.rows if row_limit is None else table.rows[:row_limit]
    out = [
        f"*{table.title}*",
        "",
        "| " + " | ".join(header or " " for header in table.header) + " |",
        "|" + "---|" * len(table.header),
        *("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows),
    ]
    if len(rows) < len(table.rows):
        out += ["", TRUNCATION_NOTE.format(count=len(table.rows) - len(rows), what="rows")]
    return [*out, ""]


def _security_section(diffs: Iterable[StackDiff], row_limit: int | None) -> list[str]:
    out = ["### 🔐 Security-relevant changes", ""]
    relevant = [d for d in diffs if d.has_security_changes]
    if not relevant:
        return [*out, "None.", ""]
    out += [
        "The tables are the CDK diff library's IAM and security-group changes; as `cdk diff` "
        "warns, there may be security-related changes not in them "
        "([aws-cdk#1299](https://github.com/aws/aws-cdk/issues/1299)).",
        "",
    ]
    for diff in relevant:
        broadened = " (permissions broadened)" if diff.permissions_broadened else ""
        out += [f"**`{diff.name}`**{broadened}", ""]
        out += [f"- `{change.describe()}`" for change in diff.security_resources]
        out.append("")
        for table in diff.security_tables:
            out += _table(table, row_limit)
    return out


def _replacement_section(diffs: Iterable[StackDiff]) -> list[str]:
    out = ["### ♻️ Replacements", ""]
    rows = [(d.name, change) for d in diffs for change in d.replacements]
    if not rows:
        return [*out, "None.", ""]
    out += [
        f"- `{name}`: `{change.type}` `{change.path}` (`{change.logical_id}`) — **{change.impact}**"
        for name, change in rows
    ]
    return [*out, ""]


def _stack_section(diff: StackDiff, diff_limit: int | None) -> list[str]:
    one_liner = _ONE_LINE_TEXT.get(diff.status)
    if one_liner is not None:
        return [f"- `{diff.name}`: {one_liner(diff)}.", ""]
    note = _removed_note(diff) if diff.status is Status.REMOVED else ""
    body = _truncate(diff.diff_text, diff_limit) or "(no resources)"
    lines = ["<details>", f"<summary>{_summary_line(diff)}</summary>", ""]
    if note:
        lines += [note, ""]
    return [*lines, _fence(body), "", "</details>", ""]


def _assets_only_text(diff: StackDiff) -> str:
    return (
        f"only asset hashes changed ({diff.changed_asset_hashes} new asset(s): code or files "
        "packaged as assets); no template change otherwise"
    )


def _paths_only_text(diff: StackDiff) -> str:
    return (
        "only construct paths changed (`aws:cdk:path` metadata, e.g. constructs regrouped); "
        "logical IDs and properties are the same, so no resource is replaced"
    )


def _hidden_only_text(diff: StackDiff) -> str:
    hidden = []
    if diff.hidden_changes:
        hidden.append(
            f"{diff.hidden_changes} to CDK metadata (the `AWS::CDK::Metadata` resource or "
            "the bootstrap-version rule)"
        )
    if diff.mangled_changes:
        hidden.append(
            f"{diff.mangled_changes} in non-ASCII characters, which CloudFormation "
            "returns as `?` from a deployed stack"
        )
    if hidden:
        return f"only changes `cdk diff` hides: {'; '.join(hidden)}"
    # The library compares values as CloudFormation does (`10` equals `"10"`).
    return "the templates differ only in ways CloudFormation treats as equal"


_ONE_LINE_TEXT: Mapping[Status, Callable[[StackDiff], str]] = {
    Status.ASSETS_ONLY: _assets_only_text,
    Status.PATHS_ONLY: _paths_only_text,
    Status.HIDDEN_ONLY: _hidden_only_text,
}


def _removed_note(diff: StackDiff) -> str:
    retained = sum(1 for change in diff.resources if change.impact == "orphan")
    # Removing a stack from the app does not delete the deployed one; deleting it does.
    note = (
        "No longer in the app: `cdk deploy` leaves the deployed stack alone; deleting it "
        "(`cdk destroy`, `aws cloudformation delete-stack`) deletes these resources"
    )
    return note + (
        f", except {retained} kept by their deletion policy (`orphan`)." if retained else "."
    )


# --- command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--base-dir", type=Path, required=True, help="base cloud assembly")
    parser.add_argument("--head-dir", type=Path, required=True, help="head cloud assembly")
    parser.add_argument("--output", type=Path, help="write the report here (default: stdout)")
    parser.add_argument(
        "--full-output", type=Path, help="also write the report without --max-bytes cuts here"
    )
    parser.add_argument(
        "--node", default="node", help="the node that runs tools/cdk_diff.js (default: node)"
    )
    # The CLI and parallel CLI calls are gone; the options stay accepted so existing
    # invocations keep working.
    parser.add_argument("--cdk", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stacks", default="*", help="only stacks matching this glob")
    parser.add_argument("--title", default="cdk diff", help="heading of the report")
    parser.add_argument(
        "--max-bytes", type=int, help="shorten the diffs so the report fits (UTF-8 bytes)"
    )
    parser.add_argument("--fail", action="store_true", help="exit 1 when any stack differs")
    args = parser.parse_args(argv)

    try:
        diffs = compare(args.base_dir, args.head_dir, node=args.node, stacks=args.stacks)
    except CdkDiffError as error:
        print(f"cdk_diff: {error}", file=sys.stderr)
        return 2
    report = render(diffs, title=args.title, max_bytes=args.max_bytes)
    # The workflow writes into a directory nothing else creates.
    if args.full_output is not None:
        args.full_output.parent.mkdir(parents=True, exist_ok=True)
        args.full_output.write_text(render(diffs, title=args.title), encoding="utf-8")
    if args.output is None:
        sys.stdout.buffer.write(report.encode("utf-8"))
        sys.stdout.flush()
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report, encoding="utf-8")
    differs = any(d.status is not Status.UNCHANGED for d in diffs)
    return 1 if args.fail and differs else 0


if __name__ == "__main__":
    sys.exit(main())
