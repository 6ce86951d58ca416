"""How the policy views are deployed: the views custom resource and the named queries carry each view in dependency
order, the policy parameters reach the SQL through Fn::Sub, and their patterns keep every value a literal.

The central template is built in-process (the committed one may predate these views).
"""

from __future__ import annotations

import json
import re

import pytest
import sqlglot
from sqlglot import exp

from patchcompliance import athena, constants, parameters
from patchcompliance.central import build_central
from patchcompliance.render import view_sql
from tests.support import cfn, policy
from tests.support.templates import ROOT

POLICY_GROUP = "Compliance policy"
HISTORY = (constants.COMPLIANCE_HISTORY_TABLE_NAME, constants.PATCH_HISTORY_TABLE_NAME)
SPECS = {spec.name: spec for spec in parameters.CENTRAL_SPECS}


@pytest.fixture(scope="module")
def central() -> dict:
    return json.loads(build_central().to_json())


def tables_read(view: str) -> set[str]:
    return {t.name for t in sqlglot.parse_one(view_sql(view), read="trino").find_all(exp.Table)}


# ---------------------------------------------------------------- order and named queries
def test_views_are_created_after_the_views_they_read():
    for index, view in enumerate(constants.VIEW_ORDER):
        read = {t for t in tables_read(view) if t in constants.VIEW_ORDER}
        assert read <= set(constants.VIEW_ORDER[:index]), f"{view} reads {read - set(constants.VIEW_ORDER[:index])}"
    assert {"compliance_settings", "instance_compliance", "patch"} <= tables_read("patch_age")


def test_custom_resource_and_named_queries_carry_the_deployed_sql(central):
    resources = central["Resources"]
    views = resources[constants.ATHENA_VIEWS]["Properties"]["Views"]
    assert [v["Name"] for v in views] == list(constants.VIEW_ORDER)
    defaults = {name: p.get("Default", "") for name, p in central["Parameters"].items()}
    for view in views:
        name = view["Name"]
        deployed = athena.deployed_view_sql(name, defaults)
        assert cfn.resolve(central, view["Sql"], defaults) == deployed, name
        query = resources[constants.NAMED_QUERY_IDS[name]]
        assert query["Type"] == "AWS::Athena::NamedQuery" and query["Properties"]["Name"] == name
        statement = cfn.resolve(central, query["Properties"]["QueryString"], defaults)
        assert statement == f'CREATE OR REPLACE VIEW "{name}" AS\n{deployed}\n', name
        if athena.view_placeholders(name):
            text, variables = view["Sql"]["Fn::Sub"]
            assert text == view_sql(name) and set(variables) <= set(athena.SUB_CONSTANTS)
            assert set(athena.view_placeholders(name)) - set(variables) <= set(central["Parameters"])
        else:
            assert view["Sql"] == view_sql(name)
    assert athena.view_placeholders("compliance_settings") and athena.view_placeholders("compliance_trend")
    assert not athena.view_placeholders("instance_compliance")  # it reads the policy from compliance_settings


def test_other_parameter_values_reach_the_settings_row(central):
    values = {"StaleAfterDays": "12", "ExemptionTagKey": "ops/patch exempt", "SlaLowDays": "45", "TrendDays": "30"}
    sql = cfn.resolve(central, central["Resources"][constants.ATHENA_VIEWS]["Properties"]["Views"][
        constants.VIEW_ORDER.index("compliance_settings")]["Sql"], values)  # fmt: skip
    row = sqlglot.parse_one(sql, read="trino")
    literals = {p.alias: p.this for p in row.expressions}
    assert literals["exemption_tag_key"].this == "ops/patch exempt"
    assert literals["exemption_until_tag_key"].this == constants.EXEMPT_UNTIL_TAG_KEY
    assert literals["stale_after_days"].this.this == "12" and literals["trend_days"].this.this == "30"


def test_views_reading_history_wait_for_its_tables(central):
    """The history tables the policy views read are declared, and the views custom resource waits for them."""
    resources = central["Resources"]
    tables = {
        r["Properties"]["TableInput"]["Name"]: lid for lid, r in resources.items() if r["Type"] == "AWS::Glue::Table"
    }
    read = {t.split("$")[0] for v in ("patch_age", "compliance_trend") for t in tables_read(v)}
    assert set(HISTORY) <= read
    assert {tables[t] for t in HISTORY} <= set(resources[constants.ATHENA_VIEWS].get("DependsOn", []))


# ---------------------------------------------------------------- parameters
def test_policy_parameters_and_defaults():
    specs = [s for s in parameters.CENTRAL_SPECS if s.group == POLICY_GROUP]
    assert [s.name for s in specs] == [
        "StaleAfterDays", "SlaCriticalDays", "SlaImportantDays", "SlaMediumDays", "SlaLowDays", "SlaOtherDays",
        "TrendDays", "ExemptionTagKey",
    ]  # fmt: skip
    assert policy.parameter_defaults() == {
        "StaleAfterDays": "7", "ExemptionTagKey": "PatchExempt", "SlaCriticalDays": "7", "SlaImportantDays": "14",
        "SlaMediumDays": "30", "SlaLowDays": "60", "SlaOtherDays": "90", "TrendDays": "90",
    }  # fmt: skip
    assert all(s.type == "String" and s.pattern and s.constraint for s in specs)  # AllowedPattern: String only
    placeholders = set(athena.view_placeholders("compliance_settings")) - set(athena.SUB_CONSTANTS)
    assert placeholders == {s.name for s in specs}


@pytest.mark.parametrize("name", ["StaleAfterDays", "SlaCriticalDays", "TrendDays"])
def test_day_patterns_take_whole_numbers_only(name):
    pattern = re.compile(SPECS[name].pattern)
    high = 365 if name == "StaleAfterDays" else 3650
    assert all(pattern.match(str(n)) for n in range(1, high + 1))
    for bad in ("0", str(high + 1), "07", "7.5", "1e3", " 7", "7 ", "-7", "", "7'", "${x}"):
        assert not pattern.match(bad), bad


def test_tag_key_pattern_keeps_the_key_a_literal():
    pattern = re.compile(SPECS["ExemptionTagKey"].pattern)
    for good in ("PatchExempt", "ops/patch exempt", "a+b=c@d:e.f_g-h", "x" * 128, "awsome", "Patch aws:x"):
        assert pattern.match(good), good
        sql = athena.deployed_view_sql("compliance_settings", {**policy.parameter_defaults(), "ExemptionTagKey": good})
        literals = {p.alias: p.this for p in sqlglot.parse_one(sql, read="trino").expressions}
        assert literals["exemption_tag_key"] == exp.Literal.string(good)
    for bad in ("", "x" * 129, "aws:x", "AWS:x", "Aws:x", "it's", 'say "x"', "a\\b", "${AWS::Region}", "{x}", "a$b",
                "tab\tkey", "line\nbreak", "é"):  # fmt: skip
        assert not pattern.match(bad), bad


# ---------------------------------------------------------------- documentation
def test_reference_lists_the_compliance_states_in_the_order_of_the_sql():
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    section = text.split("### `compliance_state`", 1)[1].split("\n#", 1)[0]
    documented = re.findall(r"^\d+\. `([A-Z_]+)`", section, re.M)
    case = view_sql("instance_compliance").split("END AS compliance_state")[0].rsplit("CASE", 1)[1]
    assert documented == list(dict.fromkeys(re.findall(r"(?:THEN|ELSE) '([A-Z_]+)'", case)))
