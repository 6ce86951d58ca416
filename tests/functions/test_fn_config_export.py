"""ConfigExportFunction against a fake Config aggregator (tests/support/fake_config.py) and moto S3/Glue.

The code run is the one inlined in the central template once the function is wired in, else
functions/config_export/index.py. Every invocation is a fresh module (a cold container), so whatever an export
carries from one invocation to the next has to be in S3.
"""

from __future__ import annotations

import collections
import gzip
import json
import math
import types

import boto3
import pytest

from patchcompliance.config_export import EXPORT_COLUMNS, EXPORT_PARTITION_KEY, export_storage_descriptor
from tests.support import fake_config as fc
from tests.support import functions as lib

BUCKET, PREFIX = "pc-config-123456789012", "config-export"
DATABASE, TABLE = "patch_compliance", "config_export"
MARGIN_S, LATENCY_S = 60, 10.0  # DEADLINE_MARGIN_SECONDS; virtual seconds each Config call takes
T1, T2 = "2025-03-06T03:00:00Z", "2025-03-07T03:00:00Z"
ID1, ID2 = "20250306T030000Z", "20250307T030000Z"


def scheduled(time: str = T2) -> dict:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": lib.ACCOUNT,
        "time": time,
        "region": lib.REGION,
        "resources": [f"arn:aws:events:{lib.REGION}:{lib.ACCOUNT}:rule/pc-ConfigExportScheduleRule-1A2B3C"],
        "detail": {},
    }


def calls_allowed(n: int) -> float:
    """A Lambda budget that lets exactly n Config calls start before the deadline margin."""
    return MARGIN_S + LATENCY_S * (n - 0.5)


class Harness:
    """Runs invocations of the function the way Lambda would: each one a cold start, with the fake aggregator
    on its Config client, its own invocations of itself recorded (and run by `drive`), sleeps on a virtual
    clock."""

    def __init__(self, fake: fc.FakeConfig, clock: lib.VirtualClock):
        self.fake, self.clock = fake, clock
        self.invokes: list[dict] = []
        self.s3_responders: dict[str, callable] = {}
        self.modules: list[types.ModuleType] = []
        self.requests = 0

    def _invoke(self, params):
        self.invokes.append(params)
        return {"StatusCode": 202}

    def start(self) -> types.ModuleType:
        module = fc.load_function()
        self.fake.attach(module._client("config"))
        lib.Hooks(module._client("lambda")).respond("Invoke", self._invoke)
        s3 = lib.Hooks(module._client("s3"))
        for op, fn in self.s3_responders.items():
            s3.respond(op, fn)
        module._sleep = self.clock.sleep
        module._rng.seed(7)
        self.modules.append(module)
        return module

    def invoke(self, event, budget_s: float = 900.0, request_id: str | None = None):
        module = self.start()
        start = self.clock.now
        if request_id is None:
            self.requests += 1
            request_id = f"req-{self.requests}"
        context = fc.LambdaContext(budget_s, clock=lambda: self.clock.now - start, request_id=request_id)
        self.last_request_id = request_id
        return module.handler(event, context)

    def drive(self, event, budgets=()) -> list:
        """The invocation for `event`, then every continuation it asks for; budgets[i] for invocation i."""
        budgets = list(budgets)
        outcomes = [self.invoke(event, budgets.pop(0) if budgets else 900.0)]
        handled = 0
        while handled < len(self.invokes):
            payload = json.loads(self.invokes[handled]["Payload"])
            handled += 1
            outcomes.append(self.invoke(payload, budgets.pop(0) if budgets else 900.0))
        return outcomes


@pytest.fixture
def env(aws, monkeypatch):
    s3 = boto3.client("s3", region_name=lib.REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": lib.REGION})
    glue = boto3.client("glue", region_name=lib.REGION)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    descriptor = export_storage_descriptor()
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": TABLE,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": EXPORT_PARTITION_KEY, "Type": "string"}],
            "StorageDescriptor": dict(descriptor, Location=f"s3://{BUCKET}/{PREFIX}/"),
        },
    )
    for key, value in {
        "AGGREGATOR_NAME": "org-aggregator",
        "BUCKET": BUCKET,
        "PREFIX": PREFIX,
        "GLUE_DATABASE": DATABASE,
        "EXPORT_TABLE": TABLE,
        "STORAGE_DESCRIPTOR": json.dumps(descriptor),
        "DEADLINE_MARGIN_SECONDS": str(MARGIN_S),
    }.items():
        monkeypatch.setenv(key, value)
    return types.SimpleNamespace(s3=s3, glue=glue, descriptor=descriptor, monkeypatch=monkeypatch)


def harness(items, **fake_args) -> Harness:
    clock = lib.VirtualClock()
    return Harness(fc.FakeConfig(items, clock=clock, latency_s=LATENCY_S, **fake_args), clock)


# --------------------------------------------------------------------------- reading the export


def part_keys(env, export_id: str) -> list[str]:
    listing = env.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/export_id={export_id}/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def read_part(env, key: str) -> list[bytes]:
    body = env.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body[:2] == b"\x1f\x8b", f"{key} is not gzip"
    return gzip.decompress(body).splitlines()


def exported(env, export_id: str) -> list[dict]:
    return [json.loads(line) for key in part_keys(env, export_id) for line in read_part(env, key)]


def canonical(rows) -> list[str]:
    """Rows as sorted canonical JSON: equal lists mean the same rows with the same multiplicity."""
    return sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)


def partitions(env) -> list[str]:
    parts = env.glue.get_partitions(DatabaseName=DATABASE, TableName=TABLE)["Partitions"]
    return sorted(p["Values"][0] for p in parts)


def run_state(env, export_id: str) -> dict:
    return json.loads(env.s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/_runs/{export_id}.json")["Body"].read())


def summaries(caplog) -> list[dict]:
    lines = []
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith("{") and '"outcome"' in message:
            lines.append(json.loads(message))
    return lines


# --------------------------------------------------------------------------- a complete export


def test_rows_equal_ground_truth_across_pages_accounts_and_regions(env, caplog):
    fleet = fc.Fleet(accounts=3, regions=2, per_region=42)  # 252 instances
    h = harness(fleet)
    result = h.invoke(scheduled())
    assert result["outcome"] == "published" and result["export_id"] == ID2

    rows = exported(env, ID2)
    assert canonical(rows) == canonical(fleet.expected_rows())
    kinds = collections.Counter(r["kind"] for r in rows)
    assert result["rows"] == {"instance": kinds["instance"], "rules": kinds["rules"]}
    assert {(r["account_id"], r["region"]) for r in rows} == {(a, g) for a in fleet.accounts for g in fleet.regions}

    # every call asks for the maximum page; calls are the floor: ceil(results / 100) per query
    assert {c["Limit"] for c in h.fake.calls} == {100}
    assert {c["ConfigurationAggregatorName"] for c in h.fake.calls} == {"org-aggregator"}
    assert len(h.fake.calls) == h.fake.floor() == sum(math.ceil(n / 100) for n in h.fake.returned.values())
    assert all(n > 200 for n in h.fake.returned.values())  # several pages for both queries

    assert partitions(env) == [ID2]
    partition = env.glue.get_partition(DatabaseName=DATABASE, TableName=TABLE, PartitionValues=[ID2])["Partition"]
    sd = partition["StorageDescriptor"]
    assert sd["Location"] == f"s3://{BUCKET}/{PREFIX}/export_id={ID2}/"
    assert sd["Columns"] == env.descriptor["Columns"] and sd["SerdeInfo"] == env.descriptor["SerdeInfo"]
    assert partition["Parameters"] == {"instance_rows": str(kinds["instance"]), "rules_rows": str(kinds["rules"])}
    assert run_state(env, ID2)["status"] == "published"

    [summary] = summaries(caplog)
    assert summary["outcome"] == "published" and summary["api_calls"] == len(h.fake.calls)
    assert summary["skipped"] == {"deleted": sum(fleet.instance(n).deleted for n in range(fleet.size))}
    assert summary["parts"] == 2 and summary["retries"] == 0


def test_tags_rules_and_fallbacks_in_real_result_shapes(env):
    """Hand-written results as the API returns them: nested objects, arrays of selected fields, odd values."""
    acct, region = "111122223333", "eu-west-1"
    instance = {
        "accountId": acct,
        "awsRegion": region,
        "resourceType": "AWS::EC2::Instance",
        "resourceId": "i-0abc1234def567890",
        "resourceName": "web",
        "configurationItemCaptureTime": "2025-03-07T03:58:12.345Z",
        "configurationItemStatus": "OK",
        "configuration": {"state": {"name": "running"}, "platform": "windows", "launchTime": 1738400400000},
        "tags": [
            {"key": "Name", "value": "Web"},
            {"key": "name", "value": "web"},  # differs only by case: both kept
            {"key": "Empty", "value": ""},
            {"key": "Owner", "value": "équipe données"},
        ],
    }
    bare = {  # new instance: no tags, no state yet
        "accountId": acct,
        "awsRegion": region,
        "resourceType": "AWS::EC2::Instance",
        "resourceId": "i-0fff1234def567890",
        "configurationItemCaptureTime": "2025-03-07T04:00:00.000Z",
        "configurationItemStatus": "ResourceDiscovered",
        "configuration": {"platformDetails": "Linux/UNIX"},
        "tags": [],
    }
    single_rule = {  # a configRuleList of one, given as an object
        "accountId": acct,
        "awsRegion": region,
        "resourceType": "AWS::Config::ResourceCompliance",
        "resourceId": "AWS::SSM::ManagedInstanceInventory/mi-0123456789abcdef0",
        "configurationItemCaptureTime": "2025-03-07T03:00:00.000Z",
        "configurationItemStatus": "OK",
        "configuration": {
            "targetResourceType": "AWS::SSM::ManagedInstanceInventory",
            "targetResourceId": "mi-0123456789abcdef0",
            "configRuleList": {"configRuleName": "ec2-managedinstance-platform-check", "complianceType": "COMPLIANT"},
        },
    }
    h = harness([instance, bare, single_rule])
    h.invoke(scheduled())
    rows = {r["resource_id"]: r for r in exported(env, ID2)}
    assert rows["i-0abc1234def567890"] == {
        "kind": "instance",
        "account_id": acct,
        "region": region,
        "resource_type": "AWS::EC2::Instance",
        "resource_id": "i-0abc1234def567890",
        "instance_id": "i-0abc1234def567890",
        "resource_name": "web",
        "instance_state": "running",
        "platform_details": "windows",  # no platformDetails: the platform property
        "launch_time": "2025-02-01T09:00:00.000Z",  # epoch milliseconds -> ISO-8601
        "tags": [
            {"key": "Name", "value": "Web"},
            {"key": "name", "value": "web"},
            {"key": "Empty", "value": ""},
            {"key": "Owner", "value": "équipe données"},
        ],
        "capture_time": "2025-03-07T03:58:12.345Z",
    }
    assert rows["i-0fff1234def567890"] == {
        "kind": "instance",
        "account_id": acct,
        "region": region,
        "resource_type": "AWS::EC2::Instance",
        "resource_id": "i-0fff1234def567890",
        "instance_id": "i-0fff1234def567890",
        "platform_details": "Linux/UNIX",
        "capture_time": "2025-03-07T04:00:00.000Z",
    }
    assert rows["mi-0123456789abcdef0"]["rules"] == [
        {"rule_name": "ec2-managedinstance-platform-check", "compliance_type": "COMPLIANT"}
    ]
    assert rows["mi-0123456789abcdef0"]["instance_id"] == "mi-0123456789abcdef0"


def test_parts_are_bounded_gzip_json_lines_numbered_per_query(env, monkeypatch):
    monkeypatch.setenv("PART_ROWS", "150")
    fleet = fc.Fleet(accounts=2, regions=2, per_region=60)
    h = harness(fleet)
    h.invoke(scheduled())
    keys = part_keys(env, ID2)
    names = [k.rsplit("/", 1)[1] for k in keys]
    instance_parts = [n for n in names if n.startswith("part-0")]
    rules_parts = [n for n in names if n.startswith("part-1")]
    assert instance_parts == [f"part-{i:05d}.json.gz" for i in range(len(instance_parts))]
    assert rules_parts == [f"part-{10000 + i:05d}.json.gz" for i in range(len(rules_parts))]
    assert len(instance_parts) >= 2 and len(rules_parts) >= 3
    columns = [name for name, _ in EXPORT_COLUMNS]
    total = 0
    for key in keys:
        lines = read_part(env, key)
        assert 0 < len(lines) <= 150
        total += len(lines)
        for line in lines:
            row = json.loads(line)
            assert line == json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()  # compact
            assert list(row) == [c for c in columns if c in row]  # declared columns, declared order
            assert None not in row.values() and [] not in row.values() and "" not in row.values()
    assert total == len(fleet.expected_rows())
    head = env.s3.head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ContentType"] == "application/json" and "ContentEncoding" not in head


# --------------------------------------------------------------------------- atomicity and resumption


def test_run_killed_half_way_publishes_nothing_and_its_retry_resumes(env, caplog):
    fleet = fc.Fleet(accounts=2, regions=2, per_region=80)
    env.monkeypatch.setenv("PART_ROWS", "100")
    h = harness(fleet)
    h.invoke(scheduled(T1))  # the previous export
    assert partitions(env) == [ID1]

    def fail_third_rules_part(params):
        if params.get("Key", "").endswith("part-10002.json.gz"):
            return lib.http_error("InternalError", "injected", 500)
        return None

    h.s3_responders["PutObject"] = fail_third_rules_part
    with pytest.raises(Exception, match="injected"):
        h.invoke(scheduled(T2), request_id="req-killed")
    assert partitions(env) == [ID1]  # readers still get the previous export, and only it
    assert max(partitions(env)) == ID1
    written = part_keys(env, ID2)
    assert any("part-1000" in k for k in written)  # some parts were written, none of them is visible
    assert summaries(caplog)[-1]["outcome"] == "failed"

    # Lambda retries the failed asynchronous invocation with the same request ID: it resumes the export
    h.s3_responders.clear()
    calls_before = len(h.fake.calls)
    assert h.invoke(scheduled(T2), request_id="req-killed")["outcome"] == "published"
    resumed_calls = len(h.fake.calls) - calls_before
    assert resumed_calls < h.fake.floor() / 2  # from the last saved part on, not from the start
    assert partitions(env) == [ID1, ID2]
    assert canonical(exported(env, ID2)) == canonical(fleet.expected_rows())


def test_deadline_stops_cleanly_and_continuations_give_the_same_rows(env, caplog):
    fleet = fc.Fleet(accounts=2, regions=2, per_region=100)
    h = harness(fleet)
    h.invoke(scheduled(T1))  # uninterrupted
    baseline = canonical(exported(env, ID1))
    calls_uninterrupted = len(h.fake.calls)

    outcomes = h.drive(scheduled(T2), budgets=[calls_allowed(3)] * 20)
    assert [o["outcome"] for o in outcomes[:-1]] == ["continued"] * (len(outcomes) - 1)
    assert outcomes[-1]["outcome"] == "published" and len(outcomes) >= 4
    assert canonical(exported(env, ID2)) == baseline == canonical(fleet.expected_rows())
    assert len(h.fake.calls) - calls_uninterrupted == calls_uninterrupted  # no page read twice

    # each hand-over: an asynchronous invocation of the function itself, numbered, naming the export
    assert [json.loads(i["Payload"]) for i in h.invokes] == [
        {"continuation": n, "export_id": ID2} for n in range(1, len(outcomes))
    ]
    assert {i["FunctionName"] for i in h.invokes} == {fc.LambdaContext.invoked_function_arn}
    assert {i["InvocationType"] for i in h.invokes} == {"Event"}
    # nothing published before the last invocation
    published = [s["outcome"] for s in summaries(caplog) if s["export_id"] == ID2]
    assert published == ["continued"] * (len(outcomes) - 1) + ["published"]
    state = run_state(env, ID2)
    assert state["continuations"] == len(outcomes) - 1 and len(json.dumps(state)) < 4096


def test_continuations_are_bounded(env):
    env.monkeypatch.setenv("MAX_CONTINUATIONS", "2")
    h = harness(fc.Fleet(accounts=1, regions=2, per_region=200))
    with pytest.raises(Exception, match="not finished after 2 continuations.*MAX_CONTINUATIONS"):
        h.drive(scheduled(), budgets=[calls_allowed(2)] * 10)
    assert len(h.invokes) == 2 and partitions(env) == []


def test_duplicate_or_stale_continuations_and_repeated_events_are_ignored(env):
    h = harness(fc.Fleet(accounts=1, regions=1, per_region=150))
    h.drive(scheduled(), budgets=[calls_allowed(2), 900.0])
    assert partitions(env) == [ID2]
    calls = len(h.fake.calls)
    assert h.invoke(json.loads(h.invokes[0]["Payload"]))["outcome"] == "ignored"  # duplicate delivery
    assert h.invoke(scheduled())["outcome"] == "ignored"  # the same schedule again
    assert h.invoke({"continuation": 5, "export_id": ID2})["outcome"] == "ignored"
    assert len(h.fake.calls) == calls and partitions(env) == [ID2]
    with pytest.raises(Exception, match="malformed continuation"):
        h.invoke({"continuation": "1", "export_id": "../x"})
    with pytest.raises(Exception, match="no readable state"):
        h.invoke({"continuation": 1, "export_id": "20240101T000000Z"})


def test_rejected_next_token_on_resume_restarts_the_query_without_duplicates(env, caplog):
    env.monkeypatch.setenv("PART_ROWS", "1000")
    fleet = fc.Fleet(accounts=1, regions=1, per_region=150)  # instances: 2 pages; rules: 3 pages
    h = harness(fleet)
    # invocation 1: both instance pages and the first rules page; invocation 2: the second rules page
    assert h.invoke(scheduled(), calls_allowed(3))["outcome"] == "continued"
    assert h.invoke(json.loads(h.invokes[0]["Payload"]), calls_allowed(1))["outcome"] == "continued"
    assert [k.rsplit("/", 1)[1] for k in part_keys(env, ID2)] == [
        "part-00000.json.gz",
        "part-10000.json.gz",
        "part-10001.json.gz",
    ]
    h.fake.expire_tokens()  # the saved NextToken is no longer accepted
    before = len(h.fake.calls)
    assert h.invoke(json.loads(h.invokes[1]["Payload"]))["outcome"] == "published"

    assert canonical(exported(env, ID2)) == canonical(fleet.expected_rows())
    assert read_part(env, f"{PREFIX}/export_id={ID2}/part-10001.json.gz") == []  # stale part emptied
    rejected, restart = h.fake.calls[before : before + 2]
    assert rejected["NextToken"] and "NextToken" not in restart  # the rules query again from its first page
    assert rejected["Expression"] == restart["Expression"] == h.modules[-1].QUERIES[1][1]
    assert len(h.fake.calls) - before == 1 + 3
    summary = summaries(caplog)[-1]
    assert summary["restarts"] == 1 and summary["rows"]["rules"] == sum(
        r["kind"] == "rules" for r in exported(env, ID2)
    )


def test_state_unreadable_as_403_is_a_new_export(env):
    """Without s3:ListBucket, S3 answers a missing state object with 403, not 404."""
    fleet = fc.Fleet(accounts=1, regions=1, per_region=20)
    h = harness(fleet)
    h.s3_responders["GetObject"] = lambda params: lib.http_error("AccessDenied", "Access Denied", 403)
    assert h.invoke(scheduled())["outcome"] == "published"
    assert canonical(exported(env, ID2)) == canonical(fleet.expected_rows())


# --------------------------------------------------------------------------- throttling and failures


def test_throttling_is_retried_on_the_same_page_with_jittered_back_off(env, caplog):
    fleet = fc.Fleet(accounts=1, regions=2, per_region=150)
    h = harness(fleet)
    mid_query = lambda p: "NextToken" in p  # noqa: E731
    h.fake.throttle(3, when=mid_query)
    h.fake.throttle(1, code="TooManyRequestsException")
    h.fake.fail("InternalFailure", "injected", status=500, when=mid_query)
    assert h.invoke(scheduled())["outcome"] == "published"
    assert canonical(exported(env, ID2)) == canonical(fleet.expected_rows())

    summary = summaries(caplog)[-1]
    assert summary["retries"] == 5 and summary["api_calls"] == h.fake.floor() + 5 == len(h.fake.calls)
    assert len(h.clock.sleeps) == 5 and all(0 <= s <= 20 for s in h.clock.sleeps)
    assert len(set(h.clock.sleeps)) == 5  # jittered
    # the retried calls asked for the same page: consecutive calls with one NextToken
    tokens = [c.get("NextToken") for c in h.fake.calls]
    assert any(a == b and a for a, b in zip(tokens, tokens[1:], strict=False))


def test_persistent_throttling_fails_without_publishing(env):
    h = harness(fc.Fleet(accounts=1, regions=1, per_region=30))
    h.fake.throttle(1000)
    with pytest.raises(Exception, match="ThrottlingException"):
        h.invoke(scheduled())
    assert len(h.fake.calls) == 9 and partitions(env) == []  # 1 + MAX_RETRIES attempts


def test_throttled_near_the_deadline_hands_over_instead_of_sleeping_past_it(env):
    fleet = fc.Fleet(accounts=1, regions=1, per_region=150)
    h = harness(fleet)
    h.fake.throttle(50, when=lambda p: "NextToken" in p)
    outcome = h.invoke(scheduled(), budget_s=MARGIN_S + 40)
    assert outcome["outcome"] == "continued" and partitions(env) == []
    h.fake.faults.clear()
    h.drive(json.loads(h.invokes[0]["Payload"]))
    assert canonical(exported(env, ID2)) == canonical(fleet.expected_rows())


def test_access_denied_names_the_aggregator_and_the_fix(env, caplog):
    h = harness(fc.Fleet(accounts=1, regions=1, per_region=5))
    h.fake.deny()
    module = h.start()
    with pytest.raises(module.ExportError) as err:
        module.handler(scheduled(), fc.LambdaContext())
    message = str(err.value)
    assert "'org-aggregator'" in message and lib.REGION in message
    assert "delegated administrator" in message and "config:SelectAggregateResourceConfig" in message
    assert partitions(env) == [] and part_keys(env, ID2) == []
    assert summaries(caplog)[-1]["outcome"] == "failed"


def test_missing_aggregator_names_it_and_the_parameter(env):
    h = harness(
        fc.Fleet(accounts=1, regions=1, per_region=5), aggregator="aws-controltower-GuardrailsComplianceAggregator"
    )
    module = h.start()
    with pytest.raises(
        module.ExportError, match=rf"'org-aggregator' not found in {lib.REGION}: set ConfigAggregatorName"
    ):
        module.handler(scheduled(), fc.LambdaContext())
    assert len(h.fake.calls) == 1 and partitions(env) == []


def test_malformed_results_are_logged_skipped_and_counted(env, caplog):
    fleet = fc.Fleet(accounts=1, regions=1, per_region=120)
    ec2, rc = "AWS::EC2::Instance", "AWS::Config::ResourceCompliance"
    bad = [
        fc.Raw('{"accountId": "111122223333", "awsRegion": "eu-', ec2),  # truncated JSON
        fc.Raw('"just a string"', ec2),
        fc.Raw(json.dumps({"accountId": "111122223333", "awsRegion": "eu-west-1"}), ec2),  # no resourceId
        fc.Raw(json.dumps({"accountId": "111122223333", "awsRegion": "eu-west-1", "configuration": {}}), rc),
        fc.Raw(json.dumps({"awsRegion": "eu-west-1", "resourceId": "i-1", "configuration": None}), ec2),
    ]
    items = list(fleet)
    for k, raw in enumerate(bad):
        items.insert(37 * (k + 1), raw)
    h = harness(items)
    assert h.invoke(scheduled())["outcome"] == "published"
    assert canonical(exported(env, ID2)) == canonical(fleet.expected_rows())
    deleted = sum(fleet.instance(n).deleted for n in range(fleet.size))
    assert summaries(caplog)[-1]["skipped"] == {"unparsable": 2, "missing_id": 3, "deleted": deleted}
    assert caplog.text.count("Skipped") == 5 and "truncated" not in caplog.text


def test_empty_aggregator_publishes_an_empty_export_with_a_warning(env, caplog):
    h = harness([])
    assert h.invoke(scheduled())["outcome"] == "published"
    assert partitions(env) == [ID2] and part_keys(env, ID2) == [] and "no EC2 instance" in caplog.text
    assert len(h.fake.calls) == 2


# --------------------------------------------------------------------------- the queries and the fake


def test_queries_select_only_documented_properties(env):
    module = fc.load_function()
    for _, expression in module.QUERIES:
        query = fc.parse(expression)
        for prop in (*query.select, *(p for p, _ in query.where)):
            assert prop in set.intersection(*(fc.DOCUMENTED[t] for t in query.types())), prop
        assert len(expression) <= 4096  # Expression length limit
    assert fc.parse(module.QUERIES[1][1]).where == (
        ("resourceType", frozenset({"AWS::Config::ResourceCompliance"})),
        ("configuration.targetResourceType", frozenset(module.NODE_TARGET_TYPES)),
    )


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("SELECT configuration.foo WHERE resourceType = 'AWS::EC2::Instance'", "not a queryable property"),
        ("SELECT resourceId AS id WHERE resourceType = 'AWS::EC2::Instance'", "expected WHERE"),
        ("SELECT resourceId FROM x WHERE resourceType = 'AWS::EC2::Instance'", "expected WHERE"),
        ("SELECT * WHERE resourceType = 'AWS::EC2::Instance'", "unexpected character"),
        ("SELECT resourceId WHERE resourceType = 'AWS::EC2::Instance' OR resourceId = 'x'", "expected AND"),
        ("SELECT COUNT(*) WHERE resourceType = 'AWS::EC2::Instance'", "unexpected character"),
    ],
)
def test_fake_refuses_what_it_does_not_check(expression, error):
    fake = fc.FakeConfig([])
    answer = fake({"Expression": expression, "ConfigurationAggregatorName": "org-aggregator", "Limit": 100})
    assert answer["Error"]["Code"] == "InvalidExpressionException" and error in answer["Error"]["Message"]


def test_fake_pages_like_the_api():
    fleet = fc.Fleet(accounts=1, regions=1, per_region=30)
    fake = fc.FakeConfig(fleet)
    base = {"ConfigurationAggregatorName": "org-aggregator"}
    expression = "SELECT resourceId, configuration.state.name, tags WHERE resourceType = 'AWS::EC2::Instance'"
    first = fake({**base, "Expression": expression})
    assert len(first["Results"]) == 25 and first["NextToken"]  # default page size of a non-aggregating query
    second = fake({**base, "Expression": expression, "NextToken": first["NextToken"], "Limit": 100})
    assert len(second["Results"]) == 5 and "NextToken" not in second
    item = json.loads(first["Results"][0])
    assert set(item) == {"resourceId", "configuration", "tags"} and set(item["configuration"]) == {"state"}
    assert fake({**base, "Expression": expression, "Limit": 101})["Error"]["Code"] == "InvalidLimitException"
    other = "SELECT resourceId WHERE resourceType = 'AWS::Config::ResourceCompliance'"
    assert fake({**base, "Expression": other, "NextToken": first["NextToken"]})["Error"]["Code"] == (
        "InvalidNextTokenException"
    )


def test_config_calls_are_retried_by_the_function_not_inside_botocore(env):
    module = fc.load_function()
    assert module._client("config").meta.config.retries["total_max_attempts"] == 1
    for name in ("s3", "glue", "lambda"):
        retries = module._client(name).meta.config.retries
        assert retries["mode"] == "standard" and retries["total_max_attempts"] >= 3
