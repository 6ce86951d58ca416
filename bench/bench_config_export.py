"""Benchmark: ConfigExportFunction against the fake Config aggregator: API calls, peak memory, wall time.

Workloads (tests/support/fake_config.Fleet, computed item by item so the data set itself takes no memory):
10,000 EC2 instances in one account x region, and 100,000 across an organisation (20 accounts x 5 regions),
each instance with its rule-results item, a patch-compliance item or a volume, and a hybrid node or noise the
queries must skip. S3 and Glue are moto; one invocation with a budget that never reaches the deadline.

* calls: SelectAggregateResourceConfig calls; floor: ceil(results / 100) per query (100 is the page maximum);
  goal: calls = floor + retries (ratio 1.00 without throttling). A third run throttles 5% of the calls.
* peak_mb: tracemalloc peak during the invocation (goal <= 256 MB at 100,000 instances). It includes moto's
  in-memory copy of the parts written and the fake's answers, so the function alone needs less.
* wall_s: the invocation's wall time against the fake (no network latency; real pages take longer), traced by
  tracemalloc; fake_s of it is the fake answering, the rest is the function with botocore and moto.
The code run is the one inlined in templates/patch-compliance.yaml once the function is there, else
functions/config_export/index.py. One run each, not a timed test.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support from this checkout

from tests.support import fake_config  # noqa: E402

BUCKET, PREFIX, DATABASE, TABLE = "pc-config-export-bench", "config-export", "patch_compliance", "config_export"
GOAL_PEAK_MB = 256
WORKLOADS = [  # (label, accounts, regions, instances per account x region, throttled share of calls)
    ("10000 instances, 1 account x 1 region", 1, 1, 10_000, 0.0),
    ("100000 instances, 20 accounts x 5 regions", 20, 5, 1_000, 0.0),
    ("10000 instances, 5% of calls throttled", 1, 1, 10_000, 0.05),
]


def setup_aws():
    import boto3

    from patchcompliance.config_export import EXPORT_PARTITION_KEY, export_storage_descriptor

    region = os.environ["AWS_DEFAULT_REGION"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    descriptor = export_storage_descriptor()
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": TABLE,
            "PartitionKeys": [{"Name": EXPORT_PARTITION_KEY, "Type": "string"}],
            "StorageDescriptor": dict(descriptor, Location=f"s3://{BUCKET}/{PREFIX}/"),
        },
    )
    os.environ.update(
        AGGREGATOR_NAME="org-aggregator",
        BUCKET=BUCKET,
        PREFIX=PREFIX,
        GLUE_DATABASE=DATABASE,
        EXPORT_TABLE=TABLE,
        STORAGE_DESCRIPTOR=json.dumps(descriptor),
    )
    return s3, glue


def run(label: str, accounts: int, regions: int, per_region: int, throttled: float, hour: int, s3) -> dict:
    fleet = fake_config.Fleet(accounts=accounts, regions=regions, per_region=per_region)
    fake = fake_config.FakeConfig(fleet)
    if throttled:
        every = round(1 / throttled)
        counter = iter(range(10**9))
        fake.throttle(10**9, when=lambda _params: next(counter) % every == every - 1)
    module = fake_config.load_function()
    fake.attach(module._client("config"))
    module._sleep = lambda _s: None  # back-off is counted, not waited for
    for name in ("s3", "glue"):
        module._client(name)  # clients created before measuring: a warm container
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": f"2025-03-07T{hour:02d}:00:00Z"}

    tracemalloc.start()
    start = time.perf_counter()
    summary = module.handler(event, fake_config.LambdaContext(remaining_s=900.0))
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert summary["outcome"] == "published", summary
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/export_id={summary['export_id']}/")
    stored = sum(o["Size"] for o in listing["Contents"])
    calls, floor = len(fake.calls), fake.floor()
    return {
        "label": label,
        "instances": fleet.size,
        "rows": summary["rows"],
        "parts": summary["parts"],
        "calls": calls,
        "floor": floor,
        "retries": summary["retries"],
        "ratio": calls / floor,
        "peak_mb": peak / 2**20,
        "stored_mb": stored / 2**20,
        "wall_s": wall,
        "fake_s": fake.busy_s,
    }


def main() -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    logging.disable(logging.WARNING)  # keep the report to the figures
    from moto import mock_aws

    ok = True
    with mock_aws():
        s3, _ = setup_aws()
        for hour, (label, accounts, regions, per_region, throttled) in enumerate(WORKLOADS):
            r = run(label, accounts, regions, per_region, throttled, hour, s3)
            print(
                f"config_export {r['label']}: calls={r['calls']:,}, floor={r['floor']:,}, retries={r['retries']}, "
                f"ratio={r['ratio']:.3f}, peak_mb={r['peak_mb']:.1f}, wall_s={r['wall_s']:.1f} "
                f"(fake {r['fake_s']:.1f})"
            )
            print(
                f"config_export {r['label']}: rows instance={r['rows']['instance']:,} rules={r['rows']['rules']:,}, "
                f"parts={r['parts']}, gzip output {r['stored_mb']:.1f} MB"
            )
            ok &= r["calls"] == r["floor"] + r["retries"]
            ok &= r["instances"] < 100_000 or r["peak_mb"] <= GOAL_PEAK_MB
    print(f"config_export: goals {'met' if ok else 'NOT met'} (calls = floor + retries; peak <= {GOAL_PEAK_MB} MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
