"""Pure step: the month's bad-review comments segmented with jieba into themes per department.

The themes come from a domain word list (`words/themes.txt`: theme, then its words), added to
jieba's dictionary so that "跑了几趟" or "一次性告知" stay one word; common words are dropped
(`words/stopwords.txt`). A comment counts once per theme it touches. What deputies see is the
themes of that list and their counts, never a comment's text nor a free word (which could be a
name); supervisors also get example comments (long digit strings masked) and the most frequent
other words, in the report's restricted part.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jieba

from reports.queries import Rows

WORDS = Path(__file__).parent / "words"
THEMES_FILE = WORDS / "themes.txt"
STOPWORDS_FILE = WORDS / "stopwords.txt"
TOP_THEMES = 5  # per department
EXAMPLES = 3  # example comments per theme, supervisors only
TOP_OTHER_WORDS = 10
OTHER_WORD_MIN_COMMENTS = 2
EXAMPLE_CHARS = 120
DOMAIN_WORD_FREQ = 200_000  # high enough that jieba keeps a domain word whole

_DIGITS = re.compile(r"[0-9０-９]{4,}[0-9０-９Xx]*")
_WORDLIKE = re.compile(r"^[\u4e00-\u9fff]{2,}$")  # Chinese, two characters or more
# Clauses: complaints repeat themselves clause by clause ("态度不好", "排队太久"), so each distinct
# clause is cut once; numbers are never a theme, so they are folded before.
_CLAUSE = re.compile(r"[\s,.;:!?，。；：！？、…（）()“”\"'~～/]+")
_NUMBER = re.compile(r"[0-9０-９]+")


@dataclass(frozen=True)
class Vocabulary:
    themes: dict[str, tuple[str, ...]]  # theme → its words, in file order
    theme_of: dict[str, str]  # word → theme
    stopwords: frozenset[str]


def _lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    themes: dict[str, tuple[str, ...]] = {}
    for line in _lines(THEMES_FILE):
        theme, _, words = line.partition(":")
        themes[theme.strip()] = tuple(words.split())
    theme_of = {word: theme for theme, words in themes.items() for word in words}
    return Vocabulary(themes, theme_of, frozenset(_lines(STOPWORDS_FILE)))


@lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """jieba with the domain words, built once per process (its dictionary takes ~1 s)."""
    jieba.setLogLevel(logging.WARNING)
    segmenter = jieba.Tokenizer()
    segmenter.initialize()
    for word in vocabulary().theme_of:
        segmenter.add_word(word, freq=DOMAIN_WORD_FREQ)
    return segmenter


def words_of(comment: str, cache: dict[str, list[str]] | None = None) -> set[str]:
    """The distinct words of one comment, as jieba cuts it clause by clause (no HMM: new words
    are not guessed). `cache` keeps the cut of each clause for the next comments."""
    cut = tokenizer().lcut
    cache = {} if cache is None else cache
    words: set[str] = set()
    for clause in _CLAUSE.split(_NUMBER.sub("0", comment)):
        if clause:
            found = cache.get(clause)
            if found is None:
                found = cache[clause] = cut(clause, HMM=False)
            words.update(found)
    return words


def mask(comment: str) -> str:
    """An example comment as supervisors see it: long digit strings (phones, ID numbers) masked,
    and cut to a readable length."""
    text = _DIGITS.sub(lambda m: m.group(0)[:3] + "*" * max(0, len(m.group(0)) - 3), comment)
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


@dataclass
class Themes:
    public: list[dict[str, Any]]  # per department: comments, themes with counts
    restricted: list[dict[str, Any]]  # the same with example comments and other frequent words


def segment_themes(rows: Rows, department_names: dict[int, str] | None = None) -> Themes:
    """Themes per department; `department_names` may come later (`named_themes`)."""
    vocab = vocabulary()
    # Identical comments are cut once: "态度差" is written many times over.
    by_department: dict[int, Counter[str]] = {}
    for row in sorted(rows, key=lambda r: int(r["id"])):
        department, text = int(row["department"]), str(row["comment"] or "").strip()
        if text:
            by_department.setdefault(department, Counter())[text] += 1
    cut: dict[str, set[str]] = {}
    clauses: dict[str, list[str]] = {}
    public: list[dict[str, Any]] = []
    restricted: list[dict[str, Any]] = []
    for department, comments in by_department.items():
        theme_counts: Counter[str] = Counter()
        other_counts: Counter[str] = Counter()
        examples: dict[str, list[str]] = {}
        for text, n in comments.most_common():
            words = cut.get(text)
            if words is None:
                words = cut[text] = words_of(text, clauses)
            touched = {vocab.theme_of[w] for w in words if w in vocab.theme_of}
            for theme in touched:
                theme_counts[theme] += n
                if len(examples.setdefault(theme, [])) < EXAMPLES:
                    examples[theme].append(mask(text))
            for word in words:
                free = word not in vocab.theme_of and word not in vocab.stopwords
                if free and _WORDLIKE.match(word):
                    other_counts[word] += n
        top = sorted(theme_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_THEMES]
        name = (department_names or {}).get(department, department)
        total = sum(comments.values())
        public.append(
            {
                "department": name,
                "comments": total,
                "themes": [{"theme": theme, "comments": n} for theme, n in top],
            }
        )
        others = sorted(
            ((w, n) for w, n in other_counts.items() if n >= OTHER_WORD_MIN_COMMENTS),
            key=lambda kv: (-kv[1], kv[0]),
        )[:TOP_OTHER_WORDS]
        restricted.append(
            {
                "department": name,
                "comments": total,
                "themes": [
                    {"theme": theme, "comments": n, "examples": examples[theme]} for theme, n in top
                ],
                "other_words": [{"word": w, "comments": n} for w, n in others],
            }
        )
    return named_themes(Themes(public, restricted), department_names or {})


def named_themes(found: Themes, department_names: dict[int, str]) -> Themes:
    """Department ids replaced by names; most comments first."""

    def rename(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [
            {**row, "department": department_names.get(row["department"], row["department"])}
            for row in rows
        ]
        return sorted(out, key=lambda r: (-r["comments"], str(r["department"])))

    return Themes(rename(found.public), rename(found.restricted))
