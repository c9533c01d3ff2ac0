"""The forms a secret takes when a library or an error message prints it."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus


def forms(secret: str) -> dict[str, str]:
    """Each representation of ``secret`` a log line could hold, by name."""
    raw = secret.encode("utf-8")
    found = {
        "raw": secret,
        "repr": repr(secret)[1:-1],
        "bytes repr": repr(raw)[2:-1],
        "json": json.dumps(secret)[1:-1],
        "json of repr": json.dumps(repr(raw))[1:-1],
        "url": quote(secret, safe=""),
        "url plus": quote_plus(secret),
        "base64": base64.b64encode(raw).decode(),
    }
    return found


def leaks(secret: str, text: str) -> list[str]:
    """The names of the forms of ``secret`` that appear in ``text``."""
    return [name for name, form in forms(secret).items() if form in text]
