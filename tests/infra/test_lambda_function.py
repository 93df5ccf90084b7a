"""PythonLambda on its own: the Powertools layer, its opt-out, and the region it needs."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from components.shared.lambda_function import PythonLambda
from config.powertools_layer import LAYER_NAME, LAYER_VERSION, powertools_layer_arn


def _function(region: str | None, *, powertools: bool = True) -> cdk.Stack:
    app = cdk.App(builtin_cloud_formation_validation=False)
    env = cdk.Environment(account="123456789012", region=region) if region else None
    stack = cdk.Stack(app, "Stack", env=env)
    key = kms.Key(stack, "Key")
    PythonLambda(
        stack,
        "Fn",
        code_dir_name="resolve_model_package",
        description="under test",
        key=key,
        powertools=powertools,
    )
    return stack


def _layers(stack: cdk.Stack) -> list[object]:
    (function,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    layers: list[object] = function["Properties"].get("Layers", [])
    return layers


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        ("eu-west-1", f"arn:aws:lambda:eu-west-1:017000801446:layer:{LAYER_NAME}:{LAYER_VERSION}"),
        (
            "cn-north-1",
            f"arn:aws-cn:lambda:cn-north-1:498634801083:layer:{LAYER_NAME}:{LAYER_VERSION}",
        ),
    ],
)
def test_every_function_gets_the_regional_powertools_layer(region: str, arn: str) -> None:
    assert powertools_layer_arn(region) == arn
    assert _layers(_function(region)) == [arn]


def test_a_function_can_do_without_powertools() -> None:
    assert _layers(_function("eu-west-1", powertools=False)) == []


def test_a_stack_without_an_explicit_region_is_refused() -> None:
    with pytest.raises(ValueError, match="Powertools layer ARN is regional"):
        _function(None)
