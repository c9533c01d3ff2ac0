"""What a searchable word is: the one tokenizer of message text and of queries.

A *term* is a run of letters and digits (Unicode categories L* and N*, with the spacing
marks Mc that belong to their letters) in the text as normalised by `normalize`:

- case-folded (`str.casefold`: "Straße" and "STRASSE" are one term, "ss"),
- compatibility-decomposed (NFKD: full-width "ｔｏｋｙｏ", ligatures "ﬁ", superscripts,
  circled digits become their plain letters and digits),
- stripped of non-spacing marks (category Mn: the accents of "déploiement", Greek tonos,
  Arabic harakat, Hebrew points, the Japanese voicing marks),
- recomposed (NFC), which puts Hangul syllables back together.

Everything else separates terms: spaces, punctuation, symbols and emoji (they are not
searchable: a query needs a letter or a digit), the underscore, the apostrophe ("don't" is
"don" and "t").

CJK text has no spaces between its words, so each Han ideograph, Hiragana and Katakana
character is a term of its own. A query in Chinese or Japanese then finds the messages that
hold every one of its characters, anywhere (a superset of the phrase; no dictionary needed).
Hangul is written with spaces and is tokenised as words. Thai, Lao, Khmer and Myanmar text,
also written without spaces, is a run of letters per space-separated chunk: findable by the
chunk and its prefixes only.

A term is at most `MAX_TERM_LENGTH` characters (longer runs are cut there, in the index and
in queries alike), and a message indexes at most `MAX_TERMS` distinct terms (the first ones).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

MAX_TERM_LENGTH = 64
MAX_TERMS = 500

# Scripts written without spaces whose characters are terms of their own.
_SINGLE_CHARACTER_RANGES = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3134F),  # Extensions B-H, compatibility supplement
)


def _single_character_term(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _SINGLE_CHARACTER_RANGES)


@lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """The kind of a character: w (part of a word), s (a term by itself), "" (separator)."""
    if _single_character_term(char):
        return "s"
    category = unicodedata.category(char)
    if category[0] in "LN" or category == "Mc":
        return "w"
    return ""


def normalize(text: str) -> str:
    """Case-folded, compatibility-decomposed, without non-spacing marks, recomposed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", stripped)


def tokens(text: str) -> list[str]:
    """Every term of `text`, in order, repeats included."""
    found: list[str] = []
    run: list[str] = []
    for char in normalize(text):
        kind = _kind(char)
        if kind == "w":
            run.append(char)
            continue
        if run:
            found.append("".join(run)[:MAX_TERM_LENGTH])
            run = []
        if kind == "s":
            found.append(char)
    if run:
        found.append("".join(run)[:MAX_TERM_LENGTH])
    return found


def terms(text: str) -> list[str]:
    """The distinct terms a message indexes: in order of first use, at most MAX_TERMS."""
    return list(dict.fromkeys(tokens(text)))[:MAX_TERMS]


@dataclass(frozen=True)
class Query:
    """A search: every `exact` term, and a term starting with `prefix` (the last word)."""

    exact: tuple[str, ...]
    prefix: str

    def matches(self, text_terms: set[str] | frozenset[str]) -> bool:
        """Whether a text with these terms (all of them, from `tokens`) is a result."""
        if any(word not in text_terms for word in self.exact):
            return False
        return any(term.startswith(self.prefix) for term in text_terms)


def parse_query(text: str) -> Query | None:
    """The query of a search text; None when it holds no letter or digit."""
    words = tokens(text)
    if not words:
        return None
    prefix = words[-1]
    exact = tuple(dict.fromkeys(word for word in words[:-1]))
    return Query(exact=exact, prefix=prefix)
