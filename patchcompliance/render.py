"""Template rendering: YAML with short-form intrinsics, block strings and a stable key order.

Also reads the Lambda sources and SQL files that are inlined into the templates.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cfn_flip.yaml_dumper import Dumper as _CfnDumper
from cfn_tools.odict import ODict
from troposphere import Template

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
SQL_DIR = Path(__file__).resolve().parent / "sql"

LINE_WIDTH = 120  # pinned so output never depends on PyYAML defaults

TOP_LEVEL_ORDER = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Resources",
    "Outputs",
)
RESOURCE_ORDER = (
    "Type",
    "Condition",
    "DependsOn",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "Metadata",
    "Properties",
)


class _Dumper(_CfnDumper):
    """cfn-flip's dumper (short-form !Ref/!Sub/!GetAtt) with literal blocks for every multi-line string."""

    def ignore_aliases(self, data):  # never emit YAML anchors
        return True


def _represent_str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _ordered(value, order=None):
    """Convert dicts to cfn-flip ODicts; known keys first in `order`, the rest alphabetically."""
    if isinstance(value, dict):
        keys = list(value)
        first = [k for k in (order or ()) if k in value]
        rest = sorted(k for k in keys if k not in first)
        return ODict([(k, _child(k, value[k], order)) for k in first + rest])
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def _child(key, value, parent_order):
    if parent_order is TOP_LEVEL_ORDER and key == "Resources":
        return ODict([(name, _ordered(res, RESOURCE_ORDER)) for name, res in sorted(value.items())])
    return _ordered(value)


def to_yaml(template: Template) -> str:
    """Render a troposphere Template as deterministic YAML."""
    data = json.loads(template.to_json())  # resolves troposphere objects to plain JSON types
    return yaml.dump(
        _ordered(data, TOP_LEVEL_ORDER),
        Dumper=_Dumper,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        width=LINE_WIDTH,
    )


def function_source(directory: str) -> str:
    """The Lambda source inlined as Code.ZipFile: functions/<directory>/index.py, verbatim."""
    return (FUNCTIONS_DIR / directory / "index.py").read_text(encoding="utf-8")


def view_sql(name: str) -> str:
    """The SELECT of one Athena view, patchcompliance/sql/<name>.sql, without trailing blank lines or ';'."""
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8").rstrip()
    return text[:-1].rstrip() if text.endswith(";") else text
