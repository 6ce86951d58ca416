"""Benchmark: AWS calls of PartitioningFunction per first and per repeated snapshot event, against the seed.

Workload: Config snapshots of 20 accounts x 3 regions x 7 days, 4 snapshots per account/region/day, as
EventBridge "Object Created" events, plus irrelevant keys. Glue and Athena are moto. The seed registered each
snapshot with an Athena `ALTER TABLE ... ADD PARTITION` and busy-polled GetQueryExecution without sleeping;
moto finishes queries at once, so its count here is a lower bound (real Athena: one poll per round trip for
about a second). The code run is the one inlined in templates/patch-compliance.yaml. One run, not a timed test.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support from this checkout

from tests.support import functions as lib  # noqa: E402

BUCKET, DATABASE, TABLE = "pc-config", "patch_compliance", "config_snapshot"
ACCOUNTS = [f"{111122220000 + k:012d}" for k in range(20)]
REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2"]
DAYS = [(2025, 3, d) for d in range(1, 8)]
SNAPSHOTS_PER_DAY = 4


def event(key: str) -> dict:
    detail = {"bucket": {"name": BUCKET}, "object": {"key": key}, "reason": "PutObject"}
    return {"source": "aws.s3", "detail-type": "Object Created", "detail": detail}


def workload():
    """Snapshot events in delivery order (each partition's first snapshot comes before its repeats)."""
    events, partitions = [], 0
    for y, m, d in DAYS:
        for n in range(SNAPSHOTS_PER_DAY):
            for acct in ACCOUNTS:
                for region in REGIONS:
                    name = f"{acct}_Config_{region}_ConfigSnapshot_{y}{m:02d}{d:02d}T{n * 6:02d}0000Z_{n}.json.gz"
                    events.append(
                        event(f"o-a1b2c3d4e5/AWSLogs/{acct}/Config/{region}/{y}/{m}/{d}/ConfigSnapshot/{name}")
                    )
                    partitions += n == 0
    return events, partitions


NOISE = [
    "AWSLogs/111122220000/Config/eu-west-1/2025/3/1/ConfigHistory/111122220000_Config_eu-west-1_ConfigHistory_"
    "AWS%3A%3AEC2%3A%3AInstance_20250301T000000Z_20250301T060000Z_1.json.gz",
    "AWSLogs/111122220000/Config/ConfigWritabilityCheckFile",
    "inv/AWS%3AInstanceInformation/accountid%3D111122220000/test.json",
]


def seed_register(athena, key: str) -> None:
    """The seed's per-event work: ALTER TABLE ADD PARTITION, then poll until the query ends (no sleep)."""
    parts = key.split("/")
    i = parts.index("AWSLogs")
    acct, region, y, m, d = parts[i + 1], parts[i + 3], parts[i + 4], parts[i + 5], parts[i + 6]
    query = (
        f"ALTER TABLE {TABLE} ADD PARTITION (dt='{y}-{int(m):02d}-{int(d):02d}', account='{acct}', "
        f"region='{region}') location 's3://{BUCKET}/{'/'.join(parts[:-1])}/'"
    )
    qid = athena.start_query_execution(
        QueryString=query,
        QueryExecutionContext={"Database": DATABASE},
        ResultConfiguration={"OutputLocation": "s3://results/"},
    )["QueryExecutionId"]
    while athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] in (
        "QUEUED",
        "RUNNING",
    ):
        pass


def main() -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    logging.disable(logging.WARNING)  # the function logs every ignored key; keep the report readable
    import boto3
    from moto import mock_aws

    events, n_partitions = workload()
    descriptor = lib.template_environment("partitioning")["STORAGE_DESCRIPTOR"]
    with mock_aws():
        glue = boto3.client("glue")
        lib.create_config_table(glue, DATABASE, TABLE, BUCKET, json.loads(descriptor))
        os.environ.update(GLUE_DATABASE=DATABASE, CONFIG_TABLE=TABLE, STORAGE_DESCRIPTOR=descriptor)

        warm = lib.load_function("partitioning")
        hooks = lib.Hooks(warm._client("glue"))
        first_calls = repeat_calls = firsts = repeats = 0
        start = time.perf_counter()
        for ev in events:
            before = len(hooks.calls)
            result = warm.handler(ev, lib.FakeContext())
            if result["created"]:
                firsts, first_calls = firsts + 1, first_calls + len(hooks.calls) - before
            else:
                repeats, repeat_calls = repeats + 1, repeat_calls + len(hooks.calls) - before
        wall = time.perf_counter() - start
        assert firsts == n_partitions and set(warm._clients) == {"glue"}, (firsts, n_partitions)
        registered = len(glue.get_partitions(DatabaseName=DATABASE, TableName=TABLE)["Partitions"])
        assert registered == n_partitions, registered

        cold = lib.load_function("partitioning")
        cold_hooks = lib.Hooks(cold._client("glue"))
        for ev in events[: len(ACCOUNTS) * len(REGIONS)] * 2:  # one day's partitions, twice, new container
            cold.handler(ev, lib.FakeContext())
        cold_first = len(cold_hooks.calls) / (len(ACCOUNTS) * len(REGIONS))

        noise_before = len(hooks.calls)
        for key in NOISE:
            warm.handler(event(key), lib.FakeContext())
        noise_calls = len(hooks.calls) - noise_before

        athena = boto3.client("athena")
        seed_hooks = lib.Hooks(athena)
        seed_start = time.perf_counter()
        for ev in events:
            seed_register(athena, ev["detail"]["object"]["key"])
        seed_wall = time.perf_counter() - seed_start
    seed = len(seed_hooks.calls)
    ours = first_calls + repeat_calls

    print(
        f"partitioning: {len(events):,} snapshot events for {n_partitions:,} partitions "
        f"({SNAPSHOTS_PER_DAY} snapshots each), one warm container"
    )
    print(
        f"partitioning: ours {first_calls / firsts:.2f} call per first event (goal 1), "
        f"{repeat_calls / repeats:.2f} per repeated event (goal 0); {ours:,} calls in all"
    )
    print(f"partitioning: new container, partitions already registered: {cold_first:.2f} call each, then 0")
    print(f"partitioning: irrelevant keys (history, writability check, SSM probe): {noise_calls} calls")
    print(
        f"partitioning: seed (Athena ALTER TABLE + polling) {seed / len(events):.2f} calls per event under moto "
        f"(lower bound) = {seed:,} calls; ratio {seed / ours:.1f}x"
    )
    print(
        f"partitioning: handler wall time under moto {wall:.2f} s "
        f"({wall / len(events) * 1000:.2f} ms/event; seed {seed_wall:.2f} s)"
    )
    ok = first_calls == firsts and repeat_calls == 0 and noise_calls == 0
    print(f"partitioning: goals {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
