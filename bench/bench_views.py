"""Benchmark: the views over the Config export against the snapshot-based views they replace, on the local DuckDB
engine (one run, not a test).

Fixture (tests/support/fixtures.py): 2,000 EC2 instances per account x region, 2 accounts x 2 regions (8,000
instances) with their SSM inventory, one Config snapshot per day for 30 days and one Config export per day for 30
days (the default ConfigExportSchedule is hourly, which only adds partitions: the views read the latest one). The
snapshots hold what the snapshot-based views needed (instances, their compliance items, a volume each and its
compliance item) but not the SSM items Config records for managed nodes: with those (~40 KB per node) a
2,000-node snapshot is over Athena's 32 MB row limit and the snapshot-based views fail, which the last part shows
on one account x region.

Snapshot-based: the SQL of bench/snapshot_views.py (config_latest_items: latest partition per account x region
from "config_snapshot$partitions", latest file of that day, one unnest). Export-based: patchcompliance/sql
(config_export_latest: largest export_id of "config_export$partitions"). Both through the engine (sqlglot
translation, emulated dynamic partition pruning applied when the base view is created: its creation time is added
to every run).

History lengths 1 and 30 days are the same tree with the catalog holding only the last N days' partitions of
config_snapshot and config_export. Each mode and history runs in a fresh process; each view runs 3 times
(median seconds); rows, files and MB scanned come from DuckDB's profiler (every table the view reads, SSM
inventory included). Ratio: snapshot-based seconds / export-based seconds at 30 days. "= truth": the
export-based rows equal to the fixture's ground truth.

Goals: every export-based view equals the truth and scans the same at 1 and 30 days; on the account x region
with SSM items the snapshot-based configmic fails (or, past the engine's read buffer, loses the account's rows)
and the export-based one equals the truth. The ratios are reported, not a goal: configmic now also reads the SSM
instance information (its fallback when the managed-by-SSM rule has no result), one small file per node.

Run: .venv/bin/python bench/bench_views.py [--instances 2000] [--days 30] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: patchcompliance and tests.support from this checkout

from snapshot_views import SNAPSHOT_SQL  # noqa: E402 (bench/, beside this script)

from patchcompliance.athena import deployed_view_sql  # noqa: E402
from patchcompliance.config_export import EXPORT_TABLE_NAME  # noqa: E402
from patchcompliance.render import view_sql  # noqa: E402
from tests.support.engine import MAX_LINE_BYTES, open_engine  # noqa: E402
from tests.support.fixtures import ACCOUNTS, ExportSet, Fixture, FixtureSpec, export_date, generate  # noqa: E402
from tests.support.policy import parameter_defaults  # noqa: E402

VIEWS = ("configmic", "configpc", "instance_tags", "instance_compliance")
BASE = {"snapshot": "config_latest_items", "export": "config_export_latest"}
REPEAT = 3


def _sql(mode: str, view: str) -> str:
    return SNAPSHOT_SQL[view] if mode == "snapshot" else view_sql(view)


def _measure(root: str, spec, partitions, history: int, mode: str, queue) -> None:
    """Child process: engine over the last `history` days, each view of `mode` run REPEAT times."""
    exports = ExportSet(partitions=list(partitions), partial=[], rows={}, aggregator_items=[])
    fixture = Fixture(Path(root), spec, truth=None, instances=[], hybrid=[], snapshot_files=0, exports=exports)
    engine = open_engine(fixture, views=(), threads=2)
    cutoff = spec.end - timedelta(days=history - 1)
    snapshots = engine.catalog_partitions["config_snapshot"]
    snapshots[:] = [p for p in snapshots if p.values[2] >= cutoff.isoformat()]
    exported = engine.catalog_partitions[EXPORT_TABLE_NAME]
    exported[:] = [p for p in exported if export_date(p.values[0]) >= cutoff]
    engine.build()
    engine.create_view(BASE[mode], _sql(mode, BASE[mode]))
    if mode == "export":  # instance_compliance also reads these two (not measured)
        for view in ("patch", "compliance_settings"):
            engine.create_view(view, deployed_view_sql(view, parameter_defaults()))
    for view in VIEWS:
        engine.create_view(view, _sql(mode, view))
    result = {"partitions": len(snapshots) if mode == "snapshot" else len(exported)}
    for view in VIEWS:
        runs = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            engine.create_view(BASE[mode], _sql(mode, BASE[mode]))  # the pruning is applied here
            created = time.perf_counter() - start
            run = engine.profile(f'SELECT * FROM "{view}"', trino=False)
            run["seconds"] += created
            runs.append(run)
        measured = dict(runs[0], seconds=statistics.median(r["seconds"] for r in runs))
        measured["rows"] = engine.query(f'SELECT * FROM "{view}"', trino=False)[1]
        result[view] = measured
    engine.close()
    queue.put(result)


def measure(root: Path, spec, partitions, history: int, mode: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_measure, args=(str(root), spec, partitions, history, mode, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def over_32_mb(workdir: Path, instances: int) -> tuple[bool, str]:
    """One account x region with the SSM items Config records: (goal met, report line)."""
    spec = FixtureSpec(
        accounts=ACCOUNTS[:1], regions=("eu-west-1",), instances=instances, hybrid=0, removed=0, days=1,
        second_snapshot=False, stale_days=0, export_days=1, partial_export=False, all_inventory_types=False,
        history_files=False, volumes=False, gzip_level=1,
    )  # fmt: skip
    fixture = generate(workdir / "big", spec)
    size = max(fixture.snapshot_bytes.values())
    engine = open_engine(fixture, views=(), threads=2)
    try:
        engine.create_view("config_latest_items", SNAPSHOT_SQL["config_latest_items"])
        engine.create_view("configmic_snapshot", SNAPSHOT_SQL["configmic"])
        try:
            _, counted = engine.query('SELECT count(*) FROM "configmic_snapshot"', trino=False)
            snapshot = f"ran: {counted[0][0]:,} rows"
        except Exception as err:  # noqa: BLE001 - DuckDB's error for the over-long line
            snapshot = f"failed ({str(err).splitlines()[0][:60]})"
        engine.create_view("config_export_latest", view_sql("config_export_latest"))
        _, rows = engine.query(view_sql("configmic"))
        correct = sorted(map(tuple, rows), key=repr) == fixture.truth.configmic
    finally:
        engine.close()
    ok = size > MAX_LINE_BYTES and snapshot.startswith("failed") and correct
    line = (
        f"over 32 MB: {instances:,} instances in one account x region, snapshot line {size / 2**20:.1f} MB "
        f"(limit {MAX_LINE_BYTES / 2**20:.0f} MB): snapshot-based configmic {snapshot}; export-based configmic "
        f"{len(rows):,} rows, {'= truth' if correct else 'WRONG'}"
    )
    return ok, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=2000, help="EC2 instances per account x region")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="generate into this directory and keep it")
    args = parser.parse_args()

    spec = FixtureSpec(
        regions=("eu-west-1", "us-east-1"), instances=args.instances, hybrid=0, removed=0, days=args.days,
        stale_days=0, second_snapshot=False, all_inventory_types=False, ssm_config_items=False, export_days=args.days,
        partial_export=False, export_part_rows=5_000, history_files=False, gzip_level=1,
    )  # fmt: skip
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-views-"))
    started = time.perf_counter()
    try:
        fixture = generate(workdir / "tree", spec)
        config = workdir / "tree" / spec.config_bucket
        snapshot_mb = sum(p.stat().st_size for p in config.rglob("*_ConfigSnapshot_*.json.gz")) / 2**20
        export_mb = sum(p.stat().st_size for p in config.rglob("part-*.json.gz")) / 2**20
        print(
            f"fixture: {args.instances * len(spec.accounts) * len(spec.regions):,} instances, {fixture.snapshot_files} "
            f"snapshots ({snapshot_mb:.0f} MB gzip) and {len(fixture.exports.partitions)} exports "
            f"({export_mb:.1f} MB gzip) over {args.days} days, generated in {time.perf_counter() - started:.0f} s"
        )
        histories = sorted({1, args.days})
        results = {
            (mode, h): measure(workdir / "tree", spec, fixture.exports.partitions, h, mode)
            for h in histories
            for mode in ("snapshot", "export")
        }
        header = (
            f"{'history':>7} {'view':<19} {'mode':<8} {'seconds':>8} {'rows scanned':>12} {'files':>6} "
            f"{'MB read':>8} {'rows out':>8} {'= truth':>8}"
        )
        print(header)
        print("-" * len(header))
        ok = True
        for history in histories:
            for view in VIEWS:
                for mode in ("snapshot", "export"):
                    r = results[(mode, history)][view]
                    truth = "-"
                    if mode == "export":
                        equal = sorted(map(tuple, r["rows"]), key=repr) == getattr(fixture.truth, view)
                        ok &= equal
                        truth = "yes" if equal else "NO"
                    print(
                        f"{history:>5} d {view:<19} {mode:<8} {r['seconds']:>8.3f} {r['rows_scanned']:>12,} "
                        f"{r['files_read']:>6,} {r['bytes_scanned'] / 2**20:>8.1f} {len(r['rows']):>8,} {truth:>8}"
                    )
        last = args.days
        total = {mode: sum(results[(mode, last)][v]["seconds"] for v in VIEWS) for mode in ("snapshot", "export")}
        ratios = ", ".join(
            f"{v} {results[('snapshot', last)][v]['seconds'] / results[('export', last)][v]['seconds']:.1f}x"
            for v in VIEWS
        )
        print(f"snapshot-based / export-based seconds at {last} days: {ratios}; "
              f"all four {total['snapshot'] / total['export']:.1f}x")  # fmt: skip
        steady = all(
            results[("export", histories[0])][v]["rows_scanned"] == results[("export", last)][v]["rows_scanned"]
            for v in VIEWS
        )
        print(f"export-based rows scanned at {histories} days: {'the same' if steady else 'GROW'}")
        big_ok, line = over_32_mb(workdir, args.instances)
        print(line)
        print(f"total {time.perf_counter() - started:.0f} s")
        return 0 if ok and steady and big_ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
