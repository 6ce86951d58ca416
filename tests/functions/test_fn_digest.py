"""DigestFunction against moto (S3, SNS delivering to SQS, Security Hub), a fake ListStackInstances and PutEvents,
and Athena answered by the local engine running the function's own SQL (tests/support/fake_athena.py) over a
hand-made organisation with its truth (tests/support/digest_data.py).

The code run is the one inlined in the central template once the function is wired in, else
functions/digest/index.py. Every invocation is a fresh module (a cold container): what a rerun knows is in S3.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import sqlglot

from patchcompliance import digest
from tests.support import digest_data as dd
from tests.support import functions as lib
from tests.support.digest_world import World, load_function
from tests.support.report_browser import element_texts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@pytest.fixture
def small(aws, tmp_path, monkeypatch, now):
    org, truth = dd.small_org(now)
    world = World(org, tmp_path, monkeypatch)
    # yesterday's state: i-0a2 was already breached and A2/eu-west-1 already stale
    yesterday = (now.date() - datetime.timedelta(days=1)).isoformat()
    previous = {
        "day": yesterday,
        "breached_nodes": [f"{dd.A1}/{dd.EU}/i-0a2"],
        "problem_feeds": [f"{dd.A2}/{dd.EU}"],
        "events_sent": [],
        "published": True,
    }
    world.s3.put_object(
        Bucket=dd.RESULTS_BUCKET, Key=f"{digest.STATE_PREFIX}{yesterday}.json", Body=json.dumps(previous)
    )
    return world, truth


def section(text: str, title: str) -> list[str]:
    """The lines of the message section that starts with `title`, up to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


# --------------------------------------------------------------------------- content


def test_message_events_report_and_findings_match_the_truth(small, now):
    world, truth = small
    outcome = world.run(now)
    [message] = world.messages()
    text, day = message["Message"], now.date()

    lines = section(text, "Nodes by compliance state")
    states = {m[1]: int(m[2].replace(",", "")) for m in (re.match(r"^  ([A-Z_]+) +([\d,]+)", x) for x in lines) if m}
    assert states == truth.states
    changes = {}
    for line in lines:
        match = re.match(r"^  ([A-Z_]+) +[\d,]+ \(([-+=\d,]+)\)$", line)
        if match:
            changes[match[1]] = 0 if match[2] == "=" else int(match[2].replace(",", ""))
    assert changes == truth.trend_changes
    assert f"  Compliant: {100 * 3 / 10:.1f} %" in text  # COMPLIANT / all but TERMINATED, STOPPED, EXEMPT
    assert (
        f"  Breached: {truth.breached_patches} patches on {len(truth.breached_nodes)} nodes (2 newly breached)" in text
    )
    assert f"  Due within 3 days: {truth.due_patches} patches on {truth.due_nodes} nodes" in text
    shown = [line.split()[:3] for line in section(text, "Patch SLAs") if line.startswith("    ") and ":" in line]
    assert [" ".join(s).split(" (")[0].replace(" ", "/") for s in shown[:3]] == list(truth.breached_nodes)
    top = [tuple(line.split()[1:]) for line in section(text, "Accounts with the most")[1:]]
    assert top == [(a, str(n)) for a, n in truth.top_accounts]
    counts = {s: sum(1 for v in truth.coverage.values() if v == s) for s in ("MISSING", "STALE", "OK")}
    assert (
        f"  MISSING {counts['MISSING']}, STALE {counts['STALE']}, OK {counts['OK']} account/region pairs "
        f"({len(dd.small_org(now)[0].targets)} expected from the StackSet)" in text
    )
    assert f"latest complete export {dd.EXPORT_ID}" in text  # the newer, unregistered export is not read
    assert "stack instance FAILED" in text  # why A4 is missing
    assert message["Subject"].startswith(f"Patch compliance {day}: 4 non-compliant, 3 nodes past SLA, 3 feed")
    assert len(message["Subject"]) < 100 and message["Subject"].isascii()
    assert outcome["message_bytes"] == len(text.encode()) <= 64 * 1024

    # events: newly breached nodes (i-0a2 was breached yesterday) and newly stale/missing feeds (A2/eu-west-1 was)
    sla = {f"{e['accountId']}/{e['region']}/{e['instanceId']}": e for e in world.events_of("Patch SLA Breached")}
    assert set(sla) == set(truth.breached_nodes) - {f"{dd.A1}/{dd.EU}/i-0a2"}
    for key, event in sla.items():
        patches, oldest, label = truth.breached_nodes[key]
        assert (event["breachedPatchCount"], event["oldestSlaDue"], event["severity"]) == (
            patches,
            oldest.isoformat(),
            label,
        )
        assert event["date"] == day.isoformat() and len(event["patchIds"]) == patches
    assert sla[f"{dd.A1}/{dd.EU}/i-0a1"]["patchIds"] == ["KB0000001", "KB0000002"]
    feeds = {f"{e['accountId']}/{e['region']}": e for e in world.events_of("Compliance Feed Stale")}
    problems = {k for k, v in truth.coverage.items() if v != "OK"}
    assert set(feeds) == problems - {f"{dd.A2}/{dd.EU}"}
    assert feeds[f"{dd.A4}/{dd.EU}"]["coverageState"] == "MISSING"
    assert feeds[f"{dd.A4}/{dd.EU}"]["stackInstanceStatus"] == "FAILED"
    assert all(e["Source"] == digest.EVENT_SOURCE for e in world.delivered)
    assert all(e["Resources"][0].startswith("arn:aws:ec2:") for e in world.delivered if "SLA" in e["DetailType"])

    # report: every non-compliant node once in the CSV; the HTML's numbers say the same
    rows = list(
        csv.DictReader(io.StringIO(world.object(f"{digest.REPORTS_PREFIX}{day}/non-compliant-nodes.csv").decode()))
    )
    assert {f"{r['account_id']}/{r['region']}/{r['instance_id']}": int(r["breached_patches"]) for r in rows} == (
        truth.report_rows
    )
    formula = next(r for r in rows if r["instance_id"] == "i-0b1")
    assert formula["instance_name"] == "'" + dd.FORMULA_NAME  # a spreadsheet shows it as text
    page = world.object(f"{digest.REPORTS_PREFIX}{day}/summary.html").decode()
    ids = element_texts(page)
    assert ids["nodes-count"] == str(len(rows)) and ids["state-NON_COMPLIANT"] == "4"
    assert ids["sla-breached-patches"] == str(truth.breached_patches)
    assert {k[len("account-") :]: int(v) for k, v in ids.items() if k.startswith("account-")} == dict(
        truth.top_accounts
    )
    assert "<script" not in page.lower() and "=HYPERLINK(&quot;" in page  # escaped, never markup
    for kind in ("summary.html", "non-compliant-nodes.csv"):
        url = next(line.split(": ", 1)[1] for line in text.splitlines() if kind in line and "https://" in line)
        query = parse_qs(urlparse(url).query)
        assert urlparse(url).netloc == f"{dd.RESULTS_BUCKET}.s3.{lib.REGION}.amazonaws.com"
        assert query["X-Amz-Expires"] == [str(168 * 3600)] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]

    # Security Hub: one active finding per breached node, in this account, with a stable Id
    findings = world.findings()
    assert set(findings) == {f"{digest.FINDING_GENERATOR}/{k}" for k in truth.breached_nodes}
    finding = findings[f"{digest.FINDING_GENERATOR}/{dd.A1}/{dd.EU}/i-0a1"]
    assert finding["ProductArn"] == f"arn:aws:securityhub:{lib.REGION}:{lib.ACCOUNT}:product/{lib.ACCOUNT}/default"
    assert finding["AwsAccountId"] == lib.ACCOUNT and finding["RecordState"] == "ACTIVE"
    assert finding["Resources"] == [
        {"Type": "AwsEc2Instance", "Id": f"arn:aws:ec2:{dd.EU}:{dd.A1}:instance/i-0a1", "Partition": "aws",
         "Region": dd.EU}
    ]  # fmt: skip
    assert finding["FindingProviderFields"] == {
        "Severity": {"Label": "CRITICAL"},
        "Types": ["Software and Configuration Checks/Patch Management"],
    }
    assert finding["Compliance"] == {"Status": "FAILED"} and finding["Workflow"] == {"Status": "NEW"}


def test_coverage_view_states_and_ages(small, now):
    world, truth = small
    world.run(now)  # writes expected_targets
    world.sync()
    columns, rows = world.engine.query("SELECT * FROM coverage")
    assert columns == list(COVERAGE_COLUMNS)
    got = {f"{r[0]}/{r[1]}": dict(zip(columns, r, strict=True)) for r in rows}
    assert {k: v["coverage_state"] for k, v in got.items()} == truth.coverage
    assert got[f"{dd.A5}/{dd.AP}"]["expected"] is False and got[f"{dd.A4}/{dd.EU}"]["expected"] is True
    quiet = got[f"{dd.A1}/{dd.US}"]  # Config 200 h old but SSM fresh: OK
    assert 199 < quiet["config_age_hours"] < 202 and quiet["ssm_age_hours"] < 6
    assert 99 < got[f"{dd.A2}/{dd.EU}"]["ssm_age_hours"] < 102
    assert got[f"{dd.A4}/{dd.EU}"]["config_last_capture"] is None  # its rows are only in the unregistered export


def test_threshold_comes_from_the_parameter(small, now, monkeypatch):
    world, truth = small
    monkeypatch.setenv("FEED_STALE_AFTER_HOURS", "120")
    world.run(now)
    world.sync()
    _, rows = world.engine.query("SELECT account_id, region, coverage_state FROM coverage")
    states = {f"{a}/{r}": s for a, r, s in rows}
    assert states[f"{dd.A2}/{dd.EU}"] == "OK"  # 100 h old SSM is fresh enough at 120 h
    assert {k: v for k, v in states.items() if k != f"{dd.A2}/{dd.EU}"} == {
        k: v for k, v in truth.coverage.items() if k != f"{dd.A2}/{dd.EU}"
    }
    expected = [json.loads(line) for line in world.object(digest.EXPECTED_TARGETS_KEY).decode().splitlines()]
    assert {e["stale_after_hours"] for e in expected} == {120}
    assert [(e["account_id"], e["region"], e["status"]) for e in expected] == sorted(world.org.targets)
    assert list(expected[0]) == [name for name, _ in digest.EXPECTED_TARGETS_COLUMNS]


def test_hybrid_node_finding_and_event_name_the_managed_instance(aws, tmp_path, monkeypatch, now):
    org, _ = dd.small_org(now)
    org.patches.append(dd.patch(dd.A1, dd.EU, "mi-0a5", "KB0000009", "BREACHED", now.date() - datetime.timedelta(3)))
    world = World(org, tmp_path, monkeypatch)
    world.run(now)
    arn = f"arn:aws:ssm:{dd.EU}:{dd.A1}:managed-instance/mi-0a5"
    [event] = [e for e in world.delivered if "mi-0a5" in e["Detail"]]
    assert event["Resources"] == [arn]
    finding = world.findings()[f"{digest.FINDING_GENERATOR}/{dd.A1}/{dd.EU}/mi-0a5"]
    assert finding["Resources"][0]["Type"] == "Other" and finding["Resources"][0]["Id"] == arn


# --------------------------------------------------------------------------- reruns


def test_rerun_the_same_day_sends_nothing_twice(small, now):
    world, _ = small
    first = world.run(now)
    events, findings = list(world.delivered), world.findings()
    second = world.run(now + datetime.timedelta(minutes=30))
    assert len(world.messages()) == 1
    assert second["message_id"] is None and first["message_id"]
    assert world.delivered == events and second["events_put"] == 0
    assert world.findings().keys() == findings.keys()  # re-imported under the same Ids: updated, not added
    assert world.state(now.date())["published"] is True


def test_next_day_archives_fixed_nodes_and_reports_only_new_breaches(small, now):
    world, truth = small
    world.run(now)
    world.messages()
    tomorrow = now + datetime.timedelta(days=1)
    world.engine.con.execute("DELETE FROM patch_age WHERE instance_id = 'i-0a2'")  # patched
    world.engine.con.execute(
        "INSERT INTO patch_age SELECT * REPLACE ('i-0a3' AS instance_id, 'BREACHED' AS sla_state) FROM patch_age "
        "WHERE patch_id = 'KB0000006'"
    )
    before = len(world.delivered)
    world.run(tomorrow)
    new = world.delivered[before:]
    assert [json.loads(e["Detail"])["instanceId"] for e in new if e["DetailType"] == "Patch SLA Breached"] == ["i-0a3"]
    assert not [e for e in new if e["DetailType"] == "Compliance Feed Stale"]  # same feeds as the day before
    findings = world.findings()
    fixed = findings[f"{digest.FINDING_GENERATOR}/{dd.A1}/{dd.EU}/i-0a2"]
    assert fixed["RecordState"] == "ARCHIVED" and fixed["Compliance"] == {"Status": "PASSED"}
    kept = findings[f"{digest.FINDING_GENERATOR}/{dd.A1}/{dd.EU}/i-0a1"]
    assert kept["RecordState"] == "ACTIVE" and kept["CreatedAt"] < kept["UpdatedAt"]  # CreatedAt kept from day 1
    assert findings[f"{digest.FINDING_GENERATOR}/{dd.A2}/{dd.EU}/i-0a3"]["RecordState"] == "ACTIVE"
    assert len(world.messages()) == 2


def test_failed_event_entries_are_retried_and_sent_once(small, now):
    world, _ = small
    world.event_failures = [{0, 2}, {0}]  # first call: entries 0 and 2 fail; their retry: entry 0 fails again
    world.run(now)
    keys = [(e["DetailType"], e["Detail"]) for e in world.delivered]
    assert len(keys) == len(set(keys)) == 4
    assert world.put_calls == [4, 2, 1]
    assert len(world.state(now.date())["events_sent"]) == 4


def test_events_go_ten_at_a_time(aws, tmp_path, monkeypatch, now):
    org = dd.big_org(now, accounts=23)  # 46 breached nodes and 46 missing feeds
    world = World(org, tmp_path, monkeypatch, security_hub=False)
    world.run(now)
    assert sum(world.put_calls) == len(world.delivered) == 92
    assert max(world.put_calls) == 10 and len(world.put_calls) == 10


def test_findings_are_imported_a_hundred_at_a_time(aws, tmp_path, monkeypatch, now):
    world = World(dd.big_org(now, accounts=125), tmp_path, monkeypatch)  # 250 breached nodes
    sizes = []

    def record(params):
        sizes.append(len(params["Findings"]))
        return {"FailedCount": 0, "SuccessCount": len(params["Findings"]), "FailedFindings": []}

    world.import_findings = record
    world.run(now)
    assert sizes == [100, 100, 50]


def test_failed_findings_are_retried(small, now):
    world, truth = small
    calls = []

    def flaky(params):
        calls.append([f["Id"] for f in params["Findings"]])
        if len(calls) == 1:
            first = params["Findings"][0]["Id"]
            return {"FailedCount": 1, "SuccessCount": 2, "FailedFindings": [
                {"Id": first, "ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}  # fmt: skip
        return None  # moto imports them

    world.import_findings = flaky
    world.run(now)
    assert len(calls) == 2 and calls[1] == calls[0][:1]
    assert list(world.findings()) == calls[1]  # only the retry reached moto (the first call was answered here)


# --------------------------------------------------------------------------- size and no data


def test_message_stays_under_the_limit_for_5000_accounts(aws, tmp_path, monkeypatch, now):
    world = World(dd.big_org(now, accounts=5000), tmp_path, monkeypatch, security_hub=False)
    outcome = world.run(now)
    [message] = world.messages()
    text = message["Message"]
    assert len(text.encode()) == outcome["message_bytes"] <= 64 * 1024
    assert "  NON_COMPLIANT     10,000" in text
    assert "  Breached: 10,000 patches on 10,000 nodes (10,000 newly breached)" in text
    assert "  MISSING 10,000, STALE 0, OK 0 account/region pairs (10,000 expected from the StackSet)" in text
    for title, total in (("Patch SLAs", 10_000), ("Accounts with the most", 5_000), ("Data feeds", 10_000)):
        lines = section(text, title)
        listed = [line for line in lines if re.match(r"^    (MISSING +)?\d{12} |^ +\d+\. \d{12} ", line)]
        [more] = [line for line in lines if "… and" in line]
        assert int(re.search(r"and ([\d,]+) more", more)[1].replace(",", "")) == total - len(listed)
    assert len(world.delivered) == 20_000 and outcome["report_rows"] == 10_000


def test_lists_shrink_until_the_message_fits(small, now):
    world, truth = small
    world.engine.con.execute("UPDATE instance_compliance SET instance_name = repeat('é', 250)")
    outcome = world.run(now, limit=3_000)
    [message] = world.messages()
    text = message["Message"]
    assert outcome["message_bytes"] == len(text.encode()) <= 3_000
    lines = section(text, "Patch SLAs")
    listed = [line for line in lines if re.match(r"^    \d{12} ", line)]
    more = [int(re.search(r"and ([\d,]+) more", line)[1]) for line in lines if "… and" in line]
    assert len(listed) + sum(more) == len(truth.breached_nodes) + truth.due_nodes
    assert "Report" in text and "Summary (HTML): https://" in text  # the links are never cut


def test_no_data_yet_says_what_is_missing(aws, tmp_path, monkeypatch, now):
    org = dd.Org(day=now.date(), now=now, views=False)
    world = World(org, tmp_path, monkeypatch, coverage_view=False)
    outcome = world.run(now)
    [message] = world.messages()
    text = message["Message"]
    assert "No compliance data yet" in text
    for view in ("instance_compliance", "compliance_trend", "patch_age", "coverage"):
        assert re.search(rf"  {view}: not available: TABLE_NOT_FOUND: .*\.{view}' does not exist", text), view
    assert "Config export: no complete export yet" not in text  # the fixture registered one (with no rows)
    assert set(outcome["missing"]) == {"states", "trend", "breached", "due", "accounts", "coverage", "nodes"}
    assert outcome["report_rows"] == 0 and not world.delivered


def test_empty_views_say_no_rows_yet(aws, tmp_path, monkeypatch, now):
    org = dd.Org(day=now.date(), now=now)
    world = World(org, tmp_path, monkeypatch)
    outcome = world.run(now)
    [message] = world.messages()
    text = message["Message"]
    assert "No compliance data yet" in text and "  instance_compliance: no rows yet" in text
    assert "MISSING 0, STALE 0, OK 0 account/region pairs (0 expected from the StackSet)" in text
    assert outcome["missing"] == []


# --------------------------------------------------------------------------- access denied


CALLS = [
    ("s3", "ListObjectsV2"),
    ("s3", "GetObject"),
    ("cloudformation", "ListStackInstances"),
    ("s3", "PutObject"),
    ("athena", "StartQueryExecution"),
    ("athena", "GetQueryExecution"),
    ("athena", "GetQueryResults"),
    ("events", "PutEvents"),
    ("securityhub", "BatchImportFindings"),
    ("sns", "Publish"),
]
SENT_BEFORE = {("securityhub", "BatchImportFindings"): {"events"}, ("sns", "Publish"): {"events", "findings"}}


@pytest.mark.parametrize(("service", "operation"), CALLS)
def test_access_denied_ends_with_a_clear_error_and_nothing_half_sent(small, now, service, operation):
    world, truth = small
    world.deny[(service, operation)] = True
    with pytest.raises(Exception) as info:
        world.run(now)
    assert type(info.value).__name__ == "DigestError"
    assert str(info.value).startswith(f"Access denied on {service}:{operation}: ")
    assert world.messages() == []
    sent = SENT_BEFORE.get((service, operation), set())
    assert bool(world.delivered) == ("events" in sent)
    assert bool(world.findings()) == ("findings" in sent)
    # fixed: the rerun completes and sends each thing once
    events = list(world.delivered)
    world.deny.clear()
    world.run(now)
    assert len(world.messages()) == 1
    assert len(world.delivered) == len(events) + (0 if "events" in sent else 4)
    assert len(world.findings()) == len(truth.breached_nodes)


def test_denied_query_is_an_error_not_missing_data(small, now):
    world, _ = small
    world.athena.fail_with("patch_age", "Permission denied on S3 path: s3://central-datasync-bucket/inventory/x")
    with pytest.raises(Exception, match=r"Access denied running the (breached|due) query"):
        world.run(now)
    assert world.messages() == [] and not world.delivered


def test_other_query_failures_are_errors(small, now):
    world, _ = small
    world.athena.fail_with("coverage", "HIVE_BAD_DATA: Error parsing field value")
    with pytest.raises(Exception, match="The coverage query .* FAILED: HIVE_BAD_DATA"):
        world.run(now)
    assert world.messages() == []


# --------------------------------------------------------------------------- contracts


COVERAGE_COLUMNS = (  # the coverage view's contract
    "account_id", "region", "expected", "config_last_capture", "config_age_hours", "ssm_last_capture",
    "ssm_age_hours", "coverage_state",
)  # fmt: skip


def test_every_query_is_trino_sql_on_contract_columns(now):
    """Each query parses as Trino, and reads only columns of the view contract (or its own aliases)."""
    queries = load_function()._queries(now.date(), digest.DUE_SOON_DAYS)
    contract = {name: {c for c, _ in columns} for name, columns in dd.CONTRACT.items()}
    contract["coverage"] = set(COVERAGE_COLUMNS)
    contract["config_export$partitions"] = {"export_id"}
    for name, sql in queries.items():
        tree = sqlglot.parse_one(sql, read="trino")
        ctes = {cte.alias for cte in tree.find_all(sqlglot.exp.CTE)}
        tables = {table.name for table in tree.find_all(sqlglot.exp.Table)} - ctes
        assert tables <= set(contract), (name, tables)
        known = set().union(*(contract[t] for t in tables)) | {a.alias for a in tree.find_all(sqlglot.exp.Alias)}
        used = {column.name for column in tree.find_all(sqlglot.exp.Column)}
        assert used <= known, (name, used - known)
    assert set(queries) == {"states", "trend", "breached", "due", "accounts", "coverage", "export", "nodes"}


def test_readme_documents_the_events_the_function_puts(small, now):
    world, _ = small
    world.run(now)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for detail_type in ("Patch SLA Breached", "Compliance Feed Stale"):
        heading = readme.index(f"#### Detail of `{detail_type}`")
        table = readme[heading:].split("\n\n")[1]
        documented = re.findall(r"^\| `(\w+)` \|", table, re.M)
        [emitted, *_] = world.events_of(detail_type)
        assert documented == list(emitted), detail_type
    assert f"`source`: `{digest.EVENT_SOURCE}`" in readme


def test_contract_tables_have_the_columns_of_the_real_views():
    """The stand-in tables of tests/support/digest_data.py have exactly the output columns of the views' SQL."""
    from patchcompliance.render import SQL_DIR, view_sql

    for view, columns in dd.CONTRACT.items():
        assert (SQL_DIR / f"{view}.sql").exists(), view
        sql = re.sub(r"\$\{\w+\}", "1", view_sql(view))  # parameters the stack substitutes
        tree = sqlglot.parse_one(sql, read="trino")
        assert [e.alias_or_name for e in tree.expressions] == [c for c, _ in columns], view


def test_coverage_is_one_trino_select_on_unqualified_tables():
    from patchcompliance.render import view_sql

    statements = [s for s in sqlglot.parse(view_sql("coverage"), read="trino") if s is not None]
    assert len(statements) == 1 and isinstance(statements[0], sqlglot.exp.Select)
    tables = {t.name for t in statements[0].find_all(sqlglot.exp.Table) if not (t.db or t.catalog)}
    ctes = {cte.alias for cte in statements[0].find_all(sqlglot.exp.CTE)}
    assert tables - ctes == {digest.EXPECTED_TARGETS_TABLE_NAME, "config_export_latest", "aws_instanceinformation"}
    assert [e.alias_or_name for e in statements[0].expressions] == list(COVERAGE_COLUMNS)
