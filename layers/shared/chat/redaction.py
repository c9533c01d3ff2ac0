"""One redaction of secrets, applied to everything that leaves the process as text.

Secrets are registered where they enter (``register``): the JWT signing key and the shared
Gemini key when read, a room's Gemini key when decrypted, passwords and keys when a request
body is validated (``chat.text_rules``). ``redact`` then replaces every representation of
each registered secret an error message or library could produce:

- the raw text; Python ``repr``/``ascii`` escapes; the bytes ``repr`` (``b'AIza\\n…'``, as
  HTTP clients put it in "Illegal header value" errors); ``unicode_escape``;
- JSON escapes (``ensure_ascii`` on and off), and the JSON escape of each escaped form (a
  repr inside a JSON log line);
- URL encodings (``quote``, ``quote_plus``, every byte percent-encoded, either hex case);
- ``\\xNN`` escapes of every byte, hex, and base64 (what botocore logs of a KMS call);

plus the values of fields that carry secrets by name (``"Plaintext": "…"``,
``"password": "…"``, ``x-goog-api-key``, ``key=`` in a URL), whatever they hold.

Where it is applied (``install``, once per container, from ``chat.observability``):
every log record of every logger (a record factory redacts the message, its arguments and
the formatted exception), the Powertools logger's output stream (so extra keys and the
structured stack trace are covered), the EMF metrics document, and every X-Ray segment
sent (a redacting emitter). Error messages that leave through a response or a frame pass
through ``redact`` in the transports.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6  # shorter strings cannot be anyone's key or password
MAX_TRANSIENT = 8  # request secrets kept (LRU); a container serves one request at a time

_lock = threading.Lock()
_pinned: dict[str, None] = {}
_transient: OrderedDict[str, None] = OrderedDict()
# Every form of every secret, indexed by its first PREFIX characters: a text is scanned
# once for prefixes (a set lookup per position), and only forms whose prefix occurs are
# searched for. One big regex alternation costs milliseconds per line instead.
PREFIX = MIN_SECRET_LENGTH
_index: dict[str, tuple[str, ...]] = {}
_dirty = False

# Values of fields that hold secrets by name, in JSON, Python reprs, headers and URLs.
_SECRET_FIELDS = "|".join(
    [
        *("Plaintext", "SecretString", "SecretBinary", "signing_key"),
        *("password", "gemini_api_key", "api_key", "apiKey", "x-goog-api-key", "X-Goog-Api-Key"),
    ]
)
_FIELD_PATTERNS = (
    # "name": "value"  /  'name': 'value'  /  \"name\": \"value\" (JSON inside JSON)
    re.compile(
        r"(?P<head>(?P<q>\\*[\"'])(?:" + _SECRET_FIELDS + r")(?P=q)\s*:\s*(?P<q2>\\*[\"']))"
        r"(?P<value>.*?)(?P=q2)"
    ),
    # name: value  (HTTP header lines)
    re.compile(r"(?P<head>(?:x-goog-api-key|X-Goog-Api-Key):\s*)(?P<value>[^\s,;'\"}]+)"),
    # ?key=value / &key=value in URLs
    re.compile(r"(?P<head>[?&]key=)(?P<value>[^&\s'\"]+)"),
)


# ------------------------------------------------------------------------------ registry
def register(secret: str | None, *, transient: bool = False) -> None:
    """Redact ``secret`` from now on. Transient secrets (from requests) are kept in a
    bounded LRU; the others for the life of the container."""
    global _dirty
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if secret in _pinned:
            return
        if transient:
            if secret in _transient:
                _transient.move_to_end(secret)
                return
            _transient[secret] = None
            while len(_transient) > MAX_TRANSIENT:
                _transient.popitem(last=False)
        else:
            _transient.pop(secret, None)
            _pinned[secret] = None
        _dirty = True


def _escape_every_byte(data: bytes, fmt: str) -> str:
    return "".join(fmt % byte for byte in data)


def variants(secret: str) -> set[str]:
    """Every representation of ``secret`` that ``redact`` removes."""
    raw = secret.encode("utf-8", "surrogatepass")
    first: set[str] = {
        secret,
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(raw)[2:-1],
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        _escape_every_byte(raw, "%%%02X"),
        _escape_every_byte(raw, "%%%02x"),
        _escape_every_byte(raw, "\\x%02x"),
        _escape_every_byte(raw, "\\x%02X"),
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode("ascii"),
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }
    # A repr inside a JSON document, a JSON string inside a repr, and so on.
    second = {
        escaped
        for form in first
        for escaped in (json.dumps(form)[1:-1], repr(form)[1:-1], quote(form, safe=""))
    }
    return {form for form in first | second if len(form) >= MIN_SECRET_LENGTH}


def _forms_index() -> dict[str, tuple[str, ...]]:
    global _index, _dirty
    if _dirty:
        with _lock:
            if _dirty:
                by_prefix: dict[str, set[str]] = {}
                for secret in (*_pinned, *_transient):
                    for form in variants(secret):
                        by_prefix.setdefault(form[:PREFIX], set()).add(form)
                _index = {prefix: tuple(forms) for prefix, forms in by_prefix.items()}
                _dirty = False
    return _index


# ------------------------------------------------------------------------------ redaction
def redact(text: str) -> str:
    """``text`` without any representation of a registered secret or a secret field."""
    if not isinstance(text, str) or not text:
        return text
    index = _forms_index()
    if index:
        found = {
            form
            for prefix in {text[i : i + PREFIX] for i in range(len(text) - PREFIX + 1)}
            & index.keys()
            for form in index[prefix]
            if form in text
        }
        for form in sorted(found, key=len, reverse=True):  # longest first: no partial leftovers
            text = text.replace(form, REDACTED)
    for field in _FIELD_PATTERNS:
        text = field.sub(_replace_value, text)
    return text


def _replace_value(match: re.Match[str]) -> str:
    whole = match.group(0)
    value = match.group("value")
    if not value:
        return whole
    start = match.start("value") - match.start(0)
    return whole[:start] + REDACTED + whole[start + len(value) :]


def redact_deep(value: Any) -> Any:
    """``value`` with every string inside it (dict keys and values, lists) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        cleaned = redact(text)
        return value if cleaned == text else cleaned.encode("utf-8")
    if isinstance(value, dict):
        return {redact_deep(key): redact_deep(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return type(value)(redact_deep(item) for item in value)
    return value


def redacting(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its result redacted (deeply)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return redact_deep(function(*args, **kwargs))

    wrapper.__wrapped__ = function  # type: ignore[attr-defined]
    return wrapper


# ------------------------------------------------------------------------------ logging
_formatter = logging.Formatter()


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        if record.args:
            record.msg, record.args = record.getMessage(), None
        record.msg = redact_deep(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(_formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
    except Exception:  # a log record must never fail to be made
        record.msg, record.args = redact(str(record.msg)), None


class RedactingFilter(logging.Filter):
    """Redacts a record's message, exception text and extra keys."""

    _STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_record(record)
        for key, value in list(record.__dict__.items()):
            if key not in self._STANDARD and key != "message":
                record.__dict__[key] = redact_deep(value)
        return True


class RedactingStream:
    """A text stream that redacts what is written to it (a log handler's output)."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact(text))

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_installed = False


def install_record_factory() -> None:
    """Redact every log record of every logger in the process as it is made."""
    global _installed
    if _installed:
        return
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def install_on_logger(logger: logging.Logger, handlers: Iterable[logging.Handler] = ()) -> None:
    """Filter ``logger``'s records (their extra keys too) and redact its handlers' output."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    for handler in (*logger.handlers, *handlers):
        stream = getattr(handler, "stream", None)
        if stream is not None and not isinstance(stream, RedactingStream):
            handler.stream = RedactingStream(stream)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ traces
def redacting_emitter(emitter_class: type) -> type:
    """An X-Ray emitter class whose segments are redacted before they are sent."""

    class RedactingEmitter(emitter_class):
        def _send_data(self, data: str) -> None:
            super()._send_data(redact(data))

    return RedactingEmitter
