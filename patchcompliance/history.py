"""Daily history (central): the stack keeps one copy per UTC day of the compliance and missing-patch views, so
trends and patch ages can be read from Athena.

EventBridge schedule (daily, 00:15 UTC) -> HistoryFunction (functions/history): per day, Athena UNLOAD of each
history table's view into s3://<ConfigBucket>/history/<table>/dt=<YYYY-MM-DD>/run=<run id>/ (Snappy Parquet),
then the table's Glue partition dt=<day> is created or switched to that run folder, then the day's older run
folders are deleted. The first run, and every later one, also fills the days that have no partition yet from
that day's latest Config export (compliance table only; the columns SSM provides are NULL there). Failed
invocations are retried twice, then parked in the dead-letter queue.

Tables (Parquet SerDe, partition key dt string):

| table | columns | rows per day |
|---|---|---|
| `compliance_history` | the output columns of view `instance_compliance`, same order | one per node |
| `patch_history` | the output columns of view `patch`, same order | one per node x MISSING or FAILED patch |

Each column is cast to the declared type in the UNLOAD's SELECT, so the Parquet files match the table whatever
type the view's expression has.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import awacs.athena
import awacs.glue
import awacs.s3 as s3
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Ref, Sub, Template
from troposphere.awslambda import Function
from troposphere.events import Rule
from troposphere.glue import Column, SerdeInfo, StorageDescriptor, Table
from troposphere.iam import Role
from troposphere.logs import LogGroup
from troposphere.sqs import Queue

from . import constants as c
from . import policies
from .athena import RESULTS_PREFIX, glue_arns, run_queries_statement
from .conditions import HAS_KMS
from .config_export import EXPORT_PARTITION_KEY
from .events import (
    add_async_invoke_config,
    add_dead_letter_queue,
    add_retrying_target,
    allow_rule_to_invoke,
    allow_rule_to_queue,
)
from .glue import external_table
from .lambdas import add_function

SCHEDULE = "cron(15 0 * * ? *)"  # daily 00:15 UTC: records the day that just ended
TIMEOUT = 900  # s; no day starts in the last 150 s, running queries are stopped 45 s before the end
MEMORY = 256  # MB; the function only sends queries and Glue/S3 calls
PARTITION_KEY = "dt"  # YYYY-MM-DD (UTC)
# Athena Parquet SerDe (Amazon Athena User Guide, "Parquet SerDe") and the Hive Parquet formats.
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PATCH_STATES = ("MISSING", "FAILED")  # the patch rows kept in patch_history

# (column, Glue type) in the views' output order (docs/DESIGN.md, view contract).
COMPLIANCE_COLUMNS = (
    ("account_id", "string"),
    ("region", "string"),
    ("instance_id", "string"),
    ("instance_name", "string"),
    ("instance_state", "string"),
    ("platform_type", "string"),
    ("platform_name", "string"),
    ("platform_version", "string"),
    ("agent_version", "string"),
    ("last_inventory_time", "timestamp"),
    ("managed_status", "string"),
    ("managed_status_source", "string"),
    ("patch_compliance_status", "string"),
    ("missing_count", "int"),
    ("failed_count", "int"),
    ("installed_pending_reboot_count", "int"),
    ("installed_count", "int"),
    ("critical_noncompliant_count", "int"),
    ("security_noncompliant_count", "int"),
    ("installed_rejected_count", "int"),
    ("available_security_update_count", "int"),
    ("kernel_version", "string"),
    ("data_age_days", "int"),
    ("stale_reason", "string"),
    ("exempt_until", "date"),
    ("exemption_expired", "boolean"),
    ("compliance_state", "string"),
)
PATCH_COLUMNS = (
    ("account_id", "string"),
    ("region", "string"),
    ("instance_id", "string"),
    ("patch_id", "string"),
    ("title", "string"),
    ("classification", "string"),
    ("severity", "string"),
    ("patch_severity", "string"),
    ("patch_state", "string"),
    ("status", "string"),
    ("patch_group", "string"),
    ("baseline_id", "string"),
    ("installed_time", "timestamp"),
    ("execution_time", "timestamp"),
    ("capture_time", "timestamp"),
    ("cve_ids", "string"),
)

ENVIRONMENT_SKIP = {
    "id": "CKV_AWS_173",
    "comment": "Environment holds the workgroup, Glue database and table names, the views each table copies and "
    "the retention in days, no secrets; encrypted at rest.",
}


@dataclass(frozen=True)
class HistoryTable:
    """One history table: what it copies (view, row filter) and whether missing days are filled from exports."""

    name: str
    logical_id: str
    view: str
    columns: tuple[tuple[str, str], ...]
    description: str
    where: str = ""  # Trino condition on the view's columns
    backfill: bool = False


HISTORY_TABLES = (
    HistoryTable(
        c.COMPLIANCE_HISTORY_TABLE_NAME,
        c.COMPLIANCE_HISTORY_TABLE,
        "instance_compliance",
        COMPLIANCE_COLUMNS,
        "Daily copy of instance_compliance, one partition dt per UTC day; days recorded before the history existed "
        "come from that day's Config export",
        backfill=True,
    ),
    HistoryTable(
        c.PATCH_HISTORY_TABLE_NAME,
        c.PATCH_HISTORY_TABLE,
        "patch",
        PATCH_COLUMNS,
        "Daily copy of the missing and failed patches of view patch, one partition dt per UTC day",
        where='upper("patch_state") IN (' + ", ".join(f"'{s}'" for s in PATCH_STATES) + ")",
    ),
)


@dataclass(frozen=True)
class History:
    function: Function
    role: Role
    log_group: LogGroup
    tables: dict[str, Table]  # table name -> Table
    rule: Rule
    dead_letter_queue: Queue


def history_prefix(table: str) -> str:
    """Key prefix of a history table in the Config bucket: history/<table>/."""
    return f"{c.HISTORY_PREFIX}/{table}/"


def add_history_tables(template: Template, database, bucket) -> dict[str, Table]:
    """The two Parquet tables (no partitions: the function registers them). `bucket`: the Config bucket.
    Add them before the views, which read them (the views custom resource must depend on them)."""
    tables = {}
    for spec in HISTORY_TABLES:
        tables[spec.name] = template.add_resource(
            external_table(
                spec.logical_id,
                database,
                name=spec.name,
                description=spec.description,
                parameters={"classification": "parquet", "parquet.compression": "SNAPPY"},
                partition_keys=[Column(Name=PARTITION_KEY, Type="string")],
                storage=StorageDescriptor(
                    Location=Sub(f"s3://${{Bucket}}/{history_prefix(spec.name)}", Bucket=Ref(bucket)),
                    Columns=[Column(Name=name, Type=type_) for name, type_ in spec.columns],
                    InputFormat=PARQUET_INPUT_FORMAT,
                    OutputFormat=PARQUET_OUTPUT_FORMAT,
                    SerdeInfo=SerdeInfo(SerializationLibrary=PARQUET_SERDE),
                    Compressed=True,
                ),
            )
        )
    return tables


def views_read(views, names) -> list[str]:
    """The views `names` and every view they read, transitively, from the views resource's {Name, Sql} list."""
    sql = {v["Name"]: v["Sql"] for v in views.properties["Views"]}
    found, todo = [], list(names)
    while todo:
        name = todo.pop(0)
        if name in found:
            continue
        if name not in sql:
            raise ValueError(f"view {name} is not created by {views.title}")
        found.append(name)
        todo += [other for other in sql if other not in found and _mentions(sql[name], other)]
    return found


def tables_read(views, view_names, tables) -> list[Table]:
    """Those of `tables` that the SQL of `view_names` mentions."""
    sql = {v["Name"]: v["Sql"] for v in views.properties["Views"]}
    return [t for t in tables if any(_mentions(sql[v], t.TableInput.Name) for v in view_names)]


def _mentions(sql: str, name: str) -> bool:
    """`sql` names `name` outside comments (also as in "<name>$partitions")."""
    code = re.sub(r"--[^\n]*", "", sql)
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w])", code) is not None


def table_specs_json() -> str:
    """The TABLES environment variable: what each table copies."""
    specs = [{"name": t.name, "view": t.view, "where": t.where, "backfill": t.backfill} for t in HISTORY_TABLES]
    return json.dumps(specs, separators=(",", ":"))


def add_history(
    template: Template,
    *,
    tables: dict[str, Table],
    workgroup,
    database,
    bucket,
    results_bucket,
    views,
    log_retention,
    kms_key,
    export_table: Table,
    source_tables: list[Table],
    datasync_bucket,
    datasync_prefix,
    retention,
) -> History:
    """Add the function, its role, the daily schedule and the dead-letter queue.

    `tables`: from add_history_tables. `workgroup`: the Athena workgroup (its result location receives each
    UNLOAD's metadata and manifest). `bucket`: the Config bucket (history and Config export); `results_bucket`:
    the Athena results bucket. `views`: the views custom resource; the function may read the views each table
    copies and the views and `source_tables` (Glue tables) those read. `export_table`: the Config export table
    (backfill). `datasync_bucket` / `datasync_prefix`: where the inventory tables read. `retention`: the
    HistoryRetentionDays parameter (days of exports the backfill may use). `kms_key`: the KmsKeyArn parameter.
    """
    read_views = views_read(views, [spec.view for spec in HISTORY_TABLES])
    read_tables = [t for t in tables_read(views, read_views, source_tables) if t is not export_table]
    catalog, db = glue_arns(database)[:2]
    history_arns = [glue_arns(database, table)[2] for table in tables.values()]
    statements = [
        run_queries_statement(workgroup),
        Statement(  # what Athena reads to run the views, and the export days (GetPartitions on the export table)
            Effect=Allow,
            Action=[
                awacs.glue.GetDatabase,
                awacs.glue.GetTable,
                awacs.glue.GetPartition,
                awacs.glue.GetPartitions,
                awacs.glue.BatchGetPartition,
            ],
            Resource=[
                catalog,
                db,
                *(glue_arns(database, name)[2] for name in read_views),
                *(glue_arns(database, table)[2] for table in [export_table, *read_tables]),
            ],
        ),
        Statement(
            Effect=Allow,
            Action=[
                awacs.glue.GetTable,
                awacs.glue.GetPartition,
                awacs.glue.GetPartitions,
                awacs.glue.CreatePartition,
                awacs.glue.UpdatePartition,
                awacs.glue.DeletePartition,  # only to undo a day half switched
            ],
            Resource=[catalog, db, *history_arns],
        ),
        Statement(
            Effect=Allow,
            Action=[s3.ListBucket, s3.GetBucketLocation],
            Resource=[policies.bucket_arn(b) for b in (bucket, datasync_bucket, results_bucket)],
        ),
        Statement(
            Effect=Allow,
            Action=[s3.GetObject],
            Resource=[
                policies.objects_arn(bucket, f"{c.CONFIG_EXPORT_PREFIX}/*"),
                Sub("${Bucket}/${Prefix}/*", Bucket=GetAtt(datasync_bucket, "Arn"), Prefix=Ref(datasync_prefix)),
            ],
        ),
        Statement(  # the run folders: UNLOAD writes them, the function deletes the replaced and failed ones
            Effect=Allow,
            Action=[s3.PutObject, s3.GetObject, s3.DeleteObject, s3.AbortMultipartUpload, s3.ListMultipartUploadParts],
            Resource=[policies.objects_arn(bucket, f"{c.HISTORY_PREFIX}/*")],
        ),
        Statement(  # the workgroup's result location: each UNLOAD's metadata and manifest files
            Effect=Allow,
            Action=[s3.PutObject, s3.GetObject, s3.AbortMultipartUpload, s3.ListMultipartUploadParts],
            Resource=[policies.objects_arn(results_bucket, f"{RESULTS_PREFIX}*")],
        ),
    ]
    HAS_KMS.use(template)
    dlq = add_dead_letter_queue(template, c.HISTORY_DLQ)
    fn = add_function(
        template,
        c.HISTORY_FUNCTION,
        role_id=c.HISTORY_ROLE,
        description="Records the compliance and missing-patch views as Parquet history, one partition per day",
        statements=statements,
        log_retention=log_retention,
        timeout=TIMEOUT,
        memory=MEMORY,
        dead_letter_queue=dlq,
        extra_policies=[policies.conditional_policy(HAS_KMS, "bucket-key", policies.kms_via_s3_statement(kms_key))],
        environment={
            "WORKGROUP": Ref(workgroup),
            "GLUE_DATABASE": Ref(database),
            "TABLES": table_specs_json(),
            "EXPORT_TABLE": Ref(export_table),
            "EXPORT_KEY": EXPORT_PARTITION_KEY,
            "RETENTION_DAYS": Ref(retention),
        },
        metadata={"skip": [ENVIRONMENT_SKIP]},
    )
    add_async_invoke_config(template, fn)
    rule = template.add_resource(
        Rule(
            c.HISTORY_SCHEDULE,
            DependsOn=[views.title],
            Description="Records yesterday's compliance and missing patches in the history tables",
            ScheduleExpression=SCHEDULE,
            State="ENABLED",
            Targets=[add_retrying_target(fn, dlq, "history")],
        )
    )
    allow_rule_to_queue(template, c.HISTORY_DLQ_POLICY, dlq, rule)
    allow_rule_to_invoke(template, c.HISTORY_SCHEDULE_PERMISSION, fn, rule)
    return History(fn.function, fn.role, fn.log_group, tables, rule, dlq)
