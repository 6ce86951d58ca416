"""The member stack next to an existing Config recorder (AWS Control Tower), its Config rules, conditions and
the names of its SSM resources.

Everything here is checked on the generator's fresh output (tests/test_templates.py checks that the committed
template equals it).
"""

from __future__ import annotations

import functools
import json
import re

import botocore.session
import pytest
from cfnlint.api import ManualArgs, lint
from troposphere import Template

from patchcompliance import conditions, config, parameters
from patchcompliance import constants as c
from patchcompliance.member import build_member
from patchcompliance.render import ROOT, to_yaml
from tests.support.cfn import evaluate_condition
from tests.support.quicksight import prune_disabled, references
from tests.support.templates import parse_template

# The lint regions of the Makefile plus those where a managed rule is skipped (Taipei, Calgary).
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "ap-northeast-3", "eu-south-1", "ap-east-2", "ca-west-1"]
RECORDER_RESOURCES = {
    c.CONFIG_RECORDER: "AWS::Config::ConfigurationRecorder",
    c.CONFIG_DELIVERY_CHANNEL: "AWS::Config::DeliveryChannel",
    c.CONFIG_RECORDER_ROLE: "AWS::IAM::Role",
    c.CONFIG_TOPIC: "AWS::SNS::Topic",
    c.CONFIG_TOPIC_POLICY: "AWS::SNS::TopicPolicy",
    c.CONFIG_TOPIC_SUBSCRIPTION: "AWS::SNS::Subscription",
}
RULES = {rule.logical_id: rule for rule in config.MANAGED_RULES}
UNSUPPORTED = {
    c.RULE_MANAGED_BY_SSM: c.MANAGED_BY_SSM_RULE_UNSUPPORTED_REGIONS,
    c.RULE_PATCH_COMPLIANCE: c.PATCH_RULE_UNSUPPORTED_REGIONS,
}


@functools.cache
def member_text() -> str:
    return to_yaml(build_member())


@pytest.fixture(scope="module")
def member() -> dict:
    return parse_template(member_text(), "fresh member template")


def with_default(text: str, parameter: str, old: str, new: str) -> str:
    """A copy of the rendered template with one parameter's Default changed (text edit inside Parameters)."""
    start = text.index(f"\n  {parameter}:\n", text.index("\nParameters:\n"))
    end = text.index("\n  ", text.index("Type: ", start))
    block = text[start:end]
    assert block.count(f"Default: '{old}'") == 1, block
    return text[:start] + block.replace(f"Default: '{old}'", f"Default: '{new}'") + text[end:]


def findings(text: str, regions=LINT_REGIONS) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=regions, include_checks=["I"]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]


def resolve_ifs(node, template: dict, values: dict):
    """`node` with every Fn::If replaced by the branch its condition selects (AWS::NoValue branches dropped)."""
    if isinstance(node, dict):
        if list(node) == ["Fn::If"]:
            name, yes, no = node["Fn::If"]
            chosen = yes if evaluate_condition(template, template["Conditions"][name], values) else no
            return resolve_ifs(chosen, template, values)
        out = {}
        for key, value in node.items():
            resolved = resolve_ifs(value, template, values)
            if resolved != {"Ref": "AWS::NoValue"}:
                out[key] = resolved
        return out
    if isinstance(node, list):
        return [resolve_ifs(item, template, values) for item in node if item != {"Ref": "AWS::NoValue"}]
    return node


def deployed(template: dict, values: dict) -> dict:
    """The resources and outputs CloudFormation creates with `values`, Fn::If resolved."""
    pruned = prune_disabled(template, values)
    return {
        "Resources": resolve_ifs(pruned["Resources"], template, values),
        "Outputs": resolve_ifs(pruned.get("Outputs", {}), template, values),
        "Parameters": template["Parameters"],
        "Conditions": template.get("Conditions", {}),
    }


def missing_references(stack: dict) -> set[str]:
    defined = set(stack["Resources"]) | set(stack["Parameters"]) | set(stack["Conditions"])
    used = set(references(stack["Resources"])) | set(references(stack["Outputs"]))
    return {name for name in used - defined if not name.startswith("AWS::")}


# ================================================================ CreateConfigRecorder
CASES = [(flag, region) for flag in ("true", "false") for region in parameters.KNOWN_REGIONS]


@pytest.mark.parametrize(("flag", "region"), CASES)
def test_each_combination_deploys_exactly_what_it_should_and_refers_only_to_what_exists(member, flag, region):
    values = {"CreateConfigRecorder": flag, "AWS::Region": region, "NotificationEmail": "ops@example.com"}
    stack = deployed(member, values)
    present = {name for name in RECORDER_RESOURCES if name in stack["Resources"]}
    assert present == (set(RECORDER_RESOURCES) if flag == "true" else set())
    for logical_id, regions in UNSUPPORTED.items():
        assert (logical_id in stack["Resources"]) == (region not in regions), (logical_id, region)
    assert ("ConfigRecorderName" in stack["Outputs"]) == (flag == "true")
    assert missing_references(stack) == set()


def test_without_a_recorder_the_rules_have_no_dependency_and_with_one_they_follow_it(member):
    for flag, expected in (("true", {c.CONFIG_RECORDER, c.CONFIG_DELIVERY_CHANNEL}), ("false", set())):
        stack = deployed(member, {"CreateConfigRecorder": flag})
        for logical_id in RULES:
            rule = stack["Resources"][logical_id]
            assert "DependsOn" not in rule
            assert set(references(rule)) & set(RECORDER_RESOURCES) == expected, (flag, logical_id)


def test_email_subscription_needs_an_address_and_the_topic(member):
    cases = {("true", "ops@example.com"): True, ("true", ""): False, ("false", "ops@example.com"): False}
    for (flag, email), expected in cases.items():
        stack = deployed(member, {"CreateConfigRecorder": flag, "NotificationEmail": email})
        assert (c.CONFIG_TOPIC_SUBSCRIPTION in stack["Resources"]) == expected, (flag, email)


def test_create_config_recorder_is_a_passthrough_true_false_parameter_defaulting_to_true(member):
    (spec,) = [s for s in parameters.MEMBER_SPECS if s.name == "CreateConfigRecorder"]
    assert spec.passthrough and spec.default == "true" and spec.allowed_values == ("true", "false")
    assert member["Parameters"]["CreateConfigRecorder"]["Default"] == "true"
    for resource_type in config.REQUIRED_RECORDED_TYPES:  # the console tells what an existing recorder needs
        assert resource_type in spec.description


# ================================================================ cfn-lint, both branches
@pytest.mark.parametrize("default", ["true", "false"])
def test_cfn_lint_reports_nothing_with_either_default(default):
    text = member_text() if default == "true" else with_default(member_text(), "CreateConfigRecorder", "true", "false")
    assert parse_template(text)["Parameters"]["CreateConfigRecorder"]["Default"] == default
    assert findings(text) == []


@pytest.mark.parametrize(
    ("description", "old", "new", "rule"),
    [
        (
            "a rule's Metadata refers to the recorder without Fn::If",
            "ConfigRecorder: !If\n          - CreateConfigRecorder\n          - !Ref 'ConfigRecorder'\n          - ''",
            "ConfigRecorder: !Ref 'ConfigRecorder'",
            "W1001",
        ),
        (
            "a rule DependsOn the conditional recorder",
            "  Ec2InstanceManagedBySsmRule:\n    Type: AWS::Config::ConfigRule\n",
            "  Ec2InstanceManagedBySsmRule:\n    Type: AWS::Config::ConfigRule\n    DependsOn: ConfigRecorder\n",
            "E3005",
        ),
        (
            "the recorder output has no condition",
            "    Condition: CreateConfigRecorder\n    Description: The stack's recorder",
            "    Description: The stack's recorder",
            "W1001",
        ),
    ],
    ids=["metadata-ref", "depends-on", "output"],
)
def test_cfn_lint_catches_an_unconditional_reference_to_the_recorder(description, old, new, rule):
    text = member_text()
    assert old in text, description
    assert any(f.startswith(rule) for f in findings(text.replace(old, new, 1), ["us-east-1"])), description


def test_member_template_fits_the_stackset_template_body_limit():
    assert len(member_text().encode()) < c.TEMPLATE_BODY_LIMIT


# ================================================================ Config rules: documented scope and regions
def test_rules_are_scoped_to_their_documented_resource_types(member):
    documented = {  # AWS Config Developer Guide, each rule's page, "Resource Types"
        c.RULE_MANAGED_BY_SSM: ["AWS::EC2::Instance", "AWS::SSM::ManagedInstanceInventory"],
        c.RULE_PATCH_COMPLIANCE: ["AWS::SSM::PatchCompliance"],
    }
    for logical_id, types in documented.items():
        props = member["Resources"][logical_id]["Properties"]
        assert props["Scope"] == {"ComplianceResourceTypes": types}
        assert set(types) <= set(config.REQUIRED_RECORDED_TYPES) <= set(config.RECORDED_TYPES)
    assert member["Resources"][c.RULE_MANAGED_BY_SSM]["Properties"]["Source"]["SourceIdentifier"] == (
        "EC2_INSTANCE_MANAGED_BY_SSM"
    )


def test_rule_region_lists_are_documented_regions_and_tie_to_their_conditions(member):
    assert set(c.MANAGED_BY_SSM_RULE_UNSUPPORTED_REGIONS) == {"ap-east-2"}
    assert set(c.PATCH_RULE_UNSUPPORTED_REGIONS) == {"ap-northeast-3", "eu-south-1", "ap-east-2", "ca-west-1"}
    for logical_id, regions in UNSUPPORTED.items():
        assert set(regions) <= set(parameters.KNOWN_REGIONS)
        name = member["Resources"][logical_id]["Condition"]
        assert name == RULES[logical_id].supported
        for region in parameters.KNOWN_REGIONS:
            on = evaluate_condition(member, member["Conditions"][name], {"AWS::Region": region})
            assert on == (region not in regions), (logical_id, region)


def test_readme_names_the_regions_without_each_rule():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Prerequisites") : readme.index("## Deploying")]
    for regions in UNSUPPORTED.values():
        for region in regions:
            assert f"`{region}`" in section, region


# ================================================================ region conditions: Fn::Or takes 2-10 conditions
def _or_sizes(node) -> list[int]:
    if isinstance(node, dict):
        sizes = [len(node["Fn::Or"])] if "Fn::Or" in node else []
        return sizes + [n for v in node.values() for n in _or_sizes(v)]
    if isinstance(node, list):
        return [n for v in node for n in _or_sizes(v)]
    return []


@pytest.mark.parametrize("count", [1, 2, 4, 10, 11, 20, 21, 33, 101])
def test_region_not_in_keeps_every_fn_or_within_2_to_10_conditions_and_is_exact(count):
    regions = tuple(f"xx-test-{i}" for i in range(count))
    expression = json.loads(json.dumps(conditions.region_not_in(regions)().to_dict()))
    assert all(2 <= size <= 10 for size in _or_sizes(expression)), _or_sizes(expression)
    template = {"Conditions": {}, "Parameters": {}}
    for region in (*regions, "eu-west-1"):
        assert evaluate_condition(template, expression, {"AWS::Region": region}) == (region not in regions)


def test_region_not_in_renders_up_to_ten_regions_as_one_fn_or():
    regions = ("ap-northeast-3", "eu-south-1", "ap-east-2")
    expression = json.loads(json.dumps(conditions.region_not_in(regions)().to_dict()))
    assert expression == {"Fn::Not": [{"Fn::Or": [{"Fn::Equals": [{"Ref": "AWS::Region"}, r]} for r in regions]}]}
    single = json.loads(json.dumps(conditions.region_not_in(("ap-east-2",))().to_dict()))
    assert single == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::Region"}, "ap-east-2"]}]}


# ================================================================ names that always fit
# Name properties of the member's resources and the API shape that constrains each (botocore service models).
NAME_SHAPES = {
    ("AWS::SSM::Association", "AssociationName"): ("ssm", "AssociationName"),
    ("AWS::SSM::MaintenanceWindow", "Name"): ("ssm", "MaintenanceWindowName"),
    ("AWS::SSM::MaintenanceWindowTarget", "Name"): ("ssm", "MaintenanceWindowName"),
    ("AWS::SSM::MaintenanceWindowTask", "Name"): ("ssm", "MaintenanceWindowName"),
    ("AWS::SSM::ResourceDataSync", "SyncName"): ("ssm", "ResourceDataSyncName"),
    ("AWS::Config::ConfigRule", "ConfigRuleName"): ("config", "ConfigRuleName"),
}
LONGEST_STACK_NAME = "S" + "-x" * 63 + "y"  # 128 characters, the CloudFormation maximum
STACKSET_INSTANCE_NAME = f"StackSet-{'A' * 128}-0123abcd-4567-89ef-0123-456789abcdef"  # longer than any real one


@functools.cache
def _shape(service: str, name: str):
    return botocore.session.get_session().get_service_model(service).shape_for(name)


def _fits(value: str, service: str, shape_name: str) -> bool:
    meta = _shape(service, shape_name).metadata
    ok = meta.get("min", 0) <= len(value) <= meta.get("max", len(value))
    return ok and ("pattern" not in meta or re.search(meta["pattern"], value) is not None)


def _resolve_name(value, stack_name: str) -> str:
    pseudo = {"AWS::StackName": stack_name, "AWS::Region": "ap-southeast-2", "AWS::AccountId": "111122223333"}
    if isinstance(value, str):
        return value
    if list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: pseudo[m[1]], value["Fn::Sub"])
    raise AssertionError(f"name is not a literal or a Sub of pseudo parameters: {value}")


def test_the_name_shapes_have_the_documented_limits():
    assert _shape("ssm", "AssociationName").metadata["pattern"] == r"^[a-zA-Z0-9_\-.]{3,128}$"
    assert _shape("ssm", "MaintenanceWindowName").metadata["pattern"] == r"^[a-zA-Z0-9_\-.]{3,128}$"
    assert _shape("ssm", "ResourceDataSyncName").metadata["max"] == 64
    assert len(LONGEST_STACK_NAME) == 128


@pytest.mark.parametrize("stack_name", [LONGEST_STACK_NAME, STACKSET_INSTANCE_NAME, "pc"])
def test_every_generated_name_fits_its_api_shape_for_any_stack_name(member, stack_name):
    checked = 0
    for logical_id, res in member["Resources"].items():
        for (resource_type, prop), (service, shape) in NAME_SHAPES.items():
            if res["Type"] == resource_type and prop in res.get("Properties", {}):
                name = _resolve_name(res["Properties"][prop], stack_name)
                assert _fits(name, service, shape), (logical_id, name)
                checked += 1
    assert checked == 3 + 3 + 1 + 2  # associations, window + target + task, data sync, rules


def test_names_do_not_depend_on_the_stack_name(member):
    text = json.dumps({k: v for k, v in member["Resources"].items()})
    assert "AWS::StackName" not in text
    names = {c.UPDATE_AGENT_ASSOCIATION_NAME, c.INVENTORY_ASSOCIATION_NAME, c.SCAN_ASSOCIATION_NAME}
    found = {
        r["Properties"]["AssociationName"] for r in member["Resources"].values() if r["Type"].endswith("Association")
    }
    assert found == names
    assert member["Resources"][c.MAINTENANCE_WINDOW]["Properties"]["Name"] == c.MAINTENANCE_WINDOW_NAME
    assert member["Resources"][c.RESOURCE_DATA_SYNC]["Properties"]["SyncName"] == c.RESOURCE_DATA_SYNC_NAME


def test_a_stack_name_based_name_would_not_fit():
    """The check above can fail: the former `${AWS::StackName}-GatherSoftwareInventory` is too long."""
    former = _resolve_name({"Fn::Sub": "${AWS::StackName}-GatherSoftwareInventory"}, LONGEST_STACK_NAME)
    assert not _fits(former, "ssm", "AssociationName")


# ================================================================ README: Control Tower and existing Config
def test_readme_says_what_to_set_next_to_control_tower():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Control Tower and existing Config")
    section = readme[start : readme.index("\n## ", start + 1)]
    assert "`CreateConfigRecorder=false`" in section
    listed = set(re.findall(r"`(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)`", section))
    assert set(config.REQUIRED_RECORDED_TYPES) <= listed
    assert listed - set(config.REQUIRED_RECORDED_TYPES) <= set(config.RECORDED_TYPES)


def test_builders_used_on_their_own_leave_no_condition_undefined():
    template = Template()
    params = parameters.add_parameters(template, parameters.MEMBER_SPECS)
    config.add_member_config(template, params)
    data = json.loads(json.dumps(template.to_dict()))
    used = {v for v in references(data["Resources"]) if v in conditions.defined()}
    assert {conditions.CREATE_RECORDER, conditions.SUBSCRIBE_EMAIL} <= used <= set(data["Conditions"])
