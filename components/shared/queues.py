"""The project's SQS queues: KMS-encrypted with the project key and TLS-only."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def dead_letter_queue(scope: Construct, id_: str, *, key: kms.IKey, holds: str) -> sqs.Queue:
    """A retained dead-letter queue; ``holds`` says what lands in it (for the nag reason)."""
    queue = sqs.Queue(
        scope,
        id_,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        # Failed messages are the evidence of what went wrong; keep them on stack deletion.
        removal_policy=RemovalPolicy.RETAIN,
    )
    Validations.of(queue).acknowledge(
        Acknowledgment(
            id="AwsSolutions-SQS3",
            reason=f"This queue is itself the dead-letter queue of {holds}.",
        )
    )
    return queue


def allow_encrypting_dead_letters(role: iam.IRole, key: kms.IKey) -> None:
    """What a Scheduler role needs besides sqs:SendMessage (which the target grants) to
    dead-letter into a queue encrypted with ``key``: without it a failed invocation would be
    lost instead of dead-lettered. Only through SQS in the role's own region."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="EncryptDeadLetters",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"sqs.{Stack.of(role).region}.amazonaws.com"}
            },
        )
    )
