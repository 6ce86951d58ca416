"""Shared by the benchmarks: load tests/functions/conftest.py (template loader, call hooks, fakes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def testlib():
    """tests/functions/conftest.py as module `fn_testlib`, so a benchmark runs what the tests run."""
    spec = importlib.util.spec_from_file_location("fn_testlib", ROOT / "tests" / "functions" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fn_testlib"] = module
    spec.loader.exec_module(module)
    return module
