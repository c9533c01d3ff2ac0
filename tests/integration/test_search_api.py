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
from chat.logic.search.terms import tokens as tokens_of
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


def _index_items() -> list[dict[str, Any]]:
    return sorted(
        boto3.resource("dynamodb").Table("SearchIndexTable").scan()["Items"],
        key=lambda item: (item["pk"], item["sk"]),
    )


def _postings() -> list[dict[str, Any]]:
    return [item for item in _index_items() if "t" in item]


def _heads_agree_with_postings() -> None:
    """Every head, then its chunks newest first, holds exactly its bucket's postings (its
    term's, for a term's own head) from its oldest floor up, newest first, and each chunk
    has its locator (and no locator is left of a chunk that is not there)."""
    postings = _postings()
    items = {(item["pk"], item["sk"]): item for item in _index_items()}
    for head_pk, head in _heads().items():
        room_id, kind, chars = head_pk.split("#")
        bucket_pk = f"{room_id}#6#{chars[:6]}" if kind == "w" else head_pk
        held, floor = list(head["e"]), head["f"]
        for number in range(head["n"] - 1, -1, -1):
            chunk = items[(head_pk + "#c", f"n{number:08d}")]
            held += chunk.get("e", "").split()
            floor = chunk.get("f")
            assert items[(head_pk + "#c", "f" + (floor or ""))]["j"] == number
        locators = [sk for pk, sk in items if pk == head_pk + "#c" and sk.startswith("f")]
        assert len(locators) == head["n"], head_pk
        bucket = sorted(
            (p["sk"] if "v" not in p else f"{p['sk']}#{p['v']}")
            for p in postings
            if p["pk"] == bucket_pk
            and (kind != "w" or p["t"] == chars)
            and (floor is None or p["sk"] >= floor)
        )
        assert held == bucket[::-1], head_pk


def _heads() -> dict[str, dict[str, Any]]:
    """The buckets' heads by bucket key: their entries, floor and number of chunks."""
    return {
        item["pk"][: -len("#h")]: {
            "e": item["e"].split(),
            "f": item.get("f"),
            "n": int(item.get("n", 0)),
        }
        for item in _index_items()
        if item["sk"] == "h" and item["pk"].count("#") == 3
    }


def _marks() -> dict[str, str]:
    """The rooms' marks: fresh or legacy."""
    return {
        item["pk"][: -len("#r#h")]: item["f"]
        for item in _index_items()
        if item["sk"] == "h" and item["pk"].count("#") == 2
    }


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
    once = _index_items()
    assert indexer(event, LambdaContext(INDEXER)) == {"batchItemFailures": []}
    tail = {"Records": event["Records"][2:]}
    assert indexer(tail, LambdaContext(INDEXER)) == {"batchItemFailures": []}
    # Then the index is what one delivery made: the edited message's new words only, and
    # the heads of their buckets
    assert _index_items() == once
    assert sorted({p["t"] for p in _postings()}) == ["alpha", "epsilon"]
    _heads_agree_with_postings()
    alpha = {"e": [f"{kept['message_id']}#alpha"], "f": None, "n": 0}
    assert _heads()[f"{room_id}#6#alpha"] == alpha
    assert _heads()[f"{room_id}#6#gamma"] == {"e": [], "f": None, "n": 0}  # known empty
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
    _heads_agree_with_postings()  # the private posting's viewer is in its heads too
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


def test_heads_follow_every_change_batch_by_batch(rest, room_with, index, monkeypatch):
    """Messages posted, edited (old ones too, below their heads' floors) and deleted, a few
    changes a batch, with heads of 2 postings sealing 1 at a time into chunks of up to 2:
    after each batch every head and its chunks hold exactly their bucket's postings, and a
    search across the rooms finds what is stored; so do the heads and chunks the reindex
    tool builds."""
    import random

    from chat.logic.search import heads
    from tools import reindex_search

    monkeypatch.setattr(heads, "HEAD_SIZE", 2)
    monkeypatch.setattr(heads, "CHUNK_SIZE", 1)
    monkeypatch.setattr(heads, "CHUNK_MAX", 2)
    rng = random.Random(5)
    room, tokens = room_with("alice")
    rooms = [
        room["room_id"],
        rest.post("/rooms", {"name": "b"}, token=tokens["alice"]).body["room_id"],
    ]
    words = ["deploy", "deployment", "dep", "ok", "oak", "fail"]
    posted: list[dict[str, Any]] = []
    for _ in range(12):
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.6 or not posted:
                text = " ".join(rng.choices(words, k=rng.randint(1, 3)))
                posted.append(_post(rest, rng.choice(rooms), tokens["alice"], text))
            elif roll < 0.85:
                message = rng.choice(posted)
                path = f"/rooms/{message['room_id']}/messages/{message['message_id']}"
                text = " ".join(rng.choices(words, k=rng.randint(1, 3)))
                assert (
                    rest.call("PATCH", path, body={"content": text}, token=tokens["alice"]).status
                    == 200
                )
                message["content"] = text
            else:
                message = posted.pop(rng.randrange(len(posted)))
                path = f"/rooms/{message['room_id']}/messages/{message['message_id']}"
                assert rest.delete(path, token=tokens["alice"]).status == 204
        assert index() == {"batchItemFailures": []}
        _heads_agree_with_postings()
        for q in ("deploy", "dep", "de", "ok", "deployment fail"):
            query = service.parse(q)
            expected = [
                m["content"]
                for m in sorted(posted, key=lambda m: m["message_id"], reverse=True)
                if query.matches(frozenset(tokens_of(m["content"])))
            ]
            assert _found(rest, tokens["alice"], q, limit=50) == expected, q
    assert max(head["n"] for head in _heads().values()) > 3  # heads did seal chunks
    chunks = [item for item in _index_items() if item["sk"].startswith("n")]
    assert max(len(chunk["e"].split()) for chunk in chunks) == 2  # and filled them
    found = {q: _found(rest, tokens["alice"], q, limit=50) for q in ("deploy", "dep", "ok")}
    reindex_search.main(["--messages-table", "MessagesTable", "--index-table", "SearchIndexTable"])
    _heads_agree_with_postings()
    assert {q: _found(rest, tokens["alice"], q, limit=50) for q in found} == found


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


def test_a_search_across_rooms_reads_their_buckets_heads_in_one_call(rest, room_with, index):
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
    # the heads of the word's bucket in every room (no Query of the index: each head holds
    # its whole bucket), the messages read back with her memberships of their rooms
    assert calls == {"GetItem": 1, "Query": 1, "BatchGetItem": 2}
    with count_dynamodb_calls() as calls:
        assert len(_found(rest, tokens["alice"], "weekly sync", room_id=rooms[0])) == 1
    assert calls == {"GetItem": 1, "BatchGetItem": 3}


def test_a_bucket_without_a_head_is_read_by_queries(rest, room_with, index, monkeypatch):
    """A stack whose index was written before buckets had heads (or a head lost): its
    buckets are Queried, with the same results, until a change builds their heads."""
    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body["room_id"]
    for n in range(3):
        _post(rest, room["room_id"], tokens["alice"], f"weekly sync {n}")
        _post(rest, other, tokens["alice"], f"weekly review {n}")
    index()
    assert _marks() == {room["room_id"]: "fresh", other: "fresh"}
    with_heads = _found(rest, tokens["alice"], "weekly")
    table = boto3.resource("dynamodb").Table("SearchIndexTable")
    for head_pk in [*_heads(), *(f"{room_id}#r" for room_id in _marks())]:
        table.delete_item(Key={"pk": head_pk + "#h", "sk": "h"})
    monkeypatch.setattr(service, "_fresh_rooms", set())  # a container that never saw them
    with count_dynamodb_calls() as calls:
        assert _found(rest, tokens["alice"], "weekly") == with_heads
    assert calls["Query"] == 1 + 2  # her rooms, then each room's bucket
    # The next change of a bucket builds its head from the bucket as it is
    _post(rest, other, tokens["alice"], "weekly review 3")
    index()
    assert _heads()[f"{other}#6#weekly"]["e"] == [
        f"{m['message_id']}#weekly"
        for m in _search(rest, tokens["alice"], "weekly").body["results"]
        if m["room_id"] == other
    ]
    assert f"{room['room_id']}#6#weekly" not in _heads()  # not changed: still Queried
    assert _marks() == {other: "legacy"}  # it held messages indexed without heads
    assert len(_found(rest, tokens["alice"], "weekly")) == 7


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


def test_candidates_and_memberships_are_read_in_the_same_calls_a_hundred_keys_each(stack):
    """The search's read back: 130 messages of 3 rooms and the memberships of 4 rooms (one
    not hers, one message missing) in two BatchGetItem calls, each table with its options."""
    from chat.dal import messages as message_table

    messages = boto3.resource("dynamodb").Table("MessagesTable")
    memberships = boto3.resource("dynamodb").Table("MembershipsTable")
    rooms = ["ra", "rb", "rc", "rd"]
    for room_id in rooms[:3]:
        memberships.put_item(Item={"room_id": room_id, "user_id": "u1", "role": "member"})
    memberships.put_item(Item={"room_id": "rd", "user_id": "u2", "role": "member"})
    keys = [(rooms[n % 3], new_id()) for n in range(130)]
    with messages.batch_writer() as batch:
        for room_id, message_id in keys[1:]:  # the first one is not stored
            batch.put_item(Item={"room_id": room_id, "message_id": message_id, "content": "x"})
    asked: list[int] = []  # keys asked for, a call
    options: dict[str, set[tuple[str, Any]]] = {}  # a table's options in every call

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(sum(len(request["Keys"]) for request in params["RequestItems"].values()))
        for name, request in params["RequestItems"].items():
            options.setdefault(name, set()).update(
                (option, value) for option, value in request.items() if option != "Keys"
            )

    events = search_index._client().meta.events
    events.register("before-parameter-build.dynamodb.BatchGetItem", record)
    try:
        stored, members = message_table.get_messages_of_member(keys, "u1", rooms)
    finally:
        events.unregister("before-parameter-build.dynamodb.BatchGetItem", record)
    assert set(stored) == set(keys[1:])
    assert stored[keys[1]]["content"] == "x"
    assert members == {"ra", "rb", "rc"}  # not rd: u2's
    assert asked == [100, 34]
    assert options == {
        "MessagesTable": {("ConsistentRead", True)},
        "MembershipsTable": {("ConsistentRead", True), ("ProjectionExpression", "room_id")},
    }


def test_the_reindex_tool_rebuilds_rooms_from_the_messages_table(
    rest, room_with, index, stream, capsys
):
    # Given messages stored while no indexer ran (a stack deployed before search existed)
    from tools import reindex_search

    room, tokens = room_with("alice")
    other = rest.post("/rooms", {"name": "other"}, token=tokens["alice"]).body
    _post(rest, room["room_id"], tokens["alice"], "archived decision one")
    _post(rest, other["room_id"], tokens["alice"], "archived decision two")
    gone = _post(rest, room["room_id"], tokens["alice"], "archived and deleted")
    rest.delete(f"/rooms/{room['room_id']}/messages/{gone['message_id']}", token=tokens["alice"])
    stream.read()  # those changes never reach the indexer
    assert _found(rest, tokens["alice"], "archived") == []
    # and, since, one message indexed: its buckets' heads hold it alone
    _post(rest, room["room_id"], tokens["alice"], "archived notes")
    index()
    assert _found(rest, tokens["alice"], "archived") == ["archived notes"]
    tables = ["--messages-table", "MessagesTable", "--index-table", "SearchIndexTable"]
    # When one room is rebuilt, its messages are found (its heads are gone, its buckets are
    # Queried); then the whole table
    reindex_search.main([*tables, "--room", room["room_id"]])
    _heads_agree_with_postings()  # its heads built again from its postings
    assert len(_heads()[f"{room['room_id']}#6#archiv"]["e"]) == 2
    assert _found(rest, tokens["alice"], "archived") == [
        "archived notes",
        "archived decision one",
    ]
    reindex_search.main(tables)
    assert _found(rest, tokens["alice"], "archived dec") == [
        "archived decision two",
        "archived decision one",
    ]
    assert "4 messages read, 24 postings put" in capsys.readouterr().out
    assert _marks() == {room["room_id"]: "fresh", other["room_id"]: "fresh"}
    # and the indexer goes on from those heads
    _post(rest, room["room_id"], tokens["alice"], "archived again")
    index()
    _heads_agree_with_postings()
    assert len(_heads()[f"{room['room_id']}#6#archiv"]["e"]) == 3
    assert len(_found(rest, tokens["alice"], "archived")) == 4
