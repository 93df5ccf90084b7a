"""Shared fixtures for the Lambda handler tests: fake AWS credentials, moto, CodePipeline stub."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import boto3
import botocore.session
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber
from moto import mock_aws

# The functions import their shared layer as Lambda provides it: from /opt/python.
LAYER_DIR = Path(__file__).resolve().parents[2] / "lambdas" / "shared" / "python"
if str(LAYER_DIR) not in sys.path:
    sys.path.insert(0, str(LAYER_DIR))

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
JOB_ID = "11111111-2222-3333-4444-555555555555"  # CodePipeline job ids are UUIDs
REQUEST_ID = "c0ffee00-0000-4000-8000-000000000001"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, and no trace of the machine's own AWS configuration."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in {
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "LOG_LEVEL",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    """One session for the whole run: it caches the parsed service models.

    Each ``mock_aws`` otherwise starts from a fresh default session, and re-reading the large
    SageMaker model made every test's setup cost about half a second.
    """
    core = botocore.session.Session()
    core.set_config_variable("config_file", "/nonexistent/aws-config")
    core.set_config_variable("credentials_file", "/nonexistent/aws-credentials")
    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
        botocore_session=core,
    )


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def client_cache() -> dict[str, Any]:
    """One client per service for the whole run: creating one costs tens of milliseconds, and
    moto intercepts the requests of every client created after its import, so a client made
    under one test's ``mock_aws`` talks to the next test's fresh backends. Tests must leave a
    client as they found it (Stubbers deactivated, event handlers unregistered)."""
    return {}


@pytest.fixture
def make_client(
    moto: None,
    boto_session: boto3.Session,
    client_cache: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[str], Any]]:
    """Clients used inside moto, so a call no test stubbed can never reach AWS.

    The clients are shared by the whole run (``client_cache``), so the event handlers a test
    registers on one (``client.meta.events.register``) are unregistered when it ends.
    """
    registered: list[tuple[Any, str, Any, Any]] = []
    tracked: set[int] = set()

    def track(emitter: Any) -> None:
        original = emitter.register

        def register(
            event_name: str, handler: Any, unique_id: Any = None, unique_id_uses_count: bool = False
        ) -> None:
            original(event_name, handler, unique_id, unique_id_uses_count)
            registered.append((emitter, event_name, handler, unique_id))

        monkeypatch.setattr(emitter, "register", register)

    def client(service: str) -> Any:
        if service not in client_cache:
            client_cache[service] = boto_session.client(service)  # type: ignore[call-overload]
        made = client_cache[service]
        if id(made) not in tracked:
            tracked.add(id(made))
            track(made.meta.events)
        return made

    yield client
    for emitter, event_name, handler, unique_id in reversed(registered):
        emitter.unregister(event_name, handler, unique_id=unique_id)


@dataclass
class CodePipelineRecorder:
    """A real CodePipeline client behind a Stubber, recording each call's parameters.

    moto implements neither PutJobSuccessResult nor PutJobFailureResult. The stub answers
    before any HTTP layer (moto's included) sees the request, after botocore has validated the
    parameters against the API model, so a malformed report still fails the test.
    """

    client: Any
    stubber: Stubber
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def expect_report(self, operation: str = "put_job_failure_result") -> None:
        self.stubber.add_response(operation, {})

    @property
    def only_call(self) -> tuple[str, dict[str, Any]]:
        assert len(self.calls) == 1, f"expected exactly one report, got {self.calls}"
        return self.calls[0]

    def failure(self) -> dict[str, Any]:
        operation, params = self.only_call
        assert operation == "PutJobFailureResult", f"expected a failure report, got {params}"
        assert params["jobId"] == JOB_ID
        details: dict[str, Any] = params["failureDetails"]
        return details

    def success(self) -> dict[str, Any]:
        operation, params = self.only_call
        assert operation == "PutJobSuccessResult", f"expected a success report, got {params}"
        assert params["jobId"] == JOB_ID
        return params


@pytest.fixture
def codepipeline(make_client: Callable[[str], Any]) -> Iterator[CodePipelineRecorder]:
    client = make_client("codepipeline")
    recorder = CodePipelineRecorder(client=client, stubber=Stubber(client))

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        recorder.calls.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.codepipeline", record)
    try:
        with recorder.stubber:
            yield recorder
            recorder.stubber.assert_no_pending_responses()
    finally:
        client.meta.events.unregister("provide-client-params.codepipeline", record)


# What Powertools' inject_lambda_context reads from the context.
LAMBDA_CONTEXT = cast(
    LambdaContext,
    SimpleNamespace(
        aws_request_id=REQUEST_ID,
        function_name="under-test",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:under-test",
    ),
)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LAMBDA_CONTEXT


@pytest.fixture
def job_event() -> Callable[..., dict[str, Any]]:
    """Build a CodePipeline job event; ``user_parameters`` may be a dict or a raw string."""

    def build(user_parameters: dict[str, Any] | str, job_id: str = JOB_ID) -> dict[str, Any]:
        raw = user_parameters if isinstance(user_parameters, str) else json.dumps(user_parameters)
        return {
            "CodePipeline.job": {
                "id": job_id,
                "accountId": ACCOUNT_ID,
                "data": {
                    "actionConfiguration": {"configuration": {"UserParameters": raw}},
                    "inputArtifacts": [],
                    "outputArtifacts": [],
                    "artifactCredentials": {
                        "accessKeyId": "never-logged",
                        "secretAccessKey": "never-logged",
                        "sessionToken": "never-logged",
                    },
                },
            }
        }

    return build
