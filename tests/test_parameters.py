"""Bad parameter values are refused before anything is created.

cfn-lint does not evaluate parameter *values* (`cfn-lint --parameter-files` with bad values exits 0), so this
file carries a small evaluator of what CloudFormation checks when a stack is created or updated, applied to
the generated templates (templates/*.yaml):

* per parameter (CloudFormation "Parameters" reference): `AllowedPattern` must match the whole value (Java
  `matches()`, here `re.fullmatch`); `AllowedValues` must contain it; `MinLength`/`MaxLength` for strings;
  `Number` must be numeric and within `MinValue`/`MaxValue`. For a `CommaDelimitedList` the value is split
  on commas and each member is space-trimmed; the reference says that `AllowedPattern` "must match each
  value in the list" and that with `AllowedValues` "each value in the list must be one of the specified
  allowed values", so both are applied per element here. The message of a failed constraint is the
  parameter's `ConstraintDescription`.
* `Rules` (CloudFormation "Rules" reference): a rule applies when its `RuleCondition` is true (or absent);
  each `Assert` must then be true, otherwise the stack is refused with the `AssertDescription`. Supported
  functions: Fn::And, Fn::Or, Fn::Not, Fn::Equals, Fn::Contains, Fn::EachMemberIn, Fn::EachMemberEquals, Ref.
  Anything else raises, so a new rule function cannot silently pass.

Every case feeds a realistic bad value and checks the exact message; the defaults and typical good values
are checked to pass, so the tests fail both ways.
"""

from __future__ import annotations

import re

import pytest

from patchcompliance import parameters as p

# Values a deployer must always give (no Default), realistic and valid.
CENTRAL_REQUIRED = {"AccountIds": "111122223333, 444455556666", "Regions": "eu-west-1,us-east-1"}
MEMBER_REQUIRED = {
    "ConfigBucketName": "central-configbucket-1a2b3c",
    "DataSyncBucketName": "central-datasyncbucket-4d5e6f",
    "DataSyncBucketRegion": "eu-west-1",
}
SCHEDULES = ["InventorySchedule", "ScanSchedule", "AgentUpdateSchedule", "TaggingSchedule"]


# ================================================================ evaluator
def _members(value: str) -> list[str]:
    return [member.strip() for member in value.split(",")]


def parameter_errors(template: dict, values: dict[str, str]) -> list[str]:
    """`<name>: <message>` for every parameter value CloudFormation would refuse."""
    errors = [f"{name}: unknown parameter" for name in values if name not in template["Parameters"]]
    for name, decl in template["Parameters"].items():
        value = values.get(name, decl.get("Default"))
        if value is None:
            errors.append(f"{name}: must have values")
            continue
        value = str(value)
        message = decl.get("ConstraintDescription", "does not satisfy its constraints")
        members = _members(value) if decl["Type"] == "CommaDelimitedList" else [value]
        ok = True
        for member in members:
            if "AllowedPattern" in decl and not re.fullmatch(decl["AllowedPattern"], member):
                ok = False
            if "AllowedValues" in decl and member not in [str(v) for v in decl["AllowedValues"]]:
                ok = False
            if decl["Type"] == "String":
                ok = ok and int(decl.get("MinLength", 0)) <= len(member) <= int(decl.get("MaxLength", 4096))
        if decl["Type"] == "Number":
            try:
                number = float(value)
            except ValueError:
                ok = False
            else:
                ok = ok and float(decl.get("MinValue", number)) <= number <= float(decl.get("MaxValue", number))
        if not ok:
            errors.append(f"{name}: {message}")
    return errors


def _resolved(template: dict, values: dict[str, str]) -> dict:
    resolved = {"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::Partition": "aws"}
    for name, decl in template["Parameters"].items():
        value = str(values.get(name, decl.get("Default", "")))
        resolved[name] = _members(value) if decl["Type"] == "CommaDelimitedList" else value
    return resolved


def _evaluate(expr, env: dict):
    if isinstance(expr, (str, int, float)):
        return str(expr)
    if isinstance(expr, list):
        return [_evaluate(item, env) for item in expr]
    (function, args), *rest = expr.items()
    assert not rest, f"not a function: {expr}"
    if function == "Ref":
        return env[args]
    args = _evaluate(args, env) if function != "Fn::Not" else args
    if function == "Fn::Equals":
        return args[0] == args[1]
    if function == "Fn::Not":
        return not _evaluate(args[0], env)
    if function == "Fn::And":
        return all(args)
    if function == "Fn::Or":
        return any(args)
    if function == "Fn::Contains":
        return args[1] in args[0]
    if function == "Fn::EachMemberIn":
        return all(member in args[1] for member in args[0])
    if function == "Fn::EachMemberEquals":
        return all(member == args[1] for member in args[0])
    raise NotImplementedError(f"rule function {function} is not evaluated here")


def rule_errors(template: dict, values: dict[str, str]) -> list[str]:
    """AssertDescription of every failed assertion of every applicable rule."""
    env = _resolved(template, values)
    errors = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], env):
            continue
        for assertion in rule["Assertions"]:
            if not _evaluate(assertion["Assert"], env):
                errors.append(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return errors


def refusals(template: dict, values: dict[str, str]) -> list[str]:
    """What CloudFormation says when it refuses the values: parameter constraints first, then Rules."""
    return parameter_errors(template, values) or rule_errors(template, values)


# ================================================================ fixtures
@pytest.fixture(scope="module")
def templates(central, member) -> dict:
    return {"central": (central, CENTRAL_REQUIRED), "member": (member, MEMBER_REQUIRED)}


def refused(templates, which: str, **values) -> list[str]:
    template, required = templates[which]
    return refusals(template, {**required, **values})


# ================================================================ good values pass
@pytest.mark.parametrize("which", ["central", "member"])
def test_defaults_with_the_required_values_pass(templates, which):
    assert refused(templates, which) == []


@pytest.mark.parametrize("which", ["central", "member"])
def test_required_values_are_required(templates, which):
    template, required = templates[which]
    assert sorted(refusals(template, {})) == sorted(f"{name}: must have values" for name in required)


GOOD = [
    ("central", "AccountIds", "123456789012"),
    ("central", "AccountIds", "111122223333,444455556666,777788889999"),
    ("central", "Regions", "ap-northeast-3, eu-south-1"),
    ("central", "NotificationEmail", "patching-team+config@example.com"),
    ("central", "KmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("central", "DatabaseName", "patch_compliance_prod"),
    ("central", "ScanSchedule", "cron(0 2 ? * MON-FRI *)"),
    ("central", "TaggingSchedule", "rate(30 minutes)"),
    ("central", "MaintenanceWindowSchedule", "cron(0 0 4 ? * SAT *)"),
    ("central", "MaintenanceWindowSchedule", "rate(7 days)"),
    ("central", "QuickSightPrincipalName", "Admin/jane.doe@example.com"),
    ("central", "QuickSightIdentityRegion", "us-east-1"),
    ("member", "ConfigBucketName", "org.central-config"),
    ("member", "MaxConcurrency", "50"),
    ("member", "MaxErrors", "0"),
]


@pytest.mark.parametrize("which, name, value", GOOD)
def test_typical_values_pass(templates, which, name, value):
    assert refused(templates, which, **{name: value}) == []


# ================================================================ bad values are refused
SCHEDULE_REFUSAL = p.SCHEDULE_MESSAGE
BAD = [
    # account IDs: 12 digits each
    ("central", {"AccountIds": "12345678901"}, "AccountIds", "must be 12-digit AWS account IDs"),
    ("central", {"AccountIds": "111122223333,4444-5555-6666"}, "AccountIds", "must be 12-digit AWS account IDs"),
    ("central", {"AccountIds": "111122223333;444455556666"}, "AccountIds", "must be 12-digit AWS account IDs"),
    ("central", {"AccountIds": "111122223333,"}, "AccountIds", "must be 12-digit AWS account IDs"),
    # regions: known names only (Rule TargetRegionsAreKnown)
    ("central", {"Regions": "eu-west-1,eu-west-9"}, "TargetRegionsAreKnown", "Regions must be region names"),
    ("central", {"Regions": "EU-WEST-1"}, "TargetRegionsAreKnown", "Regions must be region names"),
    ("central", {"Regions": "eu-west-1 us-east-1"}, "TargetRegionsAreKnown", "Regions must be region names"),
    ("central", {"Regions": "Ireland"}, "TargetRegionsAreKnown", "Regions must be region names"),
    ("member", {"DataSyncBucketRegion": "eu-west-9"}, "DataSyncBucketRegion", "must be an AWS region name"),
    # e-mail or empty
    ("central", {"NotificationEmail": "patching-team@example"}, "NotificationEmail", "must be empty or an e-mail"),
    ("central", {"NotificationEmail": "patching team@example.com"}, "NotificationEmail", "must be empty or an e-mail"),
    ("member", {"NotificationEmail": "example.com"}, "NotificationEmail", "must be empty or an e-mail"),
    # schedules: cron() with six fields or rate() with a valid unit
    ("central", {"ScanSchedule": "cron(0 3 * * *)"}, "ScanSchedule", SCHEDULE_REFUSAL),
    ("central", {"InventorySchedule": "rate(1 days)"}, "InventorySchedule", SCHEDULE_REFUSAL),
    ("central", {"AgentUpdateSchedule": "rate(0 days)"}, "AgentUpdateSchedule", SCHEDULE_REFUSAL),
    ("central", {"TaggingSchedule": "rate(5 minute)"}, "TaggingSchedule", SCHEDULE_REFUSAL),
    ("central", {"TaggingSchedule": "every hour"}, "TaggingSchedule", SCHEDULE_REFUSAL),
    ("member", {"ScanSchedule": "0 3 * * SUN"}, "ScanSchedule", SCHEDULE_REFUSAL),
    ("central", {"MaintenanceWindowSchedule": "cron(0 3 * *)"}, "MaintenanceWindowSchedule", p.WINDOW_SCHEDULE_MESSAGE),
    # maintenance window: cutoff below duration (Rule, central template), ranges (both)
    (
        "central",
        {"MaintenanceWindowDuration": "3", "MaintenanceWindowCutoff": "3"},
        "MaintenanceWindowCutoffBelowDuration",
        "MaintenanceWindowCutoff 3 needs MaintenanceWindowDuration > 3 hours",
    ),
    (
        "central",
        {"MaintenanceWindowDuration": "2", "MaintenanceWindowCutoff": "5"},
        "MaintenanceWindowCutoffBelowDuration",
        "MaintenanceWindowCutoff 5 needs MaintenanceWindowDuration > 5 hours",
    ),
    ("central", {"MaintenanceWindowDuration": "25"}, "MaintenanceWindowDuration", "must be 1 to 24 hours"),
    ("member", {"MaintenanceWindowCutoff": "24"}, "MaintenanceWindowCutoff", "must be 0 to 23 hours"),
    ("member", {"MaintenanceWindowDuration": "three"}, "MaintenanceWindowDuration", "must be 1 to 24 hours"),
    ("member", {"MaxConcurrency": "0"}, "MaxConcurrency", "must be a number of targets"),
    ("member", {"MaxErrors": "101%"}, "MaxErrors", "must be a number of errors"),
    # KMS key: an ARN, not an alias or a bare key ID
    ("central", {"KmsKeyArn": "alias/patch-compliance"}, "KmsKeyArn", "must be empty or a KMS key ARN"),
    ("central", {"KmsKeyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "KmsKeyArn", "must be empty or a KMS key ARN"),
    (
        "member",
        {"KmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:alias/patch-compliance"},
        "KmsKeyArn",
        "must be empty or a KMS key ARN",
    ),
    # Glue database name
    ("central", {"DatabaseName": "Patch-Compliance"}, "DatabaseName", "must start with a lower-case letter"),
    ("central", {"DatabaseName": "1patch"}, "DatabaseName", "must start with a lower-case letter"),
    # retention and StackSet knobs
    ("central", {"LogRetentionDays": "45"}, "LogRetentionDays", "must be a retention period CloudWatch Logs accepts"),
    ("central", {"ConfigRetentionDays": "0"}, "ConfigRetentionDays", "must be 1 to 3650 days"),
    ("central", {"FailureTolerancePercentage": "150"}, "FailureTolerancePercentage", "must be 0 to 100"),
    (
        "central",
        {"StackSetAdministrationRoleArn": "AWSCloudFormationStackSetAdministrationRole"},
        "StackSetAdministrationRoleArn",
        "must be empty or an IAM role ARN",
    ),  # fmt: skip
    # bucket names handed to the member stack
    ("member", {"ConfigBucketName": "Central_Config"}, "ConfigBucketName", "must be an S3 bucket name"),
    # QuickSight (parameters of patchcompliance/quicksight.py)
    ("central", {"QuickSightPrincipalName": "jane doe"}, "QuickSightPrincipalName", "empty (no QuickSight resources)"),
    ("central", {"QuickSightPrincipalName": "a/b/c"}, "QuickSightPrincipalName", "empty (no QuickSight resources)"),
    ("central", {"QuickSightIdentityRegion": "Ireland"}, "QuickSightIdentityRegion", "empty or a region code"),
    ("central", {"QuickSightRefreshTime": "24:00"}, "QuickSightRefreshTime", "HH:MM, 24-hour clock"),
    ("central", {"QuickSightPrincipalType": "ROLE"}, "QuickSightPrincipalType", "does not satisfy its constraints"),
]


@pytest.mark.parametrize(
    "which, values, source, message", BAD, ids=[f"{b[0]}-{'-'.join(f'{k}={v}' for k, v in b[1].items())}" for b in BAD]
)
def test_bad_value_is_refused_with_a_clear_message(templates, which, values, source, message):
    errors = refused(templates, which, **values)
    assert len(errors) == 1 and errors[0].startswith(f"{source}: {message}"), errors


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_parameter_uses_the_schedule_pattern(central, member, name):
    for template in (central, member):
        assert template["Parameters"][name]["AllowedPattern"] == p.SCHEDULE_PATTERN


def test_window_cutoff_rule_is_exact(central):
    """Every (duration, cutoff) in range: refused exactly when cutoff >= duration."""
    for duration in range(1, 25):
        for cutoff in range(0, 24):
            values = {**CENTRAL_REQUIRED, "MaintenanceWindowDuration": str(duration)}
            errors = rule_errors(central, {**values, "MaintenanceWindowCutoff": str(cutoff)})
            assert bool(errors) == (cutoff >= duration), (duration, cutoff, errors)


def test_every_pattern_has_a_message_and_every_assertion_a_description(both):
    for template in both.values():
        for name, decl in template["Parameters"].items():
            if "AllowedPattern" in decl or "MinValue" in decl or "MaxValue" in decl:
                assert decl.get("ConstraintDescription"), name
        for name, rule in template.get("Rules", {}).items():
            assert all(a.get("AssertDescription") for a in rule["Assertions"]), name


# ================================================================ the evaluator itself
def test_evaluator_refuses_unsupported_rule_functions():
    template = {"Parameters": {}, "Rules": {"R": {"Assertions": [{"Assert": {"Fn::ValueOf": ["X", "Y"]}}]}}}
    with pytest.raises(NotImplementedError):
        rule_errors(template, {})


def test_evaluator_applies_rule_conditions_and_list_patterns():
    template = {
        "Parameters": {
            "Ids": {"Type": "CommaDelimitedList", "AllowedPattern": "^[0-9]{2}$", "ConstraintDescription": "2 digits"},
            "Mode": {"Type": "String", "Default": "off", "AllowedValues": ["on", "off"]},
        },
        "Rules": {
            "OnlyWhenOn": {
                "RuleCondition": {"Fn::Equals": [{"Ref": "Mode"}, "on"]},
                "Assertions": [{"Assert": {"Fn::EachMemberEquals": [{"Ref": "Ids"}, "42"]}, "AssertDescription": "42"}],
            }
        },
    }
    assert refusals(template, {"Ids": "12, 34"}) == []
    assert refusals(template, {"Ids": "12,345"}) == ["Ids: 2 digits"]
    assert refusals(template, {"Ids": "12", "Mode": "on"}) == ["OnlyWhenOn: 42"]
    assert refusals(template, {"Ids": "42,42", "Mode": "on"}) == []
