"""Bad parameter values are refused before anything is created.

cfn-lint does not evaluate parameter *values* (`cfn-lint --parameter-files` with bad values exits 0), so this
file carries a small evaluator of what CloudFormation checks when a stack is created or updated, applied to
the generator's output (which tests/test_templates.py checks equals templates/*.yaml):

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
are checked to pass, so the tests fail both ways. The member parameters are also checked against the rule of
the service that receives each value: tables of values the service accepts and refuses, each from the
service's documentation or its API model (botocore), on which the template's pattern must agree.
"""

from __future__ import annotations

import re
import zoneinfo

import botocore.session
import pytest

import generate
from patchcompliance import parameters as p
from patchcompliance import patterns, rules
from tests.support.templates import parse_template

# Values a deployer must give, realistic and valid: parameters without a Default, and AccountIds, which the Rule of
# the default permission model (SELF_MANAGED) requires (the other model: tests/test_rollout.py).
CENTRAL_REQUIRED = {"AccountIds": "111122223333, 444455556666", "Regions": "eu-west-1,us-east-1"}
MEMBER_REQUIRED = {
    "ConfigBucketName": "central-configbucket-1a2b3c",
    "DataSyncBucketName": "central-datasyncbucket-4d5e6f",
    "DataSyncBucketRegion": "eu-west-1",
}


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
def fresh() -> dict[str, dict]:
    """Both templates as the generator writes them now."""
    rendered = generate.render_all()
    return {
        "central": parse_template(rendered[generate.CENTRAL], "central"),
        "member": parse_template(rendered[generate.MEMBER], "member"),
    }


@pytest.fixture(scope="module")
def central(fresh) -> dict:
    return fresh["central"]


@pytest.fixture(scope="module")
def member(fresh) -> dict:
    return fresh["member"]


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


WITHOUT_DEFAULT = {"central": {"Regions"}, "member": set(MEMBER_REQUIRED)}


@pytest.mark.parametrize("which", ["central", "member"])
def test_required_values_are_required(templates, which):
    template, _ = templates[which]
    assert sorted(refusals(template, {})) == sorted(f"{name}: must have values" for name in WITHOUT_DEFAULT[which])


GOOD = [
    ("central", "AccountIds", "123456789012"),
    ("central", "AccountIds", "111122223333,444455556666,777788889999"),
    ("central", "Regions", "ap-northeast-3, eu-south-1"),
    ("central", "NotificationEmail", "patching-team+config@example.com"),
    ("central", "KmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("central", "DatabaseName", "patch_compliance_prod"),
    ("central", "ScanSchedule", "cron(0 2 ? * MON *)"),
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
SCHEDULE_REFUSAL = patterns.ASSOCIATION_SCHEDULE_MESSAGE
BAD = [
    # account IDs: 12 digits each
    ("central", {"AccountIds": "12345678901"}, "AccountIds", "must be 12-digit AWS account IDs"),
    ("central", {"AccountIds": "111122223333,4444-5555-6666"}, "AccountIds", "must be 12-digit AWS account IDs"),
    ("central", {"AccountIds": "111122223333;444455556666"}, "AccountIds", "must be 12-digit AWS account IDs"),
    ("central", {"AccountIds": "111122223333,"}, rules.RULE_SELF_MANAGED_TARGETS, "PermissionModel SELF_MANAGED needs"),
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
    ("central", {"ScanSchedule": "cron(0 2 ? * MON-FRI *)"}, "ScanSchedule", SCHEDULE_REFUSAL),
    ("central", {"TaggingSchedule": "rate(5 minute)"}, "TaggingSchedule", patterns.EVENTS_SCHEDULE_MESSAGE),
    ("central", {"TaggingSchedule": "every hour"}, "TaggingSchedule", patterns.EVENTS_SCHEDULE_MESSAGE),
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
    # the Config export needs an aggregator; an account-based one needs the accounts
    ("central", {"CreateConfigAggregator": "NONE"}, "ConfigExportHasAggregator", "CreateConfigAggregator is NONE"),
    ("central", {"CreateConfigAggregator": "organization"}, "CreateConfigAggregator", "must be ORGANIZATION"),
    (
        "central",
        {
            "CreateConfigAggregator": "ACCOUNTS",
            "PermissionModel": "SERVICE_MANAGED",
            "AccountIds": "",
            "OrganizationalUnitIds": "ou-ab12-abcdefgh",
            "OrganizationId": "o-abcdefghij",
        },
        "AccountAggregatorHasAccounts",
        "CreateConfigAggregator ACCOUNTS aggregates AccountIds",
    ),  # fmt: skip
    ("member", {"AggregatorAccountId": "12345678901"}, "AggregatorAccountId", "must be empty or a 12-digit"),
]


@pytest.mark.parametrize(
    "which, values, source, message", BAD, ids=[f"{b[0]}-{'-'.join(f'{k}={v}' for k, v in b[1].items())}" for b in BAD]
)
def test_bad_value_is_refused_with_a_clear_message(templates, which, values, source, message):
    errors = refused(templates, which, **values)
    assert len(errors) == 1 and errors[0].startswith(f"{source}: {message}"), errors


SCHEDULE_PATTERNS = {
    "InventorySchedule": patterns.ASSOCIATION_SCHEDULE_PATTERN,  # State Manager associations
    "ScanSchedule": patterns.ASSOCIATION_SCHEDULE_PATTERN,
    "AgentUpdateSchedule": patterns.ASSOCIATION_SCHEDULE_PATTERN,
    "MaintenanceWindowSchedule": patterns.WINDOW_SCHEDULE_PATTERN,
    "TaggingSchedule": patterns.EVENTS_SCHEDULE_PATTERN,  # an EventBridge rule
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_PATTERNS))
def test_every_schedule_parameter_uses_the_pattern_of_its_service(central, member, name):
    for template in (central, member):
        assert template["Parameters"][name]["AllowedPattern"] == SCHEDULE_PATTERNS[name]


def test_window_cutoff_rule_is_exact(central):
    """Every (duration, cutoff) in range: refused exactly when cutoff >= duration."""
    for duration in range(1, 25):
        for cutoff in range(0, 24):
            values = {**CENTRAL_REQUIRED, "MaintenanceWindowDuration": str(duration)}
            errors = rule_errors(central, {**values, "MaintenanceWindowCutoff": str(cutoff)})
            assert bool(errors) == (cutoff >= duration), (duration, cutoff, errors)


def test_every_pattern_has_a_message_and_every_assertion_a_description(fresh):
    for template in fresh.values():
        for name, decl in template["Parameters"].items():
            if "AllowedPattern" in decl or "MinValue" in decl or "MaxValue" in decl:
                assert decl.get("ConstraintDescription"), name
        for name, rule in template.get("Rules", {}).items():
            assert all(a.get("AssertDescription") for a in rule["Assertions"]), name


# ================================================================ member parameters against the services' rules
# (parameter, value, accepted by the service), each group from the documentation or the API model of the service
# that receives the value. The template's AllowedPattern/AllowedValues/MinValue/MaxValue must agree on every row.
SSM_SCHEDULES = "https://docs.aws.amazon.com/systems-manager/latest/userguide/reference-cron-and-rate-expressions.html"
ASSOCIATION_SCHEDULES = ("InventorySchedule", "ScanSchedule", "AgentUpdateSchedule")
SERVICE_CASES = [
    # AggregatorAccountId: AWS::Config::AggregationAuthorization AuthorizedAccountId (cfn-lint schema ^\d{12}$),
    # or empty for no authorisation.
    *[("AggregatorAccountId", v, True) for v in ("", "123456789012", "000000000000")],
    *[("AggregatorAccountId", v, False) for v in ("12345678901", "1234567890123", "1234-5678-9012", " 123456789012")],
    # MaxErrors, MaxConcurrency: botocore ssm 2014-11-06 shapes MaxErrors / MaxConcurrency (length 1-7 and
    # ^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$ / ^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$).
    *[("MaxErrors", v, True) for v in ("0", "1", "10", "1000000", "9999999", "0%", "5%", "10%", "99%", "100%")],
    *[("MaxErrors", v, False) for v in ("00", "0123", "05%", "101%", "10000000", "", "-1", "1.5", "%", "10 %")],
    *[("MaxConcurrency", v, True) for v in ("1", "50", "1000000", "1%", "10%", "100%")],
    *[("MaxConcurrency", v, False) for v in ("0", "00", "0123", "05%", "0%", "101%", "10000000", "")],
    # Association schedules (SSM_SCHEDULES, "Cron and rate expressions for associations"): rate from 30 minutes
    # to less than 31 days, the unit singular for 1 and plural otherwise.
    *[
        (name, v, ok)
        for name in ASSOCIATION_SCHEDULES
        for v, ok in (
            ("rate(1 minute)", False),
            ("rate(29 minutes)", False),
            ("rate(30 minutes)", True),  # the page's example
            ("rate(44639 minutes)", True),
            ("rate(44640 minutes)", False),  # 31 days
            ("rate(1 hour)", True),
            ("rate(5 hours)", True),
            ("rate(743 hours)", True),
            ("rate(744 hours)", False),
            ("rate(1 hours)", False),  # "rate(1 hours) and rate(5 hour) are not valid"
            ("rate(5 hour)", False),
            ("rate(1 day)", True),
            ("rate(15 days)", True),
            ("rate(30 days)", True),
            ("rate(31 days)", False),
            ("rate(45 days)", False),
            ("rate(0 days)", False),
        )
    ],
    # Association cron: the forms the page lists (six fields, months unsupported, seconds field only 0).
    *[
        (name, v, ok)
        for name in ASSOCIATION_SCHEDULES
        for v, ok in (
            ("cron(0/30 * * * ? *)", True),  # every 30 minutes
            ("cron(0 0/1 * * ? *)", True),  # every hour, 2, 4, 8, 12 hours
            ("cron(0 0/2 * * ? *)", True),
            ("cron(0 0/4 * * ? *)", True),
            ("cron(0 0/8 * * ? *)", True),
            ("cron(0 0/12 * * ? *)", True),
            ("cron(15 13 ? * * *)", True),  # every day at 1:15 PM
            ("cron(15 13 ? * MON *)", True),  # every Monday at 1:15 PM
            ("cron(0 */30 * * * ? *)", True),  # the optional seconds field, 0
            ("cron(0 0 2 ? * SUN *)", True),  # the page's create-association example
            ("cron(0 0 ? * THU#2 *)", True),  # the SSM API's ScheduleOffset example (CreateAssociation)
            ("cron(0 0 */1 * * ? *)", True),  # the CloudFormation schema's AWS::SSM::Association example
            ("cron(0 3 * * *)", False),  # five-field Unix cron
            ("cron(0 0/3 * * ? *)", False),  # every 3 hours is not a supported interval
            ("cron(0/15 * * * ? *)", False),  # every 15 minutes
            ("cron(15 13 ? JAN MON *)", False),  # months are not supported
            ("cron(30 0 2 ? * SUN *)", False),  # seconds other than 0
            ("cron(0 18 ? * MON-FRI *)", False),  # ranges are not among the association forms
            ("at(2020-07-07T15:55:00)", True),  # "Single-run schedules", associations and maintenance windows
        )
    ],
    # Maintenance window (SSM_SCHEDULES, "Cron and rate expressions for maintenance windows": all cron and rate
    # expressions, six fields or seven with seconds; at() single runs).
    *[
        ("MaintenanceWindowSchedule", v, ok)
        for v, ok in (
            ("cron(30 09 ? * * *)", True),
            ("cron(24 30 09 ? * * *)", True),
            ("cron(0 2 ? * THU#3 *)", True),
            ("cron(15 10 ? * MON-FRI *)", True),
            ("cron(0 2 L * ? *)", True),
            ("cron(15 10 ? * 6L *)", True),
            ("rate(30 minutes)", True),
            ("rate(1 hour)", True),
            ("rate(25 days)", True),
            ("at(2019-07-07T13:15:30)", True),
            ("cron(0 3 * * *)", False),
            ("cron(0 0 3 ? * SUN * *)", False),  # eight fields
            ("rate(1 hours)", False),
            ("at(2019-13-07T13:15:30)", False),
            ("at(2019-07-07 13:15:30)", False),
        )
    ],
    # TaggingSchedule, an EventBridge rule ("Creating an Amazon EventBridge rule that runs on a schedule": rate with
    # a positive value and singular unit for 1; cron with six fields; no at()).
    *[
        ("TaggingSchedule", v, ok)
        for v, ok in (
            ("rate(1 minute)", True),
            ("rate(5 minutes)", True),
            ("rate(1 hour)", True),
            ("cron(0 10 * * ? *)", True),
            ("cron(0/15 * * * ? *)", True),
            ("rate(1 minutes)", False),
            ("cron(0 10 * * ?)", False),
            ("at(2026-01-01T00:00:00)", False),
        )
    ],
    # ScheduleTimezone: IANA names, e.g. "America/Los_Angeles", "UTC", "Asia/Seoul" (SSM API CreateMaintenanceWindow).
    *[("MaintenanceWindowTimezone", v, True) for v in ("America/Los_Angeles", "UTC", "Asia/Seoul", "EST5EDT")],
    *[("MaintenanceWindowTimezone", v, True) for v in ("Etc/GMT+5", "America/Argentina/Buenos_Aires")],
    *[("MaintenanceWindowTimezone", v, False) for v in ("", "Europe/Dublin ", "/UTC", "Europe//Dublin", "+01:00")],
    # Bucket names: S3 "General purpose bucket naming rules" (valid and invalid examples, and each rule).
    *[
        ("ConfigBucketName", v, True)
        for v in ("docexamplebucket1", "log-delivery-march-2020", "www.docexamplewebsite.com", "abc", "a" * 63)
    ],
    *[
        ("DataSyncBucketName", v, False)
        for v in (
            "doc_example_bucket",
            "DocExampleBucket",
            "doc-example-bucket-",
            "ab",
            "a" * 64,
            "example..com",
            "192.168.5.4",
            "xn--bucket",
            "sthree-bucket",
            "amzn-s3-demo-bucket",
            "bucket-s3alias",
            "bucket--ol-s3",
            "bucket.mrap",
            "bucket--x-s3",
            "bucket--table-s3",
        )
    ],  # fmt: skip
    # DataSyncPrefix: AWS::SSM::ResourceDataSync BucketPrefix at most 64 characters (CloudFormation schema),
    # S3Destination BucketPrefix at least 1 (SSM API ResourceDataSyncS3Prefix).
    *[("DataSyncPrefix", v, True) for v in ("inventory", "org.inventory_v2", "a" * 64)],
    *[("DataSyncPrefix", v, False) for v in ("", "a" * 65)],
    # KMS key ARNs (KMS "Key ARN" format, single- and multi-Region keys).
    ("KmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
    ("KmsKeyArn", "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
    ("KmsKeyArn", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
    ("KmsKeyArn", "arn:aws:kms:eu-west-1:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab", False),
    # SNS e-mail subscription endpoint (optional).
    *[("NotificationEmail", v, True) for v in ("", "patching-team+config@example.com")],
    *[("NotificationEmail", v, False) for v in ("example.com", "patching team@example.com")],
    *[("CreateConfigRecorder", v, True) for v in ("true", "false")],
    *[("CreateConfigRecorder", v, False) for v in ("True", "yes", "")],
]
# Values the service accepts that the template refuses on purpose, and why.
STRICTER = [
    ("DataSyncPrefix", "org/inventory", "one key segment: the Glue tables and bucket policies build keys under it"),
    ("KmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:alias/patch", "key ARN: key and bucket policies name the key"),
]


def _member_errors(member: dict, name: str, value: str) -> list[str]:
    return [e for e in parameter_errors(member, {**MEMBER_REQUIRED, name: value}) if e.startswith(f"{name}:")]


@pytest.mark.parametrize(
    "name, value, accepted", SERVICE_CASES, ids=[f"{n}={v!r}-{'ok' if ok else 'refused'}" for n, v, ok in SERVICE_CASES]
)
def test_member_parameter_agrees_with_its_service(member, name, value, accepted):
    expected = [] if accepted else [f"{name}: {member['Parameters'][name]['ConstraintDescription']}"]
    assert _member_errors(member, name, value) == expected


@pytest.mark.parametrize("name, value, why", STRICTER)
def test_deliberately_stricter_than_the_service(member, name, value, why):
    assert _member_errors(member, name, value), why


def test_every_member_string_parameter_is_covered_by_the_service_table(member):
    covered = {name for name, _, _ in SERVICE_CASES}
    constrained = {
        name
        for name, decl in member["Parameters"].items()
        if decl["Type"] == "String" and "AllowedPattern" in decl or name == "CreateConfigRecorder"
    }
    assert constrained - covered == set()


def _ssm_shape(name: str):
    return botocore.session.get_session().get_service_model("ssm").shape_for(name)


@pytest.mark.parametrize("name", ["MaxErrors", "MaxConcurrency"])
def test_count_or_percentage_patterns_equal_the_ssm_model_on_every_short_value(member, name):
    """Every value of up to 3 characters over digits and %, and longer numbers: the template's pattern accepts
    exactly what the SSM model's pattern and length limit accept."""
    meta = _ssm_shape(name).metadata
    alphabet = "0123456789%"
    values = [a + b + c for a in alphabet for b in ["", *alphabet] for c in ["", *alphabet]]
    values += [lead + "0" * n + tail for lead in ("1", "9", "0") for n in range(2, 9) for tail in ("", "%")]
    pattern = member["Parameters"][name]["AllowedPattern"]
    for value in values:
        service = meta["min"] <= len(value) <= meta["max"] and re.search(meta["pattern"], value) is not None
        assert bool(re.fullmatch(pattern, value)) == service, value


def _association_rate_accepted(value: int, unit: str) -> bool:
    """The documented association rate rule: 30 minutes or more, less than 31 days; singular unit for 1."""
    if unit.endswith("s") == (value == 1) or value < 1:
        return False
    minutes = value * {"minute": 1, "hour": 60, "day": 24 * 60}[unit.rstrip("s")]
    return 30 <= minutes < 31 * 24 * 60


def test_association_rate_pattern_is_exactly_the_documented_range(member):
    pattern = member["Parameters"]["InventorySchedule"]["AllowedPattern"]
    numbers = [*range(0, 1000), *range(44600, 44700), 10**6]
    for unit in ("minute", "minutes", "hour", "hours", "day", "days"):
        for n in numbers:
            value = f"rate({n} {unit})"
            assert bool(re.fullmatch(pattern, value)) == _association_rate_accepted(n, unit), value


def test_integer_range_matches_exactly_its_range_without_leading_zeros():
    for low, high in [(0, 0), (0, 9), (1, 31), (2, 30), (2, 743), (30, 44639), (99, 101), (123, 98765)]:
        regex = re.compile(patterns.integer_range(low, high))
        for n in range(0, 100_001):
            assert bool(regex.fullmatch(str(n))) == (low <= n <= high), (low, high, n)
        assert not any(regex.fullmatch(f"0{n}") for n in range(0, 1000))


def test_every_iana_time_zone_matches_the_timezone_pattern(member):
    pattern = member["Parameters"]["MaintenanceWindowTimezone"]["AllowedPattern"]
    zones = zoneinfo.available_timezones()
    assert len(zones) > 300, "no time zone database on this machine"
    assert sorted(z for z in zones if not re.fullmatch(pattern, z)) == []


def test_numeric_and_enumerated_member_parameters_equal_the_api_model(member):
    session = botocore.session.get_session()
    for name, shape in (("MaintenanceWindowDuration", "MaintenanceWindowDurationHours"),
                        ("MaintenanceWindowCutoff", "MaintenanceWindowCutoff")):  # fmt: skip
        meta = _ssm_shape(shape).metadata
        decl = member["Parameters"][name]
        assert (int(decl["MinValue"]), int(decl["MaxValue"])) == (meta["min"], meta["max"]), name
    frequency = session.get_service_model("config").shape_for("MaximumExecutionFrequency").enum
    assert member["Parameters"]["ConfigDeliveryFrequency"]["AllowedValues"] == frequency
    retention = session.get_service_model("logs").operation_model("PutRetentionPolicy")
    documented = re.search(
        r"Possible values are: ([0-9, and]+)\.", retention.input_shape.members["retentionInDays"].documentation
    )
    days = [int(d) for d in re.findall(r"[0-9]+", documented[1])]
    assert [int(d) for d in member["Parameters"]["LogRetentionDays"]["AllowedValues"]] == days


def _message_examples(message: str) -> list[str]:
    return re.findall(r"(?:cron|rate|at)\([^()]+\)", message)


@pytest.mark.parametrize("name", sorted(SCHEDULE_PATTERNS))
def test_every_concrete_schedule_named_in_a_message_is_accepted(member, name):
    decl = member["Parameters"][name]
    concrete = [e for e in _message_examples(decl["ConstraintDescription"]) if not re.search(r"[<|]|\d-\d|yyyy|/n", e)]
    assert concrete, decl["ConstraintDescription"]
    for example in concrete:
        assert re.fullmatch(decl["AllowedPattern"], example), example


def test_rate_forms_named_in_the_window_message_are_exactly_the_accepted_ones(member):
    decl = member["Parameters"]["MaintenanceWindowSchedule"]
    assert "rate(1 minute|hour|day), rate(<n> minutes|hours|days)" in decl["ConstraintDescription"]
    assert (
        "cron() with 6 fields" in decl["ConstraintDescription"]
        and "or 7 (leading seconds)" in decl["ConstraintDescription"]
    )
    for unit in ("minute", "hour", "day"):
        assert re.fullmatch(decl["AllowedPattern"], f"rate(1 {unit})")
        assert re.fullmatch(decl["AllowedPattern"], f"rate(2 {unit}s)")
        assert not re.fullmatch(decl["AllowedPattern"], f"rate(2 {unit})")
    assert re.fullmatch(decl["AllowedPattern"], "cron(1 2 3 ? * * *)")  # 7 fields
    assert not re.fullmatch(decl["AllowedPattern"], "cron(2 3 ? * *)")  # 5 fields
    assert re.fullmatch(decl["AllowedPattern"], "at(2026-07-07T15:55:00)")


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
