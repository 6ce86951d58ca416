"""Shared IAM statement builders (awacs), for roles and bucket/queue/topic policies.

Every builder returns awacs objects; callers combine them with `document()`. No wildcard actions anywhere:
actions that only accept `Resource: "*"` are listed in `UNSCOPED_ACTIONS`, which the security test reads.
"""

from __future__ import annotations

import awacs.kms
import awacs.logs
import awacs.s3 as s3
import awacs.sqs
import awacs.sts
from awacs.aws import (
    Allow,
    ArnEquals,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringLike,
)
from troposphere import AccountId, GetAtt, If, NoValue, Ref, Sub
from troposphere.iam import Policy

from . import constants as c
from .conditions import HAS_ORGANIZATION_ID

# Allow-list for `Resource: "*"`: actions whose Service Authorization Reference entry has no resource type
# (so nothing narrower than "*" is accepted). tests/test_security.py fails on any other action granted on "*".
UNSCOPED_ACTIONS = {
    # EC2TaggingFunction lists the managed instances (and their platform) it tags; list API, no resource type.
    "ssm:DescribeInstanceInformation": "List API without a resource type (Service Authorization Reference)",
    # DigestFunction, only with CallAs=DELEGATED_ADMIN: CloudFormation's delegated-administrator page asks for it.
    "organizations:ListDelegatedAdministrators": "List API without a resource type (Service Authorization Reference)",
}


def document(*statements) -> PolicyDocument:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements))


def service_principal(service: str) -> Principal:
    return Principal("Service", [f"{service}.amazonaws.com"])


def assume_role(service: str, *, source_account: bool = False) -> PolicyDocument:
    """Trust policy for one AWS service; `source_account` adds the confused-deputy guard where supported."""
    condition = Condition(StringEquals({"aws:SourceAccount": AccountId})) if source_account else None
    kwargs = {"Condition": condition} if condition else {}
    return document(
        Statement(Effect=Allow, Principal=service_principal(service), Action=[awacs.sts.AssumeRole], **kwargs)
    )


def bucket_arn(bucket) -> GetAtt:
    return GetAtt(bucket, "Arn")


def objects_arn(bucket, path: str = "*") -> Sub:
    """ARN of the objects of `bucket` under `path` (a Sub template, may reference other variables)."""
    return Sub(f"${{Bucket}}/{path}", Bucket=GetAtt(bucket, "Arn"))


def log_statement(log_group) -> Statement:
    """Write the function's own log group only (its ARN ends in ':*', which covers the streams)."""
    return Statement(
        Effect=Allow,
        Action=[awacs.logs.CreateLogStream, awacs.logs.PutLogEvents],
        Resource=[GetAtt(log_group, "Arn")],
    )


def deny_insecure_transport(bucket) -> Statement:
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[s3.Action("*")],
        Resource=[bucket_arn(bucket), objects_arn(bucket)],
        Condition=Condition(Bool({"aws:SecureTransport": "false"})),
    )


# Opt-in regions of parameters.KNOWN_REGIONS (AWS Account Management Reference Guide, "Enable or disable AWS
# Regions in your account"; tests/test_rollout.py keeps the two lists consistent).
OPT_IN_REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1",
    "me-south-1", "mx-central-1",
)  # fmt: skip


def ssm_delivery_principal() -> Principal:
    """ssm.amazonaws.com plus ssm.<region>.amazonaws.com for every opt-in region. The SSM user guide once required
    the regional principal for regions launched since ap-east-1; the current page no longer says so either way,
    so the regional principals are kept as the conservative choice."""
    return Principal("Service", ["ssm.amazonaws.com", *(f"ssm.{region}.amazonaws.com" for region in OPT_IN_REGIONS)])


def delivery_source(accounts, organization, **required) -> If:
    """The delivering accounts, as a statement Condition: in organisation mode (HasOrganizationId) any account of
    the organisation (aws:SourceOrgID), otherwise the `accounts` list (aws:SourceAccount). `required` keys (such
    as s3:x-amz-acl) apply in both modes."""
    return If(
        HAS_ORGANIZATION_ID,
        Condition(StringEquals({**required, "aws:SourceOrgID": Ref(organization)})),
        Condition(StringEquals({**required, "aws:SourceAccount": Ref(accounts)})),
    )


def config_delivery_statements(bucket, accounts, organization) -> list[Statement]:
    """AWS Config delivery from many accounts.

    The statements of the Config developer guide ("Permissions for the Amazon S3 Bucket for the AWS Config Delivery
    Channel"); PutObject on AWSLogs/*/Config/* as in Control Tower's audit-bucket policy. A Resource cannot hold
    one ARN per account here: the bucket name is generated, and neither Fn::Join's delimiter nor Fn::Sub's string
    may be computed, so no template can repeat the bucket ARN once per list element.
    """
    principal = service_principal("config")
    return [
        Statement(
            Sid="AWSConfigBucketPermissionsCheck",
            Effect=Allow,
            Principal=principal,
            Action=[s3.GetBucketAcl],
            Resource=[bucket_arn(bucket)],
            Condition=delivery_source(accounts, organization),
        ),
        Statement(
            Sid="AWSConfigBucketExistenceCheck",
            Effect=Allow,
            Principal=principal,
            Action=[s3.ListBucket],
            Resource=[bucket_arn(bucket)],
            Condition=delivery_source(accounts, organization),
        ),
        Statement(
            Sid="AWSConfigBucketDelivery",
            Effect=Allow,
            Principal=principal,
            Action=[s3.PutObject],
            Resource=[objects_arn(bucket, c.config_account_prefix("*") + "*")],
            Condition=delivery_source(accounts, organization, **{"s3:x-amz-acl": "bucket-owner-full-control"}),
        ),
    ]


def datasync_delivery_statements(bucket, prefix, accounts, organization) -> list[Statement]:
    """SSM resource data sync from many accounts (SSM user guide, "Creating a resource data sync for Inventory":
    the organisation policy's PutObject on <prefix>/*/accountid=*/* with aws:SourceOrgID, or the same Resource
    with aws:SourceAccount)."""
    principal = ssm_delivery_principal()
    return [
        Statement(
            Sid="SSMBucketPermissionsCheck",
            Effect=Allow,
            Principal=principal,
            Action=[s3.GetBucketAcl],
            Resource=[bucket_arn(bucket)],
            Condition=delivery_source(accounts, organization),
        ),
        Statement(
            Sid="SSMBucketDelivery",
            Effect=Allow,
            Principal=principal,
            Action=[s3.PutObject],
            Resource=[Sub("${Bucket}/${Prefix}/*/accountid=*/*", Bucket=GetAtt(bucket, "Arn"), Prefix=Ref(prefix))],
            Condition=delivery_source(accounts, organization, **{"s3:x-amz-acl": "bucket-owner-full-control"}),
        ),
    ]


def access_log_delivery_statement(log_bucket, source_buckets) -> Statement:
    """S3 server access logging into the log bucket, only from this account's source buckets."""
    return Statement(
        Sid="S3ServerAccessLogsPolicy",
        Effect=Allow,
        Principal=service_principal("logging.s3"),
        Action=[s3.PutObject],
        Resource=[objects_arn(log_bucket)],
        Condition=Condition(
            [
                ArnEquals({"aws:SourceArn": [bucket_arn(b) for b in source_buckets]}),
                StringEquals({"aws:SourceAccount": AccountId}),
            ]
        ),
    )


def queue_send_statement(queue, source_arn) -> Statement:
    """EventBridge may put failed events into the dead-letter queue, only for the given rule."""
    return Statement(
        Effect=Allow,
        Principal=service_principal("events"),
        Action=[awacs.sqs.SendMessage],
        Resource=[GetAtt(queue, "Arn")],
        Condition=Condition(ArnEquals({"aws:SourceArn": source_arn})),
    )


def send_to_queue_statement(queue) -> Statement:
    return Statement(Effect=Allow, Action=[awacs.sqs.SendMessage], Resource=[GetAtt(queue, "Arn")])


def kms_via_s3_statement(kms_key, *, any_region: bool = False) -> Statement:
    """Encrypt/decrypt with the customer key (KmsKeyArn), only through S3 (SSE-KMS objects).

    `any_region`: S3 in any region (the member template does not know the central buckets' region);
    otherwise S3 in this stack's region.
    """
    if any_region:
        via = StringLike({"kms:ViaService": "s3.*.amazonaws.com"})
    else:
        via = StringEquals({"kms:ViaService": Sub("s3.${AWS::Region}.amazonaws.com")})
    return Statement(
        Sid="BucketKeyViaS3",
        Effect=Allow,
        Action=[awacs.kms.Decrypt, awacs.kms.GenerateDataKey],
        Resource=[Ref(kms_key)],
        Condition=Condition(via),
    )


def conditional_policy(condition: str, name: str, *statements) -> If:
    """An inline role policy that exists only when `condition` holds (e.g. HasKmsKey)."""
    return If(condition, Policy(PolicyName=name, PolicyDocument=document(*statements)), NoValue)
