"""Builders for a QuickSight analysis/dashboard Definition: charts, filters, controls and grid layouts.

Generic: each builder is given its dataset identifier, columns and element IDs. Field IDs are derived from the
visual ID and the column (`<visual>-<column with - for _>`), so sorts, drill-downs and actions can name them.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import quicksight as qs

GRID_COLUMNS = 36  # width of the QuickSight grid layout
CANVAS_WIDTH = "1600px"


@dataclass(frozen=True)
class DistinctCount:
    """The measure of a chart: the number of distinct values of `column`; its field ID ends in `name`."""

    column: str
    name: str


def column(dataset: str, name: str) -> qs.ColumnIdentifier:
    return qs.ColumnIdentifier(DataSetIdentifier=dataset, ColumnName=name)


def field_id(visual_id: str, name: str) -> str:
    return f"{visual_id}-{name.replace('_', '-')}"


def _dimension(visual_id: str, dataset: str, name: str, hierarchy_id: str | None = None) -> qs.DimensionField:
    field = qs.CategoricalDimensionField(FieldId=field_id(visual_id, name), Column=column(dataset, name))
    if hierarchy_id:
        field.HierarchyId = hierarchy_id
    return qs.DimensionField(CategoricalDimensionField=field)


def _count(visual_id: str, dataset: str, measure: DistinctCount) -> qs.MeasureField:
    return qs.MeasureField(
        CategoricalMeasureField=qs.CategoricalMeasureField(
            FieldId=field_id(visual_id, measure.name),
            Column=column(dataset, measure.column),
            AggregationFunction="DISTINCT_COUNT",
        )
    )


def _sort_descending(visual_id: str, measure: DistinctCount) -> list[qs.FieldSortOptions]:
    return [qs.FieldSortOptions(FieldSort=qs.FieldSort(FieldId=field_id(visual_id, measure.name), Direction="DESC"))]


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
                        SelectedFields=[field_id(visual_id, name) for name in columns]
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
    measure: DistinctCount,
    *,
    color: str | None = None,
    horizontal: bool = False,
    drill_down: bool = False,
    limit: int | None = None,
    filter_action: bool = False,
) -> qs.Visual:
    """`measure` by `category`, stacked by `color`; several categories + drill_down: a drill-down."""
    hierarchy_id = f"{visual_id}-drill-down" if drill_down else None
    wells = qs.BarChartAggregatedFieldWells(
        Category=[_dimension(visual_id, dataset, name, hierarchy_id) for name in category],
        Values=[_count(visual_id, dataset, measure)],
    )
    if color:
        wells.Colors = [_dimension(visual_id, dataset, color)]
    sort = qs.BarChartSortConfiguration(CategorySort=_sort_descending(visual_id, measure))
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
                    HierarchyId=hierarchy_id, Columns=[column(dataset, name) for name in category]
                )
            )
        ]
    if filter_action:
        visual.Actions = [_filter_action(visual_id, category + ([color] if color else []))]
    return qs.Visual(BarChartVisual=visual)


def donut(
    visual_id: str, title: str, dataset: str, category: str, measure: DistinctCount, *, limit: int = 20
) -> qs.Visual:
    """Donut of `measure` by `category` (largest `limit` slices, the rest as "Other"); a click filters the sheet."""
    return qs.Visual(
        PieChartVisual=qs.PieChartVisual(
            VisualId=visual_id,
            Title=_title(title),
            ChartConfiguration=qs.PieChartConfiguration(
                FieldWells=qs.PieChartFieldWells(
                    PieChartAggregatedFieldWells=qs.PieChartAggregatedFieldWells(
                        Category=[_dimension(visual_id, dataset, category)],
                        Values=[_count(visual_id, dataset, measure)],
                    )
                ),
                DonutOptions=qs.DonutOptions(
                    ArcOptions=qs.ArcOptions(ArcThickness="MEDIUM"),
                    DonutCenterOptions=qs.DonutCenterOptions(LabelVisibility="VISIBLE"),
                ),
                SortConfiguration=qs.PieChartSortConfiguration(
                    CategorySort=_sort_descending(visual_id, measure),
                    CategoryItemsLimit=qs.ItemsLimitConfiguration(ItemsLimit=limit, OtherCategories="INCLUDE"),
                ),
                Legend=qs.LegendOptions(Visibility="VISIBLE"),
            ),
            Actions=[_filter_action(visual_id, [category])],
        )
    )


def kpi(visual_id: str, title: str, dataset: str, value: str, *, subtitle: str) -> qs.Visual:
    """KPI of an (already aggregated) calculated field `value`, shown as a percentage."""
    percentage = qs.PercentageDisplayFormatConfiguration(
        DecimalPlacesConfiguration=qs.DecimalPlacesConfiguration(DecimalPlaces=1)
    )
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
                                FieldId=field_id(visual_id, value),
                                Column=column(dataset, value),
                                FormatConfiguration=qs.NumberFormatConfiguration(
                                    FormatConfiguration=qs.NumericFormatConfiguration(
                                        PercentageDisplayFormatConfiguration=percentage
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
    name: str,
    values: list[str] | None,
    sheet_id: str,
    visual_ids: list[str] | None,
) -> qs.FilterGroup:
    """Keep rows whose column `name` is one of `values` (None: all values, for a filter driven by a control),
    on the visuals `visual_ids` of the sheet (None: all of them)."""
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
                    Column=column(dataset, name),
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


def canvas() -> qs.GridLayoutCanvasSizeOptions:
    return qs.GridLayoutCanvasSizeOptions(
        ScreenCanvasSizeOptions=qs.GridLayoutScreenCanvasSizeOptions(
            ResizeOption="FIXED", OptimizedViewPortWidth=CANVAS_WIDTH
        )
    )


def grid(rows: list[tuple[int, list[tuple[str, int]]]], element_type: str = "VISUAL") -> qs.GridLayoutConfiguration:
    """Rows of (height, [(element id, width), ...]) on the grid, laid out top to bottom."""
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
        if column_index > GRID_COLUMNS:
            raise ValueError(f"grid row wider than {GRID_COLUMNS} columns: {cells}")
        row_index += height
    return qs.GridLayoutConfiguration(Elements=elements, CanvasSizeOptions=canvas())
