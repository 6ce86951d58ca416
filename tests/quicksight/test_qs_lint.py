"""cfn-lint on the QuickSight resources (Definition included), and the QuickSight-disabled case."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import qs_testlib as lib
from cfnlint.decode import decode_str
from troposphere import Equals, Not, Ref, Template

from patchcompliance import quicksight as qsmod

QUICKSIGHT_OWNED = ("AWS::QuickSight::",)


def test_template_lints_clean(template_json):
    """The brief's regions plus the Makefile's (ap-northeast-3 has no QuickSight: the region condition keeps
    cfn-lint clean there) and us-west-1 (no QuickSight either)."""
    regions = [*lib.LINT_REGIONS, "ap-northeast-3", "eu-south-1", "us-west-1"]
    assert lib.lint_findings(template_json, regions=regions) == []


def test_lints_clean_without_kms_and_with_own_condition():
    """The lead may pass no KMS key and leave the enabled condition to add_quicksight."""
    template, result = lib.build_template(define_condition=False, kms=False)
    assert template.conditions[lib.ENABLED].to_dict() == qsmod.enabled_condition().to_dict()
    assert result["condition"] == lib.ENABLED
    assert lib.lint_findings(template.to_json()) == []


def test_unsupported_regions_cover_cfn_lint_region_data():
    import cfnlint.data.schemas as schemas

    types = ["DataSource", "DataSet", "RefreshSchedule", "Analysis", "Dashboard"]
    missing = set()
    for path in (Path(schemas.__file__).parent / "providers").glob("*-*-*.json"):
        known = json.loads(path.read_text(encoding="utf-8"))
        if any(f"AWS::QuickSight::{t}" not in known for t in types):
            missing.add(path.stem)
    assert missing <= set(qsmod.QUICKSIGHT_UNSUPPORTED_REGIONS), sorted(missing)


def test_no_quicksight_in_unsupported_region_even_with_a_principal(template_dict):
    values = {qsmod.PRINCIPAL_NAME: "jane", "AWS::Region": "ap-northeast-3"}
    assert lib.resources_of_type(lib.prune_disabled(template_dict, values), "AWS::QuickSight::") == {}
    values["AWS::Region"] = "eu-west-1"
    assert len(lib.resources_of_type(lib.prune_disabled(template_dict, values), "AWS::QuickSight::")) == 7


def test_callers_own_enabled_condition_gets_the_region_check():
    template = Template()
    template.add_condition(lib.ENABLED, Not(Equals(Ref(qsmod.PRINCIPAL_NAME), "")))
    qsmod._conditions(template, lib.ENABLED)
    assert template.conditions[lib.ENABLED].to_dict() == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": qsmod.PRINCIPAL_NAME}, ""]}]},
            {"Condition": qsmod.REGION_SUPPORTED},
        ]
    }


def test_definition_errors_are_caught_by_lint(template_dict):
    """Guard for the test above: cfn-lint really validates inside the Definition."""
    visual = template_dict["Resources"][qsmod.DASHBOARD]["Properties"]["Definition"]["Sheets"][0]["Visuals"][2]
    visual["PieChartVisual"]["ChartConfiguration"]["DonutOptions"]["ArcOptions"]["ArcThickness"] = "HUGE"
    findings = lib.lint_findings(json.dumps(template_dict), regions=["us-east-1"])
    assert any("HUGE" in finding for finding in findings), findings


def _quicksight_ids(template: dict) -> set[str]:
    ids = set(lib.resources_of_type(template, "AWS::QuickSight::"))
    return ids | {qsmod.QUICKSIGHT_ROLE} if qsmod.QUICKSIGHT_ROLE in template["Resources"] else ids


def test_every_quicksight_resource_and_output_is_conditional(template_dict):
    resources = template_dict["Resources"]
    expected = set(lib.QUICKSIGHT_RESOURCE_IDS)
    assert _quicksight_ids(template_dict) == expected
    for name in expected:
        wanted = qsmod.SPICE_ENABLED if resources[name]["Type"] == "AWS::QuickSight::RefreshSchedule" else lib.ENABLED
        assert resources[name].get("Condition") == wanted, name
    for name in (qsmod.DASHBOARD_URL_OUTPUT, qsmod.DASHBOARD_ARN_OUTPUT):
        assert template_dict["Outputs"][name]["Condition"] == lib.ENABLED


OTHER_VALUES = {
    qsmod.PRINCIPAL_TYPE: ["USER", "GROUP"],
    qsmod.IMPORT_MODE: ["SPICE", "DIRECT_QUERY"],
    qsmod.IDENTITY_REGION: ["", "us-east-1"],
}


def _combinations(principal: str):
    keys = list(OTHER_VALUES)
    for combo in itertools.product(*(OTHER_VALUES[k] for k in keys)):
        yield {qsmod.PRINCIPAL_NAME: principal, **dict(zip(keys, combo, strict=True))}


def test_disabled_template_has_no_quicksight_resource(template_dict):
    for values in _combinations(""):
        pruned = lib.prune_disabled(template_dict, values)
        assert _quicksight_ids(pruned) == set(), values
        assert "Outputs" not in pruned
        assert lib.dangling(pruned) == set(), values  # nothing that stays refers to anything that went


def test_disabled_template_lints_clean(template_dict):
    pruned = lib.prune_disabled(template_dict, {qsmod.PRINCIPAL_NAME: ""})
    assert lib.resources_of_type(pruned, "AWS::QuickSight::") == {}
    assert lib.lint_findings(json.dumps(pruned)) == []


@pytest.mark.parametrize("mode, refresh", [("SPICE", True), ("DIRECT_QUERY", False)])
def test_refresh_schedules_only_with_spice(template_dict, mode, refresh):
    values = {qsmod.PRINCIPAL_NAME: "jane", qsmod.IMPORT_MODE: mode}
    pruned = lib.prune_disabled(template_dict, values)
    schedules = lib.resources_of_type(pruned, "AWS::QuickSight::RefreshSchedule")
    assert bool(schedules) is refresh
    assert len(lib.resources_of_type(pruned, "AWS::QuickSight::")) == (7 if refresh else 5)


def test_central_template_keeps_quicksight_conditional():
    """The lead's generated template: every QuickSight resource disappears when the principal is empty."""
    assert lib.CENTRAL_TEMPLATE.exists(), "templates/ is committed; run 'make templates'"
    template, errors = decode_str(lib.CENTRAL_TEMPLATE.read_text(encoding="utf-8"))
    assert not errors, errors
    template = json.loads(json.dumps(template))  # cfn-lint's node types -> plain data
    quicksight = lib.resources_of_type(template, "AWS::QuickSight::")
    assert quicksight, "the central template has no AWS::QuickSight::* resource"
    assert qsmod.PRINCIPAL_NAME in template["Parameters"]
    for name, resource in {**quicksight, qsmod.QUICKSIGHT_ROLE: template["Resources"][qsmod.QUICKSIGHT_ROLE]}.items():
        assert "Condition" in resource, f"{name} has no Condition"
    for values in _combinations(""):
        pruned = lib.prune_disabled(template, values)
        assert _quicksight_ids(pruned) == set(), values
        assert lib.dangling(pruned) == set(), values
