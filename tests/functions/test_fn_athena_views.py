"""AthenaViewsFunction: the code inlined in the central template, against moto Athena."""

import json
import types

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from tests.support.functions import (
    REGION,
    FakeContext,
    Hooks,
    VirtualClock,
    assert_echoed,
    cr_event,
    http_error,
    load_function,
    template_resource,
)

WORKGROUP, DATABASE = "pc-patch-compliance", "patch_compliance"
FALLBACK_VIEWS = [
    {"Name": "configmic", "Sql": "SELECT 1 AS account_id"},
    {"Name": "configpc", "Sql": "SELECT 2 AS account_id"},
    {"Name": "patch", "Sql": "SELECT 3 AS account_id"},
    {"Name": "instance_tags", "Sql": "SELECT 4 AS account_id"},
    {"Name": "instance_compliance", "Sql": "SELECT * FROM configmic JOIN configpc USING (instance_id)"},
]


def shipped_views() -> list[dict]:
    """The Views property of the AthenaViews custom resource in the template (fallback if not generated)."""
    resource = template_resource("patch-compliance.yaml", "AthenaViews")
    views = (resource or {}).get("Properties", {}).get("Views")
    if isinstance(views, list) and all(isinstance(v.get("Sql"), str) for v in views):
        return [{"Name": str(v["Name"]), "Sql": str(v["Sql"])} for v in views]
    return FALLBACK_VIEWS


VIEWS = shipped_views()
NAMES = [v["Name"] for v in VIEWS]


@pytest.fixture
def fn(aws):
    boto3.client("athena", region_name=REGION).create_work_group(Name=WORKGROUP)
    module = load_function("athena_views")
    clock = VirtualClock()
    module._sleep = clock.sleep  # polling back-off advances the virtual clock, never waits
    return types.SimpleNamespace(module=module, athena=Hooks(module._client("athena")), clock=clock)


def props(views=None, database=DATABASE, workgroup=WORKGROUP) -> dict:
    return {"WorkGroup": workgroup, "Database": database, "Views": VIEWS if views is None else views}


def run(fn, cfn, request="Create", properties=None, remaining_s=300.0, **extra):
    event = cr_event(cfn.url, request, props() if properties is None else properties, **extra)
    event["LogicalResourceId"] = "AthenaViews"
    result = fn.module.handler(event, FakeContext(remaining_s, clock=fn.clock))
    answer = cfn.only_answer()
    assert_echoed(answer, event)
    assert result["Status"] == answer["Status"]
    return answer


def started(fn) -> list[str]:
    return [p["QueryString"] for p in fn.athena.ops("StartQueryExecution")]


def states(*sequence, reason=""):
    """GetQueryExecution responder walking through `sequence` for every query, then SUCCEEDED."""
    per_query = {}

    def respond(params):
        it = per_query.setdefault(params["QueryExecutionId"], iter(sequence))
        state = next(it, "SUCCEEDED")
        status = {"State": state}
        if reason and state in ("FAILED", "CANCELLED"):
            status["StateChangeReason"] = reason
        return {"QueryExecution": {"QueryExecutionId": params["QueryExecutionId"], "Status": status}}

    return respond


# --------------------------------------------------------------------------- create / update / delete


def test_create_runs_each_view_in_order_in_the_workgroup(fn, cfn):
    answer = run(fn, cfn)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == f"{DATABASE}-views"
    calls = fn.athena.ops("StartQueryExecution")
    assert [c["QueryString"] for c in calls] == [f'CREATE OR REPLACE VIEW "{v["Name"]}" AS {v["Sql"]}' for v in VIEWS]
    assert all(c["WorkGroup"] == WORKGROUP and c["QueryExecutionContext"] == {"Database": DATABASE} for c in calls)
    moto_ids = boto3.client("athena", region_name=REGION).list_query_executions(WorkGroup=WORKGROUP)
    assert len(moto_ids["QueryExecutionIds"]) == len(VIEWS)
    assert fn.clock.sleeps == []  # moto finishes at once: polled before sleeping


def test_sql_trailing_semicolon_and_blank_lines_are_trimmed(fn, cfn):
    run(fn, cfn, properties=props([{"Name": "v1", "Sql": "SELECT 1 AS x;\n\n"}]))
    assert started(fn) == ['CREATE OR REPLACE VIEW "v1" AS SELECT 1 AS x']


def test_views_given_as_json_text_are_accepted(fn, cfn):
    answer = run(fn, cfn, properties=props(json.dumps(FALLBACK_VIEWS[:2])))
    assert answer["Status"] == "SUCCESS" and len(started(fn)) == 2


def test_polling_backs_off_growing_and_capped(fn, cfn):
    fn.athena.respond("GetQueryExecution", states("QUEUED", *["RUNNING"] * 5))
    answer = run(fn, cfn, properties=props(VIEWS[:1]))
    assert answer["Status"] == "SUCCESS"
    assert fn.clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(fn.athena.ops("GetQueryExecution")) == 7


@pytest.mark.parametrize("final", ["FAILED", "CANCELLED"])
def test_failed_view_answers_failed_with_athena_reason_and_view_name(fn, cfn, final):
    reason = "COLUMN_NOT_FOUND: line 3:8: Column 'platformname' cannot be resolved"
    seen = []

    def respond(params):
        qid = params["QueryExecutionId"]
        if qid not in seen:
            seen.append(qid)
        status = {"State": final, "StateChangeReason": reason} if seen.index(qid) == 1 else {"State": "SUCCEEDED"}
        return {"QueryExecution": {"QueryExecutionId": qid, "Status": status}}

    fn.athena.respond("GetQueryExecution", respond)
    answer = run(fn, cfn)
    assert answer["Status"] == "FAILED"
    assert f"View {NAMES[1]}:" in answer["Reason"] and reason in answer["Reason"] and final in answer["Reason"]
    assert len(started(fn)) == 2  # stops at the first failure
    assert answer["PhysicalResourceId"] == f"{DATABASE}-views"  # a failed Create still names a resource


def test_athena_error_message_is_used_when_there_is_no_state_change_reason(fn, cfn):
    fn.athena.respond(
        "GetQueryExecution",
        lambda p: {
            "QueryExecution": {
                "QueryExecutionId": p["QueryExecutionId"],
                "Status": {"State": "FAILED", "AthenaError": {"ErrorCategory": 2, "ErrorMessage": "TABLE_NOT_FOUND x"}},
            }
        },
    )
    answer = run(fn, cfn)
    assert answer["Status"] == "FAILED" and "TABLE_NOT_FOUND x" in answer["Reason"]


def test_update_keeps_physical_id_and_drops_views_that_left_the_list(fn, cfn):
    old = props(VIEWS + [{"Name": "retired_view", "Sql": "SELECT 1"}])
    answer = run(fn, cfn, "Update", PhysicalResourceId="legacy-id", OldResourceProperties=old)
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "legacy-id"
    assert started(fn)[-1] == 'DROP VIEW IF EXISTS "retired_view"'
    assert len(started(fn)) == len(VIEWS) + 1


def test_update_to_another_database_gets_a_new_physical_id(fn, cfn):
    answer = run(
        fn,
        cfn,
        "Update",
        properties=props(database="other_db"),
        PhysicalResourceId=f"{DATABASE}-views",
        OldResourceProperties=props(),
    )
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "other_db-views"
    assert not any(q.startswith("DROP") for q in started(fn))  # CloudFormation's Delete of the old ID drops


def test_delete_drops_views_in_reverse_order(fn, cfn):
    answer = run(fn, cfn, "Delete", PhysicalResourceId=f"{DATABASE}-views")
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == f"{DATABASE}-views"
    assert started(fn) == [f'DROP VIEW IF EXISTS "{n}"' for n in reversed(NAMES)]
    assert "gone" not in answer["Reason"]


def test_delete_with_workgroup_gone_succeeds(fn, cfn):
    answer = run(fn, cfn, "Delete", properties=props(workgroup="deleted-wg"), PhysicalResourceId="p")
    assert answer["Status"] == "SUCCESS"
    assert len(started(fn)) == 1  # nothing more to try once the workgroup is gone


@pytest.mark.parametrize(
    "reason",
    [
        "SCHEMA_NOT_FOUND: line 1:1: Schema 'patch_compliance' does not exist",
        "FAILED: SemanticException [Error 10072]: Database does not exist: patch_compliance",
    ],
)
def test_delete_with_database_gone_succeeds(fn, cfn, reason):
    fn.athena.respond("GetQueryExecution", states("FAILED", reason=reason))
    answer = run(fn, cfn, "Delete", PhysicalResourceId="p")
    assert answer["Status"] == "SUCCESS" and len(started(fn)) == 1
    assert "already gone" in answer["Reason"]


def test_create_with_workgroup_gone_fails(fn, cfn):
    answer = run(fn, cfn, properties=props(workgroup="deleted-wg"))
    assert answer["Status"] == "FAILED" and NAMES[0] in answer["Reason"]


def test_delete_of_a_create_that_failed_validation_succeeds_without_calls(fn, cfn):
    answer = run(fn, cfn, "Delete", properties={"Views": "nonsense"}, PhysicalResourceId="AthenaViews-views")
    assert answer["Status"] == "SUCCESS" and fn.athena.calls == []


# --------------------------------------------------------------------------- deadline


def test_query_still_running_at_the_deadline_is_stopped_and_answered_failed(fn, cfn):
    fn.athena.respond("GetQueryExecution", states(*["RUNNING"] * 10_000))
    budget = 60.0
    answer = run(fn, cfn, remaining_s=budget)
    assert answer["Status"] == "FAILED" and "deadline" in answer["Reason"] and NAMES[0] in answer["Reason"]
    assert len(fn.athena.ops("StopQueryExecution")) == 1
    assert budget - fn.clock.now >= fn.module.MARGIN_S  # answered with the margin still left
    assert len(started(fn)) == 1


def test_no_query_is_started_when_the_deadline_is_near(fn, cfn):
    answer = run(fn, cfn, remaining_s=fn.module.MARGIN_S - 1)
    assert answer["Status"] == "FAILED" and fn.athena.calls == []


def test_lambda_timeout_is_below_the_service_timeout():
    resource = template_resource("patch-compliance.yaml", "AthenaViewsFunction")
    custom = template_resource("patch-compliance.yaml", "AthenaViews")
    assert resource is not None and custom is not None, "views resources missing from the central template"
    timeout = int(resource["Properties"]["Timeout"])
    assert timeout < int(custom["Properties"]["ServiceTimeout"])
    assert timeout > 3 * 15  # room for the function's own deadline margin


# --------------------------------------------------------------------------- faults


def fault(kind):
    def respond(_params):
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url="https://athena.eu-west-1.amazonaws.com")
        if kind == "connect-timeout":
            raise ConnectTimeoutError(endpoint_url="https://athena.eu-west-1.amazonaws.com")
        code, status = {
            "AccessDenied": ("AccessDeniedException", 400),
            "Throttling": ("ThrottlingException", 400),
            "InternalError": ("InternalServerException", 500),
        }[kind]
        return http_error(code, f"injected {kind}", status)

    return respond


KINDS = ["AccessDenied", "Throttling", "InternalError", "timeout", "connect-timeout"]


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
@pytest.mark.parametrize("operation", ["StartQueryExecution", "GetQueryExecution"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_call_failing_answers_failed_exactly_once(fn, cfn, request_type, operation, kind):
    fn.athena.respond(operation, fault(kind))
    extra = {"PhysicalResourceId": "pid"} if request_type != "Create" else {}
    if request_type == "Update":
        extra["OldResourceProperties"] = props()
    answer = run(fn, cfn, request_type, **extra)
    assert answer["Status"] == "FAILED"
    assert "injected" in answer["Reason"] or "timeout" in answer["Reason"].lower()
    assert answer["PhysicalResourceId"] == ("pid" if extra else f"{DATABASE}-views")


@pytest.mark.parametrize("kind", KINDS)
def test_failing_stop_at_the_deadline_still_answers_once(fn, cfn, kind):
    fn.athena.respond("GetQueryExecution", states(*["RUNNING"] * 10_000))
    fn.athena.respond("StopQueryExecution", fault(kind))
    answer = run(fn, cfn, remaining_s=40.0)
    assert answer["Status"] == "FAILED" and "deadline" in answer["Reason"]


def test_retry_configuration(fn):
    retries = fn.module._client("athena").meta.config.retries
    assert retries["mode"] == "standard" and retries["total_max_attempts"] >= 3


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"WorkGroup": WORKGROUP, "Database": DATABASE}, "Views"),
        (props("not json"), "Views"),
        (props([["configmic", "SELECT 1"]]), "Views"),
        (props([{"Name": 'bad"name', "Sql": "SELECT 1"}]), "Invalid view entry"),
        (props([{"Name": "v", "Sql": "  "}]), "Invalid view entry"),
        ({"WorkGroup": WORKGROUP, "Views": VIEWS}, "Database"),
        ({"Database": DATABASE, "Views": VIEWS, "WorkGroup": ""}, "WorkGroup"),
    ],
)
def test_bad_properties_answer_failed_without_queries(fn, cfn, properties, message):
    answer = run(fn, cfn, properties=properties)
    assert answer["Status"] == "FAILED" and message in answer["Reason"]
    assert fn.athena.calls == []


def test_missing_database_still_sends_a_physical_id(fn, cfn):
    answer = run(fn, cfn, properties={"Views": VIEWS})
    assert answer["PhysicalResourceId"] == "AthenaViews-views"


def test_unknown_request_type_answers_failed(fn, cfn):
    answer = run(fn, cfn, "Replace")
    assert answer["Status"] == "FAILED" and "Replace" in answer["Reason"] and fn.athena.calls == []


def test_odd_old_properties_do_not_escape(fn, cfn):
    answer = run(fn, cfn, "Update", PhysicalResourceId="pid", OldResourceProperties="garbage")
    assert answer["Status"] == "SUCCESS"  # no old database to compare: a new physical ID
    assert answer["PhysicalResourceId"] == f"{DATABASE}-views"


@pytest.mark.parametrize("event", [None, [], {}, {"RequestType": "Create"}, {"source": "aws.events"}])
def test_events_that_are_not_custom_resource_requests_are_ignored(fn, cfn, event, caplog):
    assert fn.module.handler(event, FakeContext()) is None
    assert fn.athena.calls == [] and cfn.answers == [] and "Ignored" in caplog.text


def test_huge_athena_reason_is_truncated(fn, cfn):
    fn.athena.respond("GetQueryExecution", states("FAILED", reason="x\u2603" * 10_000))
    answer = run(fn, cfn)
    assert answer["Status"] == "FAILED" and answer["Reason"].endswith("...")
    assert 4000 < len(cfn.answers[0]["body"]) <= 4096
