"""The StackSet that deploys the member template (verbatim, as TemplateBody) to every account and region."""

from __future__ import annotations

from troposphere import If, Ref, Region, Sub, Template
from troposphere.cloudformation import (
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
from .conditions import DEFAULT_ADMIN_ROLE


def add_stackset(template: Template, *, member_body: str, params: dict, buckets, depends_on) -> StackSet:
    """`params` are the central parameters; every passthrough member parameter has a central twin."""
    if len(member_body.encode()) > c.TEMPLATE_BODY_LIMIT:
        raise ValueError(f"member template is over the {c.TEMPLATE_BODY_LIMIT} byte TemplateBody limit")
    DEFAULT_ADMIN_ROLE.use(template)
    values = {
        "ConfigBucketName": Ref(buckets.config),
        "DataSyncBucketName": Ref(buckets.datasync),
        "DataSyncBucketRegion": Region,
        **{spec.name: Ref(params[spec.name]) for spec in parameters.passthrough_specs()},
    }
    missing = {spec.name for spec in parameters.MEMBER_SPECS} - set(values)
    if missing:
        raise ValueError(f"member parameters without a value: {sorted(missing)}")
    return template.add_resource(
        StackSet(
            c.STACKSET,
            DependsOn=list(depends_on),
            StackSetName=Sub("${AWS::StackName}-member"),
            Description="Patch compliance member stack (AWS Config, SSM, tagging, data sync)",
            PermissionModel="SELF_MANAGED",
            AdministrationRoleARN=If(
                DEFAULT_ADMIN_ROLE,
                Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/AWSCloudFormationStackSetAdministrationRole"),
                Ref(params["StackSetAdministrationRoleArn"]),
            ),
            ExecutionRoleName=Ref(params["StackSetExecutionRoleName"]),
            Capabilities=["CAPABILITY_IAM"],
            ManagedExecution=ManagedExecution(Active=True),
            OperationPreferences=OperationPreferences(
                RegionConcurrencyType=Ref(params["RegionConcurrencyType"]),
                MaxConcurrentPercentage=Ref(params["MaxConcurrentPercentage"]),
                FailureTolerancePercentage=Ref(params["FailureTolerancePercentage"]),
            ),
            Parameters=[StackSetParameter(ParameterKey=k, ParameterValue=v) for k, v in sorted(values.items())],
            StackInstancesGroup=[
                StackInstances(
                    DeploymentTargets=DeploymentTargets(Accounts=Ref(params["AccountIds"])),
                    Regions=Ref(params["Regions"]),
                )
            ],
            TemplateBody=member_body,
        )
    )
