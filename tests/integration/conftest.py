"""Handlers on moto: every table, the queue, the key and the secret made from template.yaml."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.base import clear_caches
from moto import mock_aws

from chat import aws
from chat.config import settings
from chat.logic.bot import budget
from local.fake_gemini import FakeGemini, start
from local.template import create_tables, load_template
from tests.support import iam
from tests.support.clients import RestClient, Sockets, WebSocketClient

JWT_KEY = secrets.token_urlsafe(48)
iam.install()  # every handler's DynamoDB calls are held to its function's IAM policies


@pytest.fixture(autouse=True)
def _iam_refusals() -> Iterator[None]:
    """A DynamoDB call the function's role does not allow fails the test, even when the
    handler turned the refusal into an error response."""
    iam.refusals.clear()
    yield
    assert not iam.refusals, f"calls template.yaml's policies refuse: {sorted(set(iam.refusals))}"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A fresh moto account with the template's resources; returns their ids."""
    with mock_aws():
        aws.reset()
        clear_caches()
        template = load_template()
        create_tables(boto3.client("dynamodb"), template)
        for variable in ("ATTACHMENTS_BUCKET",):
            boto3.client("s3").create_bucket(Bucket=os.environ[variable])
        boto3.client("secretsmanager").create_secret(
            Name="chat-jwt-signing-key", SecretString=JWT_KEY
        )
        key_id = boto3.client("kms").create_key(Description="gemini keys")["KeyMetadata"]["KeyId"]
        queue_properties = template["Resources"]["BotCommandsQueue"]["Properties"]
        sqs = boto3.client("sqs")
        dlq_url = sqs.create_queue(
            QueueName="BotCommandsDeadLetterQueue.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        queue_url = sqs.create_queue(
            QueueName="BotCommandsQueue.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": str(
                    queue_properties["ContentBasedDeduplication"]
                ).lower(),
                "VisibilityTimeout": str(queue_properties["VisibilityTimeout"]),
            },
        )["QueueUrl"]
        erasure_queue_url = sqs.create_queue(QueueName="AccountErasureQueue")["QueueUrl"]
        monkeypatch.setenv("GEMINI_KEYS_KMS_KEY_ID", key_id)
        monkeypatch.setenv("BOT_QUEUE_URL", queue_url)
        monkeypatch.setenv("ACCOUNT_ERASURE_QUEUE_URL", erasure_queue_url)
        settings.cache_clear()
        yield {
            "kms_key_id": key_id,
            "queue_url": queue_url,
            "dlq_url": dlq_url,
            "jwt_key": JWT_KEY,
            "erasure_queue_url": erasure_queue_url,
        }
        settings.cache_clear()
        aws.reset()
        clear_caches()


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeGemini]:
    """The fake Gemini HTTP server (the real streaming protocol); tests reset it."""
    with start() as server:
        yield server


@pytest.fixture
def gemini(stack: dict[str, Any], fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    """The fake Gemini, reset, with the worker pointed at it and fast retries."""
    fake.reset()
    monkeypatch.setenv("GEMINI_BASE_URL", fake.base_url)
    settings.cache_clear()
    monkeypatch.setattr(budget, "BUDGET", replace(budget.BUDGET, backoff=0.01, stall_timeout=5.0))
    return fake


@pytest.fixture
def rest(stack: dict[str, Any]) -> RestClient:
    return RestClient()


@pytest.fixture
def sockets(stack: dict[str, Any]) -> Sockets:
    return Sockets(aws.management_api())


@pytest.fixture
def register(rest: RestClient):
    """register("alice") -> the new user's access token."""

    def _register(
        username: str, password: str = "correct horse battery", email: str | None = None
    ) -> str:
        body: dict[str, Any] = {"username": username, "password": password}
        if email:
            body["email"] = email
        result = rest.post("/auth/register", body)
        assert result.status == 201, result.body
        return result.body["access_token"]

    return _register


@pytest.fixture
def room_with(rest: RestClient, register):
    """room_with("alice", "bob") -> (room, {username: token}); the first user owns it."""

    def _room_with(*usernames: str, name: str = "general") -> tuple[dict[str, Any], dict[str, str]]:
        tokens = {username: register(username) for username in usernames}
        room = rest.post("/rooms", {"name": name}, token=tokens[usernames[0]]).body
        for username in usernames[1:]:
            assert (
                rest.post("/rooms/join", {"code": room["code"]}, token=tokens[username]).status
                == 200
            )
        return room, tokens

    return _room_with


@pytest.fixture
def connect(sockets: Sockets):
    """connect(token) -> a connected WebSocketClient."""

    def _connect(token: str) -> WebSocketClient:
        client = WebSocketClient(sockets, token)
        assert client.connect() == 200
        return client

    return _connect
