"""Shared fixtures of the analytics tests: a small generated S3 tree, the Glue tables of the template, and a
local engine (DuckDB) with the views created in order.

The template is templates/patch-compliance.yaml when it declares our tables, else one built in-process with
patchcompliance.glue (see patchcompliance.testing.catalog). Each xdist worker builds its own session fixtures
(a few seconds); nothing touches the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from patchcompliance import testing
from patchcompliance.testing import catalog

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "DESIGN.md"
SQL_DIR = ROOT / "patchcompliance" / "sql"

# --import-mode=importlib: test modules import this module under an alias instead of `import conftest`.
sys.modules.setdefault("analytics_testlib", sys.modules[__name__])


def contract_columns() -> dict[str, list[str]]:
    """View -> output columns, read from the "Views" section of docs/DESIGN.md (the QuickSight contract)."""
    import re

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


@pytest.fixture(scope="session")
def template_and_source() -> tuple[dict, str]:
    return catalog.template_with_glue_tables()


@pytest.fixture(scope="session")
def template(template_and_source) -> dict:
    return template_and_source[0]


@pytest.fixture(scope="session")
def fixture_tree(tmp_path_factory) -> testing.Fixture:
    return testing.generate(tmp_path_factory.mktemp("s3"))


@pytest.fixture(scope="session")
def engine(fixture_tree, template, tmp_path_factory) -> testing.LocalAthena:
    eng = testing.open_engine(fixture_tree, template, tmp_path_factory.mktemp("engine"), threads=1)
    yield eng
    eng.con.close()


@pytest.fixture(scope="session")
def view_rows(engine) -> dict[str, tuple[list[str], list[tuple]]]:
    """(columns, rows) of every view, queried once per session."""
    return {name: engine.query(f'SELECT * FROM "{name}"', trino=False) for name in testing.VIEW_ORDER}
