"""add_quicksight's interface, parameters (patterns), principal ARN, refresh schedule and determinism."""

from __future__ import annotations

import dataclasses
import re

import pytest
from troposphere import Template

from patchcompliance.constants import ATHENA_VIEWS
from patchcompliance.parameters import Spec
from patchcompliance.quicksight import QuickSight, QuickSightInputs, datasets, names
from patchcompliance.quicksight import parameters as qsp
from tests.support import cfn
from tests.support import quicksight as lib

PARAMETERS = [
    "QuickSightPrincipalName",
    "QuickSightPrincipalType",
    "QuickSightIdentityRegion",
    "QuickSightRefreshTime",
    "QuickSightImportMode",
]
INPUTS = ["workgroup", "database", "athena_bucket", "config_bucket", "datasync_bucket", "kms_key", "views"]


def test_returned_interface(built):
    template, result = built
    assert isinstance(result, QuickSight)
    assert [spec.name for spec in result.specs] == PARAMETERS
    assert all(isinstance(spec, Spec) and spec.group == qsp.GROUP and spec.label for spec in result.specs)
    assert list(result.parameters) == PARAMETERS
    assert all(template.parameters[name] is param for name, param in result.parameters.items())
    assert result.condition == qsp.ENABLED
    assert [r.title for r in result.resources] == lib.QUICKSIGHT_RESOURCE_IDS
    assert all(template.resources[r.title] is r for r in result.resources)
    assert [o.title for o in result.outputs] == [names.DASHBOARD_URL_OUTPUT, names.DASHBOARD_ARN_OUTPUT]
    assert all(template.outputs[o.title] is o for o in result.outputs)


def test_inputs_have_no_defaults():
    fields = dataclasses.fields(QuickSightInputs)
    assert [f.name for f in fields] == INPUTS
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)


@pytest.mark.parametrize("missing", INPUTS)
def test_every_input_is_required(missing):
    """Leaving an input out is a TypeError, never a template without the part that needs it."""
    inputs = lib.stand_ins(Template())
    del inputs[missing]
    with pytest.raises(TypeError, match=missing):
        QuickSightInputs(**inputs)


def test_inputs_and_result_are_frozen(built):
    _, result = built
    inputs = QuickSightInputs(**lib.stand_ins(Template()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.views = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.role = None


def _pattern(template: dict, name: str) -> re.Pattern:
    return re.compile(template["Parameters"][name]["AllowedPattern"])


@pytest.mark.parametrize(
    "name, valid, invalid",
    [
        (
            qsp.PRINCIPAL_NAME.name,
            ["", "jane", "Admin/jane.doe@example.com", "patch-admins", "a_b+c=d,e"],
            ["with space", "a/b/c", "/jane", "jane/", "x;y"],
        ),
        (
            qsp.IDENTITY_REGION.name,
            ["", "us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"],
            ["us", "EU-WEST-1"],
        ),
        (qsp.REFRESH_TIME.name, ["00:00", "06:00", "23:59"], ["24:00", "6:00", "06:60", "0600", ""]),
    ],
)
def test_allowed_patterns(template_dict, name, valid, invalid):
    pattern = _pattern(template_dict, name)
    assert [v for v in valid if not pattern.fullmatch(v)] == []
    assert [v for v in invalid if pattern.fullmatch(v)] == []
    assert template_dict["Parameters"][name].get("ConstraintDescription")


def test_defaults_and_allowed_values(template_dict):
    params = template_dict["Parameters"]
    assert params[qsp.PRINCIPAL_NAME.name]["Default"] == ""  # QuickSight disabled by default
    assert params[qsp.IDENTITY_REGION.name]["Default"] == ""
    assert params[qsp.PRINCIPAL_TYPE.name]["AllowedValues"] == ["USER", "GROUP"]
    assert params[qsp.IMPORT_MODE.name] | {} == {**params[qsp.IMPORT_MODE.name], "Default": "SPICE"}
    assert params[qsp.IMPORT_MODE.name]["AllowedValues"] == ["SPICE", "DIRECT_QUERY"]


def _resolve_sub(template: dict, sub, values: dict) -> str:
    text, variables = sub["Fn::Sub"]

    def value(node):
        if isinstance(node, str):
            return node
        if "Ref" in node:
            name = node["Ref"]
            return values.get(name, cfn.PSEUDO.get(name))
        condition, yes, no = node["Fn::If"]
        return value(yes if cfn.condition_true(template, condition, values) else no)

    resolved = {**cfn.PSEUDO, **{k: value(v) for k, v in variables.items()}}
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
    values = {qsp.PRINCIPAL_NAME.name: "Admin/jane", qsp.PRINCIPAL_TYPE.name: kind, qsp.IDENTITY_REGION.name: region}
    principal = template_dict["Resources"][names.DASHBOARD]["Properties"]["Permissions"][0]["Principal"]
    assert _resolve_sub(template_dict, principal, values) == expected


def test_enabled_condition_follows_the_principal(template_dict):
    assert not cfn.condition_true(template_dict, qsp.ENABLED, {qsp.PRINCIPAL_NAME.name: ""})
    assert cfn.condition_true(template_dict, qsp.ENABLED, {qsp.PRINCIPAL_NAME.name: "jane"})
    spice = {qsp.PRINCIPAL_NAME.name: "jane", qsp.IMPORT_MODE.name: "SPICE"}
    assert cfn.condition_true(template_dict, qsp.SPICE_ENABLED, spice)
    assert not cfn.condition_true(template_dict, qsp.SPICE_ENABLED, {**spice, qsp.PRINCIPAL_NAME.name: ""})
    assert not cfn.condition_true(template_dict, qsp.SPICE_ENABLED, {**spice, qsp.IMPORT_MODE.name: "DIRECT_QUERY"})


REFRESH_OF = {
    names.PATCH_DATASET: names.PATCH_DATASET_REFRESH,
    names.BY_TAG_DATASET: names.BY_TAG_DATASET_REFRESH,
    names.SLA_DATASET: names.SLA_DATASET_REFRESH,
    names.TREND_DATASET: names.TREND_DATASET_REFRESH,
    names.CVES_DATASET: names.CVES_DATASET_REFRESH,
}


def test_daily_refresh_of_each_dataset(template_dict):
    resources = template_dict["Resources"]
    assert {spec.logical_id: spec.refresh_id for spec in datasets.DATASETS} == REFRESH_OF
    schedules = lib.resources_of_type(template_dict, "AWS::QuickSight::RefreshSchedule")
    assert sorted(schedules) == sorted(REFRESH_OF.values())
    for dataset, refresh in REFRESH_OF.items():
        spec = next(spec for spec in datasets.DATASETS if spec.logical_id == dataset)
        assert resources[refresh]["Condition"] == qsp.SPICE_ENABLED
        props = resources[refresh]["Properties"]
        assert resources[refresh]["DependsOn"] == [spec.logical_id]
        assert props["DataSetId"] == resources[spec.logical_id]["Properties"]["DataSetId"]
        frequency = props["Schedule"]["ScheduleFrequency"]
        assert frequency["Interval"] == "DAILY"
        assert frequency["TimeOfTheDay"] == {"Ref": qsp.REFRESH_TIME.name}
        assert props["Schedule"]["RefreshType"] == "FULL_REFRESH"


def test_datasets_do_not_wait_for_spice_ingestion(template_dict):
    for spec in datasets.DATASETS:
        props = template_dict["Resources"][spec.logical_id]["Properties"]
        assert props["ImportMode"] == {"Ref": qsp.IMPORT_MODE.name}
        assert props["IngestionWaitPolicy"] == {
            "Fn::If": [qsp.SPICE_ENABLED, {"WaitForSpiceIngestion": False}, {"Ref": "AWS::NoValue"}]
        }
        assert props["Name"] == spec.name


def test_datasets_wait_for_the_athena_views(template_dict):
    """`views` is a required input (test_every_input_is_required): SPICE ingests when a dataset is created."""
    for spec in datasets.DATASETS:
        assert template_dict["Resources"][spec.logical_id]["DependsOn"] == [ATHENA_VIEWS]


def test_output_is_deterministic(template_json):
    again, _ = lib.build_template()
    assert again.to_json() == template_json
