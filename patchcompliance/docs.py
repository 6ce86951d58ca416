"""Markdown tables for the README, generated from the rendered templates so the docs cannot drift.

`python generate.py --readme` rewrites the regions between `<!-- BEGIN name -->` and `<!-- END name -->`;
a test fails when README.md differs from what this module produces.
"""

from __future__ import annotations

import re


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def parameter_table(data: dict) -> str:
    interface = data["Metadata"]["AWS::CloudFormation::Interface"]
    labels = interface["ParameterLabels"]
    rows = ["| Group | Parameter | Label | Default | Allowed |", "|---|---|---|---|---|"]
    for group in interface["ParameterGroups"]:
        for name in group["Parameters"]:
            spec = data["Parameters"][name]
            if "AllowedValues" in spec:
                allowed = ", ".join(str(v) for v in spec["AllowedValues"])
                allowed = allowed if len(allowed) <= 80 else f"{len(spec['AllowedValues'])} values"
            elif "AllowedPattern" in spec:
                allowed = f"`{spec['AllowedPattern']}`"
            elif "MinValue" in spec:
                allowed = f"{spec['MinValue']}-{spec.get('MaxValue', '')}"
            else:
                allowed = spec["Type"]
            default = spec.get("Default")
            default = "(required)" if default is None else f"`{default}`" if default != "" else "(empty)"
            rows.append(
                f"| {_cell(group['Label']['default'])} | `{name}` | {_cell(labels[name]['default'])} "
                f"| {_cell(default)} | {_cell(allowed)} |"
            )
    return "\n".join(rows)


def resource_table(data: dict) -> str:
    rows = ["| Logical ID | Type | Condition |", "|---|---|---|"]
    for name, res in sorted(data["Resources"].items()):
        rows.append(f"| `{name}` | {res['Type']} | {res.get('Condition', '')} |")
    return "\n".join(rows)


def sections(central: dict, member: dict) -> dict[str, str]:
    """`central`/`member`: the templates as plain data (Template.to_dict() or a parsed template file)."""
    return {
        "central-parameters": parameter_table(central),
        "member-parameters": parameter_table(member),
        "central-resources": resource_table(central),
        "member-resources": resource_table(member),
    }


def update_readme(readme: str, generated: dict[str, str]) -> str:
    """Replace each marked region of `readme`; a missing marker is an error, not a silent skip."""
    for name, body in generated.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README has no '<!-- BEGIN {name} -->' ... '<!-- END {name} -->' region")
        readme = pattern.sub(lambda m, body=body: f"{m.group(1)}{body}\n{m.group(2)}", readme)
    return readme
