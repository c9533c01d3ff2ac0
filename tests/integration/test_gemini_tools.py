"""chat.adapters.gemini's tools through the real google-genai SDK against the fake Gemini:
function calls and the results sent back (thought signatures included), Google Search
grounding read into sources, usage as reported, and what each request offers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chat.adapters.gemini import (
    FunctionSpec,
    GeminiClient,
    GeminiModelError,
    Source,
    ToolOffer,
    combines_tools,
)
from chat.logic.bot.context import Turn
from local.fake_gemini import FakeGemini, Reply

API_KEY = "AIzaFAKE-tools-key-0123456789"
SEARCH = FunctionSpec(
    "room_search",
    "Search the room.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


@pytest.fixture
def client(fake: FakeGemini) -> Iterator[GeminiClient]:
    fake.reset()
    gemini = GeminiClient(API_KEY, base_url=fake.base_url)
    yield gemini
    gemini.close()


def ask(client: GeminiClient, text: str, model: str = "gemini-2.5-flash", **kwargs):
    return client.stream_answer(
        model=model, system_instruction="sys", contents=[Turn("user", text)], timeout=5.0, **kwargs
    )


def test_a_function_call_round_trip_sends_the_models_turn_back_as_it_came(client, fake):
    # Given the model calls room_search first
    offer = ToolOffer(functions=(SEARCH,))
    text = "alice: @bot what did we say? [fake:tool=room_search,query=friday plans]"
    first = ask(client, text, tools=offer)
    assert list(first) == []  # no text: the round ended with the call
    (call,) = first.function_calls
    assert (call.name, call.args, call.id) == (
        "room_search",
        {"query": "friday plans"},
        "fake-call-1",
    )

    # When its result goes back with the round's turn
    found = {"output": {"messages": [{"message_id": "m1", "content": "friday: deploy"}]}}
    exchange = first.exchange([(call, found)])
    second = ask(client, text, tools=offer, exchanges=[exchange])

    # Then the model answers from it, and the request carried the call with its signature
    assert "".join(second) == "m1: friday: deploy"
    assert second.function_calls == []
    model_turn, results_turn = fake.requests[-1].body["contents"][1:]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"]["name"] == "room_search"
    assert model_turn["parts"][0]["thoughtSignature"]
    assert results_turn["parts"] == [
        {"functionResponse": {"id": "fake-call-1", "name": "room_search", "response": found}}
    ]


def test_a_function_call_sent_back_without_its_signature_is_refused(client, fake):
    first = ask(client, "[fake:tool=room_search,query=x]", tools=ToolOffer(functions=(SEARCH,)))
    list(first)
    exchange = first.exchange([(first.function_calls[0], {"output": {}})])
    for part in exchange.model_turn.parts or []:
        part.thought_signature = None
    with pytest.raises(GeminiModelError) as refused:
        list(ask(client, "x", tools=ToolOffer(functions=(SEARCH,)), exchanges=[exchange]))
    assert refused.value.status == 400


def test_calls_are_forbidden_once_used_up(client, fake):
    stream = ask(
        client,
        "[fake:tool=room_search,query=x]",
        tools=ToolOffer(functions=(SEARCH,), may_call=False),
    )
    assert "local stand-in" in "".join(stream)
    assert stream.function_calls == []
    config = fake.requests[-1].body["toolConfig"]
    assert config == {"functionCallingConfig": {"mode": "NONE"}}


def test_grounding_becomes_sources_and_web_queries(client, fake):
    stream = ask(client, "bob: @bot news? [fake:sources=2]", tools=ToolOffer(web_search=True))
    assert "".join(stream) == "A grounded answer citing 2 web pages."
    assert stream.sources == [
        Source("Fake page 1", "https://example.com/fake-page-1"),
        Source("Fake page 2", "https://example.com/fake-page-2"),
    ]
    assert stream.web_queries == ["news?"]
    assert fake.requests[-1].body["tools"] == [{"googleSearch": {}}]


def test_no_grounding_without_the_search_tool(client, fake):
    stream = ask(client, "[fake:sources=2]")
    "".join(stream)
    assert stream.sources == [] and stream.web_queries == []
    assert "tools" not in fake.requests[-1].body


def test_usage_is_read_as_reported_with_thinking_as_output(client, fake):
    stream = ask(client, "[fake:usage=1234/56]")
    "".join(stream)
    assert stream.usage is not None
    assert (stream.usage.input_tokens, stream.usage.output_tokens) == (1234, 56)
    fake.script(Reply(text="hm", usage=(10, 5)))
    scripted = ask(client, "anything")
    assert "".join(scripted) == "hm"
    assert scripted.usage is not None and scripted.usage.output_tokens == 5


@pytest.mark.parametrize(
    ("model", "combines"),
    [
        ("gemini-2.5-flash", False),
        ("gemini-2.0-flash", False),
        ("gemini-3-flash-preview", True),
        ("gemini-3.1-pro", True),
        ("models/gemini-4-ultra", True),
        ("gemini-flash-latest", False),
        ("learnlm-2.0", False),
    ],
)
def test_which_models_combine_search_and_functions(model, combines):
    assert combines_tools(model) is combines
