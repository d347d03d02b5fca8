"""The app factory: routers, middleware, problem handlers (api/problems.py, their answers to
browsers' navigations as pages by api/html_errors.py). Nothing is built at import time.

Routers are the modules of ``api/routes``; each is an ``APIRouter``. To add one (the
EPCIS capture, provenance, the buyer page ...), add its module to :data:`ROUTERS`.
``batches`` is always included last: its ``/v1/batches/{id:path}`` matches any path
below /v1/batches/, so sub-resources (``/v1/batches/{id}/provenance``) must come first.
"""

from __future__ import annotations

from importlib import import_module
from typing import Final

from eth_account.signers.local import LocalAccount
from fastapi import Depends, FastAPI

from api import html_errors
from api.backpressure import BacklogWatch
from api.deps import CommitStatus, Gateway, get_caller
from api.head import HeadAsGet
from api.health import Health
from api.limits import BodyLimits, RateLimiter
from api.metrics import Metrics, RequestMetrics
from api.openapi import openapi_document
from api.problems import install
from api.rpc_readers import executor_for, rpc_bounds
from api.settings import ApiSettings, WebSettings, load_web_settings
from node import __version__
from node.chain.embedded import serialize_requests
from node.context import Node
from node.epcis.jobs import CaptureJobs
from node.monitor.refusals import RefusalLog
from node.provenance.service import ProvenanceService
from node.store.apikeys import ApiKeys

#: Router modules under api/routes, in matching order (``batches`` is added after them).
ROUTERS: Final[tuple[str, ...]] = (
    "health",
    "info",
    "events",
    "participants",
    "network",
    "anchors",
    "alerts",
    "webhooks",
    "resolve",
    "search",
    "rpc",
    "epcis",
    "epcis_query",
    "epcis_jobs",
    "epcis_named",
    "masterdata",
    "provenance",
    "web",
    "verify_page",
    "sdk_support",
    "docs",
)
#: Matched last (see the module docstring).
CATCH_ALL_ROUTERS: Final[tuple[str, ...]] = ("batches",)

DESCRIPTION = """\
TraceNode's partner gateway. Suppliers submit EIP-712-signed supply-chain events; the
node checks and stores them, and commits them to the chain under Merkle roots. Every
error is an RFC 9457 problem document (`application/problem+json`) whose `type` is
`urn:tracenode:problem:{code}`. See docs/api.md.
"""


def create_app(
    node: Node,
    *,
    settings: ApiSettings | None = None,
    registrar: LocalAccount | None = None,
    commit: CommitStatus | None = None,
    web: WebSettings | None = None,
) -> FastAPI:
    """The gateway over an opened ``node`` (the caller opens and closes it).

    ``registrar`` is the admin key that registers participants on-chain (without it,
    ``POST /v1/participants`` answers 503); ``commit`` is how this process takes part
    in committing (``tracenode serve`` runs the commit worker and updates it); ``web`` the
    page's settings (read from TRACENODE_WEB_* when not given).
    """
    settings = settings or ApiSettings()
    web_error = None
    if web is None:
        web, web_error = load_web_settings()
    serialize_requests(node.w3)  # the routes and the commit worker share node.w3
    metrics = Metrics()
    commit = commit or CommitStatus()
    health = Health(node)
    backlog = BacklogWatch(node.store, interval=commit.policy.interval)
    metrics.watch(node, lambda: commit.leader, health, backlog, lambda: commit.watched)
    app = FastAPI(
        title="TraceNode",
        version=__version__,
        description=DESCRIPTION,
        # Swagger UI is served by api/routes/docs.py from the node's own files (FastAPI's
        # loads it from a CDN, with an inline script); no ReDoc. The document too: FastAPI's
        # own /openapi.json is no APIRoute, so the key check and the rate would skip it.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        # Every request is rate-limited (per key, or per address without one); a bad key
        # is refused even where none is needed.
        dependencies=[Depends(get_caller)],
    )
    app.state.gateway = Gateway(
        node=node,
        settings=settings,
        keys=ApiKeys(node.store),
        limiter=RateLimiter(settings.rate_per_second, settings.rate_burst),
        metrics=metrics,
        commit=commit,
        rpc=executor_for(node.w3, node.chain_path, rpc_bounds(settings)),
        rpc_limiter=RateLimiter(
            settings.rpc_rate_per_second, settings.rpc_rate_burst, unit="JSON-RPC calls"
        ),
        health=health,
        backlog=backlog,
        provenance=ProvenanceService(node.store, node.w3, node.deployment),
        refusals=RefusalLog(
            node.store,
            sample=settings.refusal_sample_per_minute,
            rows_per_minute=settings.refusal_rows_per_minute,
        ),
        capture_jobs=CaptureJobs(
            node.ingest, bound=settings.capture_queue, step=settings.capture_step
        ),
        web=web,
        web_error=web_error,
        registrar=registrar,
    )
    for name in ROUTERS + CATCH_ALL_ROUTERS:
        app.include_router(import_module(f"api.routes.{name}").router)
    install(app)
    html_errors.install(app)  # after install: browsers get the same problems as pages
    # Outermost last: metrics see every answer, limits run before any route, and a HEAD
    # runs as the GET it is for everything inside.
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimits, settings=settings)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app
