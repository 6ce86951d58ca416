"""Builders for the rest of a QuickSight sheet: filters, filter controls, grid layouts.

Generic: each builder is given its dataset identifier, columns and element IDs.
"""

from __future__ import annotations

from troposphere import quicksight as qs

from .visuals import column

GRID_COLUMNS = 36  # width of the QuickSight grid layout
CANVAS_WIDTH = "1600px"


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
    configuration = qs.CategoryFilterConfiguration(FilterListConfiguration=config)
    return _category_group(filter_id, dataset, name, configuration, sheet_id, visual_ids)


def text_filter(
    filter_id: str, dataset: str, name: str, sheet_id: str, visual_ids: list[str] | None, *, match: str = "CONTAINS"
) -> qs.FilterGroup:
    """A filter on one value of column `name` compared with `match` (CONTAINS: part of the value), typed into a
    text field control (`text_field`); empty, it keeps every row. On the visuals `visual_ids` of the sheet."""
    config = qs.CustomFilterConfiguration(
        MatchOperator=match, SelectAllOptions="FILTER_ALL_VALUES", NullOption="ALL_VALUES"
    )
    configuration = qs.CategoryFilterConfiguration(CustomFilterConfiguration=config)
    return _category_group(filter_id, dataset, name, configuration, sheet_id, visual_ids)


def _category_group(
    filter_id: str,
    dataset: str,
    name: str,
    configuration: qs.CategoryFilterConfiguration,
    sheet_id: str,
    visual_ids: list[str] | None,
) -> qs.FilterGroup:
    return qs.FilterGroup(
        FilterGroupId=f"{filter_id}-group",
        CrossDataset="SINGLE_DATASET",
        Status="ENABLED",
        Filters=[
            qs.Filter(
                CategoryFilter=qs.CategoryFilter(
                    FilterId=filter_id, Column=column(dataset, name), Configuration=configuration
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


def text_field(control_id: str, filter_id: str, title: str) -> qs.FilterControl:
    """A text box for the value of a `text_filter`."""
    return qs.FilterControl(
        TextField=qs.FilterTextFieldControl(
            FilterControlId=control_id,
            SourceFilterId=filter_id,
            Title=title,
            DisplayOptions=qs.TextFieldControlDisplayOptions(
                PlaceholderOptions=qs.TextControlPlaceholderOptions(Visibility="VISIBLE")
            ),
        )
    )


def controls_layout(rows: list[tuple[int, list[tuple[str, int]]]]) -> qs.SheetControlLayout:
    """The sheet's control area: rows of (height, [(control id, width), ...])."""
    return qs.SheetControlLayout(
        Configuration=qs.SheetControlLayoutConfiguration(GridLayout=grid(rows, element_type="FILTER_CONTROL"))
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
