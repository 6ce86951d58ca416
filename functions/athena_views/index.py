"""Create, update and drop the Athena views of the AthenaViews custom resource.

Properties: WorkGroup, Database, Views = [{"Name": ..., "Sql": "SELECT ..."}] in dependency order.
Create/Update run CREATE OR REPLACE VIEW for each view in order (an Update also drops views that left
the list); Delete runs DROP VIEW IF EXISTS in reverse order, and a database or workgroup that is
already gone counts as dropped. Each query is polled with a growing back-off until it finishes; a query
still running near the Lambda deadline is stopped and the resource answers FAILED. The answer is always
SUCCESS or FAILED. PhysicalResourceId: "<Database>-views", kept from the event on Update unless the
database changed (then CloudFormation deletes the views of the old database).
"""

import json
import logging
import re
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")
GONE_RE = re.compile(
    r"SCHEMA_NOT_FOUND|Schema .* does not exist|Database .*(not found|does not exist)"
    r"|Database does not exist|WorkGroup .*(not found|does not exist)",
    re.IGNORECASE,
)
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 5.0  # poll back-off: 0.5, 1, 2, 4, 5, 5, ... seconds
MARGIN_S = 15  # answer FAILED when less than this is left before the Lambda deadline
CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=15)
_sleep = time.sleep
_clients = {}


class ViewError(Exception):
    """A view could not be created or dropped; the message is the answer's Reason."""


class Gone(Exception):
    """The database or workgroup no longer exists."""


def _client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name, config=CONFIG)
    return _clients[name]


def _remaining(context):
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else 900.0


def run_query(sql, props, view, context):
    """Start sql in the workgroup and wait for it; raise ViewError, or Gone for a missing database."""
    athena = _client("athena")
    if _remaining(context) < MARGIN_S:
        raise ViewError(f"View {view}: not started, the Lambda deadline is near")
    try:
        qid = athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": props["Database"]},
            WorkGroup=props["WorkGroup"],
        )["QueryExecutionId"]
    except ClientError as err:
        message = err.response.get("Error", {}).get("Message", "")
        if GONE_RE.search(message):
            raise Gone(message) from err
        raise ViewError(f"View {view}: {err}") from err
    delay = FIRST_DELAY_S
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        state = status.get("State")
        if state == "SUCCEEDED":
            return
        if state in FINAL:
            reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage", "")
            if GONE_RE.search(reason):
                raise Gone(reason)
            raise ViewError(f"View {view}: query {qid} {state}: {reason}")
        if _remaining(context) - delay < MARGIN_S:
            try:
                athena.stop_query_execution(QueryExecutionId=qid)
            except Exception:
                LOG.exception("Could not stop query %s", qid)
            raise ViewError(f"View {view}: query {qid} still {state} at the Lambda deadline; stopped it")
        _sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)


def _properties(raw):
    """Validated (props, view list); raises ViewError for missing or malformed properties."""
    props = raw if isinstance(raw, dict) else {}
    views = props.get("Views")
    if isinstance(views, str):
        try:
            views = json.loads(views)
        except ValueError:
            views = None
    for key in ("WorkGroup", "Database"):
        if not isinstance(props.get(key), str) or not props[key]:
            raise ViewError(f"Property {key} is missing or empty")
    if not isinstance(views, list) or not all(isinstance(v, dict) for v in views):
        raise ViewError("Property Views must be a list of {Name, Sql}")
    for view in views:
        if not NAME_RE.match(str(view.get("Name", ""))) or not str(view.get("Sql", "")).strip():
            raise ViewError(f"Invalid view entry (Name must match {NAME_RE.pattern}, Sql non-empty)")
    return props, views


def _drop(props, names, context):
    """DROP VIEW IF EXISTS for each name; a vanished database or workgroup means nothing is left."""
    for name in names:
        try:
            run_query(f'DROP VIEW IF EXISTS "{name}"', props, name, context)
            LOG.info("Dropped view %s", name)
        except Gone as err:
            LOG.info("Nothing to drop, the database or workgroup is gone: %s", err)
            return "; the database or workgroup was already gone"
    return ""


def apply(event, context):
    """Perform the request; returns the Reason of a successful answer."""
    request = event.get("RequestType")
    if request == "Delete":
        try:
            props, views = _properties(event.get("ResourceProperties"))
        except ViewError as err:  # e.g. rollback of a Create that failed validation: nothing was made
            return f"Nothing to drop: {err}"
        gone = _drop(props, [v["Name"] for v in reversed(views)], context)
        return f"Dropped {len(views)} views{gone}"
    if request not in ("Create", "Update"):
        raise ViewError(f"Unknown RequestType {request!r}")
    props, views = _properties(event.get("ResourceProperties"))
    for view in views:
        sql = f'CREATE OR REPLACE VIEW "{view["Name"]}" AS {str(view["Sql"]).strip().rstrip(";")}'
        try:
            run_query(sql, props, view["Name"], context)
        except Gone as err:
            raise ViewError(f"View {view['Name']}: {err}") from err
        LOG.info("Created view %s", view["Name"])
    old = _dict(event.get("OldResourceProperties"))
    if request == "Update" and old.get("Database") == props["Database"]:
        kept = {v["Name"] for v in views}
        try:
            old_names = [v["Name"] for v in reversed(_properties(old)[1])]
        except ViewError:
            old_names = []
        _drop(props, [n for n in old_names if n not in kept], context)
    return f"Created {len(views)} views"


def _dict(value):
    return value if isinstance(value, dict) else {}


def _physical_id(event):
    database = _dict(event.get("ResourceProperties")).get("Database")
    old_database = _dict(event.get("OldResourceProperties")).get("Database")
    if event.get("PhysicalResourceId") and (event.get("RequestType") != "Update" or old_database == database):
        return str(event["PhysicalResourceId"])
    return f"{database or event.get('LogicalResourceId') or 'athena'}-views"


def _answer(event, context, status, reason, physical_id):
    log = f"{getattr(context, 'log_group_name', '?')} {getattr(context, 'log_stream_name', '?')}"
    body = {
        "Status": status,
        "Reason": f"{reason} (CloudWatch Logs: {log})",
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "Data": {},
    }
    if len(json.dumps(body)) > 4096:  # keep the answer within CloudFormation's limit: shorten Reason
        budget, kept = 4096 - len(json.dumps(dict(body, Reason="..."))), 0
        for n, char in enumerate(body["Reason"]):
            kept += len(json.dumps(char)) - 2
            if kept > budget:
                body["Reason"] = body["Reason"][:n] + "..."
                break
    LOG.info("Answering %s: %s", status, body["Reason"])
    raw = json.dumps(body).encode()
    req = urllib.request.Request(event["ResponseURL"], data=raw, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(req, timeout=15) as resp:
        LOG.info("CloudFormation answered HTTP %s", resp.status)


def handler(event, context):
    if not isinstance(event, dict) or "ResponseURL" not in event:
        LOG.error("Ignored event that is not a custom-resource request: %.500r", event)
        return None
    try:
        status, reason = "SUCCESS", apply(event, context)
    except Exception as err:
        LOG.exception("Request %s failed", event.get("RequestType"))
        status, reason = "FAILED", str(err) if isinstance(err, ViewError) else f"{type(err).__name__}: {err}"
    physical_id = _physical_id(event)
    _answer(event, context, status, reason, physical_id)
    return {"Status": status, "PhysicalResourceId": physical_id}
