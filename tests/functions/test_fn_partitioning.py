"""PartitioningFunction: the code inlined in the central template, against moto Glue."""

import json
import types

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from tests.support.functions import (
    REGION,
    FakeContext,
    Hooks,
    create_config_table,
    http_error,
    load_function,
    template_environment,
)

BUCKET = "pc-config-123456789012"
DATABASE, TABLE = "patch_compliance", "config_snapshot"
ACCT = "111122223333"
SNAPSHOT = f"{ACCT}_Config_eu-west-1_ConfigSnapshot_20250307T035812Z_0a1b2c3d-4e5f-6789-abcd-ef0123456789.json.gz"
KEY = f"AWSLogs/{ACCT}/Config/eu-west-1/2025/3/7/ConfigSnapshot/{SNAPSHOT}"
FALLBACK_DESCRIPTOR = {
    "Columns": [
        {"Name": "fileversion", "Type": "string"},
        {"Name": "configsnapshotid", "Type": "string"},
        {
            "Name": "configurationitems",
            "Type": "array<struct<configurationitemversion:string,configurationitemcapturetime:string,"
            "configurationstateid:string,awsaccountid:string,configurationitemstatus:string,resourcetype:string,"
            "resourceid:string,resourcename:string,arn:string,awsregion:string,availabilityzone:string,"
            "configuration:string,supplementaryconfiguration:map<string,string>,tags:map<string,string>>>",
        },
    ],
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
        "Parameters": {"case.insensitive": "false", "mapping.arn": "ARN"},
    },
    "Compressed": True,
}


def storage_descriptor() -> dict:
    """The STORAGE_DESCRIPTOR the template gives the function, or a realistic one if not generated yet."""
    value = template_environment("partitioning").get("STORAGE_DESCRIPTOR")
    return json.loads(value) if isinstance(value, str) else FALLBACK_DESCRIPTOR


def object_created(key: str, bucket: str = BUCKET) -> dict:
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2025-03-07T03:58:13Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 5120, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "00"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "config.amazonaws.com",
            "reason": "PutObject",
        },
    }


def s3_records(*keys: str) -> dict:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1}},
            }
            for key in keys
        ]
    }


@pytest.fixture
def glue_table(aws, monkeypatch):
    descriptor = storage_descriptor()
    glue = boto3.client("glue", region_name=REGION)
    create_config_table(glue, DATABASE, TABLE, BUCKET, descriptor)
    monkeypatch.setenv("GLUE_DATABASE", DATABASE)
    monkeypatch.setenv("CONFIG_TABLE", TABLE)
    monkeypatch.setenv("STORAGE_DESCRIPTOR", json.dumps(descriptor))
    return types.SimpleNamespace(client=glue, descriptor=descriptor)


def cold_start():
    """A fresh container: new module, empty partition cache, its Glue client's calls recorded."""
    module = load_function("partitioning")
    return types.SimpleNamespace(module=module, glue=Hooks(module._client("glue")))


@pytest.fixture
def fn(glue_table):
    return cold_start()


def partitions(glue) -> dict:
    parts = glue.get_partitions(DatabaseName=DATABASE, TableName=TABLE)["Partitions"]
    return {tuple(p["Values"]): p["StorageDescriptor"] for p in parts}


def invoke(fn, event):
    return fn.module.handler(event, FakeContext())


# --------------------------------------------------------------------------- registration


def test_snapshot_registers_one_partition_with_one_call(fn, glue_table):
    result = invoke(fn, object_created(KEY))
    assert result == {"created": 1, "existing": 0, "ignored": 0}
    assert fn.glue.ops() == ["CreatePartition"]
    assert set(fn.module._clients) == {"glue"}  # no other client, so no other AWS call
    parts = partitions(glue_table.client)
    assert list(parts) == [(ACCT, "eu-west-1", "2025-03-07")]  # dt zero-padded, sortable
    sd = parts[(ACCT, "eu-west-1", "2025-03-07")]
    assert sd["Location"] == f"s3://{BUCKET}/AWSLogs/{ACCT}/Config/eu-west-1/2025/3/7/ConfigSnapshot/"
    assert sd["Columns"] == glue_table.descriptor["Columns"]
    assert sd["SerdeInfo"] == glue_table.descriptor["SerdeInfo"]
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"


def test_repeated_events_cost_no_call_while_warm(fn, glue_table):
    invoke(fn, object_created(KEY))
    other_file = KEY.replace("0a1b2c3d", "99999999")  # another snapshot of the same day and account
    assert invoke(fn, object_created(KEY)) == {"created": 0, "existing": 1, "ignored": 0}
    invoke(fn, object_created(other_file))
    assert fn.glue.ops() == ["CreatePartition"]


def test_existing_partition_after_cold_start_is_success_and_then_cached(fn, glue_table):
    invoke(fn, object_created(KEY))
    cold = cold_start()
    assert invoke(cold, object_created(KEY)) == {"created": 0, "existing": 1, "ignored": 0}
    invoke(cold, object_created(KEY))
    assert cold.glue.ops() == ["CreatePartition"]  # AlreadyExists once, then remembered
    assert len(partitions(glue_table.client)) == 1


@pytest.mark.parametrize(
    ("key", "values", "folder"),
    [
        (
            f"o-a1b2c3d4e5/AWSLogs/{ACCT}/Config/us-east-1/2024/12/31/ConfigSnapshot/{SNAPSHOT}",
            [ACCT, "us-east-1", "2024-12-31"],
            f"o-a1b2c3d4e5/AWSLogs/{ACCT}/Config/us-east-1/2024/12/31/ConfigSnapshot/",
        ),
        (
            f"config/central/AWSLogs/{ACCT}/Config/us-gov-west-1/2025/10/1/ConfigSnapshot/{SNAPSHOT}",
            [ACCT, "us-gov-west-1", "2025-10-01"],
            f"config/central/AWSLogs/{ACCT}/Config/us-gov-west-1/2025/10/1/ConfigSnapshot/",
        ),
        (  # form-encoded S3 key: '+' is a space, %3A a colon
            f"my+org%3Aprefix/AWSLogs/{ACCT}/Config/ap-southeast-2/2025/1/9/ConfigSnapshot/{SNAPSHOT}",
            [ACCT, "ap-southeast-2", "2025-01-09"],
            f"my org:prefix/AWSLogs/{ACCT}/Config/ap-southeast-2/2025/1/9/ConfigSnapshot/",
        ),
    ],
)
def test_prefixes_and_encoded_keys(fn, glue_table, key, values, folder):
    assert invoke(fn, object_created(key))["created"] == 1
    sd = partitions(glue_table.client)[tuple(values)]
    assert sd["Location"] == f"s3://{BUCKET}/{folder}"


def test_s3_notification_records_shape(fn, glue_table):
    second = KEY.replace("/2025/3/7/", "/2025/3/8/")
    result = invoke(fn, s3_records(KEY, second, "AWSLogs/x/ConfigWritabilityCheckFile"))
    assert result == {"created": 2, "existing": 0, "ignored": 1}
    assert sorted(v[2] for v in partitions(glue_table.client)) == ["2025-03-07", "2025-03-08"]


# --------------------------------------------------------------------------- ignored keys and bad input

IGNORED = {
    "history": f"AWSLogs/{ACCT}/Config/eu-west-1/2025/3/7/ConfigHistory/"
    f"{ACCT}_Config_eu-west-1_ConfigHistory_AWS%3A%3AEC2%3A%3AInstance_20250307T000000Z_20250307T060000Z_1.json.gz",
    "writability": f"o-a1b2c3d4e5/AWSLogs/{ACCT}/Config/ConfigWritabilityCheckFile",
    "oversized": f"AWSLogs/{ACCT}/Config/eu-west-1/2025/3/7/OversizedChangeNotification/"
    "AWS%3A%3AEC2%3A%3AInstance/i-0abc1234def567890/x.json.gz",
    "ssm probe": f"inv/AWS%3AInstanceInformation/accountid%3D{ACCT}/test.json",
    "ssm inventory": f"inv/AWS%3AComplianceItem/accountid%3D{ACCT}/region%3Deu-west-1/"
    "resourcetype%3DManagedInstanceInventory/i-0abc1234def567890.json",
    "folder marker": f"AWSLogs/{ACCT}/Config/eu-west-1/2025/3/7/ConfigSnapshot/",
    "bad date": KEY.replace("/2025/3/7/", "/2025/2/30/"),
    "bad month": KEY.replace("/2025/3/7/", "/2025/13/1/"),
    "short account": KEY.replace(ACCT, "1111"),
    "nested deeper": KEY.replace("ConfigSnapshot/", "ConfigSnapshot/sub/"),
    "other": "random/file.txt",
}


@pytest.mark.parametrize("key", IGNORED.values(), ids=IGNORED.keys())
def test_irrelevant_keys_are_logged_and_ignored(fn, key, caplog):
    assert invoke(fn, object_created(key)) == {"created": 0, "existing": 0, "ignored": 1}
    assert fn.glue.calls == []
    assert "Ignored" in caplog.text


def test_ignore_log_names_the_reason(fn, caplog):
    invoke(fn, object_created(IGNORED["history"]))
    invoke(fn, object_created(IGNORED["ssm probe"]))
    assert "configuration history file" in caplog.text and "AWS::EC2::Instance" in caplog.text
    assert "InventoryPartitionsFunction" in caplog.text


@pytest.mark.parametrize(
    "event",
    [
        None,
        "text",
        [],
        {},
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET},
        {"detail-type": "Object Created"},
        {"detail-type": "Object Created", "detail": {"bucket": {"name": BUCKET}}},
        {"detail-type": "Object Created", "detail": {"bucket": {"name": BUCKET}, "object": {"key": 7}}},
        {"detail-type": "Object Created", "detail": {"bucket": {"name": ""}, "object": {"key": KEY}}},
        {"detail-type": "Object Deleted", "detail": {"bucket": {"name": BUCKET}, "object": {"key": KEY}}},
        {"Records": None},
        {"Records": 5},
        {"Records": ["x", {}, {"s3": None}]},
    ],
)
def test_malformed_events_are_logged_and_skipped(fn, event, caplog):
    result = invoke(fn, event)
    assert result["created"] == 0
    assert fn.glue.calls == []
    assert "Ignored" in caplog.text


def test_malformed_record_does_not_stop_the_good_one(fn, glue_table):
    event = s3_records(KEY)
    event["Records"].insert(0, {"s3": {"bucket": {}}})
    assert invoke(fn, event)["created"] == 1


# --------------------------------------------------------------------------- failures raise for retry


def timeout(_params):
    raise ReadTimeoutError(endpoint_url="https://glue.eu-west-1.amazonaws.com")


FAULTS = {
    "AccessDenied": lambda p: http_error("AccessDeniedException", "injected", 400),
    "Throttling": lambda p: http_error("ThrottlingException", "injected", 400),
    "InternalError": lambda p: http_error("InternalServiceException", "injected", 500),
    "timeout": timeout,
    "table missing": lambda p: http_error("EntityNotFoundException", "Table config_snapshot not found", 400),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_aws_failure_raises_and_is_not_cached(fn, glue_table, fault):
    fn.glue.respond("CreatePartition", fault)
    with pytest.raises(Exception, match="injected|timeout|not found"):
        invoke(fn, object_created(KEY))
    fn.glue.responders.clear()  # the retry EventBridge sends succeeds
    assert invoke(fn, object_created(KEY))["created"] == 1
    assert fn.glue.ops() == ["CreatePartition", "CreatePartition"]


def test_failure_of_one_record_still_registers_the_others_then_raises(fn, glue_table):
    bad = KEY.replace("/2025/3/7/", "/2025/3/8/")
    fn.glue.respond(
        "CreatePartition",
        lambda p: (
            http_error("AccessDeniedException", "no", 400) if p["PartitionInput"]["Values"][2] == "2025-03-08" else None
        ),
    )
    with pytest.raises(Exception, match="AccessDenied"):
        invoke(fn, s3_records(bad, KEY))
    assert list(partitions(glue_table.client)) == [(ACCT, "eu-west-1", "2025-03-07")]


def test_missing_configuration_raises(fn, monkeypatch):
    monkeypatch.delenv("STORAGE_DESCRIPTOR")
    with pytest.raises(KeyError):
        invoke(fn, object_created(KEY))


def test_retry_configuration(fn):
    retries = fn.module._client("glue").meta.config.retries
    assert retries["mode"] == "standard" and retries["total_max_attempts"] >= 3
