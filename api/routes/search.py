"""``GET /v1/search?q=``: what a person typed, pasted or scanned, and the batches it names.

The buyer page's lookup box sends its text here as it is; :func:`node.events.identifiers.
parse_lookup` reads it (the one definition of the identifier rules): one batch by any
spelling, a product (a GTIN alone: its lots and items), or a bare lot code (the lots of
that code, of any product). Lists are bounded: the first ``limit`` in identifier order,
``truncated`` when more match (``BatchRepository.matching``, a read of the batches table:
docs/api.md gives its cost). A product-level Digital Link (``/01/{gtin}``) answers
with the same document (api/routes/resolve.py).
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import quote

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Query

from api.deps import Gateway, GatewayDep, ReaderDep
from api.problems import problem_responses
from api.schemas import ParticipantRef, SearchKind, SearchMatch, SearchOut
from node.events.identifiers import Identifier, LotCode, Product, parse_lookup
from node.store.records import BatchListing

router = APIRouter(prefix="/v1", tags=["resolution"])

DEFAULT_LIMIT: Final = 50

Text = Annotated[
    str,
    Query(
        alias="q",
        min_length=1,
        max_length=2048,
        description="What a person typed, pasted or scanned: any identifier spelling, the "
        "text under a barcode ((01)...(10)...), raw barcode data, a GTIN, or a lot code.",
    ),
]
Limit = Annotated[
    int, Query(ge=1, le=10_000, description="At most this many batches (capped by the node).")
]


@router.get(
    "/search",
    response_model=SearchOut,
    summary="Read a typed or scanned text: one batch, a product's lots, or a lot code's",
    responses=problem_responses(401, 422, 429),
)
def search(
    text: Text, gateway: GatewayDep, _reader: ReaderDep, limit: Limit = DEFAULT_LIMIT
) -> SearchOut:
    return search_out(gateway, text.strip(), parse_lookup(text), limit)


def search_out(
    gateway: Gateway, text: str, query: Identifier | Product | LotCode, limit: int
) -> SearchOut:
    """The search document of ``query`` (read from ``text``)."""
    size = min(limit, gateway.settings.max_page_size)
    store = gateway.node.store
    more = False
    with store.read() as conn:
        if isinstance(query, Identifier):
            state = store.batches.get(conn, bytes(query.batch_id))
            found = (
                [BatchListing(state.batch_id, query.canonical, state.status, state.producer_id)]
                if state is not None
                else []
            )
        else:
            matches = store.batches.matching(conn, query, limit=size)
            found, more = matches.batches, matches.more
        people = {pid: store.participants.get(conn, pid) for pid in {b.producer_id for b in found}}

    def producer(pid: int) -> ParticipantRef:
        row = people.get(pid)
        return ParticipantRef(
            id=pid,
            name=row.name if row else None,
            address=to_checksum_address(row.key) if row else None,
        )

    batches = [
        SearchMatch(
            batch_id="0x" + b.batch_id.hex(),
            identifier=b.identifier,
            status=b.status.name,
            producer=producer(b.producer_id),
            page=f"/?id={quote(b.identifier, safe='')}",
        )
        for b in found
    ]
    kind: SearchKind
    if isinstance(query, Identifier):
        kind, identifier, gtin, lot = "batch", query.canonical, query.gtin, query.lot
    elif isinstance(query, Product):
        kind, identifier, gtin, lot = "product", query.canonical, query.gtin, None
    else:
        kind, identifier, gtin, lot = "lot", None, None, query.lot
    return SearchOut(
        query=text,
        kind=kind,
        identifier=identifier,
        gtin=gtin,
        lot=lot,
        batches=batches,
        limit=size,
        truncated=more,
    )
