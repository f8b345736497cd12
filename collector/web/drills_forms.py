"""Plain-text forms of the plan's structured parts, for the pages (A9-M4.1).

Lists are edited as lines with fields separated by "|" (or the full-width "｜"), so a plan
is written in a few text areas on a PC or a tablet without any script:

- call tree: ``角色 | 姓名 | 电话 | 由谁通知 | 职责``
- incident levels: ``级别 | 名称 | 报告时限（小时） | 报告对象 | 判定标准``
- scenarios: ``编号 | 名称 | 说明``
- resources: ``名称 | 说明 | 联系人``
- participants of a drill: ``姓名 | 角色``
- steps of a phase: one per line.

``parse_plan`` turns the form into a ``PlanContent`` document (Invalid with the line on a
mistake); ``plan_form`` does the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from collector.services.drill_templates import PHASES
from collector.services.errors import Invalid
from collector.services.plans import PlanContent

__all__ = ["join_fields", "parse_participants", "parse_plan", "plan_form", "split_lines"]

_PARTS = {
    "contacts": ("role", "name", "phone", "called_by", "duty"),
    "levels": ("key", "name", "report_within_hours", "addressee", "criteria"),
    "scenarios": ("key", "title", "notes"),
    "resources": ("name", "detail", "contact"),
}


def split_lines(text: str) -> list[list[str]]:
    """Non-empty lines, each split into trimmed fields."""
    rows = []
    for line in text.replace("\x00", "").splitlines():
        if line.strip():
            rows.append([field.strip() for field in line.replace("｜", "|").split("|")])
    return rows


def join_fields(values: list[object]) -> str:
    text = " | ".join("" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in values)
    return text.rstrip(" |")


def _records(part: str, text: str) -> list[dict[str, Any]]:
    names = _PARTS[part]
    records = []
    for number, fields in enumerate(split_lines(text), 1):
        if len(fields) > len(names):
            raise Invalid(
                f"{part}, line {number}: at most {len(names)} fields separated by |", "bad_plan_form"
            )
        record: dict[str, Any] = dict(zip(names, fields, strict=False))
        if part == "levels":
            try:
                record["report_within_hours"] = float(
                    record.get("report_within_hours", "").replace("小时", "")
                )
            except ValueError:
                raise Invalid(
                    f"levels, line {number}: the reporting deadline is a number of hours", "bad_plan_form"
                ) from None
        records.append({k: v for k, v in record.items() if v != ""})
    return records


def parse_plan(form: Mapping[str, str]) -> PlanContent:
    document: dict[str, Any] = {
        "title": form.get("title", "").strip(),
        "scope": form.get("scope", "").strip(),
    }
    for part in _PARTS:
        document[part] = _records(part, form.get(part, ""))
    document["steps"] = {
        phase: [
            " ".join(line.split()) for line in form.get(f"steps_{phase}", "").splitlines() if line.strip()
        ]
        for phase in PHASES
    }
    try:
        return PlanContent.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise Invalid(f"{where}: {error['msg']}", "bad_plan_form") from None


def plan_form(content: PlanContent) -> dict[str, str]:
    form = {"title": content.title, "scope": content.scope}
    dumped = content.model_dump()
    for part, names in _PARTS.items():
        form[part] = "\n".join(join_fields([item.get(n, "") for n in names]) for item in dumped[part])
    for phase in PHASES:
        form[f"steps_{phase}"] = "\n".join(dumped["steps"].get(phase, []))
    return form


def parse_participants(text: str) -> list[tuple[str, str]]:
    people = []
    for number, fields in enumerate(split_lines(text), 1):
        if len(fields) > 2 or not fields[0]:
            raise Invalid(f"participants, line {number}: write 姓名 | 角色", "bad_participants")
        people.append((fields[0], fields[1] if len(fields) > 1 else ""))
    return people
