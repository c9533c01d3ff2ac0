"""Messages: posting, history paging, and bot commands going to the FIFO queue."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from chat import aws
from tests.support.dynamo import count_dynamodb_calls


def _post(rest, room, token, content, **extra):
    return rest.post(
        f"/rooms/{room['room_id']}/messages", {"content": content, **extra}, token=token
    )


def _queued(stack) -> list[dict]:
    sqs = boto3.client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=stack["queue_url"],
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            VisibilityTimeout=0,
        ).get("Messages", [])
        if not batch:
            return found
        found += batch
        for message in batch:
            sqs.delete_message(QueueUrl=stack["queue_url"], ReceiptHandle=message["ReceiptHandle"])


def test_post_message_returns_the_stored_message(rest, room_with):
    room, tokens = room_with("alice")
    result = _post(rest, room, tokens["alice"], "  hello there  ", client_id="c-1")
    assert result.status == 201
    message = result.body
    assert set(message) == {
        "message_id", "room_id", "username", "content", "message_type", "is_bot",
        "created_at", "client_id", "reply_to", "status",
        "edited_at", "deleted", "reactions", "attachments", "mentions", "visible_to",
        "usage", "tool_calls", "sources",
    }  # fmt: skip
    assert message["mentions"] == []
    assert message["content"] == "hello there"
    assert message["username"] == "alice"
    assert message["message_type"] == "text"
    assert message["is_bot"] is False
    assert message["client_id"] == "c-1"
    assert message["reply_to"] is None
    assert message["status"] == "complete"
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["alice"]).body
    assert history == {"messages": [message], "next_before": None}


@pytest.mark.parametrize("content", ["", "    ", "x" * 4001])
def test_message_content_is_validated(rest, room_with, content):
    room, tokens = room_with("alice")
    result = _post(rest, room, tokens["alice"], content)
    assert result.status == 422
    assert result.body["error"]["details"][0]["field"] == "content"


def test_a_message_of_4000_chars_is_accepted(rest, room_with):
    room, tokens = room_with("alice")
    assert _post(rest, room, tokens["alice"], "x" * 4000).status == 201


def test_history_pages_backwards_oldest_first_within_a_page(rest, room_with):
    room, tokens = room_with("alice", "bob")
    sent = [
        _post(rest, room, tokens["alice" if i % 2 else "bob"], f"m{i}").body["message_id"]
        for i in range(7)
    ]
    assert sent == sorted(sent)  # ids sort in storage order
    path = f"/rooms/{room['room_id']}/messages"
    first = rest.get(path, token=tokens["alice"], query={"limit": "3"}).body
    assert [m["content"] for m in first["messages"]] == ["m4", "m5", "m6"]
    assert first["next_before"] == sent[4]
    second = rest.get(
        path, token=tokens["alice"], query={"limit": "3", "before": first["next_before"]}
    ).body
    assert [m["content"] for m in second["messages"]] == ["m1", "m2", "m3"]
    third = rest.get(
        path, token=tokens["alice"], query={"limit": "3", "before": second["next_before"]}
    ).body
    assert [m["content"] for m in third["messages"]] == ["m0"]
    assert third["next_before"] is None
    exact = rest.get(path, token=tokens["alice"], query={"limit": "7"}).body
    assert len(exact["messages"]) == 7
    assert exact["next_before"] is None


def test_history_default_limit_is_50(rest, room_with):
    room, tokens = room_with("alice")
    for i in range(52):
        _post(rest, room, tokens["alice"], f"m{i}")
    page = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["alice"]).body
    assert len(page["messages"]) == 50
    assert page["messages"][-1]["content"] == "m51"
    assert page["next_before"] == page["messages"][0]["message_id"]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_history_limit_is_validated(rest, room_with, limit):
    room, tokens = room_with("alice")
    result = rest.get(
        f"/rooms/{room['room_id']}/messages", token=tokens["alice"], query={"limit": limit}
    )
    assert result.status == 422
    assert result.body["error"]["details"][0]["field"] == "limit"


def test_history_costs_the_same_dynamodb_calls_whatever_its_length(rest, room_with):
    room, tokens = room_with("alice")
    path = f"/rooms/{room['room_id']}/messages"
    with count_dynamodb_calls() as short_room:
        rest.get(path, token=tokens["alice"], query={"limit": "100"})
    for i in range(120):
        _post(rest, room, tokens["alice"], f"m{i}")
    with count_dynamodb_calls() as long_room:
        rest.get(path, token=tokens["alice"], query={"limit": "100"})
    assert long_room == short_room
    assert long_room["Query"] == 1
    assert "Scan" not in long_room


def test_sending_costs_the_same_dynamodb_calls_whatever_the_room_size(rest, room_with, register):
    room, tokens = room_with("alice")
    with count_dynamodb_calls() as small:
        _post(rest, room, tokens["alice"], "hello")
    for i in range(30):
        token = register(f"user{i}")
        rest.post("/rooms/join", {"code": room["code"]}, token=token)
        _post(rest, room, token, "hi")
    with count_dynamodb_calls() as big:
        _post(rest, room, tokens["alice"], "hello again")
    assert big == small


@pytest.mark.parametrize(
    ("content", "is_command"),
    [
        ("@bot what is up?", True),
        ("  /bot summarise", True),
        ("@BOT", True),
        ("/Bot\thelp", True),
        ("me@bot.com is my address", False),
        ("@botty hello", False),
        ("hey @bot", False),
        ("/bots", False),
    ],
)
def test_bot_commands_are_recognised_and_queued_per_room(
    rest, room_with, stack, content, is_command
):
    room, tokens = room_with("alice")
    message = _post(rest, room, tokens["alice"], content).body
    assert message["message_type"] == ("command" if is_command else "text")
    queued = _queued(stack)
    if not is_command:
        assert queued == []
        return
    assert len(queued) == 1
    assert json.loads(queued[0]["Body"]) == {
        "room_id": room["room_id"],
        "message_id": message["message_id"],
    }
    assert queued[0]["Attributes"]["MessageGroupId"] == room["room_id"]
    assert queued[0]["Attributes"]["MessageDeduplicationId"] == message["message_id"]


def test_a_command_that_cannot_be_queued_is_marked_failed_and_reported(rest, room_with, stack):
    room, tokens = room_with("alice")
    sqs = aws.sqs()

    def refuse(**_):
        raise ClientError(
            {"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage"
        )

    sqs.meta.events.register("before-call.sqs.SendMessage", refuse)
    result = _post(rest, room, tokens["alice"], "@bot are you there?")
    assert result.status == 500
    assert result.error_code == "internal"
    assert "down" not in result.body["error"]["message"]
    stored = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["alice"]).body["messages"]
    assert [(m["message_type"], m["status"]) for m in stored] == [("command", "error")]


def test_bot_commands_are_rate_limited_per_user(rest, room_with, stack, monkeypatch):
    monkeypatch.setenv("BOT_USER_COMMANDS_PER_MINUTE", "2")
    from chat.config import settings

    settings.cache_clear()
    room, tokens = room_with("alice", "bob")
    assert _post(rest, room, tokens["alice"], "@bot one").status == 201
    assert _post(rest, room, tokens["alice"], "@bot two").status == 201
    limited = _post(rest, room, tokens["alice"], "@bot three")
    assert limited.status == 429
    assert limited.error_code == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Plain messages and other users are not limited by alice's commands
    assert _post(rest, room, tokens["alice"], "just chatting").status == 201
    assert _post(rest, room, tokens["bob"], "@bot mine").status == 201
    assert len(_queued(stack)) == 3


def test_bot_commands_are_rate_limited_per_room(rest, room_with, monkeypatch):
    monkeypatch.setenv("BOT_ROOM_COMMANDS_PER_MINUTE", "3")
    from chat.config import settings

    settings.cache_clear()
    room, tokens = room_with("alice", "bob")
    statuses = [
        _post(rest, room, tokens[user], "@bot hi").status
        for user in ("alice", "bob", "alice", "bob")
    ]
    assert statuses == [201, 201, 201, 429]
