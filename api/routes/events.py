"""Events: submit signed events (one or a list), read one with its status and proof."""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api import refusals
from api.body import read_json, submission_schema
from api.deps import Gateway, GatewayDep, ParticipantKeyDep, ReaderDep
from api.problems import Problem, problem_body, problem_responses
from api.schemas import (
    EVENT_STATUS_NAMES,
    WINDOW_STATUS_NAMES,
    BulkResult,
    EventOut,
    EventResult,
    ProofOut,
    WindowRef,
)
from node.chain.errors import decode_error
from node.context import Node
from node.events.merkle import leaf_hash
from node.events.payload import load_canonical
from node.events.submission import SignedEvent, parse_submission
from node.exceptions import (
    EventNotFoundError,
    EventRejectedError,
    InvalidParametersError,
    NotAnchoredError,
    TooManyItemsError,
    TraceNodeError,
)
from node.ingest.service import IngestResult
from node.monitor.refusals import Attempt, attempt
from node.store.models import EventStatus
from node.store.records import EventRecord, WindowRecord

router = APIRouter(prefix="/v1/events", tags=["events"])

EventHash = Annotated[
    str,
    Path(
        alias="hash",
        pattern=r"^0[xX][0-9a-fA-F]{64}$",
        description="The event hash (its EIP-712 digest), 0x + 64 hex digits.",
    ),
]


def _problem(error: TraceNodeError) -> Problem:
    return Problem.model_validate(problem_body(error))


def _request_body_doc() -> dict[str, Any]:
    one = submission_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]}
                }
            },
        }
    }


@router.post(
    "",
    status_code=202,
    response_model=EventResult | BulkResult,
    summary="Submit one signed event, or a list",
    openapi_extra=_request_body_doc(),
    responses={
        202: {
            "description": "Stored: a result (one submission) or a result per submission",
            "headers": {
                "Location": {
                    "description": "/v1/events/{hash}, for one submission",
                    "schema": {"type": "string", "pattern": "^/v1/events/0x[0-9a-f]{64}$"},
                }
            },
        },
        **problem_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
    },
)
async def submit_events(
    request: Request, response: Response, gateway: GatewayDep, key: ParticipantKeyDep
) -> EventResult | BulkResult:
    """A submission is ``{"event": {...EIP-712 message...}, "signature": "0x...",
    "payload"?: any, "identifiers"?: [...]}``. Every event must be signed by the API key's
    participant.

    One submission (an object): 202 with its result, or the problem that refused it.
    A list: 202 with a result per event, in order — accepted, duplicate (already held:
    the same hash, nothing written twice) or rejected with its problem; the accepted
    ones are stored even when others are refused.
    """
    await run_in_threadpool(gateway.backlog.admit, gateway.settings.max_proof_delay)
    document = await read_json(request)
    limit = gateway.settings.max_events_per_request
    participant = key.participant_id
    if isinstance(document, dict):
        signed = parse_submission(document)
        (result,) = await run_in_threadpool(
            gateway.node.ingest.submit_many, [signed], as_participant=participant
        )
        _count(gateway, result)
        if result.error is not None:
            setattr(request.state, refusals.SUBMISSION, (signed, result))  # for the record
            raise result.error
        response.headers["Location"] = f"/v1/events/0x{result.event_hash.hex()}"
        return EventResult(
            index=0, outcome=result.outcome.value, event_hash=_hex(result.event_hash)
        )
    if not isinstance(document, list):
        raise InvalidParametersError(
            "the body must be a submission object or a list of them",
            [{"field": "body", "message": "expected an object or an array"}],
        )
    if not document:
        raise InvalidParametersError(
            "the list of submissions is empty", [{"field": "body", "message": "empty list"}]
        )
    if len(document) > limit:
        raise TooManyItemsError(f"{len(document)} events in one request; at most {limit}")
    # Parsing and checking a thousand signed events is CPU work: off the event loop.
    who = refusals.origin(request)
    return await run_in_threadpool(_submit_list, gateway, document, participant, who)


def _submit_list(
    gateway: Gateway, document: list[Any], participant: int | None, who: Attempt
) -> BulkResult:
    results: dict[int, EventResult] = {}
    parsed: list[SignedEvent] = []
    positions: list[int] = []
    for index, item in enumerate(document):
        try:
            parsed.append(parse_submission(item))
            positions.append(index)
        except EventRejectedError as error:
            gateway.metrics.submitted.labels("rejected", error.code).inc()
            gateway.refusals.note(attempt(who, error.code))
            results[index] = EventResult(
                index=index, outcome="rejected", event_hash=None, problem=_problem(error)
            )
    ingested = gateway.node.ingest.submit_many(parsed, as_participant=participant) if parsed else []
    for position, result, signed in zip(positions, ingested, parsed, strict=True):
        _count(gateway, result)
        if result.error is not None:
            refused = attempt(who, result.error.code, signed=signed, result=result)
            gateway.refusals.note(refused)
        results[position] = EventResult(
            index=position,
            outcome=result.outcome.value,
            event_hash=_hex(result.event_hash),
            problem=_problem(result.error) if result.error is not None else None,
        )
    ordered = [results[i] for i in range(len(document))]
    return BulkResult(
        accepted=sum(r.outcome == "accepted" for r in ordered),
        duplicate=sum(r.outcome == "duplicate" for r in ordered),
        rejected=sum(r.outcome == "rejected" for r in ordered),
        results=ordered,
    )


def _count(gateway: Gateway, result: IngestResult) -> None:
    problem = result.error.code if result.error is not None else ""
    gateway.metrics.submitted.labels(result.outcome.value, problem).inc()


@router.get(
    "/{hash}",
    response_model=EventOut,
    summary="An event: its status, its window and (once anchored) its proof",
    responses=problem_responses(401, 404, 422, 429),
)
def get_event(event_hash: EventHash, gateway: GatewayDep, _reader: ReaderDep) -> EventOut:
    node = gateway.node
    row, window = _load(node, event_hash)
    rejection = None
    if row.status is EventStatus.REJECTED and row.reason is not None:
        rejection = _problem(decode_error(row.reason))
    proof = _proof(node, row, window) if row.status is EventStatus.ANCHORED else None
    payload = load_canonical(row.payload) if row.payload is not None else None
    return EventOut(
        event_hash=_hex(row.event_hash),
        status=EVENT_STATUS_NAMES[row.status],
        action=row.action.name,
        event=row.event.message(),
        signature=_hex(row.signature),
        signer=_address(row.signer),
        participant_id=row.participant_id,
        received_at=row.received_at,
        payload=payload,
        window=_window_ref(window) if window is not None else None,
        proof=proof,
        rejection=rejection,
    )


@router.get(
    "/{hash}/proof",
    response_model=ProofOut,
    summary="The Merkle proof of an anchored event",
    responses=problem_responses(401, 404, 409, 422, 429),
)
def get_proof(event_hash: EventHash, gateway: GatewayDep, _reader: ReaderDep) -> ProofOut:
    row, window = _load(gateway.node, event_hash)
    if row.status is not EventStatus.ANCHORED or window is None:
        state = EVENT_STATUS_NAMES[row.status]
        raise NotAnchoredError(f"event {event_hash} is {state}, not anchored")
    return _proof(gateway.node, row, window)


def _load(node: Node, event_hash: str) -> tuple[EventRecord, WindowRecord | None]:
    with node.store.read() as conn:
        row = node.store.events.get(conn, bytes.fromhex(event_hash[2:]))
        if row is None:
            raise EventNotFoundError(f"no event {event_hash.lower()}")
        window = None if row.window_id is None else node.store.windows.get(conn, row.window_id)
    return row, window


def _proof(node: Node, row: EventRecord, window: WindowRecord | None) -> ProofOut:
    if (
        window is None
        or window.block_number is None
        or window.block_hash is None
        or row.tree_index is None
        or row.anchor_seq is None
    ):
        raise NotAnchoredError(f"event {_hex(row.event_hash)} has no confirmed window")
    return ProofOut(
        event_hash=_hex(row.event_hash),
        leaf=_hex(leaf_hash(row.event_hash)),
        root=_hex(window.root),
        proof=[_hex(p) for p in row.proof],
        tree_index=row.tree_index,
        anchor_seq=row.anchor_seq,
        window_id=window.id,
        tx_hash=_hex(window.tx_hash),
        block_number=window.block_number,
        block_hash=_hex(window.block_hash),
        chain_id=node.deployment.chain_id,
        anchor_registry=node.deployment.anchor_registry,
        verify_with="AnchorRegistry.verifyEvent(root, proof, eventHash)",
    )


def _window_ref(window: WindowRecord) -> WindowRef:
    return WindowRef(
        id=window.id,
        root=_hex(window.root),
        status=WINDOW_STATUS_NAMES[window.status],
        tx_hash=_hex(window.tx_hash),
        block_number=window.block_number,
        block_hash=_hex(window.block_hash) if window.block_hash is not None else None,
    )


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _address(value: bytes) -> str:
    return to_checksum_address(bytes(value))
