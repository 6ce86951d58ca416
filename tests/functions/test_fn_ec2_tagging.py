"""EC2TaggingFunction: the code inlined in the member template, against moto EC2 and a faked SSM listing."""

import math
import types
import urllib.error

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from tests.support.functions import (
    REGION,
    FakeContext,
    FakeFleet,
    Hooks,
    VirtualClock,
    assert_echoed,
    cr_event,
    http_error,
    instance_ids,
    load_function,
    node,
    vanishing,
)

KEYS = ("PlatformType", "PlatformName", "PlatformVersion")
SCHEDULE = {
    "version": "0",
    "id": "5c1b7e3e-0000-4000-8000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2025-03-07T03:00:00Z",
    "region": REGION,
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/EC2TaggingSchedule"],
    "detail": {},
}


@pytest.fixture(scope="session")
def ec2_check(_boto3_session):
    """An EC2 client for assertions, shared by the tests (moto's state is still fresh for each test)."""
    return _boto3_session.client("ec2", region_name=REGION)


@pytest.fixture
def fn(aws, ec2_check):
    module = load_function("ec2_tagging")
    return types.SimpleNamespace(
        module=module,
        ssm=Hooks(module._client("ssm")),
        ec2=Hooks(module._client("ec2")),
        ec2_check=ec2_check,
    )


def with_fleet(fn, nodes):
    fn.ssm.respond("DescribeInstanceInformation", FakeFleet(nodes))
    return nodes


def tags_of(fn, ids) -> dict:
    """{instance id: {key: value}} of the platform tags moto holds for ids."""
    out = {i: {} for i in ids}
    pages = fn.ec2_check.get_paginator("describe_tags").paginate(Filters=[{"Name": "key", "Values": list(KEYS)}])
    for page in pages:
        for tag in page["Tags"]:
            if tag["ResourceId"] in out:
                out[tag["ResourceId"]][tag["Key"]] = tag["Value"]
    return out


def create(fn, cfn, context=None, **extra):
    event = cr_event(cfn.url, "Create", {"Version": "1"}, LogicalResourceId="EC2Tagging", **extra)
    fn.module.handler(event, context or FakeContext())
    answer = cfn.only_answer()
    assert_echoed(answer, event)
    return answer


# --------------------------------------------------------------------------- happy paths


def test_create_groups_by_platform_and_tags_real_instances(fn, cfn):
    real = [
        i["InstanceId"] for i in fn.ec2_check.run_instances(ImageId="ami-12345678", MinCount=3, MaxCount=3)["Instances"]
    ]
    with_fleet(
        fn,
        [
            node(real[0], "Linux", "Amazon Linux", "2023"),
            node(real[1], "Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348"),
            node(real[2], "Linux", "Amazon Linux", "2023"),
            node("mi-0123456789abcdef0", "Linux", "Ubuntu", "22.04"),
        ],
    )
    answer = create(fn, cfn)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "ec2-tagging"
    assert answer["Data"] == {"Tagged": 3, "Skipped": 1, "Failed": 0, "Deferred": 0, "Complete": True, "Groups": 2}
    reservations = fn.ec2_check.describe_instances(InstanceIds=real)["Reservations"]
    got = {
        i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])} for r in reservations for i in r["Instances"]
    }
    assert got[real[0]] == got[real[2]] == dict(zip(KEYS, ("Linux", "Amazon Linux", "2023"), strict=True))
    assert got[real[1]]["PlatformName"] == "Microsoft Windows Server 2022 Datacenter"
    assert len(fn.ec2.ops("CreateTags")) == 2  # one per platform group


def test_large_groups_use_one_call_per_1000_ids_and_50_per_page(fn, cfn):
    big, small = instance_ids(2345), instance_ids(10, start=10_000)
    hybrid = [f"mi-{k:017x}" for k in range(7)]
    nodes = [node(i) for i in big] + [node(i, "Windows", "Windows Server 2019", "10.0.17763") for i in small]
    nodes += [node(i) for i in hybrid]
    with_fleet(fn, nodes)
    answer = create(fn, cfn)
    assert answer["Data"]["Tagged"] == 2355 and answer["Data"]["Skipped"] == 7
    pages = fn.ssm.ops("DescribeInstanceInformation")
    assert len(pages) == math.ceil(len(nodes) / 50) and all(p["MaxResults"] == 50 for p in pages)
    calls = fn.ec2.ops("CreateTags")
    assert sorted(len(c["Resources"]) for c in calls) == [10, 345, 1000, 1000]
    sent = [i for c in calls for i in c["Resources"]]
    assert sorted(sent) == sorted(big + small)  # every EC2 instance exactly once, never a hybrid node
    tags = tags_of(fn, big + small)
    assert all(tags[i]["PlatformName"] == "Amazon Linux" for i in big)
    assert all(tags[i]["PlatformVersion"] == "10.0.17763" for i in small)


def test_hybrid_nodes_are_counted_and_never_sent_to_ec2(fn, cfn):
    with_fleet(fn, [node("mi-0123456789abcdef0"), node("mi-0123456789abcdef1"), node("i-0123456789abcdef0")])
    answer = create(fn, cfn)
    assert answer["Data"]["Skipped"] == 2 and answer["Data"]["Tagged"] == 1
    assert [c["Resources"] for c in fn.ec2.ops("CreateTags")] == [["i-0123456789abcdef0"]]


def test_empty_platform_values_are_written_as_unknown_and_long_values_truncated(fn, cfn):
    ids = instance_ids(4)
    with_fleet(
        fn,
        [
            node(ids[0], "Linux", "", "2"),
            node(ids[1], "Linux", None, "2"),  # key missing altogether
            node(ids[2], "Linux", "   ", "2"),
            node(ids[3], "Linux", "x" * 300, None),
        ],
    )
    answer = create(fn, cfn)
    assert answer["Data"]["Groups"] == 2  # "", missing and blank are the same group
    tags = tags_of(fn, ids)
    for i in ids[:3]:
        assert tags[i] == {"PlatformType": "Linux", "PlatformName": "Unknown", "PlatformVersion": "2"}
    assert tags[ids[3]] == {"PlatformType": "Linux", "PlatformName": "x" * 256, "PlatformVersion": "Unknown"}


def test_update_keeps_physical_id_and_delete_changes_nothing(fn, cfn):
    with_fleet(fn, [node("i-0123456789abcdef0")])
    update = cr_event(cfn.url, "Update", {"Version": "2"}, PhysicalResourceId="pid-from-create")
    fn.module.handler(update, FakeContext())
    answer = cfn.only_answer()
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "pid-from-create"
    cfn.answers.clear()
    calls_before = len(fn.ssm.calls) + len(fn.ec2.calls)
    delete = cr_event(cfn.url, "Delete", {"Version": "2"}, PhysicalResourceId="pid-from-create")
    fn.module.handler(delete, FakeContext())
    answer = cfn.only_answer()
    assert_echoed(answer, delete)
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "pid-from-create"
    assert len(fn.ssm.calls) + len(fn.ec2.calls) == calls_before  # no AWS call at all


def test_scheduled_event_tags_without_answering(fn, cfn):
    ids = instance_ids(60)
    with_fleet(fn, [node(i) for i in ids])
    result = fn.module.handler(SCHEDULE, FakeContext())
    assert result["Tagged"] == 60 and result["Failed"] == 0
    assert cfn.answers == []
    assert all(t["PlatformType"] == "Linux" for t in tags_of(fn, ids).values())


# --------------------------------------------------------------------------- vanished instances


def test_vanished_instances_are_dropped_and_the_batch_retried(fn, cfn):
    ids = instance_ids(1500)
    gone = [ids[3], ids[700], ids[1200]]
    with_fleet(fn, [node(i) for i in ids])
    fn.ec2.respond("CreateTags", vanishing(gone))
    answer = create(fn, cfn)
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"]["Tagged"] == 1497 and answer["Data"]["Skipped"] == 3 and answer["Data"]["Failed"] == 0
    assert len(fn.ec2.ops("CreateTags")) == 4  # 2 batches, each retried once without its missing IDs
    tags = tags_of(fn, ids)
    assert [i for i in ids if not tags[i]] == gone


def test_not_found_error_without_ids_is_isolated_by_bisection(fn, cfn):
    ids = instance_ids(64)
    culprit = ids[37]
    with_fleet(fn, [node(i) for i in ids])
    fn.ec2.respond(
        "CreateTags",
        lambda p: (
            http_error("InvalidInstanceID.NotFound", "An instance does not exist")
            if culprit in p["Resources"]
            else None
        ),
    )
    answer = create(fn, cfn)
    assert answer["Data"]["Tagged"] == 63 and answer["Data"]["Skipped"] == 1
    assert len(fn.ec2.ops("CreateTags")) <= 2 * math.ceil(math.log2(64)) + 1
    assert [i for i, t in tags_of(fn, ids).items() if not t] == [culprit]


# --------------------------------------------------------------------------- faults


def raising(kind):
    """Responder injecting one kind of fault on every call."""

    def respond(_params):
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")
        if kind == "connect-timeout":
            raise ConnectTimeoutError(endpoint_url="https://ssm.eu-west-1.amazonaws.com")
        status = {"AccessDenied": 403, "Throttling": 400, "InternalError": 500}[kind]
        return http_error(kind, f"injected {kind}", status)

    return respond


FAULTS = ["AccessDenied", "Throttling", "InternalError", "timeout", "connect-timeout"]


@pytest.mark.parametrize("kind", FAULTS)
def test_describe_failure_answers_failed_once(fn, cfn, kind):
    fn.ssm.respond("DescribeInstanceInformation", raising(kind))
    answer = create(fn, cfn)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == "ec2-tagging"  # a failed Create still names a resource
    assert ("injected" in answer["Reason"]) or ("timeout" in answer["Reason"].lower())
    assert "CloudWatch Logs: /aws/lambda/fn" in answer["Reason"]
    assert fn.ec2.calls == []


@pytest.mark.parametrize("kind", FAULTS)
def test_describe_failure_on_a_later_page_answers_failed_once(fn, cfn, kind):
    fleet = FakeFleet([node(i) for i in instance_ids(120)])
    fault = raising(kind)
    fn.ssm.respond("DescribeInstanceInformation", lambda p: fault(p) if p.get("NextToken") == "100" else fleet(p))
    answer = create(fn, cfn)
    assert answer["Status"] == "FAILED" and len(fn.ssm.calls) == 3


@pytest.mark.parametrize("kind", FAULTS)
def test_all_create_tags_failing_answers_failed_once(fn, cfn, kind):
    with_fleet(fn, [node(i) for i in instance_ids(5)])
    fn.ec2.respond("CreateTags", raising(kind))
    answer = create(fn, cfn)
    assert answer["Status"] == "FAILED"
    assert answer["Data"]["Failed"] == 5 and answer["Data"]["Tagged"] == 0


@pytest.mark.parametrize("kind", FAULTS)
def test_partial_create_tags_failure_still_tags_the_rest(fn, cfn, kind):
    linux, windows = instance_ids(30), instance_ids(20, start=100)
    with_fleet(fn, [node(i) for i in linux] + [node(i, "Windows", "Windows Server 2022", "10") for i in windows])
    fault = raising(kind)
    fn.ec2.respond("CreateTags", lambda p: fault(p) if p["Tags"][0]["Value"] == "Windows" else None)
    answer = create(fn, cfn)
    assert answer["Status"] == "SUCCESS"  # partial failures are reported, the schedule retries them
    assert answer["Data"]["Tagged"] == 30 and answer["Data"]["Failed"] == 20
    assert "first error" in answer["Reason"]
    tags = tags_of(fn, linux + windows)
    assert all(tags[i] for i in linux) and not any(tags[i] for i in windows)


def test_scheduled_run_with_failing_describe_raises_for_the_lambda_retry(fn, cfn):
    fn.ssm.respond("DescribeInstanceInformation", raising("AccessDenied"))
    with pytest.raises(Exception, match="AccessDenied"):
        fn.module.handler(SCHEDULE, FakeContext())
    assert cfn.answers == []


def test_throttling_is_absorbed_by_botocore_retries(fn, cfn, monkeypatch):
    """Throttled at the HTTP layer twice, CreateTags still succeeds through the standard retry mode."""
    from botocore.awsrequest import AWSResponse

    from tests.support.functions import RawBody

    client = fn.module._client("ec2")
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] >= 5
    sleeps = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", sleeps.append)  # record back-off, never wait
    throttles = iter(range(2))
    body = (
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
        b"</Message></Error></Errors><RequestID>r</RequestID></Response>"
    )

    def throttle(request, **_):
        if next(throttles, None) is not None:
            return AWSResponse(request.url, 503, {}, RawBody(body))
        return None

    client.meta.events.register_first("before-send.ec2.CreateTags", throttle)
    with_fleet(fn, [node("i-0123456789abcdef0")])
    answer = create(fn, cfn)
    assert answer["Status"] == "SUCCESS" and answer["Data"]["Tagged"] == 1
    assert len(sleeps) == 2  # two retries, both absorbed
    assert tags_of(fn, ["i-0123456789abcdef0"])["i-0123456789abcdef0"]["PlatformType"] == "Linux"


# --------------------------------------------------------------------------- deadline


def test_stops_describing_at_the_deadline_and_still_answers(fn, cfn):
    clock = VirtualClock()
    fn.module.time = types.SimpleNamespace(monotonic=clock)
    fleet = FakeFleet([node(i) for i in instance_ids(1000)])

    def slow_page(params):
        clock.now += 2  # each page "takes" 2 s
        return fleet(params)

    fn.ssm.respond("DescribeInstanceInformation", slow_page)
    margin = fn.module.MARGIN_S
    answer = create(fn, cfn, context=FakeContext(remaining_s=margin + 9, clock=clock))
    assert answer["Status"] == "SUCCESS"
    assert len(fn.ssm.calls) == 5  # pages started at t=0,2,4,6,8; none at t=10 > 9
    assert answer["Data"]["Complete"] is False
    assert answer["Data"]["Tagged"] == 0 and answer["Data"]["Deferred"] == 250  # no CreateTags past the deadline
    assert fn.ec2.calls == []
    assert "deadline" in answer["Reason"]


def test_stops_tagging_at_the_deadline_and_defers_the_rest(fn, cfn):
    clock = VirtualClock()
    fn.module.time = types.SimpleNamespace(monotonic=clock)
    groups = [("Linux", f"Distro {k}", "1") for k in range(4)]
    ids = instance_ids(40)
    with_fleet(fn, [node(i, *groups[n % 4]) for n, i in enumerate(ids)])

    def slow_tag(_params):
        clock.now += 4
        return None

    fn.ec2.respond("CreateTags", slow_tag)
    answer = create(fn, cfn, context=FakeContext(remaining_s=fn.module.MARGIN_S + 6, clock=clock))
    assert len(fn.ec2.ops("CreateTags")) == 2  # started at t=0 and t=4; t=8 is past the deadline
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"]["Tagged"] == 20 and answer["Data"]["Deferred"] == 20


# --------------------------------------------------------------------------- bad input


def test_unknown_request_type_answers_failed(fn, cfn):
    event = cr_event(cfn.url, "Upgrade")
    fn.module.handler(event, FakeContext())
    answer = cfn.only_answer()
    assert_echoed(answer, event)
    assert answer["Status"] == "FAILED" and "Upgrade" in answer["Reason"]
    assert fn.ssm.calls == [] and fn.ec2.calls == []


@pytest.mark.parametrize("event", [None, "text", [], {}, {"source": "aws.s3"}, {"RequestType": "Create"}])
def test_malformed_events_are_logged_and_ignored(fn, cfn, event, caplog):
    assert fn.module.handler(event, FakeContext()) is None
    assert cfn.answers == [] and fn.ssm.calls == [] and fn.ec2.calls == []
    assert "Ignored" in caplog.text


def test_event_without_request_type_answers_failed(fn, cfn):
    event = cr_event(cfn.url)
    del event["RequestType"]
    fn.module.handler(event, None)  # no context either
    answer = cfn.only_answer()
    assert answer["Status"] == "FAILED" and "None" in answer["Reason"]


def test_empty_pages_and_odd_records(fn, cfn):
    pages = [
        {"InstanceInformationList": [], "NextToken": "1"},
        {"NextToken": "2"},
        {"InstanceInformationList": [{"PingStatus": "Online"}, node("i-0123456789abcdef0")]},
    ]
    fn.ssm.respond("DescribeInstanceInformation", lambda p: dict(pages[int(p.get("NextToken") or 0)]))
    answer = create(fn, cfn)
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"]["Tagged"] == 1 and answer["Data"]["Skipped"] == 1  # the record without an ID


def test_no_managed_instances(fn, cfn):
    with_fleet(fn, [])
    answer = create(fn, cfn)
    assert answer["Status"] == "SUCCESS" and answer["Data"]["Tagged"] == 0 and fn.ec2.calls == []


def test_huge_error_message_is_truncated_to_fit_the_answer(fn, cfn):
    with_fleet(fn, [node("i-0123456789abcdef0")])
    fn.ec2.respond("CreateTags", lambda p: http_error("UnauthorizedOperation", "é" * 20_000, 403))
    answer = create(fn, cfn)
    assert answer["Status"] == "FAILED" and answer["Reason"].endswith("...")
    assert len(cfn.answers[0]["body"]) > 4000  # filled up to the limit, not emptied


def test_undeliverable_answer_raises_so_lambda_retries(fn, cfn):
    with_fleet(fn, [node("i-0123456789abcdef0")])
    cfn.fail_with(500)
    with pytest.raises(urllib.error.HTTPError):
        fn.module.handler(cr_event(cfn.url, "Delete", PhysicalResourceId="p"), FakeContext())
    assert len(cfn.answers) == 1
