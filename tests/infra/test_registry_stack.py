"""RegistryStack: the key, buckets, model package group and topic users rely on."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized

STACKS = ["Dev-RegistryStack", "Prod-RegistryStack"]


def _artifact_bucket(synthesized: Synthesized, stack: str) -> dict[str, Any]:
    buckets = synthesized.resources(stack, "AWS::S3::Bucket")
    (bucket,) = [b for lid, b in buckets.items() if lid.startswith("ArtifactStoreArtifactBucket")]
    return bucket


@pytest.mark.parametrize("stack", STACKS)
def test_key_rotates_and_is_retained(synthesized: Synthesized, stack: str) -> None:
    (key,) = synthesized.resources(stack, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    assert key["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("stack", STACKS)
def test_artifact_bucket_is_kms_encrypted_versioned_private_and_logged(
    synthesized: Synthesized, stack: str
) -> None:
    bucket = _artifact_bucket(synthesized, stack)
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_ref = rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    assert key_ref.startswith("ArtifactStoreKey")
    assert rule["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    log_target = props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert log_target.startswith("ArtifactStoreAccessLogBucket")
    assert props["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert bucket["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("stack", STACKS)
def test_every_bucket_denies_plain_http(synthesized: Synthesized, stack: str) -> None:
    buckets = synthesized.resources(stack, "AWS::S3::Bucket")
    policies = synthesized.resources(stack, "AWS::S3::BucketPolicy").values()
    tls_only = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in policies
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    }
    assert tls_only == set(buckets)


@pytest.mark.parametrize("stack", STACKS)
def test_access_log_bucket_uses_s3_managed_keys(synthesized: Synthesized, stack: str) -> None:
    (log_bucket,) = [
        b
        for lid, b in synthesized.resources(stack, "AWS::S3::Bucket").items()
        if lid.startswith("ArtifactStoreAccessLogBucket")
    ]
    (rule,) = log_bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert log_bucket["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize(
    ("stack", "group_name"), [(STACKS[0], "mlops-demo-dev"), (STACKS[1], "mlops-demo-prod")]
)
def test_model_package_group_is_named_per_environment_and_retained(
    synthesized: Synthesized, stack: str, group_name: str
) -> None:
    (group,) = synthesized.resources(stack, "AWS::SageMaker::ModelPackageGroup").values()
    assert group["Properties"]["ModelPackageGroupName"] == group_name
    assert group["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("stack", STACKS)
def test_topic_is_encrypted_with_the_project_key(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.template(stack)
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^ArtifactStoreKey"), "Arn"]}},
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_eventbridge_may_publish_to_the_encrypted_topic(synthesized: Synthesized) -> None:
    (key,) = synthesized.resources(STACKS[0], "AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    events = [s for s in statements if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert events and set(events[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_email_subscription_when_configured(dev_variant: Synthesized) -> None:
    # conftest.DEV_VARIANT_OVERRIDES: dev.notification_email.
    variant = dev_variant
    template = variant.template("Dev-RegistryStack")
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ml-team@example.com"}
    )
    variant.template("Prod-RegistryStack").resource_count_is("AWS::SNS::Subscription", 0)


def test_only_prod_has_termination_protection(synthesized: Synthesized) -> None:
    protection = {
        stack.stack_name: stack.termination_protection for stack in synthesized.assembly.stacks
    }
    assert protection["Prod-RegistryStack"] is True
    assert protection["Dev-RegistryStack"] is False


def test_stacks_carry_project_and_environment_tags(synthesized: Synthesized) -> None:
    tags = synthesized.stacks["prod"].registry.tags.tag_values()
    assert tags == {"Project": "mlops-demo", "Environment": "prod"}


def test_environment_agnostic_when_account_is_unset(synthesized: Synthesized) -> None:
    stack = synthesized.assembly.get_stack_by_name("Dev-RegistryStack")
    assert stack.environment.account == "unknown-account"
    assert stack.environment.region == "eu-west-1"
