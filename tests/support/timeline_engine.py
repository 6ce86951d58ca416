"""The timeline fleet (tests/support/timeline.py) on the local engine, and the truth of the views that read history.

`open_timeline` writes one day's inputs (`write_day`: Config export, sync files) and, for the days the history job
ran before it, the rows of instance_compliance and patch on that day into the history tables (Snappy Parquet in a
run folder ``history/<table>/dt=<day>/run=<id>/`` of the Config bucket, the Glue partition dt=<day> pointing at it,
as the history function leaves them; tables declared by patchcompliance.history, read by tests/support/history.py).
Then it creates the views the tests need, as the stack deploys them with the given parameter values, with
current_date pinned to that day.

`patch_age_rows`, `patch_cves_rows` and `trend_rows` are those views' truth, computed in Python from the same
history rows and the rules of tests/support/policy.py.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import sqlglot
from sqlglot import exp
from troposphere import Template

from patchcompliance.athena import deployed_view_sql
from patchcompliance.config_export import EXPORT_PARTITION_KEY, EXPORT_PREFIX, EXPORT_TABLE_NAME
from patchcompliance.constants import VIEW_ORDER
from patchcompliance.history import HISTORY_TABLES, PARTITION_KEY, add_history_tables
from patchcompliance.render import view_sql

from . import catalog, export_data, policy, timeline
from .engine import LocalAthena
from .history import write_parquet

IC = {name: i for i, (name, _) in enumerate(HISTORY_TABLES[0].columns)}  # instance_compliance column index
PC = {name: i for i, (name, _) in enumerate(HISTORY_TABLES[1].columns)}  # patch column index
TIMELINE_VIEWS = ("compliance_settings", "instance_compliance", "patch", "patch_age", "patch_cves", "compliance_trend")


def template() -> dict:
    """The Glue tables of the generator (catalog.build_glue_template), the two history tables included."""
    base = catalog.build_glue_template()
    history = Template()
    add_history_tables(history, "AthenaDatabase", "ConfigBucket")
    for logical_id, resource in history.to_dict()["Resources"].items():
        base["Resources"].setdefault(logical_id, resource)
    return base


def views_needed(names) -> list[str]:
    """`names` and the views they read, transitively, in creation order."""
    needed, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        tables = {t.name for t in sqlglot.parse_one(view_sql(name), read="trino").find_all(exp.Table)}
        todo += [t for t in tables if t in VIEW_ORDER]
    return [v for v in VIEW_ORDER if v in needed]


def history_days(offset: int) -> list[int]:
    """Offsets of the days the history job ran before day `offset`."""
    return [(d - timeline.TODAY).days for d in timeline.job_days() if (d - timeline.TODAY).days < offset]


def history(settings: policy.Settings, offset: int = 0) -> dict[str, dict]:
    """{table: {day: rows}} the history job wrote before day `offset` (patch_history: MISSING/FAILED rows)."""
    compliance, patches = {}, {}
    for day in history_days(offset):
        key = timeline.day_of(day).isoformat()
        compliance[key] = timeline.compliance_rows(day, settings)
        patches[key] = [
            r for r in timeline.patch_rows(day) if r[PC["patch_state"]] in policy.NON_COMPLIANT_PATCH_STATES
        ]
    return {HISTORY_TABLES[0].name: compliance, HISTORY_TABLES[1].name: patches}


def open_timeline(root, offset: int = 0, values: dict | None = None, *, with_history: bool = True,
                  views=TIMELINE_VIEWS, workdir=None) -> LocalAthena:  # fmt: skip
    """Engine over day `offset` of the timeline, written below `root` (a fresh directory)."""
    settings = policy.Settings.of(values)
    export_id, location = write_day(root, offset)
    glue_template = template()
    bound = catalog.bind_roles(
        glue_template, config_bucket=timeline.CONFIG_BUCKET, datasync_bucket=timeline.DATASYNC_BUCKET,
        datasync_prefix=timeline.DATASYNC_PREFIX,
    )  # fmt: skip
    buckets = {timeline.CONFIG_BUCKET: root / timeline.CONFIG_BUCKET,
               timeline.DATASYNC_BUCKET: root / timeline.DATASYNC_BUCKET}  # fmt: skip
    engine = LocalAthena(catalog.glue_tables(glue_template, bound), buckets, workdir, threads=1)
    engine.register_inventory_partitions()
    engine.register_partition(EXPORT_TABLE_NAME, {EXPORT_PARTITION_KEY: export_id}, location)
    if with_history:
        for table, days in history(settings, offset).items():
            decl = engine.tables[table]
            for day, rows in days.items():
                folder = f"{decl.location.rstrip('/')}/{PARTITION_KEY}={day}/run={day.replace('-', '')}T001500Z-test/"
                write_parquet(engine.local_path(folder) / "part-00000.snappy.parquet", list(decl.columns), rows)
                engine.register_partition(table, {PARTITION_KEY: day}, folder)
    engine.build()
    engine.today = timeline.day_of(offset)
    parameters = {**policy.parameter_defaults(), **(values or {})}
    for name in views_needed(views):
        engine.create_view(name, deployed_view_sql(name, parameters))
    return engine


# ---------------------------------------------------------------- the inputs of one day, as AWS writes them
def _compact(row: dict) -> dict:
    """An export row as the Config export function writes it: keys with null or empty values left out."""
    return {k: v for k, v in row.items() if v not in (None, "", [])}


def write_day(root: Path, offset: int) -> tuple[str, str]:
    """Write the Config export and the sync files the views read on day `offset` below `root`/<bucket>/;
    returns (export_id, its location) for the export partition."""
    days = timeline.fleet(offset)
    export_id = f"{timeline.day_of(offset):%Y%m%d}T120000Z"
    instances, rules = [], []
    for day in days:
        if not day.in_config:
            continue
        node = day.node
        instances.append(_compact({
            "kind": "instance", "account_id": node.account, "region": node.region,
            "resource_type": "AWS::EC2::Instance", "resource_id": node.node_id, "instance_id": node.node_id,
            "instance_state": day.state, "platform_details": "Windows" if node.windows else "Linux/UNIX",
            "launch_time": "2025-01-01T00:00:00.000Z", "tags": [{"key": k, "value": v} for k, v in day.tags.items()],
            "capture_time": timeline.iso(timeline.at(offset, 11)).replace("Z", ".000Z"),
        }))  # fmt: skip
        if node.managed:
            rules.append({
                "kind": "rules", "account_id": node.account, "region": node.region,
                "resource_type": "AWS::EC2::Instance", "resource_id": f"AWS::EC2::Instance/{node.node_id}",
                "instance_id": node.node_id,
                "rules": [{"rule_name": timeline.MANAGED_RULE, "compliance_type": node.managed}],
                "capture_time": timeline.iso(timeline.at(offset, 11)).replace("Z", ".000Z"),
            })  # fmt: skip
    config_root = root / timeline.CONFIG_BUCKET
    export_data.write_export(config_root, EXPORT_PREFIX, export_id, [instances, rules], part_rows=25, complete=True)
    for day in days:
        node = day.node
        files = {
            "AWS:InstanceInformation": [day.info] if day.info else [],
            "AWS:InstanceDetailedInformation": [day.detail] if day.detail else [],
            "AWS:PatchSummary": [day.summary] if day.summary else [],
            "AWS:ComplianceItem": day.items,
        }
        for inventory_type, lines in files.items():
            if not lines:
                continue
            folder = (root / timeline.DATASYNC_BUCKET / timeline.DATASYNC_PREFIX / inventory_type
                      / f"accountid={node.account}" / f"region={node.region}"
                      / "resourcetype=ManagedInstanceInventory")  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{node.node_id}.json").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return export_id, f"s3://{timeline.CONFIG_BUCKET}/{export_data.export_folder(EXPORT_PREFIX, export_id)}"


# ---------------------------------------------------------------- truth of the views that read history
def _pairs_by_day(patch_history: dict[str, list]) -> dict[tuple, set]:
    present: dict[tuple, set] = {}
    for day, rows in patch_history.items():
        for r in rows:
            present.setdefault(tuple(r[:4]), set()).add(date.fromisoformat(day))
    return present


def patch_age_rows(settings: policy.Settings, offset: int = 0) -> list[tuple]:
    past = history(settings, offset)
    return policy.patch_age_rows(
        timeline.compliance_rows(offset, settings), timeline.patch_rows(offset),
        sorted(date.fromisoformat(d) for d in past[HISTORY_TABLES[0].name]),
        _pairs_by_day(past[HISTORY_TABLES[1].name]), settings, timeline.day_of(offset),
    )  # fmt: skip


def patch_cves_rows(settings: policy.Settings, offset: int = 0) -> list[tuple]:
    compliance, patches = timeline.compliance_rows(offset, settings), timeline.patch_rows(offset)
    return policy.patch_cves_rows(compliance, patches, patch_age_rows(settings, offset))


def trend_rows(settings: policy.Settings, offset: int = 0) -> list[tuple]:
    """compliance_trend on day `offset` from the history written before it (see the view's documentation)."""
    today = timeline.day_of(offset)
    past = history(settings, offset)
    bound = today - timedelta(days=settings.trend_days + 29 + settings.sla_max)
    states_bound = today - timedelta(days=settings.trend_days + 29)
    job = sorted(d for d in map(date.fromisoformat, past[HISTORY_TABLES[0].name]) if bound <= d <= today)
    number = {d: i for i, d in enumerate(job)}
    states = {date.fromisoformat(d): {(r[0], r[1], r[2]): r[IC["compliance_state"]] for r in rows}
              for d, rows in past[HISTORY_TABLES[0].name].items()
              if states_bound <= date.fromisoformat(d) <= today}  # fmt: skip
    # runs of each pair over the job days read; a run beginning before the bound counts from the first day read
    pairs: dict[tuple, dict] = {}
    for d, rows in past[HISTORY_TABLES[1].name].items():
        day = date.fromisoformat(d)
        if day not in number:
            continue
        for r in rows:
            pairs.setdefault(tuple(r[:4]), {})[day] = policy.effective_severity(
                r[PC["patch_severity"]], r[PC["severity"]]
            )
    run_start, fixes = {}, []
    for pair, days in pairs.items():
        ordered = sorted(days)
        start = ordered[0]
        for i, day in enumerate(ordered):
            if i and number[day] != number[ordered[i - 1]] + 1:
                start = day
            run_start[(pair, day)] = start
            last = i == len(ordered) - 1 or number[ordered[i + 1]] != number[day] + 1
            if last and number[day] + 1 < len(job):
                fixed = job[number[day] + 1]
                if states.get(fixed, {}).get(pair[:3], "TERMINATED") != "TERMINATED":
                    fixes.append((pair[:2], fixed, (fixed - start).days))
    rows = []
    for day in job:
        if day <= today - timedelta(days=settings.trend_days) or day not in states:
            continue
        groups = sorted({key[:2] for key in states[day]})
        before = states.get(day - timedelta(days=1)) if (day - timedelta(days=1)) in number else None
        for group in groups:
            here = {k: s for k, s in states[day].items() if k[:2] == group}
            count = {
                s: sum(v == s for v in here.values())
                for s in ("COMPLIANT", "NON_COMPLIANT", "STALE", "EXEMPT", "UNMANAGED", "NO_PATCH_DATA", "STOPPED")
            }
            total = sum(v != "TERMINATED" for v in here.values())
            counted = total - count["STOPPED"] - count["EXEMPT"]
            missing = breaches = 0
            for pair, days in pairs.items():
                if pair[:2] != group or day not in days or here.get(pair[:3], "TERMINATED") == "TERMINATED":
                    continue
                missing += 1
                due = run_start[(pair, day)] + timedelta(days=policy.sla_days(days[day], settings))
                breaches += here[pair[:3]] != "EXEMPT" and day > due
            new = resolved = None
            if before is not None:
                old = {k: s for k, s in before.items() if k[:2] == group}
                new = sum(s == "NON_COMPLIANT" and old.get(k) != "NON_COMPLIANT" for k, s in here.items())
                resolved = sum(s == "NON_COMPLIANT" and here.get(k) != "NON_COMPLIANT" for k, s in old.items())
            fixed = [n for g, when, n in fixes if g == group and day - timedelta(days=29) <= when <= day]
            rows.append((day, *group, total, count["COMPLIANT"], count["NON_COMPLIANT"], count["STALE"],
                         count["EXEMPT"], count["UNMANAGED"], count["NO_PATCH_DATA"], count["STOPPED"],
                         100 * count["COMPLIANT"] / counted if counted > 0 else None, missing, breaches, new,
                         resolved, sum(fixed) / len(fixed) if fixed else None))  # fmt: skip
    return rows
