"""Template conditions: each name defined once, together with the expression that defines it.

A `Cond` is the condition's name (a `str`, so it goes straight into `If(...)` and `Condition=`) plus its
expression. A builder that uses a condition calls `cond.use(template)` first: that adds the condition, and every
condition its expression refers to, unless the template has it already. So no module relies on another module
having added a condition, and a name can never be defined twice with two meanings (`Cond` refuses it).

Expressions refer to parameters by their `parameters.Spec` name; the template must have the parameter.
"""

from __future__ import annotations

from collections.abc import Callable

from troposphere import AccountId, And, Equals, Join, Not, Or, Ref, Region, Template
from troposphere import Condition as CfnCondition

from . import constants as c

_DEFINED: dict[str, Cond] = {}


class Cond(str):
    """A condition name with its expression; `requires` are conditions the expression refers to."""

    expression: Callable[[], object]
    requires: tuple[Cond, ...]

    def __new__(cls, name: str, expression: Callable[[], object], requires: tuple[Cond, ...] = ()) -> Cond:
        if name in _DEFINED:
            raise ValueError(f"condition {name} is already defined")
        self = super().__new__(cls, name)
        self.expression = expression
        self.requires = requires
        _DEFINED[name] = self
        return self

    def use(self, template: Template) -> Cond:
        """Add this condition (and what it refers to) to `template` unless present; return the name."""
        for required in self.requires:
            required.use(template)
        if self not in template.conditions:
            template.add_condition(str(self), self.expression())
        return self

    def ref(self) -> CfnCondition:
        """`!Condition <name>`, for use inside another condition's expression."""
        return CfnCondition(str(self))


def defined() -> dict[str, Cond]:
    """Every condition defined so far, by name (modules define theirs at import)."""
    return dict(_DEFINED)


def not_empty(parameter: str) -> Callable[[], object]:
    return lambda: Not(Equals(Ref(parameter), ""))


def is_empty(parameter: str) -> Callable[[], object]:
    return lambda: Equals(Ref(parameter), "")


def is_true(parameter: str) -> Callable[[], object]:
    return lambda: Equals(Ref(parameter), "true")


OR_MAX_CONDITIONS = 10  # Fn::Or takes 2 to 10 conditions (CloudFormation "Condition functions")


def any_of(expressions: list) -> object:
    """True if any expression is: one expression as it is, up to 10 in one Fn::Or, more in nested Fn::Or of 10."""
    if not expressions:
        raise ValueError("any_of needs at least one expression")
    if len(expressions) == 1:
        return expressions[0]
    if len(expressions) <= OR_MAX_CONDITIONS:
        return Or(*expressions)
    size = OR_MAX_CONDITIONS
    return any_of([any_of(expressions[i : i + size]) for i in range(0, len(expressions), size)])


def region_not_in(regions: tuple[str, ...]) -> Callable[[], object]:
    return lambda: Not(any_of([Equals(Region, r) for r in regions]))


HAS_KMS = Cond("HasKmsKey", not_empty("KmsKeyArn"))
HAS_EMAIL = Cond("HasNotificationEmail", not_empty("NotificationEmail"))
CREATE_INVENTORY = Cond("CreateInventoryAssociation", is_true("CreateInventoryAssociation"))
CREATE_AGGREGATOR = Cond("CreateConfigAggregator", lambda: Not(Equals(Ref("CreateConfigAggregator"), "NONE")))
ORGANIZATION_AGGREGATOR = Cond(
    "OrganizationConfigAggregator", lambda: Equals(Ref("CreateConfigAggregator"), "ORGANIZATION")
)
ACCOUNT_AGGREGATOR = Cond("AccountConfigAggregator", lambda: Equals(Ref("CreateConfigAggregator"), "ACCOUNTS"))
# Member: authorise the central account's account-based aggregator (not needed for the account itself).
AUTHORIZE_AGGREGATOR = Cond(
    "AuthorizeConfigAggregator",
    lambda: And(Not(Equals(Ref("AggregatorAccountId"), "")), Not(Equals(Ref("AggregatorAccountId"), AccountId))),
)
PATCH_RULE_SUPPORTED = Cond("PatchComplianceRuleSupported", region_not_in(c.PATCH_RULE_UNSUPPORTED_REGIONS))
MANAGED_BY_SSM_RULE_SUPPORTED = Cond(
    "ManagedBySsmRuleSupported", region_not_in(c.MANAGED_BY_SSM_RULE_UNSUPPORTED_REGIONS)
)
CREATE_RECORDER = Cond("CreateConfigRecorder", is_true("CreateConfigRecorder"))
SUBSCRIBE_EMAIL = Cond(  # the e-mail subscription needs the topic, which only exists with the recorder
    "SubscribeNotificationEmail",
    lambda: And(HAS_EMAIL.ref(), CREATE_RECORDER.ref()),
    requires=(HAS_EMAIL, CREATE_RECORDER),
)
DEFAULT_ADMIN_ROLE = Cond("UseDefaultStackSetAdministrationRole", is_empty("StackSetAdministrationRoleArn"))
SERVICE_MANAGED = Cond("ServiceManagedStackSet", lambda: Equals(Ref("PermissionModel"), c.SERVICE_MANAGED))
# Organisation mode: the delivery bucket policies admit the organisation (aws:SourceOrgID), not listed accounts.
HAS_ORGANIZATION_ID = Cond("HasOrganizationId", not_empty("OrganizationId"))
# A CommaDelimitedList with something in it. The StackSet names its targets only under these: cfn-lint otherwise
# checks the unused model's default "" against the account/OU ID pattern (the Rules refuse "" for the model in use).
HAS_ACCOUNT_IDS = Cond("HasAccountIds", lambda: Not(Equals(Join("", Ref("AccountIds")), "")))
HAS_OU_IDS = Cond("HasOrganizationalUnitIds", lambda: Not(Equals(Join("", Ref("OrganizationalUnitIds")), "")))
# The Config export reads the aggregator this stack creates (ConfigAggregatorName empty).
USE_STACK_AGGREGATOR = Cond(
    "UseStackConfigAggregator",
    lambda: And(CREATE_AGGREGATOR.ref(), Equals(Ref("ConfigAggregatorName"), "")),
    requires=(CREATE_AGGREGATOR,),
)
