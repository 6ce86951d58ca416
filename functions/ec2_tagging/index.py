"""Tag SSM-managed EC2 instances with PlatformType, PlatformName and PlatformVersion.

Invoked by the EC2Tagging custom resource (Create/Update: tag, then answer; Delete: answer only)
and by an EventBridge schedule (tag, no answer). Hybrid nodes (mi-...) are skipped.
An empty or missing platform value is written as "Unknown" so every instance carries all three keys.
"""

import json
import logging
import re
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

KEYS = ("PlatformType", "PlatformName", "PlatformVersion")
UNKNOWN = "Unknown"
PAGE_SIZE = 50  # DescribeInstanceInformation maximum
BATCH = 1000  # CreateTags maximum resource IDs per call
MARGIN_S = 20  # stop starting new calls this long before the Lambda deadline
GONE = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
ID_RE = re.compile(r"\bi-[0-9a-f]+\b")
CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=15)
_clients = {}


def _client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name, config=CONFIG)
    return _clients[name]


def _value(raw):
    text = str(raw or "").strip()
    return text[:256] if text else UNKNOWN


def _tag_batch(ids, tags, stats, deadline):
    """CreateTags on ids; instances that vanished meanwhile are dropped and the rest retried."""
    todo = [ids]
    while todo:
        batch = todo.pop()
        if time.monotonic() > deadline:
            stats["Deferred"] += len(batch)
            stats["Complete"] = False
            continue
        try:
            _client("ec2").create_tags(Resources=batch, Tags=tags)
            stats["Tagged"] += len(batch)
            continue
        except ClientError as err:
            error = err.response.get("Error", {})
            code, msg = error.get("Code"), error.get("Message", "")
            failure = None if code in GONE else f"{code}: {msg}"
        except BotoCoreError as err:
            failure = f"{type(err).__name__}: {err}"
        if failure:
            stats["Failed"] += len(batch)
            stats["errors"].append(failure)
            LOG.error("CreateTags failed for %d instances: %s", len(batch), failure)
            continue
        gone = set(ID_RE.findall(msg)) & set(batch)
        if not gone and len(batch) > 1:  # the error names none of our IDs: bisect to isolate them
            todo += [batch[len(batch) // 2 :], batch[: len(batch) // 2]]
            continue
        gone = gone or set(batch)
        LOG.warning("Skipped instances that vanished before tagging: %s", sorted(gone))
        stats["Skipped"] += len(gone)
        rest = [i for i in batch if i not in gone]
        if rest:
            todo.append(rest)


def tag_instances(deadline):
    """Describe all managed nodes, group by platform and tag each group; returns counts."""
    stats = {"Tagged": 0, "Skipped": 0, "Failed": 0, "Deferred": 0, "Complete": True, "errors": []}
    groups = {}
    kwargs = {"MaxResults": PAGE_SIZE}
    while True:
        if time.monotonic() > deadline:
            LOG.warning("Deadline reached while describing instances; the rest is deferred")
            stats["Complete"] = False
            break
        page = _client("ssm").describe_instance_information(**kwargs)
        for info in page.get("InstanceInformationList") or []:
            iid = info.get("InstanceId") or ""
            if iid.startswith("i-"):
                groups.setdefault(tuple(_value(info.get(k)) for k in KEYS), {})[iid] = None
            else:
                stats["Skipped"] += 1
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    for key, ids in groups.items():
        ids = list(ids)
        tags = [{"Key": k, "Value": v} for k, v in zip(KEYS, key, strict=True)]
        LOG.info("Tagging %d instances with %s", len(ids), dict(zip(KEYS, key, strict=True)))
        for start in range(0, len(ids), BATCH):
            _tag_batch(ids[start : start + BATCH], tags, stats, deadline)
    stats["Groups"] = len(groups)
    return stats


def _deadline(context):
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000 if callable(remaining) else 900
    return time.monotonic() + seconds - MARGIN_S


def _answer(event, context, status, reason, physical_id, data):
    log = f"{getattr(context, 'log_group_name', '?')} {getattr(context, 'log_stream_name', '?')}"
    body = {
        "Status": status,
        "Reason": f"{reason} (CloudWatch Logs: {log})",
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "Data": data,
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
    if not isinstance(event, dict):
        LOG.error("Ignored event that is not an object: %r", event)
        return None
    if "ResponseURL" not in event:
        if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
            stats = tag_instances(_deadline(context))
            LOG.info("Scheduled run: %s", stats)
            return {k: v for k, v in stats.items() if k != "errors"}
        LOG.error("Ignored event that is neither a custom-resource request nor a schedule: %.500s", event)
        return None
    request = event.get("RequestType")
    physical_id = event.get("PhysicalResourceId") or "ec2-tagging"
    status, data = "FAILED", {}
    try:
        if request == "Delete":
            status, reason = "SUCCESS", "Delete: tags are left in place"
        elif request in ("Create", "Update"):
            stats = tag_instances(_deadline(context))
            errors = stats.pop("errors")
            data = stats
            reason = "Tagged {Tagged}, skipped {Skipped}, failed {Failed}, deferred {Deferred}".format(**stats)
            if not stats["Complete"]:
                reason += "; stopped at the deadline, the schedule tags the rest"
            if errors:
                reason += f"; first error: {errors[0]}"
            # Partial failures are reported but tolerated; the schedule retries them.
            status = "FAILED" if stats["Failed"] and not stats["Tagged"] else "SUCCESS"
        else:
            reason = f"Unknown RequestType {request!r}"
    except Exception as err:
        LOG.exception("Request %s failed", request)
        reason = f"{type(err).__name__}: {err}"
    _answer(event, context, status, reason, physical_id, data)
    return {"Status": status, **data}
