#!/usr/bin/env python3
"""CDK entry point: reads configuration once and synthesizes every environment's stacks.

This is the only module that reads the process environment or CDK context.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from config import PIPELINE_IDENTITY_FIELDS, ConfigError, load_environments, overrides_of
from stacks import EnvironmentStacks, add_environment


def build(app: cdk.App, *, nag: bool) -> dict[str, EnvironmentStacks]:
    """Adds every configured environment to ``app`` and returns its stacks by environment
    name; raises ConfigError on bad settings."""
    context = app.node.get_all_context()
    stacks = {}
    for config in load_environments(context):
        stacks[config.name] = add_environment(app, config=config)
        _note_overrides_the_build_reverts(context, config.name)
    # cdk-nag runs on every synth so findings block a deploy, not just the test suite.
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def _note_overrides_the_build_reverts(context: dict[str, Any], env_name: str) -> None:
    identity = overrides_of(context, env_name, fields=PIPELINE_IDENTITY_FIELDS)
    transient = [item for item in overrides_of(context, env_name) if item not in identity]
    if transient:
        settings = ", ".join(f"{key}={value}" for key, value in transient)
        print(
            f"note: the model-build pipeline deploys {env_name}'s PipelineStack from cdk.json, "
            f"so its next run reverts {settings}; put them in cdk.json to keep them",
            file=sys.stderr,
        )


def main() -> None:
    # CloudFormation's built-in validation doubles synth time; cfn-lint runs the same checks
    # (and more) in the test suite. CDK_VALIDATION=true turns it back on for one run.
    app = cdk.App(
        builtin_cloud_formation_validation=os.environ.get("CDK_VALIDATION", "").lower() == "true"
    )
    try:
        build(app, nag=os.environ.get("MLOPS_NAG", "true").lower() != "false")
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    app.synth()


if __name__ == "__main__":
    main()
