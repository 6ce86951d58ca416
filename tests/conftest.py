"""Shared fixtures: the committed templates, parsed with cfn-lint's decoder (short-form tags understood)."""

from __future__ import annotations

import pytest

from tests.support.templates import CENTRAL_TEMPLATE, MEMBER_TEMPLATE, parse_template


@pytest.fixture(scope="session")
def central_text() -> str:
    return CENTRAL_TEMPLATE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def member_text() -> str:
    return MEMBER_TEMPLATE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def central(central_text) -> dict:
    return parse_template(central_text, str(CENTRAL_TEMPLATE))


@pytest.fixture(scope="session")
def member(member_text) -> dict:
    return parse_template(member_text, str(MEMBER_TEMPLATE))


@pytest.fixture(scope="session")
def both(central, member) -> dict[str, dict]:
    return {"central": central, "member": member}
