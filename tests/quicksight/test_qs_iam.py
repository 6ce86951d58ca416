"""QuickSightRole (least privilege, scoped resources, trust) and the principal's QuickSight permissions."""

from __future__ import annotations

import qs_testlib as lib

from patchcompliance import quicksight as qsmod


def _role(template: dict) -> dict:
    return template["Resources"][qsmod.QUICKSIGHT_ROLE]


def _statements(role: dict) -> list[dict]:
    out = []
    for policy in role["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        out += policy["PolicyDocument"]["Statement"]
    return out


def test_trust_policy_quicksight_from_this_account_only(template_dict):
    role = _role(template_dict)
    assert role["Condition"] == lib.ENABLED
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": ["quicksight.amazonaws.com"]}
    assert statement["Action"] == ["sts:AssumeRole"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


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
        "${ConfigBucket.Arn}/AWSLogs/*",
        "${DataSyncBucket.Arn}/*",
    }
    assert allowed["s3:PutObject"] == {"${AthenaBucket.Arn}/results/*"}, "writes only query results"
    assert allowed["s3:ListBucket"] == {"${AthenaBucket.Arn}", "${ConfigBucket.Arn}", "${DataSyncBucket.Arn}"}
    assert allowed["kms:Decrypt"] == allowed["kms:GenerateDataKey"] == {"${KmsKeyArn}"}


def test_kms_permissions_only_for_a_key_that_is_passed():
    """Dependencies are passed explicitly: a KmsKeyArn parameter the caller does not hand over is not used."""
    for template, _ in (lib.build_template(pass_kms=False), lib.build_template(kms=False)):
        role = template.resources[qsmod.QUICKSIGHT_ROLE].to_dict()
        assert [p["PolicyName"] for p in role["Properties"]["Policies"]] == ["athena-views"]
    template, _ = lib.build_template(kms=False)
    role = template.resources[qsmod.QUICKSIGHT_ROLE].to_dict()
    assert [p["PolicyName"] for p in role["Properties"]["Policies"]] == ["athena-views"]


def test_kms_policy_only_with_a_key(template_dict):
    (kms_policy,) = [p for p in _role(template_dict)["Properties"]["Policies"] if "Fn::If" in p]
    condition, policy, otherwise = kms_policy["Fn::If"]
    assert condition == lib.HAS_KMS and otherwise == {"Ref": "AWS::NoValue"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
    }


def test_data_source_runs_as_the_role_in_the_workgroup(template_dict):
    props = template_dict["Resources"][qsmod.DATA_SOURCE]["Properties"]
    assert props["Type"] == "ATHENA"
    assert props["DataSourceParameters"]["AthenaParameters"] == {
        "RoleArn": {"Fn::GetAtt": [qsmod.QUICKSIGHT_ROLE, "Arn"]},
        "WorkGroup": {"Ref": "AthenaWorkGroup"},
    }


def test_principal_owns_every_quicksight_resource(template_dict):
    expected = {
        "AWS::QuickSight::DataSource": qsmod.DATA_SOURCE_ACTIONS,
        "AWS::QuickSight::DataSet": qsmod.DATASET_ACTIONS,
        "AWS::QuickSight::Analysis": qsmod.ANALYSIS_ACTIONS,
        "AWS::QuickSight::Dashboard": qsmod.DASHBOARD_ACTIONS,
    }
    principal = qsmod.principal_arn().to_dict()
    for name, resource in lib.resources_of_type(template_dict, "AWS::QuickSight::").items():
        if resource["Type"] == "AWS::QuickSight::RefreshSchedule":
            assert "Permissions" not in resource["Properties"]
            continue
        (permission,) = resource["Properties"]["Permissions"]
        assert permission["Principal"] == principal, name
        assert permission["Actions"] == list(expected[resource["Type"]]), name
        assert len(set(permission["Actions"])) == len(permission["Actions"]) <= 30
    dashboard_actions = set(qsmod.DASHBOARD_ACTIONS)
    assert {"quicksight:DescribeDashboard", "quicksight:QueryDashboard"} <= dashboard_actions  # view
    assert {"quicksight:UpdateDashboardPermissions", "quicksight:DeleteDashboard"} <= dashboard_actions  # owner
