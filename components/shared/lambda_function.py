"""One of the project's Python Lambda functions: code from ``lambdas/<name>/``, its own role,
an encrypted log group with a retention period, and JSON logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.powertools_layer import layer_reference

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
HANDLER = "handler.lambda_handler"
# The newest Python runtime (cdk-nag L1); the handlers need Python >= 3.11, boto3 (in the
# runtime) and Powertools (the AWS-published layer, config/powertools_layer.py).
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
DEFAULT_TIMEOUT = Duration.seconds(30)
# Local caches and tests never belong in the deployment package (they would also change
# the asset hash, and so the template, from one machine to the next).
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
_APPLICATION_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}
CODE_EXCLUDES = ["__pycache__", "*.pyc", "tests", ".pytest_cache", ".mypy_cache"]


class PythonLambda(Construct):
    """A function whose role can write to its own log group and nothing else until granted.

    The role is created here rather than by ``lambda.Function`` so it carries no managed
    policy (AWSLambdaBasicExecutionRole allows writing to every log group in the account).
    The handlers need boto3, which the runtime provides, and Powertools, which the
    AWS-published layer provides, so the code is packaged as is: no bundling, no Docker.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        code_dir_name: str,
        description: str,
        key: kms.IKey,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_size: int = 256,
        log_level: LogLevel = "INFO",
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        environment: Mapping[str, str] | None = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
        powertools: bool = True,
        role_name: str | None = None,
    ) -> None:
        """``role_name``: a fixed name, for a role another account trusts by ARN."""
        super().__init__(scope, id_)
        code_dir = LAMBDAS_DIR / code_dir_name
        if not (code_dir / "handler.py").is_file():
            raise ValueError(f"{code_dir} has no handler.py; expected lambdas/<name>/handler.py")

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=key,
            retention=log_retention,
            # The logs are the audit trail of what was deployed and tested.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
            role_name=role_name,
        )
        # Lambda creates the streams of the log group given to it; nothing else to allow.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            code=lambda_.Code.from_asset(str(code_dir), exclude=CODE_EXCLUDES),
            handler=HANDLER,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            description=description,
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            environment={"LOG_LEVEL": log_level, **(environment or {})},
            logging_format=lambda_.LoggingFormat.JSON,
            # Powertools lets Lambda's own level (which JSON logs default to INFO) override
            # LOG_LEVEL, so both are set from the same prop.
            application_log_level_v2=_APPLICATION_LOG_LEVELS[log_level],
            log_group=self.log_group,
            layers=[*self._powertools_layers(powertools), *layers],
        )
        # Logs are written with the role's credentials only once the policy exists.
        self.function.node.add_dependency(self.role)

    def _powertools_layers(self, wanted: bool) -> list[lambda_.ILayerVersion]:
        if not wanted:
            return []
        # Resolved by CloudFormation in the stack's own region (config/powertools_layer.py).
        # The layer is built per Python version and architecture: name the functions' own.
        reference = layer_reference(runtime=RUNTIME.name, architecture=ARCHITECTURE.name)
        return [lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", reference)]
