"""Shared fixtures: the committed templates, parsed with cfn-lint's decoder (short-form tags understood)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
CENTRAL_PATH = TEMPLATES / "patch-compliance.yaml"
MEMBER_PATH = TEMPLATES / "patch-compliance-member.yaml"


def parse_template(text: str) -> dict:
    data, matches = decode_str(text)
    assert not matches, [str(m) for m in matches]
    return data


@pytest.fixture(scope="session")
def central_text() -> str:
    return CENTRAL_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def member_text() -> str:
    return MEMBER_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def central(central_text) -> dict:
    return parse_template(central_text)


@pytest.fixture(scope="session")
def member(member_text) -> dict:
    return parse_template(member_text)


@pytest.fixture(scope="session")
def both(central, member) -> dict[str, dict]:
    return {"central": central, "member": member}
