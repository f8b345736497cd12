"""The training ledger (培训台账, A9-M2.3: at least one technical training a year, with
attendance) in the caller's scope (A9-G).

A training belongs to its organising unit: whoever manages that unit (city admin, the
district's admin) records and changes it. It is *visible* to everyone who sees the organising
unit, a participating unit or an attendee's unit, so a district sees the city's training its
people attended; what they read of it is cut to their scope (the other districts' units and
attendees stay hidden), and a training outside the scope answers exactly like a missing one.
Every change is audited (target ``training:<id>``).

Materials (slides, handouts, scanned sign-in sheets) are stored in the database: at most
MAX_MATERIAL_BYTES each, MAX_MATERIALS per training, and only the file types of TYPES, whose
content must match the name (magic bytes) and the declared content type.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, extract, func, or_, select
from sqlalchemy.orm import Session, selectinload

from collector.db.models import Unit, User
from collector.db.models_training import Training, TrainingAttendee, TrainingMaterial, TrainingUnit
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.errors import Conflict, Forbidden, Invalid, NotFound
from collector.services.users import visible_user

__all__ = [
    "KINDS",
    "MAX_MATERIALS",
    "MAX_MATERIAL_BYTES",
    "TYPES",
    "NewAttendee",
    "TrainingFields",
    "TrainingPage",
    "add_attendee",
    "add_material",
    "attended_units",
    "check_material",
    "create_training",
    "delete_training",
    "get_material",
    "get_training",
    "list_trainings",
    "remove_attendee",
    "remove_material",
    "resolve_unit",
    "shown_attendees",
    "shown_units",
    "training_for_write",
    "update_training",
]

#: technical: network-security technical training (what A9-M2.3 asks for once a year).
KINDS = ("technical", "awareness", "other")
MAX_MATERIAL_BYTES = 20 * 1024 * 1024
MAX_MATERIALS = 20
MAX_HOURS = 1000.0
_OOXML, _OLE = (b"PK\x03\x04",), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
#: extension: (content type served, magic prefixes the file must start with; None: text).
TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _OOXML),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _OOXML),
    ".pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", _OOXML),
    ".doc": ("application/msword", _OLE),
    ".xls": ("application/vnd.ms-excel", _OLE),
    ".ppt": ("application/vnd.ms-powerpoint", _OLE),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".txt": ("text/plain", None),
}
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/x-download"}


@dataclass
class TrainingFields:
    held_on: date
    topic: str
    unit: str  # code of the organising unit
    kind: str = "technical"
    trainer: str = ""
    location: str = ""
    hours: float = 0.0
    notes: str = ""
    units: list[str] = field(default_factory=list)  # codes of participating units


@dataclass
class NewAttendee:
    name: str
    unit: str  # code or name
    username: str = ""
    hours: float | None = None
    attended: bool = True


@dataclass(frozen=True)
class TrainingPage:
    total: int
    items: list[Training]


def _text(value: object, limit: int) -> str:
    return " ".join(str(value or "").replace("\x00", "").split())[:limit]


def _audit(session: Session, principal: Principal, action: str, training: Training, detail: dict[str, Any],
           ip: str) -> None:  # fmt: skip
    record(session, principal.username, action, f"training:{training.id}", detail, ip, principal.user_id)


# -- scope ----------------------------------------------------------------------------------
def _touches(principal: Principal, training: Training) -> bool:
    if principal.can_see_unit(training.unit_id):
        return True
    return any(principal.can_see_unit(u.unit_id) for u in training.units) or any(
        principal.can_see_unit(a.unit_id) for a in training.attendees
    )


def get_training(session: Session, principal: Principal, training_id: int) -> Training:
    """A training the caller sees; one outside the scope answers like a missing one."""
    training = session.get(Training, training_id)
    if training is None or not _touches(principal, training):
        raise NotFound(f"no training {training_id}", "unknown_training")
    return training


def training_for_write(session: Session, principal: Principal, training_id: int) -> Training:
    """404 outside the view, 403 for read-only roles and for trainings of units the caller
    does not manage (a city training a district attended)."""
    training = get_training(session, principal, training_id)
    if principal.read_only:
        raise Forbidden(
            "your role is read-only (auditor or inspector): you can look, not change", "read_only"
        )
    if not principal.can_manage_unit(training.unit_id):
        raise Forbidden("this training was organised by a unit you do not manage", "not_your_training")
    return training


def resolve_unit(session: Session, principal: Principal, text: str) -> Unit:
    """A unit the caller sees, by code or name (Chinese or English); unknown otherwise."""
    wanted = text.strip()
    unit = session.scalar(select(Unit).where(Unit.code == wanted)) or session.scalar(
        select(Unit).where(or_(Unit.name_zh == wanted, Unit.name_en == wanted)).limit(1)
    )
    if unit is None or not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit {wanted[:40]!r}", "unknown_unit")
    return unit


def _organiser(session: Session, principal: Principal, code: str) -> Unit:
    unit = resolve_unit(session, principal, code)
    if principal.read_only:
        raise Forbidden(
            "your role is read-only (auditor or inspector): you can look, not change", "read_only"
        )
    if not principal.can_manage_unit(unit.id):
        raise Forbidden(f"unit {unit.code} is outside your management scope", "unit_out_of_scope")
    return unit


def shown_units(principal: Principal, training: Training) -> list[Unit]:
    """Participating units the caller may see."""
    return [u.unit for u in training.units if principal.can_see_unit(u.unit_id)]


def shown_attendees(principal: Principal, training: Training) -> list[TrainingAttendee]:
    """Attendees of units the caller may see."""
    return [a for a in training.attendees if principal.can_see_unit(a.unit_id)]


def attended_units(training: Training) -> set[int]:
    """Units that took part: the participating units and the units of attendees who came."""
    return {u.unit_id for u in training.units} | {a.unit_id for a in training.attendees if a.attended}


# -- listing --------------------------------------------------------------------------------
def _scoped(query: Select[Training], principal: Principal) -> Select[Training]:
    if principal.visible_units is None:
        return query
    seen = principal.visible_units
    by_unit = select(TrainingUnit.training_id).where(TrainingUnit.unit_id.in_(seen))
    by_attendee = select(TrainingAttendee.training_id).where(TrainingAttendee.unit_id.in_(seen))
    return query.where(
        or_(Training.unit_id.in_(seen), Training.id.in_(by_unit), Training.id.in_(by_attendee))
    )


def list_trainings(
    session: Session,
    principal: Principal,
    *,
    year: int | None = None,
    unit: str = "",
    kind: str = "",
    text: str = "",
    page: int = 1,
    per_page: int = 50,
) -> TrainingPage:
    """Trainings in scope, newest first; ``unit`` (code) keeps those it organised or took part in."""
    query = _scoped(select(Training), principal)
    if year is not None:
        query = query.where(extract("year", Training.held_on) == year)
    if kind:
        query = query.where(Training.kind == kind)
    if text:
        needle = f"%{text.lower()}%"
        query = query.where(
            or_(func.lower(Training.topic).like(needle), func.lower(Training.trainer).like(needle))
        )
    if unit:
        found = resolve_unit(session, principal, unit)
        query = query.where(
            or_(
                Training.unit_id == found.id,
                Training.id.in_(select(TrainingUnit.training_id).where(TrainingUnit.unit_id == found.id)),
                Training.id.in_(
                    select(TrainingAttendee.training_id).where(TrainingAttendee.unit_id == found.id)
                ),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.options(
            selectinload(Training.unit), selectinload(Training.units), selectinload(Training.attendees)
        )
        .order_by(Training.held_on.desc(), Training.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return TrainingPage(total, list(items))


# -- records --------------------------------------------------------------------------------
def _check_values(values: Mapping[str, Any]) -> dict[str, Any]:
    limits = {"topic": 255, "trainer": 128, "location": 128}
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name in limits:
            clean[name] = _text(value, limits[name])
        elif name == "notes":
            clean[name] = str(value or "").replace("\x00", "").strip()[:4000]
        elif name == "kind":
            if value not in KINDS:
                raise Invalid(f"kind must be one of {', '.join(KINDS)}", "bad_kind")
            clean[name] = value
        elif name == "hours":
            hours = float(value or 0)
            if not 0 <= hours <= MAX_HOURS:
                raise Invalid(f"hours must be between 0 and {MAX_HOURS:g}", "bad_hours")
            clean[name] = round(hours, 1)
        elif name == "held_on":
            if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
                raise Invalid("the date must lie between 2000 and 2100", "bad_date")
            clean[name] = value
    if "topic" in clean and not clean["topic"]:
        raise Invalid("the topic is needed", "missing_topic")
    return clean


def _set_units(session: Session, principal: Principal, training: Training, codes: Iterable[str]) -> list[str]:
    """Replace the participating units the caller sees (hidden ones stay); the new codes."""
    wanted: dict[int, Unit] = {}
    for code in codes:
        if code.strip():
            unit = resolve_unit(session, principal, code)
            wanted[unit.id] = unit
    for row in list(training.units):
        if principal.can_see_unit(row.unit_id) and row.unit_id not in wanted:
            training.units.remove(row)
    have = {row.unit_id for row in training.units}
    for unit_id, unit in wanted.items():
        if unit_id not in have:
            training.units.append(TrainingUnit(unit=unit))
    return sorted(u.code for u in wanted.values())


def create_training(
    session: Session,
    principal: Principal,
    fields: TrainingFields,
    attendees: Sequence[NewAttendee] = (),
    ip: str = "",
) -> Training:
    """Record a training organised by ``fields.unit`` (a unit the caller manages), audited."""
    unit = _organiser(session, principal, fields.unit)
    values = _check_values(
        {k: getattr(fields, k) for k in ("held_on", "topic", "kind", "trainer", "location", "hours", "notes")}
    )
    training = Training(unit=unit, created_by=principal.username[:64], **values)
    session.add(training)
    session.flush()
    codes = _set_units(session, principal, training, fields.units)
    for attendee in attendees:
        _new_attendee(session, principal, training, attendee)
    session.flush()
    _audit(session, principal, "training.create", training,
           {"unit": unit.code, "held_on": training.held_on.isoformat(), "kind": training.kind,
            "topic": training.topic[:80], "units": codes, "attendees": len(attendees)}, ip)  # fmt: skip
    session.commit()
    return training


def _shown(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:80]


def update_training(
    session: Session,
    principal: Principal,
    training_id: int,
    values: Mapping[str, Any],
    units: Sequence[str] | None = None,
    ip: str = "",
) -> Training:
    """Change the given fields (and the participating units when ``units`` is given), audited.
    ``unit`` moves the training to another unit the caller manages."""
    training = training_for_write(session, principal, training_id)
    values = dict(values)
    changed: dict[str, Any] = {}
    if values.get("unit"):
        unit = _organiser(session, principal, str(values.pop("unit")))
        if unit.id != training.unit_id:
            changed["unit"] = [training.unit.code, unit.code]
            training.unit = unit
    values.pop("unit", None)
    for name, value in _check_values(values).items():
        old = getattr(training, name)
        if old != value:
            changed[name] = [] if name == "notes" else [_shown(old), _shown(value)]
            setattr(training, name, value)
    if units is not None:
        before = sorted(u.unit.code for u in training.units if principal.can_see_unit(u.unit_id))
        after = _set_units(session, principal, training, units)
        if before != after:
            changed["units"] = [",".join(before)[:200], ",".join(after)[:200]]
    if changed:
        _audit(session, principal, "training.update", training, {"changed": changed}, ip)
    session.commit()
    session.refresh(training)
    return training


def delete_training(session: Session, principal: Principal, training_id: int, ip: str = "") -> None:
    training = training_for_write(session, principal, training_id)
    _audit(session, principal, "training.delete", training,
           {"unit": training.unit.code, "held_on": training.held_on.isoformat(), "topic": training.topic[:80],
            "attendees": len(training.attendees), "materials": len(training.materials)}, ip)  # fmt: skip
    session.delete(training)
    session.commit()


# -- attendees ------------------------------------------------------------------------------
def _linked_user(session: Session, principal: Principal, username: str) -> User | None:
    if not username.strip():
        return None
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not visible_user(principal, user):
        raise NotFound(f"no user {username.strip()[:64]!r}", "unknown_user")
    return user


def check_hours(value: float | None) -> float | None:
    if value is None:
        return None
    if not 0 <= value <= MAX_HOURS:
        raise Invalid(f"hours must be between 0 and {MAX_HOURS:g}", "bad_hours")
    return round(float(value), 1)


def _new_attendee(
    session: Session, principal: Principal, training: Training, new: NewAttendee
) -> TrainingAttendee:
    name = _text(new.name, 64)
    if not name:
        raise Invalid("the attendee's name is needed", "missing_name")
    unit = resolve_unit(session, principal, new.unit)
    if any(a.unit_id == unit.id and a.name == name for a in training.attendees):
        raise Conflict(f"{name} of {unit.code} is already on the list", "attendee_exists")
    attendee = TrainingAttendee(
        name=name,
        unit=unit,
        user=_linked_user(session, principal, new.username),
        hours=check_hours(new.hours),
        attended=new.attended,
    )
    training.attendees.append(attendee)
    return attendee


def add_attendee(
    session: Session, principal: Principal, training_id: int, new: NewAttendee, ip: str = ""
) -> TrainingAttendee:
    training = training_for_write(session, principal, training_id)
    attendee = _new_attendee(session, principal, training, new)
    session.flush()
    _audit(session, principal, "training.attendee_add", training,
           {"attendee": attendee.id, "unit": attendee.unit.code, "attended": attendee.attended}, ip)  # fmt: skip
    session.commit()
    return attendee


def remove_attendee(
    session: Session, principal: Principal, training_id: int, attendee_id: int, ip: str = ""
) -> None:
    training = training_for_write(session, principal, training_id)
    attendee = next((a for a in shown_attendees(principal, training) if a.id == attendee_id), None)
    if attendee is None:
        raise NotFound(f"no attendee {attendee_id} on this training", "unknown_attendee")
    training.attendees.remove(attendee)
    _audit(session, principal, "training.attendee_remove", training,
           {"attendee": attendee_id, "unit": attendee.unit.code}, ip)  # fmt: skip
    session.commit()


# -- materials ------------------------------------------------------------------------------
def safe_filename(name: str) -> str:
    """The last path part, without control characters, at most 120 characters (extension kept)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable() and c not in '<>:"|?*')
    base = base.strip().strip(".") or "file"
    stem, dot, ext = base.rpartition(".")
    return (stem[: 120 - len(ext) - 1] + "." + ext) if dot and stem else base[:120]


def check_material(filename: str, data: bytes, declared: str = "") -> tuple[str, str]:
    """(safe file name, content type) for an accepted file; Invalid with the reason otherwise."""
    name = safe_filename(filename)
    ext = "." + name.rpartition(".")[2].lower() if "." in name else ""
    if ext not in TYPES:
        allowed = ", ".join(sorted(TYPES))
        raise Invalid(f"file type {ext or '(none)'} is not accepted; use one of {allowed}", "bad_file_type")
    if not data:
        raise Invalid("the file is empty", "empty_file")
    if len(data) > MAX_MATERIAL_BYTES:
        raise Invalid(f"the file is larger than {MAX_MATERIAL_BYTES // 1024 // 1024} MB", "file_too_large")
    content_type, magic = TYPES[ext]
    declared = declared.split(";")[0].strip().lower()
    if declared not in _GENERIC_TYPES and declared != content_type:
        raise Invalid(f"the file is sent as {declared[:60]} but named {ext}", "content_type_mismatch")
    if magic is None:
        if b"\x00" in data:
            raise Invalid("a .txt file must be text", "content_mismatch")
        try:
            data.decode("utf-8")
            content_type += "; charset=utf-8"
        except UnicodeDecodeError:
            try:
                data.decode("gb18030")
            except UnicodeDecodeError:
                raise Invalid("a .txt file must be UTF-8 or GBK text", "content_mismatch") from None
            content_type += "; charset=gb18030"
    elif not data.startswith(magic):
        raise Invalid(f"the content is not a {ext} file", "content_mismatch")
    return name, content_type


def add_material(session: Session, principal: Principal, training_id: int, filename: str, data: bytes,
                 declared: str = "", ip: str = "") -> TrainingMaterial:  # fmt: skip
    training = training_for_write(session, principal, training_id)
    name, content_type = check_material(filename, data, declared)
    if len(training.materials) >= MAX_MATERIALS:
        raise Conflict(f"at most {MAX_MATERIALS} files per training", "too_many_materials")
    material = TrainingMaterial(
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        uploaded_by=principal.username[:64],
    )
    training.materials.append(material)
    session.flush()
    _audit(session, principal, "training.material_add", training,
           {"material": material.id, "filename": name, "size": len(data), "sha256": material.sha256}, ip)  # fmt: skip
    session.commit()
    return material


def get_material(
    session: Session, principal: Principal, training_id: int, material_id: int
) -> TrainingMaterial:
    training = get_training(session, principal, training_id)
    material = next((m for m in training.materials if m.id == material_id), None)
    if material is None:
        raise NotFound(f"no file {material_id} on this training", "unknown_material")
    return material


def remove_material(
    session: Session, principal: Principal, training_id: int, material_id: int, ip: str = ""
) -> None:
    training = training_for_write(session, principal, training_id)
    material = next((m for m in training.materials if m.id == material_id), None)
    if material is None:
        raise NotFound(f"no file {material_id} on this training", "unknown_material")
    training.materials.remove(material)
    _audit(session, principal, "training.material_remove", training,
           {"material": material_id, "filename": material.filename, "sha256": material.sha256}, ip)  # fmt: skip
    session.commit()
