"""rooms table, `USAGE#<room_id>#<YYYY-MM>`: what each bot of a room used in one UTC month.

One item per room and month, with three counters per bot, named after it: `answers:<name>`,
`input:<name>` and `output:<name>` (a bot's name is unique in its room, and never changes).
A month's report is one read, whatever the number of bots; a new bot needs no new item or
schema. Counters only grow, by `ADD`, in the same transaction as the answer's terminal
write (chat.dal.messages.end_reply): an answer is counted exactly when it ends, so a
redelivered command, whose answer has ended already, is never counted twice.
"""

from __future__ import annotations

from typing import Any

from chat.dal.items import BotUsageCounts
from chat.dal.tables import table, table_name

_COUNTERS = ("answers", "input", "output")


def _key(room_id: str, month: str) -> dict[str, str]:
    return {"pk": f"USAGE#{room_id}#{month}"}


def charge(room_id: str, month: str, bot: str, input_tokens: int, output_tokens: int) -> dict:
    """The transaction item that counts one answer of ``bot`` and its tokens."""
    names = {f"#{counter}": f"{counter}:{bot}" for counter in _COUNTERS}
    return {
        "Update": {
            "TableName": table_name("rooms"),
            "Key": _key(room_id, month),
            "UpdateExpression": "ADD #answers :one, #input :input, #output :output",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":one": 1,
                ":input": input_tokens,
                ":output": output_tokens,
            },
        }
    }


def month_usage(room_id: str, month: str) -> dict[str, BotUsageCounts]:
    """Each bot's counters of the month (bots that answered nothing are absent)."""
    item: dict[str, Any] = (
        table("rooms").get_item(Key=_key(room_id, month), ConsistentRead=True).get("Item") or {}
    )
    bots = {
        bot
        for counter, colon, bot in (attribute.partition(":") for attribute in item)
        if colon and counter in _COUNTERS
    }
    return {
        bot: BotUsageCounts(
            answers=int(item.get(f"answers:{bot}", 0)),
            input=int(item.get(f"input:{bot}", 0)),
            output=int(item.get(f"output:{bot}", 0)),
        )
        for bot in bots
    }
