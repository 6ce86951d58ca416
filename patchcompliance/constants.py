"""Logical IDs and names used in more than one place, defined once.

Seed logical IDs are kept wherever the resource still exists (docs/reference.md, "Seed resources").
"""

# Limits
TEMPLATE_BODY_LIMIT = 51_200  # bytes: direct upload and StackSet TemplateBody
TEMPLATE_S3_LIMIT = 1_000_000  # bytes: template read from S3
LAMBDA_RUNTIME = "python3.13"

# ---------------------------------------------------------------- central template
ATHENA_BUCKET = "AthenaBucket"
CONFIG_BUCKET = "ConfigBucket"
CONFIG_BUCKET_POLICY = "ConfigBucketPolicy"
DATASYNC_BUCKET = "DataSyncBucket"
DATASYNC_BUCKET_POLICY = "DataSyncBucketPolicy"
ATHENA_BUCKET_POLICY = "AthenaBucketPolicy"
ACCESS_LOG_BUCKET = "AccessLogBucket"
ACCESS_LOG_BUCKET_POLICY = "AccessLogBucketPolicy"

ATHENA_WORKGROUP = "AthenaWorkGroup"
ATHENA_VIEWS = "AthenaViews"
ATHENA_VIEWS_FUNCTION = "AthenaViewsFunction"
ATHENA_VIEWS_ROLE = "AthenaViewsRole"
ATHENA_VIEWS_DLQ = "AthenaViewsDeadLetterQueue"  # CloudFormation invokes custom resources asynchronously
# Named query per view; the seed's AthenaConfigMICVNamedQuery is the one for configmic.
NAMED_QUERY_IDS = {
    "config_export_latest": "AthenaConfigExportLatestNamedQuery",
    "configmic": "AthenaConfigMICVNamedQuery",
    "configpc": "AthenaConfigPCNamedQuery",
    "patch": "AthenaPatchNamedQuery",
    "instance_tags": "AthenaInstanceTagsNamedQuery",
    "instance_compliance": "AthenaInstanceComplianceNamedQuery",
    "compliance_settings": "AthenaComplianceSettingsNamedQuery",
    "patch_age": "AthenaPatchAgeNamedQuery",
    "patch_cves": "AthenaPatchCvesNamedQuery",
    "compliance_trend": "AthenaComplianceTrendNamedQuery",
    "coverage": "AthenaCoverageNamedQuery",
}
# Dependency order: a view comes after every view it reads (tests/analytics/test_sql_policy_template.py).
VIEW_ORDER = (
    "config_export_latest",
    "configmic",
    "configpc",
    "patch",
    "instance_tags",
    "compliance_settings",
    "instance_compliance",
    "patch_age",
    "patch_cves",
    "compliance_trend",
    "coverage",
)
# Tag key whose value ends an exemption (YYYY-MM-DD); the exemption tag's own key is the ExemptionTagKey parameter.
EXEMPT_UNTIL_TAG_KEY = "PatchExemptUntil"
# The views for consumers (QuickSight); config_export_latest is the shared base of configmic, configpc, instance_tags.
# coverage is the digest's (tests/functions/test_fn_digest.py checks it against its own truth).
PUBLIC_VIEWS = tuple(name for name in VIEW_ORDER if name not in ("config_export_latest", "coverage"))

PARTITIONING_FUNCTION = "PartitioningFunction"
PARTITIONING_ROLE = "LambdaExecutionRole"  # seed ID, now the partitioning function's role
PARTITIONING_PERMISSION = "LambdaInvokePermission"
PARTITIONING_RULE = "PartitioningRule"
PARTITIONING_DLQ = "PartitioningDeadLetterQueue"
PARTITIONING_DLQ_POLICY = "PartitioningDeadLetterQueuePolicy"

INVENTORY_PARTITIONS_FUNCTION = "InventoryPartitionsFunction"
INVENTORY_PARTITIONS_ROLE = "InventoryPartitionsRole"
INVENTORY_PARTITIONS_SCHEDULE = "InventoryPartitionsSchedule"
INVENTORY_PARTITIONS_PERMISSION = "InventoryPartitionsSchedulePermission"
INVENTORY_PARTITIONS_DLQ = "InventoryPartitionsDeadLetterQueue"
INVENTORY_PARTITIONS_DLQ_POLICY = "InventoryPartitionsDeadLetterQueuePolicy"

CONFIG_AGGREGATOR = "ConfigAggregator"
CONFIG_AGGREGATOR_ROLE = "ConfigAggregatorRole"
CONFIG_AGGREGATION_AUTHORIZATION = "ConfigAggregationAuthorization"  # member
STACKSET = "StackSet"
# StackSet permission models (parameter PermissionModel, its condition and the Rules on its targets).
SELF_MANAGED = "SELF_MANAGED"
SERVICE_MANAGED = "SERVICE_MANAGED"
QUICKSIGHT_ENABLED = "QuickSightEnabled"  # condition name

# ---------------------------------------------------------------- member template
CONFIG_TOPIC = "ConfigTopic"
CONFIG_TOPIC_POLICY = "ConfigTopicPolicy"
CONFIG_TOPIC_SUBSCRIPTION = "ConfigTopicEmailSubscription"
CONFIG_RECORDER_ROLE = "ConfigRecorderRole"
CONFIG_RECORDER = "ConfigRecorder"
CONFIG_DELIVERY_CHANNEL = "ConfigDeliveryChannel"
RULE_MANAGED_BY_SSM = "Ec2InstanceManagedBySsmRule"
RULE_PATCH_COMPLIANCE = "Ec2ManagedInstancePatchComplianceRule"
# Config rule names the Athena views match on (see patchcompliance/sql).
RULE_NAME_MANAGED_BY_SSM = "ec2-instance-managed-by-systems-manager"
RULE_NAME_PATCH_COMPLIANCE = "ec2-managedinstance-patch-compliance-status-check"
# Regions (of parameters.KNOWN_REGIONS) where AWS Config does not offer a managed rule, from each rule's page in
# the AWS Config Developer Guide ("AWS Region" line); the rule is skipped there by a template condition.
# ec2-instance-managed-by-systems-manager: "All supported AWS regions except Asia Pacific (Taipei)".
MANAGED_BY_SSM_RULE_UNSUPPORTED_REGIONS = ("ap-east-2",)
# ec2-managedinstance-patch-compliance-status-check: except Osaka, Milan, Taipei, Calgary (and AWS Secret - West).
PATCH_RULE_UNSUPPORTED_REGIONS = ("ap-northeast-3", "eu-south-1", "ap-east-2", "ca-west-1")

# Fixed names of the member's SSM resources. Names derived from the stack name can exceed the services' 128-character
# limits when the stack is a StackSet instance ("StackSet-<StackSetName>-<id>"); these always fit.
NAME_PREFIX = "patch-compliance"
UPDATE_AGENT_ASSOCIATION_NAME = f"{NAME_PREFIX}-UpdateSSMAgent"
INVENTORY_ASSOCIATION_NAME = f"{NAME_PREFIX}-GatherSoftwareInventory"
SCAN_ASSOCIATION_NAME = f"{NAME_PREFIX}-RunPatchBaseline-Scan"
MAINTENANCE_WINDOW_NAME = f"{NAME_PREFIX}-patching"
RESOURCE_DATA_SYNC_NAME = f"{NAME_PREFIX}-sync"

UPDATE_AGENT_ASSOCIATION = "UpdateSSMAgentAssociation"
INVENTORY_ASSOCIATION = "GatherSoftwareInventoryAssociation"
SCAN_ASSOCIATION = "RunPatchBaselineAssociation"
MAINTENANCE_WINDOW = "PatchAWSSSMMaintenanceWindow"
MAINTENANCE_WINDOW_TARGET = "PatchAWSSSMMaintenanceWindowTarget"
MAINTENANCE_WINDOW_TASK = "PatchAWSSSMMaintenanceWindowTask"
RESOURCE_DATA_SYNC = "ResourceDataSync"

TAGGING_FUNCTION = "EC2TaggingFunction"
TAGGING_ROLE = "LambdaExecutionRole"  # seed ID in the member template
TAGGING_CUSTOM_RESOURCE = "EC2Tagging"
TAGGING_SCHEDULE = "EC2TaggingSchedule"
TAGGING_SCHEDULE_PERMISSION = "EC2TaggingSchedulePermission"
TAGGING_DLQ = "EC2TaggingDeadLetterQueue"
TAGGING_DLQ_POLICY = "EC2TaggingDeadLetterQueuePolicy"
PLATFORM_TAG_KEYS = ("PlatformType", "PlatformName", "PlatformVersion")

# ---------------------------------------------------------------- AWS Config delivery key layout
# Where AWS Config writes in its delivery bucket (AWS Config Developer Guide, "Managing the delivery channel"):
#   [<prefix>/]AWSLogs/<account>/Config/<region>/<yyyy>/<m>/<d>/ConfigSnapshot/<account>_Config_<region>_
#   ConfigSnapshot_<yyyyMMddTHHmmssZ>_<uuid>.json.gz   (month and day not zero-padded)
# Consumers: bucket policies, the recorder role, the lifecycle rule, the partitioning rule's pattern and function,
# the QuickSight role, the Glue table and the test fixtures; tests/test_names.py ties each to these.
CONFIG_LOGS_PREFIX = "AWSLogs/"
# Folders of the Config bucket the stack writes itself: the Config export (one folder per export) and the daily
# history tables. Both expire after HistoryRetentionDays.
CONFIG_EXPORT_PREFIX = "config-export"
HISTORY_PREFIX = "history"


def config_account_prefix(account: str) -> str:
    """Key prefix under which AWS Config writes everything of one account (`account` may be a variable)."""
    return f"{CONFIG_LOGS_PREFIX}{account}/Config/"


def config_snapshot_key(account: str, region: str, year: int, month: int, day: int, stamp: str, uuid: str) -> str:
    folder = f"{config_account_prefix(account)}{region}/{year}/{month}/{day}/ConfigSnapshot/"
    return f"{folder}{account}_Config_{region}_ConfigSnapshot_{stamp}_{uuid}.json.gz"


# EventBridge wildcard matching every snapshot key, under any bucket prefix.
CONFIG_SNAPSHOT_WILDCARD = f"*{config_account_prefix('*')}*/ConfigSnapshot/*.json.gz"

CONFIG_EXPORT_FUNCTION = "ConfigExportFunction"
DIGEST_FUNCTION = "DigestFunction"

# Daily history (patchcompliance/history.py): function, schedule, and the two Parquet tables the views read.
HISTORY_FUNCTION = "HistoryFunction"
HISTORY_ROLE = "HistoryRole"
HISTORY_SCHEDULE = "HistoryScheduleRule"
HISTORY_SCHEDULE_PERMISSION = "HistorySchedulePermission"
HISTORY_DLQ = "HistoryDeadLetterQueue"
HISTORY_DLQ_POLICY = "HistoryDeadLetterQueuePolicy"
COMPLIANCE_HISTORY_TABLE = "ComplianceHistoryTable"
PATCH_HISTORY_TABLE = "PatchHistoryTable"
COMPLIANCE_HISTORY_TABLE_NAME = "compliance_history"
PATCH_HISTORY_TABLE_NAME = "patch_history"

# Lambda sources, functions/<dir>/index.py
FUNCTION_DIRS = {
    TAGGING_FUNCTION: "ec2_tagging",
    PARTITIONING_FUNCTION: "partitioning",
    ATHENA_VIEWS_FUNCTION: "athena_views",
    INVENTORY_PARTITIONS_FUNCTION: "inventory_partitions",
    CONFIG_EXPORT_FUNCTION: "config_export",
    DIGEST_FUNCTION: "digest",
    HISTORY_FUNCTION: "history",
}
