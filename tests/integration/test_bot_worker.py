"""The bot worker end to end: commands posted over REST land in moto's FIFO queue, are
received as Lambda would receive them and handed to the real handler, which streams the
fake Gemini's answer (through the real google-genai SDK) to the room's WebSockets."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.parameters.base import clear_caches

from chat import redaction
from chat.adapters import gemini as gemini_module
from chat.adapters import gemini_keys as secrets_adapter
from chat.config import settings
from chat.logic.bot import budget
from chat.logic.bot.coalesce import json_size
from chat.logic.bot.command import INTERRUPTED_MESSAGE
from local.fake_gemini import Reply
from tests.support.clients import RestClient, WebSocketClient, handler_of
from tests.support.events import LambdaContext, sqs_event
from tests.support.secrets import leaks

API_KEY = "AIzaROOM-key-for-the-worker-tests-0001"
CANARY = "AIzaCANARY-d41d8cd98f00b204e9800998ecf8427e"
SHARED_KEY = "AIzaSHARED-stack-wide-key-0002"


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def keyed_room(rest: RestClient, register):
    """keyed_room("alice", "bob", key=...) -> (room, {username: token}); alice owns it."""

    def _keyed_room(*usernames: str, key: str | None = API_KEY, name: str = "general"):
        tokens = {username: register(username) for username in usernames}
        body: dict[str, Any] = {"name": name}
        if key:
            body["gemini_api_key"] = key
        created = rest.post("/rooms", body, token=tokens[usernames[0]])
        assert created.status == 201, created.body
        room = created.body
        for username in usernames[1:]:
            joined = rest.post("/rooms/join", {"code": room["code"]}, token=tokens[username])
            assert joined.status == 200
        return room, tokens

    return _keyed_room


@pytest.fixture
def joined(connect):
    def _joined(token: str, room_id: str) -> WebSocketClient:
        client = connect(token)
        assert client.send({"type": "join", "room_id": room_id}) == 200
        return client

    return _joined


# ------------------------------------------------------------------------------ helpers
def post(rest: RestClient, room: dict[str, Any], token: str, content: str) -> dict[str, Any]:
    result = rest.post(f"/rooms/{room['room_id']}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body


def receive_all(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message visible in the bot queue now, as the event source would receive them."""
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=stack["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return found
        found += batch


def invoke(
    stack: dict[str, Any], records: list[dict[str, Any]], timeout_ms: int = 60_000
) -> list[str]:
    """Run the worker on a batch as Lambda's SQS event source does: succeeded records are
    deleted, failed ones come back (at once here, not after the visibility timeout).
    Returns the failed records' message ids."""
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=stack["queue_url"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    assert records, "nothing to deliver"
    try:
        response = handler_of("BotWorkerFunction")(
            sqs_event(records, arn), LambdaContext("BotWorkerFunction", timeout_ms)
        )
        failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    except BatchProcessingError:  # Powertools raises when every record failed
        failed = [record["MessageId"] for record in records]
    for record in records:
        if record["MessageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=stack["queue_url"],
                ReceiptHandle=record["ReceiptHandle"],
                VisibilityTimeout=0,
            )
        else:
            sqs.delete_message(QueueUrl=stack["queue_url"], ReceiptHandle=record["ReceiptHandle"])
    return failed


def deliver(stack: dict[str, Any], **kwargs: Any) -> list[str]:
    return invoke(stack, receive_all(stack), **kwargs)


def stored(room_id: str, message_id: str) -> dict[str, Any]:
    item = (
        boto3.resource("dynamodb")
        .Table(settings().messages_table)
        .get_item(Key={"room_id": room_id, "message_id": message_id})
    )
    return item["Item"]


def bot_replies(rest: RestClient, room: dict[str, Any], token: str) -> list[dict[str, Any]]:
    history = rest.get(f"/rooms/{room['room_id']}/messages", query={"limit": "100"}, token=token)
    return [m for m in history.body["messages"] if m["message_type"] == "bot"]


def answer_frames(client: WebSocketClient) -> list[dict[str, Any]]:
    """The frames of the bot's answers: its message rows, typing, stream and errors."""
    return [
        frame
        for frame in client.frames()
        if frame["type"] in ("bot_stream", "bot_error")
        or (frame["type"] == "typing" and frame["username"] == "bot")
        or (frame["type"] == "message" and frame["is_bot"])
    ]


def check_one_answer(
    frames: list[dict[str, Any]], command: dict[str, Any], *, typing: bool = True
) -> dict[str, Any]:
    """The contract's invariants for the frames of one answer; returns their summary."""
    row, *rest = frames
    assert row["type"] == "message"
    assert row["username"] == "bot" and row["is_bot"] and row["message_type"] == "bot"
    assert row["reply_to"] == command["message_id"]
    reply_id = row["message_id"]
    stream = [f for f in rest if f["type"] in ("bot_stream", "bot_error")]
    assert stream, frames
    for frame in stream:
        assert frame["message_id"] == reply_id
        assert frame["reply_to"] == command["message_id"]
        assert frame["room_id"] == command["room_id"]
    chunks = [f["chunk"] for f in stream if f["type"] == "bot_stream" and not f["is_complete"]]
    ends = [f for f in stream if f["type"] == "bot_error" or f["is_complete"]]
    assert len(ends) == 1 and ends[0] is stream[-1], frames
    assert [f["is_typing"] for f in rest if f["type"] == "typing"] == (
        [True, False] if typing else []
    )
    if typing:
        assert rest[0]["type"] == "typing"  # before any text
        assert rest[-1] == {
            "type": "typing",
            "room_id": command["room_id"],
            "username": "bot",
            "is_typing": False,
        }
    return {"reply_id": reply_id, "row": row, "chunks": chunks, "end": ends[0]}


# ------------------------------------------------------------------------------ answers
def test_an_answer_streams_to_every_subscriber_and_is_stored(
    rest, keyed_room, joined, gemini, stack
):
    # Given alice and bob following a room with a key
    room, tokens = keyed_room("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    gemini.script(Reply(tokens=60, words_per_event=2, event_delay=0.005))
    # When alice asks the bot and the worker runs
    command = post(rest, room, tokens["alice"], "@bot tell me a story")
    assert deliver(stack) == []

    # Then both sockets got the same answer: its row, typing, chunks, the end
    answers = [check_one_answer(answer_frames(c), command) for c in (alice, bob)]
    assert answers[0]["chunks"] == answers[1]["chunks"]
    assert answers[0]["row"]["status"] == "streaming" and answers[0]["row"]["content"] == ""
    end = answers[0]["end"]
    assert end["type"] == "bot_stream" and end["is_complete"] is True and end["chunk"] == ""
    chunks = answers[0]["chunks"]
    assert len(chunks) >= 2  # the first piece goes out alone, at once
    assert "".join(chunks) == end["full_response"]
    assert end["full_response"].startswith("lorem ipsum") and len(end["full_response"]) > 300
    # And the stored message is that answer, complete, replying to the command
    reply = stored(room["room_id"], answers[0]["reply_id"])
    assert reply["content"] == end["full_response"]
    assert reply["status"] == "complete"
    assert reply["reply_to"] == command["message_id"]
    assert reply["username"] == "bot" and reply["is_bot"] is True
    (listed,) = bot_replies(rest, room, tokens["bob"])
    assert listed["message_id"] == answers[0]["reply_id"] and listed["status"] == "complete"
    # And the model was asked once, with the room's key and the default model
    (request,) = gemini.requests
    assert request.api_key == API_KEY
    assert request.model == "gemini-2.5-flash"
    assert request.method == "streamGenerateContent"


def test_each_room_answers_in_order_and_a_failing_room_skips_only_its_own_commands(
    rest, keyed_room, gemini, stack, monkeypatch
):
    # Given two commands in room A and one in room B, queued in one batch
    room_a, tokens_a = keyed_room("alice", name="room a")
    room_b, tokens_b = keyed_room("bob", name="room b")
    first = post(rest, room_a, tokens_a["alice"], "@bot first [fake:text=one]")
    second = post(rest, room_a, tokens_a["alice"], "@bot second [fake:text=two]")
    other = post(rest, room_b, tokens_b["bob"], "@bot other [fake:text=three]")
    records = receive_all(stack)
    assert len(records) == 3
    # And room A's key cannot be read right now (KMS failing)
    real_decrypt = secrets_adapter.decrypt_api_key

    def failing_decrypt(room_id: str, ciphertext: bytes) -> str:
        if room_id == room_a["room_id"]:
            raise ConnectionError("KMS is unreachable")
        return real_decrypt(room_id, ciphertext)

    monkeypatch.setattr(secrets_adapter, "decrypt_api_key", failing_decrypt)

    # When the worker runs the batch
    failed = invoke(stack, records)

    # Then both of room A's records failed (the second one not even tried) and B was answered
    by_id = {r["MessageId"]: r["Body"] for r in records}
    assert sorted(by_id[m] for m in failed) == sorted(
        r["Body"] for r in records if room_a["room_id"] in r["Body"]
    )
    assert [r.model for r in gemini.requests] == ["gemini-2.5-flash"]
    assert [r["content"] for r in bot_replies(rest, room_b, tokens_b["bob"])] == ["three"]
    assert bot_replies(rest, room_a, tokens_a["alice"]) == []
    assert stored(room_a["room_id"], first["message_id"]).get("reply_id") is None

    # When KMS is back and room A's commands are delivered again
    monkeypatch.setattr(secrets_adapter, "decrypt_api_key", real_decrypt)
    assert deliver(stack) == []

    # Then they are answered once each, in the order they were posted
    replies = bot_replies(rest, room_a, tokens_a["alice"])
    assert [(r["reply_to"], r["content"]) for r in replies] == [
        (first["message_id"], "one"),
        (second["message_id"], "two"),
    ]
    assert [r.turns[-1][1].splitlines()[-1] for r in gemini.requests[1:]] == [
        "alice: @bot first [fake:text=one]",
        "alice: @bot second [fake:text=two]",
    ]
    # And each saw the room up to its own command only (the first answer came later)
    assert "second" not in gemini.requests[1].turns[-1][1]
    assert other["message_id"] not in {r["reply_to"] for r in replies}
    assert receive_all(stack) == []


def test_a_redelivered_command_gets_no_second_answer(rest, keyed_room, joined, gemini, stack):
    # Given a command that was answered
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    post(rest, room, tokens["alice"], "@bot hello")
    records = receive_all(stack)
    assert invoke(stack, records) == []
    frames_after_answer = len(alice.frames())
    assert len(gemini.requests) == 1

    # When SQS delivers the same record again
    assert invoke(stack, records) == []
    # Then nothing is asked, pushed or stored again
    assert len(gemini.requests) == 1
    assert len(alice.frames()) == frames_after_answer

    # When the idempotency records are gone too (expired) and it comes once more
    table = boto3.resource("dynamodb").Table(settings().idempotency_table)
    items = table.scan()["Items"]
    assert len(items) == 1 and items[0]["status"] == "COMPLETED"
    table.delete_item(Key={"id": items[0]["id"]})
    assert invoke(stack, records) == []
    # Then the command's own record of its reply still prevents a second answer
    assert len(gemini.requests) == 1
    assert len(alice.frames()) == frames_after_answer
    assert len(bot_replies(rest, room, tokens["alice"])) == 1


def test_a_reply_left_streaming_by_a_dead_run_is_ended_on_redelivery(
    rest, keyed_room, joined, gemini, stack
):
    # Given a run that stored the bot message and then died (no idempotency record left)
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    command = post(rest, room, tokens["alice"], "@bot hello")
    records = receive_all(stack)
    assert invoke(stack, records) == []
    (reply,) = bot_replies(rest, room, tokens["alice"])
    messages = boto3.resource("dynamodb").Table(settings().messages_table)
    messages.update_item(
        Key={"room_id": room["room_id"], "message_id": reply["message_id"]},
        UpdateExpression="SET #s = :s, content = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "streaming", ":c": "half an ans"},
    )
    table = boto3.resource("dynamodb").Table(settings().idempotency_table)
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})
    alice.sockets.clear()

    # When the command is delivered again
    assert invoke(stack, records) == []

    # Then the reply is ended as an error with what it had, and no new answer is made
    assert len(gemini.requests) == 1
    item = stored(room["room_id"], reply["message_id"])
    assert item["status"] == "error" and item["content"] == "half an ans"
    (error,) = alice.frames("bot_error")
    assert error == {
        "type": "bot_error",
        "room_id": room["room_id"],
        "message_id": reply["message_id"],
        "reply_to": command["message_id"],
        "username": "bot",
        "code": "timeout",
        "message": INTERRUPTED_MESSAGE,
    }
    assert len(bot_replies(rest, room, tokens["alice"])) == 1


# ------------------------------------------------------------------------------ failures
@pytest.mark.parametrize(
    ("directive", "code", "requests", "partial"),
    [
        ("[fake:429]", "rate_limited", 1, False),  # asks to wait 7 s: not waited for
        ("[fake:500]", "model_error", 3, False),  # transient: retried, then given up
        ("[fake:tokens=40,words=2,cut=3]", "model_error", 1, True),  # cut after text
        ("[fake:tokens=40,words=2,end=3]", "model_error", 1, True),  # no finishReason
        ("[fake:tokens=40,words=2,malformed]", "model_error", 1, True),
        ("[fake:delay=3]", "timeout", 3, False),  # no first byte within the stall timeout
    ],
)
def test_a_failed_answer_ends_in_bot_error_and_keeps_what_was_streamed(
    rest, keyed_room, joined, gemini, stack, monkeypatch, directive, code, requests, partial
):
    monkeypatch.setattr(budget, "BUDGET", replace(budget.BUDGET, stall_timeout=0.3, backoff=0.01))
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    command = post(rest, room, tokens["alice"], f"@bot go {directive}")

    # The record is acknowledged: the failure is answered, not retried by SQS
    assert deliver(stack) == []

    answer = check_one_answer(answer_frames(alice), command)
    error = answer["end"]
    assert error["type"] == "bot_error"
    assert error["code"] == code
    assert error["message"] and "fake" not in error["message"]
    item = stored(room["room_id"], answer["reply_id"])
    assert item["status"] == "error"
    assert item["content"] == "".join(answer["chunks"])
    assert bool(item["content"]) is partial
    assert len(gemini.requests) == requests
    assert receive_all(stack) == []


def test_buffered_text_goes_out_while_the_model_pauses(rest, keyed_room, joined, gemini, stack):
    # Given a model that pauses far longer than the coalescing window between words
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    gemini.script(Reply(text="one two three four", words_per_event=1, event_delay=0.4))
    command = post(rest, room, tokens["alice"], "@bot slowly")

    assert deliver(stack) == []

    # Then each word went out during the pause after it, not with the next word
    answer = check_one_answer(answer_frames(alice), command)
    assert answer["chunks"] == ["one ", "two ", "three ", "four"]


def test_an_unexpected_failure_is_answered_model_error_and_logged_by_type_only(
    rest, keyed_room, joined, gemini, stack, monkeypatch, caplog
):
    class Broken:
        def stream_answer(self, **_: Any):
            raise RuntimeError(f"boom, and here is the key: {API_KEY}")

    monkeypatch.setattr(gemini_module, "client_for", lambda *_: Broken())
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    command = post(rest, room, tokens["alice"], "@bot hello")

    assert deliver(stack) == []

    answer = check_one_answer(answer_frames(alice), command)
    assert answer["end"]["type"] == "bot_error" and answer["end"]["code"] == "model_error"
    assert stored(room["room_id"], answer["reply_id"])["status"] == "error"
    (logged,) = [r for r in caplog.records if r.getMessage() == "bot answer failed unexpectedly"]
    assert logged.error_type == "RuntimeError"
    assert API_KEY not in repr(vars(logged)) and "boom" not in repr(vars(logged))


def test_a_room_without_any_key_is_answered_no_api_key(rest, keyed_room, joined, gemini, stack):
    room, tokens = keyed_room("alice", key=None)
    alice = joined(tokens["alice"], room["room_id"])
    command = post(rest, room, tokens["alice"], "@bot are you there?")

    assert deliver(stack) == []

    answer = check_one_answer(answer_frames(alice), command, typing=False)
    assert answer["row"]["status"] == "error"
    assert answer["end"]["type"] == "bot_error" and answer["end"]["code"] == "no_api_key"
    item = stored(room["room_id"], answer["reply_id"])
    assert item["status"] == "error" and item["content"] == ""
    assert gemini.requests == []


def test_the_shared_key_answers_rooms_without_their_own(
    rest, keyed_room, gemini, stack, monkeypatch
):
    arn = boto3.client("secretsmanager").create_secret(
        Name="shared-gemini-key", SecretString=SHARED_KEY
    )["ARN"]
    monkeypatch.setenv("SHARED_GEMINI_KEY_SECRET_ARN", arn)
    settings.cache_clear()
    clear_caches()
    room, tokens = keyed_room("alice", key=None)
    post(rest, room, tokens["alice"], "@bot hi")

    assert deliver(stack) == []

    assert [r.api_key for r in gemini.requests] == [SHARED_KEY]
    assert bot_replies(rest, room, tokens["alice"])[0]["status"] == "complete"


def test_a_transient_failure_before_any_text_is_retried_into_one_answer(
    rest, keyed_room, joined, gemini, stack
):
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    gemini.script(Reply(status=503), Reply(text="second time lucky"))
    command = post(rest, room, tokens["alice"], "@bot hello")

    assert deliver(stack) == []

    assert len(gemini.requests) == 2
    answer = check_one_answer(answer_frames(alice), command)
    assert answer["end"]["type"] == "bot_stream"
    assert answer["end"]["full_response"] == "second time lucky"
    assert alice.frames("bot_error") == []
    assert [r["content"] for r in bot_replies(rest, room, tokens["alice"])] == ["second time lucky"]


def test_an_answer_over_the_size_cap_is_cut_and_stored_complete(
    rest, keyed_room, joined, gemini, stack, monkeypatch
):
    monkeypatch.setattr(budget, "BUDGET", replace(budget.BUDGET, max_answer_bytes=500))
    room, tokens = keyed_room("alice")
    alice = joined(tokens["alice"], room["room_id"])
    gemini.script(Reply(text="é" * 30 + " " + "word " * 400, words_per_event=5))
    command = post(rest, room, tokens["alice"], "@bot a long one")

    assert deliver(stack) == []

    answer = check_one_answer(answer_frames(alice), command)
    full = answer["end"]["full_response"]
    assert json_size(full) <= 500 and json_size(full) >= 490
    assert "".join(answer["chunks"]) == full
    item = stored(room["room_id"], answer["reply_id"])
    assert item["status"] == "complete" and item["content"] == full


def test_a_command_is_not_started_without_enough_time_left(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    post(rest, room, tokens["alice"], "@bot hello")
    records = receive_all(stack)
    too_little = int((budget.BUDGET.margin + budget.BUDGET.min_answer) * 1000) - 500

    # When the invocation has too little time left, the record fails untouched
    assert invoke(stack, records, timeout_ms=too_little) == [records[0]["MessageId"]]
    assert gemini.requests == []
    assert bot_replies(rest, room, tokens["alice"]) == []
    # And it is answered when it comes back
    assert deliver(stack) == []
    assert len(bot_replies(rest, room, tokens["alice"])) == 1


# ------------------------------------------------------------------------------ the prompt
def test_the_prompt_holds_the_recent_history_with_authors_but_not_the_oldest(
    rest, keyed_room, gemini, stack
):
    room, tokens = keyed_room("alice", "bob")
    for index in range(60):
        author = "alice" if index % 2 == 0 else "bob"
        post(rest, room, tokens[author], f"message number {index:02d}")
    post(rest, room, tokens["bob"], "@bot summarise please")

    assert deliver(stack) == []

    (request,) = gemini.requests
    prompt = "\n".join(text for _, text in request.turns)
    assert request.turns[-1][0] == "user"
    assert prompt.splitlines()[-1] == "bob: @bot summarise please"
    assert "bob: message number 59" in prompt
    assert "alice: message number 58" in prompt
    assert "message number 00" not in prompt
    assert "message number 10" not in prompt
    assert "alice" in request.system_instruction and "bob" in request.system_instruction
    assert '"general"' in request.system_instruction


def test_the_rooms_system_prompt_and_model_are_used(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    settings_update = rest.put(
        f"/rooms/{room['room_id']}/bot",
        {"model": "gemini-test-model", "system_prompt": "Always answer like a pirate."},
        token=tokens["alice"],
    )
    assert settings_update.status == 200, settings_update.body
    post(rest, room, tokens["alice"], "@bot hello")

    assert deliver(stack) == []

    (request,) = gemini.requests
    assert request.model == "gemini-test-model"
    assert "Always answer like a pirate." in request.system_instruction


# ------------------------------------------------------------------------------ the key
def test_the_api_key_never_appears_in_logs_frames_or_stored_items(
    rest, keyed_room, joined, gemini, stack, sockets, monkeypatch, caplog, capfd
):
    monkeypatch.setattr(budget, "BUDGET", replace(budget.BUDGET, stall_timeout=0.3, backoff=0.01))
    room, tokens = keyed_room("alice", key=CANARY)
    joined(tokens["alice"], room["room_id"])
    # Everything the worker and the SDK log from here on, at every level
    capfd.readouterr()
    caplog.set_level(logging.DEBUG)
    for name in ("chat", "google_genai", "httpx", "httpx2"):
        caplog.set_level(logging.DEBUG, logger=name)
    # An upstream error that echoes the key back, among ordinary answers and failures
    gemini.script(
        Reply(text="fine"),
        Reply(status=400, message=f"API key {CANARY} not valid. Please pass a valid API key."),
    )
    for content in ("@bot one", "@bot two", "@bot three [fake:429]", "@bot four [fake:cut=2]"):
        post(rest, room, tokens["alice"], content)
    assert deliver(stack) == []

    assert {r.api_key for r in gemini.requests} == {CANARY}
    replies = bot_replies(rest, room, tokens["alice"])
    assert [r["status"] for r in replies] == ["complete", "error", "error", "error"]
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "bot answer failed" in logged  # the logs were captured
    assert CANARY not in logged
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err
    assert sockets.sent and CANARY not in repr(sockets.sent)
    dynamodb = boto3.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        assert CANARY not in repr(dynamodb.scan(TableName=table)["Items"]), table


@pytest.mark.parametrize(
    "legacy_key",
    ["AIzaLEGACY\nnewline-key-0003", "AIzaLEGACY\r\nX-Injected: yes", "AIzaLEGACY\x00nul-0004"],
)
def test_a_stored_key_with_control_characters_never_appears_in_any_form(
    rest, keyed_room, joined, gemini, stack, sockets, caplog, capfd, legacy_key, monkeypatch
):
    """Keys are validated on the way in now; one stored before that (or by other means)
    makes the HTTP client fail with the key escaped in its message."""
    room, tokens = keyed_room("alice", key=None)
    ciphertext = secrets_adapter.encrypt_api_key(room["room_id"], legacy_key)
    boto3.resource("dynamodb").Table(settings().rooms_table).update_item(
        Key={"pk": f"ROOM#{room['room_id']}"},
        UpdateExpression="SET api_key_ciphertext = :c",
        ExpressionAttributeValues={":c": ciphertext},
    )
    # As in a fresh worker container, where the key is only decrypted: nothing registered.
    monkeypatch.setattr(redaction, "_pinned", {})
    monkeypatch.setattr(redaction, "_transient", OrderedDict())
    monkeypatch.setattr(redaction, "_index", {})
    monkeypatch.setattr(redaction, "_dirty", True)
    joined(tokens["alice"], room["room_id"])
    capfd.readouterr()
    caplog.set_level(logging.DEBUG)
    for name in ("chat", "google_genai", "httpx", "httpx2", "httpcore2", "h11"):
        caplog.set_level(logging.DEBUG, logger=name)
    post(rest, room, tokens["alice"], "@bot hello")
    assert deliver(stack) == []

    assert [r["status"] for r in bot_replies(rest, room, tokens["alice"])] == ["error"]
    logged = "\n".join(
        f"{record.getMessage()}\n{record.exc_text or ''}\n{vars(record)!r}"
        for record in caplog.records
    )
    assert "bot answer failed" in logged
    out, err = capfd.readouterr()
    assert leaks(legacy_key, logged + out + err) == []
    assert sockets.sent and leaks(legacy_key, repr(sockets.sent)) == []
    assert leaks(legacy_key, json.dumps(sockets.sent)) == []
