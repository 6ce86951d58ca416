"""The patch compliance analysis and its published dashboard: calculated fields, three sheets, outputs.

Sheet `mic` ("Managed Instance Compliance") reads dataset "Patch Compliance by Tag", sheet `pc` ("Patch
Compliance") reads "Patch Compliance Data Set", sheet `trend` ("Trends and SLA", module `trends`) reads
"Compliance Trend", "Patch SLA" and "Patch CVEs". Visual, filter and control IDs are fixed, so the Definition is
deterministic; every column a visual, filter or action uses is a column of its dataset (tests/quicksight).
"""

from __future__ import annotations

from troposphere import AccountId, GetAtt, Output, Sub, Template
from troposphere import quicksight as qs

from . import names, trends
from .controls import canvas, category_filter, controls_layout, dropdown, grid
from .datasets import BY_TAG_SPEC, DATASETS, PATCH_SPEC, STACK
from .parameters import ENABLED, owner_permissions
from .visuals import DistinctCount, bar_chart, donut, kpi

# Values the views emit (patchcompliance/sql): Config compliance types (managed_status,
# patch_compliance_status), SSM item status, instance_compliance.compliance_state, normalised patch_state.
COMPLIANT = "COMPLIANT"
NON_COMPLIANT = "NON_COMPLIANT"
TERMINATED = "TERMINATED"
MISSING = "MISSING"
# compliance_state values the compliance rate leaves out, as compliance_trend.percent_compliant does
NOT_COUNTED = (TERMINATED, "STOPPED", "EXEMPT")

INSTANCE = "instance_id"
INSTANCES = DistinctCount(INSTANCE, "instances")  # the measure of every chart
DASHBOARD_ID = f"{STACK}-patch-compliance"

# Analysis-level calculated fields: (dataset identifier, name, expression).
# Compliance rate: COMPLIANT instances among the instances that are neither terminated, stopped nor exempt
# (compliance_state of instance_compliance; unmanaged, stale and unscanned instances count as not compliant),
# the same ratio as the latest day of the trend on sheet "Trends and SLA".
# Patch non-compliant (row level): the instance's patch data is non-compliant whatever its state (SSM patch
# summary counts or the Config patch rule), so "non-compliant instances by state" can show stopped ones too
# (compliance_state reports those as STOPPED); terminated instances are left out.
COMPLIANCE_RATE = "compliance_rate"
PATCH_NONCOMPLIANT = "patch_noncompliant"
CALCULATED_FIELDS = (
    (
        PATCH_SPEC.identifier,
        COMPLIANCE_RATE,
        f"distinct_countIf({{{INSTANCE}}}, {{compliance_state}} = '{COMPLIANT}')"
        f" / distinct_countIf({{{INSTANCE}}}, "
        + " AND ".join(f"{{compliance_state}} <> '{state}'" for state in NOT_COUNTED)
        + ")",
    ),
    (
        PATCH_SPEC.identifier,
        PATCH_NONCOMPLIANT,
        f"ifelse({{compliance_state}} = '{TERMINATED}', 'NO', "
        "{missing_count} > 0 OR {failed_count} > 0 OR {installed_pending_reboot_count} > 0"
        f" OR {{patch_compliance_status}} = '{NON_COMPLIANT}', 'YES', 'NO')",
    ),
)

MIC_SHEET = "mic"
PC_SHEET = "pc"


def _layout(rows: list[tuple[int, list[tuple[str, int]]]]) -> qs.Layout:
    return qs.Layout(Configuration=qs.LayoutConfiguration(GridLayout=grid(rows)))


def _managed_instance_sheet() -> tuple[qs.SheetDefinition, list[qs.FilterGroup]]:
    """Sheet "Managed Instance Compliance" on the Config view (configmic + configpc + instance_tags)."""
    ds = BY_TAG_SPEC.identifier
    donuts = [
        ("mic-noncompliant-by-name", "Non-compliant instances by Name tag", "instance_name"),
        ("mic-noncompliant-by-account", "Non-compliant instances by account", "account_id"),
        ("mic-noncompliant-by-region", "Non-compliant instances by region", "region"),
        ("mic-noncompliant-by-state", "Non-compliant instances by state", "instance_state"),
    ]
    visuals = [
        bar_chart(
            "mic-status-by-tag",
            "Instances by managed-by-SSM status and tag value",
            ds,
            ["managed_status"],
            INSTANCES,
            color="tag_value",
            filter_action=True,
        ),
        bar_chart(
            "mic-drill-down",
            "Instances by account, region and instance (drill down)",
            ds,
            ["account_id", "region", "instance_id"],
            INSTANCES,
            color="managed_status",
            horizontal=True,
            drill_down=True,
        ),
        *(donut(visual_id, title, ds, column, INSTANCES) for visual_id, title, column in donuts),
    ]
    filters = [
        # Tag-key control: the whole sheet (Select all: every instance; a key: the instances that have it).
        category_filter("mic-tag-key", ds, "tag_key", None, MIC_SHEET, None),
        category_filter(
            "mic-noncompliant", ds, "managed_status", [NON_COMPLIANT], MIC_SHEET, [v for v, _, _ in donuts]
        ),
    ]
    sheet = qs.SheetDefinition(
        SheetId=MIC_SHEET,
        Name="Managed Instance Compliance",
        Title="Managed Instance Compliance",
        Description="EC2 instances recorded by AWS Config and whether Systems Manager manages them.",
        Visuals=visuals,
        FilterControls=[dropdown("mic-tag-key-control", "mic-tag-key", "Tag key")],
        SheetControlLayouts=[controls_layout([(1, [("mic-tag-key-control", 6)])])],
        Layouts=[
            _layout(
                [
                    (10, [("mic-status-by-tag", 18), ("mic-drill-down", 18)]),
                    (9, [(visual_id, 9) for visual_id, _, _ in donuts]),
                ]
            )
        ],
    )
    return sheet, filters


def _patch_compliance_sheet() -> tuple[qs.SheetDefinition, list[qs.FilterGroup]]:
    """Sheet "Patch Compliance" on instance_compliance LEFT JOIN patch."""
    ds = PATCH_SPEC.identifier
    donuts = [
        ("pc-noncompliant-by-platform", "Non-compliant instances by platform", "platform_name"),
        ("pc-noncompliant-by-account", "Non-compliant instances by account", "account_id"),
        ("pc-noncompliant-by-region", "Non-compliant instances by region", "region"),
        ("pc-noncompliant-by-state", "Non-compliant instances by state", "instance_state"),
        ("pc-noncompliant-by-severity", "Non-compliant instances by severity", "severity"),
    ]
    donut_ids = [visual_id for visual_id, _, _ in donuts]
    visuals = [
        bar_chart(
            "pc-status-by-platform",
            "Instances by patch compliance state and platform type",
            ds,
            ["compliance_state"],
            INSTANCES,
            color="platform_type",
            filter_action=True,
        ),
        kpi(
            "pc-compliance-rate",
            "Patch compliance rate",
            ds,
            COMPLIANCE_RATE,
            subtitle="Compliant instances among the instances neither terminated, stopped nor exempt",
        ),
        *(donut(visual_id, title, ds, column, INSTANCES) for visual_id, title, column in donuts),
        bar_chart(
            "pc-top-missing-patches",
            "Top 10 missing patches (instances missing each patch)",
            ds,
            ["title"],
            INSTANCES,
            color="severity",
            horizontal=True,
            limit=10,
        ),
    ]
    filters = [
        # Non-compliant instances (PATCH_NONCOMPLIANT): the donuts and the missing patches.
        category_filter(
            "pc-noncompliant", ds, PATCH_NONCOMPLIANT, ["YES"], PC_SHEET, [*donut_ids, "pc-top-missing-patches"]
        ),
        # Severity counts only the patches that make an instance non-compliant.
        category_filter(
            "pc-noncompliant-patches", ds, "status", [NON_COMPLIANT], PC_SHEET, ["pc-noncompliant-by-severity"]
        ),
        category_filter("pc-missing", ds, "patch_state", [MISSING], PC_SHEET, ["pc-top-missing-patches"]),
    ]
    widths = [8, 7, 7, 7, 7]
    sheet = qs.SheetDefinition(
        SheetId=PC_SHEET,
        Name="Patch Compliance",
        Title="Patch Compliance",
        Description="Patch compliance of managed instances from Systems Manager inventory and AWS Config.",
        Visuals=visuals,
        Layouts=[
            _layout(
                [
                    (10, [("pc-status-by-platform", 26), ("pc-compliance-rate", 10)]),
                    (9, list(zip(donut_ids, widths, strict=True))),
                    (10, [("pc-top-missing-patches", 36)]),
                ]
            )
        ],
    )
    return sheet, filters


def definition_parts(datasets: dict[str, GetAtt]) -> dict[str, object]:
    """Keyword arguments shared by the analysis and dashboard Definitions (`datasets`: identifier -> ARN)."""
    mic_sheet, mic_filters = _managed_instance_sheet()
    pc_sheet, pc_filters = _patch_compliance_sheet()
    trend_sheet, trend_filters = trends.trends_sheet()
    return {
        "DataSetIdentifierDeclarations": [
            qs.DataSetIdentifierDeclaration(Identifier=identifier, DataSetArn=arn)
            for identifier, arn in datasets.items()
        ],
        "CalculatedFields": [
            qs.CalculatedField(DataSetIdentifier=dataset, Name=name, Expression=expression)
            for dataset, name, expression in CALCULATED_FIELDS + trends.CALCULATED_FIELDS
        ],
        "Sheets": [mic_sheet, pc_sheet, trend_sheet],
        "FilterGroups": mic_filters + pc_filters + trend_filters,
        "AnalysisDefaults": qs.AnalysisDefaults(
            DefaultNewSheetConfiguration=qs.DefaultNewSheetConfiguration(
                SheetContentType="INTERACTIVE",
                InteractiveLayoutConfiguration=qs.DefaultInteractiveLayoutConfiguration(
                    Grid=qs.DefaultGridLayoutConfiguration(CanvasSizeOptions=canvas())
                ),
            )
        ),
    }


def add_analysis_and_dashboard(
    template: Template, datasets: tuple[qs.DataSet, ...]
) -> tuple[qs.Analysis, qs.Dashboard]:
    """The analysis and the dashboard published from it, both on `datasets` (those of datasets.DATASETS)."""
    arns = {spec.identifier: GetAtt(dataset, "Arn") for spec, dataset in zip(DATASETS, datasets, strict=True)}
    analysis = template.add_resource(
        qs.Analysis(
            names.ANALYSIS,
            Condition=ENABLED,
            AwsAccountId=AccountId,
            AnalysisId=Sub(DASHBOARD_ID),
            Name="Patch Compliance",
            Definition=qs.AnalysisDefinition(**definition_parts(arns)),
            Permissions=owner_permissions(names.ANALYSIS_ACTIONS),
        )
    )
    dashboard = template.add_resource(
        qs.Dashboard(
            names.DASHBOARD,
            Condition=ENABLED,
            AwsAccountId=AccountId,
            DashboardId=Sub(DASHBOARD_ID),
            Name="Patch Compliance",
            Definition=qs.DashboardVersionDefinition(**definition_parts(arns)),
            DashboardPublishOptions=qs.DashboardPublishOptions(
                AdHocFilteringOption=qs.AdHocFilteringOption(AvailabilityStatus="ENABLED"),
                ExportToCSVOption=qs.ExportToCSVOption(AvailabilityStatus="ENABLED"),
                SheetControlsOption=qs.SheetControlsOption(VisibilityState="EXPANDED"),
                DataPointDrillUpDownOption=qs.DataPointDrillUpDownOption(AvailabilityStatus="ENABLED"),
                VisualMenuOption=qs.VisualMenuOption(AvailabilityStatus="ENABLED"),
            ),
            LinkEntities=[GetAtt(analysis, "Arn")],
            Permissions=owner_permissions(names.DASHBOARD_ACTIONS),
        )
    )
    return analysis, dashboard


def add_outputs(template: Template, dashboard: qs.Dashboard) -> tuple[Output, ...]:
    """The dashboard's console URL and ARN."""
    outputs = (
        Output(
            names.DASHBOARD_URL_OUTPUT,
            Condition=ENABLED,
            Description="Patch compliance dashboard (QuickSight console)",
            Value=Sub(f"https://${{AWS::Region}}.quicksight.aws.amazon.com/sn/dashboards/{DASHBOARD_ID}"),
        ),
        Output(
            names.DASHBOARD_ARN_OUTPUT,
            Condition=ENABLED,
            Description="Patch compliance dashboard ARN",
            Value=GetAtt(dashboard, "Arn"),
        ),
    )
    template.add_output(list(outputs))
    return outputs
