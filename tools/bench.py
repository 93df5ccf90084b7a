"""Times `cdk synth` of this app against an empty one-stack app (the floor), and the tests.

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
    # Like for like: CloudFormation's built-in validation off, as this app has it by default
    # (cfn-lint covers it in the tests). A default `cdk init` app has it on.
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

    with tempfile.TemporaryDirectory() as scratch:
        empty_dir = Path(scratch) / "empty-app"
        empty_dir.mkdir()
        (empty_dir / "app.py").write_text(EMPTY_APP)
        (empty_dir / "cdk.json").write_text(f'{{"app": "{sys.executable} app.py"}}\n')
        floor = _synth_seconds(empty_dir, Path(scratch) / "empty.out", args.repeats)
        default_floor = _synth_seconds(
            empty_dir, Path(scratch) / "empty-default.out", args.repeats, validation=True
        )
        app = _synth_seconds(REPO_ROOT, Path(scratch) / "app.out", args.repeats)

    print(f"synth, empty one-stack app (floor): {floor:6.2f} s  (median of {args.repeats})")
    print(f"synth, this app (every stack):      {app:6.2f} s  (median of {args.repeats})")
    print(f"ratio app / floor:                  {app / floor:6.2f}   (target <= 1.5)")
    print(
        f"  for reference, empty app with CDK defaults (built-in validation on): "
        f"{default_floor:.2f} s, ratio {app / default_floor:.2f}"
    )
    if not args.skip_tests:
        tests = _time([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], REPO_ROOT)
        print(f"test suite wall time:               {tests:6.2f} s  (target <= 60)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
