"""The central template: buckets, Glue/Athena, partitioning, views, aggregator, QuickSight and the StackSet."""

from __future__ import annotations

from troposphere import Export, GetAtt, If, Output, Ref, Sub, Template

from . import (
    athena,
    config,
    digest,
    glue,
    inventory_partitions,
    parameters,
    partitioning,
    quicksight,
    rules,
    stackset,
    storage,
)
from . import constants as c
from .conditions import USE_STACK_AGGREGATOR
from .config_export import add_config_export
from .history import add_history, add_history_tables
from .member import build_member
from .render import to_yaml

DESCRIPTION = (
    "Patch compliance analysis (central account): buckets for AWS Config and SSM inventory, Glue tables, Athena "
    "views, an organisation Config aggregator, optional QuickSight dashboard, and a StackSet that deploys the "
    "member stack to every target account and region."
)


def central_specs() -> list[parameters.Spec]:
    """Central parameters first, then the member parameters the StackSet passes through."""
    return [*parameters.CENTRAL_SPECS, *digest.SPECS, *parameters.passthrough_specs()]


def build_central(member: Template | None = None) -> Template:
    member_body = to_yaml(member or build_member())
    template = Template(Description=DESCRIPTION)
    template.set_version()
    specs = central_specs()
    params = parameters.add_parameters(template, specs)
    rules.window_cutoff_rule(template, params)
    rules.target_rules(template, params)
    rules.aggregator_rules(template, params)

    buckets = storage.add_buckets(template, params)
    database = glue.add_database(template, Ref(params["DatabaseName"]))
    config_table = glue.add_config_table(template, database, buckets.config)
    inventory_tables = glue.add_inventory_tables(template, database, buckets.datasync, params["DataSyncPrefix"])
    workgroup = athena.add_workgroup(template, buckets.athena, params["KmsKeyArn"])
    partitioning.add_partitioning(
        template,
        bucket=buckets.config,
        database=database,
        table=config_table,
        storage_descriptor=glue.config_storage_descriptor(),
        log_retention=params["LogRetentionDays"],
    )
    inventory_partitions.add_inventory_partitions(
        template,
        bucket=buckets.datasync,
        prefix=params["DataSyncPrefix"],
        database=database,
        tables=inventory_tables,
        log_retention=params["LogRetentionDays"],
    )
    aggregator = config.add_aggregator(template, params)
    export = _add_config_export(template, params, buckets, database, aggregator)
    history_tables = add_history_tables(template, database, buckets.config)  # views read them
    targets_table = digest.add_expected_targets_table(template, database, buckets.athena)  # coverage reads it
    views = athena.add_views(
        template,
        workgroup=workgroup,
        database=database,
        tables=[config_table, export.table, *inventory_tables.values(), *history_tables.values(), targets_table],
        results_bucket=buckets.athena,
        log_retention=params["LogRetentionDays"],
        kms_key=params["KmsKeyArn"],
    )
    add_history(
        template,
        tables=history_tables,
        workgroup=workgroup,
        database=database,
        bucket=buckets.config,
        results_bucket=buckets.athena,
        views=views,
        log_retention=params["LogRetentionDays"],
        kms_key=params["KmsKeyArn"],
        export_table=export.table,
        source_tables=[export.table, *inventory_tables.values()],
        datasync_bucket=buckets.datasync,
        datasync_prefix=params["DataSyncPrefix"],
        retention=params["HistoryRetentionDays"],
    )
    qs = quicksight.add_quicksight(
        template,
        quicksight.QuickSightInputs(
            workgroup=workgroup,
            database=database,
            athena_bucket=buckets.athena,
            config_bucket=buckets.config,
            datasync_bucket=buckets.datasync,
            kms_key=params["KmsKeyArn"],
            views=views,
        ),
    )
    stack_set = stackset.add_stackset(
        template,
        member_body=member_body,
        params=params,
        buckets=buckets,
        depends_on=buckets.delivery_policies,
    )
    digest.add_digest(
        template,
        workgroup=workgroup,
        database=database,
        results_bucket=buckets.athena,
        stack_set=stack_set,
        params=params,
        source_objects=[
            (buckets.config, f"{c.CONFIG_EXPORT_PREFIX}/*"),
            (buckets.config, f"{c.HISTORY_PREFIX}/*"),
            (buckets.datasync, "*"),
        ],
        log_retention=params["LogRetentionDays"],
        kms_key=params["KmsKeyArn"],
        table=targets_table,
    )
    parameters.set_interface(template, [*specs, *qs.specs])
    _outputs(template, buckets, database, workgroup, stack_set)
    return template


def _add_config_export(template, params, buckets, database, aggregator):
    """The Config export the views read, into the Config bucket, from the ConfigAggregatorName aggregator or, when
    that is empty, the one this stack creates (Rules refuse neither, and ACCOUNTS without AccountIds)."""
    name = params["ConfigAggregatorName"]
    USE_STACK_AGGREGATOR.use(template)
    return add_config_export(
        template,
        bucket=buckets.config,
        database=database,
        aggregator_name=If(USE_STACK_AGGREGATOR, Ref(aggregator), Ref(name)),
        # IAM scopes config:SelectAggregateResourceConfig to an aggregator ARN, which holds its ID, not its name:
        # exact for the stack's aggregator, any aggregator of this account and region for a named one.
        aggregator_arn=If(
            USE_STACK_AGGREGATOR,
            GetAtt(aggregator, "ConfigurationAggregatorArn"),
            Sub("arn:${AWS::Partition}:config:${AWS::Region}:${AWS::AccountId}:config-aggregator/*"),
        ),
        schedule=params["ConfigExportSchedule"],
        log_retention=params["LogRetentionDays"],
        kms_key=params["KmsKeyArn"],
    )


def _outputs(template, buckets, database, workgroup, stack_set) -> None:
    def exported(name, value, description):
        return Output(name, Description=description, Value=value, Export=Export(Sub(f"${{AWS::StackName}}-{name}")))

    template.add_output(
        [
            exported("ConfigBucketName", Ref(buckets.config), "Central bucket for AWS Config deliveries"),
            exported("DataSyncBucketName", Ref(buckets.datasync), "Central bucket for SSM resource data sync"),
            exported("AthenaBucketName", Ref(buckets.athena), "Athena query results"),
            exported("AccessLogBucketName", Ref(buckets.access_logs), "S3 server access logs of the buckets"),
            exported("DatabaseName", Ref(database), "Glue database with the tables and views"),
            exported("WorkGroupName", Ref(workgroup), "Athena workgroup for the views and QuickSight"),
            exported("StackSetName", GetAtt(stack_set, "StackSetId"), "StackSet deploying the member stack"),
        ]
    )
