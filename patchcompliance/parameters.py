"""Parameters of both templates, declared once as data, with console groups, labels and Rules.

Member parameters marked `passthrough` are also parameters of the central template, which hands them to the
StackSet unchanged. The rest of the member parameters are filled in by the central template (bucket names...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from troposphere import Parameter, Template

from .constants import SELF_MANAGED, SERVICE_MANAGED
from .patterns import (  # member parameter patterns, each the rule of the service that receives the value
    ASSOCIATION_SCHEDULE_MESSAGE,
    ASSOCIATION_SCHEDULE_PATTERN,
    BUCKET_NAME_MESSAGE,
    BUCKET_NAME_PATTERN,
    DATASYNC_PREFIX_MESSAGE,
    DATASYNC_PREFIX_PATTERN,
    EVENTS_SCHEDULE_MESSAGE,
    EVENTS_SCHEDULE_PATTERN,
    MAX_CONCURRENCY_MESSAGE,
    MAX_CONCURRENCY_PATTERN,
    MAX_ERRORS_MESSAGE,
    MAX_ERRORS_PATTERN,
    TIMEZONE_MESSAGE,
    TIMEZONE_PATTERN,
    WINDOW_SCHEDULE_MESSAGE,
    WINDOW_SCHEDULE_PATTERN,
    integer_range,
)

# EventBridge rule schedules (ScheduleExpression of AWS::Events::Rule), for any scheduled function.
SCHEDULE_PATTERN, SCHEDULE_MESSAGE = EVENTS_SCHEDULE_PATTERN, EVENTS_SCHEDULE_MESSAGE

ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip
# Regions a StackSet may target (commercial partition). Kept in one place; the Regions rule uses it.
KNOWN_REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
    "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
    "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
    "us-west-2",
)  # fmt: skip


@dataclass(frozen=True)
class Spec:
    name: str
    group: str
    label: str
    description: str
    type: str = "String"
    default: str | int | None = None
    allowed_values: tuple = ()
    pattern: str | None = None
    constraint: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    passthrough: bool = False  # member parameter that the central template exposes and passes on
    extra: dict = field(default_factory=dict)

    def build(self) -> Parameter:
        props = {"Type": self.type, "Description": self.description}
        if self.default is not None:
            props["Default"] = self.default
        if self.allowed_values:
            props["AllowedValues"] = list(self.allowed_values)
        if self.pattern:
            props["AllowedPattern"] = self.pattern
        if self.min_value is not None:
            props["MinValue"] = self.min_value
        if self.max_value is not None:
            props["MaxValue"] = self.max_value
        if self.constraint:
            props["ConstraintDescription"] = self.constraint
        props.update(self.extra)
        return Parameter(self.name, **props)


G_DELIVERY = "Central data delivery"
G_CONFIG = "AWS Config"
G_SSM = "Systems Manager: inventory and patch scanning"
G_WINDOW = "Maintenance window (scan or install)"
G_TAGGING = "Platform tagging"
G_OPS = "Logging and encryption"
G_TARGETS = "Target accounts and regions (StackSet)"
G_ANALYTICS = "Analytics (Glue, Athena) and retention"
G_POLICY = "Compliance policy"

KMS = Spec(
    "KmsKeyArn", G_OPS, "KMS key ARN (optional)",
    "Customer managed KMS key for the central buckets, Config delivery and resource data sync. Empty: SSE-S3. "
    "The key policy must let config.amazonaws.com and ssm.amazonaws.com of every target account use it.",
    default="", pattern=r"^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$",
    constraint="must be empty or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)", passthrough=True,
)  # fmt: skip
LOG_RETENTION = Spec(
    "LogRetentionDays", G_OPS, "Lambda log retention (days)", "Days to keep the functions' CloudWatch logs.",
    type="Number", default=90, allowed_values=LOG_RETENTION_DAYS,
    constraint="must be a retention period CloudWatch Logs accepts", passthrough=True,
)  # fmt: skip
DATASYNC_PREFIX = Spec(
    "DataSyncPrefix", G_DELIVERY, "Resource data sync prefix",
    "Key prefix of the SSM resource data sync in the central bucket (the Glue tables read below it).",
    default="inventory", pattern=DATASYNC_PREFIX_PATTERN, constraint=DATASYNC_PREFIX_MESSAGE, passthrough=True,
)  # fmt: skip

MEMBER_SPECS: tuple[Spec, ...] = (
    Spec(
        "ConfigBucketName", G_DELIVERY, "Central Config bucket",
        "Name of the central bucket AWS Config delivers snapshots to (the central stack's ConfigBucket).",
        pattern=BUCKET_NAME_PATTERN, constraint=BUCKET_NAME_MESSAGE,
    ),
    Spec(
        "DataSyncBucketName", G_DELIVERY, "Central inventory bucket",
        "Name of the central bucket the SSM resource data sync writes to (the central stack's DataSyncBucket).",
        pattern=BUCKET_NAME_PATTERN, constraint=BUCKET_NAME_MESSAGE,
    ),
    Spec(
        "DataSyncBucketRegion", G_DELIVERY, "Central inventory bucket region",
        "Region of the central inventory bucket.", allowed_values=KNOWN_REGIONS,
        constraint="must be an AWS region name such as eu-west-1",
    ),
    DATASYNC_PREFIX,
    Spec(
        "CreateConfigRecorder", G_CONFIG, "Create Config recorder",
        "false where the account and region already have a Config recorder (AWS Control Tower, for example; AWS "
        "Config allows one per region): the stack then creates only the Config rules, and no recorder, delivery "
        "channel or topic. That recorder must record AWS::EC2::Instance, AWS::SSM::ManagedInstanceInventory, "
        "AWS::SSM::PatchCompliance and AWS::Config::ResourceCompliance.",
        default="true", allowed_values=("true", "false"), constraint="must be true or false", passthrough=True,
    ),
    Spec(
        "AggregatorAccountId", G_CONFIG, "Aggregator account to authorise (optional)",
        "Account whose account-based Config aggregator may collect this account's data (the central account "
        "when its CreateConfigAggregator is ACCOUNTS; the central stack sets it). Empty: no authorisation.",
        default="", pattern=r"^$|^[0-9]{12}$", constraint="must be empty or a 12-digit account ID",
    ),
    Spec(
        "NotificationEmail", G_CONFIG, "Config notification e-mail (optional)",
        "E-mail address subscribed to the Config SNS topic (only with CreateConfigRecorder=true). Empty: no "
        "subscription.", default="",
        pattern=r"^$|^[^\s@]+@[^\s@]+\.[^\s@]+$", constraint="must be empty or an e-mail address",
        passthrough=True,
    ),
    Spec(
        "ConfigDeliveryFrequency", G_CONFIG, "Config snapshot frequency",
        "How often AWS Config delivers a configuration snapshot to the central bucket (only with "
        "CreateConfigRecorder=true).",
        default="TwentyFour_Hours",
        allowed_values=("One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"),
        constraint="must be One_Hour, Three_Hours, Six_Hours, Twelve_Hours or TwentyFour_Hours",
        passthrough=True,
    ),
    Spec(
        "CreateInventoryAssociation", G_SSM, "Create inventory association",
        "false where an AWS-GatherSoftwareInventory association already exists (two make both fail).",
        default="true", allowed_values=("true", "false"), constraint="must be true or false", passthrough=True,
    ),
    Spec(
        "InventorySchedule", G_SSM, "Inventory schedule", "Schedule of the software inventory association.",
        default="rate(12 hours)", pattern=ASSOCIATION_SCHEDULE_PATTERN, constraint=ASSOCIATION_SCHEDULE_MESSAGE,
        passthrough=True,
    ),
    Spec(
        "ScanSchedule", G_SSM, "Patch scan schedule",
        "Schedule of the association that scans (never installs) patches with AWS-RunPatchBaseline.",
        default="rate(1 day)", pattern=ASSOCIATION_SCHEDULE_PATTERN, constraint=ASSOCIATION_SCHEDULE_MESSAGE,
        passthrough=True,
    ),
    Spec(
        "AgentUpdateSchedule", G_SSM, "SSM Agent update schedule", "Schedule of the AWS-UpdateSSMAgent association.",
        default="rate(14 days)", pattern=ASSOCIATION_SCHEDULE_PATTERN, constraint=ASSOCIATION_SCHEDULE_MESSAGE,
        passthrough=True,
    ),
    Spec(
        "PatchOperation", G_WINDOW, "Maintenance window operation",
        "Scan reports compliance only; Install installs missing approved patches during the window.",
        default="Scan", allowed_values=("Scan", "Install"), constraint="must be Scan or Install", passthrough=True,
    ),
    Spec(
        "RebootOption", G_WINDOW, "Reboot option",
        "RebootIfNeeded reboots after installing; NoReboot leaves instances pending reboot.",
        default="RebootIfNeeded", allowed_values=("RebootIfNeeded", "NoReboot"),
        constraint="must be RebootIfNeeded or NoReboot", passthrough=True,
    ),
    Spec(
        "MaintenanceWindowSchedule", G_WINDOW, "Window schedule", "cron(), rate() or at() schedule of the window.",
        default="cron(0 3 ? * SUN *)", pattern=WINDOW_SCHEDULE_PATTERN, constraint=WINDOW_SCHEDULE_MESSAGE,
        passthrough=True,
    ),
    Spec(
        "MaintenanceWindowTimezone", G_WINDOW, "Window time zone", "IANA time zone of the window schedule.",
        default="Etc/UTC", pattern=TIMEZONE_PATTERN, constraint=TIMEZONE_MESSAGE, passthrough=True,
    ),
    Spec(
        "MaintenanceWindowDuration", G_WINDOW, "Window duration (hours)", "Length of the window, 1-24 hours.",
        type="Number", default=3, min_value=1, max_value=24, constraint="must be 1 to 24 hours",
        passthrough=True,
    ),
    Spec(
        "MaintenanceWindowCutoff", G_WINDOW, "Window cutoff (hours)",
        "Hours before the end of the window when no new task starts; must be less than the duration.",
        type="Number", default=1, min_value=0, max_value=23, constraint="must be 0 to 23 hours",
        passthrough=True,
    ),
    Spec(
        "MaxConcurrency", G_WINDOW, "Patching concurrency", "How many targets are patched at once (n or n%).",
        default="10%", pattern=MAX_CONCURRENCY_PATTERN, constraint=MAX_CONCURRENCY_MESSAGE, passthrough=True,
    ),
    Spec(
        "MaxErrors", G_WINDOW, "Error threshold", "Errors (n or n%) after which the window task stops.",
        default="10%", pattern=MAX_ERRORS_PATTERN, constraint=MAX_ERRORS_MESSAGE, passthrough=True,
    ),
    Spec(
        "TaggingSchedule", G_TAGGING, "Re-tagging schedule",
        "How often instances are re-tagged with PlatformType/Name/Version, so new instances are targeted.",
        default="rate(1 hour)", pattern=EVENTS_SCHEDULE_PATTERN, constraint=EVENTS_SCHEDULE_MESSAGE, passthrough=True,
    ),
    KMS,
    LOG_RETENTION,
)  # fmt: skip

# Organisation root or OU ID, as the CloudFormation model has DeploymentTargets.OrganizationalUnitIds.
ORGANIZATIONAL_UNIT_ID_PATTERN = r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$"

CENTRAL_SPECS: tuple[Spec, ...] = (
    Spec(
        "PermissionModel", G_TARGETS, "StackSet permission model",
        "SELF_MANAGED: deploy to AccountIds with the StackSet administration/execution roles. SERVICE_MANAGED: "
        "deploy to every account of OrganizationalUnitIds through AWS Organizations (never to the management "
        "account). Cannot be changed once the stack exists.",
        default=SELF_MANAGED, allowed_values=(SELF_MANAGED, SERVICE_MANAGED),
        constraint="must be SELF_MANAGED or SERVICE_MANAGED",
    ),
    Spec(
        "AccountIds", G_TARGETS, "Target account IDs (SELF_MANAGED)",
        "Comma-separated 12-digit IDs of the accounts to deploy the member stack to; required with SELF_MANAGED. "
        "Without OrganizationId, also the only accounts allowed to deliver to the central buckets.",
        type="CommaDelimitedList", default="",
        pattern=f"^$|{ACCOUNT_ID_PATTERN}",  # CloudFormation matches each list element; a Rule refuses empty ones
        constraint="must be 12-digit AWS account IDs separated by commas, e.g. 111122223333,444455556666",
    ),
    Spec(
        "OrganizationalUnitIds", G_TARGETS, "Target root or OU IDs (SERVICE_MANAGED)",
        "Comma-separated organisation root (r-...) or OU (ou-...) IDs to deploy the member stack to, including "
        "accounts added later; required with SERVICE_MANAGED.",
        type="CommaDelimitedList", default="",
        pattern=rf"^$|{ORGANIZATIONAL_UNIT_ID_PATTERN}",  # per element; a Rule refuses empty ones when used
        constraint="must be organisation root IDs (r-...) or OU IDs (ou-...-...) separated by commas",
    ),
    Spec(
        "OrganizationId", G_TARGETS, "Organization ID (empty: account mode)",
        "o-... ID of the organisation: the delivery bucket policies then admit any of its accounts "
        "(aws:SourceOrgID) and stay the same size however many accounts deliver. Empty: only AccountIds may "
        "deliver. Required with SERVICE_MANAGED.",
        default="", pattern=r"^$|^o-[a-z0-9]{10,32}$",
        constraint="must be empty or an organization ID (o- followed by 10 to 32 lower-case letters or digits)",
    ),
    Spec(
        "Regions", G_TARGETS, "Target regions", "Comma-separated regions to deploy the member stack to.",
        type="CommaDelimitedList",
    ),
    Spec(
        "RetainStacksOnAccountRemoval", G_TARGETS, "Keep member stacks of removed accounts (SERVICE_MANAGED)",
        "true keeps the member stack's resources when an account leaves the target OUs; false deletes them.",
        default="false", allowed_values=("true", "false"), constraint="must be true or false",
    ),
    Spec(
        "CallAs", G_TARGETS, "Deploy as (SERVICE_MANAGED)",
        "SELF in the organisation's management account; DELEGATED_ADMIN in an account registered as a "
        "CloudFormation StackSets delegated administrator.",
        default="SELF", allowed_values=("SELF", "DELEGATED_ADMIN"), constraint="must be SELF or DELEGATED_ADMIN",
    ),
    Spec(
        "StackSetAdministrationRoleArn", G_TARGETS, "StackSet administration role ARN (optional)",
        "SELF_MANAGED only. Empty: arn:<partition>:iam::<this account>:role/"
        "AWSCloudFormationStackSetAdministrationRole.",
        default="", pattern=r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$",
        constraint="must be empty or an IAM role ARN",
    ),
    Spec(
        "StackSetExecutionRoleName", G_TARGETS, "StackSet execution role name",
        "Role the StackSet assumes in each target account (SELF_MANAGED only).",
        default="AWSCloudFormationStackSetExecutionRole",
        pattern=r"^[\w+=,.@-]{1,64}$", constraint="must be an IAM role name",
    ),
    Spec(
        "RegionConcurrencyType", G_TARGETS, "Region concurrency", "Deploy to regions in PARALLEL or SEQUENTIAL.",
        default="PARALLEL", allowed_values=("PARALLEL", "SEQUENTIAL"), constraint="must be PARALLEL or SEQUENTIAL",
    ),
    Spec(
        "MaxConcurrentPercentage", G_TARGETS, "Max concurrent accounts (%)",
        "Percentage of accounts per region deployed at once.", type="Number", default=100, min_value=1,
        max_value=100, constraint="must be 1 to 100",
    ),
    Spec(
        "FailureTolerancePercentage", G_TARGETS, "Failure tolerance (%)",
        "Percentage of accounts per region that may fail before the operation stops.", type="Number",
        default=10, min_value=0, max_value=100, constraint="must be 0 to 100",
    ),
    Spec(
        "CreateConfigAggregator", G_ANALYTICS, "Config aggregator the stack creates",
        "ORGANIZATION: an organisation aggregator (this account must be the management account or the AWS Config "
        "delegated administrator). ACCOUNTS: an aggregator over AccountIds, which each member stack authorises. "
        "NONE: no aggregator; ConfigAggregatorName must then name an existing one for the Config export.",
        default="ORGANIZATION", allowed_values=("ORGANIZATION", "ACCOUNTS", "NONE"),
        constraint="must be ORGANIZATION, ACCOUNTS or NONE",
    ),
    Spec(
        "DatabaseName", G_ANALYTICS, "Glue database name", "Glue/Athena database for the tables and views.",
        default="patch_compliance", pattern=r"^[a-z][a-z0-9_]{0,254}$",
        constraint="must start with a lower-case letter and contain only a-z, 0-9 and _",
    ),
    Spec(
        "ConfigRetentionDays", G_ANALYTICS, "Config snapshot retention (days)",
        "Days to keep Config snapshots and history in the central bucket.", type="Number", default=365,
        min_value=1, max_value=3650, constraint="must be 1 to 3650 days",
    ),
    Spec(
        "HistoryRetentionDays", G_ANALYTICS, "Export and history retention (days)",
        "Days to keep each Config export and each day of the compliance and patch history (trends and patch age "
        "read them).", type="Number", default=400, min_value=1, max_value=3650,
        constraint="must be 1 to 3650 days",
    ),
    Spec(
        "AthenaResultsRetentionDays", G_ANALYTICS, "Athena results retention (days)",
        "Days to keep Athena query results.", type="Number", default=30, min_value=1, max_value=3650,
        constraint="must be 1 to 3650 days",
    ),
    Spec(
        "NoncurrentVersionRetentionDays", G_ANALYTICS, "Old object versions retention (days)",
        "Days to keep overwritten or deleted object versions in the versioned buckets.", type="Number",
        default=30, min_value=1, max_value=3650, constraint="must be 1 to 3650 days",
    ),
    Spec(
        "ConfigAggregatorName", G_ANALYTICS, "Config aggregator for the views (optional)",
        "Config aggregator in this account and region that the Config export reads (for example the one AWS "
        "Control Tower or your organisation already has). Empty: the aggregator this stack creates "
        "(CreateConfigAggregator must then not be NONE).",
        default="", pattern=r"^$|^[\w-]{1,256}$",
        constraint="must be empty or 1-256 letters, digits, '_' and '-' (a Config aggregator name)",
    ),
    Spec(
        "ConfigExportSchedule", G_ANALYTICS, "Config export schedule",
        "How often the Config export copies EC2 instances and Config rule results from the aggregator for the "
        "Athena views.", default="rate(1 hour)", pattern=SCHEDULE_PATTERN, constraint=SCHEDULE_MESSAGE,
    ),
    # Compliance policy, read by the views through the one-row view compliance_settings (a Fn::Sub of the values):
    # whole days as digits only, and a tag key of the characters AWS services accept in tags, ASCII only
    # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions): no quote, backslash,
    # $ or brace, so no value can end the SQL string or Sub variable it is written into. Type String, because
    # AllowedPattern applies to String parameters only.
    *(
        Spec(name, G_POLICY, label, description, default=str(default),
             pattern=f"^{integer_range(1, high)}$", constraint=f"must be a whole number of days from 1 to {high}")
        for name, label, description, default, high in (
            ("StaleAfterDays", "Stale after (days)",
             "A node whose latest patch scan or inventory is older than this many days is STALE.", 7, 365),
            ("SlaCriticalDays", "SLA, Critical (days)", "Days to fix a missing Critical patch.", 7, 3650),
            ("SlaImportantDays", "SLA, Important or High (days)",
             "Days to fix a missing Important (vendor) or High (compliance severity) patch.", 14, 3650),
            ("SlaMediumDays", "SLA, Medium or Moderate (days)",
             "Days to fix a missing Medium or Moderate patch.", 30, 3650),
            ("SlaLowDays", "SLA, Low (days)", "Days to fix a missing Low patch.", 60, 3650),
            ("SlaOtherDays", "SLA, other severities (days)",
             "Days to fix a missing patch of any other or no severity (Informational, Unspecified).", 90, 3650),
            ("TrendDays", "Trend window (days)",
             "Days of history the compliance_trend view reports (more days read more history).", 90, 3650),
        )
    ),
    Spec(
        "ExemptionTagKey", G_POLICY, "Exemption tag key",
        "EC2 instances tagged with this key (any value) are EXEMPT; with a PatchExemptUntil tag (YYYY-MM-DD) only "
        "through that day.", default="PatchExempt", pattern=r"^(?![aA][wW][sS]:)[A-Za-z0-9 _.:/=+@-]{1,128}$",
        constraint="must be 1-128 letters, digits, spaces and _ . : / = + - @, not starting with aws:",
    ),
)  # fmt: skip


def add_parameters(template: Template, specs) -> dict[str, Parameter]:
    return {spec.name: template.add_parameter(spec.build()) for spec in specs}


def passthrough_specs() -> list[Spec]:
    return [spec for spec in MEMBER_SPECS if spec.passthrough]


def set_interface(template: Template, specs) -> None:
    """Console parameter groups (in order of first appearance) and labels."""
    groups: dict[str, list[str]] = {}
    labels = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append(spec.name)
        labels[spec.name] = {"default": spec.label}
    template.set_metadata(
        {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": label}, "Parameters": names} for label, names in groups.items()
                ],
                "ParameterLabels": labels,
            }
        }
    )
