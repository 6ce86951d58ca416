"""Every view on the local engine equals the ground truth encoded by the fixture, row for row.

Plus the scenarios the truth must contain for these comparisons to mean something (latest export wins,
stopped/terminated/unmanaged/hybrid nodes, case-clashing tags, managed status from the rule or from SSM) and the
SQL-level contracts (one SELECT per file, Trino parse, output columns of DESIGN.md, documented values).
"""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlglot
from sqlglot import exp

from patchcompliance.constants import PUBLIC_VIEWS, VIEW_ORDER
from patchcompliance.render import SQL_DIR, view_sql
from tests.support.analytics import assert_same_rows, contract_columns
from tests.support.fixtures import MANAGED_SOURCES, RULELESS_REGIONS, export_date

VIEWS = VIEW_ORDER
# The base view config_export_latest is compared with the fixture's latest export rows (below), and proven
# through its three dependents (configmic, configpc, instance_tags) and the mutations of its latest-export logic.
BASE_VIEW = "config_export_latest"
MANAGED_STATUSES = {"COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA", "NOT_APPLICABLE"}
# coverage (the digest's view of which feeds report) has its own truth in tests/functions/test_fn_digest.py.
TRUTH_VIEWS = tuple(v for v in VIEWS if v not in (BASE_VIEW, "coverage"))


# ---------------------------------------------------------------- SQL files
def test_one_sql_file_per_view_and_nothing_else():
    assert sorted(p.stem for p in SQL_DIR.glob("*.sql")) == sorted(VIEWS)


@pytest.mark.parametrize("view", VIEWS)
def test_view_is_a_single_trino_select(view):
    statements = [s for s in sqlglot.parse(view_sql(view), read="trino") if s is not None]
    assert len(statements) == 1
    assert isinstance(statements[0], (exp.Select, exp.Union)), type(statements[0]).__name__
    assert not list(statements[0].find_all(exp.Create))


@pytest.mark.parametrize("view", VIEWS)
def test_tables_are_unqualified(view):
    tree = sqlglot.parse_one(view_sql(view), read="trino")
    assert [t.sql() for t in tree.find_all(exp.Table) if t.db or t.catalog] == []


def test_design_lists_the_views_in_creation_order():
    assert list(contract_columns()) == sorted(VIEWS, key=list(VIEWS).index)


@pytest.mark.parametrize("view", VIEWS)
def test_output_columns_are_the_contract(view, view_rows):
    columns, _ = view_rows[view]
    assert columns == contract_columns()[view]


def test_compliance_state_values_are_documented(view_rows):
    text = view_sql("instance_compliance")
    documented = set(re.findall(r"^--\s+([A-Z_]{5,})\s{2,}", text, re.M))
    case = text.split("END AS compliance_state")[0].rsplit("CASE", 1)[1]
    in_case = set(re.findall(r"(?:THEN|ELSE) '([A-Z_]+)'", case))
    assert documented == in_case == {
        "TERMINATED", "STOPPED", "EXEMPT", "UNMANAGED", "STALE", "NON_COMPLIANT", "COMPLIANT", "NO_PATCH_DATA"
    }  # fmt: skip
    columns, rows = view_rows["instance_compliance"]
    found = {r[columns.index("compliance_state")] for r in rows}
    assert found == documented  # the fixture exercises every value


# ---------------------------------------------------------------- rows equal the ground truth
def test_truth_covers_every_view_but_the_base_view(fixture_tree):
    assert BASE_VIEW in VIEWS and VIEWS[0] == BASE_VIEW  # created before the views that read it
    assert all(hasattr(fixture_tree.truth, v) for v in TRUTH_VIEWS)
    assert TRUTH_VIEWS == PUBLIC_VIEWS


@pytest.mark.parametrize("view", TRUTH_VIEWS)
def test_view_rows_equal_ground_truth(view, view_rows, fixture_tree):
    _, rows = view_rows[view]
    assert_same_rows(rows, getattr(fixture_tree.truth, view), view)


def _as_export_row(row: dict) -> dict:
    """A base-view row in the export's JSON form (NULL columns left out, as the function leaves out the keys)."""
    out = {k: v for k, v in row.items() if k not in ("export_id", "export_time") and v is not None}
    for key in ("tags", "rules"):
        if key in out:
            out[key] = [{k: v for k, v in entry.items() if v is not None} for entry in out[key]]
    return out


def test_base_view_is_the_latest_export(view_rows, fixture_tree):
    """config_export_latest: exactly the rows of the latest registered export, every account x region."""
    columns, rows = view_rows[BASE_VIEW]
    items = [dict(zip(columns, r, strict=True)) for r in rows]
    latest = fixture_tree.truth.latest_export
    assert {r["export_id"] for r in items} == {latest}
    assert {r["export_time"].date() for r in items} == {export_date(latest)}
    got = sorted(repr(sorted(_as_export_row(r).items())) for r in items)
    assert got == sorted(repr(sorted(r.items())) for r in fixture_tree.latest_export_rows)
    spec = fixture_tree.spec
    assert {(r["account_id"], r["region"]) for r in items} == {(a, g) for a in spec.accounts for g in spec.regions}


@pytest.mark.parametrize("view", ["configmic", "configpc", "instance_compliance"])
def test_one_row_per_instance(view, view_rows):
    columns, rows = view_rows[view]
    keys = [(r[0], r[1], r[2]) for r in rows]
    assert len(keys) == len(set(keys))


# ---------------------------------------------------------------- scenarios behind the truth
def _by_id(view_rows, view):
    columns, rows = view_rows[view]
    return {r[columns.index("instance_id")]: dict(zip(columns, r, strict=True)) for r in rows}


def test_latest_export_wins(view_rows, fixture_tree):
    """Older registered exports (an earlier day, and an earlier export on the latest day) hold other states and
    names; the newer, unregistered export is ignored."""
    mic = _by_id(view_rows, "configmic")
    current = [i for i in fixture_tree.instances if not i.removed and i.status == "OK"]
    assert {i.instance_id for i in current} == set(mic)
    for inst in current:
        assert mic[inst.instance_id]["instance_state"] == inst.state
        assert mic[inst.instance_id]["instance_name"] == inst.name
    exports = fixture_tree.exports
    registered = [export_id for export_id, _ in exports.partitions]
    assert registered[-1] == fixture_tree.truth.latest_export == max(registered)
    assert len({export_date(e) for e in registered}) == 2 and len(registered) == 3
    assert exports.partial and min(exports.partial) > max(registered)  # newer, but not registered
    for export_id in registered[:-1] + exports.partial:
        states = {r["instance_id"]: r.get("instance_state") for r in exports.rows[export_id] if r["kind"] == "instance"}
        assert any(states.get(i) not in (None, row["instance_state"]) for i, row in mic.items()), export_id


def test_snapshot_date_is_the_export_date(view_rows, fixture_tree):
    """Every account x region, also the one whose Config stopped recording two days earlier (its items keep
    their older capture times), has the date of the latest export."""
    spec = fixture_tree.spec
    stale = (spec.accounts[-1], spec.regions[-1])
    for view in ("configmic", "configpc"):
        columns, rows = view_rows[view]
        assert (
            {r[columns.index("snapshot_date")] for r in rows}
            == {spec.end}
            == {export_date(fixture_tree.truth.latest_export)}
        )
    columns, rows = view_rows["configmic"]
    latest_capture = {}
    for r in rows:
        key, day = (r[0], r[1]), r[columns.index("capture_time")].date()
        latest_capture[key] = max(day, latest_capture.get(key, day))
    assert latest_capture.pop(stale) <= date(2025, 9, 30) < spec.end == max(latest_capture.values())


def test_managed_status_sources(view_rows, fixture_tree):
    """The managed-by-SSM rule decides where it has a result; elsewhere SSM's report does (both outcomes)."""
    for view in ("configmic", "instance_compliance"):
        rows = _by_id(view_rows, view)
        assert {r["managed_status"] for r in rows.values()} <= MANAGED_STATUSES, view
        assert {r["managed_status_source"] for r in rows.values()} == set(MANAGED_SOURCES), view
    mic = _by_id(view_rows, "configmic")
    for region in RULELESS_REGIONS:
        here = [r for r in mic.values() if r["region"] == region]
        assert here and {r["managed_status_source"] for r in here} == {"SSM_INVENTORY"}
        assert {r["managed_status"] for r in here} == {"COMPLIANT", "NON_COMPLIANT"}
    not_evaluated = [i for i in fixture_tree.instances if i.profile.startswith("not_evaluated")]
    assert {mic[i.instance_id]["managed_status_source"] for i in not_evaluated} == {"SSM_INVENTORY"}
    assert {mic[i.instance_id]["managed_status"] for i in not_evaluated} == {"COMPLIANT", "NON_COMPLIANT"}
    terminated = [i for i in fixture_tree.instances if i.profile == "terminated" and i.ssm is not None]
    assert terminated and all(mic[i.instance_id]["managed_status"] == "NON_COMPLIANT" for i in terminated)
    ruled = [
        r for r in mic.values() if r["region"] not in RULELESS_REGIONS and r["managed_status_source"] == "CONFIG_RULE"
    ]
    assert {r["managed_status"] for r in ruled} == {"COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA"}


def test_regions_without_the_rules_have_no_rule_results(view_rows):
    pc = _by_id(view_rows, "configpc")
    assert pc and not [r for r in pc.values() if r["region"] in RULELESS_REGIONS]
    rows = _by_id(view_rows, "instance_compliance")
    here = [r for r in rows.values() if r["region"] in RULELESS_REGIONS]
    assert {r["compliance_state"] for r in here} >= {"COMPLIANT", "NON_COMPLIANT", "UNMANAGED"}


def test_removed_and_deleted_instances_are_gone(view_rows, fixture_tree):
    gone = {i.instance_id for i in fixture_tree.instances if i.removed or i.status == "ResourceDeleted"}
    assert gone
    for view in ("configmic", "instance_tags", "instance_compliance"):
        columns, rows = view_rows[view]
        assert gone.isdisjoint(r[columns.index("instance_id")] for r in rows), view


def test_stopped_terminated_and_unmanaged_instances_stay_visible(view_rows):
    rows = _by_id(view_rows, "instance_compliance")
    by_state = {}
    for row in rows.values():
        by_state.setdefault(row["compliance_state"], []).append(row)
    assert all(r["instance_state"] == "stopped" for r in by_state["STOPPED"])
    assert all(r["instance_state"] == "terminated" for r in by_state["TERMINATED"])
    unmanaged = by_state["UNMANAGED"]
    assert any(r["managed_status"] == "NON_COMPLIANT" for r in unmanaged)
    assert any(r["managed_status_source"] == "SSM_INVENTORY" and r["agent_version"] is None for r in unmanaged)
    # leftover SSM data of a node Config reports unmanaged does not make it managed
    assert any(r["managed_status"] == "NON_COMPLIANT" and r["agent_version"] is not None for r in unmanaged)


def test_compliant_only_without_missing_failed_or_pending_reboot(view_rows):
    for row in _by_id(view_rows, "instance_compliance").values():
        counts = (row["missing_count"], row["failed_count"], row["installed_pending_reboot_count"])
        if row["compliance_state"] == "COMPLIANT":
            assert counts == (0, 0, 0)
        if row["compliance_state"] in ("COMPLIANT", "NON_COMPLIANT", "NO_PATCH_DATA"):
            assert row["managed_status"] != "NON_COMPLIANT"


def test_prefixed_and_duplicated_rule_deployments(view_rows, fixture_tree):
    """Account 2 uses prefixed/suffixed rule names; a duplicated deployment disagreeing -> worst result."""
    mic = _by_id(view_rows, "configmic")
    second = fixture_tree.spec.accounts[1]
    assert any(r["account_id"] == second and r["managed_status"] == "COMPLIANT" for r in mic.values())
    duplicated = [i for i in fixture_tree.instances if i.profile == "duplicate_rules" and i.rules_offered]
    assert duplicated and all(mic[i.instance_id]["managed_status"] == "NON_COMPLIANT" for i in duplicated)
    pc = _by_id(view_rows, "configpc")
    assert any(r["account_id"] == second for r in pc.values())


def test_hybrid_nodes(view_rows, fixture_tree):
    rows = _by_id(view_rows, "instance_compliance")
    hybrid = {n.node_id: n for n in fixture_tree.hybrid}
    active = {k for k, n in hybrid.items() if n.info.get("InstanceStatus") != "Terminated"}
    assert active and active < set(hybrid)
    assert {k for k in rows if k.startswith("mi-")} == active
    assert {rows[k]["compliance_state"] for k in active} == {"COMPLIANT", "NON_COMPLIANT"}
    assert all(rows[k]["instance_state"] is None and rows[k]["platform_type"] == "Linux" for k in active)
    ruled = {k for k, n in hybrid.items() if n.patch_result is not None}
    assert ruled and set(hybrid) - ruled  # the patch rule covers them where it exists
    assert {k for k in hybrid if k in _by_id(view_rows, "configpc")} == ruled
    assert {(rows[k]["managed_status"], rows[k]["managed_status_source"]) for k in active} == {
        ("COMPLIANT", "SSM_INVENTORY")
    }
    assert not any(k.startswith("mi-") for k in _by_id(view_rows, "configmic"))


def test_tags_differing_by_case_are_separate_rows(view_rows):
    columns, rows = view_rows["instance_tags"]
    keys_by_instance = {}
    for row in rows:
        keys_by_instance.setdefault(row[2], set()).add(row[3])
    assert any({"Name", "name"} <= keys for keys in keys_by_instance.values())
    assert any({"Environment", "environment"} <= keys for keys in keys_by_instance.values())
    mic = _by_id(view_rows, "configmic")
    only_lower = [i for i, keys in keys_by_instance.items() if "name" in keys and "Name" not in keys]
    assert only_lower and all(mic[i]["instance_name"] is not None for i in only_lower)


def test_patch_states_normalised(view_rows, fixture_tree):
    columns, rows = view_rows["patch"]
    states = {r[columns.index("patch_state")] for r in rows}
    assert states <= {"INSTALLED", "INSTALLED_OTHER", "INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED",
                      "MISSING", "FAILED", "NOT_APPLICABLE"}  # fmt: skip
    spellings = {line["PatchState"] for line in fixture_tree.truth.inventory_lines["aws_complianceitem"]
                 if line["ComplianceType"] == "Patch"}  # fmt: skip
    assert {"Missing", "MISSING", "InstalledPendingReboot", "INSTALLED_PENDING_REBOOT"} <= spellings
    assert None in {r[columns.index("installed_time")] for r in rows}  # empty/unparseable times


def test_patch_excludes_association_lines(view_rows, fixture_tree):
    lines = fixture_tree.truth.inventory_lines["aws_complianceitem"]
    assert any(line["ComplianceType"] == "Association" for line in lines)
    _, rows = view_rows["patch"]
    assert len(rows) == sum(line["ComplianceType"] == "Patch" for line in lines)
