"""The Windows Job object budget (issue 8): structure layouts as the Windows SDK defines them
(winnt.h; sizes for 64-bit Windows: 64, 48 and 144 bytes), and the limits set from a budget.
The calls themselves run on Windows only (agent/runtime/winjob.py says so)."""

from __future__ import annotations

import ctypes
import sys

import pytest

from agent.runtime import winjob


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="64-bit layouts")
def test_structures_have_the_sdk_sizes_and_offsets() -> None:
    assert ctypes.sizeof(winjob.JOBOBJECT_BASIC_LIMIT_INFORMATION) == 64
    assert ctypes.sizeof(winjob.IO_COUNTERS) == 48
    assert ctypes.sizeof(winjob.JOBOBJECT_EXTENDED_LIMIT_INFORMATION) == 144
    basic = winjob.JOBOBJECT_BASIC_LIMIT_INFORMATION
    assert basic.LimitFlags.offset == 16 and basic.Affinity.offset == 48
    assert winjob.JOBOBJECT_EXTENDED_LIMIT_INFORMATION.ProcessMemoryLimit.offset == 112


def test_limits_from_a_budget() -> None:
    info = winjob.extended_limits(memory_mb=768, cpu_seconds=300)
    flags = info.BasicLimitInformation.LimitFlags
    assert flags & winjob.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    assert flags & winjob.JOB_OBJECT_LIMIT_PROCESS_MEMORY and info.ProcessMemoryLimit == 768 * 2**20
    assert flags & winjob.JOB_OBJECT_LIMIT_JOB_TIME
    assert info.BasicLimitInformation.PerJobUserTimeLimit == 300 * 10_000_000


@pytest.mark.skipif(sys.platform == "win32", reason="elsewhere than Windows")
def test_elsewhere_it_says_why_it_did_nothing() -> None:
    assert winjob.join_new_job(768, 300) == ["Job objects exist on Windows only"]
