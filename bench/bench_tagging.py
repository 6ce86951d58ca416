"""Benchmark: AWS calls of EC2TaggingFunction against the seed's algorithm on the same 10,000 managed nodes.

Fleet: 10,000 nodes from SSM (faked: moto lacks DescribeInstanceInformation), 5 platform combinations,
3 % hybrid (mi-), 1 % vanished before tagging (CreateTags fails like EC2: InvalidInstanceID.NotFound naming
the missing IDs; moto does not validate instance IDs). EC2 itself is moto. Calls are counted per API call
(before botocore's retry layer). The code run is the one inlined in templates/patch-compliance-member.yaml.
One run, printed as ratios; not a timed test.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests.support from this checkout

from tests.support import functions as lib  # noqa: E402

NODES, HYBRID_SHARE, VANISHED_SHARE = 10_000, 0.03, 0.01
PLATFORMS = [
    ("Linux", "Amazon Linux", "2023"),
    ("Linux", "Ubuntu", "22.04"),
    ("Linux", "Red Hat Enterprise Linux", "9.4"),
    ("Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348"),
    ("Windows", "Microsoft Windows Server 2019 Datacenter", "10.0.17763"),
]
SCHEDULE = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def fleet():
    rng = random.Random(20250307)
    hybrid = round(NODES * HYBRID_SHARE)
    ec2_ids = lib.instance_ids(NODES - hybrid)
    nodes = [lib.node(i, *rng.choice(PLATFORMS)) for i in ec2_ids]
    nodes += [lib.node(f"mi-{k:017x}", *rng.choice(PLATFORMS)) for k in range(hybrid)]
    rng.shuffle(nodes)
    vanished = rng.sample(ec2_ids, round(NODES * VANISHED_SHARE))
    return nodes, ec2_ids, vanished


def seed_algorithm(ssm, ec2):
    """The seed's loop: pages of 50, one CreateTags per instance. Generous to the seed: hybrid nodes are
    skipped and errors swallowed, where the seed would have crashed on the first mi- ID or vanished one."""
    from botocore.exceptions import ClientError

    token = ""
    while True:
        response = ssm.describe_instance_information(MaxResults=50, NextToken=token)
        for info in response["InstanceInformationList"]:
            if not info["InstanceId"].startswith("i-"):
                continue
            tags = [{"Key": k, "Value": info[k]} for k in ("PlatformType", "PlatformName", "PlatformVersion")]
            try:
                ec2.create_tags(Resources=[info["InstanceId"]], Tags=tags)
            except ClientError:
                pass
        if "NextToken" not in response:
            return
        token = response["NextToken"]


def one_id_per_error(gone):
    """Pessimistic EC2: the NotFound error names only the first missing ID of the batch."""

    def respond(params):
        missing = [i for i in params["Resources"] if i in gone]
        return (
            lib.http_error("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
            if missing
            else None
        )

    return respond


def run_ours(nodes, respond_create_tags):
    module = lib.load_function("ec2_tagging")
    ssm, ec2 = lib.Hooks(module._client("ssm")), lib.Hooks(module._client("ec2"))
    ssm.respond("DescribeInstanceInformation", lib.FakeFleet(nodes))
    ec2.respond("CreateTags", respond_create_tags)
    start = time.perf_counter()
    result = module.handler(SCHEDULE, lib.FakeContext(remaining_s=900))
    return result, len(ssm.calls), len(ec2.calls), time.perf_counter() - start


def main() -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    logging.disable(logging.WARNING)  # the function logs every vanished instance; keep the report readable
    import boto3
    from moto import mock_aws

    nodes, ec2_ids, vanished = fleet()
    groups = {}
    for n in nodes:
        if n["InstanceId"].startswith("i-"):
            groups.setdefault((n["PlatformType"], n["PlatformName"], n["PlatformVersion"]), []).append(n)
    pages = math.ceil(len(nodes) / 50)
    floor = pages + sum(math.ceil(len(g) / 1000) for g in groups.values())

    with mock_aws():
        result, describe, create, wall = run_ours(nodes, lib.vanishing(vanished))
    expected_tagged = len(ec2_ids) - len(vanished)
    assert result["Tagged"] == expected_tagged and result["Skipped"] == NODES - expected_tagged, result
    assert result["Failed"] == 0 and result["Complete"], result
    ours = describe + create

    with mock_aws():
        _, p_describe, p_create, _ = run_ours(nodes, one_id_per_error(set(vanished)))
    pessimistic = p_describe + p_create

    with mock_aws():
        ssm, ec2 = boto3.client("ssm"), boto3.client("ec2")
        ssm_hooks, ec2_hooks = lib.Hooks(ssm), lib.Hooks(ec2)
        ssm_hooks.respond("DescribeInstanceInformation", lib.FakeFleet(nodes))
        ec2_hooks.respond("CreateTags", lib.vanishing(vanished))
        start = time.perf_counter()
        seed_algorithm(ssm, ec2)
        seed_wall = time.perf_counter() - start
    seed = len(ssm_hooks.calls) + len(ec2_hooks.calls)

    print(
        f"tagging: {NODES:,} nodes ({len(ec2_ids):,} EC2 in {len(groups)} platform groups, "
        f"{NODES - len(ec2_ids):,} hybrid, {len(vanished):,} vanished)"
    )
    print(
        f"tagging: seed {len(ec2_hooks.calls):,} CreateTags + {len(ssm_hooks.calls):,} describe = {seed:,} calls; "
        f"ours {create:,} CreateTags + {describe:,} describe = {ours:,} calls; ratio {seed / ours:.1f}x"
    )
    print(
        f"tagging: floor (describe pages + one call per 1,000 IDs per group) = {floor:,}; "
        f"ours/floor = {ours / floor:.3f} (goal <= 1.1)"
    )
    print(
        f"tagging: if EC2 named one missing ID per error: ours {pessimistic:,} calls, "
        f"ratio {seed / pessimistic:.1f}x, ours/floor = {pessimistic / floor:.3f}"
    )
    print(f"tagging: handler wall time under moto {wall:.2f} s (seed's loop {seed_wall:.2f} s)")
    ok = ours <= 1.1 * floor and seed / ours >= 40
    print(f"tagging: goals {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
