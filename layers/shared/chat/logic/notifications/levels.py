"""Notification levels: how much of a room a member hears while offline. `all`: every message
(a bot answer once it is complete); `mentions`: messages that mention them; `none`: nothing.
Without a choice of their own: `all` in a direct room (created with `is_group: false`),
`mentions` in a group. The level is kept on the membership item, and the room keeps the set of
members who chose `all` (chat.dal.notifications), so the notifier of a large group room reads
those and the mentioned, not every member."""

from __future__ import annotations

from chat.dal import notifications as notification_table
from chat.dal.items import MembershipItem
from chat.errors import NotFound
from chat.models import NotificationLevel, NotificationLevelSetting
from chat.principal import Principal


def default_level(is_group: bool) -> NotificationLevel:
    return "mentions" if is_group else "all"


def level_of(membership: MembershipItem | None, is_group: bool) -> NotificationLevel:
    chosen = membership.get("notifications") if membership else None
    return chosen or default_level(is_group)


def set_level(
    principal: Principal, room_id: str, level: NotificationLevel
) -> NotificationLevelSetting:
    """`PUT /rooms/{id}/notifications`: the caller's level in a room they are a member of."""
    if not notification_table.set_level(room_id, principal.user_id, level):
        raise NotFound("Room not found")
    return NotificationLevelSetting(level=level)
