"""A local stand-in for the Gemini API that speaks its HTTP protocol.

The bot talks to it through the real google-genai SDK (``GEMINI_BASE_URL`` points the SDK
here), so the SDK's URL building, headers, SSE parsing and error mapping are all exercised
without the internet.

Served routes (any API version, any model):

- ``POST /{version}/models/{model}:streamGenerateContent?alt=sse`` - the answer as
  server-sent events, a few words per event; the last event has ``finishReason`` and
  ``usageMetadata``.
- ``POST /{version}/models/{model}:generateContent`` - the same answer in one response.

Parts may be text or inline files (``inlineData`` with ``mimeType`` and base64 ``data``,
what the SDK's ``Part.from_bytes`` sends); a malformed inline part gets Gemini's 400. The
default answer reports the inline files it received (count, types, sizes), so tests can
prove what the model was given.

Requests without an API key (``x-goog-api-key`` header or ``?key=``) get Gemini's 403;
with ``valid_keys`` set, unknown keys get Gemini's 400 ``API_KEY_INVALID``. Every request
is recorded in ``FakeGemini.requests``, with how many events of its answer were sent and
whether the client went away before the end (``events_sent``, ``disconnected``).

Tools, as Gemini speaks them: ``[fake:tool=room_search,query=WORDS]`` answers a request
that declares the ``room_search`` function (and does not forbid calls: function calling
mode ``NONE``) with a ``functionCall`` part ``room_search({"query": WORDS})`` carrying a
``thoughtSignature``; each further ``query=`` is one more call, one per request. A request
whose contents end with ``functionResponse`` parts is answered one line per message found
in the request (``message_id: content``, from every round's results). Like Gemini 3, a request whose model turn carries a
``functionCall`` without the signature the fake gave it gets a 400. ``[fake:sources=N]``
answers, when the request offered the ``googleSearch`` tool, with ``groundingMetadata``
citing N pages (``groundingChunks[].web``, ``groundingSupports``, ``webSearchQueries``);
``[fake:usage=IN/OUT]`` reports IN prompt and OUT candidates tokens (in every response).
``[fake:context]`` answers with the context it was given, one line per message,
``username: content``, oldest first (``context_lines``): tests read what a bot sees.

What the fake answers is chosen per request, first match wins:

1. the next scripted ``Reply`` queued with ``FakeGemini.script(...)``;
2. the last directive in the last user turn, e.g. ``[fake:429]``, ``[fake:delay=5]``,
   ``[fake:tokens=200,seconds=2]``, ``[fake:cut=3]`` (see ``Reply.from_directive``);
3. the default: a short answer saying it is a local stand-in, echoing the last line of
   the last user turn (the command, when several messages were merged into that turn).

With ``faults`` (local.faults' ``gemini`` faults: ``start(faults=...)``), a share of the
requests fail as Gemini fails: ``429`` (with a ``RetryInfo`` of 1-20 s), ``500``, ``503``,
or ``cut``: the stream breaks off after at least one event (when the answer has more than
one), whatever the request asked for.

In-process: ``fake = start(); ...; fake.stop()`` (or ``with start() as fake:``).
Standalone: ``python -m local.fake_gemini --port 8089``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import itertools
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from local.faults import Fault, FaultPlan, Faults

# HTTP status -> google.rpc status name, as Gemini reports them.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ERROR_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API.",
    404: "models/unknown is not found for API version v1beta.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
}
_DIRECTIVE = re.compile(r"\[fake:([^\]]*)\]")
_ECHO_LIMIT = 300
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"


@dataclass
class Reply:
    """How the fake answers one request.

    ``status`` other than 200 answers with a Gemini-shaped error of that status (and
    ``message``, if given, instead of Gemini's usual text for it). Otherwise
    the answer is ``text`` (default: the stand-in answer echoing the prompt), or ``tokens``
    synthetic words, sent ``words_per_event`` words per SSE event, ``event_delay`` seconds
    apart (``seconds`` instead spreads the whole answer over that duration).
    ``first_byte_delay`` waits before the response headers. ``cut_after`` aborts the
    connection after that many events (the HTTP body is left incomplete); ``end_after``
    ends the body cleanly after that many events but without the final ``finishReason``
    event. ``malformed`` sends an event whose data is not JSON.
    """

    status: int = 200
    message: str | None = None
    text: str | None = None
    tokens: int | None = None
    words_per_event: int = 3
    event_delay: float = 0.02
    seconds: float | None = None
    first_byte_delay: float = 0.0
    cut_after: int | None = None
    end_after: int | None = None
    malformed: bool = False
    finish_reason: str = "STOP"
    retry_after_s: int = 7
    tool: str | None = None  # a function to call first (``room_search``)
    queries: list[str] = field(default_factory=list)  # its calls' queries, one per request
    sources: int | None = None  # pages a grounded answer cites (with google_search offered)
    usage: tuple[int, int] | None = None  # (prompt, candidates) tokens reported
    context: bool = False  # answer with the context it was given, one line per message

    @classmethod
    def from_directive(cls, directive: str) -> Reply:
        """Parse the inside of ``[fake:...]``: comma-separated ``key=value`` pairs and flags.

        A bare number is an HTTP status (``429``, ``500``, ``503`` ...). Keys: ``tokens``,
        ``seconds``, ``words`` (per event), ``delay`` (before the first byte), ``event_delay``,
        ``cut`` (abort after N events), ``end`` (end without finishReason after N events),
        ``finish`` (finishReason), ``text`` (without commas), ``tool`` (``room_search``),
        ``query`` (once per call), ``sources``, ``usage`` (``IN/OUT``). Flags: ``malformed``,
        ``context`` (the answer lists the context it was given, ``context_lines``).
        """
        reply = cls()
        for item in filter(None, (part.strip() for part in directive.split(","))):
            key, _, value = item.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if key.isdigit():
                reply.status = int(key)
            elif key == "malformed":
                reply.malformed = True
            elif key == "context":
                reply.context = True
            elif key == "query":
                reply.queries.append(value)
            elif key == "tool" and value != "room_search":
                raise ValueError(f"unknown fake tool {value!r}")
            elif key in _DIRECTIVE_KEYS:
                name, convert = _DIRECTIVE_KEYS[key]
                setattr(reply, name, convert(value))
            else:
                raise ValueError(f"unknown fake directive {item!r}")
        return reply


_DIRECTIVE_KEYS: dict[str, tuple[str, Any]] = {
    "tokens": ("tokens", int),
    "seconds": ("seconds", float),
    "words": ("words_per_event", int),
    "delay": ("first_byte_delay", float),
    "event_delay": ("event_delay", float),
    "cut": ("cut_after", int),
    "end": ("end_after", int),
    "finish": ("finish_reason", str),
    "text": ("text", str),
    "tool": ("tool", str),
    "sources": ("sources", int),
    "usage": ("usage", lambda value: _token_pair(value)),
}


def _token_pair(value: str) -> tuple[int, int]:
    """``IN/OUT`` of ``usage=IN/OUT``."""
    prompt, slash, answer = value.partition("/")
    if not slash:
        raise ValueError(f"usage must be IN/OUT, not {value!r}")
    return int(prompt), int(answer)


@dataclass
class RecordedRequest:
    """One request the fake received."""

    api_version: str
    model: str
    method: str  # "streamGenerateContent" | "generateContent"
    api_key: str | None
    headers: dict[str, str]
    body: Any  # the parsed JSON body (None if it was not JSON)
    events_sent: int = 0  # SSE events of the answer written so far
    disconnected: bool = False  # the client went away before the answer ended

    @property
    def system_instruction(self) -> str:
        return _text_of((self.body or {}).get("systemInstruction") or {})

    @property
    def files(self) -> list[tuple[str, int]]:
        """The inline files of the request's contents, in order: (mime type, size in bytes)."""
        return [
            (blob["mimeType"], len(_b64decode(blob["data"])))
            for blob in _inline_blobs((self.body or {}).get("contents") or [])
        ]

    @property
    def turns(self) -> list[tuple[str, str]]:
        """The request's contents as (role, text) pairs."""
        return [
            (content.get("role", "user"), _text_of(content))
            for content in (self.body or {}).get("contents") or []
        ]


@dataclass
class FakeGemini:
    """A running fake; create it with ``start()``."""

    base_url: str
    valid_keys: frozenset[str] | None = None
    faults: Faults | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    _queue: collections.deque[Reply] = field(default_factory=collections.deque)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None
    _ids: itertools.count = field(default_factory=itertools.count)
    _signatures: set[bytes] = field(default_factory=set)  # thought signatures handed out

    def script(self, *replies: Reply) -> None:
        """Queue replies: each request takes the next one before directives are looked at."""
        self._queue.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests and scripted replies not used yet."""
        self.requests.clear()
        self._queue.clear()

    def stop(self) -> None:
        if self._loop is None or self._runner is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> FakeGemini:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- request handling (runs on the fake's event loop) ------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        if method not in ("streamGenerateContent", "generateContent") or not model:
            return _error(404, f"Method not found: {request.match_info['target']}")
        api_key = request.headers.get("x-goog-api-key") or request.query.get("key")
        try:
            body = await request.json()
        except ValueError:
            body = None
        recorded = RecordedRequest(
            api_version=request.match_info["api_version"],
            model=model,
            method=method,
            api_key=api_key,
            headers=dict(request.headers),
            body=body,
        )
        self.requests.append(recorded)
        if not api_key:
            return _error(403)
        if self.valid_keys is not None and api_key not in self.valid_keys:
            return _error(
                400, "API key not valid. Please pass a valid API key.", details=[_KEY_INVALID]
            )
        if not isinstance(body, dict) or not body.get("contents"):
            return _error(400, "* GenerateContentRequest.contents: contents is not specified")

        problem = _check_inline_parts(body["contents"]) or self._check_signatures(body)
        if problem:
            return _error(400, problem)
        files = [
            (blob["mimeType"], len(_b64decode(blob["data"])))
            for blob in _inline_blobs(body["contents"])
        ]
        prompt = [_text_of(content) for content in body["contents"]]
        asked = _last_user_text(body["contents"])
        try:
            reply = self._queue.popleft() if self._queue else _reply_for(asked)
        except ValueError as exc:
            return _error(400, str(exc))
        fault = self.faults.next() if self.faults is not None else None
        if fault is not None and fault.kind != "cut":
            return _fault_error(fault, method, model)
        if reply.first_byte_delay:
            await asyncio.sleep(reply.first_byte_delay)
        if reply.status == 429:
            return _error(429, reply.message, details=[_retry_info(reply.retry_after_s)])
        if reply.status != 200:
            return _error(reply.status, reply.message)

        answer = self._answer(reply, body, asked, files)
        usage = _usage(prompt, answer.words, reply.usage)
        response_id = f"fake-{next(self._ids)}"
        if fault is not None:  # a cut: the stream breaks off after at least one event
            events = max(1, -(-len(answer.words) // max(1, reply.words_per_event)))
            cut = 1 + int(fault.variant * (events - 1)) if events > 1 else 0
            fault.log(f"{method} {model}: the connection breaks after {cut} of {events} events")
            if method == "generateContent" or cut == 0:
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            reply = dataclasses.replace(
                reply, cut_after=cut if reply.cut_after is None else min(cut, reply.cut_after)
            )
        if method == "generateContent":
            await asyncio.sleep(reply.event_delay)
            return web.json_response(
                _event(
                    model, response_id, "".join(answer.words), reply.finish_reason, usage, answer
                )
            )
        try:
            return await self._stream(request, recorded, reply, model, response_id, answer, usage)
        except (asyncio.CancelledError, ConnectionResetError):
            recorded.disconnected = True  # the client closed the stream mid-answer
            raise

    async def _stream(
        self,
        request: web.Request,
        recorded: RecordedRequest,
        reply: Reply,
        model: str,
        response_id: str,
        answer: _Answer,
        usage: dict[str, int],
    ) -> web.StreamResponse:
        words = answer.words
        pieces = [
            "".join(words[i : i + reply.words_per_event])
            for i in range(0, len(words), max(1, reply.words_per_event))
        ] or [""]
        delay = reply.seconds / len(pieces) if reply.seconds is not None else reply.event_delay
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for index, piece in enumerate(pieces):
            if index == reply.cut_after:
                # Leave the chunked body incomplete: the client sees the peer vanish.
                assert request.transport is not None
                request.transport.close()
                return response
            if index == reply.end_after:
                break
            if reply.malformed and index == len(pieces) // 2:
                await response.write(b'data: {"candidates": [{"content": \r\n\r\n')
            last = index == len(pieces) - 1
            event = _event(
                model,
                response_id,
                piece,
                reply.finish_reason if last else None,
                usage if last else None,
                answer if last else None,
            )
            await response.write(f"data: {json.dumps(event)}\r\n\r\n".encode())
            recorded.events_sent += 1
            if not last:
                await asyncio.sleep(delay)
        await response.write_eof()
        return response

    def _check_signatures(self, body: dict[str, Any]) -> str | None:
        """Gemini 3's complaint about a function call sent back without its signature."""
        for content in body["contents"]:
            for part in _parts(content):
                if "functionCall" in part or "function_call" in part:
                    signature = part.get("thoughtSignature", part.get("thought_signature"))
                    try:
                        known = _b64decode(str(signature)) in self._signatures
                    except ValueError:
                        known = False
                    if not known:
                        return "Function call is missing a thought_signature in functionCall parts."
        return None

    def _answer(
        self, reply: Reply, body: dict[str, Any], asked: str, files: list[tuple[str, int]]
    ) -> _Answer:
        """What this request is answered: a function call, the lines of the function results
        it carries, or words (grounded when asked and offered)."""
        offered = _offered(body)
        calls_made = _calls_before(body["contents"])
        calling = reply.tool in offered.functions and offered.may_call
        if reply.tool and calling and calls_made < len(reply.queries):
            signature = f"fake-signature-{next(self._ids)}".encode()
            self._signatures.add(signature)
            call = {
                "functionCall": {
                    "id": f"fake-call-{calls_made + 1}",
                    "name": reply.tool,
                    "args": {"query": reply.queries[calls_made]},
                },
                "thoughtSignature": base64.b64encode(signature).decode(),
            }
            return _Answer(words=[], call=call)
        ended_with_results = any(
            _function_response(part) is not None for part in _parts(body["contents"][-1])
        )
        results = [
            response
            for content in body["contents"]
            for part in _parts(content)
            if (response := _function_response(part)) is not None
        ]
        if ended_with_results and reply.text is None and reply.tokens is None:
            return _Answer(words=_result_lines(results))
        if reply.context:
            text = "\n".join(context_lines(body))
            return _Answer(words=re.findall(r"\S+\s*|\s+", text))
        if reply.sources is not None and offered.google_search:
            text = f"A grounded answer citing {reply.sources} web pages."
            words = re.findall(r"\S+\s*|\s+", text)
            return _Answer(words=words, grounding=_grounding(reply.sources, asked, text))
        return _Answer(words=_answer_words(reply, asked, files))


def context_lines(body: dict[str, Any]) -> list[str]:
    """The context a request gave, one line per message, ``username: content``, oldest
    first: the user turns' lines as the bot wrote them (``alice: hi``), the model's own
    turns under the name its system instruction gives it (``You are "reviewer"``)."""
    system = _text_of(body.get("systemInstruction") or body.get("system_instruction") or {})
    named = re.search(r'You are "([^"]+)"', system)
    own = named.group(1) if named else "model"
    lines: list[str] = []
    for content in body.get("contents") or []:
        texts = [part["text"] for part in _parts(content) if isinstance(part.get("text"), str)]
        if not texts:
            continue  # function calls and their results
        if content.get("role") == "model":
            lines += [f"{own}: {line}" for line in texts[-1].splitlines() if line.strip()]
        else:  # the message turns are its last text part (files' texts come before it)
            lines += [line for line in texts[-1].splitlines() if line.strip()]
    return lines


@dataclass
class _Answer:
    words: list[str]
    call: dict[str, Any] | None = None  # a functionCall part (the answer is that alone)
    grounding: dict[str, Any] | None = None  # groundingMetadata of the last event


@dataclass
class _Offered:
    functions: frozenset[str]
    google_search: bool
    may_call: bool


def _offered(body: dict[str, Any]) -> _Offered:
    """The tools a request offers: its functions' names, Google Search, whether calls may
    be made (function calling mode not NONE)."""
    functions: set[str] = set()
    google_search = False
    for tool in body.get("tools") or []:
        declarations = tool.get("functionDeclarations", tool.get("function_declarations")) or []
        functions |= {d.get("name") for d in declarations if isinstance(d, dict)}
        google_search = google_search or "googleSearch" in tool or "google_search" in tool
    tool_config = body.get("toolConfig", body.get("tool_config")) or {}
    calling = tool_config.get("functionCallingConfig", tool_config.get("function_calling_config"))
    mode = str((calling or {}).get("mode", "AUTO")).upper()
    return _Offered(frozenset(functions), google_search, mode != "NONE")


def _parts(content: Any) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts or [] if isinstance(part, dict)]


def _function_response(part: dict[str, Any]) -> dict[str, Any] | None:
    response = part.get("functionResponse", part.get("function_response"))
    return response if isinstance(response, dict) else None


def _calls_before(contents: list[Any]) -> int:
    """Function results in earlier turns (each a call already made)."""
    return sum(
        1
        for content in contents
        for part in _parts(content)
        if _function_response(part) is not None
    )


def _result_lines(results: list[dict[str, Any]]) -> list[str]:
    """One line per message the function results hold (each once), ``message_id: content``."""
    lines: list[str] = []
    for result in results:
        response = result.get("response") or {}
        if "error" in response:
            lines.append(f"error: {response['error']}")
            continue
        output = response.get("output", response)
        for message in output.get("messages", []) if isinstance(output, dict) else []:
            line = f"{message.get('message_id')}: {message.get('content')}"
            if line not in lines:
                lines.append(line)
    text = "\n".join(lines) if lines else "No messages found."
    return re.findall(r"\S+\s*|\s+", text)


def _grounding(pages: int, asked: str, text: str) -> dict[str, Any]:
    """Google Search grounding metadata citing ``pages`` pages for the whole answer."""
    # What a model would search for: the request's last line, without the directives, the
    # speaker's name and the bot's address.
    line = asked.strip().splitlines()[-1] if asked.strip() else ""
    line = re.sub(r"^[^\s:]+:\s*", "", _DIRECTIVE.sub(" ", line))
    query = " ".join(word for word in line.split() if not word.startswith(("@", "/")))
    chunks = [
        {"web": {"uri": f"https://example.com/fake-page-{n}", "title": f"Fake page {n}"}}
        for n in range(1, pages + 1)
    ]
    supports = (
        [
            {
                "segment": {"startIndex": 0, "endIndex": len(text.encode()), "text": text},
                "groundingChunkIndices": list(range(pages)),
            }
        ]
        if pages
        else []
    )
    return {
        "webSearchQueries": [query or "fake query"],
        "searchEntryPoint": {"renderedContent": "<div>fake search suggestions</div>"},
        "groundingChunks": chunks,
        "groundingSupports": supports,
    }


def _last_user_text(contents: list[Any]) -> str:
    """The text of the last user turn that has any (a function results turn has none)."""
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            text = _text_of(content)
            if text:
                return text
    return ""


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    valid_keys: set[str] | None = None,
    faults: Faults | None = None,
) -> FakeGemini:
    """Start a fake Gemini server on a background thread; port 0 picks a free port.
    ``faults`` (local.faults, service ``gemini``) makes a share of its answers fail."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    fake = FakeGemini(
        base_url=f"http://{bound_host}:{bound_port}",
        valid_keys=frozenset(valid_keys) if valid_keys is not None else None,
        faults=faults,
    )
    # Requests carry inline files (base64): room for the bot's 20 MiB of them and more.
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app.router.add_post("/{api_version}/models/{target}", fake._handle)
    # Cancel a handler whose client went away (e.g. a client timing out on a delay).
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=serve, name="fake-gemini", daemon=True)
    thread.start()
    if not ready.wait(timeout=10):
        raise RuntimeError("fake Gemini did not start")
    fake._loop, fake._runner, fake._thread = loop, runner, thread
    return fake


def _reply_for(last_user_text: str) -> Reply:
    # The last directive: a merged user turn may hold earlier messages' directives too.
    directives = _DIRECTIVE.findall(last_user_text)
    return Reply.from_directive(directives[-1]) if directives else Reply()


def _fault_error(fault: Fault, method: str, model: str) -> web.Response:
    status = int(fault.kind)
    fault.log(f"{method} {model} -> {status} {_STATUS_NAMES[status]}")
    if status == 429:
        return _error(429, details=[_retry_info(1 + int(fault.variant * 20))])
    return _error(status)


def _retry_info(seconds: int) -> dict[str, str]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}


def _text_of(content: dict[str, Any]) -> str:
    """The text of a Content: its text parts joined."""
    return "".join(part.get("text", "") for part in content.get("parts") or [])


def _inline_blobs(contents: list[Any]) -> list[Any]:
    """The inline parts' blobs, as ``{"mimeType", "data"}``. Like Gemini (proto JSON), the
    fake takes each field name in camelCase or snake_case: the SDK sends ``inlineData``
    with ``mime_type``."""
    blobs = []
    for content in contents:
        for part in (content.get("parts") or []) if isinstance(content, dict) else []:
            if not isinstance(part, dict):
                continue
            blob = part.get("inlineData", part.get("inline_data"))
            if blob is None:
                continue
            if isinstance(blob, dict):
                blob = {
                    "mimeType": blob.get("mimeType", blob.get("mime_type")),
                    "data": blob.get("data"),
                }
            blobs.append(blob)
    return blobs


def _b64decode(text: str) -> bytes:
    """Bytes fields in proto JSON: standard or URL-safe base64 (the SDK sends URL-safe)."""
    return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)


# What Gemini takes inline (a subset: the types this project sends and their kin).
_INLINE_PREFIXES = ("image/", "audio/", "video/", "text/", "application/pdf")


def _check_inline_parts(contents: list[Any]) -> str | None:
    """Gemini's complaint about a malformed inline part, if any (None when all are fine)."""
    for blob in _inline_blobs(contents):
        if not isinstance(blob, dict) or not blob.get("mimeType"):
            return "* GenerateContentRequest.contents.parts.inline_data.mime_type: required"
        if not str(blob["mimeType"]).startswith(_INLINE_PREFIXES):
            return f"Unsupported MIME type: {blob['mimeType']}"
        try:
            _b64decode(blob.get("data") or "")
        except ValueError:
            return "Invalid value at 'contents.parts.inline_data.data' (TYPE_BYTES): invalid base64"
    return None


def _answer_words(
    reply: Reply, last_user_text: str, files: list[tuple[str, int]] | None = None
) -> list[str]:
    """The answer as words that each carry their trailing space (so they concatenate)."""
    if reply.tokens is not None:
        filler = _FILLER.split()
        text = " ".join(filler[i % len(filler)] for i in range(reply.tokens)) + "."
    elif reply.text is not None:
        text = reply.text
    else:
        # The last line: the command, when the bot's context merged several messages.
        lines = last_user_text.strip().splitlines() or [""]
        asked = " ".join(lines[-1].split())
        if len(asked) > _ECHO_LIMIT:
            asked = asked[: _ECHO_LIMIT - 1] + "…"
        text = (
            "I am a local stand-in for Gemini, not the real model, so I cannot really "
            f'answer. You asked: "{asked}"'
        )
        if files:
            listed = ", ".join(f"{mime} ({size} bytes)" for mime, size in files)
            text += f" I received {len(files)} file{'s' if len(files) != 1 else ''}: {listed}."
    return re.findall(r"\S+\s*|\s+", text)


def _usage(
    prompt: list[str], words: list[str], given: tuple[int, int] | None = None
) -> dict[str, int]:
    # One token per whitespace-separated word: crude, deterministic.
    prompt_tokens = sum(len(text.split()) for text in prompt)
    answer_tokens = sum(len(word.split()) for word in words)
    if given is not None:
        prompt_tokens, answer_tokens = given
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": answer_tokens,
        "totalTokenCount": prompt_tokens + answer_tokens,
    }


def _event(
    model: str,
    response_id: str,
    text: str,
    finish_reason: str | None,
    usage: dict[str, int] | None,
    answer: _Answer | None = None,
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text}]
    if answer is not None and answer.call is not None:
        parts = [answer.call]
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish_reason:
        candidate["finishReason"] = finish_reason
    if answer is not None and answer.grounding is not None:
        candidate["groundingMetadata"] = answer.grounding
    candidate["index"] = 0
    event: dict[str, Any] = {"candidates": [candidate]}
    if usage:
        event["usageMetadata"] = usage
    event["modelVersion"] = model
    event["responseId"] = response_id
    return event


def _error(
    status: int, message: str | None = None, *, details: list[dict[str, Any]] | None = None
) -> web.Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message or _ERROR_MESSAGES.get(status, "Error."),
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Gemini server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--faults", default="", help="e.g. gemini=0.1 (local.faults)")
    parser.add_argument("--fault-seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    fake = start(
        args.host, args.port, faults=FaultPlan.parse(args.faults, args.fault_seed).faults("gemini")
    )
    print(f"fake Gemini listening on {fake.base_url} (GEMINI_BASE_URL={fake.base_url})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
