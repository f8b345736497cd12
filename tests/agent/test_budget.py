"""The probe process runs under a memory and CPU budget (issue 8), enforced by the kernel."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.runtime.budget import Budget
from agent.runtime.config import RuntimeConfig
from agent.runtime.service import collect_in_child

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "from agent.runtime.budget import Budget, apply_budget\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="rlimits are POSIX")
def test_a_probe_asking_for_too_much_memory_gets_a_memory_error() -> None:
    done = _child(
        "assert not apply_budget(Budget(memory_mb=256, cpu_seconds=60))\n"
        "try:\n    block = bytearray(600 * 1024 * 1024)\nexcept MemoryError:\n    print('refused')\n"
        "else:\n    print('allocated', len(block))\n"
    )
    assert done.stdout.strip() == "refused", done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="rlimits are POSIX")
def test_a_probe_process_past_its_cpu_budget_is_stopped_by_the_kernel() -> None:
    done = _child("apply_budget(Budget(memory_mb=768, cpu_seconds=1))\nwhile True:\n    pass\n")
    assert done.returncode == -signal.SIGXCPU


def test_the_collection_process_fails_cleanly_when_its_budget_is_too_small(tmp_path: Path) -> None:
    # 16 MB of data segment is too little to import the probes and pydantic: the service
    # gets "no answer" (logged), not a crash, and keeps running.
    assert collect_in_child(tmp_path, ["os"], ["os"], 30, budget=Budget(memory_mb=16, cpu_seconds=60)) is None
    answer = collect_in_child(tmp_path, ["os"], ["os"], 30, budget=Budget())
    assert answer is not None and set(answer) == {"os"}


def test_budget_defaults_follow_the_served_config() -> None:
    from wire import AgentConfig

    served = AgentConfig()
    runtime = RuntimeConfig()
    assert (runtime.probe_memory_mb, runtime.probe_cpu_seconds) == (
        served.probe_memory_mb,
        served.probe_cpu_seconds,
    )
    assert Budget() == Budget(served.probe_memory_mb, served.probe_cpu_seconds)
