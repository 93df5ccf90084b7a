"""Hooks for the pipeline-code tests."""

from __future__ import annotations

import pytest

from tests.pipeline_code import sdk_build


def pytest_collection_finish(session: pytest.Session) -> None:
    sdk_build.start(session)
