"""The project's KMS key and the buckets that hold data, artifacts and access logs."""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


class ArtifactStore(Construct):
    """A customer-managed key and a KMS-encrypted, TLS-only, versioned artifact bucket.

    Everything here is stateful, so it is retained when the stack is deleted: losing the key
    would make every artifact, model and captured request unreadable.
    """

    def __init__(self, scope: Construct, id_: str, *, resource_prefix: str) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        # A stable, documented name: users upload training data to it. Account and region
        # make it globally unique; other stacks refer to it by this name (see bucket_for).
        self.bucket_name = f"{resource_prefix}-{stack.account}-{stack.region}"

        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the data, models and messages of {resource_prefix}",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts the project's log groups (Lambdas, CodeBuild) with this key;
        # the condition limits it to log groups of this account and region.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )

        # S3 server access logs can only be delivered to an SSE-S3 bucket, not SSE-KMS.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldAccessLogs",
                    expiration=Duration.days(365),
                    noncurrent_version_expiration=Duration.days(30),
                )
            ],
        )
        Validations.of(self.access_log_bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This bucket is the server access log destination; logging it into "
                "itself would create a feedback loop.",
            )
        )

        self.bucket = s3.Bucket(
            self,
            "ArtifactBucket",
            bucket_name=self.bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="artifact-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
                s3.LifecycleRule(
                    id="ExpireNoncurrentVersions",
                    noncurrent_version_expiration=Duration.days(90),
                ),
            ],
        )
        # New data under the input prefix retrains the model through EventBridge. Set on the
        # L1 resource: `event_bridge_enabled=True` would add a custom-resource Lambda for it.
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )

    def bucket_for(self, scope: Construct, *, import_key: bool = False) -> s3.IBucket:
        """The artifact bucket as seen from another stack, referenced by its stable name.

        Referencing by name keeps other stacks' IAM resources free of cross-stack imports,
        so their policies (and cdk-nag findings) read as plain ARNs. ``import_key``: the key
        as an imported reference, whose policy no grant made in ``scope`` can change (CDK
        would name another account's roles as principals there, which KMS refuses while
        they do not exist; components/registry/serving_accounts.py grants them instead).
        """
        key = (
            kms.Key.from_key_arn(scope, "ArtifactKey", self.key.key_arn) if import_key else self.key
        )
        return s3.Bucket.from_bucket_attributes(
            scope, "ArtifactBucket", bucket_name=self.bucket_name, encryption_key=key
        )
