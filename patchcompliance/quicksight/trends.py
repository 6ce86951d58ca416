"""Sheet "Trends and SLA": compliance over time, SLA breaches and a CVE search.

Reads datasets "Compliance Trend" (view compliance_trend), "Patch SLA" (patch_age with the node's name) and
"Patch CVEs" (patch_cves with the node's name). Visual, filter and control IDs are fixed, so the Definition is
deterministic; every column a visual, filter or action uses is a column of its dataset (tests/quicksight).
"""

from __future__ import annotations

from troposphere import quicksight as qs

from .controls import category_filter, controls_layout, dropdown, grid, text_field, text_filter
from .datasets import CVES_SPEC, SLA_SPEC, TREND_SPEC
from .visuals import Count, bar_chart, line_chart, table

SHEET = "trend"
BREACHED = "BREACHED"  # patch_age.sla_state of a patch missing past its SLA due date

# Percent compliant across accounts and regions: compliance_trend's percent_compliant (compliant nodes among the
# nodes neither TERMINATED, STOPPED nor EXEMPT; nodes_total leaves out TERMINATED) with the counts summed before
# dividing, so every node weighs the same (an average of the per-row percent_compliant would weigh a region with
# 2 nodes like one with 2,000). A ratio from 0 to 1, shown as a percentage.
PERCENT_COMPLIANT = "trend_percent_compliant"
CALCULATED_FIELDS = (
    (
        TREND_SPEC.identifier,
        PERCENT_COMPLIANT,
        "sum({nodes_compliant}) / (sum({nodes_total}) - sum({nodes_stopped}) - sum({nodes_exempt}))",
    ),
)

TREND_CHART = "trend-percent-compliant"
BREACHES_BY_ACCOUNT = "sla-breaches-by-account"
OLDEST_BREACHES = "sla-oldest-breaches"
CVE_TABLE = "cve-patches"
ACCOUNT_FILTER = "trend-account"
BREACHED_FILTER = "sla-breached"
CVE_FILTER = "cve-search"

BREACH_COLUMNS = [
    "account_id",
    "region",
    "instance_id",
    "instance_name",
    "patch_id",
    "title",
    "severity",
    "patch_state",
    "first_seen_missing",
    "age_days",
    "sla_days",
    "sla_due",
]
CVE_COLUMNS = [
    "cve_id",
    "account_id",
    "region",
    "instance_id",
    "instance_name",
    "patch_id",
    "title",
    "severity",
    "patch_state",
    "first_seen_missing",
    "installed_time",
]


def trends_sheet() -> tuple[qs.SheetDefinition, list[qs.FilterGroup]]:
    """The sheet and its filter groups."""
    sla = SLA_SPEC.identifier
    visuals = [
        line_chart(
            TREND_CHART,
            "Percent compliant by day (nodes not terminated, stopped or exempt)",
            TREND_SPEC.identifier,
            "day",
            PERCENT_COMPLIANT,
            percent=True,
        ),
        bar_chart(
            BREACHES_BY_ACCOUNT,
            "SLA breaches by account (missing or failed patches past their due date)",
            sla,
            ["account_id"],
            Count("patch_id", "breaches"),
            color="severity",
            horizontal=True,
            filter_action=True,
            filter_targets=[OLDEST_BREACHES],
        ),
        table(OLDEST_BREACHES, "Oldest SLA breaches", sla, BREACH_COLUMNS, sort=("age_days", "DESC")),
        table(CVE_TABLE, "Patches by CVE", CVES_SPEC.identifier, CVE_COLUMNS, sort=("cve_id", "DESC")),
    ]
    filters = [
        # Account control: the trend line of one account (Select all: every account).
        category_filter(ACCOUNT_FILTER, TREND_SPEC.identifier, "account_id", None, SHEET, [TREND_CHART]),
        category_filter(BREACHED_FILTER, sla, "sla_state", [BREACHED], SHEET, [BREACHES_BY_ACCOUNT, OLDEST_BREACHES]),
        # CVE search: the rows whose cve_id contains the text typed into the control (empty: every row).
        text_filter(CVE_FILTER, CVES_SPEC.identifier, "cve_id", SHEET, [CVE_TABLE]),
    ]
    sheet = qs.SheetDefinition(
        SheetId=SHEET,
        Name="Trends and SLA",
        Title="Trends and SLA",
        Description="Compliance over time, missing patches past their SLA, and the nodes and patches of a CVE.",
        Visuals=visuals,
        FilterControls=[
            dropdown(f"{ACCOUNT_FILTER}-control", ACCOUNT_FILTER, "Account (trend)"),
            text_field(f"{CVE_FILTER}-control", CVE_FILTER, "CVE ID contains"),
        ],
        SheetControlLayouts=[controls_layout([(1, [(f"{ACCOUNT_FILTER}-control", 6), (f"{CVE_FILTER}-control", 6)])])],
        Layouts=[
            qs.Layout(
                Configuration=qs.LayoutConfiguration(
                    GridLayout=grid(
                        [
                            (10, [(TREND_CHART, 22), (BREACHES_BY_ACCOUNT, 14)]),
                            (12, [(OLDEST_BREACHES, 36)]),
                            (12, [(CVE_TABLE, 36)]),
                        ]
                    )
                )
            )
        ],
    )
    return sheet, filters
