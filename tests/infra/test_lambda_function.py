"""PythonLambda on its own: the pinned Powertools layer and its opt-out."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from aws_lambda_powertools.shared.version import VERSION

from components.shared.lambda_function import ARCHITECTURE, RUNTIME, PythonLambda
from config.powertools_layer import POWERTOOLS_RELEASE, layer_reference


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


def test_every_function_gets_the_pinned_powertools_layer_resolved_at_deploy_time() -> None:
    # The layer of the functions' own Python version and architecture, at the pinned release;
    # CloudFormation resolves the public parameter, so synth needs no lookup.
    (function,) = (
        Template.from_stack(_function("eu-west-1")).find_resources("AWS::Lambda::Function").values()
    )
    properties = function["Properties"]
    runtime, architectures = properties["Runtime"], properties["Architectures"]
    assert (runtime, architectures) == (RUNTIME.name, [ARCHITECTURE.name])
    assert properties["Layers"] == [
        "{{resolve:ssm:/aws/service/powertools/python/"
        f"{architectures[0]}/{runtime}/{POWERTOOLS_RELEASE}}}}}"
    ]
    assert layer_reference(runtime="python3.13", architecture="x86_64") == (
        f"{{{{resolve:ssm:/aws/service/powertools/python/x86_64/python3.13/{POWERTOOLS_RELEASE}}}}}"
    )


def test_the_pinned_release_is_the_one_the_tests_run() -> None:
    assert VERSION == POWERTOOLS_RELEASE


def test_a_function_can_do_without_powertools() -> None:
    assert _layers(_function("eu-west-1", powertools=False)) == []
