"""The generated templates: where they are, and the one parser every test and benchmark uses.

Templates are parsed with cfn-lint's decoder, so YAML short-form intrinsics (!Sub, !Ref, ...) and JSON both
work and the result is what cfn-lint itself checks.
"""

from __future__ import annotations

import functools
from pathlib import Path

from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = ROOT / "templates"
CENTRAL_TEMPLATE = TEMPLATES_DIR / "patch-compliance.yaml"
MEMBER_TEMPLATE = TEMPLATES_DIR / "patch-compliance-member.yaml"


def parse_template(text: str, source: str = "<template>") -> dict:
    """A template from its YAML or JSON text; ValueError naming `source` if it does not decode."""
    template, matches = decode_str(text)
    if matches or template is None:
        raise ValueError(f"cannot decode {source}: {[str(m) for m in matches]}")
    return template


def load_template(path: str | Path) -> dict:
    """A template file (a relative path is taken from templates/), parsed once per process.

    The dict is shared by every caller: read it, never modify it (copy.deepcopy first). OSError if the file
    does not exist.
    """
    return _load((TEMPLATES_DIR / path).resolve())


@functools.cache
def _load(path: Path) -> dict:
    return parse_template(path.read_text(encoding="utf-8"), str(path))
