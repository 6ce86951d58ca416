"""Athena answered by a local engine: StartQueryExecution, GetQueryExecution and GetQueryResults of a boto3 client
(through :class:`tests.support.functions.Hooks`) run the query's SQL on a :class:`tests.support.engine.LocalAthena`
and page the rows the way Athena does: the first page of a SELECT starts with a row of column names, values are
text (``VarCharValue``; absent for NULL), ``ColumnInfo`` carries Athena's type names, at most ``MaxResults``
(1-1000) rows a page.

A table or view that does not exist fails the query like Athena (state FAILED, reason
``TABLE_NOT_FOUND: ... Table '<catalog>.<db>.<name>' does not exist``); other engine errors fail it with the
engine's message. ``before_query`` runs before every query (e.g. to copy what the function wrote to moto S3 into
the engine's bucket directories). ``fail_with(name, reason)`` makes the next queries whose SQL reads ``name``
fail with that reason (e.g. an access-denied message).
"""

from __future__ import annotations

import datetime
import re
import uuid
from decimal import Decimal

import duckdb

from .functions import Hooks, http_error

TYPE_NAMES = {  # DuckDB result type -> Athena ColumnInfo.Type
    "VARCHAR": "varchar",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
}
MISSING_TABLE = re.compile(r"Table with name ([\w$\"]+) does not exist", re.I)


def athena_type(duck_type) -> str:
    text = str(duck_type).upper()
    if text.startswith("DECIMAL"):
        return "decimal"
    if text.endswith("[]"):
        return "array"
    return TYPE_NAMES.get(text, "varchar")


def athena_text(value) -> str | None:
    """A value as Athena's GetQueryResults writes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (float, Decimal)):
        return repr(float(value))
    return str(value)


class FakeAthena:
    def __init__(self, engine, *, database: str = "patch_compliance", before_query=None):
        self.engine, self.database, self.before_query = engine, database, before_query
        self.executions: dict[str, dict] = {}
        self.failures: dict[str, str] = {}

    def attach(self, client) -> Hooks:
        hooks = Hooks(client)
        hooks.respond("StartQueryExecution", self.start)
        hooks.respond("GetQueryExecution", self.get)
        hooks.respond("GetQueryResults", self.results)
        return hooks

    def fail_with(self, name: str, reason: str) -> None:
        self.failures[name] = reason

    @property
    def queries(self) -> list[str]:
        return [e["sql"] for e in self.executions.values()]

    def _run(self, sql: str) -> dict:
        for name, reason in self.failures.items():
            if re.search(rf"\b{re.escape(name)}\b", sql):
                return {"state": "FAILED", "reason": reason}
        try:
            relation = self.engine.con.sql(self.engine.translate(sql))
            columns = [(n, athena_type(t)) for n, t in zip(relation.columns, relation.types, strict=True)]
            rows = [[athena_text(v) for v in row] for row in relation.fetchall()]
        except duckdb.CatalogException as err:
            match = MISSING_TABLE.search(str(err))
            if not match:
                return {"state": "FAILED", "reason": f"GENERIC_INTERNAL_ERROR: {err}"}
            table = match.group(1).strip('"')
            return {
                "state": "FAILED",
                "reason": f"TABLE_NOT_FOUND: line 1:1: Table 'awsdatacatalog.{self.database}.{table}' does not exist",
            }
        except duckdb.Error as err:
            return {"state": "FAILED", "reason": f"GENERIC_INTERNAL_ERROR: {err}"}
        return {"state": "SUCCEEDED", "columns": columns, "rows": rows}

    def start(self, params: dict) -> dict:
        if self.before_query is not None:
            self.before_query()
        qid = str(uuid.uuid4())
        self.executions[qid] = {"sql": params["QueryString"], **self._run(params["QueryString"])}
        return {"QueryExecutionId": qid}

    def get(self, params: dict) -> dict:
        execution = self.executions.get(params["QueryExecutionId"])
        if execution is None:
            return http_error("InvalidRequestException", "QueryExecution not found")
        status = {"State": execution["state"]}
        if execution["state"] == "FAILED":
            status["StateChangeReason"] = execution["reason"]
        return {"QueryExecution": {"QueryExecutionId": params["QueryExecutionId"], "Status": status}}

    def results(self, params: dict) -> dict:
        execution = self.executions.get(params["QueryExecutionId"])
        if execution is None or execution["state"] != "SUCCEEDED":
            return http_error("InvalidRequestException", "Query has not yet finished or failed")
        size = params.get("MaxResults", 1000)
        if not 1 <= size <= 1000:
            return http_error("InvalidRequestException", f"MaxResults {size} not in 1..1000")
        header = [[name for name, _ in execution["columns"]]]
        table = header + execution["rows"]  # the first page starts with the column names
        start = int(params.get("NextToken") or 0)
        page = table[start : start + size]
        answer = {
            "ResultSet": {
                "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in page],
                "ResultSetMetadata": {
                    "ColumnInfo": [{"Name": n, "Label": n, "Type": t} for n, t in execution["columns"]]
                },
            }
        }
        if start + size < len(table):
            answer["NextToken"] = str(start + size)
        return answer
