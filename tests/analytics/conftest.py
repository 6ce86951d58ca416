"""Shared fixtures of the analytics tests: a small generated S3 tree, the Glue tables of the template, and a
local engine (DuckDB) with the views created in order.

The template is templates/patch-compliance.yaml when it declares our tables, else one built in-process with
patchcompliance.glue (see tests/support/catalog.py). Each xdist worker builds its own session fixtures
(a few seconds); nothing touches the network.
"""

from __future__ import annotations

import pytest

from patchcompliance.constants import VIEW_ORDER
from tests.support import catalog
from tests.support.engine import LocalAthena, open_engine
from tests.support.fixtures import ACCOUNTS, Fixture, FixtureSpec, generate
from tests.support.timeline_engine import TIMELINE_VIEWS, open_timeline

# Policy parameters of short_window_engine (the defaults are the central parameters' defaults).
SHORT_WINDOW = {
    "TrendDays": "5", "SlaCriticalDays": "3", "SlaImportantDays": "4", "SlaMediumDays": "5", "SlaLowDays": "2",
    "SlaOtherDays": "1", "StaleAfterDays": "8", "ExemptionTagKey": "ops/patch exempt",
}  # fmt: skip

# An account x region with this many EC2 instances (about 900 managed nodes with a ~40 KB inventory item each)
# delivers a snapshot file over Athena's 32 MB row limit.
BIG_REGION_INSTANCES = 1_100


@pytest.fixture(scope="session")
def template_and_source() -> tuple[dict, str]:
    return catalog.template_with_glue_tables()


@pytest.fixture(scope="session")
def template(template_and_source) -> dict:
    return template_and_source[0]


@pytest.fixture(scope="session")
def fixture_tree(tmp_path_factory) -> Fixture:
    return generate(tmp_path_factory.mktemp("s3"))


@pytest.fixture(scope="session")
def engine(fixture_tree, template, tmp_path_factory) -> LocalAthena:
    eng = open_engine(fixture_tree, template, tmp_path_factory.mktemp("engine"), threads=1)
    yield eng
    eng.con.close()


@pytest.fixture(scope="session")
def view_rows(engine) -> dict[str, tuple[list[str], list[tuple]]]:
    """(columns, rows) of every view, queried once per session."""
    return {name: engine.query(f'SELECT * FROM "{name}"', trino=False) for name in VIEW_ORDER}


@pytest.fixture(scope="session")
def big_fixture_tree(tmp_path_factory) -> Fixture:
    """A fixture with one account x region whose latest snapshot is over 32 MB, beside a normal one and the
    region without the managed rules; generated once per session, only when a test asks for it."""
    spec = FixtureSpec(
        regions=("eu-west-1", "ap-east-2"), days=1, second_snapshot=False, stale_days=0, export_days=2,
        instances_by_region=((ACCOUNTS[1], "eu-west-1", BIG_REGION_INSTANCES),), all_inventory_types=False,
        history_files=False, volumes=False, gzip_level=1,
    )  # fmt: skip
    return generate(tmp_path_factory.mktemp("big"), spec)


@pytest.fixture(scope="session")
def big_engine(big_fixture_tree, template, tmp_path_factory) -> LocalAthena:
    eng = open_engine(big_fixture_tree, template, tmp_path_factory.mktemp("big-engine"), threads=2)
    yield eng
    eng.con.close()


# ---------------------------------------------------------------- the multi-day fleet (tests/support/timeline.py)
@pytest.fixture(scope="session")
def timeline_engine(tmp_path_factory) -> LocalAthena:
    """Today's inputs of the timeline fleet and the history before it, views with the default parameters."""
    eng = open_timeline(tmp_path_factory.mktemp("timeline"), workdir=tmp_path_factory.mktemp("timeline-engine"))
    yield eng
    eng.con.close()


@pytest.fixture(scope="session")
def timeline_rows(timeline_engine) -> dict[str, tuple[list[str], list[tuple]]]:
    return {name: timeline_engine.query(f'SELECT * FROM "{name}"', trino=False) for name in TIMELINE_VIEWS}


@pytest.fixture(scope="session")
def short_window_engine(tmp_path_factory) -> LocalAthena:
    """The same fleet with other policy parameters: a short trend window and SLAs, so compliance_trend reads only
    part of the history (runs that began earlier count from its first day), a stale threshold of 8 days and an
    exemption tag key with a space and a slash."""
    eng = open_timeline(
        tmp_path_factory.mktemp("timeline-short"), values=SHORT_WINDOW, workdir=tmp_path_factory.mktemp("short-engine")
    )
    yield eng
    eng.con.close()
