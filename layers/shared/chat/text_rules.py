"""The contract's string rules (docs/API.md, Validation rules) as reusable pydantic types.

Every string a client sends is valid Unicode: no lone surrogates (they cannot be encoded,
stored or sent) and no NUL. On top of that each kind of text has its rule:

- ``Line``: names and other one-line text take no control characters at all;
- ``Multiline``: message content may hold newlines and tabs, no other control character;
- ``Visible``: text that is only whitespace or invisible characters (zero-width spaces and
  joiners, word joiners, byte-order marks...) counts as empty, and is refused;
- ``BlankIfInvisible``: the same text made empty, where empty text can be allowed (a
  message's text may be empty when it carries attachments: chat.logic.conversation.messages decides);
- ``Secret`` (passwords, API keys): valid Unicode before ``SecretStr`` wraps it, and
  registered with ``chat.redaction`` so no log line can show it;
- ``GeminiKey``: 1-256 printable ASCII characters, no whitespace (a key is sent as an HTTP
  header: anything else could only break the request or leak through its error);
- ``is_reserved_username``: ``bot`` and ``system`` also in look-alike forms.

Each rule raises ``ValueError``, which pydantic reports as a field error (422).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import AfterValidator, BeforeValidator

from chat import redaction

RESERVED_NAMES = frozenset({"bot", "system"})

_SURROGATES = re.compile("[\ud800-\udfff]")
# Characters that render as nothing (category Cf: zero-width space/joiners, word joiner,
# BOM, soft hyphen...) plus the fillers and selectors that are not Cf but show nothing.
_INVISIBLE_EXTRA = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u3164\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)
_GEMINI_KEY = re.compile(r"[\x21-\x7e]{1,256}")  # whole: re.fullmatch


def valid_unicode(value: str) -> str:
    if _SURROGATES.search(value):
        raise ValueError("must be valid Unicode (no lone surrogates)")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _control_characters(value: str, allowed: str = "") -> bool:
    return any(
        unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value if ch < "\xa0"
    )


def single_line(value: str) -> str:
    valid_unicode(value)
    if _control_characters(value):
        raise ValueError("must not contain control characters")
    return value


def multiline(value: str) -> str:
    valid_unicode(value)
    if _control_characters(value, allowed="\n\t"):
        raise ValueError("must not contain control characters other than newlines and tabs")
    return value


def is_invisible(ch: str) -> bool:
    return ch.isspace() or ch in _INVISIBLE_EXTRA or unicodedata.category(ch) == "Cf"


def visible(value: str) -> str:
    if is_blank(value):
        raise ValueError("must not be empty (only whitespace or invisible characters)")
    return value


def is_blank(value: str) -> bool:
    """Empty, or only whitespace and invisible characters."""
    return all(is_invisible(ch) for ch in value)


def blank_if_invisible(value: str) -> str:
    return "" if is_blank(value) else value


def secret(value: Any) -> Any:
    """Before ``SecretStr``: check the raw text and register it for redaction."""
    if isinstance(value, str):
        valid_unicode(value)
        redaction.register(value, transient=True)
    return value


def gemini_key(value: Any) -> Any:
    if isinstance(value, str):
        secret(value)
        if not _GEMINI_KEY.fullmatch(value):
            raise ValueError("must be 1-256 printable ASCII characters without whitespace")
    return value


def is_reserved_username(username: str) -> bool:
    """`bot` and `system`, also case-folded with `.`, `_` and `-` removed (`B.o-t`, `_bot`)."""
    return re.sub(r"[._-]", "", username.casefold()) in RESERVED_NAMES


def not_reserved(username: str) -> str:
    if is_reserved_username(username):
        raise ValueError("this username is reserved")
    return username


# ------------------------------------------------------------------------------ the types
Line = AfterValidator(single_line)
Multiline = AfterValidator(multiline)
Visible = AfterValidator(visible)
BlankIfInvisible = AfterValidator(blank_if_invisible)
Secret = BeforeValidator(secret)
GeminiKey = BeforeValidator(gemini_key)
NotReserved = AfterValidator(not_reserved)
