"""Problems as pages, for people.

A label's QR code opens ``/01/{gtin}/10/{lot}`` in a phone's browser; a mistyped lot, a
bad check digit, a node that is not ready would show that browser a raw
``application/problem+json`` document. Every problem answer of the gateway passes
through here instead: :func:`install` wraps each handler api/problems.py registered, so
the problem documents stay defined in one place and are negotiated in one place.

A request gets a page when it is a browser's navigation to a page: a GET or HEAD whose
``Accept`` prefers ``text/html`` to JSON (:func:`prefers_html`: Chromium's and Firefox's
navigations do; ``application/json``, ``*/*`` and no Accept at all do not), to anything
but the JSON API (``/v1/...`` other than ``/v1/resolve/...``, ``/rpc``, ``/openapi.json``,
``/healthz``, ``/readyz``, ``/metrics``): a Digital Link, a resolver URL, the page
itself, an unknown address. The page says in plain words what went wrong and what to do,
shows the node's own detail and the problem's code for support, and offers the lookup box
(filled with what was asked, to correct) and the way home. Its status and headers are the
problem's (``Retry-After``, ``WWW-Authenticate``, ``Allow``); it is served under the
buyer page's Content-Security-Policy, runs no script, takes its styles from
``/static/style.css``, and every value in it is escaped.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from api.problems import PROBLEM_JSON
from api.routes.web import PAGE_HEADERS

#: Paths answered as JSON to everyone: the API (resolution aside) and the node's probes.
_API_PATHS: Final = ("/v1/", "/rpc", "/openapi.json", "/healthz", "/readyz", "/metrics")
_PAGE_PATHS: Final = ("/v1/resolve/",)
#: The media types a page is wanted by (resolution's HTML answer reads them too).
HTML_TYPES: Final = ("text/html", "application/xhtml+xml")
_JSON: Final = ("application/json", PROBLEM_JSON)
#: Headers of the JSON answer that describe its body, not the problem.
_BODY_HEADERS: Final = frozenset({"content-type", "content-length"})

#: Per problem code: a headline, and what happened and what to do, in plain words.
_PLAIN: Final[dict[str, tuple[str, str]]] = {
    "invalid-identifier": (
        "This code names no batch",
        "It is not written the way a batch identifier is written: a character may be "
        "mistyped or missing, or the label was not scanned whole. Check it against the "
        "label and correct it below, or type the lot code printed on the pack.",
    ),
    "batch-not-found": (
        "This node has no record of this batch",
        "Nothing recorded on this node names it. It may be recorded on another node, or "
        "not recorded yet.",
    ),
    "link-type-not-found": (
        "This link asks for something this batch does not have",
        "The address asks for a kind of information this node does not hold for this code "
        "(its linkType). Look the code up below to see everything the node holds for it.",
    ),
    "not-found": (
        "There is no page at this address",
        "Check the address, or look the batch up below.",
    ),
    "validation-error": (
        "This address cannot be read",
        "A part of it is malformed or too long. Scan the label again, or type its "
        "identifier below.",
    ),
    "not-acceptable": (
        "This cannot be shown in a browser",
        "The address asks for a format this node does not serve. Look the batch up below.",
    ),
    "method-not-allowed": (
        "This address cannot be used this way",
        "Open it as a normal link, or look the batch up below.",
    ),
    "rate-limited": (
        "Too many requests from here",
        "Wait a few seconds, then reload the page.",
    ),
    "unauthenticated": (
        "This node shows batches to its members only",
        "It needs an API key, which a browser does not send. Ask the node's operator how "
        "to see this batch.",
    ),
    "forbidden": (
        "This is not open to you",
        "It needs another API key. Ask the node's operator.",
    ),
    "not-ready": (
        "The node cannot answer right now",
        "It is starting, or a part it needs cannot be reached. Try again in a minute.",
    ),
    "chain-error": (
        "The node cannot reach its blockchain right now",
        "Nothing can be checked until it can. Try again in a minute.",
    ),
    "internal-error": (
        "Something went wrong on this node",
        "It is not something you did. Try again later; if it happens again, give the "
        "node's operator the error code below.",
    ),
}
_CLIENT_ERROR: Final = (
    "This cannot be answered",
    "The node refused the request. Look the batch up below, or start again.",
)
_SERVER_ERROR: Final = (
    "The node cannot answer right now",
    "Try again in a minute; if it happens again, give the node's operator the error code below.",
)

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def install(app: FastAPI) -> None:
    """Route every problem handler registered on ``app`` (api/problems.py's) through
    :func:`for_browsers`. Call it after the handlers are registered."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = for_browsers(handler)


def for_browsers(handler: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    """``handler``, answering a browser's navigation to a page with the problem as a page
    (see the module docstring) and everyone else exactly as ``handler`` does."""

    async def handle(request: Request, error: Exception) -> Response:
        answer = handler(request, error)
        response = await answer if inspect.isawaitable(answer) else answer
        if response.headers.get("content-type") != PROBLEM_JSON or not wants_page(request):
            return response
        return problem_page(request, json.loads(bytes(response.body)), response)

    return handle


def wants_page(request: Request) -> bool:
    """Whether ``request`` is a browser's navigation to a page (module docstring)."""
    path = request.url.path
    if request.method not in ("GET", "HEAD"):
        return False
    if path == "/v1" or (path.startswith(_API_PATHS) and not path.startswith(_PAGE_PATHS)):
        return False
    return prefers_html(request.headers.get("accept"))


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header ranks HTML above JSON (RFC 9110 §12.5.1: each type
    takes the quality of the most specific range that matches it). A tie — ``*/*``,
    ``text/html, application/json`` — or no header goes to JSON."""
    ranges = accept_ranges(accept or "")
    html = max(quality(ranges, media) for media in HTML_TYPES)
    return html > max(quality(ranges, media) for media in _JSON)


def accept_ranges(header: str) -> list[tuple[str, float]]:
    """An ``Accept`` header's media ranges with their qualities (0 to 1), in the order
    given (at most 32): the one reading of the header (resolution negotiates with it too)."""
    ranges = []
    for part in header.split(",")[:32]:
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
                if math.isnan(q):  # q=nan: no quality at all
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))
    return ranges


def preference(ranges: list[tuple[str, float]], media: str) -> tuple[float, int]:
    """How much ``ranges`` (:func:`accept_ranges`) want ``media``: the quality of the most
    specific range that matches it (RFC 9110 §12.5.1: ``text/html;q=0`` refuses HTML
    whatever ``*/*`` or ``text/*`` say), and that range's position in the header (to
    break ties in the client's order; ``len(ranges)`` when no range matches)."""
    kind = media.split("/", 1)[0]
    for wanted in (media, f"{kind}/*", "*/*"):
        found = [(q, -position) for position, (range_, q) in enumerate(ranges) if range_ == wanted]
        if found:
            q, position = max(found)
            return q, -position
    return 0.0, len(ranges)


def quality(ranges: list[tuple[str, float]], media: str) -> float:
    """The quality ``ranges`` give ``media`` (:func:`preference`)."""
    return preference(ranges, media)[0]


def problem_page(request: Request, problem: dict[str, Any], response: Response) -> HTMLResponse:
    """The page for ``problem`` (the document ``response`` carries), with its status and
    the headers that are not about the JSON body."""
    status = int(problem.get("status") or response.status_code)
    code = str(problem.get("code") or "internal-error")
    headline, plain = _PLAIN.get(code, _SERVER_ERROR if status >= 500 else _CLIENT_ERROR)
    detail = str(problem.get("detail") or "")
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _BODY_HEADERS}
    headers |= PAGE_HEADERS | {"Cache-Control": "no-store", "Vary": "Accept"}
    return HTMLResponse(
        _PAGE.format(
            headline=escape(headline),
            plain=escape(plain),
            detail=escape(detail[:1000]),
            code=escape(code),
            status=status,
            asked=escape(_asked(request)[:2048]),
        ),
        status_code=response.status_code,
        headers=headers,
    )


def _asked(request: Request) -> str:
    """What the person asked for, to correct in the lookup box: the Digital Link they
    opened, the identifier after /v1/resolve/, or the page's ?q= / ?id=."""
    path = request.url.path
    if path.startswith("/01/"):
        raw = request.scope.get("raw_path")
        sent = raw.decode("ascii", "replace") if isinstance(raw, bytes) else path
        query = request.url.query
        return str(request.base_url).rstrip("/") + sent + (f"?{query}" if query else "")
    if path.startswith("/v1/resolve/"):
        return path.removeprefix("/v1/resolve/")
    if path == "/":
        return request.query_params.get("q") or request.query_params.get("id") or ""
    return ""


#: The head of the node's server-made pages (``{headline}`` their title), the page's styles.
PAGE_HEAD: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="referrer" content="no-referrer">
<title>{headline} — TraceNode</title>
<link rel="icon" href="/static/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/base.css">
<link rel="stylesheet" href="/static/style.css">
</head>
"""
_PAGE: Final = (
    PAGE_HEAD
    + """<body>
<header class="top">
  <a class="brand" href="/"><img src="/static/icon.svg" alt="" width="28" height="28"
    ><span>TraceNode</span></a>
  <form id="lookup" class="lookup" action="/" method="get" role="search">
    <label for="id-input" class="visually-hidden">Batch identifier or lot code</label>
    <input id="id-input" name="q" type="search" autocomplete="off" autocapitalize="off"
           spellcheck="false" required maxlength="2048" value="{asked}"
           placeholder="A label's link or text, a lot code, a handle">
    <button type="submit">Look up</button>
  </form>
</header>
<main id="main">
  <section class="card problem" id="problem" data-code="{code}" data-status="{status}">
    <h1>{headline}</h1>
    <p>{plain}</p>
    <p class="problem-detail">{detail}</p>
    <p class="problem-code">Error code for support: <code>{code}</code> (HTTP {status})</p>
    <p><a href="/">Start again</a></p>
  </section>
</main>
</body>
</html>
"""
)
