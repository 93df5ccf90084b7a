"""PipelineStack: the SageMaker training pipeline, its role, and the model-build CI/CD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Stack
from constructs import Construct

from components.training import Training
from config import PIPELINE_IDENTITY_FIELDS, EnvironmentConfig, overrides_of
from stacks.capability import CAPABILITY_ID
from stacks.registry_stack import RegistryStack

REPO_ROOT = Path(__file__).resolve().parents[1]
# The model-build repository starts as this project: these top-level entries (the ones git
# tracks; a test keeps the list in step with `git ls-files`), so stray local files neither
# reach the repository nor change the template. Inside them, whatever .gitignore covers
# (caches, secrets such as .env) stays out too. The template snapshots stay: its build runs
# `make test`, and they mask asset hashes, so they do not depend on this very asset.
MODEL_BUILD_CONTENT = (
    ".ci",
    ".github",
    ".gitignore",
    "Makefile",
    "README.md",
    "app.py",
    "cdk.json",
    "components",
    "config",
    "constraints.txt",
    "docs",
    "lambdas",
    "package-lock.json",
    "package.json",
    "pipeline_code",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements-pipeline.txt",
    "requirements.txt",
    "stacks",
    "tests",
    "tools",
)


def model_build_excludes(repo_root: Path) -> list[str]:
    """Exclusions in .gitignore syntax: everything but MODEL_BUILD_CONTENT, then .gitignore."""
    gitignore = repo_root / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.is_file() else []
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return ["/*", *(f"!/{entry}" for entry in MODEL_BUILD_CONTENT), *patterns]


class PipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        registry: RegistryStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        capability = Training(
            self,
            CAPABILITY_ID,
            config=config,
            # By name: keeps this stack's IAM resources free of cross-stack imports.
            bucket=registry.store.bucket_for(self),
            key=registry.store.key,
            model_registry=registry.registry,
            topic=registry.notifications.topic,
            source_dir=REPO_ROOT,
            source_exclude=model_build_excludes(REPO_ROOT),
            stack_name=self.stack_name,
            context_overrides=overrides_of(
                self.node.get_all_context(), config.name, fields=PIPELINE_IDENTITY_FIELDS
            ),
        )
        self.training = capability.training
        self.source = capability.source
        self.build = capability.build
        self.failure_alerts = capability.failure_alerts
