"""Per-section intervals with jitter; new config applies without a restart (agent runtime)."""

from __future__ import annotations

import random

from agent.runtime.scheduler import Scheduler
from wire import AgentConfig


def test_everything_runs_at_start_then_at_its_interval_with_jitter() -> None:
    config = AgentConfig(
        sections=["os", "hardware", "network"],
        section_intervals={"os": 3600, "hardware": 3600, "network": 900},
        jitter_seconds=60,
    )
    sched = Scheduler(config, now=1000.0, rng=random.Random(1))
    assert sorted(sched.due(1000.0)) == ["hardware", "network", "os"]
    sched.ran(["os", "hardware", "network"], 1000.0)
    assert sched.due(1000.0 + 899) == []
    assert sched.due(1000.0 + 900 + 60) == ["network"]
    assert sorted(sched.due(1000.0 + 3600 + 60)) == ["hardware", "network", "os"]
    assert 1900.0 <= sched.next_time() <= 1960.0


def test_jitter_spreads_hosts() -> None:
    config = AgentConfig(jitter_seconds=300)
    times = set()
    for seed in range(50):
        sched = Scheduler(config, 0.0, random.Random(seed))
        sched.ran(["os"], 0.0)
        times.add(round(sched._next["os"]))
    assert len(times) > 40 and min(times) >= 3600 and max(times) <= 3900


def test_reconfigure_adds_drops_and_shortens() -> None:
    sched = Scheduler(AgentConfig(sections=["os", "hardware", "network"], jitter_seconds=0), 0.0)
    sched.ran(["os", "hardware", "network"], 0.0)
    shorter = AgentConfig(sections=["os", "network"], section_intervals={"network": 60}, jitter_seconds=0)
    sched.reconfigure(shorter, 100.0)
    assert sched.due(100.0) == []
    assert sched.due(160.0) == ["network"]  # the new, shorter interval applies at once
    assert "hardware" not in sched._next
