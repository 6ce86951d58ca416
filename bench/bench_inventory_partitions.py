"""Benchmark: AWS calls per run of InventoryPartitionsFunction, for 10, 100 and 1,000 accounts x 10 regions, on the
first run (every pair new) and in the steady state (nothing new), against the floor of its discovery method.

S3 and Glue are moto. The resource data sync tree holds one object per account x region in the anchor type's
folder plus SSM's accountid=<acct>/test.json probe. moto's GetPartitions returns everything in one response; here
it is served in pages of the requested MaxResults, as Glue pages it. Calls are counted per API call, before
botocore's retry layer. The code run is the one inlined in templates/patch-compliance.yaml once the function is
there, else the one inlined in a central template built in-process. One run, not a timed test.

Floor, for A accounts, R regions, E pairs already registered, N new pairs and T inventory tables, with S3's
"/"-delimited listing (at most 1,000 entries a page), 1,000 partitions a GetPartitions page and 100 partitions a
BatchCreatePartition call: ceil(A/1000) + A*ceil(R/1000) ListObjectsV2 (an account's regions are only visible
by listing its folder), max(1, ceil(E/1000)) GetPartitions, T GetTable when N > 0, T*ceil(N/100)
BatchCreatePartition. Goals: ours = floor in every run, no Glue write in the steady state, and the same calls
with 1 and 20 objects per folder.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support from this checkout

from patchcompliance import constants as c  # noqa: E402
from patchcompliance import glue as pc_glue  # noqa: E402
from tests.support import catalog  # noqa: E402
from tests.support import functions as lib  # noqa: E402
from tests.support.templates import load_template, parse_template  # noqa: E402

BUCKET, PREFIX, DATABASE = "pc-datasync-bench", "inventory", "patch_compliance"
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "ap-southeast-1",
           "ap-southeast-2", "ap-northeast-1", "ca-central-1"]  # fmt: skip
SCALES = (10, 100, 1000)
ANCHOR = pc_glue.INVENTORY_ANCHOR_TYPE
ANCHOR_TABLE = pc_glue.INVENTORY_TABLE_NAMES[ANCHOR]
TABLES = list(pc_glue.INVENTORY_TABLE_NAMES.values())
APIS = ("ListObjectsV2", "GetPartitions", "GetTable", "BatchCreatePartition")


def central() -> tuple[dict, str]:
    """The committed central template once it has the function, else one built in-process."""
    resource = lib.template_resource(*lib.FUNCTIONS["inventory_partitions"])
    if resource is not None:
        return load_template("patch-compliance.yaml"), "templates/patch-compliance.yaml"
    from patchcompliance.central import build_central
    from patchcompliance.render import to_yaml

    return parse_template(to_yaml(build_central())), "a central template built in-process"


def setup(template: dict, accounts: int, objects: int):
    """Bucket, tables and the sync tree in the current moto; returns the resolved function environment."""
    import boto3

    resources = template["Resources"]
    values = {"DataSyncBucket": BUCKET, "DataSyncPrefix": PREFIX, "AthenaDatabase": DATABASE}
    values.update(
        {k: r["Properties"]["TableInput"]["Name"] for k, r in resources.items() if r["Type"] == "AWS::Glue::Table"}
    )
    resolve = catalog.Resolver(values)
    s3, glue = boto3.client("s3"), boto3.client("glue")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": lib.REGION})
    glue.create_database(DatabaseInput={"Name": DATABASE})
    for resource in resources.values():
        if resource["Type"] == "AWS::Glue::Table" and resource["Properties"]["TableInput"]["Name"] in TABLES:
            glue.create_table(DatabaseName=DATABASE, TableInput=resolve(resource["Properties"]["TableInput"]))
    for a in range(accounts):
        account = f"{300000000000 + a:012d}"
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{ANCHOR}/accountid={account}/test.json", Body=b"{}")
        for region in REGIONS:
            for n in range(objects):
                folder = f"{PREFIX}/{ANCHOR}/accountid={account}/region={region}/resourcetype=ManagedInstanceInventory"
                s3.put_object(Bucket=BUCKET, Key=f"{folder}/i-{n:017x}.json", Body=b'{"resourceId":"i-0"}\n')
    return resolve(resources[c.INVENTORY_PARTITIONS_FUNCTION]["Properties"]["Environment"]["Variables"])


def paged_get_partitions(params, _listing={}):  # noqa: B006 - moto's full list, read once per paged listing
    """GetPartitions as Glue pages it: at most MaxResults partitions, then a NextToken."""
    import boto3

    if not params.get("NextToken"):
        glue = boto3.client("glue")
        _listing["all"] = glue.get_partitions(DatabaseName=DATABASE, TableName=params["TableName"])["Partitions"]
    everything = _listing["all"]
    start, size = int(params.get("NextToken") or 0), params["MaxResults"]
    page = {"Partitions": everything[start : start + size]}
    if start + size < len(everything):
        page["NextToken"] = str(start + size)
    return page


def run_once(code: str) -> tuple[dict, dict, float]:
    module = lib.load_function("inventory_partitions", code=code)
    s3, glue = lib.Hooks(module._client("s3")), lib.Hooks(module._client("glue"))
    glue.respond("GetPartitions", paged_get_partitions)
    start = time.perf_counter()
    summary = module.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, lib.FakeContext(900))
    wall = time.perf_counter() - start
    ops = s3.ops() + glue.ops()
    return summary, {api: ops.count(api) for api in APIS}, wall


def floor(accounts: int, existing: int, new: int) -> dict:
    return {
        "ListObjectsV2": math.ceil(accounts / 1000) + accounts * math.ceil(len(REGIONS) / 1000),
        "GetPartitions": max(1, math.ceil(existing / 1000)),
        "GetTable": len(TABLES) if new else 0,
        "BatchCreatePartition": len(TABLES) * math.ceil(new / 100),
    }


def measure(code: str, template: dict, accounts: int, objects: int) -> list[tuple]:
    from moto import mock_aws

    rows = []
    with mock_aws():
        os.environ.update(setup(template, accounts, objects))
        for label in ("first run", "steady state"):
            summary, calls, wall = run_once(code)
            rows.append((accounts, objects, label, summary, calls, floor(accounts, summary["registered_before"],
                                                                          summary["new"]), wall))  # fmt: skip
    return rows


def main() -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=lib.REGION)
    logging.disable(logging.WARNING)  # the function logs every registered chunk; keep the report readable
    template, origin = central()
    code = template["Resources"][c.INVENTORY_PARTITIONS_FUNCTION]["Properties"]["Code"]["ZipFile"]
    print(f"inventory partitions: {len(TABLES)} tables, {len(REGIONS)} regions per account; code from {origin}")
    header = (
        f"{'accounts':>8} {'pairs':>6} {'objects':>7} {'run':<12} {'new':>6} {'List':>5} {'GetPart':>7} "
        f"{'GetTable':>8} {'BatchCreate':>11} {'calls':>6} {'floor':>6} {'ratio':>5} {'s (moto)':>8}"
    )
    print(header)
    print("-" * len(header))
    ok, rows = True, []
    for accounts in SCALES:
        rows += measure(code, template, accounts, objects=1)
    rows += measure(code, template, 10, objects=20)
    for accounts, objects, label, summary, calls, best, wall in rows:
        total, least = sum(calls.values()), sum(best.values())
        print(
            f"{accounts:>8,} {accounts * len(REGIONS):>6,} {objects:>7} {label:<12} {summary['new']:>6,} "
            f"{calls['ListObjectsV2']:>5,} {calls['GetPartitions']:>7,} {calls['GetTable']:>8,} "
            f"{calls['BatchCreatePartition']:>11,} {total:>6,} {least:>6,} {total / least:>5.2f} {wall:>8.1f}"
        )
        ok &= calls == best and summary["outcome"] == "complete" and summary["pairs"] == accounts * len(REGIONS)
        if label == "steady state":
            ok &= calls["BatchCreatePartition"] == calls["GetTable"] == 0
    same = [r[4] for r in rows if r[0] == 10 and r[1] == 1] == [r[4] for r in rows if r[0] == 10 and r[1] == 20]
    ok &= same
    per_pair = [sum(r[4].values()) / (r[0] * len(REGIONS)) for r in rows if r[2] == "steady state" and r[1] == 1]
    print(f"inventory partitions: steady-state calls per account x region pair: "
          f"{', '.join(f'{x:.3f}' for x in per_pair)} for {', '.join(f'{a:,}' for a in SCALES)} accounts")  # fmt: skip
    print(f"inventory partitions: 10 accounts with 1 and with 20 objects per folder make the same calls: {same}")
    flat = {n: math.ceil(1000 * len(REGIONS) * n / 1000) for n in (1, 10, 100, 1000)}
    print(
        "inventory partitions: a flat listing of the anchor folder (no delimiter) would cost ceil(objects/1000) "
        f"calls at 1,000 accounts: {', '.join(f'{v:,} with {n:,}' for n, v in flat.items())} nodes per pair; "
        f"ours lists {floor(1000, 0, 0)['ListObjectsV2']:,} pages whatever the fleet size"
    )
    print(f"inventory partitions: goals {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
