"""Builders for the visuals of a QuickSight analysis/dashboard Definition (filters, controls and layouts:
`controls`).

Generic: each builder is given its dataset identifier, columns and element IDs. Field IDs are derived from the
visual ID and the column (`<visual>-<column with - for _>`), so sorts, drill-downs and actions can name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from troposphere import quicksight as qs


@dataclass(frozen=True)
class DistinctCount:
    """The measure of a chart: the number of distinct values of `column`; its field ID ends in `name`."""

    column: str
    name: str
    aggregation: ClassVar[str] = "DISTINCT_COUNT"


@dataclass(frozen=True)
class Count:
    """The measure of a chart: the number of rows where `column` is not null; its field ID ends in `name`."""

    column: str
    name: str
    aggregation: ClassVar[str] = "COUNT"


Measure = DistinctCount | Count


def column(dataset: str, name: str) -> qs.ColumnIdentifier:
    return qs.ColumnIdentifier(DataSetIdentifier=dataset, ColumnName=name)


def field_id(visual_id: str, name: str) -> str:
    return f"{visual_id}-{name.replace('_', '-')}"


def _dimension(visual_id: str, dataset: str, name: str, hierarchy_id: str | None = None) -> qs.DimensionField:
    field = qs.CategoricalDimensionField(FieldId=field_id(visual_id, name), Column=column(dataset, name))
    if hierarchy_id:
        field.HierarchyId = hierarchy_id
    return qs.DimensionField(CategoricalDimensionField=field)


def _count(visual_id: str, dataset: str, measure: Measure) -> qs.MeasureField:
    return qs.MeasureField(
        CategoricalMeasureField=qs.CategoricalMeasureField(
            FieldId=field_id(visual_id, measure.name),
            Column=column(dataset, measure.column),
            AggregationFunction=measure.aggregation,
        )
    )


def _sort(visual_id: str, name: str, direction: str = "DESC") -> list[qs.FieldSortOptions]:
    return [qs.FieldSortOptions(FieldSort=qs.FieldSort(FieldId=field_id(visual_id, name), Direction=direction))]


def _percent() -> qs.NumberFormatConfiguration:
    """A ratio (0 to 1) shown as a percentage with one decimal."""
    return qs.NumberFormatConfiguration(
        FormatConfiguration=qs.NumericFormatConfiguration(
            PercentageDisplayFormatConfiguration=qs.PercentageDisplayFormatConfiguration(
                DecimalPlacesConfiguration=qs.DecimalPlacesConfiguration(DecimalPlaces=1)
            )
        )
    )


def _title(text: str) -> qs.VisualTitleLabelOptions:
    return qs.VisualTitleLabelOptions(Visibility="VISIBLE", FormatText=qs.ShortFormatText(PlainText=text))


def _filter_action(visual_id: str, columns: list[str], targets: list[str] | None = None) -> qs.VisualCustomAction:
    """Clicking a data point filters the other visuals of the same sheet (`targets`: only those) on the clicked
    values."""
    if targets:
        same_sheet = qs.SameSheetTargetVisualConfiguration(TargetVisuals=targets)
    else:
        same_sheet = qs.SameSheetTargetVisualConfiguration(TargetVisualOptions="ALL_VISUALS")
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
                        SameSheetTargetVisualConfiguration=same_sheet
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
    measure: Measure,
    *,
    color: str | None = None,
    horizontal: bool = False,
    drill_down: bool = False,
    limit: int | None = None,
    filter_action: bool = False,
    filter_targets: list[str] | None = None,
) -> qs.Visual:
    """`measure` by `category`, stacked by `color`; several categories + drill_down: a drill-down. With
    filter_action, a click filters the sheet's other visuals (`filter_targets`: only those)."""
    hierarchy_id = f"{visual_id}-drill-down" if drill_down else None
    wells = qs.BarChartAggregatedFieldWells(
        Category=[_dimension(visual_id, dataset, name, hierarchy_id) for name in category],
        Values=[_count(visual_id, dataset, measure)],
    )
    if color:
        wells.Colors = [_dimension(visual_id, dataset, color)]
    sort = qs.BarChartSortConfiguration(CategorySort=_sort(visual_id, measure.name))
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
        visual.Actions = [_filter_action(visual_id, category + ([color] if color else []), filter_targets)]
    return qs.Visual(BarChartVisual=visual)


def donut(visual_id: str, title: str, dataset: str, category: str, measure: Measure, *, limit: int = 20) -> qs.Visual:
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
                    CategorySort=_sort(visual_id, measure.name),
                    CategoryItemsLimit=qs.ItemsLimitConfiguration(ItemsLimit=limit, OtherCategories="INCLUDE"),
                ),
                Legend=qs.LegendOptions(Visibility="VISIBLE"),
            ),
            Actions=[_filter_action(visual_id, [category])],
        )
    )


def kpi(visual_id: str, title: str, dataset: str, value: str, *, subtitle: str) -> qs.Visual:
    """KPI of an (already aggregated) calculated field `value`, shown as a percentage."""
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
                                FormatConfiguration=_percent(),
                            )
                        )
                    ]
                ),
                KPIOptions=qs.KPIOptions(PrimaryValueDisplayType="ACTUAL"),
            ),
        )
    )


def line_chart(
    visual_id: str,
    title: str,
    dataset: str,
    date: str,
    value: str,
    *,
    granularity: str = "DAY",
    color: str | None = None,
    percent: bool = False,
) -> qs.Visual:
    """Line of the (already aggregated) calculated field `value` over the date column `date` at `granularity`,
    one line per value of `color`; `percent`: `value` is a ratio shown as a percentage."""
    measure = qs.NumericalMeasureField(FieldId=field_id(visual_id, value), Column=column(dataset, value))
    if percent:
        measure.FormatConfiguration = _percent()
    wells = qs.LineChartAggregatedFieldWells(
        Category=[
            qs.DimensionField(
                DateDimensionField=qs.DateDimensionField(
                    FieldId=field_id(visual_id, date), Column=column(dataset, date), DateGranularity=granularity
                )
            )
        ],
        Values=[qs.MeasureField(NumericalMeasureField=measure)],
    )
    if color:
        wells.Colors = [_dimension(visual_id, dataset, color)]
    return qs.Visual(
        LineChartVisual=qs.LineChartVisual(
            VisualId=visual_id,
            Title=_title(title),
            ChartConfiguration=qs.LineChartConfiguration(
                FieldWells=qs.LineChartFieldWells(LineChartAggregatedFieldWells=wells),
                Type="LINE",
                SortConfiguration=qs.LineChartSortConfiguration(CategorySort=_sort(visual_id, date, "ASC")),
                Legend=qs.LegendOptions(Visibility="VISIBLE" if color else "HIDDEN"),
            ),
        )
    )


def table(visual_id: str, title: str, dataset: str, columns: list[str], *, sort: tuple[str, str]) -> qs.Visual:
    """Table of the rows themselves (no aggregation), one column per name in `columns`, sorted by
    `sort` = (column, "ASC" | "DESC")."""
    return qs.Visual(
        TableVisual=qs.TableVisual(
            VisualId=visual_id,
            Title=_title(title),
            ChartConfiguration=qs.TableConfiguration(
                FieldWells=qs.TableFieldWells(
                    TableUnaggregatedFieldWells=qs.TableUnaggregatedFieldWells(
                        Values=[
                            qs.UnaggregatedField(FieldId=field_id(visual_id, name), Column=column(dataset, name))
                            for name in columns
                        ]
                    )
                ),
                SortConfiguration=qs.TableSortConfiguration(RowSort=_sort(visual_id, *sort)),
            ),
        )
    )
