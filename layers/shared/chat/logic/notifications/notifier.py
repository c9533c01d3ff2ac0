"""The notifier: one job of the notifications queue (chat.adapters.notification_queue).

A job names a message; the notifier reads it, its room and the members who may hear of it
as they are now, decides who hears of it (`audience`), and who of them is online now (has an open
WebSocket connection anywhere): the mentioned ones who are get the `mention` frame on every
connection; the ones who are not get a Web Push message at each of their subscriptions, if
their level asks for it. Recipients are handled in parallel, on a bounded pool.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.metrics import MetricUnit

from chat import aws
from chat.adapters.notification_queue import NotificationJob
from chat.dal import messages as message_table
from chat.dal import notifications as notification_table
from chat.dal import rooms as room_table
from chat.dal.items import MembershipItem, MessageItem, RoomItem
from chat.frames import MentionFrame
from chat.logic.notifications import audience, delivery
from chat.logic.realtime import presence
from chat.observability import metrics

WORKERS = 8  # recipients (their connection Query, then a frame or pushes) at once


def _pool() -> ThreadPoolExecutor:
    return aws.thread_pool("notify", WORKERS)


def handle(job: NotificationJob) -> None:
    if job.kind == "retry":
        delivery.push_again(job)
        return
    message = message_table.get_message(job.room_id, job.message_id)
    if message is None or message.get("deleted"):
        return  # deleted before anyone was told: nobody is
    if job.kind == "answer" and message.get("status") != "complete":
        return
    room = room_table.get_room(job.room_id)
    if room is None:
        return
    members = _candidates(job, message, room)
    recipients = audience.recipients(message, room["is_group"], members, job.kind, job.mentioned)
    if recipients:
        reached = sum(_pool().map(lambda r: _reach(r, message, room), recipients))
        metrics.add_metric(name="NotificationsDelivered", unit=MetricUnit.Count, value=reached)
    metrics.add_metric(name="NotificationJobs", unit=MetricUnit.Count, value=1)


def _candidates(job: NotificationJob, message: MessageItem, room: RoomItem) -> list[MembershipItem]:
    """The memberships that may hear of the message: a direct room's few members; in a group,
    those it mentions and those who chose `all` (the default there is `mentions`), read
    consistently, so anyone who left is not among them. A group of any size costs one GetItem
    and a BatchGetItem per 100 of them."""
    if not room["is_group"]:
        return room_table.list_members(job.room_id)
    wanted = notification_table.all_level_users(job.room_id) if job.kind != "edit" else set()
    if job.kind != "answer":
        wanted |= set(message.get("mention_ids") or [])
    if not wanted:
        return []
    return list(room_table.members_among(job.room_id, sorted(wanted)).values())


def _reach(recipient: audience.Recipient, message: MessageItem, room: RoomItem) -> int:
    """Tell one recipient: frames to their connections if they are online, else pushes;
    how many connections or subscriptions took it."""
    connections = presence.open_connections(recipient.user_id)
    if connections:
        if not recipient.mentioned:
            return 0
        frame = MentionFrame(
            room_id=message["room_id"],
            message_id=message["message_id"],
            username=message["username"],
            content=message["content"],
        )
        return presence.send_to_connections(connections, frame).delivered
    if not recipient.push:
        return 0
    return delivery.push_to(recipient.user_id, payload(message, room, recipient.mentioned))


def payload(message: MessageItem, room: RoomItem, mentioned: bool) -> str:
    """The decrypted notification: what the service worker shows."""
    return json.dumps(
        {
            "type": "mention" if mentioned else "message",
            "room_id": message["room_id"],
            "room_name": room["name"],
            "message_id": message["message_id"],
            "from": message["username"],
            "preview": audience.preview(message),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
