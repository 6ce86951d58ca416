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

# Allow-list for `Resource: "*"`: actions whose Service Authorization Reference entry has no resource type
# (so nothing narrower than "*" is accepted). tests/test_security.py fails on any other action granted on "*".
UNSCOPED_ACTIONS = {
    # EC2TaggingFunction lists the managed instances (and their platform) it tags; list API, no resource type.
    "ssm:DescribeInstanceInformation": "List API without a resource type (Service Authorization Reference)",
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


def config_delivery_statements(bucket, accounts) -> list[Statement]:
    """AWS Config delivery from many accounts (Config developer guide, "Permissions for the S3 bucket").

    Each account may write only under AWSLogs/<its own id>/Config/: the object path uses the
    ${aws:SourceAccount} policy variable and the condition lists the accounts of the `accounts` parameter.
    """
    principal = service_principal("config")
    source = {"AWS:SourceAccount": Ref(accounts)}
    return [
        Statement(
            Sid="AWSConfigBucketPermissionsCheck",
            Effect=Allow,
            Principal=principal,
            Action=[s3.GetBucketAcl],
            Resource=[bucket_arn(bucket)],
            Condition=Condition(StringEquals(source)),
        ),
        Statement(
            Sid="AWSConfigBucketExistenceCheck",
            Effect=Allow,
            Principal=principal,
            Action=[s3.ListBucket],
            Resource=[bucket_arn(bucket)],
            Condition=Condition(StringEquals(source)),
        ),
        Statement(
            Sid="AWSConfigBucketDelivery",
            Effect=Allow,
            Principal=principal,
            Action=[s3.PutObject],
            Resource=[objects_arn(bucket, c.config_account_prefix("${!aws:SourceAccount}") + "*")],
            Condition=Condition(
                StringEquals({**source, "s3:x-amz-acl": "bucket-owner-full-control"}),
            ),
        ),
    ]


def datasync_delivery_statements(bucket, prefix, accounts) -> list[Statement]:
    """SSM resource data sync from many accounts (SSM user guide, "Configuring resource data sync").

    Each account may write only under <prefix>/*/accountid=<its own id>/.
    """
    principal = service_principal("ssm")
    source = {"aws:SourceAccount": Ref(accounts)}
    return [
        Statement(
            Sid="SSMBucketPermissionsCheck",
            Effect=Allow,
            Principal=principal,
            Action=[s3.GetBucketAcl],
            Resource=[bucket_arn(bucket)],
            Condition=Condition(StringEquals(source)),
        ),
        Statement(
            Sid="SSMBucketDelivery",
            Effect=Allow,
            Principal=principal,
            Action=[s3.PutObject],
            Resource=[
                Sub(
                    "${Bucket}/${Prefix}/*/accountid=${!aws:SourceAccount}/*",
                    Bucket=GetAtt(bucket, "Arn"),
                    Prefix=Ref(prefix),
                )
            ],
            Condition=Condition(
                StringEquals({**source, "s3:x-amz-acl": "bucket-owner-full-control"}),
            ),
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
