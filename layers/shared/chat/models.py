"""The contract's shapes (docs/API.md): request bodies validated at the boundary, and the
resources every transport returns. Field rules live here once."""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from chat.text_rules import (
    BlankIfInvisible,
    GeminiKey,
    Line,
    Multiline,
    NotReserved,
    Secret,
    Visible,
    is_invisible,
)

BOT_USER_ID = "bot"
BOT_USERNAME = "bot"

# Every id a client names (rooms, messages, attachments), in bodies, frames, queries and
# paths. The ids we make are ULIDs (chat.ids.new_id); any id of this alphabet is looked up.
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Username = Annotated[
    str, StringConstraints(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$"), NotReserved
]
# Secrets are SecretStr: masked wherever a model is printed or logged (Powertools logs
# route arguments at DEBUG). Read them with .get_secret_value() where they are used.
# The string rules (chat.text_rules) ride on every type: valid Unicode, no control
# characters (content: newlines and tabs only), invisible-only text counts as empty.
Password = Annotated[SecretStr, Secret, Field(min_length=8, max_length=128)]


def _email(value: str) -> str:
    """pydantic's `EmailStr` rule and error (email-validator, no deliverability check, the
    normalised address), with email-validator imported at the first address, not at every
    handler's cold start."""
    from pydantic.networks import validate_email

    return validate_email(value)[1]


Email = Annotated[
    str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})
]
RoomName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Line, Visible
]
Content = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    Multiline,
    Visible,
]
# A new message's text: may be empty when it carries attachments (checked in
# chat.logic.conversation.messages); text of only invisible characters is made empty here, so it
# counts as empty there too.
MessageText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=4000), Multiline, BlankIfInvisible
]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=128), Line]
GeminiApiKey = Annotated[SecretStr, GeminiKey, Field(min_length=1, max_length=256)]
# Model names end up in the Gemini URL path: keep them to a safe alphabet.
ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
]
SystemPrompt = Annotated[str, StringConstraints(max_length=4000), Multiline]
JoinCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32), Line
]
AnyUsername = Annotated[str, StringConstraints(min_length=1, max_length=64), Line]

Role = Literal["owner", "member", "bot"]
NotificationLevel = Literal["all", "mentions", "none"]
MessageType = Literal["text", "command", "bot"]
MessageStatus = Literal["complete", "streaming", "error", "stopped"]


# ------------------------------------------------------------------------------ attachments
# The contract's Attachments section. The rules live here; chat.attachments enforces the
# ones that need storage (uploaded, size and type as declared, image bytes, ownership).
AttachmentType = Literal[
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "application/pdf",
    "text/plain",
    "text/markdown",
]
ATTACHMENT_TYPES: tuple[str, ...] = get_args(AttachmentType)
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_PER_MESSAGE = 4
AttachmentIds = Annotated[list[Id], Field(max_length=MAX_ATTACHMENTS_PER_MESSAGE)]


# Bidirectional formatting (marks, embeddings, overrides, isolates): they can make
# "gpj.exe" show as "exe.jpg".
_BIDI_FORMATTING = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _safe_filename(value: str) -> str:
    """A name, not a path, that shows what it is (control characters: the `Line` rule,
    checked before)."""
    if "/" in value or "\\" in value:
        raise ValueError("must not contain path separators")
    if any(ch in _BIDI_FORMATTING for ch in value):
        raise ValueError("must not contain bidirectional formatting characters")
    if all(ch == "." or is_invisible(ch) for ch in value):
        raise ValueError("must not be only dots, spaces or invisible characters")
    return value


Filename = Annotated[
    str, StringConstraints(min_length=1, max_length=200), Line, AfterValidator(_safe_filename)
]


class Model(BaseModel):
    """Every shape here: its validator is built when first used, not at import. A function
    uses a few of these shapes per request, and building all of them took 25-35 ms of every
    cold start (bench/cold_start.py)."""

    model_config = ConfigDict(defer_build=True)


class Body(Model):
    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------------------ requests
class RegisterRequest(Body):
    username: Username
    password: Password
    email: Email | None = None


class LoginRequest(Body):
    # Login does not re-apply the registration rules: any wrong pair is just a 401.
    username: AnyUsername
    password: Annotated[SecretStr, Secret, Field(min_length=1, max_length=128)]


# A password asked for again (a password change, a deletion): like a login's, any wrong one
# is a 401, counted as a failed login.
CurrentPassword = Annotated[SecretStr, Secret, Field(min_length=1, max_length=128)]


class ChangePasswordRequest(Body):
    current_password: CurrentPassword
    new_password: Password


class DeleteAccountRequest(Body):
    password: CurrentPassword
    erase_messages: StrictBool = False


class CreateRoomRequest(Body):
    name: RoomName
    is_group: StrictBool = True  # true or false, not 0, 1 or "yes"
    gemini_api_key: GeminiApiKey | None = None


class JoinRoomRequest(Body):
    code: JoinCode


class InviteRequest(Body):
    username: AnyUsername


class PostMessageRequest(Body):
    content: MessageText = ""
    client_id: ClientId | None = None
    attachments: AttachmentIds = []
    reply_to: Id | None = None
    private: StrictBool = False  # only on a bot command


def _integral(value: object) -> object:
    """JSON has one number type: 1024.0 is the integer 1024 (JSON Schema's `integer` too)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ------------------------------------------------------------------------------ bot settings
# What a bot may use besides the conversation (docs/bot.md): the room's search as a function
# the model calls, and Gemini's Google Search grounding.
Tool = Literal["room_search", "web_search"]
TOOLS: tuple[str, ...] = get_args(Tool)


def _distinct(tools: list[str]) -> list[str]:
    if len(set(tools)) != len(tools):
        raise ValueError("must not name a tool twice")
    return tools


Tools = Annotated[list[Tool], Field(max_length=len(TOOLS)), AfterValidator(_distinct)]
# Input plus output tokens a bot may use in a UTC month; 0 stops it from answering at all.
TokenBudget = Annotated[StrictInt, Field(ge=0, le=10**15), BeforeValidator(_integral)]


class BotSettingsUpdate(Body):
    """Absent fields stay as they are; `gemini_api_key: null` removes the bot's key,
    `monthly_token_budget: null` the budget, and `tools: null` is no tools (as `[]`). The
    same fields change the default bot (`PUT …/bot`) and a named one (`PATCH …/bots/{name}`)."""

    gemini_api_key: GeminiApiKey | None = None
    model: ModelName | None = None
    system_prompt: SystemPrompt | None = None
    tools: Tools | None = None
    monthly_token_budget: TokenBudget | None = None
    answers_replies: StrictBool | None = None


class CreateBotRequest(BotSettingsUpdate):
    """A named bot: its name follows the username rules and shares their namespace."""

    name: Username


class SummaryRequest(Body):
    since: Id | None = None
    private: StrictBool = True


class CreateAttachmentRequest(Body):
    filename: Filename
    content_type: AttachmentType
    size: Annotated[StrictInt, Field(ge=1, le=MAX_ATTACHMENT_BYTES), BeforeValidator(_integral)]


class EditMessageRequest(Body):
    content: Content


class RenameRoomRequest(Body):
    name: RoomName


class MarkReadRequest(Body):
    message_id: Id


# ------------------------------------------------------------------------------ resources
class Attachment(Model):
    attachment_id: str
    filename: str
    content_type: str
    size: int
    url: str  # a presigned GET, made fresh on every read


class AttachmentUploadForm(Model):
    url: str
    fields: dict[str, str]


class AttachmentUpload(Model):
    attachment_id: str
    upload: AttachmentUploadForm
    expires_in: int


class User(Model):
    user_id: str
    username: str
    email: str | None
    created_at: str


class AuthResponse(Model):
    user: User
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class Member(Model):
    username: str
    role: Role
    joined_at: str
    online: bool
    last_read_message_id: str | None = None


class _RoomFields(Model):
    room_id: str
    code: str
    name: str
    owner: str
    is_group: bool
    created_at: str
    has_api_key: bool


class RoomSummary(_RoomFields):
    last_message_at: str | None
    last_read_message_id: str | None = None
    unread_count: int = 0
    # Mentions and notifications: unread messages that mention the caller (up to 100), and
    # the caller's notification level in the room.
    mention_count: int = 0
    notifications: NotificationLevel = "mentions"


class Room(_RoomFields):
    members: list[Member]


class RoomList(Model):
    rooms: list[RoomSummary]


class MemberList(Model):
    members: list[Member]


class BotSettings(Model):
    model: str
    system_prompt: str | None
    has_api_key: bool
    tools: list[Tool]
    monthly_token_budget: int | None
    answers_replies: bool = False


class Bot(BotSettings):
    """A bot of a room: the default one (`bot`) or a named one, with its settings."""

    name: str


class BotList(Model):
    bots: list[Bot]


class Reaction(Model):
    emoji: str
    count: int
    usernames: list[str]


class ToolCall(Model):
    """A tool the bot used for an answer: a search of the room, or of the web."""

    tool: Tool
    query: str


class Source(Model):
    """A web page a grounded answer cites."""

    title: str
    url: str


class AnswerUsage(Model):
    """The tokens the model reported for one answer (every request of it, summed)."""

    input_tokens: int
    output_tokens: int


class Message(Model):
    message_id: str
    room_id: str
    username: str
    content: str
    message_type: MessageType
    is_bot: bool
    created_at: str
    client_id: str | None = None
    reply_to: str | None = None
    status: MessageStatus = "complete"
    edited_at: str | None = None
    deleted: bool = False
    reactions: list[Reaction] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    mentions: list[str] = Field(default_factory=list)  # the members it mentions, in order
    visible_to: str | None = None  # a private command and its answer: only this user's
    # A bot answer's model usage, tools used and web pages cited (docs/bot.md).
    usage: AnswerUsage | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)


class RegenerateResponse(Model):
    command_id: str


class BotUsage(Model):
    name: str
    answers: int
    input_tokens: int
    output_tokens: int


class UsageReport(Model):
    """`GET /rooms/{id}/usage`: each bot's answers and tokens in one UTC month."""

    month: str
    bots: list[BotUsage]


class MessagePage(Model):
    messages: list[Message]
    next_before: str | None


class SearchResults(Model):
    """`GET /search`: matching messages, newest first; `next_before` pages on (null: no more)."""

    results: list[Message]
    next_before: str | None


class MessagesAfterPage(Model):
    """A catch-up page (`?after=`): oldest -> newest; `next_after` null when nothing newer."""

    messages: list[Message]
    next_after: str | None


class ReactionList(Model):
    reactions: list[Reaction]


class ReadState(Model):
    last_read_message_id: str | None
    unread_count: int


# ------------------------------------------------------------------------------ notifications
# The contract's Mentions and notifications: the mention inbox, notification levels and Web
# Push subscriptions.
class MentionPage(Model):
    """`GET /mentions`: messages that mention the caller, newest first."""

    mentions: list[Message]
    next_before: str | None


class NotificationLevelRequest(Body):
    level: NotificationLevel


class NotificationLevelSetting(Model):
    level: NotificationLevel


class PushKey(Model):
    """The deployment's VAPID application server key: base64url, uncompressed P-256 point."""

    public_key: str


# A push subscription's endpoint: the browser's push service URL (checked further in
# chat.logic.notifications.subscriptions); its keys are base64url (padding allowed).
PushEndpoint = Annotated[str, StringConstraints(min_length=9, max_length=1024), Line]
PushKeyText = Annotated[
    str, StringConstraints(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_=-]+$")
]


class PushSubscriptionKeys(Body):
    p256dh: PushKeyText
    auth: PushKeyText


class PushSubscriptionRequest(Body):
    """A browser `PushSubscription` as JSON (`expirationTime` and other fields are ignored)."""

    endpoint: PushEndpoint
    keys: PushSubscriptionKeys


class PushUnsubscribeRequest(Body):
    endpoint: PushEndpoint


class PushSubscriptionSaved(Model):
    endpoint: str


class ErrorBody(Model):
    code: str
    message: str
    details: list[dict] | None = Field(default=None)


class ErrorResponse(Model):
    error: ErrorBody


_BOT_TRIGGER = re.compile(r"^[@/]bot(?:\s|$)", re.IGNORECASE)
_ADDRESS = re.compile(r"^@([A-Za-z0-9_.-]{1,32})(?:\s|$)")
MAX_BOTS_PER_ROOM = 5  # the default bot included


def is_bot_command(content: str) -> bool:
    """The contract's trigger: trimmed content starts with @bot or /bot, then whitespace or end."""
    return _BOT_TRIGGER.match(content.strip()) is not None


def addressed_name(content: str) -> str | None:
    """The name a message addresses, in lower case: `bot` for @bot and /bot, `name` for
    @name (any case) followed by whitespace or the end; None otherwise. Whether a bot of
    that name is in the room is the caller's question (if not, the message is plain text)."""
    text = content.strip()
    if _BOT_TRIGGER.match(text):
        return BOT_USERNAME
    found = _ADDRESS.match(text)
    return found.group(1).lower() if found else None


def bot_user_id(name: str) -> str:
    """The membership key of a room's bot: `bot` for the default one, `bot.<name>` for a
    named one (a user's id is a ULID, never this)."""
    key = name.lower()
    return BOT_USER_ID if key == BOT_USERNAME else f"{BOT_USER_ID}.{key}"


def is_bot_user_id(user_id: str) -> bool:
    return user_id == BOT_USER_ID or user_id.startswith(BOT_USER_ID + ".")
