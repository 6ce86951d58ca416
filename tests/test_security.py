"""Security and reliability review of both generated templates (templates/*.yaml), as a cloud security team
would do it: checkov, every IAM/resource policy, the buckets, custom resources, EventBridge targets, Lambdas.

Each checker returns a list of findings (empty = pass), so the same code runs on the real templates and on
deliberately broken copies: the second half of this file proves every checker can fail.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchcompliance.policies import UNSCOPED_ACTIONS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATHS = [ROOT / "templates" / "patch-compliance.yaml", ROOT / "templates" / "patch-compliance-member.yaml"]

# Pinned: another checkov version has other checks, so the figures in the README would no longer hold.
CHECKOV_VERSION = "3.3.30"

# Every checkov skip of both templates: check -> logical IDs. The README "Security" section lists the same
# checks with the reasons given in each resource's Metadata. A new skip must be added here on purpose.
FUNCTIONS = (
    "AthenaViewsFunction",
    "PartitioningFunction",
    "EC2TaggingFunction",
    "ConfigExportFunction",
    "InventoryPartitionsFunction",
    "DigestFunction",
    "HistoryFunction",
)
EXPECTED_SKIPS = {
    "CKV_AWS_18": {"AccessLogBucket"},  # the access-log bucket does not log to itself
    "CKV_AWS_19": {"AthenaBucket", "ConfigBucket", "DataSyncBucket"},  # SSE chosen by Fn::If
    "CKV_AWS_26": {"ConfigTopic"},  # AWS Config does not support encrypted SNS topics
    "CKV_AWS_27": {
        "AthenaViewsDeadLetterQueue",
        "PartitioningDeadLetterQueue",
        "EC2TaggingDeadLetterQueue",
        "ConfigExportDeadLetterQueue",
        "InventoryPartitionsDeadLetterQueue",
        "DigestDeadLetterQueue",
        "HistoryDeadLetterQueue",
    },
    "CKV_AWS_115": set(FUNCTIONS),
    "CKV_AWS_117": set(FUNCTIONS),
    "CKV_AWS_158": {f"{name}LogGroup" for name in FUNCTIONS},
    "CKV_AWS_173": {
        "PartitioningFunction",
        "ConfigExportFunction",
        "InventoryPartitionsFunction",
        "DigestFunction",
        "HistoryFunction",
    },
}

# Trust policies name aws:SourceAccount/aws:SourceArn unless the service has no such guard for the role.
TRUST_WITHOUT_SOURCE_CONDITION = {
    # Lambda documents no confused-deputy condition keys for assuming an execution role; the role is only
    # ever passed to this stack's own functions.
    "lambda.amazonaws.com",
    # QuickSight's user guide gives the trust policy of a role for its data sources with no condition keys
    # (no aws:SourceAccount/aws:SourceArn documented for quicksight.amazonaws.com assuming a role).
    "quicksight.amazonaws.com",
}
SOURCE_KEYS = {"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid"}
POLICY_PROPERTY = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::IAM::Policy": "PolicyDocument",
    "AWS::IAM::ManagedPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}
BROAD_MANAGED_POLICY = re.compile(r"FullAccess|AdministratorAccess|PowerUserAccess")
CUSTOM_RESOURCE = re.compile(r"^(Custom::.+|AWS::CloudFormation::CustomResource)$")


# ================================================================ template helpers
def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def branches(value) -> Iterator:
    """Both branches of every Fn::If (an absent branch, AWS::NoValue, yields nothing)."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        _, when_true, when_false = value["Fn::If"]
        yield from branches(when_true)
        yield from branches(when_false)
    elif isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return
    else:
        yield value


def render(value) -> str:
    """An intrinsic as readable text: Ref X -> ${X}, GetAtt X.Arn -> ${X.Arn}, Sub resolved, Fn::If as a|b."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref":
            return "${" + arg + "}"
        if key == "Fn::GetAtt":
            return "${" + ".".join(as_list(arg)) + "}"
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            text = re.sub(r"\$\{(?!!)([^}]+)\}", lambda m: render(variables[m[1]]) if m[1] in variables else m[0], text)
            return text.replace("${!", "${")
        if key == "Fn::Join":
            return arg[0].join(render(v) for v in as_list(arg[1]))
        if key == "Fn::If":
            return "|".join(render(v) for v in branches(value))
    return json.dumps(value, sort_keys=True)


def resources(template, type_pattern: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if re.fullmatch(type_pattern, v["Type"])}


def getatt_target(value) -> str | None:
    """Logical ID of a `!GetAtt X.Arn` (or of a `!Ref X`)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        arg = value["Fn::GetAtt"]
        return (arg if isinstance(arg, list) else arg.split("."))[0]
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    return None


def condition_keys(statement) -> set[str]:
    return {key.lower() for block in statement.get("Condition", {}).values() for key in block}


def statement_variants(statement) -> Iterator[dict]:
    """A statement once per branch of an Fn::If on the whole statement or on its Condition (bucket policies
    choose their condition by HasOrganizationId), so each deployable form is checked."""
    for variant in branches(statement):
        condition = variant.get("Condition")
        if isinstance(condition, dict) and list(condition) == ["Fn::If"]:
            for block in branches(condition):
                yield {**variant, "Condition": block}
        else:
            yield variant


# ================================================================ policy walker
def policy_documents(template) -> Iterator[tuple[str, str, dict]]:
    """(where, kind, document) for every policy in the template; kind is identity, trust or resource."""
    for name, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for doc in branches(props.get("AssumeRolePolicyDocument", {})):
                yield f"{name} trust policy", "trust", doc
            for entry in props.get("Policies", []):
                for policy in branches(entry):
                    for doc in branches(policy["PolicyDocument"]):
                        yield f"{name} policy {policy.get('PolicyName')}", "identity", doc
        elif res["Type"] in POLICY_PROPERTY:
            kind = "identity" if res["Type"].startswith("AWS::IAM::") else "resource"
            for doc in branches(props.get(POLICY_PROPERTY[res["Type"]], {})):
                yield name, kind, doc


def statement_findings(where: str, kind: str, statement: dict) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []  # Deny statements may be broad (e.g. DenyInsecureTransport on s3:*)
    found = []
    for element in ("NotAction", "NotResource", "NotPrincipal"):
        if element in statement:
            found.append(f"{where}: Allow with {element}")
    actions = [render(a) for a in as_list(statement.get("Action", []))]
    for action in actions:
        if "*" in action:
            found.append(f"{where}: wildcard action {action}")
    principal = statement.get("Principal")
    if principal is not None:
        principal = {"AWS": principal} if isinstance(principal, str) else principal
        if "*" in [v for values in principal.values() for v in as_list(values)]:
            found.append(f"{where}: Allow to Principal *")
        services = [render(s) for s in as_list(principal.get("Service", []))]
        needs_source = [s for s in services if not (kind == "trust" and s in TRUST_WITHOUT_SOURCE_CONDITION)]
        if needs_source and not condition_keys(statement) & SOURCE_KEYS:
            found.append(f"{where}: {', '.join(needs_source)} without aws:SourceAccount/aws:SourceArn condition")
    if kind != "trust":
        for resource in (render(r) for r in as_list(statement.get("Resource", []))):
            unscoped = resource == "*" or re.fullmatch(r"arn:[^:]+:[^:]+:[^:]*:[^:]*:\*", resource)
            if unscoped and not all(a in UNSCOPED_ACTIONS for a in actions):
                others = sorted(a for a in actions if a not in UNSCOPED_ACTIONS)
                found.append(f"{where}: {', '.join(others)} on unscoped resource {resource}")
    return found


def policy_findings(template) -> list[str]:
    found = []
    for where, kind, doc in policy_documents(template):
        for statement in as_list(doc.get("Statement", [])):
            for variant in statement_variants(statement):
                found += statement_findings(where, kind, variant)
    for name, role in resources(template, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            if BROAD_MANAGED_POLICY.search(render(arn)):
                found.append(f"{name}: broad managed policy {render(arn)}")
    for name, permission in resources(template, "AWS::Lambda::Permission").items():
        props = permission["Properties"]
        if props.get("Principal") == "*" or "SourceArn" not in props:
            found.append(f"{name}: Lambda permission without a principal and SourceArn")
    return found


def scope_findings(template) -> list[str]:
    """Service-specific scoping: logs to the function's own log group, Glue to the database, Athena to the
    workgroup (or the catalog's metadata), S3 object actions below a bucket."""
    found = []
    role_of = {
        getatt_target(fn["Properties"]["Role"]): fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for fn in resources(template, "AWS::Lambda::Function").values()
    }
    for where, kind, doc in policy_documents(template):
        if kind != "identity":
            continue
        role = where.split(" ")[0]
        for statement in as_list(doc.get("Statement", [])):
            if statement.get("Effect") != "Allow":
                continue
            actions = [render(a) for a in as_list(statement.get("Action", []))]
            targets = [render(r) for r in as_list(statement.get("Resource", []))]
            services = {a.split(":")[0] for a in actions}
            if "logs" in services:
                own = "${" + role_of.get(role, "?") + ".Arn}"
                if targets != [own] or "logs:CreateLogGroup" in actions:
                    found.append(f"{where}: log permissions {actions} on {targets}, not only {own}")
            if "glue" in services:
                for target in targets:
                    if not re.search(r":catalog$|:(database|table)/\$\{AthenaDatabase\}", target):
                        found.append(f"{where}: Glue actions on {target}, outside the database")
            if "athena" in services:
                for target in targets:
                    if not re.search(r":workgroup/\$\{AthenaWorkGroup\}$|:datacatalog/AwsDataCatalog$", target):
                        found.append(f"{where}: Athena actions on {target}, not the workgroup")
            object_actions = [a for a in actions if re.fullmatch(r"s3:(Get|Put|Delete)Object\w*|s3:Abort\w+", a)]
            for target in targets if object_actions else []:
                if not re.search(r"^(\$\{\w+\.Arn\}|arn:\$\{AWS::Partition\}:s3:::\$\{\w+\})/.+", target):
                    found.append(f"{where}: {object_actions} on {target}, not below one bucket")
    return found


# ================================================================ buckets
def bucket_findings(template) -> list[str]:
    found = []
    buckets = resources(template, "AWS::S3::Bucket")
    policies_by_bucket = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    log_buckets = {n for n, b in buckets.items() if "LoggingConfiguration" not in b["Properties"]}
    for name, bucket in buckets.items():
        props = bucket["Properties"]

        def check(ok, message, name=name):
            if not ok:
                found.append(f"{name}: {message}")

        check(bucket.get("DeletionPolicy") == "Retain", "DeletionPolicy is not Retain")
        check(bucket.get("UpdateReplacePolicy") == "Retain", "UpdateReplacePolicy is not Retain")
        pab = props.get("PublicAccessBlockConfiguration", {})
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            check(pab.get(flag) is True, f"{flag} is not true")
        rules = props.get("OwnershipControls", {}).get("Rules", [])
        check([r.get("ObjectOwnership") for r in rules] == ["BucketOwnerEnforced"], "ACLs not disabled")
        sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])[0]
        by_default = sse.get("ServerSideEncryptionByDefault", {})
        algorithms = [render(a) for a in branches(by_default.get("SSEAlgorithm"))]
        if name in log_buckets:  # S3 server access logs can only be delivered to an SSE-S3 bucket
            check(algorithms == ["AES256"], f"access-log bucket encryption {algorithms}, not AES256")
        else:
            check(algorithms == ["aws:kms", "AES256"], f"encryption {algorithms}, not Fn::If(HasKmsKey, kms, S3)")
            check(
                by_default.get("KMSMasterKeyID")
                == {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]},
                "KMS key is not Fn::If(HasKmsKey, KmsKeyArn, NoValue)",
            )
            target = props.get("LoggingConfiguration", {}).get("DestinationBucketName")
            check(target is not None and target.get("Ref") in log_buckets, "no access logging to the log bucket")
        check(props.get("VersioningConfiguration", {}).get("Status") == "Enabled", "not versioned")
        lifecycle = [r for r in props.get("LifecycleConfiguration", {}).get("Rules", []) if r["Status"] == "Enabled"]
        check(any("NoncurrentVersionExpiration" in r for r in lifecycle), "noncurrent versions never expire")
        check(any("AbortIncompleteMultipartUpload" in r for r in lifecycle), "incomplete uploads never expire")
        expiry = {render(r["ExpirationInDays"]) for r in lifecycle if "ExpirationInDays" in r}
        required = {"AthenaBucket": "${AthenaResultsRetentionDays}", "ConfigBucket": "${ConfigRetentionDays}"}
        if name in required:
            check(required[name] in expiry, f"objects do not expire after {required[name]} days")
        deny = [
            s
            for s in as_list(policies_by_bucket.get(name, {}).get("Statement", []))
            if s.get("Effect") == "Deny"
            and s.get("Principal") == "*"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            and {render(r) for r in s.get("Resource", [])} == {f"${{{name}.Arn}}", f"${{{name}.Arn}}/*"}
        ]
        check(deny, "no bucket policy denying non-TLS requests to the bucket and its objects")
    return found


DELIVERY = {  # bucket policy -> (service principal, the only object path it may write)
    "ConfigBucketPolicy": ("config", "${ConfigBucket.Arn}/AWSLogs/*/Config/*"),
    "DataSyncBucketPolicy": ("ssm", "${DataSyncBucket.Arn}/${DataSyncPrefix}/*/accountid=*/*"),
}
# Who may deliver: organisation mode (HasOrganizationId) -> aws:SourceOrgID, account mode -> aws:SourceAccount.
DELIVERY_SOURCE = {
    True: ("aws:sourceorgid", {"Ref": "OrganizationId"}),
    False: ("aws:sourceaccount", {"Ref": "AccountIds"}),
}


def delivery_findings(template) -> list[str]:
    """Config and SSM may write only below their documented prefixes, from the organisation (organisation mode)
    or the AccountIds accounts (account mode); no policy variable in any Resource."""
    found = []
    for name, (service, path) in DELIVERY.items():
        statements = as_list(template["Resources"][name]["Properties"]["PolicyDocument"]["Statement"])
        allows = [s for s in statements if s["Effect"] == "Allow"]
        if not allows:
            found.append(f"{name}: no delivery statement")
        for s in allows:
            principals = [render(p) for p in as_list(s.get("Principal", {}).get("Service", []))]
            if not principals or principals[0] != f"{service}.amazonaws.com":
                found.append(f"{name}: principal {s.get('Principal')} is not {service}.amazonaws.com")
            if any(not re.fullmatch(rf"{service}\.[a-z0-9-]+\.amazonaws\.com", p) for p in principals[1:]):
                found.append(f"{name}: principals {principals} are not {service} and its regional principals")
            resources = [render(r) for r in as_list(s["Resource"])]
            if any("${aws:" in r.lower() for r in resources):
                found.append(f"{name}: {s.get('Sid')} has a policy variable in Resource {resources}")
            condition = s.get("Condition", {})
            if list(condition) != ["Fn::If"] or condition["Fn::If"][0] != "HasOrganizationId":
                found.append(f"{name}: {s.get('Sid')} condition is not chosen by HasOrganizationId")
                continue
            for organisation_mode, block in zip((True, False), condition["Fn::If"][1:], strict=True):
                key, value = DELIVERY_SOURCE[organisation_mode]
                keys = {k.lower(): v for block_keys in block.values() for k, v in block_keys.items()}
                if keys.get(key) != value or ({"aws:sourceorgid", "aws:sourceaccount"} - {key}) & set(keys):
                    found.append(f"{name}: {s.get('Sid')} not limited by {key} = {value} when {organisation_mode=}")
                if "s3:PutObject" in as_list(s["Action"]) and keys.get("s3:x-amz-acl") != "bucket-owner-full-control":
                    found.append(f"{name}: PutObject without bucket-owner-full-control")
            if "s3:PutObject" in as_list(s["Action"]) and resources != [path]:
                found.append(f"{name}: PutObject on {resources}, not {path}")
    return found


# ================================================================ reliability
def encrypted_queue(template, logical_id) -> bool:
    props = template["Resources"].get(logical_id, {}).get("Properties", {})
    return template["Resources"].get(logical_id, {}).get("Type") == "AWS::SQS::Queue" and (
        props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
    )


def async_functions(template) -> dict[str, str]:
    """Functions invoked asynchronously -> by what (EventBridge rule or CloudFormation custom resource)."""
    functions = resources(template, "AWS::Lambda::Function")
    invoked = {}
    for name, rule in resources(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            if getatt_target(target["Arn"]) in functions:
                invoked[getatt_target(target["Arn"])] = f"rule {name}"
    for name, custom in resources(template, CUSTOM_RESOURCE.pattern).items():
        token = getatt_target(custom["Properties"].get("ServiceToken"))
        if token in functions:
            invoked.setdefault(token, f"custom resource {name}")
    return invoked


def reliability_findings(template) -> list[str]:
    found = []
    functions = resources(template, "AWS::Lambda::Function")
    for name, custom in resources(template, CUSTOM_RESOURCE.pattern).items():
        props = custom["Properties"]
        timeout = props.get("ServiceTimeout")
        fn = functions.get(getatt_target(props.get("ServiceToken")), {}).get("Properties", {})
        if not isinstance(timeout, int) or not fn.get("Timeout", 900) < timeout < 3600:
            found.append(
                f"{name}: ServiceTimeout {timeout} not between the Lambda timeout {fn.get('Timeout')} and 3600"
            )
    for name, rule in resources(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            if getatt_target(target["Arn"]) not in functions:
                continue
            retry = target.get("RetryPolicy", {})
            if not {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} <= set(retry):
                found.append(f"{name}: target {target['Id']} has no RetryPolicy")
            dlq = getatt_target(target.get("DeadLetterConfig", {}).get("Arn"))
            if not encrypted_queue(template, dlq):
                found.append(f"{name}: target {target['Id']} has no encrypted dead-letter queue")
    invoke_configs = {
        c["Properties"]["FunctionName"]["Ref"] for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
    }
    for name, by in async_functions(template).items():
        dlq = getatt_target(functions[name]["Properties"].get("DeadLetterConfig", {}).get("TargetArn"))
        if not encrypted_queue(template, dlq):
            found.append(f"{name}: invoked asynchronously by {by} but has no encrypted dead-letter queue")
        if name not in invoke_configs:
            found.append(f"{name}: invoked asynchronously by {by} but has no EventInvokeConfig")
    for name, fn in functions.items():
        group = fn["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        props = template["Resources"].get(group, {}).get("Properties", {})
        if template["Resources"].get(group, {}).get("Type") != "AWS::Logs::LogGroup" or "RetentionInDays" not in props:
            found.append(f"{name}: no declared log group with RetentionInDays")
    return found


# ================================================================ tests on the real templates
@pytest.fixture(scope="module")
def checkov_report() -> dict:
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}  # no network: no PyPI version check
    command = [str(Path(sys.executable).parent / "checkov"), "--framework", "cloudformation", "--skip-download"]
    command += [arg for path in TEMPLATE_PATHS for arg in ("-f", str(path))] + ["-o", "json"]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    reports = json.loads(run.stdout)
    return reports if isinstance(reports, dict) else {"summary": {}, "results": {}}


def test_checkov_version_is_pinned(checkov_report):
    assert checkov_report["summary"].get("checkov_version") == CHECKOV_VERSION


def test_checkov_reports_no_failed_check(checkov_report):
    summary, results = checkov_report["summary"], checkov_report["results"]
    failed = [f"{r['check_id']} {r['resource']} ({Path(r['file_path']).name})" for r in results["failed_checks"]]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 60 and summary["passed"] > 90  # both templates were really scanned


def test_checkov_skips_are_the_documented_ones(checkov_report):
    skipped: dict[str, set[str]] = {}
    for r in checkov_report["results"]["skipped_checks"]:
        skipped.setdefault(r["check_id"], set()).add(r["resource"].split(".", 1)[1])
        assert len(r["check_result"].get("suppress_comment", "")) > 30, f"{r['check_id']} needs a real reason"
    assert skipped == EXPECTED_SKIPS


def test_readme_lists_every_checkov_skip():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Security" in readme
    security = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    assert [check for check in EXPECTED_SKIPS if check not in security] == []


@pytest.mark.parametrize(
    "checker", [policy_findings, scope_findings, bucket_findings, delivery_findings, reliability_findings]
)
def test_central_template(central, checker):
    assert checker(central) == []


@pytest.mark.parametrize("checker", [policy_findings, scope_findings, reliability_findings])
def test_member_template(member, checker):
    assert checker(member) == []


def test_every_template_has_what_the_checks_look_at(central, member):
    """Guards against vacuous passes: the walkers must see policies, buckets, rules and custom resources."""
    assert len(list(policy_documents(central))) >= 10 and len(list(policy_documents(member))) >= 4
    assert len(resources(central, "AWS::S3::Bucket")) == 4
    assert set(async_functions(central)) == {
        "PartitioningFunction",
        "AthenaViewsFunction",
        "ConfigExportFunction",
        "InventoryPartitionsFunction",
        "DigestFunction",
        "HistoryFunction",
    }
    assert set(async_functions(member)) == {"EC2TaggingFunction"}
    assert resources(central, CUSTOM_RESOURCE.pattern) and resources(member, CUSTOM_RESOURCE.pattern)


def test_unscoped_actions_are_used_and_documented(both):
    used = {
        render(a)
        for template in both.values()
        for _, kind, doc in policy_documents(template)
        for s in as_list(doc.get("Statement", []))
        if kind == "identity" and "*" in as_list(s.get("Resource", []))
        for a in as_list(s["Action"])
    }
    assert used == set(UNSCOPED_ACTIONS)  # no stale allow-list entry
    assert all(len(reason) > 20 for reason in UNSCOPED_ACTIONS.values())


# ================================================================ the checkers can fail
def _role_statements(template, role="LambdaExecutionRole"):
    return template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def _break_wildcard_action(t):
    _role_statements(t)[-1]["Action"] = ["s3:*"]


def _break_star_resource(t):
    _role_statements(t).append({"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "*"})


def _break_public_principal(t):
    statements = t["Resources"]["ConfigBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements.append({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "x"})


def _break_managed_policy(t):
    t["Resources"]["AthenaViewsRole"]["Properties"]["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/AmazonAthenaFullAccess"
    ]


def _break_trust_condition(t):
    del t["Resources"]["ConfigAggregatorRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]


def _break_log_scope(t):
    _role_statements(t)[0]["Resource"] = [{"Fn::Sub": "arn:${AWS::Partition}:logs:*:*:*"}]


def _break_glue_scope(t):
    statements = _role_statements(t, "AthenaViewsRole")
    glue = next(s for s in statements if s["Action"][0].startswith("glue:"))
    glue["Resource"].append({"Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/*"})


def _break_public_access_block(t):
    t["Resources"]["DataSyncBucket"]["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False


def _break_retention_policy(t):
    t["Resources"]["AthenaBucket"]["DeletionPolicy"] = "Delete"


def _break_tls_deny(t):
    doc = t["Resources"]["ConfigBucketPolicy"]["Properties"]["PolicyDocument"]
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != "DenyInsecureTransport"]


def _break_results_expiry(t):
    rules = t["Resources"]["AthenaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    rules[:] = [r for r in rules if "ExpirationInDays" not in r]


def _break_config_path(t):
    statements = t["Resources"]["ConfigBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    put = next(s for s in statements if "s3:PutObject" in as_list(s["Action"]))
    put["Resource"] = [{"Fn::Sub": ["${Bucket}/*", {"Bucket": {"Fn::GetAtt": ["ConfigBucket", "Arn"]}}]}]


def _break_policy_variable(t):
    statements = t["Resources"]["DataSyncBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    put = next(s for s in statements if "s3:PutObject" in as_list(s["Action"]))
    put["Resource"] = [{"Fn::Sub": "${DataSyncBucket.Arn}/${DataSyncPrefix}/*/accountid=${!aws:SourceAccount}/*"}]


def _break_account_mode(t):
    statements = t["Resources"]["ConfigBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    check = next(s for s in statements if s.get("Sid") == "AWSConfigBucketExistenceCheck")
    check["Condition"]["Fn::If"][2] = {"StringEquals": {"aws:SourceOrgID": {"Ref": "OrganizationId"}}}


def _break_service_timeout(t):
    t["Resources"]["AthenaViews"]["Properties"]["ServiceTimeout"] = 3600


def _break_rule_dlq(t):
    del t["Resources"]["PartitioningRule"]["Properties"]["Targets"][0]["DeadLetterConfig"]


def _break_queue_encryption(t):
    del t["Resources"]["PartitioningDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"]


def _break_function_dlq(t):
    del t["Resources"]["AthenaViewsFunction"]["Properties"]["DeadLetterConfig"]


def _break_log_retention(t):
    del t["Resources"]["PartitioningFunctionLogGroup"]["Properties"]["RetentionInDays"]


BREAKAGES = [
    (_break_wildcard_action, policy_findings, "wildcard action s3:*"),
    (_break_star_resource, policy_findings, "glue:GetTable on unscoped resource *"),
    (_break_public_principal, policy_findings, "ConfigBucketPolicy: Allow to Principal *"),
    (_break_managed_policy, policy_findings, "broad managed policy arn:aws:iam::aws:policy/AmazonAthenaFullAccess"),
    (_break_trust_condition, policy_findings, "config.amazonaws.com without aws:SourceAccount"),
    (_break_log_scope, scope_findings, "log permissions"),
    (_break_glue_scope, scope_findings, "outside the database"),
    (_break_public_access_block, bucket_findings, "DataSyncBucket: RestrictPublicBuckets is not true"),
    (_break_retention_policy, bucket_findings, "AthenaBucket: DeletionPolicy is not Retain"),
    (_break_tls_deny, bucket_findings, "ConfigBucket: no bucket policy denying non-TLS"),
    (_break_results_expiry, bucket_findings, "AthenaBucket: objects do not expire"),
    (_break_config_path, delivery_findings, "ConfigBucketPolicy: PutObject on"),
    (_break_policy_variable, delivery_findings, "DataSyncBucketPolicy: SSMBucketDelivery has a policy variable"),
    (_break_account_mode, delivery_findings, "AWSConfigBucketExistenceCheck not limited by aws:sourceaccount"),
    (_break_service_timeout, reliability_findings, "AthenaViews: ServiceTimeout 3600"),
    (_break_rule_dlq, reliability_findings, "PartitioningRule: target partitioning has no encrypted dead-letter"),
    (_break_queue_encryption, reliability_findings, "PartitioningFunction: invoked asynchronously by rule"),
    (_break_function_dlq, reliability_findings, "AthenaViewsFunction: invoked asynchronously by custom resource"),
    (_break_log_retention, reliability_findings, "PartitioningFunction: no declared log group with RetentionInDays"),
]


@pytest.mark.parametrize("breakage, checker, expected", BREAKAGES, ids=[b[0].__name__[7:] for b in BREAKAGES])
def test_checker_catches(central, breakage, checker, expected):
    broken = copy.deepcopy(central)
    breakage(broken)
    findings = checker(broken)
    assert any(expected in f for f in findings), findings


def test_walker_flags_notaction_and_lambda_permission_without_source(member):
    broken = copy.deepcopy(member)
    _role_statements(broken).append({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})
    del broken["Resources"]["EC2TaggingSchedulePermission"]["Properties"]["SourceArn"]
    findings = policy_findings(broken)
    assert any("Allow with NotAction" in f for f in findings)
    assert any("EC2TaggingSchedulePermission: Lambda permission" in f for f in findings)
