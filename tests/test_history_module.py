"""patchcompliance.history as wired in the central template (built in-process): the two Parquet tables and their
contract with the views, the function's environment, schedule, retries and dead-letter queue, and its IAM (what
it may read follows the views' SQL; it writes only the history)."""

from __future__ import annotations

import functools
import json
import re

import pytest
import sqlglot
from sqlglot import exp

from patchcompliance import constants as c
from patchcompliance import history as h
from patchcompliance.config_export import EXPORT_PARTITION_KEY, EXPORT_TABLE_NAME
from patchcompliance.render import function_source, to_yaml
from tests.support.functions import load_function, source_code
from tests.support.quicksight import view_columns
from tests.support.templates import parse_template

TABLE_ARN = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${Database}/${Table}"


@functools.cache
def built() -> dict:
    from patchcompliance.central import build_central

    return parse_template(to_yaml(build_central()), "in-process central template")


@functools.cache
def function():
    return load_function("history", code=source_code("history"))


def resources() -> dict:
    return built()["Resources"]


def grants() -> dict[str, list]:
    """action -> resources granted to HistoryRole (both branches of the conditional KMS policy)."""
    found = {}
    for policy in resources()[c.HISTORY_ROLE]["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                found.setdefault(action, []).extend(statement["Resource"])
    return found


def table_name(arn) -> str | None:
    """The table a Glue table ARN names: a literal, or the name of the Glue table resource it refers to."""
    if not (isinstance(arn, dict) and "Fn::Sub" in arn and arn["Fn::Sub"][0] == TABLE_ARN):
        return None
    table = arn["Fn::Sub"][1]["Table"]
    return table if isinstance(table, str) else resources()[table["Ref"]]["Properties"]["TableInput"]["Name"]


# --------------------------------------------------------------------------- the tables and the views
@pytest.mark.parametrize("spec", h.HISTORY_TABLES, ids=lambda s: s.name)
def test_each_history_table_has_exactly_its_views_columns(spec):
    assert [name for name, _ in spec.columns] == view_columns(spec.view)


def test_the_contract_names_and_views():
    assert {(s.name, s.view, s.backfill) for s in h.HISTORY_TABLES} == {
        ("compliance_history", "instance_compliance", True),
        ("patch_history", "patch", False),
    }
    patch = next(s for s in h.HISTORY_TABLES if s.name == c.PATCH_HISTORY_TABLE_NAME)
    condition = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {patch.where}", read="trino").args["where"].this
    assert isinstance(condition, exp.In) and condition.this.sql() == 'UPPER("patch_state")'
    assert {e.name for e in condition.expressions} == {"MISSING", "FAILED"}


@pytest.mark.parametrize("spec", h.HISTORY_TABLES, ids=lambda s: s.name)
def test_tables_are_parquet_partitioned_by_day_below_history(spec):
    table = resources()[spec.logical_id]["Properties"]["TableInput"]
    sd = table["StorageDescriptor"]
    assert table["Name"] == spec.name and table["TableType"] == "EXTERNAL_TABLE"
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert sd["Columns"] == [{"Name": n, "Type": t} for n, t in spec.columns]
    assert sd["SerdeInfo"] == {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert sd["Location"] == {
        "Fn::Sub": [f"s3://${{Bucket}}/history/{spec.name}/", {"Bucket": {"Ref": c.CONFIG_BUCKET}}]
    }
    assert table["Parameters"]["classification"] == "parquet"


def test_every_declared_type_is_one_the_function_casts_to():
    for spec in h.HISTORY_TABLES:
        for name, type_ in spec.columns:
            assert type_ in function().SQL_TYPES, f"{spec.name}.{name}: {type_}"


def test_the_views_wait_for_the_history_tables():
    depends = resources()[c.ATHENA_VIEWS]["DependsOn"]
    assert {c.COMPLIANCE_HISTORY_TABLE, c.PATCH_HISTORY_TABLE} <= set(depends)


def test_history_lives_where_the_lifecycle_rule_and_the_readers_expect_it():
    assert h.history_prefix("x") == f"{c.HISTORY_PREFIX}/x/"
    objects = [r["Fn::Sub"][0] for r in grants()["s3:DeleteObject"]]
    assert objects == [f"${{Bucket}}/{c.HISTORY_PREFIX}/*"]


# --------------------------------------------------------------------------- the function
def test_environment_holds_names_only_and_fits_4_kb():
    fn = resources()[c.HISTORY_FUNCTION]["Properties"]
    env = fn["Environment"]["Variables"]
    assert env == {
        "WORKGROUP": {"Ref": c.ATHENA_WORKGROUP},
        "GLUE_DATABASE": {"Ref": "AthenaDatabase"},
        "TABLES": h.table_specs_json(),
        "EXPORT_TABLE": {"Ref": "ConfigExportTable"},
        "EXPORT_KEY": EXPORT_PARTITION_KEY,
        "RETENTION_DAYS": {"Ref": "HistoryRetentionDays"},
    }
    specs = json.loads(env["TABLES"])
    assert [(s["name"], s["view"], s["where"], s["backfill"]) for s in specs] == [
        (t.name, t.view, t.where, t.backfill) for t in h.HISTORY_TABLES
    ]
    resolved = {**env, "WORKGROUP": "x" * 128, "GLUE_DATABASE": "x" * 255, "EXPORT_TABLE": EXPORT_TABLE_NAME}
    resolved["RETENTION_DAYS"] = "3650"
    assert sum(len(k) + len(v) for k, v in resolved.items()) < 4096  # Lambda: 4 KB for all variables
    assert fn["Code"]["ZipFile"] == function_source("history")
    assert (fn["Timeout"], fn["MemorySize"], fn["Runtime"]) == (h.TIMEOUT, h.MEMORY, "python3.13")


def test_daily_schedule_with_retries_and_dead_letter_queue():
    res = resources()
    rule = res[c.HISTORY_SCHEDULE]
    assert rule["Properties"]["ScheduleExpression"] == h.SCHEDULE == "cron(15 0 * * ? *)"
    # EventBridge cron: six fields (minutes hours day-of-month month day-of-week year), one of the days '?'
    fields = re.fullmatch(r"cron\((.*)\)", h.SCHEDULE)[1].split()
    assert len(fields) == 6 and "?" in (fields[2], fields[4])
    assert rule["DependsOn"] == [c.ATHENA_VIEWS]
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [c.HISTORY_FUNCTION, "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [c.HISTORY_DLQ, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}
    fn = res[c.HISTORY_FUNCTION]["Properties"]
    assert fn["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [c.HISTORY_DLQ, "Arn"]}
    configs = [r for r in res.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert {"FunctionName": {"Ref": c.HISTORY_FUNCTION}, "MaximumRetryAttempts": 2}.items() <= {
        k: v for cfg in configs if cfg["Properties"]["FunctionName"] == {"Ref": c.HISTORY_FUNCTION}
        for k, v in cfg["Properties"].items()
    }.items()  # fmt: skip
    assert res[c.HISTORY_SCHEDULE_PERMISSION]["Properties"]["SourceArn"] == {"Fn::GetAtt": [c.HISTORY_SCHEDULE, "Arn"]}
    assert c.HISTORY_DLQ_POLICY in res


def test_the_function_knows_the_export_partition_parameter_and_key():
    """ConfigExportFunction writes the partition parameter <kind>_rows; the backfill skips exports whose
    instance count is 0."""
    export_source = source_code("config_export")
    assert 'f"{kind}_rows"' in export_source and '"instance"' in export_source
    assert function().EXPORT_INSTANCE_ROWS == "instance_rows"


def test_backfill_sql_selects_known_columns_of_the_compliance_history():
    module = function()
    sql = module.BACKFILL_SQL.format(export_table='"config_export"', export_key='"export_id"', export_id="X")
    selected = [s.alias_or_name for s in sqlglot.parse_one(sql, read="trino").selects]
    assert selected == list(module.BACKFILL_COLUMNS)
    assert set(selected) <= {n for n, _ in h.COMPLIANCE_COLUMNS}
    assert module.BACKFILL_COLUMNS[-1] == "compliance_state"


def test_unload_statement_is_parquet_snappy_into_the_run_folder():
    module = function()
    spec = next(s for s in h.HISTORY_TABLES if s.name == c.PATCH_HISTORY_TABLE_NAME)
    table = module.Table(
        {"name": spec.name, "view": spec.view, "where": spec.where},
        {"PartitionKeys": [{"Name": "dt"}], "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in spec.columns],
            "Location": "s3://bucket/history/patch_history/",
        }},
    )  # fmt: skip
    sql = module.unload_sql(module.view_select(table), "s3://bucket/history/patch_history/dt=2025-01-01/run=r/")
    tree = sqlglot.parse_one(sql.split(" TO ")[0].removeprefix("UNLOAD (").removesuffix(")"), read="trino")
    assert [s.alias_or_name for s in tree.selects] == [n for n, _ in spec.columns]
    assert all(isinstance(s.this, exp.Cast) for s in tree.selects)
    assert sql.endswith(
        "TO 's3://bucket/history/patch_history/dt=2025-01-01/run=r/' WITH (format = 'PARQUET', compression = 'SNAPPY')"
    )


# --------------------------------------------------------------------------- IAM
def test_no_wildcard_action_and_no_unscoped_resource():
    for action, targets in grants().items():
        assert "*" not in action
        assert "*" not in targets, action


def test_athena_only_in_the_workgroup():
    athena = {a: r for a, r in grants().items() if a.startswith("athena:")}
    assert set(athena) == {"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"}
    for targets in athena.values():
        [arn] = targets
        assert arn["Fn::Sub"][0].endswith(":workgroup/${WorkGroup}")
        assert arn["Fn::Sub"][1] == {"WorkGroup": {"Ref": c.ATHENA_WORKGROUP}}


def test_glue_writes_only_the_history_partitions():
    history = {c.COMPLIANCE_HISTORY_TABLE_NAME, c.PATCH_HISTORY_TABLE_NAME}
    for action in ("glue:CreatePartition", "glue:UpdatePartition", "glue:DeletePartition"):
        tables = {table_name(arn) for arn in grants()[action]} - {None}
        assert tables == history, action
    assert not [a for a in grants() if a.startswith("glue:") and re.search(r"Table$|Database$|Batch(Create|Delete)", a)
                and a not in ("glue:GetTable", "glue:GetDatabase")]  # fmt: skip


def sql_tables(sql: str) -> set[str]:
    return {t.name.split("$")[0] for t in sqlglot.parse_one(sql, read="trino").find_all(exp.Table)}


def test_glue_reads_follow_the_views_the_history_copies():
    """GetTable is granted on exactly the views the two copied views read (transitively) and the Glue tables
    under them, derived independently here from the SQL with sqlglot."""
    views = {v["Name"]: v["Sql"] for v in resources()[c.ATHENA_VIEWS]["Properties"]["Views"]}
    text = {name: sql if isinstance(sql, str) else sql["Fn::Sub"][0] for name, sql in views.items()}
    needed, todo = set(), [s.view for s in h.HISTORY_TABLES]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        ctes = {cte.alias for cte in sqlglot.parse_one(text[name], read="trino").find_all(exp.CTE)}
        todo += [t for t in sql_tables(text[name]) - ctes if t in text]
    tables = set()
    for name in needed:
        ctes = {cte.alias for cte in sqlglot.parse_one(text[name], read="trino").find_all(exp.CTE)}
        tables |= {t for t in sql_tables(text[name]) - ctes if t not in text}
    granted = {table_name(arn) for arn in grants()["glue:GetTable"]} - {None}
    history = {c.COMPLIANCE_HISTORY_TABLE_NAME, c.PATCH_HISTORY_TABLE_NAME}
    assert granted == needed | tables | history | {EXPORT_TABLE_NAME}
    assert "aws_application" not in granted and "compliance_trend" not in granted  # nothing the copies do not read
    assert {table_name(arn) for arn in grants()["glue:GetPartitions"]} - {None} == granted


def test_s3_reads_what_the_views_read_and_writes_only_history_and_query_results():
    g = grants()
    reads = [r["Fn::Sub"][0] for r in g["s3:GetObject"]]
    assert reads == [
        "${Bucket}/config-export/*",
        "${Bucket}/${Prefix}/*",
        f"${{Bucket}}/{c.HISTORY_PREFIX}/*",
        "${Bucket}/results/*",
    ]
    writes = [r["Fn::Sub"] for r in g["s3:PutObject"]]
    assert [w[0] for w in writes] == [f"${{Bucket}}/{c.HISTORY_PREFIX}/*", "${Bucket}/results/*"]
    assert [w[1]["Bucket"] for w in writes] == [
        {"Fn::GetAtt": [c.CONFIG_BUCKET, "Arn"]},
        {"Fn::GetAtt": [c.ATHENA_BUCKET, "Arn"]},
    ]
    assert sorted(str(b) for b in g["s3:ListBucket"]) == sorted(
        str({"Fn::GetAtt": [b, "Arn"]}) for b in (c.CONFIG_BUCKET, c.DATASYNC_BUCKET, c.ATHENA_BUCKET)
    )


def test_kms_only_with_a_key_and_only_through_s3():
    policies = resources()[c.HISTORY_ROLE]["Properties"]["Policies"]
    [conditional] = [p for p in policies if "Fn::If" in p]
    condition, policy, otherwise = conditional["Fn::If"]
    assert condition == "HasKmsKey" and otherwise == {"Ref": "AWS::NoValue"}
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == [{"Ref": "KmsKeyArn"}]
    assert "kms:ViaService" in json.dumps(statement["Condition"])


def test_views_read_follows_names_outside_comments():
    class Views:
        title = "V"
        properties = {
            "Views": [
                {"Name": "base", "Sql": "SELECT 1 AS x FROM t1"},
                {"Name": "other", "Sql": "SELECT 1 AS x FROM t2"},
                {"Name": "top", "Sql": '-- reads other? no\nSELECT x FROM base JOIN "t3$partitions" ON true'},
            ]
        }

    assert h.views_read(Views, ["top"]) == ["top", "base"]
    with pytest.raises(ValueError, match="not created by V"):
        h.views_read(Views, ["missing"])
