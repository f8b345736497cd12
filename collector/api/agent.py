"""Agent endpoints: enroll, reports, events, config (node-key authenticated)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from collector.api.body import read_model
from collector.deps import AgentHostDep, SessionDep, client_ip
from collector.services import enrollment, ingest
from wire import AgentConfig, EnrollRequest, EnrollResponse, EventAck, EventBatch, Report, ReportAck

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


@router.get("/config", response_model=AgentConfig, responses={401: _errors[401]})
def get_config(host_id: AgentHostDep) -> AgentConfig:
    """The configuration this agent should run with."""
    return enrollment.agent_config()
