"""When each section is read next: per-section intervals with random jitter."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["ScheduleConfig", "Scheduler"]


class ScheduleConfig(Protocol):
    """What the scheduler needs of a configuration (wire.AgentConfig or RuntimeConfig)."""

    @property
    def sections(self) -> Sequence[str]: ...
    @property
    def jitter_seconds(self) -> int: ...
    def interval(self, section: str) -> int: ...


class Scheduler:
    """Every enabled section runs at start-up, then every ``interval + U(0, jitter)`` seconds."""

    def __init__(self, config: ScheduleConfig, now: float, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # noqa: S311 - spreading load, not security
        self._next: dict[str, float] = {}
        self.config = config
        self.reconfigure(config, now, first=True)

    def reconfigure(self, config: ScheduleConfig, now: float, *, first: bool = False) -> None:
        """Apply a new config: new sections run at once, dropped ones stop, intervals apply from now."""
        self.config = config
        kept = {name: when for name, when in self._next.items() if name in config.sections}
        for name in config.sections:
            if first or name not in kept:
                kept[name] = now
            else:
                kept[name] = min(kept[name], now + self._delay(name))
        self._next = kept

    def _delay(self, section: str) -> float:
        return self.config.interval(section) + self._rng.uniform(0, self.config.jitter_seconds)

    def due(self, now: float) -> list[str]:
        return [name for name, when in self._next.items() if when <= now]

    def ran(self, sections: Iterable[str], now: float) -> None:
        for name in sections:
            if name in self._next:
                self._next[name] = now + self._delay(name)

    def next_time(self) -> float:
        return min(self._next.values(), default=float("inf"))
