"""Whole-template snapshots: any change to a template shows up in review.

Update on purpose only: `make snapshots` (pytest --snapshot-update), then read the diff.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.conftest import Synthesized

# Asset hashes change with any edit of the files they package (the model-build repository's
# initial content is the whole project), so snapshots show where assets are, not their hash.
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def _without_asset_hashes(node: Any) -> Any:
    if isinstance(node, str):
        return _ASSET_HASH.sub("<asset-hash>", node)
    if isinstance(node, dict):
        return {key: _without_asset_hashes(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_asset_hashes(item) for item in node]
    return node


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_every_stack_matches_its_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    for stack_name in sorted(synthesized.templates):
        template = _without_asset_hashes(synthesized.templates[stack_name])
        assert template == snapshot_json(name=stack_name)


def test_the_three_account_layout_matches_its_snapshot(
    three_accounts: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    # Dev's stacks that the layout changes, and the stacks of its two endpoint accounts.
    for stack_name in sorted(three_accounts.templates):
        if stack_name.startswith("Dev-") and "Trigger" not in stack_name:
            template = _without_asset_hashes(three_accounts.templates[stack_name])
            assert template == snapshot_json(name=f"three-accounts-{stack_name}")


def test_synth_is_deterministic(
    synthesize_variant: Any, synthesized: Synthesized, request: pytest.FixtureRequest
) -> None:
    if request.config.getoption("update_snapshots", default=False):
        # The model-build repository asset packs the project, snapshots included, and this
        # run is rewriting them: the tree itself changes between the two synths.
        pytest.skip("snapshots are being rewritten in this run")
    again = synthesize_variant({})
    assert again.templates == synthesized.templates
