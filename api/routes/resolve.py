"""Identifier resolution, as a GS1-Conformant resolver (GS1-Conformant Resolver 1.2):
GS1 Digital Link paths on this host (``/01/{gtin}/10/{lot}``, further AIs and a query
string tolerated) and ``/v1/resolve/{identifier}`` for any form (handles, EPC URNs, 0x ids).

Content negotiation, by the ``Accept`` header:
- ``application/json`` (and ``*/*``): the batch's state (as ``GET /v1/batches/{id}``);
- ``application/linkset+json`` (or ``?linkType=linkset``, ``?linkType=all``): an RFC 9264
  linkset of the batch's links, valid against GS1's linkset schema (api/gs1resolver);
- ``text/html`` (browsers): ``303 See Other`` to the default link, the buyer page
  ``{node}/?id={canonical}``.

Every link answered — the linkset's, ``Link``, ``Location`` — is under ``{node}``, the
node's public address (:func:`api.routes.web.base_url`: TRACENODE_WEB_PUBLIC_URL, a path
allowed, else the address the request came to).

``?linkType={type}`` (a CURIE ``gs1:traceability``, the full URI, or an IANA relation such
as ``describedby``) asks for one link: ``307 Temporary Redirect`` to it, the request's query
string passed on; a type the identifier has no link of is a 404 ``link-type-not-found``.
:data:`BATCH_LINK_TYPES` and :data:`PRODUCT_LINK_TYPES` are the one definition of the link
types: the linkset, the redirects and the description file all read them.

A GTIN alone (``/01/{gtin}``, a product) names no batch: it is answered with the
product's lots and items this node holds (``GET /v1/search``'s document), a browser is
sent to the page's list of them (``/?q={product's Digital Link}``), and its linkset links
the two. ``GET /.well-known/gs1resolver`` is the resolver description file. Errors go to
browsers as HTML pages (api/html_errors.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.deps import GatewayDep, ReaderDep, strictly_decoded
from api.html_errors import HTML_TYPES, accept_ranges, preference
from api.problems import problem_responses
from api.routes.batches import batch_links, batch_out
from api.routes.network import elsewhere, elsewhere_html, elsewhere_out
from api.routes.provenance import lineage_parts_json
from api.routes.search import DEFAULT_LIMIT, search_out
from api.routes.web import base_url
from api.schemas import BatchOut, LinkTypeNamespace, ResolverDescription
from node.events.identifiers import (
    GS1_RESOLVER,
    MAX_IDENTIFIER_LENGTH,
    Identifier,
    Product,
    parse_key,
)
from node.events.typed_data import BatchStatus
from node.exceptions import BatchNotFoundError, LinkTypeNotFoundError, NotAcceptableError
from node.network.lineage import FOLLOWED
from node.network.resolution import Elsewhere, RemoteOutcome
from node.provenance.service import recalled_in

router = APIRouter(tags=["resolution"])

JSON: Final = "application/json"
LINKSET: Final = "application/linkset+json"
HTML: Final = "text/html"
#: The GS1 Web Vocabulary, the namespace of the ``gs1:`` link types, as linksets write it.
GS1_VOC: Final = "https://gs1.org/voc/"
#: Other spellings of that namespace a ``?linkType=`` may use.
_GS1_VOC_ALIASES: Final = ("https://ref.gs1.org/voc/", "https://www.gs1.org/voc/")
#: GS1's JSON-LD context for linksets (GS1-Conformant Resolver 1.2.0, artefacts).
LINKSET_CONTEXT: Final = "https://ref.gs1.org/standards/resolver/linkset-context"
#: What the resolver answers, in its order of preference, and the media types asking for
#: each (``*/*`` and ``application/*`` go to JSON; ``text/*`` and XHTML to the page).
_OFFERED: Final = ((JSON, (JSON,)), (LINKSET, (LINKSET,)), (HTML, HTML_TYPES))
#: The ``?linkType=`` values that ask for the linkset itself (``all`` is the older one).
_LINKSET_TYPES: Final = frozenset({"linkset", "all"})


@dataclass(frozen=True, slots=True)
class LinkType:
    """One link of a linkset: its relation type, which of the identifier's links
    (``BatchOut.links``, or a product's) it points to, the target's media type, a title."""

    rel: str
    link: str
    media: str
    title: str


#: A batch's links, in linkset order; the default link first.
BATCH_LINK_TYPES: Final[tuple[LinkType, ...]] = (
    LinkType(GS1_VOC + "defaultLink", "page", HTML, "Provenance of this batch"),
    LinkType(GS1_VOC + "pip", "page", HTML, "Provenance of this batch: the buyer page"),
    LinkType(GS1_VOC + "traceability", "provenance", JSON, "Provenance (JSON)"),
    # Its title is the batch's recall state in words (recall_title).
    LinkType(GS1_VOC + "recallStatus", "self", JSON, "Recall status"),
    LinkType("describedby", "self", JSON, "Batch state"),
    LinkType("related", "trace", JSON, "Downstream trace"),
    LinkType("alternate", "bundle", JSON, "Self-contained proof bundle"),
)
#: A batch another node keeps, where this node sends no one (that node's bundle did not
#: pass this node's verifier, or its URL is refused: docs/network.md): this node's own
#: answer of what the chain proves, as a page (a browser) and as JSON.
CHAIN_LINK_TYPES: Final[tuple[LinkType, ...]] = (
    LinkType(GS1_VOC + "defaultLink", "resolve", HTML, "What the chain proves of this batch"),
    LinkType(GS1_VOC + "pip", "resolve", HTML, "What the chain proves of this batch"),
    LinkType(GS1_VOC + "traceability", "resolve", JSON, "What the chain proves (JSON)"),
    LinkType(GS1_VOC + "recallStatus", "resolve", JSON, "Recall status"),
    LinkType("describedby", "resolve", JSON, "What the chain proves (JSON)"),
)
#: A product's (a GTIN alone) links: the page listing its lots here, and the same as JSON.
PRODUCT_LINK_TYPES: Final[tuple[LinkType, ...]] = (
    LinkType(GS1_VOC + "defaultLink", "page", HTML, "Lots on this node"),
    LinkType(GS1_VOC + "pip", "page", HTML, "Lots of this product on this node"),
    LinkType("describedby", "search", JSON, "Lots and items on this node (JSON)"),
)

_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The batch (JSON), or its linkset (application/linkset+json); for a "
        "GTIN alone, the product's lots and items this node holds (as GET /v1/search); for "
        "a batch another node of the network holds, what the chain proves and that node's "
        "bundle as this node's verifier judged it (ElsewhereOut; docs/network.md)",
        "content": {
            JSON: {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/BatchOut"},
                        {"$ref": "#/components/schemas/SearchOut"},
                        {"$ref": "#/components/schemas/ElsewhereOut"},
                    ]
                }
            },
            LINKSET: {"schema": {"$ref": "#/components/schemas/Linkset"}},
        },
        "headers": {
            "Link": {
                "required": True,
                "description": 'The linkset: <...?linkType=linkset>; rel="linkset" (and, on '
                "a linkset, GS1's JSON-LD context)",
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
                "description": "The buyer page of the identifier, under the node's public "
                "address (TRACENODE_WEB_PUBLIC_URL, else the address the request came to)",
                "schema": {"type": "string", "pattern": "^https?://[^?#]+/\\?(id|q)="},
            }
        },
    },
    307: {
        "description": "?linkType= names one of the identifier's link types: its link, the "
        "request's query string passed on",
        "headers": {
            "Location": {
                "required": True,
                "description": "The link of that type",
                "schema": {"type": "string", "pattern": "^https?://"},
            }
        },
    },
    **problem_responses(401, 404, 406, 422, 429),
}

LinkTypeParam = Annotated[
    str | None,
    Query(
        alias="linkType",
        max_length=64,
        description="'linkset' (or 'all') asks for the linkset; a link type (gs1:pip, "
        "gs1:traceability, its https://gs1.org/voc/ URI, describedby, ...) for a redirect "
        "to that link.",
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
    link_type: LinkTypeParam = None,
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
    link_type: LinkTypeParam = None,
) -> Response:
    key = parse_key(strictly_decoded(request, identifier, "the identifier"))
    return _negotiate(request, gateway, key, link_type)


@router.get(
    "/.well-known/gs1resolver",
    response_model=ResolverDescription,
    summary="The GS1 resolver description file: this resolver's root, keys and link types",
    responses=problem_responses(400, 429, 503),
)
def description_file(request: Request, gateway: GatewayDep) -> ResolverDescription:
    """What GS1's description-file schema asks for. ``resolverRoot`` is the node's public
    address (``TRACENODE_WEB_PUBLIC_URL``, else the address the request came to); Digital
    Links of GTINs (AI 01, with a lot or a serial) resolve under it."""
    return ResolverDescription(
        name="TraceNode",
        resolver_root=base_url(request, gateway),
        supported_primary_keys=["01"],
        supported_link_type=[LinkTypeNamespace(namespace=GS1_VOC, prefix="gs1:")],
        link_type_default_can_be_linkset=False,
        json_ld_context_location=LINKSET_CONTEXT,
    )


def _negotiate(
    request: Request, gateway: GatewayDep, key: Identifier | Product, link_type: str | None
) -> Response:
    rel = _link_type(link_type)
    wanted = _preferred(request) if rel is None else LINKSET
    batch = None
    if not isinstance(key, Product):
        try:
            batch = batch_out(gateway.node, key)
        except BatchNotFoundError:
            # Not in this store: another node of the network may hold it (docs/network.md).
            # A redirect there (?linkType=) needs its bundle verified here; a linkset only
            # names where it is kept (its URL screened, nothing fetched).
            held_elsewhere = elsewhere(
                gateway, key, fetch=wanted != LINKSET or rel not in (None, "linkset")
            )
            if held_elsewhere is None and wanted != HTML:
                raise
            if held_elsewhere is not None:
                return _elsewhere(request, gateway, key, held_elsewhere, wanted, rel)
    base = base_url(request, gateway)
    if wanted == HTML:
        page = "q" if isinstance(key, Product) else "id"
        return RedirectResponse(f"{base}/?{page}={quote(key.canonical, safe='')}", status_code=303)
    headers = _headers(base, key)
    if wanted == JSON:
        if batch is not None:
            return JSONResponse(batch.model_dump(mode="json"), headers=headers)
        assert isinstance(key, Product)
        found = search_out(gateway, key.canonical, key, DEFAULT_LIMIT)
        return JSONResponse(found.model_dump(mode="json"), headers=headers)
    links = _links(key, batch, base)
    return _linkset_or_redirect(request, key, links, rel, headers)


def _headers(base: str, key: Identifier | Product) -> dict[str, str]:
    linkset_url = f"{base}/v1/resolve/{quote(key.canonical, safe='')}?linkType=linkset"
    return {"Link": f'<{linkset_url}>; rel="linkset"; type="{LINKSET}"', "Vary": "Accept"}


def _elsewhere(
    request: Request,
    gateway: GatewayDep,
    key: Identifier,
    found: Elsewhere,
    wanted: str,
    rel: str | None,
) -> Response:
    """The answer for a batch another node holds: a browser goes to that node's page when
    its bundle passed this node's verifier (else sees what the chain proves); JSON is what
    the chain proves and the verdict (ElsewhereOut). The linkset's links are that node's
    unless its URL is refused; a ``?linkType=`` redirect goes there only when its bundle
    passed this node's verifier: otherwise both are this node's answer of what the chain
    proves (:data:`CHAIN_LINK_TYPES`)."""
    if wanted == HTML:
        return elsewhere_html(found, key)
    base = base_url(request, gateway)
    headers = _headers(base, key)
    if wanted == JSON:
        document = elsewhere_out(gateway, found, key).model_dump(mode="json")
        if found.report is not None and found.outcome in FOLLOWED:
            document["remoteParts"] = lineage_parts_json(gateway, found.report)
        return JSONResponse(document, headers=headers)
    if found.route is None or found.outcome is RemoteOutcome.THIS_NODE:
        raise BatchNotFoundError(f"this node holds no batch {key.canonical}: {found.detail}")
    redirect = rel not in (None, "linkset")
    there = found.verified if redirect else found.outcome is not RemoteOutcome.REFUSED
    if there:
        remote = found.route.node.url.rstrip("/")
        links = _links(key, None, remote, paths=batch_links(found.batch_id, key.canonical))
    else:
        here = {"resolve": f"/v1/resolve/{quote(key.canonical, safe='')}"}
        links = _links(key, None, base, paths=here, table=CHAIN_LINK_TYPES)
    # Recalled: RECALLED on-chain, or (a recalled lot destroyed since reads DESTROYED) a
    # RECALL of it in the bundle this node verified.
    recalled = found.chain.status is BatchStatus.RECALLED or (
        found.verified and found.report is not None and found.batch_id in recalled_in(found.report)
    )
    links[GS1_VOC + "recallStatus"][0]["title"] = (
        f"{'recalled' if recalled else 'none'}: "
        f"as the chain records this batch (status {found.chain.status.name}); its node, "
        f"node {found.route.node.id}, keeps its events"
    )
    return _linkset_or_redirect(request, key, links, rel, headers, pass_link_type=there)


def _linkset_or_redirect(
    request: Request,
    key: Identifier | Product,
    links: dict[str, Any],
    rel: str | None,
    headers: dict[str, str],
    *,
    pass_link_type: bool = True,
) -> Response:
    if rel not in (None, "linkset"):
        return _redirect(request, key, links, rel, pass_link_type=pass_link_type)
    headers["Link"] += (
        f', <{LINKSET_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"'
    )
    return JSONResponse({"linkset": [links]}, media_type=LINKSET, headers=headers)


def _link_type(value: str | None) -> str | None:
    """What ``?linkType=`` asks for: None (nothing), ``"linkset"``, or a relation type as
    linksets write it (``gs1:pip`` and GS1's other namespace spellings become
    ``https://gs1.org/voc/pip``)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value in _LINKSET_TYPES:
        return "linkset"
    if value.startswith("gs1:"):
        return GS1_VOC + value.removeprefix("gs1:")
    for alias in _GS1_VOC_ALIASES:
        if value.startswith(alias):
            return GS1_VOC + value.removeprefix(alias)
    return value


def _redirect(
    request: Request,
    key: Identifier | Product,
    links: Mapping[str, Any],
    rel: str,
    *,
    pass_link_type: bool = True,
) -> Response:
    """``307`` to the link of type ``rel``, with the request's query string (GS1-Conformant
    Resolver: a resolver passes the query string on when it redirects); without its
    ``linkType`` when the link is this node's own resolver (it would ask again)."""
    targets = links.get(rel) if rel != "anchor" else None
    if not targets:
        offered = ", ".join(_curie(r) for r in links if r != "anchor")
        raise LinkTypeNotFoundError(
            f"{key.canonical} has no link of type {_curie(rel)[:80]} on this node; "
            f"it has: {offered}"
        )
    href: str = targets[0]["href"]
    query = request.url.query
    if not pass_link_type:
        kept = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, value) for name, value in kept if name != "linkType"])
    if query:
        href += ("&" if "?" in href else "?") + query
    return RedirectResponse(href, status_code=307, headers={"Vary": "Accept"})


def _curie(rel: str) -> str:
    return "gs1:" + rel.removeprefix(GS1_VOC) if rel.startswith(GS1_VOC) else rel


def _links(
    key: Identifier | Product,
    batch: BatchOut | None,
    base: str,
    *,
    paths: dict[str, str] | None = None,
    table: tuple[LinkType, ...] = BATCH_LINK_TYPES,
) -> dict[str, Any]:
    """The link context object of the identifier's linkset (RFC 9264, GS1's linkset
    schema): its anchor and, per link type, one target with its media type and title.
    ``paths``: a batch's links (of ``table``'s types) on the node at ``base``, when this
    node holds no ``batch``."""
    titles: dict[str, str] = {}
    if paths is None and batch is None:
        assert isinstance(key, Product)
        query = quote(key.canonical, safe="")
        table, paths = (
            PRODUCT_LINK_TYPES,
            {"page": f"/?q={query}", "search": f"/v1/search?q={query}"},
        )
    elif paths is None and batch is not None:
        table, paths = BATCH_LINK_TYPES, batch.links
        titles = {GS1_VOC + "recallStatus": recall_title(batch)}
    assert paths is not None
    anchor = key.canonical
    if "://" not in anchor:
        anchor = f"{base}/v1/resolve/{quote(anchor, safe='')}"
    context: dict[str, Any] = {"anchor": anchor}
    for kind in table:
        title = titles.get(kind.rel, kind.title)
        context[kind.rel] = [{"href": base + paths[kind.link], "type": kind.media, "title": title}]
    return context


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
    """The best of JSON, linkset and HTML for the request's Accept header: each takes the
    quality of the most specific range matching it (api.html_errors.preference, RFC 9110
    §12.5.1), so ``application/json;q=0`` refuses JSON whatever ``*/*`` says; a tie goes
    to the range the client wrote first, then to JSON, the linkset, HTML."""
    header = request.headers.get("accept", "")
    if not header.strip():
        return JSON
    ranges = accept_ranges(header)
    ranked = []
    for order, (answer, types) in enumerate(_OFFERED):
        q, position = max(
            (preference(ranges, media) for media in types), key=lambda p: (p[0], -p[1])
        )
        ranked.append((q, -position, -order, answer))
    q, _, _, answer = max(ranked)
    if q <= 0:
        raise NotAcceptableError(f"this is served as {JSON}, {LINKSET} or {HTML}")
    return answer
