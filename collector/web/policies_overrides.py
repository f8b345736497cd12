"""The form of a unit's policy overrides (issue 5; A9-T3.4, A9-G): each active check on, off or
inherited, each pack parameter with its effective, own and default value, type and bounds.

Field names: ``check:<check id>`` = inherit | on | off; ``param:<pack>:<name>`` = the own value
as text (empty: inherit; lists one entry per line). ``apply_form`` turns a submitted form into
the changes ``services.compliance.set_overrides`` takes, only what differs from the unit's own
overrides, with a message per field that does not fit its parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from collector.db.models import Unit
from collector.services.compliance import active_catalog, unit_policy
from collector.web.policies_view import param_text, parse_param

__all__ = ["CheckChoice", "PackForm", "ParamField", "apply_form", "unit_form"]

_CHOICES = {"inherit": None, "on": True, "off": False}


@dataclass
class CheckChoice:
    id: str
    title_zh: str
    title_en: str
    severity: str
    default: bool
    inherited: bool  # what the unit gets without its own choice
    effective: bool
    choice: str  # inherit | on | off (the form's value)


@dataclass
class ParamField:
    pack: str
    name: str
    type: str
    default: Any
    min: float | None
    max: float | None
    description_zh: str
    description_en: str
    inherited: Any
    effective: Any
    own: Any  # None: no own value
    text: str  # the form's value
    error: str = ""

    @property
    def field_name(self) -> str:
        return f"param:{self.pack}:{self.name}"

    def show(self, value: Any) -> str:
        return param_text(value, self.type).replace("\n", ", ") if value is not None else "—"


@dataclass
class PackForm:
    name: str
    version: int
    title_zh: str
    title_en: str
    checks: list[CheckChoice] = field(default_factory=list)
    params: list[ParamField] = field(default_factory=list)


def _choice(value: bool | None) -> str:
    return "inherit" if value is None else ("on" if value else "off")


def unit_form(
    session: Session, unit: Unit, submitted: Mapping[str, str], errors: Mapping[str, str]
) -> list[PackForm]:
    """The packs of the unit's form: stored values, or the submitted ones when re-shown."""
    catalog = active_catalog(session)
    mine = unit_policy(session, unit.id)
    parent = unit_policy(session, unit.parent_id) if unit.parent_id is not None else None
    forms = []
    for name in sorted(catalog.packs):
        compiled = catalog.packs[name]
        pack = compiled.pack
        form = PackForm(name, pack.version, pack.title.zh, pack.title.en)
        for c in compiled.checks:
            inherited = parent["enabled"].get(c.id, c.check.enabled) if parent else c.check.enabled
            own = mine["own_checks"].get(c.id)
            choice = submitted.get(f"check:{c.id}", _choice(own))
            form.checks.append(
                CheckChoice(
                    c.id,
                    c.meta.title_zh,
                    c.meta.title_en,
                    c.meta.severity,
                    c.check.enabled,
                    inherited,
                    mine["enabled"].get(c.id, c.check.enabled),
                    choice if choice in _CHOICES else _choice(own),
                )
            )
        own_params = mine["own_params"].get(name) or {}
        for pname, p in pack.parameters.items():
            inherited = parent["params"].get(name, {}).get(pname, p.default) if parent else p.default
            own = own_params.get(pname)
            key = f"param:{name}:{pname}"
            form.params.append(
                ParamField(
                    name,
                    pname,
                    p.type,
                    p.default,
                    p.min,
                    p.max,
                    p.description.zh,
                    p.description.en,
                    inherited,
                    mine["params"].get(name, {}).get(pname, p.default),
                    own,
                    submitted[key] if key in submitted else param_text(own, p.type),
                    errors.get(key, ""),
                )
            )
        forms.append(form)
    return forms


def apply_form(
    session: Session, unit: Unit, fields: Mapping[str, str]
) -> tuple[dict[str, bool | None], dict[str, dict[str, Any] | None], dict[str, str]]:
    """(check changes, parameter changes per pack, errors by field name) from a submitted form.
    A field that is not in the form leaves its value as it is."""
    catalog = active_catalog(session)
    mine = unit_policy(session, unit.id)
    checks: dict[str, bool | None] = {}
    for check_id in catalog.checks:
        sent = fields.get(f"check:{check_id}")
        if sent is None:
            continue
        if sent not in _CHOICES:
            continue  # not one of the offered choices: nothing to change
        wanted = _CHOICES[sent]
        if wanted != mine["own_checks"].get(check_id):
            checks[check_id] = wanted
    params: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, str] = {}
    for name, compiled in catalog.packs.items():
        stored = dict(mine["own_params"].get(name) or {})
        declared = {k: v for k, v in stored.items() if k in compiled.pack.parameters}
        wanted_values = dict(declared)
        for pname, p in compiled.pack.parameters.items():
            key = f"param:{name}:{pname}"
            if key not in fields:
                continue
            text = fields[key]
            if not text.strip():
                wanted_values.pop(pname, None)
                continue
            try:
                value = parse_param(text, p.type)
                wanted_values.update(compiled.checked_params({pname: value}))
            except ValueError as exc:
                errors[key] = str(exc)
        if wanted_values != stored:
            params[name] = wanted_values or None
    return checks, params, errors
