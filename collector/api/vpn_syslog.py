"""JSON API of the VPN appliances' syslog line templates (issue 6: A9-T2.3, A9-T1, A9-M3.4).

Scope (A9-G): a template of an appliance outside the caller's view answers 404 like a missing
one; auditors and inspectors read and test, admins write (district admins for the appliances
of their subtree, city admins also vendor-wide templates). Every write is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam

from collector.api.vpn_syslog_schemas import (
    SuggestIn,
    SuggestOut,
    TemplateCreate,
    TemplateOut,
    TemplatePatch,
    TemplateTestIn,
    TemplateTestOut,
)
from collector.db.models import Host
from collector.db.models_vpn import SyslogTemplate
from collector.deps import PrincipalDep, SessionDep, client_ip
from collector.services import syslog_templates as templates
from collector.services.errors import Invalid

__all__ = ["router", "template_out", "test_out"]

router = APIRouter(prefix="/api/v1", tags=["vpn"])

TemplateId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not change this appliance's templates (or vendor-wide ones)."},
    404: {"description": "No such template (or appliance) in your scope."},
    422: {
        "description": "The template does not match its sample, lacks {user} or {src_ip}, or the host is no VPN appliance."
    },
}


def template_out(row: SyslogTemplate, host: Host | None) -> TemplateOut:
    return TemplateOut(
        id=row.id,
        host_id=row.host_id,
        hostname=host.hostname if host else "",
        vendor=row.vendor,
        name=row.name,
        result=row.result,
        template=row.template,
        sample=row.sample,
        pattern=row.pattern,
        enabled=row.enabled,
        matched=row.matched or 0,
        last_matched_at=row.last_matched_at,
        created_at=row.created_at,
    )


def test_out(template: str, sample: str, result: str) -> TemplateTestOut:
    """The template tried on the sample: the fields, or what did not match."""
    try:
        pattern = templates.compile_template(templates.redact_template(template)).pattern
    except Invalid as exc:
        return TemplateTestOut(matched=False, fields={}, error=exc.detail, pattern="")
    try:
        fields = templates.try_template(template, sample, result)
    except Invalid as exc:
        return TemplateTestOut(matched=False, fields={}, error=exc.detail, pattern=pattern)
    return TemplateTestOut(matched=True, fields=fields, error="", pattern=pattern)


def _out(session: SessionDep, row: SyslogTemplate) -> TemplateOut:
    return template_out(row, session.get(Host, row.host_id) if row.host_id else None)


@router.get("/vpn/templates", response_model=list[TemplateOut])
def list_templates(
    principal: PrincipalDep,
    session: SessionDep,
    host_id: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="Only this appliance's.")
    ] = None,
) -> list[TemplateOut]:
    """Line templates of the appliances in your scope, then the vendor-wide ones."""
    return [_out(session, row) for row in templates.list_templates(session, principal, host_id)]


@router.post("/vpn/templates", response_model=TemplateOut, status_code=201, responses=_WRITE)
def create_template(
    body: TemplateCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> TemplateOut:
    """Save a line template; it must match its sample and mark {user} (and {src_ip} for
    successes and failures), else 422 says which part did not match."""
    new = templates.TemplateIn(**body.model_dump())
    return _out(session, templates.create_template(session, principal, new, client_ip(request)))


@router.post("/vpn/templates/test", response_model=TemplateTestOut)
def test_template(body: TemplateTestIn, principal: PrincipalDep) -> TemplateTestOut:
    """Try a template on a sample line: the fields it extracts, or which part did not match."""
    return test_out(body.template, body.sample, body.result)


@router.post(
    "/vpn/templates/suggest", response_model=SuggestOut, responses={422: {"description": "Not a line."}}
)
def suggest_template(body: SuggestIn, principal: PrincipalDep) -> SuggestOut:
    """A template from a sample line: IP addresses become {src_ip}, the given user name {user},
    a date and time inside the message {time}. Review it, then test and save it."""
    template = templates.suggest(body.sample, body.user.strip())
    return SuggestOut(template=template, test=test_out(template, body.sample, "success"))


@router.get("/vpn/templates/{template_id}", response_model=TemplateOut, responses={404: _WRITE[404]})
def get_template(template_id: TemplateId, principal: PrincipalDep, session: SessionDep) -> TemplateOut:
    return _out(session, templates.get_template(session, principal, template_id))


@router.patch("/vpn/templates/{template_id}", response_model=TemplateOut, responses=_WRITE)
def patch_template(
    template_id: TemplateId,
    body: TemplatePatch,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> TemplateOut:
    changes = body.model_dump(exclude_unset=True)
    row = templates.update_template(session, principal, template_id, changes, client_ip(request))
    return _out(session, row)


@router.delete("/vpn/templates/{template_id}", status_code=204, responses=_WRITE)
def delete_template(
    template_id: TemplateId, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    templates.delete_template(session, principal, template_id, client_ip(request))
    return Response(status_code=204)
