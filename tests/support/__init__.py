"""Test support shared by the tests and the benchmarks in bench/; none of it ships in the patchcompliance package.

Import the modules themselves (`from tests.support import functions`), so each user loads only what it needs:
templates (the one template loader), functions (Lambda helpers and fakes), catalog, engine and fixtures (the
local Athena engine over a generated S3 tree), analytics (view contract, row comparison).
"""
