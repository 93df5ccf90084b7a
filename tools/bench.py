"""Times `cdk synth` of this app against an empty one-stack app (the floor), and the tests.

Both are timed with CDK's built-in CloudFormation validation off (as this app ships; cfn-lint
covers it in the tests) and on (CDK's default), so the ratio is like for like; the app as
shipped against an empty app with CDK's defaults is printed too.

Run through `make bench`, which sets the offline environment. Each synth is run a few
times and the median is reported, since the first jsii start-up of a run varies.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"

EMPTY_APP = """\
import aws_cdk as cdk

app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""


def _time(command: list[str], cwd: Path, *, validation: bool = False) -> float:
    env = {**os.environ, "CDK_VALIDATION": "true" if validation else "false"}
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (our own fixed commands)
    return time.perf_counter() - start


def _synth_seconds(app_dir: Path, outdir: Path, repeats: int, *, validation: bool = False) -> float:
    command = [
        str(CDK),
        "synth",
        "--quiet",
        "--no-notices",
        "--no-lookups",
        "--output",
        str(outdir),
    ]
    return statistics.median(_time(command, app_dir, validation=validation) for _ in range(repeats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args()

    # Seconds per (app, CDK built-in validation on?), all measured in this one run.
    timings: dict[tuple[str, bool], float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        empty_dir = Path(scratch) / "empty-app"
        empty_dir.mkdir()
        (empty_dir / "app.py").write_text(EMPTY_APP)
        (empty_dir / "cdk.json").write_text(f'{{"app": "{sys.executable} app.py"}}\n')
        for validation in (False, True):
            for name, app_dir in (("empty", empty_dir), ("app", REPO_ROOT)):
                outdir = Path(scratch) / f"{name}-{validation}.out"
                timings[name, validation] = _synth_seconds(
                    app_dir, outdir, args.repeats, validation=validation
                )

    floor, app = timings["empty", False], timings["app", False]
    print(f"synth wall time, median of {args.repeats}   empty app (floor)   this app   ratio")
    for validation in (False, True):
        label = "on " if validation else "off"
        empty_s, app_s = timings["empty", validation], timings["app", validation]
        print(
            f"  CDK built-in validation {label}       {empty_s:6.2f} s        {app_s:6.2f} s  "
            f"{app_s / empty_s:5.2f}"
        )
    default_floor = timings["empty", True]
    print(
        f"ratio app / floor, like for like (validation off in both): {app / floor:.2f}"
        "   (target <= 1.5)"
    )
    print(
        f"  this app as shipped (validation off) against an empty app with CDK's defaults: "
        f"{app / default_floor:.2f}"
    )
    if not args.skip_tests:
        tests = _time([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], REPO_ROOT)
        print(f"test suite wall time: {tests:6.2f} s  (target <= 60)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
