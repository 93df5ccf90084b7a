"""Writes config/instance_types.json: the instance types SageMaker accepts for each use.

The lists come from the SageMaker API model bundled with botocore (a pinned dev dependency),
so config validation needs neither botocore nor AWS at synth. `make instance-types` refreshes
the file after a botocore upgrade; a test fails while it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import botocore.session
from botocore.model import StringShape

TABLE = Path(__file__).resolve().parents[1] / "config" / "instance_types.json"
# Our use of an instance type -> the SageMaker API enum that lists the accepted ones.
API_SHAPES = {
    "processing": "ProcessingInstanceType",
    "training": "TrainingInstanceType",
    "hosting": "ProductionVariantInstanceType",
}


def instance_types_from_botocore() -> dict[str, list[str]]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    table: dict[str, list[str]] = {}
    for use, name in API_SHAPES.items():
        shape = model.shape_for(name)
        if not isinstance(shape, StringShape):
            raise TypeError(f"SageMaker's {name} is no longer a string enum")
        table[use] = sorted(shape.enum)
    return table


def render(table: dict[str, list[str]]) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    expected = render(instance_types_from_botocore())
    if args.check:
        if not TABLE.is_file() or TABLE.read_text(encoding="utf-8") != expected:
            print(f"{TABLE} is stale: run `make instance-types`", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(expected, encoding="utf-8")
    print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
