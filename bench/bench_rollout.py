"""Model: how long the StackSet takes to create the member stack in 500 accounts x 10 regions.

A model from stated assumptions, not a measurement (no AWS account is used):

* One stack instance (the member stack) takes STACK_MINUTES to create, the same everywhere, and a wave of
  concurrent instances in a region takes as long as one instance.
* Accounts at once per region: MaxConcurrentPercentage of the accounts, rounded down but at least 1
  (StackSetOperationPreferences, CloudFormation API reference). With STRICT_FAILURE_TOLERANCE (CloudFormation's
  default) it is also at most FailureTolerancePercentage of the accounts (rounded down) + 1; the template sets
  SOFT_FAILURE_TOLERANCE, which drops that cap. Capped as well by the quota of 10,000 stack-instance operations at
  once per Region per administrator account (CloudFormation quotas page).
* Regions: PARALLEL runs every region at once; SEQUENTIAL one after the other.
* Not modelled: service throttling (the API reference says actual concurrency "may be lower due to service
  throttling" for large deployments) and time between waves, so every figure is a lower bound. AutoDeployment
  (SERVICE_MANAGED, accounts joining later) ignores OperationPreferences altogether.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: patchcompliance from this checkout

from patchcompliance import parameters, stackset  # noqa: E402

ACCOUNTS, REGIONS = 500, 10
STACK_MINUTES = 5  # assumption: create time of one member stack instance
QUOTA = 10_000  # stack-instance operations at once, per Region per administrator account
DEFAULTS = {spec.name: spec.default for spec in parameters.CENTRAL_SPECS}
WIDTHS = (6, 6, 12, 9, 7, 9)


def concurrency(mode: str, max_percent: int, tolerance_percent: int) -> int:
    accounts = max(1, ACCOUNTS * max_percent // 100)
    if mode == "STRICT_FAILURE_TOLERANCE":
        accounts = min(accounts, ACCOUNTS * tolerance_percent // 100 + 1)
    return min(accounts, QUOTA)


def minutes(mode: str, max_percent: int, tolerance_percent: int, regions: str) -> tuple[int, int, int]:
    """(accounts at once per region, waves per region, minutes for the whole rollout)."""
    at_once = concurrency(mode, max_percent, tolerance_percent)
    waves = math.ceil(ACCOUNTS / at_once)
    return at_once, waves, waves * STACK_MINUTES * (1 if regions == "PARALLEL" else REGIONS)


def main() -> int:
    default = (
        stackset.CONCURRENCY_MODE,
        DEFAULTS["MaxConcurrentPercentage"],
        DEFAULTS["FailureTolerancePercentage"],
        DEFAULTS["RegionConcurrencyType"],
    )
    scenarios = [
        ("template defaults", default),
        ("same, STRICT (CloudFormation's default mode)", ("STRICT_FAILURE_TOLERANCE", *default[1:])),
        ("MaxConcurrentPercentage 25", (default[0], 25, default[2], default[3])),
        ("SEQUENTIAL regions", (*default[:3], "SEQUENTIAL")),
        ("SEQUENTIAL, MaxConcurrentPercentage 10", (default[0], 10, default[2], "SEQUENTIAL")),
    ]
    print(f"rollout model: {ACCOUNTS} accounts x {REGIONS} regions = {ACCOUNTS * REGIONS:,} stack instances, "
          f"{STACK_MINUTES} min per instance (assumption), lower bound")  # fmt: skip
    columns = ("max %", "tol %", "regions", "at once", "waves", "minutes")
    print(f"{'scenario':<46}{'mode':<26}" + "".join(f"{h:>{w}}" for h, w in zip(columns, WIDTHS, strict=True)))
    for name, (mode, max_percent, tolerance, regions) in scenarios:
        at_once, waves, total = minutes(mode, max_percent, tolerance, regions)
        cells = (max_percent, tolerance, regions, at_once, waves, total)
        print(f"{name:<46}{mode:<26}" + "".join(f"{c:>{w}}" for c, w in zip(cells, WIDTHS, strict=True)))
    at_once, waves, total = minutes(*default)
    print(f"rollout with the template defaults: {total} min ({waves} wave(s) of {at_once} accounts in each region)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
