"""The analysis/dashboard Definition: every referenced column, field, filter, visual and hierarchy exists."""

from __future__ import annotations

import re

import pytest

from patchcompliance.quicksight import dashboard, names
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
    assert sheet_names == ["Managed Instance Compliance", "Patch Compliance"]
    mic, pc = (_visuals(sheet) for sheet in definition["Sheets"])

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
