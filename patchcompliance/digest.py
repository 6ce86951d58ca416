"""Daily digest (central): alerts and reports when compliance gets worse.

EventBridge schedule (DigestSchedule) -> DigestFunction (functions/digest): lists the StackSet's stack instances
and writes them as JSON Lines to s3://<results bucket>/coverage/expected/ (table `expected_targets`, read by the
`coverage` view), runs summary queries on the views in the stack's Athena workgroup, writes a CSV and an HTML
report under reports/<YYYY-MM-DD>/, puts one EventBridge event per newly breached node and per newly stale feed
(source `patchcompliance`), optionally imports Security Hub findings, and publishes one message to an SNS topic:
the topic this stack creates (DigestEmail subscribed) or an existing one (DigestTopicArn). With both empty the
digest is off: no function, topic, rule or queue (condition DigestEnabled); the table stays, so the `coverage`
view exists either way. Day-keyed state under digest-state/ keeps a rerun from sending anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import awacs.athena
import awacs.cloudformation
import awacs.events
import awacs.glue
import awacs.kms
import awacs.organizations
import awacs.s3 as s3
import awacs.securityhub
import awacs.sns
from awacs.aws import Allow, Condition, Statement, StringEquals
from troposphere import AccountId, And, Equals, GetAtt, If, Not, Or, Partition, Ref, Sub, Template
from troposphere.awslambda import Function
from troposphere.events import Rule
from troposphere.glue import Column, SerdeInfo, StorageDescriptor, Table
from troposphere.iam import Role
from troposphere.logs import LogGroup
from troposphere.s3 import LifecycleRule
from troposphere.sns import SubscriptionResource, Topic
from troposphere.sqs import Queue

from . import athena, policies
from . import constants as c
from .conditions import HAS_KMS, Cond, is_true, not_empty
from .events import (
    add_async_invoke_config,
    add_dead_letter_queue,
    add_retrying_target,
    allow_rule_to_invoke,
    allow_rule_to_queue,
)
from .glue import OPENX_SERDE, TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT, external_table
from .lambdas import add_function
from .parameters import SCHEDULE_MESSAGE, SCHEDULE_PATTERN, Spec

# ---------------------------------------------------------------- logical IDs and names (defined once, here)
DIGEST_FUNCTION = c.DIGEST_FUNCTION
DIGEST_ROLE = "DigestRole"
DIGEST_SCHEDULE = "DigestScheduleRule"  # the schedule parameter is DigestSchedule
DIGEST_SCHEDULE_PERMISSION = "DigestSchedulePermission"
DIGEST_DLQ = "DigestDeadLetterQueue"
DIGEST_DLQ_POLICY = "DigestDeadLetterQueuePolicy"
DIGEST_TOPIC = "DigestTopic"
DIGEST_SUBSCRIPTION = "DigestEmailSubscription"
EXPECTED_TARGETS_TABLE = "ExpectedTargetsTable"
EXPECTED_TARGETS_TABLE_NAME = "expected_targets"
RULE_ONE_TARGET = "DigestHasOneTopic"
RULE_SECURITY_HUB_NEEDS_DIGEST = "SecurityHubFindingsNeedDigest"

# Key layout in the results bucket. The bucket's lifecycle rule for the reports uses REPORTS_PREFIX and
# ReportRetentionDays.
COVERAGE_PREFIX = "coverage/expected/"
EXPECTED_TARGETS_KEY = f"{COVERAGE_PREFIX}targets.json"
REPORTS_PREFIX = "reports/"
STATE_PREFIX = "digest-state/"

EVENT_SOURCE = "patchcompliance"  # EventBridge source of every event the function puts
FINDING_GENERATOR = "patchcompliance-patch-sla"
DUE_SOON_DAYS = 3
TIMEOUT = 900
MEMORY = 512

# (column, Glue type) of expected_targets, in the order the function writes the keys
EXPECTED_TARGETS_COLUMNS = (
    ("account_id", "string"),
    ("region", "string"),
    ("status", "string"),
    ("stack_set", "string"),
    ("listed_at", "string"),
    ("stale_after_hours", "int"),
)

# ---------------------------------------------------------------- parameters
G_ALERTS = "Alerts and reports"
FEED_STALE_DEFAULT_HOURS = 48  # also the coverage view's threshold when expected_targets is empty
SPECS: tuple[Spec, ...] = (
    Spec(
        "DigestEmail", G_ALERTS, "Digest e-mail (optional)",
        "E-mail address subscribed to a topic this stack creates for the daily digest (confirm the subscription "
        "e-mail). Empty with DigestTopicArn empty: no digest.",
        default="", pattern=r"^$|^[^\s@]+@[^\s@]+\.[^\s@]+$", constraint="must be empty or an e-mail address",
    ),
    Spec(
        "DigestTopicArn", G_ALERTS, "Existing digest topic ARN (optional)",
        "Standard SNS topic the digest is published to instead of a topic this stack creates; its policy (and its "
        "KMS key, if any) must let the digest function publish. Use either this or DigestEmail.",
        default="", pattern=r"^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$",
        constraint="must be empty or the ARN of a standard (not FIFO) SNS topic",
    ),
    Spec(
        "DigestSchedule", G_ALERTS, "Digest schedule",
        "EventBridge schedule of the digest (UTC); the digest reports on the UTC day it runs.",
        default="cron(0 7 * * ? *)", pattern=SCHEDULE_PATTERN, constraint=SCHEDULE_MESSAGE,
    ),
    Spec(
        "ReportLinkExpiryHours", G_ALERTS, "Report link expiry (hours)",
        "Validity of the presigned report links in the digest, at most 168 hours (7 days, the Signature Version 4 "
        "maximum). Links signed by the function stop working earlier when its role session ends.",
        type="Number", default=168, min_value=1, max_value=168, constraint="must be 1 to 168 hours",
    ),
    Spec(
        "ReportRetentionDays", G_ALERTS, "Report retention (days)",
        "Days to keep the reports under reports/ in the Athena results bucket.", type="Number", default=90,
        min_value=1, max_value=3650, constraint="must be 1 to 3650 days",
    ),
    Spec(
        "FeedStaleAfterHours", G_ALERTS, "Feed stale after (hours)",
        "An account and region whose newest SSM inventory row is older than this is STALE in the coverage view "
        "and the digest.", type="Number", default=FEED_STALE_DEFAULT_HOURS, min_value=1, max_value=8760,
        constraint="must be 1 to 8760 hours",
    ),
    Spec(
        "SecurityHubFindings", G_ALERTS, "Security Hub findings",
        "true: one Security Hub finding per node with breached patch SLAs, in this account (Security Hub must be "
        "enabled here); findings of nodes back within their SLAs are archived. Needs the digest.",
        default="false", allowed_values=("true", "false"), constraint="must be true or false",
    ),
)  # fmt: skip

# ---------------------------------------------------------------- conditions
HAS_DIGEST_EMAIL = Cond("HasDigestEmail", not_empty("DigestEmail"))
HAS_DIGEST_TOPIC_ARN = Cond("HasDigestTopicArn", not_empty("DigestTopicArn"))
DIGEST_ENABLED = Cond(
    "DigestEnabled",
    lambda: Or(HAS_DIGEST_EMAIL.ref(), HAS_DIGEST_TOPIC_ARN.ref()),
    (HAS_DIGEST_EMAIL, HAS_DIGEST_TOPIC_ARN),
)
CREATE_DIGEST_TOPIC = Cond(  # an e-mail and no existing topic (a Rule refuses both)
    "CreateDigestTopic", lambda: And(HAS_DIGEST_EMAIL.ref(), Not(HAS_DIGEST_TOPIC_ARN.ref())),
    (HAS_DIGEST_EMAIL, HAS_DIGEST_TOPIC_ARN),
)  # fmt: skip
SECURITY_HUB_FINDINGS = Cond(
    "SecurityHubFindingsEnabled",
    lambda: And(DIGEST_ENABLED.ref(), is_true("SecurityHubFindings")()),
    (DIGEST_ENABLED,),
)
# A delegated administrator lists the instances of a StackSet that lives in the management account.
DIGEST_AS_DELEGATED_ADMIN = Cond("DigestCallsAsDelegatedAdmin", lambda: Equals(Ref("CallAs"), "DELEGATED_ADMIN"))

ENVIRONMENT_SKIP = {
    "id": "CKV_AWS_173",
    "comment": "Environment holds workgroup, database, bucket, StackSet and topic names and settings, no secrets; "
    "encrypted at rest.",
}


@dataclass(frozen=True)
class Digest:
    function: Function
    role: Role
    log_group: LogGroup
    rule: Rule
    dead_letter_queue: Queue
    topic: Topic
    table: Table  # expected_targets, always present (the coverage view reads it)
    specs: tuple[Spec, ...]


def add_expected_targets_table(template: Template, database, results_bucket) -> Table:
    """`expected_targets`: JSON Lines under s3://<results bucket>/coverage/expected/, unpartitioned."""
    return template.add_resource(
        external_table(
            EXPECTED_TARGETS_TABLE,
            database,
            name=EXPECTED_TARGETS_TABLE_NAME,
            description="Account x region pairs that should report: the StackSet's stack instances, written by "
            "the digest function before it queries",
            parameters={"classification": "json", "compressionType": "none"},
            storage=StorageDescriptor(
                Location=Sub(f"s3://${{Bucket}}/{COVERAGE_PREFIX}", Bucket=Ref(results_bucket)),
                Columns=[Column(Name=name, Type=type_) for name, type_ in EXPECTED_TARGETS_COLUMNS],
                InputFormat=TEXT_INPUT_FORMAT,
                OutputFormat=TEXT_OUTPUT_FORMAT,
                SerdeInfo=SerdeInfo(SerializationLibrary=OPENX_SERDE, Parameters={"case.insensitive": "false"}),
                Compressed=False,
            ),
        )
    )


def lifecycle_rules(retention_days) -> list[LifecycleRule]:
    """Rules for the results bucket: reports and day states expire after `retention_days` (the
    ReportRetentionDays parameter). S3 honours the shorter of two overlapping expirations, so a rule without a
    prefix on that bucket must not cover these prefixes."""
    return [
        LifecycleRule(Id=rule_id, Status="Enabled", Prefix=prefix, ExpirationInDays=Ref(retention_days))
        for rule_id, prefix in (("ExpireReports", REPORTS_PREFIX), ("ExpireDigestState", STATE_PREFIX))
    ]


def add_rules(template: Template, params: dict) -> None:
    """Refuse an e-mail together with an existing topic, and Security Hub findings without the digest."""
    email, topic, findings = (Ref(params[n]) for n in ("DigestEmail", "DigestTopicArn", "SecurityHubFindings"))
    template.add_rule(
        RULE_ONE_TARGET,
        {
            "Assertions": [
                {
                    "Assert": Or(Equals(email, ""), Equals(topic, "")),
                    "AssertDescription": "Set DigestEmail (this stack creates a topic and subscribes the address) "
                    "or DigestTopicArn (an existing topic), not both",
                }
            ]
        },
    )
    template.add_rule(
        RULE_SECURITY_HUB_NEEDS_DIGEST,
        {
            "RuleCondition": Equals(findings, "true"),
            "Assertions": [
                {
                    "Assert": Or(Not(Equals(email, "")), Not(Equals(topic, ""))),
                    "AssertDescription": "SecurityHubFindings true needs the digest: set DigestEmail or DigestTopicArn",
                }
            ],
        },
    )


def _statements(*, workgroup, database, results_bucket, source_objects, stack_set, topic_arn) -> list[Statement]:
    """What the function does, and what Athena does with its credentials while running its queries."""
    results = policies.objects_arn(results_bucket, f"{athena.RESULTS_PREFIX}*")
    written = [policies.objects_arn(results_bucket, f"{p}*") for p in (COVERAGE_PREFIX, REPORTS_PREFIX, STATE_PREFIX)]
    buckets = [results_bucket, *dict.fromkeys(bucket for bucket, _ in source_objects)]
    account = If(DIGEST_AS_DELEGATED_ADMIN, "*", AccountId)
    stack_set_arn = Sub(
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${Account}:stackset/${StackSetId}",
        Account=account,
        StackSetId=GetAtt(stack_set, "StackSetId"),
    )
    return [
        athena.run_queries_statement(workgroup, read_results=True),
        Statement(
            Effect=Allow,
            Action=[
                awacs.glue.GetDatabase,
                awacs.glue.GetTable,
                awacs.glue.GetTables,
                awacs.glue.GetPartition,
                awacs.glue.GetPartitions,
                awacs.glue.BatchGetPartition,
            ],
            Resource=athena.glue_arns(database),
        ),
        Statement(
            Effect=Allow,
            Action=[s3.GetBucketLocation, s3.ListBucket],
            Resource=[policies.bucket_arn(b) for b in buckets],
        ),
        Statement(Effect=Allow, Action=[s3.GetObject, s3.PutObject, s3.AbortMultipartUpload], Resource=[results]),
        # expected targets (written, then read by Athena), reports (written, presigned for GET), day state
        Statement(Effect=Allow, Action=[s3.PutObject, s3.GetObject], Resource=written),
        Statement(
            Effect=Allow,
            Action=[s3.GetObject],
            Resource=[policies.objects_arn(bucket, path) for bucket, path in source_objects],
        ),
        Statement(Effect=Allow, Action=[awacs.cloudformation.ListStackInstances], Resource=[stack_set_arn]),
        Statement(
            Effect=Allow,
            Action=[awacs.events.PutEvents],
            Resource=[Sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default")],
            Condition=Condition(StringEquals({"events:source": EVENT_SOURCE})),
        ),
        Statement(Effect=Allow, Action=[awacs.sns.Publish], Resource=[topic_arn]),
    ]


def _extra_policies(kms_key) -> list:
    """Conditional inline policies: the customer key (S3 objects, the created topic), Security Hub, and the
    Organizations call a delegated administrator needs."""
    extra = [
        policies.conditional_policy(
            SECURITY_HUB_FINDINGS,
            "security-hub-findings",
            Statement(
                Effect=Allow,
                Action=[awacs.securityhub.BatchImportFindings],
                Resource=[
                    Sub(
                        "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/"
                        "${AWS::AccountId}/default"
                    )
                ],
            ),
        ),
        policies.conditional_policy(
            DIGEST_AS_DELEGATED_ADMIN,
            "stackset-delegated-admin",
            # List API without a resource type (Service Authorization Reference); CloudFormation's delegated
            # administrator page asks for it.
            Statement(Effect=Allow, Action=[awacs.organizations.ListDelegatedAdministrators], Resource=["*"]),
        ),
    ]
    if kms_key is not None:
        extra.append(
            policies.conditional_policy(
                HAS_KMS,
                "customer-key",
                policies.kms_via_s3_statement(kms_key),
                Statement(
                    Sid="TopicKeyViaSns",
                    Effect=Allow,
                    Action=[awacs.kms.Decrypt, awacs.kms.GenerateDataKey],
                    Resource=[Ref(kms_key)],
                    Condition=Condition(StringEquals({"kms:ViaService": Sub("sns.${AWS::Region}.amazonaws.com")})),
                ),
            )
        )
    return extra


def add_digest(
    template: Template,
    *,
    workgroup,
    database,
    results_bucket,
    stack_set,
    params: dict,
    source_objects: list,
    log_retention,
    kms_key=None,
    table: Table | None = None,
) -> Digest:
    """Add the digest: table, topic, function, role, schedule, dead-letter queue, Rules.

    `workgroup`, `database`, `results_bucket` (the Athena results bucket), `stack_set`: resources. `params`: the
    template's parameters by name, with every name of `SPECS` plus `CallAs`. `source_objects`: (bucket, object
    path) pairs the views read, for Athena running with the function's credentials (e.g. the Config bucket's
    `config-export/*` and the inventory bucket's `*`). `log_retention`: the retention parameter. `kms_key`: the
    KmsKeyArn parameter (condition HasKmsKey): SSE-KMS buckets and the created topic's key. `table`: the
    expected_targets table when added already (add_expected_targets_table), so the views can wait for it.
    """
    missing = {spec.name for spec in SPECS} - set(params) | ({"CallAs"} - set(params))
    if missing:
        raise ValueError(f"parameters missing: {sorted(missing)}")
    for cond in (DIGEST_ENABLED, CREATE_DIGEST_TOPIC, SECURITY_HUB_FINDINGS, DIGEST_AS_DELEGATED_ADMIN):
        cond.use(template)
    if kms_key is not None:
        HAS_KMS.use(template)
    add_rules(template, params)
    if table is None:
        table = add_expected_targets_table(template, database, results_bucket)

    topic = template.add_resource(
        Topic(
            DIGEST_TOPIC,
            Condition=CREATE_DIGEST_TOPIC,
            DisplayName="Patch compliance digest",
            # the customer key when given, else SNS's AWS managed key
            KmsMasterKeyId=If(HAS_KMS, Ref(kms_key), "alias/aws/sns") if kms_key is not None else "alias/aws/sns",
        )
    )
    template.add_resource(
        SubscriptionResource(
            DIGEST_SUBSCRIPTION,
            Condition=CREATE_DIGEST_TOPIC,
            TopicArn=Ref(topic),
            Protocol="email",
            Endpoint=Ref(params["DigestEmail"]),
        )
    )
    topic_arn = If(CREATE_DIGEST_TOPIC, Ref(topic), Ref(params["DigestTopicArn"]))

    dlq = add_dead_letter_queue(template, DIGEST_DLQ)
    fn = add_function(
        template,
        DIGEST_FUNCTION,
        role_id=DIGEST_ROLE,
        description="Daily patch compliance digest: SNS message, EventBridge events, reports, Security Hub findings",
        statements=_statements(
            workgroup=workgroup,
            database=database,
            results_bucket=results_bucket,
            source_objects=source_objects,
            stack_set=stack_set,
            topic_arn=topic_arn,
        ),
        log_retention=log_retention,
        timeout=TIMEOUT,
        memory=MEMORY,
        dead_letter_queue=dlq,
        extra_policies=_extra_policies(kms_key),
        environment={
            "WORKGROUP": Ref(workgroup),
            "DATABASE": Ref(database),
            "BUCKET": Ref(results_bucket),
            "COVERAGE_KEY": EXPECTED_TARGETS_KEY,
            "REPORTS_PREFIX": REPORTS_PREFIX,
            "STATE_PREFIX": STATE_PREFIX,
            "STACK_SET": GetAtt(stack_set, "StackSetId"),
            "CALL_AS": Ref(params["CallAs"]),
            "TOPIC_ARN": topic_arn,
            "EVENT_SOURCE": EVENT_SOURCE,
            "LINK_EXPIRY_HOURS": Ref(params["ReportLinkExpiryHours"]),
            "FEED_STALE_AFTER_HOURS": Ref(params["FeedStaleAfterHours"]),
            "DUE_SOON_DAYS": str(DUE_SOON_DAYS),
            "SECURITY_HUB": Ref(params["SecurityHubFindings"]),
            "FINDING_GENERATOR": FINDING_GENERATOR,
            "PARTITION": Partition,
            "ACCOUNT_ID": AccountId,
        },
        metadata={"skip": [ENVIRONMENT_SKIP]},
    )
    invoke_config = add_async_invoke_config(template, fn)
    rule = template.add_resource(
        Rule(
            DIGEST_SCHEDULE,
            Condition=DIGEST_ENABLED,
            Description="Daily patch compliance digest",
            ScheduleExpression=Ref(params["DigestSchedule"]),
            State="ENABLED",
            Targets=[add_retrying_target(fn, dlq, "digest")],
        )
    )
    queue_policy = allow_rule_to_queue(template, DIGEST_DLQ_POLICY, dlq, rule)
    permission = allow_rule_to_invoke(template, DIGEST_SCHEDULE_PERMISSION, fn, rule)
    for resource in (dlq, fn.function, fn.role, fn.log_group, invoke_config, queue_policy, permission):
        resource.Condition = DIGEST_ENABLED
    return Digest(fn.function, fn.role, fn.log_group, rule, dlq, topic, table, SPECS)
