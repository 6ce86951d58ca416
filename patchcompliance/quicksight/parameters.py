"""The QuickSight parameters (console group "QuickSight"), the conditions built on them, and the principal.

QuickSight is enabled when a principal name is given and the region has the QuickSight resource types; every
QuickSight resource and output carries `ENABLED` (the refresh schedules carry `SPICE_ENABLED`, which implies it).
"""

from __future__ import annotations

from troposphere import And, Equals, If, Not, Or, Ref, Region, Sub
from troposphere import quicksight as qs

from .. import constants as c
from ..conditions import Cond, is_empty, not_empty
from ..parameters import Spec

GROUP = "QuickSight"
REFRESH_TIME_ZONE = "UTC"

PRINCIPAL_NAME = Spec(
    "QuickSightPrincipalName", GROUP, "QuickSight user or group name (empty: no QuickSight)",
    "QuickSight user or group that owns the data source, datasets, analysis and dashboard. Empty: no QuickSight "
    "resources are created (nor in regions without QuickSight). QuickSight must already be subscribed in this "
    "account.",
    default="", pattern=r"^$|^[A-Za-z0-9_+=,.@-]+(/[A-Za-z0-9_+=,.@-]+)?$",
    constraint=(
        "empty (no QuickSight resources) or a QuickSight user or group name of namespace default: "
        "letters, digits and _+=,.@- with at most one '/' (e.g. Admin/jane for a federated user)"
    ),
    extra={"MaxLength": 128},
)  # fmt: skip
PRINCIPAL_TYPE = Spec(
    "QuickSightPrincipalType", GROUP, "QuickSight principal type",
    "Whether the QuickSight principal is a user or a group (namespace default).",
    default="USER", allowed_values=("USER", "GROUP"),
)  # fmt: skip
IDENTITY_REGION = Spec(
    "QuickSightIdentityRegion", GROUP, "QuickSight identity region (empty: this region)",
    "Identity region of the QuickSight account (where its users and groups live). Empty: the region of this stack.",
    default="", pattern=r"^$|^[a-z]{2}(-[a-z]+)+-[0-9]$", constraint="empty or a region code such as us-east-1",
)  # fmt: skip
REFRESH_TIME = Spec(
    "QuickSightRefreshTime", GROUP, f"Daily refresh time (HH:MM {REFRESH_TIME_ZONE})",
    f"Daily SPICE refresh of every dataset, HH:MM {REFRESH_TIME_ZONE}.",
    default="06:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", constraint="HH:MM, 24-hour clock",
)  # fmt: skip
IMPORT_MODE = Spec(
    "QuickSightImportMode", GROUP, "Dataset import mode",
    "SPICE: import daily (refresh schedule). DIRECT_QUERY: query Athena on every view.",
    default="SPICE", allowed_values=("SPICE", "DIRECT_QUERY"),
)  # fmt: skip
SPECS: tuple[Spec, ...] = (PRINCIPAL_NAME, PRINCIPAL_TYPE, IDENTITY_REGION, REFRESH_TIME, IMPORT_MODE)

# Regions where CloudFormation has no AWS::QuickSight::DataSource/DataSet/RefreshSchedule/Analysis/Dashboard
# (cfn-lint's region schemas; tests/quicksight checks the list still covers them). QuickSight stays off there even
# when a principal is given, and cfn-lint (which evaluates AWS::Region in conditions) stays clean.
QUICKSIGHT_UNSUPPORTED_REGIONS = (
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-3",
    "ap-south-2",
    "ap-southeast-4",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "cn-northwest-1",
    "il-central-1",
    "me-central-1",
    "mx-central-1",
    "us-west-1",
)
_OR_CHUNK = 7  # Fn::Or takes 2 to 10 operands


def _region_supported():
    """Not one of QUICKSIGHT_UNSUPPORTED_REGIONS; more regions than one Fn::Or takes are tested in chunks."""
    regions = [Equals(Region, region) for region in QUICKSIGHT_UNSUPPORTED_REGIONS]
    chunks = [Or(*regions[i : i + _OR_CHUNK]) for i in range(0, len(regions), _OR_CHUNK)]
    return Not(Or(*chunks) if len(chunks) > 1 else chunks[0])


_principal_given = not_empty(PRINCIPAL_NAME.name)

REGION_SUPPORTED = Cond("QuickSightRegionSupported", _region_supported)
ENABLED = Cond(
    c.QUICKSIGHT_ENABLED, lambda: And(_principal_given(), REGION_SUPPORTED.ref()), requires=(REGION_SUPPORTED,)
)
PRINCIPAL_IS_GROUP = Cond("QuickSightPrincipalIsGroup", lambda: Equals(Ref(PRINCIPAL_TYPE.name), "GROUP"))
IDENTITY_REGION_IS_STACK_REGION = Cond("QuickSightIdentityRegionIsStackRegion", is_empty(IDENTITY_REGION.name))
SPICE_ENABLED = Cond(
    "QuickSightSpiceEnabled", lambda: And(ENABLED.ref(), Equals(Ref(IMPORT_MODE.name), "SPICE")), requires=(ENABLED,)
)
# The conditions the QuickSight resources use (REGION_SUPPORTED comes with ENABLED).
CONDITIONS: tuple[Cond, ...] = (ENABLED, PRINCIPAL_IS_GROUP, IDENTITY_REGION_IS_STACK_REGION, SPICE_ENABLED)


def principal_arn() -> Sub:
    """arn:<partition>:quicksight:<identity region>:<account>:{user|group}/default/<name>."""
    return Sub(
        "arn:${AWS::Partition}:quicksight:${IdentityRegion}:${AWS::AccountId}:${Kind}/default/${Name}",
        IdentityRegion=If(IDENTITY_REGION_IS_STACK_REGION, Region, Ref(IDENTITY_REGION.name)),
        Kind=If(PRINCIPAL_IS_GROUP, "group", "user"),
        Name=Ref(PRINCIPAL_NAME.name),
    )


def owner_permissions(actions: tuple[str, ...]) -> list[qs.ResourcePermission]:
    """The principal may perform `actions` on the resource."""
    return [qs.ResourcePermission(Principal=principal_arn(), Actions=list(actions))]
