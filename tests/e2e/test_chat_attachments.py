"""Attachments over the local stack: a real multipart upload to the presigned POST URL (moto
behind the local stack's policy checks), the message over the WebSocket, a download through
the returned URL, the bot seeing the file, and the terminal client's /attach."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.e2e import test_chat
from tests.e2e.conftest import ROOT, LocalStackProcess

# The chat tests' fixtures: the REST client, registration, sockets, a room of two.
rest = test_chat.rest
register = test_chat.register
open_socket = test_chat.open_socket
room_of_two = test_chat.room_of_two

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def declare(rest, room_id: str, token: str, size: int, content_type="image/png") -> dict:
    response = rest.post(
        f"/rooms/{room_id}/attachments",
        {"filename": "chart.png", "content_type": content_type, "size": size},
        token=token,
    )
    assert response.status_code == 201, response.text
    return response.json()


def upload(declared: dict, data: bytes, **changes: str) -> httpx.Response:
    form = declared["upload"]
    return httpx.post(
        form["url"],
        data={**form["fields"], **changes},
        files={"file": ("chart.png", data, "application/octet-stream")},
        timeout=30,
    )


def test_upload_attach_download_and_the_bot_sees_the_file(rest, room_of_two) -> None:
    room_id = room_of_two["room"]["room_id"]
    _, alice_token, alice_socket = room_of_two["alice"]
    _, bob_token, bob_socket = room_of_two["bob"]
    declared = declare(rest, room_id, alice_token, len(PNG))
    assert urlsplit(declared["upload"]["url"]).hostname == "127.0.0.1"
    assert upload(declared, PNG).status_code == 204

    alice_socket.send(
        type="message",
        room_id=room_id,
        content="@bot what is in this picture?",
        client_id="with-file",
        attachments=[declared["attachment_id"]],
    )

    frame = bob_socket.wait_for_type("message", client_id="with-file")
    (attachment,) = frame["attachments"]
    assert attachment["attachment_id"] == declared["attachment_id"]
    assert attachment["size"] == len(PNG) and attachment["content_type"] == "image/png"
    assert urlsplit(attachment["url"]).hostname == "127.0.0.1"
    download = httpx.get(attachment["url"], timeout=30)
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    done = alice_socket.wait_for_type(
        "bot_stream", timeout=30, is_complete=True, reply_to=frame["message_id"]
    )
    assert f"I received 1 file: image/png ({len(PNG)} bytes)." in done["full_response"]
    history = rest.get(f"/rooms/{room_id}/messages", token=bob_token).json()["messages"]
    stored = next(m for m in history if m["message_id"] == frame["message_id"])
    assert httpx.get(stored["attachments"][0]["url"], timeout=30).content == PNG


def test_storage_refuses_an_upload_unlike_the_declared_one(rest, room_of_two) -> None:
    room_id = room_of_two["room"]["room_id"]
    _, alice_token, alice_socket = room_of_two["alice"]
    declared = declare(rest, room_id, alice_token, len(PNG))

    bigger = upload(declared, PNG + b"!")
    assert bigger.status_code == 400 and b"EntityTooLarge" in bigger.content
    smaller = upload(declared, PNG[:-1])
    assert smaller.status_code == 400 and b"EntityTooSmall" in smaller.content
    retyped = upload(declared, PNG, **{"Content-Type": "text/html"})
    assert retyped.status_code == 403 and b"AccessDenied" in retyped.content
    elsewhere = upload(declared, PNG, key=f"rooms/{room_id}/somebody-elses")
    assert elsewhere.status_code == 403
    forged = upload(declared, PNG, **{"x-amz-signature": "0" * 64})
    assert forged.status_code == 403 and b"SignatureDoesNotMatch" in forged.content

    alice_socket.send(
        type="message",
        room_id=room_id,
        content="",
        attachments=[declared["attachment_id"]],
    )
    error = alice_socket.wait_for_type("error", request_type="message")
    assert error["code"] == "validation_error" and "not uploaded" in error["message"]


def test_the_terminal_client_attaches_a_file(
    stack: LocalStackProcess, rest, register, tmp_path: Path
) -> None:
    username, token = register("carol")
    room = rest.post("/rooms", {"name": "files"}, token=token).json()
    picture = tmp_path / "diagram.png"
    picture.write_bytes(PNG)
    script = f"/attach {picture} here it is\n/history 5\n/quit\n"
    result = subprocess.run(  # noqa: S603 - our own client
        [
            sys.executable, "-m", "terminal", "--rest-url", stack.urls["rest"],
            "--ws-url", stack.urls["ws"], "--username", username, "--room", room["code"],
        ],
        input=script, capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "CHAT_PASSWORD": test_chat.PASSWORD},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "diagram.png" in line]
    assert lines, result.stdout
    url = lines[-1].split()[-1]
    assert urlsplit(url).hostname == "127.0.0.1"
    assert httpx.get(url, timeout=30).content == PNG
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=token).json()["messages"]
    assert history[-1]["content"] == "here it is"
    assert history[-1]["attachments"][0]["filename"] == "diagram.png"
