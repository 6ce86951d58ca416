"""Benchmark: HistoryFunction's daily runs until a backfill of 30 and of 400 export days is complete, for Athena
queries that take 5 s and 20 s, then the steady state: queries, AWS calls and (virtual) seconds per run.

S3 and Glue are moto; the Config export table holds 24 exports a day (hourly, the default ConfigExportSchedule)
for every export day. Athena is a stand-in: each UNLOAD writes one small object at its TO location and reports
RUNNING until the query's latency has passed on the function's virtual clock (the function sleeps on that clock,
so nothing waits). moto returns every partition in one GetPartitions response; here it is served in pages of the
requested MaxResults, as Glue pages it. Calls are counted per API call, before botocore's retry layer. The code
run is the one inlined in templates/patch-compliance.yaml once the function is there, else the one inlined in a
central template built in-process. One run per scenario, not a timed test.

Each run is a new container on the next day (00:15 UTC). Goals: every export day of the retention window is
recorded exactly once; no run ends later than the Lambda timeout minus the stop margin; yesterday is recorded by
every run; the steady state starts 2 queries (one per table) and lists the recorded days (one GetPartitions page)
and the exports of the retention window (one page per 1,000 exports), nothing more.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import re
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support from this checkout

from patchcompliance import constants as c  # noqa: E402
from patchcompliance.config_export import EXPORT_TABLE_NAME  # noqa: E402
from tests.support import catalog  # noqa: E402
from tests.support import functions as lib  # noqa: E402
from tests.support.templates import load_template, parse_template  # noqa: E402

BUCKET, RESULTS, DATABASE, WORKGROUP = "pc-config-bench", "pc-results-bench", "patch_compliance", "pc-wg"
FIRST_RUN = datetime.datetime(2026, 3, 1, 0, 15, tzinfo=datetime.UTC)
SCENARIOS = ((30, 5.0), (30, 20.0), (400, 5.0), (400, 20.0))  # (export days, seconds per query)
RETENTION = 400  # HistoryRetentionDays default
UNLOAD_TO = re.compile(r" TO '(s3://[^']+)' WITH ")


def central() -> tuple[dict, str]:
    if lib.template_resource(*lib.FUNCTIONS["history"]) is not None:
        return load_template("patch-compliance.yaml"), "templates/patch-compliance.yaml"
    from patchcompliance.central import build_central
    from patchcompliance.render import to_yaml

    return parse_template(to_yaml(build_central())), "a central template built in-process"


def setup(template: dict, export_days: int) -> dict:
    """Buckets, the history and export tables, 24 exports a day before FIRST_RUN; the function's environment."""
    import boto3

    resources = template["Resources"]
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    values.update(ConfigBucket=BUCKET, AthenaDatabase=DATABASE, AthenaWorkGroup=WORKGROUP)
    values["HistoryRetentionDays"] = str(RETENTION)
    tables = {k: r["Properties"]["TableInput"]["Name"] for k, r in resources.items() if r["Type"] == "AWS::Glue::Table"}
    resolve = catalog.Resolver({**values, **tables})
    s3, glue = boto3.client("s3"), boto3.client("glue")
    for bucket in (BUCKET, RESULTS):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": lib.REGION})
    glue.create_database(DatabaseInput={"Name": DATABASE})
    wanted = (c.COMPLIANCE_HISTORY_TABLE_NAME, c.PATCH_HISTORY_TABLE_NAME, EXPORT_TABLE_NAME)
    for resource in resources.values():
        if resource["Type"] == "AWS::Glue::Table" and resource["Properties"]["TableInput"]["Name"] in wanted:
            glue.create_table(DatabaseName=DATABASE, TableInput=resolve(resource["Properties"]["TableInput"]))
    descriptor = glue.get_table(DatabaseName=DATABASE, Name=EXPORT_TABLE_NAME)["Table"]["StorageDescriptor"]
    inputs = []
    for d in range(1, export_days + 1):
        day = FIRST_RUN.date() - datetime.timedelta(days=d)
        for hour in range(24):
            export_id = f"{day:%Y%m%d}T{hour:02d}0000Z"
            location = f"s3://{BUCKET}/config-export/export_id={export_id}/"
            inputs.append({"Values": [export_id], "StorageDescriptor": dict(descriptor, Location=location),
                           "Parameters": {"instance_rows": "1000"}})  # fmt: skip
    for start in range(0, len(inputs), 100):
        glue.batch_create_partition(
            DatabaseName=DATABASE, TableName=EXPORT_TABLE_NAME, PartitionInputList=inputs[start : start + 100]
        )
    return resolve(resources[c.HISTORY_FUNCTION]["Properties"]["Environment"]["Variables"])


class LatentAthena:
    """UNLOAD that takes `latency` seconds on the virtual clock and writes one object at its TO location."""

    def __init__(self, s3, clock, latency: float):
        self.s3, self.clock, self.latency = s3, clock, latency
        self.started: dict[str, float] = {}

    def start(self, params):
        qid = str(uuid.uuid4())
        bucket, prefix = UNLOAD_TO.search(params["QueryString"])[1].removeprefix("s3://").split("/", 1)
        self.s3.put_object(Bucket=bucket, Key=f"{prefix}{qid}", Body=b"PAR1")
        self.started[qid] = self.clock.now
        return {"QueryExecutionId": qid}

    def get(self, params):
        qid = params["QueryExecutionId"]
        done = self.clock.now - self.started[qid] >= self.latency
        return {"QueryExecution": {"QueryExecutionId": qid, "Status": {"State": "SUCCEEDED" if done else "RUNNING"}}}

    def stop(self, params):
        self.started[params["QueryExecutionId"]] = float("-inf")
        return {}


def paged_get_partitions(params, _listing={}):  # noqa: B006 - moto's full answer, read once per paged listing
    """GetPartitions as Glue pages it: at most MaxResults, then a NextToken (the Expression applied by moto)."""
    import boto3

    if not params.get("NextToken"):
        query = {k: params[k] for k in ("DatabaseName", "TableName", "Expression") if k in params}
        _listing["all"] = boto3.client("glue").get_partitions(**query)["Partitions"]
    everything = _listing["all"]
    start, size = int(params.get("NextToken") or 0), params["MaxResults"]
    page = {"Partitions": everything[start : start + size]}
    if start + size < len(everything):
        page["NextToken"] = str(start + size)
    return page


def one_run(code: str, day: int, latency: float) -> tuple[dict, dict, float]:
    import boto3

    module = lib.load_function("history", code=code)
    clock = lib.VirtualClock()
    now = FIRST_RUN + datetime.timedelta(days=day)
    module._now = lambda: now + datetime.timedelta(seconds=clock.now)
    module._sleep = clock.sleep
    athena = LatentAthena(boto3.client("s3"), clock, latency)
    hooks = lib.Hooks(module._client("athena"))
    hooks.respond("StartQueryExecution", athena.start)
    hooks.respond("GetQueryExecution", athena.get)
    hooks.respond("StopQueryExecution", athena.stop)
    glue, s3 = lib.Hooks(module._client("glue")), lib.Hooks(module._client("s3"))
    glue.respond("GetPartitions", paged_get_partitions)
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "time": f"{now:%Y-%m-%dT%H:%M:%SZ}"}
    summary = module.handler(event, lib.FakeContext(module_timeout(), clock))
    ops = hooks.ops() + glue.ops() + s3.ops()
    return summary, {op: ops.count(op) for op in sorted(set(ops))}, clock.now


def module_timeout() -> float:
    from patchcompliance.history import TIMEOUT

    return float(TIMEOUT)


def scenario(code: str, template: dict, export_days: int, latency: float) -> tuple[bool, list[str]]:
    import boto3
    from moto import mock_aws

    lines, ok = [], True
    with mock_aws():
        os.environ.update(setup(template, export_days))
        glue = boto3.client("glue")
        window = RETENTION - 2  # days the backfill may use: today-(RETENTION-2) .. today-2
        for day in range(0, 30):
            summary, calls, seconds = one_run(code, day, latency)
            backfilled = len(summary["backfill"]["recorded"])
            lines.append(
                f"{export_days:>5} {latency:>5.0f} {day + 1:>4} {summary['outcome']:<10} {backfilled:>10} "
                f"{summary['backfill']['deferred']:>8} {calls.get('StartQueryExecution', 0):>7} "
                f"{sum(n for op, n in calls.items() if op not in ('StartQueryExecution',)):>9} {seconds:>8.0f}"
            )
            ok &= seconds <= module_timeout() and summary["outcome"] in ("complete", "incomplete")
            ok &= [d["outcome"] for d in summary["days"] if d["source"] == "views"] == ["recorded"]
            if summary["outcome"] == "complete":
                break
        recorded = [p["Values"][0] for p in glue.get_partitions(
            DatabaseName=DATABASE, TableName=c.COMPLIANCE_HISTORY_TABLE_NAME)["Partitions"]]  # fmt: skip
        today = FIRST_RUN.date() + datetime.timedelta(days=day)
        expected = {(FIRST_RUN.date() - datetime.timedelta(days=d)).isoformat() for d in range(1, export_days + 1)}
        expected = {d for d in expected if d >= (today - datetime.timedelta(days=window)).isoformat()}
        expected |= {(FIRST_RUN.date() + datetime.timedelta(days=d - 1)).isoformat() for d in range(day + 1)}
        ok &= len(recorded) == len(set(recorded)) and set(recorded) == expected
        summary, calls, seconds = one_run(code, day + 1, latency)
        listed = min(export_days, RETENTION) * 24  # exports in the listing window
        pages = 1 + math.ceil(listed / 1000)  # the compliance history's days (one page) + the exports
        steady = calls.get("StartQueryExecution") == 2 and calls.get("GetPartitions") == pages
        ok &= steady and summary["outcome"] == "complete" and not summary["backfill"]["recorded"]
        others = sum(n for op, n in calls.items() if op != "StartQueryExecution")
        lines.append(
            f"{export_days:>5} {latency:>5.0f} {'next':>4} {'steady':<10} {0:>10} {0:>8} "
            f"{calls.get('StartQueryExecution', 0):>7} {others:>9} {seconds:>8.0f}"
        )
        lines.append(f"      steady state: {calls} ({listed:,} exports listed in {pages - 1} pages)")
    return ok, lines


def main() -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=lib.REGION)
    logging.disable(logging.WARNING)
    template, origin = central()
    code = template["Resources"][c.HISTORY_FUNCTION]["Properties"]["Code"]["ZipFile"]
    module = lib.load_function("history", code=code)
    print(f"history: code from {origin}; timeout {module_timeout():.0f} s, at most {module.MAX_RUNNING} queries in "
          f"flight, no day started in the last {module.START_MARGIN_S:.0f} s; 24 exports a day")  # fmt: skip
    header = (
        f"{'days':>5} {'s/q':>5} {'run':>4} {'outcome':<10} {'backfilled':>10} {'deferred':>8} {'queries':>7} "
        f"{'calls':>9} {'seconds':>8}"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for export_days, latency in SCENARIOS:
        good, lines = scenario(code, template, export_days, latency)
        ok &= good
        print("\n".join(lines))
    print(f"history: goals {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
