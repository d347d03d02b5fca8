"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import GatewayDep
from api.metrics import CONTENT_TYPE
from api.problems import PROBLEM_JSON, problem_body, problem_responses
from api.schemas import Health, Readiness
from node.exceptions import NotReadyError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The store and the chain answer (within 1 s)",
    responses=problem_responses(503),
)
def readyz(gateway: GatewayDep) -> Readiness | JSONResponse:
    """Both are looked at together and waited for at most 1 s (api/health.py): an
    unreachable chain or store makes this 503, never a hang."""
    store, chain = gateway.health.look()
    if store.up and chain.up:
        return Readiness(status="ready", store=True, chain=True, chain_head=chain.head)
    problems = "; ".join(look.detail for look in (store, chain) if not look.up)
    body = problem_body(NotReadyError(problems))
    body.update({"store": store.up, "chain": chain.up, "instance": "/readyz"})
    return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format 0.0.4)",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
            "description": "Prometheus text",
        }
    },
)
def metrics(gateway: GatewayDep) -> Response:
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE)
