"""The Config export and the Config aggregator's answers, derived from configuration items in the delivery format,
and the Systems Manager configuration items AWS Config records for managed nodes.

* Export rows: the layout ConfigExportFunction writes (functions/config_export/index.py, table `config_export`
  in patchcompliance/config_export.py): one JSON object per line, kind ``instance`` per EC2 instance and kind
  ``rules`` per AWS::Config::ResourceCompliance item whose target is an EC2 instance, an SSM managed-instance
  inventory or an SSM patch compliance resource; deleted items left out; keys whose value is null or empty left
  out. Written as gzip JSON Lines ``<prefix>/export_id=<YYYYMMDDTHHMMSSZ>/part-<nnnnn>.json.gz`` (part numbers
  per query: 00000... for instances, 10000... for rule results) plus the run state ``<prefix>/_runs/<id>.json``.
  Derived here from the items themselves, independently of the function's code.
* Aggregator items: a configuration item as the advanced query language sees it (SelectAggregateResourceConfig,
  AWS Config resource schema property names: ``accountId``, ``arn``, tags as ``key``/``value``/``tag`` objects),
  which tests/support/fake_config.FakeConfig projects on the selected properties.
* SSM items: AWS::SSM::ManagedInstanceInventory (the node's inventory; about 40 KB each when the node reports
  software inventory), AWS::SSM::PatchCompliance and AWS::SSM::AssociationCompliance, as Config records them when
  those types are recorded (the member recorder records them: the patch rule evaluates PatchCompliance). Their
  resource IDs are the ones the rule results name (``AWS::SSM::ManagedInstanceInventory/<node id>`` for the
  compliance types); the inventory content below ``configuration`` is keyed by inventory type name and entry.
  No view reads them: they make a snapshot file as large as real ones.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

NODE_TARGET_TYPES = ("AWS::EC2::Instance", "AWS::SSM::ManagedInstanceInventory", "AWS::SSM::PatchCompliance")
PARTS_PER_QUERY = 10_000  # part number = query index * 10,000 + sequence
APP_WORDS = ("lib", "python3", "perl", "kernel", "openssl", "glibc", "systemd", "curl", "java", "nodejs",
             "aws-cli", "ruby", "gnupg2", "bash", "vim", "tzdata", "amazon-ssm-agent", "cloud-init")  # fmt: skip


def _compact(row: dict) -> dict:
    return {k: v for k, v in row.items() if v not in (None, "", [])}


def is_deleted(item: dict) -> bool:
    return str(item.get("configurationItemStatus") or "").startswith("ResourceDeleted")


# ---------------------------------------------------------------- export rows
def export_rows(items: list[dict]) -> tuple[list[dict], list[dict]]:
    """(instance rows, rule-result rows) of the export for delivery-format configuration items."""
    instances, rules = [], []
    for item in items:
        if is_deleted(item):
            continue
        config = item.get("configuration") or {}
        common = {"account_id": item["awsAccountId"], "region": item["awsRegion"]}
        if item["resourceType"] == "AWS::EC2::Instance":
            row = {
                "kind": "instance",
                **common,
                "resource_type": "AWS::EC2::Instance",
                "resource_id": item["resourceId"],
                "instance_id": item["resourceId"],
                "resource_name": item.get("resourceName"),
                "instance_state": (config.get("state") or {}).get("name"),
                "platform_details": config.get("platformDetails") or config.get("platform"),
                "launch_time": config.get("launchTime"),
                "tags": [{"key": k, "value": v} for k, v in (item.get("tags") or {}).items()],
                "capture_time": item["configurationItemCaptureTime"],
            }
            instances.append(_compact(row))
        elif item["resourceType"] == "AWS::Config::ResourceCompliance":
            if config.get("targetResourceType") not in NODE_TARGET_TYPES:
                continue
            target = config["targetResourceId"]
            row = {
                "kind": "rules",
                **common,
                "resource_type": config["targetResourceType"],
                "resource_id": target,
                "instance_id": target.rsplit("/", 1)[-1],
                "rules": [
                    {"rule_name": r["configRuleName"], "compliance_type": r["complianceType"]}
                    for r in config.get("configRuleList") or []
                ],
                "capture_time": item["configurationItemCaptureTime"],
            }
            rules.append(_compact(row))
    return instances, rules


def export_folder(prefix: str, export_id: str) -> str:
    return f"{prefix}/export_id={export_id}/"


def write_export(
    bucket_root: Path,
    prefix: str,
    export_id: str,
    queries: list[list[dict]],
    *,
    part_rows: int,
    complete: bool,
    gzip_level: int = 6,
) -> list[str]:
    """Write the parts of one export (rows per query); an incomplete export stops after its first part, as a run
    killed half-way leaves it. Returns the keys written."""
    keys = []
    for query, rows in enumerate(queries):
        chunks = [rows[i : i + part_rows] for i in range(0, len(rows), part_rows)] or []
        for seq, chunk in enumerate(chunks):
            key = f"{export_folder(prefix, export_id)}part-{query * PARTS_PER_QUERY + seq:05d}.json.gz"
            text = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in chunk)
            path = bucket_root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(text.encode(), compresslevel=gzip_level, mtime=0))
            keys.append(key)
            if not complete:
                break
        if not complete:
            break
    state = {"export_id": export_id, "status": "published" if complete else "running", "query": 0 if complete else 1}
    state_path = bucket_root / f"{prefix}/_runs/{export_id}.json"
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, separators=(",", ":")))
    return keys


# ---------------------------------------------------------------- aggregator answers
def aggregator_item(item: dict) -> dict:
    """A delivery-format configuration item as advanced queries see it (AWS Config resource schema names)."""
    tags = item.get("tags") or {}
    state_id = item.get("configurationStateId")
    return {
        "accountId": item["awsAccountId"],
        "awsRegion": item["awsRegion"],
        "resourceType": item["resourceType"],
        "resourceId": item["resourceId"],
        "resourceName": item.get("resourceName"),
        "arn": item.get("ARN"),
        "availabilityZone": item.get("availabilityZone"),
        "configurationItemCaptureTime": item["configurationItemCaptureTime"],
        "configurationItemStatus": item["configurationItemStatus"],
        "configurationStateId": None if state_id is None else str(state_id),
        "resourceCreationTime": item.get("resourceCreationTime"),
        "configuration": item.get("configuration"),
        "supplementaryConfiguration": item.get("supplementaryConfiguration"),
        "tags": [{"key": k, "value": v, "tag": f"{k}={v}"} for k, v in tags.items()],
    }


# ---------------------------------------------------------------- SSM items recorded by Config
def _inventory_type(name: str, capture: str, content: dict, schema: str = "1.0") -> dict:
    return {"SchemaVersion": schema, "TypeName": name, "CaptureTime": capture, "Content": content}


def _applications(rng: random.Random, target_bytes: int, capture: str) -> dict:
    apps, size, n = {}, 0, 0
    while size < target_bytes:
        word = APP_WORDS[n % len(APP_WORDS)]
        name = f"{word}-{n // len(APP_WORDS)}" if n >= len(APP_WORDS) else word
        version = f"{rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 200)}"
        entry = {
            "Name": name,
            "Version": version,
            "Release": f"{rng.randint(1, 9)}.amzn2023",
            "Epoch": "",
            "Architecture": "x86_64",
            "Publisher": "Amazon Linux",
            "InstalledTime": capture,
            "PackageId": f"{name}-{version}.x86_64.rpm",
            "Summary": f"The {name} package: libraries and tools",
            "URL": f"https://packages.example.invalid/{name}",
            "ApplicationType": "System Environment/Libraries",
        }
        apps[name] = entry
        size += len(json.dumps(entry)) + len(name) + 4
        n += 1
    return apps


def ssm_items(node, rng: random.Random, *, target_bytes: int, capture: str, version: str) -> list[dict]:
    """The node's ManagedInstanceInventory, PatchCompliance (with a patch summary) and AssociationCompliance
    items. `node` is a fixtures.SsmNode with instance information."""
    info = node.info
    node_id = node.node_id
    common = {
        "relatedEvents": [],
        "supplementaryConfiguration": {},
        "configurationItemVersion": version,
        "configurationItemCaptureTime": capture,
        "configurationStateId": rng.randint(10**12, 10**13),
        "awsAccountId": node.account,
        "configurationItemStatus": "OK",
        "resourceName": None,
        "awsRegion": node.region,
        "availabilityZone": "Not Applicable",
        "configurationStateMd5Hash": "",
        "resourceCreationTime": None,
        # no "tags" key: these types carry no tags
    }
    if version == "1.3":
        common["recordingFrequency"] = "CONTINUOUS"
    entry = {k: v for k, v in info.items() if k not in ("resourceId", "captureTime", "schemaVersion")}
    inventory = {
        "AWS:InstanceInformation": _inventory_type("AWS:InstanceInformation", capture, {node_id: entry}),
        "AWS:Application": _inventory_type(
            "AWS:Application", capture, _applications(rng, target_bytes, capture), "1.1"
        ),
    }
    relationships = []
    if node_id.startswith("i-"):
        relationships = [{"resourceId": node_id, "resourceName": None, "resourceType": "AWS::EC2::Instance",
                          "name": "Is associated with Instance"}]  # fmt: skip
    items = [
        {
            **common,
            "relationships": relationships,
            "configuration": inventory,
            "supplementaryConfiguration": {"instanceStatus": info.get("InstanceStatus", "Active")},
            "resourceType": "AWS::SSM::ManagedInstanceInventory",
            "resourceId": node_id,
            "ARN": f"arn:aws:ssm:{node.region}:{node.account}:managed-instance-inventory/{node_id}",
        }
    ]
    target = f"AWS::SSM::ManagedInstanceInventory/{node_id}"
    patches = {
        line["Id"]: {
            k: line[k]
            for k in (
                "Title",
                "Severity",
                "Status",
                "PatchState",
                "Classification",
                "PatchSeverity",
                "InstalledTime",
                "ExecutionTime",
            )
        }  # fmt: skip
        for line in node.items
        if line["ComplianceType"] == "Patch"
    }
    if patches:
        items.append(
            {**common, "relationships": [], "resourceType": "AWS::SSM::PatchCompliance", "resourceId": target,
             "ARN": None, "configuration": {"AWS:ComplianceItem": {
                 "SchemaVersion": "1.0", "ComplianceType": "Patch", "CaptureTime": capture,
                 "Content": {"Patch": patches}}}}
        )  # fmt: skip
    items.append(
        {**common, "relationships": [], "resourceType": "AWS::SSM::AssociationCompliance", "resourceId": target,
         "ARN": None, "configuration": {"AWS:ComplianceItem": {
             "SchemaVersion": "1.0", "ComplianceType": "Association", "CaptureTime": capture,
             "Content": {"Association": {"gather-inventory": {"Status": "COMPLIANT", "Severity": "UNSPECIFIED",
                                                              "DocumentName": "AWS-GatherSoftwareInventory"}}}}}}
    )  # fmt: skip
    return items
