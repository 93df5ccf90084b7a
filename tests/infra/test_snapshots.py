"""Whole-template snapshots: any change to a template shows up in review.

Update on purpose only: `make snapshots` (pytest --snapshot-update), then read the diff.
"""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.conftest import Synthesized


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_every_stack_matches_its_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    for stack_name in sorted(synthesized.templates):
        assert synthesized.templates[stack_name] == snapshot_json(name=stack_name)


def test_synth_is_deterministic(synthesize_variant: Any, synthesized: Synthesized) -> None:
    again = synthesize_variant({})
    assert again.templates == synthesized.templates
