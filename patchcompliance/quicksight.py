"""QuickSight: Athena data source, two datasets, daily SPICE refresh, analysis and published dashboard.

Everything here sits behind one condition (QuickSight enabled: the principal parameter is non-empty and the
region has the QuickSight resource types), so a stack deployed without a QuickSight principal contains no
QuickSight resource at all.

Access model
    The data source runs its Athena queries as ``QuickSightRole`` (``AthenaParameters.RoleArn``) instead of
    the account-wide QuickSight service role. The role is assumable only by ``quicksight.amazonaws.com`` from
    this account (``aws:SourceAccount``) and may only:

    * run and read queries in the project's Athena workgroup and read the ``AwsDataCatalog`` metadata;
    * read the Glue catalog, the project database and its tables/views (and their partitions);
    * read the Config and DataSync buckets (the data behind the views);
    * read and write query results in the Athena results bucket.

    The QuickSight principal (a user or group of namespace ``default``) owns every QuickSight resource.

Dashboard
    The ``Definition`` is generated from small builders (one per visual kind) with deterministic IDs: sheet
    ``mic`` ("Managed Instance Compliance", dataset "Patch Compliance by Tag") and sheet ``pc`` ("Patch
    Compliance", dataset "Patch Compliance Data Set"). Every column a visual, filter or action uses is a
    column of its dataset, and every dataset column is an output column of its Athena view (docs/DESIGN.md,
    "Views"); tests/quicksight checks both against the SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from awacs import athena, glue, kms, s3
from awacs.aws import Allow, Condition, Statement, StringEquals
from troposphere import (
    AWS_ACCOUNT_ID,
    AWS_NO_VALUE,
    AWS_REGION,
    And,
    Equals,
    GetAtt,
    If,
    Not,
    Or,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    iam,
)
from troposphere import Condition as CfnCondition
from troposphere import quicksight as qs

from . import policies
from .athena import RESULTS_PREFIX

# ---------------------------------------------------------------- logical IDs
QUICKSIGHT_ROLE = "QuickSightRole"
DATA_SOURCE = "QuickSightDataSource"
PATCH_DATASET = "PatchComplianceDataSet"
BY_TAG_DATASET = "PatchComplianceByTagDataSet"
PATCH_DATASET_REFRESH = "PatchComplianceDataSetRefresh"
BY_TAG_DATASET_REFRESH = "PatchComplianceByTagDataSetRefresh"
ANALYSIS = "PatchComplianceAnalysis"
DASHBOARD = "PatchComplianceDashboard"

# ---------------------------------------------------------------- parameters
PRINCIPAL_TYPE = "QuickSightPrincipalType"
PRINCIPAL_NAME = "QuickSightPrincipalName"
IDENTITY_REGION = "QuickSightIdentityRegion"
REFRESH_TIME = "QuickSightRefreshTime"
IMPORT_MODE = "QuickSightImportMode"

# ---------------------------------------------------------------- conditions defined here
PRINCIPAL_IS_GROUP = "QuickSightPrincipalIsGroup"
IDENTITY_REGION_IS_STACK_REGION = "QuickSightIdentityRegionIsStackRegion"
SPICE_ENABLED = "QuickSightSpiceEnabled"  # QuickSight enabled and import mode SPICE
REGION_SUPPORTED = "QuickSightRegionSupported"  # part of the QuickSight enabled condition

# Regions where CloudFormation has no AWS::QuickSight::DataSource/DataSet/RefreshSchedule/Analysis/Dashboard
# (cfn-lint 1.58 region schemas; tests/quicksight checks the list still covers them). QuickSight stays off there
# even when a principal is given, and cfn-lint (which evaluates AWS::Region in conditions) stays clean.
QUICKSIGHT_UNSUPPORTED_REGIONS = (
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-3",
    "ap-south-2",
    "ap-southeast-4",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "cn-northwest-1",
    "il-central-1",
    "me-central-1",
    "mx-central-1",
    "us-west-1",
)

# ---------------------------------------------------------------- outputs
DASHBOARD_URL_OUTPUT = "QuickSightDashboardUrl"
DASHBOARD_ARN_OUTPUT = "QuickSightDashboardArn"

CATALOG = "AwsDataCatalog"
REFRESH_TIME_ZONE = "UTC"
JOIN_KEYS = ("account_id", "region", "instance_id")
INSTANCE = "instance_id"  # counted with DISTINCT_COUNT in every visual

# Values the views emit (patchcompliance/sql): Config compliance types (managed_status,
# patch_compliance_status), SSM item status, instance_compliance.compliance_state, normalised patch_state.
COMPLIANT = "COMPLIANT"
NON_COMPLIANT = "NON_COMPLIANT"
TERMINATED = "TERMINATED"
MISSING = "MISSING"

# ---------------------------------------------------------------- QuickSight permission sets (owner)
DATA_SOURCE_ACTIONS = (
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
)
DATASET_ACTIONS = (
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
)
ANALYSIS_ACTIONS = (
    "quicksight:RestoreAnalysis",
    "quicksight:UpdateAnalysisPermissions",
    "quicksight:DeleteAnalysis",
    "quicksight:DescribeAnalysisPermissions",
    "quicksight:QueryAnalysis",
    "quicksight:DescribeAnalysis",
    "quicksight:UpdateAnalysis",
)
# View actions (Describe/List/Query) plus owner actions.
DASHBOARD_ACTIONS = (
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:QueryDashboard",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
)


# ================================================================ datasets (as data)
@dataclass(frozen=True)
class Source:
    """One physical table: an Athena view and the columns read from it as (name, QuickSight type)."""

    table_id: str
    view: str
    columns: tuple[tuple[str, str], ...]
    key_prefix: str = ""  # right side of a join: JOIN_KEYS are renamed <prefix><key> and projected away

    @property
    def keys(self) -> dict[str, str]:
        return {key: f"{self.key_prefix}{key}" for key in JOIN_KEYS} if self.key_prefix else {}


@dataclass(frozen=True)
class DataSetSpec:
    """A dataset: the first source LEFT JOINed with each further source on JOIN_KEYS."""

    logical_id: str
    identifier: str  # DataSetIdentifier in the Definition; suffix of the DataSetId
    name: str
    sources: tuple[Source, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the dataset: every source column, without the renamed right-side join keys."""
        out: list[str] = []
        for source in self.sources:
            out += [name for name, _ in source.columns if not (source.key_prefix and name in JOIN_KEYS)]
        return tuple(out)


STR, INT, DATE = "STRING", "INTEGER", "DATETIME"

INSTANCE_COMPLIANCE = Source(
    "instance-compliance",
    "instance_compliance",
    (
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("instance_name", STR),
        ("instance_state", STR),
        ("platform_type", STR),
        ("platform_name", STR),
        ("platform_version", STR),
        ("agent_version", STR),
        ("last_inventory_time", DATE),
        ("managed_status", STR),
        ("patch_compliance_status", STR),
        ("missing_count", INT),
        ("failed_count", INT),
        ("installed_pending_reboot_count", INT),
        ("installed_count", INT),
        ("critical_noncompliant_count", INT),
        ("security_noncompliant_count", INT),
        ("compliance_state", STR),
    ),
)
PATCH = Source(
    "patch",
    "patch",
    (
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("patch_id", STR),
        ("title", STR),
        ("classification", STR),
        ("severity", STR),
        ("patch_severity", STR),
        ("patch_state", STR),
        ("status", STR),
        ("patch_group", STR),
        ("baseline_id", STR),
        ("installed_time", DATE),
        ("execution_time", DATE),
    ),
    key_prefix="patch_",
)
CONFIGMIC = Source(
    "configmic",
    "configmic",
    (
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("instance_name", STR),
        ("instance_state", STR),
        ("platform", STR),
        ("managed_status", STR),
        ("capture_time", DATE),
        ("snapshot_date", DATE),
    ),
)
CONFIGPC = Source(
    "configpc",
    "configpc",
    (("account_id", STR), ("region", STR), ("instance_id", STR), ("patch_compliance_status", STR)),
    key_prefix="pc_",
)
INSTANCE_TAGS = Source(
    "instance-tags",
    "instance_tags",
    (("account_id", STR), ("region", STR), ("instance_id", STR), ("tag_key", STR), ("tag_value", STR)),
    key_prefix="tag_",
)

PATCH_SPEC = DataSetSpec(PATCH_DATASET, "patch-compliance", "Patch Compliance Data Set", (INSTANCE_COMPLIANCE, PATCH))
BY_TAG_SPEC = DataSetSpec(
    BY_TAG_DATASET, "patch-compliance-by-tag", "Patch Compliance by Tag", (CONFIGMIC, CONFIGPC, INSTANCE_TAGS)
)
DATASETS = (PATCH_SPEC, BY_TAG_SPEC)

# Analysis-level calculated fields: (dataset identifier, name, expression).
# Compliance rate: COMPLIANT instances among all instances that still exist (compliance_state of
# instance_compliance; stopped, unmanaged and unscanned instances count as not compliant).
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
        f" / distinct_countIf({{{INSTANCE}}}, {{compliance_state}} <> '{TERMINATED}')",
    ),
    (
        PATCH_SPEC.identifier,
        PATCH_NONCOMPLIANT,
        f"ifelse({{compliance_state}} = '{TERMINATED}', 'NO', "
        "{missing_count} > 0 OR {failed_count} > 0 OR {installed_pending_reboot_count} > 0"
        f" OR {{patch_compliance_status}} = '{NON_COMPLIANT}', 'YES', 'NO')",
    ),
)


# ================================================================ small helpers
class _DataSet(qs.DataSet):
    """troposphere 4.11 dropped DataSet.LogicalTableMap, which CloudFormation still documents and supports."""

    props = {**qs.DataSet.props, "LogicalTableMap": (dict, False)}


def _permissions(principal, actions) -> list[qs.ResourcePermission]:
    return [qs.ResourcePermission(Principal=principal, Actions=list(actions))]


def _physical_table(source: Source, data_source_arn, database) -> qs.PhysicalTable:
    return qs.PhysicalTable(
        RelationalTable=qs.RelationalTable(
            DataSourceArn=data_source_arn,
            Catalog=CATALOG,
            Schema=Ref(database),
            Name=source.view,
            InputColumns=[qs.InputColumn(Name=name, Type=kind) for name, kind in source.columns],
        )
    )


def _logical_tables(spec: DataSetSpec) -> dict:
    """LogicalTableMap: one table per source, a LEFT JOIN chain, and a projection on the last join."""
    tables: dict = {}
    for source in spec.sources:
        table: dict = {"Alias": source.view, "Source": {"PhysicalTableId": source.table_id}}
        if source.keys:
            table["DataTransforms"] = [
                {"RenameColumnOperation": {"ColumnName": key, "NewColumnName": renamed}}
                for key, renamed in source.keys.items()
            ]
        tables[source.table_id] = table
    left = spec.sources[0].table_id
    for number, source in enumerate(spec.sources[1:], start=1):
        join_id = f"join-{number}"
        tables[join_id] = {
            "Alias": f"{left}-{source.table_id}",
            "Source": {
                "JoinInstruction": {
                    "LeftOperand": left,
                    "RightOperand": source.table_id,
                    "Type": "LEFT",
                    "OnClause": " AND ".join(f"{{{k}}} = {{{renamed}}}" for k, renamed in source.keys.items()),
                }
            },
        }
        left = join_id
    tables[left]["DataTransforms"] = [{"ProjectOperation": {"ProjectedColumns": list(spec.columns)}}]
    return tables


# ---------------------------------------------------------------- Definition building blocks
def _column(dataset: str, name: str) -> qs.ColumnIdentifier:
    return qs.ColumnIdentifier(DataSetIdentifier=dataset, ColumnName=name)


def _field_id(visual_id: str, column: str) -> str:
    return f"{visual_id}-{column.replace('_', '-')}"


def _dimension(visual_id: str, dataset: str, column: str, hierarchy_id: str | None = None) -> qs.DimensionField:
    field = qs.CategoricalDimensionField(FieldId=_field_id(visual_id, column), Column=_column(dataset, column))
    if hierarchy_id:
        field.HierarchyId = hierarchy_id
    return qs.DimensionField(CategoricalDimensionField=field)


def _instances(visual_id: str, dataset: str) -> qs.MeasureField:
    """Measure: distinct instances."""
    return qs.MeasureField(
        CategoricalMeasureField=qs.CategoricalMeasureField(
            FieldId=_field_id(visual_id, "instances"),
            Column=_column(dataset, INSTANCE),
            AggregationFunction="DISTINCT_COUNT",
        )
    )


def _sort_by_instances(visual_id: str) -> list[qs.FieldSortOptions]:
    return [qs.FieldSortOptions(FieldSort=qs.FieldSort(FieldId=_field_id(visual_id, "instances"), Direction="DESC"))]


def _title(text: str) -> qs.VisualTitleLabelOptions:
    return qs.VisualTitleLabelOptions(Visibility="VISIBLE", FormatText=qs.ShortFormatText(PlainText=text))


def _filter_action(visual_id: str, columns: list[str]) -> qs.VisualCustomAction:
    """Clicking a data point filters the other visuals of the same sheet on the clicked values."""
    return qs.VisualCustomAction(
        CustomActionId=f"{visual_id}-filter",
        Name="Filter this sheet",
        Status="ENABLED",
        Trigger="DATA_POINT_CLICK",
        ActionOperations=[
            qs.VisualCustomActionOperation(
                FilterOperation=qs.CustomActionFilterOperation(
                    SelectedFieldsConfiguration=qs.FilterOperationSelectedFieldsConfiguration(
                        SelectedFields=[_field_id(visual_id, column) for column in columns]
                    ),
                    TargetVisualsConfiguration=qs.FilterOperationTargetVisualsConfiguration(
                        SameSheetTargetVisualConfiguration=qs.SameSheetTargetVisualConfiguration(
                            TargetVisualOptions="ALL_VISUALS"
                        )
                    ),
                )
            )
        ],
    )


# ---------------------------------------------------------------- visuals
def bar_chart(
    visual_id: str,
    title: str,
    dataset: str,
    category: list[str],
    *,
    color: str | None = None,
    horizontal: bool = False,
    drill_down: bool = False,
    limit: int | None = None,
    filter_action: bool = False,
) -> qs.Visual:
    """Distinct instances by `category`, stacked by `color`; several categories + drill_down: a drill-down."""
    hierarchy_id = f"{visual_id}-drill-down" if drill_down else None
    wells = qs.BarChartAggregatedFieldWells(
        Category=[_dimension(visual_id, dataset, column, hierarchy_id) for column in category],
        Values=[_instances(visual_id, dataset)],
    )
    if color:
        wells.Colors = [_dimension(visual_id, dataset, color)]
    sort = qs.BarChartSortConfiguration(CategorySort=_sort_by_instances(visual_id))
    if limit:
        sort.CategoryItemsLimit = qs.ItemsLimitConfiguration(ItemsLimit=limit, OtherCategories="EXCLUDE")
    visual = qs.BarChartVisual(
        VisualId=visual_id,
        Title=_title(title),
        ChartConfiguration=qs.BarChartConfiguration(
            FieldWells=qs.BarChartFieldWells(BarChartAggregatedFieldWells=wells),
            Orientation="HORIZONTAL" if horizontal else "VERTICAL",
            BarsArrangement="STACKED" if color else "CLUSTERED",
            SortConfiguration=sort,
            Legend=qs.LegendOptions(Visibility="VISIBLE" if color else "HIDDEN"),
            DataLabels=qs.DataLabelOptions(Visibility="VISIBLE"),
        ),
    )
    if drill_down:
        visual.ColumnHierarchies = [
            qs.ColumnHierarchy(
                ExplicitHierarchy=qs.ExplicitHierarchy(
                    HierarchyId=hierarchy_id, Columns=[_column(dataset, column) for column in category]
                )
            )
        ]
    if filter_action:
        visual.Actions = [_filter_action(visual_id, category + ([color] if color else []))]
    return qs.Visual(BarChartVisual=visual)


def donut(visual_id: str, title: str, dataset: str, category: str, *, limit: int = 20) -> qs.Visual:
    """Donut of distinct instances by `category` (largest `limit` slices, the rest as "Other")."""
    return qs.Visual(
        PieChartVisual=qs.PieChartVisual(
            VisualId=visual_id,
            Title=_title(title),
            ChartConfiguration=qs.PieChartConfiguration(
                FieldWells=qs.PieChartFieldWells(
                    PieChartAggregatedFieldWells=qs.PieChartAggregatedFieldWells(
                        Category=[_dimension(visual_id, dataset, category)],
                        Values=[_instances(visual_id, dataset)],
                    )
                ),
                DonutOptions=qs.DonutOptions(
                    ArcOptions=qs.ArcOptions(ArcThickness="MEDIUM"),
                    DonutCenterOptions=qs.DonutCenterOptions(LabelVisibility="VISIBLE"),
                ),
                SortConfiguration=qs.PieChartSortConfiguration(
                    CategorySort=_sort_by_instances(visual_id),
                    CategoryItemsLimit=qs.ItemsLimitConfiguration(ItemsLimit=limit, OtherCategories="INCLUDE"),
                ),
                Legend=qs.LegendOptions(Visibility="VISIBLE"),
            ),
            Actions=[_filter_action(visual_id, [category])],
        )
    )


def kpi(visual_id: str, title: str, dataset: str, measure: str, *, subtitle: str) -> qs.Visual:
    """KPI of an (already aggregated) calculated field, shown as a percentage."""
    return qs.Visual(
        KPIVisual=qs.KPIVisual(
            VisualId=visual_id,
            Title=_title(title),
            Subtitle=qs.VisualSubtitleLabelOptions(
                Visibility="VISIBLE", FormatText=qs.LongFormatText(PlainText=subtitle)
            ),
            ChartConfiguration=qs.KPIConfiguration(
                FieldWells=qs.KPIFieldWells(
                    Values=[
                        qs.MeasureField(
                            NumericalMeasureField=qs.NumericalMeasureField(
                                FieldId=_field_id(visual_id, measure),
                                Column=_column(dataset, measure),
                                FormatConfiguration=qs.NumberFormatConfiguration(
                                    FormatConfiguration=qs.NumericFormatConfiguration(
                                        PercentageDisplayFormatConfiguration=qs.PercentageDisplayFormatConfiguration(
                                            DecimalPlacesConfiguration=qs.DecimalPlacesConfiguration(DecimalPlaces=1)
                                        )
                                    )
                                ),
                            )
                        )
                    ]
                ),
                KPIOptions=qs.KPIOptions(PrimaryValueDisplayType="ACTUAL"),
            ),
        )
    )


# ---------------------------------------------------------------- filters, controls, layout
def _scope(sheet_id: str, visual_ids: list[str] | None) -> qs.FilterScopeConfiguration:
    scoping = qs.SheetVisualScopingConfiguration(SheetId=sheet_id, Scope="ALL_VISUALS")
    if visual_ids:
        scoping = qs.SheetVisualScopingConfiguration(SheetId=sheet_id, Scope="SELECTED_VISUALS", VisualIds=visual_ids)
    return qs.FilterScopeConfiguration(
        SelectedSheets=qs.SelectedSheetsFilterScopeConfiguration(SheetVisualScopingConfigurations=[scoping])
    )


def category_filter(
    filter_id: str,
    dataset: str,
    column: str,
    values: list[str] | None,
    sheet_id: str,
    visual_ids: list[str] | None,
) -> qs.FilterGroup:
    """Keep rows whose `column` is one of `values` (None: all values, for a filter driven by a control)."""
    if values is None:
        config = qs.FilterListConfiguration(
            MatchOperator="CONTAINS", SelectAllOptions="FILTER_ALL_VALUES", NullOption="ALL_VALUES"
        )
    else:
        config = qs.FilterListConfiguration(
            MatchOperator="CONTAINS", CategoryValues=values, NullOption="NON_NULLS_ONLY"
        )
    return qs.FilterGroup(
        FilterGroupId=f"{filter_id}-group",
        CrossDataset="SINGLE_DATASET",
        Status="ENABLED",
        Filters=[
            qs.Filter(
                CategoryFilter=qs.CategoryFilter(
                    FilterId=filter_id,
                    Column=_column(dataset, column),
                    Configuration=qs.CategoryFilterConfiguration(FilterListConfiguration=config),
                )
            )
        ],
        ScopeConfiguration=_scope(sheet_id, visual_ids),
    )


def dropdown(control_id: str, filter_id: str, title: str) -> qs.FilterControl:
    return qs.FilterControl(
        Dropdown=qs.FilterDropDownControl(
            FilterControlId=control_id,
            SourceFilterId=filter_id,
            Title=title,
            Type="SINGLE_SELECT",
            DisplayOptions=qs.DropDownControlDisplayOptions(
                SelectAllOptions=qs.ListControlSelectAllOptions(Visibility="VISIBLE")
            ),
        )
    )


def grid(rows: list[tuple[int, list[tuple[str, int]]]], element_type: str = "VISUAL") -> qs.GridLayoutConfiguration:
    """Rows of (height, [(element id, width), ...]) on the 36-column grid, laid out top to bottom."""
    elements, row_index = [], 0
    for height, cells in rows:
        column_index = 0
        for element_id, width in cells:
            elements.append(
                qs.GridLayoutElement(
                    ElementId=element_id,
                    ElementType=element_type,
                    ColumnIndex=column_index,
                    ColumnSpan=width,
                    RowIndex=row_index,
                    RowSpan=height,
                )
            )
            column_index += width
        if column_index > 36:
            raise ValueError(f"grid row wider than 36 columns: {cells}")
        row_index += height
    return qs.GridLayoutConfiguration(
        Elements=elements,
        CanvasSizeOptions=qs.GridLayoutCanvasSizeOptions(
            ScreenCanvasSizeOptions=qs.GridLayoutScreenCanvasSizeOptions(
                ResizeOption="FIXED", OptimizedViewPortWidth="1600px"
            )
        ),
    )


# ================================================================ sheets
MIC_SHEET = "mic"
PC_SHEET = "pc"


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
            color="tag_value",
            filter_action=True,
        ),
        bar_chart(
            "mic-drill-down",
            "Instances by account, region and instance (drill down)",
            ds,
            ["account_id", "region", "instance_id"],
            color="managed_status",
            horizontal=True,
            drill_down=True,
        ),
        *(donut(visual_id, title, ds, column) for visual_id, title, column in donuts),
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
        SheetControlLayouts=[
            qs.SheetControlLayout(
                Configuration=qs.SheetControlLayoutConfiguration(
                    GridLayout=grid([(1, [("mic-tag-key-control", 6)])], element_type="FILTER_CONTROL")
                )
            )
        ],
        Layouts=[
            qs.Layout(
                Configuration=qs.LayoutConfiguration(
                    GridLayout=grid(
                        [
                            (10, [("mic-status-by-tag", 18), ("mic-drill-down", 18)]),
                            (9, [(visual_id, 9) for visual_id, _, _ in donuts]),
                        ]
                    )
                )
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
            color="platform_type",
            filter_action=True,
        ),
        kpi(
            "pc-compliance-rate",
            "Patch compliance rate",
            ds,
            COMPLIANCE_RATE,
            subtitle="Compliant instances among all instances not terminated",
        ),
        *(donut(visual_id, title, ds, column) for visual_id, title, column in donuts),
        bar_chart(
            "pc-top-missing-patches",
            "Top 10 missing patches (instances missing each patch)",
            ds,
            ["title"],
            color="severity",
            horizontal=True,
            limit=10,
        ),
    ]
    filters = [
        # Non-compliant instances (PATCH_NONCOMPLIANT): the donuts and the missing patches.
        category_filter(
            "pc-noncompliant",
            ds,
            PATCH_NONCOMPLIANT,
            ["YES"],
            PC_SHEET,
            [*donut_ids, "pc-top-missing-patches"],
        ),
        # Severity counts only the patches that make an instance non-compliant.
        category_filter(
            "pc-noncompliant-patches",
            ds,
            "status",
            [NON_COMPLIANT],
            PC_SHEET,
            ["pc-noncompliant-by-severity"],
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
            qs.Layout(
                Configuration=qs.LayoutConfiguration(
                    GridLayout=grid(
                        [
                            (10, [("pc-status-by-platform", 26), ("pc-compliance-rate", 10)]),
                            (9, list(zip(donut_ids, widths, strict=True))),
                            (10, [("pc-top-missing-patches", 36)]),
                        ]
                    )
                )
            )
        ],
    )
    return sheet, filters


def definition_parts(datasets: dict[str, object]) -> dict:
    """Keyword arguments shared by the analysis and dashboard Definitions (`datasets`: identifier -> ARN)."""
    mic_sheet, mic_filters = _managed_instance_sheet()
    pc_sheet, pc_filters = _patch_compliance_sheet()
    return {
        "DataSetIdentifierDeclarations": [
            qs.DataSetIdentifierDeclaration(Identifier=identifier, DataSetArn=arn)
            for identifier, arn in datasets.items()
        ],
        "CalculatedFields": [
            qs.CalculatedField(DataSetIdentifier=dataset, Name=name, Expression=expression)
            for dataset, name, expression in CALCULATED_FIELDS
        ],
        "Sheets": [mic_sheet, pc_sheet],
        "FilterGroups": mic_filters + pc_filters,
        "AnalysisDefaults": qs.AnalysisDefaults(
            DefaultNewSheetConfiguration=qs.DefaultNewSheetConfiguration(
                SheetContentType="INTERACTIVE",
                InteractiveLayoutConfiguration=qs.DefaultInteractiveLayoutConfiguration(
                    Grid=qs.DefaultGridLayoutConfiguration(
                        CanvasSizeOptions=qs.GridLayoutCanvasSizeOptions(
                            ScreenCanvasSizeOptions=qs.GridLayoutScreenCanvasSizeOptions(
                                ResizeOption="FIXED", OptimizedViewPortWidth="1600px"
                            )
                        )
                    )
                ),
            )
        ),
    }


# ================================================================ parameters, conditions, role
def _parameters(template: Template) -> list[Parameter]:
    params = [
        Parameter(
            PRINCIPAL_NAME,
            Type="String",
            Default="",
            MaxLength=128,
            AllowedPattern=r"^$|^[A-Za-z0-9_+=,.@-]+(/[A-Za-z0-9_+=,.@-]+)?$",
            ConstraintDescription=(
                "empty (no QuickSight resources) or a QuickSight user or group name of namespace default: "
                "letters, digits and _+=,.@- with at most one '/' (e.g. Admin/jane for a federated user)"
            ),
            Description=(
                "QuickSight user or group that owns the data source, datasets, analysis and dashboard. "
                "Empty: no QuickSight resources are created (nor in regions without QuickSight). QuickSight "
                "must already be subscribed in this account."
            ),
        ),
        Parameter(
            PRINCIPAL_TYPE,
            Type="String",
            Default="USER",
            AllowedValues=["USER", "GROUP"],
            Description="Whether the QuickSight principal is a user or a group (namespace default).",
        ),
        Parameter(
            IDENTITY_REGION,
            Type="String",
            Default="",
            AllowedPattern=r"^$|^[a-z]{2}(-[a-z]+)+-[0-9]$",
            ConstraintDescription="empty or a region code such as us-east-1",
            Description=(
                "Identity region of the QuickSight account (where its users and groups live). "
                "Empty: the region of this stack."
            ),
        ),
        Parameter(
            REFRESH_TIME,
            Type="String",
            Default="06:00",
            AllowedPattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
            ConstraintDescription="HH:MM, 24-hour clock",
            Description=f"Daily SPICE refresh of both datasets, HH:MM {REFRESH_TIME_ZONE}.",
        ),
        Parameter(
            IMPORT_MODE,
            Type="String",
            Default="SPICE",
            AllowedValues=["SPICE", "DIRECT_QUERY"],
            Description="SPICE: import daily (refresh schedule). DIRECT_QUERY: query Athena on every view.",
        ),
    ]
    for param in params:
        template.add_parameter(param)
    return params


LABELS = {
    PRINCIPAL_NAME: "QuickSight user or group name (empty: no QuickSight)",
    PRINCIPAL_TYPE: "QuickSight principal type",
    IDENTITY_REGION: "QuickSight identity region (empty: this region)",
    REFRESH_TIME: f"Daily refresh time (HH:MM {REFRESH_TIME_ZONE})",
    IMPORT_MODE: "Dataset import mode",
}


def region_supported_condition():
    """True outside QUICKSIGHT_UNSUPPORTED_REGIONS (Fn::Or takes at most 10 operands: nested by chunks)."""
    regions = [Equals(Ref(AWS_REGION), region) for region in QUICKSIGHT_UNSUPPORTED_REGIONS]
    chunks = [Or(*regions[i : i + 7]) for i in range(0, len(regions), 7)]
    return Not(Or(*chunks) if len(chunks) > 1 else chunks[0])


def enabled_condition():
    """The "QuickSight enabled" condition expression: a principal name was given, in a supported region."""
    return And(Not(Equals(Ref(PRINCIPAL_NAME), "")), CfnCondition(REGION_SUPPORTED))


def _conditions(template: Template, condition: str) -> None:
    template.add_condition(REGION_SUPPORTED, region_supported_condition())
    if condition not in template.conditions:
        template.add_condition(condition, enabled_condition())
    elif REGION_SUPPORTED not in json.dumps(template.conditions[condition].to_dict()):
        # The caller's own "enabled" condition: QuickSight resources also need a region that has them.
        template.conditions[condition] = And(template.conditions[condition], CfnCondition(REGION_SUPPORTED))
    template.add_condition(PRINCIPAL_IS_GROUP, Equals(Ref(PRINCIPAL_TYPE), "GROUP"))
    template.add_condition(IDENTITY_REGION_IS_STACK_REGION, Equals(Ref(IDENTITY_REGION), ""))
    template.add_condition(SPICE_ENABLED, And(CfnCondition(condition), Equals(Ref(IMPORT_MODE), "SPICE")))


def principal_arn():
    """arn:<partition>:quicksight:<identity region>:<account>:{user|group}/default/<name>."""
    return Sub(
        "arn:${AWS::Partition}:quicksight:${IdentityRegion}:${AWS::AccountId}:${Kind}/default/${Name}",
        IdentityRegion=If(IDENTITY_REGION_IS_STACK_REGION, Ref(AWS_REGION), Ref(IDENTITY_REGION)),
        Kind=If(PRINCIPAL_IS_GROUP, "group", "user"),
        Name=Ref(PRINCIPAL_NAME),
    )


def _role(condition: str, workgroup, database, buckets, kms_key, kms_condition) -> iam.Role:
    """Role the data source runs its Athena queries as (AthenaParameters.RoleArn)."""
    athena_bucket, config_bucket, datasync_bucket = buckets
    arn = "arn:${AWS::Partition}"
    here = "${AWS::Region}:${AWS::AccountId}"
    db = "${" + database.title + "}"
    statements = [
        Statement(
            Sid="AthenaWorkGroup",
            Effect=Allow,
            Action=[
                athena.StartQueryExecution,
                athena.GetQueryExecution,
                athena.GetQueryResults,
                athena.GetQueryResultsStream,
                athena.StopQueryExecution,
                athena.GetWorkGroup,
            ],
            Resource=[Sub(f"{arn}:athena:{here}:workgroup/${{{workgroup.title}}}")],
        ),
        Statement(
            Sid="AthenaCatalogMetadata",
            Effect=Allow,
            Action=[
                athena.GetDataCatalog,
                athena.ListDatabases,
                athena.GetDatabase,
                athena.ListTableMetadata,
                athena.GetTableMetadata,
            ],
            Resource=[Sub(f"{arn}:athena:{here}:datacatalog/{CATALOG}")],
        ),
        Statement(
            Sid="GlueCatalog",
            Effect=Allow,
            Action=[
                glue.GetDatabase,
                glue.GetDatabases,
                glue.GetTable,
                glue.GetTables,
                glue.GetPartition,
                glue.GetPartitions,
                glue.BatchGetPartition,
            ],
            Resource=[
                Sub(f"{arn}:glue:{here}:catalog"),
                Sub(f"{arn}:glue:{here}:database/{db}"),
                Sub(f"{arn}:glue:{here}:table/{db}/*"),
            ],
        ),
        Statement(
            Sid="Buckets",
            Effect=Allow,
            Action=[s3.ListBucket, s3.GetBucketLocation],
            Resource=[policies.bucket_arn(bucket) for bucket in buckets],
        ),
        Statement(
            Sid="ReadData",
            Effect=Allow,
            Action=[s3.GetObject],
            # Config deliveries live under AWSLogs/; the inventory bucket holds nothing but the data sync.
            Resource=[policies.objects_arn(config_bucket, "AWSLogs/*"), policies.objects_arn(datasync_bucket)],
        ),
        Statement(
            Sid="QueryResults",
            Effect=Allow,
            Action=[s3.GetObject, s3.PutObject, s3.AbortMultipartUpload, s3.ListMultipartUploadParts],
            Resource=[policies.objects_arn(athena_bucket, f"{RESULTS_PREFIX}*")],
        ),
        Statement(
            Sid="QueryResultsUploads",
            Effect=Allow,
            Action=[s3.ListBucketMultipartUploads],
            Resource=[policies.bucket_arn(athena_bucket)],
        ),
    ]
    role_policies = [iam.Policy(PolicyName="athena-views", PolicyDocument=policies.document(*statements))]
    if kms_key is not None:
        # Buckets encrypted with the customer key: decrypt what the views read, encrypt query results.
        kms_policy = iam.Policy(
            PolicyName="bucket-key",
            PolicyDocument=policies.document(
                Statement(
                    Sid="BucketKeyViaS3",
                    Effect=Allow,
                    Action=[kms.Decrypt, kms.GenerateDataKey],
                    Resource=[Ref(kms_key)],
                    Condition=Condition(StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))),
                )
            ),
        )
        if kms_condition:
            kms_policy = If(kms_condition, kms_policy, Ref(AWS_NO_VALUE))
        role_policies.append(kms_policy)
    return iam.Role(
        QUICKSIGHT_ROLE,
        Condition=condition,
        Description="QuickSight Athena data source: query the patch compliance views and write query results",
        AssumeRolePolicyDocument=policies.assume_role("quicksight", source_account=True),
        Policies=role_policies,
    )


# ================================================================ entry point
def add_quicksight(
    template: Template,
    *,
    workgroup,
    database,
    condition: str,
    athena_bucket,
    config_bucket,
    datasync_bucket,
    kms_key: Parameter | None = None,
    kms_condition: str | None = None,
    views=None,
) -> dict:
    """Add the QuickSight parameters, conditions, role, data source, datasets, refresh schedules, analysis,
    dashboard and outputs to `template`.

    `condition` names the "QuickSight enabled" condition; if the template does not define it yet, it is added
    as `enabled_condition()` (principal given, region supported); a condition the caller defined is ANDed
    with REGION_SUPPORTED. Every resource and output created here carries it (the refresh schedules carry
    SPICE_ENABLED, which implies it).
    Parameters, resources and outputs are already added to `template`; the returned lists are for console
    parameter groups, labels and tests.

    `kms_key`, `kms_condition`: the KMS key parameter the buckets are encrypted with when `kms_condition` is
    true; the role then gets kms:Decrypt/GenerateDataKey on that key, via S3 only. None: no KMS permissions.

    `views`: the resource that creates the Athena views; the datasets depend on it (SPICE ingests at
    creation). None: no dependency.
    """
    params = _parameters(template)
    _conditions(template, condition)
    principal = principal_arn()
    account = Ref(AWS_ACCOUNT_ID)
    stack = "${AWS::StackName}"

    role = template.add_resource(
        _role(
            condition,
            workgroup,
            database,
            (athena_bucket, config_bucket, datasync_bucket),
            kms_key,
            kms_condition,
        )
    )
    data_source = template.add_resource(
        qs.DataSource(
            DATA_SOURCE,
            Condition=condition,
            AwsAccountId=account,
            DataSourceId=Sub(f"{stack}-athena"),
            Name=Sub(f"{stack} patch compliance (Athena)"),
            Type="ATHENA",
            DataSourceParameters=qs.DataSourceParameters(
                AthenaParameters=qs.AthenaParameters(WorkGroup=Ref(workgroup), RoleArn=GetAtt(role, "Arn"))
            ),
            Permissions=_permissions(principal, DATA_SOURCE_ACTIONS),
        )
    )
    resources = [role, data_source]

    datasets = {}
    for spec in DATASETS:
        dataset = template.add_resource(
            _DataSet(
                spec.logical_id,
                Condition=condition,
                AwsAccountId=account,
                DataSetId=Sub(f"{stack}-{spec.identifier}"),
                Name=spec.name,
                ImportMode=Ref(IMPORT_MODE),
                # Do not hold the stack until SPICE has ingested the data (views may still be empty).
                IngestionWaitPolicy=If(
                    SPICE_ENABLED, qs.IngestionWaitPolicy(WaitForSpiceIngestion=False), Ref(AWS_NO_VALUE)
                ),
                PhysicalTableMap={
                    source.table_id: _physical_table(source, GetAtt(data_source, "Arn"), database)
                    for source in spec.sources
                },
                LogicalTableMap=_logical_tables(spec),
                Permissions=_permissions(principal, DATASET_ACTIONS),
                **({"DependsOn": [views.title]} if views is not None else {}),
            )
        )
        datasets[spec.identifier] = dataset
        resources.append(dataset)

    for spec, refresh_id in ((PATCH_SPEC, PATCH_DATASET_REFRESH), (BY_TAG_SPEC, BY_TAG_DATASET_REFRESH)):
        resources.append(
            template.add_resource(
                qs.RefreshSchedule(
                    refresh_id,
                    Condition=SPICE_ENABLED,
                    AwsAccountId=account,
                    DataSetId=Sub(f"{stack}-{spec.identifier}"),
                    Schedule=qs.RefreshScheduleMap(
                        ScheduleId="daily",
                        RefreshType="FULL_REFRESH",
                        ScheduleFrequency=qs.ScheduleFrequency(
                            Interval="DAILY", TimeOfTheDay=Ref(REFRESH_TIME), TimeZone=REFRESH_TIME_ZONE
                        ),
                    ),
                    DependsOn=[spec.logical_id],
                )
            )
        )

    arns = {identifier: GetAtt(dataset, "Arn") for identifier, dataset in datasets.items()}
    analysis = template.add_resource(
        qs.Analysis(
            ANALYSIS,
            Condition=condition,
            AwsAccountId=account,
            AnalysisId=Sub(f"{stack}-patch-compliance"),
            Name="Patch Compliance",
            Definition=qs.AnalysisDefinition(**definition_parts(arns)),
            Permissions=_permissions(principal, ANALYSIS_ACTIONS),
        )
    )
    dashboard = template.add_resource(
        qs.Dashboard(
            DASHBOARD,
            Condition=condition,
            AwsAccountId=account,
            DashboardId=Sub(f"{stack}-patch-compliance"),
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
            Permissions=_permissions(principal, DASHBOARD_ACTIONS),
        )
    )
    resources += [analysis, dashboard]

    outputs = [
        Output(
            DASHBOARD_URL_OUTPUT,
            Condition=condition,
            Description="Patch compliance dashboard (QuickSight console)",
            Value=Sub(f"https://${{AWS::Region}}.quicksight.aws.amazon.com/sn/dashboards/{stack}-patch-compliance"),
        ),
        Output(
            DASHBOARD_ARN_OUTPUT,
            Condition=condition,
            Description="Patch compliance dashboard ARN",
            Value=GetAtt(dashboard, "Arn"),
        ),
    ]
    for output in outputs:
        template.add_output(output)

    return {
        "parameters": params,
        "labels": {param.title: LABELS[param.title] for param in params},
        "condition": condition,
        "resources": resources,
        "outputs": outputs,
    }
