"""The project's SNS topic: pipeline failures, models awaiting approval, deploy approvals."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class Notifications(Construct):
    """A KMS-encrypted, TLS-only topic with an optional e-mail subscription."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        key: kms.IKey,
        display_name: str,
        email: str | None,
    ) -> None:
        super().__init__(scope, id_)
        self.topic = sns.Topic(
            self, "Topic", display_name=display_name, master_key=key, enforce_ssl=True
        )
        # EventBridge rules publish to the topic; with a customer key they need to use it.
        key.grant(
            iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        if email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
