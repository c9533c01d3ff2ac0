"""chat.adapters.gemini through the real google-genai SDK against the local fake Gemini server."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import httpx2
import pytest

from chat.adapters.gemini import (
    GeminiClient,
    GeminiError,
    GeminiModelError,
    GeminiRateLimited,
    GeminiTimeout,
)
from chat.logic.bot.context import Turn
from local.fake_gemini import FakeGemini, Reply, start

API_KEY = "AIzaFAKE-test-key-0123456789"
MODEL = "gemini-2.5-flash"
SYSTEM = 'You are "bot", an AI assistant taking part in a group chat.'


@pytest.fixture
def client(fake: FakeGemini) -> Iterator[GeminiClient]:
    fake.reset()
    gemini = GeminiClient(API_KEY, base_url=fake.base_url)
    yield gemini
    gemini.close()


def ask(client: GeminiClient, text: str, **kwargs):
    return client.stream_answer(
        model=MODEL,
        system_instruction=SYSTEM,
        contents=[Turn("user", text)],
        timeout=kwargs.pop("timeout", 5.0),
        **kwargs,
    )


def failure(stream) -> GeminiError:
    with pytest.raises(GeminiError) as caught:
        for _ in stream:
            pass
    return caught.value


def test_default_answer_streams_in_several_pieces_and_reports_usage(client: GeminiClient):
    # Given a question, When the answer is streamed
    stream = ask(client, "alice: @bot what is the capital of France?")
    pieces = list(stream)

    # Then it arrives in several pieces that make up the stand-in's answer
    assert len(pieces) > 3
    answer = "".join(pieces)
    assert answer == stream.text
    assert "local stand-in for Gemini" in answer
    assert "what is the capital of France?" in answer
    # And the usage metadata of the last event is read
    assert stream.finish_reason == "STOP"
    assert stream.usage is not None
    assert stream.usage.candidates_tokens == len(answer.split())
    assert stream.usage.prompt_tokens and stream.usage.prompt_tokens > 0
    assert stream.usage.total_tokens == stream.usage.prompt_tokens + stream.usage.candidates_tokens


def test_the_request_carries_the_system_instruction_turns_key_and_deadlines(
    client: GeminiClient, fake: FakeGemini
):
    turns = [
        Turn("user", "alice: hello everyone"),
        Turn("model", "Hello alice!"),
        Turn("user", "bob: @bot summarise please"),
    ]
    stream = client.stream_answer(
        model=MODEL,
        system_instruction=SYSTEM,
        contents=turns,
        timeout=5,
        total_timeout=42.5,
    )
    list(stream)

    [request] = fake.requests
    assert request.method == "streamGenerateContent"
    assert request.model == MODEL
    assert request.api_key == API_KEY
    assert request.system_instruction == SYSTEM
    assert request.turns == [(t.role, t.text) for t in turns]
    # The server-side deadline is the whole answer's, not the stall timeout.
    assert request.headers["X-Server-Timeout"] == "43"


def test_rate_limit_is_transient_and_carries_the_retry_delay(client: GeminiClient):
    error = failure(ask(client, "[fake:429]"))

    assert isinstance(error, GeminiRateLimited)
    assert error.code == "rate_limited"
    assert error.status == 429
    assert error.transient and error.retryable
    assert not error.partial_text
    assert error.retry_after == 7


def test_the_sdk_does_not_retry_by_itself(client: GeminiClient, fake: FakeGemini):
    failure(ask(client, "[fake:503]"))

    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient_model_errors(client: GeminiClient, status: int):
    error = failure(ask(client, f"[fake:{status}]"))

    assert isinstance(error, GeminiModelError)
    assert error.code == "model_error"
    assert error.status == status
    assert error.retryable


def test_a_gateway_deadline_is_a_timeout(client: GeminiClient):
    error = failure(ask(client, "[fake:504]"))

    assert isinstance(error, GeminiTimeout)
    assert error.retryable


def test_unknown_model_is_a_permanent_model_error(client: GeminiClient):
    error = failure(ask(client, "[fake:404]"))

    assert isinstance(error, GeminiModelError)
    assert not error.transient
    assert error.message == "The room's AI model is not available."


def test_no_first_byte_within_the_timeout_is_a_timeout(client: GeminiClient):
    error = failure(ask(client, "[fake:delay=3]", timeout=0.3))

    assert isinstance(error, GeminiTimeout)
    assert error.code == "timeout"
    assert error.retryable


def test_an_answer_overrunning_the_total_timeout_is_a_timeout_keeping_the_text(
    client: GeminiClient,
):
    # 100 words over 5 s against 1.5 s: room for the first words even on a loaded machine.
    stream = ask(client, "[fake:tokens=100,words=1,event_delay=0.05]", total_timeout=1.5)
    error = failure(stream)

    assert isinstance(error, GeminiTimeout)
    assert error.partial_text and not error.retryable
    assert error.partial_text == stream.text
    assert 0 < len(error.partial_text.split()) < 100


def test_a_cut_stream_is_a_model_error_keeping_the_partial_text(client: GeminiClient):
    # Given a stream whose connection drops after 2 events
    stream = ask(client, "[fake:cut=2,words=2]")
    received: list[str] = []

    # When it is read
    with pytest.raises(GeminiModelError) as caught:
        for piece in stream:
            received.append(piece)

    # Then what arrived before the cut is kept, and it is too late to retry
    error = caught.value
    assert len(received) == 2
    assert error.partial_text == "".join(received) == stream.text
    assert error.transient and error.partial_text and not error.retryable
    assert stream.finish_reason is None


def test_a_stream_ending_without_its_final_event_is_a_model_error(client: GeminiClient):
    stream = ask(client, "[fake:end=2,words=2]")
    error = failure(stream)

    assert isinstance(error, GeminiModelError)
    assert error.partial_text == stream.text != ""


def test_a_malformed_event_is_a_permanent_model_error(client: GeminiClient):
    error = failure(ask(client, "[fake:malformed]"))

    assert isinstance(error, GeminiModelError)
    assert not error.transient


def test_an_empty_answer_is_a_model_error(client: GeminiClient, fake: FakeGemini):
    fake.script(Reply(text=""))

    error = failure(ask(client, "anything"))

    assert isinstance(error, GeminiModelError)
    assert not error.transient


def test_scripted_replies_take_precedence_over_the_prompt(client: GeminiClient, fake: FakeGemini):
    fake.script(Reply(status=429), Reply(text="scripted answer"))

    assert isinstance(failure(ask(client, "hello")), GeminiRateLimited)
    assert "".join(ask(client, "[fake:500]")) == "scripted answer"


def test_missing_key_is_rejected_by_the_fake(fake: FakeGemini):
    response = httpx2.post(
        f"{fake.base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )

    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_the_client_refuses_an_empty_key():
    # The SDK would silently use GEMINI_API_KEY from the environment instead.
    with pytest.raises(ValueError):
        GeminiClient("  ", base_url="http://127.0.0.1:9")


def test_a_rejected_key_is_a_permanent_error_that_never_shows_the_key():
    with start(valid_keys={"the-only-valid-key"}) as fake:
        gemini = GeminiClient(API_KEY, base_url=fake.base_url)
        error = failure(ask(gemini, "hello"))
        gemini.close()

    assert isinstance(error, GeminiModelError)
    assert error.status == 400
    assert not error.transient
    assert error.message == "The room's Gemini API key was rejected."
    assert API_KEY not in repr(gemini)


def test_error_texts_never_carry_the_key_even_when_the_server_echoes_it(
    client: GeminiClient, fake: FakeGemini
):
    fake.script(Reply(status=400, message=f"Bad request for key {API_KEY}"))

    error = failure(ask(client, "hello"))

    assert "[redacted]" in error.detail
    assert error.__cause__ is None and error.__suppress_context__
    rendered = "".join(traceback.format_exception(error)) + repr(error)
    assert API_KEY not in rendered


def test_an_unreachable_server_is_a_transient_error():
    gemini = GeminiClient(API_KEY, base_url="http://127.0.0.1:9")  # discard port: refused
    error = failure(ask(gemini, "hello", timeout=1))

    assert isinstance(error, (GeminiModelError, GeminiTimeout))
    assert error.retryable
    assert API_KEY not in str(error)
