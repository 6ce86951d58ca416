"""QuickSightRole (least privilege, scoped resources, trust) and the principal's QuickSight permissions."""

from __future__ import annotations

import json

import botocore.session

from patchcompliance.conditions import HAS_KMS
from patchcompliance.parameters import KMS
from patchcompliance.quicksight import names
from patchcompliance.quicksight import parameters as qsp
from tests.support import cfn
from tests.support import quicksight as lib


def _role(template: dict) -> dict:
    return template["Resources"][names.QUICKSIGHT_ROLE]


def _statements(role: dict) -> list[dict]:
    out = []
    for policy in role["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        out += policy["PolicyDocument"]["Statement"]
    return out


def test_trust_policy_is_the_documented_one(template_dict):
    """QuickSight's user guide gives the trust policy of such a role with no condition keys."""
    role = _role(template_dict)
    assert role["Condition"] == qsp.ENABLED
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": ["quicksight.amazonaws.com"]},
        "Action": ["sts:AssumeRole"],
    }


def test_no_wildcard_actions_or_resources(template_dict):
    for statement in _statements(_role(template_dict)):
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            service, name = action.split(":")
            assert service in {"athena", "glue", "s3", "kms"}, action
            assert "*" not in name and "?" not in name, action
        assert statement["Resource"], statement
        for resource in statement["Resource"]:
            assert resource != "*", statement


def _resource_text(resource) -> str:
    """A resource entry as text: Sub templates as written, GetAtt/Ref as ${X.Arn}/${X}."""
    if "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        text, variables = (sub, {}) if isinstance(sub, str) else sub
        for name, value in variables.items():
            text = text.replace("${" + name + "}", _resource_text(value))
        return text
    if "Fn::GetAtt" in resource:
        return "${" + ".".join(resource["Fn::GetAtt"]) + "}"
    return "${" + resource["Ref"] + "}"


def test_resources_are_scoped_to_the_project(template_dict):
    allowed = {}
    for statement in _statements(_role(template_dict)):
        for action in statement["Action"]:
            allowed.setdefault(action, set()).update(_resource_text(r) for r in statement["Resource"])
    here = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}"
    workgroup = here.replace("{service}", "athena") + ":workgroup/${AthenaWorkGroup}"
    for action in (
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
        "athena:GetWorkGroup",
    ):
        assert allowed[action] == {workgroup}, action
    glue = here.replace("{service}", "glue")
    assert allowed["glue:GetTable"] == {
        f"{glue}:catalog",
        f"{glue}:database/${{AthenaDatabase}}",
        f"{glue}:table/${{AthenaDatabase}}/*",
    }
    assert allowed["s3:GetObject"] == {
        "${AthenaBucket.Arn}/results/*",
        "${ConfigBucket.Arn}/config-export/*",  # the views read the export and the history, not AWSLogs/
        "${ConfigBucket.Arn}/history/*",
        "${DataSyncBucket.Arn}/*",
    }
    assert allowed["s3:PutObject"] == {"${AthenaBucket.Arn}/results/*"}, "writes only query results"
    assert allowed["s3:ListBucket"] == {"${AthenaBucket.Arn}", "${ConfigBucket.Arn}", "${DataSyncBucket.Arn}"}
    assert allowed["kms:Decrypt"] == allowed["kms:GenerateDataKey"] == {"${KmsKeyArn}"}


def test_key_policy_is_on_the_passed_key_and_follows_has_kms_key(built):
    """The key parameter is a required input: the policy names it and exists exactly when a key ARN is given."""
    template, _ = built
    data = json.loads(template.to_json())
    (kms_policy,) = [p for p in _role(data)["Properties"]["Policies"] if "Fn::If" in p]
    condition, policy, _ = kms_policy["Fn::If"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == [{"Ref": template.parameters[KMS.name].title}]
    assert not cfn.condition_true(data, condition, {KMS.name: ""})
    assert cfn.condition_true(data, condition, {KMS.name: "arn:aws:kms:us-east-1:123456789012:key/abc-123"})


def test_kms_policy_only_with_a_key(template_dict):
    (kms_policy,) = [p for p in _role(template_dict)["Properties"]["Policies"] if "Fn::If" in p]
    condition, policy, otherwise = kms_policy["Fn::If"]
    assert condition == HAS_KMS and otherwise == {"Ref": "AWS::NoValue"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
    }


def test_data_source_runs_as_the_role_in_the_workgroup(template_dict):
    props = template_dict["Resources"][names.DATA_SOURCE]["Properties"]
    assert props["Type"] == "ATHENA"
    assert props["DataSourceParameters"]["AthenaParameters"] == {
        "RoleArn": {"Fn::GetAtt": [names.QUICKSIGHT_ROLE, "Arn"]},
        "WorkGroup": {"Ref": "AthenaWorkGroup"},
    }


def test_principal_owns_every_quicksight_resource(template_dict):
    expected = {
        "AWS::QuickSight::DataSource": names.DATA_SOURCE_ACTIONS,
        "AWS::QuickSight::DataSet": names.DATASET_ACTIONS,
        "AWS::QuickSight::Analysis": names.ANALYSIS_ACTIONS,
        "AWS::QuickSight::Dashboard": names.DASHBOARD_ACTIONS,
    }
    principal = qsp.principal_arn().to_dict()
    for name, resource in lib.resources_of_type(template_dict, "AWS::QuickSight::").items():
        if resource["Type"] == "AWS::QuickSight::RefreshSchedule":
            assert "Permissions" not in resource["Properties"]
            continue
        (permission,) = resource["Properties"]["Permissions"]
        assert permission["Principal"] == principal, name
        assert permission["Actions"] == list(expected[resource["Type"]]), name
        # The QuickSight API takes at most 20 actions per permission entry (the CloudFormation schema allows 30).
        assert len(set(permission["Actions"])) == len(permission["Actions"]) <= names.MAX_ACTIONS_PER_PERMISSION
    dashboard_actions = set(names.DASHBOARD_ACTIONS)
    assert {"quicksight:DescribeDashboard", "quicksight:QueryDashboard"} <= dashboard_actions  # view
    assert {"quicksight:UpdateDashboardPermissions", "quicksight:DeleteDashboard"} <= dashboard_actions  # owner


REFRESH_ACTIONS = {
    "quicksight:CreateRefreshSchedule",
    "quicksight:UpdateRefreshSchedule",
    "quicksight:DeleteRefreshSchedule",
    "quicksight:DescribeRefreshSchedule",
    "quicksight:ListRefreshSchedules",
    "quicksight:PutDataSetRefreshProperties",
    "quicksight:DescribeDataSetRefreshProperties",
    "quicksight:DeleteDataSetRefreshProperties",
}


def test_dataset_owner_manages_refresh_schedules_and_properties():
    assert REFRESH_ACTIONS <= set(names.DATASET_ACTIONS)


def test_action_limit_is_the_quicksight_api_one():
    """ResourcePermission.Actions in the QuickSight API model (botocore): at most 20 entries."""
    model = botocore.session.get_session().get_service_model("quicksight")
    actions = model.shape_for("ResourcePermission").members["Actions"]
    assert actions.metadata["max"] == names.MAX_ACTIONS_PER_PERMISSION
    action_sets = (names.DATA_SOURCE_ACTIONS, names.DATASET_ACTIONS, names.ANALYSIS_ACTIONS, names.DASHBOARD_ACTIONS)
    assert all(len(actions) <= names.MAX_ACTIONS_PER_PERMISSION for actions in action_sets)
    for action in {a.split(":", 1)[1] for a in REFRESH_ACTIONS}:  # each is a real QuickSight API operation
        assert action in model.operation_names, action
