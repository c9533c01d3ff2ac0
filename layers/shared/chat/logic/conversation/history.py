"""Catching up after a reconnect: `GET /rooms/{id}/messages?after=`."""

from __future__ import annotations

from chat.dal import messages as message_table
from chat.errors import ValidationFailed
from chat.logic.access import require_member
from chat.logic.accounts.tokens import Principal
from chat.logic.conversation import attachments
from chat.models import Message, MessagesAfterPage


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
    items, more = message_table.page_after(room_id, limit, after)
    return MessagesAfterPage(
        messages=[Message(**attachments.with_urls(item)) for item in items],
        next_after=items[-1]["message_id"] if more and items else None,
    )
