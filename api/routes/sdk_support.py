"""Reads a signer away from the node needs to compose events (the SDK, docs/sdk.md).

``GET /v1/participants/{address}/nonce``: the nonce the key at ``address`` should sign its
next event with (one more than the largest it used in an event the node holds).

``POST /v1/epcis/lookup``: what signing an EPCIS document needs besides batch heads and
the nonce (node/epcis/capture.py reads both from the store on the node's side): which of
the document's CBV 2.0 event hash IDs the node already holds (those events are duplicates
and map to nothing new), and which registered participant each destination party names
(a SHIP's receiver, by GS1 company prefix: the same resolver the capture uses).

``POST /v1/epcis/performers``: for a document of several parties signed by a key set the
gateway never sees (the SDK's ``capture_epcis(document, keys=...)``), which of the given
addresses performs each TraceEvent the client is about to sign, judged on the node's view
by the one choice ``tracenode epcis sign`` makes (node/epcis/performers.py), and each
address's next nonce.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Annotated, Any, Final

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path
from pydantic import Field, field_validator

from api.body import JsonBodyRoute
from api.deps import GatewayDep, ReaderDep
from api.problems import problem_responses
from api.schemas import DecimalInt, Schema, StrictSchema, Text
from node.epcis.document import MAX_EVENTS, parse_document
from node.epcis.mapping import MAX_SIGNERS, MAX_TRACE_EVENTS, map_document
from node.epcis.performers import choose_performers, party_resolver
from node.exceptions import InvalidParametersError
from node.store.store import Store

router = APIRouter(prefix="/v1", tags=["sdk"], route_class=JsonBodyRoute)

#: Destination parties in one lookup (each EPCIS event names a few at most).
MAX_PARTIES: Final = 1_000
#: Longest hash ID or party identifier looked up.
MAX_LOOKUP_STRING: Final = 2_048

ADDRESS_PATTERN: Final = r"^0[xX][0-9a-fA-F]{40}$"

AddressPath = Annotated[
    str,
    Path(
        alias="address",
        pattern=ADDRESS_PATTERN,
        description="The signing key's address (0x + 40 hex digits).",
    ),
]


class NonceOut(Schema):
    address: str = Field(description="The key, EIP-55.")
    next_nonce: DecimalInt = Field(
        description="One more than the largest nonce this key used in an event the node "
        "holds (0 when none). Any unused nonce is valid; this one is never used."
    )
    participant_id: int | None = Field(
        description="The participant the key signs for now (null when it is no "
        "participant's current key: events it signs would be refused)."
    )
    active: bool = Field(description="Whether that participant may sign now.")


class LookupIn(StrictSchema):
    """Both lists are required (either may be empty)."""

    hash_ids: list[Annotated[Text, Field(max_length=MAX_LOOKUP_STRING)]] = Field(
        max_length=MAX_TRACE_EVENTS
    )
    parties: list[Annotated[Text, Field(max_length=MAX_LOOKUP_STRING)]] = Field(
        max_length=MAX_PARTIES
    )


class LookupOut(Schema):
    known: dict[str, list[str]] = Field(
        description="Each hash ID the node holds, with the hashes of the TraceEvents it was "
        "captured as; a hash ID followed by #errorDeclaration asks for the event's "
        "declaration of error (docs/epcis.md, Corrections)."
    )
    parties: dict[str, str | None] = Field(
        description="Each party identifier (PGLN / SGLN URN or Digital Link) with the "
        "address of the participant it names, or null."
    )


class PerformersIn(StrictSchema):
    """A document, the EPCIS events of it the client signs, and the addresses of its keys
    (the first, the submitter's, signs what nobody else may)."""

    document: dict[str, Any] | str = Field(
        description="The EPCIS document as the capture request carries it (JSON, or XML text)."
    )
    events: list[Annotated[int, Field(ge=0)]] = Field(
        max_length=MAX_EVENTS,
        description="Indexes of the document's EPCIS events whose TraceEvents the client "
        "signs, ascending (new ones the mapping does not refuse).",
    )
    signers: list[Annotated[str, Field(pattern=ADDRESS_PATTERN)]] = Field(
        min_length=1, max_length=MAX_SIGNERS, description="The key set's addresses, each once."
    )
    held: list[Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]] = Field(
        default_factory=list,
        max_length=MAX_TRACE_EVENTS,
        description="Batch ids the client's own waiting events create or adopt (not yet "
        "sent): the document's events extend them rather than adopt them.",
    )

    @field_validator("events")
    @classmethod
    def _ascending(cls, events: list[int]) -> list[int]:
        if any(b <= a for a, b in pairwise(events)):
            raise ValueError("event indexes are strictly ascending")
        return events

    @field_validator("signers")
    @classmethod
    def _distinct(cls, signers: list[str]) -> list[str]:
        if len({s.lower() for s in signers}) != len(signers):
            raise ValueError("each address is given once")
        return signers


class FirstSeenOut(Schema):
    index: int = Field(description="The EPCIS event's position in the document.")
    adopts: list[str] = Field(
        description="The lots (canonical identifiers) the network never held that the event "
        "first names, adopted by its signer before it (RECEIVEs with no previous event, in "
        "this order), when anchoredOnly is null."
    )
    anchored_only: str | None = Field(
        description="Why the event is anchored-only instead (its signer may not adopt those "
        "lots): one OBSERVE record of its hash ID (docs/epcis.md, Lots first seen mid-chain)."
    )


class PerformersOut(Schema):
    performers: list[str] = Field(
        description="The address (EIP-55) that signs each TraceEvent the listed events map "
        "to, in order: the first of the signers the batch rules accept, else the first."
    )
    signers: list[NonceOut] = Field(description="Each signer, in the request's order.")
    first_seen: list[FirstSeenOut] = Field(
        default_factory=list,
        description="The listed events that first name lots the network never held, and "
        "the form their TraceEvents take (performers counts those TraceEvents).",
    )


@router.get(
    "/participants/{address}/nonce",
    response_model=NonceOut,
    summary="The nonce a key should sign its next event with",
    responses=problem_responses(401, 422, 429),
)
def next_nonce(address: AddressPath, gateway: GatewayDep, _reader: ReaderDep) -> NonceOut:
    """Nonces only need to be unused: a signer that keeps events of its own unsent must
    count on from the larger of this and its own (the SDK does)."""
    (found,) = _nonces(gateway.node.store, [bytes.fromhex(address[2:])])
    return found


def _nonces(store: Store, keys: Sequence[bytes]) -> list[NonceOut]:
    """Each key's next nonce and whom it signs for, in one read."""
    with store.read() as conn:
        views = store.participants.signers(conn, list(keys))
        nonces = [store.events.next_nonce(conn, key) for key in keys]
    found: list[NonceOut] = []
    for key, nonce in zip(keys, nonces, strict=True):
        view = views.get(key)
        current = view is not None and view.current
        found.append(
            NonceOut(
                address=to_checksum_address(key),
                next_nonce=nonce,
                participant_id=view.participant_id if view is not None and current else None,
                active=bool(current and view is not None and view.active),
            )
        )
    return found


@router.post(
    "/epcis/lookup",
    response_model=LookupOut,
    summary="Which EPCIS events the node holds, and whom destination parties name",
    responses=problem_responses(400, 401, 413, 415, 422, 429),
)
def epcis_lookup(body: LookupIn, gateway: GatewayDep, _reader: ReaderDep) -> LookupOut:
    """A read (nothing is written): POST only because a thousand hash IDs do not fit in a
    URL."""
    node = gateway.node
    with node.store.read() as conn:
        known = node.store.epcis.known(conn, body.hash_ids)
        resolve = party_resolver(node.store, conn)  # reads in this transaction
        parties = {party: resolve(party) for party in dict.fromkeys(body.parties)}
    return LookupOut(
        known={
            hash_id: ["0x" + hashes[i : i + 32].hex() for i in range(0, len(hashes), 32)]
            for hash_id, hashes in known.items()
        },
        parties={
            party: to_checksum_address(key) if key is not None else None
            for party, key in parties.items()
        },
    )


@router.post(
    "/epcis/performers",
    response_model=PerformersOut,
    summary="Which of a key set's addresses performs each TraceEvent of an EPCIS document",
    responses=problem_responses(400, 401, 413, 415, 422, 429),
)
def epcis_performers(body: PerformersIn, gateway: GatewayDep, _reader: ReaderDep) -> PerformersOut:
    """A read (nothing is written, no key is sent): the document is mapped as the capture
    maps it, and each TraceEvent of the listed events judged by the batch rules on the
    node's view, as the document's earlier TraceEvents leave it (docs/epcis.md,
    "Multi-party documents")."""
    node = gateway.node
    parsed = parse_document(body.document)
    if body.events and body.events[-1] >= len(parsed.events):
        raise InvalidParametersError(
            f"the document has {len(parsed.events)} event(s): no event {body.events[-1]}",
            [{"field": "body.events", "message": "an index past the document's events"}],
        )
    with node.store.read() as conn:
        mapped = map_document(parsed.events, party_resolver(node.store, conn))
    todo = [m for i in body.events for m in mapped.trace_events[i]]
    if len(todo) > MAX_TRACE_EVENTS:
        raise InvalidParametersError(
            f"the events map to {len(todo)} TraceEvents, more than {MAX_TRACE_EVENTS}",
            [{"field": "body.events", "message": "too many TraceEvents"}],
        )
    addresses = [bytes.fromhex(a[2:]) for a in body.signers]
    chosen = choose_performers(
        store=node.store,
        domain=node.domain,
        addresses=addresses,
        mapped=mapped,
        indexes=[i for i in body.events if i not in mapped.refused],
        held=[bytes.fromhex(b[2:]) for b in body.held],
    )
    return PerformersOut(
        performers=[to_checksum_address(a) for a in chosen.signers],
        signers=_nonces(node.store, addresses),
        first_seen=[
            FirstSeenOut(
                index=index,
                adopts=[m.batch.canonical for m in items if m.adoption and m.batch is not None],
                anchored_only=chosen.mapped.notes.get(index),
            )
            for index in body.events
            if (items := chosen.mapped.trace_events[index]) is not mapped.trace_events[index]
        ],
    )
