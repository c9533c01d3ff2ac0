"""The bot's model: Gemini through the google-genai SDK, the only module that imports it.

``GeminiClient.stream_answer`` streams one answer: iterate it for the text pieces as they
arrive; afterwards it holds the usage metadata and the finish reason. Every failure, at the
first piece or mid-stream, is raised as one of three domain errors named after the
contract's ``bot_error`` codes:

- ``GeminiRateLimited`` (``rate_limited``): HTTP 429. Transient.
- ``GeminiTimeout`` (``timeout``): no connection, no first byte or a stall longer than
  ``timeout``; the answer overrunning ``total_timeout``; HTTP 408/504. Transient.
- ``GeminiModelError`` (``model_error``): any other HTTP error (5xx transient; 4xx such as a
  rejected key or an unknown model not), a connection lost or a stream cut mid-way
  (transient), a malformed response, a blocked or empty answer (not transient).

Each error carries ``partial_text`` (the pieces yielded before it) and ``retryable``
(transient and nothing yielded yet): retrying after text was shown would show it twice.
``refused`` says what the model refused, when the request itself was the problem: the key
(``"key"``: rejected), the key's quota (``"quota"``: 429), the model name (``"model"``:
404) or the content (``"content"``: a blocked prompt or answer); None for failures of the
service or the network. Whose key or model it was decides who must act
(chat.logic.bot.failures).
Error texts never contain the API key: SDK messages are scrubbed and the SDK exception is
not chained (``__cause__`` is None).

``AnswerStream.abort()`` (from any thread) ends an answer early: it shuts the connection's
socket down, so the thread reading the stream wakes at once and the model stops streaming
to us (a stopped answer reads no more tokens). The socket is known from the moment the
response headers arrive (an httpx2 response hook); an abort before that shuts the
connection as soon as they do.

Tools: ``stream_answer(tools=ToolOffer(...))`` offers the model functions (function
calling; the SDK's automatic calling stays off: the caller runs them) and Google Search
grounding. After the iteration ends, ``function_calls`` holds the calls the model asked for
(the round ended without the answer), and ``sources`` and ``web_queries`` what Google Search
grounded the text in. ``exchange(results)`` makes the round's turn and its function results
into an ``Exchange`` the next ``stream_answer(exchanges=...)`` carries: the model's parts are
sent back as they came (thought signatures and server-side tool parts included, as Gemini
asks). Models before Gemini 3 cannot combine Google Search with functions in one request:
they are offered the functions only (``combines_tools``).

Retries are the caller's: the SDK is built with ``HttpRetryOptions(attempts=1)``, so it
never retries by itself. ``base_url`` is None in production; locally and in tests it points
at the fake Gemini (local/fake_gemini.py).
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import socket
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, cast

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from chat import redaction

Refused = Literal["key", "quota", "model", "content"]
# Finish reasons of an answer the model withheld for what it would have said.
_WITHHELD = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)

_REDACTED = "[redacted]"
# The answer stream being read on the current thread (its response hook records the socket).
_reading = threading.local()
_DETAIL_LIMIT = 500


class Turn(Protocol):
    """A turn of the conversation the model answers (chat.logic.bot.context.Turn)."""

    @property
    def role(self) -> str: ...
    @property
    def text(self) -> str: ...


class Blob(Protocol):
    """A file given to the model as inline bytes (chat.logic.bot.context.Blob)."""

    @property
    def mime_type(self) -> str: ...
    @property
    def data(self) -> bytes: ...


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    candidates_tokens: int | None = None
    total_tokens: int | None = None
    thoughts_tokens: int | None = None  # a thinking model's thoughts (billed as output)
    tool_use_prompt_tokens: int | None = None  # the results of its own tools (Google Search)

    @property
    def input_tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.tool_use_prompt_tokens or 0)

    @property
    def output_tokens(self) -> int:
        return (self.candidates_tokens or 0) + (self.thoughts_tokens or 0)


@dataclass(frozen=True)
class FunctionSpec:
    """A function the model may call: its name, what it does, its parameters (JSON Schema)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolOffer:
    """What the model may use besides the conversation. ``may_call`` False: the functions
    are declared but the model must answer in text now (its calls are used up)."""

    functions: tuple[FunctionSpec, ...] = ()
    web_search: bool = False
    may_call: bool = True


@dataclass(frozen=True)
class FunctionCall:
    """A call the model asked for; ``id`` (when the model gave one) goes back with its result."""

    name: str
    args: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Source:
    """A web page a grounded answer cites."""

    title: str
    url: str


@dataclass(frozen=True)
class Exchange:
    """One round's function calls and their results, as the next request shows them: the
    model's turn as it came, then the results."""

    model_turn: types.Content
    results_turn: types.Content


def combines_tools(model: str) -> bool:
    """Whether the model takes Google Search and functions in one request (Gemini 3 on)."""
    match = re.match(r"(?:models/)?gemini-(\d+)", model)
    return match is not None and int(match.group(1)) >= 3


class GeminiError(Exception):
    """A failed answer. ``code`` is the ``bot_error`` code, ``message`` is safe to show."""

    code: ClassVar[str] = "model_error"
    default_message: ClassVar[str] = "The AI model could not answer."
    retry_after: float | None = None  # seconds the model asked us to wait (rate limits)

    def __init__(
        self,
        detail: str,
        *,
        transient: bool,
        partial_text: str = "",
        status: int | None = None,
        message: str | None = None,
        refused: Refused | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.transient = transient
        self.partial_text = partial_text
        self.status = status
        self.message = message or self.default_message
        self.refused = refused

    @property
    def retryable(self) -> bool:
        """Worth another attempt: transient, and no text was handed out yet."""
        return self.transient and not self.partial_text


class GeminiRateLimited(GeminiError):
    code = "rate_limited"
    default_message = "The AI model is getting too many requests. Try again in a moment."

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class GeminiTimeout(GeminiError):
    code = "timeout"
    default_message = "The AI model took too long to answer."


class GeminiModelError(GeminiError):
    code = "model_error"


class AnswerStream:
    """One answer being streamed. Iterate for text pieces; the request starts at the first
    ``next()``. After the iteration ends, ``text``, ``usage`` and ``finish_reason`` hold the
    whole answer's figures; on a ``GeminiError`` they hold what arrived before it."""

    def __init__(
        self,
        client: genai.Client,
        *,
        model: str,
        contents: list[types.Content],
        config: types.GenerateContentConfig,
        total_timeout: float,
        api_key: str,
    ):
        self._client = client
        self._model = model
        self._contents = contents
        self._config = config
        self._total_timeout = total_timeout
        self._api_key = api_key
        self._pieces: list[str] = []
        self._parts: list[types.Part] = []  # the model's parts as they came (for an Exchange)
        self._block_reason: str | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.function_calls: list[FunctionCall] = []
        self.sources: list[Source] = []
        self.web_queries: list[str] = []
        self._response: httpx2.Response | None = None
        self._aborted = False
        self._iterator = self._run()

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        return next(self._iterator)

    def exchange(self, results: Sequence[tuple[FunctionCall, dict[str, Any]]]) -> Exchange:
        """This round's turn and the ``results`` of its function calls (each a JSON object:
        ``{"output": ...}`` or ``{"error": ...}``), for the next request."""
        responses = [
            types.Part(
                function_response=types.FunctionResponse(
                    id=call.id, name=call.name, response=result
                )
            )
            for call, result in results
        ]
        return Exchange(
            model_turn=types.Content(role="model", parts=list(self._parts)),
            results_turn=types.Content(role="user", parts=responses),
        )

    def close(self) -> None:
        """Stop reading (e.g. the caller gave up); safe to call more than once. Only from
        the thread that iterates; ``abort`` is for any other thread."""
        self._iterator.close()

    def abort(self) -> None:
        """End the answer from any thread: the connection is shut down, so the iteration
        stops at once (raising) and no more of the answer is read."""
        self._aborted = True
        response = self._response
        if response is not None:
            _shut_down(response)

    def _run(self) -> Generator[str, None, None]:
        if self._aborted:
            return
        deadline = time.monotonic() + self._total_timeout
        _reading.stream = self
        responses = cast(
            Generator[types.GenerateContentResponse, None, None],
            self._client.models.generate_content_stream(
                model=self._model, contents=self._contents, config=self._config
            ),
        )
        try:
            for response in responses:
                if time.monotonic() > deadline:
                    raise GeminiTimeout(
                        f"the answer took longer than {self._total_timeout:g}s",
                        transient=True,
                        partial_text=self.text,
                    )
                piece = self._observe(response)
                if piece:
                    self._pieces.append(piece)
                    yield piece
        except (genai_errors.APIError, httpx2.HTTPError, ValueError) as exc:
            # Not chained: the SDK's exception text is scrubbed into ours instead.
            raise _domain_error(exc, self.text, self._api_key) from None
        finally:
            # A finished response's connection goes back to the pool: never shut it down.
            self._response = None
            _reading.stream = None
            responses.close()
        self._check_complete()

    def _observe(self, response: types.GenerateContentResponse) -> str:
        if response.usage_metadata is not None:
            meta = response.usage_metadata
            self.usage = Usage(
                prompt_tokens=meta.prompt_token_count,
                candidates_tokens=meta.candidates_token_count,
                total_tokens=meta.total_token_count,
                thoughts_tokens=meta.thoughts_token_count,
                tool_use_prompt_tokens=meta.tool_use_prompt_token_count,
            )
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason:
            self._block_reason = _name(feedback.block_reason)
        if not response.candidates:
            return ""
        candidate = response.candidates[0]
        if candidate.finish_reason:
            self.finish_reason = _name(candidate.finish_reason)
        if candidate.grounding_metadata is not None:
            self._ground(candidate.grounding_metadata)
        parts = (candidate.content.parts if candidate.content else None) or []
        self._parts += parts
        for part in parts:
            call = part.function_call
            if call is not None and call.name:
                self.function_calls.append(FunctionCall(call.name, dict(call.args or {}), call.id))
        return "".join(part.text for part in parts if part.text and not part.thought)

    def _ground(self, meta: types.GroundingMetadata) -> None:
        """The pages and queries of Google Search grounding (they may come in several events)."""
        for query in meta.web_search_queries or ():
            if query and query not in self.web_queries:
                self.web_queries.append(query)
        known = {source.url for source in self.sources}
        for chunk in meta.grounding_chunks or ():
            web = chunk.web
            if web is not None and web.uri and web.uri not in known:
                known.add(web.uri)
                self.sources.append(Source(title=web.title or web.domain or web.uri, url=web.uri))

    def _check_complete(self) -> None:
        if self._block_reason:
            raise GeminiModelError(
                f"the prompt was blocked ({self._block_reason})",
                transient=False,
                partial_text=self.text,
                message="The AI model declined to answer this.",
                refused="content",
            )
        if self.finish_reason is None:
            # The body ended cleanly but the final event never came.
            raise GeminiModelError(
                "the stream ended before the model finished", transient=True, partial_text=self.text
            )
        if not self._pieces and not self.function_calls:
            withheld = self.finish_reason in _WITHHELD
            raise GeminiModelError(
                f"the model returned no text (finish reason {self.finish_reason})",
                transient=False,
                message=(
                    "The AI model declined to answer this."
                    if withheld
                    else "The AI model returned an empty answer."
                ),
                refused="content" if withheld else None,
            )


class GeminiClient:
    """A Gemini API client for one API key. Building one costs tens of milliseconds and
    each keeps its own connection pool: reuse it (see ``client_for``)."""

    def __init__(self, api_key: str, *, base_url: str | None = None):
        api_key = (api_key or "").strip()
        if not api_key:
            # The SDK would fall back to GEMINI_API_KEY / GOOGLE_API_KEY from the environment.
            raise ValueError("a Gemini API key is required")
        self._api_key = api_key
        self.base_url = base_url
        # Our own httpx2 client pins the SDK's transport, so the transport errors to map
        # are httpx2's whatever GOOGLE_GENAI_HTTP_CLIENT says.
        self._http = httpx2.Client(event_hooks={"response": [_track_response]})
        self._client = genai.Client(
            api_key=api_key,
            vertexai=False,
            http_options=types.HttpOptions(
                base_url=base_url,
                httpx_client=self._http,
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    def __repr__(self) -> str:
        return f"GeminiClient(base_url={self.base_url!r})"

    def stream_answer(
        self,
        *,
        model: str,
        system_instruction: str,
        contents: Sequence[Turn],
        timeout: float = 20.0,
        total_timeout: float = 120.0,
        max_output_tokens: int | None = None,
        file_parts: Sequence[str | Blob] = (),
        tools: ToolOffer | None = None,
        exchanges: Sequence[Exchange] = (),
    ) -> AnswerStream:
        """Stream the model's answer to ``contents`` (oldest turn first, ending with a user
        turn). ``file_parts`` (texts and inline files) go before the last turn's text;
        ``exchanges`` (the earlier rounds' function calls and results) after it.

        ``timeout`` bounds connecting, the wait for the first byte and any stall between
        bytes; ``total_timeout`` bounds the whole answer (checked as pieces arrive, and
        sent to Gemini as its server-side deadline).
        """
        config = types.GenerateContentConfig(
            system_instruction=system_instruction or None,
            max_output_tokens=max_output_tokens,
            **_tool_config(model, tools),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            http_options=types.HttpOptions(
                timeout=max(1, round(timeout * 1000)),
                # The SDK would otherwise tell the server to give up after `timeout`.
                headers={"X-Server-Timeout": str(math.ceil(total_timeout))},
            ),
        )
        return AnswerStream(
            self._client,
            model=model,
            contents=_contents(contents, file_parts, exchanges),
            config=config,
            total_timeout=total_timeout,
            api_key=self._api_key,
        )

    def close(self) -> None:
        self._client.close()
        self._http.close()


def _part(part: str | Blob) -> types.Part:
    if isinstance(part, str):
        return types.Part(text=part)
    return types.Part.from_bytes(data=part.data, mime_type=part.mime_type)


def _contents(
    turns: Sequence[Turn], file_parts: Sequence[str | Blob], exchanges: Sequence[Exchange] = ()
) -> list[types.Content]:
    contents = [types.Content(role=turn.role, parts=[types.Part(text=turn.text)]) for turn in turns]
    if file_parts and contents:
        last = contents[-1]
        last.parts = [*(_part(part) for part in file_parts), *(last.parts or [])]
    for exchange in exchanges:
        contents += [exchange.model_turn, exchange.results_turn]
    return contents


def _tool_config(model: str, offer: ToolOffer | None) -> dict[str, Any]:
    """The ``tools`` and ``tool_config`` of a request offering ``offer``."""
    if offer is None or not (offer.functions or offer.web_search):
        return {}
    tool = types.Tool()
    config = types.ToolConfig()
    if offer.functions:
        tool.function_declarations = [
            types.FunctionDeclaration(
                name=spec.name,
                description=spec.description,
                parameters_json_schema=spec.parameters,
            )
            for spec in offer.functions
        ]
        modes = types.FunctionCallingConfigMode
        config.function_calling_config = types.FunctionCallingConfig(
            mode=modes.AUTO if offer.may_call else modes.NONE
        )
    if offer.web_search and (not offer.functions or combines_tools(model)):
        tool.google_search = types.GoogleSearch()
        if offer.functions:
            # Gemini 3 answers with its own search's parts, to be sent back with the rest.
            config.include_server_side_tool_invocations = True
    return {"tools": [tool], "tool_config": config if offer.functions else None}


@functools.lru_cache(maxsize=8)
def client_for(api_key: str, base_url: str | None = None) -> GeminiClient:
    """A client per (key, base URL), kept across warm invocations."""
    return GeminiClient(api_key, base_url=base_url)


def _track_response(response: httpx2.Response) -> None:
    """httpx2 response hook (on the reading thread): remember the response of the stream
    being read, so ``abort`` can reach its socket."""
    stream = getattr(_reading, "stream", None)
    if stream is not None:
        stream._response = response
        if stream._aborted:
            _shut_down(response)


def _shut_down(response: httpx2.Response) -> None:
    """Shut the response's connection down (both ways): a read blocked on it returns."""
    network_stream = response.extensions.get("network_stream")
    sock = network_stream.get_extra_info("socket") if network_stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also under TLS: the reading thread's TLS read
            # fails at once instead of its state being torn down under it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _domain_error(exc: Exception, partial_text: str, api_key: str) -> GeminiError:
    detail = _scrub(f"{type(exc).__name__}: {exc}", api_key)
    if isinstance(exc, genai_errors.APIError):
        return _from_status(exc, detail, partial_text)
    if isinstance(exc, httpx2.TimeoutException):
        return GeminiTimeout(detail, transient=True, partial_text=partial_text)
    if isinstance(exc, httpx2.TransportError):
        # Refused or dropped connections, and streams cut mid-way.
        return GeminiModelError(detail, transient=True, partial_text=partial_text)
    # Unparseable or unexpected response data.
    return GeminiModelError(detail, transient=False, partial_text=partial_text)


def _from_status(exc: genai_errors.APIError, detail: str, partial_text: str) -> GeminiError:
    status = exc.code
    details = _error_details(exc.details)
    if status == 429:
        return GeminiRateLimited(
            detail,
            retry_after=_retry_delay(details),
            transient=True,
            partial_text=partial_text,
            status=status,
            refused="quota",
        )
    if status in (408, 504):
        return GeminiTimeout(detail, transient=True, partial_text=partial_text, status=status)
    message: str | None = None
    refused: Refused | None = None
    if status in (401, 403) or any(d.get("reason") == "API_KEY_INVALID" for d in details):
        message, refused = "The room's Gemini API key was rejected.", "key"
    elif status == 404:
        message, refused = "The room's AI model is not available.", "model"
    return GeminiModelError(
        detail,
        transient=status >= 500,
        partial_text=partial_text,
        status=status,
        message=message,
        refused=refused,
    )


def _error_details(body: Any) -> list[dict[str, Any]]:
    """The ``details`` of a Gemini error body (google.rpc.Status): ErrorInfo, RetryInfo..."""
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail (``"retryDelay": "7s"``), if any."""
    for item in details:
        if str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _scrub(text: str, api_key: str) -> str:
    redaction.register(api_key)  # every form of it: raw, escaped, encoded
    text = redaction.redact(text.replace(api_key, _REDACTED))
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))
