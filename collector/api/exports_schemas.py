"""Query parameters of the exports (issue 4): the host list's filters plus the header language."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from collector.api.schemas import HostQuery

__all__ = ["ExportLang", "HostExportQuery", "LangQuery", "SoftwareExportQuery"]

ExportLang = Literal["zh-CN", "en"]
_Filter = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00]*$")]
_LANG_DOC = "Language of the column headers and of translated values."


class HostExportQuery(HostQuery):
    """The host list's filters and sort; ``page`` and ``per_page`` are ignored: an export holds
    every host that matches."""

    lang: ExportLang = Field(default="zh-CN", description=_LANG_DOC)


class LangQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lang: ExportLang = Field(default="zh-CN", description=_LANG_DOC)


class SoftwareExportQuery(LangQuery):
    unit: _Filter = Field(default="", description="A unit code: hosts of that unit and its subtree.")
    q: _Filter = Field(default="", description="Title or publisher contains.")
    kind: Literal["", "application", "system_component", "update", "package", "framework"] = ""
