"""The resource budget of the process that runs the probes (issue 8: per-probe CPU/memory budget).

The resident service never runs probes itself: a short-lived child does
(agent/runtime/collection.py). On POSIX the child caps itself with rlimits before it
reads anything, and the commands it runs (dpkg-query, apt-get, ss...) inherit them:

- ``RLIMIT_DATA``: heap and private mappings. A probe that asks for more gets a
  MemoryError, which the scan turns into that section's error entry; the PC is not starved.
- ``RLIMIT_CPU``: CPU seconds for the whole collection. Past the soft limit the kernel
  sends SIGXCPU and the child dies; the service logs why and the sections keep their last
  good state until the next run.

Windows has no rlimits: there the child joins a Job object with a per-process memory limit,
a CPU-time limit for everything it starts, and kill-on-close (agent/runtime/winjob.py); the
wall-clock timeouts and the low priority class apply as well.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["Budget", "apply_budget"]


@dataclass(frozen=True)
class Budget:
    memory_mb: int = 768
    cpu_seconds: int = 300


def apply_budget(budget: Budget) -> list[str]:
    """Cap this process (and what it starts); returns what could not be applied, for the log."""
    if sys.platform == "win32":
        from agent.runtime.winjob import join_new_job

        return join_new_job(budget.memory_mb, budget.cpu_seconds)
    import resource

    problems = []
    limits = (
        (resource.RLIMIT_DATA, budget.memory_mb * 1024 * 1024, "memory"),
        (resource.RLIMIT_CPU, budget.cpu_seconds, "CPU"),
    )
    for which, wanted, label in limits:
        _soft, hard = resource.getrlimit(which)
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        # The hard CPU limit is a little above the soft one, so SIGXCPU (catchable) comes first
        # and SIGKILL only if it is ignored.
        new_hard = hard if which != resource.RLIMIT_CPU or hard != resource.RLIM_INFINITY else value + 5
        try:
            resource.setrlimit(which, (value, new_hard))
        except (ValueError, OSError) as exc:
            problems.append(f"{label} limit not set: {exc}")
    return problems
