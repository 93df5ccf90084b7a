"""What every Lambda function of this project sets up the same way: its logger and its
boto3 clients.

Shipped in the shared layer (this folder), so the functions import it as ``shared_runtime``.
Needs only what the Lambda runtime and the Powertools layer provide.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config

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

    def __call__(self, service: str) -> Any:
        if service not in self.cache:
            self.cache[service] = boto3.client(service, config=self.config)
        return self.cache[service]
