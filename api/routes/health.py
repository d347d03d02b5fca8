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
    summary="The store and the chain answer",
    responses=problem_responses(503),
)
def readyz(gateway: GatewayDep) -> Readiness | JSONResponse:
    node = gateway.node
    store_ok = chain_ok = False
    head: int | None = None
    problems: list[str] = []
    try:
        node.store.ping()
        store_ok = True
    except Exception as exc:
        problems.append(f"store: {type(exc).__name__}")
    try:
        head = int(node.w3.eth.block_number)
        chain_ok = True
    except Exception as exc:
        problems.append(f"chain: {type(exc).__name__}")
    if store_ok and chain_ok:
        return Readiness(status="ready", store=True, chain=True, chain_head=head)
    body = problem_body(NotReadyError("; ".join(problems)))
    body.update({"store": store_ok, "chain": chain_ok, "instance": "/readyz"})
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
