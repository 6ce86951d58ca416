"""CloudFormation `Rules` of the central template: cross-parameter checks that refuse a stack before anything is
created (the maintenance window's cutoff, the StackSet's targets per permission model, the Config aggregator)."""

from __future__ import annotations

from troposphere import Equals, Not, Or, Parameter, Ref, Template

from .constants import SELF_MANAGED, SERVICE_MANAGED
from .parameters import KNOWN_REGIONS


def window_cutoff_rule(template: Template, params: dict[str, Parameter]) -> None:
    """Rule: cutoff < duration. Rules cannot compare numbers, so each cutoff value excludes the durations <= it."""
    duration, cutoff = params["MaintenanceWindowDuration"], params["MaintenanceWindowCutoff"]
    assertions = []
    for c in range(1, 24):
        too_short = [str(d) for d in range(1, c + 1)]
        assertions.append(
            {
                "Assert": Or(Not(Equals(Ref(cutoff), str(c))), Not({"Fn::Contains": [too_short, Ref(duration)]})),
                "AssertDescription": f"MaintenanceWindowCutoff {c} needs MaintenanceWindowDuration > {c} hours",
            }
        )
    template.add_rule("MaintenanceWindowCutoffBelowDuration", {"Assertions": assertions})


RULE_SELF_MANAGED_TARGETS = "SelfManagedStackSetTargets"
RULE_SERVICE_MANAGED_TARGETS = "ServiceManagedStackSetTargets"


def _no_empty_member(param: Parameter) -> dict:
    """A CommaDelimitedList with no empty member; an empty value is one empty member."""
    return Not({"Fn::Contains": [Ref(param), ""]})


def aggregator_rules(template: Template, params: dict[str, Parameter]) -> None:
    """The Config export needs an aggregator: the stack's (ORGANIZATION, or ACCOUNTS over AccountIds) or a named
    existing one."""
    create, name = params["CreateConfigAggregator"], params["ConfigAggregatorName"]
    template.add_rule(
        "ConfigExportHasAggregator",
        {
            "RuleCondition": Equals(Ref(create), "NONE"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(name), "")),
                    "AssertDescription": "CreateConfigAggregator is NONE, so the Config export needs an existing "
                    "aggregator: set ConfigAggregatorName, or set CreateConfigAggregator to ORGANIZATION or ACCOUNTS",
                }
            ],
        },
    )
    template.add_rule(
        "AccountAggregatorHasAccounts",
        {
            "RuleCondition": Equals(Ref(create), "ACCOUNTS"),
            "Assertions": [
                {
                    "Assert": _no_empty_member(params["AccountIds"]),
                    "AssertDescription": "CreateConfigAggregator ACCOUNTS aggregates AccountIds: give the 12-digit "
                    "account IDs, separated by commas, none empty",
                }
            ],
        },
    )


def target_rules(template: Template, params: dict[str, Parameter]) -> None:
    """Rules on the StackSet targets: known region names, and the targets of the chosen permission model."""
    template.add_rule(
        "TargetRegionsAreKnown",
        {
            "Assertions": [
                {
                    "Assert": {"Fn::EachMemberIn": [Ref(params["Regions"]), list(KNOWN_REGIONS)]},
                    "AssertDescription": "Regions must be region names such as eu-west-1, separated by commas",
                }
            ]
        },
    )
    model = params["PermissionModel"]
    template.add_rule(
        RULE_SELF_MANAGED_TARGETS,
        {
            "RuleCondition": Equals(Ref(model), SELF_MANAGED),
            "Assertions": [
                {
                    "Assert": _no_empty_member(params["AccountIds"]),
                    "AssertDescription": f"PermissionModel {SELF_MANAGED} needs AccountIds: the 12-digit IDs of "
                    "the target accounts, separated by commas, none empty",
                },
                {
                    "Assert": Equals(Ref(params["CallAs"]), "SELF"),
                    "AssertDescription": f"CallAs DELEGATED_ADMIN needs PermissionModel {SERVICE_MANAGED}",
                },
            ],
        },
    )
    template.add_rule(
        RULE_SERVICE_MANAGED_TARGETS,
        {
            "RuleCondition": Equals(Ref(model), SERVICE_MANAGED),
            "Assertions": [
                {
                    "Assert": _no_empty_member(params["OrganizationalUnitIds"]),
                    "AssertDescription": f"PermissionModel {SERVICE_MANAGED} needs OrganizationalUnitIds: the "
                    "root (r-...) or OU (ou-...) IDs to deploy to, separated by commas, none empty",
                },
                {
                    "Assert": Not(Equals(Ref(params["OrganizationId"]), "")),
                    "AssertDescription": f"PermissionModel {SERVICE_MANAGED} needs OrganizationId (o-...): the "
                    "bucket policies must admit every account the OUs hold, including accounts added later",
                },
            ],
        },
    )
