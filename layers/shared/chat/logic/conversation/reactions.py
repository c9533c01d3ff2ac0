"""Reactions: per message, at most 20 different emoji, in the order each was first used.

They live on the message item (bounded by that limit) and change by optimistic
concurrency: read the list and its version, write the new list only if the version is
unchanged, otherwise read again. Two simultaneous reactions never lose one another.
"""

from __future__ import annotations

import random
import time
import unicodedata

from chat.dal import message_changes as changes
from chat.dal import messages as message_table
from chat.dal.items import ReactionItem
from chat.errors import Conflict, NotFound, Unavailable, ValidationFailed
from chat.frames import ReactionFrame
from chat.logic import message_view
from chat.logic.access import require_member
from chat.logic.realtime import presence
from chat.models import Reaction, ReactionList
from chat.principal import Principal

MAX_DISTINCT_EMOJI = 20
MAX_EMOJI_BYTES = 32
_ATTEMPTS = 40
# Invisible characters that alone do not make an emoji (ZWJ and variation selectors may
# appear inside a sequence such as 👨‍👩‍👧 or ❤️, but not make one up).
_INVISIBLE = {"Cf", "Mn", "Me"}


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": "emoji", "message": message}])


def validate_emoji(emoji: str) -> str:
    """An emoji or short code: 1–32 bytes of UTF-8, no whitespace or control characters."""
    try:
        size = len(emoji.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates
        raise _invalid("emoji must be valid Unicode") from exc
    if not 1 <= size <= MAX_EMOJI_BYTES:
        raise _invalid(f"emoji must be 1 to {MAX_EMOJI_BYTES} bytes of UTF-8")
    categories = [unicodedata.category(ch) for ch in emoji]
    if any(
        ch.isspace() or cat[0] == "Z" or cat == "Cc"
        for ch, cat in zip(emoji, categories, strict=True)
    ):
        raise _invalid("emoji must not contain whitespace or control characters")
    if all(cat in _INVISIBLE for cat in categories):
        raise _invalid("emoji must not be only invisible characters")
    return emoji


def _added(reactions: list[Reaction], emoji: str, username: str) -> list[Reaction] | None:
    """The list with the user's reaction added; None if they already reacted so."""
    for index, reaction in enumerate(reactions):
        if reaction.emoji == emoji:
            if username in reaction.usernames:
                return None
            usernames = [*reaction.usernames, username]
            updated = Reaction(emoji=emoji, count=len(usernames), usernames=usernames)
            return [*reactions[:index], updated, *reactions[index + 1 :]]
    if len(reactions) >= MAX_DISTINCT_EMOJI:
        raise _invalid(f"a message holds at most {MAX_DISTINCT_EMOJI} different reactions")
    return [*reactions, Reaction(emoji=emoji, count=1, usernames=[username])]


def _removed(reactions: list[Reaction], emoji: str, username: str) -> list[Reaction] | None:
    """The list without the user's reaction; None if they had not reacted so."""
    result: list[Reaction] = []
    found = False
    for reaction in reactions:
        if reaction.emoji == emoji and username in reaction.usernames:
            found = True
            usernames = [name for name in reaction.usernames if name != username]
            if usernames:
                result.append(Reaction(emoji=emoji, count=len(usernames), usernames=usernames))
        else:
            result.append(reaction)
    return result if found else None


def react(
    principal: Principal, room_id: str, message_id: str, emoji: str, *, add: bool
) -> ReactionList:
    """Add (PUT) or remove (DELETE) the caller's reaction; both idempotent. A change is
    pushed to the room as a `reaction` frame; a no-op pushes nothing."""
    validate_emoji(emoji)
    require_member(room_id, principal.user_id)
    for attempt in range(_ATTEMPTS):
        item = message_table.get_message(room_id, message_id)
        if item is None or not message_view.visible(item, principal.username):
            raise NotFound("Message not found")
        if item.get("deleted"):
            if add:
                raise Conflict("The message was deleted")
            return ReactionList(reactions=[])
        current = [Reaction.model_validate(reaction) for reaction in item.get("reactions") or []]
        change = _added if add else _removed
        updated = change(current, emoji, principal.username)
        if updated is None:
            return ReactionList(reactions=current)
        stored = [
            ReactionItem(emoji=r.emoji, count=r.count, usernames=r.usernames) for r in updated
        ]
        if changes.replace_reactions(room_id, message_id, stored, item.get("reactions_rev")):
            count = next((r.count for r in updated if r.emoji == emoji), 0)
            frame = ReactionFrame(
                room_id=room_id,
                message_id=message_id,
                emoji=emoji,
                username=principal.username,
                added=add,
                count=count,
            )
            presence.send_to_room(room_id, frame, only_username=item.get("visible_to"))
            return ReactionList(reactions=updated)
        time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
    raise Unavailable("The message is changing too fast, try again")
