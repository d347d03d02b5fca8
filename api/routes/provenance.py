"""A batch's provenance, its downstream trace, its proof bundle, and checking a bundle.

``GET /v1/batches/{id}/provenance``: the batch and every ancestor, every event verified
against the chain (the same verifier `tracenode verify` runs). ``GET .../trace``: every
batch made from it (``direction=downstream``, for recalls) or its ancestors
(``upstream``). ``GET .../bundle``: the proof bundle (docs/proofs.md). ``POST /v1/verify``:
check a bundle against this node's chain. ``{id}`` may be any identifier form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.body import read_json
from api.deps import BatchRef, Gateway, GatewayDep, ReaderDep
from api.problems import problem_responses
from api.schemas import (
    BUNDLE_REF,
    DownstreamTrace,
    ProvenanceReport,
    UpstreamTrace,
    VerificationReport,
)
from node.events.identifiers import parse_identifier
from node.network.lineage import remote_parts
from node.proofs.bundle import parse_bundle
from node.proofs.verify import Report, report_json, verify_bundle
from node.provenance.service import Correction, Provenance, ProvenanceService, trace_json
from node.provenance.timing import timing_json

router = APIRouter(tags=["provenance"])


def service(gateway: Gateway) -> ProvenanceService:
    """The app's provenance service (one per app: it keeps its chain answers)."""
    return gateway.provenance


def _batch_id(gateway: Gateway, ref: str) -> bytes:
    return service(gateway).resolve(parse_identifier(ref).canonical)


@router.get(
    "/v1/batches/{id:path}/provenance",
    response_model=ProvenanceReport,
    summary="The batch and all its ancestors, every event verified against the chain",
    responses=problem_responses(401, 404, 422, 429, 503),
)
def provenance(ref: BatchRef, gateway: GatewayDep, _reader: ReaderDep) -> ProvenanceReport:
    """``outcome`` is ``pass`` when every check of every event and batch holds, ``fail``
    (``failures`` names each) or ``pending`` (nothing failed, some events not anchored
    yet). Each event says when the block that anchored it was mined (``anchoredAt``) and
    flags a large gap from the time it claims (``timeGap``). ``rejected`` lists events
    the chain refused after the node accepted them."""
    result = service(gateway).provenance(_batch_id(gateway, ref))
    return ProvenanceReport.model_validate(provenance_json(result, gateway))


def provenance_json(result: Provenance, gateway: Gateway) -> dict[str, Any]:
    """The verification report, each event with when its block was mined
    (``anchoredAt``) and any large gap from the time it claims (``timeGap``), the events
    the chain rejected, and the parts of the lineage other nodes hold, each judged by
    this node's verifier (``remoteParts``, node/network/lineage.py)."""
    document: dict[str, Any] = report_json(result.report)
    events: list[dict[str, Any]] = document["events"]
    for entry, event in zip(events, result.report.events, strict=True):
        block = None if event.block_number is None else result.block_times.get(event.block_number)
        entry.update(timing_json(event.event_time, block))
        correction = result.corrections.get(event.event_hash)
        entry["correction"] = None if correction is None else correction_json(correction)
    document["rejected"] = [
        {"eventHash": "0x" + r.event_hash.hex(), "reason": "0x" + r.reason.hex()}
        for r in result.rejected
    ]
    document["remoteParts"] = remote_parts_json(gateway, result)
    document["masterData"] = result.master_data
    return document


def remote_parts_json(gateway: Gateway, result: Provenance) -> list[dict[str, Any]]:
    """The other nodes' parts of the lineage (bounded in depth, fetches and time)."""
    return lineage_parts_json(gateway, result.report)


def lineage_parts_json(gateway: Gateway, report: Report) -> list[dict[str, Any]]:
    """The parts of ``report``'s lineage other nodes hold, earlier and later, each judged
    by this node's verifier (a part the registry says this node holds read from its own
    store); [] when the report names none."""
    # api.routes.network imports the error pages, which import the page's routes (web.py),
    # which import this module: imported here, when the first answer is made.
    from api.routes.network import elsewhere_out

    if all(b.extends is None and b.continued_at is None for b in report.batches):
        return []
    parts = remote_parts(
        service(gateway).reader(),
        report,
        this_operator=to_checksum_address(gateway.node.config.admin_address),
        addresses=gateway.node.peer_addresses,
        own=service(gateway).held,
    )
    answers = []
    for part in parts:
        found = part.found
        key = parse_identifier(found.identifier or "0x" + found.batch_id.hex())
        answer = elsewhere_out(gateway, found, key).model_dump(mode="json")
        answer.update(
            direction="later" if part.later else "earlier",
            extends="0x" + part.extends.hex(),
            continuedBy=None if part.continued_by is None else "0x" + part.continued_by.hex(),
            under=part.under,
            depth=part.depth,
        )
        answers.append(answer)
    return answers


def correction_json(correction: Correction) -> dict[str, Any]:
    """An event's declaration of error, as provenance shows it (docs/epcis.md)."""
    record = correction.declaration
    return {
        "hashId": record.hash_id,
        "declarationTime": record.declaration_time,
        "reason": record.reason,
        "declaredBy": ["0x" + h.hex() for h in record.trace_events],
        "correctiveEventIds": list(record.corrective_event_ids),
        "correctiveEvents": {
            event_id: ["0x" + h.hex() for h in hashes]
            for event_id, hashes in correction.corrective.items()
        },
    }


@router.get(
    "/v1/batches/{id:path}/trace",
    response_model=DownstreamTrace | UpstreamTrace,
    summary="Every batch made from this lot at any depth (downstream), or its ancestors",
    responses=problem_responses(401, 404, 422, 429, 503),
)
def trace(
    ref: BatchRef,
    gateway: GatewayDep,
    _reader: ReaderDep,
    direction: Annotated[Literal["downstream", "upstream"], Query()] = "downstream",
) -> DownstreamTrace | UpstreamTrace:
    svc = service(gateway)
    batch_id = _batch_id(gateway, ref)
    if direction == "upstream":
        return UpstreamTrace.model_validate(svc.upstream(batch_id))
    return DownstreamTrace.model_validate(trace_json(svc.trace(batch_id)))


@router.get(
    "/v1/batches/{id:path}/bundle",
    summary="The proof bundle: everything needed to check the provenance against the chain",
    response_class=JSONResponse,
    responses={
        200: {
            "description": "A tracenode-bundle/2 document (docs/proofs.md)",
            "content": {"application/json": {"schema": BUNDLE_REF}},
            "headers": {
                "Content-Disposition": {
                    "required": True,
                    "description": 'attachment; filename="{lot}.bundle.json"',
                    "schema": {"type": "string"},
                }
            },
        },
        **problem_responses(401, 404, 422, 429, 503),
    },
)
def bundle(ref: BatchRef, gateway: GatewayDep, _reader: ReaderDep) -> JSONResponse:
    exported = service(gateway).export(_batch_id(gateway, ref))
    return JSONResponse(
        exported.as_json(),
        headers={"Content-Disposition": f'attachment; filename="{exported.file_name}"'},
    )


@router.post(
    "/v1/verify",
    summary="Check a proof bundle against this node's chain",
    response_model=VerificationReport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": BUNDLE_REF}},
        }
    },
    responses=problem_responses(400, 413, 415, 422, 429, 503),
)
async def verify(request: Request, gateway: GatewayDep) -> VerificationReport:
    """The report of every check (``outcome`` pass / fail / pending). A bundle for another
    chain fails its chain check; anyone can run the same check without this node:
    ``tracenode verify bundle.json --rpc URL``."""
    document = await read_json(request)
    parsed = parse_bundle(document)
    reader = service(gateway).reader()
    report = await run_in_threadpool(verify_bundle, parsed, reader)
    return VerificationReport.model_validate(report_json(report))
