"""Benchmark: DigestFunction's message size and AWS calls per run, for 10, 100, 1,000 and 5,000 accounts x 2 regions.

Every account has two NON_COMPLIANT nodes with one patch past its SLA each, and both its regions are expected
(stack instances) with no data, so every node is newly breached and every pair MISSING: the most the digest has to
list, put and import. S3 and SNS are moto; ListStackInstances, PutEvents and BatchImportFindings are answered by
counting fakes; Athena is the local engine running the function's own SQL (tests/support/fake_athena.py). Calls
are counted per API call, before botocore's retry layer. One run per scale, then a rerun the same day.

Floor, for P expected pairs, N breached nodes (all new), M problem pairs (all new) and R rows per query:
ceil(P/100) ListStackInstances (100 a page), ceil((N + M)/10) PutEvents (10 entries a call), ceil(N/100)
BatchImportFindings (100 findings a call), per query ceil((R + 1)/1000) GetQueryResults (1,000 rows a page, the
first page starting with the column names), 1 Publish. Goals: calls = floor, the message at most 64 KiB at every
scale, and a rerun the same day puts no event and publishes nothing.
"""

from __future__ import annotations

import datetime
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support from this checkout

SCALES = (10, 100, 1000, 5000)
LIMIT = 64 * 1024
APIS = ("ListStackInstances", "GetQueryResults", "PutEvents", "BatchImportFindings", "Publish")


class _Env:
    def setenv(self, name: str, value: str) -> None:
        os.environ[name] = value


def run(accounts: int, now: datetime.datetime) -> dict:
    from moto import mock_aws

    from tests.support import digest_data as dd
    from tests.support.digest_world import World

    imported = []

    def import_findings(params):
        imported.append(len(params["Findings"]))
        return {"FailedCount": 0, "SuccessCount": len(params["Findings"]), "FailedFindings": []}

    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        world = World(dd.big_org(now, accounts), Path(tmp), _Env())
        world.import_findings = import_findings
        start = time.perf_counter()
        outcome = world.run(now)
        seconds = time.perf_counter() - start
        calls = {api: 0 for api in APIS}
        for hooks in world.hooks.values():
            for op in hooks.ops():
                if op in calls:
                    calls[op] += 1
        rows = [len(e.get("rows", [])) for e in world.athena.executions.values()]
        message = world.messages()[0]["Message"]
        before = len(world.delivered)
        rerun = world.run(now + datetime.timedelta(minutes=5))
        return {
            "outcome": outcome,
            "seconds": seconds,
            "calls": calls,
            "rows": rows,
            "bytes": len(message.encode()),
            "more": sum(1 for line in message.splitlines() if "… and" in line),
            "pairs": len(world.org.targets),
            "nodes": len(world.org.nodes),
            "events": before,
            "rerun_events": len(world.delivered) - before,
            "rerun_published": rerun["message_id"] is not None,
        }


def floor(r: dict) -> dict:
    return {
        "ListStackInstances": math.ceil(r["pairs"] / 100),
        "GetQueryResults": sum(math.ceil((rows + 1) / 1000) for rows in r["rows"]),
        "PutEvents": math.ceil(r["events"] / 10),
        "BatchImportFindings": math.ceil(r["nodes"] / 100),
        "Publish": 1,
    }


def main() -> int:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():  # fmt: skip
        os.environ.setdefault(name, value)
    import logging

    logging.disable(logging.INFO)
    from tests.support.digest_world import function_code

    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    origin = function_code()[1].replace(str(Path(__file__).resolve().parents[1]) + "/", "")
    print(f"digest: code from {origin}; every node newly breached, every expected pair MISSING")
    header = (
        f"{'accounts':>8} {'pairs':>6} {'nodes':>6} {'msg B':>6} {'cut':>3} {'List':>5} {'Results':>7} "
        f"{'PutEv':>6} {'Import':>6} {'Pub':>3} {'calls':>6} {'floor':>6} {'ratio':>5} {'s (local)':>9}"
    )
    print(header)
    print("-" * len(header))
    ok, reruns = True, []
    for accounts in SCALES:
        r = run(accounts, now)
        least = floor(r)
        calls, total_floor = sum(r["calls"].values()), sum(least.values())
        c = r["calls"]
        print(
            f"{accounts:>8,} {r['pairs']:>6,} {r['nodes']:>6,} {r['bytes']:>6,} {r['more']:>3} "
            f"{c['ListStackInstances']:>5} {c['GetQueryResults']:>7} {c['PutEvents']:>6,} "
            f"{c['BatchImportFindings']:>6} {c['Publish']:>3} {calls:>6,} {total_floor:>6,} "
            f"{calls / total_floor:>5.2f} {r['seconds']:>9.1f}"
        )
        ok &= r["calls"] == least and r["bytes"] <= LIMIT
        ok &= r["rerun_events"] == 0 and not r["rerun_published"]
        reruns.append((r["rerun_events"], r["rerun_published"]))
    events = sum(e for e, _ in reruns)
    published = sum(1 for _, p in reruns if p)
    print(f"digest: message limit {LIMIT:,} B; reruns the same day put {events} events and published {published} times")
    print(f"digest: {'goals met' if ok else 'GOALS MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
