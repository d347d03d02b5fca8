"""``/verify``: check a proof bundle in the buyer's own browser.

The page (api/static/verify.html, verify.js, verify-core.js, verify.css) reads a bundle —
from this node's ``/v1/batches/{id}/bundle`` or a file the buyer chooses — and runs every
check of ``tracenode verify`` in the browser, against this node's read-only ``/rpc`` or
any JSON-RPC endpoint the buyer enters (docs/web.md). Its cryptography is noble's
(keccak-256, secp256k1), pinned in package.json and copied by scripts/setup.sh
(scripts/vendor_js.mjs) into api/static/vendor, which this module serves: nothing comes
from a CDN.

The policy is the buyer page's but for ``connect-src``: the page must reach whichever
JSON-RPC endpoint the buyer names, so it may connect to any http(s) URL. That is safe to
allow because the page holds nothing to leak — no API key, no cookie, nothing but the
public bundle and public chain data — and because what could abuse it, a script of
someone else's, still cannot run: scripts only from this origin, no inline script, no
eval, Trusted Types with no policy. The buyer page at ``/`` keeps ``connect-src 'self'``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Annotated, Final

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.routes.web import PAGE_HEADERS
from node.exceptions import NotFoundError, NotReadyError

router = APIRouter(tags=["buyer page"])

#: The buyer page's policy (api/routes/web.py) with connect-src opened to any http(s) URL
#: (see the module docstring for why).
VERIFY_CSP: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self' https: http:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
VERIFY_HEADERS: Final = PAGE_HEADERS | {
    "Content-Security-Policy": VERIFY_CSP,
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
#: Headers of the vendored modules (a script's own CSP does not apply to it; nosniff does).
VENDOR_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_VENDOR_PATH: Final = re.compile(r"noble-(?:hashes|curves)(?:/[a-z0-9_-]+)+\.js")


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: str
    etag: str


def _file(body: bytes, media_type: str) -> _File:
    return _File(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@cache
def _page() -> _File:
    return _file((files("api") / "static" / "verify.html").read_bytes(), "text/html; charset=utf-8")


@cache
def _vendor() -> dict[str, _File]:
    """The vendored modules, read once; NotReadyError when setup has not copied them
    (they are not in git)."""
    folder = files("api") / "static" / "vendor"
    found: dict[str, _File] = {}
    pending = [(folder, "")]
    while pending:
        directory, prefix = pending.pop()
        if not directory.is_dir():
            continue
        for item in directory.iterdir():
            name = prefix + item.name
            if item.is_dir():
                pending.append((item, name + "/"))
            elif _VENDOR_PATH.fullmatch(name):
                found[name] = _file(item.read_bytes(), "text/javascript; charset=utf-8")
    for entry in ("noble-hashes/sha3.js", "noble-curves/secp256k1.js"):
        if entry not in found:
            raise NotReadyError(
                f"the verifier's cryptography is not installed ({entry}): scripts/setup.sh "
                "copies npm's @noble/hashes and @noble/curves into api/static/vendor"
            )
    return found


def _send(request: Request, item: _File, headers: dict[str, str]) -> Response:
    common = headers | {"ETag": item.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == item.etag:
        return Response(status_code=304, headers=common)
    return Response(item.body, media_type=item.media_type, headers=common)


@router.get("/verify", include_in_schema=False)
def verify_page(request: Request) -> Response:
    """The verifier page (it reads ``?id=``, ``?rpc=`` and ``?timeout=`` itself)."""
    return _send(request, _page(), VERIFY_HEADERS)


@router.get("/static/vendor/{path:path}", include_in_schema=False)
def vendor_file(path: Annotated[str, Path(max_length=128)], request: Request) -> Response:
    if not _VENDOR_PATH.fullmatch(path):
        raise NotFoundError(f"no file {path[:80]!r}")
    try:
        modules = _vendor()
    except NotReadyError:
        _vendor.cache_clear()  # set up later: found without a restart
        raise
    item = modules.get(path)
    if item is None:
        raise NotFoundError(f"no file {path[:80]!r}")
    return _send(request, item, VENDOR_HEADERS)
