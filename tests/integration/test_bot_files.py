"""The bot sees the attachments of its context: the worker on moto (S3 + DynamoDB + SQS)
talks through the real google-genai SDK to the fake Gemini, which records the inline file
parts it received and names them in its answer."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from chat.adapters.gemini import GeminiClient, GeminiModelError
from chat.logic.bot.context import Blob, Turn
from chat.logic.conversation import attachments
from tests.integration import test_bot_worker as bot
from tests.integration.test_attachments import PNG, uploaded
from tests.integration.test_bot_worker import bot_replies, deliver, stored

# The bot worker tests' room with a key (the fake Gemini fixture is in conftest).
keyed_room = bot.keyed_room

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
MiB = 1024 * 1024


def say(rest, room, token, content="", attachment_ids=()) -> dict[str, Any]:
    result = rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": content, "attachments": list(attachment_ids)},
        token=token,
    )
    assert result.status == 201, result.body
    return result.body


def test_images_and_pdfs_go_as_inline_files_and_text_files_as_text_newest_first(
    rest, keyed_room, gemini, stack
):
    room, tokens = keyed_room("alice", "bob")
    image = uploaded(rest, room, tokens["alice"], PNG)
    say(rest, room, tokens["alice"], "a picture", [image])
    notes = uploaded(
        rest, room, tokens["bob"], b"- buy milk\n- fix the bug\n", content_type="text/plain",
        filename="todo.txt",
    )  # fmt: skip
    say(rest, room, tokens["bob"], "", [notes])
    paper = uploaded(
        rest, room, tokens["alice"], PDF, content_type="application/pdf", filename="paper.pdf"
    )
    command = say(rest, room, tokens["alice"], "@bot what do these files say?", [paper])

    assert deliver(stack) == []

    (request,) = gemini.requests
    assert request.files == [("application/pdf", len(PDF)), ("image/png", len(PNG))]
    last_role, last_text = request.turns[-1]
    assert last_role == "user"
    assert "- buy milk\n- fix the bug" in last_text  # the text file, as text
    assert '"todo.txt" (text/plain, 25 bytes) from bob' in last_text
    assert last_text.splitlines()[-1] == (
        "alice: @bot what do these files say? [attached: paper.pdf]"
    )
    assert "alice: a picture [attached: photo.png]" in last_text
    assert "bob: [attached: todo.txt]" in last_text
    (reply,) = bot_replies(rest, room, tokens["alice"])
    assert reply["reply_to"] == command["message_id"]
    assert reply["status"] == "complete"
    assert (
        f"I received 2 files: application/pdf ({len(PDF)} bytes), image/png ({len(PNG)} bytes)."
        in reply["content"]
    )


def test_files_beyond_20_mib_are_named_only(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    sizes = {"old.png": 7 * MiB, "middle.png": 7 * MiB, "new.png": 6 * MiB}
    for name, size in sizes.items():
        data = PNG + b"\x00" * (size - len(PNG))
        say(rest, room, tokens["alice"], name, [uploaded(rest, room, tokens["alice"], data, filename=name)])  # fmt: skip
    say(rest, room, tokens["alice"], "@bot compare them")

    assert deliver(stack) == []

    (request,) = gemini.requests
    # Newest first while they fit: 6 + 7 = 13 MiB shown, 13 + 7 = 20 MiB fits exactly too.
    assert request.files == [("image/png", 6 * MiB), ("image/png", 7 * MiB), ("image/png", 7 * MiB)]

    gemini.reset()
    extra = PNG + b"\x00" * (1 * MiB - len(PNG))
    say(rest, room, tokens["alice"], "one more", [uploaded(rest, room, tokens["alice"], extra, filename="extra.png")])  # fmt: skip
    say(rest, room, tokens["alice"], "@bot and now?")
    assert deliver(stack) == []
    (request,) = gemini.requests
    assert request.files == [("image/png", 1 * MiB), ("image/png", 6 * MiB), ("image/png", 7 * MiB)]
    last_text = request.turns[-1][1]
    assert "too large to show you here (named only)" in last_text
    assert '"old.png" (image/png, 7340032 bytes) from alice' in last_text.split("named only")[1]


def test_a_deleted_messages_attachments_never_reach_the_bot(rest, keyed_room, gemini, stack):
    room, tokens = keyed_room("alice")
    secret = uploaded(rest, room, tokens["alice"], PNG, filename="secret.png")
    message = say(rest, room, tokens["alice"], "oops", [secret])
    flagged = uploaded(rest, room, tokens["alice"], PNG, filename="flagged.png")
    flagged_message = say(rest, room, tokens["alice"], "", [flagged])
    # What message deletion does: its files go, and the item becomes a tombstone.
    item = stored(room["room_id"], message["message_id"])
    attachments.delete_attachments_of(item)
    table = boto3.resource("dynamodb").Table(os.environ["MESSAGES_TABLE"])
    table.update_item(
        Key={"room_id": room["room_id"], "message_id": message["message_id"]},
        UpdateExpression="SET deleted = :t, content = :e REMOVE attachments",
        ExpressionAttributeValues={":t": True, ":e": ""},
    )
    # A message only marked deleted (its files not yet gone) is skipped all the same.
    table.update_item(
        Key={"room_id": room["room_id"], "message_id": flagged_message["message_id"]},
        UpdateExpression="SET deleted = :t",
        ExpressionAttributeValues={":t": True},
    )
    say(rest, room, tokens["alice"], "@bot what did I send?")

    assert deliver(stack) == []

    (request,) = gemini.requests
    assert request.files == []
    prompt = "\n".join(text for _, text in request.turns)
    assert "secret.png" not in prompt and "flagged.png" not in prompt
    assert "oops" not in prompt
    objects = boto3.client("s3").list_objects_v2(Bucket=os.environ["ATTACHMENTS_BUCKET"])
    assert sorted(o["Key"] for o in objects["Contents"]) == [
        f"rooms/{room['room_id']}/{flagged_message['message_id']}/{flagged}",
        f"uploads/{room['room_id']}/{flagged}",
    ]  # the deleted message's file (and its upload) is gone from S3


def test_the_fake_refuses_malformed_inline_parts_as_gemini_does(gemini):
    client = GeminiClient("AIza-test-key", base_url=gemini.base_url)
    try:
        stream = client.stream_answer(
            model="gemini-2.5-flash",
            system_instruction="",
            contents=[Turn("user", "what is this?")],
            file_parts=[Blob(mime_type="application/x-msdownload", data=b"MZ")],
        )
        with pytest.raises(GeminiModelError) as failed:
            list(stream)
        assert failed.value.status == 400
    finally:
        client.close()
