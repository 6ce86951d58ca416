"""cfn-lint (through its API) on both templates, informational rules included, in several regions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

# The Makefile's LINT_REGIONS: three common ones plus those where a Config rule is skipped (Osaka, Milan, Taipei,
# Calgary); read from the Makefile so both run the same regions.
MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
REGIONS = re.search(r"^LINT_REGIONS := (.+)$", MAKEFILE.read_text(encoding="utf-8"), re.M)[1].split()


def test_lint_regions_cover_every_region_with_a_skipped_rule():
    from patchcompliance import constants as c

    assert set(c.PATCH_RULE_UNSUPPORTED_REGIONS) | set(c.MANAGED_BY_SSM_RULE_UNSUPPORTED_REGIONS) <= set(REGIONS)


@pytest.mark.parametrize("name", ["central_text", "member_text"])
def test_cfn_lint_reports_nothing(name, request):
    matches = lint(request.getfixturevalue(name), config=ManualArgs(regions=REGIONS, include_checks=["I"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_cfn_lint_would_catch_a_broken_template(member_text):
    broken = member_text.replace("Type: AWS::SSM::MaintenanceWindow\n", "Type: AWS::SSM::MaintenanceWindo\n", 1)
    assert broken != member_text
    assert lint(broken, config=ManualArgs(regions=REGIONS))
