"""Per-user candidate passwords for hashed stores, most likely first (A9-T2.2).

A hashed secret can only be judged by guessing: each guess costs one crypt() (about 500/s per
core for sha512-crypt, 50/s for yescrypt, 20/s for bcrypt-10), so the agent tries a few hundred
*targeted* guesses per account instead of a 20 000-word list: the user name and its variants,
the pinyin of the owner's name with digits and years, the top of the Chinese weak-password
list, role and vendor words (``Admin@123``, ``Sangfor@2024``), unit abbreviations with years,
5201314-style numbers, digit runs and keyboard walks. Each candidate carries its family (a
verdict category) and a tier (1 = try first); agent/vpn/hashaudit.py tries tier 1 of every
account before tier 2 of any, so a short budget is spent where it finds most.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.vpn.passwords import PasswordData, UserContext
from agent.vpn.pinyin import name_forms, name_parts

__all__ = ["DEFAULT_LIMIT", "Candidate", "candidates"]

DEFAULT_LIMIT = 800
_SHORT_SUFFIXES = ("", "1", "12", "123", "1234", "12345", "123456", "@123", "!", ".", "888", "666")
_DIGIT_RUNS = (
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "111111",
    "000000",
    "888888",
    "666666",
    "88888888",
    "11111111",
    "00000000",
    "987654321",
    "654321",
    "123123",
    "112233",
    "147258369",
)
_WALKS = (
    "1qaz2wsx",
    "qwer1234",
    "1q2w3e4r",
    "qwerty",
    "qwertyuiop",
    "asdfgh",
    "zxcvbnm",
    "qazwsx",
    "1qaz@WSX",
)


@dataclass(frozen=True)
class Candidate:
    text: str
    family: str  # the verdict category a match proves
    tier: int


def _caps(word: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((word, word.capitalize())))


def _tier1(user: UserContext, data: PasswordData) -> list[Candidate]:
    account = user.account.split("@", 1)[0]
    years = [str(y) for y in (user.year, user.year - 1, user.year - 2, user.year - 3, user.year + 1)]
    out = [Candidate("", "empty_password", 1)]
    for form in dict.fromkeys((account, account.lower(), account.capitalize(), account.upper())):
        for suffix in (*_SHORT_SUFFIXES, *years, *(f"@{y}" for y in years), *(f"#{y}" for y in years[:2])):
            out.append(Candidate(form + suffix, "user_name", 1))
    out += [Candidate(word, "common_list", 1) for word in data.common[:40]]
    for word in ("admin", "vpn"):
        for form in _caps(word):
            for suffix in ("@123", "123", "@123456", "123456", f"@{user.year}", str(user.year)):
                out.append(Candidate(form + suffix, "pattern_role_word", 1))
    return out


def _tier2(user: UserContext, data: PasswordData) -> list[Candidate]:
    out: list[Candidate] = []
    parts = name_parts(user.account, user.full_name, data.pinyin)
    years = [str(y) for y in range(user.year, user.year - 4, -1)]
    if parts is not None:
        forms = name_forms(parts)
        for index, form in enumerate(forms):
            suffixes = (*_SHORT_SUFFIXES, *years, *(f"@{y}" for y in years[:2]), "520", "1314", "5201314")
            for suffix in suffixes if index < 3 else ("", "123", "123456", "@123", "888888", years[0]):
                for cased in _caps(form):
                    out.append(Candidate(cased + suffix, "name_pinyin", 2))
    out += [Candidate(n, "pattern_love_number", 2) for n in data.love_numbers]
    out += [Candidate(d, "pattern_digits", 2) for d in _DIGIT_RUNS]
    out += [Candidate(w, "pattern_keyboard", 2) for w in _WALKS]
    for word in data.role_words[:12]:
        for form in _caps(word):
            for suffix in ("", "@123", "123", "@123456", "123456", *(f"@{y}" for y in years[:3]), years[0]):
                out.append(Candidate(form + suffix, "pattern_role_word", 2))
    units = list(dict.fromkeys([*(w.lower() for w in user.extra_words), *data.units[:8]]))
    for unit in units:
        for form in dict.fromkeys((unit, unit.capitalize(), unit.upper())):
            for suffix in (*years, *(f"@{y}" for y in years), "@123", "123", "123456"):
                out.append(Candidate(form + suffix, "pattern_unit_year", 2))
    return out


def _tier3(user: UserContext, data: PasswordData) -> list[Candidate]:
    out = [Candidate(word, "common_list", 3) for word in data.common[40:]]
    parts = name_parts(user.account, user.full_name, data.pinyin)
    births = [str(y) for y in range(1965, 2006)]
    stems = name_forms(parts)[:2] if parts else []
    account = user.account.split("@", 1)[0].lower()
    for stem in dict.fromkeys([*stems, account]):
        for year in births:
            family = "user_name" if stem == account else "name_pinyin"
            out.append(Candidate(stem + year, family, 3))
    return out


def candidates(user: UserContext, data: PasswordData, limit: int = DEFAULT_LIMIT) -> list[Candidate]:
    """The candidate list of one account: unique texts, tier 1 first, at most ``limit``."""
    seen: set[str] = set()
    out: list[Candidate] = []
    for candidate in (*_tier1(user, data), *_tier2(user, data), *_tier3(user, data)):
        if candidate.text in seen or len(candidate.text) > 128:
            continue
        seen.add(candidate.text)
        out.append(candidate)
        if len(out) >= limit:
            break
    return out
