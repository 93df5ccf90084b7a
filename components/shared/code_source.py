"""Where a CodePipeline's code comes from: a CodeCommit repository, or a CodeConnections one."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode, RemovalPolicy
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from config import SourceSettings


class CodeSource(Construct):
    """A repository and the source action that watches its branch.

    With the default provider a CodeCommit repository is created, seeded with
    the files of ``initial_content_dir`` so users can clone it and push; it is retained on
    delete because it
    holds their history. With ``codeconnections`` the existing GitHub / GitLab / Bitbucket
    repository is used through the connection and nothing is created.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: SourceSettings,
        codecommit_name: str,
        description: str,
        initial_content_dir: Path,
        initial_content_exclude: list[str],
        connection_repository: str | None,
    ) -> None:
        super().__init__(scope, id_)
        self.branch = settings.branch
        self._settings = settings
        self._connection_repository = connection_repository
        self.repository: codecommit.Repository | None = None
        if settings.provider == "codecommit":
            self.repository = codecommit.Repository(
                self,
                "Repository",
                repository_name=codecommit_name,
                description=description,
                code=codecommit.Code.from_asset(
                    s3_assets.Asset(
                        self,
                        "InitialContent",
                        path=str(initial_content_dir),
                        exclude=initial_content_exclude,
                        # Exclusions use .gitignore syntax, so callers can pass that file's lines.
                        ignore_mode=IgnoreMode.GIT,
                    ),
                    settings.branch,
                ),
            )
            self.repository.apply_removal_policy(RemovalPolicy.RETAIN)

    @property
    def display_name(self) -> str:
        if self.repository is not None:
            return self.repository.repository_name
        assert self._connection_repository is not None
        return self._connection_repository

    def source_action(self, output: codepipeline.Artifact) -> codepipeline.IAction:
        """The action that fetches the branch on every push."""
        if self.repository is not None:
            return actions.CodeCommitSourceAction(
                action_name="Source",
                repository=self.repository,
                branch=self.branch,
                output=output,
                trigger=actions.CodeCommitTrigger.EVENTS,
            )
        assert self._settings.connection_arn is not None
        assert self._connection_repository is not None
        owner, _, repo = self._connection_repository.rpartition("/")
        return actions.CodeStarConnectionsSourceAction(
            action_name="Source",
            connection_arn=self._settings.connection_arn,
            owner=owner,
            repo=repo,
            branch=self.branch,
            output=output,
            trigger_on_push=True,
        )
