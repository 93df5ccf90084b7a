"""What every Lambda function of this project sets up the same way: its logger and its
boto3 clients.

Shipped in the shared layer (this folder), so the functions import it as ``shared_runtime``.
Needs only what the Lambda runtime and the Powertools layer provide.
"""

from __future__ import annotations

import logging
import os
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
        self, *, max_attempts: int = 3, connect_timeout: int = 5, read_timeout: int = 60
    ) -> None:
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
    # No type stubs for SNS here (requirements-dev.txt installs none): its client is untyped.
    @overload
    def __call__(self, service: Literal["sns"]) -> Any: ...
    def __call__(self, service: str) -> Any:
        if service not in self.cache:
            # The typed overloads above only accept literal names; this one is any name.
            create: Callable[..., Any] = boto3.client
            self.cache[service] = create(service, config=self.config)
        return self.cache[service]
