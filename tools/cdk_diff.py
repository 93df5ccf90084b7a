#!/usr/bin/env python3
"""Markdown report of `cdk diff` between two synthesized cloud assemblies (base → head).

Used by `make diff BASE=main` and by the pull-request workflow (.github/workflows/pr-diff.yml),
so reviewers see the same report locally and on the pull request.

    python tools/cdk_diff.py --base-dir BASE_CDK_OUT --head-dir HEAD_CDK_OUT [--output report.md]

No AWS access is needed: each changed stack is compared with the pinned CLI's offline mode,
`cdk diff --app HEAD_CDK_OUT --template BASE_TEMPLATE STACK`, which reads both templates from
disk. The report has a summary table, the security-relevant changes (the CLI's IAM and
security-group tables, and changed IAM/policy/security-group/key resources), the resources
the CLI marks as replaced, and the CLI's diff of every changed stack in a <details> block.

The base may also be a plain directory of `<stack>.template.json` files (for example
templates fetched from deployed stacks with `aws cloudformation get-template`).

Exit status: 0, or 1 with --fail when any stack differs, or 2 when something failed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"

# A pull-request comment holds at most 65,536 characters: the workflow passes --max-bytes and
# long diffs are cut with this note.
TRUNCATION_NOTE = (
    "… {lines} more lines cut to fit the comment; run `make diff BASE=<base>` locally "
    "or download the `cdk-diff-report` artifact of this run for the whole diff."
)

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# Asset hashes are SHA-256 hex digests (S3 keys, image tags, `aws:asset:path` metadata). Any
# other 64-hex-digit value in a template would be taken for one; this app has none.
_ASSET_HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
# `[~] AWS::S3::Bucket Data Data666C94C7 replace`: change, type, construct path, logical ID and
# an optional impact. Parameters and outputs (`[+] Parameter X ...`) have no `::` in the type.
_RESOURCE_LINE = re.compile(r"^\[(?P<op>[-+~])\] (?P<type>[A-Za-z0-9]+::\S+) (?P<rest>.+)$")
# Impacts as the CLI prints them (aws-cdk cloudformation-diff `formatImpact`); longest first.
_IMPACTS = ("may be replaced", "replace", "destroy", "orphan")
_REPLACEMENTS = frozenset({"replace", "may be replaced"})
# Headers of the CLI's security tables, and the table's box-drawing lines that follow them.
_SECURITY_HEADER = re.compile(
    r"^(IAM Statement Changes|IAM Policy Changes|Security Group Changes|Security-related changes)"
)
_TABLE_LINE = re.compile(r"^[┌│├└╭╰║╔╠╚+|]")
_CLI_FOOTER = re.compile(r"Number of stacks with differences:")
# Resource types whose changes alter who may do what; the CLI's tables cover only some of
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
_RETAINED = frozenset({"Retain", "RetainExceptOnCreate"})


class CdkDiffError(Exception):
    """An assembly could not be read or the CLI failed; the message says which."""


class Status(Enum):
    MODIFIED = "modified"
    NEW = "new stack"
    REMOVED = "removed stack"
    ASSETS_ONLY = "only asset hashes changed"
    UNCHANGED = "no changes"


@dataclass(frozen=True)
class StackTemplate:
    name: str  # artifact ID: the key that pairs base and head
    selector: str  # what `cdk diff` is given to pick the stack (its display name)
    template: Path


@dataclass(frozen=True)
class ResourceChange:
    op: str  # "+", "-" or "~"
    type: str
    path: str
    logical_id: str
    impact: str | None

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


@dataclass
class StackDiff:
    name: str
    status: Status
    diff_text: str = ""
    resources: list[ResourceChange] = field(default_factory=list)
    security_tables: list[str] = field(default_factory=list)
    changed_asset_hashes: int = 0

    def count(self, op: str) -> int:
        return sum(1 for change in self.resources if change.op == op)

    @property
    def replacements(self) -> list[ResourceChange]:
        return [change for change in self.resources if change.is_replacement]

    @property
    def security_resources(self) -> list[ResourceChange]:
        # A removed stack's roles are gone with it; that is not a grant to review.
        if self.status is Status.REMOVED:
            return []
        return [change for change in self.resources if change.is_security_relevant]

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
                name=path.name.removesuffix(".template.json"),
                selector=path.name.removesuffix(".template.json"),
                template=path,
            )
            for path in sorted(directory.glob("*.template.json"))
        }
    artifacts: Mapping[str, Any] = json.loads(manifest.read_text(encoding="utf-8")).get(
        "artifacts", {}
    )
    # Top-level stacks only: this app has no Stages (nested assemblies would need the CLI's
    # `Stage/Stack` selectors).
    return {
        artifact_id: StackTemplate(
            name=artifact_id,
            selector=str(artifact.get("displayName", artifact_id)),
            template=directory / str(artifact["properties"]["templateFile"]),
        )
        for artifact_id, artifact in artifacts.items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }


def _read_template(path: Path) -> dict[str, Any]:
    try:
        template: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CdkDiffError(f"cannot read template {path}: {error}") from error
    return template


def _normalized(template: Mapping[str, Any]) -> str:
    return _ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True))


def _asset_hashes(template: Mapping[str, Any]) -> set[str]:
    return set(_ASSET_HASH.findall(json.dumps(template)))


def _empty_like(template: Mapping[str, Any]) -> dict[str, Any]:
    """The base for a new stack: empty, except for the bootstrap-version check every CDK
    stack carries, so the diff of a new stack shows only what the stack itself adds."""
    empty: dict[str, Any] = {"Resources": {}}
    parameter = template.get("Parameters", {}).get("BootstrapVersion")
    if parameter is not None:
        empty["Parameters"] = {"BootstrapVersion": parameter}
    rule = template.get("Rules", {}).get("CheckBootstrapVersion")
    if rule is not None:
        empty["Rules"] = {"CheckBootstrapVersion": rule}
    return empty


def _removed_resources(stack_name: str, template: Mapping[str, Any]) -> list[ResourceChange]:
    changes = []
    for logical_id, resource in template.get("Resources", {}).items():
        path = str(resource.get("Metadata", {}).get("aws:cdk:path", logical_id))
        path = path.removeprefix(f"{stack_name}/").removesuffix("/Resource")
        retained = resource.get("DeletionPolicy") in _RETAINED
        changes.append(
            ResourceChange(
                op="-",
                type=str(resource.get("Type", "?")),
                path=path,
                logical_id=logical_id,
                impact="orphan" if retained else "destroy",
            )
        )
    return changes


# --- running and reading the CLI ----------------------------------------------------------


def cli_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the CLI: offline, quiet and without colours.

    Every AWS_* variable is dropped so the CLI cannot reach an account (it would look up the
    caller through STS whenever credentials are present, even fake ones)."""
    env = {key: value for key, value in environ.items() if not key.startswith("AWS_")}
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "FORCE_COLOR": "0",
            "NO_COLOR": "1",
        }
    )
    return env


def run_cdk_diff(
    cdk: Path, head_dir: Path, stack: StackTemplate, base_template: Path, workdir: Path
) -> str:
    """The CLI's diff of one head stack against a base template file, ANSI-free."""
    command = [
        str(cdk),
        "diff",
        "--no-notices",
        # Without it the CLI also selects the stack's dependencies, and refuses to compare
        # more than one stack with a fixed template.
        "--exclusively",
        "--app",
        str(head_dir.resolve()),
        "--template",
        str(base_template.resolve()),
        stack.selector,
    ]
    # The working directory is an empty temporary one so a cdk.json there adds nothing.
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        command,
        cwd=workdir,
        env=cli_env(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the CLI prints the diff on stderr (stdout when CI=true)
        text=True,
        check=False,
    )
    output = _ANSI.sub("", result.stdout)
    if result.returncode != 0:
        raise CdkDiffError(f"`cdk diff {stack.selector}` failed ({result.returncode}):\n{output}")
    return output


def parse_cli_output(output: str) -> tuple[str, list[ResourceChange], list[str]]:
    """Splits the CLI's text into the diff to show, the resource changes and the security
    tables."""
    lines = _ANSI.sub("", output).splitlines()
    # Warnings the CLI may print before the diff are not part of it.
    start = next((i for i, line in enumerate(lines) if line.startswith("Stack ")), 0)
    kept = [line.rstrip() for line in lines[start:] if not _CLI_FOOTER.search(line)]
    while kept and not kept[-1]:
        kept.pop()

    resources = []
    tables: list[list[str]] = []
    in_table = False
    for line in kept:
        if _SECURITY_HEADER.match(line):
            tables.append([line])
            in_table = True
        elif in_table and _TABLE_LINE.match(line):
            tables[-1].append(line)
        else:
            in_table = False
            match = _RESOURCE_LINE.match(line)
            if match:
                resources.append(_parse_resource(match["op"], match["type"], match["rest"]))
    return "\n".join(kept), resources, ["\n".join(table) for table in tables]


def _parse_resource(op: str, type_: str, rest: str) -> ResourceChange:
    impact = next((i for i in _IMPACTS if rest.endswith(f" {i}")), None)
    if impact is not None:
        rest = rest[: -len(impact) - 1]
    # The logical ID is one token; the construct path before it may contain spaces, and is
    # absent when the template has no path metadata.
    path, _, logical_id = rest.rstrip().rpartition(" ")
    return ResourceChange(
        op=op, type=type_, path=path or logical_id, logical_id=logical_id, impact=impact
    )


# --- comparing ----------------------------------------------------------------------------


def compare(
    base_dir: Path,
    head_dir: Path,
    *,
    cdk: Path = DEFAULT_CDK,
    stacks: str = "*",
    jobs: int = 4,
) -> list[StackDiff]:
    """One StackDiff per stack of head (manifest order), then the stacks head removed.

    Identical templates and asset-hash-only changes are decided here, from the JSON, so the
    CLI (1-3 s per call) only runs for stacks with a real change; those calls run in
    parallel."""
    if not cdk.is_file():
        raise CdkDiffError(f"{cdk} not found: run `npm ci` (or `make synth`) first")
    cdk = cdk.resolve()  # the CLI runs in a temporary directory
    base = {name: s for name, s in load_stacks(base_dir).items() if fnmatch.fnmatch(name, stacks)}
    head = {name: s for name, s in load_stacks(head_dir).items() if fnmatch.fnmatch(name, stacks)}
    if not head and not base:
        raise CdkDiffError(f"no stack matches {stacks!r} in {base_dir} or {head_dir}")

    results: dict[str, StackDiff] = {}
    to_diff: list[tuple[StackTemplate, Path, Status]] = []
    with tempfile.TemporaryDirectory(prefix="cdk-diff-") as tmp:
        workdir = Path(tmp)
        for name, stack in head.items():
            head_template = _read_template(stack.template)
            if name not in base:
                empty = workdir / f"{name}.empty.template.json"
                empty.write_text(json.dumps(_empty_like(head_template)), encoding="utf-8")
                to_diff.append((stack, empty, Status.NEW))
                continue
            base_template = _read_template(base[name].template)
            if base_template == head_template:
                results[name] = StackDiff(name=name, status=Status.UNCHANGED)
            elif _normalized(base_template) == _normalized(head_template):
                changed = _asset_hashes(head_template) - _asset_hashes(base_template)
                results[name] = StackDiff(
                    name=name, status=Status.ASSETS_ONLY, changed_asset_hashes=len(changed)
                )
            else:
                to_diff.append((stack, base[name].template, Status.MODIFIED))

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            outputs = pool.map(
                lambda item: run_cdk_diff(cdk, head_dir, item[0], item[1], workdir), to_diff
            )
            for (stack, _, status), output in zip(to_diff, outputs, strict=True):
                text, resources, tables = parse_cli_output(output)
                results[stack.name] = StackDiff(
                    name=stack.name,
                    status=status,
                    diff_text=text,
                    resources=resources,
                    security_tables=tables,
                )

    ordered = [results[name] for name in head]
    for name, stack in base.items():
        if name not in head:
            template = _read_template(stack.template)
            ordered.append(
                StackDiff(
                    name=name,
                    status=Status.REMOVED,
                    resources=_removed_resources(name, template),
                )
            )
    return ordered


# --- the report ---------------------------------------------------------------------------


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside, so the text cannot close it early.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{text}\n{ticks}"


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
    return "\n".join([*kept, TRUNCATION_NOTE.format(lines=len(lines) - len(kept))])


def _counts_row(diff: StackDiff) -> str:
    if diff.status in (Status.ASSETS_ONLY, Status.UNCHANGED):
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
    counts), the diff texts are shortened first, then the security tables, until the report
    fits; the summary, the security-relevant resources and the replacements stay complete."""
    report = _render(diffs, title=title)
    if max_bytes is None or _size(report) <= max_bytes:
        return report
    longest_diff = max((len(d.diff_text) for d in diffs), default=0)
    diff_limit = _largest_fitting(
        longest_diff, lambda limit: _render(diffs, title=title, diff_limit=limit), max_bytes
    )
    if diff_limit is not None:
        return _render(diffs, title=title, diff_limit=diff_limit)
    longest_tables = max((len(t) for d in diffs for t in d.security_tables), default=0)
    table_limit = _largest_fitting(
        longest_tables,
        lambda limit: _render(diffs, title=title, diff_limit=0, table_limit=limit),
        max_bytes,
    )
    # Past that only the lists are left; the report is then as short as it can be.
    return _render(diffs, title=title, diff_limit=0, table_limit=table_limit or 0)


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
    table_limit: int | None = None,
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

    out += _security_section(changed, table_limit)
    out += _replacement_section(changed)

    out += ["### Diff per stack", ""]
    for diff in changed:
        out += _stack_section(diff, diff_limit)
    return "\n".join(out).rstrip() + "\n"


def _security_section(diffs: Iterable[StackDiff], table_limit: int | None) -> list[str]:
    out = ["### 🔐 Security-relevant changes", ""]
    relevant = [d for d in diffs if d.has_security_changes]
    if not relevant:
        return [*out, "None.", ""]
    for diff in relevant:
        out += [f"**`{diff.name}`**", ""]
        out += [f"- `{change.describe()}`" for change in diff.security_resources]
        if diff.security_tables:
            tables = _truncate("\n\n".join(diff.security_tables), table_limit)
            out += ["", _fence(tables), ""]
        else:
            out.append("")
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
    if diff.status is Status.ASSETS_ONLY:
        return [
            f"- `{diff.name}`: only asset hashes changed ({diff.changed_asset_hashes} new "
            "asset(s): code or files packaged as assets); no template change otherwise.",
            "",
        ]
    if diff.status is Status.REMOVED:
        body = "\n".join(change.describe() for change in diff.resources) or "(no resources)"
        retained = sum(1 for change in diff.resources if change.impact == "orphan")
        # Removing a stack from the app does not delete the deployed one; deleting it does.
        note = (
            "No longer in the app: `cdk deploy` leaves the deployed stack alone; deleting it "
            "(`cdk destroy`, `aws cloudformation delete-stack`) deletes these resources"
        )
        note += (
            f", except {retained} kept by their deletion policy (`orphan`)." if retained else "."
        )
    else:
        body = _truncate(diff.diff_text, diff_limit)
        note = ""
    lines = ["<details>", f"<summary>{_summary_line(diff)}</summary>", ""]
    if note:
        lines += [note, ""]
    return [*lines, _fence(body), "", "</details>", ""]


# --- command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--base-dir", type=Path, required=True, help="base cloud assembly")
    parser.add_argument("--head-dir", type=Path, required=True, help="head cloud assembly")
    parser.add_argument("--output", type=Path, help="write the report here (default: stdout)")
    parser.add_argument(
        "--full-output", type=Path, help="also write the report without --max-bytes cuts here"
    )
    parser.add_argument("--cdk", type=Path, default=DEFAULT_CDK, help="the pinned CDK CLI")
    parser.add_argument("--stacks", default="*", help="only stacks matching this glob")
    parser.add_argument("--title", default="cdk diff", help="heading of the report")
    parser.add_argument(
        "--max-bytes", type=int, help="shorten the diffs so the report fits (UTF-8 bytes)"
    )
    parser.add_argument("--jobs", type=int, default=4, help="CLI calls run in parallel")
    parser.add_argument("--fail", action="store_true", help="exit 1 when any stack differs")
    args = parser.parse_args(argv)

    try:
        diffs = compare(
            args.base_dir, args.head_dir, cdk=args.cdk, stacks=args.stacks, jobs=args.jobs
        )
    except CdkDiffError as error:
        print(f"cdk_diff: {error}", file=sys.stderr)
        return 2
    report = render(diffs, title=args.title, max_bytes=args.max_bytes)
    if args.full_output is not None:
        args.full_output.write_text(render(diffs, title=args.title), encoding="utf-8")
    if args.output is None:
        sys.stdout.buffer.write(report.encode("utf-8"))
        sys.stdout.flush()
    else:
        args.output.write_text(report, encoding="utf-8")
    differs = any(d.status is not Status.UNCHANGED for d in diffs)
    return 1 if args.fail and differs else 0


if __name__ == "__main__":
    sys.exit(main())
