"""Export EC2 instances and their Config rule results from the Config aggregator to S3, one Glue partition a run.

Input: an EventBridge "Scheduled Event" starts an export; {"continuation": n, "export_id": id} is what this
function sends itself (asynchronous lambda:Invoke) when an export needs more than one invocation.

Source: advanced queries on the aggregator (config:SelectAggregateResourceConfig, Limit=100, the maximum), so
no Config snapshot file is read and the Config delivery bucket does not matter. Only documented queryable
properties are selected (AWS Config resource schema), one query per kind of row:
  instance  AWS::EC2::Instance items
  rules     AWS::Config::ResourceCompliance items whose target is an EC2 instance or an SSM managed node
Items whose configurationItemStatus is ResourceDeleted* are skipped, as are unparsable results and results
without account, region or resource ID (logged, counted per reason).

Output: gzip JSON Lines, one line per resource, both kinds in one table. Keys that would be null or empty are
left out (the JSON SerDe reads them as NULL).
  s3://<BUCKET>/<PREFIX>/export_id=<YYYYMMDDTHHMMSSZ>/part-<nnnnn>.json.gz
Part numbers are per query: query q writes q*10000, q*10000+1, ...; a part is cut at a page boundary when the
next page would take it over PART_ROWS rows or PART_BYTES compressed bytes, so memory stays bounded.

A run is atomic: the Glue partition export_id=<id> (one glue:CreatePartition, storage descriptor from
STORAGE_DESCRIPTOR) is created only after every part is in S3. Readers take the largest registered export_id,
so they see the previous complete export until this one is registered. A failed run registers nothing.

Resumable: the run state (query index, NextToken, parts, row counts) is saved as JSON under
<PREFIX>/_runs/<export_id>.json at every part boundary. Near the Lambda deadline the function writes the open
part, saves the state and invokes itself asynchronously (at most MAX_CONTINUATIONS times); a retried
invocation resumes from the last saved state. A NextToken rejected on resume restarts that query: its parts
are rewritten under the same numbers and any higher number left from before is overwritten with an empty part,
so no row is exported twice.

Throttling and server errors are retried with exponential back-off and full jitter on the same page. A missing
aggregator or denied access fails the invocation with a message naming the aggregator and the fix.
Environment: AGGREGATOR_NAME, BUCKET, PREFIX, GLUE_DATABASE, EXPORT_TABLE, STORAGE_DESCRIPTOR,
MAX_CONTINUATIONS (default 10); optional PART_ROWS, PART_BYTES, DEADLINE_MARGIN_SECONDS.
One JSON summary line is logged per invocation (cumulative for the export).
"""

import datetime
import gzip
import io
import json
import logging
import os
import random
import re
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

PAGE_SIZE = 100  # SelectAggregateResourceConfig: Limit 0..100 (0 or absent: 25 for a non-aggregating query)
PARTS_PER_QUERY = 10_000  # part number = query index * PARTS_PER_QUERY + sequence
PART_ROWS, PART_BYTES = 50_000, 32 * 2**20  # defaults; a part holds at most this many rows / compressed bytes
DEADLINE_MARGIN_S = 90  # stop and hand over when less than this is left (a page call may take up to 60 s)
MAX_CONTINUATIONS = 10
MAX_RETRIES = 8  # throttled or failed attempts of one page before the invocation fails
BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 20.0
THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
}
DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "NotAuthorized"}
DELETED = ("ResourceDeleted", "ResourceDeletedNotRecorded")
EXPORT_ID_RE = re.compile(r"^\d{8}T\d{6}Z$")
NODE_TARGET_TYPES = ("AWS::EC2::Instance", "AWS::SSM::ManagedInstanceInventory", "AWS::SSM::PatchCompliance")
LOGGED_BAD_ROWS = 10  # bad results logged in full per invocation; the rest are only counted

# (kind, expression). Every property is a documented queryable property of the resource type
# (AWS Config resource schema, config/properties/resource-types/<type>.properties.json).
QUERIES = (
    (
        "instance",
        "SELECT accountId, awsRegion, resourceId, resourceName, configurationItemCaptureTime, "
        "configurationItemStatus, configuration.state.name, configuration.platform, configuration.platformDetails, "
        "configuration.launchTime, tags.key, tags.value WHERE resourceType = 'AWS::EC2::Instance'",
    ),
    (
        "rules",
        "SELECT accountId, awsRegion, configurationItemCaptureTime, configurationItemStatus, "
        "configuration.targetResourceType, configuration.targetResourceId, "
        "configuration.configRuleList.configRuleName, configuration.configRuleList.complianceType "
        "WHERE resourceType = 'AWS::Config::ResourceCompliance' AND configuration.targetResourceType IN ("
        + ", ".join(f"'{t}'" for t in NODE_TARGET_TYPES)
        + ")",
    ),
)
KINDS = tuple(kind for kind, _ in QUERIES)

CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
# Config calls are retried here (same page, deadline-aware, counted), not inside botocore.
CONFIG_SERVICE = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=20)
_sleep = time.sleep
_rng = random.Random()
_clients = {}


class ExportError(Exception):
    """The export cannot go on; the message says why and what to change."""


class _TokenRejected(Exception):
    pass


class _Deadline(Exception):
    pass


def _client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name, config=CONFIG_SERVICE if name == "config" else CONFIG)
    return _clients[name]


def _error_code(err):
    return err.response.get("Error", {}).get("Code", "")


# --------------------------------------------------------------------------- rows


def _text(value):
    """A scalar as text (numbers that are epoch times as ISO-8601), anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = value / 1000 if value > 1e11 else value
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _entries(value):
    """An array property as a list of objects (a single object when the array has one element is accepted)."""
    if isinstance(value, dict):
        return [value]
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _tags(value):
    if isinstance(value, dict) and not {"key", "value", "tag"} & set(value):  # {"Name": "web"}
        return [{"key": str(k), "value": _text(v) or ""} for k, v in value.items()]
    tags = []
    for entry in _entries(value):
        key, tag_value = _text(entry.get("key")), _text(entry.get("value"))
        if key is None and isinstance(entry.get("tag"), str):  # "key=value" form
            key, _, tag_value = entry["tag"].partition("=")
        if key is not None:
            tags.append({"key": key, "value": tag_value or ""})
    return tags


def _rules(value):
    rules = []
    for entry in _entries(value):
        name = _text(entry.get("configRuleName"))
        if name:
            rules.append({"rule_name": name, "compliance_type": _text(entry.get("complianceType"))})
    return rules


def _instance_row(item, config):
    state = config.get("state")
    return {
        "kind": "instance",
        "account_id": _text(item.get("accountId")),
        "region": _text(item.get("awsRegion")),
        "resource_type": "AWS::EC2::Instance",
        "resource_id": _text(item.get("resourceId")),
        "instance_id": _text(item.get("resourceId")),
        "resource_name": _text(item.get("resourceName")),
        "instance_state": _text(state.get("name")) if isinstance(state, dict) else None,
        "platform_details": _text(config.get("platformDetails")) or _text(config.get("platform")),
        "launch_time": _text(config.get("launchTime")),
        "tags": _tags(item.get("tags")),
        "capture_time": _text(item.get("configurationItemCaptureTime")),
    }


def _rules_row(item, config):
    target = _text(config.get("targetResourceId"))
    return {
        "kind": "rules",
        "account_id": _text(item.get("accountId")),
        "region": _text(item.get("awsRegion")),
        "resource_type": _text(config.get("targetResourceType")),
        "resource_id": target,
        # PatchCompliance targets are "AWS::SSM::ManagedInstanceInventory/<node id>"
        "instance_id": target.rsplit("/", 1)[-1] if target else None,
        "rules": _rules(config.get("configRuleList")),
        "capture_time": _text(item.get("configurationItemCaptureTime")),
    }


ROW_BUILDERS = {"instance": _instance_row, "rules": _rules_row}


def _encode(row):
    try:
        return json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    except UnicodeEncodeError:  # a lone UTF-16 surrogate from the source JSON: keep it escaped
        return json.dumps(row, separators=(",", ":")).encode() + b"\n"


def to_row(kind, result):
    """(row, None) for one query result (a JSON string), or (None, reason) when it is skipped."""
    try:
        item = json.loads(result)
    except (TypeError, ValueError):
        return None, "unparsable"
    if not isinstance(item, dict):
        return None, "unparsable"
    if _text(item.get("configurationItemStatus")) in DELETED:
        return None, "deleted"
    config = item.get("configuration")
    row = ROW_BUILDERS[kind](item, config if isinstance(config, dict) else {})
    if not (row["account_id"] and row["region"] and row["resource_id"] and row["instance_id"]):
        return None, "missing_id"
    return {k: v for k, v in row.items() if v not in (None, "", [])}, None


# --------------------------------------------------------------------------- parts


class Part:
    """One gzip JSON Lines object being built in memory."""

    EMPTY = gzip.compress(b"", mtime=0)

    def __init__(self):
        self.buffer = io.BytesIO()
        self.gzip = gzip.GzipFile(fileobj=self.buffer, mode="wb", compresslevel=6, mtime=0)
        self.rows = 0

    def add(self, lines):
        self.gzip.write(b"".join(lines))
        self.rows += len(lines)

    @property
    def size(self):
        return self.buffer.tell()

    def body(self):
        self.gzip.close()
        self.buffer.seek(0)
        return self.buffer


# --------------------------------------------------------------------------- run


def _settings():
    env = os.environ
    return {
        "aggregator": env["AGGREGATOR_NAME"],
        "bucket": env["BUCKET"],
        "prefix": env.get("PREFIX", "").strip("/"),
        "database": env["GLUE_DATABASE"],
        "table": env["EXPORT_TABLE"],
        "descriptor": json.loads(env["STORAGE_DESCRIPTOR"]),
        "max_continuations": int(env.get("MAX_CONTINUATIONS") or MAX_CONTINUATIONS),
        "part_rows": max(PAGE_SIZE, int(env.get("PART_ROWS") or PART_ROWS)),
        "part_bytes": int(env.get("PART_BYTES") or PART_BYTES),
        "margin": float(env.get("DEADLINE_MARGIN_SECONDS") or DEADLINE_MARGIN_S),
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "this region",
    }


def _now():
    return datetime.datetime.now(datetime.UTC)


def _new_state(export_id):
    return {
        "export_id": export_id,
        "status": "running",
        "started_at": _now().isoformat(timespec="milliseconds"),
        "continuations": 0,
        "request_id": None,
        "query": 0,  # query in progress
        "next_token": None,  # token of its first page not yet in S3 (None: from the start)
        "part_seq": [0] * len(QUERIES),  # parts written per query in the current pass
        "high_water": [0] * len(QUERIES),  # highest number of parts ever started per query
        "rows": [0] * len(QUERIES),
        "skipped": [{} for _ in QUERIES],
        "stats": {"pages": 0, "api_calls": 0, "retries": 0, "restarts": 0},
    }


class Export:
    def __init__(self, settings, state, context):
        self.s = settings
        self.state = state
        self.context = context
        self.started = time.monotonic()
        self.bad_logged = 0

    # ---------------------------------------------------------------- keys and state
    def key(self, *parts):
        return "/".join(p for p in (self.s["prefix"], *parts) if p)

    def folder(self):
        return self.key(f"export_id={self.state['export_id']}")

    def part_key(self, query, seq):
        return f"{self.folder()}/part-{query * PARTS_PER_QUERY + seq:05d}.json.gz"

    def state_key(self):
        return self.key("_runs", f"{self.state['export_id']}.json")

    def save(self):
        body = json.dumps(self.state, separators=(",", ":")).encode()
        _client("s3").put_object(
            Bucket=self.s["bucket"], Key=self.state_key(), Body=body, ContentType="application/json"
        )

    # ---------------------------------------------------------------- deadline
    def remaining(self):
        remaining = getattr(self.context, "get_remaining_time_in_millis", None)
        return remaining() / 1000 if callable(remaining) else 900.0

    def near_deadline(self, extra=0.0):
        return self.remaining() - extra < self.s["margin"]

    # ---------------------------------------------------------------- Config
    def select(self, expression, token):
        """One page; throttling and server errors are retried on the same page."""
        params = {
            "Expression": expression,
            "ConfigurationAggregatorName": self.s["aggregator"],
            "Limit": PAGE_SIZE,
        }
        if token:
            params["NextToken"] = token
        stats = self.state["stats"]
        for attempt in range(MAX_RETRIES + 1):
            stats["api_calls"] += 1
            try:
                page = _client("config").select_aggregate_resource_config(**params)
                stats["pages"] += 1
                return page
            except ClientError as err:
                code = _error_code(err)
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code == "NoSuchConfigurationAggregatorException":
                    raise ExportError(
                        f"Config aggregator {self.s['aggregator']!r} not found in {self.s['region']}: set "
                        "ConfigAggregatorName to an aggregator of this account in this region (for example the "
                        "one AWS Control Tower or your organization already has), or let the stack create the "
                        "organization aggregator."
                    ) from err
                if code in DENIED:
                    raise ExportError(
                        f"Access denied to Config aggregator {self.s['aggregator']!r} in {self.s['region']}: the "
                        "central account must be the organization's management account or the AWS Config "
                        "delegated administrator (aws organizations register-delegated-administrator "
                        "--service-principal config.amazonaws.com), and the function's role needs "
                        f"config:SelectAggregateResourceConfig on the aggregator. AWS said: {err}"
                    ) from err
                if code == "InvalidNextTokenException" and token:
                    raise _TokenRejected() from err
                if code not in THROTTLED and status < 500:
                    raise
                failure = err
            except (ConnectionError, HTTPClientError) as err:  # timeouts, resets: transient
                failure = err
            if attempt == MAX_RETRIES:
                raise failure
            delay = _rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            if self.near_deadline(extra=delay):
                raise _Deadline()
            stats["retries"] += 1
            LOG.info("Config query %s (attempt %d); retrying the same page in %.1f s", failure, attempt + 1, delay)
            _sleep(delay)
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- S3 parts
    def write_part(self, query, part):
        """Upload the part as the query's next part number; the state records it first (see blank_stale)."""
        seq = self.state["part_seq"][query]
        if seq >= PARTS_PER_QUERY:
            raise ExportError(f"more than {PARTS_PER_QUERY} parts for one query; raise PART_ROWS")
        if seq + 1 > self.state["high_water"][query]:
            self.state["high_water"][query] = seq + 1
            self.save()
        _client("s3").put_object(
            Bucket=self.s["bucket"], Key=self.part_key(query, seq), Body=part.body(), ContentType="application/json"
        )
        self.state["part_seq"][query] = seq + 1
        self.state["rows"][query] += part.rows

    def blank_stale(self, query):
        """Parts numbered above this pass's last one are left from a restarted pass: overwrite them empty."""
        for seq in range(self.state["part_seq"][query], self.state["high_water"][query]):
            LOG.info("Overwriting stale part %s with an empty part", self.part_key(query, seq))
            _client("s3").put_object(
                Bucket=self.s["bucket"], Key=self.part_key(query, seq), Body=Part.EMPTY, ContentType="application/json"
            )

    def checkpoint(self, query, part, token):
        """Write the open part (if any) and save the state; returns a fresh part."""
        if part.rows:
            self.write_part(query, part)
        self.state["next_token"] = token
        self.save()
        return Part()

    def restart(self, query):
        LOG.warning("NextToken of query %d rejected; restarting the query from its first page", query)
        self.state["stats"]["restarts"] += 1
        self.state["part_seq"][query] = 0
        self.state["rows"][query] = 0
        self.state["skipped"][query] = {}
        self.state["next_token"] = None

    # ---------------------------------------------------------------- one query
    def export_query(self, query):
        """Export query `query` from the saved token on; True when finished, False at the deadline."""
        kind, expression = QUERIES[query]
        token = self.state["next_token"]
        part = Part()
        restarted = False
        while True:
            if self.near_deadline():
                self.checkpoint(query, part, token)
                return False
            try:
                page = self.select(expression, token)
            except _Deadline:
                self.checkpoint(query, part, token)
                return False
            except _TokenRejected:
                if restarted:
                    raise ExportError(f"NextToken rejected again after restarting query {query}") from None
                restarted = True
                self.restart(query)
                token, part = None, Part()
                continue
            lines = self.lines(query, kind, page.get("Results") or [])
            limit_rows = part.rows + len(lines) > self.s["part_rows"]
            if part.rows and (limit_rows or part.size >= self.s["part_bytes"]):
                part = self.checkpoint(query, part, token)  # this page starts the next part
            if lines:
                part.add(lines)
            token = page.get("NextToken")
            if not token:
                if part.rows:
                    self.write_part(query, part)
                return True

    def lines(self, query, kind, results):
        lines = []
        skipped = self.state["skipped"][query]
        for result in results:
            row, reason = to_row(kind, result)
            if row is None:
                skipped[reason] = skipped.get(reason, 0) + 1
                if self.bad_logged < LOGGED_BAD_ROWS and reason != "deleted":
                    self.bad_logged += 1
                    LOG.warning("Skipped %s result (%s): %.300r", kind, reason, result)
                continue
            lines.append(_encode(row))
        return lines

    # ---------------------------------------------------------------- the run
    def run(self):
        """'published' or 'continued'."""
        state = self.state
        while state["query"] < len(QUERIES):
            query = state["query"]
            if not self.export_query(query):
                return self.hand_over()
            self.blank_stale(query)
            state["query"] += 1
            state["next_token"] = None
            self.save()
        self.publish()
        return "published"

    def hand_over(self):
        state = self.state
        if state["continuations"] >= self.s["max_continuations"]:
            raise ExportError(
                f"export {state['export_id']} not finished after {state['continuations']} continuations "
                f"(MAX_CONTINUATIONS); nothing was published, the previous export stays current. Raise "
                f"MAX_CONTINUATIONS or the function timeout. State: s3://{self.s['bucket']}/{self.state_key()}"
            )
        payload = {"continuation": state["continuations"] + 1, "export_id": state["export_id"]}
        _client("lambda").invoke(
            FunctionName=self.context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )
        return "continued"

    def publish(self):
        rows = dict(zip(KINDS, self.state["rows"], strict=True))
        if not rows["instance"]:
            LOG.warning("Aggregator %r returned no EC2 instance; publishing an empty export", self.s["aggregator"])
        descriptor = dict(self.s["descriptor"], Location=f"s3://{self.s['bucket']}/{self.folder()}/")
        glue = _client("glue")
        try:
            glue.create_partition(
                DatabaseName=self.s["database"],
                TableName=self.s["table"],
                PartitionInput={
                    "Values": [self.state["export_id"]],
                    "StorageDescriptor": descriptor,
                    "Parameters": {f"{kind}_rows": str(n) for kind, n in rows.items()},
                },
            )
        except glue.exceptions.AlreadyExistsException:
            LOG.info("Partition export_id=%s already registered", self.state["export_id"])
        self.state["status"] = "published"
        self.save()

    def summary(self, outcome, error=None):
        state = self.state
        started = datetime.datetime.fromisoformat(state["started_at"])
        skipped = {}
        for per_query in state["skipped"]:
            for reason, n in per_query.items():
                skipped[reason] = skipped.get(reason, 0) + n
        line = {
            "export_id": state["export_id"],
            "outcome": outcome,
            "invocation": state["continuations"],
            "rows": dict(zip(KINDS, state["rows"], strict=True)),
            "parts": sum(state["part_seq"]),
            **state["stats"],
            "skipped": skipped,
            "invocation_s": round(time.monotonic() - self.started, 3),
            "elapsed_s": round((_now() - started).total_seconds(), 3),
        }
        if error is not None:
            line["error"] = str(error)[:500]
        LOG.info(json.dumps(line, separators=(",", ":")))
        return line


# --------------------------------------------------------------------------- entry point


def _export_id(event):
    """YYYYMMDDTHHMMSSZ of the scheduled time, so a retried event resumes the same export."""
    moment = None
    if isinstance(event, dict) and isinstance(event.get("time"), str):
        try:
            moment = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        except ValueError:
            LOG.warning("Ignored unparsable event time %.100r", event["time"])
    moment = (moment or _now()).astimezone(datetime.UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _load_state(settings, export_id, *, required):
    key = "/".join(p for p in (settings["prefix"], "_runs", f"{export_id}.json") if p)
    try:
        body = _client("s3").get_object(Bucket=settings["bucket"], Key=key)["Body"].read()
    except ClientError as err:
        # Without s3:ListBucket a missing object answers 403 rather than 404; a new export has no state yet.
        if _error_code(err) not in ("NoSuchKey", "404", "AccessDenied", "403"):
            raise
        if required:
            raise ExportError(f"no readable state for export {export_id} at s3://{settings['bucket']}/{key}") from err
        return None
    return json.loads(body)


def _valid_continuation(event):
    number, export_id = event.get("continuation"), event.get("export_id")
    return (
        isinstance(number, int)
        and not isinstance(number, bool)
        and number > 0
        and isinstance(export_id, str)
        and EXPORT_ID_RE.match(export_id) is not None
    )


def _progress(state):
    return f"{state['status']} at continuation {state['continuations']}"


def _claim(event, settings, request_id):
    """The state this invocation works on, or None when another invocation owns (or finished) the export."""
    if "continuation" in event:
        if not _valid_continuation(event):
            raise ExportError(f"malformed continuation event: {json.dumps(event, default=str)[:300]}")
        number, export_id = event["continuation"], event["export_id"]
        state = _load_state(settings, export_id, required=True)
        # Lambda retries an asynchronous invocation with the same request ID; a duplicate delivery has another.
        retry = number == state["continuations"] and state.get("request_id") == request_id
        if state["status"] == "published" or not (number == state["continuations"] + 1 or retry):
            LOG.info("Ignored continuation %d of export %s (%s)", number, export_id, _progress(state))
            return None
        state["continuations"] = number
        return state
    export_id = _export_id(event)
    state = _load_state(settings, export_id, required=False)
    if state is None:
        return _new_state(export_id)
    if state["status"] == "published" or state["continuations"] > 0:
        LOG.info("Ignored event for export %s (%s)", export_id, _progress(state))
        return None
    return state  # a retried event resumes its export


def handler(event, context):
    settings = _settings()
    request_id = getattr(context, "aws_request_id", None)
    state = _claim(event if isinstance(event, dict) else {}, settings, request_id)
    if state is None:
        return {"outcome": "ignored"}
    state["request_id"] = request_id
    export = Export(settings, state, context)
    try:
        export.save()  # claims the export: a later duplicate of this event is ignored
        outcome = export.run()
    except Exception as err:
        export.summary("failed", err)
        raise
    return export.summary(outcome)
