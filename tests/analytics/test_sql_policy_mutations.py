"""The policy views' comparisons with the truth can fail: each plausible mistake in their SQL changes their rows on
the multi-day fleet (tests/support/timeline.py).

A mutation is a list of textual edits (old, new, occurrences) of one view's SQL, as deployed with the default
parameters, asserted to apply. Mutations of the views the others read (compliance_settings, instance_compliance)
replace that view on the engine for the comparison of a dependent view, then restore it.
"""

from __future__ import annotations

import pytest

from patchcompliance.athena import deployed_view_sql
from tests.analytics.test_sql_policy import DEFAULT, NAMES, truth
from tests.support import policy
from tests.support.analytics import assert_same_rows, sorted_rows

GREATEST_SLA = "29 + greatest("

# mutation -> (view, [(old, new, occurrences)])
MUTATIONS = {
    # instance_compliance: exemptions
    "instance_compliance/exemption-ignored": ("instance_compliance", [("        WHEN exempt THEN 'EXEMPT'\n", "", 1)]),
    "instance_compliance/exempt-after-unmanaged": (
        "instance_compliance",
        [
            ("        WHEN exempt THEN 'EXEMPT'\n", "", 1),
            (
                "        WHEN stale_reason IS NOT NULL",
                "        WHEN exempt THEN 'EXEMPT'\n        WHEN stale_reason IS NOT NULL",
                1,
            ),
        ],
    ),
    "instance_compliance/expired-exemption-holds": (
        "instance_compliance",
        [("coalesce(exempt_until >= current_date, false)", "true", 1)],
    ),
    "instance_compliance/until-day-excluded": (
        "instance_compliance",
        [("coalesce(exempt_until >= current_date, false)", "coalesce(exempt_until > current_date, false)", 1)],
    ),
    "instance_compliance/bad-until-means-open-ended": (
        "instance_compliance",
        [
            ("coalesce(exempt_until >= current_date, false)", "coalesce(exempt_until >= current_date, true)", 1),
            ("coalesce(exempt_until < current_date, true)", "coalesce(exempt_until < current_date, false)", 1),
        ],
    ),
    "instance_compliance/tag-key-ignoring-case": (
        "instance_compliance",
        [
            ("count_if(t.tag_key = s.exemption_tag_key)", "count_if(lower(t.tag_key) = lower(s.exemption_tag_key))", 1),
            ("WHERE t.tag_key IN (s.exemption_tag_key,", "WHERE lower(t.tag_key) IN (lower(s.exemption_tag_key),", 1),
        ],
    ),
    # instance_compliance: staleness
    "instance_compliance/stale-ignored": (
        "instance_compliance",
        [("        WHEN stale_reason IS NOT NULL THEN 'STALE'\n", "", 1)],
    ),
    "instance_compliance/stale-at-the-threshold": (
        "instance_compliance",
        [("> stale_after_days", ">= stale_after_days", 4)],
    ),
    "instance_compliance/scan-time-is-capture-time": (
        "instance_compliance",
        [("nullif(operationendtime, '')", "nullif(capturetime, '')", 1)],
    ),
    "instance_compliance/no-capture-time-fallback": (
        "instance_compliance",
        [("try(CAST(from_iso8601_timestamp(nullif(capturetime, '')) AS timestamp))\n", "NULL\n", 1)],
    ),
    "instance_compliance/age-of-the-newer-feed": (
        "instance_compliance",
        [("greatest(scan_age, inventory_age)", "least(scan_age, inventory_age)", 1)],
    ),
    "instance_compliance/inventory-never-stale": (
        "instance_compliance",
        [("coalesce(inventory_age > stale_after_days, true)", "coalesce(inventory_age > stale_after_days, false)", 1)],
    ),
    # instance_compliance: what counts as non-compliant
    "instance_compliance/rejected-ignored": (
        "instance_compliance",
        [("            OR installedrejectedcount > 0\n", "", 1)],
    ),
    "instance_compliance/security-updates-ignored": (
        "instance_compliance",
        [("            OR security_updates_noncompliant > 0\n", "", 1)],
    ),
    "instance_compliance/security-updates-by-count": (
        "instance_compliance",
        [("OR security_updates_noncompliant > 0", "OR availablesecurityupdatecount > 0", 1)],
    ),
    # patch_age
    "patch_age/calendar-days": (
        "patch_age",
        [
            (
                "row_number() OVER (ORDER BY dt) AS day_no",
                "date_diff('day', DATE '2000-01-01', CAST(dt AS date)) AS day_no",
                1,
            )
        ],
    ),
    "patch_age/first-run-not-current": ("patch_age", [("WHERE last_day_no = days", "WHERE true", 1)]),
    "patch_age/due-day-breached": ("patch_age", [("WHEN current_date > sla_due", "WHEN current_date >= sla_due", 1)]),
    "patch_age/due-soon-exclusive": ("patch_age", [("sla_due) <= due_soon_days", "sla_due) < due_soon_days", 1)]),
    "patch_age/due-one-day-early": (
        "patch_age",
        [("date_add('day', sla_days, first_seen_missing)", "date_add('day', sla_days - 1, first_seen_missing)", 1)],
    ),
    "patch_age/compliance-severity-first": (
        "patch_age",
        [("coalesce(nullif(trim(p.patch_severity), ''), p.severity)", "coalesce(p.severity, p.patch_severity)", 1)],
    ),
    "patch_age/moderate-is-other": ("patch_age", [("IN ('medium', 'moderate')", "IN ('medium')", 1)]),
    "patch_age/high-is-other": ("patch_age", [("IN ('important', 'high')", "IN ('important')", 1)]),
    "patch_age/exemption-not-shown": (
        "patch_age",
        [("        WHEN compliance_state = 'EXEMPT' THEN 'EXEMPT'\n", "", 1)],
    ),
    "patch_age/terminated-kept": ("patch_age", [("WHERE compliance_state <> 'TERMINATED'", "WHERE true", 1)]),
    "patch_age/failed-left-out": ("patch_age", [("IN ('MISSING', 'FAILED')", "IN ('MISSING')", 1)]),
    # patch_cves
    "patch_cves/ids-not-trimmed": ("patch_cves", [("trim(cve.cve_id) AS cve_id", "cve.cve_id AS cve_id", 1)]),
    "patch_cves/repeated-ids-kept": ("patch_cves", [("SELECT DISTINCT", "SELECT", 1)]),
    "patch_cves/empty-ids-kept": ("patch_cves", [("WHERE trim(cve.cve_id) <> ''", "WHERE true", 1)]),
    "patch_cves/terminated-kept": ("patch_cves", [("WHERE compliance_state <> 'TERMINATED'", "WHERE true", 1)]),
    # compliance_trend
    "compliance_trend/terminated-counted": (
        "compliance_trend",
        [("count_if(compliance_state <> 'TERMINATED') AS nodes_total", "count(*) AS nodes_total", 1)],
    ),
    "compliance_trend/percent-of-every-node": (
        "compliance_trend",
        [("/ (c.nodes_total - c.nodes_stopped - c.nodes_exempt)", "/ c.nodes_total", 1)],
    ),
    "compliance_trend/exempt-nodes-breach": (
        "compliance_trend",
        [("st.compliance_state <> 'EXEMPT'\n            AND ", "", 1)],
    ),
    "compliance_trend/due-day-breached": (
        "compliance_trend",
        [("CAST(r.dt AS date) > CAST(", "CAST(r.dt AS date) >= CAST(", 1)],
    ),
    "compliance_trend/missing-on-terminated-nodes": (
        "compliance_trend",
        [("    WHERE st.compliance_state <> 'TERMINATED'\n    GROUP BY r.dt", "    GROUP BY r.dt", 1)],
    ),
    "compliance_trend/no-day-before-counts-as-zero": (
        "compliance_trend",
        [("CASE WHEN d.day_before_ran THEN", "CASE WHEN true THEN", 2)],
    ),
    "compliance_trend/calendar-days": (
        "compliance_trend",
        [
            (
                "row_number() OVER (ORDER BY dt) AS day_no",
                "date_diff('day', DATE '2000-01-01', CAST(dt AS date)) AS day_no",
                1,
            )
        ],
    ),
    "compliance_trend/mttr-31-days": (
        "compliance_trend",
        [("date_add('day', -29, d.day)", "date_add('day', -30, d.day)", 1)],
    ),
    "compliance_trend/fix-is-last-day-missing": (
        "compliance_trend",
        [("j.day_no = r.last_day_no + 1", "j.day_no = r.last_day_no", 1)],
    ),
    "compliance_trend/resolved-means-gone": (
        "compliance_trend",
        [("count_if(non_compliant_day_before AND NOT non_compliant_that_day)", "count_if(false)", 1)],
    ),
}
# Mutations that only the short window (TrendDays 5, SLAs of at most 5 days) shows: reading too little history.
SHORT_MUTATIONS = {
    "compliance_trend/lookback-without-sla": ("compliance_trend", [(GREATEST_SLA, "29 + 0 * greatest(", 2)]),
    "compliance_trend/states-from-the-first-day-only": (
        "compliance_trend",
        [("-(CAST('5' AS integer) + 29), current_date)", "-(CAST('5' AS integer) - 1), current_date)", 1)],
    ),
}
# mutation of a view others read -> (mutated view, dependent view compared, [(old, new, occurrences)])
BASE_MUTATIONS = {
    "compliance_settings/due-soon-2-days": (
        "compliance_settings", "patch_age", [("CAST(3 AS integer)", "CAST(2 AS integer)", 1)],
    ),
    "compliance_settings/sla-swapped": (
        "compliance_settings",
        "patch_age",
        [("AS sla_critical_days", "AS sla_x", 1), ("AS sla_important_days", "AS sla_critical_days", 1),
         ("AS sla_x", "AS sla_important_days", 1)],
    ),
    "instance_compliance/exemption-ignored-for-patch-age": (
        "instance_compliance", "patch_age", [("        WHEN exempt THEN 'EXEMPT'\n", "", 1)],
    ),
}  # fmt: skip


def mutated(view: str, edits, values: dict | None = None) -> str:
    sql = deployed_view_sql(view, {**policy.parameter_defaults(), **(values or {})})
    for old, new, count in edits:
        assert sql.count(old) == count, f"{view}: {old!r} found {sql.count(old)} times, not {count}"
        sql = sql.replace(old, new)
    return sql


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_mutated_view_differs_from_the_truth(mutation, timeline_engine):
    view, edits = MUTATIONS[mutation]
    _, rows = timeline_engine.query(mutated(view, edits))
    assert sorted_rows(rows) != sorted_rows(truth(view, DEFAULT)), mutation


@pytest.mark.parametrize("mutation", list(SHORT_MUTATIONS))
def test_mutation_shown_by_the_short_window(mutation, short_window_engine):
    from tests.analytics.conftest import SHORT_WINDOW

    view, edits = SHORT_MUTATIONS[mutation]
    settings = policy.Settings.of(SHORT_WINDOW)
    _, rows = short_window_engine.query(mutated(view, edits, SHORT_WINDOW))
    assert sorted_rows(rows) != sorted_rows(truth(view, settings)), mutation


@pytest.mark.parametrize("mutation", list(BASE_MUTATIONS))
def test_mutated_base_view_changes_the_dependent_view(mutation, timeline_engine):
    base, view, edits = BASE_MUTATIONS[mutation]
    try:
        timeline_engine.create_view(base, mutated(base, edits))
        _, rows = timeline_engine.query(f'SELECT * FROM "{view}"', trino=False)
    finally:
        timeline_engine.create_view(base, mutated(base, []))
    assert sorted_rows(rows) != sorted_rows(truth(view, DEFAULT)), mutation
    _, after = timeline_engine.query(f'SELECT * FROM "{view}"', trino=False)
    assert_same_rows(after, truth(view, DEFAULT), f"{view} restored after {mutation}")


# The SLA boundaries: missing for 6, 7 and 8 days with the 7-day Critical SLA (due = first seen + 7).
BOUNDARY = {
    "exact": {"sla-day-6": "DUE_SOON", "sla-day-7": "DUE_SOON", "sla-day-8": "BREACHED"},
    "patch_age/due-day-breached": {"sla-day-6": "DUE_SOON", "sla-day-7": "BREACHED", "sla-day-8": "BREACHED"},
    "patch_age/due-one-day-early": {"sla-day-6": "DUE_SOON", "sla-day-7": "BREACHED", "sla-day-8": "BREACHED"},
}


@pytest.mark.parametrize("mutation", list(BOUNDARY))
def test_sla_boundary_days(mutation, timeline_engine):
    sql = mutated("patch_age", [] if mutation == "exact" else MUTATIONS[mutation][1])
    _, rows = timeline_engine.query(f"SELECT instance_id, age_days, sla_state FROM ({sql}) AS a")
    found = {NAMES[n]: state for n, age, state in rows if NAMES[n].startswith("sla-day-")}
    assert found == BOUNDARY[mutation]
    assert {NAMES[n]: age for n, age, _ in rows if NAMES[n].startswith("sla-day-")} == {
        "sla-day-6": 6, "sla-day-7": 7, "sla-day-8": 8,
    }  # fmt: skip


def test_stale_boundary_days(timeline_engine):
    """StaleAfterDays 7: a scan 7 days old is not stale, 8 days old is; at the threshold both would be."""
    for mutation, expected in (
        (None, ("COMPLIANT", "STALE")),
        ("instance_compliance/stale-at-the-threshold", ("STALE", "STALE")),
    ):
        sql = mutated("instance_compliance", MUTATIONS[mutation][1] if mutation else [])
        _, rows = timeline_engine.query(f"SELECT instance_id, compliance_state FROM ({sql}) AS c")
        states = {NAMES[n]: s for n, s in rows}
        assert (states["stale-scan-day-7"], states["stale-scan-day-8"]) == expected, mutation


def test_mutations_are_named_after_the_view_they_break():
    for name, (view, *_) in {**MUTATIONS, **SHORT_MUTATIONS, **BASE_MUTATIONS}.items():
        assert name.split("/")[0] == view, name
