"""The digest's HTML report rendered by a real headless browser (Debian's chromium): the numbers it shows match
the CSV written next to it, and it renders to a screenshot. Without chromium the test is skipped locally and
fails in CI (CI=true), which installs it (`apt-get install -y chromium`)."""

from __future__ import annotations

import csv
import datetime
import io
import os
import struct

import pytest

from patchcompliance import digest
from tests.support import digest_data as dd
from tests.support.digest_world import World
from tests.support.report_browser import dump_dom, element_texts, find_chromium, screenshot


def chromium() -> str:
    binary = find_chromium()
    if binary:
        return binary
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; CI must install it (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI fails here instead of skipping")


def test_report_renders_and_its_numbers_match_the_csv(aws, tmp_path, monkeypatch):
    binary = chromium()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    org, truth = dd.small_org(now)
    world = World(org, tmp_path / "world", monkeypatch)
    world.run(now)
    prefix = f"{digest.REPORTS_PREFIX}{now.date().isoformat()}/"
    page = tmp_path / "summary.html"
    page.write_bytes(world.object(f"{prefix}summary.html"))
    rows = list(csv.DictReader(io.StringIO(world.object(f"{prefix}non-compliant-nodes.csv").decode())))

    dom = dump_dom(binary, page)
    ids = element_texts(dom)
    assert "<script" not in dom.lower() and dom.count("<table") == 5
    assert int(ids["nodes-count"]) == len(rows) == int(ids["state-NON_COMPLIANT"])
    per_account = {}
    for row in rows:
        per_account[row["account_id"]] = per_account.get(row["account_id"], 0) + 1
    assert {k.removeprefix("account-"): int(v) for k, v in ids.items() if k.startswith("account-")} == per_account
    # every node past its SLA in the fixture is non-compliant, so the CSV holds all breached patches
    assert int(ids["sla-breached-patches"]) == sum(int(r["breached_patches"]) for r in rows) == truth.breached_patches
    assert int(ids["sla-breached-nodes"]) == sum(1 for r in rows if int(r["breached_patches"])) == 3
    assert int(ids["state-total"]) == sum(truth.states.values())
    node_table = dom[dom.index('id="nodes-count"') :]
    assert node_table.count("<tr>") == len(rows) + 1  # header + one row per CSV row

    png = screenshot(binary, page, tmp_path / "report.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1100, 1500)  # IHDR width, height
