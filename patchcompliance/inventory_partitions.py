"""SSM inventory partitions (central): a scheduled function registers the Glue partitions of the inventory tables
for every account x region whose inventory the resource data syncs deliver, so a new account or region becomes
queryable without any update of the central stack (nothing in the stack lists the accounts).

EventBridge schedule (hourly) -> InventoryPartitionsFunction (functions/inventory_partitions): S3 ListObjectsV2
with Delimiter "/" on the anchor type's folders (<prefix>/AWS:InstanceInformation/accountid=<a>/region=<r>/),
glue:GetPartitions on the anchor table, then glue:BatchCreatePartition of the new pairs in every inventory table,
the anchor table last. Delivery is retried for an hour, function errors twice; what still fails lands in an
encrypted dead-letter queue. The environment holds names only: each table's storage descriptor is read with
glue:GetTable when there is something to register (13 descriptors would not fit in Lambda's 4 KB environment).
"""

from __future__ import annotations

from dataclasses import dataclass

import awacs.glue
import awacs.s3
from awacs.aws import Allow, Condition, Statement, StringLike
from troposphere import GetAtt, Join, Ref, Sub, Template
from troposphere.awslambda import Function
from troposphere.events import Rule
from troposphere.glue import Table
from troposphere.iam import Role
from troposphere.logs import LogGroup
from troposphere.sqs import Queue

from . import constants as c
from .athena import glue_arns
from .events import (
    add_async_invoke_config,
    add_dead_letter_queue,
    add_retrying_target,
    allow_rule_to_invoke,
    allow_rule_to_queue,
)
from .glue import INVENTORY_ANCHOR_TYPE, INVENTORY_RESOURCE_TYPE
from .lambdas import add_function

SCHEDULE = "rate(1 hour)"
TIMEOUT = 900  # s; the function starts no new chunk in its last minute, the next run continues
MEMORY = 256  # MB
ENVIRONMENT_SKIP = {
    "id": "CKV_AWS_173",
    "comment": "Environment holds the bucket, prefix, Glue database and table names, no secrets; encrypted at rest.",
}


@dataclass(frozen=True)
class InventoryPartitions:
    function: Function
    role: Role
    log_group: LogGroup
    rule: Rule
    dead_letter_queue: Queue


def listing_condition(prefix) -> Sub:
    """s3:prefix values the function may list: `<prefix>/AWS:InstanceInformation/` and below (`prefix`: the
    DataSyncPrefix parameter)."""
    return Sub(f"${{{prefix.title}}}/{INVENTORY_ANCHOR_TYPE}/*")


def add_inventory_partitions(
    template: Template, *, bucket, prefix, database, tables: dict[str, Table], log_retention
) -> InventoryPartitions:
    """Add the function, its role, the hourly schedule and the dead-letter queue.

    `bucket`: the DataSyncBucket resource; `prefix`: the DataSyncPrefix parameter; `database`: the Glue database;
    `tables`: {inventory type: Table} from glue.add_inventory_tables (the anchor type among them);
    `log_retention`: the retention parameter.
    """
    if INVENTORY_ANCHOR_TYPE not in tables:
        raise ValueError(f"the inventory tables must include the anchor type {INVENTORY_ANCHOR_TYPE}")
    anchor = tables[INVENTORY_ANCHOR_TYPE]
    catalog_arn, database_arn, anchor_arn = glue_arns(database, anchor)
    table_arns = [glue_arns(database, table)[2] for table in tables.values()]
    statements = [
        Statement(  # ListObjectsV2 below the anchor type's folder only
            Effect=Allow,
            Action=[awacs.s3.ListBucket],
            Resource=[GetAtt(bucket, "Arn")],
            Condition=Condition(StringLike({"s3:prefix": [listing_condition(prefix)]})),
        ),
        Statement(
            Effect=Allow,
            Action=[awacs.glue.GetTable, awacs.glue.BatchCreatePartition],
            Resource=[catalog_arn, database_arn, *table_arns],
        ),
        Statement(Effect=Allow, Action=[awacs.glue.GetPartitions], Resource=[catalog_arn, database_arn, anchor_arn]),
    ]
    dlq = add_dead_letter_queue(template, c.INVENTORY_PARTITIONS_DLQ)
    fn = add_function(
        template,
        c.INVENTORY_PARTITIONS_FUNCTION,
        role_id=c.INVENTORY_PARTITIONS_ROLE,
        description="Registers the SSM inventory partitions of new accounts and regions in the Glue tables",
        statements=statements,
        log_retention=log_retention,
        timeout=TIMEOUT,
        memory=MEMORY,
        dead_letter_queue=dlq,
        environment={
            "BUCKET": Ref(bucket),
            "PREFIX": Ref(prefix),
            "ANCHOR_FOLDER": INVENTORY_ANCHOR_TYPE,
            "RESOURCE_TYPE": INVENTORY_RESOURCE_TYPE,
            "GLUE_DATABASE": Ref(database),
            "ANCHOR_TABLE": Ref(anchor),
            "TABLES": Join(",", [Ref(table) for table in tables.values()]),
        },
        metadata={"skip": [ENVIRONMENT_SKIP]},
    )
    add_async_invoke_config(template, fn)
    rule = template.add_resource(
        Rule(
            c.INVENTORY_PARTITIONS_SCHEDULE,
            Description="Registers the SSM inventory partitions of accounts and regions that started delivering",
            ScheduleExpression=SCHEDULE,
            State="ENABLED",
            Targets=[add_retrying_target(fn, dlq, "inventory-partitions")],
        )
    )
    allow_rule_to_queue(template, c.INVENTORY_PARTITIONS_DLQ_POLICY, dlq, rule)
    allow_rule_to_invoke(template, c.INVENTORY_PARTITIONS_PERMISSION, fn, rule)
    return InventoryPartitions(fn.function, fn.role, fn.log_group, rule, dlq)
