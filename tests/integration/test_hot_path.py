"""The message hot path and WebSocket identity: the $connect authorizer, identity
from requestContext.authorizer, token expiry on an open socket, and what one message costs
in DynamoDB calls (counted on the real client) and in which shape."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from botocore.awsrequest import AWSResponse

from chat import aws
from chat.dal import connections
from chat.logic.conversation import messages
from chat.transport import websocket, websocket_frames
from local.events import WebSocketConnection, method_arn
from tests.support.clients import WebSocketClient, handler_of
from tests.support.events import LambdaContext, ws_authorizer_event, ws_connect_event


# ------------------------------------------------------------------------------ helpers
@pytest.fixture
def dynamodb_requests(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB request made from now on: (operation, its JSON body). The calls
    counted are those of a store that was not retried: a store slowed down (here, by a
    loaded machine) reads the subscribers once more, as tests/integration/test_faults.py
    shows, so the time that stands for "retried" is out of reach."""
    monkeypatch.setattr(messages, "SLOW_STORE_SECONDS", 3600.0)
    requests: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        requests.append((model.name, json.loads(params["body"] or b"{}")))

    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("before-call.dynamodb", record, unique_id="test-hot-path")
    yield requests
    events.unregister("before-call.dynamodb", unique_id="test-hot-path")


def _operations(requests: list[tuple[str, dict[str, Any]]]) -> Counter[str]:
    return Counter(operation for operation, _ in requests)


def _joined(connect, token: str, room_id: str) -> WebSocketClient:
    client = connect(token)
    assert client.send({"type": "join", "room_id": room_id}) == 200
    return client


def _token(stack: dict[str, Any], user_id: str, username: str, expires_in: int) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "username": username,
        "iat": now,
        "exp": now + expires_in,
        "jti": f"t{now}",
    }
    return jwt.encode(claims, stack["jwt_key"], "HS256")


def _user_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sub"]


THREE_CALLS = Counter({"TransactWriteItems": 1, "Query": 1, "UpdateItem": 1})


# ------------------------------------------------------------------------------ authorizer
def test_the_authorizer_allows_a_valid_token_and_names_the_user(register):
    # Given alice's token
    token = register("alice")
    claims = jwt.decode(token, options={"verify_signature": False})
    event = ws_authorizer_event("conn-auth=", token)
    # When the $connect authorizer runs on her handshake
    answer = handler_of("WsAuthorizerFunction")(event, LambdaContext("WsAuthorizerFunction"))
    # Then it allows exactly this route, and its context names her and the token's expiry,
    # id and generation (what a revocation closes the socket by)
    assert answer["principalId"] == claims["sub"]
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    ]
    assert event["methodArn"] == method_arn(WebSocketConnection("conn-auth="))
    assert answer["context"] == {
        "user_id": claims["sub"],
        "username": "alice",
        "token_expires_at": claims["exp"],
        "token_id": claims["jti"],
        "token_generation": 0,
    }


def test_the_authorizer_refuses_bad_tokens_with_api_gateways_401(register, stack, caplog):
    key = stack["jwt_key"]
    user_id = _user_id(register("mallory"))
    now = int(time.time())
    claims = {"sub": user_id, "username": "mallory", "iat": now, "exp": now + 600, "jti": "t1"}
    bad = {
        "missing": None,
        "empty": "",
        "malformed": "not.a.jwt",
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, "HS256"),
        "forged": jwt.encode(claims, "another-key-entirely-another-key-entirely", "HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "bot subject": jwt.encode({**claims, "sub": "bot", "username": "bot"}, key, "HS256"),
        "no subject": jwt.encode({k: v for k, v in claims.items() if k != "sub"}, key, "HS256"),
    }
    for name, token in bad.items():
        # When the authorizer runs on a handshake with it
        with pytest.raises(Exception) as refused:
            handler_of("WsAuthorizerFunction")(
                ws_authorizer_event("conn-bad=", token), LambdaContext("WsAuthorizerFunction")
            )
        # Then it fails with the message API Gateway turns into a 401 handshake
        assert str(refused.value) == "Unauthorized", name
        assert type(refused.value) is websocket.HandshakeRefused, name
        # and the token never reaches a log line
        assert not token or token not in caplog.text, name


def test_connect_without_the_authorizers_context_is_refused(sockets):
    # Given a $connect that no authorizer let in (a misconfigured route)
    client = WebSocketClient(sockets, None)
    event = ws_connect_event(client.connection_id, None)
    response = handler_of("WsConnectFunction")(event, LambdaContext("WsConnectFunction"))
    # Then it is refused and nothing is recorded
    assert response["statusCode"] == 401
    assert connections.remove_connection(client.connection_id) == (None, [])


def test_frames_know_their_sender_without_reading_the_connections_table(
    register, connect, dynamodb_requests
):
    # Given alice connected
    client = connect(register("alice"))
    dynamodb_requests.clear()
    # When she pings
    client.send({"type": "ping"})
    # Then she gets her pong and no DynamoDB call was made to know who she is
    assert client.frames() == [{"type": "pong"}]
    assert dynamodb_requests == []


# ------------------------------------------------------------------------------ token expiry
def test_a_frame_after_the_token_expired_gets_unauthorized_and_the_socket_is_closed(
    room_with, connect, sockets, stack, rest, monkeypatch
):
    # Given alice connected with a token that expires in a minute, in her room
    room, tokens = room_with("alice", "bob")
    short = _token(stack, _user_id(tokens["alice"]), "alice", 60)
    alice = _joined(connect, short, room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    # When two minutes have passed and she sends a message
    real = time.time
    monkeypatch.setattr(websocket_frames, "time", SimpleNamespace(time=lambda: real() + 120))
    alice.send({"type": "message", "room_id": room["room_id"], "content": "too late"})
    # Then she gets an unauthorized error frame and the server closes her connection
    errors = alice.frames("error")
    assert [(e["code"], e["request_type"]) for e in errors] == [("unauthorized", "message")]
    assert sockets.closed == [alice.connection_id]
    # and the message was neither stored nor pushed
    assert bob.frames("message") == []
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["bob"]).body
    assert history["messages"] == []
    # while bob, whose token is valid, still talks
    bob.send({"type": "message", "room_id": room["room_id"], "content": "still here"})
    assert [f["content"] for f in bob.frames("message")] == ["still here"]


def test_an_expired_socket_already_gone_is_cleaned_up_at_once(
    room_with, connect, sockets, stack, monkeypatch
):
    # Given alice's socket, joined, whose token expired and which API Gateway says is gone
    room, tokens = room_with("alice")
    short = _token(stack, _user_id(tokens["alice"]), "alice", 60)
    alice = _joined(connect, short, room["room_id"])
    sockets.gone.add(alice.connection_id)
    real = time.time
    monkeypatch.setattr(websocket_frames, "time", SimpleNamespace(time=lambda: real() + 3600))
    # When she sends a frame
    alice.send({"type": "ping"})
    # Then her records are removed now (no $disconnect will come for a gone connection)
    assert connections.room_subscribers(room["room_id"]) == []
    assert connections.remove_connection(alice.connection_id) == (None, [])


# ------------------------------------------------------------------------------ hot path
def test_a_websocket_message_is_one_transaction_a_query_and_an_update(
    room_with, connect, dynamodb_requests
):
    # Given alice and bob joined their room
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])
    dynamodb_requests.clear()
    # When alice sends a message
    alice.send({"type": "message", "room_id": room["room_id"], "content": "hi", "client_id": "c1"})
    # Then both got it, and it took three DynamoDB calls
    assert [f["content"] for f in bob.frames("message")] == ["hi"]
    assert [f["client_id"] for f in alice.frames("message")] == ["c1"]
    assert _operations(dynamodb_requests) == THREE_CALLS
    # the transaction: the membership check, the message and its client_id's claim, together
    (transaction,) = [body for op, body in dynamodb_requests if op == "TransactWriteItems"]
    check, put, claim = transaction["TransactItems"]
    assert check["ConditionCheck"]["TableName"] == "MembershipsTable"
    assert check["ConditionCheck"]["Key"] == {
        "room_id": {"S": room["room_id"]},
        "user_id": {"S": _user_id(tokens["alice"])},
    }
    assert check["ConditionCheck"]["ConditionExpression"] == "attribute_exists(room_id)"
    assert put["Put"]["TableName"] == "MessagesTable"
    assert put["Put"]["Item"]["content"] == {"S": "hi"}
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(message_id)"
    assert claim["Put"]["TableName"] == "ClientIdsTable"
    assert claim["Put"]["Item"]["message_id"] == put["Put"]["Item"]["message_id"]
    assert claim["Put"]["ConditionExpression"] == "attribute_not_exists(pk) OR expires_at <= :now"
    # the Query: the room's subscribers; the update: the room's last activity, last of all
    (query,) = [body for op, body in dynamodb_requests if op == "Query"]
    assert query["TableName"] == "ConnectionsTable"
    assert dynamodb_requests[-1][0] == "UpdateItem"
    assert dynamodb_requests[-1][1]["TableName"] == "RoomsTable"


@pytest.mark.parametrize("transport", ["websocket", "rest"])
def test_a_message_costs_three_calls_whatever_the_rooms_size(
    transport, rest, register, room_with, connect, dynamodb_requests
):
    room, tokens = room_with("alice")
    sender = _joined(connect, tokens["alice"], room["room_id"])

    def send(content: str) -> Counter[str]:
        dynamodb_requests.clear()
        if transport == "rest":
            result = rest.post(
                f"/rooms/{room['room_id']}/messages", {"content": content}, token=tokens["alice"]
            )
            assert result.status == 201, result.body
        else:
            sender.send({"type": "message", "room_id": room["room_id"], "content": content})
        return _operations(dynamodb_requests)

    alone = send("alone")
    for index in range(12):
        token = register(f"member{index}")
        rest.post("/rooms/join", {"code": room["code"]}, token=token)
        _joined(connect, token, room["room_id"])
    crowded = send("crowded")
    # A REST request also reads whether its token was revoked: one GetItem, whatever the
    # route's dependencies ask of the caller; a frame reads nothing (checked at $connect).
    revocation_check = Counter({"GetItem": 1}) if transport == "rest" else Counter()
    assert alone == crowded == THREE_CALLS + revocation_check
    if transport == "rest":
        (read,) = [body for op, body in dynamodb_requests if op == "GetItem"]
        assert read["TableName"] == "UsersTable" and read["ConsistentRead"] is True
        assert read["Key"] == {"pk": {"S": f"TOKENS#{_user_id(tokens['alice'])}"}}


def test_a_non_members_message_over_rest_is_neither_stored_nor_pushed(
    rest, register, room_with, connect, dynamodb_requests
):
    # Given alice joined her room, and mallory who is not a member
    room, tokens = room_with("alice")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    mallory = register("mallory")
    dynamodb_requests.clear()
    # When mallory posts to it
    result = rest.post(f"/rooms/{room['room_id']}/messages", {"content": "hi"}, token=mallory)
    # Then 404, as for a room that does not exist, and nothing reached the room
    assert (result.status, result.error_code) == (404, "not_found")
    assert alice.frames("message") == []
    history = rest.get(f"/rooms/{room['room_id']}/messages", token=tokens["alice"]).body
    assert history["messages"] == []
    # the transaction was tried (and cancelled by its membership check), nothing else written
    assert "TransactWriteItems" in _operations(dynamodb_requests)
    assert "UpdateItem" not in _operations(dynamodb_requests)


def test_nothing_is_pushed_when_the_message_could_not_be_stored(room_with, connect, stack):
    # Given alice and bob joined, and DynamoDB failing every transaction
    room, tokens = room_with("alice", "bob")
    alice = _joined(connect, tokens["alice"], room["room_id"])
    bob = _joined(connect, tokens["bob"], room["room_id"])

    def fail(params: dict[str, Any], **_: Any):
        error = {"Code": "InternalServerError", "Message": "boom"}
        return AWSResponse(params["url"], 500, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }

    events = aws.dynamodb_resource().meta.client.meta.events
    events.register_first("before-call.dynamodb.TransactWriteItems", fail, unique_id="fail-tx")
    try:
        # When alice sends a message
        alice.send({"type": "message", "room_id": room["room_id"], "content": "lost?"})
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="fail-tx")
    # Then nobody got it (not even her ack): she gets an internal error frame instead
    assert bob.frames("message") == [] and alice.frames("message") == []
    assert [e["code"] for e in alice.frames("error")] == ["internal"]
