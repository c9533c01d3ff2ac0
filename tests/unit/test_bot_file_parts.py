"""Which attachments the bot gets (chat.logic.bot.files) and how messages name them (context)."""

from __future__ import annotations

from chat.adapters.storage import object_key
from chat.logic.bot.context import Blob, build_model_input
from chat.logic.bot.files import MAX_FILE_BYTES, FilePlan, attach, parts, plan
from chat.logic.conversation.attachments import looks_like

MiB = 1024 * 1024


def message(message_id, *files, username="alice", content="", **extra):
    return {
        "room_id": "r1",
        "message_id": message_id,
        "username": username,
        "content": content,
        "message_type": "text",
        "is_bot": False,
        "attachments": [
            {"attachment_id": f"{message_id}-{name}", "filename": name, "content_type": kind,
             "size": size}
            for name, kind, size in files
        ],
        **extra,
    }  # fmt: skip


def names(refs):
    return [ref.filename for ref in refs]


def test_newest_first_until_the_budget_then_by_name_only():
    messages = [
        message("01", ("a.png", "image/png", 8 * MiB)),
        message("02", ("b.pdf", "application/pdf", 2 * MiB), ("c.png", "image/png", 1)),
        message("03", ("d.png", "image/png", 10 * MiB)),
        message("04", ("e.txt", "text/plain", 100)),
    ]
    chosen = plan(messages, ["01", "02", "03", "04"])
    assert names(chosen.shown) == ["e.txt", "d.png", "b.pdf", "c.png"]
    assert names(chosen.named) == ["a.png"]


def test_exactly_the_budget_is_shown_and_one_byte_more_is_not():
    exact = [message("01", ("a.png", "image/png", MAX_FILE_BYTES))]
    assert names(plan(exact, ["01"]).shown) == ["a.png"]
    over = [message("01", ("a.png", "image/png", MAX_FILE_BYTES + 1))]
    assert names(plan(over, ["01"]).named) == ["a.png"]
    assert 20 * MiB == MAX_FILE_BYTES


def test_only_the_window_and_never_deleted_messages():
    messages = [
        message("01", ("old.png", "image/png", 1)),
        message("02", ("gone.png", "image/png", 1), deleted=True),
        message("03", ("kept.png", "image/png", 1)),
    ]
    assert names(plan(messages, ["02", "03"]).shown) == ["kept.png"]


def test_parts_give_images_and_pdfs_as_bytes_and_text_as_text():
    chosen = plan(
        [
            message(
                "01",
                ("big.pdf", "application/pdf", 10 * MiB),
                ("big2.pdf", "application/pdf", 10 * MiB),
            ),
            message("02", ("a.png", "image/png", 3), ("n.md", "text/markdown", 6)),
        ],
        ["01", "02"],
    )
    objects = {
        object_key("r1", "02", "02-a.png"): b"png",
        object_key("r1", "02", "02-n.md"): "héllo".encode(),
        object_key("r1", "01", "01-big.pdf"): b"%PDF-",
    }
    out = parts(chosen, objects.get)
    blobs = [part for part in out if isinstance(part, Blob)]
    assert blobs == [Blob("image/png", b"png"), Blob("application/pdf", b"%PDF-")]
    text = "".join(part for part in out if isinstance(part, str))
    assert "héllo" in text
    assert '"big2.pdf" (application/pdf, 10485760 bytes) from alice' in text.split("named only")[1]


def test_a_file_gone_from_storage_is_left_out_and_no_files_no_parts():
    chosen = plan([message("01", ("a.png", "image/png", 3))], ["01"])
    assert [p for p in parts(chosen, lambda key: None) if isinstance(p, Blob)] == []
    assert parts(FilePlan((), ()), lambda key: b"") == ()


def test_messages_name_their_attachments_and_the_window_is_recorded():
    history = [
        message("01", content="hello", username="bob"),
        message("02", ("cat.png", "image/png", 3)),
        message("03", content="", username="bob"),  # empty, no files: not a turn
        message("04", ("x.png", "image/png", 3), deleted=True),
    ]
    command = message("05", ("doc.pdf", "application/pdf", 3), content="@bot look")
    model_input = build_model_input(
        room_name="r", members=["alice", "bob"], system_prompt=None, history=history,
        command=command,
    )  # fmt: skip
    (turn,) = model_input.contents
    assert turn.text.splitlines() == [
        "bob: hello",
        "alice: [attached: cat.png]",
        "alice: @bot look [attached: doc.pdf]",
    ]
    assert model_input.message_ids == ("01", "02", "05")
    attached = attach(model_input, [*history, command], lambda key: b"data")
    assert [p for p in attached.file_parts if isinstance(p, Blob)] == [
        Blob("application/pdf", b"data"),
        Blob("image/png", b"data"),
    ]


def test_image_signatures():
    assert looks_like("image/png", b"\x89PNG\r\n\x1a\n....")
    assert not looks_like("image/png", b"MZ\x90\x00")
    assert looks_like("image/jpeg", b"\xff\xd8\xff\xe0")
    assert looks_like("image/gif", b"GIF87a") and looks_like("image/gif", b"GIF89a")
    assert looks_like("image/webp", b"RIFF\x10\x00\x00\x00WEBP")
    assert not looks_like("image/webp", b"RIFF\x10\x00\x00\x00WAVE")
    assert looks_like("application/pdf", b"anything")  # only images are sniffed
