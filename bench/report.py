"""Run benchmarks and record their output as the latest figures in bench/README.md (what `make bench` runs).

    python bench/report.py [SCRIPT ...] [--readme PATH]

Runs each SCRIPT (default: every bench/bench_*.py, in name order) with this interpreter from the repository
root, echoing its stdout while capturing it. A script that exits 0 has its region of bench/README.md, between
`<!-- BEGIN <script stem> -->` and `<!-- END <script stem> -->`, replaced by the date, the machine and the
captured stdout; the file is rewritten after each script, so an interrupted run keeps what finished. A script
that fails leaves its region as it was, and the report exits 1 after running the others. Every script's region
is checked before anything runs: a missing marker is an error, not a silent skip.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # patchcompliance, also when the package is not installed

from patchcompliance.docs import update_regions  # noqa: E402 (no third-party imports)

README = ROOT / "bench" / "README.md"


def run(script: Path) -> tuple[int, str]:
    """Run one benchmark; its stdout is echoed line by line and returned, stderr goes straight through."""
    with subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        lines = []
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    return proc.returncode, "".join(lines)


def write(path: Path, text: str) -> None:
    """Write next to the target and rename, so an interrupted run never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def region(stdout: str, today: datetime.date) -> str:
    machine = f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs"
    return f"Measured {today.isoformat()} by `make bench` ({machine}):\n\n```text\n{stdout.rstrip()}\n```"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", type=Path, help="default: every bench/bench_*.py")
    parser.add_argument("--readme", type=Path, default=README, help="file with the marked regions")
    args = parser.parse_args(argv)
    scripts = [s.resolve() for s in args.scripts] or sorted((ROOT / "bench").glob("bench_*.py"))
    try:
        update_regions(
            args.readme.read_text(encoding="utf-8"), {s.stem: "" for s in scripts}, str(args.readme), complete=False
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        code, stdout = run(script)
        if code != 0:
            print(f"error: {script.name} exited {code}; its figures in {args.readme} are unchanged", file=sys.stderr)
            failed.append(script.name)
            continue
        text = args.readme.read_text(encoding="utf-8")
        body = region(stdout, datetime.datetime.now(datetime.UTC).date())
        write(args.readme, update_regions(text, {script.stem: body}, str(args.readme), complete=False))
    if failed:
        print(f"error: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
