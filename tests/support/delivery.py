"""The central delivery bucket policies (ConfigBucketPolicy, DataSyncBucketPolicy) as S3 receives them.

Built with the real builders (`storage.add_buckets` on a template holding the central parameters), then resolved
by tests/support/cfn.py for one delivery mode and a given number of accounts. Shared by tests/test_rollout.py and
bench/bench_policy_size.py.
"""

from __future__ import annotations

import functools
import json
import re

from troposphere import Template

from patchcompliance import constants as c
from patchcompliance import parameters, storage
from patchcompliance.central import central_specs

from . import cfn

POLICIES = (c.CONFIG_BUCKET_POLICY, c.DATASYNC_BUCKET_POLICY)


def _longest(parameter: str, head: str = "") -> str:
    """The longest value `head` + "a" * n that the parameter's AllowedPattern accepts (n < 1,000)."""
    (spec,) = [s for s in (*parameters.MEMBER_SPECS, *parameters.CENTRAL_SPECS) if s.name == parameter]
    return max((head + "a" * n for n in range(1000) if re.fullmatch(spec.pattern, head + "a" * n)), key=len)


# The longest values S3 and the parameters allow: a 63-character bucket name (S3's maximum), the longest
# DataSyncPrefix and organization ID their patterns accept.
BUCKET_NAME = "b" * 63
LONGEST_PREFIX = _longest("DataSyncPrefix")
LONGEST_ORGANIZATION_ID = _longest("OrganizationId", "o-")
MODES = ("organisation", "account")


@functools.cache
def _template_json() -> str:
    template = Template()
    params = parameters.add_parameters(template, central_specs())
    storage.add_buckets(template, params)
    return template.to_json()


def template() -> dict:
    """A template with the central parameters, the buckets and their policies (a fresh copy)."""
    return json.loads(_template_json())


def account_ids(count: int) -> list[str]:
    return [f"{100000000000 + n:012d}" for n in range(count)]


def values(mode: str, accounts: int, *, prefix: str = LONGEST_PREFIX) -> dict:
    """Parameter values for `mode` with `accounts` target accounts."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    return {
        "AccountIds": account_ids(accounts),
        "OrganizationId": LONGEST_ORGANIZATION_ID if mode == "organisation" else "",
        "DataSyncPrefix": prefix,
    }


def bucket_resources(bucket: str = BUCKET_NAME) -> dict:
    """What Ref/GetAtt of the buckets return, every bucket named `bucket`."""
    found = {}
    for logical_id in (c.CONFIG_BUCKET, c.DATASYNC_BUCKET, c.ATHENA_BUCKET, c.ACCESS_LOG_BUCKET):
        found[logical_id] = bucket
        found[f"{logical_id}.Arn"] = f"arn:aws:s3:::{bucket}"
    return found


def resolved_policy(data: dict, logical_id: str, mode: str, accounts: int) -> dict:
    """The PolicyDocument of bucket policy `logical_id` as deployed in `mode` with `accounts` accounts."""
    document = data["Resources"][logical_id]["Properties"]["PolicyDocument"]
    return cfn.resolve(data, document, values(mode, accounts), bucket_resources())


def policy_bytes(data: dict, logical_id: str, mode: str, accounts: int) -> int:
    """Size of the policy as compact JSON (no whitespace), in bytes."""
    policy = resolved_policy(data, logical_id, mode, accounts)
    return len(json.dumps(policy, separators=(",", ":")).encode())
