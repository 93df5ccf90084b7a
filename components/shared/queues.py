"""The project's SQS queues: KMS-encrypted with the project key and TLS-only."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
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
