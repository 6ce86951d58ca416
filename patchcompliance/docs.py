"""Markdown tables for the documentation, generated from the rendered templates so the docs cannot drift.

`python generate.py --docs` rewrites the regions between `<!-- BEGIN name -->` and `<!-- END name -->` of every
file in `DOCUMENTS`; a test fails when a file differs from what this module produces. `update_regions` is also
used by `bench/report.py` for the benchmark figures in bench/README.md.
"""

from __future__ import annotations

import re

# File (relative to the repository root) -> the generated regions it holds, in no particular order.
DOCUMENTS = {
    "README.md": ("central-parameters", "member-parameters"),
    "docs/reference.md": ("central-resources", "member-resources"),
}
_BEGIN = re.compile(r"^<!-- BEGIN ([\w.-]+) -->$", re.M)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def parameter_rows(data: dict) -> dict[str, str]:
    """Parameter name -> its table row, in console order (groups, then parameters within a group)."""
    interface = data["Metadata"]["AWS::CloudFormation::Interface"]
    labels = interface["ParameterLabels"]
    rows = {}
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
            rows[name] = (
                f"| {_cell(group['Label']['default'])} | `{name}` | {_cell(labels[name]['default'])} "
                f"| {_cell(default)} | {_cell(allowed)} |"
            )
    return rows


def parameter_table(data: dict, same_as: dict | None = None) -> str:
    """All parameters of `data`; with `same_as` (another template), only those whose row differs there, followed
    by the names of the others."""
    rows = parameter_rows(data)
    shared = parameter_rows(same_as) if same_as else {}
    table = ["| Group | Parameter | Label | Default | Allowed |", "|---|---|---|---|---|"]
    table += [row for name, row in rows.items() if shared.get(name) != row]
    same = [f"`{name}`" for name, row in rows.items() if shared.get(name) == row]
    if same:
        table += ["", f"Also {', '.join(same)}: each exactly as in the central template (which passes them through)."]
    return "\n".join(table)


def resource_table(data: dict) -> str:
    rows = ["| Logical ID | Type | Condition |", "|---|---|---|"]
    for name, res in sorted(data["Resources"].items()):
        rows.append(f"| `{name}` | {res['Type']} | {res.get('Condition', '')} |")
    return "\n".join(rows)


def sections(central: dict, member: dict) -> dict[str, str]:
    """`central`/`member`: the templates as plain data (Template.to_dict() or a parsed template file)."""
    return {
        "central-parameters": parameter_table(central),
        "member-parameters": parameter_table(member, same_as=central),
        "central-resources": resource_table(central),
        "member-resources": resource_table(member),
    }


def documents(central: dict, member: dict) -> dict[str, dict[str, str]]:
    """File -> {region name: generated body}, following `DOCUMENTS`."""
    generated = sections(central, member)
    return {path: {name: generated[name] for name in names} for path, names in DOCUMENTS.items()}


def update_regions(text: str, generated: dict[str, str], source: str = "README.md", *, complete: bool = True) -> str:
    """Replace each marked region of `text` (the contents of `source`) with its generated body.

    A region in `generated` without its markers is an error, not a silent skip. With `complete`, so is a marked
    region that `generated` does not cover (a table moved elsewhere would otherwise go stale unnoticed).
    """
    unknown = sorted(set(_BEGIN.findall(text)) - set(generated))
    if complete and unknown:
        raise ValueError(f"{source} has generated regions nothing writes: {', '.join(unknown)}")
    for name, body in generated.items():
        pattern = re.compile(
            rf"(^<!-- BEGIN {re.escape(name)} -->\n)(?:.*?\n)?(<!-- END {re.escape(name)} -->$)", re.S | re.M
        )
        if len(pattern.findall(text)) != 1:
            raise ValueError(f"{source} needs exactly one '<!-- BEGIN {name} -->' ... '<!-- END {name} -->' region")
        body = body.rstrip("\n")
        text = pattern.sub(lambda m, body=body: f"{m.group(1)}{body}\n{m.group(2)}", text)
    return text
