"""Identifier resolution: GS1 Digital Link paths on this host (``/01/{gtin}/10/{lot}``,
further AIs and a query string tolerated) and ``/v1/resolve/{identifier}`` for any form.

Content negotiation, by the ``Accept`` header:
- ``application/json`` (and ``*/*``): the batch's state (as ``GET /v1/batches/{id}``);
- ``application/linkset+json`` (or ``?linkType=all``): an RFC 9264 linkset of the
  batch's links (buyer page, state, provenance, trace, bundle);
- ``text/html`` (browsers): ``303 See Other`` to the buyer page, ``/?id={canonical}``.

A GTIN alone (``/01/{gtin}``, a product) names no batch: it is answered with the
product's lots and items this node holds (``GET /v1/search``'s document), a browser is
sent to the page's list of them (``/?q={product's Digital Link}``), and its linkset links
the two. Errors go to browsers as HTML pages (api/html_errors.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.deps import GatewayDep, ReaderDep
from api.problems import problem_responses
from api.routes.batches import batch_out
from api.routes.search import DEFAULT_LIMIT, search_out
from api.schemas import BatchOut
from node.events.identifiers import (
    GS1_RESOLVER,
    MAX_IDENTIFIER_LENGTH,
    Identifier,
    Product,
    parse_key,
)
from node.exceptions import NotAcceptableError

router = APIRouter(tags=["resolution"])

JSON: Final = "application/json"
LINKSET: Final = "application/linkset+json"
HTML: Final = "text/html"
GS1_VOC: Final = "https://gs1.org/voc/"

_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The batch (JSON), or its linkset (application/linkset+json); for a "
        "GTIN alone, the product's lots and items this node holds (as GET /v1/search)",
        "content": {
            JSON: {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/BatchOut"},
                        {"$ref": "#/components/schemas/SearchOut"},
                    ]
                }
            },
            LINKSET: {"schema": {"$ref": "#/components/schemas/Linkset"}},
        },
        "headers": {
            "Link": {
                "required": True,
                "description": 'The linkset: <...?linkType=all>; rel="linkset"',
                "schema": {"type": "string"},
            },
            "Vary": {"required": True, "schema": {"const": "Accept"}},
        },
    },
    303: {
        "description": "Browsers (Accept: text/html) go to the buyer page: /?id=... for a "
        "batch, /?q=... (the list of its lots) for a product",
        "headers": {
            "Location": {
                "required": True,
                "description": "The buyer page of the identifier",
                "schema": {"type": "string", "pattern": "^/\\?(id|q)="},
            }
        },
    },
    **problem_responses(401, 404, 406, 422, 429),
}

LinkType = Annotated[
    str | None,
    Query(
        alias="linkType",
        max_length=64,
        description="GS1 resolver convention: 'all' (or 'linkset') asks for the linkset.",
    ),
]


@router.get(
    "/01/{rest:path}",
    summary="Resolve a GS1 Digital Link path (/01/{gtin}/10/{lot}, or a product's /01/{gtin})",
    responses=_RESPONSES,
)
def digital_link(
    rest: Annotated[str, Path(max_length=MAX_IDENTIFIER_LENGTH - len(f"{GS1_RESOLVER}/01/"))],
    request: Request,
    gateway: GatewayDep,
    _reader: ReaderDep,
    link_type: LinkType = None,
) -> Response:
    key = parse_key(f"{GS1_RESOLVER}/01/{_raw_rest(request, rest)}")
    return _negotiate(request, gateway, key, link_type)


def _raw_rest(request: Request, rest: str) -> str:
    """The path after ``/01/`` as sent, still percent-encoded: a lot may hold a '/'
    (``AB%2FC``), which the decoded path would turn into a segment boundary. The
    identifier parser decodes each segment itself."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and b"/01/" in raw:
        try:
            return raw.split(b"/01/", 1)[1].decode("ascii")
        except UnicodeDecodeError:
            pass
    return rest


@router.get(
    "/v1/resolve/{identifier:path}",
    summary="Resolve any identifier (handle, Digital Link, EPC URN, 0x batch id, a GTIN)",
    responses=_RESPONSES,
)
def resolve(
    identifier: Annotated[str, Path(min_length=1, max_length=MAX_IDENTIFIER_LENGTH)],
    request: Request,
    gateway: GatewayDep,
    _reader: ReaderDep,
    link_type: LinkType = None,
) -> Response:
    return _negotiate(request, gateway, parse_key(identifier), link_type)


def _negotiate(
    request: Request, gateway: GatewayDep, key: Identifier | Product, link_type: str | None
) -> Response:
    wanted = LINKSET if link_type in ("all", "linkset") else _preferred(request)
    page = "q" if isinstance(key, Product) else "id"
    if wanted == HTML:
        return RedirectResponse(f"/?{page}={quote(key.canonical, safe='')}", status_code=303)
    base = str(request.base_url).rstrip("/")
    linkset_url = f"{base}/v1/resolve/{quote(key.canonical, safe='')}?linkType=all"
    headers = {"Link": f'<{linkset_url}>; rel="linkset"; type="{LINKSET}"', "Vary": "Accept"}
    if isinstance(key, Product):
        if wanted == LINKSET:
            return JSONResponse(_product_linkset(key, base), media_type=LINKSET, headers=headers)
        found = search_out(gateway, key.canonical, key, DEFAULT_LIMIT)
        return JSONResponse(found.model_dump(mode="json"), headers=headers)
    batch = batch_out(gateway.node, key)
    if wanted == LINKSET:
        return JSONResponse(_linkset(key, batch, base), media_type=LINKSET, headers=headers)
    return JSONResponse(batch.model_dump(mode="json"), headers=headers)


def _product_linkset(product: Product, base: str) -> dict[str, Any]:
    """A product's linkset: the page listing its lots on this node, and the same as JSON."""
    query = quote(product.canonical, safe="")
    return {
        "linkset": [
            {
                "anchor": product.canonical,
                f"{GS1_VOC}defaultLink": [
                    {"href": f"{base}/?q={query}", "type": HTML, "title": "Lots on this node"}
                ],
                "describedby": [
                    {
                        "href": f"{base}/v1/search?q={query}",
                        "type": JSON,
                        "title": "Lots and items on this node (JSON)",
                    }
                ],
            }
        ]
    }


def _linkset(identifier: Identifier, batch: BatchOut, base: str) -> dict[str, Any]:
    links = batch.links

    def link(path: str, kind: str, title: str) -> list[dict[str, str]]:
        return [{"href": base + path, "type": kind, "title": title}]

    anchor = identifier.canonical
    if "://" not in anchor:
        anchor = f"{base}/v1/resolve/{quote(anchor, safe='')}"
    return {
        "linkset": [
            {
                "anchor": anchor,
                f"{GS1_VOC}defaultLink": link(links["page"], HTML, "Provenance of this batch"),
                f"{GS1_VOC}traceability": link(links["provenance"], JSON, "Provenance (JSON)"),
                "describedby": link(links["self"], JSON, "Batch state"),
                f"{GS1_VOC}recallStatus": link(links["self"], JSON, recall_title(batch)),
                "related": link(links["trace"], JSON, "Downstream trace"),
                "alternate": link(links["bundle"], JSON, "Self-contained proof bundle"),
            }
        ]
    }


def recall_title(batch: BatchOut) -> str:
    """The ``gs1:recallStatus`` link's title: the batch's recall state in words, with the
    advice, led by the machine-readable ``recall.state`` of the batch's JSON (the link's
    target), e.g. ``made-from-recalled: made from a recalled batch (...)``."""
    state = batch.recall.state
    if state == "recalled":
        return "recalled: this batch has been recalled; do not sell or consume it"
    if state == "made-from-recalled":
        names = ", ".join(r.identifier or r.batch_id for r in batch.recall.recalled_inputs)
        return (
            f"made-from-recalled: made from a recalled batch ({names}); do not sell or "
            "consume it unless its producer or a food-safety authority clears it"
            f" (status {batch.status})"
        )
    return f"none: no recall of this batch or its inputs is recorded here (status {batch.status})"


def _preferred(request: Request) -> str:
    """The best of JSON, linkset and HTML for the request's Accept header."""
    header = request.headers.get("accept", "")
    if not header.strip():
        return JSON
    offers: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            offers.append((-q, position, media.lower()))
    for _, _, media in sorted(offers):
        if media in (JSON, "*/*", "application/*"):
            return JSON
        if media == LINKSET:
            return LINKSET
        if media in (HTML, "application/xhtml+xml", "text/*"):
            return HTML
    raise NotAcceptableError(f"this is served as {JSON}, {LINKSET} or {HTML}")
