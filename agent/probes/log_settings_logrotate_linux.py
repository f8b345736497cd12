"""logrotate configuration: a total parser of its grammar and the retention each block implies.

Grammar handled (logrotate(8)): global directives, blocks ``pattern... {`` ... ``}`` whose
patterns may span several lines and be quoted, ``#`` comments, scripts
(``postrotate``/``prerotate``/``firstaction``/``lastaction``/``preremove`` ... ``endscript``,
whose text may hold braces), ``include`` of a file or a folder (files read in name order,
taboo extensions skipped), globs and ``{a,b}`` alternatives in patterns. Global directives
set defaults for every block that follows them, also across included files.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from wire.sections.log_settings import LogrotateRule

__all__ = [
    "PERIOD_HOURS",
    "describe",
    "expand_braces",
    "include_targets",
    "matches",
    "parse_logrotate",
    "retention_days",
    "taboo",
]

PERIOD_HOURS = {"hourly": 1, "daily": 24, "weekly": 7 * 24, "monthly": 30 * 24, "yearly": 365 * 24}
_SCRIPTS = {"postrotate", "prerotate", "firstaction", "lastaction", "preremove"}
#: logrotate's default taboo extensions (files in an included folder that are skipped).
TABOO = (
    ",v",
    ".cfsaved",
    ".disabled",
    ".dpkg-bak",
    ".dpkg-del",
    ".dpkg-dist",
    ".dpkg-new",
    ".dpkg-old",
    ".dpkg-tmp",
    ".rhn-cfg-tmp-*",
    ".rpmnew",
    ".rpmorig",
    ".rpmsave",
    ".swp",
    ".ucf-dist",
    ".ucf-new",
    ".ucf-old",
    "~",
)
_OPEN = re.compile(r"(?:^|\s|\")(\{)(?![^\s{}]*\})")
_NUL = str.maketrans("", "", "\x00")


def taboo(name: str) -> bool:
    """Whether logrotate skips this file name when including a folder."""
    return name.startswith(".") or any(fnmatch.fnmatch(name, "*" + ext) for ext in TABOO)


def expand_braces(pattern: str, limit: int = 64) -> list[str]:
    """``/var/log/{a,b}.log`` -> ``['/var/log/a.log', '/var/log/b.log']`` (nested, bounded)."""
    out: list[str] = []
    todo = [pattern]
    while todo and len(out) < limit:
        item = todo.pop(0)
        match = re.search(r"\{([^{}]*,[^{}]*)\}", item)
        if not match:
            out.append(item)
            continue
        for alt in match.group(1).split(","):
            todo.append(item[: match.start()] + alt + item[match.end() :])
    return out[:limit]


def matches(pattern: str, path: str) -> bool:
    """Whether a logrotate pattern (globs, braces) covers ``path``."""
    return any(fnmatch.fnmatchcase(path, p) for p in expand_braces(pattern))


def include_targets(text: str) -> list[str]:
    """Paths named by ``include`` lines (to read them before parsing)."""
    return [m.group(1).strip("\"'") for m in re.finditer(r"(?m)^\s*include\s+(\S+)", text)]


def _int(value: str) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if -1 <= number <= 1_000_000 else None


@dataclass
class _Settings:
    period: str = ""
    rotate: int | None = None
    maxage: int | None = None
    size: str = ""
    size_driven: bool = False
    words: list[str] = field(default_factory=list)

    def copy(self) -> _Settings:
        return _Settings(self.period, self.rotate, self.maxage, self.size, self.size_driven, list(self.words))

    def apply(self, words: list[str]) -> None:
        key = words[0].lower()
        arg = words[1] if len(words) > 1 else ""
        if "=" in key:  # size=100k
            key, _, arg = key.partition("=")
        if key in PERIOD_HOURS:
            self.period, self.size_driven = key, False
        elif key == "rotate":
            self.rotate = _int(arg)
        elif key == "maxage":
            self.maxage = _int(arg)
        elif key in {"size", "maxsize", "minsize"}:
            self.size = f"{self.size} {key} {arg}".strip()[:200]
            if key == "size":
                self.size_driven = True
        elif key in {"compress", "delaycompress", "copytruncate", "dateext", "missingok", "notifempty"} and (
            key not in self.words
        ):
            self.words.append(key)


def retention_days(period: str, rotate: int | None, maxage: int | None, size_driven: bool) -> int | None:
    """Days of history a block keeps at least: rotate x period, capped by maxage.

    ``rotate`` defaults to 0 (logrotate keeps no old file); ``rotate -1`` keeps all (then only
    maxage bounds it); a size-driven block (``size``) has no time bound.
    """
    if size_driven or not period:
        return None
    count = 0 if rotate is None else rotate
    if count < 0:
        return maxage
    days = count * PERIOD_HOURS[period] // 24
    return min(days, maxage) if maxage is not None else days


def _opening(line: str) -> int | None:
    match = _OPEN.search(line)
    if match:
        return match.start(1)
    stripped = line.rstrip()
    return len(stripped) - 1 if stripped.endswith("{") else None


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:
        return line.split()


def parse_logrotate(
    main: str,
    files: Mapping[str, str],
    dirs: Mapping[str, list[str]] | None = None,
) -> tuple[list[LogrotateRule], list[str]]:
    """Blocks of a logrotate configuration, starting at ``main``, with inherited defaults.

    ``files`` maps paths to their text; ``dirs`` maps included folders to their file names.
    Returns the rules and notes (unreadable includes, unbalanced braces). Sample::

        weekly
        rotate 4
        include /etc/logrotate.d
        /var/log/syslog
        /var/log/auth.log
        {
            rotate 12
            monthly
            postrotate
                /usr/lib/rsyslog/rsyslog-rotate
            endscript
        }
    """
    rules: list[LogrotateRule] = []
    notes: list[str] = []
    state = _Settings()
    dirs = dirs or {}
    seen: set[str] = set()

    def parse_file(path: str, depth: int) -> None:
        nonlocal state
        if path in seen or depth > 8 or len(seen) > 1000:
            return
        seen.add(path)
        text = files.get(path)
        if text is None:
            notes.append(f"{path.translate(_NUL)}: not readable")
            return
        text = text.translate(_NUL)
        block: _Settings | None = None
        pending: list[str] = []
        patterns: list[str] = []
        start = 0
        script = False
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if script:
                script = line != "endscript"
                continue
            if not line or line.startswith("#"):
                continue
            if block is None:
                opening = _opening(line)
                if opening is not None:  # the block's "{"; one inside a pattern (/var/log/{a,b}.log) is not
                    head, rest = line[:opening], line[opening + 1 :]
                    pending += _split(head)
                    block, start = state.copy(), start or number
                    patterns, pending = pending, []
                    line = rest.strip()
                    if not line:
                        continue
                elif line[0] in "/\"'~*" or (pending and not line[0].isalpha()):
                    start = start or number
                    pending += _split(line)
                    continue
                else:
                    words = _split(line)
                    if words and words[0] == "include" and len(words) > 1:
                        include(words[1], depth)
                    elif words:
                        state.apply(words)
                    continue
            if line.startswith("}"):
                rules.append(_rule(patterns, block, f"{path}:{start}"))
                block, start = None, 0
                continue
            words = _split(line)
            if words and words[0].lower() in _SCRIPTS:
                script = True
            elif words:
                block.apply(words)
        if block is not None:
            notes.append(f"{path.translate(_NUL)}: block at line {start} is not closed")
            rules.append(_rule(patterns, block, f"{path}:{start}"))

    def include(target: str, depth: int) -> None:
        if target in dirs:
            for name in sorted(dirs[target]):
                if not taboo(name):
                    parse_file(f"{target.rstrip('/')}/{name}", depth + 1)
        else:
            parse_file(target, depth + 1)

    parse_file(main, 0)
    return rules[:512], notes


def _rule(patterns: list[str], block: _Settings, source: str) -> LogrotateRule:
    days = retention_days(block.period, block.rotate, block.maxage, block.size_driven)
    return LogrotateRule(
        patterns=[p[:1024] for p in patterns[:64]],
        source=source.translate(_NUL)[:1024],
        period="" if block.size_driven else block.period,
        rotate=block.rotate,
        maxage_days=block.maxage if block.maxage is not None and block.maxage >= 0 else None,
        size=block.size[:255],
        retention_days=days if days is None or days >= 0 else None,
    )


def describe(rule: LogrotateRule) -> str:
    """A rule in words: 'weekly, rotate 4, maxage 180'."""
    parts: list[str] = [rule.period or ("size-driven" if rule.size else "no period")]
    parts.append(f"rotate {rule.rotate if rule.rotate is not None else 0}")
    if rule.maxage_days is not None:
        parts.append(f"maxage {rule.maxage_days}")
    if rule.size:
        parts.append(rule.size)
    return ", ".join(parts)
