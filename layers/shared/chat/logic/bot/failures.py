"""Who must act on a failed answer: the room, or the operator.

The ``bot_error`` frame carries the contract's code (``model_error``, ``rate_limited``,
``timeout``, ``no_api_key``). Behind one code there can be a room's own doing or the
service's: a rejected key is the room owner's to fix when it is the room's key, the
operator's when it is the deployment's shared key. So each failure gets a ``cause``:

- ``user``: the room's key was rejected or is over its quota, the room's chosen model does
  not exist, the model refused the content, or the room has no key. The message tells the
  room what to do; nobody is paged.
- ``operator``: the shared key (rejected or over its quota), the default model, Gemini's own
  errors, timeouts, anything unexpected. Metrics carry the cause, and only these are alarmed
  (template.yaml, the Bot*Alarm alarms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # a type only: a Failure is ended by chat.logic.bot.ending, SDK-free
    from chat.adapters.gemini import GeminiError

Cause = Literal["user", "operator"]

ROOM_KEY_REJECTED = (
    "The room's Gemini API key was rejected. The room's owner can set a valid key in the "
    "bot settings."
)
ROOM_KEY_OVER_QUOTA = (
    "The room's Gemini API key is over its quota. Try again later; the room's owner can "
    "raise the key's quota or set another key in the bot settings."
)
ROOM_MODEL_MISSING = (
    "The room's AI model is not available. The room's owner can choose another model in "
    "the bot settings."
)
CONTENT_REFUSED = "The AI model declined to answer this. Rephrase the request and try again."
SHARED_KEY_FAILED = (
    "The AI model is not available right now; the operators have been alerted. The room's "
    "owner can add the room's own Gemini API key in the bot settings."
)


@dataclass(frozen=True)
class Failure:
    code: str  # the contract's bot_error code
    message: str  # what the room is told
    cause: Cause


def of_model_error(exc: GeminiError, *, room_key: bool, room_model: bool) -> Failure:
    """A model's failure, blamed on whoever can fix it; ``room_key``/``room_model``: the
    key and the model were the room's own choice (not the deployment's defaults)."""
    if exc.refused == "content":
        return Failure(exc.code, CONTENT_REFUSED, "user")
    if exc.refused == "key":
        if room_key:
            return Failure(exc.code, ROOM_KEY_REJECTED, "user")
        return Failure(exc.code, SHARED_KEY_FAILED, "operator")
    if exc.refused == "quota" and room_key:
        return Failure(exc.code, ROOM_KEY_OVER_QUOTA, "user")
    if exc.refused == "model" and room_model:
        return Failure(exc.code, ROOM_MODEL_MISSING, "user")
    return Failure(exc.code, exc.message, "operator")
