"""Register a Glue partition of the Config snapshot table for each new configuration snapshot.

Input: EventBridge "Object Created" events from the Config bucket (S3 notification "Records" are
accepted too). Keys: [<prefix>/]AWSLogs/<acct>/Config/<region>/<yyyy>/<m>/<d>/ConfigSnapshot/<file>.
Partition values: accountid, region, dt (zero-padded YYYY-MM-DD); location: the snapshot folder.
Anything else (history files, writability checks, oversized notifications, SSM inventory keys, whose
partitions InventoryPartitionsFunction registers) is logged and ignored. An AWS failure raises, so
EventBridge retries (and finally sends the event to the dead-letter queue). One glue:CreatePartition call
per new partition; partitions registered by this container are remembered, so a repeated event costs no
call.
"""

import datetime
import json
import logging
import os
import re
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

SNAPSHOT_RE = re.compile(
    r"^(?P<folder>(?:.*/)?AWSLogs/(?P<account>\d{12})/Config/(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)/"
    r"(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})/ConfigSnapshot/)[^/]+$"
)
IGNORED = (
    ("ConfigWritabilityCheckFile", "Config writability check"),
    ("/ConfigHistory/", "configuration history file"),
    ("/OversizedChangeNotification/", "oversized change notification"),
    ("accountid=", "SSM inventory object (InventoryPartitionsFunction registers its partitions)"),
)
CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=15)
_registered = set()  # (database, table, values) registered or found by this container
_clients = {}


def _client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name, config=CONFIG)
    return _clients[name]


def _objects(event):
    """Yield (bucket, key) of every object in an EventBridge or S3-notification event."""
    if not isinstance(event, dict):
        LOG.warning("Ignored event that is not an object: %.300r", event)
        return
    if "Records" in event:
        records = event["Records"] if isinstance(event["Records"], list) else [event["Records"]]
        details = [r.get("s3") if isinstance(r, dict) else r for r in records]
    elif event.get("detail-type") == "Object Created":
        details = [event.get("detail")]
    else:
        LOG.warning("Ignored event that is not an S3 Object Created event: %.300s", json.dumps(event))
        return
    for detail in details:
        try:
            bucket, key = detail["bucket"]["name"], detail["object"]["key"]
            if not (isinstance(bucket, str) and isinstance(key, str) and bucket and key):
                raise TypeError("bucket name and key must be non-empty strings")
        except (KeyError, TypeError) as err:
            LOG.warning("Ignored malformed object record (%s): %.300r", err, detail)
            continue
        yield bucket, unquote_plus(key)


def partition_of(bucket, key):
    """(values, location) of the snapshot's partition, or None (logged) if key is not a snapshot."""
    match = SNAPSHOT_RE.match(key)
    if not match:
        why = next((text for marker, text in IGNORED if marker in key), "not a configuration snapshot")
        LOG.info("Ignored s3://%s/%s: %s", bucket, key, why)
        return None
    try:
        day = datetime.date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        LOG.warning("Ignored s3://%s/%s: invalid date in key", bucket, key)
        return None
    values = [match["account"], match["region"], day.isoformat()]
    return values, f"s3://{bucket}/{match['folder']}"


def register(values, location):
    """Create the partition (one Glue call); True if created, False if cached or already there."""
    database, table = os.environ["GLUE_DATABASE"], os.environ["CONFIG_TABLE"]
    cache_key = (database, table, tuple(values))
    if cache_key in _registered:
        return False
    descriptor = dict(json.loads(os.environ["STORAGE_DESCRIPTOR"]), Location=location)
    glue = _client("glue")
    try:
        glue.create_partition(
            DatabaseName=database,
            TableName=table,
            PartitionInput={"Values": values, "StorageDescriptor": descriptor},
        )
        created = True
        LOG.info("Registered partition %s at %s", values, location)
    except glue.exceptions.AlreadyExistsException:
        created = False
        LOG.info("Partition %s already exists", values)
    _registered.add(cache_key)
    return created


def handler(event, context):
    counts = {"created": 0, "existing": 0, "ignored": 0}
    failures = []
    for bucket, key in _objects(event):
        partition = partition_of(bucket, key)
        if partition is None:
            counts["ignored"] += 1
            continue
        try:
            counts["created" if register(*partition) else "existing"] += 1
        except Exception as err:  # try the other records first, then fail the invocation
            LOG.exception("Could not register the partition of s3://%s/%s", bucket, key)
            failures.append(err)
    if failures:
        raise failures[0]
    return counts
