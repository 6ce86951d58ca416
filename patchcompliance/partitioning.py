"""Automatic partition registration for the Config snapshot table.

S3 (EventBridge enabled on the Config bucket) -> EventBridge rule (snapshot keys only) -> PartitioningFunction,
which makes exactly one glue:CreatePartition call per new account/region/day. Delivery is retried for an
hour, function errors twice; what still fails lands in an encrypted dead-letter queue.
"""

from __future__ import annotations

import json

import awacs.glue
from awacs.aws import Allow, Statement
from troposphere import Ref, Template
from troposphere.events import Rule

from . import constants as c
from .athena import glue_arns
from .events import (
    add_async_invoke_config,
    add_dead_letter_queue,
    add_retrying_target,
    allow_rule_to_invoke,
    allow_rule_to_queue,
)
from .lambdas import LambdaFunction, add_function

TIMEOUT = 60
ENVIRONMENT_SKIP = {
    "id": "CKV_AWS_173",
    "comment": "Environment holds Glue names and the table's storage descriptor, no secrets; encrypted at rest.",
}


def add_partitioning(template: Template, *, bucket, database, table, storage_descriptor: dict, log_retention):
    dlq = add_dead_letter_queue(template, c.PARTITIONING_DLQ)
    fn: LambdaFunction = add_function(
        template,
        c.PARTITIONING_FUNCTION,
        role_id=c.PARTITIONING_ROLE,
        description="Registers new AWS Config snapshot partitions in the Glue table",
        log_retention=log_retention,
        timeout=TIMEOUT,
        memory=128,
        dead_letter_queue=dlq,
        environment={
            "GLUE_DATABASE": Ref(database),
            "CONFIG_TABLE": Ref(table),
            "STORAGE_DESCRIPTOR": json.dumps(storage_descriptor, sort_keys=True, separators=(",", ":")),
        },
        statements=[Statement(Effect=Allow, Action=[awacs.glue.CreatePartition], Resource=glue_arns(database, table))],
        metadata={"skip": [ENVIRONMENT_SKIP]},
    )
    add_async_invoke_config(template, fn)
    rule = template.add_resource(
        Rule(
            c.PARTITIONING_RULE,
            Description="New AWS Config snapshots in the central bucket",
            State="ENABLED",
            EventPattern={
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [Ref(bucket)]},
                    "object": {"key": [{"wildcard": c.CONFIG_SNAPSHOT_WILDCARD}]},
                },
            },
            Targets=[add_retrying_target(fn, dlq, "partitioning")],
        )
    )
    allow_rule_to_queue(template, c.PARTITIONING_DLQ_POLICY, dlq, rule)
    allow_rule_to_invoke(template, c.PARTITIONING_PERMISSION, fn, rule)
    return fn
