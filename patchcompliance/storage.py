"""Central S3 buckets: Config snapshots, SSM inventory (resource data sync), Athena results, access logs.

Every bucket: all four public-access blocks, BucketOwnerEnforced, default encryption (SSE-S3, or SSE-KMS when
a key is given), TLS-only policy, lifecycle rules. Data buckets are versioned, log their access to the log
bucket and are retained when the stack is deleted or the bucket replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import If, NoValue, Ref, Template
from troposphere.s3 import (
    AbortIncompleteMultipartUpload,
    Bucket,
    BucketEncryption,
    BucketPolicy,
    EventBridgeConfiguration,
    LifecycleConfiguration,
    LifecycleRule,
    LoggingConfiguration,
    NoncurrentVersionExpiration,
    NotificationConfiguration,
    OwnershipControls,
    OwnershipControlsRule,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from . import constants as c
from . import policies
from .athena import RESULTS_PREFIX
from .conditions import HAS_KMS, HAS_ORGANIZATION_ID
from .digest import lifecycle_rules


@dataclass(frozen=True)
class Buckets:
    config: Bucket
    datasync: Bucket
    athena: Bucket
    access_logs: Bucket
    delivery_policies: tuple[BucketPolicy, ...]  # what member stacks need before they deliver


def _encryption(kms_key):
    return BucketEncryption(
        ServerSideEncryptionConfiguration=[
            ServerSideEncryptionRule(
                BucketKeyEnabled=If(HAS_KMS, True, NoValue),  # S3 Bucket Keys apply to SSE-KMS only
                ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(
                    SSEAlgorithm=If(HAS_KMS, "aws:kms", "AES256"),
                    KMSMasterKeyID=If(HAS_KMS, Ref(kms_key), NoValue),
                ),
            )
        ]
    )


def _bucket(logical_id, *, kms_key, rules, log_bucket=None, log_prefix=None, versioned=True, **extra) -> Bucket:
    props = {
        "BucketEncryption": _encryption(kms_key),
        "PublicAccessBlockConfiguration": PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
        ),
        "OwnershipControls": OwnershipControls(Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        "LifecycleConfiguration": LifecycleConfiguration(Rules=rules),
        **extra,
    }
    if versioned:
        props["VersioningConfiguration"] = VersioningConfiguration(Status="Enabled")
    if log_bucket is not None:
        props["LoggingConfiguration"] = LoggingConfiguration(
            DestinationBucketName=Ref(log_bucket), LogFilePrefix=log_prefix
        )
    bucket = Bucket(logical_id, DeletionPolicy="Retain", UpdateReplacePolicy="Retain", **props)
    if "BucketEncryption" not in extra:  # encryption chosen by Fn::If, which checkov cannot evaluate
        bucket.Metadata = {"checkov": {"skip": [SSE_IF_SKIP]}}
    return bucket


SSE_IF_SKIP = {
    "id": "CKV_AWS_19",
    "comment": "Always encrypted: SSEAlgorithm is Fn::If(HasKmsKey, aws:kms, AES256), which checkov cannot "
    "evaluate (tests/test_security.py checks both branches).",
}


def _abort_uploads() -> LifecycleRule:
    return LifecycleRule(
        Id="AbortIncompleteUploads",
        Status="Enabled",
        AbortIncompleteMultipartUpload=AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
    )


def _noncurrent(days_param) -> LifecycleRule:
    return LifecycleRule(
        Id="ExpireOldVersions",
        Status="Enabled",
        NoncurrentVersionExpiration=NoncurrentVersionExpiration(NoncurrentDays=Ref(days_param)),
        ExpiredObjectDeleteMarker=True,
    )


def add_buckets(template: Template, params: dict) -> Buckets:
    """Add the four buckets and their policies. `params` holds the central template's parameters."""
    HAS_KMS.use(template)
    HAS_ORGANIZATION_ID.use(template)
    kms = params["KmsKeyArn"]
    noncurrent = params["NoncurrentVersionRetentionDays"]
    access_logs = template.add_resource(
        _bucket(
            c.ACCESS_LOG_BUCKET,
            kms_key=kms,
            versioned=True,
            rules=[
                LifecycleRule(
                    Id="ExpireAccessLogs",
                    Status="Enabled",
                    ExpirationInDays=Ref(params["ConfigRetentionDays"]),
                ),
                *[
                    LifecycleRule(
                        Id=rule_id,
                        Status="Enabled",
                        Prefix=f"{prefix}/",
                        ExpirationInDays=Ref(params["HistoryRetentionDays"]),
                    )
                    for rule_id, prefix in (
                        ("ExpireConfigExports", c.CONFIG_EXPORT_PREFIX),
                        ("ExpireHistory", c.HISTORY_PREFIX),
                    )
                ],
                _noncurrent(noncurrent),
                _abort_uploads(),
            ],
            # S3 server access logs can only be delivered with SSE-S3; see docs/reference.md, "Data protection".
            BucketEncryption=BucketEncryption(
                ServerSideEncryptionConfiguration=[
                    ServerSideEncryptionRule(
                        ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
                    )
                ]
            ),
        )
    )
    access_logs.Metadata = {
        "checkov": {
            "skip": [
                {
                    "id": "CKV_AWS_18",
                    "comment": "This is the access-log target; logging it to itself would loop.",
                }
            ]
        }
    }
    config = template.add_resource(
        _bucket(
            c.CONFIG_BUCKET,
            kms_key=kms,
            log_bucket=access_logs,
            log_prefix="config-bucket/",
            rules=[
                LifecycleRule(
                    Id="ExpireConfigDeliveries",
                    Status="Enabled",
                    Prefix=c.CONFIG_LOGS_PREFIX,
                    ExpirationInDays=Ref(params["ConfigRetentionDays"]),
                ),
                _noncurrent(noncurrent),
                _abort_uploads(),
            ],
            NotificationConfiguration=NotificationConfiguration(
                EventBridgeConfiguration=EventBridgeConfiguration(EventBridgeEnabled=True)
            ),
        )
    )
    datasync = template.add_resource(
        _bucket(
            c.DATASYNC_BUCKET,
            kms_key=kms,
            log_bucket=access_logs,
            log_prefix="datasync-bucket/",
            rules=[_noncurrent(noncurrent), _abort_uploads()],
        )
    )
    athena = template.add_resource(
        _bucket(
            c.ATHENA_BUCKET,
            kms_key=kms,
            log_bucket=access_logs,
            log_prefix="athena-bucket/",
            rules=[
                LifecycleRule(
                    Id="ExpireQueryResults",
                    Status="Enabled",
                    Prefix=RESULTS_PREFIX,  # only there: S3 applies the shorter of two overlapping expirations
                    ExpirationInDays=Ref(params["AthenaResultsRetentionDays"]),
                ),
                *lifecycle_rules(params["ReportRetentionDays"]),
                _noncurrent(noncurrent),
                _abort_uploads(),
            ],
        )
    )
    # Who may deliver: the organisation (OrganizationId given) or the AccountIds accounts.
    accounts, organization = params["AccountIds"], params["OrganizationId"]
    prefix = params["DataSyncPrefix"]
    config_policy = _policy(
        template, c.CONFIG_BUCKET_POLICY, config, policies.config_delivery_statements(config, accounts, organization)
    )
    datasync_policy = _policy(
        template,
        c.DATASYNC_BUCKET_POLICY,
        datasync,
        policies.datasync_delivery_statements(datasync, prefix, accounts, organization),
    )
    _policy(template, c.ATHENA_BUCKET_POLICY, athena, [])
    _policy(
        template,
        c.ACCESS_LOG_BUCKET_POLICY,
        access_logs,
        [policies.access_log_delivery_statement(access_logs, [config, datasync, athena])],
    )
    return Buckets(
        config=config,
        datasync=datasync,
        athena=athena,
        access_logs=access_logs,
        delivery_policies=(config_policy, datasync_policy),
    )


def _policy(template: Template, logical_id: str, bucket: Bucket, statements: list) -> BucketPolicy:
    return template.add_resource(
        BucketPolicy(
            logical_id,
            Bucket=Ref(bucket),
            PolicyDocument=policies.document(policies.deny_insecure_transport(bucket), *statements),
        )
    )
