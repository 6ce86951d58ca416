"""EC2 platform tagging (member): tags instances with PlatformType/PlatformName/PlatformVersion so the
maintenance window can target them; runs at stack create/update and on a schedule for new instances."""

from __future__ import annotations

import awacs.ec2
import awacs.ssm
from awacs.aws import Allow, Condition, ForAllValuesStringEquals, Statement
from troposphere import GetAtt, Ref, Sub, Template
from troposphere.cloudformation import CustomResource
from troposphere.events import Rule

from . import constants as c
from .events import (
    add_async_invoke_config,
    add_dead_letter_queue,
    add_retrying_target,
    allow_rule_to_invoke,
    allow_rule_to_queue,
)
from .lambdas import LambdaFunction, add_function

TIMEOUT = 300  # Lambda timeout (s); the custom resource's ServiceTimeout is above it
SERVICE_TIMEOUT = 600


class EC2TaggingResource(CustomResource):
    resource_type = "Custom::EC2Tagging"


def add_tagging(template: Template, params: dict) -> LambdaFunction:
    dlq = add_dead_letter_queue(template, c.TAGGING_DLQ)
    fn = add_function(
        template,
        c.TAGGING_FUNCTION,
        role_id=c.TAGGING_ROLE,
        description="Tags EC2 instances with PlatformType, PlatformName and PlatformVersion from SSM",
        log_retention=params["LogRetentionDays"],
        timeout=TIMEOUT,
        dead_letter_queue=dlq,
        statements=[
            Statement(  # list API: no resource-level permissions (see policies.UNSCOPED_ACTIONS)
                Effect=Allow, Action=[awacs.ssm.DescribeInstanceInformation], Resource=["*"]
            ),
            Statement(
                Effect=Allow,
                Action=[awacs.ec2.CreateTags],
                Resource=[Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*")],
                Condition=Condition(ForAllValuesStringEquals({"aws:TagKeys": list(c.PLATFORM_TAG_KEYS)})),
            ),
        ],
    )
    add_async_invoke_config(template, fn)
    rule = template.add_resource(
        Rule(
            c.TAGGING_SCHEDULE,
            Description="Re-tags instances so that instances launched later are patched too",
            ScheduleExpression=Ref(params["TaggingSchedule"]),
            State="ENABLED",
            Targets=[add_retrying_target(fn, dlq, "tagging")],
        )
    )
    allow_rule_to_queue(template, c.TAGGING_DLQ_POLICY, dlq, rule)
    allow_rule_to_invoke(template, c.TAGGING_SCHEDULE_PERMISSION, fn, rule)
    template.add_resource(
        EC2TaggingResource(
            c.TAGGING_CUSTOM_RESOURCE,
            ServiceToken=GetAtt(fn.function, "Arn"),
            ServiceTimeout=SERVICE_TIMEOUT,
            DeletionPolicy="Delete",  # tags stay on the instances; nothing to keep
            UpdateReplacePolicy="Delete",
        )
    )
    return fn
