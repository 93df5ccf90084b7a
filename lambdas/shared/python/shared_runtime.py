"""What every Lambda function of this project sets up the same way: its logger and its
boto3 clients.

Shipped in the shared layer (this folder), so the functions import it as ``shared_runtime``.
Needs only what the Lambda runtime and the Powertools layer provide.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt); the Lambda runtime has none and needs none.
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

DEFAULT_LOG_LEVEL = "INFO"
# An IAM role ARN, as a function is handed one to assume (a role of another account).
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")


def function_logger(service: str) -> Logger:
    """A Powertools JSON logger at ``LOG_LEVEL``.

    Powertools reads LOG_LEVEL itself but raises on an unknown level while the module is
    imported, so the function could not even report a failure; an unknown level falls back
    to INFO here instead.
    """
    level = os.environ.get("LOG_LEVEL", "").strip().upper() or DEFAULT_LOG_LEVEL
    known = isinstance(logging.getLevelName(level), int)
    logger = Logger(service=service, level=level if known else DEFAULT_LOG_LEVEL)
    if not known:
        logger.warning("Unknown LOG_LEVEL; using INFO", extra={"log_level": level})
    return logger


class Clients:
    """The function's boto3 clients, created on first use (importing the module never needs
    AWS) and reused across invocations, all with the same retry and timeout settings."""

    def __init__(
        self,
        *,
        max_attempts: int = 3,
        connect_timeout: int = 5,
        read_timeout: int = 60,
        session: boto3.Session | None = None,
    ) -> None:
        self._session = session
        self.config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        # Tests put stubbed clients here.
        self.cache: dict[str, Any] = {}

    @overload
    def __call__(self, service: Literal["codepipeline"]) -> CodePipelineClient: ...
    @overload
    def __call__(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def __call__(self, service: Literal["sagemaker"]) -> SageMakerClient: ...
    @overload
    def __call__(self, service: Literal["sagemaker-runtime"]) -> SageMakerRuntimeClient: ...
    # No type stubs for SNS and STS here (requirements-dev.txt installs none): untyped.
    @overload
    def __call__(self, service: Literal["sns", "sts"]) -> Any: ...
    def __call__(self, service: str) -> Any:
        if service not in self.cache:
            # The typed overloads above only accept literal names; this one is any name.
            create: Callable[..., Any] = (self._session or boto3).client
            self.cache[service] = create(service, config=self.config)
        return self.cache[service]

    def as_role(self, role_arn: str, session_name: str) -> Clients:
        """Clients with the same settings, calling as ``role_arn`` (a role of another account
        that trusts this function's role); the credentials last STS's default hour."""
        credentials = self("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)[
            "Credentials"
        ]
        assumed = Clients(
            session=boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        )
        assumed.config = self.config
        return assumed
