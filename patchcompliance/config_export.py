"""Config export (central): a scheduled function copies EC2 instances and their Config rule results from the Config
aggregator (advanced queries) into a compact gzip JSON Lines table, one Glue partition per complete export.

EventBridge schedule -> ConfigExportFunction (functions/config_export) -> s3://<bucket>/<prefix>/export_id=<id>/
part-<nnnnn>.json.gz, then one glue:CreatePartition export_id=<id>. Readers take the largest registered
export_id. A long export continues in asynchronous invocations of the function itself; the right to invoke
itself is a separate AWS::IAM::Policy attached to the role (function -> role -> policy -> function would
otherwise be a cycle). Failed invocations are retried twice, then parked in the dead-letter queue.

Table `config_export` (partition key export_id, YYYYMMDDTHHMMSSZ); one row per resource, both kinds in one table:

| column | type | kind=instance (AWS::EC2::Instance) | kind=rules (AWS::Config::ResourceCompliance) |
|---|---|---|---|
| kind | string | `instance` | `rules` |
| account_id | string | accountId | accountId |
| region | string | awsRegion | awsRegion |
| resource_type | string | `AWS::EC2::Instance` | configuration.targetResourceType |
| resource_id | string | resourceId | configuration.targetResourceId |
| instance_id | string | resourceId | last `/` segment of targetResourceId (i-... or mi-...) |
| resource_name | string | resourceName | - |
| instance_state | string | configuration.state.name | - |
| platform_details | string | configuration.platformDetails, else configuration.platform | - |
| launch_time | string | configuration.launchTime (ISO-8601) | - |
| tags | array<struct<key,value>> | tags.key / tags.value | - |
| rules | array<struct<rule_name,compliance_type>> | - | configuration.configRuleList.configRuleName / .complianceType |
| capture_time | string | configurationItemCaptureTime (ISO-8601) | configurationItemCaptureTime |

Absent JSON keys read as NULL (the function leaves out null and empty values). Keys are the column names, all
lower case, so the SerDe needs no mappings; tag keys are values, so tags that differ only by case never clash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import awacs.awslambda
import awacs.config
import awacs.glue
import awacs.s3
from awacs.aws import Allow, Statement
from troposphere import AWSObject, GetAtt, Parameter, Ref, Sub, Template
from troposphere.awslambda import Function
from troposphere.events import Rule
from troposphere.glue import Column, SerdeInfo, StorageDescriptor, Table
from troposphere.iam import PolicyType, Role
from troposphere.logs import LogGroup
from troposphere.sqs import Queue

from . import constants as c
from . import policies
from .athena import glue_arns
from .conditions import HAS_KMS
from .events import (
    add_async_invoke_config,
    add_dead_letter_queue,
    add_retrying_target,
    allow_rule_to_invoke,
    allow_rule_to_queue,
)
from .glue import OPENX_SERDE, TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT, external_table
from .lambdas import add_function

# ---------------------------------------------------------------- logical IDs and names (defined once, here)
CONFIG_EXPORT_FUNCTION = c.CONFIG_EXPORT_FUNCTION
CONFIG_EXPORT_ROLE = "ConfigExportRole"
CONFIG_EXPORT_INVOKE_POLICY = "ConfigExportInvokeSelfPolicy"
CONFIG_EXPORT_TABLE = "ConfigExportTable"
CONFIG_EXPORT_SCHEDULE = "ConfigExportScheduleRule"  # the schedule parameter is ConfigExportSchedule
CONFIG_EXPORT_SCHEDULE_PERMISSION = "ConfigExportSchedulePermission"
CONFIG_EXPORT_DLQ = "ConfigExportDeadLetterQueue"
CONFIG_EXPORT_DLQ_POLICY = "ConfigExportDeadLetterQueuePolicy"
EXPORT_TABLE_NAME = "config_export"
EXPORT_PREFIX = c.CONFIG_EXPORT_PREFIX
EXPORT_PARTITION_KEY = "export_id"


TIMEOUT = 900  # the function hands over to a new invocation before this
MEMORY = 512  # MB; the export keeps one page and one compressed part (<= 32 MB) in memory
MAX_CONTINUATIONS = 10

# (column, Glue type), in the order the function writes the keys
EXPORT_COLUMNS = (
    ("kind", "string"),
    ("account_id", "string"),
    ("region", "string"),
    ("resource_type", "string"),
    ("resource_id", "string"),
    ("instance_id", "string"),
    ("resource_name", "string"),
    ("instance_state", "string"),
    ("platform_details", "string"),
    ("launch_time", "string"),
    ("tags", "array<struct<key:string,value:string>>"),
    ("rules", "array<struct<rule_name:string,compliance_type:string>>"),
    ("capture_time", "string"),
)

ENVIRONMENT_SKIP = {
    "id": "CKV_AWS_173",
    "comment": "Environment holds the aggregator, bucket and Glue names and the table's storage descriptor, no "
    "secrets; encrypted at rest.",
}


@dataclass(frozen=True)
class ConfigExport:
    function: Function
    role: Role
    log_group: LogGroup
    table: Table
    rule: Rule
    dead_letter_queue: Queue
    invoke_policy: PolicyType


def export_storage_descriptor() -> dict:
    """StorageDescriptor of `config_export` without Location, as plain JSON-able data (the table's and the
    function's STORAGE_DESCRIPTOR, so a partition costs exactly one glue:CreatePartition)."""
    return {
        "Columns": [{"Name": name, "Type": type_} for name, type_ in EXPORT_COLUMNS],
        "InputFormat": TEXT_INPUT_FORMAT,
        "OutputFormat": TEXT_OUTPUT_FORMAT,
        "SerdeInfo": {"SerializationLibrary": OPENX_SERDE, "Parameters": {"case.insensitive": "false"}},
        "Compressed": True,
    }


def _ref(value):
    """Ref of a parameter or resource; a literal as is."""
    return Ref(value) if isinstance(value, (AWSObject, Parameter)) else value


def add_config_export(
    template: Template,
    *,
    bucket,
    database,
    aggregator_name,
    schedule,
    log_retention,
    prefix: str = EXPORT_PREFIX,
    aggregator_arn=None,
    kms_key=None,
    max_continuations: int = MAX_CONTINUATIONS,
) -> ConfigExport:
    """Add the export table, function, role, schedule and dead-letter queue.

    `bucket`: the bucket resource (or a parameter holding its name) the export is written to, under `prefix`.
    `database`: the Glue database resource. `aggregator_name`, `schedule` (an EventBridge schedule expression):
    parameters or literals. `log_retention`: the retention parameter. `aggregator_arn`: the aggregator's ARN
    when known (e.g. GetAtt of an aggregator the stack creates); IAM scopes SelectAggregateResourceConfig to a
    ConfigurationAggregator ARN, which holds the aggregator's ID rather than its name, so without it the grant
    covers the aggregators of this account and region. `kms_key`: the KmsKeyArn parameter when the bucket may
    use SSE-KMS with a customer key (condition HasKmsKey).
    """
    if "/" in prefix.strip("/") or not prefix.strip("/"):
        raise ValueError(f"prefix must be one non-empty folder name, got {prefix!r}")
    prefix = prefix.strip("/")
    bucket_name = _ref(bucket)
    descriptor = export_storage_descriptor()

    table = template.add_resource(
        external_table(
            CONFIG_EXPORT_TABLE,
            database,
            name=EXPORT_TABLE_NAME,
            description="EC2 instances and their Config rule results from the Config aggregator, one partition "
            "per complete export (readers use the largest export_id)",
            parameters={"classification": "json", "compressionType": "gzip"},
            partition_keys=[Column(Name=EXPORT_PARTITION_KEY, Type="string")],
            storage=StorageDescriptor(
                Location=Sub(f"s3://${{Bucket}}/{prefix}/", Bucket=bucket_name),
                Columns=[Column(Name=c["Name"], Type=c["Type"]) for c in descriptor["Columns"]],
                InputFormat=descriptor["InputFormat"],
                OutputFormat=descriptor["OutputFormat"],
                SerdeInfo=SerdeInfo(**descriptor["SerdeInfo"]),
                Compressed=descriptor["Compressed"],
            ),
        )
    )

    if aggregator_arn is None:
        aggregator_arn = Sub("arn:${AWS::Partition}:config:${AWS::Region}:${AWS::AccountId}:config-aggregator/*")
    objects = Sub(f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/{prefix}/*", Bucket=bucket_name)
    statements = [
        Statement(Effect=Allow, Action=[awacs.config.SelectAggregateResourceConfig], Resource=[aggregator_arn]),
        # parts, empty parts over stale ones, and the run state under <prefix>/_runs/
        Statement(Effect=Allow, Action=[awacs.s3.PutObject, awacs.s3.GetObject], Resource=[objects]),
        Statement(Effect=Allow, Action=[awacs.glue.CreatePartition], Resource=glue_arns(database, table)),
    ]
    extra = []
    if kms_key is not None:
        HAS_KMS.use(template)
        extra.append(policies.conditional_policy(HAS_KMS, "bucket-key", policies.kms_via_s3_statement(kms_key)))

    dlq = add_dead_letter_queue(template, CONFIG_EXPORT_DLQ)
    fn = add_function(
        template,
        CONFIG_EXPORT_FUNCTION,
        role_id=CONFIG_EXPORT_ROLE,
        description="Exports EC2 instances and Config rule results from the Config aggregator for Athena",
        statements=statements,
        log_retention=log_retention,
        timeout=TIMEOUT,
        memory=MEMORY,
        dead_letter_queue=dlq,
        extra_policies=extra,
        environment={
            "AGGREGATOR_NAME": _ref(aggregator_name),
            "BUCKET": bucket_name,
            "PREFIX": prefix,
            "GLUE_DATABASE": Ref(database),
            "EXPORT_TABLE": Ref(table),
            "STORAGE_DESCRIPTOR": json.dumps(descriptor, sort_keys=True, separators=(",", ":")),
            "MAX_CONTINUATIONS": str(max_continuations),
        },
        metadata={"skip": [ENVIRONMENT_SKIP]},
    )
    invoke_policy = template.add_resource(
        PolicyType(
            CONFIG_EXPORT_INVOKE_POLICY,
            PolicyName="continue-export",
            Roles=[Ref(fn.role)],
            PolicyDocument=policies.document(
                Statement(Effect=Allow, Action=[awacs.awslambda.InvokeFunction], Resource=[GetAtt(fn.function, "Arn")])
            ),
        )
    )
    add_async_invoke_config(template, fn)
    rule = template.add_resource(
        Rule(
            CONFIG_EXPORT_SCHEDULE,
            Description="Exports the Config aggregator's EC2 instances and rule results for the Athena views",
            ScheduleExpression=_ref(schedule),
            State="ENABLED",
            Targets=[add_retrying_target(fn, dlq, "config-export")],
        )
    )
    allow_rule_to_queue(template, CONFIG_EXPORT_DLQ_POLICY, dlq, rule)
    allow_rule_to_invoke(template, CONFIG_EXPORT_SCHEDULE_PERMISSION, fn, rule)
    return ConfigExport(fn.function, fn.role, fn.log_group, table, rule, dlq, invoke_policy)
