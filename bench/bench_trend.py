"""Benchmark: the partitions, files and rows view compliance_trend reads from a long history, on the local DuckDB
engine (one run, not a test).

History: 10,000 nodes x 400 days, as the history function leaves it (patchcompliance/history.py): one Snappy Parquet
file per table and day in a run folder ``history/<table>/dt=<YYYY-MM-DD>/run=<id>/``, one Glue partition per day
(registered in the engine's catalog) pointing at it. compliance_history has one row per node and day (a state
drawn per node and day: mostly COMPLIANT or NON_COMPLIANT, some STALE, EXEMPT, STOPPED); patch_history has the
node x patch pairs missing that day, five patches per node each missing in a repeating cycle (runs of 10-30 of
every 60 days), so runs begin and end every day. The tables are read by tests/support/history.py (Parquet, columns
by name), the views are created as the stack deploys them, current_date is the day after the last one.

Each window (TrendDays 30, 90 and 400, other parameters default: SLAs up to 90 days) runs the view once with
DuckDB's profiler: files and rows each Parquet scan read per table (Athena bills the bytes of the files it reads;
the partitions a query skips are never opened). Expected partitions (the history ends yesterday): compliance_history
TrendDays + 29 (the window and the 29 days before it), patch_history TrendDays + 29 + max SLA days; every partition
for a window that covers the history. "of rows": the rows read over (the table's rows x scans of it).

Goal: each table reads exactly its expected partitions (files), and 30 days read fewer rows than 400.

Run: .venv/bin/python bench/bench_trend.py [--nodes 10000] [--days 400] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: patchcompliance and tests.support from this checkout

import duckdb  # noqa: E402

from patchcompliance.athena import deployed_view_sql  # noqa: E402
from patchcompliance.history import HISTORY_TABLES, PARTITION_KEY  # noqa: E402
from tests.support import catalog, policy  # noqa: E402
from tests.support.engine import LocalAthena  # noqa: E402
from tests.support.timeline_engine import template  # noqa: E402

BUCKET = "bench-config"
LAST_DAY = date(2026, 10, 31)
WINDOWS = (30, 90, 400)
RUN = "20261101T001500Z-bench"
PATCHES = (("P-0", "Critical"), ("P-1", "Important"), ("P-2", "Medium"), ("P-3", "Low"), ("P-4", ""))

COMPLIANCE_SELECT = """
SELECT
    CASE WHEN n % 2 = 0 THEN '111111111111' ELSE '222222222222' END AS account_id,
    CASE WHEN n % 3 = 0 THEN 'eu-west-1' ELSE 'us-east-1' END AS region,
    printf('i-%017x', n) AS instance_id, printf('node-%d', n) AS instance_name,
    CASE WHEN state = 'STOPPED' THEN 'stopped' ELSE 'running' END AS instance_state,
    'Linux' AS platform_type, 'Amazon Linux' AS platform_name, '2023' AS platform_version,
    '3.3.1142.0' AS agent_version, CAST(day AS TIMESTAMP) + INTERVAL 2 HOUR AS last_inventory_time,
    'COMPLIANT' AS managed_status, 'CONFIG_RULE' AS managed_status_source, NULL::VARCHAR AS patch_compliance_status,
    missing AS missing_count, 0 AS failed_count, 0 AS installed_pending_reboot_count, 40 AS installed_count,
    0 AS critical_noncompliant_count, missing AS security_noncompliant_count, 0 AS installed_rejected_count,
    NULL::INTEGER AS available_security_update_count, '6.1.102' AS kernel_version, 0 AS data_age_days,
    CASE WHEN state = 'STALE' THEN 'NO_RECENT_SCAN' END AS stale_reason, NULL::DATE AS exempt_until,
    false AS exemption_expired, state AS compliance_state,
    strftime(day, '%Y-%m-%d') AS dt, '{run}' AS run
FROM (
    SELECT n, day, missing,
        CASE hash(n, d) % 50
            WHEN 0 THEN 'STALE' WHEN 1 THEN 'EXEMPT' WHEN 2 THEN 'STOPPED'
            ELSE CASE WHEN missing > 0 THEN 'NON_COMPLIANT' ELSE 'COMPLIANT' END
        END AS state
    FROM (
        SELECT n, d, DATE '{first}' + CAST(d AS INTEGER) AS day,
            CAST({missing} AS INTEGER) AS missing
        FROM range({nodes}) nodes(n) CROSS JOIN range({days}) days(d)
    )
)
"""
PATCH_SELECT = """
SELECT
    CASE WHEN n % 2 = 0 THEN '111111111111' ELSE '222222222222' END AS account_id,
    CASE WHEN n % 3 = 0 THEN 'eu-west-1' ELSE 'us-east-1' END AS region,
    printf('i-%017x', n) AS instance_id, p.id AS patch_id, 'Update ' || p.id AS title, 'Security' AS classification,
    'UNSPECIFIED' AS severity, p.severity AS patch_severity, 'MISSING' AS patch_state, 'NON_COMPLIANT' AS status,
    'prod' AS patch_group, 'pb-0123456789abcdef0' AS baseline_id, NULL::TIMESTAMP AS installed_time,
    CAST(DATE '{first}' + CAST(d AS INTEGER) AS TIMESTAMP) + INTERVAL 1 HOUR AS execution_time,
    CAST(DATE '{first}' + CAST(d AS INTEGER) AS TIMESTAMP) + INTERVAL 1 HOUR AS capture_time,
    'CVE-2026-' || (1000 + p.k) AS cve_ids,
    strftime(DATE '{first}' + CAST(d AS INTEGER), '%Y-%m-%d') AS dt, '{run}' AS run
FROM range({nodes}) nodes(n) CROSS JOIN range({days}) days(d)
JOIN (VALUES {patches}) AS p(k, id, severity) ON (d + n * 7 + p.k * 13) % 60 < 10 + 5 * p.k
"""


def generate(root: Path, nodes: int, days: int) -> dict[str, int]:
    """Write both history tables below root/BUCKET; rows per table."""
    first = LAST_DAY - timedelta(days=days - 1)
    patches = ", ".join(f"({k}, '{pid}', '{sev}')" for k, (pid, sev) in enumerate(PATCHES))
    con = duckdb.connect()
    rows = {}
    for spec, select in zip(HISTORY_TABLES, (COMPLIANCE_SELECT, PATCH_SELECT), strict=True):
        missing = " + ".join(
            f"CAST((d + n * 7 + {k * 13}) % 60 < {10 + 5 * k} AS INTEGER)" for k in range(len(PATCHES))
        )
        sql = select.format(first=first.isoformat(), nodes=nodes, days=days, run=RUN, patches=patches, missing=missing)
        folder = root / BUCKET / "history" / spec.name
        folder.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY ({sql}) TO '{folder}' (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY ({PARTITION_KEY}, run))"
        )
        rows[spec.name] = con.sql(f"SELECT count(*) FROM read_parquet('{folder}/*/*/*.parquet')").fetchall()[0][0]
    con.close()
    return rows


def open_engine(root: Path, workdir: Path) -> LocalAthena:
    glue_template = template()
    values = catalog.bind_roles(glue_template, config_bucket=BUCKET, datasync_bucket="unused", datasync_prefix="x")
    names = [spec.name for spec in HISTORY_TABLES]
    tables = {n: d for n, d in catalog.glue_tables(glue_template, values).items() if n in names}
    engine = LocalAthena(tables, {BUCKET: root / BUCKET}, workdir, threads=2)
    for name in names:
        for folder in sorted((root / BUCKET / "history" / name).glob(f"{PARTITION_KEY}=*/run=*")):
            day = folder.parent.name.split("=", 1)[1]
            location = f"s3://{BUCKET}/{folder.relative_to(root / BUCKET).as_posix()}/"
            engine.register_partition(name, {PARTITION_KEY: day}, location)
    engine.build()
    engine.today = LAST_DAY + timedelta(days=1)
    return engine


def parquet_scans(engine: LocalAthena, sql: str) -> tuple[dict, int, float]:
    """({table: {scans, files, rows}}, result rows, seconds) of one profiled run: per table the Parquet scans,
    the most files one scan read, the rows all its scans read."""
    out = engine.workdir / "profile.json"
    translated = engine.translate(sql)
    engine.con.execute("PRAGMA enable_profiling = 'json'")
    engine.con.execute(f"PRAGMA profiling_output = '{out}'")
    start = time.perf_counter()
    try:
        result = engine.con.sql(translated).fetchall()
    finally:
        engine.con.execute("PRAGMA disable_profiling")
    seconds = time.perf_counter() - start
    scans: dict[str, dict] = {}

    def walk(node):
        info = node.get("extra_info") or {}
        if node.get("type") == "TABLE_SCAN" and info.get("Function") == "READ_PARQUET":
            names = info.get("Filename(s)", "")  # the first few only: the profiler shortens the list
            table = next((s.name for s in HISTORY_TABLES if f"/{s.name}/" in names), "?")
            entry = scans.setdefault(table, {"scans": 0, "files": 0, "rows": 0})
            entry["scans"] += 1
            entry["files"] = max(entry["files"], int(info.get("Total Files Read") or 0))
            entry["rows"] += int(node.get("rows_scanned") or 0)
        for child in node.get("children", []):
            walk(child)

    for node in json.loads(out.read_text()).get("operator", []):
        walk(node)
    return scans, len(result), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--keep", type=Path, help="write the history here and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-trend-"))
    started = time.perf_counter()
    try:
        rows = generate(root, args.nodes, args.days)
        print(f"history: {args.nodes:,} nodes x {args.days} days; "
              + ", ".join(f"{t} {n:,} rows" for t, n in rows.items())
              + f"; one file per table and day; generated in {time.perf_counter() - started:.0f} s")  # fmt: skip
        engine = open_engine(root, root / "engine")
        defaults = policy.parameter_defaults()
        sla_max = policy.Settings.of().sla_max
        print(f"{'TrendDays':>9} {'table':<19} {'scans':>5} {'files/scan':>14} {'expected':>8} {'rows read':>12} "
              f"{'of rows':>8} {'rows out':>9} {'seconds':>8}")  # fmt: skip
        print("-" * 99)
        ok, read = True, {}
        for window in WINDOWS:
            values = {**defaults, "TrendDays": str(window)}
            for view in ("compliance_settings", "compliance_trend"):
                engine.create_view(view, deployed_view_sql(view, values))
            scans, out, seconds = parquet_scans(engine, 'SELECT * FROM "compliance_trend"')
            for spec, extra in zip(HISTORY_TABLES, (0, sla_max), strict=True):
                scan = scans.get(spec.name, {"scans": 0, "files": 0, "rows": 0})
                expected = min(window + 29 + extra, args.days)  # the history ends yesterday
                ok &= scan["files"] == expected
                read[(window, spec.name)] = scan["rows"]
                share = scan["rows"] / (rows[spec.name] * max(scan["scans"], 1))
                print(f"{window:>9} {spec.name:<19} {scan['scans']:>5} {scan['files']:>6,} / {args.days:<5} "
                      f"{expected:>8} {scan['rows']:>12,} {share:>7.0%} {out:>9,} {seconds:>8.2f}")  # fmt: skip
        small, large = min(WINDOWS), max(WINDOWS)
        ratios = ", ".join(
            f"{s.name} {read[(small, s.name)] / read[(large, s.name)]:.2f}" for s in HISTORY_TABLES
        )  # fmt: skip
        print(f"rows read at {small} days / at {large} days: {ratios}")
        ok &= all(read[(small, s.name)] < read[(large, s.name)] for s in HISTORY_TABLES)
        print(f"every table read exactly its expected partitions, fewer rows at {small} days: {'yes' if ok else 'NO'}")
        print(f"total {time.perf_counter() - started:.0f} s")
        engine.con.close()
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
