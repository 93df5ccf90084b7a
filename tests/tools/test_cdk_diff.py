"""tools/cdk_diff.py (+ tools/cdk_diff.js): the report of `make diff` and of the pull-request
workflow.

The end-to-end tests share one report: two small apps (base and head) are synthesized in this
process, and tools/cdk_diff.py compares them once, which starts node (and the pinned
@aws-cdk/cloudformation-diff) once for the stacks with real changes. The error tests stop
before node, or start it without loading the library.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from tests.tools.scripts import TOOLS_DIR, import_script

if TYPE_CHECKING:
    import cdk_diff
else:
    cdk_diff = import_script("cdk_diff")

REPO_ROOT = TOOLS_DIR.parent
LIBRARY = REPO_ROOT / "node_modules" / "@aws-cdk" / "cloudformation-diff"
SecurityTable = cdk_diff.SecurityTable
StackDiff = cdk_diff.StackDiff
Status = cdk_diff.Status


def test_the_library_is_pinned_exactly_and_installed():
    pinned = json.loads((REPO_ROOT / "package.json").read_text(encoding="utf-8"))[
        "devDependencies"
    ]["@aws-cdk/cloudformation-diff"]
    locked = json.loads((REPO_ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin an exact version, not a range"
    assert locked["packages"]["node_modules/@aws-cdk/cloudformation-diff"]["version"] == pinned
    # Not a skip: CI installs it (`npm ci` in `make synth`) before the tests run.
    assert (LIBRARY / "package.json").is_file(), (
        f"{LIBRARY} is missing: run `npm ci` (or `make synth`)"
    )
    installed = json.loads((LIBRARY / "package.json").read_text(encoding="utf-8"))["version"]
    assert installed == pinned, "node_modules is stale: run `npm ci`"


# --- end to end ---------------------------------------------------------------------------


def _synthesize(outdir: Path, *, version: int, assets: Path) -> None:
    """Base (1) and head (2): Demo-Stack gains a policy statement, an SSH ingress rule and a
    new bucket name (replacement); Asset-Stack changes only its Lambda code; Meta-Stack only
    its AWS::CDK::Metadata; Same-Stack does not change; Old-Stack is removed and New-Stack
    added."""
    app = cdk.App(
        outdir=str(outdir),
        builtin_cloud_formation_validation=False,
        # As `cdk synth` sets it: templates name each resource's construct path.
        context={"aws:cdk:enable-path-metadata": True},
    )

    demo = cdk.Stack(app, "Demo-Stack")
    bucket = s3.Bucket(demo, "Data", bucket_name=f"cdk-diff-test-v{version}")
    role = iam.Role(demo, "Worker", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    bucket.grant_read(role)
    ingress = []
    if version == 2:
        role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["*"]))
        ingress = [
            ec2.CfnSecurityGroup.IngressProperty(
                ip_protocol="tcp", from_port=22, to_port=22, cidr_ip="0.0.0.0/0"
            )
        ]
    ec2.CfnSecurityGroup(
        demo, "Ssh", group_description="ssh", security_group_ingress=ingress or None
    )

    code = assets / f"v{version}"
    code.mkdir(parents=True, exist_ok=True)
    (code / "index.py").write_text(f"def handler(event, context):\n    return {version}\n")
    lambda_.Function(
        cdk.Stack(app, "Asset-Stack"),
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_asset(str(code)),
    )

    meta = cdk.Stack(app, "Meta-Stack")
    sns.Topic(meta, "Topic")
    cdk.CfnResource(
        meta, "CDKMetadata", type="AWS::CDK::Metadata", properties={"Analytics": f"v{version}"}
    )

    sns.Topic(cdk.Stack(app, "Same-Stack"), "Topic")

    if version == 1:
        old = cdk.Stack(app, "Old-Stack")
        s3.Bucket(old, "Kept")  # retained by default: "orphan"
        sqs.Queue(old, "Gone", removal_policy=cdk.RemovalPolicy.DESTROY)
    else:
        new = cdk.Stack(app, "New-Stack")
        iam.Role(
            new,
            "Reader",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("ReadOnlyAccess")],
        )
    app.synth()


# The limit for the cut report: below the whole report, above what always stays.
MAX_BYTES = 4500


@dataclass(frozen=True)
class Run:
    status: int
    report: str  # cut to MAX_BYTES
    full: str
    stderr: str
    node_calls: tuple[tuple[str, ...], ...]  # the stacks of each node start
    diffs: tuple[StackDiff, ...]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("cdk-diff")
    _synthesize(tmp / "base.out", version=1, assets=tmp / "assets")
    _synthesize(tmp / "head.out", version=2, assets=tmp / "assets")
    # The base as the deployed job gives it: a plain directory of templates. The head is a
    # cloud assembly (manifest.json).
    (tmp / "base").mkdir()
    for template in (tmp / "base.out").glob("*.template.json"):
        shutil.copy(template, tmp / "base" / template.name)

    node_calls: list[tuple[str, ...]] = []
    diffs: list[StackDiff] = []
    real_run, real_compare = cdk_diff.run_library, cdk_diff.compare

    def counting_run(node, pairs):
        node_calls.append(tuple(pair["name"] for pair in pairs))
        return real_run(node, pairs)

    def recording_compare(*args, **kwargs):
        diffs.extend(real_compare(*args, **kwargs))
        return diffs

    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err):
        patch.setattr(cdk_diff, "run_library", counting_run)
        patch.setattr(cdk_diff, "compare", recording_compare)
        # The library's text must come without colours even where colours are forced.
        patch.setenv("FORCE_COLOR", "3")
        status = cdk_diff.main(
            [
                "--base-dir",
                str(tmp / "base"),
                "--head-dir",
                str(tmp / "head.out"),
                "--output",
                str(tmp / "out" / "comment.md"),
                "--full-output",
                str(tmp / "out" / "report.md"),
                "--max-bytes",
                str(MAX_BYTES),
                "--title",
                "cdk diff: base → head",
                "--fail",
            ]
        )
    # Every test below needs the report: a failure here (no node, no library) names the cause.
    assert status != 2, err.getvalue()
    return Run(
        status=status,
        report=(tmp / "out" / "comment.md").read_text(encoding="utf-8"),
        full=(tmp / "out" / "report.md").read_text(encoding="utf-8"),
        stderr=err.getvalue(),
        node_calls=tuple(node_calls),
        diffs=tuple(diffs),
    )


def _section(report: str, heading: str) -> str:
    """The text under a `### ` heading, up to the next one."""
    start = report.index(f"### {heading}")
    end = report.find("\n### ", start + 1)
    return report[start : end if end != -1 else None]


def _details(report: str, stack: str) -> str:
    match = re.search(
        rf"<details>\n<summary><code>{re.escape(stack)}</code>.*?</details>", report, re.DOTALL
    )
    assert match, f"no <details> block for {stack}"
    return match.group(0)


def test_fail_flag_exits_1_when_stacks_differ(run):
    assert run.status == 1
    assert run.report.startswith("## cdk diff: base → head\n")


def test_node_starts_once_for_the_stacks_with_real_changes(run):
    # Same-Stack is identical and Asset-Stack differs only in asset hashes: decided in Python.
    assert run.node_calls == (("Demo-Stack", "Meta-Stack", "New-Stack", "Old-Stack"),)


def test_summary_counts_each_stack(run):
    assert "5 of 6 stack(s) differ." in run.report
    # Demo-Stack: policy and security group updated, bucket replaced.
    assert "| `Demo-Stack` 🔐 ♻️ | modified | 0 | 0 | 3 | 2 | 1 |" in run.report
    assert "| `New-Stack` 🔐 | **new stack** | 1 | 0 | 0 | 1 | 0 |" in run.report
    assert "| `Old-Stack` | **removed stack** | 0 | 2 | 0 | 0 | 0 |" in run.report
    assert "| `Asset-Stack` | only asset hashes changed | - | - | - | - | - |" in run.report
    assert "| `Meta-Stack` | only changes `cdk diff` hides | - | - | - | - | - |" in run.report
    assert "Unchanged: `Same-Stack`." in run.report


def test_iam_and_security_group_changes_are_in_the_security_section(run):
    security = _section(run.report, "🔐 Security-relevant changes")
    demo = security[security.index("**`Demo-Stack`**") : security.index("**`New-Stack`**")]

    assert "**`Demo-Stack`** (permissions broadened)" in demo
    assert re.search(r"- `\[~\] AWS::IAM::Policy Worker/DefaultPolicy \(WorkerDefault\w+\)`", demo)
    assert "- `[~] AWS::EC2::SecurityGroup Ssh`" in demo
    # The library's statement table, as a Markdown table with construct paths for IDs.
    assert "| `+` | `*` | `Allow` | `sqs:SendMessage` | `AWS:${Worker}` |  |" in demo
    assert "| `+` | `${Ssh.GroupId}` | `In` | `TCP 22` | `Everyone (IPv4)` |" in demo
    # The new stack's role is a grant to review too, with its managed policy.
    new = security[security.index("**`New-Stack`**") :]
    assert re.search(r"- `\[\+\] AWS::IAM::Role Reader \(Reader\w+\)`", new)
    assert "*IAM Policy Changes*" in new
    assert "`arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess`" in new
    # A removed stack's roles are gone with it, not a grant.
    assert "Old-Stack" not in security


def test_bucket_rename_is_listed_as_a_replacement(run):
    replacements = _section(run.report, "♻️ Replacements")

    assert re.search(
        r"- `Demo-Stack`: `AWS::S3::Bucket` `Data` \(`Data\w+`\) — \*\*replace\*\*", replacements
    )
    assert replacements.count("\n- ") == 1


def test_each_changed_stack_has_the_librarys_diff_text(run):
    demo = _details(run.full, "Demo-Stack")
    assert "<code>Demo-Stack</code> (modified): 3 modified, 1 replaced, security changes<" in demo
    assert "IAM Statement Changes" in demo
    assert re.search(r"\[~\] AWS::S3::Bucket Data Data\w+ replace", demo)
    assert "BucketName (requires replacement)" in demo
    assert "cdk-diff-test-v1" in demo and "cdk-diff-test-v2" in demo

    new = _details(run.full, "New-Stack")
    assert re.search(r"\[\+\] AWS::IAM::Role Reader Reader\w+", new)
    # Diffed against an empty template that keeps the bootstrap check: only the stack's own
    # resources show, not the parameter every CDK stack carries.
    assert "BootstrapVersion" not in new
    assert "\x1b" not in run.full


def test_removed_stack_lists_what_is_deleted_and_what_is_kept(run):
    old = _details(run.full, "Old-Stack")

    assert re.search(r"\[-\] AWS::S3::Bucket Kept Kept\w+ orphan", old)
    assert re.search(r"\[-\] AWS::SQS::Queue Gone Gone\w+ destroy", old)
    assert "No longer in the app" in old
    assert "except 1 kept by their deletion policy" in old


def test_one_line_stacks_are_not_in_details_blocks(run):
    assert (
        "- `Asset-Stack`: only asset hashes changed (1 new asset(s): code or files packaged as "
        "assets)" in run.full
    )
    assert (
        "- `Meta-Stack`: only changes `cdk diff` hides: 1 to CDK metadata (the "
        "`AWS::CDK::Metadata` resource or the bootstrap-version rule)." in run.full
    )
    for stack in ("Asset-Stack", "Meta-Stack", "Same-Stack"):
        assert f"<code>{stack}</code>" not in run.full


def test_report_is_cut_to_max_bytes_but_keeps_summary_security_and_replacements(run):
    assert len(run.full.encode()) > MAX_BYTES, "the whole report fits: MAX_BYTES cuts nothing"
    assert len(run.report.encode()) <= MAX_BYTES
    assert "more lines cut to fit the comment" in run.report
    assert "more lines cut" not in run.full
    for kept in (
        _section(run.full, "🔐 Security-relevant changes"),
        _section(run.full, "♻️ Replacements"),
        "| `Demo-Stack` 🔐 ♻️ | modified |",
    ):
        assert kept in run.report


def test_security_table_rows_are_cut_when_the_diffs_alone_cannot_fit():
    rows = tuple(("+", f"${{Role{i}}}", "Allow", f"s3:Action{i}", "AWS:x", "") for i in range(200))
    table = SecurityTable("IAM Statement Changes", ("", "Resource", "Effect"), rows)
    diff = StackDiff("Big-Stack", Status.MODIFIED, diff_text="x\n" * 500, tables=[table])

    full = cdk_diff.render([diff])
    cut = cdk_diff.render([diff], max_bytes=6000)

    assert "`s3:Action199`" in full
    assert len(cut.encode()) <= 6000
    assert "`s3:Action0`" in cut and "`s3:Action199`" not in cut
    assert re.search(r"… \d+ more rows cut to fit the comment", cut)


def test_table_cells_cannot_break_the_markdown_table():
    table = SecurityTable(
        "IAM Statement Changes",
        ("", "Action", "Condition", "Other"),
        (("+", "s3:GetObject\ns3:PutObject", '"a|b": "`x`"', "`y`"),),
    )
    report = cdk_diff.render([StackDiff("S", Status.MODIFIED, "d", tables=[table])])

    # A code span of two backticks holds single ones; one that starts or ends with a backtick
    # gets a space on each side, which Markdown drops.
    assert '| `+` | `s3:GetObject`<br>`s3:PutObject` | ``"a\\|b": "`x`"`` | `` `y` `` |' in report


def test_diff_text_cannot_close_its_code_fence():
    diff = StackDiff("S", Status.MODIFIED, diff_text='[+] "```not the end```"')

    report = cdk_diff.render([diff])

    assert "````\n" in report
    assert re.search(r"^````\n\n</details>", report, re.MULTILINE)


# --- no differences and failures ----------------------------------------------------------


def _assembly(directory: Path, templates: dict[str, str]) -> Path:
    directory.mkdir(parents=True)
    for name, text in templates.items():
        (directory / f"{name}.template.json").write_text(text, encoding="utf-8")
    return directory


def test_identical_assemblies_exit_0_even_with_fail_and_need_no_node(tmp_path, capsys):
    stacks = _assembly(tmp_path / "t", {"A": '{"Resources": {}}'})

    status = cdk_diff.main(
        ["--base-dir", str(stacks), "--head-dir", str(stacks), "--fail", "--node", "no-such-node"]
    )

    assert status == 0
    assert "No differences in 1 stack(s)." in capsys.readouterr().out


def test_a_missing_assembly_is_reported_with_exit_status_2(tmp_path, capsys):
    status = cdk_diff.main(["--base-dir", str(tmp_path / "nope"), "--head-dir", str(tmp_path)])

    assert status == 2
    assert "nope is not a directory" in capsys.readouterr().err


def test_a_template_that_is_not_json_is_reported_with_exit_status_2(tmp_path, capsys):
    base = _assembly(tmp_path / "base", {"A": '{"Resources": {}}'})
    head = _assembly(tmp_path / "head", {"A": '{"Resources": '})

    status = cdk_diff.main(["--base-dir", str(base), "--head-dir", str(head)])

    assert status == 2
    assert f"cannot read template {head / 'A.template.json'}" in capsys.readouterr().err


def test_missing_node_is_reported_with_exit_status_2(tmp_path, capsys):
    base = _assembly(tmp_path / "base", {"A": '{"Resources": {}}'})
    head = _assembly(tmp_path / "head", {"B": '{"Resources": {}}'})

    status = cdk_diff.main(
        ["--base-dir", str(base), "--head-dir", str(head), "--node", str(tmp_path / "node")]
    )

    assert status == 2
    assert f"node ({tmp_path / 'node'}) not found" in capsys.readouterr().err


def test_missing_library_is_reported_with_exit_status_2(tmp_path, capsys, monkeypatch):
    # The script outside the repository finds no node_modules with the library.
    script = tmp_path / "tools" / "cdk_diff.js"
    script.parent.mkdir()
    shutil.copy(cdk_diff.NODE_SCRIPT, script)
    monkeypatch.setattr(cdk_diff, "NODE_SCRIPT", script)
    monkeypatch.delenv("NODE_PATH", raising=False)
    base = _assembly(tmp_path / "base", {"A": '{"Resources": {}}'})
    head = _assembly(tmp_path / "head", {"B": '{"Resources": {}}'})

    status = cdk_diff.main(["--base-dir", str(base), "--head-dir", str(head)])

    assert status == 2
    assert "@aws-cdk/cloudformation-diff is not installed" in capsys.readouterr().err


def test_node_script_rejects_a_template_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")

    result = subprocess.run(  # the library is not loaded: templates are read first
        ["node", str(cdk_diff.NODE_SCRIPT), str(bad), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert f"template {bad} is not valid JSON" in result.stderr
    assert result.stdout == ""


def test_a_directory_of_templates_is_a_base(tmp_path):
    (tmp_path / "Dev-Stack.template.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a template")

    stacks = cdk_diff.load_stacks(tmp_path)

    assert list(stacks) == ["Dev-Stack"]
    assert stacks["Dev-Stack"].template == tmp_path / "Dev-Stack.template.json"


def test_a_stack_whose_constructs_only_moved_is_one_line_and_needs_no_node(tmp_path, capsys):
    def template(path: str, versioned: bool = False) -> str:
        bucket = {"Type": "AWS::S3::Bucket", "Metadata": {"aws:cdk:path": path}}
        if versioned:
            bucket["Properties"] = {"VersioningConfiguration": {"Status": "Enabled"}}
        return json.dumps({"Resources": {"Data1234": bucket}})

    base = _assembly(tmp_path / "base", {"A": template("A/Data/Resource")})
    moved = _assembly(tmp_path / "moved", {"A": template("A/Default/Data/Resource")})
    changed = _assembly(tmp_path / "changed", {"A": template("A/Default/Data/Resource", True)})

    # Moved, and a new asset as well: not path-only either.
    def with_asset(path: str, digest: str) -> str:
        document = json.loads(template(path))
        document["Resources"]["Data1234"]["Properties"] = {"BucketName": digest * 64}
        return json.dumps(document)

    asset_base = _assembly(tmp_path / "asset-base", {"A": with_asset("A/Data/Resource", "b")})
    both = _assembly(tmp_path / "both", {"A": with_asset("A/Default/Data/Resource", "a")})

    status = cdk_diff.main(
        ["--base-dir", str(base), "--head-dir", str(moved), "--fail", "--node", "no-such-node"]
    )
    report = capsys.readouterr().out
    # A property change as well is not path-only: it goes to the library (here: missing node).
    changed_status = cdk_diff.main(
        ["--base-dir", str(base), "--head-dir", str(changed), "--node", "no-such-node"]
    )

    assert status == 1
    assert "- `A`: only construct paths changed" in report
    assert "<details>" not in report
    assert changed_status == 2
    both_status = cdk_diff.main(
        ["--base-dir", str(asset_base), "--head-dir", str(both), "--node", "no-such-node"]
    )
    assert both_status == 2
