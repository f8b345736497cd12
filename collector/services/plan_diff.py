"""A readable difference between two plan versions, part by part (A9-M4.1, A9-M4.3).

Pure: takes two content documents (``PlanContent`` dumps) and returns, for each part that
changed, the items added, removed or changed. Lists are matched by their natural key
(a contact by role, a level by key, a scenario by key, a resource by name); texts and the
steps of each phase line by line.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector.services.drill_templates import PHASES

__all__ = ["Change", "PartDiff", "diff_contents"]


@dataclass(frozen=True)
class Change:
    op: str  # added | removed | changed
    text: str  # the new text (added, changed) or the old one (removed)
    old: str = ""  # the old text of a change


@dataclass(frozen=True)
class PartDiff:
    part: str  # title | scope | contacts | levels | scenarios | steps.<phase> | resources
    changes: list[Change] = field(default_factory=list)


def _contact(c: dict[str, Any]) -> str:
    text = f"{c.get('role', '')}：{c.get('name', '')} {c.get('phone', '')}".strip()
    if c.get("called_by"):
        text += f"（由{c['called_by']}通知）"
    return text + (f" — {c['duty']}" if c.get("duty") else "")


def _level(lv: dict[str, Any]) -> str:
    hours = lv.get("report_within_hours", "")
    hours_text = f"{hours:g}" if isinstance(hours, int | float) else str(hours)
    text = f"{lv.get('key', '')} {lv.get('name', '')}：{hours_text} 小时内报告 {lv.get('addressee', '')}"
    return text + (f"；{lv['criteria']}" if lv.get("criteria") else "")


def _scenario(s: dict[str, Any]) -> str:
    return f"{s.get('title', '')}" + (f" — {s['notes']}" if s.get("notes") else "")


def _resource(r: dict[str, Any]) -> str:
    text = f"{r.get('name', '')}：{r.get('detail', '')}".rstrip("：")
    return text + (f"（{r['contact']}）" if r.get("contact") else "")


def _lines(old: list[str], new: list[str]) -> list[Change]:
    changes: list[Change] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before, after = old[i1:i2], new[j1:j2]
        paired = min(len(before), len(after)) if tag == "replace" else 0
        changes.extend(Change("changed", a, b) for b, a in zip(before[:paired], after[:paired], strict=True))
        changes.extend(Change("removed", b) for b in before[paired:])
        changes.extend(Change("added", a) for a in after[paired:])
    return changes


def _keyed(
    old: list[dict[str, Any]], new: list[dict[str, Any]], key: str, show: Callable[[dict[str, Any]], str]
) -> list[Change]:
    before = {str(item.get(key)): item for item in old}
    after = {str(item.get(key)): item for item in new}
    changes = [Change("removed", show(item)) for k, item in before.items() if k not in after]
    for k, item in after.items():
        if k not in before:
            changes.append(Change("added", show(item)))
        elif item != before[k]:
            changes.append(Change("changed", show(item), show(before[k])))
    return changes


def _text_lines(text: object) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def diff_contents(old: dict[str, Any] | None, new: dict[str, Any]) -> list[PartDiff]:
    """The parts that differ (all of ``new`` as added when there is no old version)."""
    old = old or {}
    parts: list[PartDiff] = []

    def add(part: str, changes: list[Change]) -> None:
        if changes:
            parts.append(PartDiff(part, changes))

    add("title", _lines(_text_lines(old.get("title")), _text_lines(new.get("title"))))
    add("scope", _lines(_text_lines(old.get("scope")), _text_lines(new.get("scope"))))
    add("contacts", _keyed(old.get("contacts", []), new.get("contacts", []), "role", _contact))
    add("levels", _keyed(old.get("levels", []), new.get("levels", []), "key", _level))
    add("scenarios", _keyed(old.get("scenarios", []), new.get("scenarios", []), "key", _scenario))
    old_steps, new_steps = old.get("steps", {}), new.get("steps", {})
    for phase in PHASES:
        add(f"steps.{phase}", _lines(list(old_steps.get(phase, [])), list(new_steps.get(phase, []))))
    add("resources", _keyed(old.get("resources", []), new.get("resources", []), "name", _resource))
    return parts
