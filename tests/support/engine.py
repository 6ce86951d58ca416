"""A local stand-in for Athena: the declared Glue tables as DuckDB views over a directory tree mirroring S3.

What is emulated, and how (everything else is plain DuckDB, after sqlglot translated the Trino SQL):

* **Objects and partitions.** A bucket is a local directory (``s3://<bucket>/<key>`` -> ``<dir>/<key>``).
  Config partitions are registered as the PartitioningFunction does (:meth:`LocalAthena.register_config_snapshots`),
  SSM inventory partitions as the InventoryPartitionsFunction does (:meth:`LocalAthena.register_inventory_partitions`).
  Every partition of a table (catalog partitions registered with :meth:`LocalAthena.register_partition`, or
  the values enumerated by ``projection.*`` when ``projection.enabled=true``; projected tables ignore catalog
  partitions as Athena does) contributes the objects below its location, minus names starting with ``_`` or
  ``.`` (Athena skips them). The engine mirrors them as symlinks into a Hive-style tree
  ``<work>/mirror/<table>/<key>=<value>/...`` so the partition values come from the catalog, not from the
  object keys, exactly like a Glue partition whose location is an arbitrary folder. Objects outside every
  partition (Config's ``ConfigWritabilityCheckFile``, ``ConfigHistory/`` files, SSM's
  ``accountid=<acct>/test.json`` probe) are never read.
* **Text files and the OpenX JSON SerDe.** Each object is read line by line (gzip by the ``.gz`` extension,
  32 MB line limit as in Athena: a longer line fails the query, up to READ_BUFFER_BYTES; DuckDB drops a line
  longer than that silently). A line whose first non-blank character is not ``{`` yields a row of NULLs
  (Trino's OpenX reader); malformed JSON fails the query. Keys are matched to the declared columns:
  with ``case.insensitive=false`` exactly, through the ``mapping.<field>=<key>`` entries at every depth; with
  ``case.insensitive=true`` the top-level keys are lower-cased first, and two keys equal ignoring case fail
  the query (the SerDe's "Duplicate key"). Values are converted with DuckDB's ``json_transform``: a string
  column receives the JSON text of an object/array/number, a numeric column parses quoted and bare numbers
  and yields NULL for anything unparseable; an empty line, like any line not starting with ``{``, is a row of
  NULLs. Not emulated: lower-casing of keys *inside* nested values in case-insensitive mode (the engine
  refuses complex columns in such tables), decimals in an ``int`` column (DuckDB rounds them; the SerDes
  differ), timestamps in other than ISO-8601 form (DuckDB's cast accepts more than ``from_iso8601_timestamp``).
* **Hidden columns and metadata tables.** ``"$path"`` is the object's ``s3://`` URI (decoded from the mirror
  file name). ``"<table>$partitions"`` lists the catalog partitions (empty for projected tables, as in Athena).
* **Dynamic partition pruning.** Athena (Trino) prunes the partitions of a table joined on its partition keys
  to a small relation at run time. DuckDB does not prune files through a join, so :meth:`LocalAthena.translate`
  emulates it: for an inner join of a catalog-partitioned table with a relation (CTE or subquery) computed only
  from ``$partitions`` metadata tables, it evaluates that relation first and restricts the table to
  ``<key> IN (<values>)`` per join key -- Trino's per-column dynamic-filter domains. Every application is
  recorded in :attr:`LocalAthena.pruning_log`.
* **SQL differences rewritten on the AST** (after ``sqlglot`` Trino -> DuckDB): ``CROSS JOIN UNNEST(map) AS
  t(k, v)`` and multi-argument ``UNNEST(a, b) AS t(x, y)`` become a lateral ``(SELECT UNNEST(...) AS k, ...)``
  subquery (DuckDB's UNNEST takes one list). ``UNNEST(array_of_rows) AS t(r)`` binds ``r`` to the whole row in
  Athena (the Presto behaviour AWS's own Config queries rely on) and in DuckDB alike, so it is left alone.
  The session time zone is UTC, like Athena's, so ``CAST(from_iso8601_timestamp(x) AS timestamp)`` agrees.
* **Today.** ``current_date`` (Athena: the UTC date the query runs) is :attr:`LocalAthena.today` when set, written
  into every query as a date literal, so views that age data by days give the same rows on every run.
  ``open_engine`` sets it to the fixture's last day. Views whose SQL holds ``${Parameter}`` placeholders are
  created as the stack deploys them with the central parameters' defaults (``athena.deployed_view_sql``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import duckdb
import sqlglot
from sqlglot import exp

from patchcompliance import glue
from patchcompliance.athena import deployed_view_sql
from patchcompliance.config_export import EXPORT_PARTITION_KEY, EXPORT_TABLE_NAME
from patchcompliance.constants import VIEW_ORDER

from . import history as parquet_tables
from .catalog import RESULTS_BUCKET, TableDecl, bind_roles, glue_tables, template_with_glue_tables
from .fixtures import Fixture
from .policy import parameter_defaults

MAX_LINE_BYTES = 32 * 1024 * 1024  # Athena: a row cannot exceed 32 MB
# DuckDB's CSV reader fails on a line over max_line_size only while the line fits its buffer: a longer line is
# dropped without an error. A large buffer costs nothing for small files and makes lines up to its size fail.
READ_BUFFER_BYTES = 512 * 1024 * 1024
INVENTORY_ACCOUNT = re.compile(r"^accountid=(\d{12})$")  # folder names the InventoryPartitionsFunction accepts
INVENTORY_REGION = re.compile(r"^region=([a-z]{2}(?:-[a-z]+)+-\d{1,2})$")
SNAPSHOT_KEY = re.compile(
    r"^(?P<folder>(?:.*/)?AWSLogs/(?P<account>\d{12})/Config/(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)/"
    r"(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})/ConfigSnapshot/)[^/]+$"
)
_DUCK_PRIMITIVES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
}


# ---------------------------------------------------------------- Hive types
def parse_hive_type(text: str):
    """'array<struct<a:string,b:map<string,int>>>' -> ('array', ('struct', (('a', 'string'), ...)))."""
    pos = 0

    def ident():
        nonlocal pos
        match = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*)\s*").match(text, pos)
        if not match:
            raise ValueError(f"bad hive type {text!r} at {pos}")
        pos = match.end()
        return match.group(1)

    def expect(char):
        nonlocal pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text[pos : pos + 1] != char:
            raise ValueError(f"expected {char!r} in hive type {text!r} at {pos}")
        pos += 1

    def peek():
        p = pos
        while p < len(text) and text[p].isspace():
            p += 1
        return text[p : p + 1]

    def type_():
        name = ident().lower()
        if name == "array":
            expect("<")
            inner = type_()
            expect(">")
            return ("array", inner)
        if name == "map":
            expect("<")
            key = type_()
            expect(",")
            value = type_()
            expect(">")
            return ("map", key, value)
        if name == "struct":
            expect("<")
            fields = []
            while True:
                field = ident()
                expect(":")
                fields.append((field.lower(), type_()))
                if peek() == ",":
                    expect(",")
                    continue
                break
            expect(">")
            return ("struct", tuple(fields))
        if name not in _DUCK_PRIMITIVES:
            raise NotImplementedError(f"hive type {name!r} is not emulated")
        return name

    result = type_()
    if text[pos:].strip():
        raise ValueError(f"trailing text in hive type {text!r}")
    return result


def _structure(htype, mappings: dict[str, str]):
    """json_transform structure for a parsed hive type; struct keys are the JSON keys (mapping applied)."""
    if isinstance(htype, str):
        return _DUCK_PRIMITIVES[htype]
    if htype[0] == "array":
        return [_structure(htype[1], mappings)]
    if htype[0] == "map":
        return f"MAP({_duck_type(htype[1], mappings)}, {_duck_type(htype[2], mappings)})"
    return {mappings.get(name, name): _structure(sub, mappings) for name, sub in htype[1]}


def _duck_type(htype, mappings: dict[str, str]) -> str:
    if isinstance(htype, str):
        return _DUCK_PRIMITIVES[htype]
    if htype[0] == "array":
        return _duck_type(htype[1], mappings) + "[]"
    if htype[0] == "map":
        return f"MAP({_duck_type(htype[1], mappings)}, {_duck_type(htype[2], mappings)})"
    fields = ", ".join(f'"{mappings.get(n, n)}" {_duck_type(s, mappings)}' for n, s in htype[1])
    return f"STRUCT({fields})"


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- engine
@dataclass(frozen=True)
class Partition:
    values: tuple[str, ...]
    location: str


class LocalAthena:
    """DuckDB connection exposing Glue tables declared in a template over a local S3 mirror."""

    def __init__(
        self,
        tables: dict[str, TableDecl],
        buckets: dict[str, Path],
        workdir: Path | None = None,
        *,
        threads: int | None = None,
    ):
        self.tables = dict(tables)
        self.buckets = {name: Path(path) for name, path in buckets.items()}
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="local-athena-"))
        self.buckets.setdefault(RESULTS_BUCKET, self.workdir / RESULTS_BUCKET)
        config = {"threads": threads} if threads else {}
        self.con = duckdb.connect(config=config)
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        self.catalog_partitions: dict[str, list[Partition]] = {name: [] for name in self.tables}
        self.pruning_log: list[dict] = []
        self.today: date | None = None  # current_date of every query; None: the real date
        self._built = False

    # ------------------------------------------------------------ S3 <-> local
    def local_path(self, uri: str) -> Path:
        match = re.match(r"^s3://([^/]+)/?(.*)$", uri)
        if not match or match.group(1) not in self.buckets:
            raise ValueError(f"no local directory for {uri}")
        return self.buckets[match.group(1)] / match.group(2)

    def _objects(self, location: str) -> list[tuple[str, Path]]:
        """(s3 uri, local file) of every object below a location, Athena's hidden-file rule applied."""
        root = self.local_path(location)
        if not root.is_dir():
            return []
        base = location if location.endswith("/") else location + "/"
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
            rel = Path(dirpath).relative_to(root)
            for filename in sorted(filenames):
                if filename.startswith(("_", ".")):
                    continue
                key = (rel / filename).as_posix()
                found.append((base + (key[2:] if key.startswith("./") else key), Path(dirpath) / filename))
        return found

    # ------------------------------------------------------------ partitions
    def register_partition(self, table: str, values: dict[str, str], location: str) -> None:
        """glue:CreatePartition (ignored by Athena, and here, for tables with projection enabled)."""
        decl = self.tables[table]
        keys = [k for k, _ in decl.partition_keys]
        if set(values) != set(keys):
            raise ValueError(f"partition values {sorted(values)} do not match keys {keys}")
        partition = Partition(tuple(str(values[k]) for k in keys), location)
        if any(p.values == partition.values for p in self.catalog_partitions[table]):
            return  # AlreadyExistsException, swallowed as the partitioning function does
        self.catalog_partitions[table].append(partition)
        self._built = False

    def register_config_snapshots(self, table: str = "config_snapshot") -> int:
        """Register a partition for every ConfigSnapshot folder, as the PartitioningFunction does on S3 events.

        Values: accountid, region, dt = zero-padded YYYY-MM-DD; location: the real (unpadded) snapshot folder.
        """
        decl = self.tables[table]
        bucket = re.match(r"^s3://([^/]+)/", decl.location).group(1)
        root = self.buckets[bucket]
        count = 0
        for dirpath, _, filenames in os.walk(root):
            for filename in filenames:
                key = (Path(dirpath) / filename).relative_to(root).as_posix()
                match = SNAPSHOT_KEY.match(key)
                if not match:
                    continue
                dt = f"{int(match['year']):04d}-{int(match['month']):02d}-{int(match['day']):02d}"
                before = len(self.catalog_partitions[table])
                self.register_partition(
                    table,
                    {"accountid": match["account"], "region": match["region"], "dt": dt},
                    f"s3://{bucket}/{match['folder']}",
                )
                count += len(self.catalog_partitions[table]) - before
        return count

    def register_inventory_partitions(self) -> int:
        """Register the SSM inventory partitions as the InventoryPartitionsFunction does.

        The (account, region) pairs are the ``accountid=<12 digits>/region=<region>/`` folders below the anchor
        table's location that hold at least one object (S3 has no empty folders); other names and the objects
        beside them (the ``test.json`` probe) are skipped. Each pair gets a partition in every inventory table,
        at ``<table location>accountid=<a>/region=<r>/resourcetype=ManagedInstanceInventory/``.
        """
        names = [n for n in glue.INVENTORY_TABLE_NAMES.values() if n in self.tables]
        anchor = self.tables.get(glue.INVENTORY_TABLE_NAMES[glue.INVENTORY_ANCHOR_TYPE])
        if anchor is None:
            return 0
        root = self.local_path(anchor.location)
        pairs = []
        for account_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
            account = INVENTORY_ACCOUNT.match(account_dir.name)
            for region_dir in sorted(p for p in account_dir.iterdir() if p.is_dir()) if account else []:
                region = INVENTORY_REGION.match(region_dir.name)
                if region and any(f.is_file() for f in region_dir.rglob("*")):
                    pairs.append((account[1], region[1]))
        count = 0
        for name in names:
            base = self.tables[name].location.rstrip("/") + "/"
            for account, region in pairs:
                before = len(self.catalog_partitions[name])
                values = {"accountid": account, "region": region, "resourcetype": glue.INVENTORY_RESOURCE_TYPE}
                location = f"{base}accountid={account}/region={region}/resourcetype={glue.INVENTORY_RESOURCE_TYPE}/"
                self.register_partition(name, values, location)
                count += len(self.catalog_partitions[name]) - before
        return count

    def partitions(self, table: str) -> list[Partition]:
        """The partitions Athena would read: projected combinations, or the catalog's."""
        decl = self.tables[table]
        if not decl.partition_keys:
            return [Partition((), decl.location)]  # unpartitioned: the table location
        if not decl.projected:
            return list(self.catalog_partitions[table])
        keys = [k for k, _ in decl.partition_keys]
        domains = []
        for key in keys:
            kind = decl.parameters.get(f"projection.{key}.type")
            if kind != "enum":
                raise NotImplementedError(f"projection type {kind!r} of {table}.{key} is not emulated")
            domains.append([v.strip() for v in decl.parameters[f"projection.{key}.values"].split(",") if v.strip()])
        template = decl.parameters.get("storage.location.template")
        result = []
        for combo in itertools.product(*domains):
            if template:
                location = template
                for key, value in zip(keys, combo, strict=True):
                    location = location.replace("${" + key + "}", value)
            else:
                hive = "/".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
                location = decl.location.rstrip("/") + "/" + hive + "/"
            result.append(Partition(tuple(combo), location))
        return result

    # ------------------------------------------------------------ views of the tables
    def build(self) -> LocalAthena:
        mirror = self.workdir / "mirror"
        if mirror.exists():
            shutil.rmtree(mirror)
        for name, decl in self.tables.items():
            self._build_table(name, decl, mirror / name)
        self._built = True
        return self

    def _build_table(self, name: str, decl: TableDecl, mirror: Path) -> None:
        keys = [k for k, _ in decl.partition_keys]
        files = self._mirror(name, keys, mirror)
        if parquet_tables.is_parquet(decl):  # the history tables: tests/support/history.py
            sql = parquet_tables.reader_sql(self.con, decl, keys, files)
        else:
            parsed = [(col, parse_hive_type(htype)) for col, htype in decl.columns]
            if decl.case_insensitive and any(not isinstance(t, str) for _, t in parsed):
                raise NotImplementedError(f"{name}: complex columns in case-insensitive mode are not emulated")
            mappings = {} if decl.case_insensitive else decl.mappings
            sql = self._reader_sql(decl, parsed, keys, files) if files else self._empty_sql(parsed, keys, mappings)
        self.con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS {sql}")
        if keys:  # "<table>$partitions": the catalog's partitions (none for projected tables)
            rows = [] if decl.projected else self.catalog_partitions[name]
            values = ", ".join("(" + ", ".join(_sql_str(v) for v in p.values) + ")" for p in rows)
            names = ", ".join(_ident(k) for k in keys)
            body = (
                f"SELECT * FROM (VALUES {values}) AS v({names})"
                if rows
                else "SELECT " + ", ".join(f"CAST(NULL AS VARCHAR) AS {_ident(k)}" for k in keys) + " WHERE false"
            )
            self.con.execute(f"CREATE OR REPLACE VIEW {_ident(name + '$partitions')} AS {body}")

    def _mirror(self, name: str, keys: list[str], mirror: Path) -> list[str]:
        """Symlink every object of every partition into <mirror>/<key>=<value>/...; the link name encodes the URI."""
        files = []
        for partition in self.partitions(name):
            folder = mirror.joinpath(*(f"{k}={v}" for k, v in zip(keys, partition.values, strict=True)))
            for uri, local in self._objects(partition.location):
                folder.mkdir(parents=True, exist_ok=True)
                link = folder / quote(uri[len("s3://") :], safe="")
                if not link.exists():
                    link.symlink_to(local.resolve())
                files.append(str(link))
        return files

    @staticmethod
    def _reader_sql(decl: TableDecl, parsed, keys: list[str], files: list[str]) -> str:
        """Lines of the files -> OpenX SerDe emulation -> declared columns, partition keys and "$path"."""
        mappings = {} if decl.case_insensitive else decl.mappings
        # JSON key each column reads: the mapped key; lower-cased, like the keys of the line, if case-insensitive
        keyed = {
            col: decl.mappings.get(col, col).lower() if decl.case_insensitive else mappings.get(col, col)
            for col, _ in parsed
        }
        structure = json.dumps({keyed[col]: _structure(htype, mappings) for col, htype in parsed})
        line_json = "CASE WHEN ltrim(line) LIKE '{%' THEN CAST(line AS JSON) END"  # else a row of NULLs
        if decl.case_insensitive:  # lower-case the top-level keys; equal keys fail ("Map keys must be unique")
            line_json = (
                "CAST(map_from_entries(list_transform(json_keys(__j), lambda k: "
                "{'key': lower(k), 'value': json_extract(__j, '$.\"' || k || '\"')})) AS JSON)"
            ).replace("__j", f"({line_json})")
        hive_types = "{" + ", ".join(f"{_sql_str(k)}: 'VARCHAR'" for k in keys) + "}"
        reader = (
            f"read_csv([{', '.join(_sql_str(f) for f in files)}], columns = {{'line': 'VARCHAR'}}, "
            "delim = chr(1), quote = '', escape = '', header = false, auto_detect = false, "
            f"filename = true, max_line_size = {MAX_LINE_BYTES}, buffer_size = {READ_BUFFER_BYTES}"
            + (f", hive_partitioning = true, hive_types = {hive_types}" if keys else "")
            + ")"
        )
        select = ", ".join(
            [f"__row.{_ident(keyed[col])} AS {_ident(col)}" for col, _ in parsed]
            + [_ident(k) for k in keys]
            + ["'s3://' || url_decode(parse_filename(filename)) AS \"$path\""]
        )
        return (
            f"SELECT {select} FROM (SELECT *, json_transform({line_json}, {_sql_str(structure)}) AS __row "
            f"FROM {reader})"
        )

    @staticmethod
    def _empty_sql(parsed, keys: list[str], mappings: dict[str, str]) -> str:
        select = ", ".join(
            [f"CAST(NULL AS {_duck_type(htype, mappings)}) AS {_ident(col)}" for col, htype in parsed]
            + [f"CAST(NULL AS VARCHAR) AS {_ident(k)}" for k in keys]
            + ['CAST(NULL AS VARCHAR) AS "$path"']
        )
        return f"SELECT {select} WHERE false"

    # ------------------------------------------------------------ SQL
    def translate(self, sql: str) -> str:
        """Trino (Athena) SQL -> DuckDB SQL, with the documented rewrites and partition pruning."""
        if not self._built:
            self.build()
        tree = sqlglot.parse_one(sql, read="trino")
        if self.today is not None:
            for node in list(tree.find_all(exp.CurrentDate)):
                node.replace(exp.cast(exp.Literal.string(self.today.isoformat()), "DATE"))
        tree = _rewrite_unnest(tree)
        tree = self._prune_partitions(tree)
        return tree.sql(dialect="duckdb")

    def create_view(self, name: str, sql: str) -> None:
        """CREATE OR REPLACE VIEW "<name>" AS <sql> (the AthenaViews custom resource's statement)."""
        self.con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS {self.translate(sql)}")

    def query(self, sql: str, *, trino: bool = True) -> tuple[list[str], list[tuple]]:
        relation = self.con.sql(self.translate(sql) if trino else sql)
        return list(relation.columns), relation.fetchall()

    def profile(self, sql: str, *, trino: bool = True) -> dict:
        """Run once with DuckDB's JSON profiler; rows, files and bytes scanned, peak buffer memory, seconds."""
        start = time.perf_counter()
        translated = self.translate(sql) if trino else sql
        out = self.workdir / f"profile-{time.monotonic_ns()}.json"
        self.con.execute("PRAGMA enable_profiling = 'json'")
        self.con.execute(f"PRAGMA profiling_output = {_sql_str(str(out))}")
        try:
            rows = self.con.sql(translated).fetchall()
        finally:
            self.con.execute("PRAGMA disable_profiling")
        elapsed = time.perf_counter() - start
        profile = json.loads(out.read_text())
        out.unlink()
        scans = []

        def walk(node):
            info = node.get("extra_info") or {}
            if node.get("type") == "TABLE_SCAN" and info.get("Function") in ("READ_CSV", "READ_CSV_AUTO"):
                scans.append(
                    {
                        "rows": int(node.get("rows_scanned") or node.get("intermediate_rows") or 0),
                        "files": int(info.get("Total Files Read") or 0),
                        "bytes": int(node.get("bytes_scanned") or 0),
                    }
                )
            for child in node.get("children", []):
                walk(child)

        for node in profile.get("operator", []):
            walk(node)
        return {
            "seconds": elapsed,
            "result_rows": len(rows),
            "rows_scanned": sum(s["rows"] for s in scans),
            "files_read": sum(s["files"] for s in scans),
            "bytes_scanned": sum(s["bytes"] for s in scans),
            "peak_buffer_memory": int((profile.get("system") or {}).get("peak_buffer_memory") or 0),
        }

    def close(self) -> None:
        self.con.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------ dynamic partition pruning
    def _prune_partitions(self, tree: exp.Expression) -> exp.Expression:
        ctes = {cte.alias_or_name: cte for cte in tree.find_all(exp.CTE)}
        for select in list(tree.find_all(exp.Select)):
            from_ = select.args.get("from_") or select.args.get("from")
            if from_ is None:
                continue
            for join in select.args.get("joins") or []:
                if join.side or (join.kind or "INNER").upper() not in ("INNER", "") or not join.args.get("on"):
                    continue
                for probe, build in ((from_.this, join.this), (join.this, from_.this)):
                    self._prune_pair(probe, build, join.args["on"], ctes)
        return tree

    def _prune_pair(self, probe, build, on, ctes) -> None:
        if not isinstance(probe, exp.Table) or probe.name in ctes or probe.name not in self.tables:
            return
        decl = self.tables[probe.name]
        if decl.projected or not decl.partition_keys:
            return
        sources = _sources(build, ctes)
        if not sources or not all(s.endswith("$partitions") for s in sources):
            return
        keys = {k for k, _ in decl.partition_keys}
        probe_alias, build_alias = probe.alias_or_name, build.alias_or_name
        pairs = {}
        for cond in on.flatten() if isinstance(on, exp.And) else [on]:
            if not isinstance(cond, exp.EQ):
                continue
            left, right = cond.this, cond.expression
            for a, b in ((left, right), (right, left)):
                if (
                    isinstance(a, exp.Column)
                    and isinstance(b, exp.Column)
                    and a.table == probe_alias
                    and b.table == build_alias
                    and a.name in keys
                ):
                    pairs[a.name] = b.name
        if not pairs:
            return
        build_sql = _relation_sql(build, ctes)
        domains = {}
        for key, column in pairs.items():
            values = self.con.sql(f"SELECT DISTINCT {_ident(column)} FROM ({build_sql}) AS b").fetchall()
            domains[key] = sorted(str(v[0]) for v in values if v[0] is not None)
        predicate = " AND ".join(
            f"{_ident(k)} IN ({', '.join(_sql_str(v) for v in vals)})" if vals else "FALSE"
            for k, vals in sorted(domains.items())
        )
        pruned = sqlglot.parse_one(
            f"(SELECT * FROM {_ident(probe.name)} WHERE {predicate}) AS {_ident(probe_alias)}", read="duckdb"
        )
        probe.replace(pruned)
        self.pruning_log.append({"table": probe.name, "domains": domains})


def _sources(relation, ctes, seen=None) -> set[str]:
    """Base tables a relation (CTE reference or subquery) reads, CTEs resolved transitively."""
    seen = set() if seen is None else seen
    if isinstance(relation, exp.Table) and relation.name in ctes:
        if relation.name in seen:
            return set()
        seen.add(relation.name)
        return _sources(ctes[relation.name].this, ctes, seen)
    if isinstance(relation, exp.Table):
        return {relation.name}
    found = set()
    for table in relation.find_all(exp.Table):
        found |= _sources(table, ctes, seen) if table.name in ctes else {table.name}
    return found


def _relation_sql(relation, ctes) -> str:
    """Stand-alone DuckDB SQL of a CTE reference or subquery, with the CTEs it needs."""
    needed, order = set(), list(ctes)

    def collect(node):
        for table in node.find_all(exp.Table) if not isinstance(node, exp.Table) else [node]:
            if table.name in ctes and table.name not in needed:
                needed.add(table.name)
                collect(ctes[table.name].this)

    collect(relation)
    with_sql = ", ".join(
        f"{_ident(name)} AS ({ctes[name].this.sql(dialect='duckdb')})" for name in order if name in needed
    )
    if isinstance(relation, exp.Table):
        body = f"SELECT * FROM {_ident(relation.name)}"
    elif isinstance(relation, exp.Subquery):
        body = relation.this.sql(dialect="duckdb")
    else:
        raise TypeError(f"unsupported relation {type(relation).__name__}")
    return (f"WITH {with_sql} " if with_sql else "") + body


def _rewrite_unnest(tree: exp.Expression) -> exp.Expression:
    """UNNEST(map) AS t(k, v) and UNNEST(a, b) AS t(x, y) -> lateral (SELECT UNNEST(..) AS k, ..) AS t."""
    for unnest in list(tree.find_all(exp.Unnest)):
        alias = unnest.args.get("alias")
        columns = [c.name for c in alias.columns] if alias is not None else []
        args = unnest.expressions
        if unnest.args.get("offset") or not columns:
            continue
        if len(args) == 1 and len(columns) == 2:
            arg = args[0].sql(dialect="duckdb")
            items = [
                f"UNNEST(MAP_KEYS({arg})) AS {_ident(columns[0])}",
                f"UNNEST(MAP_VALUES({arg})) AS {_ident(columns[1])}",
            ]
        elif len(args) > 1 and len(args) == len(columns):
            items = [f"UNNEST({a.sql(dialect='duckdb')}) AS {_ident(c)}" for a, c in zip(args, columns, strict=True)]
        else:
            continue
        subquery = sqlglot.parse_one(f"(SELECT {', '.join(items)}) AS {_ident(alias.name)}", read="duckdb")
        unnest.replace(subquery)
    return tree


# ---------------------------------------------------------------- engine over a fixture
def open_engine(
    fixture: Fixture,
    template: dict | None = None,
    workdir: Path | None = None,
    *,
    views: tuple[str, ...] = VIEW_ORDER,
    threads: int | None = None,
    today: date | None = None,
) -> LocalAthena:
    """Engine over a fixture: tables from `template` (default: committed template, else built in-process),
    Config and SSM inventory partitions registered as the PartitioningFunction and InventoryPartitionsFunction
    would, the fixture's complete Config exports registered as the ConfigExportFunction does, views created in
    order (a view reading another, like configmic reading config_export_latest, needs that one in `views` too,
    before it), with the parameters' defaults; current_date is `today` (default: the fixture's last day)."""
    if template is None:
        template, _ = template_with_glue_tables()
    spec = fixture.spec
    values = bind_roles(
        template,
        config_bucket=spec.config_bucket,
        datasync_bucket=spec.datasync_bucket,
        datasync_prefix=spec.datasync_prefix,
        account_ids=list(spec.projection_accounts),
        regions=list(spec.regions),
    )
    engine = LocalAthena(glue_tables(template, values), fixture.buckets, workdir, threads=threads)
    engine.register_config_snapshots()
    engine.register_inventory_partitions()
    for export_id, location in fixture.exports.partitions if fixture.exports else ():
        engine.register_partition(EXPORT_TABLE_NAME, {EXPORT_PARTITION_KEY: export_id}, location)
    engine.build()
    engine.today = today or spec.end
    defaults = parameter_defaults()
    for name in views:
        engine.create_view(name, deployed_view_sql(name, defaults))
    return engine
