"""Dataset columns against the Athena views they read: names (and evident types) from the SQL via sqlglot."""

from __future__ import annotations

import pytest

from patchcompliance.quicksight import datasets, names
from tests.support import quicksight as lib

TABLES = [(spec.logical_id, source.table_id) for spec in datasets.DATASETS for source in spec.sources]


def _relational(template: dict, dataset: str, table_id: str) -> dict:
    return template["Resources"][dataset]["Properties"]["PhysicalTableMap"][table_id]["RelationalTable"]


def test_physical_tables_are_the_declared_ones(template_dict):
    found = [
        (name, table_id)
        for name, resource in lib.resources_of_type(template_dict, "AWS::QuickSight::DataSet").items()
        for table_id in resource["Properties"]["PhysicalTableMap"]
    ]
    assert sorted(found) == sorted(TABLES)


@pytest.mark.parametrize("dataset, table_id", TABLES)
def test_input_columns_are_view_output_columns(template_dict, dataset, table_id):
    table = _relational(template_dict, dataset, table_id)
    view_columns = lib.view_columns(table["Name"])
    names = [column["Name"] for column in table["InputColumns"]]
    assert len(names) == len(set(names))
    assert [n for n in names if n not in view_columns] == [], f"not output by view {table['Name']}"


@pytest.mark.parametrize("dataset, table_id", TABLES)
def test_input_column_types_match_evident_view_types(template_dict, dataset, table_id):
    """Where the SQL makes a column's type evident (CAST, COUNT, date functions), the dataset agrees."""
    table = _relational(template_dict, dataset, table_id)
    evident = lib.view_column_types(table["Name"])
    mismatched = {
        column["Name"]: (column["Type"], evident[column["Name"]])
        for column in table["InputColumns"]
        if column["Name"] in evident and evident[column["Name"]] != column["Type"]
    }
    assert mismatched == {}, f"view {table['Name']}: (dataset type, SQL type)"


@pytest.mark.parametrize("dataset, table_id", TABLES)
def test_tables_read_the_project_database_through_the_data_source(template_dict, dataset, table_id):
    table = _relational(template_dict, dataset, table_id)
    assert table["Catalog"] == "AwsDataCatalog"
    assert table["Schema"] == {"Ref": "AthenaDatabase"}
    assert table["DataSourceArn"] == {"Fn::GetAtt": [names.DATA_SOURCE, "Arn"]}


def test_dataset_columns_are_the_spec_columns(template_dict):
    """The LogicalTableMap (joins, renames, projection) exposes exactly the columns the module declares."""
    for spec in datasets.DATASETS:
        props = template_dict["Resources"][spec.logical_id]["Properties"]
        assert lib.dataset_columns(props) == list(spec.columns)


def test_missing_view_sql_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setattr(lib, "SQL_DIR", tmp_path)
    lib.clear_caches()
    try:
        with pytest.raises(pytest.fail.Exception, match="does not exist"):
            lib.view_columns("no_such_view")
    finally:
        lib.clear_caches()


def test_column_derivation_from_sql(monkeypatch, tmp_path):
    """The final SELECT names the columns (CTEs and UNION ALL included); evident types are found."""
    (tmp_path / "v.sql").write_text(
        "WITH latest AS (SELECT a, b FROM t)\n"
        "SELECT l.a AS account_id, CAST(l.b AS integer) AS missing_count, count(*) AS n,\n"
        "       date_parse(l.b, '%Y') AS capture_time, region\n"
        "FROM latest l JOIN r ON true\n"
        "UNION ALL SELECT 'x', 1, 2, NULL, 'y';\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(lib, "SQL_DIR", tmp_path)
    lib.clear_caches()
    try:
        assert lib.view_columns("v") == ["account_id", "missing_count", "n", "capture_time", "region"]
        types = lib.view_column_types("v")
        assert types["missing_count"] == "INTEGER" and types["n"] == "INTEGER"
        assert types["capture_time"] == "DATETIME"
    finally:
        lib.clear_caches()
