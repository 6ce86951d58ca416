"""The analysis/dashboard Definition: every referenced column, field, filter, visual and hierarchy exists."""

from __future__ import annotations

import math
import random
import re

import duckdb
import pytest

from patchcompliance.quicksight import dashboard, names, trends
from tests.support import quicksight as lib

OWNERS = [names.ANALYSIS, names.DASHBOARD]


def _definition(template: dict, owner: str) -> dict:
    return template["Resources"][owner]["Properties"]["Definition"]


def _declared(template: dict, definition: dict) -> dict[str, set[str]]:
    """DataSetIdentifier -> columns usable in the Definition (dataset columns + its calculated fields)."""
    declared = {}
    for declaration in definition["DataSetIdentifierDeclarations"]:
        logical_id = declaration["DataSetArn"]["Fn::GetAtt"][0]
        resource = template["Resources"][logical_id]
        assert resource["Type"] == "AWS::QuickSight::DataSet"
        declared[declaration["Identifier"]] = set(lib.dataset_columns(resource["Properties"]))
    for field in definition.get("CalculatedFields", []):
        declared[field["DataSetIdentifier"]].add(field["Name"])
    return declared


def _visuals(sheet: dict) -> dict[str, dict]:
    """VisualId -> the visual's body (BarChartVisual, PieChartVisual...)."""
    out = {}
    for visual in sheet.get("Visuals", []):
        ((_, body),) = visual.items()
        out[body["VisualId"]] = body
    return out


def bad_column_references(template: dict, owner: str) -> list[str]:
    """ColumnIdentifiers of the Definition whose column is not in the dataset they name."""
    definition = _definition(template, owner)
    declared = _declared(template, definition)
    references = [(path, node) for path, node in lib.walk(definition) if "ColumnName" in node]
    # the walk really reaches visuals, filters and drill-down hierarchies
    for part in ("Visuals", "FilterGroups", "ColumnHierarchies"):
        assert any(part in path for path, _ in references), part
    return [
        f"{'/'.join(map(str, path))}: {node.get('DataSetIdentifier')}.{node['ColumnName']}"
        for path, node in references
        if node["ColumnName"] not in declared.get(node.get("DataSetIdentifier"), set())
    ]


@pytest.mark.parametrize("owner", OWNERS)
def test_every_column_reference_exists_in_its_dataset(template_dict, owner):
    assert bad_column_references(template_dict, owner) == []


def test_unknown_column_reference_is_reported(template_dict):
    """Guard for the test above: a misspelt column and a column of the other dataset are both caught."""
    definition = _definition(template_dict, names.DASHBOARD)
    definition["FilterGroups"][0]["Filters"][0]["CategoryFilter"]["Column"]["ColumnName"] = "tag_keys"
    mic_visual = definition["Sheets"][0]["Visuals"][0]["BarChartVisual"]
    wells = mic_visual["ChartConfiguration"]["FieldWells"]["BarChartAggregatedFieldWells"]
    wells["Category"][0]["CategoricalDimensionField"]["Column"]["ColumnName"] = "platform_type"  # other dataset
    bad = bad_column_references(template_dict, names.DASHBOARD)
    assert len(bad) == 2 and "tag_keys" in bad[0] + bad[1] and "platform_type" in bad[0] + bad[1], bad


@pytest.mark.parametrize("owner", OWNERS)
def test_calculated_fields_use_dataset_columns(template_dict, owner):
    definition = _definition(template_dict, owner)
    for field in definition["CalculatedFields"]:
        logical_id = next(
            d["DataSetArn"]["Fn::GetAtt"][0]
            for d in definition["DataSetIdentifierDeclarations"]
            if d["Identifier"] == field["DataSetIdentifier"]
        )
        columns = set(lib.dataset_columns(template_dict["Resources"][logical_id]["Properties"]))
        used = set(re.findall(r"\{([^}]+)\}", field["Expression"]))
        assert used and used <= columns, (field["Name"], used - columns)


@pytest.mark.parametrize("owner", OWNERS)
def test_field_ids_sorts_actions_and_hierarchies(template_dict, owner):
    definition = _definition(template_dict, owner)
    all_field_ids: list[str] = []
    for sheet in definition["Sheets"]:
        for visual_id, body in _visuals(sheet).items():
            wells = body["ChartConfiguration"]["FieldWells"]
            fields = [node for _, node in lib.walk(wells) if "FieldId" in node and "Column" in node]
            field_ids = [f["FieldId"] for f in fields]
            assert field_ids, visual_id
            all_field_ids += field_ids
            sort_config = body["ChartConfiguration"].get("SortConfiguration", {})
            sorts = [n["FieldId"] for _, n in lib.walk(sort_config) if "FieldId" in n]
            assert set(sorts) <= set(field_ids), (visual_id, sorts)
            for action in body.get("Actions", []):
                for operation in action["ActionOperations"]:
                    selected = operation["FilterOperation"]["SelectedFieldsConfiguration"]
                    assert set(selected.get("SelectedFields", [])) <= set(field_ids), (visual_id, selected)
                    targets = operation["FilterOperation"]["TargetVisualsConfiguration"]
                    same_sheet = targets["SameSheetTargetVisualConfiguration"].get("TargetVisuals", [])
                    assert set(same_sheet) <= set(_visuals(sheet)) - {visual_id}, (visual_id, same_sheet)
            hierarchies = {h["ExplicitHierarchy"]["HierarchyId"]: h for h in body.get("ColumnHierarchies", [])}
            for field in fields:
                if "HierarchyId" in field:
                    hierarchy = hierarchies[field["HierarchyId"]]["ExplicitHierarchy"]
                    assert field["Column"] in hierarchy["Columns"], (visual_id, field["FieldId"])
    assert len(all_field_ids) == len(set(all_field_ids)), "FieldIds must be unique in the Definition"


@pytest.mark.parametrize("owner", OWNERS)
def test_filters_controls_and_layouts_point_to_existing_elements(template_dict, owner):
    definition = _definition(template_dict, owner)
    sheets = {sheet["SheetId"]: sheet for sheet in definition["Sheets"]}
    filter_ids = {
        body["FilterId"]: group
        for group in definition["FilterGroups"]
        for flt in group["Filters"]
        for body in flt.values()
    }
    for group in definition["FilterGroups"]:
        for scope in group["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]:
            assert scope["SheetId"] in sheets
            assert set(scope.get("VisualIds", [])) <= set(_visuals(sheets[scope["SheetId"]])), group["FilterGroupId"]
    for sheet_id, sheet in sheets.items():
        visuals = set(_visuals(sheet))
        controls = {}
        for control in sheet.get("FilterControls", []):
            ((_, body),) = control.items()
            controls[body["FilterControlId"]] = body
            source = filter_ids[body["SourceFilterId"]]
            scoped = source["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]
            assert sheet_id in {s["SheetId"] for s in scoped}, body["FilterControlId"]
        (layout,) = sheet["Layouts"]
        placed = [e["ElementId"] for e in layout["Configuration"]["GridLayout"]["Elements"]]
        assert sorted(placed) == sorted(visuals), f"{sheet_id}: every visual placed exactly once"
        control_layout = [
            e["ElementId"]
            for cl in sheet.get("SheetControlLayouts", [])
            for e in cl["Configuration"]["GridLayout"]["Elements"]
        ]
        assert sorted(control_layout) == sorted(controls), f"{sheet_id}: every control placed exactly once"
        for element in layout["Configuration"]["GridLayout"]["Elements"]:
            assert element["ColumnIndex"] + element["ColumnSpan"] <= 36, element


def test_sheets_and_visuals_asked_for(template_dict):
    definition = _definition(template_dict, names.DASHBOARD)
    sheet_names = [sheet["Name"] for sheet in definition["Sheets"]]
    assert sheet_names == ["Managed Instance Compliance", "Patch Compliance", "Trends and SLA"]
    mic, pc, _ = (_visuals(sheet) for sheet in definition["Sheets"])

    def categories(body):
        wells = next(iter(body["ChartConfiguration"]["FieldWells"].values()))
        dims = lambda key: [next(iter(f.values()))["Column"]["ColumnName"] for f in wells.get(key, [])]  # noqa: E731
        return dims("Category"), dims("Colors")

    # stacked bar charts
    assert categories(mic["mic-status-by-tag"]) == (["managed_status"], ["tag_value"])
    assert categories(pc["pc-status-by-platform"]) == (["compliance_state"], ["platform_type"])
    # drill-down account -> region -> instance
    assert categories(mic["mic-drill-down"])[0] == ["account_id", "region", "instance_id"]
    assert mic["mic-drill-down"]["ColumnHierarchies"]
    # donuts
    donut = lambda visuals: sorted(  # noqa: E731
        categories(b)[0][0] for b in visuals.values() if "DonutOptions" in b["ChartConfiguration"]
    )
    assert donut(mic) == ["account_id", "instance_name", "instance_state", "region"]
    assert donut(pc) == ["account_id", "instance_state", "platform_name", "region", "severity"]
    # top 10 missing patches, compliance-rate KPI
    limit = pc["pc-top-missing-patches"]["ChartConfiguration"]["SortConfiguration"]["CategoryItemsLimit"]
    assert limit["ItemsLimit"] == 10
    kpi = pc["pc-compliance-rate"]["ChartConfiguration"]["FieldWells"]["Values"][0]["NumericalMeasureField"]
    assert kpi["Column"]["ColumnName"] == dashboard.COMPLIANCE_RATE
    # tag-key filter with a control, same-sheet filter actions on every donut
    assert [c["Dropdown"]["SourceFilterId"] for c in definition["Sheets"][0]["FilterControls"]] == ["mic-tag-key"]
    for visuals in (mic, pc):
        for visual_id, body in visuals.items():
            if "DonutOptions" in body["ChartConfiguration"]:
                (action,) = body["Actions"]
                target = action["ActionOperations"][0]["FilterOperation"]["TargetVisualsConfiguration"]
                assert "SameSheetTargetVisualConfiguration" in target, visual_id


def test_dashboard_published_with_ad_hoc_filtering_and_same_definition_as_analysis(template_dict):
    dashboard = template_dict["Resources"][names.DASHBOARD]["Properties"]
    analysis = template_dict["Resources"][names.ANALYSIS]["Properties"]
    assert dashboard["DashboardPublishOptions"]["AdHocFilteringOption"]["AvailabilityStatus"] == "ENABLED"
    assert dashboard["Definition"] == analysis["Definition"]
    assert dashboard["LinkEntities"] == [{"Fn::GetAtt": [names.ANALYSIS, "Arn"]}]


def _filters(definition: dict) -> dict[str, tuple[dict, dict]]:
    """FilterId -> (its filter group, the CategoryFilter/... body)."""
    return {
        body["FilterId"]: (group, body)
        for group in definition["FilterGroups"]
        for flt in group["Filters"]
        for body in flt.values()
    }


def _scoped_visuals(group: dict) -> dict[str, list[str]]:
    scopes = group["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]
    return {scope["SheetId"]: scope.get("VisualIds", ["*"]) for scope in scopes}


def _wells(body: dict) -> dict:
    return next(iter(body["ChartConfiguration"]["FieldWells"].values()))


def _field_columns(fields: list[dict]) -> list[str]:
    """Column names of well fields: DimensionField/MeasureField wrappers or UnaggregatedFields."""
    return [(f if "Column" in f else next(iter(f.values())))["Column"]["ColumnName"] for f in fields]


def _dataset_of(definition: dict, identifier: str) -> str:
    """The logical ID of the dataset declared as `identifier`."""
    (arn,) = [d["DataSetArn"] for d in definition["DataSetIdentifierDeclarations"] if d["Identifier"] == identifier]
    return arn["Fn::GetAtt"][0]


def test_trends_and_sla_sheet(template_dict):
    """Percent compliant over days (weighted by node, with an account control), SLA breaches by account, the
    oldest breaches first, and a CVE search over the patches of each CVE."""
    definition = _definition(template_dict, names.DASHBOARD)
    (sheet,) = [s for s in definition["Sheets"] if s["SheetId"] == trends.SHEET]
    visuals = _visuals(sheet)
    filters = _filters(definition)
    datasets_of = {vid: _dataset_of(definition, _dataset_identifier(body)) for vid, body in visuals.items()}

    line = visuals[trends.TREND_CHART]
    (day,) = _wells(line)["Category"]
    assert day["DateDimensionField"]["Column"]["ColumnName"] == "day"
    assert day["DateDimensionField"]["DateGranularity"] == "DAY"
    (value,) = _wells(line)["Values"]
    assert value["NumericalMeasureField"]["Column"]["ColumnName"] == trends.PERCENT_COMPLIANT
    assert datasets_of[trends.TREND_CHART] == names.TREND_DATASET
    group, account = filters[trends.ACCOUNT_FILTER]
    assert account["Column"]["ColumnName"] == "account_id"
    assert _scoped_visuals(group) == {trends.SHEET: [trends.TREND_CHART]}

    bar = visuals[trends.BREACHES_BY_ACCOUNT]
    assert _field_columns(_wells(bar)["Category"]) == ["account_id"]
    (count,) = _wells(bar)["Values"]
    assert count["CategoricalMeasureField"]["AggregationFunction"] == "COUNT"  # one row per node and patch
    (action,) = bar["Actions"]
    target = action["ActionOperations"][0]["FilterOperation"]["TargetVisualsConfiguration"]
    assert target["SameSheetTargetVisualConfiguration"]["TargetVisuals"] == [trends.OLDEST_BREACHES]

    oldest = visuals[trends.OLDEST_BREACHES]
    columns = _field_columns(_wells(oldest)["Values"])
    assert {"account_id", "instance_id", "patch_id", "age_days", "sla_due"} <= set(columns)
    (sort,) = oldest["ChartConfiguration"]["SortConfiguration"]["RowSort"]
    sorted_on = next(f for f in _wells(oldest)["Values"] if f["FieldId"] == sort["FieldSort"]["FieldId"])
    assert (sorted_on["Column"]["ColumnName"], sort["FieldSort"]["Direction"]) == ("age_days", "DESC")
    assert datasets_of[trends.OLDEST_BREACHES] == datasets_of[trends.BREACHES_BY_ACCOUNT] == names.SLA_DATASET
    group, breached = filters[trends.BREACHED_FILTER]
    assert breached["Column"]["ColumnName"] == "sla_state"
    assert breached["Configuration"]["FilterListConfiguration"]["CategoryValues"] == [trends.BREACHED]
    assert _scoped_visuals(group) == {trends.SHEET: [trends.BREACHES_BY_ACCOUNT, trends.OLDEST_BREACHES]}

    cves = visuals[trends.CVE_TABLE]
    assert "cve_id" in _field_columns(_wells(cves)["Values"])
    assert datasets_of[trends.CVE_TABLE] == names.CVES_DATASET
    group, search = filters[trends.CVE_FILTER]
    assert search["Column"]["ColumnName"] == "cve_id"
    assert search["Configuration"]["CustomFilterConfiguration"]["MatchOperator"] == "CONTAINS"
    assert _scoped_visuals(group) == {trends.SHEET: [trends.CVE_TABLE]}
    controls = {next(iter(c)): next(iter(c.values()))["SourceFilterId"] for c in sheet["FilterControls"]}
    assert controls == {"Dropdown": trends.ACCOUNT_FILTER, "TextField": trends.CVE_FILTER}


def _dataset_identifier(body: dict) -> str:
    (identifier,) = {node["DataSetIdentifier"] for _, node in lib.walk(body) if "DataSetIdentifier" in node}
    return identifier


# compliance_trend's node counts by compliance_state; nodes_total is their sum (every state but TERMINATED).
NODE_STATES = ("compliant", "non_compliant", "stale", "exempt", "unmanaged", "no_patch_data", "stopped")


def _trend_rows() -> list[dict[str, int]]:
    """Rows of node counts: all zero, only stopped or exempt nodes, one of each state alone, and random ones."""
    rng = random.Random(11)
    rows = [dict.fromkeys(NODE_STATES, 0), {**dict.fromkeys(NODE_STATES, 0), "stopped": 3, "exempt": 2}]
    rows += [{**dict.fromkeys(NODE_STATES, 0), state: 1} for state in NODE_STATES]
    rows += [{state: rng.choice([0, 1, 7, 250]) for state in NODE_STATES} for _ in range(40)]
    return [{**{f"nodes_{k}": v for k, v in row.items()}, "nodes_total": sum(row.values())} for row in rows]


def test_trend_percent_is_the_views_percent_compliant():
    """On one account x region x day, the line's calculated field is the view's percent_compliant (its SQL
    expression, run on DuckDB) divided by 100, and has no value where the view has none."""
    rows = _trend_rows()
    columns = list(rows[0])
    values = ", ".join("(" + ", ".join(str(row[c]) for c in columns) + ")" for row in rows)
    expression = lib.view_expression("compliance_trend", "percent_compliant").sql(dialect="duckdb")
    query = f"SELECT {expression} FROM (VALUES {values}) AS c({', '.join(columns)})"
    from_view = [value for (value,) in duckdb.connect().execute(query).fetchall()]
    (calculated,) = [e for _, name, e in trends.CALCULATED_FIELDS if name == trends.PERCENT_COMPLIANT]
    python = re.sub(r"sum\(\{(\w+)\}\)", r"row['\1']", calculated)
    assert python != calculated and "{" not in python

    def field(row):
        try:
            return eval(python, {}, {"row": row})  # noqa: S307 - the project's own expression, sum() of one row
        except ZeroDivisionError:
            return None

    mismatches = [
        (row, view, field(row))
        for row, view in zip(rows, from_view, strict=True)
        if (view is None) != (field(row) is None) or (view is not None and not math.isclose(view, 100 * field(row)))
    ]
    assert mismatches == []
    # no value: all zero, stopped and exempt only, stopped alone, exempt alone
    assert sum(view is None for view in from_view) == 4


def test_compliance_rate_leaves_out_the_same_states_as_the_trend():
    """The KPI on sheet "Patch Compliance" and the latest day of the trend divide by the same nodes."""
    (rate,) = [e for _, name, e in dashboard.CALCULATED_FIELDS if name == dashboard.COMPLIANCE_RATE]
    assert set(re.findall(r"<> '([A-Z_]+)'", rate.split(" / ")[1])) == {"TERMINATED", "STOPPED", "EXEMPT"}
    (trend,) = [e for _, name, e in trends.CALCULATED_FIELDS if name == trends.PERCENT_COMPLIANT]
    # nodes_total leaves out TERMINATED; the trend subtracts the other two
    assert set(re.findall(r"- sum\(\{nodes_(\w+)\}\)", trend.split(" / ")[1])) == {"stopped", "exempt"}


@pytest.mark.parametrize(
    "view, values",
    [
        ("instance_compliance", [dashboard.COMPLIANT, *dashboard.NOT_COUNTED]),
        ("patch_age", [trends.BREACHED]),
    ],
)
def test_state_values_compared_with_are_emitted_by_the_view(view, values):
    """The Definition compares compliance_state and sla_state with values the view's SQL writes as literals."""
    sql = lib.view_sql_path(view).read_text(encoding="utf-8")
    assert [v for v in values if f"'{v}'" not in sql] == []


EXCLUSIVE = ("CategoryValues", "CategoryValue", "ParameterName", "SelectAllOptions")


def _ambiguous_category_filters(definition: dict) -> list[tuple[str, list[str]]]:
    """Category filters that set not exactly one of EXCLUSIVE, with what they set."""
    out = []
    for filter_id, (_, body) in _filters(definition).items():
        ((_, config),) = body["Configuration"].items()
        given = [key for key in EXCLUSIVE if key in config]
        if len(given) != 1:
            out.append((filter_id, given))
    return out


@pytest.mark.parametrize("owner", OWNERS)
def test_category_filters_set_exactly_one_of_values_parameter_or_select_all(template_dict, owner):
    """QuickSight refuses a category filter that sets more than one of CategoryValue(s), ParameterName and
    SelectAllOptions (API error "Category Filter must define only one of ..."); none would filter nothing."""
    assert _ambiguous_category_filters(_definition(template_dict, owner)) == []


def test_ambiguous_category_filter_is_reported(template_dict):
    """Guard for the test above: values next to select-all, and neither, are both caught."""
    definition = _definition(template_dict, names.DASHBOARD)
    filters = _filters(definition)
    _, search = filters[trends.CVE_FILTER]
    search["Configuration"]["CustomFilterConfiguration"]["CategoryValue"] = "CVE-2024-3094"
    _, breached = filters[trends.BREACHED_FILTER]
    del breached["Configuration"]["FilterListConfiguration"]["CategoryValues"]
    assert sorted(_ambiguous_category_filters(definition)) == [
        (trends.CVE_FILTER, ["CategoryValue", "SelectAllOptions"]),
        (trends.BREACHED_FILTER, []),
    ]


@pytest.mark.parametrize("owner", OWNERS)
def test_controls_match_their_filter_kind(template_dict, owner):
    """A dropdown selects from a filter list (every value until one is chosen); a text field types the single
    value of a custom filter (every row while empty)."""
    definition = _definition(template_dict, owner)
    filters = _filters(definition)
    expected = {"Dropdown": "FilterListConfiguration", "TextField": "CustomFilterConfiguration"}
    kinds = set()
    for sheet in definition["Sheets"]:
        for control in sheet.get("FilterControls", []):
            ((kind, body),) = control.items()
            _, source = filters[body["SourceFilterId"]]
            ((config_kind, config),) = source["Configuration"].items()
            assert config_kind == expected[kind], body["FilterControlId"]
            assert config["SelectAllOptions"] == "FILTER_ALL_VALUES", body["FilterControlId"]
            kinds.add(kind)
    assert kinds == set(expected)
