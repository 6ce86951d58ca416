"""The views over the Config export: a run killed half-way, an account x region whose snapshot is over Athena's
32 MB row limit, and the real ConfigExportFunction end to end.

End to end: the function's code (inlined in the central template once it is there, else its source) runs against
the fake Config aggregator (tests/support/fake_config.py) answering with the fixture's aggregator items; its S3 and
Glue calls land in a local bucket tree and a partition list. Its export must equal the fixture's latest export,
and the views over it the ground truth.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import json
import os
from pathlib import Path

import duckdb
import pytest

from patchcompliance.config_export import (
    EXPORT_PREFIX,
    EXPORT_TABLE_NAME,
    export_storage_descriptor,
)
from patchcompliance.constants import PUBLIC_VIEWS
from tests.support import fake_config as fc
from tests.support import functions as lib
from tests.support.analytics import assert_same_rows, sorted_rows
from tests.support.engine import MAX_LINE_BYTES, open_engine
from tests.support.export_data import export_folder
from tests.support.fixtures import ExportSet, Fixture

AGGREGATOR = "org-aggregator"
DATABASE = "patch_compliance"


def _views_equal_truth(engine, fixture: Fixture, label: str) -> None:
    for view in PUBLIC_VIEWS:
        _, rows = engine.query(f'SELECT * FROM "{view}"', trino=False)
        assert_same_rows(rows, getattr(fixture.truth, view), f"{label}: {view}")


def _canonical(rows) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def _read_export(bucket_root: Path, export_id: str) -> list[dict]:
    folder = bucket_root / export_folder(EXPORT_PREFIX, export_id)
    return [
        json.loads(line)
        for part in sorted(folder.glob("part-*.json.gz"))
        for line in gzip.decompress(part.read_bytes()).splitlines()
    ]


# ---------------------------------------------------------------- a run killed half-way
def test_unregistered_export_is_on_disk_but_never_read(engine, fixture_tree):
    """The fixture's newer export was killed after its first part: its objects and run state are in the bucket,
    but it has no partition, so the views (equal to the truth in test_sql_views) read the previous export."""
    bucket = fixture_tree.buckets[fixture_tree.spec.config_bucket]
    (partial,) = fixture_tree.exports.partial
    assert [p.name for p in (bucket / export_folder(EXPORT_PREFIX, partial)).iterdir()] == ["part-00000.json.gz"]
    state = json.loads((bucket / EXPORT_PREFIX / "_runs" / f"{partial}.json").read_text())
    assert state["status"] == "running"
    _, rows = engine.query(f'SELECT DISTINCT export_id FROM "{EXPORT_TABLE_NAME}$partitions"')
    assert partial not in {r[0] for r in rows}
    _, rows = engine.query('SELECT DISTINCT export_id FROM "config_export_latest"', trino=False)
    assert rows == [(fixture_tree.truth.latest_export,)]


def test_registering_the_killed_export_would_change_the_views(fixture_tree, tmp_path):
    """What MSCK REPAIR TABLE would do to the Hive-style export folders (register the killed run too): configmic
    would then read half an export. The export table must only get partitions from the function."""
    (partial,) = fixture_tree.exports.partial
    location = f"s3://{fixture_tree.spec.config_bucket}/{export_folder(EXPORT_PREFIX, partial)}"
    exports = dataclasses.replace(
        fixture_tree.exports, partitions=[*fixture_tree.exports.partitions, (partial, location)]
    )
    eng = open_engine(dataclasses.replace(fixture_tree, exports=exports), workdir=tmp_path, threads=1)
    try:
        _, rows = eng.query('SELECT * FROM "configmic"', trino=False)
        assert sorted_rows(rows) != sorted_rows(fixture_tree.truth.configmic)
        _, rows = eng.query('SELECT count(*) FROM "configpc"', trino=False)
        assert rows == [(0,)]  # the killed run never wrote its rule results
    finally:
        eng.close()


# ---------------------------------------------------------------- a snapshot over 32 MB
def test_views_are_right_beside_a_snapshot_over_32_mb(big_fixture_tree, big_engine):
    """One account x region records so many managed nodes that its snapshot file, one JSON line, is over 32 MB:
    Athena (and the engine) cannot read it as a row, yet every view equals the truth, for that account too and for
    the region without the managed-by-SSM rule, because no view reads the snapshots."""
    spec = big_fixture_tree.spec
    (account, region, instances) = spec.instances_by_region[0]
    size = big_fixture_tree.snapshot_bytes[(account, region)]
    assert size > MAX_LINE_BYTES
    assert all(b < MAX_LINE_BYTES for key, b in big_fixture_tree.snapshot_bytes.items() if key != (account, region))
    with pytest.raises(duckdb.Error, match="(?i)line"):
        big_engine.query(f"SELECT count(*) FROM config_snapshot WHERE accountid = '{account}' AND region = '{region}'")
    other = next(a for a in spec.accounts if a != account)
    assert big_engine.query(f"SELECT count(*) FROM config_snapshot WHERE accountid = '{other}'")[1][0][0] > 0
    _views_equal_truth(big_engine, big_fixture_tree, "over 32 MB")
    _, rows = big_engine.query(
        f"SELECT count(*) FROM configmic WHERE account_id = '{account}' AND region = '{region}'", trino=False
    )
    assert rows[0][0] > 800 and instances > 800
    _, rows = big_engine.query("SELECT DISTINCT region, managed_status_source FROM configmic", trino=False)
    assert ("ap-east-2", "SSM_INVENTORY") in rows and ("ap-east-2", "CONFIG_RULE") not in rows


# ---------------------------------------------------------------- the function, end to end
class LocalBucket:
    """S3 PutObject/GetObject and Glue CreatePartition of the function, answered from a local bucket tree."""

    def __init__(self, root: Path, bucket: str):
        self.root, self.bucket = root, bucket
        self.partitions: list[tuple[str, str]] = []

    def put_object(self, params):
        assert params["Bucket"] == self.bucket
        body = params["Body"]
        if hasattr(body, "seek"):
            body.seek(0)
        data = body.read() if hasattr(body, "read") else body
        path = self.root / params["Key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return {"ETag": '"0"'}

    def get_object(self, params):
        path = self.root / params["Key"]
        if not path.is_file():
            return lib.http_error("NoSuchKey", "The specified key does not exist.", 404)
        return {"Body": lib.RawBody(path.read_bytes()), "ContentLength": path.stat().st_size}

    def create_partition(self, params):
        partition = params["PartitionInput"]
        (value,) = partition["Values"]
        if value in dict(self.partitions):
            return lib.http_error("AlreadyExistsException", "Partition already exists.")
        self.partitions.append((value, partition["StorageDescriptor"]["Location"]))
        return {}


@pytest.fixture
def export_env(monkeypatch, fixture_tree, tmp_path):
    """Environment of the function (as the central template sets it) and a bucket tree for its output; the
    datasync bucket is the fixture's (linked), so the views find the SSM data."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    spec = fixture_tree.spec
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": lib.REGION,
        "AWS_REGION": lib.REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AGGREGATOR_NAME": AGGREGATOR,
        "BUCKET": spec.config_bucket,
        "PREFIX": EXPORT_PREFIX,
        "GLUE_DATABASE": DATABASE,
        "EXPORT_TABLE": EXPORT_TABLE_NAME,
        "STORAGE_DESCRIPTOR": json.dumps(export_storage_descriptor()),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "s3"
    (root / spec.config_bucket).mkdir(parents=True)
    (root / spec.datasync_bucket).symlink_to(fixture_tree.buckets[spec.datasync_bucket].resolve())
    return LocalBucket(root / spec.config_bucket, spec.config_bucket), root


def run_export(bucket: LocalBucket, items, export_time: str, fault=None) -> dict:
    """One scheduled invocation of the function over the aggregator `items`; `fault(fake)` injects errors."""
    module = fc.load_function()
    fake = fc.FakeConfig(items, aggregator=AGGREGATOR)
    if fault:
        fault(fake)
    fake.attach(module._client("config"))
    lib.Hooks(module._client("s3")).respond("PutObject", bucket.put_object).respond("GetObject", bucket.get_object)
    lib.Hooks(module._client("glue")).respond("CreatePartition", bucket.create_partition)
    module._sleep = lambda _: None
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "time": export_time, "detail": {}}
    return module.handler(event, fc.LambdaContext(900.0))


def _engine_over_output(fixture: Fixture, root: Path, partitions, workdir: Path):
    exports = ExportSet(partitions=partitions, partial=[], rows={}, aggregator_items=[])
    return open_engine(dataclasses.replace(fixture, root=root, exports=exports), workdir=workdir, threads=1)


def _export_time(export_id: str) -> str:
    return f"{export_id[:4]}-{export_id[4:6]}-{export_id[6:8]}T{export_id[9:11]}:{export_id[11:13]}:{export_id[13:15]}Z"


def test_function_export_equals_the_fixture_and_the_views_equal_the_truth(fixture_tree, export_env, tmp_path):
    bucket, root = export_env
    latest = fixture_tree.truth.latest_export
    items = fixture_tree.exports.aggregator_items
    assert {i["resourceType"] for i in items} >= {
        "AWS::EC2::Instance", "AWS::Config::ResourceCompliance", "AWS::SSM::ManagedInstanceInventory",
        "AWS::SSM::PatchCompliance", "AWS::SSM::AssociationCompliance", "AWS::EC2::Volume",
    }  # fmt: skip
    summary = run_export(bucket, items, _export_time(latest))
    assert summary["outcome"] == "published" and summary["export_id"] == latest
    assert summary["skipped"] == {
        "deleted": sum(1 for i in fixture_tree.instances if i.status != "OK" and not i.removed)
    }
    location = f"s3://{fixture_tree.spec.config_bucket}/{export_folder(EXPORT_PREFIX, latest)}"
    assert bucket.partitions == [(latest, location)]
    produced = _read_export(bucket.root, latest)
    assert _canonical(produced) == _canonical(fixture_tree.latest_export_rows)
    assert collections.Counter(r["kind"] for r in produced) == collections.Counter(
        r["kind"] for r in fixture_tree.latest_export_rows
    )
    eng = _engine_over_output(fixture_tree, root, bucket.partitions, tmp_path / "w")
    try:
        _views_equal_truth(eng, fixture_tree, "function output")
    finally:
        eng.close()


def _perturbed(items: list[dict]) -> list[dict]:
    """The aggregator an hour later: every running instance stopped (states the truth does not have)."""
    out = []
    for item in items:
        config = item.get("configuration")
        if item["resourceType"] == "AWS::EC2::Instance" and config and config["state"]["name"] == "running":
            item = {**item, "configuration": {**config, "state": {"code": 80, "name": "stopped"}}}
        out.append(item)
    return out


def test_killed_run_leaves_the_previous_export_readable(fixture_tree, export_env, tmp_path):
    """A complete run, then a run that dies on its second query (access to the aggregator withdrawn): the second
    wrote its instance parts but registered nothing, so the views still equal the truth of the first. Registered
    by hand, the second would change them (the check can fail)."""
    bucket, root = export_env
    latest = fixture_tree.truth.latest_export
    items = fixture_tree.exports.aggregator_items
    run_export(bucket, items, _export_time(latest))
    later = f"{latest[:9]}{int(latest[9:11]) + 1:02d}0000Z"

    def deny_rule_query(fake):
        fake.fail("AccessDeniedException", "not authorized", when=lambda p: "ResourceCompliance" in p["Expression"])

    module_error = None
    try:
        run_export(bucket, _perturbed(items), _export_time(later), fault=deny_rule_query)
    except Exception as err:  # noqa: BLE001 - the function's own ExportError class is per module
        module_error = err
    assert module_error is not None and "Access denied" in str(module_error)
    assert [p for p, _ in bucket.partitions] == [latest]
    assert sorted(p.name for p in (bucket.root / export_folder(EXPORT_PREFIX, later)).iterdir()) == [
        "part-00000.json.gz"
    ]
    eng = _engine_over_output(fixture_tree, root, bucket.partitions, tmp_path / "w1")
    try:
        _views_equal_truth(eng, fixture_tree, "after a killed run")
    finally:
        eng.close()
    location = f"s3://{fixture_tree.spec.config_bucket}/{export_folder(EXPORT_PREFIX, later)}"
    eng = _engine_over_output(fixture_tree, root, [*bucket.partitions, (later, location)], tmp_path / "w2")
    try:
        _, rows = eng.query('SELECT * FROM "configmic"', trino=False)
        assert sorted_rows(rows) != sorted_rows(fixture_tree.truth.configmic)
    finally:
        eng.close()
