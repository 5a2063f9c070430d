"""Words for the FTS5 index and for queries, in English and in Chinese.

FTS5's unicode61 tokenizer splits at spaces and punctuation, so a run of Chinese
(no spaces) is one long token that no query word matches. Each passage therefore
gets a second indexed column, `extra`, holding the character bigrams of its CJK
runs (the usual way to index Chinese without a dictionary) and the Latin words
glued to them ("用Python写" gives "Python"). A query is cut the same way.

Query text comes from users and from the model: it is never passed to FTS5 as
syntax. Each term is quoted as an FTS5 string and the terms are ORed, so quotes,
`AND`, `*`, `NEAR(` and the like are searched as words, never parsed.
"""

from __future__ import annotations

import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_TOKEN = re.compile(r"[^\W_]+")  # what unicode61 calls a token: letters and digits
_MIXED = re.compile(f"[^\\W_]*[{_CJK}][^\\W_]*")  # a token holding CJK
MAX_QUERY_TERMS = 48  # a section's heading, notes and brief: more adds time, not recall

# common English words: in every passage, they only slow a query (long posting lists)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "you",
        "your",
        "not",
        "no",
        "can",
        "do",
        "does",
        "did",
        "than",
        "also",
        "been",
    ]
)


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]


def extra_terms(text: str) -> str:
    """The `extra` column of a passage: empty for text with no CJK."""
    if not _CJK_RUN.search(text):
        return ""
    terms: list[str] = []
    for token in _MIXED.findall(text):
        for part in _CJK_RUN.split(token):
            if part:
                terms.append(part)
        for run in _CJK_RUN.findall(token):
            terms.extend(_bigrams(run))
    return " ".join(terms)


def query_terms(query: str) -> list[str]:
    """The distinct terms of a query, in order: words (stopwords dropped unless that
    leaves none) and CJK bigrams."""
    terms: list[str] = []
    for token in _TOKEN.findall(query.lower()):
        runs = _CJK_RUN.findall(token)
        if not runs:
            terms.append(token)
            continue
        terms.extend(part for part in _CJK_RUN.split(token) if part)
        for run in runs:
            terms.extend(_bigrams(run))
    unique = list(dict.fromkeys(terms))
    kept = [term for term in unique if term not in STOPWORDS] or unique
    return kept[:MAX_QUERY_TERMS]


def match_expression(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression ORing the terms, each quoted (None when there are none)."""
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
