"""HistoryFunction against moto S3 and Glue, with Athena answered by the local engine: every UNLOAD's SELECT runs
for real on DuckDB over the fixture (views created as the AthenaViews custom resource creates them, Config exports
registered), and its rows land in moto S3 as Snappy Parquet at the TO location (tests/support/history.py).

The code run is the one inlined in templates/patch-compliance.yaml once the function is there, else the one
inlined in a central template built in-process. Every run is a fresh module (a cold container) with a virtual
clock: nothing but S3 and the Glue catalog carries over between runs, and nothing sleeps.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import tempfile
import types

import boto3
import duckdb
import pytest

from patchcompliance import constants as c
from patchcompliance import history as pc_history
from patchcompliance.config_export import EXPORT_TABLE_NAME
from tests.support import catalog
from tests.support import functions as lib
from tests.support import history as support
from tests.support.engine import open_engine
from tests.support.fixtures import RANK, RULE_MANAGED, RULE_PATCH, FixtureSpec, generate
from tests.support.templates import parse_template

DATABASE, WORKGROUP, RESULTS_BUCKET = "patch_compliance", "pc-workgroup", "pc-athena-results"
SPEC = FixtureSpec(
    export_days=5, history_files=False, all_inventory_types=False, inventory_item_bytes=500, volumes=False,
    ssm_config_items=False,
)  # fmt: skip
END = SPEC.end  # the fixture's latest day; its exports: END-3, END-2, END-1 at 14:00, END at 13:00 and 14:00
NOW = datetime.datetime.combine(END + datetime.timedelta(days=2), datetime.time(0, 15, 7), datetime.UTC)
TODAY = NOW.date()
YESTERDAY = (TODAY - datetime.timedelta(days=1)).isoformat()
BACKFILL_DAYS = [(END - datetime.timedelta(days=d)).isoformat() for d in range(4)]  # newest first
COMPLIANCE, PATCH = c.COMPLIANCE_HISTORY_TABLE_NAME, c.PATCH_HISTORY_TABLE_NAME
SPECS = {spec.name: spec for spec in pc_history.HISTORY_TABLES}


# --------------------------------------------------------------------------- the generated template
@functools.cache
def generated() -> dict:
    """The central template as `make templates` writes it, built in-process."""
    from patchcompliance.central import build_central
    from patchcompliance.render import to_yaml

    return parse_template(to_yaml(build_central()), "in-process central template")


def resolver() -> catalog.Resolver:
    template = generated()
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    values.update(ConfigBucket=SPEC.config_bucket, AthenaDatabase=DATABASE, AthenaWorkGroup=WORKGROUP)
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Glue::Table":
            values[logical_id] = resource["Properties"]["TableInput"]["Name"]
    return catalog.Resolver(values)


def function_code() -> str:
    """What ships: the committed template's code once it has the function, else the in-process template's."""
    if lib.template_resource(*lib.FUNCTIONS["history"]) is not None:
        return lib.inlined_code("history")
    return generated()["Resources"][c.HISTORY_FUNCTION]["Properties"]["Code"]["ZipFile"]


def environment() -> dict[str, str]:
    variables = generated()["Resources"][c.HISTORY_FUNCTION]["Properties"]["Environment"]["Variables"]
    return resolver()(variables)


# --------------------------------------------------------------------------- fixture, engine, moto world
@pytest.fixture(scope="module")
def fixture_tree(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("history-s3"), SPEC)


@pytest.fixture(scope="module")
def engine(fixture_tree, tmp_path_factory):
    template, _ = catalog.template_with_glue_tables()
    eng = open_engine(fixture_tree, template, tmp_path_factory.mktemp("history-engine"), views=(), threads=1)
    support.create_views(eng, generated())
    yield eng
    eng.close()


class World:
    """moto S3 (Config and results buckets) and Glue (the history tables, the export table and its partitions)."""

    def __init__(self, fixture):
        self.s3 = boto3.client("s3", region_name=lib.REGION)
        self.glue = boto3.client("glue", region_name=lib.REGION)
        for bucket in (SPEC.config_bucket, RESULTS_BUCKET):
            self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": lib.REGION})
        self.glue.create_database(DatabaseInput={"Name": DATABASE})
        resolve = resolver()
        for resource in generated()["Resources"].values():
            if resource["Type"] != "AWS::Glue::Table":
                continue
            if resource["Properties"]["TableInput"]["Name"] in (COMPLIANCE, PATCH, EXPORT_TABLE_NAME):
                self.glue.create_table(DatabaseName=DATABASE, TableInput=resolve(resource["Properties"]["TableInput"]))
        self.export_descriptor = self.glue.get_table(DatabaseName=DATABASE, Name=EXPORT_TABLE_NAME)["Table"][
            "StorageDescriptor"
        ]
        self.exports = {}
        self.starts = 0  # function runs so far
        for export_id, location in fixture.exports.partitions:
            rows = fixture.exports.rows[export_id]
            self.register_export(export_id, location, sum(1 for r in rows if r["kind"] == "instance"))

    def register_export(self, export_id, location, instances):
        """As ConfigExportFunction registers a complete export (partition parameters: rows per kind)."""
        self.exports[export_id] = location
        self.glue.create_partition(
            DatabaseName=DATABASE,
            TableName=EXPORT_TABLE_NAME,
            PartitionInput={
                "Values": [export_id],
                "StorageDescriptor": dict(self.export_descriptor, Location=location),
                "Parameters": {"instance_rows": str(instances), "rules_rows": "1"},
            },
        )

    def partition(self, table, day):
        try:
            return self.glue.get_partition(DatabaseName=DATABASE, TableName=table, PartitionValues=[day])["Partition"]
        except self.glue.exceptions.EntityNotFoundException:
            return None

    def days(self, table):
        parts = self.glue.get_partitions(DatabaseName=DATABASE, TableName=table)["Partitions"]
        return sorted(p["Values"][0] for p in parts)

    def keys(self, prefix):
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=SPEC.config_bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def run_folders(self, table, day):
        prefix = f"{pc_history.history_prefix(table)}dt={day}/"
        return sorted({key[len(prefix) :].split("/")[0] for key in self.keys(prefix)})

    def rows(self, table, day):
        """(location, rows) of the day as a reader sees it: the objects below the partition's location."""
        location = self.partition(table, day)["StorageDescriptor"]["Location"]
        prefix = location.split(f"s3://{SPEC.config_bucket}/", 1)[1]
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        rows = []
        for key in self.keys(prefix):
            with tempfile.NamedTemporaryFile(suffix=".parquet") as out:
                out.write(self.s3.get_object(Bucket=SPEC.config_bucket, Key=key)["Body"].read())
                out.flush()
                rows += con.sql(f"SELECT * FROM read_parquet('{out.name}')").fetchall()
        con.close()
        return location, rows


@pytest.fixture
def world(aws, monkeypatch, fixture_tree) -> World:
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    return World(fixture_tree)


def cold_start(engine, world, *, remaining=900.0, now=NOW) -> types.SimpleNamespace:
    """A fresh container with a virtual clock; Athena answered by the engine, S3 and Glue calls recorded. Each
    start is a minute after the previous one of the test, so run IDs sort in the order of the runs."""
    module = lib.load_function("history", code=function_code())
    clock = lib.VirtualClock()
    start = now + datetime.timedelta(minutes=world.starts)
    world.starts += 1
    module._now = lambda: start + datetime.timedelta(seconds=clock.now)
    module._sleep = clock.sleep
    athena = support.UnloadAthena(engine, world.s3)
    return types.SimpleNamespace(
        module=module,
        clock=clock,
        context=lib.FakeContext(remaining, clock),
        athena=athena,
        athena_hooks=athena.attach(module._client("athena")),
        glue=lib.Hooks(module._client("glue")),
        s3=lib.Hooks(module._client("s3")),
    )


def scheduled_event(when=NOW) -> dict:
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": lib.ACCOUNT,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": lib.REGION,
        "resources": [f"arn:aws:events:{lib.REGION}:{lib.ACCOUNT}:rule/pc-HistoryScheduleRule-1A2B"],
        "detail": {},
    }


def run(fn, event) -> dict:
    return fn.module.handler(event, fn.context)


def view_rows(engine, table) -> list[tuple]:
    """What the function's SELECT returns from the table's view on the engine (the day's expected rows)."""
    return engine.query(support.history_select(engine.tables[table], SPECS[table]))[1]


def same_rows(got, expected) -> bool:
    key = functools.cmp_to_key(lambda a, b: (repr(a) > repr(b)) - (repr(a) < repr(b)))
    return sorted(got, key=key) == sorted(expected, key=key)


# --------------------------------------------------------------------------- the daily job
def test_a_day_is_recorded_from_the_views_in_both_tables(engine, world):
    result = run(fn := cold_start(engine, world), {"days": [YESTERDAY]})
    assert result["outcome"] == "complete"
    (day,) = result["days"]
    assert (day["day"], day["source"], day["outcome"]) == (YESTERDAY, "views", "recorded")
    for table in (COMPLIANCE, PATCH):
        location, rows = world.rows(table, YESTERDAY)
        assert location == f"s3://{SPEC.config_bucket}/history/{table}/dt={YESTERDAY}/run={day['run']}/"
        expected = view_rows(engine, table)
        assert expected and same_rows(rows, expected), table
        partition = world.partition(table, YESTERDAY)
        declared = world.glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]["StorageDescriptor"]
        assert partition["StorageDescriptor"]["Columns"] == declared["Columns"]
        assert partition["Parameters"] == {"history_source": "views", "history_run": day["run"]}
    patch_states = {row[8] for row in world.rows(PATCH, YESTERDAY)[1]}
    assert patch_states == {"MISSING", "FAILED"}  # the fixture has other states; only these are kept
    assert all(' FROM "instance_compliance"' in q or ' FROM "patch" WHERE' in q for q in fn.athena.queries)
    assert {e["workgroup"] for e in fn.athena.executions.values()} == {WORKGROUP}


def test_rerunning_a_day_replaces_it_and_never_duplicates_it(engine, world):
    first = run(cold_start(engine, world), {"days": [YESTERDAY]})["days"][0]["run"]
    counts = {t: len(world.rows(t, YESTERDAY)[1]) for t in (COMPLIANCE, PATCH)}
    second = run(fn := cold_start(engine, world), {"days": [YESTERDAY]})["days"][0]["run"]
    assert second > first
    for table in (COMPLIANCE, PATCH):
        assert world.run_folders(table, YESTERDAY) == [f"run={second}"], "older run folder deleted"
        location, rows = world.rows(table, YESTERDAY)
        assert location.endswith(f"/run={second}/") and len(rows) == counts[table]
        assert world.days(table) == [YESTERDAY]
    assert fn.glue.ops("UpdatePartition") and not fn.glue.ops("CreatePartition")  # switched, not re-created
    deleted = [o["Key"] for p in fn.s3.ops("DeleteObjects") for o in p["Delete"]["Objects"]]
    assert deleted and all(f"/run={first}/" in key for key in deleted)


def test_a_failed_query_leaves_the_previous_run_readable_and_fails_the_invocation(engine, world, caplog):
    first = run(cold_start(engine, world), {"days": [YESTERDAY]})["days"][0]["run"]
    before = {t: world.rows(t, YESTERDAY) for t in (COMPLIANCE, PATCH)}
    fn = cold_start(engine, world)
    fn.athena.fail_with('FROM "patch"', "HIVE_CURSOR_ERROR: something broke", after_writing=True)
    with caplog.at_level(logging.INFO), pytest.raises(Exception, match="HIVE_CURSOR_ERROR") as raised:
        run(fn, {"days": [YESTERDAY]})
    assert f"{YESTERDAY} (views)" in str(raised.value)
    for table in (COMPLIANCE, PATCH):  # the compliance query succeeded, yet its day is not switched either
        assert world.rows(table, YESTERDAY) == before[table]
        assert world.run_folders(table, YESTERDAY) == [f"run={first}"], "the failed run's folders are deleted"
    assert not fn.glue.ops("CreatePartition") and not fn.glue.ops("UpdatePartition")
    summary = json.loads(caplog.records[-1].getMessage())
    assert summary["outcome"] == "failed" and summary["days"][0]["outcome"] == "failed"


def test_a_failed_switch_restores_the_tables_already_switched(engine, world):
    first = run(cold_start(engine, world), {"days": [YESTERDAY]})["days"][0]["run"]
    fn = cold_start(engine, world)
    denied = lib.http_error("AccessDeniedException", "User is not authorized to perform glue:UpdatePartition")
    fn.glue.respond("UpdatePartition", lambda p: denied if p["TableName"] == PATCH else None)
    with pytest.raises(Exception, match=r"glue:UpdatePartition on patch_compliance\.patch_history"):
        run(fn, {"days": [YESTERDAY]})
    updates = [
        (p["TableName"], p["PartitionInput"]["StorageDescriptor"]["Location"]) for p in fn.glue.ops("UpdatePartition")
    ]
    assert [t for t, _ in updates] == [COMPLIANCE, PATCH, COMPLIANCE]  # switch, denied, restore
    for table in (COMPLIANCE, PATCH):
        assert world.partition(table, YESTERDAY)["StorageDescriptor"]["Location"].endswith(f"/run={first}/")
        assert world.run_folders(table, YESTERDAY) == [f"run={first}"]


def test_deadline_stops_the_queries_and_leaves_the_day_as_it_was(engine, world):
    first = run(cold_start(engine, world), {"days": [YESTERDAY]})["days"][0]["run"]
    fn = cold_start(engine, world, remaining=300.0)
    fn.athena.hang('FROM "instance_compliance"')
    with pytest.raises(Exception, match="not recorded before the deadline"):
        run(fn, {"days": [YESTERDAY]})
    stopped = [e for e in fn.athena.executions.values() if e.get("stopped")]
    assert len(stopped) == 1 and "instance_compliance" in stopped[0]["sql"]
    assert 300.0 - fn.clock.now >= fn.module.STOP_MARGIN_S  # stopped, with the stop margin left
    sleeps = fn.clock.sleeps
    assert sleeps[:4] == [1.0, 2.0, 4.0, 8.0] and max(sleeps) == fn.module.POLL_MAX_S  # back-off, capped
    for table in (COMPLIANCE, PATCH):
        assert world.partition(table, YESTERDAY)["StorageDescriptor"]["Location"].endswith(f"/run={first}/")
        assert world.run_folders(table, YESTERDAY) == [f"run={first}"]


def test_no_day_starts_too_close_to_the_deadline(engine, world):
    fn = cold_start(engine, world, remaining=fn_margin() - 1)
    with pytest.raises(Exception, match="not recorded before the deadline"):
        run(fn, {"days": [YESTERDAY]})
    assert fn.athena.queries == [] and world.days(COMPLIANCE) == []


def fn_margin() -> float:
    return lib.load_function("history", code=function_code()).START_MARGIN_S


# --------------------------------------------------------------------------- backfill
def export_truth(rows) -> dict[tuple, tuple]:
    """Expected backfill rows of one export, from its rows by the documented rules (not by running SQL):
    {(account, region, node): (instance_name, instance_state, platform_type, platform_name, managed_status,
    managed_status_source, patch_compliance_status, compliance_state)}."""
    nodes = {}
    for row in rows:
        node = nodes.setdefault(
            (row["account_id"], row["region"], row["instance_id"]),
            {"instance": False, "name": None, "state": None, "platform": None, "managed": [], "patch": []},
        )
        if row["kind"] == "instance":
            tags = {t["key"]: t["value"] for t in row.get("tags", [])}
            node.update(instance=True, name=tags.get("Name", tags.get("name")), state=row.get("instance_state"),
                        platform=row.get("platform_details"))  # fmt: skip
        elif row.get("resource_type") == "AWS::EC2::Instance":
            node["managed"] += [r["compliance_type"] for r in row.get("rules", []) if RULE_MANAGED in r["rule_name"]]
        elif row.get("resource_type") == "AWS::SSM::PatchCompliance":
            node["patch"] += [r["compliance_type"] for r in row.get("rules", []) if RULE_PATCH in r["rule_name"]]
    truth = {}
    for key, n in nodes.items():
        managed = max(n["managed"], key=RANK.__getitem__) if n["managed"] else None
        patch = max(n["patch"], key=RANK.__getitem__) if n["patch"] else None
        if not (n["instance"] or (key[2].startswith("mi-") and patch)):
            continue
        platform = n["platform"]
        platform_type = None if platform is None else "Windows" if "windows" in platform.lower() else "Linux"
        if n["state"] in ("terminated", "shutting-down"):
            state = "TERMINATED"
        elif n["state"] in ("stopped", "stopping"):
            state = "STOPPED"
        elif managed == "NON_COMPLIANT":
            state = "UNMANAGED"
        elif patch in ("NON_COMPLIANT", "COMPLIANT"):
            state = patch
        else:
            state = "NO_PATCH_DATA"
        source = "CONFIG_RULE" if managed else None
        truth[key] = (n["name"], n["state"], platform_type, platform, managed, source, patch, state)
    return truth


def latest_export_of(fixture, day) -> str:
    return max(e for e, _ in fixture.exports.partitions if e.startswith(day.replace("-", "")))


def test_first_run_backfills_every_export_day_from_its_latest_export(engine, world, fixture_tree):
    result = run(fn := cold_start(engine, world), scheduled_event())
    assert result["outcome"] == "complete"
    assert world.days(COMPLIANCE) == sorted([*BACKFILL_DAYS, YESTERDAY])
    assert world.days(PATCH) == [YESTERDAY]  # no patch data per past day: patch_history is not backfilled
    assert result["backfill"]["recorded"] == sorted(BACKFILL_DAYS) and result["backfill"]["candidates"] == 4
    columns = [n for n, _ in pc_history.COMPLIANCE_COLUMNS]
    filled = [columns.index(n) for n in fn.module.BACKFILL_COLUMNS]
    for day in BACKFILL_DAYS:
        export_id = latest_export_of(fixture_tree, day)
        partition = world.partition(COMPLIANCE, day)
        assert partition["Parameters"]["history_export_id"] == export_id
        location, rows = world.rows(COMPLIANCE, day)
        assert location.endswith("-export/")
        truth = export_truth(fixture_tree.exports.rows[export_id])
        got = {row[:3]: tuple(row[i] for i in filled[3:]) for row in rows}
        assert len(rows) == len(got) == len(truth) > 0, day
        assert got == truth, day
        nulls = [i for i in range(len(columns)) if i not in filled]
        assert all(row[i] is None for row in rows for i in nulls)
    # END has two exports (13:00, 14:00) and a newer unregistered one: the latest registered is read
    end_query = [q for q in fn.athena.queries if latest_export_of(fixture_tree, BACKFILL_DAYS[0]) in q]
    assert len(end_query) == 1 and f"{END:%Y%m%d}T130000Z" not in " ".join(fn.athena.queries)


def stand_in_day(world, day, run):
    """A partition of compliance_history recorded earlier (its location need not hold files here)."""
    descriptor = world.glue.get_table(DatabaseName=DATABASE, Name=COMPLIANCE)["Table"]["StorageDescriptor"]
    location = f"s3://{SPEC.config_bucket}/history/{COMPLIANCE}/dt={day}/run={run}/"
    world.glue.create_partition(
        DatabaseName=DATABASE, TableName=COMPLIANCE,
        PartitionInput={"Values": [day], "StorageDescriptor": dict(descriptor, Location=location)},
    )  # fmt: skip
    return location


def test_backfill_never_replaces_a_recorded_day_and_a_second_run_has_nothing_to_fill(engine, world, fixture_tree):
    day = BACKFILL_DAYS[1]
    location = stand_in_day(world, day, "20251003T001500Z-0123abcd-export")  # filled by an earlier backfill
    result = run(fn := cold_start(engine, world), scheduled_event())
    assert sorted(result["backfill"]["recorded"]) == sorted(set(BACKFILL_DAYS) - {day})
    assert world.partition(COMPLIANCE, day)["StorageDescriptor"]["Location"] == location
    assert not [q for q in fn.athena.queries if latest_export_of(fixture_tree, day) in q]

    again = run(fn := cold_start(engine, world), scheduled_event())
    assert again["backfill"] == {"candidates": 0, "recorded": [], "deferred": 0, "failed": 0}
    assert len(fn.athena.queries) == 2  # yesterday's two tables only


def test_a_day_missed_after_the_first_views_day_stays_missing(engine, world, fixture_tree):
    """Days after the first day recorded from the views are not filled from exports (the views reading the
    history treat a missing day as a day the job did not run, in both tables)."""
    first = BACKFILL_DAYS[2]
    stand_in_day(world, first, "20251001T001500Z-0123abcd-views")
    result = run(cold_start(engine, world), scheduled_event())
    assert result["backfill"]["recorded"] == [BACKFILL_DAYS[3]]
    assert world.days(COMPLIANCE) == sorted([BACKFILL_DAYS[3], first, YESTERDAY])
    late = run(cold_start(engine, world), {"days": [BACKFILL_DAYS[0]]})  # asked for, still not filled
    assert late["days"] == [] and "stays missing" in late["skipped"][0]["reason"]
    assert BACKFILL_DAYS[0] not in world.days(COMPLIANCE)


def test_backfill_left_over_at_the_deadline_is_finished_by_the_next_run(engine, world):
    budget = fn_margin() + 5  # the first queries in flight (4) finish after 7 s: then no unit may start
    result = run(fn := cold_start(engine, world, remaining=budget), scheduled_event())
    assert result["outcome"] == "incomplete"
    recorded, deferred = result["backfill"]["recorded"], result["backfill"]["deferred"]
    assert recorded == BACKFILL_DAYS[:2][::-1] and deferred == 2  # yesterday's 2 queries + 2 newest days
    assert len(fn.athena.queries) == 4
    assert world.days(COMPLIANCE) == sorted([*recorded, YESTERDAY])
    assert all(world.run_folders(COMPLIANCE, d) == [] for d in BACKFILL_DAYS if d not in recorded)
    assert budget - fn.clock.now > fn.module.SWITCH_MARGIN_S
    result = run(cold_start(engine, world), scheduled_event())
    assert result["outcome"] == "complete" and len(result["backfill"]["recorded"]) == deferred
    assert world.days(COMPLIANCE) == sorted([*BACKFILL_DAYS, YESTERDAY])


def test_an_export_without_instances_and_days_beyond_retention_are_not_backfilled(engine, world, monkeypatch):
    empty_day = (END - datetime.timedelta(days=5)).isoformat()
    world.register_export(f"{empty_day.replace('-', '')}T140000Z", world.exports[max(world.exports)], 0)
    monkeypatch.setenv("RETENTION_DAYS", "5")  # window: today-3 .. today-2 = END-1 .. END
    result = run(cold_start(engine, world), scheduled_event())
    assert result["backfill"]["recorded"] == sorted(BACKFILL_DAYS[:2])
    assert empty_day not in world.days(COMPLIANCE)


def test_a_late_scheduled_event_records_its_day_from_the_export_if_missing(engine, world, fixture_tree):
    sent = NOW - datetime.timedelta(days=1)  # a redriven event for END, run two days late: no longer yesterday
    result = run(
        cold_start(engine, world, now=NOW + datetime.timedelta(days=1)), dict(scheduled_event(sent), backfill=False)
    )
    (day,) = result["days"]
    assert (day["day"], day["source"], day["outcome"]) == (END.isoformat(), "export", "recorded")
    assert day["export_id"] == latest_export_of(fixture_tree, END.isoformat())
    assert world.days(COMPLIANCE) == [END.isoformat()] and world.days(PATCH) == []


# --------------------------------------------------------------------------- bad input, errors, summary
def test_bad_requested_days_are_logged_and_skipped(engine, world, caplog):
    future = (TODAY + datetime.timedelta(days=1)).isoformat()
    with caplog.at_level(logging.WARNING):
        result = run(cold_start(engine, world), {"days": ["2025-13-01", "yesterday", future, 7, YESTERDAY]})
    assert [d["day"] for d in result["days"]] == [YESTERDAY]
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "2025-13-01" in warned and "'yesterday'" in warned and future in warned


def test_nothing_is_recorded_before_the_first_config_export(engine, world):
    for export_id in list(world.exports):
        world.glue.delete_partition(DatabaseName=DATABASE, TableName=EXPORT_TABLE_NAME, PartitionValues=[export_id])
    result = run(fn := cold_start(engine, world), scheduled_event())
    assert result["outcome"] == "complete" and fn.athena.queries == []
    assert [s["day"] for s in result["skipped"]] == [YESTERDAY]


MUST = "the function's role must allow"


@pytest.mark.parametrize(
    ("service", "operation", "code", "expected"),
    [
        ("glue", "GetTable", "AccessDeniedException", f"{MUST} glue:GetTable on {DATABASE}.{COMPLIANCE}"),
        ("glue", "CreatePartition", "AccessDeniedException", f"{MUST} glue:CreatePartition on {DATABASE}.{COMPLIANCE}"),
        ("s3", "ListObjectsV2", "AccessDenied", f"{MUST} s3:ListBucket on s3://{SPEC.config_bucket}/history/"),
        ("athena", "StartQueryExecution", "AccessDeniedException", f"{MUST} athena:StartQueryExecution on workgroup"),
    ],
)
def test_access_denied_names_the_call_and_the_permission(engine, world, service, operation, code, expected):
    fn = cold_start(engine, world)
    hooks = {"glue": fn.glue, "s3": fn.s3, "athena": fn.athena_hooks}[service]
    hooks.respond(operation, lambda _: lib.http_error(code, "Access Denied", 403))
    with pytest.raises(Exception) as raised:
        run(fn, {"days": [YESTERDAY]})
    assert expected in str(raised.value)
    assert world.days(COMPLIANCE) == [] and world.days(PATCH) == []


def test_a_query_denied_access_says_what_the_role_needs(engine, world):
    fn = cold_start(engine, world)
    fn.athena.fail_with('FROM "instance_compliance"', "Access Denied (Service: Amazon S3; Status Code: 403)")
    with pytest.raises(Exception) as raised:
        run(fn, {"days": [YESTERDAY]})
    message = str(raised.value)
    assert "compliance_history day " + YESTERDAY in message and "Access Denied" in message
    assert "must allow reading the view instance_compliance" in message
    assert f"s3://{SPEC.config_bucket}/history/compliance_history/dt={YESTERDAY}/run=" in message


def test_summary_is_one_json_line_with_the_calls(engine, world, caplog):
    with caplog.at_level(logging.INFO):
        result = run(cold_start(engine, world), {"days": [YESTERDAY]})
    line = json.loads(caplog.records[-1].getMessage())
    assert line == json.loads(json.dumps(result, default=str))
    assert line["calls"] == {
        "CreatePartition": 2, "GetPartition": 2, "GetPartitions": 2, "GetQueryExecution": 6, "GetTable": 2,
        "ListObjectsV2": 4, "StartQueryExecution": 2,
    }  # fmt: skip


def test_generated_template_inlines_the_source_and_runs(engine, world):
    assert function_code() == lib.source_code("history")
    assert run(cold_start(engine, world), {"days": [YESTERDAY]})["outcome"] == "complete"


def test_a_partition_pointing_at_a_newer_run_is_left_alone(engine, world):
    newer = f"{(NOW + datetime.timedelta(hours=1)):%Y%m%dT%H%M%SZ}-ffffffff-views"
    run(cold_start(engine, world), {"days": [YESTERDAY]})
    for table in (COMPLIANCE, PATCH):  # a concurrent, newer invocation switched the day meanwhile
        partition = world.partition(table, YESTERDAY)
        location = partition["StorageDescriptor"]["Location"].rsplit("/run=", 1)[0] + f"/run={newer}/"
        world.s3.put_object(Bucket=SPEC.config_bucket, Key=location.split("/", 3)[3] + "part", Body=b"x")
        descriptor = dict(partition["StorageDescriptor"], Location=location)
        world.glue.update_partition(
            DatabaseName=DATABASE, TableName=table, PartitionValueList=[YESTERDAY],
            PartitionInput={"Values": [YESTERDAY], "StorageDescriptor": descriptor},
        )  # fmt: skip
    result = run(cold_start(engine, world), {"days": [YESTERDAY]})
    assert result["days"][0]["outcome"] == "superseded"
    for table in (COMPLIANCE, PATCH):
        assert world.partition(table, YESTERDAY)["StorageDescriptor"]["Location"].endswith(f"/run={newer}/")
        assert f"run={newer}" in world.run_folders(table, YESTERDAY)


def test_the_day_of_a_scheduled_event_is_its_utc_date_minus_one(engine, world):
    retried = NOW + datetime.timedelta(minutes=50)  # a retry of the same event records the same day
    result = run(cold_start(engine, world, now=retried), dict(scheduled_event(), backfill=False))
    assert [d["day"] for d in result["days"]] == [YESTERDAY]


HIVE_OF_DUCK = {"VARCHAR": "string", "INTEGER": "int", "BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean",
                "DATE": "date", "TIMESTAMP": "timestamp"}  # fmt: skip


@pytest.mark.parametrize("spec", pc_history.HISTORY_TABLES, ids=lambda s: s.name)
def test_declared_types_are_the_types_the_views_return(engine, spec):
    """Each history column's declared type is the type of the view's column (on the local engine); the UNLOAD
    casts anyway, so a type drift would truncate or fail there rather than break the Parquet reader."""
    relation = engine.con.sql(f'SELECT * FROM "{spec.view}" LIMIT 0')
    returned = [(n, HIVE_OF_DUCK.get(str(t), str(t))) for n, t in zip(relation.columns, relation.types, strict=True)]
    assert returned == list(spec.columns)


def test_history_days_read_back_through_the_engine(engine, world, tmp_path):
    """The days the function wrote, copied into an engine tree, read through the declared Parquet table."""
    run(cold_start(engine, world), {"days": [YESTERDAY]})
    for table in (COMPLIANCE, PATCH):
        location, rows = world.rows(table, YESTERDAY)
        support.write_day(engine, table, YESTERDAY, rows)
        got = engine.query(f"SELECT * FROM \"{table}\" WHERE dt = '{YESTERDAY}'", trino=False)[1]
        assert same_rows([r[: len(rows[0])] for r in got], rows)
        assert {r[-2] for r in got} == {YESTERDAY} and all(r[-1].endswith(".parquet") for r in got)


def test_a_day_recorded_while_its_export_query_runs_is_not_replaced(engine, world, fixture_tree):
    day = BACKFILL_DAYS[0]
    fn = cold_start(engine, world)
    start = fn.athena.start
    stand_in = f"s3://{SPEC.config_bucket}/history/{COMPLIANCE}/dt={day}/run=20251004T001600Z-0123abcd-views/"

    def start_then_record(params):  # another invocation records the day from the views meanwhile
        answer = start(params)
        if latest_export_of(fixture_tree, day) in params["QueryString"]:
            descriptor = world.glue.get_table(DatabaseName=DATABASE, Name=COMPLIANCE)["Table"]["StorageDescriptor"]
            world.glue.create_partition(
                DatabaseName=DATABASE, TableName=COMPLIANCE,
                PartitionInput={"Values": [day], "StorageDescriptor": dict(descriptor, Location=stand_in)},
            )  # fmt: skip
        return answer

    fn.athena_hooks.respond("StartQueryExecution", start_then_record)
    result = run(fn, scheduled_event())
    assert day not in result["backfill"]["recorded"]
    assert [d["outcome"] for d in result["days"] if d["day"] == day] == ["exists"]
    assert world.partition(COMPLIANCE, day)["StorageDescriptor"]["Location"] == stand_in
    assert world.run_folders(COMPLIANCE, day) == []  # the export run's folder is deleted
