"""Regenerate docs/report-example.png: the digest's HTML report for the hand-made organisation of
tests/support/digest_data.py (small_org), written by the real function under moto and rendered by headless chromium.

    .venv/bin/python -m tests.support.report_example [PNG]      (default: docs/report-example.png)
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _Env:
    def setenv(self, name: str, value: str) -> None:
        os.environ[name] = value


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else ROOT / "docs" / "report-example.png"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():  # fmt: skip
        os.environ[name] = value
    from moto import mock_aws

    from patchcompliance import digest

    from . import digest_data as dd
    from .digest_world import World
    from .report_browser import find_chromium, screenshot

    binary = find_chromium()
    if binary is None:
        print("chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 1
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        org, _ = dd.small_org(now)
        world = World(org, Path(tmp) / "world", _Env())
        world.run(now)
        page = Path(tmp) / "summary.html"
        page.write_bytes(world.object(f"{digest.REPORTS_PREFIX}{now.date().isoformat()}/summary.html"))
        screenshot(binary, page, target, width=1000, height=1050)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
