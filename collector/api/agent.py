"""Agent endpoints: enroll, reports, events, config (node-key authenticated)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from collector.api.body import read_model
from collector.db.models import Host
from collector.deps import AgentHostDep, SessionDep, client_ip
from collector.services import enrollment, ingest
from collector.services.agent_config import effective_config
from wire import (
    AgentConfig,
    EnrollRequest,
    EnrollResponse,
    EventAck,
    EventBatch,
    NodeKeyRotation,
    Report,
    ReportAck,
    config_etag,
)

router = APIRouter(prefix="/api/v1", tags=["agent"])

_errors: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body (not JSON, bad gzip)."},
    401: {"description": "Missing, unknown or revoked key."},
    413: {"description": "Body too large."},
    422: {"description": "Body does not match the wire contract; `problems` lists the fields."},
}


async def _enroll_body(request: Request) -> EnrollRequest:
    return (await read_model(request, EnrollRequest))[0]


async def _report_body(request: Request) -> tuple[Report, int]:
    return await read_model(request, Report)


async def _events_body(request: Request) -> EventBatch:
    return (await read_model(request, EventBatch))[0]


@router.post(
    "/enroll",
    response_model=EnrollResponse,
    responses=_errors,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": EnrollRequest.model_json_schema()}},
            "required": True,
        }
    },
)
def enroll(
    request: Request, body: Annotated[EnrollRequest, Depends(_enroll_body)], session: SessionDep
) -> EnrollResponse:
    """Trade a unit's enrollment secret for this host's node key (shown once)."""
    answer = enrollment.enroll(session, body, client_ip(request))
    session.commit()
    return answer


@router.post(
    "/reports",
    response_model=ReportAck,
    responses={
        **_errors,
        409: {"description": "Delta on a base the collector does not hold: send a full report."},
    },
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": Report.model_json_schema()}},
            "required": True,
        }
    },
)
def post_report(
    host_id: AgentHostDep, body: Annotated[tuple[Report, int], Depends(_report_body)], session: SessionDep
) -> ReportAck:
    """Store a scan report. Idempotent by report_id; gzip accepted."""
    report, size = body
    return ingest.receive_report(session, host_id, report, size)


@router.post(
    "/events",
    response_model=EventAck,
    responses=_errors,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": EventBatch.model_json_schema()}},
            "required": True,
        }
    },
)
def post_events(
    host_id: AgentHostDep, body: Annotated[EventBatch, Depends(_events_body)], session: SessionDep
) -> EventAck:
    """Store a batch of events. Idempotent by event_id."""
    return ingest.receive_events(session, host_id, body)


@router.post(
    "/node-key",
    response_model=NodeKeyRotation,
    responses={401: _errors[401], 409: {"description": "No key rotation was requested for this host."}},
)
def post_node_key(host_id: AgentHostDep, request: Request, session: SessionDep) -> NodeKeyRotation:
    """A new node key, when the report acknowledgement said `rotate_node_key`. The key used for
    this call stays valid until the new one is first used."""
    return enrollment.rotate_node_key(session, host_id, client_ip(request))


@router.get(
    "/config",
    response_model=AgentConfig,
    responses={401: _errors[401], 304: {"description": "Not modified (If-None-Match matched the ETag)."}},
)
def get_config(host_id: AgentHostDep, request: Request, session: SessionDep) -> Response:
    """The configuration this agent should run with: unit overrides merged over the defaults.

    Answers with an ETag; send it back in If-None-Match to get 304 when nothing changed.
    """
    host = session.get_one(Host, host_id)
    config = effective_config(session, host.unit_id)
    etag = f'"{config_etag(config)}"'
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(config.model_dump(mode="json"), headers={"ETag": etag})
