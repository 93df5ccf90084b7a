"""Which AWS-published Powertools for AWS Lambda (Python) layer the functions use, and where.

The functions get Powertools from its AWS-published layer (no bundling). The template names the
layer by a CloudFormation dynamic reference to the public SSM parameter that Powertools
publishes for every release, ``/aws/service/powertools/python/<arch>/<python>/<release>``
(documented on the Powertools install page): CloudFormation resolves it to the exact layer
version ARN at deploy time, so synth stays offline and deterministic, the release is pinned,
and no layer version number has to be inferred. requirements-dev.txt pins the same release for
the tests, so they run the code Lambda runs. To upgrade, change both together.
"""

from __future__ import annotations

POWERTOOLS_RELEASE = "3.31.1"


def layer_parameter(*, runtime: str, architecture: str) -> str:
    """The public SSM parameter of the pinned release's layer for a runtime (``python3.14``)
    and architecture (``arm64``): the layer is built per Python version."""
    return f"/aws/service/powertools/python/{architecture}/{runtime}/{POWERTOOLS_RELEASE}"


def layer_reference(*, runtime: str, architecture: str) -> str:
    """A CloudFormation dynamic reference that resolves to that layer's ARN at deploy time."""
    return "{{resolve:ssm:" + layer_parameter(runtime=runtime, architecture=architecture) + "}}"


# Where the layer is published (the install page's regional table). China: cn-north-1 only.
# GovCloud is published separately and lags behind, so it is left out until it carries this
# release.
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


def check_powertools_region(region: str) -> str:
    """The region, if the Powertools layer is published there; ValueError otherwise."""
    if not any(region in regions for regions in REGIONS.values()):
        published = ", ".join(sorted(set().union(*REGIONS.values())))
        raise ValueError(
            f"{region!r} has no AWS-published Powertools for AWS Lambda layer (release "
            f"{POWERTOOLS_RELEASE}), which the project's Lambda functions use; accepted: "
            f"{published}"
        )
    return region
