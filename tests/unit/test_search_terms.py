"""What a searchable word is: the tokenizer of messages and queries (chat.logic.search.terms)."""

from __future__ import annotations

import pytest

from chat.logic.search.terms import (
    MAX_TERM_LENGTH,
    MAX_TERMS,
    Query,
    normalize,
    parse_query,
    terms,
    tokens,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # case and accents: case-folded, non-spacing marks stripped (NFKD)
        ("Déploiement RÉUSSI", ["deploiement", "reussi"]),
        ("naïve façade Ångström", ["naive", "facade", "angstrom"]),
        ("Straße STRASSE", ["strasse", "strasse"]),
        ("İstanbul ıstanbul", ["istanbul", "ıstanbul"]),  # dotless ı is a letter of its own
        ("Ωμέγα ΩΜΈΓΑ", ["ωμεγα", "ωμεγα"]),
        ("Привет, Ёлка", ["привет", "елка"]),
        # compatibility forms: full-width, ligatures, superscripts, circled digits
        ("ｔｏｋｙｏ ﬁle x² ①", ["tokyo", "file", "x2", "1"]),
        # punctuation, symbols, underscores and apostrophes separate words
        ("deploy-service, v1.2 (snake_case)!", ["deploy", "service", "v1", "2", "snake", "case"]),
        ("don't stop", ["don", "t", "stop"]),
        ("alice@example.com #general", ["alice", "example", "com", "general"]),
        # emoji are not words, and do not glue the words around them together
        ("ship it 🚀🚀 now👍ok", ["ship", "it", "now", "ok"]),
        ("👍🏽 🎉", []),
        # CJK: every ideograph and kana is a term of its own
        ("東京タワー", ["東", "京", "タ", "ワ", "ー"]),
        ("我们的部署失败了", ["我", "们", "的", "部", "署", "失", "败", "了"]),
        ("Tokyo東京2024年", ["tokyo", "東", "京", "2024", "年"]),
        ("ｶﾀｶﾅ", ["カ", "タ", "カ", "ナ"]),  # half-width katakana
        ("がぎ", ["か", "き"]),  # voicing marks are accents too
        # Hangul is written with spaces: words, its syllables kept whole
        ("배포 실패했어요", ["배포", "실패했어요"]),
        # Devanagari: spacing vowel signs (Mc) stay in their word; the virama (Mn) goes, in
        # the index and in queries alike
        ("परीक्षण सफल", ["परीकषण", "सफल"]),
        # digits are terms, numbers split on their separators
        ("error 503 at 10:42", ["error", "503", "at", "10", "42"]),
        ("", []),
        ("   \n\t ...", []),
    ],
)
def test_tokens(text, expected):
    assert tokens(text) == expected


def test_the_same_word_in_any_case_or_accent_is_one_term():
    forms = ["resume", "Resume", "RÉSUMÉ", "résumé", "ＲＥＳＵＭＥ", "re\u0301sume\u0301"]
    assert {normalize(form) for form in forms} == {"resume"}
    assert {tuple(tokens(form)) for form in forms} == {("resume",)}


def test_terms_are_distinct_in_order_of_first_use_and_capped():
    assert terms("the cat and the hat AND the bat") == ["the", "cat", "and", "hat", "bat"]
    many = " ".join(f"w{i}" for i in range(MAX_TERMS + 50))
    assert terms(many) == [f"w{i}" for i in range(MAX_TERMS)]


def test_a_long_run_is_cut_in_the_index_and_in_queries_alike():
    word = "a" * (MAX_TERM_LENGTH + 30)
    (term,) = tokens(f"see {word}")[1:]
    assert len(term) == MAX_TERM_LENGTH
    query = parse_query(word)
    assert query is not None and query.prefix == term
    assert query.matches({term})


@pytest.mark.parametrize(
    ("text", "exact", "prefix"),
    [
        ("deplo", (), "deplo"),
        ("Deploy the SER", ("deploy", "the"), "ser"),
        ("the the cat", ("the",), "cat"),
        ("deploy ", (), "deploy"),  # the last word is a prefix even when a space follows
        ("is it down?!", ("is", "it"), "down"),
        ("東京", ("東",), "京"),
        ("🎉 launch", (), "launch"),
    ],
)
def test_queries_are_every_word_and_the_last_as_a_prefix(text, exact, prefix):
    assert parse_query(text) == Query(exact=exact, prefix=prefix)


@pytest.mark.parametrize("text", ["", "   ", "!!!", "🎉🚀", "___", "— … ·"])
def test_a_query_without_a_letter_or_digit_is_none(text):
    assert parse_query(text) is None


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        ("deplo", "The deployment failed", True),
        ("deploy", "The deployment failed", True),  # the last word is a prefix
        ("deployment fail", "The deployment failed", True),
        ("deploy fail", "The deployment failed", False),  # other words are whole words
        ("failed deployment", "The deployment failed", True),  # in any order
        ("DEPLOIEMENT", "Le déploiement a échoué", True),
        ("echoue deploiement", "Le déploiement a échoué", True),
        ("cat dog", "the cat sat", False),
        ("京都", "東京タワー", False),
        ("京東", "東京タワー", True),  # CJK: every character, anywhere
    ],
)
def test_a_query_matches_a_text_holding_every_word(query, text, found):
    parsed = parse_query(query)
    assert parsed is not None
    assert parsed.matches(frozenset(tokens(text))) is found
