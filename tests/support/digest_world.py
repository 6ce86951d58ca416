"""The digest function's test world: moto (S3, SNS delivering to SQS, Security Hub), fake ListStackInstances and
PutEvents, and Athena answered by the local engine running the function's own SQL over a hand-made organisation
(tests/support/digest_data.py). Used by tests/functions/test_fn_digest*.py and tests/support/report_example.py.

The code run is the one inlined in the central template once the function is wired in, else
functions/digest/index.py. Every invocation is a fresh module (a cold container): what a rerun knows is in S3.
Call within moto's mock_aws.
"""

from __future__ import annotations

import datetime
import json
import types
import uuid
from pathlib import Path

import boto3

from patchcompliance import digest
from patchcompliance.render import FUNCTIONS_DIR

from . import digest_data as dd
from . import functions as lib
from .fake_athena import FakeAthena

TOPIC = "patch-compliance-digest"


def function_code() -> tuple[str, str]:
    """(code, origin): the code inlined in the central template once it has the function, else the source."""
    resource = lib.template_resource(*lib.FUNCTIONS["digest"])
    if resource is not None:
        return resource["Properties"]["Code"]["ZipFile"], f"<patch-compliance.yaml:{digest.DIGEST_FUNCTION}>"
    path = FUNCTIONS_DIR / "digest" / "index.py"
    return path.read_text(encoding="utf-8"), str(path)


def load_function() -> types.ModuleType:
    code, origin = function_code()
    module = types.ModuleType(f"lambda_digest_{uuid.uuid4().hex[:8]}")
    module.__file__ = origin
    exec(compile(code, origin, "exec"), module.__dict__)  # noqa: S102 - that is the point
    return module


def scheduled(moment: datetime.datetime) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": lib.ACCOUNT,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": lib.REGION,
        "resources": [f"arn:aws:events:{lib.REGION}:{lib.ACCOUNT}:rule/pc-DigestScheduleRule-1A2B3C"],
        "detail": {},
    }


def denied(service: str, operation: str) -> callable:
    message = f"User: arn:aws:sts::{lib.ACCOUNT}:assumed-role/DigestRole/x is not authorized to perform: {service}:"
    code = "AccessDenied" if service == "s3" else "AccessDeniedException"
    return lambda params: lib.http_error(code, message + operation, 403)


class World:
    """moto services, the fake Athena over the engine, fake stack instances and EventBridge; runs the function."""

    def __init__(self, org: dd.Org, root: Path, monkeypatch, *, security_hub: bool = True, coverage_view=True):
        """`monkeypatch`: anything with setenv(name, value) (pytest's fixture in tests)."""
        self.org, self.root = org, root
        self.engine = dd.open_engine(org, root, coverage_view=coverage_view)
        self.athena = FakeAthena(self.engine, before_query=self.sync)
        self.s3 = boto3.client("s3", region_name=lib.REGION)
        self.s3.create_bucket(Bucket=dd.RESULTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": lib.REGION})
        sns, self.sqs = boto3.client("sns", region_name=lib.REGION), boto3.client("sqs", region_name=lib.REGION)
        self.topic = sns.create_topic(Name=TOPIC)["TopicArn"]
        self.queue = self.sqs.create_queue(QueueName="digest-inbox")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
        self.securityhub = boto3.client("securityhub", region_name=lib.REGION)
        self.received: list[dict] = []
        self.delivered: list[dict] = []  # PutEvents entries that EventBridge accepted
        self.put_calls: list[int] = []  # entries per PutEvents call
        self.event_failures: list[set[int]] = []  # per PutEvents call: indexes to fail (then removed)
        self.deny: dict[tuple[str, str], bool] = {}
        self.import_findings = None  # BatchImportFindings responder (None: moto)
        self.modules: list = []
        self.synced: dict[str, bytes] = {}
        for key, value in {
            "WORKGROUP": "patch-compliance-patch-compliance",
            "DATABASE": "patch_compliance",
            "BUCKET": dd.RESULTS_BUCKET,
            "COVERAGE_KEY": digest.EXPECTED_TARGETS_KEY,
            "REPORTS_PREFIX": digest.REPORTS_PREFIX,
            "STATE_PREFIX": digest.STATE_PREFIX,
            "STACK_SET": "patch-compliance-member:1a2b3c4d-5e6f-7a8b-9c0d-111111111111",
            "CALL_AS": "SELF",
            "TOPIC_ARN": self.topic,
            "EVENT_SOURCE": digest.EVENT_SOURCE,
            "LINK_EXPIRY_HOURS": "168",
            "FEED_STALE_AFTER_HOURS": "48",
            "DUE_SOON_DAYS": str(digest.DUE_SOON_DAYS),
            "SECURITY_HUB": "true" if security_hub else "false",
            "FINDING_GENERATOR": digest.FINDING_GENERATOR,
            "PARTITION": "aws",
            "ACCOUNT_ID": lib.ACCOUNT,
        }.items():
            monkeypatch.setenv(key, value)

    def sync(self) -> None:
        """What the function wrote under coverage/ in (moto) S3, into the engine's bucket directory."""
        listing = self.s3.list_objects_v2(Bucket=dd.RESULTS_BUCKET, Prefix="coverage/").get("Contents", [])
        changed = False
        for obj in listing:
            body = self.s3.get_object(Bucket=dd.RESULTS_BUCKET, Key=obj["Key"])["Body"].read()
            if self.synced.get(obj["Key"]) != body:
                path = self.root / dd.RESULTS_BUCKET / obj["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
                self.synced[obj["Key"]] = body
                changed = True
        if changed:
            self.engine.build()

    def put_events(self, params: dict) -> dict:
        fail = self.event_failures.pop(0) if self.event_failures else set()
        self.put_calls.append(len(params["Entries"]))
        results = []
        for i, entry in enumerate(params["Entries"]):
            if i in fail:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                self.delivered.append(entry)
                results.append({"EventId": str(uuid.uuid4())})
        return {"FailedEntryCount": len(fail), "Entries": results}

    def run(self, moment: datetime.datetime, *, limit: int | None = None):
        module = load_function()
        module._sleep = lambda seconds: None
        module._now = lambda: moment
        if limit is not None:
            module.MESSAGE_LIMIT = limit
        hooks = {
            "cloudformation": lib.Hooks(module._client("cloudformation")).respond(
                "ListStackInstances", dd.stack_instances(self.org.targets)
            ),
            "events": lib.Hooks(module._client("events")).respond("PutEvents", self.put_events),
            "s3": lib.Hooks(module._client("s3")),
            "sns": lib.Hooks(module._client("sns", lib.REGION)),
            "securityhub": lib.Hooks(module._client("securityhub")),
            "athena": self.athena.attach(module._client("athena")),
        }
        if self.import_findings is not None:
            hooks["securityhub"].respond("BatchImportFindings", self.import_findings)
        for (service, operation), on in self.deny.items():
            if on:
                hooks[service].respond(operation, denied(service, operation))
        self.modules.append(module)
        self.hooks = hooks
        return module.handler(scheduled(moment), lib.FakeContext(900))

    def messages(self) -> list[dict]:
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return self.received
            for message in batch:
                self.received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def findings(self) -> dict[str, dict]:
        found = {}
        for page in self.securityhub.get_paginator("get_findings").paginate():
            found.update({f["Id"]: f for f in page["Findings"]})
        return found

    def object(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=dd.RESULTS_BUCKET, Key=key)["Body"].read()

    def state(self, day: datetime.date) -> dict:
        return json.loads(self.object(f"{digest.STATE_PREFIX}{day.isoformat()}.json"))

    def events_of(self, detail_type: str) -> list[dict]:
        return [json.loads(e["Detail"]) for e in self.delivered if e["DetailType"] == detail_type]
