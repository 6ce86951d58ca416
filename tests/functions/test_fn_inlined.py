"""What ships is what is tested: the templates inline functions/<name>/index.py verbatim and run it as designed."""

import ast
import json
import sys

import pytest

from tests.support.functions import (
    FUNCTIONS,
    function_resource,
    inlined_code,
    load_function,
    source_code,
    template_environment,
)

ALLOWED_THIRD_PARTY = {"boto3", "botocore"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_inlined_code_is_the_source_verbatim(name):
    assert inlined_code(name) == source_code(name), f"templates are stale: run `make templates` ({name})"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_runtime_and_handler(name):
    props = function_resource(name)["Properties"]
    assert props["Runtime"] == "python3.13" and props["Handler"] == "index.handler"
    assert callable(load_function(name).handler)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_only_stdlib_and_boto3_imports(name):
    tree = ast.parse(inlined_code(name))
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules - ALLOWED_THIRD_PARTY <= set(sys.stdlib_module_names)
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))  # no relative imports


def test_tagging_code_stays_compact():
    assert len(inlined_code("ec2_tagging").encode()) < 9 * 1024  # the member template must stay < 51,200 B


def test_partitioning_environment_contract():
    env = template_environment("partitioning")
    assert {"GLUE_DATABASE", "CONFIG_TABLE", "STORAGE_DESCRIPTOR"} <= set(env)
    descriptor = json.loads(env["STORAGE_DESCRIPTOR"])
    assert "Location" not in descriptor  # the function sets the snapshot folder
    assert {"Columns", "InputFormat", "OutputFormat", "SerdeInfo"} <= set(descriptor)
