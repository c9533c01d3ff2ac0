"""Search on moto: the indexer fed by the messages table's real stream (create, edit,
delete, the same batch again, a failed record), `GET /search` through its handler
(authorization at query time, paging, errors), and the bot's `search_room` entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chat.dal import search_index
from chat.ids import new_id, now_iso
from chat.logic.search import service
from chat.models import BOT_USERNAME
from tests.support.clients import handler_of
from tests.support.dynamo import count_dynamodb_calls
from tests.support.events import LambdaContext
from tests.support.streams import TableStream

INDEXER = "SearchIndexerFunction"


@pytest.fixture
def stream(stack: dict[str, Any]) -> TableStream:
    return TableStream("MessagesTable")


@pytest.fixture
def index(stream: TableStream) -> Callable[[], dict[str, Any]]:
    """index() -> the indexer's answer to the stream records written since the last call
    (as Lambda's event source hands them over)."""

    def _index() -> dict[str, Any]:
        records = stream.read()
        if not records:
            return {"batchItemFailures": []}
        return handler_of(INDEXER)(stream.event(records), LambdaContext(INDEXER))

    return _index


def _post(rest, room_id: str, token: str, content: str) -> dict[str, Any]:
    result = rest.post(f"/rooms/{room_id}/messages", {"content": content}, token=token)
    assert result.status == 201, result.body
    return result.body


def _search(rest, token: str, q: str, **params: Any):
    return rest.get(
        "/search", query={"q": q, **{k: str(v) for k, v in params.items()}}, token=token
    )


def _found(rest, token: str, q: str, **params: Any) -> list[str]:
    result = _search(rest, token, q, **params)
    assert result.status == 200, result.body
    return [message["content"] for message in result.body["results"]]


def _postings() -> list[dict[str, Any]]:
    return sorted(
        boto3.resource("dynamodb").Table("SearchIndexTable").scan()["Items"],
        key=lambda item: (item["pk"], item["sk"]),
    )


def _store(item: dict[str, Any]) -> None:
    boto3.resource("dynamodb").Table("MessagesTable").put_item(Item=item)


def _message(room_id: str, content: str, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": new_id(),
        "room_id": room_id,
        "username": fields.pop("username", "alice"),
        "content": content,
        "message_type": "text",
        "is_bot": False,
        "created_at": now_iso(),
        "status": "complete",
        **fields,
    }


# ------------------------------------------------------------------------------ the indexer
def test_a_stored_message_is_found_once_its_change_is_indexed(rest, room_with, index):
    # Given alice and bob in a room, and alice's message stored
    room, tokens = room_with("alice", "bob")
    message = _post(rest, room["room_id"], tokens["alice"], "The Déploiement failed again")
    # Not before the indexer ran: the index is kept by the stream, not by the request
    assert _found(rest, tokens["bob"], "deploiement") == []
    # When the stream's records reach the indexer
    assert index() == {"batchItemFailures": []}
    # Then any member finds it, by any case and accent, the last word as a prefix
    for q in ("déploiement", "DEPLOIEMENT", "deplo", "failed déploiement", "again the deploiem"):
        results = _search(rest, tokens["bob"], q).body["results"]
        assert [r["message_id"] for r in results] == [message["message_id"]], q
    assert (
        results[0]
        == rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["bob"]).body["messages"][-1]
    )  # the stored Message itself
    assert _found(rest, tokens["bob"], "deploy failed") == []  # "deploy" is a whole word


def test_an_edit_is_found_by_its_new_text_only_even_before_the_indexer_runs(rest, room_with, index):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"], "meet at the harbour")
    index()
    edited = rest.call(
        "PATCH",
        f"/rooms/{room['room_id']}/messages/{message['message_id']}",
        body={"content": "meet at the station"},
        token=tokens["alice"],
    )
    assert edited.status == 200
    # At once: the old text is checked against what is stored now
    assert _found(rest, tokens["alice"], "harbour") == []
    # Once indexed: the new text is found, and the old words' postings are gone
    index()
    assert _found(rest, tokens["alice"], "station") == ["meet at the station"]
    assert _found(rest, tokens["alice"], "harbour") == []
    assert not [p for p in _postings() if p["t"] == "harbour"]
    assert [p["t"] for p in _postings() if p["t"] == "station"] == ["station"] * 3


def test_a_deleted_message_is_gone_at_once_and_its_postings_after_indexing(rest, room_with, index):
    room, tokens = room_with("alice")
    message = _post(rest, room["room_id"], tokens["alice"], "secret launch codes")
    index()
    assert _found(rest, tokens["alice"], "launch") == ["secret launch codes"]
    deleted = rest.delete(
        f"/rooms/{room['room_id']}/messages/{message['message_id']}", token=tokens["alice"]
    )
    assert deleted.status == 204
    assert _found(rest, tokens["alice"], "launch") == []
    index()
    assert _postings() == []


def test_the_same_batch_delivered_again_leaves_the_same_index(rest, room_with, stream):
    # Given a create, an edit and a delete of messages in one batch
    room, tokens = room_with("alice")
    room_id = room["room_id"]
    kept = _post(rest, room_id, tokens["alice"], "alpha beta")
    gone = _post(rest, room_id, tokens["alice"], "gamma delta")
    rest.call(
        "PATCH",
        f"/rooms/{room_id}/messages/{kept['message_id']}",
        body={"content": "alpha epsilon"},
        token=tokens["alice"],
    )
    rest.delete(f"/rooms/{room_id}/messages/{gone['message_id']}", token=tokens["alice"])
    event = stream.event(stream.read())
    assert [r["eventName"] for r in event["Records"]][-2:] == ["MODIFY", "MODIFY"]
    indexer = handler_of(INDEXER)
    # When it is delivered, then delivered again (a retry), and again from its middle on
    assert indexer(event, LambdaContext(INDEXER)) == {"batchItemFailures": []}
    once = _postings()
    assert indexer(event, LambdaContext(INDEXER)) == {"batchItemFailures": []}
    tail = {"Records": event["Records"][2:]}
    assert indexer(tail, LambdaContext(INDEXER)) == {"batchItemFailures": []}
    # Then the index is what one delivery made: the edited message's new words only
    assert _postings() == once
    assert sorted({p["t"] for p in once}) == ["alpha", "epsilon"]
    assert _found(rest, tokens["alice"], "alpha") == ["alpha epsilon"]


def test_a_record_that_fails_is_reported_and_the_others_are_indexed(
    rest, room_with, stream, monkeypatch
):
    room, tokens = room_with("alice")
    _post(rest, room["room_id"], tokens["alice"], "first words")
    _post(rest, room["room_id"], tokens["alice"], "poison words")
    _post(rest, room["room_id"], tokens["alice"], "third words")
    event = stream.event(stream.read())
    write = search_index.write

    def failing(puts, deletes):
        if any(p.term == "poison" for p in puts):
            raise RuntimeError("throttled")
        return write(puts, deletes)

    monkeypatch.setattr(search_index, "write", failing)
    answer = handler_of(INDEXER)(event, LambdaContext(INDEXER))
    poisoned = event["Records"][-2]["dynamodb"]["SequenceNumber"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": poisoned}]}
    assert _found(rest, tokens["alice"], "words") == ["third words", "first words"]
    # Lambda retries from the failed record on: then everything is found
    monkeypatch.setattr(search_index, "write", write)
    retry = {"Records": event["Records"][-2:]}
    assert handler_of(INDEXER)(retry, LambdaContext(INDEXER)) == {"batchItemFailures": []}
    assert _found(rest, tokens["alice"], "words") == ["third words", "poison words", "first words"]


def test_a_bot_answer_is_indexed_once_it_stops_streaming(rest, room_with, index):
    room, tokens = room_with("alice")
    command = _post(rest, room["room_id"], tokens["alice"], "@bot explain FIFO queues")
    reply = _message(
        room["room_id"],
        "",
        username=BOT_USERNAME,
        message_type="bot",
        is_bot=True,
        status="streaming",
        reply_to=command["message_id"],
    )
    _store(reply)
    table = boto3.resource("dynamodb").Table("MessagesTable")
    key = {"room_id": room["room_id"], "message_id": reply["message_id"]}
    table.update_item(
        Key=key,
        UpdateExpression="SET content = :c",
        ExpressionAttributeValues={":c": "A FIFO queue keeps"},
    )
    index()
    assert _found(rest, tokens["alice"], "fifo") == ["@bot explain FIFO queues"]  # the command
    table.update_item(
        Key=key,
        UpdateExpression="SET content = :c, #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": "A FIFO queue keeps order", ":s": "complete"},
    )
    index()
    assert _found(rest, tokens["alice"], "fifo") == [
        "A FIFO queue keeps order",
        "@bot explain FIFO queues",
    ]


# ------------------------------------------------------------------------------ who sees what
def test_only_rooms_the_caller_is_in_now_are_searched(rest, room_with, register, index):
    # Given alice's room with bob, and carol's room alice is not in
    room, tokens = room_with("alice", "bob")
    carol = register("carol")
    other = rest.post("/rooms", {"name": "carol's"}, token=carol).body
    _post(rest, room["room_id"], tokens["alice"], "quarterly numbers are in")
    _post(rest, other["room_id"], carol, "quarterly numbers are private")
    index()
    assert _found(rest, tokens["bob"], "quarterly") == ["quarterly numbers are in"]
    assert _found(rest, carol, "quarterly") == ["quarterly numbers are private"]
    # A room the caller is not in is a 404, as every room route answers
    assert _search(rest, tokens["bob"], "quarterly", room_id=other["room_id"]).status == 404
    assert _search(rest, tokens["bob"], "quarterly", room_id="no-such-room").status == 404
    # When bob leaves, he finds nothing more from the room; back in, he does again
    assert rest.delete(f"/rooms/{room['room_id']}/members/me", token=tokens["bob"]).status == 204
    assert _found(rest, tokens["bob"], "quarterly") == []
    assert _search(rest, tokens["bob"], "quarterly", room_id=room["room_id"]).status == 404
    assert rest.post("/rooms/join", {"code": room["code"]}, token=tokens["bob"]).status == 200
    assert _found(rest, tokens["bob"], "quarterly") == ["quarterly numbers are in"]
    # And a member the owner removes finds nothing from it either
    removed = rest.delete(f"/rooms/{room['room_id']}/members/bob", token=tokens["alice"])
    assert removed.status == 204
    assert _found(rest, tokens["bob"], "quarterly") == []


def test_a_private_message_is_found_by_its_viewer_only(rest, room_with, index):
    room, tokens = room_with("alice", "bob")
    _post(rest, room["room_id"], tokens["alice"], "@bot plan the roadmap")
    _store(
        _message(
            room["room_id"],
            "@bot draft the roadmap privately",
            message_type="command",
            visible_to="bob",
            username="bob",
        )
    )
    index()
    assert _found(rest, tokens["alice"], "roadmap") == ["@bot plan the roadmap"]
    assert _found(rest, tokens["bob"], "roadmap") == [
        "@bot draft the roadmap privately",
        "@bot plan the roadmap",
    ]
    assert _found(rest, tokens["alice"], "privately") == []
    # The bot's tool: public messages, plus the private ones of the viewer it searches for
    room_id = room["room_id"]
    public = service.search_room(room_id, "roadmap", viewer=None)
    assert [m.content for m in public.results] == ["@bot plan the roadmap"]
    for_bob = service.search_room(room_id, "roadmap", viewer="bob", limit=1)
    assert [m.content for m in for_bob.results] == ["@bot draft the roadmap privately"]
    assert for_bob.next_before == for_bob.results[0].message_id


# ------------------------------------------------------------------------------ the route
def test_results_page_newest_first_across_rooms(rest, room_with, index):
    first, tokens = room_with("alice", name="one")
    second = rest.post("/rooms", {"name": "two"}, token=tokens["alice"]).body
    posted = []
    for n in range(7):
        room_id = (first if n % 2 else second)["room_id"]
        posted.append(_post(rest, room_id, tokens["alice"], f"status update {n}")["message_id"])
    index()
    pages, before = [], None
    while True:
        params = {"limit": 3, **({"before": before} if before else {})}
        body = _search(rest, tokens["alice"], "status upd", **params).body
        pages.append([m["message_id"] for m in body["results"]])
        before = body["next_before"]
        if before is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [m for page in pages for m in page] == posted[::-1]
    one_room = _search(rest, tokens["alice"], "status", room_id=first["room_id"]).body
    assert [m["message_id"] for m in one_room["results"]] == posted[1::2][::-1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "!!! 🎉"}, "q"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({}, "q"),
        ({"q": "ok", "limit": "0"}, "limit"),
        ({"q": "ok", "limit": "51"}, "limit"),
        ({"q": "ok", "before": "not/an/id"}, "before"),
    ],
)
def test_a_bad_query_is_a_422_naming_the_field(rest, register, params, field):
    result = rest.get("/search", query=params, token=register("alice"))
    assert result.status == 422, result.body
    assert result.error_code == "validation_error"
    assert field in {detail["field"] for detail in result.body["error"]["details"]}


def test_search_needs_a_token(rest):
    assert rest.get("/search", query={"q": "hello"}).status == 401


def test_a_search_across_rooms_costs_one_query_per_room(rest, room_with, index):
    room, tokens = room_with("alice")
    rooms = [room["room_id"]] + [
        rest.post("/rooms", {"name": f"r{n}"}, token=tokens["alice"]).body["room_id"]
        for n in range(4)
    ]
    for room_id in rooms:
        _post(rest, room_id, tokens["alice"], "weekly sync notes")
    index()
    with count_dynamodb_calls() as calls:
        assert len(_found(rest, tokens["alice"], "weekly")) == 5
    # whether her token was revoked (as every REST request), her rooms (the by_user index),
    # their memberships read consistently, one Query of the index per room, the messages
    # read back
    assert calls == {"GetItem": 1, "Query": 1 + len(rooms), "BatchGetItem": 2}
    with count_dynamodb_calls() as calls:
        assert len(_found(rest, tokens["alice"], "weekly sync", room_id=rooms[0])) == 1
    assert calls == {"GetItem": 1, "BatchGetItem": 2, "Query": 2}


def test_a_lagging_rooms_index_never_brings_back_a_room_the_caller_left(
    rest, room_with, index, monkeypatch
):
    # Given bob left a room, and the by_user index still lists it (it lags writes a moment)
    room, tokens = room_with("alice", "bob")
    _post(rest, room["room_id"], tokens["alice"], "board minutes attached")
    index()
    assert rest.delete(f"/rooms/{room['room_id']}/members/me", token=tokens["bob"]).status == 204
    monkeypatch.setattr(service, "room_ids_of_user", lambda user_id: [room["room_id"]])
    # Then his memberships, read consistently, leave it out
    assert _found(rest, tokens["bob"], "minutes") == []
    assert _found(rest, tokens["alice"], "minutes") == ["board minutes attached"]


def test_the_reindex_tool_rebuilds_rooms_from_the_messages_table(rest, room_with, capsys):
    # Given messages stored while no indexer ran (a stack deployed before search existed)
    from tools import reindex_search

    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    _post(rest, room["room_id"], tokens["alice"], "archived decision one")
    _post(rest, other["room_id"], tokens["alice"], "archived decision two")
    gone = _post(rest, room["room_id"], tokens["alice"], "archived and deleted")
    rest.delete(f"/rooms/{room['room_id']}/messages/{gone['message_id']}", token=tokens["alice"])
    assert _found(rest, tokens["alice"], "archived") == []
    tables = ["--messages-table", "MessagesTable", "--index-table", "SearchIndexTable"]
    # When one room is rebuilt, its messages are found; then the whole table
    reindex_search.main([*tables, "--room", room["room_id"]])
    assert _found(rest, tokens["alice"], "archived") == ["archived decision one"]
    reindex_search.main(tables)
    assert _found(rest, tokens["alice"], "archived dec") == [
        "archived decision two",
        "archived decision one",
    ]
    assert "3 messages read, 18 postings put" in capsys.readouterr().out
