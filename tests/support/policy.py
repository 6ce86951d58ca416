"""The compliance policy as plain Python: the rules documented in patchcompliance/sql (compliance_settings,
instance_compliance, patch_age, patch_cves, compliance_trend), written again from their documentation so the ground
truth of the fixtures never runs the SQL it checks.

`Settings` is the row of compliance_settings for given parameter values (the central parameters' defaults unless
overridden); the other functions decide one node, one patch or one day as the views document it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from patchcompliance import constants, parameters

POLICY_PARAMETERS = (
    "StaleAfterDays", "ExemptionTagKey", "SlaCriticalDays", "SlaImportantDays", "SlaMediumDays", "SlaLowDays",
    "SlaOtherDays", "TrendDays",
)  # fmt: skip
DUE_SOON_DAYS = 3  # compliance_settings.due_soon_days: fixed, not a parameter
MTTR_WINDOW_DAYS = 30  # compliance_trend.mttr_days_30d
NON_COMPLIANT_PATCH_STATES = ("MISSING", "FAILED")  # what patch_history keeps and patch_age lists


def parameter_defaults() -> dict[str, str]:
    """The defaults of the policy parameters, as the central template declares them."""
    specs = {spec.name: spec for spec in parameters.CENTRAL_SPECS}
    return {name: str(specs[name].default) for name in POLICY_PARAMETERS}


@dataclass(frozen=True)
class Settings:
    """compliance_settings, column for column."""

    stale_after_days: int
    exemption_tag_key: str
    exemption_until_tag_key: str
    sla_critical_days: int
    sla_important_days: int
    sla_medium_days: int
    sla_low_days: int
    sla_other_days: int
    due_soon_days: int
    trend_days: int

    @classmethod
    def of(cls, values: dict[str, str] | None = None) -> Settings:
        v = {**parameter_defaults(), **(values or {})}
        return cls(
            stale_after_days=int(v["StaleAfterDays"]),
            exemption_tag_key=v["ExemptionTagKey"],
            exemption_until_tag_key=constants.EXEMPT_UNTIL_TAG_KEY,
            sla_critical_days=int(v["SlaCriticalDays"]),
            sla_important_days=int(v["SlaImportantDays"]),
            sla_medium_days=int(v["SlaMediumDays"]),
            sla_low_days=int(v["SlaLowDays"]),
            sla_other_days=int(v["SlaOtherDays"]),
            due_soon_days=DUE_SOON_DAYS,
            trend_days=int(v["TrendDays"]),
        )

    def row(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    @property
    def sla_max(self) -> int:
        return max(self.sla_critical_days, self.sla_important_days, self.sla_medium_days, self.sla_low_days,
                   self.sla_other_days)  # fmt: skip


# ---------------------------------------------------------------- instance_compliance
@dataclass(frozen=True)
class Exemption:
    active: bool  # EXEMPT today
    until: date | None  # exempt_until
    expired: bool  # exemption_expired


def exemption(tags: dict[str, str], settings: Settings, today: date) -> Exemption:
    """Exact tag keys; the exemption tag's value is not read; the until date is inclusive; an until value that is
    not YYYY-MM-DD makes the exemption expired."""
    if settings.exemption_tag_key not in tags:
        return Exemption(False, None, False)
    if settings.exemption_until_tag_key not in tags:
        return Exemption(True, None, False)
    text = tags[settings.exemption_until_tag_key].strip()
    try:
        until = date.fromisoformat(text) if len(text) == 10 and text[4] == "-" and text[7] == "-" else None
    except ValueError:
        until = None
    if until is None:
        return Exemption(False, None, True)
    return Exemption(until >= today, until, until < today)


def staleness(scan: datetime | None, inventory: datetime | None, settings: Settings, today: date):
    """(data_age_days, stale_reason): ages in UTC calendar days; the age of the older feed."""
    scan_age = None if scan is None else (today - scan.date()).days
    inventory_age = None if inventory is None else (today - inventory.date()).days
    ages = [a for a in (scan_age, inventory_age) if a is not None]
    if not ages:
        return None, None
    old = {name: age > settings.stale_after_days for name, age in (("scan", scan_age), ("inventory", inventory_age))
           if age is not None}  # fmt: skip
    if all(old.values()):
        reason = "NO_RECENT_DATA"
    elif old.get("scan"):
        reason = "NO_RECENT_SCAN"
    elif old.get("inventory"):
        reason = "NO_RECENT_INVENTORY"
    else:
        reason = None
    return max(ages), reason


def compliance_state(
    *,
    instance_state: str | None,
    exempt: bool,
    managed_status: str,
    has_info: bool,
    stale_reason: str | None,
    counts: dict[str, int | None] | None,
    security_updates_noncompliant: int,
    patch_rule: str | None,
) -> str:
    """`counts`: the patch summary's missing, failed, pending (reboot) and rejected counts, None without one."""
    if instance_state in ("terminated", "shutting-down"):
        return "TERMINATED"
    if instance_state in ("stopped", "stopping"):
        return "STOPPED"
    if exempt:
        return "EXEMPT"
    if managed_status == "NON_COMPLIANT" or (managed_status != "COMPLIANT" and not has_info):
        return "UNMANAGED"
    if stale_reason:
        return "STALE"
    if counts is not None:
        if any((counts.get(k) or 0) > 0 for k in ("missing", "failed", "pending", "rejected")):
            return "NON_COMPLIANT"
    if security_updates_noncompliant > 0:
        return "NON_COMPLIANT"
    if counts is not None and counts["missing"] == 0 and counts["failed"] == 0 and counts["pending"] == 0:
        return "COMPLIANT"
    return "NON_COMPLIANT" if patch_rule == "NON_COMPLIANT" else "NO_PATCH_DATA"


# ---------------------------------------------------------------- patch_age / patch_cves
def effective_severity(patch_severity: str | None, severity: str | None) -> str | None:
    """The vendor's severity when the item has one, else the compliance item's."""
    return patch_severity.strip() if patch_severity and patch_severity.strip() else severity


def sla_days(severity: str | None, settings: Settings) -> int:
    level = (severity or "").lower()
    if level == "critical":
        return settings.sla_critical_days
    if level in ("important", "high"):
        return settings.sla_important_days
    if level in ("medium", "moderate"):
        return settings.sla_medium_days
    if level == "low":
        return settings.sla_low_days
    return settings.sla_other_days


def sla(first_seen: date, days: int, today: date, exempt: bool, settings: Settings) -> tuple[int, date, str]:
    """(age_days, sla_due, sla_state)."""
    due = first_seen + timedelta(days=days)
    if exempt:
        state = "EXEMPT"
    elif today > due:
        state = "BREACHED"
    elif (due - today).days <= settings.due_soon_days:
        state = "DUE_SOON"
    else:
        state = "WITHIN"
    return (today - first_seen).days, due, state


def first_seen(job_days: list[date], present: set[date], today: date) -> date:
    """Start of the run of consecutive job days (ascending, up to today) holding the pair that ends on the latest
    job day; today when the pair is not on that day (or there is no history)."""
    days = [d for d in job_days if d <= today]
    if not days or days[-1] not in present:
        return today
    start = days[-1]
    for day in reversed(days[:-1]):
        if day not in present:
            break
        start = day
    return start


def split_cves(text: str | None) -> list[str]:
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


# ---------------------------------------------------------------- rows of the views reading current data
def _index(columns) -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(columns)}


def patch_age_rows(compliance: list[tuple], patches: list[tuple], job_days: list[date],
                   present: dict[tuple, set], settings: Settings, today: date) -> list[tuple]:  # fmt: skip
    """patch_age from the rows of instance_compliance and patch (columns of the history contract), the days the
    history job ran and the days each (account, region, node, patch) was in patch_history."""
    from patchcompliance.history import COMPLIANCE_COLUMNS, PATCH_COLUMNS

    ic, pc = _index(COMPLIANCE_COLUMNS), _index(PATCH_COLUMNS)
    states = {r[:3]: r[ic["compliance_state"]] for r in compliance}
    rows = []
    for r in patches:
        state = states.get(r[:3], "TERMINATED")
        if r[pc["patch_state"]] not in NON_COMPLIANT_PATCH_STATES or state == "TERMINATED":
            continue
        severity = effective_severity(r[pc["patch_severity"]], r[pc["severity"]])
        first = first_seen(job_days, present.get(r[:4], set()), today)
        days = sla_days(severity, settings)
        age, due, sla_state = sla(first, days, today, state == "EXEMPT", settings)
        rows.append((*r[:6], severity, r[pc["patch_state"]], first, age, days, due, sla_state))
    return rows


def patch_cves_rows(compliance: list[tuple], patches: list[tuple], ages: list[tuple]) -> list[tuple]:
    from patchcompliance.history import COMPLIANCE_COLUMNS, PATCH_COLUMNS

    ic, pc = _index(COMPLIANCE_COLUMNS), _index(PATCH_COLUMNS)
    states = {r[:3]: r[ic["compliance_state"]] for r in compliance}
    first = {r[:4]: r[8] for r in ages}
    rows = []
    for r in patches:
        if states.get(r[:3], "TERMINATED") == "TERMINATED":
            continue
        severity = effective_severity(r[pc["patch_severity"]], r[pc["severity"]])
        for cve in split_cves(r[pc["cve_ids"]]):
            rows.append((cve, *r[:5], severity, r[pc["patch_state"]], r[pc["installed_time"]], first.get(r[:4])))
    return rows
