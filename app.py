#!/usr/bin/env python3
"""CDK entry point: reads configuration once and synthesizes every environment's stacks.

This is the only module that reads the process environment or CDK context.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from config import ConfigError, load_environments
from stacks import add_environment


def build(app: cdk.App, *, nag: bool) -> None:
    """Adds every configured environment to ``app``; raises ConfigError on bad settings."""
    environments = load_environments(app.node.get_all_context())
    for config in environments:
        add_environment(app, config=config)
    # cdk-nag runs on every synth so findings block a deploy, not just the test suite.
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


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
