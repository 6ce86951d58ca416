"""Helpers for the analytics tests: the view contract of docs/DESIGN.md, and row comparison."""

from __future__ import annotations

import re

import pytest

from .templates import ROOT

DESIGN = ROOT / "docs" / "DESIGN.md"


def contract_columns() -> dict[str, list[str]]:
    """View -> output columns, read from the "Views" section of docs/DESIGN.md (the QuickSight contract)."""
    text = DESIGN.read_text(encoding="utf-8")
    section = text.split("## Views", 1)[1].split("\n## ", 1)[0]
    columns: dict[str, list[str]] = {}
    for match in re.finditer(r"^- `(\w+)`: ((?:.+\n(?:  .+\n)*))", section, re.M):
        body = re.sub(r"\(.*?\)", "", " ".join(match.group(2).split()))
        columns[match.group(1)] = [c.strip() for c in body.split(",") if c.strip()]
    return columns


def sorted_rows(rows) -> list[tuple]:
    return sorted((tuple(r) for r in rows), key=repr)


def assert_same_rows(got, expected, label: str = "") -> None:
    """Equality of row multisets, with a readable difference."""
    got, expected = sorted_rows(got), sorted_rows(expected)
    if got != expected:
        extra = [r for r in got if r not in expected][:5]
        missing = [r for r in expected if r not in got][:5]
        pytest.fail(
            f"{label}: {len(got)} rows, expected {len(expected)}\n  unexpected: {extra}\n  missing:    {missing}"
        )
