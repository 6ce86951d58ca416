"""Register the Glue partitions of the SSM inventory tables for every account and region that delivers.

Invoked by an EventBridge schedule; the event's content is not used. Every run:
1. Finds the (account, region) pairs in the folders of ONE inventory type, the anchor (ANCHOR_FOLDER):
   ListObjectsV2 with Delimiter "/" on <PREFIX>/<ANCHOR_FOLDER>/ lists the accountid=<12 digits>/ folders,
   then, per account, its region=<region>/ folders. Calls grow with the folders, never with the objects.
   Objects at those levels (SSM's accountid=<acct>/test.json probe) and folders with other names are skipped.
2. Reads the pairs already registered: glue:GetPartitions on the anchor table, paged.
3. Registers the new pairs in chunks of 100 (the glue:BatchCreatePartition limit): in every other inventory
   table, then in the anchor table. A pair counts as registered once the anchor table has it, so a run that
   fails or stops early is completed by the next one. "Already exists" counts as success. Each table's
   StorageDescriptor comes from one glue:GetTable per table per run, only when there is something to
   register; Location = table location + accountid=<a>/region=<r>/resourcetype=<RESOURCE_TYPE>/.
Any other S3 or Glue error fails the invocation, so it is retried and finally parked in the dead-letter
queue. Each run logs one JSON summary line: pairs found, new, registered, skipped, calls per API.

Environment: BUCKET, PREFIX, ANCHOR_FOLDER, RESOURCE_TYPE, GLUE_DATABASE, ANCHOR_TABLE, TABLES (the
comma-separated names of every inventory table, the anchor table included).
"""

import json
import logging
import os
import re

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

ACCOUNT_FOLDER = re.compile(r"^accountid=(\d{12})/$")
REGION_FOLDER = re.compile(r"^region=([a-z]{2}(?:-[a-z]+)+-\d{1,2})/$")
LIST_PAGE_SIZE = 1000  # ListObjectsV2 MaxKeys: at most 1,000 keys and common prefixes per page
PARTITION_PAGE_SIZE = 1000  # GetPartitions MaxResults maximum
BATCH_LIMIT = 100  # BatchCreatePartition PartitionInputList maximum
MARGIN_MS = 60_000  # start no new chunk when less than this is left before the Lambda deadline
ALREADY_EXISTS = "AlreadyExistsException"
METHODS = {"ListObjectsV2": "list_objects_v2", "GetPartitions": "get_partitions", "GetTable": "get_table",
           "BatchCreatePartition": "batch_create_partition"}  # fmt: skip
ACTIONS = {"ListObjectsV2": "s3:ListBucket"}  # IAM action authorising the call, where it is not service:operation
CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
_clients = {}


def _client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name, config=CONFIG)
    return _clients[name]


class Failure(Exception):
    """An S3 or Glue call failed: the invocation fails with this message."""


class Run:
    def __init__(self, env, context):
        self.bucket = env["BUCKET"]
        prefix = env["PREFIX"].strip("/")
        self.root = (prefix + "/" if prefix else "") + env["ANCHOR_FOLDER"].strip("/") + "/"
        self.resource_type = env["RESOURCE_TYPE"]
        self.database = env["GLUE_DATABASE"]
        self.anchor = env["ANCHOR_TABLE"]
        tables = [t.strip() for t in env["TABLES"].split(",") if t.strip()]
        if self.anchor not in tables:
            raise Failure(f"ANCHOR_TABLE {self.anchor} is not one of TABLES {tables}")
        self.tables = [t for t in tables if t != self.anchor] + [self.anchor]  # the anchor table last
        self.context = context
        self.calls = dict.fromkeys(METHODS, 0)
        self.summary = {"pairs": 0, "registered_before": 0, "new": 0, "registered": 0, "deferred": 0,
                        "skipped_folders": 0, "ignored_objects": 0, "already_existing": 0}  # fmt: skip

    # ------------------------------------------------------------ AWS calls, counted
    def _call(self, service, operation, target, **params):
        self.calls[operation] += 1
        try:
            return getattr(_client(service), METHODS[operation])(**params)
        except ClientError as err:
            error = err.response.get("Error", {})
            code, message = error.get("Code", "?"), error.get("Message", "")
            hint = ""
            if code in ("AccessDenied", "AccessDeniedException"):
                action = ACTIONS.get(operation, f"{service}:{operation}")
                hint = f" (the function's role must allow {action} on {target})"
            raise Failure(f"{service}:{operation} on {target} failed: {code}: {message}{hint}") from err
        except BotoCoreError as err:
            raise Failure(f"{service}:{operation} on {target} failed: {err}") from err

    # ------------------------------------------------------------ discovery
    def _folders(self, prefix):
        """Names (relative, ending in "/") of the folders directly below prefix; objects there are counted."""
        params = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": LIST_PAGE_SIZE}
        target = f"s3://{self.bucket}/{prefix}"
        while True:
            page = self._call("s3", "ListObjectsV2", target, **params)
            for common in page.get("CommonPrefixes") or []:
                yield common["Prefix"][len(prefix) :]
            for obj in page.get("Contents") or []:
                self.summary["ignored_objects"] += 1  # e.g. the accountid=<acct>/test.json probe
                LOG.debug("Ignored object s3://%s/%s", self.bucket, obj.get("Key"))
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token:
                raise Failure(f"s3:ListObjectsV2 on {target} was truncated without a continuation token")
            params["ContinuationToken"] = token

    def _skip(self, prefix, name, expected):
        self.summary["skipped_folders"] += 1
        LOG.warning("Skipped s3://%s/%s%s: not a %s folder", self.bucket, prefix, name, expected)

    def discover(self):
        pairs = set()
        for name in self._folders(self.root):
            account = ACCOUNT_FOLDER.match(name)
            if not account:
                self._skip(self.root, name, "accountid=<12 digits>/")
                continue
            below = self.root + name
            for sub in self._folders(below):
                region = REGION_FOLDER.match(sub)
                if region:
                    pairs.add((account[1], region[1]))
                else:
                    self._skip(below, sub, "region=<region>/")
        return pairs

    def registered(self):
        """Pairs the anchor table has partitions for."""
        params = {"DatabaseName": self.database, "TableName": self.anchor, "MaxResults": PARTITION_PAGE_SIZE,
                  "ExcludeColumnSchema": True}  # fmt: skip
        target = f"{self.database}.{self.anchor}"
        pairs = set()
        while True:
            page = self._call("glue", "GetPartitions", target, **params)
            for partition in page.get("Partitions") or []:
                values = partition.get("Values") or []
                if len(values) == 3 and values[2] == self.resource_type:
                    pairs.add((values[0], values[1]))
            token = page.get("NextToken")
            if not token:
                return pairs
            params["NextToken"] = token

    # ------------------------------------------------------------ registration
    def descriptor(self, table):
        """The table's StorageDescriptor (one glue:GetTable); checks the partition keys the locations assume."""
        target = f"{self.database}.{table}"
        found = self._call("glue", "GetTable", target, DatabaseName=self.database, Name=table)["Table"]
        keys = [k.get("Name", "").lower() for k in found.get("PartitionKeys") or []]
        if keys != ["accountid", "region", "resourcetype"]:
            raise Failure(f"{target} has partition keys {keys}, not accountid, region, resourcetype")
        descriptor = dict(found["StorageDescriptor"])
        if not descriptor.get("Location"):
            raise Failure(f"{target} has no location")
        descriptor["Location"] = descriptor["Location"].rstrip("/") + "/"
        return descriptor

    def create(self, table, descriptor, chunk):
        base = descriptor["Location"]
        inputs = [
            {
                "Values": [account, region, self.resource_type],
                "StorageDescriptor": dict(
                    descriptor,
                    Location=f"{base}accountid={account}/region={region}/resourcetype={self.resource_type}/",
                ),
            }
            for account, region in chunk
        ]
        target = f"{self.database}.{table}"
        response = self._call(
            "glue", "BatchCreatePartition", target, DatabaseName=self.database, TableName=table,
            PartitionInputList=inputs,
        )  # fmt: skip
        errors = response.get("Errors") or []
        failed = [e for e in errors if (e.get("ErrorDetail") or {}).get("ErrorCode") != ALREADY_EXISTS]
        self.summary["already_existing"] += len(errors) - len(failed)
        if failed:
            first = failed[0]
            detail = first.get("ErrorDetail") or {}
            raise Failure(
                f"glue:BatchCreatePartition on {target}: {len(failed)} of {len(inputs)} partitions failed, e.g. "
                f"{first.get('PartitionValues')}: {detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
            )

    def _time_left(self):
        remaining = getattr(self.context, "get_remaining_time_in_millis", None)
        return remaining() > MARGIN_MS if callable(remaining) else True

    def execute(self):
        pairs = self.discover()
        before = self.registered()
        new = sorted(pairs - before)
        self.summary.update(pairs=len(pairs), registered_before=len(before & pairs), new=len(new))
        descriptors = {}
        for start in range(0, len(new), BATCH_LIMIT):
            if not self._time_left():
                self.summary["deferred"] = len(new) - start
                LOG.warning("Deadline near: %d new pairs left for the next run", len(new) - start)
                break
            chunk = new[start : start + BATCH_LIMIT]
            for table in self.tables:  # the anchor table last: it records the chunk as done
                if table not in descriptors:
                    descriptors[table] = self.descriptor(table)
                self.create(table, descriptors[table], chunk)
            self.summary["registered"] += len(chunk)
            LOG.info("Registered %s", ", ".join(f"{a}/{r}" for a, r in chunk))
        return self.summary


def handler(event, context):
    run = None
    outcome, error = "failed", None
    try:
        run = Run(os.environ, context)
        summary = run.execute()
        outcome = "incomplete" if summary["deferred"] else "complete"
        return dict(summary, outcome=outcome, calls=dict(run.calls))
    except Exception as err:  # logged with the summary, then the invocation fails (retries, dead-letter queue)
        error = str(err) if isinstance(err, Failure) else f"{type(err).__name__}: {err}"
        LOG.error("%s", error)
        raise
    finally:
        line = {"outcome": outcome, **(run.summary if run else {}), "calls": dict(run.calls) if run else {}}
        if error:
            line["error"] = error
        LOG.info("%s", json.dumps(line, sort_keys=True))
