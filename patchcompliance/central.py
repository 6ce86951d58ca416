"""The central template: buckets, Glue/Athena, partitioning, views, aggregator, QuickSight and the StackSet."""

from __future__ import annotations

from troposphere import Export, GetAtt, Output, Ref, Sub, Template

from . import athena, config, glue, parameters, partitioning, quicksight, stackset, storage
from .member import build_member
from .render import to_yaml

DESCRIPTION = (
    "Patch compliance analysis (central account): buckets for AWS Config and SSM inventory, Glue tables, Athena "
    "views, an organisation Config aggregator, optional QuickSight dashboard, and a StackSet that deploys the "
    "member stack to every target account and region."
)


def central_specs() -> list[parameters.Spec]:
    """Central parameters first, then the member parameters the StackSet passes through."""
    return [*parameters.CENTRAL_SPECS, *parameters.passthrough_specs()]


def build_central(member: Template | None = None) -> Template:
    member_body = to_yaml(member or build_member())
    template = Template(Description=DESCRIPTION)
    template.set_version()
    specs = central_specs()
    params = parameters.add_parameters(template, specs)
    parameters.window_cutoff_rule(template, params)
    parameters.target_rules(template, params)

    buckets = storage.add_buckets(template, params)
    database = glue.add_database(template, Ref(params["DatabaseName"]))
    config_table = glue.add_config_table(template, database, buckets.config)
    inventory_tables = glue.add_inventory_tables(
        template,
        database,
        buckets.datasync,
        params["DataSyncPrefix"],
        params["AccountIds"],
        params["Regions"],
    )
    workgroup = athena.add_workgroup(template, buckets.athena, params["KmsKeyArn"])
    partitioning.add_partitioning(
        template,
        bucket=buckets.config,
        database=database,
        table=config_table,
        storage_descriptor=glue.config_storage_descriptor(),
        log_retention=params["LogRetentionDays"],
    )
    views = athena.add_views(
        template,
        workgroup=workgroup,
        database=database,
        tables=[config_table, *inventory_tables.values()],
        results_bucket=buckets.athena,
        log_retention=params["LogRetentionDays"],
        kms_key=params["KmsKeyArn"],
    )
    config.add_aggregator(template, params["CreateOrganizationAggregator"])
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
    parameters.set_interface(template, [*specs, *qs.specs])
    _outputs(template, buckets, database, workgroup, stack_set)
    return template


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
