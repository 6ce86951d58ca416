"""AWS Config: the organisation aggregator (central) and recorder, delivery, rules and topic (member)."""

from __future__ import annotations

from dataclasses import dataclass

import awacs.s3
import awacs.sns
from awacs.aws import Allow, Condition, Statement, StringEquals
from troposphere import AccountId, GetAtt, If, NoValue, Ref, Sub, Template
from troposphere.config import (
    AccountAggregationSources,
    AggregationAuthorization,
    ConfigRule,
    ConfigSnapshotDeliveryProperties,
    ConfigurationAggregator,
    ConfigurationRecorder,
    DeliveryChannel,
    OrganizationAggregationSource,
    RecordingGroup,
    Scope,
    Source,
)
from troposphere.iam import Policy, Role
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy

from . import constants as c
from . import policies
from .conditions import (
    ACCOUNT_AGGREGATOR,
    AUTHORIZE_AGGREGATOR,
    CREATE_AGGREGATOR,
    CREATE_RECORDER,
    HAS_ACCOUNT_IDS,
    HAS_KMS,
    MANAGED_BY_SSM_RULE_SUPPORTED,
    ORGANIZATION_AGGREGATOR,
    PATCH_RULE_SUPPORTED,
    SUBSCRIBE_EMAIL,
    Cond,
)

# What the two rules evaluate and what the views read (through the central aggregator). A recorder that already
# exists (CreateConfigRecorder=false, e.g. Control Tower's) must record at least these types.
REQUIRED_RECORDED_TYPES = (
    "AWS::EC2::Instance",
    "AWS::SSM::ManagedInstanceInventory",
    "AWS::SSM::PatchCompliance",
    "AWS::Config::ResourceCompliance",
)
# The stack's own recorder records these and association compliance.
RECORDED_TYPES = (*REQUIRED_RECORDED_TYPES, "AWS::SSM::AssociationCompliance")


@dataclass(frozen=True)
class ManagedRule:
    """An AWS managed Config rule, scoped to the resource types and regions its developer-guide page lists."""

    logical_id: str
    name: str
    identifier: str
    resource_types: tuple[str, ...]
    description: str
    supported: Cond  # the region condition: the rule exists only where AWS Config offers it


MANAGED_RULES = (
    # https://docs.aws.amazon.com/config/latest/developerguide/ec2-instance-managed-by-systems-manager.html
    ManagedRule(
        c.RULE_MANAGED_BY_SSM,
        c.RULE_NAME_MANAGED_BY_SSM,
        "EC2_INSTANCE_MANAGED_BY_SSM",
        ("AWS::EC2::Instance", "AWS::SSM::ManagedInstanceInventory"),
        "Checks whether each EC2 instance is managed by AWS Systems Manager.",
        MANAGED_BY_SSM_RULE_SUPPORTED,
    ),
    # https://docs.aws.amazon.com/config/latest/developerguide/ec2-managedinstance-patch-compliance-status-check.html
    ManagedRule(
        c.RULE_PATCH_COMPLIANCE,
        c.RULE_NAME_PATCH_COMPLIANCE,
        "EC2_MANAGEDINSTANCE_PATCH_COMPLIANCE_STATUS_CHECK",
        ("AWS::SSM::PatchCompliance",),
        "Checks whether each managed instance is compliant with its patch baseline.",
        PATCH_RULE_SUPPORTED,
    ),
)


@dataclass(frozen=True)
class MemberConfig:
    """The member's Config resources. Recorder, channel and topic exist only under `recorder_condition`."""

    recorder: ConfigurationRecorder
    delivery_channel: DeliveryChannel
    topic: Topic
    rules: list
    recorder_condition: Cond


def add_aggregator(template: Template, params: dict) -> ConfigurationAggregator:
    """The aggregator the Config export reads, over all regions, by CreateConfigAggregator: ORGANIZATION (the
    central account must be the management account or the AWS Config delegated administrator) or ACCOUNTS (the
    AccountIds, each of which authorises it: `add_aggregation_authorization`); none for NONE."""
    for condition in (CREATE_AGGREGATOR, ORGANIZATION_AGGREGATOR, ACCOUNT_AGGREGATOR):
        condition.use(template)
    role = template.add_resource(
        Role(
            c.CONFIG_AGGREGATOR_ROLE,
            Condition=ORGANIZATION_AGGREGATOR,
            Description="Lets AWS Config read the organisation's accounts for the aggregator",
            AssumeRolePolicyDocument=policies.assume_role("config", source_account=True),
            ManagedPolicyArns=[Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSConfigRoleForOrganizations")],
        )
    )
    return template.add_resource(
        ConfigurationAggregator(
            c.CONFIG_AGGREGATOR,
            Condition=CREATE_AGGREGATOR,
            ConfigurationAggregatorName=If(
                ORGANIZATION_AGGREGATOR, Sub("${AWS::StackName}-organization"), Sub("${AWS::StackName}-accounts")
            ),
            OrganizationAggregationSource=If(
                ORGANIZATION_AGGREGATOR,
                OrganizationAggregationSource(AllAwsRegions=True, RoleArn=GetAtt(role, "Arn")),
                NoValue,
            ),
            AccountAggregationSources=If(
                ACCOUNT_AGGREGATOR,
                # the list only when given: a Rule refuses ACCOUNTS without AccountIds
                If(
                    HAS_ACCOUNT_IDS.use(template),
                    [AccountAggregationSources(AccountIds=Ref(params["AccountIds"]), AllAwsRegions=True)],
                    NoValue,
                ),
                NoValue,
            ),
        )
    )


def add_aggregation_authorization(template: Template, params: dict) -> AggregationAuthorization:
    """Member: lets the central account's account-based aggregator collect this account and region. The
    aggregator lives in the central stack's region, which is where the data sync bucket is."""
    AUTHORIZE_AGGREGATOR.use(template)
    return template.add_resource(
        AggregationAuthorization(
            c.CONFIG_AGGREGATION_AUTHORIZATION,
            Condition=AUTHORIZE_AGGREGATOR,
            AuthorizedAccountId=Ref(params["AggregatorAccountId"]),
            AuthorizedAwsRegion=Ref(params["DataSyncBucketRegion"]),
        )
    )


def add_member_config(template: Template, params: dict) -> MemberConfig:
    """Recorder, delivery channel, topic and recorder role when CreateConfigRecorder is true; the rules always
    (where offered), so they also evaluate with a recorder the stack does not own (Control Tower's)."""
    for condition in (CREATE_RECORDER, SUBSCRIBE_EMAIL, HAS_KMS):
        condition.use(template)
    topic = template.add_resource(
        Topic(
            c.CONFIG_TOPIC,
            Condition=CREATE_RECORDER,
            DisplayName="AWS Config notifications",
            Metadata={"checkov": {"skip": [TOPIC_KMS_SKIP]}},
        )
    )
    template.add_resource(
        TopicPolicy(
            c.CONFIG_TOPIC_POLICY,
            Condition=CREATE_RECORDER,
            Topics=[Ref(topic)],
            PolicyDocument=policies.document(
                Statement(
                    Sid="AWSConfigSNSPolicy",
                    Effect=Allow,
                    Principal=policies.service_principal("config"),
                    Action=[awacs.sns.Publish],
                    Resource=[Ref(topic)],
                    Condition=Condition(StringEquals({"AWS:SourceAccount": AccountId})),
                )
            ),
        )
    )
    template.add_resource(
        SubscriptionResource(
            c.CONFIG_TOPIC_SUBSCRIPTION,
            Condition=SUBSCRIBE_EMAIL,
            TopicArn=Ref(topic),
            Protocol="email",
            Endpoint=Ref(params["NotificationEmail"]),
        )
    )
    role = template.add_resource(
        Role(
            c.CONFIG_RECORDER_ROLE,
            Condition=CREATE_RECORDER,
            Description="Lets AWS Config record resources and deliver to the central bucket and the topic",
            AssumeRolePolicyDocument=policies.assume_role("config", source_account=True),
            ManagedPolicyArns=[Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWS_ConfigRole")],
            Policies=[
                Policy(
                    PolicyName="deliver-to-topic-and-own-bucket-prefix",
                    PolicyDocument=policies.document(
                        Statement(Effect=Allow, Action=[awacs.sns.Publish], Resource=[Ref(topic)]),
                        *_own_account_delivery(params["ConfigBucketName"]),
                    ),
                ),
                policies.conditional_policy(
                    HAS_KMS, "bucket-key", policies.kms_via_s3_statement(params["KmsKeyArn"], any_region=True)
                ),
            ],
        )
    )
    recorder = template.add_resource(
        ConfigurationRecorder(
            c.CONFIG_RECORDER,
            Condition=CREATE_RECORDER,
            RoleARN=GetAtt(role, "Arn"),
            RecordingGroup=RecordingGroup(
                AllSupported=False, IncludeGlobalResourceTypes=False, ResourceTypes=list(RECORDED_TYPES)
            ),
        )
    )
    channel = template.add_resource(
        DeliveryChannel(
            c.CONFIG_DELIVERY_CHANNEL,
            Condition=CREATE_RECORDER,
            DependsOn=[recorder],  # AWS Config refuses a delivery channel while no recorder exists
            S3BucketName=Ref(params["ConfigBucketName"]),
            S3KmsKeyArn=If(HAS_KMS, Ref(params["KmsKeyArn"]), NoValue),
            SnsTopicARN=Ref(topic),
            ConfigSnapshotDeliveryProperties=ConfigSnapshotDeliveryProperties(
                DeliveryFrequency=Ref(params["ConfigDeliveryFrequency"])
            ),
        )
    )
    after_recorder = recorder_dependency(recorder, channel)
    rules = [_managed_rule(template, rule, after_recorder) for rule in MANAGED_RULES]
    return MemberConfig(
        recorder=recorder, delivery_channel=channel, topic=topic, rules=rules, recorder_condition=CREATE_RECORDER
    )


def recorder_dependency(recorder, channel) -> dict:
    """Metadata that makes a rule wait for the stack's recorder and channel when the stack creates them.

    AWS Config refuses a rule while no recorder exists, so the rules must come after the recorder; but DependsOn
    cannot be conditional and must not name a resource that a condition leaves out. A Ref inside Fn::If in the
    rule's Metadata (CloudFormation resolves intrinsic functions there, "Metadata attribute") is a dependency only
    when the condition is true; when it is false the value is an empty string and there is no dependency.
    """
    return {
        "RecorderDependency": {
            "ConfigRecorder": If(CREATE_RECORDER, Ref(recorder), ""),
            "ConfigDeliveryChannel": If(CREATE_RECORDER, Ref(channel), ""),
        }
    }


def _own_account_delivery(bucket_name) -> list[Statement]:
    """Delivery with the role: AWS Config uses it when the central bucket is in this same account (and the
    service principal, allowed by the bucket policy, for a bucket in another account). Only this account's
    own prefix, as in the Config developer guide ("Permissions for the IAM role assigned to AWS Config")."""
    bucket = "arn:${AWS::Partition}:s3:::${Bucket}"
    return [
        Statement(
            Effect=Allow,
            Action=[awacs.s3.PutObject, awacs.s3.PutObjectAcl],
            Resource=[Sub(f"{bucket}/{c.config_account_prefix('${AWS::AccountId}')}*", Bucket=Ref(bucket_name))],
            Condition=Condition(StringEquals({"s3:x-amz-acl": "bucket-owner-full-control"})),
        ),
        Statement(Effect=Allow, Action=[awacs.s3.GetBucketAcl], Resource=[Sub(bucket, Bucket=Ref(bucket_name))]),
    ]


# AWS Config developer guide, "Permissions for the Amazon SNS Topic": encrypted topics are not supported.
TOPIC_KMS_SKIP = {
    "id": "CKV_AWS_26",
    "comment": "AWS Config does not support encrypted SNS topics; it carries only Config notifications.",
}


def _managed_rule(template: Template, rule: ManagedRule, metadata: dict) -> ConfigRule:
    rule.supported.use(template)
    return template.add_resource(
        ConfigRule(
            rule.logical_id,
            Condition=rule.supported,
            Metadata=metadata,
            ConfigRuleName=rule.name,
            Description=rule.description,
            Source=Source(Owner="AWS", SourceIdentifier=rule.identifier),
            Scope=Scope(ComplianceResourceTypes=list(rule.resource_types)),
        )
    )
