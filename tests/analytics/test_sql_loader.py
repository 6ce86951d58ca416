"""The local engine reads the tree the way Athena reads S3 through the declared tables (and says where not).

Emulations checked here: partition registration and "$partitions", "$path", probe files,
the OpenX SerDe (mappings, case handling, quoted/bare numbers, non-object lines), dynamic partition pruning.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import re

import duckdb
import pytest

from patchcompliance import glue
from patchcompliance.render import FUNCTIONS_DIR, view_sql
from tests.support import catalog
from tests.support.analytics import assert_same_rows
from tests.support.engine import LocalAthena, open_engine
from tests.support.fixtures import FixtureSpec, generate


# ---------------------------------------------------------------- partitions, $path, probes
def test_config_partitions_are_the_snapshot_folders(engine, fixture_tree):
    _, rows = engine.query('SELECT accountid, region, dt FROM "config_snapshot$partitions"')
    folders = {p.parent for p in fixture_tree.root.rglob("*_ConfigSnapshot_*.json.gz")}
    assert len(rows) == len(folders)
    for _, _, dt in rows:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", dt)  # zero-padded, sortable
    locations = {p.location for p in engine.catalog_partitions["config_snapshot"]}
    assert any(re.search(r"/2025/9/\d+/ConfigSnapshot/$", loc) for loc in locations)  # real unpadded folders
    assert all(loc.endswith("/ConfigSnapshot/") for loc in locations)


def test_latest_partition_is_not_the_lexically_largest_folder(engine):
    """2025/9/30 sorts after 2025/10/2 as unpadded text; the zero-padded dt does not."""
    _, rows = engine.query('SELECT max(dt) FROM "config_snapshot$partitions"')
    assert rows == [("2025-10-02",)]


def test_path_is_the_s3_uri_and_only_snapshots_are_read(engine, fixture_tree):
    _, rows = engine.query('SELECT "$path" FROM config_snapshot')
    expected = {
        f"s3://{fixture_tree.spec.config_bucket}/{p.relative_to(fixture_tree.buckets[fixture_tree.spec.config_bucket]).as_posix()}"
        for p in fixture_tree.root.rglob("*_ConfigSnapshot_*.json.gz")
    }
    assert {r[0] for r in rows} == expected
    assert set(fixture_tree.truth.latest_snapshot.values()) <= expected


def test_probe_and_history_files_exist_but_are_never_read(engine, fixture_tree):
    assert list(fixture_tree.root.rglob("ConfigWritabilityCheckFile"))
    assert list(fixture_tree.root.rglob("*ConfigHistory_AWS::EC2::Instance*.json.gz"))
    probes = list(fixture_tree.root.rglob("test.json"))
    assert probes and all(p.parent.name.startswith("accountid=") for p in probes)
    for name in engine.tables:
        _, rows = engine.query(f'SELECT "$path" FROM "{name}"')
        assert not [r for r in rows if r[0].endswith(("test.json", "ConfigWritabilityCheckFile"))], name
        assert not [r for r in rows if "ConfigHistory" in r[0]], name
    _, rows = engine.query("SELECT count(*) FROM aws_instanceinformation WHERE resourceid = 'test'")
    assert rows == [(0,)]


def test_inventory_partitions_are_the_delivering_accounts_and_regions(engine, fixture_tree):
    """Registered as the InventoryPartitionsFunction does: one partition per account x region folder of the anchor
    type, in every inventory table; an account without data (EMPTY_ACCOUNT) gets none."""
    spec = fixture_tree.spec
    expected = {(a, r, "ManagedInstanceInventory") for a in spec.accounts for r in spec.regions}
    for name in glue.INVENTORY_TABLE_NAMES.values():
        _, rows = engine.query(f'SELECT accountid, region, resourcetype FROM "{name}$partitions"')
        assert sorted(rows) == sorted(expected), name
    _, rows = engine.query("SELECT DISTINCT accountid, region, resourcetype FROM aws_patchsummary")
    assert set(rows) == expected
    location = next(p.location for p in engine.catalog_partitions["aws_tag"] if p.values[0] == spec.accounts[0])
    assert location.startswith(f"s3://{spec.datasync_bucket}/{spec.datasync_prefix}/AWS:Tag/accountid=")
    assert location.endswith("/resourcetype=ManagedInstanceInventory/")


def test_partition_registration_matches_the_partitioning_function(engine, fixture_tree):
    """Cross-check with functions/partitioning (the PartitioningFunction code), when it is there."""
    path = FUNCTIONS_DIR / "partitioning" / "index.py"
    if not path.exists():
        pytest.skip("functions/partitioning/index.py does not exist")
    spec = importlib.util.spec_from_file_location("partitioning_index", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "partition_of"):
        pytest.skip("partition_of() not available")
    bucket = fixture_tree.spec.config_bucket
    root = fixture_tree.buckets[bucket]
    theirs = set()
    for file in root.rglob("*"):
        if file.is_file():
            result = module.partition_of(bucket, file.relative_to(root).as_posix())
            if result is not None:
                theirs.add((tuple(result[0]), result[1]))
    ours = {(p.values, p.location) for p in engine.catalog_partitions["config_snapshot"]}
    assert ours == theirs


# ---------------------------------------------------------------- SerDe emulation
def _expected_inventory_row(decl, line: dict) -> tuple:
    """What the OpenX SerDe (case-insensitive) gives for one JSON line: an independent oracle."""
    lowered = {k.lower(): v for k, v in line.items()}
    row = []
    for name, hive_type in decl.columns:
        value = lowered.get(name)
        if hive_type == "int":
            try:
                value = int(value) if value is not None else None
            except ValueError:
                value = None
        elif value is not None and not isinstance(value, str):
            value = json.dumps(value, separators=(",", ":"))
        row.append(value)
    return (*row, line["accountid"], line["region"], line["resourcetype"])


@pytest.mark.parametrize("inventory_type", list(glue.INVENTORY_ATTRIBUTES))
def test_inventory_tables_return_every_line(engine, fixture_tree, inventory_type):
    name = glue.INVENTORY_TABLE_NAMES[inventory_type]
    decl = engine.tables[name]
    lines = fixture_tree.truth.inventory_lines.get(name, [])
    assert lines, f"the fixture writes {inventory_type}"
    columns = [c for c, _ in decl.columns] + [k for k, _ in decl.partition_keys]
    _, rows = engine.query("SELECT " + ", ".join(f'"{c}"' for c in columns) + f' FROM "{name}"')
    assert_same_rows(rows, [_expected_inventory_row(decl, line) for line in lines], name)


def test_counts_parse_quoted_and_bare_numbers(engine, fixture_tree):
    lines = fixture_tree.truth.inventory_lines["aws_patchsummary"]
    kinds = {type(line["MissingCount"]) for line in lines}
    assert kinds == {str, int}
    _, rows = engine.query("SELECT resourceid, missingcount, typeof(missingcount) FROM aws_patchsummary")
    assert {r[2] for r in rows} == {"INTEGER"}
    assert {(r[0], r[1]) for r in rows} == {(line["resourceId"], int(line["MissingCount"])) for line in lines}


def test_config_keys_keep_their_case(engine):
    _, rows = engine.query(
        """SELECT ci.tags, ci.configuration, ci.resourceid, ci.arn, ci.configurationstateid
           FROM config_snapshot CROSS JOIN UNNEST(configurationitems) AS t (ci)
           WHERE ci.resourcetype = 'AWS::EC2::Instance' AND ci.configuration IS NOT NULL"""
    )
    assert any({"Name", "name"} <= set(r[0]) for r in rows)  # distinct map keys
    assert all('"instanceId"' in r[1] and r[2].startswith("i-") and r[3].startswith("arn:aws:ec2:") for r in rows)
    assert all(r[4].isdigit() for r in rows)  # a JSON number in a string column: its text


def _engine_with(fixture_tree, tmp_path, table: str, **changes) -> LocalAthena:
    """An engine whose `table` declaration is changed (SerDe experiments)."""
    template, _ = catalog.template_with_glue_tables()
    spec = fixture_tree.spec
    values = catalog.bind_roles(
        template, config_bucket=spec.config_bucket, datasync_bucket=spec.datasync_bucket,
        datasync_prefix=spec.datasync_prefix, account_ids=list(spec.projection_accounts), regions=list(spec.regions),
    )  # fmt: skip
    tables = catalog.glue_tables(template, values)
    tables = {table: dataclasses.replace(tables[table], **changes)}
    eng = LocalAthena(tables, fixture_tree.buckets, tmp_path, threads=1)
    eng.register_config_snapshots()
    return eng.build()


def test_default_case_insensitive_serde_would_fail_on_case_clashing_tags(fixture_tree, tmp_path):
    """Why config_snapshot sets case.insensitive=false: with the default, Name/name tags break the query."""
    with pytest.raises(NotImplementedError):  # nested keys would be lower-cased: refused, not faked
        _engine_with(fixture_tree, tmp_path, "config_snapshot", serde_parameters={})


def test_without_mappings_camel_case_columns_are_null(fixture_tree, tmp_path):
    eng = _engine_with(fixture_tree, tmp_path, "config_snapshot", serde_parameters={"case.insensitive": "false"})
    _, rows = eng.query("SELECT count(*), count(configurationitems) FROM config_snapshot")
    assert rows[0][0] > 0 and rows[0][1] == 0


def test_case_insensitive_duplicate_keys_fail_the_query(tmp_path):
    decl = catalog.TableDecl(
        logical_id="T", name="t", table_type="EXTERNAL_TABLE", columns=(("name", "string"), ("n", "int")),
        partition_keys=(), location="s3://b/t/", input_format="", output_format="",
        serde="org.openx.data.jsonserde.JsonSerDe", serde_parameters={"case.insensitive": "true"},
    )  # fmt: skip
    folder = tmp_path / "b" / "t"
    folder.mkdir(parents=True)
    (folder / "ok.json").write_text(
        '{"Name":"a","N":"7"}\nnot json at all\n{"NAME":"c","n":8.0e0}\n{"name":{"x":1},"n":"abc"}\n'
    )
    eng = LocalAthena({"t": decl}, {"b": tmp_path / "b"}, tmp_path / "w", threads=1).build()
    _, rows = eng.query("SELECT name, n FROM t")
    expected = [("a", 7), (None, None), ("c", 8), ('{"x":1}', None)]
    assert sorted(rows, key=repr) == sorted(expected, key=repr)
    (folder / "dup.json").write_text('{"Name":"a","name":"b"}\n')
    eng.build()
    with pytest.raises(duckdb.Error, match="unique"):
        eng.query("SELECT name FROM t")
    (folder / "dup.json").write_text('{"Name": "a", broken\n')
    eng.build()
    with pytest.raises(duckdb.Error):
        eng.query("SELECT name FROM t")


@pytest.mark.parametrize("megabytes", [33, 70])
def test_a_line_over_32_mb_fails_the_query(tmp_path, megabytes):
    """Athena cannot read a row over 32 MB; neither can the engine, also past DuckDB's default read buffer (which
    would drop such a line silently)."""
    decl = catalog.TableDecl(
        logical_id="T", name="t", table_type="EXTERNAL_TABLE", columns=(("v", "string"),),
        partition_keys=(), location="s3://b/t/", input_format="", output_format="",
        serde="org.openx.data.jsonserde.JsonSerDe", serde_parameters={"case.insensitive": "false"},
    )  # fmt: skip
    folder = tmp_path / "b" / "t"
    folder.mkdir(parents=True)
    (folder / "small.json.gz").write_bytes(gzip.compress(b'{"v":"ok"}\n'))
    eng = LocalAthena({"t": decl}, {"b": tmp_path / "b"}, tmp_path / "w", threads=1).build()
    assert eng.query("SELECT v FROM t")[1] == [("ok",)]
    line = b'{"v":"' + b"x" * (megabytes * 2**20) + b'"}\n'
    (folder / "large.json.gz").write_bytes(gzip.compress(line, compresslevel=1))
    eng.build()
    with pytest.raises(duckdb.Error, match="CSV Error"):
        eng.query("SELECT count(*) FROM t")


def test_gzip_and_hidden_objects(tmp_path):
    decl = catalog.TableDecl(
        logical_id="T", name="t", table_type="EXTERNAL_TABLE", columns=(("v", "string"),),
        partition_keys=(), location="s3://b/t/", input_format="", output_format="",
        serde="org.openx.data.jsonserde.JsonSerDe", serde_parameters={"case.insensitive": "false"},
    )  # fmt: skip
    folder = tmp_path / "b" / "t"
    folder.mkdir(parents=True)
    (folder / "a.json.gz").write_bytes(gzip.compress(b'{"v":"zipped"}'))
    (folder / "_SUCCESS").write_text('{"v":"hidden"}')
    (folder / ".tmp").write_text('{"v":"hidden"}')
    eng = LocalAthena({"t": decl}, {"b": tmp_path / "b"}, tmp_path / "w", threads=1).build()
    assert eng.query('SELECT v, "$path" FROM t')[1] == [("zipped", "s3://b/t/a.json.gz")]


# ---------------------------------------------------------------- dynamic partition pruning
def test_views_read_only_the_latest_export(engine, fixture_tree):
    """configpc scans the files of the latest export only (Trino's dynamic filter on export_id). The join on
    "config_export$partitions" is in the base view config_export_latest: creating it applies the pruning (logged),
    and configpc reads the table through it (its scan is counted)."""
    logged = len(engine.pruning_log)
    engine.create_view("config_export_latest", view_sql("config_export_latest"))
    latest = fixture_tree.truth.latest_export
    assert engine.pruning_log[logged:] == [{"table": "config_export", "domains": {"export_id": [latest]}}]
    metrics = engine.profile(view_sql("configpc"))
    location = dict(fixture_tree.exports.partitions)[latest]
    files = len(engine._objects(location))
    assert files > 1 and metrics["files_read"] == files
    full = engine.profile("SELECT count(*) FROM config_export")
    assert full["files_read"] == sum(len(engine._objects(loc)) for _, loc in fixture_tree.exports.partitions) > files


def test_rows_scanned_do_not_grow_with_the_exports_kept(tmp_path):
    """Same rows scanned with 2 and 8 registered exports, and the views equal the truth in both."""
    scanned = {}
    for days in (2, 8):
        spec = FixtureSpec(
            days=1, instances=4, hybrid=1, removed=0, all_inventory_types=False, stale_days=0, export_days=days,
            ssm_config_items=False, history_files=False,
        )  # fmt: skip
        fx = generate(tmp_path / f"tree{days}", spec)
        assert len(fx.exports.partitions) == days
        eng = open_engine(fx, workdir=tmp_path / f"w{days}", views=("config_export_latest",), threads=1)
        assert [entry["table"] for entry in eng.pruning_log] == ["config_export"]  # the base view prunes
        scanned[days] = {v: eng.profile(view_sql(v))["rows_scanned"] for v in ("configpc", "instance_tags")}
        assert_same_rows(eng.query(view_sql("configpc"))[1], fx.truth.configpc, f"{days} exports")
        eng.close()
    assert scanned[2] == scanned[8]


def test_fixture_is_deterministic(tmp_path):
    spec = FixtureSpec(days=2, instances=5, hybrid=1)
    trees = [generate(tmp_path / name, spec) for name in ("a", "b")]
    files = [
        {p.relative_to(tmp_path / name).as_posix(): p.read_bytes() for p in (tmp_path / name).rglob("*") if p.is_file()}
        for name in ("a", "b")
    ]
    assert files[0] == files[1] and len(files[0]) > 20
    assert trees[0].truth == trees[1].truth
