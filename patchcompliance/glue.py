"""Glue catalog of the central template: database, AWS Config snapshot table, SSM inventory tables.

Pure build functions: each adds its resources to the template and returns them; nothing is written to disk.

Case handling (OpenX JSON SerDe, `org.openx.data.jsonserde.JsonSerDe`)
---------------------------------------------------------------------
Hive/Glue column and struct-field names are always lower case, while both sources write camelCase or
PascalCase JSON keys.

* ``config_snapshot``: ``case.insensitive=false`` plus one ``mapping.<lowercase>=<JsonKey>`` entry for every
  column and struct field whose key is not already lower case (the mappings apply to struct fields at any
  depth). Keys are then matched exactly and are *not* lower-cased while parsing, so

  - ``configuration`` / ``supplementaryConfiguration`` (declared ``string``) keep their original JSON text:
    views use the real paths, e.g. ``json_extract_scalar(ci.configuration, '$.complianceType')``;
  - ``tags`` (``map<string,string>``) keeps tag keys as written: ``element_at(ci.tags, 'Name')``; and tags that
    differ only by case (``Name``/``name``, ``Environment``/``environment``) are two distinct map keys instead
    of failing the whole query with ``Duplicate key`` as they do in the default case-insensitive mode.

* SSM inventory tables (``aws_<type>``): ``case.insensitive=true`` (the SerDe default, set explicitly).
  Every line is a flat object with a fixed, AWS-defined attribute set (PascalCase attributes plus camelCase
  ``resourceId``/``captureTime``/``schemaVersion``); there are no user-controlled keys (tags arrive as
  ``Key``/``Value`` *values* in ``AWS:Tag``), so no two keys of a line differ only by case and the duplicate
  key failure cannot happen. All columns are scalars, so lower-casing of nested JSON text does not apply.
  Case-insensitive matching keeps the tables working whatever the exact casing of an attribute is
  (``CPUSpeedMHz``, ``IPV4``, ``ResourceId`` vs ``resourceId`` differ between public sources), where exact
  mappings would silently return NULL for a mis-cased key.

Other decisions
---------------
* ``configurationStateId`` is a ``string`` (a number in CI version 1.3, a UUID in older items).
* ``*Count`` attributes are ``int``: the OpenX SerDe parses quoted (``"3"``) and bare (``3``) numbers alike.
* InstanceInformation's ``ResourceType`` attribute is not declared: it would clash with the partition column
  ``resourcetype``.
* SSM tables have no projection: nothing in the stack lists the accounts that deliver. The
  InventoryPartitionsFunction (patchcompliance/inventory_partitions.py) registers one partition per account x
  region found in the folders of the anchor type (:data:`INVENTORY_ANCHOR_TYPE`) in every inventory table, with
  ``resourcetype`` = :data:`INVENTORY_RESOURCE_TYPE` and the table's own storage descriptor. Partition
  locations always end in ``accountid=<a>/region=<r>/resourcetype=<t>/``, so the probe object SSM writes at
  ``AWS:InstanceInformation/accountid=<acct>/test.json`` is never read.
* The Config table has no projection: the PartitioningFunction registers one partition per snapshot folder
  (``dt`` zero-padded ``YYYY-MM-DD``; location = the real unpadded ``.../<yyyy>/<m>/<d>/ConfigSnapshot/``
  folder) with the storage descriptor from :func:`config_storage_descriptor`.
"""

from __future__ import annotations

import re

from troposphere import AWS_ACCOUNT_ID, AWSObject, Parameter, Ref, Sub, Template
from troposphere.glue import (
    Column,
    Database,
    DatabaseInput,
    SerdeInfo,
    StorageDescriptor,
    Table,
    TableInput,
)

# ---------------------------------------------------------------- names and logical IDs
ATHENA_DATABASE = "AthenaDatabase"
ATHENA_TABLE = "AthenaTable"  # seed logical ID of the Config snapshot table
CONFIG_TABLE_NAME = "config_snapshot"
CONFIG_PARTITION_KEYS = ("accountid", "region", "dt")
INVENTORY_PARTITION_KEYS = ("accountid", "region", "resourcetype")
INVENTORY_RESOURCE_TYPE = "ManagedInstanceInventory"  # the resourcetype=<t>/ folder of the resource data sync
# The inventory type whose folders tell which account x region pairs deliver: SSM writes AWS:InstanceInformation
# for every managed node, so every pair that has inventory of any type has it.
INVENTORY_ANCHOR_TYPE = "AWS:InstanceInformation"

OPENX_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
EXTERNAL_TABLE = "EXTERNAL_TABLE"


# ---------------------------------------------------------------- Config snapshot columns (data)
# (hive name, JSON key, type); the JSON key is what Config writes. An _ArrayOfStruct type is
# array<struct<...>> of its own (name, key, type) triples.
class _ArrayOfStruct(tuple):
    pass


_RELATIONSHIP_FIELDS = _ArrayOfStruct(
    (
        ("resourceid", "resourceId", "string"),
        ("resourcename", "resourceName", "string"),
        ("resourcetype", "resourceType", "string"),
        ("name", "name", "string"),
    )
)
_ITEM_FIELDS = _ArrayOfStruct(
    (
        ("configurationitemversion", "configurationItemVersion", "string"),
        ("configurationitemcapturetime", "configurationItemCaptureTime", "string"),
        ("configurationstateid", "configurationStateId", "string"),
        ("awsaccountid", "awsAccountId", "string"),
        ("configurationitemstatus", "configurationItemStatus", "string"),
        ("resourcetype", "resourceType", "string"),
        ("resourceid", "resourceId", "string"),
        ("resourcename", "resourceName", "string"),
        ("arn", "ARN", "string"),
        ("awsregion", "awsRegion", "string"),
        ("availabilityzone", "availabilityZone", "string"),
        ("configurationstatemd5hash", "configurationStateMd5Hash", "string"),
        ("resourcecreationtime", "resourceCreationTime", "string"),
        ("configuration", "configuration", "string"),
        ("supplementaryconfiguration", "supplementaryConfiguration", "string"),
        ("tags", "tags", "map<string,string>"),
        ("relationships", "relationships", _RELATIONSHIP_FIELDS),
    )
)
_SNAPSHOT_COLUMNS = (
    ("fileversion", "fileVersion", "string"),
    ("configsnapshotid", "configSnapshotId", "string"),
    ("configurationitems", "configurationItems", _ITEM_FIELDS),
)

# ---------------------------------------------------------------- SSM inventory columns (data)
# Attributes per inventory type (SSM User Guide, "Metadata collected by inventory"), in the casing SSM writes
# them. Every table also gets resourceId, captureTime and schemaVersion, then the attributes of
# INVENTORY_ADDED_ATTRIBUTES. Attributes ending in "Count" are int, the rest string.
INVENTORY_ATTRIBUTES: dict[str, str] = {
    "AWS:ComplianceItem": (
        "ComplianceType ExecutionId ExecutionType ExecutionTime Id Title Status Severity DocumentName "
        "DocumentVersion Classification PatchBaselineId PatchSeverity PatchState PatchGroup InstalledTime "
        "InstallOverrideList DetailedText DetailedLink CVEIds"
    ),
    "AWS:InstanceInformation": (
        # ResourceType (EC2Instance/ManagedInstance) omitted: clashes with the partition column resourcetype.
        "AgentType AgentVersion ComputerName InstanceId IpAddress PlatformName PlatformType PlatformVersion "
        "AgentStatus InstanceStatus"
    ),
    "AWS:InstanceDetailedInformation": (
        "CPUModel CPUCores CPUs CPUSpeedMHz CPUSockets CPUHyperThreadEnabled OSServicePack"
    ),
    "AWS:PatchSummary": (
        "PatchGroup BaselineId SnapshotId OwnerInformation InstalledCount InstalledPendingRebootCount "
        "InstalledOtherCount InstalledRejectedCount NotApplicableCount UnreportedNotApplicableCount "
        "MissingCount FailedCount OperationType OperationStartTime OperationEndTime InstallOverrideList "
        "RebootOption LastNoRebootInstallOperationTime ExecutionId NonCompliantSeverity "
        "SecurityNonCompliantCount CriticalNonCompliantCount OtherNonCompliantCount"
    ),
    "AWS:Tag": "Key Value",
    "AWS:Application": (
        "Name ApplicationType Publisher Version Release Epoch InstalledTime Architecture URL Summary PackageId"
    ),
    "AWS:AWSComponent": "Name ApplicationType Publisher Version InstalledTime Architecture URL",
    "AWS:Network": "Name SubnetMask Gateway DHCPServer DNSServer MacAddress IPV4 IPV6",
    "AWS:ResourceGroup": "Name Arn",
    "AWS:Service": "Name DisplayName ServiceType Status DependentServices ServicesDependedOn StartType",
    "AWS:WindowsRole": (
        "Name DisplayName Path FeatureType DependsOn Description Installed InstalledState SubFeatures "
        "ServerComponentDescriptor Parent"
    ),
    "AWS:WindowsUpdate": "HotFixId Description InstalledTime InstalledBy",
    "AWS:ComplianceSummary": (
        "ComplianceType PatchGroup PatchBaselineId Status OverallSeverity ExecutionId ExecutionType "
        "ExecutionTime CompliantCriticalCount CompliantHighCount CompliantMediumCount CompliantLowCount "
        "CompliantInformationalCount CompliantUnspecifiedCount NonCompliantCriticalCount NonCompliantHighCount "
        "NonCompliantMediumCount NonCompliantLowCount NonCompliantInformationalCount "
        "NonCompliantUnspecifiedCount"
    ),
}
COMMON_INVENTORY_ATTRIBUTES = ("resourceId", "captureTime", "schemaVersion")
# Attributes declared after tables were first deployed, as the last columns: a partition keeps the columns of its
# table at registration, and Athena validates a JSON partition's columns against the table's by position ("Update
# tables with partitions", https://docs.aws.amazon.com/athena/latest/ug/updates-and-partitions.html), so columns
# may only be added at the end. Both are on the current "Metadata collected by inventory" page
# (https://docs.aws.amazon.com/systems-manager/latest/userguide/inventory-schema.html); AvailableSecurityUpdateCount
# is the patch state API's count of the same name (Windows Server only). Nodes that do not report them: NULL.
INVENTORY_ADDED_ATTRIBUTES: dict[str, str] = {
    "AWS:InstanceDetailedInformation": "KernelVersion",
    "AWS:PatchSummary": "AvailableSecurityUpdateCount",
}


def inventory_short_name(inventory_type: str) -> str:
    """Inventory type without "AWS:", e.g. AWS:ComplianceItem -> ComplianceItem."""
    return inventory_type.split(":", 1)[1]


def inventory_table_name(inventory_type: str) -> str:
    """Glue table name, e.g. AWS:ComplianceItem -> aws_complianceitem."""
    return "aws_" + inventory_short_name(inventory_type).lower()


def inventory_logical_id(inventory_type: str) -> str:
    """Logical ID, e.g. AWS:ComplianceItem -> AthenaComplianceItemTable."""
    return f"Athena{inventory_short_name(inventory_type)}Table"


INVENTORY_TABLE_IDS: dict[str, str] = {t: inventory_logical_id(t) for t in INVENTORY_ATTRIBUTES}
INVENTORY_TABLE_NAMES: dict[str, str] = {t: inventory_table_name(t) for t in INVENTORY_ATTRIBUTES}


def inventory_columns(inventory_type: str) -> list[tuple[str, str]]:
    """[(hive column name, hive type)] of one inventory table."""
    attributes = [
        *INVENTORY_ATTRIBUTES[inventory_type].split(),
        *COMMON_INVENTORY_ATTRIBUTES,
        *INVENTORY_ADDED_ATTRIBUTES.get(inventory_type, "").split(),
    ]
    return [(a.lower(), "int" if a.endswith("Count") else "string") for a in attributes]


# ---------------------------------------------------------------- Config snapshot storage descriptor
def _hive_type(spec) -> str:
    if isinstance(spec, str):
        return spec
    return "array<struct<" + ",".join(f"{name}:{_hive_type(sub)}" for name, _, sub in spec) + ">>"


def _mappings(fields, out: dict[str, str]) -> dict[str, str]:
    for name, key, sub in fields:
        if name != key:
            if out.get(name, key) != key:  # one mapping per field name, whatever the depth
                raise ValueError(f"conflicting JSON keys for field {name!r}")
            out[name] = key
        if not isinstance(sub, str):
            _mappings(sub, out)
    return out


def config_storage_descriptor() -> dict:
    """StorageDescriptor of `config_snapshot` without Location, as plain JSON-able data.

    Used verbatim by the table and by the PartitioningFunction's STORAGE_DESCRIPTOR environment variable.
    """
    mappings = _mappings(_SNAPSHOT_COLUMNS, {})
    return {
        "Columns": [{"Name": name, "Type": _hive_type(sub)} for name, _, sub in _SNAPSHOT_COLUMNS],
        "InputFormat": TEXT_INPUT_FORMAT,
        "OutputFormat": TEXT_OUTPUT_FORMAT,
        "SerdeInfo": {
            "SerializationLibrary": OPENX_SERDE,
            "Parameters": {
                "case.insensitive": "false",
                **{f"mapping.{name}": key for name, key in sorted(mappings.items())},
            },
        },
        "Compressed": True,
    }


# ---------------------------------------------------------------- helpers
def _name_of(value) -> str:
    """`${...}` reference for Sub: a resource/parameter object by logical ID, or a literal string."""
    if isinstance(value, (AWSObject, Parameter)):
        return "${" + value.title + "}"
    if isinstance(value, str):
        if re.search(r"[${}]", value):
            raise ValueError(f"literal {value!r} must not contain Sub syntax")
        return value
    raise TypeError(f"expected a troposphere resource, parameter or str, got {type(value).__name__}")


def _columns(pairs) -> list[Column]:
    return [Column(Name=name, Type=type_) for name, type_ in pairs]


# ---------------------------------------------------------------- resources
def external_table(logical_id: str, database, *, name, description, parameters: dict, storage, partition_keys=None):
    """An EXTERNAL_TABLE in `database` of this account's catalog; `parameters` are added to EXTERNAL=TRUE."""
    table_input = {"PartitionKeys": partition_keys} if partition_keys is not None else {}
    return Table(
        logical_id,
        CatalogId=Ref(AWS_ACCOUNT_ID),
        DatabaseName=Ref(database),
        TableInput=TableInput(
            Name=name,
            Description=description,
            TableType=EXTERNAL_TABLE,
            Parameters={"EXTERNAL": "TRUE", **parameters},
            StorageDescriptor=storage,
            **table_input,
        ),
    )


def add_database(template: Template, name) -> Database:
    """The Glue database (`AthenaDatabase`); `name` is a Ref or a string."""
    return template.add_resource(
        Database(
            ATHENA_DATABASE,
            CatalogId=Ref(AWS_ACCOUNT_ID),
            DatabaseInput=DatabaseInput(
                Name=name, Description="Patch compliance: AWS Config snapshots and SSM inventory"
            ),
        )
    )


def add_config_table(template: Template, database: Database, bucket) -> Table:
    """`config_snapshot` (`AthenaTable`): gzip JSON snapshots, partitions registered by the Lambda."""
    sd = config_storage_descriptor()
    serde = sd["SerdeInfo"]
    return template.add_resource(
        external_table(
            ATHENA_TABLE,
            database,
            name=CONFIG_TABLE_NAME,
            description="AWS Config configuration snapshots, one row per snapshot file",
            parameters={"classification": "json", "compressionType": "gzip", "typeOfData": "file"},
            partition_keys=_columns((key, "string") for key in CONFIG_PARTITION_KEYS),
            storage=StorageDescriptor(
                Location=Sub(f"s3://{_name_of(bucket)}/"),
                Columns=_columns((c["Name"], c["Type"]) for c in sd["Columns"]),
                InputFormat=sd["InputFormat"],
                OutputFormat=sd["OutputFormat"],
                SerdeInfo=SerdeInfo(SerializationLibrary=serde["SerializationLibrary"], Parameters=serde["Parameters"]),
                Compressed=sd["Compressed"],
            ),
        )
    )


def add_inventory_tables(template: Template, database: Database, bucket, prefix) -> dict:
    """One table per SSM inventory type, partitions registered by the InventoryPartitionsFunction; returns
    {inventory type: Table}."""
    tables = {}
    for inventory_type in INVENTORY_ATTRIBUTES:
        root = f"s3://{_name_of(bucket)}/{_name_of(prefix)}/{inventory_type}/"
        tables[inventory_type] = template.add_resource(
            external_table(
                INVENTORY_TABLE_IDS[inventory_type],
                database,
                name=INVENTORY_TABLE_NAMES[inventory_type],
                description=f"SSM resource data sync, {inventory_type} (one line per inventory entry)",
                parameters={"classification": "json", "compressionType": "none", "typeOfData": "file"},
                partition_keys=_columns((key, "string") for key in INVENTORY_PARTITION_KEYS),
                storage=StorageDescriptor(
                    Location=Sub(root),
                    Columns=_columns(inventory_columns(inventory_type)),
                    InputFormat=TEXT_INPUT_FORMAT,
                    OutputFormat=TEXT_OUTPUT_FORMAT,
                    SerdeInfo=SerdeInfo(SerializationLibrary=OPENX_SERDE, Parameters={"case.insensitive": "true"}),
                    Compressed=False,
                ),
            )
        )
    return tables
