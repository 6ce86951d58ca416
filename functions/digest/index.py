"""Daily patch compliance digest: one SNS message, EventBridge events, a CSV and HTML report, Security Hub findings.

Input: an EventBridge "Scheduled Event" (its `time` gives the UTC day reported on); any other event reports on
the current UTC day.

Steps, in this order, so that nothing is half-sent:
1. Read the day state: s3://<BUCKET>/<STATE_PREFIX><day>.json (this day's, on a rerun) and the newest earlier one.
2. List the StackSet's stack instances (cloudformation:ListStackInstances, CallAs, paged) and write them as JSON
   Lines to s3://<BUCKET>/<COVERAGE_KEY> (table expected_targets, read by the coverage view).
3. Run the summary queries in the Athena workgroup (StartQueryExecution, GetQueryExecution, GetQueryResults
   paged). A view or table that does not exist, or has no rows, is reported as missing in the message, not as an
   error; any other failure is an error.
4. Build everything: the CSV of non-compliant nodes and the HTML summary (written under
   <REPORTS_PREFIX><day>/, presigned GET links valid LINK_EXPIRY_HOURS), the events, the findings and the message.
   The message stays under MESSAGE_LIMIT bytes (SNS accepts 262,144): lists are cut and say how many are left out.
5. Send: events (PutEvents, 10 entries a call, failed entries retried), then Security Hub findings
   (BatchImportFindings, 100 a call), then the one SNS message. Sent event keys and the published flag go into
   the day state, so a rerun the same day sends nothing twice.

Events (default bus, source EVENT_SOURCE): "Patch SLA Breached", one per node whose SLA breach is new since the
previous state; "Compliance Feed Stale", one per account x region that became STALE or MISSING since then. Detail
schemas are in the README ("Alerts and reports").

Security Hub (SECURITY_HUB=true): one finding per node with breached SLAs, Id stable per node, in this account
(BatchImportFindings with the default product ARN must carry the caller's AwsAccountId); nodes no longer breached
are re-imported with RecordState ARCHIVED and Compliance.Status PASSED.

Access denied on any call ends the invocation with an error naming the call; the message is published last.
Environment: WORKGROUP, DATABASE, BUCKET, COVERAGE_KEY, REPORTS_PREFIX, STATE_PREFIX, STACK_SET, CALL_AS,
TOPIC_ARN, EVENT_SOURCE, LINK_EXPIRY_HOURS, FEED_STALE_AFTER_HOURS, DUE_SOON_DAYS, SECURITY_HUB, FINDING_GENERATOR,
PARTITION, ACCOUNT_ID.
"""

import csv
import datetime
import html
import io
import json
import logging
import os
import re
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

SLA_DETAIL_TYPE = "Patch SLA Breached"
FEED_DETAIL_TYPE = "Compliance Feed Stale"
SCHEMA_VERSION = "1"
MESSAGE_LIMIT = 64 * 1024  # bytes of the SNS message (SNS: 262,144); e-mail friendly
SUBJECT_LIMIT = 99  # SNS: "less than 100 characters"
PUT_EVENTS_BATCH = 10  # PutEventsRequestEntryList max 10
FINDINGS_BATCH = 100  # BatchImportFindingsRequestFindingList max 100
SEND_ATTEMPTS = 5  # attempts for entries/findings that failed inside a successful call
PATCH_IDS_PER_EVENT = 20
HTML_ROWS = 1000  # rows of the node table in the HTML report (the CSV has them all)
LIST_CAPS = {"breached": 25, "due": 15, "accounts": 10, "feeds": 30}
PAGE_ROWS = 1000  # GetQueryResults MaxResults 1..1000
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 5.0
DEADLINE_MARGIN_S = 30
STATES = ("COMPLIANT", "NON_COMPLIANT", "STALE", "UNMANAGED", "NO_PATCH_DATA", "EXEMPT", "STOPPED", "TERMINATED")
SEVERITY_LABELS = {4: "CRITICAL", 3: "HIGH", 2: "MEDIUM", 1: "LOW", 0: "INFORMATIONAL"}
DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
DENIED_RE = re.compile(r"access denied|accessdenied|permission denied|not authorized|insufficient permissions", re.I)
MISSING_RE = re.compile(r"TABLE_NOT_FOUND|SCHEMA_NOT_FOUND|Table .* does not exist|Schema .* does not exist", re.I)
CSV_COLUMNS = (
    "account_id", "region", "instance_id", "instance_name", "platform_type", "platform_name", "compliance_state",
    "missing_count", "failed_count", "installed_pending_reboot_count", "critical_noncompliant_count",
    "security_noncompliant_count", "breached_patches", "oldest_sla_due", "last_inventory_time",
)  # fmt: skip
CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
_sleep = time.sleep
_now = lambda: datetime.datetime.now(datetime.UTC)  # noqa: E731 - replaced by tests
_clients = {}


class DigestError(Exception):
    """The digest cannot be completed; the message says which call failed and why."""


def _client(name, region=None):
    key = (name, region)
    if key not in _clients:
        # SigV4 and virtual-hosted style: presigned URLs name the regional endpoint
        s3 = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
        config = CONFIG.merge(s3) if name == "s3" else CONFIG
        _clients[key] = boto3.client(name, region_name=region, config=config)
    return _clients[key]


def _error(service, operation, err):
    """A DigestError naming the call; access denied says so."""
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code in DENIED_CODES or DENIED_RE.search(message):
            return DigestError(f"Access denied on {service}:{operation}: {message or code}")
        return DigestError(f"{service}:{operation} failed: {code} {message}".strip())
    return DigestError(f"{service}:{operation} failed: {err}")


def _call(service, operation, fn, **kwargs):
    """fn(**kwargs); an AWS error becomes a DigestError naming the call."""
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as err:
        raise _error(service, operation, err) from err


# --------------------------------------------------------------------------- settings and day state


def _settings():
    env = os.environ
    return {
        "workgroup": env["WORKGROUP"],
        "database": env["DATABASE"],
        "bucket": env["BUCKET"],
        "coverage_key": env.get("COVERAGE_KEY", "coverage/expected/targets.json"),
        "reports_prefix": env.get("REPORTS_PREFIX", "reports/"),
        "state_prefix": env.get("STATE_PREFIX", "digest-state/"),
        "stack_set": env.get("STACK_SET", ""),
        "call_as": env.get("CALL_AS") or "SELF",
        "topic_arn": env["TOPIC_ARN"],
        "source": env.get("EVENT_SOURCE", "patchcompliance"),
        "link_hours": min(max(int(env.get("LINK_EXPIRY_HOURS", "168")), 1), 168),
        "stale_hours": int(env.get("FEED_STALE_AFTER_HOURS", "48")),
        "due_days": int(env.get("DUE_SOON_DAYS", "3")),
        "security_hub": env.get("SECURITY_HUB", "false").lower() == "true",
        "generator": env.get("FINDING_GENERATOR", "patchcompliance-patch-sla"),
        "partition": env.get("PARTITION", "aws"),
        "account": env.get("ACCOUNT_ID", ""),
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", ""),
    }


def _day(event):
    stamp = event.get("time") if isinstance(event, dict) else None
    if isinstance(stamp, str):
        try:
            return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(datetime.UTC).date()
        except ValueError:
            LOG.warning("Ignored unparsable event time %r", stamp)
    return _now().date()


def _read_json(cfg, key):
    try:
        body = _client("s3").get_object(Bucket=cfg["bucket"], Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as err:
        if isinstance(err, ClientError) and err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise _error("s3", "GetObject", err) from err
    try:
        return json.loads(body)
    except ValueError:
        LOG.error("Ignored unreadable state s3://%s/%s", cfg["bucket"], key)
        return None


def _load_states(cfg, day):
    """(previous state or None, this day's state)."""
    prefix = cfg["state_prefix"]
    today_key = f"{prefix}{day.isoformat()}.json"
    earlier = []
    for page in _call("s3", "ListObjectsV2", _paginate, client=_client("s3"), op="list_objects_v2",
                      Bucket=cfg["bucket"], Prefix=prefix):  # fmt: skip
        earlier += [o["Key"] for o in page.get("Contents", []) if o["Key"] < today_key and o["Key"].endswith(".json")]
    previous = _read_json(cfg, max(earlier)) if earlier else None
    today = _read_json(cfg, today_key) or {}
    today.setdefault("events_sent", [])
    today.setdefault("published", False)
    return previous, today


def _paginate(client, op, **kwargs):
    return list(client.get_paginator(op).paginate(**kwargs))


def _save_state(cfg, day, state):
    key = f"{cfg['state_prefix']}{day.isoformat()}.json"
    body = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    _call("s3", "PutObject", _client("s3").put_object, Bucket=cfg["bucket"], Key=key, Body=body,
          ContentType="application/json")  # fmt: skip


# --------------------------------------------------------------------------- expected targets


def _write_expected(cfg, now):
    """The StackSet's stack instances as JSON Lines for expected_targets; returns {(account, region): status}."""
    cfn = _client("cloudformation")
    pages = _call("cloudformation", "ListStackInstances", _paginate, client=cfn, op="list_stack_instances",
                  StackSetName=cfg["stack_set"], CallAs=cfg["call_as"])  # fmt: skip
    targets = {}
    for page in pages:
        for summary in page.get("Summaries", []):
            account, region = summary.get("Account"), summary.get("Region")
            if not (isinstance(account, str) and re.fullmatch(r"\d{12}", account) and isinstance(region, str)):
                LOG.warning("Skipped stack instance without account or region: %.300r", summary)
                continue
            detailed = (summary.get("StackInstanceStatus") or {}).get("DetailedStatus")
            targets[(account, region)] = detailed or summary.get("Status") or ""
    lines = [
        json.dumps(
            {
                "account_id": account,
                "region": region,
                "status": status,
                "stack_set": cfg["stack_set"],
                "listed_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "stale_after_hours": cfg["stale_hours"],
            },
            separators=(",", ":"),
        )
        for (account, region), status in sorted(targets.items())
    ]
    body = ("\n".join(lines) + "\n").encode() if lines else b""
    _call("s3", "PutObject", _client("s3").put_object, Bucket=cfg["bucket"], Key=cfg["coverage_key"], Body=body,
          ContentType="application/x-ndjson")  # fmt: skip
    return targets


# --------------------------------------------------------------------------- Athena


def _queries(day, due_days):
    until = day + datetime.timedelta(days=due_days)
    d, u = f"DATE '{day.isoformat()}'", f"DATE '{until.isoformat()}'"
    severity = (
        "max(CASE lower(p.severity) WHEN 'critical' THEN 4 WHEN 'important' THEN 3 WHEN 'high' THEN 3 "
        "WHEN 'medium' THEN 2 WHEN 'moderate' THEN 2 WHEN 'low' THEN 1 ELSE 0 END)"
    )
    return {
        "states": "SELECT compliance_state, count(*) AS nodes FROM instance_compliance GROUP BY compliance_state",
        "trend": (
            "WITH latest AS (SELECT max(day) AS day FROM compliance_trend WHERE day <= " + d + ") "
            "SELECT t.day, sum(t.nodes_total) AS nodes_total, sum(t.nodes_compliant) AS nodes_compliant, "
            "sum(t.nodes_non_compliant) AS nodes_non_compliant, sum(t.nodes_stale) AS nodes_stale, "
            "sum(t.nodes_exempt) AS nodes_exempt, sum(t.nodes_unmanaged) AS nodes_unmanaged, "
            "sum(t.nodes_no_patch_data) AS nodes_no_patch_data, sum(t.nodes_stopped) AS nodes_stopped, "
            "sum(t.sla_breaches) AS sla_breaches, sum(t.new_non_compliant) AS new_non_compliant, "
            "sum(t.resolved_non_compliant) AS resolved_non_compliant "
            "FROM compliance_trend AS t CROSS JOIN latest AS l "
            "WHERE t.day = l.day OR t.day = date_add('day', -1, l.day) GROUP BY t.day ORDER BY t.day"
        ),
        "breached": (
            "SELECT p.account_id, p.region, p.instance_id, max(n.instance_name) AS instance_name, "
            "count(*) AS breached_patches, min(p.sla_due) AS oldest_due, max(p.age_days) AS max_age_days, "
            f"{severity} AS severity_rank, "
            "array_join(slice(array_sort(array_agg(p.patch_id)), 1, " + str(PATCH_IDS_PER_EVENT) + "), ',') "
            "AS patch_ids FROM patch_age AS p LEFT JOIN instance_compliance AS n ON n.account_id = p.account_id "
            "AND n.region = p.region AND n.instance_id = p.instance_id WHERE p.sla_state = 'BREACHED' "
            "GROUP BY p.account_id, p.region, p.instance_id"
        ),
        "due": (
            "SELECT account_id, region, instance_id, count(*) AS patches, min(sla_due) AS next_due FROM patch_age "
            f"WHERE sla_state NOT IN ('BREACHED', 'EXEMPT') AND sla_due >= {d} AND sla_due <= {u} "
            "GROUP BY account_id, region, instance_id"
        ),
        "accounts": (
            "SELECT account_id, count(*) AS nodes, count(*) OVER () AS accounts FROM instance_compliance "
            "WHERE compliance_state = 'NON_COMPLIANT' GROUP BY account_id ORDER BY nodes DESC, account_id LIMIT "
            + str(LIST_CAPS["accounts"])
        ),
        "coverage": (
            "SELECT account_id, region, expected, config_last_capture, config_age_hours, ssm_last_capture, "
            "ssm_age_hours, coverage_state FROM coverage ORDER BY account_id, region"
        ),
        "export": 'SELECT max(export_id) AS export_id FROM "config_export$partitions"',
        "nodes": (
            "SELECT account_id, region, instance_id, instance_name, platform_type, platform_name, compliance_state, "
            "missing_count, failed_count, installed_pending_reboot_count, critical_noncompliant_count, "
            "security_noncompliant_count, last_inventory_time FROM instance_compliance "
            "WHERE compliance_state = 'NON_COMPLIANT' ORDER BY account_id, region, instance_id"
        ),
    }


def _remaining(context):
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else 900.0


def _run_queries(cfg, queries, context):
    """{name: rows as dicts} or {name: Missing(reason)}; raises DigestError on any other failure."""
    athena = _client("athena")
    started = {}
    for name, sql in queries.items():
        response = _call("athena", "StartQueryExecution", athena.start_query_execution, QueryString=sql,
                         QueryExecutionContext={"Database": cfg["database"]}, WorkGroup=cfg["workgroup"])  # fmt: skip
        started[name] = response["QueryExecutionId"]
    results, delay = {}, FIRST_DELAY_S
    pending = dict(started)
    while pending:
        for name, qid in list(pending.items()):
            execution = _call("athena", "GetQueryExecution", athena.get_query_execution, QueryExecutionId=qid)
            status = execution["QueryExecution"]["Status"]
            state = status.get("State")
            if state in ("QUEUED", "RUNNING"):
                continue
            del pending[name]
            if state == "SUCCEEDED":
                results[name] = _fetch(athena, qid)
                continue
            reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or state
            if MISSING_RE.search(reason):
                results[name] = Missing(reason)
            elif DENIED_RE.search(reason):
                raise DigestError(f"Access denied running the {name} query ({qid}): {reason}")
            else:
                raise DigestError(f"The {name} query ({qid}) {state}: {reason}")
        if pending:
            if _remaining(context) - delay < DEADLINE_MARGIN_S:
                for qid in pending.values():
                    try:
                        athena.stop_query_execution(QueryExecutionId=qid)
                    except (ClientError, BotoCoreError):
                        LOG.exception("Could not stop query %s", qid)
                raise DigestError(f"Queries {sorted(pending)} still running at the Lambda deadline; stopped them")
            _sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
    return results


class Missing:
    """A query whose view or table does not exist (yet)."""

    def __init__(self, reason):
        self.reason = reason


def _value(datum, type_):
    if "VarCharValue" not in datum:
        return None
    text = datum["VarCharValue"]
    if type_ in ("integer", "bigint", "smallint", "tinyint"):
        return int(text)
    if type_ in ("double", "real", "float", "decimal"):
        return float(text)
    if type_ == "boolean":
        return text.lower() == "true"
    return text


def _fetch(athena, qid):
    rows, columns, token, first = [], None, None, True
    while True:
        kwargs = {"QueryExecutionId": qid, "MaxResults": PAGE_ROWS}
        if token:
            kwargs["NextToken"] = token
        page = _call("athena", "GetQueryResults", athena.get_query_results, **kwargs)
        if columns is None:
            info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            columns = [(c["Name"], c.get("Type", "varchar").lower()) for c in info]
        data = page["ResultSet"].get("Rows", [])
        if first and data and [d.get("VarCharValue") for d in data[0].get("Data", [])] == [n for n, _ in columns]:
            data = data[1:]  # the first page of a SELECT starts with a row of column names
        first = False
        for row in data:
            rows.append({n: _value(d, t) for (n, t), d in zip(columns, row.get("Data", []), strict=False)})
        token = page.get("NextToken")
        if not token:
            return rows


# --------------------------------------------------------------------------- the digest, as data


def _rows(results, name):
    value = results.get(name)
    return [] if isinstance(value, Missing) or value is None else value


def _node_key(row):
    return f"{row['account_id']}/{row['region']}/{row['instance_id']}"


def _feed_key(row):
    return f"{row['account_id']}/{row['region']}"


def _node_arn(cfg, row):
    if str(row["instance_id"]).startswith("mi-"):
        return f"arn:{cfg['partition']}:ssm:{row['region']}:{row['account_id']}:managed-instance/{row['instance_id']}"
    return f"arn:{cfg['partition']}:ec2:{row['region']}:{row['account_id']}:instance/{row['instance_id']}"


def _summarise(cfg, results, targets, previous, day):
    states = {r["compliance_state"]: r["nodes"] for r in _rows(results, "states") if r["compliance_state"]}
    trend = _rows(results, "trend")
    breached = sorted(
        _rows(results, "breached"), key=lambda r: (-r["breached_patches"], str(r["oldest_due"]), _node_key(r))
    )
    due = sorted(_rows(results, "due"), key=lambda r: (str(r["next_due"]), -r["patches"], _node_key(r)))
    coverage = _rows(results, "coverage")
    problems = [r for r in coverage if r["coverage_state"] in ("STALE", "MISSING")]
    problems.sort(key=lambda r: (r["coverage_state"] != "MISSING", _feed_key(r)))
    previous = previous or {}
    before_nodes = set(previous.get("breached_nodes", []))
    before_feeds = set(previous.get("problem_feeds", []))
    export = _rows(results, "export")
    return {
        "day": day.isoformat(),
        "states": states,
        "trend": trend,
        "breached": breached,
        "new_breached": [r for r in breached if _node_key(r) not in before_nodes],
        "due": due,
        "accounts": _rows(results, "accounts"),
        "coverage": coverage,
        "coverage_counts": _count(coverage, "coverage_state"),
        "problems": problems,
        "new_problems": [r for r in problems if _feed_key(r) not in before_feeds],
        "targets": targets,
        "export_id": export[0]["export_id"] if export else None,
        "nodes": _rows(results, "nodes"),
        "missing": {n: v.reason for n, v in results.items() if isinstance(v, Missing)},
        "findings_archived": len(set(previous.get("findings", {})) - {_node_key(r) for r in breached}),
        "previous_day": previous.get("day"),
    }


def _count(rows, key):
    counts = {}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + 1
    return counts


def _severity(rank):
    return SEVERITY_LABELS.get(rank if isinstance(rank, int) else 0, "INFORMATIONAL")


def _sla_event(cfg, day, row):
    ids = [p for p in str(row.get("patch_ids") or "").split(",") if p]
    detail = {
        "schemaVersion": SCHEMA_VERSION,
        "date": day.isoformat(),
        "accountId": row["account_id"],
        "region": row["region"],
        "instanceId": row["instance_id"],
        "instanceName": row.get("instance_name"),
        "breachedPatchCount": row["breached_patches"],
        "patchIds": ids[:PATCH_IDS_PER_EVENT],
        "oldestSlaDue": row.get("oldest_due"),
        "maxAgeDays": row.get("max_age_days"),
        "severity": _severity(row.get("severity_rank")),
    }
    return f"sla/{_node_key(row)}", SLA_DETAIL_TYPE, [_node_arn(cfg, row)], detail


def _feed_event(cfg, day, row, targets):
    detail = {
        "schemaVersion": SCHEMA_VERSION,
        "date": day.isoformat(),
        "accountId": row["account_id"],
        "region": row["region"],
        "coverageState": row["coverage_state"],
        "expected": bool(row.get("expected")),
        "stackInstanceStatus": targets.get((row["account_id"], row["region"])),
        "configLastCapture": row.get("config_last_capture"),
        "configAgeHours": _round(row.get("config_age_hours")),
        "ssmLastCapture": row.get("ssm_last_capture"),
        "ssmAgeHours": _round(row.get("ssm_age_hours")),
        "staleAfterHours": cfg["stale_hours"],
    }
    return f"feed/{_feed_key(row)}", FEED_DETAIL_TYPE, [], detail


def _round(value):
    return None if value is None else round(float(value), 1)


def _events(cfg, day, summary):
    events = [_sla_event(cfg, day, r) for r in summary["new_breached"]]
    return events + [_feed_event(cfg, day, r, summary["targets"]) for r in summary["new_problems"]]


# --------------------------------------------------------------------------- reports


def _csv_cell(value):
    """Text a spreadsheet shows as text: a leading = + - @ (formula) gets a quote in front."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _report_rows(summary):
    breached = {_node_key(r): r for r in summary["breached"]}
    rows = []
    for node in summary["nodes"]:
        sla = breached.get(_node_key(node), {})
        row = dict(node, breached_patches=sla.get("breached_patches", 0), oldest_sla_due=sla.get("oldest_due"))
        rows.append(row)
    return rows


def _csv(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


STYLE = (
    "body{font-family:Arial,Helvetica,sans-serif;margin:24px;color:#1b1b1b}h1{font-size:22px}h2{font-size:17px;"
    "margin-top:28px}table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #c8c8c8;padding:4px 8px;"
    "font-size:13px;text-align:left}td.n{text-align:right}th{background:#eef1f4}.bad td{color:#b00020}"
    ".note{color:#555;font-size:12px}"
)


NUMERIC_CLASS = ' class="n"'


def _table(headers, rows, cls=None):
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value in row:
            attrs = ""
            if isinstance(value, tuple):  # (text, id)
                value, ident = value
                attrs = f' id="{html.escape(ident)}"'
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            text = f"{value:,}" if numeric else html.escape("" if value is None else str(value))
            cells.append(f"<td{attrs}{NUMERIC_CLASS if numeric else ''}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    class_attr = f' class="{cls}"' if cls else ""
    return f"<table{class_attr}><tr>{head}</tr>{''.join(body)}</table>"


def _html(summary, rows, cfg):
    day = summary["day"]
    states = summary["states"]
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Patch compliance {day}</title><style>{STYLE}</style></head><body>",
        f"<h1>Patch compliance report, {day} (UTC)</h1>",
        "<h2>Nodes by compliance state</h2>",
        _table(
            ["State", "Nodes"],
            [[s, (states.get(s, 0), f"state-{s}")] for s in STATES if s in states or s == "NON_COMPLIANT"]
            + [["Total", (sum(states.values()), "state-total")]],
        ),
    ]
    if summary["missing"]:
        items = "".join(f"<li>{html.escape(n)}: {html.escape(r)}</li>" for n, r in sorted(summary["missing"].items()))
        parts.append(f'<p class="note">Not available yet:</p><ul class="note">{items}</ul>')
    per_account = _count(rows, "account_id")
    parts += [
        "<h2>Patch SLAs</h2>",
        _table(
            ["", "Patches", "Nodes"],
            [
                [
                    "Breached",
                    (sum(r["breached_patches"] for r in summary["breached"]), "sla-breached-patches"),
                    (len(summary["breached"]), "sla-breached-nodes"),
                ],
                [
                    f"Due within {cfg['due_days']} days",
                    (sum(r["patches"] for r in summary["due"]), "sla-due-patches"),
                    (len(summary["due"]), "sla-due-nodes"),
                ],
            ],
        ),
        "<h2>Non-compliant nodes by account</h2>",
        _table(
            ["Account", "Non-compliant nodes"],
            [[a, (n, f"account-{a}")] for a, n in sorted(per_account.items(), key=lambda i: (-i[1], i[0]))],
        ),
        "<h2>Data feeds</h2>",
        _table(
            ["Account", "Region", "State", "Expected", "Config age (h)", "SSM age (h)"],
            [
                [
                    r["account_id"],
                    r["region"],
                    r["coverage_state"],
                    "yes" if r["expected"] else "no",
                    _round(r.get("config_age_hours")),
                    _round(r.get("ssm_age_hours")),
                ]
                for r in summary["problems"][:HTML_ROWS]
            ],  # fmt: skip
            "bad",
        ),
        f'<p class="note">{len(summary["problems"]):,} account/region pairs STALE or MISSING; '
        f"{summary['coverage_counts'].get('OK', 0):,} OK.</p>",
        f'<h2>Non-compliant nodes (<span id="nodes-count">{len(rows):,}</span>)</h2>',
        _table(
            [
                "Account",
                "Region",
                "Instance",
                "Name",
                "Platform",
                "Missing",
                "Failed",
                "Pending reboot",
                "Breached SLAs",
            ],
            [
                [
                    r["account_id"],
                    r["region"],
                    r["instance_id"],
                    r.get("instance_name"),
                    r.get("platform_name"),
                    r.get("missing_count"),
                    r.get("failed_count"),
                    r.get("installed_pending_reboot_count"),
                    r["breached_patches"],
                ]
                for r in rows[:HTML_ROWS]
            ],  # fmt: skip
        ),
    ]
    if len(rows) > HTML_ROWS:
        parts.append(f'<p class="note">First {HTML_ROWS:,} of {len(rows):,} rows; the CSV has them all.</p>')
    parts.append("</body></html>")
    return "".join(parts)


def _write_reports(cfg, day, summary):
    """Write the CSV and HTML under <REPORTS_PREFIX><day>/; return (links, csv rows)."""
    rows = _report_rows(summary)
    prefix = f"{cfg['reports_prefix']}{day.isoformat()}/"
    s3 = _client("s3")
    files = (
        ("html", f"{prefix}summary.html", _html(summary, rows, cfg), "text/html; charset=utf-8"),
        ("csv", f"{prefix}non-compliant-nodes.csv", _csv(rows), "text/csv; charset=utf-8"),
    )
    links = {"prefix": f"s3://{cfg['bucket']}/{prefix}"}
    for kind, key, text, content_type in files:
        _call("s3", "PutObject", s3.put_object, Bucket=cfg["bucket"], Key=key, Body=text.encode("utf-8"),
              ContentType=content_type)  # fmt: skip
        params = {"Bucket": cfg["bucket"], "Key": key}
        links[kind] = _call("s3", "GeneratePresignedUrl", s3.generate_presigned_url, ClientMethod="get_object",
                            Params=params, ExpiresIn=cfg["link_hours"] * 3600)  # fmt: skip
    return links, rows


# --------------------------------------------------------------------------- the message


def _export(summary):
    export_id = summary["export_id"]
    return f"latest complete export {export_id}" if export_id else "no complete export yet"


def _n(value):
    return f"{value:,}"


def _patches(count):
    return f"{count:,} patch" if count == 1 else f"{count:,} patches"


def _delta(now, before):
    if before is None:
        return ""
    diff = now - before
    return f" ({'+' if diff > 0 else ''}{diff:,})" if diff else " (=)"


def _more(total, shown):
    return [f"    … and {total - shown:,} more"] if total > shown else []


def _lines(cfg, summary, links, events, caps):
    day = summary["day"]
    states, missing = summary["states"], summary["missing"]
    out = [f"Patch compliance digest for {day} (UTC)", ""]
    if not states:
        out += ["No compliance data yet. What is missing or empty:"]
        for name, source in (("states", "instance_compliance"), ("trend", "compliance_trend"),
                             ("breached", "patch_age"), ("coverage", "coverage")):  # fmt: skip
            reason = missing.get(name)
            out.append(f"  {source}: {'not available: ' + reason if reason else 'no rows yet'}")
        out += [
            f"  Config export: {_export(summary)}",
            f"  Expected account/region pairs (StackSet instances): {_n(len(summary['targets']))}",
            "",
        ]
    trend = {str(r["day"]): r for r in summary["trend"]}
    latest = trend.get(max(trend)) if trend else None
    earlier = trend.get(min(trend)) if len(trend) > 1 else None
    column = {
        "COMPLIANT": "nodes_compliant", "NON_COMPLIANT": "nodes_non_compliant", "STALE": "nodes_stale",
        "EXEMPT": "nodes_exempt", "UNMANAGED": "nodes_unmanaged", "NO_PATCH_DATA": "nodes_no_patch_data",
        "STOPPED": "nodes_stopped",
    }  # fmt: skip
    if states:
        change = f" (change from {min(trend)} to {max(trend)})" if earlier else ""
        out.append(f"Nodes by compliance state{change}")
        for state in STATES:
            if state in states:
                change = ""
                if latest and earlier and state in column:
                    change = _delta(latest.get(column[state]) or 0, earlier.get(column[state]) or 0)
                out.append(f"  {state:<14}{_n(states[state]):>10}{change}")
        out.append(f"  {'Total':<14}{_n(sum(states.values())):>10}")
        counted = sum(v for s, v in states.items() if s not in ("TERMINATED", "STOPPED", "EXEMPT"))
        if counted:
            out.append(f"  Compliant: {100 * states.get('COMPLIANT', 0) / counted:.1f} % of nodes that are not "
                       "stopped, terminated or exempt")  # fmt: skip
        if latest:
            out.append(f"  On {max(trend)}: {_n(latest.get('new_non_compliant') or 0)} nodes became non-compliant, "
                       f"{_n(latest.get('resolved_non_compliant') or 0)} were fixed")  # fmt: skip
        elif "trend" in missing:
            out.append(f"  Change since the previous day: not available ({missing['trend']})")
        out.append("")
    out.append("Patch SLAs")
    if "breached" in missing:
        out += [f"  Not available: {missing['breached']}", ""]
    else:
        breached, due = summary["breached"], summary["due"]
        out.append(f"  Breached: {_n(sum(r['breached_patches'] for r in breached))} patches on "
                   f"{_n(len(breached))} nodes ({_n(len(summary['new_breached']))} newly breached)")  # fmt: skip
        out.append(f"  Due within {cfg['due_days']} days: {_n(sum(r['patches'] for r in due))} patches on "
                   f"{_n(len(due))} nodes")  # fmt: skip
        if breached:
            out.append("  Nodes with breached SLAs, most breached patches first:")
            for r in breached[: caps["breached"]]:
                name = f" ({r['instance_name']})" if r.get("instance_name") else ""
                where = f"{r['account_id']} {r['region']} {r['instance_id']}{name}"
                out.append(
                    f"    {where}: {_patches(r['breached_patches'])}, oldest due {r['oldest_due']}, "
                    f"{_severity(r.get('severity_rank'))}"
                )
            out += _more(len(breached), caps["breached"])
        if due:
            out.append("  Due soonest:")
            for r in due[: caps["due"]]:
                where = f"{r['account_id']} {r['region']} {r['instance_id']}"
                out.append(f"    {where}: {_patches(r['patches'])}, due {r['next_due']}")
            out += _more(len(due), caps["due"])
        out.append("")
    accounts = summary["accounts"]
    if accounts:
        out.append("Accounts with the most NON_COMPLIANT nodes")
        for i, r in enumerate(accounts[: caps["accounts"]], 1):
            out.append(f"  {i:>2}. {r['account_id']}  {_n(r['nodes'])}")
        out += _more(accounts[0]["accounts"], min(len(accounts), caps["accounts"]))
        out.append("")
    out.append(f"Data feeds (stale after {cfg['stale_hours']} hours without SSM inventory)")
    out.append(f"  Config export: {_export(summary)}")
    if "coverage" in missing:
        out.append(f"  Coverage not available: {missing['coverage']}")
    else:
        counts = summary["coverage_counts"]
        out.append(f"  MISSING {_n(counts.get('MISSING', 0))}, STALE {_n(counts.get('STALE', 0))}, "
                   f"OK {_n(counts.get('OK', 0))} account/region pairs "
                   f"({_n(len(summary['targets']))} expected from the StackSet)")  # fmt: skip
        problems = summary["problems"]
        for r in problems[: caps["feeds"]]:
            status = summary["targets"].get((r["account_id"], r["region"]))
            ages = ", ".join(
                f"{label} {_round(r[key])} h old" if r.get(key) is not None else f"no {label}"
                for label, key in (("SSM", "ssm_age_hours"), ("Config", "config_age_hours"))
            )
            out.append(f"    {r['coverage_state']:<8}{r['account_id']} {r['region']}: {ages}"
                       + (f", stack instance {status}" if status else "")
                       + ("" if r.get("expected") else ", not a StackSet target"))  # fmt: skip
        out += _more(len(problems), caps["feeds"])
    out.append("")
    out.append("Report")
    out.append(f"  Summary (HTML): {links['html']}")
    out.append(f"  Non-compliant nodes (CSV, {_n(len(summary['nodes']))} rows): {links['csv']}")
    out.append(f"  The links work for {cfg['link_hours']} hours at most, and stop earlier when the function's role "
               f"session ends; the files stay at {links['prefix']}")  # fmt: skip
    out.append("")
    if cfg["security_hub"]:
        out.append(f"Security Hub findings: {_n(len(summary['breached']))} active, "
                   f"{_n(summary['findings_archived'])} archived (back within their SLAs)")  # fmt: skip
    counts = _count(events, 1)
    out.append(f"Events put on the default bus (source {cfg['source']}): "
               f"{_n(counts.get(SLA_DETAIL_TYPE, 0))} {SLA_DETAIL_TYPE}, "
               f"{_n(counts.get(FEED_DETAIL_TYPE, 0))} {FEED_DETAIL_TYPE}")  # fmt: skip
    return out


def _message(cfg, summary, links, events):
    """The message text under MESSAGE_LIMIT bytes: lists are cut until it fits."""
    caps = dict(LIST_CAPS)
    while True:
        text = "\n".join(_lines(cfg, summary, links, [(k, t) for k, t, _, _ in events], caps)) + "\n"
        if len(text.encode("utf-8")) <= MESSAGE_LIMIT or not any(caps.values()):
            break
        caps = {k: v // 2 for k, v in caps.items()}
    data = text.encode("utf-8")
    if len(data) > MESSAGE_LIMIT:  # only very long single lines are left: cut at a character boundary
        note = "\n… (message cut at the size limit; the report has everything)\n".encode()
        text = data[: MESSAGE_LIMIT - len(note)].decode("utf-8", "ignore") + note.decode()
    return text


def _subject(summary):
    states = summary["states"]
    subject = (
        f"Patch compliance {summary['day']}: {states.get('NON_COMPLIANT', 0):,} non-compliant, "
        f"{len(summary['breached']):,} nodes past SLA, {len(summary['problems']):,} feed problems"
    )
    return subject.encode("ascii", "replace").decode()[:SUBJECT_LIMIT]


# --------------------------------------------------------------------------- sending


def _put_events(cfg, events, state, day):
    """PutEvents in batches of 10; entries that failed are retried; sent keys go to the day state."""
    sent = set(state["events_sent"])
    todo = [e for e in events if e[0] not in sent]
    client = _client("events")
    try:
        for start in range(0, len(todo), PUT_EVENTS_BATCH):
            batch = todo[start : start + PUT_EVENTS_BATCH]
            for attempt in range(SEND_ATTEMPTS):
                entries = [
                    {"Source": cfg["source"], "DetailType": t, "Resources": r, "Detail": json.dumps(d)}
                    for _, t, r, d in batch
                ]
                response = _call("events", "PutEvents", client.put_events, Entries=entries)
                results = response.get("Entries", [])
                failed = []
                for event, result in zip(batch, results, strict=False):
                    if result.get("EventId"):
                        state["events_sent"].append(event[0])
                    else:
                        failed.append((event, result))
                if len(results) < len(batch):
                    failed += [(e, {"ErrorCode": "NoResult"}) for e in batch[len(results) :]]
                if not failed:
                    break
                codes = {r.get("ErrorCode") for _, r in failed}
                if codes & {"AccessDeniedException", "NotAuthorizedForSourceException"}:
                    raise DigestError(f"Access denied on events:PutEvents: {sorted(codes)}")
                batch = [e for e, _ in failed]
                _sleep(min(2**attempt, 8))
            else:
                raise DigestError(f"events:PutEvents: {len(batch)} entries still failing after {SEND_ATTEMPTS} "
                                  f"attempts: {sorted({r.get('ErrorCode') for _, r in failed})}")  # fmt: skip
    finally:
        _save_state(cfg, day, state)
    return len(state["events_sent"]) - len(sent)


def _finding(cfg, node, now, created, active):
    n = node.get("breached_patches", 0)
    name = f" ({node['instance_name']})" if node.get("instance_name") else ""
    resource = {
        "Type": "AwsEc2Instance" if not str(node["instance_id"]).startswith("mi-") else "Other",
        "Id": _node_arn(cfg, node),
        "Partition": cfg["partition"],
        "Region": node["region"],
    }
    if active:
        title = f"Patch SLA breached: {_patches(n)} on {node['instance_id']}{name}"
        description = (
            f"Missing or failed patches past their SLA on {node['instance_id']}{name} in account "
            f"{node['account_id']}, {node['region']}: {n} (oldest due {node.get('oldest_due')})."
        )
    else:
        title = f"Patch SLAs met again on {node['instance_id']}{name}"
        description = f"{node['instance_id']}{name} in account {node['account_id']}, {node['region']}, has no patch "
        description += "past its SLA any more."
    finding = {
        "SchemaVersion": "2018-10-08",
        "Id": f"{cfg['generator']}/{_node_key(node)}",
        "ProductArn": f"arn:{cfg['partition']}:securityhub:{cfg['region']}:{cfg['account']}:product/"
        f"{cfg['account']}/default",
        "GeneratorId": cfg["generator"],
        "AwsAccountId": cfg["account"],
        "CreatedAt": created,
        "UpdatedAt": now,
        "Title": title[:256],
        "Description": description[:1024],
        "Resources": [resource],
        "FindingProviderFields": {
            "Severity": {"Label": _severity(node.get("severity_rank")) if active else "INFORMATIONAL"},
            "Types": ["Software and Configuration Checks/Patch Management"],
        },
        "Compliance": {"Status": "FAILED" if active else "PASSED"},
        "RecordState": "ACTIVE" if active else "ARCHIVED",
        "ProductFields": {
            "patchcompliance/BreachedPatches": str(n),
            "patchcompliance/OldestSlaDue": str(node.get("oldest_due") or ""),
        },
    }
    return finding


def _import_findings(cfg, summary, previous, state, now):
    """Import one finding per breached node; archive the previous ones whose node is no longer breached."""
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    before = (previous or {}).get("findings", {})
    findings, active = [], {}
    for node in summary["breached"]:
        key = _node_key(node)
        created = before.get(key, {}).get("created", stamp)
        finding = _finding(cfg, node, stamp, created, True)
        if key not in before:
            finding["Workflow"] = {"Status": "NEW"}  # only on creation: BatchImportFindings cannot change it later
        findings.append(finding)
        active[key] = {k: node.get(k) for k in ("account_id", "region", "instance_id", "instance_name")}
        active[key]["created"] = created
    archived = [dict(v) for k, v in before.items() if k not in active]
    findings += [_finding(cfg, node, stamp, node["created"], False) for node in archived]
    client = _client("securityhub")
    for start in range(0, len(findings), FINDINGS_BATCH):
        batch = findings[start : start + FINDINGS_BATCH]
        for attempt in range(SEND_ATTEMPTS):
            response = _call("securityhub", "BatchImportFindings", client.batch_import_findings, Findings=batch)
            failed = {f.get("Id"): f for f in response.get("FailedFindings", [])}
            if not failed:
                break
            batch = [f for f in batch if f["Id"] in failed]
            _sleep(min(2**attempt, 8))
        else:
            raise DigestError(f"securityhub:BatchImportFindings: {len(batch)} findings still failing: "
                              f"{sorted({f.get('ErrorCode') for f in failed.values()})}")  # fmt: skip
    state["findings"] = active
    state["findings_archived"] = len(archived)
    return len(active), len(archived)


def _publish(cfg, subject, text):
    region = cfg["topic_arn"].split(":")[3] if cfg["topic_arn"].count(":") >= 5 else None
    sns = _client("sns", region)
    response = _call("sns", "Publish", sns.publish, TopicArn=cfg["topic_arn"], Subject=subject, Message=text)
    return response.get("MessageId")


# --------------------------------------------------------------------------- handler


def handler(event, context):
    cfg = _settings()
    now = _now()
    day = _day(event)
    try:
        previous, state = _load_states(cfg, day)
        targets = _write_expected(cfg, now)
        results = _run_queries(cfg, _queries(day, cfg["due_days"]), context)
        summary = _summarise(cfg, results, targets, previous, day)
        links, rows = _write_reports(cfg, day, summary)
        events = _events(cfg, day, summary)
        text = _message(cfg, summary, links, events)
        subject = _subject(summary)
        state.update(
            day=day.isoformat(),
            breached_nodes=sorted(_node_key(r) for r in summary["breached"]),
            problem_feeds=sorted(_feed_key(r) for r in summary["problems"]),
        )
        if previous and "findings" in previous and "findings" not in state:
            state["findings"] = previous["findings"]
        put = _put_events(cfg, events, state, day)
        findings = _import_findings(cfg, summary, previous, state, now) if cfg["security_hub"] else None
        _save_state(cfg, day, state)
        message_id = None
        if state.get("published"):
            LOG.info(
                "The digest for %s was already published (message %s); not sent again", day, state.get("message_id")
            )
        else:
            message_id = _publish(cfg, subject, text)
            state.update(published=True, message_id=message_id)
            _save_state(cfg, day, state)
    except DigestError as err:
        LOG.error("Digest for %s failed: %s", day, err)
        raise
    outcome = {
        "day": day.isoformat(),
        "message_bytes": len(text.encode("utf-8")),
        "message_id": message_id,
        "events_put": put,
        "findings": findings,
        "report_rows": len(rows),
        "missing": sorted(summary["missing"]),
    }
    LOG.info("Digest: %s", json.dumps(outcome))
    return outcome
