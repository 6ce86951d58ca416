"""The ground-truth comparisons can fail: each plausible mistake in a view changes its rows on the fixture.

Every mutation is a textual edit (or several) of the real SQL, asserted to apply, run through the same engine.
Mutations of the latest-snapshot logic and of the deleted-items filter edit the shared base view
config_latest_items: the mutated view replaces it on the engine (DuckDB views bind late, so the dependent
views read it) and the dependent view named by the mutation is compared with its truth; the original base
view is always restored (the engine fixture is shared by the session).
"""

from __future__ import annotations

import pytest

from patchcompliance.render import view_sql
from tests.support.analytics import assert_same_rows, sorted_rows

GLOBAL_LATEST = """    SELECT accountid, region, (SELECT max(dt) FROM "config_snapshot$partitions") AS dt
    FROM "config_snapshot$partitions"
    GROUP BY accountid, region"""
PER_PARTITION_LATEST = """    SELECT accountid, region, max(dt) AS dt
    FROM "config_snapshot$partitions"
    GROUP BY accountid, region"""
NOT_DELETED = "WHERE coalesce(ci.configurationitemstatus, '') NOT LIKE 'ResourceDeleted%'"
BASE = "config_latest_items"

# mutation -> (dependent view compared with its truth, edit(s) of config_latest_items.sql)
BASE_MUTATIONS = {
    # latest snapshot
    "configmic/oldest-partition": ("configmic", "max(dt) AS dt", "min(dt) AS dt"),
    "configmic/global-latest-day": ("configmic", PER_PARTITION_LATEST, GLOBAL_LATEST),
    "configmic/every-file-of-the-day": ("configmic", "WHERE file_rank = 1", "WHERE file_rank >= 1"),
    "configmic/earliest-file-of-the-day": ("configmic", 'c."$path" DESC', 'c."$path" ASC'),
    "configpc/oldest-partition": ("configpc", "max(dt) AS dt", "min(dt) AS dt"),
    "configpc/earliest-file-of-the-day": ("configpc", 'c."$path" DESC', 'c."$path" ASC'),
    "instance_tags/oldest-partition": ("instance_tags", "max(dt) AS dt", "min(dt) AS dt"),
    "instance_tags/every-file-of-the-day": ("instance_tags", "WHERE file_rank = 1", "WHERE file_rank >= 1"),
    # items
    "configmic/deleted-items": ("configmic", NOT_DELETED, ""),
}

# mutation -> (view, edit(s) of its own SQL file)
MUTATIONS = {
    # rule matching and precedence
    "configmic/exact-rule-name": (
        "configmic",
        "LIKE '%ec2-instance-managed-by-systems-manager%'",
        "= 'ec2-instance-managed-by-systems-manager'",
    ),
    "configmic/overall-compliance-type": (
        "configmic",
        "r -> json_extract_scalar(r, '$.complianceType')",
        "r -> json_extract_scalar(configuration, '$.complianceType')",
    ),
    "configmic/best-result-wins": ("configmic", "THEN 4\n", "THEN 0\n"),
    "configpc/exact-rule-name": (
        "configpc",
        "LIKE '%ec2-managedinstance-patch-compliance-status-check%'",
        "= 'ec2-managedinstance-patch-compliance-status-check'",
    ),
    "configpc/second-path-element": (
        "configpc",
        "regexp_extract(resource_id, '[^/]+$')",
        "split_part(resource_id, '/', 2)",
    ),  # fmt: skip
    # items
    "configmic/lower-case-name-tag-first": (
        "configmic",
        "coalesce(element_at(tags, 'Name'), element_at(tags, 'name'))",
        "coalesce(element_at(tags, 'name'), element_at(tags, 'Name'))",
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
        "OR (coalesce(n.managed_status, '') <> 'COMPLIANT' AND i.resourceid IS NULL)",
        "",
    ),
    "instance_compliance/stopped-not-kept": (
        "instance_compliance",
        "WHEN n.instance_state IN ('stopped', 'stopping') THEN 'STOPPED'",
        "",
    ),
    "instance_compliance/pending-reboot-ignored": (
        "instance_compliance",
        [" OR s.installedpendingrebootcount > 0", " AND s.installedpendingrebootcount = 0"],
        ["", ""],
    ),
    "instance_compliance/patch-rule-overrides-counts": (
        "instance_compliance",
        "WHEN s.missingcount > 0",
        "WHEN p.patch_compliance_status = 'COMPLIANT' THEN 'COMPLIANT' WHEN s.missingcount > 0",
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
