"""``/docs``: Swagger UI over ``/openapi.json``, served by the node itself, and the
document (api/openapi.py) as a route like any other: a bad key is refused and the caller
rate-limited there too (FastAPI's own ``/openapi.json`` runs no dependency).

FastAPI's own ``/docs`` loads Swagger UI from a CDN and starts it with an inline script:
blank on a machine without internet, and impossible under a Content-Security-Policy
without ``'unsafe-inline'``. Here the page is api/static/docs.html, Swagger UI's files are
npm's ``swagger-ui-dist`` (pinned in package.json; scripts/setup.sh copies them into
api/static/swagger-ui), and the page starts it from api/static/docs.js — so the page
loads nothing from elsewhere and runs no inline script.

The policy is the buyer page's but for two things Swagger UI needs: ``data:`` images
(its stylesheet draws icons as data URLs) and no Trusted Types (React writes rendered
Markdown as HTML). ReDoc is not served.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from node.exceptions import NotReadyError

router = APIRouter()

DOCS_CSP: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
DOCS_HEADERS: Final = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: Swagger UI's files the page loads, and their media types.
SWAGGER_FILES: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
SwaggerFile = Literal["swagger-ui-bundle.js", "swagger-ui.css"]


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: str
    etag: str


@cache
def _files() -> dict[str, _File]:
    """The page and Swagger UI's files, read once; NotReadyError when setup has not
    copied Swagger UI (its files are not in git)."""
    static = files("api") / "static"
    sources = {"docs.html": static / "docs.html"} | {
        name: static / "swagger-ui" / name for name in SWAGGER_FILES
    }
    found: dict[str, _File] = {}
    for name, source in sources.items():
        if not source.is_file():
            raise NotReadyError(
                f"Swagger UI's files are not installed ({name}): scripts/setup.sh copies "
                "npm's swagger-ui-dist into api/static/swagger-ui"
            )
        body = source.read_bytes()
        media_type = SWAGGER_FILES.get(name, "text/html; charset=utf-8")
        found[name] = _File(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return found


def _serve(request: Request, name: str) -> Response:
    try:
        item = _files()[name]
    except NotReadyError:
        _files.cache_clear()  # set up later: found without a restart
        raise
    headers = DOCS_HEADERS | {"ETag": item.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == item.etag:
        return Response(status_code=304, headers=headers)
    return Response(item.body, media_type=item.media_type, headers=headers)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> JSONResponse:
    """This node's OpenAPI document (built once, by api.openapi.openapi_document)."""
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> Response:
    """Swagger UI for this node's API."""
    return _serve(request, "docs.html")


@router.get("/docs/{name}", include_in_schema=False)
def swagger_file(name: SwaggerFile, request: Request) -> Response:
    return _serve(request, name)
