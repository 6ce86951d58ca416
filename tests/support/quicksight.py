"""Helpers for the QuickSight tests: a small in-process template, cfn-lint, pruning by conditions (evaluated by
tests/support/cfn.py), view columns derived from the SQL, dataset and reference walkers.

The template holds stand-ins for what the central template hands to `add_quicksight` (workgroup, database,
buckets, the KmsKeyArn parameter, the views resource) plus everything `add_quicksight` adds. View output columns
are derived from patchcompliance/sql/<view>.sql with sqlglot (Trino dialect), never copied by hand.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import sqlglot
from cfnlint.api import ManualArgs, lint
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from troposphere import Ref, Sub, Template, athena, cloudformation, glue, s3

from patchcompliance import parameters, render
from patchcompliance.conditions import Cond
from patchcompliance.constants import ATHENA_VIEWS
from patchcompliance.quicksight import QuickSight, QuickSightInputs, add_quicksight, names

from .cfn import condition_true
from .templates import ROOT

SQL_DIR = render.SQL_DIR
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
# Every resource add_quicksight creates, in creation order.
QUICKSIGHT_RESOURCE_IDS = [
    names.QUICKSIGHT_ROLE,
    names.DATA_SOURCE,
    names.PATCH_DATASET,
    names.BY_TAG_DATASET,
    names.SLA_DATASET,
    names.TREND_DATASET,
    names.CVES_DATASET,
    names.PATCH_DATASET_REFRESH,
    names.BY_TAG_DATASET_REFRESH,
    names.SLA_DATASET_REFRESH,
    names.TREND_DATASET_REFRESH,
    names.CVES_DATASET_REFRESH,
    names.ANALYSIS,
    names.DASHBOARD,
]


# ---------------------------------------------------------------- template under test
def stand_ins(template: Template) -> dict[str, object]:
    """Add stand-ins for the central template's workgroup, database, buckets, KmsKeyArn parameter and views
    resource to `template`; return them by QuickSightInputs field."""
    buckets = {
        name: template.add_resource(
            s3.Bucket(
                name,
                DeletionPolicy="Retain",
                UpdateReplacePolicy="Retain",
                VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            )
        )
        for name in ("AthenaBucket", "ConfigBucket", "DataSyncBucket")
    }
    database = template.add_resource(
        glue.Database(
            "AthenaDatabase",
            CatalogId=Ref("AWS::AccountId"),
            DatabaseInput=glue.DatabaseInput(Name="patch_compliance"),
        )
    )
    workgroup = template.add_resource(
        athena.WorkGroup(
            "AthenaWorkGroup",
            Name="patch-compliance",
            RecursiveDeleteOption=True,
            WorkGroupConfiguration=athena.WorkGroupConfiguration(
                EnforceWorkGroupConfiguration=True,
                ResultConfiguration=athena.ResultConfiguration(OutputLocation=Sub("s3://${AthenaBucket}/results/")),
            ),
        )
    )
    return {
        "workgroup": workgroup,
        "database": database,
        "athena_bucket": buckets["AthenaBucket"],
        "config_bucket": buckets["ConfigBucket"],
        "datasync_bucket": buckets["DataSyncBucket"],
        "kms_key": template.add_parameter(parameters.KMS.build()),
        "views": template.add_resource(cloudformation.WaitConditionHandle(ATHENA_VIEWS)),
    }


def build_template(existing: Iterable[Cond] = ()) -> tuple[Template, QuickSight]:
    """A minimal central template with the stand-ins, plus add_quicksight(). `existing`: conditions the template
    has before add_quicksight runs."""
    template = Template(Description="QuickSight test template")
    template.set_version("2010-09-09")
    inputs = QuickSightInputs(**stand_ins(template))
    for condition in existing:
        condition.use(template)
    return template, add_quicksight(template, inputs)


@functools.cache
def built_json() -> str:
    """The default test template as JSON, built once per process."""
    template, _ = build_template()
    return template.to_json()


def resources_of_type(template: dict, prefix: str) -> dict[str, dict]:
    return {name: res for name, res in template["Resources"].items() if res["Type"].startswith(prefix)}


# ---------------------------------------------------------------- cfn-lint
def lint_findings(text: str, regions: list[str] = LINT_REGIONS) -> list[str]:
    """cfn-lint findings (errors, warnings and informational) as readable strings."""
    matches = lint(text, config=ManualArgs(regions=regions, include_checks=["I"]))
    return [f"{m.rule.id} {m.message} ({'/'.join(str(p) for p in m.path)})" for m in matches]


# ---------------------------------------------------------------- conditions (evaluator: tests/support/cfn.py)
def references(node) -> Iterator[str]:
    """Logical IDs / parameter names a fragment refers to (Ref, GetAtt, Sub variables, Condition, DependsOn)."""
    if isinstance(node, dict):
        for key, val in node.items():
            if key == "Ref" and isinstance(val, str):
                yield val
            elif key == "Fn::GetAtt":
                yield val[0] if isinstance(val, list) else val.split(".")[0]
            elif key == "Fn::Sub":
                text, variables = (val, {}) if isinstance(val, str) else (val[0], val[1])
                for var in re.findall(r"\$\{([^}!][^}]*)\}", text):
                    if var not in variables:
                        yield var.split(".")[0]
                yield from references(variables)
            elif key in ("Condition", "Fn::If") and isinstance(val, (str, list)):
                yield val if isinstance(val, str) else val[0]
                if isinstance(val, list):
                    yield from references(val[1:])
            elif key == "DependsOn":
                yield from ([val] if isinstance(val, str) else val)
            else:
                yield from references(val)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def prune_disabled(template: dict, values: dict) -> dict:
    """The template as it is deployed with `values`: resources/outputs whose condition is false removed, then
    conditions and parameters nothing refers to any more removed too (so the rest can be linted on its own)."""
    pruned = copy.deepcopy(template)
    pruned["Resources"] = {
        k: v for k, v in pruned["Resources"].items() if condition_true(template, v.get("Condition"), values)
    }
    pruned["Outputs"] = {
        k: v for k, v in pruned.get("Outputs", {}).items() if condition_true(template, v.get("Condition"), values)
    }
    if not pruned["Outputs"]:
        del pruned["Outputs"]
    while True:
        used = set(references({k: v for k, v in pruned.items() if k not in ("Parameters",)}))
        conditions = {k: v for k, v in pruned.get("Conditions", {}).items() if k in used}
        params = {k: v for k, v in pruned.get("Parameters", {}).items() if k in used}
        if conditions == pruned.get("Conditions", {}) and params == pruned.get("Parameters", {}):
            break
        pruned["Conditions"], pruned["Parameters"] = conditions, params
    for key in ("Conditions", "Parameters"):
        if not pruned.get(key):
            pruned.pop(key, None)
    return pruned


def dangling(template: dict) -> set[str]:
    """Names the template's resources refer to that it no longer defines (pseudo parameters aside)."""
    defined = set(template["Resources"]) | set(template.get("Parameters", {})) | set(template.get("Conditions", {}))
    return {name for name in set(references(template["Resources"])) - defined if not name.startswith("AWS::")}


# ---------------------------------------------------------------- views (sqlglot)
def view_sql_path(view: str) -> Path:
    return SQL_DIR / f"{view}.sql"


def _display(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@functools.cache
def _final_select(view: str) -> exp.Select:
    path = view_sql_path(view)
    if not path.exists():
        pytest.fail(
            f"{_display(path)} does not exist: the output columns of view {view!r} cannot be derived "
            "(the views are written in patchcompliance/sql, one SELECT per file)",
            pytrace=False,
        )
    text = path.read_text(encoding="utf-8").strip().rstrip(";")
    statements = [s for s in sqlglot.parse(text, read="trino") if s is not None]
    assert len(statements) == 1, f"{path.name}: expected exactly one statement, found {len(statements)}"
    query = statements[0]
    while isinstance(query, exp.SetOperation):  # UNION/INTERSECT/EXCEPT: the left-most SELECT names the columns
        query = query.left
    while isinstance(query, exp.Subquery):
        query = query.this
    assert isinstance(query, exp.Select), f"{path.name}: the statement is not a SELECT ({type(query).__name__})"
    return query


def clear_caches() -> None:
    _final_select.cache_clear()
    view_column_types.cache_clear()


def view_columns(view: str) -> list[str]:
    """Output column names of the view, from the final SELECT of patchcompliance/sql/<view>.sql."""
    selected = _final_select(view).named_selects
    assert "*" not in selected and "" not in selected, (
        f"{view}.sql: the final SELECT has '*' or an unnamed expression; name every output column"
    )
    return [name.lower() for name in selected]


def view_expression(view: str, name: str) -> exp.Expression:
    """The expression of output column `name` of the view's final SELECT, without alias and table qualifiers."""
    (projection,) = [p for p in _final_select(view).expressions if p.alias_or_name.lower() == name]
    node = copy.deepcopy(projection.this if isinstance(projection, exp.Alias) else projection)
    for col in node.find_all(exp.Column):
        col.set("table", None)
    return node


_QS_TYPES = {
    exp.DataType.Type.VARCHAR: "STRING",
    exp.DataType.Type.CHAR: "STRING",
    exp.DataType.Type.TEXT: "STRING",
    exp.DataType.Type.TINYINT: "INTEGER",
    exp.DataType.Type.SMALLINT: "INTEGER",
    exp.DataType.Type.INT: "INTEGER",
    exp.DataType.Type.BIGINT: "INTEGER",
    exp.DataType.Type.DOUBLE: "DECIMAL",
    exp.DataType.Type.FLOAT: "DECIMAL",
    exp.DataType.Type.DECIMAL: "DECIMAL",
    exp.DataType.Type.DATE: "DATETIME",
    exp.DataType.Type.TIMESTAMP: "DATETIME",
    exp.DataType.Type.TIMESTAMPTZ: "DATETIME",
    exp.DataType.Type.BOOLEAN: "BOOLEAN",
}
_SQL_TYPES = {"STRING": "varchar", "INTEGER": "bigint", "DECIMAL": "double", "DATETIME": "timestamp"}


def _glue_schema() -> dict[str, dict[str, str]]:
    """Hive types of the Glue tables the views read (patchcompliance.glue), for sqlglot's type inference."""
    from patchcompliance import glue as glue_tables

    schema = {}
    for inventory_type in glue_tables.INVENTORY_ATTRIBUTES:
        columns = dict(glue_tables.inventory_columns(inventory_type))
        columns.update({key: "string" for key in glue_tables.INVENTORY_PARTITION_KEYS})
        schema[glue_tables.inventory_table_name(inventory_type)] = columns
    config = {c["Name"]: c["Type"] for c in glue_tables.config_storage_descriptor()["Columns"]}
    config.update({key: "string" for key in glue_tables.CONFIG_PARTITION_KEYS})
    schema[glue_tables.CONFIG_TABLE_NAME] = config
    return schema


def _annotated_select(view: str) -> exp.Select:
    """The final SELECT with types: qualified against the Glue tables and the other views where sqlglot can,
    otherwise annotated on its own (CASTs and functions only)."""
    statement = sqlglot.parse_one(view_sql_path(view).read_text(encoding="utf-8").strip().rstrip(";"), read="trino")
    try:
        schema = _glue_schema()
        for table in statement.find_all(exp.Table):
            if table.name != view and view_sql_path(table.name).exists():
                types = view_column_types(table.name)
                schema[table.name] = {c: _SQL_TYPES[types.get(c, "STRING")] for c in view_columns(table.name)}
        mapping = sqlglot.schema.MappingSchema(schema, dialect="hive")
        qualified = qualify(statement, schema=mapping, dialect="trino", validate_qualify_columns=False)
        query = annotate_types(qualified, schema=mapping, dialect="trino")
    except (ImportError, AttributeError, KeyError, sqlglot.errors.SqlglotError):
        query = annotate_types(copy.deepcopy(_final_select(view)), dialect="trino")
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.left if isinstance(query, exp.SetOperation) else query.this
    return query


@functools.cache
def view_column_types(view: str) -> dict[str, str]:
    """QuickSight types of the output columns whose SQL type sqlglot can tell (Glue column types, CAST,
    COUNT, date functions...); columns it cannot type are left out."""
    _final_select(view)  # fails clearly when the SQL file is missing
    types = {}
    for projection in _annotated_select(view).expressions:
        node = projection.this if isinstance(projection, exp.Alias) else projection
        while isinstance(node, exp.Try):  # try(x) has the type of x
            node = node.this
        kind = node.type.this if node.type else None
        if kind in _QS_TYPES:
            types[projection.alias_or_name.lower()] = _QS_TYPES[kind]
    return types


# ---------------------------------------------------------------- datasets
def dataset_columns(props: dict) -> list[str]:
    """Columns a DataSet exposes, derived from its PhysicalTableMap and LogicalTableMap (transforms applied)."""
    physical = props["PhysicalTableMap"]
    logical = props.get("LogicalTableMap")
    if not logical:
        (table,) = physical.values()
        return [c["Name"] for c in table["RelationalTable"]["InputColumns"]]
    operands = {
        op
        for table in logical.values()
        for op in (
            table["Source"].get("JoinInstruction", {}).get("LeftOperand"),
            table["Source"].get("JoinInstruction", {}).get("RightOperand"),
        )
        if op
    }
    roots = [name for name in logical if name not in operands]
    assert len(roots) == 1, f"LogicalTableMap must have exactly one root table, found {roots}"

    def columns(name: str) -> list[str]:
        table = logical[name]
        source = table["Source"]
        if "PhysicalTableId" in source:
            relational = physical[source["PhysicalTableId"]]["RelationalTable"]
            cols = [c["Name"] for c in relational["InputColumns"]]
        else:
            join = source["JoinInstruction"]
            cols = columns(join["LeftOperand"]) + columns(join["RightOperand"])
            duplicates = sorted({c for c in cols if cols.count(c) > 1})
            assert not duplicates, f"join {name}: column names on both sides {duplicates}"
            for ref in re.findall(r"\{([^}]+)\}", join["OnClause"]):
                assert ref in cols, f"join {name}: OnClause column {ref!r} not in {cols}"
        for transform in table.get("DataTransforms", []):
            ((kind, op),) = transform.items()
            if kind == "RenameColumnOperation":
                assert op["ColumnName"] in cols, f"{name}: rename of unknown column {op['ColumnName']}"
                cols = [op["NewColumnName"] if c == op["ColumnName"] else c for c in cols]
            elif kind == "ProjectOperation":
                unknown = [c for c in op["ProjectedColumns"] if c not in cols]
                assert not unknown, f"{name}: projection of unknown columns {unknown}"
                cols = list(op["ProjectedColumns"])
            elif kind == "CreateColumnsOperation":
                cols += [c["ColumnName"] for c in op["Columns"]]
            elif kind == "CastColumnTypeOperation":
                assert op["ColumnName"] in cols
            else:
                raise AssertionError(f"{name}: transform {kind} not modelled by this test")
        return cols

    return columns(roots[0])


def walk(node, path=()) -> Iterator[tuple[tuple, dict]]:
    """Every dict inside `node`, with its path."""
    if isinstance(node, dict):
        yield path, node
        for key, val in node.items():
            yield from walk(val, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from walk(item, (*path, index))
