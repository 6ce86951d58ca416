"""A small, hand-made organisation for the digest tests, with its ground truth, on the local Athena engine.

What the engine holds:

* the real tables of the template (Glue declarations from patchcompliance.glue, config_export and the digest's
  expected_targets) over bucket directories, with the real `config_export_latest` and `coverage` views on them.
  Feeds are files written here: Config export rows (one registered export, plus a newer unregistered one the
  views must ignore) and SSM instance information, with capture times relative to the real clock (the coverage
  view measures ages against the engine's current time), so ages are known to the hour;
* the issue-11 views `instance_compliance` (extended), `patch_age` and `compliance_trend` as DuckDB *tables* with
  exactly the contract's columns (CONTRACT below), filled from the rows here. Once those views are in
  patchcompliance/sql, the tests can switch to them by dropping these tables and creating the views.

The truth is written by hand next to the rows (`Truth`), never computed with SQL.
"""

from __future__ import annotations

import datetime
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from troposphere import Template
from troposphere.glue import Database, DatabaseInput
from troposphere.s3 import Bucket

from patchcompliance import digest, glue
from patchcompliance.config_export import EXPORT_PARTITION_KEY, EXPORT_PREFIX, EXPORT_TABLE_NAME
from patchcompliance.render import view_sql

from .catalog import bind_roles, build_glue_template, glue_tables
from .engine import LocalAthena

CONFIG_BUCKET, DATASYNC_BUCKET, RESULTS_BUCKET = "central-config-bucket", "central-datasync-bucket", "athena-results"
DATASYNC_PREFIX = "inventory"
EXPORT_ID, UNREGISTERED_EXPORT_ID = "20250101T000000Z", "20991231T000000Z"

# Contract of the issue-11 views (column, DuckDB type), in the contract's order.
CONTRACT = {
    "instance_compliance": (
        ("account_id", "VARCHAR"), ("region", "VARCHAR"), ("instance_id", "VARCHAR"), ("instance_name", "VARCHAR"),
        ("instance_state", "VARCHAR"), ("platform_type", "VARCHAR"), ("platform_name", "VARCHAR"),
        ("platform_version", "VARCHAR"), ("agent_version", "VARCHAR"), ("last_inventory_time", "TIMESTAMP"),
        ("managed_status", "VARCHAR"), ("managed_status_source", "VARCHAR"), ("patch_compliance_status", "VARCHAR"),
        ("missing_count", "INTEGER"), ("failed_count", "INTEGER"), ("installed_pending_reboot_count", "INTEGER"),
        ("installed_count", "INTEGER"), ("critical_noncompliant_count", "INTEGER"),
        ("security_noncompliant_count", "INTEGER"), ("installed_rejected_count", "INTEGER"),
        ("available_security_update_count", "INTEGER"), ("kernel_version", "VARCHAR"), ("data_age_days", "INTEGER"),
        ("stale_reason", "VARCHAR"), ("exempt_until", "DATE"), ("exemption_expired", "BOOLEAN"),
        ("compliance_state", "VARCHAR"),
    ),
    "patch_age": (
        ("account_id", "VARCHAR"), ("region", "VARCHAR"), ("instance_id", "VARCHAR"), ("patch_id", "VARCHAR"),
        ("title", "VARCHAR"), ("classification", "VARCHAR"), ("severity", "VARCHAR"), ("patch_state", "VARCHAR"),
        ("first_seen_missing", "DATE"), ("age_days", "INTEGER"), ("sla_days", "INTEGER"), ("sla_due", "DATE"),
        ("sla_state", "VARCHAR"),
    ),
    "compliance_trend": (
        ("day", "DATE"), ("account_id", "VARCHAR"), ("region", "VARCHAR"), ("nodes_total", "BIGINT"),
        ("nodes_compliant", "BIGINT"), ("nodes_non_compliant", "BIGINT"), ("nodes_stale", "BIGINT"),
        ("nodes_exempt", "BIGINT"), ("nodes_unmanaged", "BIGINT"), ("nodes_no_patch_data", "BIGINT"),
        ("nodes_stopped", "BIGINT"), ("percent_compliant", "DOUBLE"), ("missing_patches", "BIGINT"),
        ("sla_breaches", "BIGINT"), ("new_non_compliant", "BIGINT"), ("resolved_non_compliant", "BIGINT"),
        ("mttr_days_30d", "DOUBLE"),
    ),
}  # fmt: skip

A1, A2, A3, A4, A5 = "111111111111", "222222222222", "333333333333", "444444444444", "555555555555"
EU, US, AP = "eu-west-1", "us-east-1", "ap-southeast-2"
FORMULA_NAME = '=HYPERLINK("http://x")'  # an instance name a spreadsheet would run as a formula


@dataclass
class Feed:
    """One account x region's data: Config export rows (age in hours, instance states) and SSM nodes."""

    account: str
    region: str
    config_age_h: float | None = None
    config_states: tuple[str, ...] = ("running",)
    ssm_age_h: float | None = None
    ssm_nodes: tuple[str, ...] = ("i-0000000000000000a",)


@dataclass
class Org:
    day: datetime.date
    now: datetime.datetime
    nodes: list[dict] = field(default_factory=list)  # instance_compliance rows
    patches: list[dict] = field(default_factory=list)  # patch_age rows
    trend: list[dict] = field(default_factory=list)  # compliance_trend rows
    feeds: list[Feed] = field(default_factory=list)
    unregistered: list[Feed] = field(default_factory=list)  # in the newer, unregistered export only
    targets: list[tuple[str, str, str]] = field(default_factory=list)  # stack instances (account, region, status)
    views: bool = True  # create the issue-11 contract tables


@dataclass(frozen=True)
class Truth:
    states: dict
    breached_patches: int
    breached_nodes: dict  # node key -> (patches, oldest due, severity label)
    due_patches: int
    due_nodes: int
    top_accounts: list  # (account, non-compliant nodes), most first
    coverage: dict  # account/region -> coverage_state
    report_rows: dict  # node key -> breached patches
    trend_changes: dict  # state -> change from the day before to the day


def node(account, region, instance_id, state, name=None, missing=0, failed=0, pending=0, **extra) -> dict:
    row = {c: None for c, _ in CONTRACT["instance_compliance"]}
    row.update(
        account_id=account, region=region, instance_id=instance_id, instance_name=name, compliance_state=state,
        instance_state="running", platform_type="Linux", platform_name="Amazon Linux", missing_count=missing,
        failed_count=failed, installed_pending_reboot_count=pending, critical_noncompliant_count=0,
        security_noncompliant_count=missing, exemption_expired=False,
    )  # fmt: skip
    row.update(extra)
    return row


def patch(account, region, instance_id, patch_id, sla_state, due, severity="Important", age=40) -> dict:
    return {
        **{c: None for c, _ in CONTRACT["patch_age"]},
        "account_id": account, "region": region, "instance_id": instance_id, "patch_id": patch_id,
        "title": f"Update {patch_id}", "classification": "SecurityUpdates", "severity": severity,
        "patch_state": "MISSING", "first_seen_missing": due - datetime.timedelta(days=30), "age_days": age,
        "sla_days": 30, "sla_due": due, "sla_state": sla_state,
    }  # fmt: skip


def trend_row(day, account, region, **counts) -> dict:
    row = {c: 0 for c, _ in CONTRACT["compliance_trend"]}
    row.update(day=day, account_id=account, region=region, percent_compliant=0.0, mttr_days_30d=None, **counts)
    return row


def small_org(now: datetime.datetime) -> tuple[Org, Truth]:
    """Five accounts, three regions; every coverage state; SLA breaches, due-soon and exempt patches."""
    day = now.date()
    d = datetime.timedelta
    org = Org(day=day, now=now)
    org.nodes = [
        node(A1, EU, "i-0a1", "NON_COMPLIANT", "web-1", missing=3),
        node(A1, EU, "i-0a2", "NON_COMPLIANT", "web-2", failed=1),
        node(A1, EU, "i-0a3", "COMPLIANT", "web-3"),
        node(A1, EU, "i-0a4", "STALE", "batch-1", data_age_days=12, stale_reason="NO_RECENT_SCAN"),
        node(A1, EU, "mi-0a5", "NON_COMPLIANT", "onprem-1", pending=1),
        node(A1, US, "i-0a6", "COMPLIANT", "api-1"),
        node(A1, US, "i-0a7", "EXEMPT", "legacy-1", exempt_until=day + d(days=30)),
        node(A2, EU, "i-0b1", "NON_COMPLIANT", FORMULA_NAME, missing=2),
        node(A2, EU, "i-0b2", "UNMANAGED"),
        node(A2, EU, "i-0b3", "STOPPED", instance_state="stopped"),
        node(A2, EU, "i-0b4", "TERMINATED", instance_state="terminated"),
        node(A3, EU, "i-0c1", "NO_PATCH_DATA"),
        node(A3, EU, "i-0c2", "COMPLIANT"),
    ]
    org.patches = [
        patch(A1, EU, "i-0a1", "KB0000001", "BREACHED", day - d(days=10), "Critical", age=40),
        patch(A1, EU, "i-0a1", "KB0000002", "BREACHED", day - d(days=2), "Important", age=32),
        patch(A1, EU, "i-0a1", "KB0000003", "DUE_SOON", day + d(days=2), "Important", age=28),
        patch(A1, EU, "i-0a2", "KB0000004", "BREACHED", day - d(days=1), "Medium", age=31),
        patch(A1, EU, "mi-0a5", "KB0000005", "WITHIN", day + d(days=30), "Low", age=0),
        patch(A2, EU, "i-0b1", "KB0000006", "DUE_SOON", day + d(days=1), "Low", age=29),
        patch(A2, EU, "i-0b1", "KB0000007", "BREACHED", day - d(days=5), "Low", age=35),
        patch(A1, US, "i-0a7", "KB0000008", "EXEMPT", day - d(days=20), "Critical", age=50),
    ]
    yesterday = day - d(days=1)
    org.trend = [
        trend_row(yesterday, A1, EU, nodes_total=5, nodes_compliant=2, nodes_non_compliant=2, nodes_stale=1),
        trend_row(yesterday, A1, US, nodes_total=2, nodes_compliant=1, nodes_exempt=1),
        trend_row(yesterday, A2, EU, nodes_total=4, nodes_non_compliant=2, nodes_unmanaged=1, nodes_stopped=1),
        trend_row(day, A1, EU, nodes_total=5, nodes_compliant=1, nodes_non_compliant=3, nodes_stale=1,
                  new_non_compliant=1),
        trend_row(day, A1, US, nodes_total=2, nodes_compliant=1, nodes_exempt=1),
        trend_row(day, A2, EU, nodes_total=4, nodes_non_compliant=1, nodes_unmanaged=1, nodes_stopped=1,
                  resolved_non_compliant=1),
        trend_row(day - d(days=5), A3, EU, nodes_total=9, nodes_compliant=9),  # older days are not compared
    ]  # fmt: skip
    org.feeds = [
        Feed(A1, EU, config_age_h=2, ssm_age_h=3),
        Feed(A1, US, config_age_h=200, ssm_age_h=5),  # quiet Config, fresh SSM: OK
        Feed(A2, EU, config_age_h=6, ssm_age_h=100),  # SSM older than 48 h: STALE
        Feed(A2, US, config_age_h=4, ssm_age_h=None),  # running instances, no SSM at all: STALE
        Feed(A3, EU, config_age_h=None, ssm_age_h=1, ssm_nodes=("mi-0000000000000000c",)),  # hybrid only: OK
        Feed(A5, AP, config_age_h=None, ssm_age_h=2, ssm_nodes=("mi-0000000000000000e",)),  # not a target: OK
        Feed(A3, US, config_age_h=3, config_states=("stopped", "terminated"), ssm_age_h=None),  # nothing running: OK
    ]
    org.unregistered = [Feed(A4, EU, config_age_h=1)]  # only in the unregistered export: A4 stays MISSING
    org.targets = [(A1, EU, "CURRENT"), (A1, US, "CURRENT"), (A2, EU, "CURRENT"), (A2, US, "CURRENT"),
                   (A3, EU, "CURRENT"), (A4, EU, "FAILED")]  # fmt: skip
    truth = Truth(
        states={"NON_COMPLIANT": 4, "COMPLIANT": 3, "STALE": 1, "EXEMPT": 1, "UNMANAGED": 1, "STOPPED": 1,
                "TERMINATED": 1, "NO_PATCH_DATA": 1},
        breached_patches=4,
        breached_nodes={f"{A1}/{EU}/i-0a1": (2, day - d(days=10), "CRITICAL"),
                        f"{A2}/{EU}/i-0b1": (1, day - d(days=5), "LOW"),
                        f"{A1}/{EU}/i-0a2": (1, day - d(days=1), "MEDIUM")},
        due_patches=2,
        due_nodes=2,
        top_accounts=[(A1, 3), (A2, 1)],
        coverage={f"{A1}/{EU}": "OK", f"{A1}/{US}": "OK", f"{A2}/{EU}": "STALE", f"{A2}/{US}": "STALE",
                  f"{A3}/{EU}": "OK", f"{A4}/{EU}": "MISSING", f"{A5}/{AP}": "OK", f"{A3}/{US}": "OK"},
        report_rows={f"{A1}/{EU}/i-0a1": 2, f"{A1}/{EU}/i-0a2": 1, f"{A1}/{EU}/mi-0a5": 0, f"{A2}/{EU}/i-0b1": 1},
        trend_changes={"COMPLIANT": -1, "NON_COMPLIANT": 0, "STALE": 0, "EXEMPT": 0, "UNMANAGED": 0, "STOPPED": 0,
                       "NO_PATCH_DATA": 0},
    )  # fmt: skip
    return org, truth


def big_org(now: datetime.datetime, accounts: int) -> Org:
    """`accounts` accounts with two non-compliant nodes each, one breached patch per node, and two expected
    regions each with no data at all (every pair MISSING)."""
    day = now.date()
    org = Org(day=day, now=now)
    for n in range(accounts):
        account = f"{100000000000 + n:012d}"
        for k in range(2):
            instance = f"i-{n:08x}{k:09x}"
            org.nodes.append(node(account, EU, instance, "NON_COMPLIANT", f"host-{n}-{k}", missing=1))
            org.patches.append(patch(account, EU, instance, f"KB{n:07d}", "BREACHED", day - datetime.timedelta(days=3)))
        org.targets += [(account, EU, "CURRENT"), (account, US, "CURRENT")]
    return org


# ---------------------------------------------------------------- files and engine


def _iso(moment: datetime.datetime, ms: bool = True) -> str:
    return moment.isoformat(timespec="milliseconds" if ms else "seconds").replace("+00:00", "Z")


def write_feeds(org: Org, root: Path) -> None:
    config = root / CONFIG_BUCKET / EXPORT_PREFIX
    for export_id, feeds in ((EXPORT_ID, org.feeds), (UNREGISTERED_EXPORT_ID, org.feeds + org.unregistered)):
        lines = []
        for feed in feeds:
            if feed.config_age_h is None:
                continue
            capture = _iso(org.now - datetime.timedelta(hours=feed.config_age_h))
            for k, state in enumerate(feed.config_states):
                instance = f"i-cfg{k:014d}"
                lines.append(
                    {"kind": "instance", "account_id": feed.account, "region": feed.region,
                     "resource_type": "AWS::EC2::Instance", "resource_id": instance, "instance_id": instance,
                     "instance_state": state, "capture_time": capture}
                )  # fmt: skip
        folder = config / f"{EXPORT_PARTITION_KEY}={export_id}"
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / "part-00000.json.gz", "wt", encoding="utf-8") as out:
            out.writelines(json.dumps(line) + "\n" for line in lines)
    anchor = root / DATASYNC_BUCKET / DATASYNC_PREFIX / glue.INVENTORY_ANCHOR_TYPE
    for feed in org.feeds:
        if feed.ssm_age_h is None:
            continue
        folder = anchor / f"accountid={feed.account}" / f"region={feed.region}"
        folder = folder / f"resourcetype={glue.INVENTORY_RESOURCE_TYPE}"
        folder.mkdir(parents=True, exist_ok=True)
        capture = _iso(org.now - datetime.timedelta(hours=feed.ssm_age_h), ms=False)
        for node_id in feed.ssm_nodes:
            line = {"resourceId": node_id, "captureTime": capture, "InstanceId": node_id, "PlatformType": "Linux",
                    "InstanceStatus": "Active", "schemaVersion": "1.0"}  # fmt: skip
            (folder / f"{node_id}.json").write_text(json.dumps(line) + "\n", encoding="utf-8")


def digest_tables_template() -> dict:
    """The Glue tables of the central template that the digest's queries reach, expected_targets included."""
    template = build_glue_template()
    extra = Template()
    bucket = extra.add_resource(Bucket("AthenaBucket"))
    database = extra.add_resource(Database(glue.ATHENA_DATABASE, CatalogId="1", DatabaseInput=DatabaseInput(Name="x")))
    digest.add_expected_targets_table(extra, database, bucket)
    template["Resources"][digest.EXPECTED_TARGETS_TABLE] = extra.to_dict()["Resources"][digest.EXPECTED_TARGETS_TABLE]
    template["Resources"]["AthenaBucket"] = {"Type": "AWS::S3::Bucket"}
    return template


def open_engine(org: Org, root: Path, *, coverage_view: bool = True) -> LocalAthena:
    buckets = {name: root / name for name in (CONFIG_BUCKET, DATASYNC_BUCKET, RESULTS_BUCKET)}
    for path in buckets.values():
        path.mkdir(parents=True, exist_ok=True)
    write_feeds(org, root)
    template = digest_tables_template()
    values = bind_roles(
        template, config_bucket=CONFIG_BUCKET, datasync_bucket=DATASYNC_BUCKET, datasync_prefix=DATASYNC_PREFIX
    )
    values["AthenaBucket"] = RESULTS_BUCKET
    engine = LocalAthena(glue_tables(template, values), buckets, root / "work")
    engine.register_inventory_partitions()
    location = f"s3://{CONFIG_BUCKET}/{EXPORT_PREFIX}/{EXPORT_PARTITION_KEY}={EXPORT_ID}/"
    engine.register_partition(EXPORT_TABLE_NAME, {EXPORT_PARTITION_KEY: EXPORT_ID}, location)
    if org.views:
        tables = (("instance_compliance", org.nodes), ("patch_age", org.patches), ("compliance_trend", org.trend))
        for name, rows in tables:
            columns = CONTRACT[name]
            engine.con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)})")
            if rows:  # one bulk load from a JSON Lines file (row-by-row inserts take seconds per 10,000 rows)
                path = root / f"{name}.jsonl"
                path.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
                types = ", ".join(f"'{c}': '{t}'" for c, t in columns)
                engine.con.execute(
                    f"INSERT INTO {name} SELECT {', '.join(c for c, _ in columns)} "
                    f"FROM read_json('{path}', format = 'newline_delimited', columns = {{{types}}})"
                )
    engine.build()
    engine.create_view("config_export_latest", view_sql("config_export_latest"))
    if coverage_view:
        engine.create_view("coverage", view_sql("coverage"))
    return engine


def stack_instances(targets) -> callable:
    """ListStackInstances responder, 100 summaries a page (the API's maximum page)."""

    def respond(params):
        start = int(params.get("NextToken") or 0)
        size = min(params.get("MaxResults", 100), 100)
        page = {
            "Summaries": [
                {"Account": a, "Region": r, "Status": "OUTDATED" if s == "FAILED" else "CURRENT",
                 "StackInstanceStatus": {"DetailedStatus": s}, "StackSetId": "pc-member:1"}
                for a, r, s in targets[start : start + size]
            ]
        }  # fmt: skip
        if start + size < len(targets):
            page["NextToken"] = str(start + size)
        return page

    return respond
