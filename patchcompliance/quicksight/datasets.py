"""The Athena data source, the datasets (declared as data) and their daily SPICE refresh schedules.

Every dataset column is an output column of its Athena view (docs/DESIGN.md, "Views"); tests/quicksight checks
the columns against the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import AccountId, AWSObject, GetAtt, If, NoValue, Ref, Sub, Template
from troposphere import quicksight as qs
from troposphere.athena import WorkGroup
from troposphere.glue import Database
from troposphere.iam import Role

from . import names
from .parameters import ENABLED, IMPORT_MODE, REFRESH_TIME, REFRESH_TIME_ZONE, SPICE_ENABLED, owner_permissions

JOIN_KEYS = ("account_id", "region", "instance_id")
STACK = "${AWS::StackName}"


@dataclass(frozen=True)
class Source:
    """One physical table: an Athena view and the columns read from it as (name, QuickSight type)."""

    table_id: str
    view: str
    columns: tuple[tuple[str, str], ...]
    key_prefix: str = ""  # right side of a join: JOIN_KEYS are renamed <prefix><key> and projected away

    @property
    def keys(self) -> dict[str, str]:
        return {key: f"{self.key_prefix}{key}" for key in JOIN_KEYS} if self.key_prefix else {}


@dataclass(frozen=True)
class DataSetSpec:
    """A dataset: the first source LEFT JOINed with each further source on JOIN_KEYS."""

    logical_id: str
    identifier: str  # DataSetIdentifier in the Definition; suffix of the DataSetId
    name: str
    sources: tuple[Source, ...]
    refresh_id: str  # logical ID of its refresh schedule

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the dataset: every source column, without the renamed right-side join keys."""
        out: list[str] = []
        for source in self.sources:
            out += [name for name, _ in source.columns if not (source.key_prefix and name in JOIN_KEYS)]
        return tuple(out)

    @property
    def dataset_id(self) -> Sub:
        return Sub(f"{STACK}-{self.identifier}")


STR, INT, DEC, DATE, BOOL = "STRING", "INTEGER", "DECIMAL", "DATETIME", "BOOLEAN"

INSTANCE_COMPLIANCE = Source(
    "instance-compliance",
    "instance_compliance",
    (
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("instance_name", STR),
        ("instance_state", STR),
        ("platform_type", STR),
        ("platform_name", STR),
        ("platform_version", STR),
        ("agent_version", STR),
        ("last_inventory_time", DATE),
        ("managed_status", STR),
        ("patch_compliance_status", STR),
        ("missing_count", INT),
        ("failed_count", INT),
        ("installed_pending_reboot_count", INT),
        ("installed_count", INT),
        ("critical_noncompliant_count", INT),
        ("security_noncompliant_count", INT),
        ("installed_rejected_count", INT),
        ("available_security_update_count", INT),
        ("kernel_version", STR),
        ("data_age_days", INT),
        ("stale_reason", STR),
        ("exempt_until", DATE),
        ("exemption_expired", BOOL),
        ("compliance_state", STR),
    ),
)
PATCH = Source(
    "patch",
    "patch",
    (
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("patch_id", STR),
        ("title", STR),
        ("classification", STR),
        ("severity", STR),
        ("patch_severity", STR),
        ("patch_state", STR),
        ("status", STR),
        ("patch_group", STR),
        ("baseline_id", STR),
        ("installed_time", DATE),
        ("execution_time", DATE),
    ),
    key_prefix="patch_",
)
CONFIGMIC = Source(
    "configmic",
    "configmic",
    (
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("instance_name", STR),
        ("instance_state", STR),
        ("platform", STR),
        ("managed_status", STR),
        ("capture_time", DATE),
        ("snapshot_date", DATE),
    ),
)
CONFIGPC = Source(
    "configpc",
    "configpc",
    (("account_id", STR), ("region", STR), ("instance_id", STR), ("patch_compliance_status", STR)),
    key_prefix="pc_",
)
INSTANCE_TAGS = Source(
    "instance-tags",
    "instance_tags",
    (("account_id", STR), ("region", STR), ("instance_id", STR), ("tag_key", STR), ("tag_value", STR)),
    key_prefix="tag_",
)

PATCH_AGE = Source(
    "patch-age",
    "patch_age",
    (
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("patch_id", STR),
        ("title", STR),
        ("classification", STR),
        ("severity", STR),
        ("patch_state", STR),
        ("first_seen_missing", DATE),
        ("age_days", INT),
        ("sla_days", INT),
        ("sla_due", DATE),
        ("sla_state", STR),
    ),
)
COMPLIANCE_TREND = Source(
    "compliance-trend",
    "compliance_trend",
    (
        ("day", DATE),
        ("account_id", STR),
        ("region", STR),
        ("nodes_total", INT),
        ("nodes_compliant", INT),
        ("nodes_non_compliant", INT),
        ("nodes_stale", INT),
        ("nodes_exempt", INT),
        ("nodes_unmanaged", INT),
        ("nodes_no_patch_data", INT),
        ("nodes_stopped", INT),
        ("percent_compliant", DEC),
        ("missing_patches", INT),
        ("sla_breaches", INT),
        ("new_non_compliant", INT),
        ("resolved_non_compliant", INT),
        ("mttr_days_30d", DEC),
    ),
)
PATCH_CVES = Source(
    "patch-cves",
    "patch_cves",
    (
        ("cve_id", STR),
        ("account_id", STR),
        ("region", STR),
        ("instance_id", STR),
        ("patch_id", STR),
        ("title", STR),
        ("severity", STR),
        ("patch_state", STR),
        ("installed_time", DATE),
        ("first_seen_missing", DATE),
    ),
)
# Right side of a join that names each node: the per-patch views carry node IDs only.
INSTANCE_NAME = Source(
    "instance",
    "instance_compliance",
    (("account_id", STR), ("region", STR), ("instance_id", STR), ("instance_name", STR), ("platform_name", STR)),
    key_prefix="node_",
)

PATCH_SPEC = DataSetSpec(
    names.PATCH_DATASET,
    "patch-compliance",
    "Patch Compliance Data Set",
    (INSTANCE_COMPLIANCE, PATCH),
    names.PATCH_DATASET_REFRESH,
)
BY_TAG_SPEC = DataSetSpec(
    names.BY_TAG_DATASET,
    "patch-compliance-by-tag",
    "Patch Compliance by Tag",
    (CONFIGMIC, CONFIGPC, INSTANCE_TAGS),
    names.BY_TAG_DATASET_REFRESH,
)
SLA_SPEC = DataSetSpec(
    names.SLA_DATASET, "patch-sla", "Patch SLA", (PATCH_AGE, INSTANCE_NAME), names.SLA_DATASET_REFRESH
)
TREND_SPEC = DataSetSpec(
    names.TREND_DATASET, "compliance-trend", "Compliance Trend", (COMPLIANCE_TREND,), names.TREND_DATASET_REFRESH
)
CVES_SPEC = DataSetSpec(
    names.CVES_DATASET, "patch-cves", "Patch CVEs", (PATCH_CVES, INSTANCE_NAME), names.CVES_DATASET_REFRESH
)
DATASETS = (PATCH_SPEC, BY_TAG_SPEC, SLA_SPEC, TREND_SPEC, CVES_SPEC)


class _DataSet(qs.DataSet):
    """troposphere 4.11 dropped DataSet.LogicalTableMap, which CloudFormation still documents and supports."""

    props = {**qs.DataSet.props, "LogicalTableMap": (dict, False)}


def _physical_table(source: Source, data_source_arn, database: Database) -> qs.PhysicalTable:
    return qs.PhysicalTable(
        RelationalTable=qs.RelationalTable(
            DataSourceArn=data_source_arn,
            Catalog=names.CATALOG,
            Schema=Ref(database),
            Name=source.view,
            InputColumns=[qs.InputColumn(Name=name, Type=kind) for name, kind in source.columns],
        )
    )


def logical_tables(spec: DataSetSpec) -> dict[str, dict]:
    """LogicalTableMap: one table per source, a LEFT JOIN chain, and a projection on the last join."""
    tables: dict[str, dict] = {}
    for source in spec.sources:
        table: dict = {"Alias": source.view, "Source": {"PhysicalTableId": source.table_id}}
        if source.keys:
            table["DataTransforms"] = [
                {"RenameColumnOperation": {"ColumnName": key, "NewColumnName": renamed}}
                for key, renamed in source.keys.items()
            ]
        tables[source.table_id] = table
    left = spec.sources[0].table_id
    for number, source in enumerate(spec.sources[1:], start=1):
        join_id = f"join-{number}"
        tables[join_id] = {
            "Alias": f"{left}-{source.table_id}",
            "Source": {
                "JoinInstruction": {
                    "LeftOperand": left,
                    "RightOperand": source.table_id,
                    "Type": "LEFT",
                    "OnClause": " AND ".join(f"{{{k}}} = {{{renamed}}}" for k, renamed in source.keys.items()),
                }
            },
        }
        left = join_id
    tables[left]["DataTransforms"] = [{"ProjectOperation": {"ProjectedColumns": list(spec.columns)}}]
    return tables


def add_data_source(template: Template, workgroup: WorkGroup, role: Role) -> qs.DataSource:
    """Athena on the project workgroup, queried as `role`."""
    return template.add_resource(
        qs.DataSource(
            names.DATA_SOURCE,
            Condition=ENABLED,
            AwsAccountId=AccountId,
            DataSourceId=Sub(f"{STACK}-athena"),
            Name=Sub(f"{STACK} patch compliance (Athena)"),
            Type="ATHENA",
            DataSourceParameters=qs.DataSourceParameters(
                AthenaParameters=qs.AthenaParameters(WorkGroup=Ref(workgroup), RoleArn=GetAtt(role, "Arn"))
            ),
            Permissions=owner_permissions(names.DATA_SOURCE_ACTIONS),
        )
    )


def add_datasets(
    template: Template, data_source: qs.DataSource, database: Database, views: AWSObject
) -> tuple[qs.DataSet, ...]:
    """The DATASETS, in order. They wait for `views` (the resource that creates the Athena views)."""
    return tuple(
        template.add_resource(
            _DataSet(
                spec.logical_id,
                Condition=ENABLED,
                AwsAccountId=AccountId,
                DataSetId=spec.dataset_id,
                Name=spec.name,
                ImportMode=Ref(IMPORT_MODE.name),
                # Do not hold the stack until SPICE has ingested the data (views may still be empty).
                IngestionWaitPolicy=If(SPICE_ENABLED, qs.IngestionWaitPolicy(WaitForSpiceIngestion=False), NoValue),
                PhysicalTableMap={
                    source.table_id: _physical_table(source, GetAtt(data_source, "Arn"), database)
                    for source in spec.sources
                },
                LogicalTableMap=logical_tables(spec),
                Permissions=owner_permissions(names.DATASET_ACTIONS),
                DependsOn=[views.title],
            )
        )
        for spec in DATASETS
    )


def add_refresh_schedules(template: Template) -> tuple[qs.RefreshSchedule, ...]:
    """A daily full refresh of each of DATASETS, with SPICE only."""
    return tuple(
        template.add_resource(
            qs.RefreshSchedule(
                spec.refresh_id,
                Condition=SPICE_ENABLED,
                AwsAccountId=AccountId,
                DataSetId=spec.dataset_id,
                Schedule=qs.RefreshScheduleMap(
                    ScheduleId="daily",
                    RefreshType="FULL_REFRESH",
                    ScheduleFrequency=qs.ScheduleFrequency(
                        Interval="DAILY", TimeOfTheDay=Ref(REFRESH_TIME.name), TimeZone=REFRESH_TIME_ZONE
                    ),
                ),
                DependsOn=[spec.logical_id],
            )
        )
        for spec in DATASETS
    )
