"""A small evaluator of CloudFormation templates as they deploy with given parameter values.

`evaluate_condition`/`condition_true` evaluate the Conditions section (Fn::Equals, Fn::Not, Fn::And, Fn::Or,
Condition, and the intrinsics inside Fn::Equals); `resolve` resolves a fragment the way CloudFormation does at
deploy time: Ref, Fn::If (a branch that is AWS::NoValue removes the key or list item), Fn::Join, Fn::Split,
Fn::Select, Fn::Sub and Fn::GetAtt. Parameter values are strings as a deployer gives them; CommaDelimitedList
values are split on commas and space-trimmed. Anything else raises, so an unsupported function never passes
silently.
"""

from __future__ import annotations

import re

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "teststack",
}
NO_VALUE = object()  # what {"Ref": "AWS::NoValue"} resolves to until its key or list item is removed
_CONDITION_FUNCTIONS = ("Condition", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or")


def parameter_value(template: dict, name: str, values: dict):
    """The value of a parameter or pseudo parameter: from `values`, else its Default, else ""."""
    if name in values:
        raw = values[name]
    elif name in PSEUDO:
        return PSEUDO[name]
    else:
        raw = template["Parameters"][name].get("Default", "")
    kind = template.get("Parameters", {}).get(name, {}).get("Type", "String")
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        return list(raw) if isinstance(raw, (list, tuple)) else [m.strip() for m in str(raw).split(",")]
    return raw


def evaluate_condition(template: dict, expression, values: dict) -> bool:
    """Evaluate a Conditions expression with parameter `values`."""

    def truth(node) -> bool:
        ((fn, args),) = node.items()
        if fn == "Condition":
            return truth(template["Conditions"][args])
        if fn == "Fn::Equals":
            return str(operand(args[0])) == str(operand(args[1]))
        if fn == "Fn::Not":
            return not operand(args[0])
        if fn == "Fn::And":
            return all(operand(a) for a in args)
        if fn == "Fn::Or":
            return any(operand(a) for a in args)
        raise AssertionError(f"unsupported condition function {fn}")

    def operand(node):
        if isinstance(node, dict) and len(node) == 1 and next(iter(node)) in _CONDITION_FUNCTIONS:
            return truth(node)
        return resolve(template, node, values)

    return truth(expression)


def condition_true(template: dict, name: str | None, values: dict) -> bool:
    if name is None:
        return True
    return evaluate_condition(template, template["Conditions"][name], values)


def resolve(template: dict, node, values: dict, resources: dict | None = None):
    """`node` with every intrinsic function resolved. `resources` gives what Ref X / GetAtt X.Attr of a resource
    returns, keyed "X" and "X.Attr"; a reference to a resource it lacks raises KeyError."""
    resources = resources or {}

    def reference(name: str):
        if name in resources:
            return resources[name]
        if name in PSEUDO or name in template.get("Parameters", {}) or name in values:
            return parameter_value(template, name, values)
        raise KeyError(f"no value for {name}")

    def walk(value):
        if isinstance(value, list):
            return [item for item in (walk(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, args),) = value.items()
            if fn == "Ref":
                return NO_VALUE if args == "AWS::NoValue" else reference(args)
            if fn == "Fn::If":
                condition, when_true, when_false = args
                return walk(when_true if condition_true(template, condition, values) else when_false)
            if fn == "Fn::GetAtt":
                name = args if isinstance(args, str) else ".".join(args)
                return reference(name)
            if fn == "Fn::Join":
                return args[0].join(str(v) for v in walk(args[1]))
            if fn == "Fn::Split":
                return walk(args[1]).split(args[0])
            if fn == "Fn::Select":
                return walk(args[1])[int(walk(args[0]))]
            if fn == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else (args[0], walk(args[1]))

                def substitute(match: re.Match) -> str:
                    name = match[1]
                    if name.startswith("!"):
                        return "${" + name[1:] + "}"
                    return str(variables[name] if name in variables else reference(name))

                return re.sub(r"\$\{([^}]+)\}", substitute, text)
            if fn.startswith("Fn::"):
                raise NotImplementedError(f"{fn} is not resolved here")
        return {k: v for k, v in ((k, walk(v)) for k, v in value.items()) if v is not NO_VALUE}

    result = walk(node)
    return None if result is NO_VALUE else result
