"""Python code several of the project's Lambda functions share, as a Lambda layer."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from components.shared.lambda_function import CODE_EXCLUDES, LAMBDAS_DIR, RUNTIME


class PythonLayer(Construct):
    """``lambdas/<name>/python/``: Lambda puts it on the functions' import path (/opt/python)."""

    def __init__(self, scope: Construct, id_: str, *, code_dir_name: str, description: str) -> None:
        super().__init__(scope, id_)
        code_dir = LAMBDAS_DIR / code_dir_name
        if not (code_dir / "python").is_dir():
            raise ValueError(f"{code_dir} has no python/ folder; a layer's modules live there")
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(code_dir), exclude=CODE_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description=description,
        )
