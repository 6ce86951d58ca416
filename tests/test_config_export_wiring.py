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
from patchcompliance.render import view_sql
from tests.support import cfn

STACK_AGGREGATOR_ARN = "arn:aws:config:us-east-1:123456789012:config-aggregator/config-aggregator-abcd1234"
CASES = [  # (CreateOrganizationAggregator, ConfigAggregatorName)
    ("true", ""),
    ("true", "aws-controltower-GuardRailsComplianceAggregator"),
    ("false", "org_aggregator-2"),
]


@pytest.fixture(scope="module")
def central() -> dict:
    return json.loads(build_central().to_json())


def _values(create: str, name: str) -> dict:
    return {"CreateOrganizationAggregator": create, "ConfigAggregatorName": name}


@pytest.mark.parametrize("create, name", CASES)
def test_export_reads_the_named_aggregator_or_the_stacks(central, create, name):
    values = _values(create, name)
    env = central["Resources"][CONFIG_EXPORT_FUNCTION]["Properties"]["Environment"]["Variables"]
    got = cfn.resolve(central, env["AGGREGATOR_NAME"], values)
    aggregator = central["Resources"][c.CONFIG_AGGREGATOR]
    if name:
        assert got == name
    else:
        assert cfn.condition_true(central, aggregator["Condition"], values)
        assert got == cfn.resolve(central, aggregator["Properties"]["ConfigurationAggregatorName"], values)
    assert cfn.resolve(central, env["BUCKET"], values, {c.CONFIG_BUCKET: "central-config"}) == "central-config"


@pytest.mark.parametrize("create, name, accepted", [(*case, True) for case in CASES] + [("false", "", False)])
def test_rule_refuses_a_stack_without_an_aggregator(central, create, name, accepted):
    (assertion,) = central["Rules"]["ConfigExportHasAggregator"]["Assertions"]
    assert cfn.evaluate_condition(central, assertion["Assert"], _values(create, name)) is accepted
    assert "CreateOrganizationAggregator" in assertion["AssertDescription"]


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
    assert {v for v, t in readers.items() if "config_export_latest" in t} == {"configmic", "configpc", "instance_tags"}
