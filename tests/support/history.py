"""Test support for the history tables (patchcompliance/history.py, functions/history/index.py).

* **Parquet tables in the local engine.** :func:`is_parquet` / :func:`reader_sql` are what tests/support/engine.py
  uses for a table whose SerDe is the Parquet SerDe: the files of every catalog partition (mirrored like the text
  tables' objects) read with DuckDB's Parquet reader, columns matched by name as Athena reads Parquet, a column no
  file has read as NULL, every value cast to the declared type, partition keys from the catalog and ``"$path"``.
* **Days written as the function leaves them.** :func:`write_day` writes rows of one table and day as one Snappy
  Parquet file in a run folder ``<location>dt=<day>/run=<run id>/`` of the engine's bucket directory and points
  the catalog partition ``dt=<day>`` at it (replacing an earlier one). :func:`record_views_day` writes what the
  function's own SELECT returns from the views on this engine (the SQL text comes from functions/history).
* **Athena for the function under test.** :class:`UnloadAthena` answers StartQueryExecution,
  GetQueryExecution and StopQueryExecution of a boto3 client: an ``UNLOAD (<select>) TO '<s3 uri>' WITH (format
  = 'PARQUET', compression = 'SNAPPY')`` runs its SELECT on the engine and writes the rows as Snappy Parquet below
  the TO location in S3 (moto); like Athena, it fails when that location already holds an object. Queries walk
  through ``steps`` (QUEUED, RUNNING) before their end state; a query may be made to fail (optionally after
  writing a part, as Athena leaves orphaned data) or to hang until stopped.
* **The views as the stack creates them.** :func:`create_views` creates, in order, the views of the AthenaViews
  custom resource of a template, their SQL resolved with the template's parameter defaults (what CloudFormation
  would send with the default parameters).
"""

from __future__ import annotations

import functools
import re
import tempfile
import uuid
from pathlib import Path

import duckdb

from patchcompliance import constants as c
from patchcompliance.history import HISTORY_TABLES, PARQUET_SERDE, PARTITION_KEY

from .catalog import Resolver
from .functions import Hooks, http_error, load_function, source_code

DUCK_TYPES = {
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
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
UNLOAD = re.compile(r"^UNLOAD \((?P<select>.*)\) TO '(?P<uri>s3://[^']+)' WITH \((?P<props>[^()]*)\)$", re.S)
PROPERTY = re.compile(r"(\w+)\s*=\s*'([^']*)'")
S3_URI = re.compile(r"^s3://([^/]+)/(.*)$")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def duck_type(hive_type: str) -> str:
    try:
        return DUCK_TYPES[hive_type.strip().lower()]
    except KeyError:
        raise NotImplementedError(f"hive type {hive_type!r} is not emulated for Parquet tables") from None


# ---------------------------------------------------------------- engine: Parquet tables
def is_parquet(decl) -> bool:
    return decl.serde == PARQUET_SERDE


def reader_sql(con: duckdb.DuckDBPyConnection, decl, keys: list[str], files: list[str]) -> str:
    """SELECT of the declared columns, the partition keys and "$path" over the mirrored Parquet files."""
    columns = [(name, duck_type(htype)) for name, htype in decl.columns]
    if not files:
        select = ", ".join(
            [f"CAST(NULL AS {t}) AS {_ident(n)}" for n, t in columns]
            + [f"CAST(NULL AS VARCHAR) AS {_ident(k)}" for k in keys]
            + ['CAST(NULL AS VARCHAR) AS "$path"']
        )
        return f"SELECT {select} WHERE false"
    hive_types = "{" + ", ".join(f"{_sql_str(k)}: 'VARCHAR'" for k in keys) + "}"
    source = (
        f"read_parquet([{', '.join(_sql_str(f) for f in files)}], union_by_name = true, filename = true"
        + (f", hive_partitioning = true, hive_types = {hive_types}" if keys else "")
        + ")"
    )
    present = {name.lower(): name for name in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}
    select = ", ".join(
        [
            f"CAST({_ident(present[n.lower()])} AS {t}) AS {_ident(n)}"
            if n.lower() in present
            else f"CAST(NULL AS {t}) AS {_ident(n)}"
            for n, t in columns
        ]
        + [_ident(k) for k in keys]
        + ["'s3://' || url_decode(parse_filename(filename)) AS \"$path\""]
    )
    return f"SELECT {select} FROM {source}"


# ---------------------------------------------------------------- the function's SQL
@functools.cache
def function_module():
    """functions/history/index.py as a module (the text the generator inlines verbatim)."""
    return load_function("history", code=source_code("history"))


def table_of(decl, spec):
    """The function's own Table object for a declared history table and its HistoryTable spec."""
    found = {
        "PartitionKeys": [{"Name": k, "Type": t} for k, t in decl.partition_keys],
        "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in decl.columns], "Location": decl.location},
    }
    spec_json = {"name": spec.name, "view": spec.view, "where": spec.where, "backfill": spec.backfill}
    return function_module().Table(spec_json, found)


def history_select(decl, spec) -> str:
    """The SELECT the function unloads for this table from its view (Trino)."""
    return function_module().view_select(table_of(decl, spec))


def run_id(source: str = "views", stamp: str = "20250101T001500Z") -> str:
    return f"{stamp}-{uuid.uuid4().hex[:8]}-{source}"


# ---------------------------------------------------------------- writing days into the engine's tree
def write_parquet(path: Path, columns: list[tuple[str, str]], rows: list) -> None:
    """Rows (dicts by column name, missing keys NULL, or tuples in column order) as one Snappy Parquet file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        defs = ", ".join(f"{_ident(n)} {duck_type(t)}" for n, t in columns)
        con.execute(f"CREATE TABLE t ({defs})")
        names = [n for n, _ in columns]
        values = [tuple(r.get(n) for n in names) if isinstance(r, dict) else tuple(r) for r in rows]
        if values:
            con.executemany(f"INSERT INTO t VALUES ({', '.join('?' for _ in names)})", values)
        con.execute(f"COPY t TO {_sql_str(str(path))} (FORMAT PARQUET, COMPRESSION SNAPPY)")
    finally:
        con.close()


def write_day(engine, table: str, day: str, rows: list, run: str | None = None) -> str:
    """Write one day of a history table in the engine's tree and point partition dt=<day> at it; returns the
    partition location (s3:// URI of the run folder)."""
    decl = engine.tables[table]
    run = run or run_id()
    location = f"{decl.location.rstrip('/')}/{PARTITION_KEY}={day}/run={run}/"
    write_parquet(engine.local_path(location) / "part-00000.snappy.parquet", list(decl.columns), rows)
    partitions = engine.catalog_partitions[table]
    partitions[:] = [p for p in partitions if p.values != (day,)]
    engine.register_partition(table, {PARTITION_KEY: day}, location)
    engine.build()
    return location


def record_views_day(engine, day: str, run: str | None = None) -> dict[str, int]:
    """Record `day` in every history table from the engine's views with the function's SELECT; rows per table."""
    counts = {}
    for spec in HISTORY_TABLES:
        decl = engine.tables[spec.name]
        _, rows = engine.query(history_select(decl, spec))
        write_day(engine, spec.name, day, rows, run)
        counts[spec.name] = len(rows)
    return counts


# ---------------------------------------------------------------- views as the stack creates them
def create_views(engine, template: dict) -> list[str]:
    """Create the AthenaViews custom resource's views, in its order, with the template's parameter defaults."""
    values = {name: p.get("Default", "") for name, p in template.get("Parameters", {}).items()}
    resolve = Resolver(values)
    names = []
    for view in template["Resources"][c.ATHENA_VIEWS]["Properties"]["Views"]:
        engine.create_view(view["Name"], resolve(view["Sql"]))
        names.append(view["Name"])
    return names


# ---------------------------------------------------------------- Athena UNLOAD on the engine
class UnloadAthena:
    """Athena for a function that runs UNLOAD queries (see the module docstring)."""

    def __init__(self, engine, s3, *, steps=("QUEUED", "RUNNING")):
        self.engine, self.s3, self.steps = engine, s3, tuple(steps)
        self.executions: dict[str, dict] = {}
        self.failures: list[tuple[str, str, bool]] = []
        self.hanging: list[str] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="unload-"))

    def attach(self, client) -> Hooks:
        hooks = Hooks(client)
        hooks.respond("StartQueryExecution", self.start)
        hooks.respond("GetQueryExecution", self.get)
        hooks.respond("StopQueryExecution", self.stop)
        return hooks

    def fail_with(self, text: str, reason: str, *, after_writing: bool = False) -> None:
        """Queries whose SQL contains `text` fail with `reason` (after writing their first part, if asked)."""
        self.failures.append((text, reason, after_writing))

    def hang(self, text: str) -> None:
        """Queries whose SQL contains `text` stay RUNNING until stopped."""
        self.hanging.append(text)

    @property
    def queries(self) -> list[str]:
        return [e["sql"] for e in self.executions.values()]

    def _objects(self, uri: str) -> int:
        bucket, prefix = S3_URI.match(uri).groups()
        return self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0)

    def _write(self, qid: str, select: str, uri: str) -> int:
        """Run the SELECT on the engine and put the rows as Snappy Parquet below uri; the number of rows."""
        relation = self.engine.con.sql(self.engine.translate(select))
        path = self.workdir / f"{qid}.parquet"
        relation.write_parquet(str(path), compression="snappy")
        rows = len(relation.fetchall())
        bucket, prefix = S3_URI.match(uri).groups()
        self.s3.put_object(Bucket=bucket, Key=f"{prefix}{qid}_{uuid.uuid4()}", Body=path.read_bytes())
        return rows

    def start(self, params: dict) -> dict:
        qid = str(uuid.uuid4())
        sql = params["QueryString"]
        execution = {"sql": sql, "polls": 0, "final": "SUCCEEDED", "reason": "", "rows": None,
                     "workgroup": params.get("WorkGroup"), "hanging": any(t in sql for t in self.hanging)}  # fmt: skip
        self.executions[qid] = execution
        match = UNLOAD.match(sql)
        props = {k.lower(): v for k, v in PROPERTY.findall(match["props"])} if match else {}
        failure = next((f for f in self.failures if f[0] in sql), None)
        if not match or props.get("format", "").upper() != "PARQUET":
            execution.update(final="FAILED", reason="only UNLOAD ... WITH (format = 'PARQUET') is emulated")
        elif self._objects(match["uri"]):
            execution.update(
                final="FAILED",
                reason=f"HIVE_PATH_ALREADY_EXISTS: Target directory for UNLOAD already exists: {match['uri']}",
            )
        elif failure is not None:
            if failure[2]:
                self._write(qid, match["select"], match["uri"])
            execution.update(final="FAILED", reason=failure[1])
        else:
            try:
                execution["rows"] = self._write(qid, match["select"], match["uri"])
            except duckdb.Error as err:
                execution.update(final="FAILED", reason=f"GENERIC_INTERNAL_ERROR: {err}")
        return {"QueryExecutionId": qid}

    def get(self, params: dict) -> dict:
        execution = self.executions.get(params["QueryExecutionId"])
        if execution is None:
            return http_error("InvalidRequestException", "QueryExecution not found")
        if execution["hanging"]:
            state = "RUNNING"
        elif execution["polls"] < len(self.steps):
            state = self.steps[execution["polls"]]
        else:
            state = execution["final"]
        execution["polls"] += 1
        status = {"State": state}
        if state == "FAILED":
            status["StateChangeReason"] = execution["reason"]
        return {"QueryExecution": {"QueryExecutionId": params["QueryExecutionId"], "Status": status}}

    def stop(self, params: dict) -> dict:
        execution = self.executions.get(params["QueryExecutionId"])
        if execution is None:
            return http_error("InvalidRequestException", "QueryExecution not found")
        execution.update(hanging=False, final="CANCELLED", polls=len(self.steps), stopped=True)
        return {}
