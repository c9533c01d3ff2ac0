"""Reading a room's messages: pages back in time (`GET /rooms/{id}/messages?before=`) and
catching up after a reconnect (`?after=`). Others' private commands and answers are left
out (chat.logic.message_view.visible)."""

from __future__ import annotations

from chat.dal import messages as message_table
from chat.errors import ValidationFailed
from chat.logic import message_view
from chat.logic.access import require_member
from chat.models import MessagePage, MessagesAfterPage
from chat.principal import Principal


def history(principal: Principal, room_id: str, limit: int, before: str | None) -> MessagePage:
    """Up to `limit` messages before `before` (the newest, without it), oldest first;
    `next_before` is the page's first id while older messages exist, else null."""
    require_member(room_id, principal.user_id)
    items, more = message_table.page(room_id, limit, before, principal.username)
    items.reverse()  # oldest -> newest within the page
    return MessagePage(
        messages=[message_view.as_message(item) for item in items],
        next_before=items[0]["message_id"] if more and items else None,
    )


def history_after(
    principal: Principal, room_id: str, limit: int, after: str, *, before: str | None = None
) -> MessagesAfterPage:
    """The messages stored after `after`, oldest first; `next_after` is the page's last id
    while newer messages exist, else null. `before` with `after` is a 422."""
    if before is not None:
        message = "before and after cannot be used together"
        raise ValidationFailed(
            message,
            details=[
                {"field": "before", "message": message},
                {"field": "after", "message": message},
            ],
        )
    require_member(room_id, principal.user_id)
    items, more = message_table.page_after(room_id, limit, after, principal.username)
    return MessagesAfterPage(
        messages=[message_view.as_message(item) for item in items],
        next_after=items[-1]["message_id"] if more and items else None,
    )
