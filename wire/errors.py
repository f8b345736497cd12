"""The error body every 4xx answer of the collector API carries."""

from __future__ import annotations

from pydantic import Field

from wire._base import ShortText, Text, WireModel

__all__ = ["ApiError", "FieldProblem"]


class FieldProblem(WireModel):
    location: ShortText = Field(description="Dotted path of the offending field, e.g. body.sections.os.")
    message: Text


class ApiError(WireModel):
    error: ShortText = Field(description="Stable machine-readable code, e.g. 'invalid_report'.")
    detail: Text = Field(description="What is wrong, for people.")
    problems: list[FieldProblem] = Field(default_factory=list, max_length=50)
