"""config/instance_types.json matches the SageMaker API model of the pinned botocore."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.tools.scripts import import_script

if TYPE_CHECKING:
    import sagemaker_instance_types
else:
    sagemaker_instance_types = import_script("sagemaker_instance_types")

TABLE = sagemaker_instance_types.TABLE


def test_the_committed_table_is_what_botocore_lists() -> None:
    assert TABLE.read_text(encoding="utf-8") == sagemaker_instance_types.render(
        sagemaker_instance_types.instance_types_from_botocore()
    ), "config/instance_types.json is stale: run `make instance-types`"


def test_the_table_knows_each_use_and_the_project_defaults() -> None:
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    assert set(table) == {"processing", "training", "hosting"}
    assert all("ml.m5.xlarge" in table[use] for use in ("processing", "training"))
    assert "ml.m5.large" in table["hosting"]
    # The uses differ: burstable t2 hosts endpoints but cannot train.
    assert "ml.t2.medium" in table["hosting"]
    assert "ml.t2.medium" not in table["training"]
