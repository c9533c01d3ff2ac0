"""The WebSocket protocol (docs/API.md, WebSocket) through the real handlers on moto.

Every push the management API is asked for is recorded by the `sockets` fixture, which
also plays a gone (410) or failing (500) connection.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from botocore.awsrequest import AWSResponse

from chat import aws
from chat.dal import connections
from chat.frames import TypingFrame
from chat.logic.realtime import presence
from tests.support.clients import RestClient, WebSocketClient

MESSAGE_FIELDS = {
    "type",
    "message_id",
    "room_id",
    "username",
    "content",
    "message_type",
    "is_bot",
    "created_at",
    "client_id",
    "reply_to",
    "status",
    "edited_at",
    "deleted",
    "reactions",
    "attachments",
    "visible_to",
    "usage",
    "tool_calls",
    "sources",
    "mentions",
}


# ------------------------------------------------------------------------------ helpers
@pytest.fixture
def joined(connect) -> Callable[[str, str], WebSocketClient]:
    """joined(token, room_id) -> a new connection that has joined the room."""

    def _joined(token: str, room_id: str) -> WebSocketClient:
        client = connect(token)
        assert client.send({"type": "join", "room_id": room_id}) == 200
        assert client.frames("joined"), client.frames()
        return client

    return _joined


@pytest.fixture
def dynamodb_calls(stack: dict[str, Any]) -> Iterator[list[tuple[str, str | None]]]:
    """Every DynamoDB call made from now on, as (operation, table)."""
    calls: list[tuple[str, str | None]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"] or b"{}")
        calls.append((model.name, body.get("TableName")))

    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("before-call.dynamodb", record, unique_id="test-websocket-count")
    yield calls
    events.unregister("before-call.dynamodb", unique_id="test-websocket-count")


def _members_online(rest: RestClient, room_id: str, token: str) -> dict[str, bool]:
    result = rest.get(f"/rooms/{room_id}/members", token=token)
    assert result.status == 200, result.body
    return {member["username"]: member["online"] for member in result.body["members"]}


def _contents(client: WebSocketClient) -> list[str]:
    return [frame["content"] for frame in client.frames("message")]


def _error(client: WebSocketClient) -> dict[str, Any]:
    errors = client.frames("error")
    assert len(errors) == 1, client.frames()
    return errors[0]


def _is_still_open(client: WebSocketClient) -> bool:
    before = len(client.frames("pong"))
    return client.send({"type": "ping"}) == 200 and len(client.frames("pong")) == before + 1


# ------------------------------------------------------------------------------ connect
def test_a_valid_token_opens_the_socket_and_ping_gets_pong(register, connect):
    # Given a registered user
    token = register("alice")
    # When they connect with ?token= and send a ping
    client = connect(token)
    status = client.send({"type": "ping"})
    # Then the handshake was accepted and the reply is exactly a pong
    assert status == 200
    assert client.frames() == [{"type": "pong"}]


def _bad_tokens(register: Callable[..., str], key: str) -> dict[str, str | None]:
    token = register("mallory")
    user_id = jwt.decode(token, key, algorithms=["HS256"])["sub"]
    now = int(time.time())
    claims = {"sub": user_id, "username": "mallory", "iat": now, "exp": now + 600, "jti": "t1"}
    return {
        "missing": None,
        "empty": "",
        "malformed": "not.a.jwt",
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, "HS256"),
        "forged": jwt.encode(claims, "another-key-entirely-another-key-entirely", "HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "bot impersonation": jwt.encode({**claims, "sub": "bot", "username": "bot"}, key, "HS256"),
    }


def test_a_bad_token_is_refused_at_the_handshake_and_nothing_is_recorded(register, sockets, stack):
    # Given tokens that are missing, malformed, expired, forged or unsigned
    for name, token in _bad_tokens(register, stack["jwt_key"]).items():
        client = WebSocketClient(sockets, token)
        # When the socket connects with it
        status = client.connect()
        # Then the handshake is refused with 401 and no connection is recorded
        assert status == 401, name
        assert connections.remove_connection(client.connection_id) == (None, []), name
        # and a frame on that connection id is not treated as authenticated
        client.send({"type": "ping"})
        assert client.frames("pong") == [], name
        assert _error(client)["code"] == "unauthorized", name


def _clock(seconds_ago: int) -> SimpleNamespace:
    return SimpleNamespace(time=lambda: time.time() - seconds_ago)


def test_an_expired_connection_record_is_ignored_even_before_ttl_deletes_it(
    rest, room_with, joined, sockets, monkeypatch
):
    # Given alice connected and joined three hours ago (her records have expired, but
    # DynamoDB's TTL, like moto, has not deleted them yet)
    room, tokens = room_with("alice", "bob")
    with monkeypatch.context() as past:
        past.setattr(connections, "time", _clock(3 * 3600))
        stale = WebSocketClient(sockets, tokens["alice"])
        stale.connected_at -= 3 * 3600 * 1000
        assert stale.connect() == 200
        assert stale.send({"type": "join", "room_id": room["room_id"]}) == 200
    # When bob joins and sends a message
    bob = joined(tokens["bob"], room["room_id"])
    bob.send({"type": "message", "room_id": room["room_id"], "content": "anyone here?"})
    # Then alice is not online for him, and her stale socket is not pushed to
    assert bob.frames("joined")[0]["online"] == ["bob"]
    assert stale.frames("presence") == []
    assert stale.frames("message") == []
    subscribers = connections.room_subscribers(room["room_id"])
    assert [s["connection_id"] for s in subscribers] == [bob.connection_id]
    assert _members_online(rest, room["room_id"], tokens["bob"])["alice"] is False
    # (API Gateway itself closes a connection after 2 hours, before its records expire)
    # while the expired items were really still stored (only reads ignored them)
    meta, rooms = connections.remove_connection(stale.connection_id)
    assert meta is not None and rooms == [room["room_id"]]


def test_a_socket_whose_token_expired_gets_no_more_frames_and_is_closed(
    rest, room_with, joined, sockets, stack, monkeypatch
):
    from chat.logic.realtime import fanout

    # Given bob joined the room with a token valid for one more minute, and alice
    room, tokens = room_with("alice", "bob")
    bob_id = jwt.decode(tokens["bob"], stack["jwt_key"], algorithms=["HS256"])["sub"]
    now = int(time.time())
    claims = {"sub": bob_id, "username": "bob", "iat": now, "exp": now + 60, "jti": "short"}
    short_lived = jwt.encode(claims, stack["jwt_key"], "HS256")
    bob = joined(short_lived, room["room_id"])
    alice = joined(tokens["alice"], room["room_id"])
    # When his token has expired, he sends nothing, and alice writes to the room
    monkeypatch.setattr(fanout, "time", _clock(-120), raising=False)
    sent = rest.post(
        f"/rooms/{room['room_id']}/messages", {"content": "still there?"}, token=tokens["alice"]
    )
    assert sent.status == 201
    alice.send({"type": "typing", "room_id": room["room_id"], "is_typing": True})
    # Then his socket got none of it and the server closed it; alice got her message
    assert _contents(bob) == [] and bob.frames("typing") == []
    assert bob.connection_id in sockets.closed
    assert alice.connection_id not in sockets.closed
    assert _contents(alice) == ["still there?"]


def test_disconnect_removes_the_connection_and_its_subscriptions(rest, room_with, joined):
    # Given alice and bob both joined the room
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    # When alice's socket disconnects
    alice.disconnect()
    # Then her connection and subscription are gone and she is offline
    subscribers = connections.room_subscribers(room["room_id"])
    assert [s["connection_id"] for s in subscribers] == [bob.connection_id]
    assert connections.remove_connection(alice.connection_id) == (None, [])
    assert _members_online(rest, room["room_id"], tokens["bob"])["alice"] is False
    # and bob's next message is not pushed to her old connection
    bob.send({"type": "message", "room_id": room["room_id"], "content": "bye alice"})
    assert "bye alice" not in _contents(alice)
    assert _contents(bob) == ["bye alice"]


# ------------------------------------------------------------------------------ join, presence
def test_join_replies_with_who_is_online_and_tells_the_others(room_with, joined):
    # Given alice joined the room
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    assert alice.frames() == [{"type": "joined", "room_id": room["room_id"], "online": ["alice"]}]
    # When bob joins it
    bob = joined(tokens["bob"], room["room_id"])
    # Then bob's reply lists both, alice gets bob's presence, bob none about himself
    assert bob.frames() == [
        {"type": "joined", "room_id": room["room_id"], "online": ["alice", "bob"]}
    ]
    assert alice.frames("presence") == [
        {"type": "presence", "room_id": room["room_id"], "username": "bob", "status": "online"}
    ]


def test_presence_follows_a_users_first_and_last_connection(room_with, joined):
    # Given bob watching the room and alice joined from her phone
    room, tokens = room_with("alice", "bob")
    bob = joined(tokens["bob"], room["room_id"])
    phone = joined(tokens["alice"], room["room_id"])
    assert [f["status"] for f in bob.frames("presence")] == ["online"]
    # When alice also joins from her laptop
    laptop = joined(tokens["alice"], room["room_id"])
    # Then nobody hears about it: she was already online
    assert [f["status"] for f in bob.frames("presence")] == ["online"]
    assert laptop.frames("joined")[0]["online"] == ["alice", "bob"]
    # When her phone leaves the room
    assert phone.send({"type": "leave", "room_id": room["room_id"]}) == 200
    # Then the phone gets `left` and, as the laptop is still there, she stays online
    assert phone.frames("left") == [{"type": "left", "room_id": room["room_id"]}]
    assert [f["status"] for f in bob.frames("presence")] == ["online"]
    # When her laptop disconnects, her last connection in the room
    laptop.disconnect()
    # Then bob (and nobody else) hears she went offline, once
    assert bob.frames("presence")[1:] == [
        {"type": "presence", "room_id": room["room_id"], "username": "alice", "status": "offline"}
    ]
    assert phone.frames("presence") == [] and laptop.frames("presence") == []


def test_leaving_announces_offline_and_stops_the_rooms_frames(room_with, joined):
    # Given alice and bob joined the room
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    # When bob leaves over the socket and alice then writes and types
    bob.send({"type": "leave", "room_id": room["room_id"]})
    alice.send({"type": "typing", "room_id": room["room_id"], "is_typing": True})
    alice.send({"type": "message", "room_id": room["room_id"], "content": "still there?"})
    # Then alice heard bob go offline and bob receives nothing more of the room
    assert alice.frames("presence")[-1] == {
        "type": "presence",
        "room_id": room["room_id"],
        "username": "bob",
        "status": "offline",
    }
    assert [f["type"] for f in bob.frames()] == ["joined", "left"]


def test_leaving_a_room_this_socket_never_joined_announces_nothing(room_with, joined, connect):
    # Given bob watching the room, and alice connected without joining it
    room, tokens = room_with("alice", "bob")
    bob = joined(tokens["bob"], room["room_id"])
    alice = connect(tokens["alice"])
    # When alice's socket leaves the room anyway
    assert alice.send({"type": "leave", "room_id": room["room_id"]}) == 200
    # Then she gets `left`, and bob is not told she went offline (she was never online)
    assert alice.frames() == [{"type": "left", "room_id": room["room_id"]}]
    assert bob.frames("presence") == []


def test_members_online_flag_reflects_live_connections(rest, room_with, connect):
    # Given alice and bob in a room, neither connected
    room, tokens = room_with("alice", "bob")
    online = _members_online(rest, room["room_id"], tokens["bob"])
    assert (online["alice"], online["bob"]) == (False, False)
    # When alice connects (without joining), then joins the room
    alice = connect(tokens["alice"])
    assert _members_online(rest, room["room_id"], tokens["bob"])["alice"] is False
    alice.send({"type": "join", "room_id": room["room_id"]})
    # Then she is online there
    assert _members_online(rest, room["room_id"], tokens["bob"])["alice"] is True
    # When she disconnects, she is offline again
    alice.disconnect()
    assert _members_online(rest, room["room_id"], tokens["bob"])["alice"] is False


# ------------------------------------------------------------------------------ messages
def test_two_users_each_see_the_others_message_once(rest, room_with, joined):
    # Given alice and bob joined the room
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    # When each sends a message
    assert alice.send({"type": "message", "room_id": room["room_id"], "content": "hi bob"}) == 200
    assert bob.send({"type": "message", "room_id": room["room_id"], "content": "hi alice"}) == 200
    # Then both sockets got both messages, once each, in order, in the contract's shape
    assert _contents(alice) == ["hi bob", "hi alice"]
    assert _contents(bob) == ["hi bob", "hi alice"]
    assert alice.frames("message") == bob.frames("message")
    first = alice.frames("message")[0]
    assert set(first) == MESSAGE_FIELDS
    assert first["room_id"] == room["room_id"] and first["username"] == "alice"
    assert first["message_type"] == "text" and first["is_bot"] is False
    assert first["status"] == "complete" and first["client_id"] is None
    # and both are stored, with the same ids the frames carried
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["bob"]).body
    assert [m["message_id"] for m in history["messages"]] == [
        f["message_id"] for f in alice.frames("message")
    ]


def test_the_sender_gets_its_ack_with_its_client_id(room_with, joined, connect):
    # Given bob joined the room, and alice's socket that has not joined it
    room, tokens = room_with("alice", "bob")
    bob = joined(tokens["bob"], room["room_id"])
    alice = connect(tokens["alice"])
    # When alice sends a message with a client_id
    alice.send(
        {"type": "message", "room_id": room["room_id"], "content": "hello", "client_id": "c-42"}
    )
    # Then her socket gets the stored message as its ack, matched by client_id
    (ack,) = alice.frames()
    assert ack["type"] == "message" and ack["client_id"] == "c-42" and ack["content"] == "hello"
    # and bob gets the same frame
    assert bob.frames("message") == [ack]


def test_a_message_posted_over_rest_reaches_the_rooms_sockets(rest, room_with, joined):
    # Given alice and bob joined the room
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    # When alice posts a message over REST
    result = rest.post(
        f"/rooms/{room['room_id']}/messages",
        {"content": "  from the web  ", "client_id": "web-1"},
        token=tokens["alice"],
    )
    # Then both sockets get the `message` frame: the REST response plus its type
    assert result.status == 201, result.body
    expected = {"type": "message", **result.body}
    assert expected["content"] == "from the web"
    assert alice.frames("message") == [expected]
    assert bob.frames("message") == [expected]


def test_typing_reaches_the_others_only(room_with, joined):
    # Given alice on two sockets and bob, all joined
    room, tokens = room_with("alice", "bob")
    phone = joined(tokens["alice"], room["room_id"])
    laptop = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    # When alice starts, then stops typing on her laptop
    laptop.send({"type": "typing", "room_id": room["room_id"], "is_typing": True})
    laptop.send({"type": "typing", "room_id": room["room_id"], "is_typing": False})
    # Then bob sees both, and none of alice's own sockets do
    assert bob.frames("typing") == [
        {"type": "typing", "room_id": room["room_id"], "username": "alice", "is_typing": True},
        {"type": "typing", "room_id": room["room_id"], "username": "alice", "is_typing": False},
    ]
    assert phone.frames("typing") == [] and laptop.frames("typing") == []


def test_leaving_the_room_over_rest_stops_that_users_sockets(rest, register, room_with, joined):
    # Given alice joined the room, and bob joined it on two sockets
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob_sockets = [joined(tokens["bob"], room["room_id"]) for _ in range(2)]
    # When bob leaves the room over REST
    assert rest.delete(f"/rooms/{room['room_id']}/members/me", token=tokens["bob"]).status == 204
    # Then alice hears he went offline
    assert alice.frames("presence")[-1] == {
        "type": "presence",
        "room_id": room["room_id"],
        "username": "bob",
        "status": "offline",
    }
    # and none of his sockets receive the room's messages, typing or presence any more
    before = [len(s.frames()) for s in bob_sockets]
    alice.send({"type": "typing", "room_id": room["room_id"], "is_typing": True})
    alice.send({"type": "message", "room_id": room["room_id"], "content": "bob left"})
    carol_token = register("carol")
    rest.post("/rooms/join", {"code": room["code"]}, token=carol_token)
    joined(carol_token, room["room_id"])
    assert [len(s.frames()) for s in bob_sockets] == before
    # and a socket of his cannot subscribe again
    bob_sockets[0].send({"type": "join", "room_id": room["room_id"]})
    assert _error(bob_sockets[0])["code"] == "not_found"


# ------------------------------------------------------------------------------ fan-out
@pytest.mark.parametrize("how", ["410 gone", "403 forbidden"])
def test_a_gone_connection_is_removed_and_the_others_still_receive(how, room_with, joined, sockets):
    # Given alice, bob and carol joined the room, carol also in a second room on another
    # socket, and carol's first socket is gone
    room, tokens = room_with("alice", "bob", "carol")
    other_room, _ = room_with("dave", name="other")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    carol_gone = joined(tokens["carol"], room["room_id"])
    carol_live = joined(tokens["carol"], room["room_id"])
    if how == "410 gone":
        sockets.gone.add(carol_gone.connection_id)
    else:
        sockets.forbidden.add(carol_gone.connection_id)
    # When alice sends a message
    assert alice.send({"type": "message", "room_id": room["room_id"], "content": "hello"}) == 200
    # Then everybody else still got it
    for client in (alice, bob, carol_live):
        assert _contents(client) == ["hello"]
    # and only the gone connection's records were deleted
    assert connections.remove_connection(carol_gone.connection_id) == (None, [])
    subscribers = {s["connection_id"] for s in connections.room_subscribers(room["room_id"])}
    assert subscribers == {alice.connection_id, bob.connection_id, carol_live.connection_id}
    assert other_room["room_id"] not in subscribers
    # and the next message is delivered the same way, carol still online on her live socket
    bob.send({"type": "message", "room_id": room["room_id"], "content": "again"})
    for client in (alice, bob, carol_live):
        assert _contents(client) == ["hello", "again"]
    assert carol_gone.frames("message") == []
    assert [f["username"] for f in alice.frames("presence")] == ["bob", "carol"]


def test_a_users_last_socket_found_gone_takes_them_offline_once(room_with, joined, sockets):
    # Given alice, bob and carol joined the room, and carol's only socket is gone
    room, tokens = room_with("alice", "bob", "carol")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    carol = joined(tokens["carol"], room["room_id"])
    sockets.gone.add(carol.connection_id)
    offline = {
        "type": "presence",
        "room_id": room["room_id"],
        "username": "carol",
        "status": "offline",
    }
    # When alice's message finds it gone
    alice.send({"type": "message", "room_id": room["room_id"], "content": "carol?"})
    # Then the others got the message, then carol's offline presence
    for client in (alice, bob):
        assert [f["type"] for f in client.frames()][-2:] == ["message", "presence"]
        assert client.frames("presence")[-1] == offline
    # and when carol's $disconnect arrives late, nobody hears it a second time
    carol.disconnect()
    for client in (alice, bob):
        assert client.frames("presence").count(offline) == 1


def _fail_dynamodb_queries(table: str) -> None:
    """Make every Query of `table` fail as an outage would (500, no retry)."""

    def intercept(model: Any, params: dict[str, Any], **_: Any):
        if model.name != "Query" or json.loads(params["body"]).get("TableName") != table:
            return None
        error = {"Code": "InternalServerError", "Message": "Internal server error"}
        parsed = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}
        return AWSResponse(params["url"], 500, {}, None), parsed

    aws.dynamodb_resource().meta.client.meta.events.register(
        "before-call.dynamodb.Query", intercept, unique_id="test-websocket-outage"
    )


def test_a_failing_dependency_gets_an_internal_error_frame_without_internals(
    room_with, joined, connect
):
    # Given alice joined the room, bob connected, and the connections table failing queries
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = connect(tokens["bob"])
    _fail_dynamodb_queries("ConnectionsTable")
    # When bob tries to join the room
    status = bob.send({"type": "join", "room_id": room["room_id"]})
    # Then the handler still answers 200 and bob gets the contract's `internal` error
    assert status == 200
    error = _error(bob)
    assert (error["code"], error["request_type"]) == ("internal", "join")
    for internal in ("ConnectionsTable", "Query", "DynamoDB", "Traceback", "botocore"):
        assert internal not in error["message"]
    # and his socket still answers pings, and alice heard nothing
    assert _is_still_open(bob)
    assert alice.frames("presence") == []


def test_a_failing_push_is_logged_and_counted_and_the_others_still_receive(
    room_with, joined, sockets, capfd, caplog
):
    # Given alice, bob and carol joined the room, and pushes to bob fail with a 500
    room, tokens = room_with("alice", "bob", "carol")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    carol = joined(tokens["carol"], room["room_id"])
    sockets.failing.add(bob.connection_id)
    capfd.readouterr()
    # When alice sends a message
    status = alice.send({"type": "message", "room_id": room["room_id"], "content": "hi all"})
    # Then the frame handler still succeeds and alice and carol got the message
    assert status == 200
    assert _contents(alice) == ["hi all"] and _contents(carol) == ["hi all"]
    assert alice.frames("error") == []
    # and the failure is logged with the connection and counted in the metrics
    logged = [record for record in caplog.records if record.getMessage() == "push failed"]
    assert [record.connection_id for record in logged] == [bob.connection_id]
    assert all(record.exc_info for record in logged)
    emitted = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.strip()]
    assert [line["PushFailures"] for line in emitted if "PushFailures" in line] == [[1.0]]
    # but, unlike a gone connection, bob's socket is kept for the next frames
    subscribers = {s["connection_id"] for s in connections.room_subscribers(room["room_id"])}
    assert bob.connection_id in subscribers
    # and a direct fan-out reports the same counts
    sockets.failing.clear()
    sockets.gone.add(carol.connection_id)
    sockets.failing.add(alice.connection_id)
    result = presence.send_to_room(
        room["room_id"], TypingFrame(room_id=room["room_id"], username="bot", is_typing=True)
    )
    assert (result.delivered, result.gone, result.failed) == (1, [carol.connection_id], 1)


def _room_with_subscribers(register, rest, joined, name: str, count: int) -> tuple[str, str]:
    """A room `name` whose owner and count - 1 other members are joined; (room_id, token)."""
    tokens = [register(f"{name}{i}") for i in range(count)]
    room = rest.post("/rooms", {"name": name}, token=tokens[0]).body
    for token in tokens[1:]:
        rest.post("/rooms/join", {"code": room["code"]}, token=token)
    for token in tokens:
        joined(token, room["room_id"])
    return room["room_id"], tokens[0]


def test_fan_out_reads_the_subscribers_with_one_query_whatever_their_number(
    register, rest, joined, connect, sockets, dynamodb_calls
):
    # Given a room with 2 joined subscribers and one with 12
    small = _room_with_subscribers(register, rest, joined, "small", 2)
    large = _room_with_subscribers(register, rest, joined, "large", 12)
    calls: dict[str, Counter[tuple[str, str | None]]] = {}
    for label, (room_id, token) in (("small", small), ("large", large)):
        sender = connect(token)
        sockets.clear()
        dynamodb_calls.clear()
        # When a message is sent to each
        sender.send({"type": "message", "room_id": room_id, "content": f"to {label}"})
        calls[label] = Counter(dynamodb_calls)
        pushed = sum(
            1 for frames in sockets.sent.values() for f in frames if f["type"] == "message"
        )
        assert pushed == (3 if label == "small" else 13)  # + the sender's unjoined socket
    # Then both made the same DynamoDB calls: one Query of the connections table, no Scan
    assert calls["small"] == calls["large"]
    queries = {call: n for call, n in calls["large"].items() if call[0] == "Query"}
    assert queries == {("Query", "ConnectionsTable"): 1}
    assert not any(operation == "Scan" for operation, _ in calls["large"])


def test_typing_and_presence_also_read_the_subscribers_once(
    register, rest, joined, connect, dynamodb_calls
):
    # Given a room with 6 joined subscribers, and a member connected but not joined
    room_id, token = _room_with_subscribers(register, rest, joined, "busy", 6)
    late = connect(token)
    for frame in (
        {"type": "typing", "room_id": room_id, "is_typing": True},
        {"type": "join", "room_id": room_id},
    ):
        dynamodb_calls.clear()
        # When they type, and join (a presence fan-out)
        late.send(frame)
        # Then the room's subscribers were read with one Query, never a Scan
        connection_queries = [c for c in dynamodb_calls if c == ("Query", "ConnectionsTable")]
        assert len(connection_queries) == 1, frame
        assert not any(operation == "Scan" for operation, _ in dynamodb_calls)


# ------------------------------------------------------------------------------ bad frames
FRAME_LIMIT = 64 * 1024


def _json(**fields: Any) -> Callable[[str], str]:
    """A frame body with `room_id` filled in with the test's room when it is `...`."""

    def build(room_id: str) -> str:
        given = {key: room_id if value is ... else value for key, value in fields.items()}
        return json.dumps(given, ensure_ascii=False)

    return build


def _message_of_bytes(size: int) -> Callable[[str], str]:
    """A `message` frame of exactly `size` bytes (its content is far over 4000 chars)."""

    def build(room_id: str) -> str:
        empty = _json(type="message", room_id=..., content="")(room_id)
        return _json(type="message", room_id=..., content="x" * (size - len(empty)))(room_id)

    return build


def _raw(body: str) -> Callable[[str], str]:
    return lambda room_id: body


BAD_FRAMES: dict[str, tuple[Callable[[str], str], str, str | None]] = {
    "not JSON": (_raw("{not json"), "bad_request", None),
    "empty": (_raw(""), "bad_request", None),
    "JSON array": (_raw("[1, 2]"), "bad_request", None),
    "JSON string": (_raw('"join"'), "bad_request", None),
    "no type": (_json(room_id=...), "bad_request", None),
    "unknown type": (_json(type="shout", room_id=...), "bad_request", "shout"),
    "type not a string": (_json(type=["join"]), "bad_request", None),
    "join without room_id": (_json(type="join"), "validation_error", "join"),
    "join with a numeric room_id": (_json(type="join", room_id=123), "validation_error", "join"),
    "join with a malformed room_id": (
        _json(type="join", room_id="../x"),
        "validation_error",
        "join",
    ),
    "leave without room_id": (_json(type="leave"), "validation_error", "leave"),
    "typing without room_id": (_json(type="typing", is_typing=True), "validation_error", "typing"),
    "typing without is_typing": (_json(type="typing", room_id=...), "validation_error", "typing"),
    "message without room_id": (_json(type="message", content="hi"), "validation_error", "message"),
    "message without content": (_json(type="message", room_id=...), "validation_error", "message"),
    "empty content": (
        _json(type="message", room_id=..., content=""),
        "validation_error",
        "message",
    ),
    "blank content": (
        _json(type="message", room_id=..., content=" \n\t "),
        "validation_error",
        "message",
    ),
    "content of 4001 chars": (
        _json(type="message", room_id=..., content="x" * 4001),
        "validation_error",
        "message",
    ),
    "message of exactly 64 KiB": (_message_of_bytes(FRAME_LIMIT), "validation_error", "message"),
    "message of 64 KiB + 1 byte": (_message_of_bytes(FRAME_LIMIT + 1), "too_large", "message"),
    "message over 64 KiB in bytes, not in chars": (
        _json(type="message", room_id=..., content="€" * 22_000),
        "too_large",
        "message",
    ),
    "unknown room": (_json(type="join", room_id="01NOSUCHROOM"), "not_found", "join"),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_a_bad_frame_gets_an_error_frame_and_the_connection_stays_open(
    name, rest, room_with, joined
):
    # Given alice and bob joined the room
    build, code, request_type = BAD_FRAMES[name]
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    body = build(room["room_id"])
    before = len(bob.frames())
    # When alice sends the bad frame
    status = alice.send_raw(body)
    # Then the handler answers 200 and alice gets one error frame with the contract's code
    assert status == 200
    error = _error(alice)
    assert error == {
        "type": "error",
        "code": code,
        "message": error["message"],
        "request_type": request_type,
    }
    assert error["message"] and "Traceback" not in error["message"]
    # and nothing reached bob or was stored, and alice's socket still works
    assert len(bob.frames()) == before
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["bob"]).body
    assert history["messages"] == []
    assert _is_still_open(alice)


def test_the_message_size_limit_is_exactly_64_kib_of_utf8():
    # The bodies the table above relies on really are on each side of the limit.
    assert len(_message_of_bytes(FRAME_LIMIT)("r").encode()) == FRAME_LIMIT
    assert len(_message_of_bytes(FRAME_LIMIT + 1)("r").encode()) == FRAME_LIMIT + 1
    utf8 = BAD_FRAMES["message over 64 KiB in bytes, not in chars"][0]("r")
    assert len(utf8) < FRAME_LIMIT < len(utf8.encode())


def test_content_limits_count_characters_not_bytes(room_with, joined):
    # Given alice joined the room
    room, tokens = room_with("alice")
    alice = joined(tokens["alice"], room["room_id"])
    # When she sends 4000 three-byte characters (12 000 bytes)
    alice.send({"type": "message", "room_id": room["room_id"], "content": "€" * 4000})
    # Then the message is accepted
    assert alice.frames("error") == []
    assert _contents(alice) == ["€" * 4000]


def test_a_message_of_4000_emoji_escaped_as_ascii_json_is_accepted(room_with, joined):
    # Given alice joined the room, and a message of 4000 emoji with ordinary JSON escaping
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    bob = joined(tokens["bob"], room["room_id"])
    body = json.dumps({"type": "message", "room_id": room["room_id"], "content": "😀" * 4000})
    assert 32 * 1024 < len(body.encode()) < 64 * 1024  # \ud83d\ude00: 12 bytes each
    # When she sends it
    assert alice.send_raw(body) == 200
    # Then it is stored and pushed, as REST would take it
    assert alice.frames("error") == []
    assert _contents(bob) == ["😀" * 4000]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "join"},
        {"type": "leave"},
        {"type": "typing", "is_typing": True},
        {"type": "message", "content": "let me in"},
    ],
    ids=lambda frame: frame["type"],
)
def test_a_non_member_is_refused_and_learns_nothing_of_the_room(
    frame, rest, room_with, register, joined, connect
):
    # Given alice and bob joined their room, and mallory who is not a member
    room, tokens = room_with("alice", "bob")
    alice = joined(tokens["alice"], room["room_id"])
    joined(tokens["bob"], room["room_id"])
    mallory = connect(register("mallory"))
    # When mallory sends a frame for their room
    status = mallory.send({**frame, "room_id": room["room_id"]})
    # Then she gets not_found (as for a room that does not exist), her socket stays open
    assert status == 200
    error = _error(mallory)
    assert (error["code"], error["request_type"]) == ("not_found", frame["type"])
    assert _is_still_open(mallory)
    # and nothing of hers reached the room, nor was stored
    assert [f["type"] for f in alice.frames()] == ["joined", "presence"]
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["alice"]).body
    assert history["messages"] == []
    # and the room's later traffic never reaches her
    alice.send({"type": "typing", "room_id": room["room_id"], "is_typing": True})
    alice.send({"type": "message", "room_id": room["room_id"], "content": "private"})
    assert [f["type"] for f in mallory.frames()] == ["error", "pong"]
    assert room["room_id"] not in json.dumps(mallory.frames())


def test_one_socket_follows_two_rooms_and_each_room_stays_private(rest, room_with, joined, connect):
    # Given alice on one socket in rooms A and B, bob only in A, carol only in B
    room_a, tokens = room_with("alice", "bob", name="A")
    room_b, carol_tokens = room_with("carol", name="B")
    invited = rest.post(
        f"/rooms/{room_b['room_id']}/invite", {"username": "alice"}, token=carol_tokens["carol"]
    )
    assert invited.status == 200
    alice = connect(tokens["alice"])
    alice.send({"type": "join", "room_id": room_a["room_id"]})
    alice.send({"type": "join", "room_id": room_b["room_id"]})
    bob = joined(tokens["bob"], room_a["room_id"])
    carol = joined(carol_tokens["carol"], room_b["room_id"])
    # When bob writes in A and carol types and writes in B
    bob.send({"type": "message", "room_id": room_a["room_id"], "content": "in A"})
    carol.send({"type": "typing", "room_id": room_b["room_id"], "is_typing": True})
    carol.send({"type": "message", "room_id": room_b["room_id"], "content": "in B"})
    # Then alice's one socket gets both rooms' frames
    assert [(f["room_id"], f["content"]) for f in alice.frames("message")] == [
        (room_a["room_id"], "in A"),
        (room_b["room_id"], "in B"),
    ]
    assert [f["room_id"] for f in alice.frames("typing")] == [room_b["room_id"]]
    # and no frame about one room ever reaches a socket of someone outside it
    assert all(f.get("room_id") == room_a["room_id"] for f in bob.frames())
    assert all(f.get("room_id") == room_b["room_id"] for f in carol.frames())
