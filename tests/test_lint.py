"""cfn-lint (through its API) on both templates, informational rules included, in several regions."""

from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint

# The Makefile's LINT_REGIONS: the three the issue names plus Osaka and Milan, where the patch rule is skipped.
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "ap-northeast-3", "eu-south-1"]


@pytest.mark.parametrize("name", ["central_text", "member_text"])
def test_cfn_lint_reports_nothing(name, request):
    matches = lint(request.getfixturevalue(name), config=ManualArgs(regions=REGIONS, include_checks=["I"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_cfn_lint_would_catch_a_broken_template(member_text):
    broken = member_text.replace("Type: AWS::SSM::MaintenanceWindow\n", "Type: AWS::SSM::MaintenanceWindo\n", 1)
    assert broken != member_text
    assert lint(broken, config=ManualArgs(regions=REGIONS))
