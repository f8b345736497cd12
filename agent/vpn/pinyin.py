"""Pinyin of people's names, from a small table (policies/passwords/pinyin-*.{tsv,txt}) (A9-T2.2).

Chinese users build passwords from the pinyin of their name (``zhangwei1985``, ``zw123456``,
``Zw@2023``). The agent knows a name from GECOS (``张伟``) or from the account itself when it
already is pinyin (``zhangwei``, ``wei.zhang``); this module turns either into the forms people
type. Pure functions over a loaded :class:`PinyinTable`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

__all__ = ["NameParts", "PinyinTable", "name_forms", "name_parts", "segment"]


@dataclass(frozen=True)
class PinyinTable:
    syllables: frozenset[str]
    surnames: dict[str, str]  # characters -> pinyin (compound surnames too)
    given: dict[str, str]  # character -> pinyin

    @cached_property
    def surname_pinyin(self) -> frozenset[str]:
        """Surnames as pinyin, without the bare-vowel ones (阿 a, 鄂 e): 'alice' is no 'a li ce'."""
        return frozenset(p for p in self.surnames.values() if len(p) >= 2)

    @classmethod
    def from_text(cls, names_tsv: str, syllables_txt: str) -> PinyinTable:
        surnames: dict[str, str] = {}
        given: dict[str, str] = {}
        for line in names_tsv.splitlines():
            cols = line.split("\t")
            if len(cols) == 3 and not line.startswith("#") and cols[2].isascii():
                (surnames if cols[0] == "surname" else given)[cols[1]] = cols[2].lower()
        syllables = frozenset(
            s.strip().lower()
            for s in syllables_txt.splitlines()
            if s.strip() and not s.startswith("#") and re.search(r"[aeiouv]", s)
        )
        return cls(syllables, surnames, given)


@dataclass(frozen=True)
class NameParts:
    surname: str  # pinyin, e.g. "zhang"
    given: tuple[str, ...]  # pinyin syllables, e.g. ("wei",) or ("xiao", "ming")


def segment(word: str, syllables: frozenset[str]) -> tuple[str, ...] | None:
    """``word`` split into pinyin syllables (fewest pieces), or None when it is not pinyin."""
    return _segment(word, syllables)


@lru_cache(maxsize=4096)
def _segment(word: str, syllables: frozenset[str]) -> tuple[str, ...] | None:
    if not word:
        return ()
    if len(word) > 40:
        return None
    best: tuple[str, ...] | None = None
    for size in range(min(6, len(word)), 0, -1):
        head = word[:size]
        if head in syllables:
            rest = _segment(word[size:], syllables)
            if rest is not None and (best is None or len(rest) + 1 < len(best)):
                best = (head, *rest)
    return best


def name_parts(account: str, full_name: str, table: PinyinTable) -> NameParts | None:
    """The name of an account's owner in pinyin: from a Chinese full name when the table knows its
    characters, else from the account when it reads as surname + given name (``zhangwei``,
    ``wei.zhang``, ``zhang_xiaoming``)."""
    chinese = "".join(c for c in full_name if "\u4e00" <= c <= "\u9fff")
    if 2 <= len(chinese) <= 4:
        for size in (2, 1):
            surname = table.surnames.get(chinese[:size])
            given = [table.given.get(c) for c in chinese[size:]]
            if surname and given and all(given):
                return NameParts(surname, tuple(g for g in given if g))
    letters = re.sub(r"[^a-z._-]", "", account.lower())
    parts = [p for p in re.split(r"[._-]", letters) if p]
    surnames = table.surname_pinyin
    if len(parts) == 2:
        for first, second in (parts, parts[::-1]):
            given_syllables = segment(second, table.syllables)
            if first in surnames and given_syllables and len(given_syllables) <= 2:
                return NameParts(first, given_syllables)
    joined = "".join(parts)
    pieces = segment(joined, table.syllables)
    if pieces and 2 <= len(pieces) <= 4:
        for size in (2, 1):
            surname = "".join(pieces[:size])
            if len(pieces) - size in (1, 2) and surname in surnames:
                return NameParts(surname, pieces[size:])
    return None


def name_forms(parts: NameParts) -> list[str]:
    """Lower-case spellings people type: zhangwei, weizhang, zw, zhangw, zwei, wzhang, wei (3+)."""
    given = "".join(parts.given)
    initials_given = "".join(g[0] for g in parts.given)
    forms = [
        parts.surname + given,
        given + parts.surname,
        parts.surname[0] + initials_given,
        parts.surname + initials_given,
        parts.surname[0] + given,
        initials_given + parts.surname,
        given + parts.surname[0],
    ]
    if len(given) >= 4:
        forms.append(given)
    return list(dict.fromkeys(f for f in forms if len(f) >= 2))
