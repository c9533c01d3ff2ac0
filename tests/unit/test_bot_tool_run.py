"""The tools of one answer (chat.logic.bot.tools) without the network: what is offered, the
calls run and bounded, what is recorded and within what size; the fake Gemini's tool
directives; the month a usage counts in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from chat.adapters import gemini
from chat.logic.bot import tools, usage
from chat.logic.bot.tools import ToolRun
from chat.logic.bot.transcript import Transcript
from chat.logic.search import service
from chat.models import Message, SearchResults
from local.fake_gemini import Reply

COMMAND: Any = {"room_id": "r1", "message_id": "c9", "visible_to": "alice"}


@dataclass
class Round:
    """What ToolRun reads of a finished model round (an AnswerStream's results)."""

    function_calls: list[gemini.FunctionCall] = field(default_factory=list)
    sources: list[gemini.Source] = field(default_factory=list)
    web_queries: list[str] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)

    def exchange(self, results):
        self.results = list(results)
        return "exchange"


@pytest.fixture
def searches(monkeypatch) -> list[tuple]:
    """The room searches run, each answering one message (a query is parsed as the real
    search does: one without a letter or digit raises before any read)."""
    calls: list[tuple] = []

    def search_room(room_id, query, viewer, limit, before):
        service.parse(query)
        calls.append((room_id, query, viewer, limit, before))
        found = Message(
            message_id="m1",
            room_id=room_id,
            username="bob",
            content="x" * 600,
            message_type="text",
            is_bot=False,
            created_at="2026-01-02T03:04:05.000Z",
        )
        return SearchResults(results=[found], next_before=None)

    monkeypatch.setattr(tools, "search_room", search_room)
    return calls


def run(names, max_bytes: int = 4096) -> ToolRun:
    return ToolRun(names, COMMAND, Transcript("r1", "m2", "c9", 1000), max_bytes)


def test_no_tools_offers_nothing():
    assert run([]).offer() is None and not run([]).enabled


def test_the_offer_follows_the_tools_and_the_searches_left(searches):
    both = run(["room_search", "web_search"])
    assert both.offer() == gemini.ToolOffer((tools.ROOM_SEARCH,), web_search=True, may_call=True)
    web = run(["web_search"]).offer()
    assert web is not None and web.functions == () and web.web_search
    for _ in range(tools.MAX_SEARCHES):
        both.after(Round([gemini.FunctionCall("room_search", {"query": "a"})]))
    offer = both.offer()
    assert offer is not None and offer.may_call is False


def test_a_search_runs_as_the_bots_view_before_the_command(searches):
    answer = run(["room_search"])
    round_ = Round([gemini.FunctionCall("room_search", {"query": "  deploy \n friday "}, "id1")])
    assert answer.after(round_) == "exchange"
    assert searches == [("r1", "deploy friday", "alice", tools.RESULTS_PER_SEARCH, "c9")]
    ((call, result),) = round_.results
    assert call.id == "id1"
    (found,) = result["output"]["messages"]
    assert found["message_id"] == "m1" and found["username"] == "bob"
    assert len(found["content"]) == tools.RESULT_CHARS and found["content"].endswith("…")
    assert result["output"]["more"] is False
    assert [c.model_dump() for c in answer.transcript.tool_calls] == [
        {"tool": "room_search", "query": "deploy friday"}
    ]


def test_calls_past_the_limit_unknown_functions_and_bad_queries_get_errors(searches):
    answer = run(["room_search"])
    calls = [gemini.FunctionCall("room_search", {"query": f"q{n}"}) for n in range(4)]
    calls += [gemini.FunctionCall("shell", {"cmd": "ls"})]
    round_ = Round(calls)
    answer.after(round_)
    results = [result for _, result in round_.results]
    assert [("output" in r) for r in results] == [True, True, True, False, False]
    assert "No more searches" in results[3]["error"]
    assert "shell" in results[4]["error"]
    assert len(searches) == tools.MAX_SEARCHES
    # a query without a letter or digit never reaches the index
    other = run(["room_search"])
    bad = Round([gemini.FunctionCall("room_search", {"query": "?!"})])
    other.after(bad)
    assert "letter or digit" in bad.results[0][1]["error"]


def test_room_search_calls_are_refused_when_the_bot_lacks_the_tool(searches):
    answer = run(["web_search"])
    round_ = Round([gemini.FunctionCall("room_search", {"query": "x"})])
    answer.after(round_)
    assert "error" in round_.results[0][1] and searches == []


def test_a_round_without_calls_ends_the_loop_and_records_web_queries_and_sources():
    answer = run(["web_search"])
    pages = [gemini.Source(f"Page {n}", f"https://example.com/{n}") for n in range(15)]
    round_ = Round(sources=[*pages, pages[0]], web_queries=["python", "python", "release"])
    assert answer.after(round_) is None
    recorded = answer.transcript
    assert [c.query for c in recorded.tool_calls] == ["python", "release"]
    assert [s.url for s in recorded.sources] == [p.url for p in pages[: tools.MAX_SOURCES]]


def test_what_is_recorded_stays_within_its_bytes():
    answer = run(["web_search"], max_bytes=600)
    long_pages = [gemini.Source("t" * 150, f"https://example.com/{n}") for n in range(10)]
    answer.after(Round(sources=long_pages, web_queries=["q" * 150]))
    recorded = [c.model_dump() for c in answer.transcript.tool_calls]
    recorded += [s.model_dump() for s in answer.transcript.sources]
    assert 0 < len(recorded) < 11
    assert len(json.dumps(recorded)) <= 600


def test_overlong_titles_are_cut_and_overlong_urls_dropped():
    answer = run(["web_search"])
    answer.after(
        Round(
            sources=[
                gemini.Source("T" * 500, "https://example.com/a"),
                gemini.Source("ok", "https://example.com/" + "b" * 3000),
            ]
        )
    )
    (source,) = answer.transcript.sources
    assert source.title == "T" * tools.TITLE_CHARS


def test_tokens_add_up_and_count_only_when_reported():
    tokens = usage.Tokens()
    assert usage.charge("r1", "bot", "2026-03-31T23:59:59.999Z", tokens) is None
    tokens.add(10, 2)
    tokens.add(5, 1)
    assert (tokens.input, tokens.output) == (15, 3)
    item = usage.charge("r1", "bot", "2026-03-31T23:59:59.999Z", tokens)
    assert item is not None
    update = item["Update"]
    assert update["Key"] == {"pk": "USAGE#r1#2026-03"}
    assert update["ExpressionAttributeNames"] == {
        "#answers": "answers:bot",
        "#input": "input:bot",
        "#output": "output:bot",
    }
    assert update["ExpressionAttributeValues"] == {":one": 1, ":input": 15, ":output": 3}


@pytest.mark.parametrize(
    ("directive", "expected"),
    [
        (
            "tool=room_search,query=deploy friday",
            {"tool": "room_search", "queries": ["deploy friday"]},
        ),
        ("tool=room_search,query=a,query=b", {"tool": "room_search", "queries": ["a", "b"]}),
        ("sources=3", {"sources": 3}),
        ("usage=1200/34", {"usage": (1200, 34)}),
        ("sources=2,usage=5/6", {"sources": 2, "usage": (5, 6)}),
    ],
)
def test_the_fakes_tool_directives(directive, expected):
    reply = Reply.from_directive(directive)
    assert {key: getattr(reply, key) for key in expected} == expected


@pytest.mark.parametrize("directive", ["tool=shell", "usage=12", "sources=many"])
def test_bad_tool_directives_are_refused(directive):
    with pytest.raises(ValueError):
        Reply.from_directive(directive)
