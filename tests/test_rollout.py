"""Organisation-native rollout: the StackSet in each permission model, the Rules on its targets, and delivery
bucket policies that do not grow with the number of accounts in organisation mode.

The central template is built in-process (templates/ may be older than the generator while it changes); its
conditions, Fn::If and intrinsics are resolved by tests/support/cfn.py, its Rules by the evaluator of
tests/test_parameters.py.
"""

from __future__ import annotations

import functools
import json

import pytest
from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

from patchcompliance import constants as c
from patchcompliance import parameters, policies, rules
from patchcompliance.central import build_central
from patchcompliance.conditions import HAS_ORGANIZATION_ID
from tests.support import cfn, delivery
from tests.test_parameters import refusals

ACCOUNTS = "111122223333, 444455556666"
REGIONS = "eu-west-1,us-east-1"
OUS = "r-ab12, ou-ab12-cdefgh12"
ORGANIZATION = "o-abcdefghij"
MEMBER_ONLY = ("TemplateBody", "Parameters")  # checked by tests/test_templates.py


@functools.cache
def _central_json() -> str:
    return build_central().to_json()


@pytest.fixture(scope="module")
def central() -> dict:
    return json.loads(_central_json())


def stackset(template: dict, values: dict) -> dict:
    """The StackSet's properties as CloudFormation receives them with `values`, member template aside."""
    props = template["Resources"][c.STACKSET]["Properties"]
    return cfn.resolve(template, {k: v for k, v in props.items() if k not in MEMBER_ONLY}, values)


# ================================================================ the StackSet in each model
def test_self_managed_stackset(central):
    values = {
        "AccountIds": ACCOUNTS,
        "Regions": REGIONS,
        "RegionConcurrencyType": "SEQUENTIAL",
        "MaxConcurrentPercentage": "25",
        "FailureTolerancePercentage": "5",
        "OrganizationalUnitIds": OUS,  # ignored in this model
        "CallAs": "SELF",
    }
    assert stackset(central, values) == {
        "StackSetName": f"{cfn.PSEUDO['AWS::StackName']}-member",
        "Description": central["Resources"][c.STACKSET]["Properties"]["Description"],
        "PermissionModel": c.SELF_MANAGED,
        "AdministrationRoleARN": "arn:aws:iam::123456789012:role/AWSCloudFormationStackSetAdministrationRole",
        "ExecutionRoleName": "AWSCloudFormationStackSetExecutionRole",
        "Capabilities": ["CAPABILITY_IAM"],
        "ManagedExecution": {"Active": True},
        "OperationPreferences": {
            "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
            "RegionConcurrencyType": "SEQUENTIAL",
            "MaxConcurrentPercentage": "25",
            "FailureTolerancePercentage": "5",
        },
        "StackInstancesGroup": [
            {
                "DeploymentTargets": {"Accounts": ["111122223333", "444455556666"]},
                "Regions": ["eu-west-1", "us-east-1"],
            }
        ],
    }


def test_self_managed_stackset_with_own_roles(central):
    role = "arn:aws:iam::111122223333:role/OrgStackSetAdmin"
    values = {"AccountIds": ACCOUNTS, "Regions": REGIONS, "StackSetAdministrationRoleArn": role}
    values["StackSetExecutionRoleName"] = "OrgStackSetExecution"
    props = stackset(central, values)
    assert (props["AdministrationRoleARN"], props["ExecutionRoleName"]) == (role, "OrgStackSetExecution")


def test_service_managed_stackset(central):
    values = {
        "PermissionModel": c.SERVICE_MANAGED,
        "OrganizationalUnitIds": OUS,
        "OrganizationId": ORGANIZATION,
        "Regions": REGIONS,
        "RetainStacksOnAccountRemoval": "true",
        "CallAs": "DELEGATED_ADMIN",
        "StackSetAdministrationRoleArn": "arn:aws:iam::111122223333:role/Ignored",  # no roles in this model
        "AccountIds": ACCOUNTS,  # ignored in this model
    }
    props = stackset(central, values)
    assert props["PermissionModel"] == c.SERVICE_MANAGED
    assert "AdministrationRoleARN" not in props and "ExecutionRoleName" not in props
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": "true"}
    assert props["CallAs"] == "DELEGATED_ADMIN"
    assert props["StackInstancesGroup"] == [
        {
            "DeploymentTargets": {"OrganizationalUnitIds": ["r-ab12", "ou-ab12-cdefgh12"]},
            "Regions": ["eu-west-1", "us-east-1"],
        }
    ]
    assert props["OperationPreferences"]["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"


def test_models_differ_only_where_the_model_says(central):
    common = {"AccountIds": ACCOUNTS, "OrganizationalUnitIds": OUS, "OrganizationId": ORGANIZATION}
    self_managed = stackset(central, {**common, "Regions": REGIONS})
    service_managed = stackset(central, {**common, "Regions": REGIONS, "PermissionModel": c.SERVICE_MANAGED})
    changed = {k for k in self_managed.keys() | service_managed.keys() if self_managed.get(k) != service_managed.get(k)}
    assert changed == {
        "PermissionModel",
        "AdministrationRoleARN",
        "ExecutionRoleName",
        "AutoDeployment",
        "CallAs",
        "StackInstancesGroup",
    }


# ================================================================ Rules refuse a model without its targets
SELF_MESSAGE = f"{rules.RULE_SELF_MANAGED_TARGETS}: PermissionModel SELF_MANAGED needs AccountIds"
OUS_MESSAGE = f"{rules.RULE_SERVICE_MANAGED_TARGETS}: PermissionModel SERVICE_MANAGED needs OrganizationalUnitIds"
ORG_MESSAGE = f"{rules.RULE_SERVICE_MANAGED_TARGETS}: PermissionModel SERVICE_MANAGED needs OrganizationId"
SERVICE = {"PermissionModel": c.SERVICE_MANAGED, "Regions": REGIONS}
REFUSED = [
    ({"Regions": REGIONS}, [SELF_MESSAGE]),
    ({"Regions": REGIONS, "AccountIds": "111122223333,"}, [SELF_MESSAGE]),
    ({"Regions": REGIONS, "AccountIds": ACCOUNTS, "CallAs": "DELEGATED_ADMIN"}, ["CallAs DELEGATED_ADMIN needs"]),
    ({**SERVICE, "AccountIds": ACCOUNTS}, [OUS_MESSAGE, ORG_MESSAGE]),
    ({**SERVICE, "OrganizationalUnitIds": OUS}, [ORG_MESSAGE]),
    ({**SERVICE, "OrganizationId": ORGANIZATION}, [OUS_MESSAGE]),
    ({**SERVICE, "OrganizationId": ORGANIZATION, "OrganizationalUnitIds": "r-ab12,"}, [OUS_MESSAGE]),
]


@pytest.mark.parametrize("values, expected", REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_rules_refuse_a_model_without_its_targets(central, values, expected):
    errors = refusals(central, values)
    assert len(errors) == len(expected), errors
    assert all(any(e.startswith(x) or x in e for e in errors) for x in expected), errors


ACCEPTED = [
    {"Regions": REGIONS, "AccountIds": ACCOUNTS},
    {"Regions": REGIONS, "AccountIds": ACCOUNTS, "OrganizationId": ORGANIZATION},
    {**SERVICE, "OrganizationalUnitIds": OUS, "OrganizationId": ORGANIZATION},
    {**SERVICE, "OrganizationalUnitIds": "r-ab12", "OrganizationId": ORGANIZATION, "CallAs": "DELEGATED_ADMIN"},
]


@pytest.mark.parametrize("values", ACCEPTED, ids=[str(i) for i in range(len(ACCEPTED))])
def test_rules_accept_a_model_with_its_targets(central, values):
    assert refusals(central, values) == []


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("OrganizationalUnitIds", "ou-12", "must be organisation root IDs"),
        ("OrganizationalUnitIds", "o-abcdefghij", "must be organisation root IDs"),
        ("OrganizationId", "o-123", "must be empty or an organization ID"),
        ("OrganizationId", "r-ab12", "must be empty or an organization ID"),
        ("PermissionModel", "SERVICE", "must be SELF_MANAGED or SERVICE_MANAGED"),
    ],
)
def test_bad_target_ids_are_refused(central, name, value, message):
    errors = refusals(central, {"Regions": REGIONS, "AccountIds": ACCOUNTS, name: value})
    assert len(errors) == 1 and errors[0].startswith(f"{name}: {message}"), errors


def test_ou_pattern_is_the_cloudformation_model_one():
    """DeploymentTargets.OrganizationalUnitIds in cfn-lint's CloudFormation schema (root or OU)."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::CloudFormation::StackSet").schema
    pattern = schema["definitions"]["OrganizationalUnitId"]["pattern"]
    assert pattern == parameters.ORGANIZATIONAL_UNIT_ID_PATTERN


# ================================================================ delivery policies in each mode
def _allows(policy: dict) -> list[dict]:
    return [s for s in policy["Statement"] if s["Effect"] == "Allow"]


def _source_keys(statement: dict) -> dict:
    return {k: v for block in statement["Condition"].values() for k, v in block.items() if k.startswith("aws:")}


@pytest.fixture(scope="module")
def policy_template() -> dict:
    return delivery.template()


@pytest.mark.parametrize("logical_id", delivery.POLICIES)
def test_organisation_mode_admits_the_organisation(policy_template, logical_id):
    policy = delivery.resolved_policy(policy_template, logical_id, "organisation", 3)
    assert _allows(policy)
    for statement in _allows(policy):
        assert _source_keys(statement) == {"aws:SourceOrgID": delivery.LONGEST_ORGANIZATION_ID}, statement


@pytest.mark.parametrize("logical_id", delivery.POLICIES)
def test_account_mode_admits_the_listed_accounts_without_policy_variables(policy_template, logical_id):
    policy = delivery.resolved_policy(policy_template, logical_id, "account", 3)
    for statement in _allows(policy):
        assert _source_keys(statement) == {"aws:SourceAccount": delivery.account_ids(3)}, statement
        assert not any("${" in resource for resource in statement["Resource"]), statement["Resource"]


@pytest.mark.parametrize("mode", delivery.MODES)
def test_delivery_paths_are_the_documented_ones(policy_template, mode):
    arn = f"arn:aws:s3:::{delivery.BUCKET_NAME}"
    puts = {}
    for logical_id in delivery.POLICIES:
        policy = delivery.resolved_policy(policy_template, logical_id, mode, 3)
        (put,) = [s for s in _allows(policy) if s["Action"] == ["s3:PutObject"]]
        assert put["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
        puts[logical_id] = put["Resource"]
        for statement in _allows(policy):  # bucket-level checks name the bucket only
            if statement is not put:
                assert statement["Resource"] == [arn]
    assert puts == {
        c.CONFIG_BUCKET_POLICY: [f"{arn}/{c.config_account_prefix('*')}*"],
        c.DATASYNC_BUCKET_POLICY: [f"{arn}/{delivery.LONGEST_PREFIX}/*/accountid=*/*"],
    }


def test_ssm_principals_cover_the_opt_in_regions(policy_template):
    assert set(policies.OPT_IN_REGIONS) < set(parameters.KNOWN_REGIONS)
    policy = delivery.resolved_policy(policy_template, c.DATASYNC_BUCKET_POLICY, "organisation", 3)
    for statement in _allows(policy):
        regional = {f"ssm.{region}.amazonaws.com" for region in policies.OPT_IN_REGIONS}
        assert statement["Principal"]["Service"] == ["ssm.amazonaws.com", *sorted(regional)]


def test_the_mode_is_the_organisation_condition(policy_template):
    assert policy_template["Conditions"][HAS_ORGANIZATION_ID] == HAS_ORGANIZATION_ID.expression().to_dict()
    for logical_id in delivery.POLICIES:
        statements = policy_template["Resources"][logical_id]["Properties"]["PolicyDocument"]["Statement"]
        assert all(s["Condition"]["Fn::If"][0] == HAS_ORGANIZATION_ID for s in statements if s["Effect"] == "Allow")


# ================================================================ sizes
@pytest.mark.parametrize("logical_id", delivery.POLICIES)
def test_organisation_mode_size_does_not_depend_on_the_accounts(policy_template, logical_id):
    sizes = {n: delivery.policy_bytes(policy_template, logical_id, "organisation", n) for n in (1, 10, 10_000)}
    assert len(set(sizes.values())) == 1, sizes


@pytest.mark.parametrize("logical_id", delivery.POLICIES)
def test_account_mode_size_grows_with_the_accounts(policy_template, logical_id):
    small, large = (delivery.policy_bytes(policy_template, logical_id, "account", n) for n in (10, 1_000))
    assert large > small
