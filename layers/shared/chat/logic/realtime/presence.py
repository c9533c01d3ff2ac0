"""Who is online where: connections, room subscriptions and `presence` announcements.

The presence rule: a member is online in a room while at least one of their sockets is
subscribed to it; the others hear `presence` when the first socket joins and the last one
goes (leave, disconnect, leaving the room). A connection the management API reports gone
is a disconnect, so every push that must honour that goes through `send_to_*` here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters.management_api import ConnectionGone, delete_connection
from chat.dal import connections as connection_table
from chat.dal.connections import SubscriberPage
from chat.dal.items import ConnectionItem, SubscriberItem
from chat.errors import NotFound, Unauthorized
from chat.frames import JoinedFrame, LeftFrame, PresenceFrame, ServerFrame, TypingFrame
from chat.ids import now_iso
from chat.logic.access import require_member
from chat.logic.realtime import broadcast, fanout
from chat.observability import logger, metrics
from chat.principal import Principal
from chat.queued_shard import QueuedShard


@dataclass(frozen=True)
class Socket:
    """A connection as API Gateway describes it in each event: its id, and when it opened
    (epoch ms), from which its records' expiry follows."""

    connection_id: str
    connected_at: int = 0


# ------------------------------------------------------------------------------ pushing
def _forget_gone(result: fanout.FanOut) -> fanout.FanOut:
    """Treat each gone connection as disconnected: its records go and, where it was its
    user's last socket in a room, the others hear `presence` offline. Its `$disconnect`
    may still come, but will find nothing left to announce, so this is the only chance.
    Close each connection skipped because its token expired: its `$disconnect` then
    forgets it (the client reconnects with a fresh token)."""
    for connection_id in result.gone:
        disconnect(connection_id)
    for connection_id in result.expired:
        try:
            close(connection_id)
        except Exception:  # the frame was pushed to the others: never fail the sender
            logger.exception("could not close an expired connection")
    if result.expired:
        metrics.add_metric(
            name="ExpiredConnectionsClosed", unit=MetricUnit.Count, value=len(result.expired)
        )
    return result


def send_to_connections(connection_ids: Iterable[str], frame: ServerFrame) -> fanout.FanOut:
    return _forget_gone(fanout.to_connections(connection_ids, frame))


def send_to_connection(connection_id: str, frame: ServerFrame) -> bool:
    return send_to_connections([connection_id], frame).delivered == 1


def send_to_room(
    room_id: str,
    frame: ServerFrame,
    *,
    exclude_user_id: str | None = None,
    also_connection_id: str | None = None,
    subscribers: list[SubscriberItem] | SubscriberPage | None = None,
    spread: broadcast.Spread = 0.0,
    only_username: str | None = None,
) -> fanout.FanOut:
    """Push a frame to every live subscriber of a room, then disconnect the gone ones.

    The subscribers are the room's first page (one Query: ``broadcast.first_page``) unless
    the caller has them already (all of them, or that page: `prefetched_subscribers`). A
    room that has more than that page is a big one: its frame goes in ranges of slots
    through the fan-out queue (``broadcast.send_to_slots``); one whose subscribers are all
    known goes through ``broadcast.send`` (in shards too above the threshold).
    `exclude_user_id` leaves out all of one user's sockets; `only_username` keeps only one
    user's (a private message's frames: the whole room is read for them); `also_connection_id`
    adds a connection that may not be subscribed (a sender's own socket, for its ack);
    `spread` spreads a big room's pushes over that many seconds, or over
    ``spread(recipients)`` (a bot answer's paced frame), if longer than the send budget
    asks for anyway."""
    if subscribers is None:
        subscribers = broadcast.first_page(room_id)
    if isinstance(subscribers, SubscriberPage):
        if not subscribers.complete and only_username is None:
            return _forget_gone(
                broadcast.send_to_slots(
                    room_id,
                    subscribers,
                    frame,
                    first=also_connection_id,
                    exclude_user_id=exclude_user_id,
                    spread=spread,
                )
            )
        subscribers = (
            subscribers.subscribers
            if subscribers.complete
            else connection_table.room_subscribers(room_id)
        )
    ids, expired = fanout.recipients(
        subscribers,
        exclude_user_id=exclude_user_id,
        also_connection_id=also_connection_id,
        only_username=only_username,
    )
    result = broadcast.send(room_id, ids, frame, first=also_connection_id, spread=spread)
    result.expired = expired
    return _forget_gone(result)


def open_connections(user_id: str) -> list[str]:
    """A user's open connections whose token is still valid, in any room or none: where
    their own frames go (none: they are offline). One Query."""
    now = time.time()
    return [
        connection["connection_id"]
        for connection in connection_table.user_connections(user_id)
        if not fanout.token_expired(connection, now)
    ]


def send_shard(shard: QueuedShard, time_left: Callable[[], float]) -> fanout.FanOut | None:
    """Push a shard of a big room's broadcast (the fan-out function), unless it was pushed
    already (None), then disconnect the gone connections; ``time_left``: seconds left.
    Raises ``broadcast.ShardIncomplete`` when connections are left for the shard's next
    delivery (throttled pushes, or no time left)."""
    result = broadcast.deliver(shard, time_left)
    if result is None:
        return None
    _forget_gone(result)
    if result.queued:
        raise broadcast.ShardIncomplete(f"{result.queued} connections left for later")
    return result


def first_subscribers(room_id: str, *, consistent: bool = False) -> SubscriberPage:
    """The room's first page of subscribers (``broadcast.first_page``), as `send_to_room`
    takes them; ``consistent`` where a subscription written just before must be seen."""
    return broadcast.first_page(room_id, consistent=consistent)


@contextmanager
def prefetched_subscribers(room_id: str) -> Iterator[Future[SubscriberPage]]:
    """The room's first page of subscribers (``broadcast.first_page``), queried on the push
    pool while the caller does something else (stores a message), for
    `send_to_room(..., subscribers=...)` to push at once. The query is waited for on
    leaving, so nothing is left running when the caller fails."""
    future = fanout.pool().submit(broadcast.first_page, room_id)
    try:
        yield future
    finally:
        wait([future])


# ------------------------------------------------------------------------------ connections
def connect(socket: Socket, principal: Principal) -> None:
    """Record a connection the `$connect` authorizer let in, with the token it opened with."""
    connection = ConnectionItem(
        connection_id=socket.connection_id,
        user_id=principal.user_id,
        username=principal.username,
        connected_at=now_iso(),
        expires_at=connection_table.expires_at(socket.connected_at),
        token_generation=principal.token_generation,
        token_expires_at=principal.token_expires_at,
    )
    if principal.token_id:
        connection["token_id"] = principal.token_id
    connection_table.put_connection(connection)


def close(connection_id: str) -> None:
    """Close a connection from the server side; API Gateway then runs its `$disconnect`."""
    try:
        delete_connection(connection_id)
    except ConnectionGone:
        disconnect(connection_id)  # already gone: no `$disconnect` may follow


def disconnect(connection_id: str) -> None:
    """Forget a connection; members who had no other socket in a room go offline there."""
    meta, room_ids = connection_table.remove_connection(connection_id)
    if meta is None:
        return
    for room_id in room_ids:
        subscribers = connection_table.room_subscribers(room_id)
        if not any(s["user_id"] == meta["user_id"] for s in subscribers):
            _announce(subscribers, room_id, meta["user_id"], meta["username"], "offline")


def _announce(
    subscribers: list[SubscriberItem],
    room_id: str,
    user_id: str,
    username: str,
    status: Literal["online", "offline"],
) -> None:
    """Tell the room's other users (every socket of theirs) that a user came or went."""
    frame = PresenceFrame(room_id=room_id, username=username, status=status)
    send_to_room(room_id, frame, exclude_user_id=user_id, subscribers=subscribers)


# ------------------------------------------------------------------------------ rooms
def join(socket: Socket, principal: Principal, room_id: str) -> None:
    """Subscribe a member's socket to a room: it gets `joined`, the others `presence`."""
    require_member(room_id, principal.user_id)
    connection_id = socket.connection_id
    connection = SubscriberItem(
        connection_id=connection_id,
        user_id=principal.user_id,
        username=principal.username,
        expires_at=connection_table.expires_at(socket.connected_at),
        token_expires_at=principal.token_expires_at,
    )
    before = connection_table.room_subscribers(room_id)
    subscribed = connection_table.subscribe(connection, room_id)
    if subscribed == "connection_gone":
        raise Unauthorized("Connection is no longer open")
    if subscribed == "not_a_member":  # removed since the check above
        raise NotFound("Room not found")
    was_online = any(s["user_id"] == principal.user_id for s in before)
    online = sorted({s["username"] for s in before} | {principal.username})
    send_to_connection(connection_id, JoinedFrame(room_id=room_id, online=online))
    if not was_online:  # so `before` holds none of this user's sockets
        _announce(before, room_id, principal.user_id, principal.username, "online")
    logger.debug("joined", extra={"room_id": room_id, "connection_id": connection_id})


def leave(connection_id: str, principal: Principal, room_id: str) -> None:
    """Unsubscribe a socket; its user goes offline there if it was their last socket."""
    require_member(room_id, principal.user_id)
    # Only a socket that was subscribed can take its user offline: leaving a room this
    # socket never joined must not announce someone who was never online.
    before = connection_table.room_subscribers(room_id)
    connection_table.unsubscribe(connection_id, room_id)
    send_to_connection(connection_id, LeftFrame(room_id=room_id))
    was_subscribed = any(s["connection_id"] == connection_id for s in before)
    still_online = any(
        s["user_id"] == principal.user_id and s["connection_id"] != connection_id for s in before
    )
    if was_subscribed and not still_online:
        _announce(before, room_id, principal.user_id, principal.username, "offline")


def typing(principal: Principal, room_id: str, is_typing: bool) -> None:
    """Tell a room's other users that a member started or stopped typing."""
    require_member(room_id, principal.user_id)
    frame = TypingFrame(room_id=room_id, username=principal.username, is_typing=is_typing)
    send_to_room(room_id, frame, exclude_user_id=principal.user_id)


def drop_user_from_room(room_id: str, user_id: str, username: str) -> None:
    """Unsubscribe every socket of a user who left the room, and tell the others."""
    # Consistent: a join that passed its membership check just before the removal must be
    # seen here (its subscription is written on the condition of the membership).
    subscribers = connection_table.room_subscribers(room_id, consistent=True)
    own = [s["connection_id"] for s in subscribers if s["user_id"] == user_id]
    for connection_id in own:
        connection_table.unsubscribe(connection_id, room_id)
    if own:
        _announce(subscribers, room_id, user_id, username, "offline")
