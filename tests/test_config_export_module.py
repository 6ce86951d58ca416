"""patchcompliance.config_export on its own: a standalone template with the parameters and stand-ins it needs,
linted with cfn-lint, and its IAM reviewed (no wildcard action, no unscoped resource, self-invoke kept apart)."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint
from troposphere import AWS_ACCOUNT_ID, Parameter, Ref, Template
from troposphere.glue import Database, DatabaseInput
from troposphere.s3 import Bucket

from patchcompliance import config_export as ce
from patchcompliance import constants as c
from patchcompliance.render import function_source, to_yaml

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "ap-northeast-3", "eu-south-1"]


def standalone(**kwargs) -> Template:
    template = Template(Description="Config export, standalone")
    template.set_version()
    params = {
        "LogRetentionDays": Parameter(
            "LogRetentionDays", Type="Number", Default=30, AllowedValues=[7, 14, 30, 90, 365]
        ),
        "ConfigAggregatorName": Parameter("ConfigAggregatorName", Type="String", Default="org-aggregator"),
        "ConfigExportSchedule": Parameter("ConfigExportSchedule", Type="String", Default="rate(1 day)"),
        "KmsKeyArn": Parameter("KmsKeyArn", Type="String", Default=""),
        "DatabaseName": Parameter("DatabaseName", Type="String", Default="patch_compliance"),
    }
    for param in params.values():
        template.add_parameter(param)
    bucket = template.add_resource(Bucket("ConfigBucket", DeletionPolicy="Retain", UpdateReplacePolicy="Retain"))
    database = template.add_resource(
        Database(
            "AthenaDatabase",
            CatalogId=Ref(AWS_ACCOUNT_ID),
            DatabaseInput=DatabaseInput(Name=Ref(params["DatabaseName"])),
        )
    )
    ce.add_config_export(
        template,
        bucket=bucket,
        database=database,
        aggregator_name=params["ConfigAggregatorName"],
        schedule=params["ConfigExportSchedule"],
        log_retention=params["LogRetentionDays"],
        kms_key=params["KmsKeyArn"],
        **kwargs,
    )
    return template


@pytest.fixture(scope="module")
def built() -> tuple[str, dict]:
    text = to_yaml(standalone())
    return text, json.loads(standalone().to_json())


def resources_of(template: dict, type_: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def statements(template: dict):
    """(policy owner, statement) of every identity policy: role inline policies (both Fn::If branches) and
    AWS::IAM::Policy resources."""
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            if "Fn::If" in policy:
                policy = policy["Fn::If"][1]
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for name, policy in resources_of(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_cfn_lint_reports_nothing(built):
    text, _ = built
    matches = lint(text, config=ManualArgs(regions=REGIONS, include_checks=["I"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_iam_has_no_wildcard_action_and_no_unscoped_resource(built):
    _, template = built
    found = list(statements(template))
    assert found
    for owner, statement in found:
        assert statement["Effect"] == "Allow", owner
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{owner}: wildcard action {action}"
        for resource in as_list(statement["Resource"]):
            assert resource != "*", f"{owner}: {statement['Action']} on *"


def test_grants_are_the_ones_the_function_needs(built):
    _, template = built
    grants = {}
    for owner, statement in statements(template):
        for action in as_list(statement["Action"]):
            grants.setdefault(action, []).extend((owner, r) for r in as_list(statement["Resource"]))
    assert set(grants) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "config:SelectAggregateResourceConfig",
        "s3:PutObject",
        "s3:GetObject",
        "glue:CreatePartition",
        "sqs:SendMessage",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "lambda:InvokeFunction",
    }
    [(_, aggregator)] = grants["config:SelectAggregateResourceConfig"]
    assert aggregator["Fn::Sub"].endswith(":config-aggregator/*")  # this account and region only
    for action in ("s3:PutObject", "s3:GetObject"):
        [(_, objects)] = grants[action]
        assert objects["Fn::Sub"][0] == f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/{ce.EXPORT_PREFIX}/*"
    table_arn = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${Database}/${Table}"
    table_vars = {"Database": {"Ref": "AthenaDatabase"}, "Table": {"Ref": ce.CONFIG_EXPORT_TABLE}}
    assert ("ConfigExportRole", {"Fn::Sub": [table_arn, table_vars]}) in grants["glue:CreatePartition"]
    # invoking itself: only through the separate policy, on its own ARN (a role statement would be a cycle)
    assert grants["lambda:InvokeFunction"] == [
        (ce.CONFIG_EXPORT_INVOKE_POLICY, {"Fn::GetAtt": [ce.CONFIG_EXPORT_FUNCTION, "Arn"]})
    ]
    policy = template["Resources"][ce.CONFIG_EXPORT_INVOKE_POLICY]["Properties"]
    assert policy["Roles"] == [{"Ref": ce.CONFIG_EXPORT_ROLE}]


def test_known_aggregator_arn_narrows_the_grant():
    template = json.loads(
        standalone(aggregator_arn="arn:aws:config:eu-west-1:123456789012:config-aggregator/x").to_json()
    )
    [aggregator] = [
        s["Resource"] for _, s in statements(template) if s["Action"] == ["config:SelectAggregateResourceConfig"]
    ]
    assert aggregator == ["arn:aws:config:eu-west-1:123456789012:config-aggregator/x"]


def test_function_table_schedule_and_dead_letter_queue_fit_together(built):
    _, template = built
    res = template["Resources"]
    fn = res[ce.CONFIG_EXPORT_FUNCTION]["Properties"]
    assert fn["Code"]["ZipFile"] == function_source(c.FUNCTION_DIRS[c.CONFIG_EXPORT_FUNCTION])
    assert fn["Runtime"] == "python3.13" and fn["Handler"] == "index.handler" and fn["Timeout"] == ce.TIMEOUT
    env = fn["Environment"]["Variables"]
    assert set(env) == {
        "AGGREGATOR_NAME",
        "BUCKET",
        "PREFIX",
        "GLUE_DATABASE",
        "EXPORT_TABLE",
        "STORAGE_DESCRIPTOR",
        "MAX_CONTINUATIONS",
    }
    assert env["PREFIX"] == ce.EXPORT_PREFIX and env["EXPORT_TABLE"] == {"Ref": ce.CONFIG_EXPORT_TABLE}
    assert env["AGGREGATOR_NAME"] == {"Ref": "ConfigAggregatorName"}
    assert json.loads(env["STORAGE_DESCRIPTOR"]) == ce.export_storage_descriptor()

    table = res[ce.CONFIG_EXPORT_TABLE]["Properties"]["TableInput"]
    sd = table["StorageDescriptor"]
    assert table["Name"] == ce.EXPORT_TABLE_NAME
    assert table["PartitionKeys"] == [{"Name": "export_id", "Type": "string"}]
    assert sd["Columns"] == ce.export_storage_descriptor()["Columns"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert sd["Location"] == {"Fn::Sub": ["s3://${Bucket}/config-export/", {"Bucket": {"Ref": "ConfigBucket"}}]}

    rule = res[ce.CONFIG_EXPORT_SCHEDULE]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "ConfigExportSchedule"}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [ce.CONFIG_EXPORT_FUNCTION, "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [ce.CONFIG_EXPORT_DLQ, "Arn"]}
    assert fn["DeadLetterConfig"]["TargetArn"] == {"Fn::GetAtt": [ce.CONFIG_EXPORT_DLQ, "Arn"]}
    permission = res[ce.CONFIG_EXPORT_SCHEDULE_PERMISSION]["Properties"]
    assert permission["SourceArn"] == {"Fn::GetAtt": [ce.CONFIG_EXPORT_SCHEDULE, "Arn"]}
    assert resources_of(template, "AWS::Lambda::EventInvokeConfig")
    assert ce.CONFIG_EXPORT_DLQ_POLICY in res


def test_columns_are_what_the_function_writes():
    """Every key the function writes is a column (the function's row builders, read from its source)."""
    source = function_source(c.FUNCTION_DIRS[c.CONFIG_EXPORT_FUNCTION])
    for name, _ in ce.EXPORT_COLUMNS:
        assert f'"{name}":' in source, name


def test_prefix_must_be_one_folder():
    with pytest.raises(ValueError, match="one non-empty folder"):
        standalone(prefix="a/b")


def test_building_leaves_the_function_list_alone():
    """Until constants.FUNCTION_DIRS lists the function, building must not add it there for good (the
    template tests compare that list with the functions of the committed templates)."""
    from patchcompliance import constants

    before = dict(constants.FUNCTION_DIRS)
    standalone()
    assert constants.FUNCTION_DIRS == before
