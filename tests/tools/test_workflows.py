"""The GitHub Actions workflows, checked offline: the workflow schema, action pins and inputs,
permissions, and the pull-request comment script run against a fake GitHub API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# Every action is pinned to the commit of a release, since a tag can be moved to other code.
# The schema cannot know a pinned release's inputs, so the
# inputs of each pinned release (from its action.yml) are listed here. Bumping an action
# means updating its row: the commit the release tag points to, and that release's inputs.
PINNED_ACTIONS: dict[str, tuple[str, str, frozenset[str]]] = {
    "actions/checkout": (
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
        frozenset(
            {
                "allow-unsafe-pr-checkout", "clean", "fetch-depth", "fetch-tags", "filter",
                "github-server-url", "lfs", "path", "persist-credentials", "ref", "repository",
                "set-safe-directory", "show-progress", "sparse-checkout",
                "sparse-checkout-cone-mode", "ssh-key", "ssh-known-hosts", "ssh-strict",
                "ssh-user", "submodules", "token",
            }
        ),
    ),
    "actions/setup-python": (
        "5fda3b95a4ea91299a34e894583c3862153e4b97",
        "v7.0.0",
        frozenset(
            {
                "allow-prereleases", "architecture", "cache", "cache-dependency-path",
                "check-latest", "freethreaded", "pip-version", "python-version",
                "python-version-file", "token", "update-environment",
            }
        ),
    ),
    "actions/setup-node": (
        "820762786026740c76f36085b0efc47a31fe5020",
        "v7.0.0",
        frozenset(
            {
                "architecture", "cache", "cache-dependency-path", "check-latest", "mirror",
                "mirror-token", "node-version", "node-version-file", "package-manager-cache",
                "registry-url", "scope", "token",
            }
        ),
    ),
    "actions/upload-artifact": (
        "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        "v7.0.0",
        frozenset(
            {
                "archive", "compression-level", "if-no-files-found", "include-hidden-files",
                "name", "overwrite", "path", "retention-days",
            }
        ),
    ),
    "actions/download-artifact": (
        "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        "v8.0.1",
        frozenset(
            {
                "artifact-ids", "digest-mismatch", "github-token", "merge-multiple", "name",
                "path", "pattern", "repository", "run-id", "skip-decompress",
            }
        ),
    ),
    "actions/github-script": (
        "ed597411d8f924073f98dfc5c65a23a2325f34cd",
        "v8.0.0",
        frozenset(
            {
                "base-url", "debug", "github-token", "previews", "result-encoding", "retries",
                "retry-exempt-status-codes", "script", "user-agent",
            }
        ),
    ),
    "aws-actions/configure-aws-credentials": (
        "e6de054238d6b7531b4efff3b6587d9aade6a06c",
        "v6.2.3",
        frozenset(
            {
                "action-timeout-s", "allowed-account-ids", "audience", "aws-access-key-id",
                "aws-profile", "aws-region", "aws-secret-access-key", "aws-session-token",
                "custom-tags", "disable-retry", "force-skip-oidc", "http-proxy",
                "inline-session-policy", "managed-session-policies", "mask-aws-account-id",
                "no-proxy", "output-credentials", "output-env-credentials",
                "overwrite-aws-profile", "retry-max-attempts", "role-chaining",
                "role-duration-seconds", "role-external-id", "role-session-name",
                "role-skip-session-tagging", "role-to-assume", "special-characters-workaround",
                "sts-endpoint", "transitive-tag-keys", "unset-current-credentials",
                "use-existing-credentials", "web-identity-token-file",
            }
        ),
    ),
}  # fmt: skip

_USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")
MARKER = "<!-- cdk-diff-report -->"


def _load(name: str) -> dict[Any, Any]:
    workflow: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return workflow


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    triggers: dict[str, Any] = workflow["on"] if "on" in workflow else workflow[True]
    return triggers


def _steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job["steps"]]


def _step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@"))


def test_both_workflows_exist():
    # The checks below loop over the files; they must not pass because there are none.
    assert [path.name for path in WORKFLOW_FILES] == ["ci.yml", "pr-diff.yml"]


def _check_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Validates against the GitHub workflow schema vendored in check-jsonschema (offline)."""
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", *paths],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_workflows_match_the_github_workflow_schema():
    assert CHECK_JSONSCHEMA.is_file(), f"{CHECK_JSONSCHEMA} missing: `make test` installs it"
    result = _check_schema(*WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps: [{run: echo}]\n", encoding="utf-8")
    result = _check_schema(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout + result.stderr


def test_every_action_is_pinned_to_the_commit_of_a_release():
    for path in WORKFLOW_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = _USES_LINE.match(line)
            if not match:
                continue
            where = f"{path.name}:{number}"
            action, _, commit = match["ref"].partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", commit), f"{where}: pin {action} to a commit"
            assert match["comment"] and re.fullmatch(r"v\d+\.\d+\.\d+", match["comment"]), (
                f"{where}: name the release in a comment, e.g. `# v1.2.3`"
            )
            assert action in PINNED_ACTIONS, f"{where}: add {action} to PINNED_ACTIONS"
            assert (commit, match["comment"]) == PINNED_ACTIONS[action][:2], (
                f"{where}: {action} differs from its PINNED_ACTIONS row"
            )


def test_every_step_input_exists_in_the_pinned_release():
    for path in WORKFLOW_FILES:
        for job_id, step in _steps(_load(path.name)):
            if "uses" not in step:
                continue
            action = step["uses"].partition("@")[0]
            unknown = set(step.get("with", {})) - PINNED_ACTIONS[action][2]
            assert not unknown, f"{path.name} job {job_id}: {action} has no input {unknown}"


def test_ci_runs_synth_then_test_on_push_and_pull_request():
    workflow = _load("ci.yml")
    job = workflow["jobs"]["test"]
    runs = [step["run"] for step in job["steps"] if "run" in step]

    assert {"push", "pull_request"} <= set(_triggers(workflow))
    assert job["runs-on"] == "ubuntu-latest"
    assert runs == ["make synth", "make test"]
    assert _step_using(job, "actions/setup-python")["with"] == {
        "python-version": "3.11",
        "cache": "pip",
        "cache-dependency-path": "constraints.txt",
    }
    assert _step_using(job, "actions/setup-node")["with"] == {
        "node-version": "20",
        "cache": "npm",
        "cache-dependency-path": "package-lock.json",
    }
    assert workflow["permissions"] == {"contents": "read"}


def test_pr_diff_grants_write_only_where_it_is_needed():
    workflow = _load("pr-diff.yml")
    jobs = workflow["jobs"]

    assert workflow["permissions"] == {"contents": "read"}
    # The job that runs the pull request's code (synth) inherits read-only access; the job
    # that comments runs none of it.
    assert "permissions" not in jobs["diff"]
    assert jobs["comment"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["deployed"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert set(jobs) == {"diff", "comment", "deployed"}


def test_pr_diff_needs_no_aws_credentials_by_default():
    text = (WORKFLOWS / "pr-diff.yml").read_text(encoding="utf-8")
    jobs = _load("pr-diff.yml")["jobs"]

    assert "secrets." not in text
    for job_id in ("diff", "comment"):
        steps = json.dumps(jobs[job_id]["steps"])
        assert "configure-aws-credentials" not in steps
        assert "AWS_" not in steps
        assert "id-token" not in jobs[job_id].get("permissions", {})
    # The only job with AWS access runs when the repository variable is set, never for forks.
    deployed = jobs["deployed"]
    assert "vars.CDK_DIFF_ROLE_ARN != ''" in deployed["if"]
    assert "head.repo.full_name == github.repository" in deployed["if"]
    assert (
        _step_using(deployed, "aws-actions/configure-aws-credentials")["with"]["role-to-assume"]
        == "${{ vars.CDK_DIFF_ROLE_ARN }}"
    )
    # Synth runs before the credentials exist.
    names = [step["name"] for step in deployed["steps"]]
    assert names.index("Synthesize") < names.index("AWS credentials (OIDC)")


def test_pr_diff_synthesizes_both_sides_and_uses_the_shared_script():
    steps = _load("pr-diff.yml")["jobs"]["diff"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    refs = [step["with"].get("ref") for step in steps if "checkout" in step.get("uses", "")]

    assert refs == [None, "${{ github.event.pull_request.base.sha }}"]
    assert runs.index("make -C base synth") < runs.index("tools/cdk_diff.py")
    assert runs.index("make -C head synth") < runs.index("tools/cdk_diff.py")
    assert "--base-dir base/cdk.out --head-dir head/cdk.out" in runs
    # `make diff` runs the same script.
    assert "tools/cdk_diff.py --base-dir" in (REPO_ROOT / "Makefile").read_text(encoding="utf-8")


# The github-script step's code, run by node against a fake GitHub: github-script calls it as
# the body of an async function of (github, context, core, require).
HARNESS = r"""
const fs = require('fs');
const script = fs.readFileSync(process.argv[2], 'utf8');
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;

async function run(existing, result) {
  const calls = [];
  const github = {
    paginate: async (method, params) => { calls.push(['list', params]); return existing; },
    rest: { issues: {
      listComments: () => {},
      updateComment: async (params) => { calls.push(['update', params]); },
      createComment: async (params) => {
        calls.push(['create', params]);
        return { data: { html_url: 'https://example.com/c' } };
      },
    } },
  };
  const context = {
    repo: { owner: 'octo', repo: 'mlops' },
    runId: 42,
    serverUrl: 'https://github.com',
    payload: { pull_request: { number: 7, head: { sha: 'abc123' } } },
  };
  process.env.DIFF_RESULT = result;
  await new AsyncFunction('github', 'context', 'core', 'require', script)(
    github, context, { info: () => {} }, require);
  return calls;
}

(async () => {
  const marker = process.argv[3];
  const quoted = { id: 1, user: { login: 'someone' }, body: `quoting ${marker}` };
  const ours = { id: 2, user: { login: 'github-actions[bot]' }, body: `${marker}\nold` };
  console.log(JSON.stringify({
    first: await run([quoted], 'success'),
    again: await run([quoted, ours], 'success'),
    failed: await run([ours], 'failure'),
  }));
})().catch((error) => { console.error(error); process.exit(1); });
"""


@pytest.fixture(scope="module")
def comment_calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (it is needed for the CDK CLI too)")
    tmp = tmp_path_factory.mktemp("comment")
    step = _step_using(_load("pr-diff.yml")["jobs"]["comment"], "actions/github-script")
    (tmp / "script.js").write_text(step["with"]["script"], encoding="utf-8")
    (tmp / "harness.js").write_text(HARNESS, encoding="utf-8")
    (tmp / "report.md").write_text("## cdk diff\n\nthe report\n", encoding="utf-8")
    result = subprocess.run(
        [node, tmp / "harness.js", tmp / "script.js", MARKER],
        env={"PATH": "/usr/bin:/bin", "REPORT": str(tmp / "report.md")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    calls: dict[str, list[Any]] = json.loads(result.stdout)
    return calls


def test_first_run_creates_one_comment_with_the_marker_and_report(comment_calls):
    calls = comment_calls["first"]

    assert [name for name, _ in calls] == ["list", "create"]
    params = calls[1][1]
    assert (params["owner"], params["repo"], params["issue_number"]) == ("octo", "mlops", 7)
    assert params["body"].startswith(f"{MARKER}\n## cdk diff\n\nthe report\n")
    assert "Commit abc123" in params["body"]


def test_later_runs_edit_our_comment_not_another_one(comment_calls):
    calls = comment_calls["again"]

    assert [name for name, _ in calls] == ["list", "update"]
    assert calls[1][1]["comment_id"] == 2  # ours, not the one quoting the marker
    assert "the report" in calls[1][1]["body"]


def test_a_failed_diff_replaces_the_stale_report(comment_calls):
    calls = comment_calls["failed"]

    assert [name for name, _ in calls] == ["list", "update"]
    assert "The diff failed" in calls[1][1]["body"]
    assert "actions/runs/42" in calls[1][1]["body"]
