"""The items of each table, as the data-access layer hands them to the logic and takes them
back: typed dicts (a `TypedDict` costs nothing at import or per item, unlike a model class;
`make lint` type-checks every key the logic reads). Storage keys (`pk`, `sk`) are the table
modules' own business and are not part of these types.

DynamoDB hands numbers back as `Decimal` (`Number`) and binary attributes as `Binary`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, NotRequired, TypedDict, cast

if TYPE_CHECKING:
    from boto3.dynamodb.types import Binary

    from chat.models import Message, MessageStatus, MessageType, NotificationLevel, Role, Tool

Number = int | Decimal  # int as written, Decimal as read


class UserItem(TypedDict):
    """users table, the public fields of `USER#<id>` (and of its `USERNAME#` claim)."""

    user_id: str
    username: str
    email: str | None
    created_at: str


class RevocationsItem(TypedDict):
    """users table, `TOKENS#<user_id>`: the user's token generation (every token of an
    earlier one is revoked) and the ids of tokens revoked one by one, with their expiry."""

    generation: int
    revoked: dict[str, int]


class BotSettingsFields(TypedDict):
    """A bot's settings as stored (the default bot's on its room's item, a named bot's in
    its entry of the room's `bots`): absent, the deployment's model, no instructions, no
    key of its own, no tools, no budget, not answering replies."""

    model: NotRequired[str]
    system_prompt: NotRequired[str]
    api_key_ciphertext: NotRequired[bytes | Binary]
    tools: NotRequired[list[Tool]]  # absent when none
    monthly_token_budget: NotRequired[Number]
    answers_replies: NotRequired[bool]


class BotEntry(BotSettingsFields):
    """A named bot of a room: its entry in the room item's `bots`, keyed by its name in
    lower case."""

    name: str  # as its owner wrote it
    created_at: str


class RoomItem(BotSettingsFields):
    """rooms table, `ROOM#<id>`: the room, the default bot's settings and the named bots."""

    room_id: str
    name: str
    owner: str  # the owner's username
    owner_id: str
    is_group: bool
    created_at: str
    code: str
    human_count: NotRequired[Number]  # absent on rooms made before it was counted
    last_message_at: NotRequired[str]
    bots: NotRequired[dict[str, BotEntry]]  # the named bots, by name in lower case


class MembershipItem(TypedDict):
    """memberships table, (room_id, user_id)."""

    room_id: str
    user_id: str
    username: str
    role: Role
    joined_at: str
    last_read_message_id: NotRequired[str]
    notifications: NotRequired[NotificationLevel]  # absent: the room kind's default


class ReactionItem(TypedDict):
    emoji: str
    count: Number
    usernames: list[str]


class AttachmentRef(TypedDict):
    """What a message stores of each of its attachments (the URL is made on every read)."""

    attachment_id: str
    filename: str
    content_type: str
    size: Number


class ToolCallItem(TypedDict):
    tool: Tool
    query: str


class SourceItem(TypedDict):
    title: str
    url: str


class UsageItem(TypedDict):
    input_tokens: Number
    output_tokens: Number


class MessageItem(TypedDict):
    """messages table, (room_id, message_id)."""

    room_id: str
    message_id: str
    username: str
    content: str
    message_type: MessageType
    is_bot: bool
    created_at: str
    # A person's message: its author's user id, the key of the `by_author` index (a closing
    # account's messages are found there); never on the bot's.
    author_id: NotRequired[str]
    client_id: NotRequired[str]
    reply_to: NotRequired[str]
    status: NotRequired[MessageStatus]
    edited_at: NotRequired[str]
    deleted: NotRequired[bool]
    reactions: NotRequired[list[ReactionItem]]
    reactions_rev: NotRequired[Number]  # the reactions' version (optimistic concurrency)
    attachments: NotRequired[list[AttachmentRef]]
    visible_to: NotRequired[str]  # a private command and its answer: its author's username
    # A command: the named bot it addresses (absent: the default bot), and for a summary
    # the message it summarizes after ("": from the room's start).
    bot: NotRequired[str]
    summary_after: NotRequired[str]
    # A command: how many times it was regenerated; its replies by generation are
    # `reply_id`, `reply_id_1` … (chat.dal.messages.reply_id reads them).
    generations: NotRequired[Number]
    # A bot reply: the next frame's seq at its last checkpoint, and when a stop was asked.
    stream_seq: NotRequired[Number]
    stop_requested: NotRequired[str]
    # A bot reply, once ended: what the model reported, the tools it used, the pages cited.
    usage: NotRequired[UsageItem]
    tool_calls: NotRequired[list[ToolCallItem]]
    sources: NotRequired[list[SourceItem]]
    # The members it mentions (usernames, in order) and their user ids, in the same order.
    mentions: NotRequired[list[str]]
    mention_ids: NotRequired[list[str]]


class BotUsageCounts(TypedDict):
    """rooms table, `USAGE#<room>#<month>`: one bot's counters (chat.dal.bot_usage)."""

    answers: int
    input: int
    output: int


class ClientIdItem(TypedDict):
    """client_ids table, a sender's `client_id` in a room: the message that first carried it,
    until `expires_at` (epoch seconds; DynamoDB's TTL deletes it some time later)."""

    message_id: str
    expires_at: Number


class ConnectionItem(TypedDict):
    """connections table, `CONN#<id>` / `META`: a connection and its user."""

    connection_id: str
    user_id: str
    username: str
    connected_at: str
    expires_at: Number
    token_id: NotRequired[str]  # the token the connection opened with (its `jti`)
    token_generation: NotRequired[Number]
    token_expires_at: NotRequired[Number | None]


class UserConnectionItem(TypedDict):
    """connections table, `USER#<user>` / `CONN#<id>`: an open connection of a user and the
    token it opened with (who is online anywhere; where a user's own frames go; which
    sockets a revocation closes, one Query)."""

    connection_id: str
    user_id: str
    expires_at: Number
    token_id: NotRequired[str]  # absent for a token without an id
    token_generation: NotRequired[Number]
    token_expires_at: NotRequired[Number | None]


class SubscriberItem(TypedDict):
    """connections table, `ROOM#<room>` / `CONN#<id>`: a connection following a room."""

    connection_id: str
    user_id: str
    username: str
    expires_at: Number
    # When the token the connection opened with expires (epoch seconds): the fan-out skips
    # a subscriber past it.
    token_expires_at: NotRequired[Number | None]


class AttachmentItem(TypedDict):
    """attachments table, (attachment_id): a declared upload, then the message it is on."""

    attachment_id: str
    room_id: str
    user_id: str
    filename: str
    content_type: str
    size: Number
    object_key: str
    created_at: str
    created_epoch: Number
    expires_at: NotRequired[Number]  # removed once attached
    attached_to: NotRequired[str]


class MentionItem(TypedDict):
    """notifications table, `MENTION#<user>` / `<message_id>`: a message mentioning a user."""

    room_id: str
    message_id: str


class PushSubscriptionItem(TypedDict):
    """notifications table, `PUSH#<user>` / `<endpoint id>`: a browser's Web Push
    subscription (its push service URL and keys)."""

    user_id: str
    subscription_id: str  # sha256 of the endpoint, hex
    endpoint: str
    p256dh: str
    auth: str
    created_at: str


class CommandFields(TypedDict, total=False):
    """What a command item holds beyond the contract's Message (chat.dal.items.MessageItem)."""

    bot: str
    summary_after: str


def message_item(message: Message) -> MessageItem:
    """A new message as it is stored: its fields that have a value, without attachments
    (the transaction that stores a message with attachments adds their references) and
    without mentions when it has none."""
    exclude = {"attachments"} if message.mentions else {"attachments", "mentions"}
    return cast(MessageItem, message.model_dump(exclude_none=True, exclude=exclude))
