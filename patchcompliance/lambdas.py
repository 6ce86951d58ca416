"""Shared builder for a Lambda function with its own role and log group.

The function writes to its log group through `LoggingConfig`, so the role can be scoped to that log group
without a dependency cycle (function -> role -> log group, function -> log group).
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import GetAtt, Ref, Template
from troposphere.awslambda import Code, DeadLetterConfig, Environment, Function, LoggingConfig
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from . import policies
from .constants import FUNCTION_DIRS, LAMBDA_RUNTIME
from .render import function_source


@dataclass(frozen=True)
class LambdaFunction:
    function: Function
    role: Role
    log_group: LogGroup


def add_function(
    template: Template,
    logical_id: str,
    *,
    role_id: str,
    description: str,
    statements: list,
    log_retention,
    timeout: int,
    memory: int = 256,
    environment: dict | None = None,
    dead_letter_queue=None,
    extra_policies: list = (),  # more inline policies, e.g. policies.conditional_policy(...) for a KMS key
    metadata: dict | None = None,  # {"skip": [extra checkov skips]}
) -> LambdaFunction:
    """Add function `logical_id` (code: functions/<dir>/index.py) with a least-privilege role and log group.

    Every function of this project is invoked asynchronously (EventBridge or CloudFormation custom resource),
    so each one should get a `dead_letter_queue`; tests/test_security.py enforces that.
    """
    if dead_letter_queue is not None:  # Lambda's own async-failure DLQ needs send rights on the queue
        statements = [*statements, policies.send_to_queue_statement(dead_letter_queue)]
    log_group = template.add_resource(
        LogGroup(
            f"{logical_id}LogGroup",
            RetentionInDays=Ref(log_retention),
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            Metadata={"checkov": {"skip": [LOG_GROUP_KMS_SKIP]}},
        )
    )
    role = template.add_resource(
        Role(
            role_id,
            Description=f"Execution role of {logical_id}",
            AssumeRolePolicyDocument=policies.assume_role("lambda"),
            Policies=[
                Policy(
                    PolicyName="least-privilege",
                    PolicyDocument=policies.document(policies.log_statement(log_group), *statements),
                ),
                *extra_policies,
            ],
        )
    )
    props = {
        "Description": description,
        "Runtime": LAMBDA_RUNTIME,
        "Handler": "index.handler",
        "Code": Code(ZipFile=function_source(FUNCTION_DIRS[logical_id])),
        "Role": GetAtt(role, "Arn"),
        "Timeout": timeout,
        "MemorySize": memory,
        "Architectures": ["arm64"],
        "LoggingConfig": LoggingConfig(LogGroup=Ref(log_group)),
    }
    if environment:
        props["Environment"] = Environment(Variables=environment)
    if dead_letter_queue is not None:
        props["DeadLetterConfig"] = DeadLetterConfig(TargetArn=GetAtt(dead_letter_queue, "Arn"))
    function = Function(logical_id, **props)
    function.Metadata = {"checkov": {"skip": [*LAMBDA_CHECKOV_SKIPS, *(metadata or {}).get("skip", [])]}}
    template.add_resource(function)
    return LambdaFunction(function, role, log_group)


# checkov skips; each reason must be true for this design. The README ("Security") lists them all and
# tests/test_security.py checks that the templates skip nothing else.
LAMBDA_CHECKOV_SKIPS = [  # every function of both templates
    {
        "id": "CKV_AWS_117",
        "comment": "Calls only AWS APIs; a VPC would need NAT or endpoints and adds no isolation here.",
    },
    {
        "id": "CKV_AWS_115",
        "comment": "Reserved concurrency would only cap it; accounts at the default quota of 10 cannot reserve any.",
    },
]
LOG_GROUP_KMS_SKIP = {  # every function's log group
    "id": "CKV_AWS_158",
    "comment": "CloudWatch Logs encrypts at rest by default and the logs hold no secrets; a customer key "
    "would need a key policy for logs.<region>.amazonaws.com in every account and region.",
}
