"""Names defined once, and every consumer tied to its definition: conditions, the Config key layout, tag keys
and Config rule names."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest
from troposphere import Template
from troposphere.s3 import Bucket

import patchcompliance
from patchcompliance import athena, conditions, config, parameters, ssm, stackset, storage
from patchcompliance import constants as c
from patchcompliance.central import build_central, central_specs
from patchcompliance.member import build_member
from patchcompliance.render import FUNCTIONS_DIR, SQL_DIR, to_yaml

PACKAGE = Path(patchcompliance.__file__).resolve().parent


# ---------------------------------------------------------------- conditions
def _referenced_conditions(node) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Condition" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::If":
                found.add(value[0])
            found |= _referenced_conditions(value)
    elif isinstance(node, list):
        for value in node:
            found |= _referenced_conditions(value)
    return found


def _with_parameters(specs) -> tuple[Template, dict]:
    template = Template()
    return template, parameters.add_parameters(template, specs)


def _central_builders():
    def buckets(t, p):
        storage.add_buckets(t, p)

    def workgroup(t, p):
        athena.add_workgroup(t, Bucket("Results"), p["KmsKeyArn"])

    def aggregator(t, p):
        config.add_aggregator(t, p)

    def stack_set(t, p):
        bucket_stand_ins = storage.add_buckets(Template(), p)
        stackset.add_stackset(t, member_body=to_yaml(build_member()), params=p, buckets=bucket_stand_ins, depends_on=[])

    return [buckets, workgroup, aggregator, stack_set]


def _member_builders():
    return [config.add_member_config, ssm.add_associations, ssm.add_resource_data_sync]


@pytest.mark.parametrize(
    ("specs", "builder"),
    [(central_specs(), b) for b in _central_builders()] + [(parameters.MEMBER_SPECS, b) for b in _member_builders()],
    ids=lambda v: getattr(v, "__name__", "specs"),
)
def test_each_builder_adds_the_conditions_it_uses(specs, builder):
    """A builder run on a template that holds only the parameters leaves no condition undefined."""
    template, params = _with_parameters(specs)
    builder(template, params)
    data = template.to_dict()
    used = _referenced_conditions(data.get("Resources", {})) | _referenced_conditions(data.get("Conditions", {}))
    assert used, "the builder uses no condition: the test would prove nothing"
    assert used <= set(data.get("Conditions", {})), used - set(data.get("Conditions", {}))


@pytest.mark.parametrize("build", [build_central, build_member], ids=["central", "member"])
def test_every_template_condition_is_a_defined_cond_with_the_same_expression(build):
    data = build().to_dict()
    defined = conditions.defined()
    for name, expression in data["Conditions"].items():
        assert name in defined, f"{name} is not defined in patchcompliance.conditions (or a Cond elsewhere)"
        assert json.loads(json.dumps(defined[name].expression().to_dict())) == expression, name


def test_a_condition_name_cannot_be_defined_twice():
    with pytest.raises(ValueError, match="already defined"):
        conditions.Cond("HasKmsKey", conditions.not_empty("Other"))


def test_use_adds_what_a_condition_requires_once():
    base = conditions.Cond("TestBase", conditions.not_empty("A"))
    derived = conditions.Cond("TestDerived", lambda: base.ref(), requires=(base,))
    template = Template()
    assert derived.use(template) == "TestDerived"
    derived.use(template)
    assert list(template.conditions) == ["TestBase", "TestDerived"]


# ---------------------------------------------------------------- AWS Config delivery key layout
SNAPSHOT_KEY = c.config_snapshot_key("111122223333", "eu-west-1", 2026, 3, 7, "20260307T041500Z", "0f1e2d3c")


def test_layout_is_the_documented_one():
    assert SNAPSHOT_KEY == (
        "AWSLogs/111122223333/Config/eu-west-1/2026/3/7/ConfigSnapshot/"
        "111122223333_Config_eu-west-1_ConfigSnapshot_20260307T041500Z_0f1e2d3c.json.gz"
    )


@pytest.mark.parametrize("prefix", ["", "org/"])
def test_partitioning_rule_pattern_matches_the_layout(central, prefix):
    pattern = central["Resources"][c.PARTITIONING_RULE]["Properties"]["EventPattern"]
    (wildcard,) = pattern["detail"]["object"]["key"]
    assert wildcard == {"wildcard": c.CONFIG_SNAPSHOT_WILDCARD}
    assert fnmatch.fnmatchcase(prefix + SNAPSHOT_KEY, c.CONFIG_SNAPSHOT_WILDCARD)
    history = SNAPSHOT_KEY.replace("ConfigSnapshot", "ConfigHistory")
    assert not fnmatch.fnmatchcase(history, c.CONFIG_SNAPSHOT_WILDCARD)


def test_partitioning_function_parses_the_layout():
    source = (FUNCTIONS_DIR / "partitioning" / "index.py").read_text(encoding="utf-8")
    namespace: dict = {}
    exec(compile(source, "partitioning", "exec"), namespace)  # module-level code only defines names
    pattern = next(v for v in namespace.values() if isinstance(v, re.Pattern) and "ConfigSnapshot" in v.pattern)
    match = pattern.match("org/" + SNAPSHOT_KEY)
    assert match and match["account"] == "111122223333" and match["region"] == "eu-west-1"
    assert (match["year"], match["month"], match["day"]) == ("2026", "3", "7")


def _resources_text(data: dict, logical_id: str) -> str:
    return json.dumps(data["Resources"][logical_id])


def test_delivery_consumers_use_the_account_prefix(central, member):
    # bucket policy: Config's prefix of any account (its condition says which); recorder role: its own account's
    assert f"/{c.config_account_prefix('*')}*" in _resources_text(central, c.CONFIG_BUCKET_POLICY)
    assert "AWSLogs/${AWS::AccountId}/Config/*" in _resources_text(member, c.CONFIG_RECORDER_ROLE)
    rules = central["Resources"][c.CONFIG_BUCKET]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r.get("Prefix") == c.CONFIG_LOGS_PREFIX for r in rules)
    assert SNAPSHOT_KEY.startswith(c.config_account_prefix("111122223333"))


# ---------------------------------------------------------------- tag keys and rule names
def test_tagging_function_writes_exactly_the_keys_the_role_allows(member):
    source = (FUNCTIONS_DIR / "ec2_tagging" / "index.py").read_text(encoding="utf-8")
    keys = re.search(r"^KEYS = (\(.*?\))$", source, re.M)
    assert keys and eval(keys[1]) == c.PLATFORM_TAG_KEYS  # a literal tuple of strings
    role = _resources_text(member, c.TAGGING_ROLE)
    assert json.dumps(list(c.PLATFORM_TAG_KEYS)) in role
    window_targets = member["Resources"][c.MAINTENANCE_WINDOW_TARGET]["Properties"]["Targets"]
    assert {"Key": "tag-key", "Values": [c.PLATFORM_TAG_KEYS[0]]} in window_targets


@pytest.mark.parametrize(
    ("rule_id", "name", "sql"),
    [
        (c.RULE_MANAGED_BY_SSM, c.RULE_NAME_MANAGED_BY_SSM, "configmic"),
        (c.RULE_PATCH_COMPLIANCE, c.RULE_NAME_PATCH_COMPLIANCE, "configpc"),
    ],
)
def test_rule_names_tie_the_member_rules_to_the_views(member, rule_id, name, sql):
    assert member["Resources"][rule_id]["Properties"]["ConfigRuleName"] == name
    assert f"'%{name}%'" in (SQL_DIR / f"{sql}.sql").read_text(encoding="utf-8")


def test_no_module_spells_a_condition_name_as_a_literal():
    """Modules take condition names from `conditions.Cond` objects, never from a string literal."""
    literal = re.compile(r"""(?:Condition=|If\(|condition=|conditional_policy\()\s*["']""")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert not offenders, offenders


def test_conditions_refer_only_to_parameters_of_their_template():
    for build in (build_central, build_member):
        data = build().to_dict()
        for name, expression in data["Conditions"].items():
            for ref in re.findall(r'"Ref": "([A-Za-z0-9:]+)"', json.dumps(expression)):
                assert ref.startswith("AWS::") or ref in data["Parameters"], (name, ref)
