"""The Glue declarations against the contracts (DESIGN.md) and the data-format reference."""

from __future__ import annotations

import json

import pytest
from troposphere import Parameter, Ref, Template
from troposphere.s3 import Bucket

from patchcompliance import glue
from patchcompliance.config_export import (
    CONFIG_EXPORT_TABLE,
    EXPORT_COLUMNS,
    EXPORT_PARTITION_KEY,
    EXPORT_PREFIX,
    EXPORT_TABLE_NAME,
)
from tests.support import catalog
from tests.support.engine import parse_hive_type
from tests.support.templates import CENTRAL_TEMPLATE, load_template

VALUES = {
    "config_bucket": "cfg-bucket",
    "datasync_bucket": "sync-bucket",
    "datasync_prefix": "inv",
}
EXPECTED_IDS = {
    "AWS:ComplianceItem": "AthenaComplianceItemTable",
    "AWS:InstanceInformation": "AthenaInstanceInformationTable",
    "AWS:InstanceDetailedInformation": "AthenaInstanceDetailedInformationTable",
    "AWS:PatchSummary": "AthenaPatchSummaryTable",
    "AWS:Tag": "AthenaTagTable",
    "AWS:Application": "AthenaApplicationTable",
    "AWS:AWSComponent": "AthenaAWSComponentTable",
    "AWS:Network": "AthenaNetworkTable",
    "AWS:ResourceGroup": "AthenaResourceGroupTable",
    "AWS:Service": "AthenaServiceTable",
    "AWS:WindowsRole": "AthenaWindowsRoleTable",
    "AWS:WindowsUpdate": "AthenaWindowsUpdateTable",
    "AWS:ComplianceSummary": "AthenaComplianceSummaryTable",
}


@pytest.fixture(scope="module")
def built():
    """add_* called the way central.py calls them, on a bare template."""
    template = Template()
    db_name = template.add_parameter(Parameter("DatabaseName", Type="String"))
    prefix = template.add_parameter(Parameter("DataSyncPrefix", Type="String"))
    config_bucket = template.add_resource(Bucket("ConfigBucket"))
    sync_bucket = template.add_resource(Bucket("DataSyncBucket"))
    database = glue.add_database(template, Ref(db_name))
    table = glue.add_config_table(template, database, config_bucket)
    inventory = glue.add_inventory_tables(template, database, sync_bucket, prefix)
    return template, database, table, inventory


@pytest.fixture(scope="module")
def declared(template):
    return catalog.glue_tables(template, catalog.bind_roles(template, **VALUES))


def test_logical_ids_and_names(built):
    template, database, table, inventory = built
    assert database.title == "AthenaDatabase" and table.title == "AthenaTable"
    assert {t: r.title for t, r in inventory.items()} == EXPECTED_IDS
    assert {r.TableInput.Name for r in inventory.values()} == {"aws_" + t.split(":")[1].lower() for t in EXPECTED_IDS}
    assert table.TableInput.Name == "config_snapshot"
    for resource in [table, *inventory.values()]:
        assert resource.DatabaseName.to_dict() == {"Ref": "AthenaDatabase"}


def test_every_table_is_external_with_no_partition_column_clash(declared):
    json_tables = {"config_snapshot", "config_export", *(f"aws_{t.split(':')[1].lower()}" for t in EXPECTED_IDS)}
    assert json_tables <= set(declared)  # other modules' tables (history: Parquet) are tested with them
    for decl in declared.values():
        assert decl.table_type == "EXTERNAL_TABLE", decl.name
        data = {name for name, _ in decl.columns}
        keys = [name for name, _ in decl.partition_keys]
        assert data.isdisjoint(keys), decl.name
        assert all(name == name.lower() for name in data | set(keys)), decl.name
        assert len(data) == len(decl.columns), decl.name
    for decl in (declared[name] for name in json_tables):
        assert decl.serde == "org.openx.data.jsonserde.JsonSerDe"
        assert decl.input_format == "org.apache.hadoop.mapred.TextInputFormat"
        for _, hive_type in decl.columns:
            parse_hive_type(hive_type)  # well-formed


def test_config_table(declared):
    decl = declared["config_snapshot"]
    assert [k for k, _ in decl.partition_keys] == ["accountid", "region", "dt"]
    assert decl.location == "s3://cfg-bucket/"
    assert not decl.projected  # partitions come from the PartitioningFunction
    assert decl.serde_parameters["case.insensitive"] == "false"
    items = dict(parse_hive_type(dict(decl.columns)["configurationitems"])[1][1])
    assert items["configurationstateid"] == "string"
    assert items["configuration"] == items["supplementaryconfiguration"] == "string"
    assert items["tags"] == ("map", "string", "string")


def test_config_mappings_cover_every_camel_case_key():
    """Every field whose JSON key is not lower case is mapped, at every depth; nothing else is."""
    sd = glue.config_storage_descriptor()
    params = sd["SerdeInfo"]["Parameters"]
    expected = {
        "fileversion": "fileVersion", "configsnapshotid": "configSnapshotId",
        "configurationitems": "configurationItems", "configurationitemversion": "configurationItemVersion",
        "configurationitemcapturetime": "configurationItemCaptureTime",
        "configurationstateid": "configurationStateId", "awsaccountid": "awsAccountId",
        "configurationitemstatus": "configurationItemStatus", "resourcetype": "resourceType",
        "resourceid": "resourceId", "resourcename": "resourceName", "arn": "ARN", "awsregion": "awsRegion",
        "availabilityzone": "availabilityZone", "configurationstatemd5hash": "configurationStateMd5Hash",
        "resourcecreationtime": "resourceCreationTime", "supplementaryconfiguration": "supplementaryConfiguration",
    }  # fmt: skip
    assert {k[len("mapping.") :]: v for k, v in params.items() if k.startswith("mapping.")} == expected


def test_storage_descriptor_is_the_tables_and_fits_the_environment(declared):
    sd = glue.config_storage_descriptor()
    assert set(sd) == {"Columns", "InputFormat", "OutputFormat", "SerdeInfo", "Compressed"}
    assert len(json.dumps(sd).encode()) < 2500  # env vars total max 4 KB
    decl = declared["config_snapshot"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == list(decl.columns)
    assert sd["SerdeInfo"]["Parameters"] == decl.serde_parameters
    assert (sd["InputFormat"], sd["OutputFormat"], sd["Compressed"]) == (
        decl.input_format, decl.output_format, decl.compressed,
    )  # fmt: skip


def test_config_export_table(declared):
    """The table the views read: one partition per complete export, registered by ConfigExportFunction."""
    decl = declared[EXPORT_TABLE_NAME]
    assert decl.logical_id == CONFIG_EXPORT_TABLE
    assert decl.partition_keys == ((EXPORT_PARTITION_KEY, "string"),)
    assert decl.location == f"s3://cfg-bucket/{EXPORT_PREFIX}/"
    assert not decl.projected and decl.compressed
    assert decl.columns == EXPORT_COLUMNS
    assert decl.serde_parameters == {"case.insensitive": "false"} and decl.mappings == {}  # keys are the columns


@pytest.mark.parametrize("inventory_type", list(EXPECTED_IDS))
def test_inventory_table(declared, inventory_type):
    decl = declared["aws_" + inventory_type.split(":")[1].lower()]
    assert [k for k, _ in decl.partition_keys] == ["accountid", "region", "resourcetype"]
    assert decl.location == f"s3://sync-bucket/inv/{inventory_type}/"
    assert decl.case_insensitive and decl.serde_parameters["case.insensitive"] == "true"
    # partitions are registered by the InventoryPartitionsFunction: no projection, no account list
    assert not decl.projected
    assert [k for k in decl.parameters if k.startswith(("projection.", "storage.location"))] == []
    names = [name for name, _ in decl.columns]
    assert {"resourceid", "capturetime", "schemaversion"} <= set(names)
    for name, hive_type in decl.columns:
        assert hive_type == ("int" if name.endswith("count") else "string"), name


def test_inventory_columns_follow_the_reference():
    assert "resourcetype" not in dict(glue.inventory_columns("AWS:InstanceInformation"))
    patch_summary = dict(glue.inventory_columns("AWS:PatchSummary"))
    for column in ("missingcount", "failedcount", "installedpendingrebootcount", "installedcount",
                   "criticalnoncompliantcount", "securitynoncompliantcount"):  # fmt: skip
        assert patch_summary[column] == "int"
    item = [name for name, _ in glue.inventory_columns("AWS:ComplianceItem")]
    assert {"compliancetype", "patchstate", "patchseverity", "installedtime", "cveids"} <= set(item)


def test_inventory_tables_name_no_account_or_region_list(built):
    """Organisation mode lists no account IDs anywhere in the central stack: the tables reference only the sync
    bucket and prefix, and their partitions come from the InventoryPartitionsFunction."""
    template, *_ = built
    for resource in built[3].values():
        table_input = template.to_dict()["Resources"][resource.title]["Properties"]["TableInput"]
        assert catalog._refs(table_input) == {"DataSyncBucket", "DataSyncPrefix"}, resource.title
        assert not any(k.startswith("projection.") for k in table_input["Parameters"]), resource.title
    assert glue.INVENTORY_ANCHOR_TYPE in built[3]  # the type whose folders the function lists


def test_glue_resources_pass_cfn_lint(built):
    """cfn-lint (informational checks included) on a template of only these resources and their inputs."""
    from cfnlint.api import ManualArgs, lint

    template, *_ = built
    template.set_version()
    body = template.to_json()
    config = ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"])
    assert [str(m) for m in lint(body, config=config)] == []
    broken = json.loads(body)  # the check itself can fail
    broken["Resources"]["AthenaTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Compressed"] = "maybe"
    assert lint(json.dumps(broken), config=config)


def test_committed_template_declares_the_same_tables(template_and_source):
    """templates/patch-compliance.yaml holds exactly what glue.py builds (else `make templates` is due)."""
    if not CENTRAL_TEMPLATE.exists():
        pytest.skip("templates/patch-compliance.yaml not generated yet")
    committed = load_template(CENTRAL_TEMPLATE)["Resources"]
    fresh = catalog.build_glue_template()["Resources"]
    for logical_id in [
        glue.ATHENA_DATABASE,
        glue.ATHENA_TABLE,
        CONFIG_EXPORT_TABLE,
        *glue.INVENTORY_TABLE_IDS.values(),
    ]:
        assert logical_id in committed, logical_id
        assert json.loads(json.dumps(committed[logical_id])) == fresh[logical_id], logical_id


def test_engine_uses_the_declared_tables(engine):
    """The engine's tables are the template's: same columns and keys (plus the hidden "$path")."""
    for name, decl in engine.tables.items():
        columns = [c for (c,) in engine.con.execute(f'SELECT column_name FROM (DESCRIBE "{name}")').fetchall()]
        assert columns == [c for c, _ in decl.columns] + [k for k, _ in decl.partition_keys] + ["$path"], name
