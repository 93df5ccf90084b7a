"""tools/cdk_diff.py: the report of `make diff` and of the pull-request workflow.

The end-to-end tests share one report: two small apps (base and head) are synthesized in
this process and compared once with the pinned CLI, which costs about 2 s per call; only
the two stacks with real changes reach it. The parsing and rendering tests use canned
CLI output and need no CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from tests.tools.scripts import import_script

if TYPE_CHECKING:
    import cdk_diff
else:
    cdk_diff = import_script("cdk_diff")

ResourceChange = cdk_diff.ResourceChange
StackDiff = cdk_diff.StackDiff
Status = cdk_diff.Status
CDK = cdk_diff.DEFAULT_CDK

# Real output of the pinned CLI (2.1148.1) for a security-group rule, a managed policy, an
# asset change and a replacement, with the colours it prints when FORCE_COLOR is on, a
# warning before the diff and its footer; one line is edited to show "may be replaced".
CANNED_OUTPUT = """\
Unknown option(s): --. These will be ignored.
Stack \x1b[1mSec-Stack\x1b[22m
\x1b[4m\x1b[1mIAM Policy Changes\x1b[22m\x1b[24m
┌───┬──────────┬──────────────────────────────────────────────────────┐
│   │ Resource │ Managed Policy ARN                                   │
├───┼──────────┼──────────────────────────────────────────────────────┤
│ + │ ${R}     │ arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess │
└───┴──────────┴──────────────────────────────────────────────────────┘
Security Group Changes
┌───┬───────────────┬─────┬──────────┬─────────────────┐
│   │ Group         │ Dir │ Protocol │ Peer            │
├───┼───────────────┼─────┼──────────┼─────────────────┤
│ + │ ${Sg.GroupId} │ In  │ TCP 22   │ Everyone (IPv4) │
└───┴───────────────┴─────┴──────────┴─────────────────┘
(NOTE: There may be security-related changes not in this list. See https://github.com/aws/aws-cdk/issues/1299)

Resources
[~] AWS::EC2::SecurityGroup Sg SgD4954771
 └─ [+] SecurityGroupIngress
     └─ [{"CidrIp":"0.0.0.0/0","FromPort":22,"IpProtocol":"tcp","ToPort":22}]
\x1b[33m[~]\x1b[39m AWS::IAM::Role R RC21A1702
 └─ [+] ManagedPolicyArns
[~] AWS::Lambda::Function Fn Fn9270CBC0
 └─ [~] Code
     └─ [~] .S3Key:
         ├─ [-] b83cfe089b8a339fb870356134f981a3b0406ce6246617c05d5ee92b466aa367.zip
         └─ [+] a661af18e0db9e37c033ce3bc872a1345914bc134b8198ceeff141784fe97d5e.zip
[~] AWS::SNS::Topic Topic Topic replace
 └─ [~] TopicName (requires replacement)
[~] AWS::Events::Rule My Rule/With Space MyRule12AB may be replaced
[+] AWS::SQS::Queue Q Q1234
[-] AWS::S3::Bucket Old/Bucket OldBucket9 orphan
Outputs
[+] Output X X: {"Value":"y"}



✨  Number of stacks with differences: 1
"""


# --- pure functions (no CLI) ----------------------------------------------------------------


def test_cli_output_is_split_into_diff_resources_and_security_tables():
    text, resources, tables = cdk_diff.parse_cli_output(CANNED_OUTPUT)

    assert "\x1b" not in text
    assert text.startswith("Stack Sec-Stack\n")  # the warning before it is dropped
    assert "Number of stacks with differences" not in text
    assert text.endswith('[+] Output X X: {"Value":"y"}')
    assert [table.splitlines()[0] for table in tables] == [
        "IAM Policy Changes",
        "Security Group Changes",
    ]
    assert "ReadOnlyAccess" in tables[0] and "Everyone (IPv4)" in tables[1]
    assert "(NOTE:" not in "".join(tables)
    assert resources == [
        ResourceChange("~", "AWS::EC2::SecurityGroup", "Sg", "SgD4954771", None),
        ResourceChange("~", "AWS::IAM::Role", "R", "RC21A1702", None),
        ResourceChange("~", "AWS::Lambda::Function", "Fn", "Fn9270CBC0", None),
        ResourceChange("~", "AWS::SNS::Topic", "Topic", "Topic", "replace"),
        ResourceChange(
            "~", "AWS::Events::Rule", "My Rule/With Space", "MyRule12AB", "may be replaced"
        ),
        ResourceChange("+", "AWS::SQS::Queue", "Q", "Q1234", None),
        ResourceChange("-", "AWS::S3::Bucket", "Old/Bucket", "OldBucket9", "orphan"),
    ]


def test_security_relevance_and_replacement_follow_type_and_impact():
    _, resources, tables = cdk_diff.parse_cli_output(CANNED_OUTPUT)
    diff = StackDiff("Sec-Stack", Status.MODIFIED, resources=resources, security_tables=tables)

    assert [r.logical_id for r in diff.security_resources] == ["SgD4954771", "RC21A1702"]
    assert [r.logical_id for r in diff.replacements] == ["Topic", "MyRule12AB"]
    assert (diff.count("+"), diff.count("-"), diff.count("~")) == (1, 1, 5)


def test_cli_env_drops_aws_credentials_and_turns_off_network_and_colour():
    env = cdk_diff.cli_env(
        {
            "PATH": "/usr/bin",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_SESSION_TOKEN": "token",
            "AWS_PROFILE": "prod",
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/token",
        }
    )

    assert env["PATH"] == "/usr/bin"
    assert (
        not {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        }
        & env.keys()
    )
    assert env["CDK_DISABLE_CLI_TELEMETRY"] == "true"
    assert env["CDK_DISABLE_VERSION_CHECK"] == "1"
    assert env["FORCE_COLOR"] == "0"
    assert env["NO_COLOR"] == "1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"


def test_report_is_cut_to_max_bytes_but_keeps_summary_security_and_replacements():
    _, resources, tables = cdk_diff.parse_cli_output(CANNED_OUTPUT)
    long_text = "\n".join(f"line {i} " + "x" * 80 for i in range(2000))
    diffs = [
        StackDiff("Big-Stack", Status.MODIFIED, long_text, resources, tables),
        StackDiff("Other-Stack", Status.NEW, long_text, [], []),
    ]

    full = cdk_diff.render(diffs)
    cut = cdk_diff.render(diffs, max_bytes=20_000)

    assert len(full.encode()) > 100_000
    assert len(cut.encode()) <= 20_000
    assert cut.count("more lines cut to fit the comment") == 2
    assert "line 0 " in cut  # shortened, not emptied
    for kept in ("| `Big-Stack` 🔐 ♻️ | modified |", "Managed Policy ARN", "**may be replaced**"):
        assert kept in cut


def test_diff_text_cannot_close_its_code_fence():
    diff = StackDiff("S", Status.MODIFIED, diff_text='[+] "```not the end```"')

    report = cdk_diff.render([diff])

    assert "````\n" in report
    assert re.search(r"^````\n\n</details>", report, re.MULTILINE)


def test_a_directory_of_templates_is_a_base(tmp_path):
    (tmp_path / "Dev-Stack.template.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a template")

    stacks = cdk_diff.load_stacks(tmp_path)

    assert list(stacks) == ["Dev-Stack"]
    assert stacks["Dev-Stack"].template == tmp_path / "Dev-Stack.template.json"


def test_a_missing_assembly_is_reported_with_exit_status_2(tmp_path, capsys):
    status = cdk_diff.main(["--base-dir", str(tmp_path / "nope"), "--head-dir", str(tmp_path)])

    assert status == 2
    assert "nope is not a directory" in capsys.readouterr().err


# --- end to end, with the pinned CLI ----------------------------------------------------------


def _synthesize(outdir: Path, *, version: int, assets: Path) -> None:
    """Base (1) and head (2): Demo-Stack gains a policy statement and a new bucket name
    (replacement); Asset-Stack changes only its Lambda code; Same-Stack does not change;
    Old-Stack is removed and New-Stack added."""
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
    if version == 2:
        role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["*"]))

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

    sns.Topic(cdk.Stack(app, "Same-Stack"), "Topic")

    if version == 1:
        old = cdk.Stack(app, "Old-Stack")
        s3.Bucket(old, "Kept")  # retained by default: the CLI's "orphan"
        sqs.Queue(old, "Gone", removal_policy=cdk.RemovalPolicy.DESTROY)
    else:
        new = cdk.Stack(app, "New-Stack")
        iam.Role(new, "Reader", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    app.synth()


@dataclass(frozen=True)
class Run:
    status: int
    report: str
    diffed: frozenset[str]  # stacks the CLI was called for


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    if not CDK.is_file():
        pytest.skip(f"{CDK} is missing: run `make synth` (npm ci) to install the pinned CLI")
    tmp = tmp_path_factory.mktemp("cdk-diff")
    _synthesize(tmp / "base", version=1, assets=tmp / "assets")
    _synthesize(tmp / "head", version=2, assets=tmp / "assets")

    diffed: set[str] = set()
    real_run = cdk_diff.run_cdk_diff

    def counting_run(cdk_path, head_dir, stack, base_template, workdir):
        diffed.add(stack.name)
        return real_run(cdk_path, head_dir, stack, base_template, workdir)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cdk_diff, "run_cdk_diff", counting_run)
        # Credentials in the test's environment must not reach the CLI (it would call STS).
        patch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        status = cdk_diff.main(
            [
                "--base-dir",
                str(tmp / "base"),
                "--head-dir",
                str(tmp / "head"),
                "--output",
                str(tmp / "report.md"),
                "--title",
                "cdk diff: base → head",
                "--fail",
            ]
        )
    return Run(status, (tmp / "report.md").read_text(encoding="utf-8"), frozenset(diffed))


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


def test_only_stacks_with_real_changes_reach_the_cli(run):
    assert run.diffed == {"Demo-Stack", "New-Stack"}


def test_summary_counts_each_stack(run):
    assert "4 of 5 stack(s) differ." in run.report
    assert "| `Demo-Stack` 🔐 ♻️ | modified | 0 | 0 | 2 | 1 | 1 |" in run.report
    assert "| `New-Stack` 🔐 | **new stack** | 1 | 0 | 0 | 1 | 0 |" in run.report
    assert "| `Old-Stack` | **removed stack** | 0 | 2 | 0 | 0 | 0 |" in run.report
    assert "| `Asset-Stack` | only asset hashes changed | - | - | - | - | - |" in run.report
    assert "Unchanged: `Same-Stack`." in run.report


def test_iam_change_is_in_the_security_section(run):
    security = _section(run.report, "🔐 Security-relevant changes")

    assert "**`Demo-Stack`**" in security
    assert "[~] AWS::IAM::Policy Worker/DefaultPolicy" in security
    assert "IAM Statement Changes" in security
    assert re.search(r"│ \+ │ \*\s+│ Allow\s+│ sqs:SendMessage\s+│ AWS:\$\{Worker\}", security)
    # The new stack's role is a grant to review too.
    assert "**`New-Stack`**" in security
    assert "[+] AWS::IAM::Role Reader" in security
    assert "Old-Stack" not in security


def test_bucket_rename_is_listed_as_a_replacement(run):
    replacements = _section(run.report, "♻️ Replacements")

    assert re.search(
        r"- `Demo-Stack`: `AWS::S3::Bucket` `Data` \(`Data\w+`\) — \*\*replace\*\*", replacements
    )
    assert replacements.count("\n- ") == 1


def test_each_changed_stack_has_its_cli_diff(run):
    demo = _details(run.report, "Demo-Stack")
    assert "Stack Demo-Stack" in demo
    assert "BucketName (requires replacement)" in demo
    assert "cdk-diff-test-v1" in demo and "cdk-diff-test-v2" in demo

    new = _details(run.report, "New-Stack")
    assert "[+] AWS::IAM::Role Reader" in new
    # Diffed against an empty template that keeps the bootstrap check: only the stack's own
    # resources show, not the parameter every CDK stack carries.
    assert "BootstrapVersion" not in new


def test_removed_stack_lists_what_is_deleted_and_what_is_kept(run):
    old = _details(run.report, "Old-Stack")

    assert re.search(r"\[-\] AWS::S3::Bucket Kept \(Kept\w+\) \(orphan\)", old)
    assert re.search(r"\[-\] AWS::SQS::Queue Gone \(Gone\w+\) \(destroy\)", old)
    assert "No longer in the app" in old
    assert "except 1 kept by their deletion policy" in old


def test_asset_hash_only_change_is_one_line(run):
    assert (
        "- `Asset-Stack`: only asset hashes changed (1 new asset(s): code or files packaged as "
        "assets)" in run.report
    )
    assert "<code>Asset-Stack</code>" not in run.report
    assert "Same-Stack</code>" not in run.report
