"""EventBridge plumbing shared by the asynchronously invoked functions: retries, dead-letter queues,
invoke permissions."""

from __future__ import annotations

from troposphere import AccountId, GetAtt, Ref, Template
from troposphere.awslambda import EventInvokeConfig, Permission
from troposphere.events import DeadLetterConfig, RetryPolicy, Rule, Target
from troposphere.sqs import Queue, QueuePolicy

from . import policies
from .lambdas import LambdaFunction


def add_dead_letter_queue(template: Template, queue_id: str) -> Queue:
    """Encrypted queue for events that could not be delivered or processed (kept 14 days)."""
    return template.add_resource(
        Queue(
            queue_id,
            SqsManagedSseEnabled=True,
            MessageRetentionPeriod=1_209_600,
            DeletionPolicy="Delete",  # parked events are diagnostics, not data; they go with the stack
            UpdateReplacePolicy="Delete",
            Metadata={"checkov": {"skip": [QUEUE_KMS_SKIP]}},
        )
    )


QUEUE_KMS_SKIP = {
    "id": "CKV_AWS_27",
    "comment": "Encrypted with SSE-SQS (SqsManagedSseEnabled), which this check does not recognise; "
    "EventBridge cannot send to a queue under the AWS managed key alias/aws/sqs.",
}


def allow_rule_to_queue(template: Template, policy_id: str, queue: Queue, rule: Rule) -> QueuePolicy:
    return template.add_resource(
        QueuePolicy(
            policy_id,
            Queues=[Ref(queue)],
            PolicyDocument=policies.document(policies.queue_send_statement(queue, GetAtt(rule, "Arn"))),
        )
    )


def add_retrying_target(fn: LambdaFunction, dlq: Queue, target_id: str) -> Target:
    """EventBridge target: retries delivery for an hour, then parks the event in the DLQ."""
    return Target(
        Id=target_id,
        Arn=GetAtt(fn.function, "Arn"),
        RetryPolicy=RetryPolicy(MaximumRetryAttempts=8, MaximumEventAgeInSeconds=3600),
        DeadLetterConfig=DeadLetterConfig(Arn=GetAtt(dlq, "Arn")),
    )


def add_async_invoke_config(template: Template, fn: LambdaFunction, *, max_event_age: int = 3600) -> EventInvokeConfig:
    """Function errors on asynchronous invocations: two retries, then the function's DLQ.

    `max_event_age`: events older than this (s) go to the DLQ instead of being retried; a custom-resource
    function passes its ServiceTimeout, after which CloudFormation no longer waits for an answer.
    """
    return template.add_resource(
        EventInvokeConfig(
            f"{fn.function.title}InvokeConfig",
            FunctionName=Ref(fn.function),
            Qualifier="$LATEST",
            MaximumRetryAttempts=2,
            MaximumEventAgeInSeconds=max_event_age,
        )
    )


def allow_rule_to_invoke(template: Template, permission_id: str, fn: LambdaFunction, rule: Rule) -> Permission:
    return template.add_resource(
        Permission(
            permission_id,
            FunctionName=Ref(fn.function),
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=GetAtt(rule, "Arn"),
            SourceAccount=AccountId,
        )
    )
