"""What a probe is: a section name, the platforms it reads, and a collect function.

A probe's ``collect(ctx)`` reads raw sources through the HostContext and hands them
to pure ``parse_*`` functions. It returns the section model plus any errors met on
the way (a partial read is still a result). It raises ProbeSkipped when the section
does not apply here, saying why.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from agent.host import HostContext, ReadError
from wire import SectionError

__all__ = ["Collected", "Probe", "ProbeSkipped", "current_platform", "read_with_fallback"]


class ProbeSkipped(Exception):
    """The probe does not apply on this host; the message says why."""


@dataclass
class Collected:
    data: BaseModel
    errors: list[SectionError] = field(default_factory=list)


@dataclass(frozen=True)
class Probe:
    section: str
    description: str
    collectors: dict[str, Callable[[HostContext], Collected]]
    #: Platforms where the section has no meaning, with the reason the scan reports.
    not_applicable: dict[str, str] = field(default_factory=dict)

    def collect(self, ctx: HostContext, platform: str | None = None) -> Collected:
        platform = platform or current_platform()
        if platform in self.not_applicable:
            raise ProbeSkipped(self.not_applicable[platform])
        reader = self.collectors.get(platform)
        if reader is None:
            raise ProbeSkipped(f"section {self.section!r} has no reader for {platform} in this agent version")
        return reader(ctx)


def current_platform() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "win32":
        return "windows"
    return sys.platform


def read_with_fallback(
    primary: Callable[[], tuple[BaseModel, list[SectionError]]],
    fallback: Callable[[], tuple[BaseModel, list[SectionError]]],
) -> Collected:
    """The primary source (PowerShell 3+), else the fallback (wmic, reg query on Windows 7).

    When the fallback is used, why the primary failed is kept as the first error entry;
    when both fail, one ReadError names both."""
    try:
        data, errors = primary()
    except ReadError as first:
        try:
            data, errors = fallback()
        except ReadError as second:
            raise ReadError(
                first.source, f"{first.message}; fallback: {second.source}: {second.message}"
            ) from None
        errors = [SectionError(source=first.source[:255], message=first.message[:1000]), *errors]
    return Collected(data, errors)
