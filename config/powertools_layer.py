"""Where the AWS-published Powertools for AWS Lambda (Python) layer exists, and its ARN.

The functions get Powertools from this layer, referenced by ARN (no bundling). The ARN is a
plain string built at synth from the environment's region, so synth needs no lookups.

Source: the Powertools docs' installation page and its regional table
(docs/getting-started/install.md, docs/includes/_layer_homepage_arm64.md). Layer version 36
is the build of release 3.31.1: commercial Python 3.9 layers stopped at version 27 with
release 3.23.0 (aws-powertools/powertools-lambda-python#8434) and every later release
(3.24.0 ... 3.31.0, 3.31.1) published one version. requirements-dev.txt pins the same
release for the tests. To upgrade, change both together.
"""

from __future__ import annotations

POWERTOOLS_RELEASE = "3.31.1"
LAYER_VERSION = 36
# The functions' runtime and architecture (components/lambda_function.py).
LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python314-arm64"

# The publishing account per partition. China: cn-north-1 only. GovCloud is published
# separately and lags behind (at version 27 when this was pinned), so it is left out until
# it carries this version.
_ACCOUNTS = {"aws": "017000801446", "aws-cn": "498634801083"}
REGIONS: dict[str, frozenset[str]] = {
    "aws": frozenset(
        {
            "af-south-1",
            "ap-east-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-7",
            "ca-central-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        }
    ),
    "aws-cn": frozenset({"cn-north-1"}),
}


def _partition(region: str) -> str | None:
    return next((p for p, regions in REGIONS.items() if region in regions), None)


def check_powertools_region(region: str) -> str:
    """The region, if the Powertools layer is published there; ValueError otherwise."""
    if _partition(region) is None:
        published = ", ".join(sorted(set().union(*REGIONS.values())))
        raise ValueError(
            f"{region!r} has no AWS-published Powertools for AWS Lambda layer "
            f"{LAYER_NAME}:{LAYER_VERSION} (release {POWERTOOLS_RELEASE}), which the "
            f"project's Lambda functions use; accepted: {published}"
        )
    return region


def powertools_layer_arn(region: str) -> str:
    partition = _partition(check_powertools_region(region))
    assert partition is not None
    return (
        f"arn:{partition}:lambda:{region}:{_ACCOUNTS[partition]}:layer:{LAYER_NAME}:{LAYER_VERSION}"
    )
