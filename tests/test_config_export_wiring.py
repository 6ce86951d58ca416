"""The Config export as the central template wires it (built in-process, evaluated as deployed): which aggregator
it reads, the Rule that refuses a stack without one, its IAM scope, its schedule, and the views reading its table."""

from __future__ import annotations

import json
import re

import botocore.session
import pytest
import sqlglot
from sqlglot import exp

from patchcompliance import constants as c
from patchcompliance.central import build_central
from patchcompliance.config_export import (
    CONFIG_EXPORT_FUNCTION,
    CONFIG_EXPORT_ROLE,
    CONFIG_EXPORT_SCHEDULE,
    CONFIG_EXPORT_TABLE,
    EXPORT_TABLE_NAME,
)
from patchcompliance.member import build_member
from patchcompliance.render import view_sql
from tests.support import cfn

STACK_AGGREGATOR_ARN = "arn:aws:config:us-east-1:123456789012:config-aggregator/config-aggregator-abcd1234"
CASES = [  # (CreateConfigAggregator, ConfigAggregatorName)
    ("ORGANIZATION", ""),
    ("ACCOUNTS", ""),
    ("ORGANIZATION", "aws-controltower-GuardRailsComplianceAggregator"),
    ("NONE", "org_aggregator-2"),
]
ACCOUNTS = "111122223333,444455556666"


@pytest.fixture(scope="module")
def central() -> dict:
    return json.loads(build_central().to_json())


@pytest.fixture(scope="module")
def member_template() -> dict:
    return json.loads(build_member().to_json())


def _values(create: str, name: str) -> dict:
    return {"CreateConfigAggregator": create, "ConfigAggregatorName": name, "AccountIds": ACCOUNTS}


@pytest.mark.parametrize("create, name", CASES)
def test_export_reads_the_named_aggregator_or_the_stacks(central, create, name):
    values = _values(create, name)
    env = central["Resources"][CONFIG_EXPORT_FUNCTION]["Properties"]["Environment"]["Variables"]
    got = cfn.resolve(central, env["AGGREGATOR_NAME"], values, {c.CONFIG_AGGREGATOR: "ref-of-stack-aggregator"})
    aggregator = central["Resources"][c.CONFIG_AGGREGATOR]
    if name:
        assert got == name
    else:
        assert cfn.condition_true(central, aggregator["Condition"], values)
        assert got == "ref-of-stack-aggregator"  # Ref of an aggregator is its name
        expected = {"ORGANIZATION": "stack-organization", "ACCOUNTS": "stack-accounts"}[create]
        values = {**values, "AWS::StackName": "stack"}
        assert cfn.resolve(central, aggregator["Properties"]["ConfigurationAggregatorName"], values) == expected
    assert cfn.resolve(central, env["BUCKET"], values, {c.CONFIG_BUCKET: "central-config"}) == "central-config"


@pytest.mark.parametrize("create", ["ORGANIZATION", "ACCOUNTS", "NONE"])
def test_aggregator_source_follows_the_parameter(central, create):
    values = _values(create, "" if create != "NONE" else "x")
    aggregator = central["Resources"][c.CONFIG_AGGREGATOR]
    role = central["Resources"][c.CONFIG_AGGREGATOR_ROLE]
    assert cfn.condition_true(central, aggregator["Condition"], values) is (create != "NONE")
    assert cfn.condition_true(central, role["Condition"], values) is (create == "ORGANIZATION")
    if create == "NONE":
        return
    props = cfn.resolve(central, aggregator["Properties"], values, {c.CONFIG_AGGREGATOR_ROLE + ".Arn": "role"})
    sources = {k for k in ("OrganizationAggregationSource", "AccountAggregationSources") if k in props}
    if create == "ORGANIZATION":
        assert sources == {"OrganizationAggregationSource"}
    else:
        assert sources == {"AccountAggregationSources"}
        assert props["AccountAggregationSources"] == [{"AccountIds": ACCOUNTS.split(","), "AllAwsRegions": True}]


@pytest.mark.parametrize("create, authorised", [("ACCOUNTS", True), ("ORGANIZATION", False), ("NONE", False)])
def test_members_authorise_only_an_account_aggregator(central, member_template, create, authorised):
    """The StackSet passes the central account to members exactly when the aggregator is account-based; a member
    authorises it unless it is the central account itself."""
    values = {**_values(create, "x"), "AWS::AccountId": "123456789012"}
    stackset = central["Resources"][c.STACKSET]["Properties"]
    (passed,) = [p["ParameterValue"] for p in stackset["Parameters"] if p["ParameterKey"] == "AggregatorAccountId"]
    central_account = cfn.resolve(central, passed, values)
    assert central_account == ("123456789012" if authorised else "")
    auth = member_template["Resources"][c.CONFIG_AGGREGATION_AUTHORIZATION]
    for account, expected in (("210987654321", authorised), ("123456789012", False)):
        member_values = {"AggregatorAccountId": central_account, "AWS::AccountId": account}
        assert cfn.condition_true(member_template, auth["Condition"], member_values) is expected


@pytest.mark.parametrize("create, name", CASES)
def test_select_is_scoped_to_the_aggregator(central, create, name):
    values = _values(create, name)
    role = central["Resources"][CONFIG_EXPORT_ROLE]["Properties"]
    policies = [p for p in role["Policies"] if "Fn::If" not in p]  # the KMS policy is conditional
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    (select,) = [s for s in statements if s["Action"] == ["config:SelectAggregateResourceConfig"]]
    resources = cfn.resolve(
        central, select["Resource"], values, {f"{c.CONFIG_AGGREGATOR}.ConfigurationAggregatorArn": STACK_AGGREGATOR_ARN}
    )
    if name:
        assert resources == ["arn:aws:config:us-east-1:123456789012:config-aggregator/*"]
    else:
        assert resources == [STACK_AGGREGATOR_ARN]


def test_parameters_follow_the_service_rules(central):
    params = central["Parameters"]
    name = re.compile(params["ConfigAggregatorName"]["AllowedPattern"])
    model = botocore.session.get_session().get_service_model("config").shape_for("ConfigurationAggregatorName")
    service = re.compile(rf"^(?:{model.metadata['pattern']})$")
    for candidate in ("aws-controltower-ConfigAggregatorForOrganizations", "a", "a_b-C9", "x" * 256):
        assert name.match(candidate) and service.match(candidate), candidate
    for candidate in ("bad name", "agg/1", "x" * 257):
        assert not name.match(candidate), candidate
    assert name.match("")  # empty: the stack's aggregator
    schedule = params["ConfigExportSchedule"]
    assert schedule["Default"] == "rate(1 hour)" and re.match(schedule["AllowedPattern"], schedule["Default"])
    assert not re.match(schedule["AllowedPattern"], "rate(1 hours)")
    rule = central["Resources"][CONFIG_EXPORT_SCHEDULE]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "ConfigExportSchedule"}


def test_views_wait_for_the_export_table_and_only_the_base_view_reads_it(central):
    assert CONFIG_EXPORT_TABLE in central["Resources"][c.ATHENA_VIEWS]["DependsOn"]
    assert central["Resources"][CONFIG_EXPORT_TABLE]["Properties"]["TableInput"]["Name"] == EXPORT_TABLE_NAME
    readers = {}
    for view in c.VIEW_ORDER:
        tables = {t.name for t in sqlglot.parse_one(view_sql(view), read="trino").find_all(exp.Table)}
        readers[view] = tables
        assert "config_snapshot" not in tables and "config_snapshot$partitions" not in tables, view
    assert {v for v, t in readers.items() if EXPORT_TABLE_NAME in t} == {"config_export_latest"}
    readers_of_base = {v for v, t in readers.items() if "config_export_latest" in t}
    assert readers_of_base == {"configmic", "configpc", "instance_tags", "coverage"}
