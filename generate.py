#!/usr/bin/env python3
"""Write the patch-compliance CloudFormation templates.

    python generate.py [--output-dir DIR] [--check] [--docs]

Writes patch-compliance.yaml (central) and patch-compliance-member.yaml (member) to DIR (default: templates).
--check writes nothing and exits 1 naming every file that differs from fresh output.
--docs (alias --readme) also rewrites the generated tables in README.md (parameters) and docs/reference.md
(resources), in this repository whatever DIR is; a missing or unknown table marker fails before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from patchcompliance.constants import TEMPLATE_BODY_LIMIT, TEMPLATE_S3_LIMIT  # no third-party imports

_UMASK = os.umask(0)
os.umask(_UMASK)
ROOT = Path(__file__).resolve().parent
CENTRAL = "patch-compliance.yaml"
MEMBER = "patch-compliance-member.yaml"


def _require_dependencies() -> None:
    """A clear message instead of a traceback when run outside the virtualenv."""
    try:
        import awacs  # noqa: F401
        import troposphere  # noqa: F401
    except ImportError as err:
        sys.exit(f"error: {err}; run 'make templates' (creates .venv, installs everything) or use .venv/bin/python")


def build_all() -> dict:
    _require_dependencies()
    from patchcompliance.central import build_central
    from patchcompliance.member import build_member

    member = build_member()
    return {CENTRAL: build_central(member), MEMBER: member}


def render_all(templates: dict | None = None) -> dict[str, str]:
    templates = templates or build_all()
    from patchcompliance.render import to_yaml

    return {name: to_yaml(template) for name, template in templates.items()}


def write_atomically(path: Path, text: str) -> None:
    """Write next to the target and rename, so a failed write never leaves a half-written template."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; templates are ordinary files
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def size_report(name: str, text: str) -> str:
    size = len(text.encode())
    where = "direct upload OK" if size <= TEMPLATE_BODY_LIMIT else "deploy from S3 (--s3-bucket)"
    return f"{name}: {size:,} B (limits: {TEMPLATE_BODY_LIMIT:,} B direct, {TEMPLATE_S3_LIMIT:,} B from S3) - {where}"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="templates", type=Path, help="where to write (default: templates)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file differs")
    parser.add_argument(
        "--docs",
        "--readme",
        action="store_true",
        help="also rewrite the generated tables in README.md and docs/reference.md",
    )
    args = parser.parse_args(argv)
    if args.output_dir.exists() and not args.output_dir.is_dir():
        parser.error(f"--output-dir {args.output_dir} is not a directory")
    if args.docs and args.check:
        parser.error("--docs writes README.md and docs/reference.md; it cannot be combined with --check")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    templates = build_all()
    rendered = render_all(templates)
    for name, text in rendered.items():
        print(size_report(name, text))
    member_size = len(rendered[MEMBER].encode())
    if member_size > TEMPLATE_BODY_LIMIT:
        print(f"error: {MEMBER} is {member_size:,} B, over the StackSet TemplateBody limit", file=sys.stderr)
        return 1
    if any(len(text.encode()) > TEMPLATE_S3_LIMIT for text in rendered.values()):
        print("error: a template is over CloudFormation's 1 MB limit", file=sys.stderr)
        return 1
    if args.check:
        stale = [
            name
            for name, text in rendered.items()
            if not (args.output_dir / name).is_file() or (args.output_dir / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"out of date: {args.output_dir / name} (run 'make templates')", file=sys.stderr)
        return 1 if stale else 0
    try:
        documents = updated_docs(templates) if args.docs else {}
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        write_atomically(args.output_dir / name, text)
    for path, text in documents.items():
        write_atomically(path, text)
    return 0


def updated_docs(templates: dict) -> dict[Path, str]:
    """Every documentation file with its generated regions refreshed; raises ValueError on a marker problem."""
    from patchcompliance import docs

    generated = docs.documents(templates[CENTRAL].to_dict(), templates[MEMBER].to_dict())
    return {
        ROOT / path: docs.update_regions((ROOT / path).read_text(encoding="utf-8"), regions, path)
        for path, regions in generated.items()
    }


if __name__ == "__main__":
    sys.exit(main())
