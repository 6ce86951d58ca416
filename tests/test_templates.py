"""The generator and its output: golden files, determinism, CLI behaviour, structure of both templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import generate
from patchcompliance import constants as c
from patchcompliance import parameters
from patchcompliance.render import FUNCTIONS_DIR, SQL_DIR, view_sql

ROOT = Path(__file__).resolve().parent.parent
CENTRAL_PATH = ROOT / "templates" / generate.CENTRAL
MEMBER_PATH = ROOT / "templates" / generate.MEMBER

CENTRAL_IDS = {
    "AthenaBucket": "AWS::S3::Bucket",
    "ConfigBucket": "AWS::S3::Bucket",
    "ConfigBucketPolicy": "AWS::S3::BucketPolicy",
    "DataSyncBucket": "AWS::S3::Bucket",
    "DataSyncBucketPolicy": "AWS::S3::BucketPolicy",
    "AthenaWorkGroup": "AWS::Athena::WorkGroup",
    "AthenaDatabase": "AWS::Glue::Database",
    "AthenaTable": "AWS::Glue::Table",
    "AthenaComplianceItemTable": "AWS::Glue::Table",
    "AthenaInstanceInformationTable": "AWS::Glue::Table",
    "AthenaInstanceDetailedInformationTable": "AWS::Glue::Table",
    "AthenaPatchSummaryTable": "AWS::Glue::Table",
    "AthenaTagTable": "AWS::Glue::Table",
    "AthenaApplicationTable": "AWS::Glue::Table",
    "AthenaAWSComponentTable": "AWS::Glue::Table",
    "AthenaNetworkTable": "AWS::Glue::Table",
    "AthenaResourceGroupTable": "AWS::Glue::Table",
    "AthenaServiceTable": "AWS::Glue::Table",
    "AthenaWindowsRoleTable": "AWS::Glue::Table",
    "AthenaWindowsUpdateTable": "AWS::Glue::Table",
    "PartitioningFunction": "AWS::Lambda::Function",
    "LambdaExecutionRole": "AWS::IAM::Role",
    "LambdaInvokePermission": "AWS::Lambda::Permission",
    "PartitioningRule": "AWS::Events::Rule",
    "AthenaViews": "Custom::AthenaViews",
    "AthenaViewsFunction": "AWS::Lambda::Function",
    "AthenaConfigMICVNamedQuery": "AWS::Athena::NamedQuery",
    "ConfigAggregatorRole": "AWS::IAM::Role",
    "ConfigAggregator": "AWS::Config::ConfigurationAggregator",
    "StackSet": "AWS::CloudFormation::StackSet",
}
MEMBER_IDS = {
    "ConfigTopic": "AWS::SNS::Topic",
    "ConfigTopicPolicy": "AWS::SNS::TopicPolicy",
    "ConfigRecorderRole": "AWS::IAM::Role",
    "ConfigRecorder": "AWS::Config::ConfigurationRecorder",
    "ConfigDeliveryChannel": "AWS::Config::DeliveryChannel",
    "UpdateSSMAgentAssociation": "AWS::SSM::Association",
    "GatherSoftwareInventoryAssociation": "AWS::SSM::Association",
    "RunPatchBaselineAssociation": "AWS::SSM::Association",
    "PatchAWSSSMMaintenanceWindow": "AWS::SSM::MaintenanceWindow",
    "PatchAWSSSMMaintenanceWindowTarget": "AWS::SSM::MaintenanceWindowTarget",
    "PatchAWSSSMMaintenanceWindowTask": "AWS::SSM::MaintenanceWindowTask",
    "LambdaExecutionRole": "AWS::IAM::Role",
    "EC2TaggingFunction": "AWS::Lambda::Function",
    "EC2Tagging": "Custom::EC2Tagging",
    "EC2TaggingSchedule": "AWS::Events::Rule",
    "ResourceDataSync": "AWS::SSM::ResourceDataSync",
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return generate.render_all()


# ------------------------------------------------------------------------------------------- golden files
def test_committed_templates_equal_fresh_output(rendered):
    assert CENTRAL_PATH.read_text(encoding="utf-8") == rendered[generate.CENTRAL], "run 'make templates'"
    assert MEMBER_PATH.read_text(encoding="utf-8") == rendered[generate.MEMBER], "run 'make templates'"


@pytest.mark.parametrize("seed", ["0", "4242"])
def test_output_does_not_depend_on_hash_seed(seed):
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run([sys.executable, "generate.py", "--check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_member_fits_template_body_limit(rendered):
    assert len(rendered[generate.MEMBER].encode()) <= c.TEMPLATE_BODY_LIMIT
    assert len(rendered[generate.CENTRAL].encode()) <= c.TEMPLATE_S3_LIMIT


def _multiline_scalars(node):
    """Every scalar node of a composed YAML document whose value spans several lines."""
    if isinstance(node, yaml.ScalarNode):
        if "\n" in node.value.rstrip("\n"):
            yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _multiline_scalars(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _multiline_scalars(key)
            yield from _multiline_scalars(value)


def test_multiline_strings_are_yaml_blocks(central_text, member_text):
    for text in (central_text, member_text):
        scalars = list(_multiline_scalars(yaml.compose(text, Loader=yaml.SafeLoader)))
        assert scalars, "no multi-line string found: the check would prove nothing"
        quoted = [node.start_mark.line + 1 for node in scalars if node.style != "|"]
        assert not quoted, f"multi-line strings rendered as quoted scalars at lines {quoted}"
    functions = [d for d in c.FUNCTION_DIRS if d != c.TAGGING_FUNCTION]
    assert member_text.count("ZipFile: |") == 1
    assert central_text.count("ZipFile: |") == len(functions) + 1  # the central functions + the member's


# ------------------------------------------------------------------------------------------------ the CLI
def run_cli(*args):
    return subprocess.run([sys.executable, "generate.py", *args], cwd=ROOT, capture_output=True, text=True)


def test_unknown_option_exits_2_with_usage():
    proc = run_cli("--frobnicate")
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "--frobnicate" in proc.stderr


def test_output_dir_that_is_a_file_exits_2(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    proc = run_cli("--output-dir", str(target))
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    assert target.read_text() == "x"


def test_writes_both_templates_and_reports_sizes(tmp_path, capsys, rendered):
    assert generate.main(["--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    for name, text in rendered.items():
        assert (tmp_path / "out" / name).read_text(encoding="utf-8") == text
        assert f"{name}: {len(text.encode()):,} B" in out
    assert "51,200 B direct" in out


def test_check_names_stale_files_and_writes_nothing(tmp_path, capsys, rendered):
    (tmp_path / generate.MEMBER).write_text(rendered[generate.MEMBER], encoding="utf-8")
    (tmp_path / generate.CENTRAL).write_text("stale", encoding="utf-8")
    assert generate.main(["--output-dir", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert generate.CENTRAL in err and generate.MEMBER not in err
    assert (tmp_path / generate.CENTRAL).read_text(encoding="utf-8") == "stale"
    (tmp_path / generate.CENTRAL).write_text(rendered[generate.CENTRAL], encoding="utf-8")
    assert generate.main(["--output-dir", str(tmp_path), "--check"]) == 0


def test_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / generate.CENTRAL
    target.write_text("old", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(generate.os, "replace", broken_replace)
    with pytest.raises(OSError):
        generate.write_atomically(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == [generate.CENTRAL]


# ------------------------------------------------------------------------------------------ structure
def test_every_required_logical_id_exists_with_its_type(central, member):
    for template, expected in ((central, CENTRAL_IDS), (member, MEMBER_IDS)):
        actual = {name: res["Type"] for name, res in template["Resources"].items()}
        missing = {k: v for k, v in expected.items() if actual.get(k) != v}
        assert not missing, missing


def test_one_named_query_per_view_named_like_the_view(central):
    queries = {
        res["Properties"]["Name"]: res["Properties"]["QueryString"]
        for res in central["Resources"].values()
        if res["Type"] == "AWS::Athena::NamedQuery"
    }
    assert set(queries) == set(c.VIEW_ORDER) == {p.stem for p in SQL_DIR.glob("*.sql")}
    for name, query in queries.items():
        query = _sql_text(query)
        assert query.startswith(f'CREATE OR REPLACE VIEW "{name}" AS\n')
        assert view_sql(name) in query


def _sql_text(value):
    """The SQL of a view or named query: the text itself, or the text of its Fn::Sub (views with parameters)."""
    return value["Fn::Sub"][0] if isinstance(value, dict) else value


def test_views_custom_resource_carries_every_view_in_order(central):
    views = central["Resources"]["AthenaViews"]["Properties"]["Views"]
    assert [v["Name"] for v in views] == list(c.VIEW_ORDER)
    assert all(_sql_text(v["Sql"]) == view_sql(v["Name"]) for v in views)


def test_stackset_template_body_is_the_member_file(central, member_text):
    assert central["Resources"]["StackSet"]["Properties"]["TemplateBody"] == member_text


def test_stackset_passes_every_member_parameter(central, member):
    passed = {
        p["ParameterKey"]: p["ParameterValue"] for p in central["Resources"]["StackSet"]["Properties"]["Parameters"]
    }
    assert set(passed) == set(member["Parameters"])
    for spec in parameters.passthrough_specs():
        assert passed[spec.name] == {"Ref": spec.name}
        assert central["Parameters"][spec.name] == member["Parameters"][spec.name]


def test_functions_are_inlined_verbatim(both):
    found = {}
    for template in both.values():
        for name, res in template["Resources"].items():
            if res["Type"] == "AWS::Lambda::Function":
                props = res["Properties"]
                found[name] = props["Code"]["ZipFile"]
                assert props["Handler"] == "index.handler"
                major, minor = props["Runtime"].removeprefix("python").split(".")
                assert (int(major), int(minor)) >= (3, 12)
    assert set(found) == set(c.FUNCTION_DIRS)
    for name, code in found.items():
        assert code == (FUNCTIONS_DIR / c.FUNCTION_DIRS[name] / "index.py").read_text(encoding="utf-8")


def test_console_groups_and_labels_cover_every_parameter(both):
    for template in both.values():
        interface = template["Metadata"]["AWS::CloudFormation::Interface"]
        grouped = [p for g in interface["ParameterGroups"] for p in g["Parameters"]]
        assert sorted(grouped) == sorted(template["Parameters"]), "each parameter in exactly one group"
        assert set(interface["ParameterLabels"]) == set(template["Parameters"])
        assert template["AWSTemplateFormatVersion"] == "2010-09-09" and template["Description"]


def test_patch_rule_is_skipped_where_aws_does_not_offer_it(member):
    rule = member["Resources"][c.RULE_PATCH_COMPLIANCE]
    condition = member["Conditions"][rule["Condition"]]
    regions = {eq["Fn::Equals"][1] for eq in condition["Fn::Not"][0]["Fn::Or"]}
    assert regions == set(c.PATCH_RULE_UNSUPPORTED_REGIONS)


def test_scan_association_never_installs(member):
    props = member["Resources"]["RunPatchBaselineAssociation"]["Properties"]
    assert props["Parameters"]["Operation"] == ["Scan"]
    task = member["Resources"]["PatchAWSSSMMaintenanceWindowTask"]["Properties"]
    assert "DocumentHash" not in str(task)
    assert task["TaskInvocationParameters"]["MaintenanceWindowRunCommandParameters"]["Parameters"] == {
        "Operation": [{"Ref": "PatchOperation"}],
        "RebootOption": [{"Ref": "RebootOption"}],
    }


def test_member_has_no_fixed_names_for_account_global_resources(member):
    for name, res in member["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            assert "RoleName" not in res.get("Properties", {}), name


def test_example_parameters_fit_the_central_template(central):
    pairs = dict(item.split("=", 1) for item in json.loads((ROOT / "examples/central-parameters.json").read_text()))
    assert set(pairs) <= set(central["Parameters"])
    required = {name for name, spec in central["Parameters"].items() if "Default" not in spec}
    assert required <= set(pairs)
