"""cfn-lint on the QuickSight resources (Definition included), and the QuickSight-disabled case."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from patchcompliance.conditions import HAS_KMS
from patchcompliance.quicksight import datasets, names
from patchcompliance.quicksight import parameters as qsp
from tests.support import quicksight as lib
from tests.support.templates import CENTRAL_TEMPLATE, load_template

# AWS::QuickSight::* resources: the data source, the datasets, the analysis and the dashboard, plus one refresh
# schedule per dataset with SPICE.
WITHOUT_REFRESH = 1 + len(datasets.DATASETS) + 2
WITH_REFRESH = WITHOUT_REFRESH + len(datasets.DATASETS)


def test_template_lints_clean(template_json):
    """The usual lint regions plus the Makefile's (ap-northeast-3 has no QuickSight: the region condition keeps
    cfn-lint clean there) and us-west-1 (no QuickSight either)."""
    regions = [*lib.LINT_REGIONS, "ap-northeast-3", "eu-south-1", "us-west-1"]
    assert lib.lint_findings(template_json, regions=regions) == []


@pytest.mark.parametrize("existing", [(), (HAS_KMS,), (HAS_KMS, *qsp.CONDITIONS)], ids=["none", "has-kms-key", "all"])
def test_conditions_are_added_whether_or_not_the_template_has_them(template_json, existing):
    """add_quicksight calls `.use` on every condition it uses: a missing one is added with its one definition,
    one already there is kept; the template comes out the same either way."""
    template, result = lib.build_template(existing)
    assert result.conditions == (HAS_KMS, *qsp.CONDITIONS)
    assert set(template.conditions) == {HAS_KMS, qsp.REGION_SUPPORTED, *qsp.CONDITIONS}
    for condition in (HAS_KMS, qsp.REGION_SUPPORTED, *qsp.CONDITIONS):
        assert template.conditions[condition].to_dict() == condition.expression().to_dict(), condition
    assert template.to_json() == template_json


def test_unsupported_regions_cover_cfn_lint_region_data():
    import cfnlint.data.schemas as schemas

    types = ["DataSource", "DataSet", "RefreshSchedule", "Analysis", "Dashboard"]
    missing = set()
    for path in (Path(schemas.__file__).parent / "providers").glob("*-*-*.json"):
        known = json.loads(path.read_text(encoding="utf-8"))
        if any(f"AWS::QuickSight::{t}" not in known for t in types):
            missing.add(path.stem)
    assert missing <= set(qsp.QUICKSIGHT_UNSUPPORTED_REGIONS), sorted(missing)


def test_no_quicksight_in_unsupported_region_even_with_a_principal(template_dict):
    values = {qsp.PRINCIPAL_NAME.name: "jane", "AWS::Region": "ap-northeast-3"}
    assert lib.resources_of_type(lib.prune_disabled(template_dict, values), "AWS::QuickSight::") == {}
    values["AWS::Region"] = "eu-west-1"
    assert len(lib.resources_of_type(lib.prune_disabled(template_dict, values), "AWS::QuickSight::")) == WITH_REFRESH


def test_enabled_condition_is_principal_given_and_region_supported(template_dict):
    assert template_dict["Conditions"][qsp.ENABLED] == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": qsp.PRINCIPAL_NAME.name}, ""]}]},
            {"Condition": qsp.REGION_SUPPORTED},
        ]
    }


def test_definition_errors_are_caught_by_lint(template_dict):
    """Guard for the test above: cfn-lint really validates inside the Definition."""
    visual = template_dict["Resources"][names.DASHBOARD]["Properties"]["Definition"]["Sheets"][0]["Visuals"][2]
    visual["PieChartVisual"]["ChartConfiguration"]["DonutOptions"]["ArcOptions"]["ArcThickness"] = "HUGE"
    findings = lib.lint_findings(json.dumps(template_dict), regions=["us-east-1"])
    assert any("HUGE" in finding for finding in findings), findings


def _quicksight_ids(template: dict) -> set[str]:
    ids = set(lib.resources_of_type(template, "AWS::QuickSight::"))
    return ids | {names.QUICKSIGHT_ROLE} if names.QUICKSIGHT_ROLE in template["Resources"] else ids


def test_every_quicksight_resource_and_output_is_conditional(template_dict):
    resources = template_dict["Resources"]
    expected = set(lib.QUICKSIGHT_RESOURCE_IDS)
    assert _quicksight_ids(template_dict) == expected
    for name in expected:
        wanted = qsp.SPICE_ENABLED if resources[name]["Type"] == "AWS::QuickSight::RefreshSchedule" else qsp.ENABLED
        assert resources[name].get("Condition") == wanted, name
    for name in (names.DASHBOARD_URL_OUTPUT, names.DASHBOARD_ARN_OUTPUT):
        assert template_dict["Outputs"][name]["Condition"] == qsp.ENABLED


OTHER_VALUES = {
    qsp.PRINCIPAL_TYPE.name: ["USER", "GROUP"],
    qsp.IMPORT_MODE.name: ["SPICE", "DIRECT_QUERY"],
    qsp.IDENTITY_REGION.name: ["", "us-east-1"],
}


def _combinations(principal: str):
    keys = list(OTHER_VALUES)
    for combo in itertools.product(*(OTHER_VALUES[k] for k in keys)):
        yield {qsp.PRINCIPAL_NAME.name: principal, **dict(zip(keys, combo, strict=True))}


def test_disabled_template_has_no_quicksight_resource(template_dict):
    for values in _combinations(""):
        pruned = lib.prune_disabled(template_dict, values)
        assert _quicksight_ids(pruned) == set(), values
        assert "Outputs" not in pruned
        assert lib.dangling(pruned) == set(), values  # nothing that stays refers to anything that went


def test_disabled_template_lints_clean(template_dict):
    pruned = lib.prune_disabled(template_dict, {qsp.PRINCIPAL_NAME.name: ""})
    assert lib.resources_of_type(pruned, "AWS::QuickSight::") == {}
    assert lib.lint_findings(json.dumps(pruned)) == []


@pytest.mark.parametrize("mode, refresh", [("SPICE", True), ("DIRECT_QUERY", False)])
def test_refresh_schedules_only_with_spice(template_dict, mode, refresh):
    values = {qsp.PRINCIPAL_NAME.name: "jane", qsp.IMPORT_MODE.name: mode}
    pruned = lib.prune_disabled(template_dict, values)
    schedules = lib.resources_of_type(pruned, "AWS::QuickSight::RefreshSchedule")
    assert bool(schedules) is refresh
    assert len(lib.resources_of_type(pruned, "AWS::QuickSight::")) == (WITH_REFRESH if refresh else WITHOUT_REFRESH)
    assert WITH_REFRESH == len(lib.QUICKSIGHT_RESOURCE_IDS) - 1  # every resource but the role


def test_central_template_keeps_quicksight_conditional():
    """The committed central template: every QuickSight resource disappears when the principal is empty."""
    assert CENTRAL_TEMPLATE.exists(), "templates/ is committed; run 'make templates'"
    template = json.loads(json.dumps(load_template(CENTRAL_TEMPLATE)))  # cfn-lint's node types -> plain data
    quicksight = lib.resources_of_type(template, "AWS::QuickSight::")
    assert quicksight, "the central template has no AWS::QuickSight::* resource"
    assert qsp.PRINCIPAL_NAME.name in template["Parameters"]
    for name, resource in {**quicksight, names.QUICKSIGHT_ROLE: template["Resources"][names.QUICKSIGHT_ROLE]}.items():
        assert "Condition" in resource, f"{name} has no Condition"
    for values in _combinations(""):
        pruned = lib.prune_disabled(template, values)
        assert _quicksight_ids(pruned) == set(), values
        assert lib.dangling(pruned) == set(), values
