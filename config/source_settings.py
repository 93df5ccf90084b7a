"""Where the model-build and model-deploy code lives."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, model_validator

from config.frozen_settings import FrozenSettings
from config.validation import CONNECTION_ARN, REPOSITORY, BlankIsNone, check_branch, pattern


class SourceSettings(FrozenSettings):
    """CodeCommit repositories this app creates, or existing ones through CodeConnections."""

    provider: Literal["codecommit", "codeconnections"] = "codecommit"
    connection_arn: Annotated[
        Annotated[
            str,
            pattern(
                CONNECTION_ARN,
                "arn:aws:codeconnections:<region>:<account>:connection/<uuid>",
            ),
        ]
        | None,
        BlankIsNone,
    ] = None
    build_repository: Annotated[
        Annotated[str, pattern(REPOSITORY, "'owner/name' of the model-build repository")] | None,
        BlankIsNone,
    ] = None
    deploy_repository: Annotated[
        Annotated[str, pattern(REPOSITORY, "'owner/name' of the model-deploy repository")] | None,
        BlankIsNone,
    ] = None
    branch: Annotated[str, AfterValidator(check_branch)] = "main"

    @model_validator(mode="after")
    def _connection_fields(self) -> Self:
        required = {
            "connection_arn": self.connection_arn,
            "build_repository": self.build_repository,
            "deploy_repository": self.deploy_repository,
        }
        if self.provider == "codeconnections":
            missing = sorted(name for name, value in required.items() if value is None)
            if missing:
                raise ValueError(
                    f"provider 'codeconnections' needs {', '.join(missing)} "
                    "(a CodeConnections connection ARN and 'owner/name' repositories)"
                )
        else:
            given = sorted(name for name, value in required.items() if value is not None)
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply to provider 'codeconnections'; "
                    "set provider to 'codeconnections' or remove them"
                )
        return self
