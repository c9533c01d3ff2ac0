"""Attachments on moto (S3 + DynamoDB): declaring, uploading with the presigned POST,
attaching to messages (REST and WebSocket), every refusal, reading fresh URLs, deleting."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import boto3
import pytest
import requests

from chat.dal import attachments as records
from chat.errors import ValidationFailed
from chat.logic.conversation import attachments
from chat.principal import Principal

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(50))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
GIF = b"GIF89a" + b"\x01" * 30
WEBP = b"RIFF" + (30).to_bytes(4, "little") + b"WEBPVP8 " + b"\x00" * 22
PNG_SIZE = len(PNG)
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56
BUCKET = os.environ["ATTACHMENTS_BUCKET"]


def declare(rest, room, token, *, filename="photo.png", content_type="image/png", size=PNG_SIZE):
    return rest.post(
        f"/rooms/{room['room_id']}/attachments",
        {"filename": filename, "content_type": content_type, "size": size},
        token=token,
    )


def upload(declared: dict[str, Any], data: bytes, **field_changes: str) -> requests.Response:
    """Post the file the way a browser would: every field, then `file`."""
    form = declared["upload"]
    fields = {**form["fields"], **field_changes}
    return requests.post(form["url"], data=fields, files={"file": ("upload", data)}, timeout=10)


def uploaded(rest, room, token, data=PNG, *, content_type="image/png", filename="photo.png"):
    """Declare and upload a file; its attachment id."""
    result = declare(
        rest, room, token, filename=filename, content_type=content_type, size=len(data)
    )
    assert result.status == 201, result.body
    assert upload(result.body, data).status_code == 204
    return result.body["attachment_id"]


def post(rest, room, token, content="", **extra):
    return rest.post(
        f"/rooms/{room['room_id']}/messages", {"content": content, **extra}, token=token
    )


def history(rest, room, token) -> list[dict[str, Any]]:
    return rest.get(f"/rooms/{room['room_id']}/messages", token=token).body["messages"]


def upload_key(room, attachment_id) -> str:
    return f"uploads/{room['room_id']}/{attachment_id}"


def file_key(room, message, attachment_id) -> str:
    """Where a message's attached file is stored (a copy of its upload)."""
    return f"rooms/{room['room_id']}/{message['message_id']}/{attachment_id}"


def stored_keys() -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(o["Key"] for o in listing)


def stored_records() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(os.environ["ATTACHMENTS_TABLE"])
    return table.scan()["Items"]


def assert_refused(result, field="attachments"):
    assert result.status == 422, result.body
    assert result.error_code == "validation_error"
    assert result.body["error"]["details"][0]["field"] == field


# ------------------------------------------------------------------------------ declaring
def test_declaring_returns_a_presigned_post_pinning_key_type_and_size(rest, room_with):
    room, tokens = room_with("alice")
    result = declare(rest, room, tokens["alice"], size=1234)
    assert result.status == 201
    body = result.body
    assert set(body) == {"attachment_id", "upload", "expires_in"}
    assert 60 <= body["expires_in"] <= 900
    fields = body["upload"]["fields"]
    assert fields["key"] == upload_key(room, body["attachment_id"])
    assert fields["Content-Type"] == "image/png"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1234, 1234] in conditions
    assert {"key": fields["key"]} in conditions
    assert {"bucket": BUCKET} in conditions
    assert "tagging" not in fields  # the lifecycle rule goes by the uploads/ prefix
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    assert expires - time.mktime(time.gmtime()) <= 900
    (record,) = stored_records()
    assert record["room_id"] == room["room_id"] and record["size"] == 1234
    assert "attached_to" not in record


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"content_type": "image/svg+xml"}, "content_type"),
        ({"content_type": "text/html"}, "content_type"),
        ({"content_type": "application/octet-stream"}, "content_type"),
        ({"content_type": "IMAGE/PNG"}, "content_type"),
        ({"size": 0}, "size"),
        ({"size": 10 * 1024 * 1024 + 1}, "size"),
        ({"size": "12"}, "size"),
        ({"size": 1.5}, "size"),
        ({"filename": "../../etc/passwd"}, "filename"),
        ({"filename": "photos/cat.png"}, "filename"),
        ({"filename": "photos\\cat.png"}, "filename"),
        ({"filename": ".."}, "filename"),
        ({"filename": "..."}, "filename"),
        ({"filename": " . "}, "filename"),
        ({"filename": "\u200b\u2060"}, "filename"),  # only invisible characters
        ({"filename": "\ufeff.\u200d"}, "filename"),
        ({"filename": "invoice\u202egpj.exe"}, "filename"),  # shows as invoiceexe.jpg
        ({"filename": "a\u200eb.png"}, "filename"),
        ({"filename": "a\u2066b\u2069.png"}, "filename"),
        ({"filename": "a\u202ab.png"}, "filename"),
        ({"filename": "cat\x85.png"}, "filename"),
        ({"filename": ""}, "filename"),
        ({"filename": "x" * 201}, "filename"),
        ({"filename": "cat\x00.png"}, "filename"),
    ],
)
def test_bad_declarations_are_refused_before_any_url_is_made(rest, room_with, change, field):
    room, tokens = room_with("alice")
    body = {"filename": "cat.png", "content_type": "image/png", "size": 10, **change}
    result = rest.post(f"/rooms/{room['room_id']}/attachments", body, token=tokens["alice"])
    assert result.status == 422, result.body
    assert result.body["error"]["details"][0]["field"] == field
    assert "upload" not in json.dumps(result.body)
    assert stored_records() == []


def test_the_limits_themselves_are_allowed(rest, room_with):
    room, tokens = room_with("alice")
    for size in (1, 10 * 1024 * 1024):
        assert declare(rest, room, tokens["alice"], size=size).status == 201
    assert declare(rest, room, tokens["alice"], filename="é" * 200).status == 201
    for filename in ("cat..png", ".profile", "نقشه.png", "\u05e9\u05dc\u05d5\u05dd.pdf", "a b.txt"):
        assert declare(rest, room, tokens["alice"], filename=filename).status == 201, filename
    for content_type in ("image/jpeg", "image/webp", "image/gif", "application/pdf"):
        assert declare(rest, room, tokens["alice"], content_type=content_type).status == 201
    for content_type in ("text/plain", "text/markdown"):
        assert declare(rest, room, tokens["alice"], content_type=content_type).status == 201


def test_only_members_may_declare(rest, room_with, register):
    room, _ = room_with("alice")
    result = declare(rest, room, register("mallory"))
    assert result.status == 404 and result.error_code == "not_found"
    assert declare(rest, room, None).status == 401
    assert stored_records() == []


# ------------------------------------------------------------------------------ attaching
def test_a_message_carries_uploaded_files_and_every_read_signs_fresh_urls(rest, room_with):
    room, tokens = room_with("alice", "bob")
    image = uploaded(rest, room, tokens["alice"])
    notes = uploaded(
        rest, room, tokens["alice"], b"# notes\n", content_type="text/markdown", filename="n.md"
    )
    result = post(rest, room, tokens["alice"], "", attachments=[image, notes])
    assert result.status == 201, result.body
    message = result.body
    assert message["content"] == ""
    assert [a["attachment_id"] for a in message["attachments"]] == [image, notes]
    first = message["attachments"][0]
    assert first["filename"] == "photo.png" and first["content_type"] == "image/png"
    assert first["size"] == len(PNG)
    download = requests.get(first["url"], timeout=10)
    assert download.status_code == 200 and download.content == PNG
    assert "X-Amz-Signature=" in first["url"] and "X-Amz-Expires=" in first["url"]
    expires = int(first["url"].split("X-Amz-Expires=")[1].split("&")[0])
    assert expires >= 300

    time.sleep(1.1)  # a presigned URL carries its signing second
    (read,) = history(rest, room, tokens["bob"])
    assert [a["attachment_id"] for a in read["attachments"]] == [image, notes]
    assert read["attachments"][0]["url"] != first["url"]
    assert requests.get(read["attachments"][1]["url"], timeout=10).content == b"# notes\n"
    # What the message carries is a copy under rooms/, which the lifecycle rule never matches
    assert f"/{file_key(room, message, image)}?" in first["url"]
    assert file_key(room, message, notes) in stored_keys()
    assert {r["attachment_id"]: r.get("attached_to") for r in stored_records()} == {
        image: message["message_id"],
        notes: message["message_id"],
    }


def test_a_message_without_attachments_has_an_empty_list(rest, room_with):
    room, tokens = room_with("alice")
    assert post(rest, room, tokens["alice"], "hi").body["attachments"] == []
    assert history(rest, room, tokens["alice"])[0]["attachments"] == []


def test_content_may_be_empty_only_with_attachments(rest, room_with):
    room, tokens = room_with("alice")
    assert_refused(post(rest, room, tokens["alice"], "   "), field="content")
    assert_refused(post(rest, room, tokens["alice"], "", attachments=[]), field="content")
    image = uploaded(rest, room, tokens["alice"])
    assert post(rest, room, tokens["alice"], "  ", attachments=[image]).status == 201


def test_invisible_only_content_counts_as_empty(rest, room_with, connect):
    """The string rules (invisible-only text is empty) and the attachments rule (empty
    text needs attachments) together: refused alone, allowed with a file, stored empty."""
    room, tokens = room_with("alice")
    invisible = "\u200b\u2060 \ufeff"
    assert_refused(post(rest, room, tokens["alice"], invisible), field="content")
    image = uploaded(rest, room, tokens["alice"])
    result = post(rest, room, tokens["alice"], invisible, attachments=[image])
    assert result.status == 201, result.body
    assert result.body["content"] == ""
    alice = connect(tokens["alice"])
    alice.send({"type": "message", "room_id": room["room_id"], "content": invisible})
    assert [error["code"] for error in alice.frames("error")] == ["validation_error"]
    second = uploaded(rest, room, tokens["alice"])
    alice.send(
        {
            "type": "message",
            "room_id": room["room_id"],
            "content": invisible,
            "attachments": [second],
        }
    )
    (ack,) = alice.frames("message")
    assert ack["content"] == "" and ack["attachments"][0]["attachment_id"] == second
    assert [m["content"] for m in history(rest, room, tokens["alice"])] == ["", ""]


def test_a_bot_command_may_carry_attachments(rest, room_with, stack):
    room, tokens = room_with("alice")
    image = uploaded(rest, room, tokens["alice"])
    result = post(rest, room, tokens["alice"], "@bot what is this?", attachments=[image])
    assert result.status == 201
    assert result.body["message_type"] == "command"
    queued = boto3.client("sqs").receive_message(QueueUrl=stack["queue_url"])["Messages"]
    assert json.loads(queued[0]["Body"])["message_id"] == result.body["message_id"]


def test_never_uploaded(rest, room_with):
    room, tokens = room_with("alice")
    declared = declare(rest, room, tokens["alice"]).body["attachment_id"]
    assert_refused(post(rest, room, tokens["alice"], "look", attachments=[declared]))
    assert history(rest, room, tokens["alice"]) == []


def test_unknown_attachment(rest, room_with):
    room, tokens = room_with("alice")
    assert_refused(post(rest, room, tokens["alice"], "look", attachments=["01NOSUCHATTACHMENT"]))


@pytest.mark.parametrize(
    ("declared_type", "declared_size", "stored_type", "data"),
    [
        ("image/png", len(PNG) + 1, "image/png", PNG),  # fewer bytes than declared
        ("image/png", len(PNG) - 1, "image/png", PNG),  # more bytes than declared
        ("image/png", len(PNG), "image/jpeg", PNG),  # another type than declared
        ("text/plain", 5, "text/html", b"<b>x"),
    ],
)
def test_an_upload_of_another_size_or_type_than_declared(
    rest, room_with, declared_type, declared_size, stored_type, data
):
    # S3 itself refuses such a POST (the policy pins both); here the object got there
    # anyway, e.g. through moto, which does not check POST policies: attaching refuses it.
    room, tokens = room_with("alice")
    declared = declare(
        rest, room, tokens["alice"], content_type=declared_type, size=declared_size
    ).body
    boto3.client("s3").put_object(
        Bucket=BUCKET,
        Key=declared["upload"]["fields"]["key"],
        Body=data,
        ContentType=stored_type,
    )
    result = post(rest, room, tokens["alice"], "look", attachments=[declared["attachment_id"]])
    assert_refused(result)
    assert history(rest, room, tokens["alice"]) == []


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/png", EXE),
        ("image/png", JPEG),
        ("image/jpeg", PNG),
        ("image/gif", b"GIF90a" + b"\x00" * 10),
        ("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt "),
    ],
)
def test_image_bytes_that_are_not_the_declared_format(rest, room_with, content_type, data):
    room, tokens = room_with("alice")
    attachment = uploaded(rest, room, tokens["alice"], data, content_type=content_type)
    assert_refused(post(rest, room, tokens["alice"], "look", attachments=[attachment]))
    assert history(rest, room, tokens["alice"]) == []


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("image/png", PNG), ("image/jpeg", JPEG), ("image/gif", GIF), ("image/webp", WEBP)],
)
def test_each_image_format_is_recognised(rest, room_with, content_type, data):
    room, tokens = room_with("alice")
    attachment = uploaded(rest, room, tokens["alice"], data, content_type=content_type)
    assert post(rest, room, tokens["alice"], "", attachments=[attachment]).status == 201


def test_someone_elses_attachment(rest, room_with):
    room, tokens = room_with("alice", "bob")
    bobs = uploaded(rest, room, tokens["bob"])
    assert_refused(post(rest, room, tokens["alice"], "mine now", attachments=[bobs]))
    assert post(rest, room, tokens["bob"], "", attachments=[bobs]).status == 201


def test_another_rooms_attachment(rest, room_with):
    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    elsewhere = uploaded(rest, other, tokens["alice"])
    assert_refused(post(rest, room, tokens["alice"], "x", attachments=[elsewhere]))
    assert post(rest, other, tokens["alice"], "x", attachments=[elsewhere]).status == 201


def test_an_attachment_is_attached_once(rest, room_with):
    room, tokens = room_with("alice")
    image = uploaded(rest, room, tokens["alice"])
    assert post(rest, room, tokens["alice"], "first", attachments=[image]).status == 201
    assert_refused(post(rest, room, tokens["alice"], "again", attachments=[image]))
    assert_refused(post(rest, room, tokens["alice"], "twice", attachments=[image, image]))
    assert [m["content"] for m in history(rest, room, tokens["alice"])] == ["first"]


def test_at_most_four_attachments(rest, room_with):
    room, tokens = room_with("alice")
    ids = [uploaded(rest, room, tokens["alice"]) for _ in range(5)]
    assert_refused(post(rest, room, tokens["alice"], "five", attachments=ids))
    assert history(rest, room, tokens["alice"]) == []
    result = post(rest, room, tokens["alice"], "four", attachments=ids[:4])
    assert result.status == 201 and len(result.body["attachments"]) == 4


def test_one_bad_attachment_stores_nothing_and_claims_nothing(rest, room_with):
    room, tokens = room_with("alice")
    good = uploaded(rest, room, tokens["alice"])
    missing = declare(rest, room, tokens["alice"]).body["attachment_id"]
    assert_refused(post(rest, room, tokens["alice"], "both", attachments=[good, missing]))
    assert history(rest, room, tokens["alice"]) == []
    assert post(rest, room, tokens["alice"], "just one", attachments=[good]).status == 201


def test_two_messages_racing_for_one_attachment_cannot_both_win(rest, room_with):
    room, tokens = room_with("alice")
    image = uploaded(rest, room, tokens["alice"])
    alice = Principal(user_id=stored_records()[0]["user_id"], username="alice")
    # Both requests pass every check before either stores its message.
    first = attachments.prepare(alice, room["room_id"], [image], "01A")
    second = attachments.prepare(alice, room["room_id"], [image], "01B")
    item = {
        "room_id": room["room_id"],
        "username": "alice",
        "content": "",
        "message_type": "text",
        "is_bot": False,
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    attachments.store_message({**item, "message_id": "01A"}, first, alice)
    with pytest.raises(ValidationFailed) as refused:
        attachments.store_message({**item, "message_id": "01B"}, second, alice)
    assert refused.value.details[0]["field"] == "attachments"
    assert [m["message_id"] for m in history(rest, room, tokens["alice"])] == ["01A"]
    # and the loser's copy is gone: the winner's file and the upload remain
    assert stored_keys() == sorted(
        [file_key(room, {"message_id": "01A"}, image), upload_key(room, image)]
    )


def test_the_claim_is_conditional_on_sender_and_room(room_with, rest):
    room, tokens = room_with("alice")
    image = uploaded(rest, room, tokens["alice"])
    owner = stored_records()[0]["user_id"]
    message = {"room_id": room["room_id"], "message_id": "01X", "content": ""}
    refused = records.put_message_attaching(
        message, [image], room_id=room["room_id"], user_id="someone-else"
    )
    assert refused.outcome == "attachment_taken"
    refused = records.put_message_attaching(
        {**message, "room_id": "other"}, [image], room_id="other", user_id=owner
    )
    assert refused.outcome == "attachment_taken"
    stored = records.put_message_attaching(message, [image], room_id=room["room_id"], user_id=owner)
    assert stored.outcome == "stored"


# ------------------------------------------------------------------------------ fixed bytes
PNG_TOO = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(50, 100))
SVG_AS_PNG = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".ljust(PNG_SIZE)


@pytest.mark.parametrize("replacement", [PNG_TOO, SVG_AS_PNG], ids=["png", "svg"])
def test_posting_the_upload_form_again_changes_nothing_anyone_reads(rest, room_with, replacement):
    from chat.adapters import storage

    # Given alice's message carries her picture
    room, tokens = room_with("alice", "bob")
    declared = declare(rest, room, tokens["alice"]).body
    assert upload(declared, PNG).status_code == 204
    message = post(rest, room, tokens["alice"], "", attachments=[declared["attachment_id"]]).body
    # When she posts the same presigned form again, with other bytes of the declared size
    assert len(replacement) == PNG_SIZE
    assert upload(declared, replacement).status_code == 204
    # Then every member still downloads the attached bytes, and the bot reads them
    (read,) = history(rest, room, tokens["bob"])
    assert requests.get(read["attachments"][0]["url"], timeout=10).content == PNG
    key = storage.object_key(room["room_id"], message["message_id"], declared["attachment_id"])
    assert storage.read(key) == PNG
    # and the file is not where any lifecycle rule or upload form reaches
    assert not key.startswith("uploads/")


def test_a_file_replaced_while_it_is_being_attached_is_attached_as_copied(
    rest, room_with, monkeypatch
):
    # Given two sends of one attachment racing (both read its record before either stored
    # its message), its upload replaced between them
    room, tokens = room_with("alice")
    declared = declare(rest, room, tokens["alice"]).body
    image = declared["attachment_id"]
    assert upload(declared, PNG).status_code == 204
    alice = Principal(user_id=stored_records()[0]["user_id"], username="alice")
    unattached = records.get_attachments([image])
    first = attachments.prepare(alice, room["room_id"], [image], "01A")
    item = {
        "room_id": room["room_id"],
        "username": "alice",
        "content": "",
        "message_type": "text",
        "is_bot": False,
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    attachments.store_message({**item, "message_id": "01A"}, first, alice)
    assert upload(declared, PNG_TOO).status_code == 204
    monkeypatch.setattr(attachments.records, "get_attachments", lambda ids: unattached)
    second = attachments.prepare(alice, room["room_id"], [image], "01B")
    # When the second one stores its message, after the first won
    with pytest.raises(ValidationFailed):
        attachments.store_message({**item, "message_id": "01B"}, second, alice)
    # Then the attached file is still the bytes the first one copied, and no other copy is left
    (read,) = history(rest, room, tokens["alice"])
    assert requests.get(read["attachments"][0]["url"], timeout=10).content == PNG
    assert stored_keys() == sorted([file_key(room, read, image), upload_key(room, image)])


def test_posting_the_upload_form_after_the_message_was_deleted_brings_nothing_back(rest, room_with):
    room, tokens = room_with("alice")
    declared = declare(rest, room, tokens["alice"]).body
    assert upload(declared, PNG).status_code == 204
    message = post(rest, room, tokens["alice"], "", attachments=[declared["attachment_id"]]).body
    url = message["attachments"][0]["url"]
    path = f"/rooms/{room['room_id']}/messages/{message['message_id']}"
    assert rest.delete(path, token=tokens["alice"]).status == 204
    assert stored_keys() == []
    assert upload(declared, PNG).status_code == 204
    # Only an upload, which nobody can attach (its record is gone) and the lifecycle deletes
    assert stored_keys() == [upload_key(room, declared["attachment_id"])]
    assert requests.get(url, timeout=10).status_code in (403, 404)
    assert_refused(post(rest, room, tokens["alice"], "", attachments=[declared["attachment_id"]]))


# ------------------------------------------------------------------------------ WebSocket
def test_a_websocket_message_carries_attachments_to_every_subscriber(rest, room_with, connect):
    room, tokens = room_with("alice", "bob")
    image = uploaded(rest, room, tokens["alice"])
    alice, bob = connect(tokens["alice"]), connect(tokens["bob"])
    for client in (alice, bob):
        client.send({"type": "join", "room_id": room["room_id"]})
    alice.send(
        {"type": "message", "room_id": room["room_id"], "content": "", "attachments": [image]}
    )
    (frame,) = bob.frames("message")
    (attachment,) = frame["attachments"]
    assert attachment["attachment_id"] == image
    assert requests.get(attachment["url"], timeout=10).content == PNG
    assert alice.frames("message")[0]["message_id"] == frame["message_id"]


def test_a_websocket_message_with_a_bad_attachment_gets_an_error_frame(rest, room_with, connect):
    room, tokens = room_with("alice")
    declared = declare(rest, room, tokens["alice"]).body["attachment_id"]
    alice = connect(tokens["alice"])
    for frame in (
        {"type": "message", "room_id": room["room_id"], "content": "", "attachments": [declared]},
        {"type": "message", "room_id": room["room_id"], "attachments": ["a", "b", "c", "d", "e"]},
        {"type": "message", "room_id": room["room_id"], "content": " "},
    ):
        alice.send(frame)
    errors = alice.frames("error")
    assert [error["code"] for error in errors] == ["validation_error"] * 3
    assert "attachments" in errors[1]["message"]
    assert history(rest, room, tokens["alice"]) == []


# ------------------------------------------------------------------------------ deleting
def test_deleting_a_messages_attachments_removes_objects_and_records(rest, room_with):
    room, tokens = room_with("alice")
    image = uploaded(rest, room, tokens["alice"])
    kept = uploaded(rest, room, tokens["alice"])
    message = post(rest, room, tokens["alice"], "", attachments=[image]).body
    post(rest, room, tokens["alice"], "", attachments=[kept])
    stored = boto3.resource("dynamodb").Table(os.environ["MESSAGES_TABLE"])
    item = stored.get_item(Key={"room_id": room["room_id"], "message_id": message["message_id"]})
    attachments.delete_attachments_of(item["Item"])
    kept_message = history(rest, room, tokens["alice"])[1]
    # The message's file and its upload go; the other message's stay
    assert stored_keys() == sorted([file_key(room, kept_message, kept), upload_key(room, kept)])
    assert [r["attachment_id"] for r in stored_records()] == [kept]
    assert requests.get(message["attachments"][0]["url"], timeout=10).status_code in (403, 404)
    attachments.delete_attachments_of(item["Item"])  # again: nothing left, no error


def test_a_deleted_message_shows_no_attachments(rest, room_with):
    room, tokens = room_with("alice")
    image = uploaded(rest, room, tokens["alice"])
    message = post(rest, room, tokens["alice"], "", attachments=[image]).body
    stored = boto3.resource("dynamodb").Table(os.environ["MESSAGES_TABLE"])
    stored.update_item(
        Key={"room_id": room["room_id"], "message_id": message["message_id"]},
        UpdateExpression="SET deleted = :t",
        ExpressionAttributeValues={":t": True},
    )
    assert history(rest, room, tokens["alice"])[0]["attachments"] == []
