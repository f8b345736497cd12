"""Agent configuration per unit: defaults, overridden along the tree from the city down."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import AgentConfigOverride, Unit
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.errors import Forbidden, Invalid, NotFound
from collector.services.org import path_to_root, unit_by_code
from wire import AgentConfig

__all__ = ["effective_config", "set_override", "unit_override"]


def _path_to_root(session: Session, unit_id: int) -> list[int]:
    """Root first, down to the unit."""
    parents = {row.id: row.parent_id for row in session.execute(select(Unit.id, Unit.parent_id))}
    return list(reversed(path_to_root(parents, unit_id)))


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _merged_values(session: Session, unit_id: int) -> dict[str, Any]:
    overrides = {row.unit_id: row.values for row in session.scalars(select(AgentConfigOverride))}
    values: dict[str, Any] = AgentConfig().model_dump(mode="json")
    for step in _path_to_root(session, unit_id):
        values = _merge(values, overrides.get(step) or {})
    return values


def effective_config(session: Session, unit_id: int) -> AgentConfig:
    """Defaults, then each override from the root unit down to this one."""
    try:
        return AgentConfig.model_validate(_merged_values(session, unit_id))
    except ValidationError:  # a parent's change made a child's old override invalid: defaults there
        return AgentConfig()


def unit_override(session: Session, unit_code: str) -> dict[str, Any]:
    unit = unit_by_code(session, unit_code)
    row = session.scalar(select(AgentConfigOverride).where(AgentConfigOverride.unit_id == unit.id))
    return dict(row.values) if row else {}


def set_override(
    session: Session, principal: Principal, unit_code: str, values: dict[str, Any], ip: str = ""
) -> AgentConfig:
    """Replace a unit's override; the merged result must be a valid config for the unit and below."""
    unit = unit_by_code(session, unit_code)
    if not principal.can_see_unit(unit.id):  # out of scope looks exactly like missing
        raise NotFound(f"no unit with code {unit_code!r}", "unknown_unit")
    if not principal.can_manage_unit(unit.id):
        raise Forbidden(f"you may not change the agent configuration of unit {unit_code}")
    unknown = set(values) - set(AgentConfig.model_fields)
    if unknown:
        raise Invalid(f"unknown settings: {', '.join(sorted(unknown))}", "invalid_config")
    row = session.scalar(select(AgentConfigOverride).where(AgentConfigOverride.unit_id == unit.id))
    previous = dict(row.values) if row else {}
    if row is None:
        row = AgentConfigOverride(unit_id=unit.id, values=values)
        session.add(row)
    row.values = values
    row.updated_at = utcnow()
    row.updated_by = principal.username
    session.flush()
    try:
        config = AgentConfig.model_validate(_merged_values(session, unit.id))
    except ValidationError as exc:
        session.rollback()
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
        raise Invalid(f"the resulting configuration is not valid: {problems}", "invalid_config") from None
    record(
        session,
        principal.username,
        "agent_config.set",
        f"unit:{unit_code}",
        {"before": previous, "after": values},
        ip,
        principal.user_id,
    )
    session.commit()
    return config
