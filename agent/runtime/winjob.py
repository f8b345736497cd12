"""The probe child's budget on Windows: a Job object (issue 8: per-probe CPU/memory budget).

Windows has no rlimits. The child that runs the probes (agent/runtime/collection.py, and the VPN
log reader) puts itself into a new Job object before it reads anything:

- ``JOB_OBJECT_LIMIT_PROCESS_MEMORY``: committed memory per process (the child and each
  PowerShell or WMI helper it starts); an allocation past it fails, which the scan turns into
  that section's error entry;
- ``JOB_OBJECT_LIMIT_JOB_TIME``: user-mode CPU time of all the job's processes together; past
  it Windows ends every process of the job, and the service logs that the collection failed;
- ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``: when the child exits (or the service kills it at its
  wall-clock timeout) every process it started ends too, so no stray PowerShell is left behind;
- ``JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION``: no error dialog waits for a user who is not there.

A process may join a new job even when it already is in one (nested jobs, Windows 8 and later);
where that fails (an older system, a service manager's job that forbids it) the wall-clock
timeout and the low priority class still apply and the reason is logged. Only ctypes: no
pywin32 import in the child. The structure layouts follow the Windows SDK (winnt.h) and a test
checks their sizes; the calls themselves have not yet run on a real Windows machine.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import wintypes

__all__ = [
    "IO_COUNTERS",
    "JOBOBJECT_BASIC_LIMIT_INFORMATION",
    "JOBOBJECT_EXTENDED_LIMIT_INFORMATION",
    "extended_limits",
    "join_new_job",
]

JOB_OBJECT_LIMIT_JOB_TIME = 0x00000004
JOB_OBJECT_LIMIT_PROCESS_MEMORY = 0x00000100
JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
_TICKS_PER_SECOND = 10_000_000  # LARGE_INTEGER times are in 100 ns units

# DWORD fields are c_uint32: ctypes.wintypes.DWORD is 8 bytes on 64-bit Linux, 4 on Windows.
_JOB: list[int] = []  # the handle lives as long as the process: closing it would end the job


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class IO_COUNTERS(ctypes.Structure):
    _fields_ = [
        ("ReadOperationCount", ctypes.c_uint64),
        ("WriteOperationCount", ctypes.c_uint64),
        ("OtherOperationCount", ctypes.c_uint64),
        ("ReadTransferCount", ctypes.c_uint64),
        ("WriteTransferCount", ctypes.c_uint64),
        ("OtherTransferCount", ctypes.c_uint64),
    ]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


def extended_limits(memory_mb: int, cpu_seconds: int) -> JOBOBJECT_EXTENDED_LIMIT_INFORMATION:
    """The limits of the probe child's job (see the module's docstring)."""
    info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    info.BasicLimitInformation.LimitFlags = (
        JOB_OBJECT_LIMIT_JOB_TIME
        | JOB_OBJECT_LIMIT_PROCESS_MEMORY
        | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
        | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    )
    info.BasicLimitInformation.PerJobUserTimeLimit = cpu_seconds * _TICKS_PER_SECOND
    info.ProcessMemoryLimit = memory_mb * 1024 * 1024
    return info


def join_new_job(memory_mb: int, cpu_seconds: int) -> list[str]:
    """Put this process into a new Job object with the budget; returns what failed, for the log."""
    if sys.platform != "win32":
        return ["Job objects exist on Windows only"]
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.CreateJobObjectW.argtypes = [wintypes.LPVOID, wintypes.LPCWSTR]
    kernel32.SetInformationJobObject.restype = wintypes.BOOL
    kernel32.SetInformationJobObject.argtypes = [
        wintypes.HANDLE,
        ctypes.c_int,
        wintypes.LPVOID,
        wintypes.DWORD,
    ]
    kernel32.AssignProcessToJobObject.restype = wintypes.BOOL
    kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]

    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        return [f"no Job object: Windows error {ctypes.get_last_error()}"]  # type: ignore[attr-defined,unused-ignore]
    info = extended_limits(memory_mb, cpu_seconds)
    if not kernel32.SetInformationJobObject(
        job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS, ctypes.byref(info), ctypes.sizeof(info)
    ):
        error = ctypes.get_last_error()  # type: ignore[attr-defined,unused-ignore]
        kernel32.CloseHandle(job)
        return [f"Job object limits not set: Windows error {error}"]
    if not kernel32.AssignProcessToJobObject(job, kernel32.GetCurrentProcess()):
        error = ctypes.get_last_error()  # type: ignore[attr-defined,unused-ignore]
        kernel32.CloseHandle(job)
        return [f"could not join a Job object: Windows error {error}"]
    _JOB.append(int(job))
    return []
