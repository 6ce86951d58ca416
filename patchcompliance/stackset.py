"""The StackSet that deploys the member template (verbatim, as TemplateBody) to every target account and region.

Two permission models, chosen by the `PermissionModel` parameter (condition `ServiceManagedStackSet`):

* SELF_MANAGED: stack instances in the `AccountIds` accounts, through the StackSet administration role (this
  account) and execution role (each target account).
* SERVICE_MANAGED: stack instances in every account of the `OrganizationalUnitIds` roots/OUs, through AWS
  Organizations; accounts that join or leave those OUs later get or lose their stacks (AutoDeployment). StackSets
  never deploys to the organisation's management account in this model (DeploymentTargets, CloudFormation API
  reference). `CallAs` says whether this account is the management account or a delegated administrator.

Both: SOFT_FAILURE_TOLERANCE, so the concurrency stays at MaxConcurrentPercentage whatever fails (the default,
STRICT, caps it at the failure tolerance + 1 accounts per region).
"""

from __future__ import annotations

from troposphere import AccountId, If, NoValue, Ref, Region, Sub, Template
from troposphere.cloudformation import (
    AutoDeployment,
    DeploymentTargets,
    ManagedExecution,
    OperationPreferences,
    StackInstances,
    StackSet,
)
from troposphere.cloudformation import (
    Parameter as StackSetParameter,
)

from . import constants as c
from . import parameters
from .conditions import ACCOUNT_AGGREGATOR, DEFAULT_ADMIN_ROLE, HAS_ACCOUNT_IDS, HAS_OU_IDS, SERVICE_MANAGED

CONCURRENCY_MODE = "SOFT_FAILURE_TOLERANCE"


def add_stackset(template: Template, *, member_body: str, params: dict, buckets, depends_on) -> StackSet:
    """`params` are the central parameters; every passthrough member parameter has a central twin."""
    if len(member_body.encode()) > c.TEMPLATE_BODY_LIMIT:
        raise ValueError(f"member template is over the {c.TEMPLATE_BODY_LIMIT} byte TemplateBody limit")
    DEFAULT_ADMIN_ROLE.use(template)
    SERVICE_MANAGED.use(template)
    values = {
        "ConfigBucketName": Ref(buckets.config),
        "DataSyncBucketName": Ref(buckets.datasync),
        "DataSyncBucketRegion": Region,
        "AggregatorAccountId": If(ACCOUNT_AGGREGATOR.use(template), AccountId, ""),
        **{spec.name: Ref(params[spec.name]) for spec in parameters.passthrough_specs()},
    }
    missing = {spec.name for spec in parameters.MEMBER_SPECS} - set(values)
    if missing:
        raise ValueError(f"member parameters without a value: {sorted(missing)}")

    def self_managed_only(value):
        return If(SERVICE_MANAGED, NoValue, value)

    def service_managed_only(value):
        return If(SERVICE_MANAGED, value, NoValue)

    def if_given(condition, name):  # the list, unless empty (then the Rules refuse the stack anyway)
        return If(condition.use(template), Ref(params[name]), NoValue)

    return template.add_resource(
        StackSet(
            c.STACKSET,
            DependsOn=list(depends_on),
            StackSetName=Sub("${AWS::StackName}-member"),
            Description="Patch compliance member stack (AWS Config, SSM, tagging, data sync)",
            PermissionModel=Ref(params["PermissionModel"]),
            AdministrationRoleARN=self_managed_only(
                If(
                    DEFAULT_ADMIN_ROLE,
                    Sub(
                        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/AWSCloudFormationStackSetAdministrationRole"
                    ),
                    Ref(params["StackSetAdministrationRoleArn"]),
                )
            ),
            ExecutionRoleName=self_managed_only(Ref(params["StackSetExecutionRoleName"])),
            AutoDeployment=service_managed_only(
                AutoDeployment(Enabled=True, RetainStacksOnAccountRemoval=Ref(params["RetainStacksOnAccountRemoval"]))
            ),
            CallAs=service_managed_only(Ref(params["CallAs"])),
            Capabilities=["CAPABILITY_IAM"],
            ManagedExecution=ManagedExecution(Active=True),
            OperationPreferences=OperationPreferences(
                ConcurrencyMode=CONCURRENCY_MODE,
                RegionConcurrencyType=Ref(params["RegionConcurrencyType"]),
                MaxConcurrentPercentage=Ref(params["MaxConcurrentPercentage"]),
                FailureTolerancePercentage=Ref(params["FailureTolerancePercentage"]),
            ),
            Parameters=[StackSetParameter(ParameterKey=k, ParameterValue=v) for k, v in sorted(values.items())],
            StackInstancesGroup=[
                StackInstances(
                    DeploymentTargets=If(
                        SERVICE_MANAGED,
                        DeploymentTargets(OrganizationalUnitIds=if_given(HAS_OU_IDS, "OrganizationalUnitIds")),
                        DeploymentTargets(Accounts=if_given(HAS_ACCOUNT_IDS, "AccountIds")),
                    ),
                    Regions=Ref(params["Regions"]),
                )
            ],
            TemplateBody=member_body,
        )
    )
