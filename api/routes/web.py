"""The buyer's page and what it needs: the page at ``/`` (static HTML, CSS and JS from
api/static, under a strict Content-Security-Policy), a batch's overview in one request,
and its label's QR code.

- ``GET /`` — the page; it reads ``?id=`` (where Digital Link and handle URLs send
  browsers) and renders everything from ``GET /v1/batches/{id}/overview``.
- ``GET /v1/batches/{id}/overview`` — the batch, its provenance report, its proof bundle
  and its downstream trace, from one export (the report's events and the bundle's are
  the same list, in the same order), and the links the page shows.
- ``GET /v1/batches/{id}/qr.svg`` and ``.../qr.png`` — a QR code of the batch's label URL
  on this node (:func:`node.labels.label_url`, the rule ``tracenode qr`` uses too).

Settings (``TRACENODE_WEB_*``): ``PUBLIC_URL``, the node's address as printed on labels
(default: the address the request came to); ``EXPLORER_TX_URL``, a block explorer's
transaction URL with ``{tx}`` where the hash goes (default: none; the page then shows the
hash and root with copy buttons, and the proof JSON).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from api.deps import BatchRef, Gateway, GatewayDep, ReaderDep
from api.problems import problem_responses
from api.routes.batches import batch_out
from api.routes.provenance import provenance_json, service
from api.settings import WebSettings
from node.events.identifiers import parse_identifier
from node.exceptions import (
    BatchNotFoundError,
    ConfigurationError,
    NotFoundError,
    NotReadyError,
    RequestError,
)
from node.labels import QrFormat, label_url, normalise_base_url, render_qr
from node.monitor.words import PAGE_SEVERITY, page_alerts
from node.provenance.service import trace_json
from node.store.alerts import AlertFilter

router = APIRouter(tags=["buyer page"])

#: The page's policy: its own scripts, styles and images only; no inline script or style,
#: no plugins, no framing, no <base>, forms to this origin, and Trusted Types so that no
#: string can ever be assigned as HTML (the page builds every node with textContent).
PAGE_CSP: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
#: Images and scripts need nothing: an SVG opened on its own runs no script, loads nothing.
ASSET_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
PAGE_HEADERS: Final = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=()",
}
_MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]*\.(?:js|css|svg)")


def web_settings(gateway: Gateway) -> WebSettings:
    """The page's settings; a node whose TRACENODE_WEB_* settings are wrong serves the page
    and answers what needs them with 503, naming the setting."""
    if gateway.web is None:
        raise NotReadyError(gateway.web_error or "the page's settings are not loaded")
    return gateway.web


def base_url(request: Request, gateway: Gateway) -> str:
    """This node's address for labels and commands: the setting, else the request's."""
    configured = web_settings(gateway).public_url
    if configured:
        return configured
    try:
        return normalise_base_url(str(request.base_url))
    except ConfigurationError:
        raise RequestError(
            "the request's Host header is not a host name; set TRACENODE_WEB_PUBLIC_URL"
        ) from None


# ----- the page and its files -----


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def _assets() -> dict[str, _Asset]:
    folder = files("api") / "static"
    found: dict[str, _Asset] = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _MEDIA_TYPES:
            body = item.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            found[item.name] = _Asset(body, _MEDIA_TYPES[suffix], etag)
    return found


def _serve(request: Request, name: str, headers: dict[str, str]) -> Response:
    asset = _assets().get(name)
    if asset is None:
        raise NotFoundError(f"no file {name[:80]!r}")
    common = headers | {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=common)
    return Response(asset.body, media_type=asset.media_type, headers=common)


@router.get("/", include_in_schema=False)
def page(request: Request) -> Response:
    """The buyer's page (it reads ``?id=`` itself)."""
    return _serve(request, "index.html", PAGE_HEADERS)


@router.get("/static/{name}", include_in_schema=False)
def static(name: Annotated[str, Path(max_length=64)], request: Request) -> Response:
    if not _STATIC_NAME.fullmatch(name):
        raise NotFoundError(f"no file {name[:80]!r}")
    return _serve(request, name, PAGE_HEADERS)


# ----- a batch's overview -----

_OBJECT = {"type": "object", "additionalProperties": True}
#: The most alerts the page lists for one batch (newest first).
PAGE_ALERTS: Final = 20


@router.get(
    "/v1/batches/{id:path}/overview",
    summary="Everything the buyer page shows: batch, verified provenance, bundle, trace",
    responses={
        200: {
            "description": "``batch`` (as GET /v1/batches/{id}, null for a pallet), "
            "``provenance`` (the verification report), ``bundle`` (the proof bundle the "
            "report checked, events in the same order), ``trace`` (downstream), ``names`` "
            "(the identifier of every batch the events name), ``links`` and ``alerts`` "
            "(its open high and critical alerts in plain words: rule, severity, status, "
            "since, says)",
            "content": {"application/json": {"schema": _OBJECT}},
        },
        **problem_responses(400, 401, 404, 422, 429),
    },
)
def overview(
    ref: BatchRef, request: Request, gateway: GatewayDep, _reader: ReaderDep
) -> JSONResponse:
    settings = web_settings(gateway)
    svc = service(gateway)
    identifier = parse_identifier(ref)
    batch_id = svc.resolve(identifier.canonical)
    result = svc.provenance(batch_id)
    trace = trace_json(svc.trace(batch_id))
    try:
        batch: dict[str, Any] | None = batch_out(gateway.node, identifier).model_dump(mode="json")
    except BatchNotFoundError:
        batch = None  # known from events only (a pallet)
    report = provenance_json(result, gateway)
    bundle = result.bundle
    canonical = bundle.batches[0].identifier or "0x" + batch_id.hex()
    mentioned = {bytes(b) for e in bundle.events for b in e.event.batch_ids()}
    with gateway.node.store.read() as conn:
        states = gateway.node.store.batches.load(conn, mentioned)
        alerts = gateway.node.store.alerts.page(
            conn,
            where=AlertFilter(min_severity=PAGE_SEVERITY, batch_id=batch_id),
            before=None,
            limit=PAGE_ALERTS,
        )
    base = base_url(request, gateway)
    hex_id = "0x" + batch_id.hex()
    links = {
        "page": f"/?id={quote(canonical, safe='')}",
        "label": label_url(parse_identifier(canonical), base),
        "qrSvg": f"/v1/batches/{hex_id}/qr.svg",
        "qrPng": f"/v1/batches/{hex_id}/qr.png",
        "bundle": f"/v1/batches/{hex_id}/bundle",
        "bundleFile": bundle.file_name,
        "rpc": f"{base}/rpc",
        "explorerTx": settings.explorer_tx_url,
    }
    return JSONResponse(
        {
            "identifier": canonical,
            "batch": batch,
            "provenance": report,
            "bundle": bundle.as_json(),
            "trace": trace,
            # identifiers of every batch the events name (sibling inputs included)
            "names": {
                "0x" + b.hex(): state.identifier
                for b, state in sorted(states.items())
                if state.identifier
            },
            "links": links,
            # The node's predicted wait for a proof (docs/api.md, Backpressure), while
            # some event is not anchored yet.
            "anchoring": {"predictedSeconds": round(gateway.backlog.current().predicted_seconds, 1)}
            if any(e.anchor is None for e in bundle.events)
            else None,
            # its open high and critical alerts, in plain words only (node.monitor.words)
            "alerts": page_alerts(alerts),
        },
        headers={"Cache-Control": "no-store"},
    )


# ----- QR codes -----


def _qr(ref: str, request: Request, gateway: Gateway, fmt: QrFormat) -> Response:
    web_settings(gateway)  # a misconfigured node says so before anything else
    batch = batch_out(gateway.node, parse_identifier(ref))
    canonical = batch.identifier or batch.batch_id
    url = label_url(parse_identifier(canonical), base_url(request, gateway))
    return Response(
        render_qr(url, fmt),
        media_type=fmt.media_type,
        headers={
            "Content-Security-Policy": ASSET_CSP,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="label.{fmt.value}"',
        },
    )


_QR_DOC = (
    "The QR code of the batch's label URL on this node: a Digital Link keeps its GS1 path "
    "(`{node}/01/{gtin}/10/{lot}`), other identifiers go through `{node}/v1/resolve/...`. "
    "`{node}` is TRACENODE_WEB_PUBLIC_URL, else the address the request came to."
)


@router.get(
    "/v1/batches/{id:path}/qr.svg",
    summary="The batch's label QR code (SVG)",
    description=_QR_DOC,
    responses={
        200: {"description": "SVG", "content": {"image/svg+xml": {}}},
        **problem_responses(400, 401, 404, 422, 429),
    },
)
def qr_svg(ref: BatchRef, request: Request, gateway: GatewayDep, _reader: ReaderDep) -> Response:
    return _qr(ref, request, gateway, QrFormat.SVG)


@router.get(
    "/v1/batches/{id:path}/qr.png",
    summary="The batch's label QR code (PNG)",
    description=_QR_DOC,
    responses={
        200: {"description": "PNG, 8 pixels per module", "content": {"image/png": {}}},
        **problem_responses(400, 401, 404, 422, 429),
    },
)
def qr_png(ref: BatchRef, request: Request, gateway: GatewayDep, _reader: ReaderDep) -> Response:
    return _qr(ref, request, gateway, QrFormat.PNG)
