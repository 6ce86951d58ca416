"""patchcompliance.digest on its own: a standalone template with the parameters and stand-ins it needs, linted
with cfn-lint and checkov, its IAM reviewed with the security checkers of tests/test_security.py, its conditions
and Rules evaluated for each way of configuring the digest, and every name tied to its consumer (function
environment, view SQL, README)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint
from troposphere import Ref, Template
from troposphere.cloudformation import StackSet
from troposphere.s3 import Bucket, LifecycleConfiguration

from patchcompliance import athena, digest, glue, parameters
from patchcompliance import constants as c
from patchcompliance.render import function_source, view_sql
from tests.support.cfn import condition_true
from tests.test_parameters import refusals
from tests.test_security import policy_findings, reliability_findings, scope_findings

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "ap-northeast-3", "eu-south-1", "ap-east-2", "ca-west-1"]
EMAIL = {"DigestEmail": "ops@example.com"}
TOPIC = {"DigestTopicArn": "arn:aws:sns:eu-west-1:123456789012:patch-alerts"}
OWN = {  # everything add_digest adds (the rest of the standalone template is stand-ins)
    digest.DIGEST_FUNCTION, digest.DIGEST_ROLE, f"{digest.DIGEST_FUNCTION}LogGroup", digest.DIGEST_SCHEDULE,
    digest.DIGEST_SCHEDULE_PERMISSION, digest.DIGEST_DLQ, digest.DIGEST_DLQ_POLICY, digest.DIGEST_TOPIC,
    digest.DIGEST_SUBSCRIPTION, digest.EXPECTED_TARGETS_TABLE, f"{digest.DIGEST_FUNCTION}InvokeConfig",
}  # fmt: skip


def standalone() -> Template:
    template = Template(Description="Digest, standalone")
    template.set_version()
    specs = [
        *digest.SPECS,
        parameters.KMS,
        parameters.LOG_RETENTION,
        next(s for s in parameters.CENTRAL_SPECS if s.name == "CallAs"),
        next(s for s in parameters.CENTRAL_SPECS if s.name == "DatabaseName"),
    ]
    params = parameters.add_parameters(template, specs)
    buckets = {
        name: template.add_resource(Bucket(name, DeletionPolicy="Retain", UpdateReplacePolicy="Retain"))
        for name in (c.ATHENA_BUCKET, c.CONFIG_BUCKET, c.DATASYNC_BUCKET)
    }
    rules = digest.lifecycle_rules(params["ReportRetentionDays"])
    buckets[c.ATHENA_BUCKET].LifecycleConfiguration = LifecycleConfiguration(Rules=rules)
    database = glue.add_database(template, Ref(params["DatabaseName"]))
    workgroup = athena.add_workgroup(template, buckets[c.ATHENA_BUCKET], params["KmsKeyArn"])
    stack_set = template.add_resource(
        StackSet(c.STACKSET, StackSetName="pc-member", PermissionModel="SELF_MANAGED", TemplateBody="{}")
    )
    digest.add_digest(
        template,
        workgroup=workgroup,
        database=database,
        results_bucket=buckets[c.ATHENA_BUCKET],
        stack_set=stack_set,
        params=params,
        source_objects=[(buckets[c.CONFIG_BUCKET], "config-export/*"), (buckets[c.DATASYNC_BUCKET], "*")],
        log_retention=params["LogRetentionDays"],
        kms_key=params["KmsKeyArn"],
    )
    return template


@pytest.fixture(scope="module")
def built() -> dict:
    return json.loads(standalone().to_json())


@pytest.fixture(scope="module")
def yaml_path(tmp_path_factory) -> Path:
    from patchcompliance.render import to_yaml

    path = tmp_path_factory.mktemp("digest") / "digest.yaml"
    path.write_text(to_yaml(standalone()), encoding="utf-8")
    return path


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- linters


def test_cfn_lint_reports_nothing(yaml_path):
    matches = lint(yaml_path.read_text(), config=ManualArgs(regions=REGIONS, include_checks=["I"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_checkov_fails_nothing_of_the_module_and_skips_only_what_it_declares(yaml_path):
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    command = [str(Path(sys.executable).parent / "checkov"), "--framework", "cloudformation", "--skip-download"]
    run = subprocess.run([*command, "-f", str(yaml_path), "-o", "json"], capture_output=True, text=True, env=env,
                         timeout=180, check=False)  # fmt: skip
    report = json.loads(run.stdout)
    results = report["results"]

    def ours(r):
        return r["resource"].split(".", 1)[1] in OWN

    assert [f"{r['check_id']} {r['resource']}" for r in results["failed_checks"] if ours(r)] == []
    skipped = {}
    for r in results["skipped_checks"]:
        if ours(r):
            skipped.setdefault(r["check_id"], set()).add(r["resource"].split(".", 1)[1])
    assert skipped == {
        "CKV_AWS_27": {digest.DIGEST_DLQ},  # SSE-SQS, as every dead-letter queue here
        "CKV_AWS_115": {digest.DIGEST_FUNCTION},
        "CKV_AWS_117": {digest.DIGEST_FUNCTION},
        "CKV_AWS_158": {f"{digest.DIGEST_FUNCTION}LogGroup"},
        "CKV_AWS_173": {digest.DIGEST_FUNCTION},
    }
    assert sum(1 for r in results["passed_checks"] if ours(r)) >= 10  # the module was really scanned


# --------------------------------------------------------------------------- IAM


@pytest.mark.parametrize("checker", [policy_findings, scope_findings, reliability_findings])
def test_security_checkers_find_nothing(built, checker):
    assert checker(built) == []


def statements(template: dict):
    """(policy name, condition or None, statement) of the digest role, both branches of each Fn::If policy."""
    for policy in template["Resources"][digest.DIGEST_ROLE]["Properties"]["Policies"]:
        condition = None
        if "Fn::If" in policy:
            condition, policy = policy["Fn::If"][0], policy["Fn::If"][1]
        for statement in policy["PolicyDocument"]["Statement"]:
            yield policy["PolicyName"], condition, statement


def test_grants_are_the_ones_the_function_needs(built):
    grants = {}
    for _, condition, statement in statements(built):
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).add(condition)
    assert grants == {
        "logs:CreateLogStream": {None}, "logs:PutLogEvents": {None},
        "athena:StartQueryExecution": {None}, "athena:GetQueryExecution": {None},
        "athena:GetQueryResults": {None}, "athena:StopQueryExecution": {None},
        "glue:GetDatabase": {None}, "glue:GetTable": {None}, "glue:GetTables": {None}, "glue:GetPartition": {None},
        "glue:GetPartitions": {None}, "glue:BatchGetPartition": {None},
        "s3:GetBucketLocation": {None}, "s3:ListBucket": {None}, "s3:GetObject": {None}, "s3:PutObject": {None},
        "s3:AbortMultipartUpload": {None},
        "cloudformation:ListStackInstances": {None},
        "events:PutEvents": {None},
        "sns:Publish": {None},
        "sqs:SendMessage": {None},
        "securityhub:BatchImportFindings": {digest.SECURITY_HUB_FINDINGS},
        "organizations:ListDelegatedAdministrators": {digest.DIGEST_AS_DELEGATED_ADMIN},
        "kms:Decrypt": {"HasKmsKey"}, "kms:GenerateDataKey": {"HasKmsKey"},
    }  # fmt: skip


def test_every_grant_is_scoped(built):
    by_action = {}
    for _, _, statement in statements(built):
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).append(statement)
    [events] = by_action["events:PutEvents"]
    assert events["Condition"] == {"StringEquals": {"events:source": digest.EVENT_SOURCE}}
    assert events["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}
    ]
    [hub] = by_action["securityhub:BatchImportFindings"]
    assert hub["Resource"][0]["Fn::Sub"].endswith(":product/${AWS::AccountId}/default")
    [listing] = by_action["cloudformation:ListStackInstances"]
    arn, variables = listing["Resource"][0]["Fn::Sub"]
    assert arn.endswith(":stackset/${StackSetId}")
    assert variables["StackSetId"] == {"Fn::GetAtt": [c.STACKSET, "StackSetId"]}
    assert variables["Account"] == {"Fn::If": [digest.DIGEST_AS_DELEGATED_ADMIN, "*", {"Ref": "AWS::AccountId"}]}
    [publish] = by_action["sns:Publish"]
    assert publish["Resource"] == [
        {"Fn::If": [digest.CREATE_DIGEST_TOPIC, {"Ref": digest.DIGEST_TOPIC}, {"Ref": "DigestTopicArn"}]}
    ]
    written = {
        json.dumps(r, sort_keys=True) for s in by_action["s3:PutObject"] for r in s["Resource"]
    }  # under results/, coverage/expected/, reports/, digest-state/ of the results bucket only
    prefixes = {re.search(r"\}/([a-z/-]*)\*", r)[1] for r in written}
    assert prefixes == {athena.RESULTS_PREFIX, digest.COVERAGE_PREFIX, digest.REPORTS_PREFIX, digest.STATE_PREFIX}
    assert all(c.ATHENA_BUCKET in r for r in written)


# --------------------------------------------------------------------------- conditions and Rules


CASES = {
    "off": ({}, set()),
    "e-mail": (EMAIL, {"function", "topic"}),
    "existing topic": (TOPIC, {"function"}),
    "e-mail, Security Hub": ({**EMAIL, "SecurityHubFindings": "true"}, {"function", "topic", "hub"}),
    "delegated admin": ({**TOPIC, "CallAs": "DELEGATED_ADMIN"}, {"function", "delegated"}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_digest_exists_only_when_it_has_somewhere_to_go(built, case):
    values, expected = CASES[case]
    assert refusals(built, values) == []
    resources = built["Resources"]

    def deployed(name):
        return condition_true(built, resources[name].get("Condition"), values)

    function_parts = OWN - {digest.DIGEST_TOPIC, digest.DIGEST_SUBSCRIPTION, digest.EXPECTED_TARGETS_TABLE}
    assert {deployed(name) for name in function_parts} == {"function" in expected}
    assert deployed(digest.DIGEST_TOPIC) == deployed(digest.DIGEST_SUBSCRIPTION) == ("topic" in expected)
    assert deployed(digest.EXPECTED_TARGETS_TABLE)  # the coverage view reads it in every case
    assert condition_true(built, digest.SECURITY_HUB_FINDINGS, values) == ("hub" in expected)
    assert condition_true(built, digest.DIGEST_AS_DELEGATED_ADMIN, values) == ("delegated" in expected)


@pytest.mark.parametrize(
    "values, message",
    [
        ({**EMAIL, **TOPIC}, f"{digest.RULE_ONE_TARGET}: Set DigestEmail"),
        ({"SecurityHubFindings": "true"}, f"{digest.RULE_SECURITY_HUB_NEEDS_DIGEST}: SecurityHubFindings true needs"),
        ({"DigestTopicArn": "arn:aws:sns:eu-west-1:123456789012:alerts.fifo"}, "DigestTopicArn: must be empty or"),
        ({"DigestTopicArn": "arn:aws:sqs:eu-west-1:123456789012:alerts"}, "DigestTopicArn: must be empty or"),
        ({"DigestEmail": "ops@"}, "DigestEmail: must be empty or an e-mail address"),
        ({"ReportLinkExpiryHours": "169"}, "ReportLinkExpiryHours: must be 1 to 168 hours"),
        ({"ReportLinkExpiryHours": "0"}, "ReportLinkExpiryHours: must be 1 to 168 hours"),
        ({"DigestSchedule": "cron(0 7 * * *)"}, "DigestSchedule: must be rate("),
        ({"FeedStaleAfterHours": "0"}, "FeedStaleAfterHours: must be 1 to 8760 hours"),
        ({"SecurityHubFindings": "yes"}, "SecurityHubFindings: must be true or false"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_created(built, values, message):
    errors = refusals(built, values)
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_link_expiry_maximum_is_the_sigv4_maximum():
    [spec] = [s for s in digest.SPECS if s.name == "ReportLinkExpiryHours"]
    assert spec.max_value * 3600 == 604_800  # X-Amz-Expires maximum: 7 days (S3, "Sharing objects with presigned URLs")
    assert spec.default == spec.max_value


def test_specs_have_group_label_and_message():
    for spec in digest.SPECS:
        assert spec.group == digest.G_ALERTS and spec.label and len(spec.description) > 40
        assert spec.constraint, spec.name
        if spec.pattern:
            assert re.fullmatch(spec.pattern, str(spec.default)), spec.name


# --------------------------------------------------------------------------- names tied to their consumers


def test_environment_is_what_the_function_reads(built):
    env = built["Resources"][digest.DIGEST_FUNCTION]["Properties"]["Environment"]["Variables"]
    source = function_source(c.FUNCTION_DIRS[digest.DIGEST_FUNCTION])
    read = set(re.findall(r'env(?:\.get\(|\[)"([A-Z_]+)"', source)) - {"AWS_REGION", "AWS_DEFAULT_REGION"}
    assert set(env) == read
    assert env["COVERAGE_KEY"] == digest.EXPECTED_TARGETS_KEY and env["EVENT_SOURCE"] == digest.EVENT_SOURCE
    assert env["REPORTS_PREFIX"] == digest.REPORTS_PREFIX and env["STATE_PREFIX"] == digest.STATE_PREFIX
    assert env["DUE_SOON_DAYS"] == str(digest.DUE_SOON_DAYS)
    assert env["STACK_SET"] == {"Fn::GetAtt": [c.STACKSET, "StackSetId"]}
    for name in ("LinkExpiryHours", "FeedStaleAfterHours", "SecurityHubFindings"):
        key = {"LinkExpiryHours": "LINK_EXPIRY_HOURS", "FeedStaleAfterHours": "FEED_STALE_AFTER_HOURS",
               "SecurityHubFindings": "SECURITY_HUB"}[name]  # fmt: skip
        assert env[key] == {"Ref": "ReportLinkExpiryHours" if name == "LinkExpiryHours" else name}


def test_function_code_is_inlined_verbatim_and_small_enough(built):
    fn = built["Resources"][digest.DIGEST_FUNCTION]["Properties"]
    assert fn["Code"]["ZipFile"] == function_source("digest")
    assert fn["Runtime"] == "python3.13" and fn["Timeout"] == digest.TIMEOUT
    assert len(fn["Code"]["ZipFile"].encode()) < 100 * 1024  # the central template is read from S3 (1 MB)


def test_expected_targets_table_is_where_the_function_writes():
    table = json.loads(standalone().to_json())["Resources"][digest.EXPECTED_TARGETS_TABLE]["Properties"]
    sd = table["TableInput"]["StorageDescriptor"]
    assert table["TableInput"]["Name"] == digest.EXPECTED_TARGETS_TABLE_NAME
    assert sd["Location"] == {
        "Fn::Sub": ["s3://${Bucket}/" + digest.COVERAGE_PREFIX, {"Bucket": {"Ref": c.ATHENA_BUCKET}}]
    }
    assert digest.EXPECTED_TARGETS_KEY.startswith(digest.COVERAGE_PREFIX)
    assert [(col["Name"], col["Type"]) for col in sd["Columns"]] == list(digest.EXPECTED_TARGETS_COLUMNS)
    assert "PartitionKeys" not in table["TableInput"]


def test_reports_and_states_expire_after_the_report_retention(built):
    rules = built["Resources"][c.ATHENA_BUCKET]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {(r["Prefix"], json.dumps(r["ExpirationInDays"])) for r in rules} == {
        (digest.REPORTS_PREFIX, '{"Ref": "ReportRetentionDays"}'),
        (digest.STATE_PREFIX, '{"Ref": "ReportRetentionDays"}'),
    }


def test_coverage_view_reads_the_table_and_the_default_threshold():
    sql = view_sql("coverage")
    assert re.search(rf"\bFROM {digest.EXPECTED_TARGETS_TABLE_NAME}\b", sql)
    assert f"coalesce(max(stale_after_hours), {digest.FEED_STALE_DEFAULT_HOURS})" in sql
    [spec] = [s for s in digest.SPECS if s.name == "FeedStaleAfterHours"]
    assert spec.default == digest.FEED_STALE_DEFAULT_HOURS


def test_function_and_readme_agree_on_event_names():
    source = function_source("digest")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for detail_type in re.findall(r'^(?:SLA|FEED)_DETAIL_TYPE = "([^"]+)"', source, re.M):
        assert f"Detail of `{detail_type}`" in readme
    assert f"`source`: `{digest.EVENT_SOURCE}`" in readme


def test_building_twice_gives_the_same_template():
    assert standalone().to_json() == standalone().to_json()
