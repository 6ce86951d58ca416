"""Benchmark: the QuickSight share of the central template, against the 1,000,000 B limit of a template from S3.

Builds the central template with the real generator (patchcompliance.central.build_central) and renders it as
`generate.py` writes it (patchcompliance.render.to_yaml). A resource's size = bytes the rendered template loses
without it. The analysis and the dashboard carry the same Definition; a sheet's size is its SheetDefinition
rendered on its own (visuals, controls, layout; its filter groups not included). Goal: the central template under
1,000,000 B ("Template body size in an Amazon S3 object", CloudFormation quotas). A computation, not a timed test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the generator of this checkout

import yaml  # noqa: E402

from patchcompliance import render  # noqa: E402
from patchcompliance.central import build_central  # noqa: E402
from patchcompliance.quicksight import names  # noqa: E402

LIMIT = 1_000_000  # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html


def rendered_bytes(data: dict) -> int:
    """Bytes of `data` (a template as plain JSON data) rendered the way generate.py writes templates."""
    text = yaml.dump(
        render._ordered(data, render.TOP_LEVEL_ORDER),
        Dumper=render._Dumper,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        width=render.LINE_WIDTH,
    )
    return len(text.encode("utf-8"))


def main() -> int:
    template = build_central()
    data = json.loads(template.to_json())  # plain JSON data, as render.to_yaml renders it
    total = rendered_bytes(data)
    assert total == len(render.to_yaml(template).encode("utf-8")), "not rendered as generate.py renders"
    resources = data["Resources"]
    ids = [name for name, res in resources.items() if res["Type"].startswith("AWS::QuickSight::")]
    ids.append(names.QUICKSIGHT_ROLE)
    without_all = rendered_bytes({**data, "Resources": {k: v for k, v in resources.items() if k not in ids}})
    print(f"{'central template':<40}{total:>12,} B   limit {LIMIT:,} B, headroom {LIMIT - total:,} B")
    print(f"{'QuickSight resources (incl. role)':<40}{total - without_all:>12,} B   {len(ids)} resources")
    print("-" * 70)
    for name in sorted(ids, key=lambda n: (resources[n]["Type"], n)):
        alone = rendered_bytes({**data, "Resources": {k: v for k, v in resources.items() if k != name}})
        print(f"  {name:<38}{total - alone:>12,} B   {resources[name]['Type']}")
    print("-" * 70)
    sheets = resources[names.DASHBOARD]["Properties"]["Definition"]["Sheets"]
    for sheet in sheets:
        size = rendered_bytes({"Sheet": sheet})
        print(f"  sheet {sheet['Name']!r:<32}{size:>12,} B   {len(sheet.get('Visuals', []))} visuals (per Definition)")
    ok = total < LIMIT
    print(f"goal (central template under {LIMIT:,} B): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
