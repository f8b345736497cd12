"""Policy packs, checks, unit overrides and compliance results (issue 5; A9-T3.4, A9-M3.5, A9-G).

Packs are city-wide: only a city admin uploads a new version (kept pending, validated with
its examples, its difference returned) and applies it. A unit's overrides (checks on/off,
pack parameters) are changed by the admins of that unit or above. Results are read within
the caller's scope; a host, unit or check outside it answers like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from collector.db.models_policy import PolicyPack
from collector.deps import PrincipalDep, SessionDep, client_ip
from collector.services import compliance, compliance_view
from collector.services.errors import NotFound
from collector.services.org import unit_by_code

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["policies"])

_NO_NUL = r"^[^\x00]*$"
_CheckId = Annotated[
    str, PathParam(min_length=3, max_length=96, pattern=r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_.-]*$")
]
_Pack = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
_Version = Annotated[int, PathParam(ge=1, le=1_000_000)]
_HostId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_Code = Annotated[str, PathParam(min_length=1, max_length=32, pattern=_NO_NUL)]
_ParamValue = (
    bool
    | int
    | float
    | Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)]
    | list[Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)]]
)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Counts(BaseModel):
    pass_: int = Field(alias="pass", serialization_alias="pass")
    fail: int
    error: int
    not_applicable: int
    model_config = ConfigDict(populate_by_name=True)


def _counts(values: dict[str, int]) -> Counts:
    return Counts.model_validate({**values})


class PackVersionOut(_Out):
    name: str
    version: int
    status: str
    origin: str
    sha256: str
    created_at: datetime
    applied_at: datetime | None


class PackOut(BaseModel):
    name: str
    title_zh: str
    title_en: str
    active_version: int | None
    checks: list[str]
    versions: list[PackVersionOut]


class PackSourceOut(PackVersionOut):
    source: str
    diff: dict[str, Any] | None = None


class PackUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Annotated[str, StringConstraints(min_length=1, max_length=2_000_000, pattern=_NO_NUL)] = Field(
        description="The pack's YAML text (policies/schema.json describes it)."
    )


class StagedOut(BaseModel):
    pack: PackVersionOut
    diff: dict[str, Any]


class EvalOut(BaseModel):
    hosts: int
    evaluations: int
    changed: int


class CheckRowOut(BaseModel):
    id: str
    pack: str
    title_zh: str
    title_en: str
    severity: str
    category: str
    section: str
    requirements: list[str]
    counts: Counts
    rate: float | None = Field(description="Percentage of pass among pass + fail; null when none judged.")


class UnitRowOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    hosts: int
    hosts_failing: int
    counts: Counts
    rate: float | None
    live_findings: int
    overdue: int


class ResultOut(BaseModel):
    check: CheckRowOut
    status: str
    since: datetime
    evaluated_at: datetime
    evidence: Any
    finding_id: int | None
    finding_status: str | None


class HostComplianceOut(BaseModel):
    host_id: int
    hostname: str
    results: list[ResultOut]


class HistoryOut(_Out):
    status: str
    evidence: Any
    at: datetime
    pack_version: int


class FailingHostOut(BaseModel):
    host_id: int
    hostname: str
    unit_code: str
    since: datetime
    evidence: Any


class FailingHostsOut(BaseModel):
    total: int
    hosts: list[FailingHostOut]


class UnitPolicyOut(BaseModel):
    code: str
    enabled: dict[str, bool]
    params: dict[str, dict[str, Any]]
    own_checks: dict[str, bool | None]
    own_params: dict[str, dict[str, Any]]


class UnitPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    checks: dict[
        Annotated[str, StringConstraints(max_length=96, pattern=r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_.-]*$")],
        bool | None,
    ] = Field(default_factory=dict, max_length=500, description="check id -> on / off / null (inherit)")
    params: dict[
        Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")],
        dict[Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")], _ParamValue]
        | None,
    ] = Field(
        default_factory=dict, max_length=100, description="pack -> {parameter: value}, or null (inherit)"
    )


def _version_out(row: PolicyPack) -> PackVersionOut:
    return PackVersionOut.model_validate(row)


def _check_row(row: compliance_view.CheckRow) -> CheckRowOut:
    return CheckRowOut(
        id=row.id,
        pack=row.pack,
        title_zh=row.title_zh,
        title_en=row.title_en,
        severity=row.severity,
        category=row.category,
        section=row.section,
        requirements=list(row.requirements),
        counts=_counts(row.counts),
        rate=row.rate,
    )


@router.get("/policies", response_model=list[PackOut])
def list_packs(principal: PrincipalDep, session: SessionDep) -> list[PackOut]:
    """Every pack with its versions (active, pending, superseded) and its active checks."""
    catalog = compliance.active_catalog(session)
    rows = session.scalars(select(PolicyPack).order_by(PolicyPack.name, PolicyPack.version.desc())).all()
    out: dict[str, PackOut] = {}
    for row in rows:
        active = catalog.packs.get(row.name)
        entry = out.setdefault(
            row.name,
            PackOut(
                name=row.name,
                title_zh=active.pack.title.zh
                if active
                else str((row.content or {}).get("title", {}).get("zh", "")),
                title_en=active.pack.title.en
                if active
                else str((row.content or {}).get("title", {}).get("en", "")),
                active_version=active.pack.version if active else None,
                checks=[c.id for c in active.checks] if active else [],
                versions=[],
            ),
        )
        entry.versions.append(_version_out(row))
    return list(out.values())


def _pack_row(session: SessionDep, pack: str, version: int) -> PolicyPack:
    row = session.scalar(select(PolicyPack).where(PolicyPack.name == pack, PolicyPack.version == version))
    if row is None:
        raise NotFound(f"no pack {pack} version {version}", "pack_not_found")
    return row


@router.get("/policies/{pack}/versions/{version}", response_model=PackSourceOut)
def get_pack_version(
    pack: _Pack, version: _Version, principal: PrincipalDep, session: SessionDep
) -> PackSourceOut:
    """One version's YAML source; a pending version comes with its difference to the active one."""
    row = _pack_row(session, pack, version)
    diff = compliance.pending_diff(session, row) if row.status == "pending" else None
    return PackSourceOut(**_version_out(row).model_dump(), source=row.source, diff=diff)


@router.post(
    "/policies",
    response_model=StagedOut,
    status_code=201,
    responses={
        403: {"description": "Only a city admin changes packs."},
        422: {"description": "The pack is invalid (every problem listed) or its version is not newer."},
    },
)
def upload_pack(
    body: PackUpload, request: Request, principal: PrincipalDep, session: SessionDep
) -> StagedOut:
    """Validate a new version of a pack (schema, rules against the report models, examples) and
    keep it pending; the answer carries the difference to the active version."""
    row, diff = compliance.stage_pack(session, principal, body.source, client_ip(request))
    session.commit()
    return StagedOut(pack=_version_out(row), diff=diff)


@router.post(
    "/policies/{pack}/versions/{version}/apply",
    response_model=EvalOut,
    responses={
        403: {"description": "Only a city admin changes packs."},
        404: {"description": "No such version."},
    },
)
def apply_pack(
    pack: _Pack, version: _Version, request: Request, principal: PrincipalDep, session: SessionDep
) -> EvalOut:
    """Make a pending version active and re-evaluate its checks on every host."""
    stats = compliance.apply_pack(session, principal, pack, version, client_ip(request))
    session.commit()
    return EvalOut(hosts=stats.hosts, evaluations=stats.evaluations, changed=stats.changed)


@router.get("/checks", response_model=list[CheckRowOut])
def list_checks(
    principal: PrincipalDep,
    session: SessionDep,
    unit: Annotated[str | None, Query(max_length=32, pattern=_NO_NUL)] = None,
) -> list[CheckRowOut]:
    """Every active check with its results on the hosts you see (of one unit's subtree with ``unit``)."""
    unit_ids = None
    if unit:
        found = unit_by_code(session, unit)
        if not principal.can_see_unit(found.id):
            raise NotFound(f"no unit with code {unit!r}", "unknown_unit")
        from collector.services.org import subtree_ids

        unit_ids = subtree_ids(session, [found.id])
    return [_check_row(r) for r in compliance_view.by_check(session, principal, unit_ids)]


@router.get("/checks/{check_id}")
def get_check(check_id: _CheckId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """A check as written: texts, rule and applies in YAML, the parameters it uses, its examples."""
    return compliance_view.check_detail(session, check_id)


@router.get("/checks/{check_id}/hosts", response_model=FailingHostsOut)
def check_hosts(
    check_id: _CheckId,
    principal: PrincipalDep,
    session: SessionDep,
    status: Literal["fail", "error", "pass", "not_applicable"] = "fail",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> FailingHostsOut:
    """The hosts you see with this result of the check, longest-standing first."""
    total, rows = compliance_view.failing_hosts(
        session, principal, check_id, status=status, limit=limit, offset=offset
    )
    return FailingHostsOut(
        total=total,
        hosts=[
            FailingHostOut(
                host_id=h.id, hostname=h.hostname, unit_code=h.unit.code, since=r.since, evidence=r.evidence
            )
            for h, r in rows
        ],
    )


@router.get("/compliance/units", response_model=list[UnitRowOut])
def compliance_by_unit(principal: PrincipalDep, session: SessionDep) -> list[UnitRowOut]:
    """Per unit you see (its own hosts): results by status, hosts failing, live and overdue findings."""
    return [
        UnitRowOut(
            code=r.unit.code,
            name_zh=r.unit.name_zh,
            name_en=r.unit.name_en,
            hosts=r.hosts,
            hosts_failing=r.hosts_failing,
            counts=_counts(r.counts),
            rate=r.rate,
            live_findings=r.live_findings,
            overdue=r.overdue,
        )
        for r in compliance_view.by_unit(session, principal)
    ]


@router.get("/hosts/{host_id}/compliance", response_model=HostComplianceOut)
def host_compliance(host_id: _HostId, principal: PrincipalDep, session: SessionDep) -> HostComplianceOut:
    """Every current result of one host (failures first), with evidence and finding."""
    host, results = compliance_view.host_results(session, principal, host_id)
    return HostComplianceOut(
        host_id=host.id,
        hostname=host.hostname,
        results=[
            ResultOut(
                check=_check_row(r.check),
                status=r.status,
                since=r.since,
                evaluated_at=r.evaluated_at,
                evidence=r.evidence,
                finding_id=r.finding_id,
                finding_status=r.finding_status,
            )
            for r in results
        ],
    )


@router.get("/hosts/{host_id}/compliance/{check_id}/history", response_model=list[HistoryOut])
def host_check_history(
    host_id: _HostId, check_id: _CheckId, principal: PrincipalDep, session: SessionDep
) -> list[HistoryOut]:
    """Every change of one host × check result, newest first."""
    return [
        HistoryOut.model_validate(h)
        for h in compliance_view.result_history(session, principal, host_id, check_id)
    ]


def _unit_policy_out(session: SessionDep, code: str, unit_id: int) -> UnitPolicyOut:
    data = compliance.unit_policy(session, unit_id)
    return UnitPolicyOut(code=code, **data)


@router.get("/units/{code}/policy", response_model=UnitPolicyOut)
def get_unit_policy(code: _Code, principal: PrincipalDep, session: SessionDep) -> UnitPolicyOut:
    """What applies in a unit (checks on/off, parameters) and which of it the unit sets itself."""
    unit = unit_by_code(session, code)
    if not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {code!r}", "unknown_unit")
    return _unit_policy_out(session, code, unit.id)


@router.put(
    "/units/{code}/policy",
    response_model=UnitPolicyOut,
    responses={
        403: {"description": "Your role may not change it."},
        422: {"description": "Unknown check or pack, or a parameter value out of its type or bounds."},
    },
)
def put_unit_policy(
    code: _Code, body: UnitPolicyIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> UnitPolicyOut:
    """Change a unit's overrides (null removes one, so the parent's value applies); the hosts
    of the unit's subtree are re-evaluated."""
    unit = unit_by_code(session, code)
    if not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {code!r}", "unknown_unit")
    compliance.set_overrides(
        session, principal, unit, checks=body.checks, params=body.params, ip=client_ip(request)
    )
    session.commit()
    return _unit_policy_out(session, code, unit.id)
