"""The ground-truth comparisons can fail: each plausible mistake in a view changes its rows on the fixture.

Every mutation is a textual edit (or several) of the real SQL, asserted to apply, run through the same engine.
Mutations of the latest-export logic edit the shared base view config_export_latest: the mutated view replaces
it on the engine (DuckDB views bind late, so the dependent views read it) and the dependent view named by the
mutation is compared with its truth; the original base view is always restored (the engine fixture is shared by
the session).
"""

from __future__ import annotations

import pytest

from patchcompliance.render import view_sql
from tests.support.analytics import assert_same_rows, sorted_rows

BASE = "config_export_latest"
LATEST = "max(export_id) AS export_id"
OLDEST = "min(export_id) AS export_id"
JOIN_LATEST = "ON e.export_id = l.export_id"
EVERY_EXPORT = "ON true"
NAME_TAG_INDENT = " " * 20

# mutation -> (dependent view compared with its truth, edit(s) of config_export_latest.sql)
BASE_MUTATIONS = {
    "configmic/oldest-export": ("configmic", LATEST, OLDEST),
    "configmic/every-registered-export": ("configmic", JOIN_LATEST, EVERY_EXPORT),
    "configpc/oldest-export": ("configpc", LATEST, OLDEST),
    "configpc/every-registered-export": ("configpc", JOIN_LATEST, EVERY_EXPORT),
    "instance_tags/oldest-export": ("instance_tags", LATEST, OLDEST),
    "instance_tags/every-registered-export": ("instance_tags", JOIN_LATEST, EVERY_EXPORT),
    "instance_compliance/oldest-export": ("instance_compliance", LATEST, OLDEST),
}

# mutation -> (view, edit(s) of its own SQL file)
MUTATIONS = {
    # rule matching and precedence
    "configmic/exact-rule-name": (
        "configmic",
        "LIKE '%ec2-instance-managed-by-systems-manager%'",
        "= 'ec2-instance-managed-by-systems-manager'",
    ),
    "configmic/any-rule-result": (
        "configmic",
        "filter(rules, r -> r.rule_name LIKE '%ec2-instance-managed-by-systems-manager%')",
        "rules",
    ),
    "configmic/best-result-wins": ("configmic", "'NON_COMPLIANT') THEN 4\n", "'NON_COMPLIANT') THEN 0\n"),
    # managed status from SSM where the rule has no result
    "configmic/no-ssm-fallback": ("configmic", "s.resourceid IS NOT NULL AND", "false AND"),
    "configmic/terminated-node-counts-as-managed": (
        "configmic",
        "AND lower(coalesce(s.instancestatus, '')) NOT IN ('terminated', 'deregistered')",
        "",
    ),
    "configmic/source-always-the-rule": (
        "configmic",
        "CASE WHEN i.managed_rank IS NULL THEN 'SSM_INVENTORY' ELSE 'CONFIG_RULE' END",
        "'CONFIG_RULE'",
    ),
    "configpc/exact-rule-name": (
        "configpc",
        "LIKE '%ec2-managedinstance-patch-compliance-status-check%'",
        "= 'ec2-managedinstance-patch-compliance-status-check'",
    ),
    "configpc/resource-id-not-node-id": (
        "configpc",
        "        instance_id,\n        export_time,",
        "        resource_id AS instance_id,\n        export_time,",
    ),
    "configpc/export-time-as-capture-time": (
        "configpc",
        "max(CAST(from_iso8601_timestamp(capture_time) AS timestamp))",
        "CAST(max(export_time) AS timestamp)",
    ),
    # items
    "configmic/lower-case-name-tag-first": (
        "configmic",
        "t.key = 'Name'), t -> t.value), 1),\n"
        + NAME_TAG_INDENT
        + "element_at(transform(filter(tags, t -> t.key = 'name')",
        "t.key = 'name'), t -> t.value), 1),\n"
        + NAME_TAG_INDENT
        + "element_at(transform(filter(tags, t -> t.key = 'Name')",
    ),
    "configmic/snapshot-date-from-capture": (
        "configmic",
        "CAST(i.export_time AS date) AS snapshot_date",
        "CAST(i.capture_time AS date) AS snapshot_date",
    ),
    "instance_tags/values-as-keys": (
        "instance_tags",
        "UNNEST(transform(i.tags, t -> t.key),",
        "UNNEST(transform(i.tags, t -> t.value),",
    ),
    # patch
    "patch/association-lines": ("patch", "WHERE lower(compliancetype) = 'patch'", "WHERE true"),
    "patch/case-sensitive-state": (
        "patch",
        "CASE upper(regexp_replace(patchstate, '[^A-Za-z]', ''))",
        "CASE patchstate",
    ),  # fmt: skip
    # instance_compliance
    "instance_compliance/no-hybrid-nodes": ("instance_compliance", "resourceid LIKE 'mi-%'", "resourceid LIKE 'zz-%'"),
    "instance_compliance/terminated-hybrid-nodes": (
        "instance_compliance",
        "lower(coalesce(instancestatus, '')) NOT IN ('terminated', 'deregistered')",
        "true",
    ),
    "instance_compliance/unevaluated-counts-as-managed": (
        "instance_compliance",
        "OR (coalesce(managed_status, '') <> 'COMPLIANT' AND info_node IS NULL)",
        "",
    ),
    "instance_compliance/stopped-not-kept": (
        "instance_compliance",
        "WHEN instance_state IN ('stopped', 'stopping') THEN 'STOPPED'",
        "",
    ),
    "instance_compliance/pending-reboot-ignored": (
        "instance_compliance",
        ["            OR installedpendingrebootcount > 0\n", " AND installedpendingrebootcount = 0"],
        ["", ""],
    ),
    "instance_compliance/hybrid-nodes-unmanaged": (
        "instance_compliance",
        "NULL, NULL, NULL, 'COMPLIANT', 'SSM_INVENTORY'",
        "NULL, NULL, NULL, NULL, NULL",
    ),
    "instance_compliance/patch-rule-overrides-counts": (
        "instance_compliance",
        "        WHEN stale_reason IS NOT NULL THEN 'STALE'\n",
        "        WHEN stale_reason IS NOT NULL THEN 'STALE'\n"
        "        WHEN patch_compliance_status = 'COMPLIANT' THEN 'COMPLIANT'\n",
    ),
}


def _mutated(view: str, mutation: str, old, new) -> str:
    sql = view_sql(view)
    edits = zip([old] if isinstance(old, str) else old, [new] if isinstance(new, str) else new, strict=True)
    for before, after in edits:
        assert sql.count(before) == 1, f"mutation {mutation} does not apply"
        sql = sql.replace(before, after)
    return sql


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_mutated_view_differs_from_ground_truth(mutation, engine, fixture_tree):
    view, old, new = MUTATIONS[mutation]
    _, rows = engine.query(_mutated(view, mutation, old, new))
    assert sorted_rows(rows) != sorted_rows(getattr(fixture_tree.truth, view)), mutation


@pytest.mark.parametrize("mutation", list(BASE_MUTATIONS))
def test_mutated_base_view_changes_the_dependent_view(mutation, engine, fixture_tree):
    view, old, new = BASE_MUTATIONS[mutation]
    mutated = _mutated(BASE, mutation, old, new)
    _, before = engine.query(f'SELECT * FROM "{view}"', trino=False)
    assert_same_rows(before, getattr(fixture_tree.truth, view), f"{view} before {mutation}")
    try:
        engine.create_view(BASE, mutated)
        _, rows = engine.query(f'SELECT * FROM "{view}"', trino=False)
    finally:
        engine.create_view(BASE, view_sql(BASE))
    assert sorted_rows(rows) != sorted_rows(getattr(fixture_tree.truth, view)), mutation
    _, after = engine.query(f'SELECT * FROM "{view}"', trino=False)
    assert_same_rows(after, getattr(fixture_tree.truth, view), f"{view} restored after {mutation}")


def test_mutations_are_named_after_the_view_they_break():
    assert set(MUTATIONS).isdisjoint(BASE_MUTATIONS)
    for name, (view, *_) in {**MUTATIONS, **BASE_MUTATIONS}.items():
        assert name.split("/")[0] == view, name
