"""InventoryPartitionsFunction against moto S3 and Glue, with the 13 inventory tables as the template declares them.

The code run is the one inlined in templates/patch-compliance.yaml once the function is there, else the one
inlined in a central template built in-process (what `make templates` would write). Every run is a fresh module
(a cold container), so nothing but S3 and the Glue catalog carries over between runs.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import logging
import types

import boto3
import pytest

from patchcompliance import constants as c
from patchcompliance import glue as pc_glue
from patchcompliance.inventory_partitions import SCHEDULE
from tests.support import catalog
from tests.support import functions as lib
from tests.support.templates import parse_template

BUCKET, PREFIX, DATABASE = "pc-datasync-123456789012", "inventory", "patch_compliance"
RT = pc_glue.INVENTORY_RESOURCE_TYPE
ANCHOR = pc_glue.INVENTORY_ANCHOR_TYPE
ANCHOR_TABLE = pc_glue.INVENTORY_TABLE_NAMES[ANCHOR]
TABLES = list(pc_glue.INVENTORY_TABLE_NAMES.values())
GLUE_WRITES = ("BatchCreatePartition", "CreatePartition", "BatchUpdatePartition", "UpdatePartition")


# --------------------------------------------------------------------------- the generated template
@functools.cache
def generated() -> dict:
    """The central template as `make templates` writes it, built in-process."""
    from patchcompliance.central import build_central
    from patchcompliance.render import to_yaml

    return parse_template(to_yaml(build_central()), "in-process central template")


def resolver() -> catalog.Resolver:
    resources = generated()["Resources"]
    values = {"DataSyncBucket": BUCKET, "DataSyncPrefix": PREFIX, "AthenaDatabase": DATABASE}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Glue::Table":
            values[logical_id] = resource["Properties"]["TableInput"]["Name"]
    return catalog.Resolver(values)


def function_code() -> str:
    """What ships: the committed template's code once it has the function, else the in-process template's."""
    if lib.template_resource(*lib.FUNCTIONS["inventory_partitions"]) is not None:
        return lib.inlined_code("inventory_partitions")
    return generated()["Resources"][c.INVENTORY_PARTITIONS_FUNCTION]["Properties"]["Code"]["ZipFile"]


def environment() -> dict[str, str]:
    variables = generated()["Resources"][c.INVENTORY_PARTITIONS_FUNCTION]["Properties"]["Environment"]["Variables"]
    return resolver()(variables)


# --------------------------------------------------------------------------- S3 tree and Glue tables
def key(inventory_type: str, account: str, region: str, name: str = "i-0123456789abcdef0.json") -> str:
    return f"{PREFIX}/{inventory_type}/accountid={account}/region={region}/resourcetype={RT}/{name}"


def accounts(n: int, start: int = 0) -> list[str]:
    return [f"{210000000000 + k:012d}" for k in range(start, start + n)]


class World:
    """moto S3 bucket + Glue database and tables (TableInput resolved from the generated template)."""

    def __init__(self):
        self.s3 = boto3.client("s3", region_name=lib.REGION)
        self.glue = boto3.client("glue", region_name=lib.REGION)
        self.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": lib.REGION})
        self.glue.create_database(DatabaseInput={"Name": DATABASE})
        resolve = resolver()
        for resource in generated()["Resources"].values():
            if resource["Type"] == "AWS::Glue::Table" and resource["Properties"]["TableInput"]["Name"] in TABLES:
                table_input = resolve(resource["Properties"]["TableInput"])
                self.glue.create_table(DatabaseName=DATABASE, TableInput=table_input)

    def deliver(self, account_ids, regions, objects: int = 1, types=(ANCHOR, "AWS:PatchSummary"), probe=True):
        """What a resource data sync writes: one file per node and type, and the account's probe."""
        for account in account_ids:
            if probe:
                self.put(f"{PREFIX}/{ANCHOR}/accountid={account}/test.json")
            for region in regions:
                for inventory_type in types:
                    for n in range(objects):
                        self.put(key(inventory_type, account, region, f"i-{n:017x}.json"))

    def put(self, object_key: str) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=object_key, Body=b'{"resourceId":"i-0"}\n')

    def partitions(self, table: str) -> dict[tuple, dict]:
        parts = self.glue.get_partitions(DatabaseName=DATABASE, TableName=table)["Partitions"]
        return {tuple(p["Values"]): p["StorageDescriptor"] for p in parts}

    def pairs(self, table: str) -> set[tuple[str, str]]:
        return {(a, r) for a, r, _ in self.partitions(table)}


@pytest.fixture
def world(aws, monkeypatch) -> World:
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    return World()


def cold_start(**settings) -> types.SimpleNamespace:
    """A fresh container: new module and clients, every S3 and Glue call recorded."""
    module = lib.load_function("inventory_partitions", code=function_code())
    for name, value in settings.items():
        setattr(module, name, value)
    return types.SimpleNamespace(
        module=module, s3=lib.Hooks(module._client("s3")), glue=lib.Hooks(module._client("glue"))
    )


def run(fn, context=None) -> dict:
    return fn.module.handler(scheduled_event(), context or lib.FakeContext(900))


def scheduled_event() -> dict:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": lib.ACCOUNT,
        "time": "2025-03-07T04:00:00Z",
        "region": lib.REGION,
        "resources": [f"arn:aws:events:{lib.REGION}:{lib.ACCOUNT}:rule/pc-InventoryPartitionsSchedule-1A2B"],
        "detail": {},
    }


def counts(fn) -> dict[str, int]:
    ops = fn.s3.ops() + fn.glue.ops()
    return {op: ops.count(op) for op in sorted(set(ops))}


# --------------------------------------------------------------------------- registration
def test_new_account_appears_in_every_table_and_a_rerun_writes_nothing(world):
    first, second = accounts(2), accounts(1, start=2)
    regions = ["eu-west-1", "us-east-1"]
    world.deliver(first, regions)
    result = run(fn := cold_start())
    assert (result["outcome"], result["pairs"], result["new"], result["registered"]) == ("complete", 4, 4, 4)
    assert counts(fn) == {"BatchCreatePartition": 13, "GetPartitions": 1, "GetTable": 13, "ListObjectsV2": 3}
    for table in TABLES:
        assert world.pairs(table) == {(a, r) for a in first for r in regions}, table

    world.deliver(second, ["eu-west-1", "ap-southeast-2"])  # an account no stack parameter names
    result = run(fn := cold_start())
    assert (result["pairs"], result["registered_before"], result["new"]) == (6, 4, 2)
    created = [p for params in fn.glue.ops("BatchCreatePartition") for p in params["PartitionInputList"]]
    assert {tuple(p["Values"]) for p in created} == {(second[0], r, RT) for r in ("eu-west-1", "ap-southeast-2")}
    assert len(created) == 2 * 13  # only the new pairs, in every table
    for table in TABLES:
        assert (second[0], "ap-southeast-2") in world.pairs(table), table
        assert len(world.partitions(table)) == 6, table

    result = run(fn := cold_start())  # nothing new
    assert (result["new"], result["registered"]) == (0, 0)
    assert [op for op in fn.glue.ops() if op in GLUE_WRITES or op == "GetTable"] == []
    assert counts(fn) == {"GetPartitions": 1, "ListObjectsV2": 4}


def test_partitions_carry_each_tables_descriptor_and_the_real_folder(world):
    world.deliver(["111122223333"], ["eu-west-1"])
    run(cold_start())
    for inventory_type, table in pc_glue.INVENTORY_TABLE_NAMES.items():
        declared = world.glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]["StorageDescriptor"]
        ((values, descriptor),) = world.partitions(table).items()
        assert values == ("111122223333", "eu-west-1", RT)
        assert descriptor["Location"] == (
            f"s3://{BUCKET}/{PREFIX}/{inventory_type}/accountid=111122223333/region=eu-west-1/resourcetype={RT}/"
        )
        assert (
            descriptor["Columns"]
            == declared["Columns"]
            == [{"Name": n, "Type": t} for n, t in pc_glue.inventory_columns(inventory_type)]
        )
        assert descriptor["SerdeInfo"] == declared["SerdeInfo"]
        assert (descriptor["InputFormat"], descriptor["OutputFormat"]) == (
            declared["InputFormat"], declared["OutputFormat"],
        )  # fmt: skip


def test_anchor_table_is_written_last_in_every_chunk(world):
    world.deliver(accounts(75), ["eu-west-1", "us-east-1"], types=(ANCHOR,))  # 150 pairs: two chunks
    run(fn := cold_start())
    writes = fn.glue.ops("BatchCreatePartition")
    assert [len(p["PartitionInputList"]) for p in writes] == [100] * 13 + [50] * 13
    for chunk in (writes[:13], writes[13:]):
        assert [p["TableName"] for p in chunk][-1] == ANCHOR_TABLE
        assert sorted(p["TableName"] for p in chunk) == sorted(TABLES)
        assert len({json.dumps([x["Values"] for x in p["PartitionInputList"]]) for p in chunk}) == 1


@pytest.mark.parametrize("n_pairs, sizes", [(100, [100]), (101, [100, 1]), (250, [100, 100, 50])])
def test_batch_create_partition_takes_at_most_100(world, n_pairs, sizes):
    world.deliver(accounts(n_pairs), ["eu-west-1"], types=(ANCHOR,), probe=False)
    run(fn := cold_start())
    writes = fn.glue.ops("BatchCreatePartition")
    assert [len(p["PartitionInputList"]) for p in writes if p["TableName"] == "aws_tag"] == sizes
    assert len(fn.glue.ops("BatchCreatePartition")) == 13 * len(sizes)
    assert len(world.partitions("aws_tag")) == len(world.partitions(ANCHOR_TABLE)) == n_pairs


# --------------------------------------------------------------------------- calls grow with folders only
@pytest.mark.parametrize("objects", [1, 50])
def test_calls_depend_on_accounts_and_regions_not_on_objects(world, objects):
    world.deliver(accounts(3), ["eu-west-1", "us-east-1"], objects=objects, types=(ANCHOR, "AWS:ComplianceItem"))
    run(fn := cold_start())
    assert counts(fn) == {"BatchCreatePartition": 13, "GetPartitions": 1, "GetTable": 13, "ListObjectsV2": 1 + 3}
    assert all(p["Delimiter"] == "/" for p in fn.s3.ops("ListObjectsV2"))
    run(fn := cold_start())
    assert counts(fn) == {"GetPartitions": 1, "ListObjectsV2": 1 + 3}  # steady state


def test_listing_pages_through_more_than_1000_accounts(world, monkeypatch):
    """1,003 account folders, listed 100 per page (MaxKeys injected): 11 pages for the accounts, one per account.
    Only the anchor table is configured, which keeps moto's Glue work small; the listing is the same."""
    monkeypatch.setenv("TABLES", ANCHOR_TABLE)
    world.deliver(accounts(1003), ["eu-west-1"], types=(ANCHOR,), probe=False)
    result = run(fn := cold_start(LIST_PAGE_SIZE=100))
    lists = fn.s3.ops("ListObjectsV2")
    root = [p for p in lists if p["Prefix"] == f"{PREFIX}/{ANCHOR}/"]
    assert len(root) == 11 and all(p["MaxKeys"] == 100 for p in lists)
    assert [bool(p.get("ContinuationToken")) for p in root] == [False] + [True] * 10
    assert len(lists) == 11 + 1003
    assert result["pairs"] == result["registered"] == len(world.pairs(ANCHOR_TABLE)) == 1003


def test_registered_partitions_are_read_page_by_page(world):
    """GetPartitions is paged (moto returns everything at once, so pages of 4 are served here from moto's list)."""
    world.deliver(accounts(5), ["eu-west-1", "us-east-1"], types=(ANCHOR,))
    run(cold_start())
    source = boto3.client("glue", region_name=lib.REGION)
    served = []

    def paged(params):
        assert 1 <= params["MaxResults"] <= 1000 and params["TableName"] == ANCHOR_TABLE
        everything = source.get_partitions(DatabaseName=DATABASE, TableName=ANCHOR_TABLE)["Partitions"]
        start = int(params.get("NextToken") or 0)
        page = {"Partitions": everything[start : start + 4]}
        if start + 4 < len(everything):
            page["NextToken"] = str(start + 4)
        served.append(len(page["Partitions"]))
        return page

    fn = cold_start()
    fn.glue.respond("GetPartitions", paged)
    world.deliver(accounts(1, start=5), ["eu-west-1"], types=(ANCHOR,))
    result = run(fn)
    assert served == [4, 4, 2]
    assert [p.get("NextToken") for p in fn.glue.ops("GetPartitions")] == [None, "4", "8"]
    assert (result["registered_before"], result["new"]) == (10, 1)  # the last page counted too
    assert len(fn.glue.ops("BatchCreatePartition")) == 13


# --------------------------------------------------------------------------- failures
def test_failed_run_is_completed_by_the_next(world, caplog):
    world.deliver(accounts(75), ["eu-west-1", "us-east-1"], types=(ANCHOR,))  # 150 pairs: two chunks
    fn = cold_start()
    chunks_seen = []

    def fail_second_chunk(params):
        if params["TableName"] == "aws_tag":
            chunks_seen.append(1)
            if len(chunks_seen) == 2:
                errors = [
                    {"PartitionValues": p["Values"],
                     "ErrorDetail": {"ErrorCode": "InternalServiceException", "ErrorMessage": "try again"}}
                    for p in params["PartitionInputList"][:3]
                ]  # fmt: skip
                return {"Errors": errors}
        return None

    fn.glue.respond("BatchCreatePartition", fail_second_chunk)
    with pytest.raises(Exception, match=r"BatchCreatePartition on patch_compliance\.aws_tag: 3 of 50 .*Internal"):
        run(fn)
    assert len(world.pairs(ANCHOR_TABLE)) == 100  # the first chunk only: the anchor table was never reached
    assert len(world.pairs("aws_complianceitem")) == 150  # written before aws_tag in the failed chunk
    summary = json.loads(caplog.records[-1].getMessage())
    assert summary["outcome"] == "failed" and "InternalServiceException" in summary["error"]

    result = run(fn := cold_start())
    assert (result["outcome"], result["new"], result["registered"]) == ("complete", 50, 50)
    assert result["already_existing"] == 50 * 3  # the tables written before aws_tag in the failed chunk
    for table in TABLES:
        assert len(world.pairs(table)) == 150, table


def test_already_existing_partitions_count_as_success(world):
    world.deliver(["111122223333"], ["eu-west-1"])
    world.glue.create_partition(
        DatabaseName=DATABASE, TableName="aws_tag",
        PartitionInput={"Values": ["111122223333", "eu-west-1", RT], "StorageDescriptor": {"Location": "s3://x/"}},
    )  # fmt: skip
    result = run(cold_start())
    assert (result["outcome"], result["registered"], result["already_existing"]) == ("complete", 1, 1)


@pytest.mark.parametrize(
    "service, operation, code, expected",
    [
        ("s3", "ListObjectsV2", "AccessDenied",
         rf"s3:ListObjectsV2 on s3://{BUCKET}/{PREFIX}/{ANCHOR}/ failed: AccessDenied: .*must allow s3:ListBucket"),
        ("glue", "GetPartitions", "AccessDeniedException",
         r"glue:GetPartitions on patch_compliance\.aws_instanceinformation failed: .*must allow glue:GetPartitions"),
        ("glue", "BatchCreatePartition", "EntityNotFoundException",
         r"glue:BatchCreatePartition on patch_compliance\.aws_\w+ failed: EntityNotFoundException"),
    ],
)  # fmt: skip
def test_aws_errors_fail_the_invocation_with_a_clear_message(world, caplog, service, operation, code, expected):
    world.deliver(["111122223333"], ["eu-west-1"])
    fn = cold_start()
    getattr(fn, service).respond(operation, lambda _: lib.http_error(code, "no", 403))
    with pytest.raises(fn.module.Failure, match=expected):
        run(fn)
    summary = json.loads(caplog.records[-1].getMessage())
    assert summary["outcome"] == "failed" and code in summary["error"]
    assert world.pairs(ANCHOR_TABLE) == set()


def test_bad_folder_names_and_probes_are_skipped(world, caplog):
    good = "111122223333"
    world.deliver([good], ["eu-west-1"])
    for bad in (
        f"{PREFIX}/{ANCHOR}/accountid=12345/region=eu-west-1/resourcetype={RT}/i-1.json",  # 5 digits
        f"{PREFIX}/{ANCHOR}/accountid=1111222233334/region=eu-west-1/resourcetype={RT}/i-1.json",  # 13 digits
        f"{PREFIX}/{ANCHOR}/notes/readme.json",
        f"{PREFIX}/{ANCHOR}/accountid={good}/region=Mars/resourcetype={RT}/i-1.json",
        f"{PREFIX}/{ANCHOR}/accountid={good}/region=eu-west-1x/resourcetype={RT}/i-1.json",
        f"{PREFIX}/{ANCHOR}/accountid={good}/other/i-1.json",
        f"{PREFIX}/{ANCHOR}/stray.json",
    ):
        world.put(bad)
    caplog.set_level(logging.INFO)
    result = run(cold_start())
    assert (result["pairs"], result["skipped_folders"], result["ignored_objects"]) == (1, 6, 2)
    assert world.pairs(ANCHOR_TABLE) == {(good, "eu-west-1")}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 6 and any("accountid=12345/" in w for w in warnings)
    assert not any("test.json" in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)


def test_deadline_leaves_whole_chunks_to_the_next_run(world):
    world.deliver(accounts(150), ["eu-west-1"], types=(ANCHOR,), probe=False)
    fn = cold_start()
    elapsed = lambda: 20.0 * len(fn.glue.ops("BatchCreatePartition"))  # noqa: E731 - virtual seconds per call
    result = run(fn, lib.FakeContext(100, clock=elapsed))  # chunk 1 starts with 100 s left, then 100 - 260 s
    assert (result["outcome"], result["registered"], result["deferred"]) == ("incomplete", 100, 50)
    assert {len(world.pairs(t)) for t in TABLES} == {100}
    result = run(cold_start())
    assert (result["outcome"], result["new"], result["registered"]) == ("complete", 50, 50)


def test_summary_is_one_json_line(world, caplog):
    world.deliver(accounts(2), ["eu-west-1"])
    caplog.set_level(logging.INFO)
    run(cold_start())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("{")]
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert (summary["outcome"], summary["pairs"], summary["new"]) == ("complete", 2, 2)
    assert summary["calls"] == {"BatchCreatePartition": 13, "GetPartitions": 1, "GetTable": 13, "ListObjectsV2": 3}


# --------------------------------------------------------------------------- the local engine agrees
def test_engine_registers_what_the_function_registers(world, tmp_path):
    """tests/support/engine.py emulates this function for the analytics tests: same pairs, values, locations."""
    from tests.support.engine import LocalAthena
    from tests.support.fixtures import FixtureSpec, generate

    spec = FixtureSpec(accounts=("111122223333", "444455556666"), regions=("eu-west-1", "ap-southeast-2"),
                       instances=3, hybrid=1, days=1, datasync_bucket=BUCKET, datasync_prefix=PREFIX,
                       history_files=False, all_inventory_types=False)  # fmt: skip
    fixture = generate(tmp_path / "s3", spec)
    root = fixture.buckets[BUCKET]
    extra = [f"{PREFIX}/{ANCHOR}/accountid=12345/region=eu-west-1/x.json",
             f"{PREFIX}/{ANCHOR}/accountid=111122223333/region=moon-1/x.json",
             f"{PREFIX}/{ANCHOR}/accountid=999988887777/region=us-east-1/resourcetype={RT}/x.json"]  # fmt: skip
    for name in extra:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}\n")
    for path in root.rglob("*"):
        if path.is_file():
            world.put(path.relative_to(root).as_posix())
    run(cold_start())

    template = catalog.build_glue_template()
    values = catalog.bind_roles(
        template, config_bucket=spec.config_bucket, datasync_bucket=BUCKET, datasync_prefix=PREFIX
    )
    tables = {n: d for n, d in catalog.glue_tables(template, values).items() if n in TABLES}
    engine = LocalAthena(tables, fixture.buckets, tmp_path / "engine")
    engine.register_inventory_partitions()
    for table in TABLES:
        ours = {(p.values, p.location) for p in engine.catalog_partitions[table]}
        theirs = {(values, sd["Location"]) for values, sd in world.partitions(table).items()}
        assert ours == theirs and len(ours) == 2 * 2 + 1, table
    engine.close()


# --------------------------------------------------------------------------- what the template declares
def test_generated_template_inlines_the_source_and_runs(world):
    """The Code.ZipFile of a freshly generated central template is functions/inventory_partitions verbatim."""
    code = generated()["Resources"][c.INVENTORY_PARTITIONS_FUNCTION]["Properties"]["Code"]["ZipFile"]
    assert code == lib.source_code("inventory_partitions")
    world.deliver(["111122223333"], ["eu-west-1"])
    module = lib.load_function("inventory_partitions", code=code)
    assert module.handler(scheduled_event(), lib.FakeContext(900))["registered"] == 1


def test_environment_holds_names_only_and_fits_4_kb():
    variables = generated()["Resources"][c.INVENTORY_PARTITIONS_FUNCTION]["Properties"]["Environment"]["Variables"]
    assert set(variables) == {"BUCKET", "PREFIX", "ANCHOR_FOLDER", "RESOURCE_TYPE", "GLUE_DATABASE",
                              "ANCHOR_TABLE", "TABLES"}  # fmt: skip
    env = environment()
    assert env["TABLES"].split(",") == TABLES and env["ANCHOR_TABLE"] == ANCHOR_TABLE
    assert (env["ANCHOR_FOLDER"], env["RESOURCE_TYPE"]) == (ANCHOR, RT)
    longest = dict(env, BUCKET="b" * 63, PREFIX="p" * 63, GLUE_DATABASE="d" * 255)
    assert sum(len(k) + len(v) for k, v in longest.items()) < 4096  # Lambda: 4 KB for all variables


def _statements(role: dict) -> list[dict]:
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def test_role_allows_exactly_what_a_run_calls(world):
    """Least privilege: every call of a run is allowed, by the listing prefix condition too; nothing else is."""
    world.deliver(accounts(2), ["eu-west-1"])
    run(fn := cold_start())
    resources = generated()["Resources"]
    statements = _statements(resources[c.INVENTORY_PARTITIONS_ROLE])
    resolve = resolver()
    granted = {a for s in statements for a in s["Action"] if not a.startswith(("logs:", "sqs:"))}
    called = {"s3:ListBucket" if op == "ListObjectsV2" else f"glue:{op}" for op in set(fn.s3.ops() + fn.glue.ops())}
    assert granted == called == {"s3:ListBucket", "glue:GetTable", "glue:BatchCreatePartition", "glue:GetPartitions"}
    (listing,) = [s for s in statements if s["Action"] == ["s3:ListBucket"]]
    assert listing["Resource"] == [{"Fn::GetAtt": ["DataSyncBucket", "Arn"]}]
    (pattern,) = resolve(listing["Condition"]["StringLike"]["s3:prefix"])
    assert pattern == f"{PREFIX}/{ANCHOR}/*"
    assert all(fnmatch.fnmatchcase(p["Prefix"], pattern) for p in fn.s3.ops("ListObjectsV2"))
    assert not fnmatch.fnmatchcase(f"{PREFIX}/AWS:Tag/", pattern)
    (partitions,) = [s for s in statements if s["Action"] == ["glue:GetPartitions"]]
    tables = [r for r in partitions["Resource"] if ":table/" in json.dumps(r)]
    assert [r["Fn::Sub"][1]["Table"] for r in tables] == [{"Ref": pc_glue.INVENTORY_TABLE_IDS[ANCHOR]}]
    (writes,) = [s for s in statements if "glue:BatchCreatePartition" in s["Action"]]
    written = [r["Fn::Sub"][1]["Table"]["Ref"] for r in writes["Resource"] if ":table/" in json.dumps(r)]
    assert sorted(written) == sorted(pc_glue.INVENTORY_TABLE_IDS.values())


def test_hourly_schedule_with_retries_and_dead_letter_queue():
    resources = generated()["Resources"]
    rule = resources[c.INVENTORY_PARTITIONS_SCHEDULE]["Properties"]
    assert rule["ScheduleExpression"] == SCHEDULE == "rate(1 hour)" and rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [c.INVENTORY_PARTITIONS_FUNCTION, "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [c.INVENTORY_PARTITIONS_DLQ, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    function = resources[c.INVENTORY_PARTITIONS_FUNCTION]["Properties"]
    assert function["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [c.INVENTORY_PARTITIONS_DLQ, "Arn"]}
    invoke_config = resources[f"{c.INVENTORY_PARTITIONS_FUNCTION}InvokeConfig"]["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == 2
    permission = resources[c.INVENTORY_PARTITIONS_PERMISSION]["Properties"]
    assert permission["SourceArn"] == {"Fn::GetAtt": [c.INVENTORY_PARTITIONS_SCHEDULE, "Arn"]}
    assert resources[c.INVENTORY_PARTITIONS_DLQ]["Properties"]["SqsManagedSseEnabled"] is True
    # the inventory tables list no accounts: nothing in the central stack has to name the delivering accounts
    for logical_id in pc_glue.INVENTORY_TABLE_IDS.values():
        assert "projection.enabled" not in resources[logical_id]["Properties"]["TableInput"]["Parameters"]
