"""The password policy and the verdict on one cleartext password, on the host (A9-T2.2).

``judge(password, user, data, policy)`` returns the reason categories (wire VerdictCategory)
that make a password weak, or an empty set. The rules, in the order the docs list them:
length, character classes (MLPS practice: 3 of 4 below 15 characters; long passphrases are
exempt as NIST SP 800-63B asks), the Chinese weak-password list, the user name and its
variants, the pinyin of the owner's (or any common) name, digit runs and repeats, keyboard
walks, dates, 5201314-style numbers, role/vendor words (``Admin@123``, ``Sangfor@2021``),
unit abbreviation plus year (``Tjj@2024``), and zxcvbn's score (imported lazily: it costs
about 13 MiB). The same families drive the candidate generator for hashed stores
(agent/vpn/candidates.py); a test checks that every generated candidate is judged weak.

Nothing here logs, stores or returns a password.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from agent.vpn.pinyin import PinyinTable, name_forms, name_parts, segment

__all__ = [
    "PasswordData",
    "PasswordPolicy",
    "UserContext",
    "char_classes",
    "data_dir",
    "judge",
    "leet_normal",
    "shape",
]

_LEET = {"@": "a", "4": "a", "0": "o", "1": "i", "3": "e", "$": "s", "5": "s", "7": "t", "!": "i"}


@dataclass(frozen=True)
class PasswordPolicy:
    """What a password must meet (agent-side defaults; docs/probes/vpn.md)."""

    min_length: int = 8
    min_classes: int = 3
    classes_exempt_length: int = 15
    min_zxcvbn_score: int = 3
    use_zxcvbn: bool = True


@dataclass(frozen=True)
class UserContext:
    """What the checks know about an account's owner (never the password)."""

    account: str
    full_name: str = ""
    year: int = 2026
    extra_words: tuple[str, ...] = ()


def data_dir() -> Path | None:
    """Where the lists are: $WATCHPOST_PASSWORD_DATA, policies/passwords of this checkout, or
    <prefix>/share/watchpost/passwords of an installed agent."""
    here = Path(__file__).resolve()
    for candidate in (
        os.environ.get("WATCHPOST_PASSWORD_DATA", ""),
        str(here.parents[2] / "policies" / "passwords"),
        str(Path(sys.prefix) / "share" / "watchpost" / "passwords"),
    ):
        if candidate and (Path(candidate) / "common-zh.txt").is_file():
            return Path(candidate)
    return None


def _sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            found.setdefault(current, [])
        elif current:
            found[current].append(line)
    return found


@dataclass(frozen=True)
class PasswordData:
    """The lists of policies/passwords/, loaded once per scan."""

    common: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    role_words: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    love_numbers: tuple[str, ...] = ()
    keyboard_rows: tuple[str, ...] = ()
    pinyin: PinyinTable = field(default_factory=lambda: PinyinTable(frozenset(), {}, {}))
    source: str = ""

    @classmethod
    def load(cls, directory: Path | None = None) -> PasswordData:
        """The lists in ``directory`` (default: :func:`data_dir`); empty lists when none is found."""
        folder = directory or data_dir()
        if folder is None:
            return cls()

        def read(name: str) -> str:
            try:
                return (folder / name).read_text(encoding="utf-8")
            except OSError:
                return ""

        def lines(text: str) -> list[str]:
            return [s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#")]

        patterns = _sections(read("patterns.txt"))
        return cls(
            common=tuple(dict.fromkeys(lines(read("common-zh.txt")))),
            units=tuple(line.split("\t")[0].lower() for line in lines(read("units.tsv"))),
            role_words=tuple(w.lower() for w in patterns.get("role_words", [])),
            suffixes=tuple(patterns.get("suffixes", [])),
            love_numbers=tuple(patterns.get("love_numbers", [])),
            keyboard_rows=tuple(patterns.get("keyboard_rows", [])),
            pinyin=PinyinTable.from_text(read("pinyin-names.tsv"), read("pinyin-syllables.txt")),
            source=str(folder),
        )

    @cached_property
    def common_set(self) -> frozenset[str]:
        return frozenset(c.lower() for c in self.common)

    @cached_property
    def walks(self) -> tuple[str, ...]:
        """Keyboard rows forwards and backwards, plus the columns of the main keyboard."""
        rows = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", *self.keyboard_rows]
        columns = ["1qaz", "2wsx", "3edc", "4rfv", "5tgb", "6yhn", "7ujm", "8ik", "9ol", "0p"]
        joined = ["".join(columns), "".join(c[::-1] for c in columns)]
        every = [*rows, *columns, *joined]
        return tuple(dict.fromkeys([*every, *(w[::-1] for w in every)]))


def char_classes(password: str) -> int:
    """How many of lower case, upper case, digits, other characters the password uses."""
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def leet_normal(password: str) -> str:
    """Lower case with look-alike characters between letters undone: P@ssw0rd -> password."""
    text = password.lower()
    out = list(text)
    for index, char in enumerate(text):
        if char in _LEET:
            left = out[index - 1] if index > 0 else ""
            right = text[index + 1] if index + 1 < len(text) else ""
            between = left.isalpha() and right.isalpha()
            if between or (index == 0 and char in "@$" and right.isalpha()):
                out[index] = _LEET[char]
    return "".join(out)


@dataclass(frozen=True)
class Shape:
    """A password read as [digits/symbols] WORD [digits/symbols] (the common human shape)."""

    word: str  # the letters, leet undone, lower case ('' if none)
    digits: str  # every digit outside the word
    simple: bool  # at most one letter run


def shape(password: str) -> Shape:
    normal = leet_normal(password)
    words = re.findall(r"[a-z]+", normal)
    digits = "".join(re.findall(r"[0-9]+", normal))
    return Shape(words[0] if len(words) == 1 else "", digits, len(words) <= 1)


def _is_date(digits: str, year: int) -> bool:
    def ymd(y: int, m: int, d: int) -> bool:
        return 1940 <= y <= year + 1 and 1 <= m <= 12 and 1 <= d <= 31

    if len(digits) == 8 and digits.isdigit():
        return ymd(int(digits[:4]), int(digits[4:6]), int(digits[6:])) or ymd(
            int(digits[4:]), int(digits[2:4]), int(digits[:2])
        )
    if len(digits) == 6 and digits.isdigit():
        return 1 <= int(digits[2:4]) <= 12 and 1 <= int(digits[4:]) <= 31
    if len(digits) == 4 and digits.isdigit():
        return 1940 <= int(digits) <= year + 1 or (1 <= int(digits[:2]) <= 12 and 1 <= int(digits[2:]) <= 31)
    return False


def _digit_pattern(digits: str) -> bool:
    if len(digits) < 3:
        return False
    steps = {int(b) - int(a) for a, b in itertools.pairwise(digits)}
    if steps <= {1, -9} or steps <= {-1, 9} or steps == {0}:
        return True  # 123456, 987654, 888888 (and 7890 wrapping)
    for size in range(1, len(digits) // 2 + 1):
        if len(digits) % size == 0 and digits == digits[:size] * (len(digits) // size):
            return True  # 123123, 1212
    pairs = [digits[i : i + 2] for i in range(0, len(digits) - 1, 2)]
    return len(digits) % 2 == 0 and all(p[0] == p[1] for p in pairs) and len(digits) >= 4  # 112233


def _keyboard(normal: str, walks: tuple[str, ...]) -> bool:
    text = re.sub(r"[^a-z0-9]", "", normal)
    if len(text) < 4:
        return False
    position = 0
    pieces = 0
    while position < len(text):
        best = 0
        for walk in walks:
            for size in range(len(text) - position, 2, -1):
                if size > best and text[position : position + size] in walk:
                    best = size
                    break
        if best == 0:
            return False
        position += best
        pieces += 1
    return pieces <= 3


def _user_variants(account: str) -> set[str]:
    lower = account.lower()
    core = re.sub(r"@.*$", "", lower)  # alice@example.org -> alice
    letters = re.sub(r"[^a-z]", "", core)
    parts = [p for p in re.split(r"[^a-z]+", core) if p]
    variants = {lower, core, letters, core[::-1], letters[::-1], letters * 2, *parts}
    if len(parts) > 1:
        variants |= {"".join(parts[::-1]), parts[0][0] + "".join(parts[1:]), "".join(p[0] for p in parts)}
    return {v for v in variants if len(v) >= 2}


def _zxcvbn_score(password: str, inputs: list[str]) -> int | None:
    try:
        from zxcvbn import zxcvbn  # lazy: ~13 MiB resident once loaded
    except ImportError:
        return None
    try:
        result: dict[str, Any] = zxcvbn(password[:100], user_inputs=inputs)
    except Exception:  # noqa: BLE001 - a checker bug must not fail the section
        return None
    return int(result.get("score", 0))


def judge(
    password: str,
    user: UserContext,
    data: PasswordData,
    policy: PasswordPolicy | None = None,
) -> set[str]:
    """The weak-password categories of ``password`` for ``user`` (empty set: it passes)."""
    policy = policy or PasswordPolicy()
    if password == "":
        return {"empty_password"}
    found: set[str] = set()
    if len(password) < policy.min_length:
        found.add("too_short")
    if char_classes(password) < policy.min_classes and len(password) < policy.classes_exempt_length:
        found.add("few_char_classes")
    lower = password.lower()
    form = shape(password)
    normal = leet_normal(password)
    if lower in data.common_set or lower.rstrip("!.") in data.common_set or normal in data.common_set:
        found.add("common_list")
    variants = _user_variants(user.account)
    if form.word in variants or lower in variants or normal in variants:
        found.add("user_name")
    parts = name_parts(user.account, user.full_name, data.pinyin)
    forms = set(name_forms(parts)) if parts else set()
    if form.word and (form.word in forms or _generic_name(form.word, data.pinyin)):
        found.add("name_pinyin")
    all_digits = password.isdigit() and (len(password) <= 11 or _digit_pattern(password))
    if all_digits or (form.simple and form.word == "" and _digit_pattern(form.digits)):
        found.add("pattern_digits")
    if _keyboard(lower, data.walks):
        found.add("pattern_keyboard")
    if form.simple and form.digits and _is_date(form.digits, user.year) and (form.word == "" or found):
        found.add("pattern_date")
    if any(n in lower for n in data.love_numbers if len(n) >= 6) or (
        form.simple and (form.digits in data.love_numbers or form.word in data.love_numbers)
    ):
        found.add("pattern_love_number")
    if form.simple and form.word in data.role_words and form.word:
        found.add("pattern_role_word")
    units = {*data.units, *(w.lower() for w in user.extra_words)}
    if form.simple and form.word and form.word in units:
        found.add("pattern_unit_year")
    if policy.use_zxcvbn:
        inputs = [user.account, *forms, *data.units[:10]]
        score = _zxcvbn_score(password, inputs)
        if score is not None and score < policy.min_zxcvbn_score:
            found.add("low_zxcvbn")
    return found


def _generic_name(word: str, table: PinyinTable) -> bool:
    """Any surname + given name in pinyin (liuyang, wangxiaoming), typed with digits: the commonest
    Chinese password shape. (Pinyin words such as woaini are in the common list.)"""
    pieces = segment(word, table.syllables)
    if not pieces or not 2 <= len(pieces) <= 3 or len(word) < 4 or min(map(len, pieces)) < 2:
        return False
    return pieces[0] in table.surname_pinyin
