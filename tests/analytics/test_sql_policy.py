"""The compliance policy views on a fleet over 45 days (tests/support/timeline.py): every view equals its ground
truth, the truth holds the scenarios the policy is about, and the history the views read is what the views say on
each past day.

Today is TODAY (current_date pinned by the engine); the history job ran on days -45..-1 except -20.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from patchcompliance.history import COMPLIANCE_COLUMNS, PATCH_COLUMNS
from tests.analytics.conftest import SHORT_WINDOW
from tests.support import policy, timeline
from tests.support import timeline_engine as te
from tests.support.analytics import assert_same_rows, contract_columns

DEFAULT = policy.Settings.of()
SHORT = policy.Settings.of(SHORT_WINDOW)
NAMES = {node.node_id: node.name for node in timeline.NODES}


def truth(view: str, settings: policy.Settings, offset: int = 0) -> list[tuple]:
    return {
        "compliance_settings": lambda: [settings.row()],
        "instance_compliance": lambda: timeline.compliance_rows(offset, settings),
        "patch": lambda: timeline.patch_rows(offset),
        "patch_age": lambda: te.patch_age_rows(settings, offset),
        "patch_cves": lambda: te.patch_cves_rows(settings, offset),
        "compliance_trend": lambda: te.trend_rows(settings, offset),
    }[view]()


def by_name(rows: tuple[list[str], list[tuple]]) -> dict[str, list[dict]]:
    columns, values = rows
    found: dict[str, list[dict]] = {}
    for row in values:
        record = dict(zip(columns, row, strict=True))
        found.setdefault(NAMES.get(record.get("instance_id"), ""), []).append(record)
    return found


# ---------------------------------------------------------------- every view equals its truth
@pytest.mark.parametrize("view", te.TIMELINE_VIEWS)
def test_view_equals_the_multi_day_truth(view, timeline_rows):
    columns, rows = timeline_rows[view]
    assert columns == contract_columns()[view]
    assert rows, view
    assert_same_rows(rows, truth(view, DEFAULT), view)


@pytest.mark.parametrize("view", te.TIMELINE_VIEWS)
def test_other_parameters_flow_into_every_view(view, short_window_engine):
    """Other stack parameters give other rows, equal to the truth computed with them."""
    _, rows = short_window_engine.query(f'SELECT * FROM "{view}"', trino=False)
    assert_same_rows(rows, truth(view, SHORT), f"{view} with {SHORT_WINDOW}")
    if view not in ("patch", "patch_cves"):  # these two do not depend on the policy here
        assert sorted(map(repr, truth(view, SHORT))) != sorted(map(repr, truth(view, DEFAULT))), view


@pytest.mark.parametrize("offset", [-21, -10, -3])
def test_history_holds_what_the_views_said_on_each_day(offset, tmp_path):
    """The history tables hold, for each day the job ran, instance_compliance and the missing/failed rows of
    patch on that day: on past days' inputs, with current_date pinned to that day and the history before it, the
    views equal those rows (and patch_age and compliance_trend equal their truth on that day)."""
    engine = te.open_timeline(tmp_path / "tree", offset, workdir=tmp_path / "engine")
    try:
        for view in ("instance_compliance", "patch", "patch_age", "compliance_trend"):
            _, rows = engine.query(f'SELECT * FROM "{view}"', trino=False)
            assert_same_rows(rows, truth(view, DEFAULT, offset), f"{view} on day {offset}")
    finally:
        engine.con.close()


def test_history_columns_are_the_views_columns_with_their_types(timeline_engine):
    """The rows written to the history tables have the types the views return (the Parquet files of the fixture
    match the tables' declared Glue types, as the history function's casts make them)."""
    glue_to_duck = {"string": "VARCHAR", "int": "INTEGER", "timestamp": "TIMESTAMP", "date": "DATE",
                    "boolean": "BOOLEAN"}  # fmt: skip
    for view, columns in (("instance_compliance", COMPLIANCE_COLUMNS), ("patch", PATCH_COLUMNS)):
        described = timeline_engine.con.sql(f'DESCRIBE SELECT * FROM "{view}"').fetchall()
        assert [(name, kind) for name, kind, *_ in described] == [(n, glue_to_duck[t]) for n, t in columns], view


def test_output_types_of_the_new_views(timeline_engine):
    expected = {
        "patch_age": {"first_seen_missing": "DATE", "age_days": "INTEGER", "sla_days": "INTEGER", "sla_due": "DATE"},
        "patch_cves": {"installed_time": "TIMESTAMP", "first_seen_missing": "DATE"},
        "compliance_trend": {"day": "DATE", "nodes_total": "BIGINT", "percent_compliant": "DOUBLE",
                             "sla_breaches": "BIGINT", "new_non_compliant": "BIGINT", "mttr_days_30d": "DOUBLE"},
        "compliance_settings": {"stale_after_days": "INTEGER", "exemption_tag_key": "VARCHAR", "trend_days": "INTEGER"},
    }  # fmt: skip
    for view, types in expected.items():
        described = {n: k for n, k, *_ in timeline_engine.con.sql(f'DESCRIBE SELECT * FROM "{view}"').fetchall()}
        # count_if is bigint in Trino; DuckDB's COUNT_IF returns HUGEINT
        found = {n: "BIGINT" if described[n] == "HUGEINT" else described[n] for n in types}
        assert found == types, view


# ---------------------------------------------------------------- the scenarios behind the truth
def test_the_history_spans_more_than_35_days_with_a_day_the_job_did_not_run():
    days = timeline.job_days()
    assert (days[-1] - days[0]).days + 1 >= 35 and days[-1] == timeline.TODAY - timedelta(days=1)
    assert timeline.JOB_GAPS and all(timeline.day_of(gap) not in days for gap in timeline.JOB_GAPS)


def test_every_compliance_state_and_stale_reason(timeline_rows):
    rows = by_name(timeline_rows["instance_compliance"])
    state = {name: r[0]["compliance_state"] for name, r in rows.items()}
    assert set(state.values()) == {"TERMINATED", "STOPPED", "EXEMPT", "UNMANAGED", "STALE", "NON_COMPLIANT",
                                   "COMPLIANT", "NO_PATCH_DATA"}  # fmt: skip
    reasons = {name: r[0]["stale_reason"] for name, r in rows.items() if r[0]["stale_reason"]}
    assert reasons == {
        "stale-scan-day-8": "NO_RECENT_SCAN",
        "summary-resent": "NO_RECENT_SCAN",  # re-sent summary, old OperationEndTime
        "stale-inventory": "NO_RECENT_INVENTORY",
        "summary-without-end-time": "NO_RECENT_INVENTORY",  # no OperationEndTime: the capture time is the scan
        "stale-everything": "NO_RECENT_DATA",
        "scan-only": "NO_RECENT_DATA",  # an old scan and no inventory: every feed the node has is old
    }
    assert (state["stale-scan-day-7"], rows["stale-scan-day-7"][0]["data_age_days"]) == ("COMPLIANT", 7)
    assert (state["stale-scan-day-8"], rows["stale-scan-day-8"][0]["data_age_days"]) == ("STALE", 8)
    assert rows["stale-everything"][0]["missing_count"] == 1  # STALE before NON_COMPLIANT


def test_exemptions(timeline_rows):
    rows = {name: r[0] for name, r in by_name(timeline_rows["instance_compliance"]).items()}

    def of(name):
        r = rows[name]
        return r["compliance_state"], r["exempt_until"], r["exemption_expired"]

    today = timeline.TODAY
    assert of("exempt") == ("EXEMPT", None, False)
    assert of("exempt-until-later") == ("EXEMPT", today + timedelta(days=5), False)
    assert of("exempt-until-today") == ("EXEMPT", today, False)  # the until day is included
    assert of("exempt-expired") == ("NON_COMPLIANT", today - timedelta(days=3), True)
    assert of("exempt-not-a-date") == ("NON_COMPLIANT", None, True)
    assert of("exempt-wrong-case") == ("NON_COMPLIANT", None, False)  # tag keys are case-sensitive
    assert of("exempt-unmanaged") == ("EXEMPT", None, False)  # EXEMPT before UNMANAGED
    assert rows["onprem"]["compliance_state"] == "NON_COMPLIANT"  # hybrid nodes have no Config tags


def test_rejected_and_available_security_updates(timeline_rows):
    rows = {name: r[0] for name, r in by_name(timeline_rows["instance_compliance"]).items()}
    rejected = rows["rejected"]
    assert (rejected["missing_count"], rejected["installed_rejected_count"]) == (0, 1)
    assert rejected["compliance_state"] == "NON_COMPLIANT"
    assert rows["security-update-noncompliant"]["available_security_update_count"] == 1
    assert rows["security-update-noncompliant"]["compliance_state"] == "NON_COMPLIANT"
    # the baseline reports these available security updates as compliant
    assert rows["security-update-compliant"]["available_security_update_count"] == 2
    assert rows["security-update-compliant"]["compliance_state"] == "COMPLIANT"
    assert (rows["clean-b"]["installed_rejected_count"], rows["clean-b"]["kernel_version"]) == (None, None)
    assert rows["clean"]["kernel_version"].startswith("6.1.")


def test_sla_boundaries_of_a_seven_day_sla(timeline_rows):
    """Missing since day 6, 7 and 8 before today with the Critical SLA of 7 days: due = first seen + 7."""
    rows = by_name(timeline_rows["patch_age"])
    today = timeline.TODAY
    found = {
        age: (r["sla_days"], r["sla_due"], r["sla_state"])
        for name, (r,) in ((n, rows[n]) for n in ("sla-day-6", "sla-day-7", "sla-day-8"))
        for age in [r["age_days"]]
    }
    assert found == {
        6: (7, today + timedelta(days=1), "DUE_SOON"),
        7: (7, today, "DUE_SOON"),
        8: (7, today - timedelta(days=1), "BREACHED"),
    }
    edges = {r["patch_id"]: (r["age_days"], r["sla_days"], r["sla_state"]) for r in rows["important-edges"]}
    assert edges == {"ALAS-101": (10, 14, "WITHIN"), "ALAS-104": (11, 14, "DUE_SOON")}  # due in 4 / 3 days


def test_first_seen_follows_the_current_run_of_job_days(timeline_rows):
    rows = {(name, r["patch_id"]): r for name, rs in by_name(timeline_rows["patch_age"]).items() for r in rs}
    first = {key: (r["first_seen_missing"] - timeline.TODAY).days for key, r in rows.items()}
    assert first[("breach-across-gap", "ALAS-105")] == -25  # the day without a run does not break the run
    assert first[("exempt", "ALAS-105")] == -19  # missing since -20, the day without a run: first seen the next
    assert first[("broken-run", "ALAS-102")] == -9  # not -15: the earlier run ended
    assert first[("new-today-and-failed", "ALAS-103")] == 0  # not in history yet
    assert rows[("new-today-and-failed", "ALAS-106")]["patch_state"] == "FAILED"
    assert rows[("exempt", "ALAS-105")]["sla_state"] == "EXEMPT"
    assert rows[("exempt-expired", "ALAS-105")]["sla_state"] == "BREACHED"
    assert rows[("stopped", "ALAS-102")]["sla_state"] == "WITHIN"  # stopped nodes keep their missing patches
    assert not any(name == "terminated" for name, _ in rows)


def test_severity_mapping(timeline_rows):
    rows = {(NAMES[r[2]], r[3]): r for r in timeline_rows["patch_age"][1]}
    mapping = {key: (r[6], r[10]) for key, r in rows.items()}
    assert mapping[("sla-day-8", "KB5040001")] == ("Critical", 7)
    assert mapping[("important-edges", "ALAS-101")] == ("Important", 14)
    assert mapping[("important-edges", "ALAS-104")] == ("HIGH", 14)  # no vendor severity: compliance severity
    assert mapping[("late-fix", "KB5040002")] == ("Moderate", 30)
    assert mapping[("broken-run", "ALAS-102")] == ("Medium", 30)
    assert mapping[("onprem", "ALAS-103")] == ("Low", 60)
    assert mapping[("new-today-and-failed", "ALAS-106")] == ("INFORMATIONAL", 90)


def test_a_cve_on_several_nodes_and_patches(timeline_rows):
    columns, rows = timeline_rows["patch_cves"]
    shared = [dict(zip(columns, r, strict=True)) for r in rows if r[0] == "CVE-2025-1111"]
    assert {r["patch_id"] for r in shared} == {"KB5040001", "ALAS-101"}
    assert len({r["instance_id"] for r in shared}) >= 5
    assert all(r["first_seen_missing"] is not None for r in shared)
    assert all(r[0] and r[0] == r[0].strip() for r in rows)  # split on commas, trimmed, no empty IDs
    curl = [r for r in rows if r[0] == "CVE-2025-5555"]  # listed twice in one item: one row per node x patch
    assert curl and len(curl) == len({r[3:5] for r in curl})
    # fixed patches carry no CVE IDs (Systems Manager reports them for missing and failed patches only)
    assert not [r for r in rows if NAMES[r[3]] == "late-fix" and r[4] == "KB5040001"]


def test_trend_counts_changes_and_remediation(timeline_rows):
    columns, rows = timeline_rows["compliance_trend"]
    trend = {(r[0], r[1], r[2]): dict(zip(columns, r, strict=True)) for r in rows}
    days = sorted({r[0] for r in rows})
    assert days == timeline.job_days()  # 90-day window: every day the job ran
    after_gap = timeline.day_of(timeline.JOB_GAPS[0] + 1)
    assert {r["new_non_compliant"] for k, r in trend.items() if k[0] == after_gap} == {None}
    for (day, account, region), r in trend.items():
        counts = [r[c] for c in columns if c.startswith("nodes_") and c != "nodes_total"]
        assert sum(counts) == r["nodes_total"]
        before = trend.get((day - timedelta(days=1), account, region))
        if before is not None and r["new_non_compliant"] is not None:
            change = r["new_non_compliant"] - r["resolved_non_compliant"]
            assert before["nodes_non_compliant"] + change == r["nodes_non_compliant"]
    assert any(r["new_non_compliant"] for r in trend.values()) and any(
        r["resolved_non_compliant"] for r in trend.values()
    )
    assert any(r["sla_breaches"] for r in trend.values()) and any(r["nodes_exempt"] for r in trend.values())
    # fixed in the 30 days to day -1, account A eu-west-1: late fix (first seen -30, fixed -10: 20 days), early
    # fix (-12 to -9: 3 days), the first run of broken-run (-15 to -12: 3 days)
    last = trend[(days[-1], timeline.A, timeline.EU)]
    assert last["mttr_days_30d"] == pytest.approx((20 + 3 + 3) / 3)


def test_a_short_window_counts_runs_from_the_first_day_read(short_window_engine):
    """TrendDays 5 and SLAs of at most 5 days: the trend reads history from 5 + 29 + 5 days back, so the fix of a
    patch missing since day -44 (fixed on day -1) counts 38 days, not 43; patch_age reads the whole history."""
    columns, rows = short_window_engine.query('SELECT * FROM "compliance_trend"', trino=False)
    assert sorted({r[0] for r in rows}) == [timeline.day_of(o) for o in range(-4, 0)]  # after today - 5
    last = {(r[1], r[2]): dict(zip(columns, r, strict=True)) for r in rows if r[0] == timeline.day_of(-1)}
    assert last[(timeline.B, timeline.US)]["mttr_days_30d"] == pytest.approx((38 + 7) / 2)
    _, ages = short_window_engine.query('SELECT instance_id, age_days FROM "patch_age"', trino=False)
    assert dict((NAMES[n], a) for n, a in ages)["onprem"] == 40
    _, states = short_window_engine.query(
        'SELECT instance_id, compliance_state FROM "instance_compliance"', trino=False
    )
    states = {NAMES[n]: s for n, s in states}
    assert (states["clean-b"], states["exempt"], states["stale-scan-day-8"]) == ("EXEMPT", "NON_COMPLIANT", "COMPLIANT")
