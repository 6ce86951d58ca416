"""add_quicksight's interface, parameters (patterns), principal ARN, refresh schedule and determinism."""

from __future__ import annotations

import re

import pytest
import qs_testlib as lib

from patchcompliance import quicksight as qsmod

PARAMETERS = [qsmod.PRINCIPAL_NAME, qsmod.PRINCIPAL_TYPE, qsmod.IDENTITY_REGION, qsmod.REFRESH_TIME, qsmod.IMPORT_MODE]


def test_returned_interface(built):
    template, result = built
    assert set(result) == {"parameters", "labels", "condition", "resources", "outputs"}
    assert [p.title for p in result["parameters"]] == PARAMETERS
    assert all(template.parameters[p.title] is p for p in result["parameters"])
    assert set(result["labels"]) == set(PARAMETERS) and all(result["labels"].values())
    assert result["condition"] == lib.ENABLED
    assert [r.title for r in result["resources"]] == lib.QUICKSIGHT_RESOURCE_IDS
    assert all(template.resources[r.title] is r for r in result["resources"])
    assert [o.title for o in result["outputs"]] == [qsmod.DASHBOARD_URL_OUTPUT, qsmod.DASHBOARD_ARN_OUTPUT]


def _pattern(template: dict, name: str) -> re.Pattern:
    return re.compile(template["Parameters"][name]["AllowedPattern"])


@pytest.mark.parametrize(
    "name, valid, invalid",
    [
        (
            qsmod.PRINCIPAL_NAME,
            ["", "jane", "Admin/jane.doe@example.com", "patch-admins", "a_b+c=d,e"],
            ["with space", "a/b/c", "/jane", "jane/", "x;y"],
        ),
        (qsmod.IDENTITY_REGION, ["", "us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"], ["us", "EU-WEST-1"]),
        (qsmod.REFRESH_TIME, ["00:00", "06:00", "23:59"], ["24:00", "6:00", "06:60", "0600", ""]),
    ],
)
def test_allowed_patterns(template_dict, name, valid, invalid):
    pattern = _pattern(template_dict, name)
    assert [v for v in valid if not pattern.fullmatch(v)] == []
    assert [v for v in invalid if pattern.fullmatch(v)] == []
    assert template_dict["Parameters"][name].get("ConstraintDescription")


def test_defaults_and_allowed_values(template_dict):
    params = template_dict["Parameters"]
    assert params[qsmod.PRINCIPAL_NAME]["Default"] == ""  # QuickSight disabled by default
    assert params[qsmod.IDENTITY_REGION]["Default"] == ""
    assert params[qsmod.PRINCIPAL_TYPE]["AllowedValues"] == ["USER", "GROUP"]
    assert params[qsmod.IMPORT_MODE] | {} == {**params[qsmod.IMPORT_MODE], "Default": "SPICE"}
    assert params[qsmod.IMPORT_MODE]["AllowedValues"] == ["SPICE", "DIRECT_QUERY"]


def _resolve_sub(template: dict, sub, values: dict) -> str:
    text, variables = sub["Fn::Sub"]

    def value(node):
        if isinstance(node, str):
            return node
        if "Ref" in node:
            name = node["Ref"]
            return values.get(name, lib.PSEUDO.get(name))
        condition, yes, no = node["Fn::If"]
        return value(yes if lib.condition_true(template, condition, values) else no)

    resolved = {**lib.PSEUDO, **{k: value(v) for k, v in variables.items()}}
    return re.sub(r"\$\{([^}]+)\}", lambda m: resolved[m.group(1)], text)


@pytest.mark.parametrize(
    "kind, region, expected",
    [
        ("USER", "", "arn:aws:quicksight:us-east-1:123456789012:user/default/Admin/jane"),
        ("GROUP", "", "arn:aws:quicksight:us-east-1:123456789012:group/default/Admin/jane"),
        ("USER", "eu-west-1", "arn:aws:quicksight:eu-west-1:123456789012:user/default/Admin/jane"),
    ],
)
def test_principal_arn(template_dict, kind, region, expected):
    values = {qsmod.PRINCIPAL_NAME: "Admin/jane", qsmod.PRINCIPAL_TYPE: kind, qsmod.IDENTITY_REGION: region}
    principal = template_dict["Resources"][qsmod.DASHBOARD]["Properties"]["Permissions"][0]["Principal"]
    assert _resolve_sub(template_dict, principal, values) == expected


def test_enabled_condition_follows_the_principal(template_dict):
    assert not lib.condition_true(template_dict, lib.ENABLED, {qsmod.PRINCIPAL_NAME: ""})
    assert lib.condition_true(template_dict, lib.ENABLED, {qsmod.PRINCIPAL_NAME: "jane"})
    spice = {qsmod.PRINCIPAL_NAME: "jane", qsmod.IMPORT_MODE: "SPICE"}
    assert lib.condition_true(template_dict, qsmod.SPICE_ENABLED, spice)
    assert not lib.condition_true(template_dict, qsmod.SPICE_ENABLED, {**spice, qsmod.PRINCIPAL_NAME: ""})
    assert not lib.condition_true(template_dict, qsmod.SPICE_ENABLED, {**spice, qsmod.IMPORT_MODE: "DIRECT_QUERY"})


def test_daily_refresh_of_each_dataset(template_dict):
    resources = template_dict["Resources"]
    for refresh, spec in (
        (qsmod.PATCH_DATASET_REFRESH, qsmod.PATCH_SPEC),
        (qsmod.BY_TAG_DATASET_REFRESH, qsmod.BY_TAG_SPEC),
    ):
        props = resources[refresh]["Properties"]
        assert resources[refresh]["DependsOn"] == [spec.logical_id]
        assert props["DataSetId"] == resources[spec.logical_id]["Properties"]["DataSetId"]
        frequency = props["Schedule"]["ScheduleFrequency"]
        assert frequency["Interval"] == "DAILY"
        assert frequency["TimeOfTheDay"] == {"Ref": qsmod.REFRESH_TIME}
        assert props["Schedule"]["RefreshType"] == "FULL_REFRESH"


def test_datasets_do_not_wait_for_spice_ingestion(template_dict):
    for spec in qsmod.DATASETS:
        props = template_dict["Resources"][spec.logical_id]["Properties"]
        assert props["ImportMode"] == {"Ref": qsmod.IMPORT_MODE}
        assert props["IngestionWaitPolicy"] == {
            "Fn::If": [qsmod.SPICE_ENABLED, {"WaitForSpiceIngestion": False}, {"Ref": "AWS::NoValue"}]
        }
        assert props["Name"] == spec.name


def test_datasets_wait_for_the_athena_views(template_dict):
    for spec in qsmod.DATASETS:
        assert template_dict["Resources"][spec.logical_id]["DependsOn"] == [lib.ATHENA_VIEWS]
    template, _ = lib.build_template(views=False)
    assert all("DependsOn" not in template.resources[spec.logical_id].to_dict() for spec in qsmod.DATASETS)


def test_output_is_deterministic(template_json):
    again, _ = lib.build_template()
    assert again.to_json() == template_json
