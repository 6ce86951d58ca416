"""Benchmark: size of the central delivery bucket policies against S3's 20 KB limit, by number of accounts.

The two policies (ConfigBucketPolicy, DataSyncBucketPolicy) are built by the real builders (storage.add_buckets)
and resolved as deployed (tests/support/delivery.py): a 63-character bucket name, the longest DataSyncPrefix and
OrganizationId the parameters accept, 12-digit account IDs. Size = bytes of the policy as compact JSON (no
whitespace). Organisation mode (OrganizationId given) names the organisation once; account mode lists every
account in each statement's aws:SourceAccount. Goal: organisation mode the same size for every account count and
under the limit. A computation, not a timed test.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support from this checkout

from tests.support import delivery  # noqa: E402

LIMIT = 20 * 1024  # "Bucket policies are limited to 20 KB in size" (Amazon S3 user guide, bucket policies)
COUNTS = (10, 1_000, 10_000)


def ceiling(data: dict, logical_id: str, mode: str) -> int | None:
    """Most accounts whose policy fits the limit; None if the size does not depend on the count."""
    if delivery.policy_bytes(data, logical_id, mode, 1) == delivery.policy_bytes(data, logical_id, mode, 100_000):
        return None
    low, high = 0, 100_000  # the size grows with the count: binary search for the last count that fits
    while low < high:
        middle = (low + high + 1) // 2
        if delivery.policy_bytes(data, logical_id, mode, middle) <= LIMIT:
            low = middle
        else:
            high = middle - 1
    return low


def main() -> int:
    data = delivery.template()
    header = f"{'policy':<22}{'mode':<14}" + "".join(f"{f'{n:,} accts':>14}" for n in COUNTS)
    print(f"{header}{f'ceiling under {LIMIT:,} B':>30}")
    print("-" * (len(header) + 30))
    ok, ceilings = True, {}
    for mode in delivery.MODES:
        for logical_id in delivery.POLICIES:
            sizes = [delivery.policy_bytes(data, logical_id, mode, n) for n in COUNTS]
            most = ceiling(data, logical_id, mode)
            ceilings.setdefault(mode, []).append(most)
            text = "none (constant size)" if most is None else f"{most:,} accounts"
            print(f"{logical_id:<22}{mode:<14}" + "".join(f"{f'{s:,} B':>14}" for s in sizes) + f"{text:>30}")
            if mode == "organisation":
                ok = ok and most is None and max(sizes) <= LIMIT
    account = min(n for n in ceilings["account"] if n is not None)
    print(f"account mode: at most {account:,} accounts (the smaller ceiling of the two policies); "
          f"organisation mode: constant size, any number of accounts")  # fmt: skip
    print(f"goal (organisation mode constant and under {LIMIT:,} B): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
