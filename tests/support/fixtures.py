"""Deterministic fixture: a directory tree mirroring the two central buckets, and the ground truth it encodes.

Layout below ``<root>/<bucket>/``, as AWS writes the objects:

* Config bucket (AWS Config snapshot delivery key layout, as documented in the AWS Config Developer Guide):
  ``[<prefix>]AWSLogs/<acct>/Config/<region>/<yyyy>/<m>/<d>/ConfigSnapshot/
  <acct>_Config_<region>_ConfigSnapshot_<yyyyMMddTHHmmssZ>_<uuid>.json.gz`` (month/day unpadded, one JSON object
  on a single line, gzip), ``.../ConfigHistory/<acct>_Config_<region>_ConfigHistory_AWS::EC2::Instance_<start>_
  <end>_1.json.gz`` and the empty probe ``AWSLogs/<acct>/Config/ConfigWritabilityCheckFile``.
* Sync bucket (Systems Manager Inventory resource data sync layout, as documented in the AWS Systems Manager
  User Guide): ``<prefix>/AWS:<Type>/accountid=<acct>/region=<region>/resourcetype=ManagedInstanceInventory/
  <node>.json`` (JSON lines, one object per inventory entry, PascalCase attributes + resourceId, captureTime,
  schemaVersion) and the probe ``<prefix>/AWS:InstanceInformation/accountid=<acct>/test.json``.

The model: per account x region, EC2 instances cycle through :data:`PROFILES` (every scenario the views must
handle: managed/unmanaged, compliant/missing/failed/pending reboot, stopped, terminated, not evaluated, no
patch data, duplicated rule deployments, deleted), with tags that clash by case, Windows and Linux, quoted
and bare counts, several PatchState spellings; plus hybrid ``mi-`` nodes, instances removed before the latest
snapshot (their SSM files stay, as the sync keeps files of deleted nodes) and instances new in it.

History: every earlier snapshot (earlier days, and an earlier snapshot on the latest day) holds *perturbed*
items -- other state, Name tag, rule results -- so reading anything but the latest snapshot changes the
answer. One account x region stopped delivering ``stale_days`` before the others: its latest snapshot is older.
Region ap-east-2 (:data:`RULELESS_REGIONS`) has neither managed rule, so the views fall back on SSM there.

Snapshots also hold the SSM items AWS Config records for managed nodes (ManagedInstanceInventory of about
``inventory_item_bytes`` each, PatchCompliance, AssociationCompliance; tests/support/export_data.py), item versions
1.2 and 1.3, items without a ``tags`` key, ``platform: null`` on Linux instances. With enough nodes in one account x
region (``instances_by_region``) its snapshot file, a single line, exceeds Athena's 32 MB row limit.

Config export (what the views read; layout in tests/support/export_data.py) in the Config bucket under
``export_prefix``: ``export_days`` complete exports, the latest holding the latest snapshot's items (the
aggregator's current state), the earlier ones perturbed like the snapshot history; every complete export is
registered (``Fixture.exports.partitions``, as the function's glue:CreatePartition would). A newer export
killed after its first part is left unregistered (readers must ignore it). ``Fixture.exports.aggregator_items``
are the aggregator's answers for the latest export (advanced-query form), for the fake Config client.

The ground truth (:class:`Truth`) is derived from the model (what each instance *is*), following the rules
documented in the view SQL -- never by running SQL.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from patchcompliance.config_export import EXPORT_PREFIX

from . import export_data, policy

ACCOUNTS = ("111122223333", "444455556666")
REGIONS = ("eu-west-1", "us-east-1", "ap-east-2")
# Regions where AWS Config offers neither managed rule (AWS Config Developer Guide, the pages of
# ec2-instance-managed-by-systems-manager and ec2-managedinstance-patch-compliance-status-check: "AWS Region").
RULELESS_REGIONS = ("ap-east-2",)
MANAGED_SOURCES = ("CONFIG_RULE", "SSM_INVENTORY")
EMPTY_ACCOUNT = "777788889999"  # in the AccountIds parameter (projection) but without any data
RULE_MANAGED = "ec2-instance-managed-by-systems-manager"
RULE_PATCH = "ec2-managedinstance-patch-compliance-status-check"
RANK = {"NON_COMPLIANT": 4, "COMPLIANT": 3, "INSUFFICIENT_DATA": 2, "NOT_APPLICABLE": 1}
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

# (profile, EC2 state, results of the managed-by-SSM rule deployments (plain, conformance-pack copy),
#  SSM instance information: current/stale/None, patch summary: clean/missing/failed/pending/None,
#  result of the patch compliance rule)
PROFILES = (
    ("compliant", "running", ("COMPLIANT",), "current", "clean", "COMPLIANT"),
    ("missing", "running", ("COMPLIANT",), "current", "missing", "NON_COMPLIANT"),
    ("failed", "running", ("COMPLIANT",), "current", "failed", "NON_COMPLIANT"),
    ("pending_reboot", "running", ("COMPLIANT",), "current", "pending", "NON_COMPLIANT"),
    ("unmanaged", "running", ("NON_COMPLIANT",), None, None, None),
    ("unmanaged_stale_ssm", "running", ("NON_COMPLIANT",), "stale", "clean", None),
    ("stopped", "stopped", ("NON_COMPLIANT",), "stale", "missing", "NON_COMPLIANT"),
    ("terminated", "terminated", (), "stale", None, None),  # SSM: InstanceStatus Terminated
    ("not_evaluated_managed", "running", (), "current", "missing", None),
    ("not_evaluated_unmanaged", "running", (), None, None, None),
    ("no_summary_rule_noncompliant", "running", ("COMPLIANT",), "current", None, "NON_COMPLIANT"),
    ("no_summary", "running", ("COMPLIANT",), "current", None, "COMPLIANT"),
    ("duplicate_rules", "running", ("COMPLIANT", "NON_COMPLIANT"), "stale", "clean", None),
    ("insufficient_data_managed", "pending", ("INSUFFICIENT_DATA",), "current", "clean", "COMPLIANT"),
    ("insufficient_data_unmanaged", "running", ("INSUFFICIENT_DATA",), None, None, None),
    ("deleted", "terminated", (), "stale", "missing", None),
)
# hybrid node: (patch summary, InstanceStatus, Config patch rule result)
HYBRID_PROFILES = (("clean", "Active", "COMPLIANT"), ("missing", "Active", "NON_COMPLIANT"),
                   ("missing", "Terminated", "NON_COMPLIANT"))  # fmt: skip
TAG_STYLES = ("Name", "Name+name", "name", "none", "Name+Environment+environment")
# Exemption tags (policy.Settings: keys PatchExempt and PatchExemptUntil) of the second account's instances of
# these profiles: open-ended, expired yesterday, until a later day.
EXEMPTIONS = {
    "missing": lambda end: {"PatchExempt": "CHG-1"},
    "failed": lambda end: {"PatchExempt": "CHG-2", "PatchExemptUntil": (end - timedelta(days=1)).isoformat()},
    "pending_reboot": lambda end: {"PatchExempt": "", "PatchExemptUntil": (end + timedelta(days=30)).isoformat()},
}


@dataclass(frozen=True)
class FixtureSpec:
    accounts: tuple[str, ...] = ACCOUNTS
    regions: tuple[str, ...] = REGIONS
    instances: int = len(PROFILES)  # EC2 instances per account x region in the latest snapshot
    hybrid: int = 3  # hybrid (mi-) nodes per account x region, cycling through HYBRID_PROFILES
    removed: int = 1  # instances per account x region only in older snapshots (SSM files left behind)
    days: int = 4  # days of snapshots of the fresh partitions
    end: date = date(2025, 10, 2)  # latest day; 4 days back crosses 9/30 -> 10/1 (unpadded keys sort wrong)
    seed: int = 20251002
    config_prefix: str = ""  # key prefix of the delivery channel, e.g. "o-a1b2c3d4e5/"
    datasync_prefix: str = "inventory"
    config_bucket: str = "central-config-bucket"
    datasync_bucket: str = "central-datasync-bucket"
    stale_days: int = 2  # the last account x region stopped delivering this many days before `end`
    second_snapshot: bool = True  # fresh partitions get an earlier, perturbed snapshot on the latest day too
    all_inventory_types: bool = True  # also write types no view reads (Application, Network, ...)
    history_files: bool = True
    ssm_files: bool = True  # write the resource data sync tree (the bench of configmic does not need it)
    volumes: bool = True  # one AWS::EC2::Volume item (and a volume ResourceCompliance) per instance
    gzip_level: int = 6
    instances_by_region: tuple[tuple[str, str, int], ...] = ()  # (account, region, instances): overrides
    ssm_config_items: bool = True  # ManagedInstanceInventory / PatchCompliance / AssociationCompliance items
    inventory_item_bytes: int = 40_000  # size of each ManagedInstanceInventory item's application list
    export_prefix: str = EXPORT_PREFIX
    export_days: int = 3  # complete exports: one a day before `end`, and two on `end` (the later is the truth)
    partial_export: bool = True  # a newer export killed after its first part, not registered
    export_part_rows: int = 40

    @property
    def projection_accounts(self) -> tuple[str, ...]:
        return (*self.accounts, EMPTY_ACCOUNT)


# ---------------------------------------------------------------- model
@dataclass
class SsmNode:
    account: str
    region: str
    node_id: str
    info: dict | None
    summary: dict | None
    items: list[dict]
    tags: list[tuple[str, str]]
    extra: dict[str, list[dict]] = field(default_factory=dict)  # other inventory types -> lines
    patch_result: str | None = None  # hybrid nodes: result of the Config patch rule
    rule_name: str | None = None  # hybrid nodes: name of that rule


@dataclass
class Instance:
    account: str
    region: str
    instance_id: str
    profile: str
    state: str
    platform: str  # Windows | Linux
    tags: dict[str, str]
    managed_results: tuple[str, ...]
    patch_result: str | None
    status: str = "OK"  # configurationItemStatus in the latest snapshot
    capture: datetime | None = None
    new: bool = False
    removed: bool = False  # only in older snapshots
    ssm: SsmNode | None = None
    rule_names: dict = field(default_factory=dict)  # "managed": [plain, copy], "patch": name
    rules_offered: bool = True  # False in RULELESS_REGIONS

    @property
    def name(self) -> str | None:
        return self.tags.get("Name", self.tags.get("name"))

    @property
    def platform_details(self) -> str:
        return "Windows" if self.platform == "Windows" else "Linux/UNIX"

    @property
    def managed_status(self) -> str:
        return managed_by(self.managed_results, self.ssm)[0]

    @property
    def managed_status_source(self) -> str:
        return managed_by(self.managed_results, self.ssm)[1]


def ssm_reports(node: SsmNode | None) -> bool:
    """SSM reports the node: instance information with an InstanceStatus other than Terminated/Deregistered."""
    if node is None or node.info is None:
        return False
    return (node.info.get("InstanceStatus") or "").lower() not in ("terminated", "deregistered")


def managed_by(results: tuple[str, ...], node: SsmNode | None) -> tuple[str, str]:
    """(managed_status, managed_status_source): the worst managed-by-SSM rule result, else SSM's report."""
    if results:
        return max(results, key=RANK.__getitem__), "CONFIG_RULE"
    return ("COMPLIANT" if ssm_reports(node) else "NON_COMPLIANT"), "SSM_INVENTORY"


@dataclass
class Truth:
    """Expected rows of every view, in the contract's column order."""

    configmic: list[tuple]
    configpc: list[tuple]
    patch: list[tuple]
    instance_tags: list[tuple]
    instance_compliance: list[tuple]
    latest_snapshot: dict[tuple[str, str], str]  # (account, region) -> s3 URI of the latest snapshot
    latest_dt: dict[tuple[str, str], str]
    inventory_lines: dict[str, list[dict]]  # table name -> lines (with accountid/region/resourcetype added)
    latest_export: str = ""  # export_id of the latest complete export
    # views of the compliance policy (tests/support/policy.py); no history here: see tests/support/timeline.py
    compliance_settings: list[tuple] = field(default_factory=list)
    patch_age: list[tuple] = field(default_factory=list)
    patch_cves: list[tuple] = field(default_factory=list)
    compliance_trend: list[tuple] = field(default_factory=list)


@dataclass
class ExportSet:
    """The Config export in the Config bucket, and the aggregator answers behind its latest export."""

    partitions: list[tuple[str, str]]  # registered (export_id, location), oldest first
    partial: list[str]  # export_ids written but not registered
    rows: dict[str, list[dict]]  # export_id -> rows (instance rows, then rule rows)
    aggregator_items: list[dict]  # advanced-query items answering the latest export


@dataclass
class Fixture:
    root: Path
    spec: FixtureSpec
    truth: Truth
    instances: list[Instance]
    hybrid: list[SsmNode]
    snapshot_files: int
    exports: ExportSet | None = None
    snapshot_bytes: dict[tuple[str, str], int] = field(default_factory=dict)  # latest snapshot line, uncompressed

    @property
    def latest_export_rows(self) -> list[dict]:
        return self.exports.rows[self.truth.latest_export]

    @property
    def buckets(self) -> dict[str, Path]:
        return {
            self.spec.config_bucket: self.root / self.spec.config_bucket,
            self.spec.datasync_bucket: self.root / self.spec.datasync_bucket,
        }


# ---------------------------------------------------------------- generator
class _Generator:
    def __init__(self, root: Path, spec: FixtureSpec):
        self.root = Path(root)
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.config_root = self.root / spec.config_bucket
        self.ssm_item_cache: dict[str, list[dict]] = {}
        self.last_snapshot_bytes = 0
        self.sync_root = self.root / spec.datasync_bucket
        self.snapshot_files = 0

    # ------------------------------------------------------------ helpers
    def hexid(self, prefix: str, bits: int = 68) -> str:
        return f"{prefix}{self.rng.getrandbits(bits):017x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @staticmethod
    def iso_ms(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    @staticmethod
    def iso_s(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def rule_name(self, account_index: int, base: str, copy: int = 0) -> str:
        if copy:
            return f"{base}-conformance-pack-{self.rng.getrandbits(24):06x}"
        return base if account_index == 0 else f"pc-{base}-{self.rng.getrandbits(16):04x}"

    # ------------------------------------------------------------ model building
    def tags_for(self, index: int, name: str) -> dict[str, str]:
        style = TAG_STYLES[index % len(TAG_STYLES)]
        tags = {"PatchGroup": self.rng.choice(("prod", "dev", "test"))}
        if style in ("Name", "Name+name", "Name+Environment+environment"):
            tags["Name"] = name
        if style == "Name+name":
            tags["name"] = name.upper() + "-legacy"
        if style == "name":
            tags["name"] = name
        if style == "Name+Environment+environment":
            tags["Environment"] = "Production"
            tags["environment"] = "prod"
        tags["aws:cloudformation:stack-name"] = "app-stack"
        return tags

    def summary(self, kind: str | None, node_id: str, capture: datetime) -> dict | None:
        if kind is None:
            return None
        counts = {"missing": 0, "failed": 0, "pending": 0}
        if kind != "clean":
            counts[kind] = self.rng.randint(1, 4)
        if kind == "missing" and self.rng.random() < 0.5:
            counts["failed"] = 0
        installed = self.rng.randint(5, 40)
        critical = min(counts["missing"], self.rng.randint(0, 2))
        security = min(counts["missing"] + counts["failed"], self.rng.randint(0, 3))
        quoted = self.rng.random() < 0.5

        def n(value):
            return str(value) if quoted else value

        start = capture - timedelta(minutes=12)
        return {
            "PatchGroup": "prod",
            "BaselineId": "pb-0123456789abcdef0",
            "SnapshotId": self.uuid(),
            "OwnerInformation": "",
            "InstalledCount": n(installed),
            "InstalledPendingRebootCount": n(counts["pending"]),
            "InstalledOtherCount": n(self.rng.randint(0, 5)),
            "InstalledRejectedCount": n(0),
            "NotApplicableCount": n(self.rng.randint(50, 300)),
            "UnreportedNotApplicableCount": n(0),
            "MissingCount": n(counts["missing"]),
            "FailedCount": n(counts["failed"]),
            "OperationType": "Scan",
            "OperationStartTime": self.iso_s(start),
            "OperationEndTime": self.iso_s(start + timedelta(minutes=3)),
            "RebootOption": "RebootIfNeeded",
            "CriticalNonCompliantCount": n(critical),
            "SecurityNonCompliantCount": n(security),
            "OtherNonCompliantCount": n(0),
            "resourceId": node_id,
            "captureTime": self.iso_s(capture),
            "schemaVersion": "1.0",
        }

    def compliance_items(self, summary: dict | None, node_id: str, capture: datetime, windows: bool) -> list:
        if summary is None:
            return []
        spelled = self.rng.choice(
            (
                {"MISSING": "Missing", "FAILED": "Failed", "PENDING": "InstalledPendingReboot",
                 "INSTALLED": "Installed", "NA": "NotApplicable", "OTHER": "InstalledOther"},
                {"MISSING": "MISSING", "FAILED": "FAILED", "PENDING": "INSTALLED_PENDING_REBOOT",
                 "INSTALLED": "INSTALLED", "NA": "NOT_APPLICABLE", "OTHER": "INSTALLED_OTHER"},
            )
        )  # fmt: skip
        execution = capture - timedelta(minutes=9)
        lines = []
        plan = (
            [("MISSING", "NON_COMPLIANT")] * int(summary["MissingCount"])
            + [("FAILED", "NON_COMPLIANT")] * int(summary["FailedCount"])
            + [("PENDING", "NON_COMPLIANT")] * int(summary["InstalledPendingRebootCount"])
            + [("INSTALLED", "COMPLIANT")] * 2
            + [("OTHER", "COMPLIANT"), ("NA", "COMPLIANT")]
        )
        for number, (state, status) in enumerate(plan):
            installed = ""
            if state in ("INSTALLED", "PENDING", "OTHER"):
                installed = self.iso_s(capture - timedelta(days=self.rng.randint(1, 90)))
                if number == len(plan) - 3 and self.rng.random() < 0.3:
                    installed = "Tue Jan 9 2024"  # unparseable: NULL
            patch_id = f"KB{5030000 + self.rng.randint(0, 9999)}" if windows else f"ALAS2-2025-{2000 + number}"
            lines.append(
                {
                    "ComplianceType": "Patch",
                    "ExecutionId": self.uuid(),
                    "ExecutionType": "Command",
                    "ExecutionTime": self.iso_s(execution),
                    "Id": patch_id,
                    "Title": f"Update {patch_id}",
                    "Status": status,
                    "Severity": self.rng.choice(("CRITICAL", "HIGH", "MEDIUM", "UNSPECIFIED")),
                    "Classification": "SecurityUpdates" if windows else "Security",
                    "PatchBaselineId": summary["BaselineId"],
                    "PatchSeverity": self.rng.choice(("Critical", "Important", "Moderate")),
                    "PatchState": spelled[state],
                    "PatchGroup": summary["PatchGroup"],
                    "InstalledTime": installed,
                    # CVE IDs only for missing and failed patches (as Systems Manager reports them)
                    "CVEIds": f"CVE-2025-{10000 + number}" if state in ("MISSING", "FAILED") else "",
                    "resourceId": node_id,
                    "captureTime": self.iso_s(capture),
                    "schemaVersion": "1.0",
                }
            )
        lines.append(
            {
                "ComplianceType": "Association",
                "ExecutionId": self.uuid(),
                "ExecutionType": "Command",
                "ExecutionTime": self.iso_s(execution),
                "Id": self.uuid(),
                "Title": "",
                "Status": "COMPLIANT",
                "Severity": "UNSPECIFIED",
                "DocumentName": "AWS-GatherSoftwareInventory",
                "DocumentVersion": "1",
                "resourceId": node_id,
                "captureTime": self.iso_s(capture),
                "schemaVersion": "1.0",
            }
        )
        return lines

    def info(self, node_id: str, name: str, windows: bool, capture: datetime, hybrid: bool, status="Active"):
        line = {
            "AgentType": "amazon-ssm-agent",
            "AgentVersion": self.rng.choice(("3.3.40.0", "3.3.131.0", "3.2.582.0")),
            "ComputerName": (name or node_id).upper() if windows else f"ip-10-0-{self.rng.randint(0, 255)}-1",
            "InstanceId": node_id,
            "IpAddress": f"10.0.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
            "PlatformName": "Microsoft Windows Server 2022 Datacenter" if windows else "Amazon Linux",
            "PlatformType": "Windows" if windows else "Linux",
            "PlatformVersion": "10.0.20348" if windows else "2023",
            "ResourceType": "ManagedInstance" if hybrid else "EC2Instance",
            "resourceId": node_id,
            "captureTime": self.iso_s(capture),
            "schemaVersion": "1.0",
        }
        if status is not None:
            line["InstanceStatus"] = status
        return line

    def extra_types(self, node_id: str, windows: bool, capture: datetime) -> dict[str, list[dict]]:
        if not self.spec.all_inventory_types:
            return {}
        common = {"resourceId": node_id, "captureTime": self.iso_s(capture), "schemaVersion": "1.0"}
        extra = {
            "AWS:Application": [
                {"Name": "amazon-ssm-agent", "ApplicationType": "Admin", "Publisher": "Amazon", "Version": "3.3",
                 "InstalledTime": self.iso_s(capture - timedelta(days=3)), "Architecture": "x86_64", **common},
                {"Name": "curl", "Publisher": "Amazon Linux", "Version": "8.5.0", "Release": "1.amzn2023",
                 "Epoch": "", "Architecture": "x86_64", "URL": "https://curl.se", "Summary": "transfer",
                 "PackageId": "curl-8.5.0", **common},
            ],
            "AWS:AWSComponent": [{"Name": "AWS CLI", "Publisher": "Amazon", "Version": "2.15", **common}],
            "AWS:Network": [
                {"Name": "eth0", "SubnetMask": "255.255.255.0", "Gateway": "10.0.0.1", "DHCPServer": "10.0.0.1",
                 "DNSServer": "10.0.0.2", "MacAddress": "0a:1b:2c:3d:4e:5f", "IPV4": "10.0.0.5",
                 "IPV6": "fe80::1", **common}
            ],
            "AWS:ResourceGroup": [{"Name": "app", "Arn": "arn:aws:resource-groups:::group/app", **common}],
            "AWS:InstanceDetailedInformation": [
                {"CPUModel": "Intel Xeon", "CPUCores": "2", "CPUs": "2", "CPUSpeedMHz": "2500", "CPUSockets": "1",
                 "CPUHyperThreadEnabled": "true", "OSServicePack": "", **common}
            ],
            "AWS:ComplianceSummary": [
                {"ComplianceType": "Patch", "PatchGroup": "prod", "PatchBaselineId": "pb-0123456789abcdef0",
                 "Status": "NON_COMPLIANT", "OverallSeverity": "CRITICAL", "NonCompliantCriticalCount": 1,
                 "CompliantHighCount": "4", **common},
                {"ComplianceType": "Association", "Status": "COMPLIANT", "OverallSeverity": "UNSPECIFIED",
                 "CompliantUnspecifiedCount": 1, **common},
            ],
        }  # fmt: skip
        if windows:
            extra["AWS:Service"] = [
                {"Name": "W32Time", "DisplayName": "Windows Time", "ServiceType": "Win32ShareProcess",
                 "Status": "Running", "DependentServices": "", "ServicesDependedOn": "", "StartType": "Auto",
                 **common}
            ]  # fmt: skip
            extra["AWS:WindowsRole"] = [
                {"Name": "FileAndStorage-Services", "DisplayName": "File and Storage Services", "Path": "",
                 "FeatureType": "Role", "DependsOn": "", "Description": "", "Installed": "True",
                 "InstalledState": "1", "SubFeatures": "Storage-Services", "ServerComponentDescriptor": "",
                 "Parent": "", **common}
            ]  # fmt: skip
            extra["AWS:WindowsUpdate"] = [
                {"HotFixId": "KB5034439", "Description": "Security Update", "InstalledBy": "NT AUTHORITY\\SYSTEM",
                 "InstalledTime": self.iso_s(capture - timedelta(days=20)), **common}
            ]  # fmt: skip
        return extra

    def ssm_node(self, account, region, node_id, name, windows, info_kind, summary_kind, capture, hybrid=False,
                 status="Active", tags=None) -> SsmNode | None:  # fmt: skip
        if info_kind is None and summary_kind is None:
            return None
        when = capture if info_kind == "current" else capture - timedelta(days=9)
        info = self.info(node_id, name, windows, when, hybrid, status) if info_kind else None
        if info is not None and self.rng.random() < 0.25 and status == "Active":
            info.pop("InstanceStatus")  # absent InstanceStatus: NULL
        summary = self.summary(summary_kind, node_id, when)
        return SsmNode(
            account=account,
            region=region,
            node_id=node_id,
            info=info,
            summary=summary,
            items=self.compliance_items(summary, node_id, when, windows),
            tags=sorted((tags or {}).items()),
            extra=self.extra_types(node_id, windows, when) if info else {},
        )

    def build_model(self):
        spec = self.spec
        instances, hybrid = [], []
        for a_index, account in enumerate(spec.accounts):
            for region in spec.regions:
                rule_names = {
                    "managed": [self.rule_name(a_index, RULE_MANAGED, copy) for copy in range(2)],
                    "patch": self.rule_name(a_index, RULE_PATCH),
                }
                last_day = self.last_day(account, region)
                capture = datetime.combine(last_day, datetime.min.time()) + timedelta(hours=2, minutes=11)
                count = {(a, r): n for a, r, n in spec.instances_by_region}.get((account, region), spec.instances)
                offered = region not in RULELESS_REGIONS
                for i in range(count + spec.removed):
                    profile, state, managed, info_kind, summary_kind, patch_result = PROFILES[i % len(PROFILES)]
                    if not offered:
                        managed, patch_result = (), None
                    removed = i >= count
                    windows = self.rng.random() < 0.5
                    iid = self.hexid("i-")
                    name = f"{'win' if windows else 'lnx'}-{region[:2]}-{i:04d}"
                    inst = Instance(
                        account=account,
                        region=region,
                        instance_id=iid,
                        profile="removed" if removed else profile,
                        state=state,
                        platform="Windows" if windows else "Linux",
                        tags=self.tags_for(i, name),
                        managed_results=managed,
                        patch_result=patch_result,
                        status="ResourceDeleted" if profile == "deleted" else "OK",
                        capture=capture
                        - timedelta(minutes=self.rng.randint(0, 600), milliseconds=self.rng.randint(0, 999)),
                        new=(i == 0 and not removed),
                        removed=removed,
                        rule_names=rule_names,
                        rules_offered=offered,
                    )
                    if a_index == 1 and profile in EXEMPTIONS:
                        inst.tags.update(EXEMPTIONS[profile](spec.end))
                    if removed:
                        info_kind, summary_kind = "stale", "missing"
                    # SSM's InstanceStatus follows the EC2 state (SSM API reference, GetInventory example: Stopped)
                    status = {"terminated": "Terminated", "stopped": "Stopped"}.get(state, "Active")
                    inst.ssm = self.ssm_node(
                        account, region, iid, inst.name, windows, info_kind, summary_kind, capture, status=status,
                        tags=inst.tags,
                    )  # fmt: skip
                    instances.append(inst)
                for h in range(spec.hybrid):
                    summary_kind, status, patch_result = HYBRID_PROFILES[h % len(HYBRID_PROFILES)]
                    node_id = self.hexid("mi-")
                    node = self.ssm_node(
                        account, region, node_id, f"onprem-{h:02d}", False, "current", summary_kind, capture,
                        hybrid=True, status=status,
                    )  # fmt: skip
                    node.patch_result = patch_result if offered else None
                    node.rule_name = rule_names["patch"]
                    hybrid.append(node)
        return instances, hybrid

    def last_day(self, account: str, region: str) -> date:
        stale = (self.spec.accounts[-1], self.spec.regions[-1])
        if (account, region) == stale and self.spec.stale_days and len(self.spec.accounts) * len(self.spec.regions) > 1:
            return self.spec.end - timedelta(days=self.spec.stale_days)
        return self.spec.end

    # ------------------------------------------------------------ Config items
    def ec2_item(self, inst: Instance, state: str, tags: dict, capture: datetime, status: str, volume: str):
        config = None
        if status != "ResourceDeleted":
            config = {
                "instanceId": inst.instance_id,
                "imageId": "ami-0123456789abcdef0",
                "instanceType": "t3.medium",
                "platformDetails": inst.platform_details,
                "state": {"code": STATE_CODES[state], "name": state},
                "launchTime": "2025-02-01T09:00:00.000Z",
                "privateIpAddress": "10.0.1.25",
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            }
            config["platform"] = "windows" if inst.platform == "Windows" else None  # null on Linux, as delivered
        return {
            "relatedEvents": [],
            "relationships": [
                {
                    "resourceId": volume,
                    "resourceName": None,
                    "resourceType": "AWS::EC2::Volume",
                    "name": "Is attached to Volume",
                }
            ],  # fmt: skip
            "configuration": config,
            "supplementaryConfiguration": {},
            "tags": tags if status != "ResourceDeleted" else {},
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": self.iso_ms(capture),
            "configurationStateId": int(capture.timestamp() * 1000),
            "awsAccountId": inst.account,
            "configurationItemStatus": status,
            "resourceType": "AWS::EC2::Instance",
            "resourceId": inst.instance_id,
            "resourceName": None,
            "ARN": f"arn:aws:ec2:{inst.region}:{inst.account}:instance/{inst.instance_id}",
            "awsRegion": inst.region,
            "availabilityZone": f"{inst.region}a",
            "configurationStateMd5Hash": "",
            "resourceCreationTime": "2025-02-01T09:00:00.000Z",
        }

    def compliance_item(self, account, region, target_type, target_id, resource_id, rules, capture):
        overall = max((c for _, c in rules), key=RANK.__getitem__) if rules else "INSUFFICIENT_DATA"
        return {
            "relatedEvents": [],
            "relationships": [],
            "configuration": {
                "complianceType": overall,
                "targetResourceId": target_id,
                "targetResourceType": target_type,
                "configRuleList": [
                    {
                        "configRuleArn": f"arn:aws:config:{region}:{account}:config-rule/config-rule-{name[-6:]}",
                        "configRuleId": f"config-rule-{zlib.crc32(name.encode()) % 16**6:06x}",
                        "configRuleName": name,
                        "complianceType": compliance,
                    }
                    for name, compliance in rules
                ],
            },
            "supplementaryConfiguration": {},
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": self.iso_ms(capture),
            "configurationStateId": self.uuid() if self.rng.random() < 0.05 else int(capture.timestamp() * 1000),
            "awsAccountId": account,
            "configurationItemStatus": "OK",
            "resourceType": "AWS::Config::ResourceCompliance",
            "resourceId": resource_id,
            "resourceName": None,
            "ARN": None,
            "awsRegion": region,
            "availabilityZone": self.rng.choice(("NotApplicable", "Not Applicable")),
            "configurationStateMd5Hash": "",
            "resourceCreationTime": None,
        }

    def instance_items(self, inst: Instance, variant: int, capture: datetime) -> list[dict]:
        """Config items of one instance; variant 0 = the truth, > 0 = a perturbed earlier state."""
        state, tags, managed, patch = inst.state, dict(inst.tags), list(inst.managed_results), inst.patch_result
        status = inst.status
        if variant:
            state = {"running": "stopped", "stopped": "running", "terminated": "running", "pending": "stopped"}[state]
            for key in ("Name", "name"):
                if key in tags:
                    tags[key] = f"{tags[key]}-v{variant}"
            flip = {"COMPLIANT": "NON_COMPLIANT", "NON_COMPLIANT": "COMPLIANT", "INSUFFICIENT_DATA": "COMPLIANT"}
            managed = [flip[m] for m in managed] or ["COMPLIANT"]
            patch = flip.get(patch, "NON_COMPLIANT") if patch else "COMPLIANT"
            if not inst.rules_offered:
                managed, patch = [], None
            status = "OK"
            capture = capture - timedelta(hours=variant, minutes=7)
        names = inst.rule_names
        item_capture = inst.capture if not variant else capture
        volume = f"vol-{inst.instance_id[2:]}"
        items = [self.ec2_item(inst, state, tags, item_capture, status, volume)]
        if status == "ResourceDeleted":
            return items
        rules = [(names["managed"][copy], result) for copy, result in enumerate(managed)]
        rules.append(("ec2-imdsv2-check", self.rng.choice(("COMPLIANT", "NON_COMPLIANT"))))
        items.append(
            self.compliance_item(inst.account, inst.region, "AWS::EC2::Instance", inst.instance_id,
                                 f"AWS::EC2::Instance/{inst.instance_id}", rules, item_capture)
        )  # fmt: skip
        if patch:
            target = f"AWS::SSM::ManagedInstanceInventory/{inst.instance_id}"
            items.append(
                self.compliance_item(inst.account, inst.region, "AWS::SSM::PatchCompliance", target,
                                     f"AWS::SSM::PatchCompliance/{target}", [(names["patch"], patch)],
                                     item_capture + timedelta(seconds=30))
            )  # fmt: skip
        if self.spec.volumes:
            items.append(
                {**self.ec2_item(inst, state, {}, item_capture, "OK", volume), "resourceType": "AWS::EC2::Volume",
                 "resourceId": volume, "configuration": {"volumeId": volume, "state": "in-use"},
                 "ARN": f"arn:aws:ec2:{inst.region}:{inst.account}:volume/{volume}"}
            )  # fmt: skip
            items.append(
                self.compliance_item(inst.account, inst.region, "AWS::EC2::Volume", volume,
                                     f"AWS::EC2::Volume/{volume}", [("encrypted-volumes", "COMPLIANT")],
                                     item_capture)
            )  # fmt: skip
        return items

    def hybrid_items(self, node: SsmNode, variant: int, capture: datetime) -> list[dict]:
        result = node.patch_result
        if result is None:  # no patch rule in this region
            return []
        if variant:
            result = "COMPLIANT" if result == "NON_COMPLIANT" else "NON_COMPLIANT"
        target = f"AWS::SSM::ManagedInstanceInventory/{node.node_id}"
        return [
            self.compliance_item(node.account, node.region, "AWS::SSM::PatchCompliance", target,
                                 f"AWS::SSM::PatchCompliance/{target}", [(node.rule_name, result)], capture)
        ]  # fmt: skip

    # ------------------------------------------------------------ writing
    def config_folder(self, account: str, region: str, day: date, kind: str) -> Path:
        return (
            self.config_root / f"{self.spec.config_prefix}AWSLogs/{account}/Config/{region}/"
            f"{day.year}/{day.month}/{day.day}/{kind}"
        )

    def write_snapshot(self, account, region, moment: datetime, items: list[dict]) -> str:
        folder = self.config_folder(account, region, moment.date(), "ConfigSnapshot")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{account}_Config_{region}_ConfigSnapshot_{moment:%Y%m%dT%H%M%SZ}_{self.uuid()}.json.gz"
        body = {"fileVersion": "1.0", "configSnapshotId": self.uuid(), "configurationItems": items}
        data = json.dumps(body, separators=(",", ":")).encode()
        (folder / name).write_bytes(gzip.compress(data, compresslevel=self.spec.gzip_level, mtime=0))
        self.snapshot_files += 1
        self.last_snapshot_bytes = len(data)
        return f"s3://{self.spec.config_bucket}/{(folder / name).relative_to(self.config_root).as_posix()}"

    def write_history(self, account, region, day: date, items: list[dict]) -> None:
        folder = self.config_folder(account, region, day, "ConfigHistory")
        folder.mkdir(parents=True, exist_ok=True)
        start = datetime.combine(day, datetime.min.time())
        name = (
            f"{account}_Config_{region}_ConfigHistory_AWS::EC2::Instance_"
            f"{start:%Y%m%dT%H%M%SZ}_{start + timedelta(hours=6):%Y%m%dT%H%M%SZ}_1.json.gz"
        )
        body = {"fileVersion": "1.0", "configurationItems": items}
        (folder / name).write_bytes(gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0))

    def write_ssm(self, node: SsmNode) -> None:
        prefix = self.sync_root / self.spec.datasync_prefix
        for inventory_type, lines in node_inventory(node).items():
            if not lines:
                continue
            folder = (
                prefix / inventory_type / f"accountid={node.account}" / f"region={node.region}"
                / "resourcetype=ManagedInstanceInventory"
            )  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)
            text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
            (folder / f"{node.node_id}.json").write_text(text, encoding="utf-8")

    def generate(self) -> Fixture:
        spec = self.spec
        instances, hybrid = self.build_model()
        latest, latest_dt, latest_moment, latest_items, snapshot_bytes = {}, {}, {}, {}, {}
        for account in spec.accounts:
            probe = self.config_root / f"{spec.config_prefix}AWSLogs/{account}/Config/ConfigWritabilityCheckFile"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            ssm_probe = self.sync_root / spec.datasync_prefix / "AWS:InstanceInformation" / f"accountid={account}"
            ssm_probe.mkdir(parents=True, exist_ok=True)
            # Content of the real probe is undocumented: a parseable line, so reading it would show up as a row.
            (ssm_probe / "test.json").write_text('{"InstanceId":"test","resourceId":"test"}\n')
            for region in spec.regions:
                here = [i for i in instances if i.account == account and i.region == region]
                nodes = [n for n in hybrid if n.account == account and n.region == region]
                last_day = self.last_day(account, region)
                days = [last_day - timedelta(days=d) for d in range(spec.days - 1, -1, -1)]
                for day in days:
                    moment = datetime.combine(day, datetime.min.time()) + timedelta(hours=15, minutes=30)
                    snapshots = [(moment, 0)] if day == last_day else [(moment, (last_day - day).days)]
                    if day == last_day and spec.second_snapshot and last_day == spec.end:
                        snapshots.insert(0, (moment - timedelta(hours=12), 1))  # earlier, perturbed
                    for when, variant in snapshots:
                        items = []
                        for inst in here:
                            if (inst.new and variant) or (inst.removed and not variant):
                                continue
                            items.extend(self.instance_items(inst, variant, when - timedelta(minutes=5)))
                            if inst.status == "OK" or variant:
                                items.extend(self.recorded_ssm_items(inst.ssm))
                        for node in nodes:
                            items.extend(self.hybrid_items(node, variant, when - timedelta(minutes=4)))
                            items.extend(self.recorded_ssm_items(node))
                        uri = self.write_snapshot(account, region, when, items)
                        if not variant:
                            latest[(account, region)] = uri
                            latest_dt[(account, region)] = day.isoformat()
                            latest_moment[(account, region)] = when
                            latest_items[(account, region)] = items
                            snapshot_bytes[(account, region)] = self.last_snapshot_bytes
                    if spec.history_files:
                        changed = [i for i in here if not i.removed][:3]
                        history = [it for inst in changed for it in self.instance_items(inst, 7, moment)[:1]]
                        self.write_history(account, region, day, history)
        if spec.ssm_files:
            for node in [i.ssm for i in instances if i.ssm] + hybrid:
                self.write_ssm(node)
        exports = self.write_exports(instances, hybrid, latest_items) if spec.export_days else None
        export_id = exports.partitions[-1][0] if exports else ""
        truth = compute_truth(instances, hybrid, latest, latest_dt, latest_moment, export_id, today=spec.end)
        return Fixture(self.root, spec, truth, instances, hybrid, self.snapshot_files, exports, snapshot_bytes)

    # ------------------------------------------------------------ SSM items recorded by Config
    def recorded_ssm_items(self, node: SsmNode | None) -> list[dict]:
        """The node's SSM items as Config records them (built once; the same in every snapshot)."""
        if not self.spec.ssm_config_items or node is None or node.info is None:
            return []
        if node.node_id not in self.ssm_item_cache:
            version = ("1.2", "1.3")[len(self.ssm_item_cache) % 2]
            self.ssm_item_cache[node.node_id] = export_data.ssm_items(
                node, self.rng, target_bytes=self.spec.inventory_item_bytes,
                capture=self.iso_ms(datetime.strptime(node.info["captureTime"], "%Y-%m-%dT%H:%M:%SZ")),
                version=version,
            )  # fmt: skip
        return self.ssm_item_cache[node.node_id]

    # ------------------------------------------------------------ Config export
    def write_exports(self, instances, hybrid, latest_items) -> ExportSet:
        """Complete exports (registered), the latest from the latest snapshots' items, and a killed newer one."""
        spec = self.spec
        end = datetime.combine(spec.end, datetime.min.time())
        plan = [
            (end - timedelta(days=d) + timedelta(hours=14), d + 1, True) for d in range(spec.export_days - 2, 0, -1)
        ]
        if spec.export_days > 1:
            plan.append((end + timedelta(hours=13), 1, True))
        plan.append((end + timedelta(hours=14), 0, True))
        if spec.partial_export:
            plan.append((end + timedelta(hours=15), 2, False))
        partitions, partial, rows = [], [], {}
        for when, variant, complete in plan:
            export_id = f"{when:%Y%m%dT%H%M%SZ}"
            items = []
            for account in spec.accounts:
                for region in spec.regions:
                    if not variant:
                        items.extend(latest_items[(account, region)])
                        continue
                    for inst in (i for i in instances if i.account == account and i.region == region):
                        if not inst.new:  # new instances exist only in the latest state
                            items.extend(self.instance_items(inst, variant, when - timedelta(minutes=5)))
                    for node in (n for n in hybrid if n.account == account and n.region == region):
                        items.extend(self.hybrid_items(node, variant, when - timedelta(minutes=4)))
            queries = list(export_data.export_rows(items))
            export_data.write_export(
                self.config_root, spec.export_prefix, export_id, queries, part_rows=spec.export_part_rows,
                complete=complete, gzip_level=spec.gzip_level,
            )  # fmt: skip
            rows[export_id] = [row for query in queries for row in query]
            folder = export_data.export_folder(spec.export_prefix, export_id)
            (partitions if complete else partial).append((export_id, f"s3://{spec.config_bucket}/{folder}"))
        aggregator = [
            export_data.aggregator_item(item)
            for account in spec.accounts
            for region in spec.regions
            for item in latest_items[(account, region)]
        ]
        return ExportSet(partitions, [export_id for export_id, _ in partial], rows, aggregator)


def node_inventory(node: SsmNode) -> dict[str, list[dict]]:
    """Inventory type -> the lines of the node's file of that type (no file when empty)."""
    tags = [
        {"Key": k, "Value": v, "resourceId": node.node_id, "captureTime": node.info["captureTime"],
         "schemaVersion": "1.0"}
        for k, v in node.tags
    ] if node.info else []  # fmt: skip
    return {
        "AWS:InstanceInformation": [node.info] if node.info else [],
        "AWS:PatchSummary": [node.summary] if node.summary else [],
        "AWS:ComplianceItem": node.items,
        "AWS:Tag": tags,
        **node.extra,
    }


def generate(root: Path, spec: FixtureSpec | None = None) -> Fixture:
    """Write the fixture tree below `root` and return it with its ground truth."""
    return _Generator(Path(root), spec or FixtureSpec()).generate()


# ---------------------------------------------------------------- ground truth
def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text.replace(".000", "").rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        try:
            return datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
        except ValueError:
            return None


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


PATCH_STATES = {
    "INSTALLED": "INSTALLED",
    "INSTALLEDOTHER": "INSTALLED_OTHER",
    "INSTALLEDPENDINGREBOOT": "INSTALLED_PENDING_REBOOT",
    "INSTALLEDREJECTED": "INSTALLED_REJECTED",
    "MISSING": "MISSING",
    "FAILED": "FAILED",
    "NOTAPPLICABLE": "NOT_APPLICABLE",
}


def export_date(export_id: str) -> date | None:
    """The UTC date of an export (export_id YYYYMMDDTHHMMSSZ)."""
    return datetime.strptime(export_id, "%Y%m%dT%H%M%SZ").date() if export_id else None


def compute_truth(instances, hybrid, latest, latest_dt, latest_moment, export_id: str = "", *,
                  today: date | None = None) -> Truth:  # fmt: skip
    """Expected view rows from the model, following the rules documented in patchcompliance/sql. The views read
    the latest export (`export_id`), which holds the latest snapshot's items: snapshot_date is the export's date.
    `today` is current_date of the views (compliance policy: default parameters, no history)."""
    configmic, configpc, tags, compliance = [], [], [], []
    day = export_date(export_id)
    today = today or day
    current = [i for i in instances if not i.removed and i.status != "ResourceDeleted"]
    for inst in current:
        configmic.append(
            (inst.account, inst.region, inst.instance_id, inst.name, inst.state, inst.platform_details,
             inst.managed_status, inst.managed_status_source, _ms(inst.capture), day)
        )  # fmt: skip
        if inst.patch_result:
            configpc.append(
                (inst.account, inst.region, inst.instance_id, inst.patch_result,
                 _ms(inst.capture + timedelta(seconds=30)), day)
            )  # fmt: skip
        tags.extend((inst.account, inst.region, inst.instance_id, k, v) for k, v in inst.tags.items())
    for node in hybrid:
        if node.patch_result is None:  # no patch rule in this region
            continue
        moment = latest_moment[(node.account, node.region)]
        configpc.append(
            (node.account, node.region, node.node_id, node.patch_result, moment - timedelta(minutes=4), day)
        )

    def counts(node: SsmNode | None):
        if node is None or node.summary is None:
            return (None,) * 6
        s = node.summary
        return tuple(
            int(s[k])
            for k in ("MissingCount", "FailedCount", "InstalledPendingRebootCount", "InstalledCount",
                      "CriticalNonCompliantCount", "SecurityNonCompliantCount")
        )  # fmt: skip

    settings = policy.Settings.of()

    def policy_columns(state, managed_status, info, node, patch_result, tags):
        """installed_rejected_count .. compliance_state (tests/support/policy.py)."""
        summary = node.summary if node else None
        exemption = policy.exemption(tags, settings, today)
        scan = _ts((summary or {}).get("OperationEndTime")) or _ts((summary or {}).get("captureTime"))
        age, reason = policy.staleness(scan, _ts((info or {}).get("captureTime")), settings, today)
        missing, failed, pending = counts(node)[:3]
        rejected = int(summary["InstalledRejectedCount"]) if summary else None
        detail = (node.extra.get("AWS:InstanceDetailedInformation") or [{}])[0] if node else {}
        compliance_state = policy.compliance_state(
            instance_state=state, exempt=exemption.active, managed_status=managed_status, has_info=info is not None,
            stale_reason=reason, security_updates_noncompliant=0, patch_rule=patch_result,
            counts=None if summary is None else {"missing": missing, "failed": failed, "pending": pending,
                                                 "rejected": rejected},
        )  # fmt: skip
        return (rejected, (summary or {}).get("AvailableSecurityUpdateCount"), detail.get("KernelVersion"), age,
                reason, exemption.until, exemption.expired, compliance_state)  # fmt: skip

    for inst in current:
        node = inst.ssm
        info = node.info if node else None
        platform_type = (info or {}).get("PlatformType") or ("Windows" if inst.platform == "Windows" else "Linux")
        compliance.append(
            (inst.account, inst.region, inst.instance_id, inst.name or (info or {}).get("ComputerName"),
             inst.state, platform_type, (info or {}).get("PlatformName") or inst.platform_details,
             (info or {}).get("PlatformVersion"), (info or {}).get("AgentVersion"),
             _ts((info or {}).get("captureTime")), inst.managed_status, inst.managed_status_source,
             inst.patch_result, *counts(node),
             *policy_columns(inst.state, inst.managed_status, info, node, inst.patch_result, inst.tags))
        )  # fmt: skip
    for node in hybrid:
        if not ssm_reports(node):
            continue
        managed, source = managed_by((), node)
        compliance.append(
            (node.account, node.region, node.node_id, node.info["ComputerName"], None, node.info["PlatformType"],
             node.info["PlatformName"], node.info["PlatformVersion"], node.info["AgentVersion"],
             _ts(node.info["captureTime"]), managed, source, node.patch_result, *counts(node),
             *policy_columns(None, managed, node.info, node, node.patch_result, {}))
        )  # fmt: skip

    nodes = [i.ssm for i in instances if i.ssm] + list(hybrid)
    patch = []
    for node in nodes:
        for line in node.items:
            if line["ComplianceType"].lower() != "patch":
                continue
            state = line["PatchState"]
            canonical = PATCH_STATES.get("".join(c for c in state if c.isalpha()).upper(), state.upper())
            patch.append(
                (node.account, node.region, node.node_id, line["Id"], line["Title"], line["Classification"],
                 line["Severity"], line["PatchSeverity"], canonical, line["Status"], line["PatchGroup"],
                 line["PatchBaselineId"], _ts(line["InstalledTime"]), _ts(line["ExecutionTime"]),
                 _ts(line["captureTime"]), line.get("CVEIds"))
            )  # fmt: skip

    inventory: dict[str, list[dict]] = {}
    for node in nodes:
        for inventory_type, lines in node_inventory(node).items():
            table = "aws_" + inventory_type.split(":")[1].lower()
            for line in lines:
                inventory.setdefault(table, []).append(
                    {**line, "accountid": node.account, "region": node.region,
                     "resourcetype": "ManagedInstanceInventory", "resourceId": node.node_id}
                )  # fmt: skip
    patch_age = policy.patch_age_rows(compliance, patch, [], {}, settings, today)
    return Truth(
        compliance_settings=[settings.row()],
        patch_age=sorted(patch_age, key=repr),
        patch_cves=sorted(policy.patch_cves_rows(compliance, patch, patch_age), key=repr),
        compliance_trend=[],
        configmic=sorted(configmic, key=repr),
        configpc=sorted(configpc, key=repr),
        patch=sorted(patch, key=repr),
        instance_tags=sorted(tags, key=repr),
        instance_compliance=sorted(compliance, key=repr),
        latest_snapshot=latest,
        latest_dt=latest_dt,
        inventory_lines=inventory,
        latest_export=export_id,
    )
