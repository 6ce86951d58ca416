"""A fleet over many days, and what the views must say about it on each day (multi-day ground truth).

The model: a few dozen nodes (EC2 instances in two accounts x two regions, and a hybrid node), each with a
scenario over days -HISTORY_DAYS..0 (day 0 = TODAY): patches missing from one day to another (fixed early or late,
a broken run, a run across a day the history job did not run, a failed install), installed-rejected patches,
available security updates, pending reboots, scans and inventories that stop (stale), exemption tags (open, until a
future day, until today, expired, not a date, wrong case), stop, termination, nodes created late, unmanaged nodes,
a CVE shared by several patches and nodes.

For any day, `fleet(day)` holds what the views read on that day: the Config export's instances, tags and
managed-by-SSM rule results and the resource data sync's files (instance information, patch summary, patch
compliance items, detailed information); tests/support/timeline_engine.py writes them as AWS lays them out.
`compliance_rows(day)` and `patch_rows(day)`
are the rows instance_compliance and patch must return on that day, derived from the model with the rules of
tests/support/policy.py, never by running SQL. The history tables hold exactly those rows for the days the history
job ran (HISTORY_DAYS days before today, except JOB_GAPS): tests/support/timeline_engine.py writes them as Parquet
and derives the truth of patch_age, patch_cves and compliance_trend from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from . import policy

TODAY = date(2025, 11, 14)
HISTORY_DAYS = 45  # the history job ran on days -45..-1 ...
JOB_GAPS = (-20,)  # ... except these
A, B = "123456789012", "210987654321"
EU, US = "eu-west-1", "us-east-1"
CONFIG_BUCKET, DATASYNC_BUCKET, DATASYNC_PREFIX = "timeline-config", "timeline-datasync", "inventory"
MANAGED_RULE = "ec2-instance-managed-by-systems-manager"
STATUS = {"running": "Active", "stopped": "Stopped", "terminated": "Terminated"}

# patch id -> (title, classification, compliance Severity, vendor PatchSeverity, CVEIds)
PATCHES = {
    "KB5040001": (
        "2025-07 Cumulative Update",
        "SecurityUpdates",
        "CRITICAL",
        "Critical",
        "CVE-2025-1111,CVE-2025-2222",
    ),
    "KB5040002": ("2025-07 .NET Update", "SecurityUpdates", "MEDIUM", "Moderate", ""),
    "KB5040003": ("2025-06 Security Update", "SecurityUpdates", "UNSPECIFIED", "Unspecified", "CVE-2025-6666"),
    "ALAS-101": ("openssl", "Security", "HIGH", "Important", "CVE-2025-1111, CVE-2025-3333"),
    "ALAS-102": ("glibc", "Security", "MEDIUM", "Medium", "CVE-2025-4444"),
    "ALAS-103": ("curl", "Security", "LOW", "Low", "CVE-2025-5555,,CVE-2025-5555"),
    "ALAS-104": ("kernel", "Security", "HIGH", "", "CVE-2025-7777"),
    "ALAS-105": ("sudo", "Security", "CRITICAL", "Critical", "CVE-2025-8888"),
    "ALAS-106": ("vim", "Bugfix", "INFORMATIONAL", "", ""),
}
BASELINE = ("BASE-1", "BASE-2")  # installed on every scanned node
STATE_SPELLING = {"MISSING": "Missing", "FAILED": "FAILED", "INSTALLED": "Installed",
                  "INSTALLED_REJECTED": "InstalledRejected", "INSTALLED_PENDING_REBOOT": "INSTALLED_PENDING_REBOOT",
                  "AVAILABLE_SECURITY_UPDATE": "AvailableSecurityUpdate"}  # fmt: skip


@dataclass(frozen=True)
class Node:
    name: str
    account: str
    region: str
    windows: bool = False
    hybrid: bool = False
    created: int = -HISTORY_DAYS - 5  # first day in Config (EC2) or SSM (hybrid)
    states: tuple = ()  # ((day, EC2 state), ...) changes; running before the first
    managed: str | None = "COMPLIANT"  # managed-by-SSM rule result, None: no result
    ssm: bool = True  # SSM reports the node
    info: bool = True  # ... with instance information and detailed information
    summary: bool = True  # the node has a patch summary
    patches: tuple = ()  # ((patch, first day, first day fixed or None, MISSING|FAILED), ...)
    rejected: tuple = ()  # ((patch, from, to or None), ...): INSTALLED_REJECTED
    pending: tuple = ()  # ((patch, from, to or None), ...): INSTALLED_PENDING_REBOOT
    security_updates: tuple = ()  # ((patch, from, to or None, item status), ...): AVAILABLE_SECURITY_UPDATE
    last_scan: int | None = None  # scans daily until this day (None: every day)
    last_inventory: int | None = None
    resent_summary: int | None = None  # the summary is re-sent daily from this day, its scan time unchanged
    operation_end: bool = True  # the summary has OperationEndTime
    old_agent: bool = False  # no InstalledRejectedCount/AvailableSecurityUpdateCount/KernelVersion attributes
    tags: tuple = ()  # ((day, {key: value or None}), ...): tag changes from that day on

    @property
    def node_id(self) -> str:
        digits = f"{sum(ord(c) * 31**i for i, c in enumerate(self.name)) % 16**17:017x}"
        return ("mi-" if self.hybrid else "i-") + digits


NODES = (
    # account A, eu-west-1: patches and SLA
    Node("clean", A, EU),
    Node(
        "late-fix",
        A,
        EU,
        windows=True,
        patches=(("KB5040001", -30, -10, "MISSING"), ("KB5040002", -16, None, "MISSING")),
    ),
    Node("early-fix", A, EU, patches=(("ALAS-101", -12, -9, "MISSING"),)),
    Node("breach-across-gap", A, EU, patches=(("ALAS-105", -25, None, "MISSING"),)),
    Node("sla-day-6", A, EU, windows=True, patches=(("KB5040001", -6, None, "MISSING"),)),
    Node("sla-day-7", A, EU, windows=True, patches=(("KB5040001", -7, None, "MISSING"),)),
    Node("sla-day-8", A, EU, windows=True, patches=(("KB5040001", -8, None, "MISSING"),)),
    Node("important-edges", A, EU, patches=(("ALAS-101", -10, None, "MISSING"), ("ALAS-104", -11, None, "MISSING"))),
    Node("broken-run", A, EU, patches=(("ALAS-102", -15, -12, "MISSING"), ("ALAS-102", -9, None, "MISSING"))),
    Node("new-today-and-failed", A, EU, patches=(("ALAS-103", 0, None, "MISSING"), ("ALAS-106", -3, None, "FAILED"))),
    Node("rejected", A, EU, rejected=(("ALAS-104", -5, None),)),
    Node(
        "security-update-noncompliant",
        A,
        EU,
        windows=True,
        security_updates=(("KB5040003", -4, None, "NON_COMPLIANT"),),
    ),
    Node(
        "security-update-compliant",
        A,
        EU,
        windows=True,
        security_updates=(("KB5040003", -30, None, "COMPLIANT"), ("KB5040002", -2, None, "COMPLIANT")),
    ),
    Node("pending-reboot", A, EU, windows=True, pending=(("KB5040002", -2, None),)),
    # account A, us-east-1: staleness and exemptions
    Node("stale-scan-day-8", A, US, last_scan=-8),
    Node("stale-scan-day-7", A, US, last_scan=-7),
    Node("stale-inventory", A, US, last_inventory=-10, patches=(("ALAS-103", -2, None, "MISSING"),)),
    Node("stale-everything", A, US, last_scan=-12, last_inventory=-12, patches=(("ALAS-101", -20, None, "MISSING"),)),
    Node("summary-without-end-time", A, US, operation_end=False, last_inventory=-9),
    Node("summary-resent", A, US, last_scan=-9, resent_summary=-9),
    Node("scan-only", A, US, info=False, last_scan=-10),  # a patch summary but no instance information
    Node("exempt", A, US, patches=(("ALAS-105", -20, None, "MISSING"),), tags=((-10, {"PatchExempt": "CHG-1234"}),)),
    Node(
        "exempt-until-later",
        A,
        US,
        patches=(("ALAS-101", -3, None, "MISSING"),),
        tags=((-15, {"PatchExempt": "", "PatchExemptUntil": (TODAY + timedelta(days=5)).isoformat()}),),
    ),
    Node(
        "exempt-until-today",
        A,
        US,
        tags=((-15, {"PatchExempt": "yes", "PatchExemptUntil": TODAY.isoformat()}),),
        patches=(("ALAS-102", -4, None, "MISSING"),),
    ),
    Node(
        "exempt-expired",
        A,
        US,
        patches=(("ALAS-105", -30, None, "MISSING"),),
        tags=((-15, {"PatchExempt": "x", "PatchExemptUntil": (TODAY - timedelta(days=3)).isoformat()}),),
    ),
    Node(
        "exempt-not-a-date",
        A,
        US,
        patches=(("ALAS-103", -5, None, "MISSING"),),
        tags=((-15, {"PatchExempt": "x", "PatchExemptUntil": "next week"}),),
    ),
    Node("exempt-wrong-case", A, US, patches=(("ALAS-103", -5, None, "MISSING"),), tags=((-15, {"patchexempt": "x"}),)),
    Node("exempt-unmanaged", A, US, managed="NON_COMPLIANT", ssm=False, tags=((-15, {"PatchExempt": "x"}),)),
    # account B, eu-west-1: lifecycle and state changes
    Node(
        "stopped",
        B,
        EU,
        states=((-5, "stopped"),),
        last_scan=-6,
        last_inventory=-6,
        patches=(("ALAS-102", -20, None, "MISSING"),),
    ),
    Node(
        "terminated",
        B,
        EU,
        states=((-6, "terminated"),),
        last_scan=-7,
        last_inventory=-7,
        patches=(("ALAS-105", -30, None, "MISSING"),),
    ),
    Node("unmanaged", B, EU, managed="NON_COMPLIANT", ssm=False),
    Node("no-patch-data", B, EU, summary=False),
    Node("no-rule-result", B, EU, managed=None, patches=(("ALAS-102", -1, None, "MISSING"),)),
    Node("onprem", B, EU, hybrid=True, managed=None, patches=(("ALAS-103", -40, None, "MISSING"),)),
    Node("flapping", B, EU, patches=(("ALAS-101", -8, -5, "MISSING"), ("ALAS-101", -2, None, "MISSING"))),
    Node("created-late", B, EU, created=-3, patches=(("ALAS-104", -3, None, "MISSING"),)),
    # account B, us-east-1
    Node("clean-b", B, US, old_agent=True, tags=((-2, {"ops/patch exempt": "1"}),)),  # an exemption key to set
    Node("failed-fix", B, US, patches=(("ALAS-106", -14, -7, "FAILED"),)),
    Node("fixed-long-ago", B, US, patches=(("ALAS-102", -44, -40, "MISSING"),)),
    Node("long-missing", B, US, patches=(("KB5040002", -44, -1, "MISSING"),), windows=True),
)


def day_of(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def job_days() -> list[date]:
    """The days the history job ran (partitions of compliance_history and patch_history), ascending."""
    return [day_of(o) for o in range(-HISTORY_DAYS, 0) if o not in JOB_GAPS]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day_of(day), time(hour, minute))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- one node on one day
@dataclass
class NodeDay:
    """What SSM and Config hold about a node on a day."""

    node: Node
    offset: int
    state: str | None
    tags: dict[str, str]
    info: dict | None = None
    summary: dict | None = None
    items: list[dict] = field(default_factory=list)
    detail: dict | None = None

    @property
    def in_config(self) -> bool:
        return not self.node.hybrid and self.offset >= self.node.created


def _active(spans, day):
    return [s for s in spans if s[1] <= day and (s[2] is None or day < s[2])]


def evaluate(node: Node, offset: int) -> NodeDay | None:
    """The node on day `offset`, or None before it exists."""
    if offset < node.created:
        return None
    state = None if node.hybrid else "running"
    for change_day, change in node.states:
        if change_day <= offset:
            state = change
    tags = {"Name": node.name, "Owner": "team-a" if node.account == A else "team-b"}
    for change_day, change in node.tags:
        if change_day <= offset:
            for key, value in change.items():
                if value is None:
                    tags.pop(key, None)
                else:
                    tags[key] = value
    day = NodeDay(node, offset, state, {} if node.hybrid else tags)
    if not node.ssm:
        return day
    seen = min(offset, node.last_inventory if node.last_inventory is not None else offset)
    scan = min(offset, node.last_scan if node.last_scan is not None else offset)
    common = {"resourceId": node.node_id, "schemaVersion": "1.0"}
    day.info = None if not node.info else {
        "AgentType": "amazon-ssm-agent", "AgentVersion": "3.3.1142.0",
        "ComputerName": node.name.upper() if node.windows else f"ip-10-0-0-{len(node.name)}",
        "InstanceId": node.node_id, "IpAddress": "10.0.0.10",
        "PlatformName": "Microsoft Windows Server 2022 Datacenter" if node.windows else "Amazon Linux",
        "PlatformType": "Windows" if node.windows else "Linux",
        "PlatformVersion": "10.0.20348" if node.windows else "2023",
        "InstanceStatus": STATUS.get(state or "running"), "captureTime": iso(at(seen, 2)), **common,
    }  # fmt: skip
    day.detail = {"CPUModel": "Intel Xeon", "CPUCores": "2", "captureTime": iso(at(seen, 2)), **common}
    if not node.info:
        day.detail = None
    elif not node.old_agent:
        day.detail["KernelVersion"] = "10.0.20348.2527" if node.windows else "6.1.102-111.182.amzn2023.x86_64"
    if node.summary:
        day.items = _items(node, scan)
        day.summary = _summary(node, scan, offset, day.items)
    return day


def _items(node: Node, scan: int) -> list[dict]:
    """The node's patch compliance items as of its scan on day `scan`."""
    lines = []
    execution = iso(at(scan, 1))

    def line(patch, state, status, installed=""):
        title, classification, severity, vendor, cves = PATCHES.get(patch, (patch, "Updates", "UNSPECIFIED", "", ""))
        return {
            "ComplianceType": "Patch", "ExecutionId": f"exec-{scan}", "ExecutionType": "Command",
            "ExecutionTime": execution, "Id": patch, "Title": title, "Status": status, "Severity": severity,
            "Classification": classification, "PatchBaselineId": "pb-0123456789abcdef0", "PatchSeverity": vendor,
            "PatchState": STATE_SPELLING[state], "PatchGroup": "prod", "InstalledTime": installed,
            # Systems Manager reports CVE IDs for missing and failed patches only
            "CVEIds": cves if state in policy.NON_COMPLIANT_PATCH_STATES else "",
            "resourceId": node.node_id, "captureTime": iso(at(scan, 1, 10)), "schemaVersion": "1.0",
        }  # fmt: skip

    for patch in BASELINE:
        lines.append(line(patch, "INSTALLED", "COMPLIANT", iso(at(-90, 3))))
    current = {}
    for patch, start, end, state in node.patches:
        if start <= scan and (end is None or scan < end):
            current[patch] = state
    fixed = {p: e for p, s, e, _ in node.patches if e is not None and e <= scan and p not in current}
    for patch, state in current.items():
        lines.append(line(patch, state, "NON_COMPLIANT"))
    for patch, end in fixed.items():
        lines.append(line(patch, "INSTALLED", "COMPLIANT", iso(at(end - 1, 23, 30))))
    for patch, *_ in _active(node.rejected, scan):
        lines.append(line(patch, "INSTALLED_REJECTED", "NON_COMPLIANT", iso(at(-60, 3))))
    for patch, *_ in _active(node.pending, scan):
        lines.append(line(patch, "INSTALLED_PENDING_REBOOT", "NON_COMPLIANT", iso(at(scan, 0, 30))))
    for patch, _, _, status in _active(node.security_updates, scan):
        lines.append(line(patch, "AVAILABLE_SECURITY_UPDATE", status))
    return lines


def _summary(node: Node, scan: int, offset: int, items: list[dict]) -> dict:
    states = [next(k for k, v in STATE_SPELLING.items() if v == i["PatchState"]) for i in items]
    noncompliant = [i for i in items if i["Status"] == "NON_COMPLIANT"]
    captured = offset if node.resent_summary is not None and offset >= node.resent_summary else scan
    summary = {
        "PatchGroup": "prod", "BaselineId": "pb-0123456789abcdef0", "SnapshotId": f"snap-{scan}",
        "InstalledCount": states.count("INSTALLED"), "InstalledOtherCount": 0,
        "InstalledPendingRebootCount": states.count("INSTALLED_PENDING_REBOOT"),
        "InstalledRejectedCount": states.count("INSTALLED_REJECTED"), "NotApplicableCount": 3,
        "MissingCount": states.count("MISSING"), "FailedCount": states.count("FAILED"),
        "OperationType": "Scan", "OperationStartTime": iso(at(scan, 0, 55)),
        "OperationEndTime": iso(at(scan, 1, 5)), "RebootOption": "NoReboot",
        "CriticalNonCompliantCount": sum(i["Severity"] == "CRITICAL" for i in noncompliant),
        "SecurityNonCompliantCount": sum(i["Classification"].startswith("Security") for i in noncompliant),
        "OtherNonCompliantCount": sum(not i["Classification"].startswith("Security") for i in noncompliant),
        "resourceId": node.node_id, "captureTime": iso(at(captured, 1, 10)), "schemaVersion": "1.0",
    }  # fmt: skip
    if node.windows:
        summary["AvailableSecurityUpdateCount"] = states.count("AVAILABLE_SECURITY_UPDATE")
    if not node.operation_end:
        del summary["OperationEndTime"]
    if node.old_agent:
        del summary["InstalledRejectedCount"]
        summary.pop("AvailableSecurityUpdateCount", None)
    return summary


def _timestamp(text: str | None) -> datetime | None:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ") if text else None


# ---------------------------------------------------------------- the views' rows on one day
def fleet(offset: int) -> list[NodeDay]:
    return [d for d in (evaluate(n, offset) for n in NODES) if d is not None]


def compliance_rows(offset: int, settings: policy.Settings) -> list[tuple]:
    """instance_compliance on day `offset`, in the view's column order."""
    today = day_of(offset)
    rows = []
    for day in fleet(offset):
        node, info, summary = day.node, day.info, day.summary
        reported = info is not None and info["InstanceStatus"] not in ("Terminated", "Deregistered")
        if node.hybrid and not reported:
            continue
        if node.managed is not None and not node.hybrid:
            managed, source = node.managed, "CONFIG_RULE"
        else:
            managed, source = ("COMPLIANT" if reported else "NON_COMPLIANT"), "SSM_INVENTORY"
        exemption = policy.exemption(day.tags, settings, today) if not node.hybrid else policy.Exemption(
            False, None, False)  # fmt: skip
        scan = None
        if summary:
            scan = _timestamp(summary.get("OperationEndTime")) or _timestamp(summary["captureTime"])
        inventory = _timestamp(info["captureTime"]) if info else None
        age, reason = policy.staleness(scan, inventory, settings, today)
        counts = None
        if summary:
            counts = {"missing": summary["MissingCount"], "failed": summary["FailedCount"],
                      "pending": summary["InstalledPendingRebootCount"],
                      "rejected": summary.get("InstalledRejectedCount")}  # fmt: skip
        security = sum(i["PatchState"] == "AvailableSecurityUpdate" and i["Status"] == "NON_COMPLIANT"
                       for i in day.items)  # fmt: skip
        state = policy.compliance_state(
            instance_state=day.state, exempt=exemption.active, managed_status=managed, has_info=info is not None,
            stale_reason=reason, counts=counts, security_updates_noncompliant=security, patch_rule=None,
        )  # fmt: skip
        platform = "Windows" if node.windows else "Linux/UNIX"
        s = summary or {}
        rows.append(
            (node.account, node.region, node.node_id, day.tags.get("Name") or (info or {}).get("ComputerName"),
             day.state, (info or {}).get("PlatformType") or ("Windows" if node.windows else "Linux"),
             (info or {}).get("PlatformName") or platform, (info or {}).get("PlatformVersion"),
             (info or {}).get("AgentVersion"), inventory, managed, source, None,
             s.get("MissingCount"), s.get("FailedCount"), s.get("InstalledPendingRebootCount"),
             s.get("InstalledCount"), s.get("CriticalNonCompliantCount"), s.get("SecurityNonCompliantCount"),
             s.get("InstalledRejectedCount"), s.get("AvailableSecurityUpdateCount"),
             (day.detail or {}).get("KernelVersion"), age, reason, exemption.until, exemption.expired, state)
        )  # fmt: skip
    return rows


def patch_rows(offset: int) -> list[tuple]:
    """View patch on day `offset` (every node with SSM files, also those that left Config)."""
    canonical = {v: k for k, v in STATE_SPELLING.items()}
    return [
        (day.node.account, day.node.region, day.node.node_id, i["Id"], i["Title"], i["Classification"],
         i["Severity"], i["PatchSeverity"], canonical[i["PatchState"]], i["Status"], i["PatchGroup"],
         i["PatchBaselineId"], _timestamp(i["InstalledTime"]), _timestamp(i["ExecutionTime"]),
         _timestamp(i["captureTime"]), i["CVEIds"])
        for day in fleet(offset)
        for i in day.items
    ]  # fmt: skip
