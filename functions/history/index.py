"""Daily history of the patch compliance views: per UTC day, one Parquet copy of a view per history table, written
by Athena UNLOAD into a new run folder, then published by pointing the table's Glue partition dt=<day> at it.

Invoked by an EventBridge schedule shortly after midnight UTC, or by hand:
* a Scheduled Event records day D = the event's UTC date minus one day (a retried event records the same day),
  then backfills;
* {"days": ["YYYY-MM-DD", ...], "backfill": false} records those days (malformed or future days are logged and
  skipped); "backfill" defaults to false there and to true for any other event.

Where a day's rows come from:
* "views": today and yesterday (UTC), from the views (TABLES: table -> view, optional row filter). The views hold
  the current state, so a day is recorded from them only while they can still describe it. It replaces an
  earlier record of the day. Skipped while no Config export exists (the views would be empty).
* "export": an older day, compliance table only, from that day's latest registered Config export (BACKFILL_SQL:
  the columns Config knows, every other column NULL), and only a day before the first day recorded from the
  views: a day the job missed after that stays missing in both tables. It only fills a day that has no partition
  yet, never replaces one. The backfill fills every such day, newest first, for which an export exists within
  the retention window (RETENTION_DAYS minus 2 days, so an export the lifecycle rule is deleting is never read).

One day is one unit: the UNLOAD of each of its tables into
s3://<table location>dt=<day>/run=<YYYYMMDDTHHMMSSZ>-<8 hex>-<source>/ (a new, empty folder: UNLOAD writes only
to an empty location), then, once every query of the unit succeeded, the switch of each table's partition
(glue:CreatePartition; glue:UpdatePartition when it exists, with the table's StorageDescriptor from one
glue:GetTable), then the deletion of the day's older run folders. Readers see the previous run until the switch;
a failed or stopped query leaves every partition of the day as it was and its run folder is deleted; a failed
switch restores the tables already switched. A partition that already points at a newer run (a concurrent
invocation) is left alone. Queries are polled with back-off; no unit starts in the last START_MARGIN_S seconds,
and running queries are stopped STOP_MARGIN_S seconds before the Lambda deadline (their days are left as they
were). Backfill days left over are recorded by the next run. A failed unit, or a requested day not recorded in
time, fails the invocation (retries, then the dead-letter queue). Each run logs one JSON summary line.

Environment: WORKGROUP, GLUE_DATABASE, TABLES (JSON list of {"name", "view", "where", "backfill"}), EXPORT_TABLE,
EXPORT_KEY (its partition key), RETENTION_DAYS.
"""

import datetime
import json
import logging
import os
import re
import secrets
import time

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EXPORT_ID_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})T\d{6}Z$")
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}-(?:views|export)$")
RUN_FOLDER_RE = re.compile(r"^run=([^/]+)/$")
S3_URI_RE = re.compile(r"^s3://([^/]+)/(.*)$")
# Glue (Hive) column type -> Athena (Trino) type of the CAST that makes each Parquet column match the table.
SQL_TYPES = {"string": "varchar", "varchar": "varchar", "int": "integer", "integer": "integer", "bigint": "bigint",
             "smallint": "smallint", "tinyint": "tinyint", "double": "double", "float": "real",
             "boolean": "boolean", "date": "date", "timestamp": "timestamp"}  # fmt: skip
EXPORT_INSTANCE_ROWS = "instance_rows"  # partition parameter of a Config export: its number of EC2 instance rows
MAX_RUNNING = 4  # Athena queries in flight at once
START_MARGIN_S = 150.0  # start no unit with less time left
STOP_MARGIN_S = 45.0  # stop the running queries with less time left
SWITCH_MARGIN_S = 20.0  # switch no partition with less time left
POLL_FIRST_S = 1.0
POLL_MAX_S = 8.0
PAGE_SIZE = 1000  # ListObjectsV2 MaxKeys and GetPartitions MaxResults maximum; DeleteObjects takes 1,000 keys
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
ACTIONS = {"ListObjectsV2": "s3:ListBucket", "DeleteObjects": "s3:DeleteObject"}  # where not service:operation
DENIED = re.compile(r"access ?denied|not authorized|AccessDenied", re.I)
_sleep = time.sleep
_clients = {}

# Columns of the compliance history a Config export can tell for a past day; every other column is NULL there.
BACKFILL_COLUMNS = ("account_id", "region", "instance_id", "instance_name", "instance_state", "platform_type",
                    "platform_name", "managed_status", "managed_status_source", "patch_compliance_status",
                    "compliance_state")  # fmt: skip
# The EC2 instances of one export and the managed nodes (mi-) with a patch rule result in it, with the Config rule
# results as the views read them (contains-match on the rule names, the worst of several results wins).
# compliance_state, first match wins: TERMINATED, STOPPED, UNMANAGED (managed-by-SSM rule NON_COMPLIANT),
# NON_COMPLIANT / COMPLIANT (patch rule), NO_PATCH_DATA.
BACKFILL_SQL = """WITH items AS (
    SELECT
        account_id,
        region,
        instance_id,
        kind = 'instance' AS is_instance,
        CASE
            WHEN kind = 'instance' THEN coalesce(
                element_at(transform(filter(tags, t -> t.key = 'Name'), t -> t.value), 1),
                element_at(transform(filter(tags, t -> t.key = 'name'), t -> t.value), 1)
            )
        END AS name_tag,
        CASE WHEN kind = 'instance' THEN instance_state END AS state,
        CASE WHEN kind = 'instance' THEN platform_details END AS platform,
        CASE
            WHEN kind = 'rules' AND resource_type = 'AWS::EC2::Instance' THEN transform(
                filter(rules, r -> r.rule_name LIKE '%ec2-instance-managed-by-systems-manager%'),
                r -> r.compliance_type
            )
        END AS managed_results,
        CASE
            WHEN kind = 'rules' AND resource_type = 'AWS::SSM::PatchCompliance' THEN transform(
                filter(rules, r -> r.rule_name LIKE '%ec2-managedinstance-patch-compliance-status-check%'),
                r -> r.compliance_type
            )
        END AS patch_results
    FROM {export_table}
    WHERE {export_key} = '{export_id}'
),
nodes AS (
    SELECT
        account_id,
        region,
        instance_id,
        count_if(is_instance) > 0 AS is_instance,
        max(name_tag) AS instance_name,
        max(state) AS instance_state,
        max(platform) AS platform,
        max(
            CASE
                WHEN contains(managed_results, 'NON_COMPLIANT') THEN 4
                WHEN contains(managed_results, 'COMPLIANT') THEN 3
                WHEN contains(managed_results, 'INSUFFICIENT_DATA') THEN 2
                WHEN contains(managed_results, 'NOT_APPLICABLE') THEN 1
            END
        ) AS managed_rank,
        max(
            CASE
                WHEN contains(patch_results, 'NON_COMPLIANT') THEN 4
                WHEN contains(patch_results, 'COMPLIANT') THEN 3
                WHEN contains(patch_results, 'INSUFFICIENT_DATA') THEN 2
                WHEN contains(patch_results, 'NOT_APPLICABLE') THEN 1
            END
        ) AS patch_rank
    FROM items
    GROUP BY account_id, region, instance_id
)
SELECT
    account_id,
    region,
    instance_id,
    instance_name,
    instance_state,
    CASE
        WHEN lower(platform) LIKE '%windows%' THEN 'Windows'
        WHEN lower(platform) LIKE 'mac%' THEN 'MacOS'
        WHEN platform IS NOT NULL THEN 'Linux'
    END AS platform_type,
    platform AS platform_name,
    CASE managed_rank
        WHEN 4 THEN 'NON_COMPLIANT'
        WHEN 3 THEN 'COMPLIANT'
        WHEN 2 THEN 'INSUFFICIENT_DATA'
        WHEN 1 THEN 'NOT_APPLICABLE'
    END AS managed_status,
    CASE WHEN managed_rank IS NOT NULL THEN 'CONFIG_RULE' END AS managed_status_source,
    CASE patch_rank
        WHEN 4 THEN 'NON_COMPLIANT'
        WHEN 3 THEN 'COMPLIANT'
        WHEN 2 THEN 'INSUFFICIENT_DATA'
        WHEN 1 THEN 'NOT_APPLICABLE'
    END AS patch_compliance_status,
    CASE
        WHEN instance_state IN ('terminated', 'shutting-down') THEN 'TERMINATED'
        WHEN instance_state IN ('stopped', 'stopping') THEN 'STOPPED'
        WHEN managed_rank = 4 THEN 'UNMANAGED'
        WHEN patch_rank = 4 THEN 'NON_COMPLIANT'
        WHEN patch_rank = 3 THEN 'COMPLIANT'
        ELSE 'NO_PATCH_DATA'
    END AS compliance_state
FROM nodes
WHERE is_instance OR (instance_id LIKE 'mi-%' AND patch_rank IS NOT NULL)"""


class Failure(Exception):
    """A call or a query failed; `code` is the AWS error code, if any."""

    def __init__(self, message, code=""):
        super().__init__(message)
        self.code = code


def _client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name, config=CONFIG)
    return _clients[name]


def _now():
    return datetime.datetime.now(datetime.UTC)


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def _cast(expression, hive_type, column):
    sql_type = SQL_TYPES.get(hive_type.strip().lower())
    if sql_type is None:
        raise Failure(f"column {column} has type {hive_type}, which the history does not support")
    return f"CAST({expression} AS {sql_type})"


def unload_sql(select, uri):
    """The UNLOAD statement writing `select` as Snappy Parquet below `uri` (which must be empty)."""
    return f"UNLOAD ({select}) TO {_literal(uri)} WITH (format = 'PARQUET', compression = 'SNAPPY')"


def view_select(table):
    """SELECT of the table's columns, each cast to the table's type, from its view (and row filter)."""
    items = ", ".join(f"{_cast(_quote(n), t, n)} AS {_quote(n)}" for n, t in table.columns)
    sql = f"SELECT {items} FROM {_quote(table.view)}"
    return f"{sql} WHERE {table.where}" if table.where else sql


def export_select(table, export_table, export_key, export_id):
    """SELECT of the table's columns from one Config export: BACKFILL_COLUMNS, every other column NULL."""
    if not EXPORT_ID_RE.match(export_id):
        raise Failure(f"not an export ID: {export_id!r}")
    inner = BACKFILL_SQL.format(export_table=_quote(export_table), export_key=_quote(export_key), export_id=export_id)
    items = ", ".join(
        f"{_cast('b.' + _quote(n) if n in BACKFILL_COLUMNS else 'NULL', t, n)} AS {_quote(n)}" for n, t in table.columns
    )
    return f"SELECT {items} FROM ({inner}) AS b"


def export_day(export_id):
    match = EXPORT_ID_RE.match(export_id)
    return f"{match[1]}-{match[2]}-{match[3]}" if match else None


def parse_day(text):
    """A YYYY-MM-DD string as a date, or None."""
    if not isinstance(text, str) or not DAY_RE.match(text):
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------- tables, units


class Table:
    """A history table as Glue declares it: columns, location, StorageDescriptor for its partitions."""

    def __init__(self, spec, found):
        self.name = spec["name"]
        self.view = spec["view"]
        self.where = spec.get("where") or ""
        self.backfill = bool(spec.get("backfill"))
        keys = [k.get("Name", "").lower() for k in found.get("PartitionKeys") or []]
        if keys != ["dt"]:
            raise Failure(f"table {self.name} has partition keys {keys}, not dt")
        descriptor = dict(found["StorageDescriptor"])
        self.columns = [(c["Name"], c["Type"]) for c in descriptor.get("Columns") or []]
        match = S3_URI_RE.match(descriptor.get("Location") or "")
        if not self.columns or not match:
            raise Failure(f"table {self.name} has no columns or no s3:// location")
        self.bucket = match[1]
        self.prefix = match[2].rstrip("/") + "/" if match[2].strip("/") else ""
        self.descriptor = descriptor

    def day_folder(self, day):
        return f"{self.prefix}dt={day}/"

    def run_folder(self, day, run_id):
        return f"{self.day_folder(day)}run={run_id}/"


class Job:
    """One table of one day: its UNLOAD query."""

    def __init__(self, table, sql):
        self.table, self.sql = table, sql
        self.query_id, self.state, self.reason = None, "PENDING", ""
        self.objects, self.bytes = 0, 0


class Unit:
    """One day: the jobs of its tables, published together or not at all."""

    def __init__(self, day, source, run_id, requested, export_id=None):
        self.day, self.source, self.run_id, self.requested, self.export_id = day, source, run_id, requested, export_id
        self.jobs = []
        self.outcome, self.error = "pending", None

    def uri(self, table):
        return f"s3://{table.bucket}/{table.run_folder(self.day, self.run_id)}"

    def report(self):
        line = {"day": self.day, "source": self.source, "run": self.run_id, "outcome": self.outcome}
        if self.export_id:
            line["export_id"] = self.export_id
        line["tables"] = {
            j.table.name: {"query": j.query_id, "state": j.state, "objects": j.objects, "bytes": j.bytes}
            for j in self.jobs
        }
        if self.error:
            line["error"] = self.error
        return line


# --------------------------------------------------------------------------- the run


class Run:
    def __init__(self, env, context):
        self.workgroup = env["WORKGROUP"]
        self.database = env["GLUE_DATABASE"]
        self.specs = json.loads(env["TABLES"])
        self.export_table = env["EXPORT_TABLE"]
        self.export_key = env["EXPORT_KEY"]
        self.retention = int(env["RETENTION_DAYS"])
        self.context = context
        self.now = _now()
        self.today = self.now.date()
        self.calls = {}
        self.tables = {}
        self.units = []
        self.skipped = []
        self.backfill = {"candidates": 0, "recorded": [], "deferred": 0, "failed": 0}

    # ------------------------------------------------------------ AWS calls, counted
    def call(self, service, operation, target, **params):
        self.calls[operation] = self.calls.get(operation, 0) + 1
        try:
            return getattr(_client(service), xform_name(operation))(**params)
        except ClientError as err:
            error = err.response.get("Error", {})
            code, message = error.get("Code", "?"), error.get("Message", "")
            hint = ""
            if code in ("AccessDenied", "AccessDeniedException"):
                action = ACTIONS.get(operation, f"{service}:{operation}")
                hint = f" (the function's role must allow {action} on {target})"
            raise Failure(f"{service}:{operation} on {target} failed: {code}: {message}{hint}", code) from err
        except BotoCoreError as err:
            raise Failure(f"{service}:{operation} on {target} failed: {err}") from err

    def remaining(self):
        remaining = getattr(self.context, "get_remaining_time_in_millis", None)
        return remaining() / 1000 if callable(remaining) else 900.0

    def partitions(self, table, expression=None):
        """Every partition of `table` (Values, Parameters, StorageDescriptor.Location), paged."""
        params = {"DatabaseName": self.database, "TableName": table, "MaxResults": PAGE_SIZE,
                  "ExcludeColumnSchema": True}  # fmt: skip
        if expression:
            params["Expression"] = expression
        while True:
            page = self.call("glue", "GetPartitions", f"{self.database}.{table}", **params)
            yield from page.get("Partitions") or []
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]

    def get_partition(self, table, day):
        try:
            return self.call(
                "glue", "GetPartition", f"{self.database}.{table.name}", DatabaseName=self.database,
                TableName=table.name, PartitionValues=[day],
            )["Partition"]  # fmt: skip
        except Failure as err:
            if err.code == "EntityNotFoundException":
                return None
            raise

    # ------------------------------------------------------------ S3
    def list_folder(self, bucket, prefix, delimiter=False):
        """Keys and sizes below prefix (delimiter: the names of the folders directly below it instead)."""
        params = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": PAGE_SIZE}
        if delimiter:
            params["Delimiter"] = "/"
        while True:
            page = self.call("s3", "ListObjectsV2", f"s3://{bucket}/{prefix}", **params)
            if delimiter:
                for common in page.get("CommonPrefixes") or []:
                    yield common["Prefix"][len(prefix) :], 0
            else:
                for obj in page.get("Contents") or []:
                    yield obj["Key"], obj.get("Size", 0)
            if not page.get("IsTruncated"):
                return
            params["ContinuationToken"] = page["NextContinuationToken"]

    def delete_folder(self, bucket, prefix):
        keys = [key for key, _ in self.list_folder(bucket, prefix)]
        for start in range(0, len(keys), PAGE_SIZE):
            chunk = [{"Key": key} for key in keys[start : start + PAGE_SIZE]]
            answer = self.call(
                "s3", "DeleteObjects", f"s3://{bucket}/{prefix}", Bucket=bucket,
                Delete={"Objects": chunk, "Quiet": True},
            )  # fmt: skip
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                hint = (
                    " (the function's role must allow s3:DeleteObject)" if first.get("Code") == "AccessDenied" else ""
                )
                raise Failure(
                    f"s3:DeleteObjects on s3://{bucket}/{prefix}: {len(errors)} objects not deleted, e.g. "
                    f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}{hint}",
                    first.get("Code", ""),
                )
        return len(keys)

    def discard(self, unit):
        """Best effort: delete the unit's run folders (Athena leaves what a failed query wrote)."""
        for job in unit.jobs:
            try:
                self.delete_folder(job.table.bucket, job.table.run_folder(unit.day, unit.run_id))
            except Failure as err:
                LOG.error("Could not delete run folder of %s day %s: %s", job.table.name, unit.day, err)

    # ------------------------------------------------------------ planning
    def load_tables(self):
        for spec in self.specs:
            found = self.call(
                "glue", "GetTable", f"{self.database}.{spec['name']}", DatabaseName=self.database, Name=spec["name"]
            )["Table"]
            self.tables[spec["name"]] = Table(spec, found)

    def run_id(self, source):
        return f"{_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}-{source}"

    def latest_exports(self):
        """{day: export_id} of the latest export of each day with EC2 instances, since the listing window."""
        start = self.today - datetime.timedelta(days=max(self.retention, 2))
        expression = f"{self.export_key} >= '{start:%Y%m%d}T000000Z'"
        latest = {}
        for partition in self.partitions(self.export_table, expression):
            values, parameters = partition.get("Values") or [], partition.get("Parameters") or {}
            export_id = values[0] if len(values) == 1 else ""
            day = export_day(export_id)
            if day is None:
                LOG.warning("Ignored export partition %s: not a YYYYMMDDTHHMMSSZ export ID", values)
                continue
            if parameters.get(EXPORT_INSTANCE_ROWS) == "0":
                LOG.warning("Ignored export %s: it holds no EC2 instance", export_id)
                continue
            latest[day] = max(latest.get(day, ""), export_id)
        return latest

    def plan(self, requested, backfill):
        """Units: the requested days from the views, then export days, newest first (see the module docstring)."""
        exports = self.latest_exports()
        anchor = next((t for t in self.tables.values() if t.backfill), None)
        recorded = {}  # day -> source, of the backfill table
        for partition in self.partitions(anchor.name) if anchor is not None else ():
            values = partition.get("Values") or []
            if len(values) == 1:
                recorded[values[0]] = _source_of(partition)
        yesterday = self.today - datetime.timedelta(days=1)
        units, export_days = [], []
        for day in sorted(set(requested), reverse=True):
            if day < yesterday:
                export_days.append((day.isoformat(), True))
            elif not exports:
                self.skip(day, "no Config export yet: the views are empty")
            else:
                units.append(self.unit(day.isoformat(), "views", requested=True))
        # Days after the first day recorded from the views are never filled from exports: a day the job missed
        # stays missing in both tables, as the views reading the history expect.
        first_views = min([d for d, s in recorded.items() if s == "views"] + [yesterday.isoformat()])
        if backfill:
            start = self.today - datetime.timedelta(days=self.retention - 2)
            window = [d for d in exports if start.isoformat() <= d < first_views]
            export_days += [(d, False) for d in window if d not in recorded]
        seen = set()
        for day, is_requested in sorted(export_days, reverse=True):
            if day in seen:
                continue
            seen.add(day)
            if anchor is None:
                self.skip(day, "no history table takes days from the Config export")
            elif day in recorded:
                self.skip(day, "already recorded; an export never replaces a recorded day")
            elif day >= first_views:
                self.skip(
                    day, f"after {first_views}, the first day recorded from the views: a missed day stays missing"
                )
            elif day not in exports:
                self.skip(day, "no Config export of that day")
            else:
                if not is_requested:
                    self.backfill["candidates"] += 1
                units.append(self.unit(day, "export", requested=is_requested, export_id=exports[day], table=anchor))
        return units

    def unit(self, day, source, requested, export_id=None, table=None):
        unit = Unit(day, source, self.run_id(source), requested, export_id)
        for t in [table] if table is not None else self.tables.values():
            if source == "views":
                select = view_select(t)
            else:
                select = export_select(t, self.export_table, self.export_key, export_id)
            unit.jobs.append(Job(t, unload_sql(select, unit.uri(t))))
        return unit

    def skip(self, day, reason):
        LOG.warning("Skipped day %s: %s", day, reason)
        self.skipped.append({"day": str(day), "reason": reason})

    # ------------------------------------------------------------ queries
    def start(self, unit):
        for job in unit.jobs:
            answer = self.call(
                "athena", "StartQueryExecution", f"workgroup {self.workgroup}", QueryString=job.sql,
                QueryExecutionContext={"Database": self.database}, WorkGroup=self.workgroup,
            )  # fmt: skip
            job.query_id, job.state = answer["QueryExecutionId"], "QUEUED"
        unit.outcome = "running"

    def poll(self, unit):
        """Update the unit's queries; True once none is running (a failed one stops the others)."""
        try:
            for job in unit.jobs:
                if job.query_id is None or job.state in TERMINAL:
                    continue
                status = self.call(
                    "athena", "GetQueryExecution", f"workgroup {self.workgroup}", QueryExecutionId=job.query_id
                )["QueryExecution"]["Status"]
                job.state, job.reason = status.get("State", job.state), status.get("StateChangeReason", "")
        except Failure as err:
            unit.error = str(err)
        if unit.error or any(j.state in ("FAILED", "CANCELLED") for j in unit.jobs):
            self.stop(unit)
            return True
        return all(j.state == "SUCCEEDED" for j in unit.jobs)

    def stop(self, unit):
        for job in unit.jobs:
            if job.query_id is not None and job.state not in TERMINAL:
                try:
                    self.call(
                        "athena", "StopQueryExecution", f"workgroup {self.workgroup}", QueryExecutionId=job.query_id
                    )
                    job.state = "CANCELLED"
                except Failure as err:
                    LOG.error("Could not stop query %s: %s", job.query_id, err)

    def execute(self, units):
        pending, running = list(units), []
        delay = POLL_FIRST_S
        while pending or running:
            while pending and sum(len(u.jobs) for u in running) + len(pending[0].jobs) <= MAX_RUNNING:
                if self.remaining() < START_MARGIN_S:
                    break
                unit = pending.pop(0)
                try:
                    self.start(unit)
                except Failure as err:
                    self.stop(unit)
                    self.fail(unit, str(err))
                    continue
                running.append(unit)
            if not running:
                break  # nothing left, or no time to start anything
            wait = min(delay, self.remaining() - STOP_MARGIN_S)
            if wait > 0:
                _sleep(wait)
            finished = [u for u in running if self.poll(u)]
            for unit in finished:
                running.remove(unit)
                self.finish(unit)
            delay = POLL_FIRST_S if finished else min(delay * 2, POLL_MAX_S)
            if running and self.remaining() <= STOP_MARGIN_S:
                for unit in running:
                    self.stop(unit)
                    self.give_up(unit)
                running = []
        for unit in pending:
            self.give_up(unit, started=False)

    # ------------------------------------------------------------ outcomes
    def fail(self, unit, error):
        unit.outcome, unit.error = "failed", error
        LOG.error("Day %s (%s) not recorded: %s", unit.day, unit.source, error)
        self.discard(unit)

    def give_up(self, unit, started=True):
        """Deadline: the day stays as it was; a backfill day is left to the next run."""
        unit.outcome = "deadline" if unit.requested else "deferred"
        if started:
            self.discard(unit)

    def finish(self, unit):
        if unit.error:
            self.fail(unit, unit.error)
            return
        failed = [j for j in unit.jobs if j.state != "SUCCEEDED"]
        if failed:
            job = failed[0]
            reason = job.reason or job.state
            hint = ""
            if DENIED.search(reason):
                hint = (
                    f" (the function's role must allow reading the view {job.table.view}, the tables and objects "
                    f"under it, and writing below {unit.uri(job.table)})"
                )
            self.fail(unit, f"query {job.query_id} for {job.table.name} day {unit.day} {job.state}: {reason}{hint}")
            return
        try:
            self.publish(unit)
        except Failure as err:  # before any switch: nothing of the day changed
            self.fail(unit, str(err))

    def publish(self, unit):
        if self.remaining() < SWITCH_MARGIN_S:
            self.give_up(unit)
            return
        for job in unit.jobs:
            listed = list(self.list_folder(job.table.bucket, job.table.run_folder(unit.day, unit.run_id)))
            job.objects, job.bytes = len(listed), sum(size for _, size in listed)
        previous = {job.table.name: self.get_partition(job.table, unit.day) for job in unit.jobs}
        for job in unit.jobs:
            current = previous[job.table.name]
            current_run = _run_of(current)
            if current is not None and unit.source == "export":
                unit.outcome = "exists"
                break
            if current_run is not None and current_run > unit.run_id:
                unit.outcome = "superseded"
                break
        if unit.outcome in ("exists", "superseded"):
            LOG.warning("Day %s not switched (%s); its run folders are deleted", unit.day, unit.outcome)
            self.discard(unit)
            return
        switched = []
        try:
            for job in unit.jobs:
                self.switch(job, unit, previous[job.table.name])
                switched.append(job)
        except Failure as err:
            if self.restore(unit, switched, previous):
                self.fail(unit, str(err))
            else:  # the restored partitions may point at the new run folders: keep them
                unit.outcome, unit.error = "failed", f"{err}; day {unit.day} is half switched, re-run it"
            return
        unit.outcome = "recorded"
        if unit.source == "export" and not unit.requested:
            self.backfill["recorded"].append(unit.day)
        try:
            for job in unit.jobs:
                self.delete_older_runs(job.table, unit)
        except Failure as err:  # the day is published; only older copies are left behind
            unit.error = f"recorded, but older run folders not deleted: {err}"
            LOG.error("Day %s: %s", unit.day, unit.error)

    def switch(self, job, unit, current):
        parameters = {"history_source": unit.source, "history_run": unit.run_id}
        if unit.export_id:
            parameters["history_export_id"] = unit.export_id
        descriptor = dict(job.table.descriptor, Location=unit.uri(job.table))
        partition = {"Values": [unit.day], "StorageDescriptor": descriptor, "Parameters": parameters}
        target = f"{self.database}.{job.table.name}"
        if current is None:
            try:
                self.call(
                    "glue", "CreatePartition", target, DatabaseName=self.database, TableName=job.table.name,
                    PartitionInput=partition,
                )  # fmt: skip
                return
            except Failure as err:
                if err.code != "AlreadyExistsException":
                    raise
        self.call(
            "glue", "UpdatePartition", target, DatabaseName=self.database, TableName=job.table.name,
            PartitionValueList=[unit.day], PartitionInput=partition,
        )  # fmt: skip

    def restore(self, unit, switched, previous):
        """A later switch failed: put the partitions already switched back as they were; False if one failed."""
        restored_all = True
        for job in switched:
            before = previous[job.table.name]
            target = f"{self.database}.{job.table.name}"
            try:
                if before is None:
                    self.call(
                        "glue", "DeletePartition", target, DatabaseName=self.database, TableName=job.table.name,
                        PartitionValues=[unit.day],
                    )  # fmt: skip
                else:
                    restored = {k: before[k] for k in ("Values", "StorageDescriptor", "Parameters") if k in before}
                    self.call(
                        "glue", "UpdatePartition", target, DatabaseName=self.database, TableName=job.table.name,
                        PartitionValueList=[unit.day], PartitionInput=restored,
                    )  # fmt: skip
            except Failure as err:
                restored_all = False
                LOG.error("Day %s is half switched: %s could not be restored: %s", unit.day, target, err)
        return restored_all

    def delete_older_runs(self, table, unit):
        """Delete the day's run folders older than the one just published (never a newer one)."""
        folder = table.day_folder(unit.day)
        for name, _ in self.list_folder(table.bucket, folder, delimiter=True):
            match = RUN_FOLDER_RE.match(name)
            if not match or not RUN_ID_RE.match(match[1]):
                LOG.warning("Left s3://%s/%s%s alone: not a run folder", table.bucket, folder, name)
                continue
            if match[1] < unit.run_id:
                self.delete_folder(table.bucket, folder + name)

    # ------------------------------------------------------------ summary
    def summary(self, outcome, error=None):
        line = {
            "outcome": outcome,
            "today": self.today.isoformat(),
            "days": [u.report() for u in self.units if u.requested or u.outcome not in ("recorded", "deferred")],
            "skipped": self.skipped,
            "backfill": dict(self.backfill, recorded=sorted(self.backfill["recorded"])),
            "calls": dict(sorted(self.calls.items())),
        }
        if error:
            line["error"] = error
        return line


def _source_of(partition):
    """Where a recorded day came from: its history_source parameter, else its run folder's suffix."""
    source = (partition.get("Parameters") or {}).get("history_source")
    if source:
        return source
    run = _run_of(partition)
    return run.rsplit("-", 1)[1] if run else None


def _run_of(partition):
    """The run ID a partition's location points at, or None."""
    if not partition:
        return None
    location = (partition.get("StorageDescriptor") or {}).get("Location") or ""
    match = re.search(r"/run=([^/]+)/?$", location)
    return match[1] if match and RUN_ID_RE.match(match[1]) else None


def requested_days(event, today):
    """(days to record, backfill?) from the event; malformed and future days are logged and skipped."""
    event = event if isinstance(event, dict) else {}
    if "days" in event:
        raw = event["days"] if isinstance(event["days"], list) else [event["days"]]
        days = []
        for text in raw:
            day = parse_day(text)
            if day is None or day > today:
                LOG.warning("Skipped requested day %.40r: not a YYYY-MM-DD date up to today (UTC)", text)
                continue
            days.append(day)
        return days, event.get("backfill") is True
    moment = None
    if event.get("detail-type") == "Scheduled Event" and isinstance(event.get("time"), str):
        try:
            moment = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        except ValueError:
            LOG.warning("Ignored unparsable event time %.100r", event["time"])
    day = (moment.astimezone(datetime.UTC).date() if moment else today) - datetime.timedelta(days=1)
    return [min(day, today)], event.get("backfill") is not False


def handler(event, context):
    run, outcome, error = None, "failed", None
    try:
        run = Run(os.environ, context)
        days, backfill = requested_days(event, run.today)
        run.load_tables()
        run.units = run.plan(days, backfill)
        run.execute(run.units)
        run.backfill["deferred"] = sum(1 for u in run.units if u.outcome == "deferred")
        run.backfill["failed"] = sum(1 for u in run.units if not u.requested and u.outcome == "failed")
        bad = [u for u in run.units if u.outcome in ("failed", "deadline") or u.error]
        if bad:
            error = "; ".join(f"{u.day} ({u.source}): {u.error or 'not recorded before the deadline'}" for u in bad)
            raise Failure(f"{len(bad)} day(s) not recorded: {error}")
        outcome = "incomplete" if run.backfill["deferred"] else "complete"
        return run.summary(outcome)
    except Exception as err:  # logged with the summary, then the invocation fails (retries, dead-letter queue)
        error = str(err) if isinstance(err, Failure) else f"{type(err).__name__}: {err}"
        LOG.error("%s", error)
        raise
    finally:
        line = run.summary(outcome, error) if run else {"outcome": outcome, "error": error}
        LOG.info("%s", json.dumps(line, sort_keys=True, default=str))
