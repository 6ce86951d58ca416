"""Fixtures of the QuickSight tests; the helpers they build on are in tests/support/quicksight.py."""

from __future__ import annotations

import json

import pytest

from tests.support import quicksight as lib


@pytest.fixture(scope="session")
def built():
    """(template, QuickSight): a fresh build per session, for tests that inspect troposphere objects."""
    return lib.build_template()


@pytest.fixture
def template_dict() -> dict:
    """The test template as plain JSON data (a private copy per test)."""
    return json.loads(lib.built_json())


@pytest.fixture
def template_json() -> str:
    return lib.built_json()
