"""The network of nodes on this chain (docs/network.md): ``GET /v1/nodes`` (anyone), the
root's ``POST /v1/nodes`` (register a node, delegate it ranges) and a node's ``PUT
/v1/nodes/{id}/url``; and the resolver's answer for a batch this node's store does not
hold (api/routes/resolve.py): what the chain proves, and the responsible node's bundle as
this node's verifier judged it (node/network/resolution.py)."""

from __future__ import annotations

from html import escape
from typing import Annotated, Final
from urllib.parse import quote

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.body import JsonBodyRoute
from api.deps import AdminDep, Gateway, GatewayDep, ReaderDep, RegistrarDep
from api.html_errors import PAGE_HEAD
from api.problems import problem_responses
from api.routes.participants import REGISTRAR_LOCK
from api.routes.web import PAGE_HEADERS
from api.schemas import (
    ChainStateOut,
    ElsewhereOut,
    NodeIn,
    NodeOut,
    NodeUrlIn,
    ParticipantRef,
    RangeOut,
    RemoteOut,
    VerificationReport,
)
from node.chain.registry import NetworkNode
from node.events.identifiers import Identifier, PrefixKind
from node.network.registration import check_node_url
from node.network.resolution import Elsewhere, RemoteOutcome, resolve_elsewhere
from node.proofs.verify import report_json

router = APIRouter(prefix="/v1", tags=["network"], route_class=JsonBodyRoute)

NodeIdPath = Annotated[int, Path(alias="id", ge=1, le=2**32 - 1, description="The node's id.")]


@router.get(
    "/nodes",
    response_model=list[NodeOut],
    summary="Every node of the network on this chain, with the ranges delegated to it",
    responses=problem_responses(401, 429, 503),
)
def list_nodes(gateway: GatewayDep, _reader: ReaderDep) -> list[NodeOut]:
    node = gateway.node
    return [node_out(gateway, found) for found in node.registry.nodes()]


@router.post(
    "/nodes",
    status_code=201,
    response_model=NodeOut,
    summary="Register a node and delegate it ranges (admin; the root authority's key)",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
)
async def register_node(
    body: NodeIn, gateway: GatewayDep, _admin: AdminDep, registrar: RegistrarDep
) -> NodeOut:
    """Sends ParticipantRegistry.registerNode, then delegate for each range, from this
    node's registrar key, which must be the root's (403 otherwise). A registrar that
    already operates a node is 409, a range overlapping a delegated one 409."""
    node = gateway.node
    operator = to_checksum_address(body.registrar)

    def register() -> int:
        check_node_url(body.url, node.peer_addresses)
        with REGISTRAR_LOCK:
            node_id = node.registry.register_node(registrar, registrar=operator, url=body.url)
            for item in body.ranges:
                node.registry.delegate(
                    registrar, registrar=operator, kind=_kind(item.kind), prefix=item.prefix
                )
            return node_id

    node_id = await run_in_threadpool(register)
    return node_out(gateway, node.registry.node(node_id))


@router.put(
    "/nodes/{id}/url",
    response_model=NodeOut,
    summary="Move a node to a new public URL (admin; its own registrar, or the root)",
    responses=problem_responses(400, 401, 403, 404, 413, 422, 429, 503),
)
async def set_node_url(
    node_id: NodeIdPath,
    body: NodeUrlIn,
    gateway: GatewayDep,
    _admin: AdminDep,
    registrar: RegistrarDep,
) -> NodeOut:
    node = gateway.node

    def move() -> None:
        check_node_url(body.url, node.peer_addresses)
        with REGISTRAR_LOCK:
            node.registry.set_node_url(registrar, node_id, body.url)

    await run_in_threadpool(move)
    return node_out(gateway, node.registry.node(node_id))


def _kind(label: str) -> PrefixKind:
    return PrefixKind.GS1 if label == "gs1" else PrefixKind.HANDLE


def node_out(gateway: Gateway, found: NetworkNode) -> NodeOut:
    return NodeOut(
        id=found.id,
        operator=found.operator,
        url=found.url,
        ranges=[RangeOut(kind=r.kind.label, prefix=r.prefix) for r in found.ranges],  # type: ignore[arg-type]
        this_node=found.operator == gateway.node.config.admin_address,
    )


# ----- resolving a batch held elsewhere -----


def elsewhere(gateway: Gateway, key: Identifier, *, fetch: bool) -> Elsewhere | None:
    """What this node can say of ``key``'s batch, which its store lacks; None when neither
    the chain nor any other node of the network knows of it."""
    found = resolve_elsewhere(
        gateway.provenance.reader(),
        key,
        this_operator=to_checksum_address(gateway.node.config.admin_address),
        fetch=fetch,
        addresses=gateway.node.peer_addresses,
    )
    if not found.on_chain and found.outcome in _NOTHING:
        return None
    return found


#: Outcomes that, with no batch on-chain, mean nobody knows of it: a 404, as before.
_NOTHING: Final = (RemoteOutcome.NO_NODE, RemoteOutcome.THIS_NODE, RemoteOutcome.NOT_FOUND)


def remote_page(found: Elsewhere, key: Identifier) -> str | None:
    if found.route is None or found.outcome is RemoteOutcome.THIS_NODE:
        return None
    return f"{found.route.node.url.rstrip('/')}/?id={quote(key.canonical, safe='')}"


def elsewhere_out(gateway: Gateway, found: Elsewhere, key: Identifier) -> ElsewhereOut:
    chain = found.chain

    def ref(pid: int) -> ParticipantRef | None:
        return (
            ParticipantRef(id=pid, name=found.names.get(pid) or None, address=None) if pid else None
        )

    route = found.route
    return ElsewhereOut(
        batch_id="0x" + found.batch_id.hex(),
        identifier=found.identifier,
        verified=found.verified,
        chain=ChainStateOut(
            status=chain.status.name,
            producer=ref(chain.producer_id),
            custodian=ref(chain.custodian_id),
            head="0x" + chain.head.hex(),
        ),
        node=node_out(gateway, route.node) if route else None,
        via=route.via.value if route else None,
        prefix=route.prefix if route else None,
        remote=RemoteOut(
            outcome=found.outcome.value,
            detail=found.detail,
            bundle=found.bundle_url,
            page=remote_page(found, key),
        ),
        verification=(
            VerificationReport.model_validate(report_json(found.report)) if found.report else None
        ),
    )


def elsewhere_html(found: Elsewhere, key: Identifier) -> Response:
    """A browser goes to the responsible node's page when its bundle passed this node's
    verifier; otherwise it is shown what the chain proves and what failed."""
    page = remote_page(found, key)
    if found.verified and page is not None:
        return RedirectResponse(page, status_code=303, headers={"Vary": "Accept"})
    chain = found.chain
    custodian = found.names.get(chain.custodian_id) or f"participant {chain.custodian_id}"
    facts = (
        f"The chain records this batch as {chain.status.name}, held by {custodian}."
        if found.on_chain
        else "The chain records no such batch yet."
    )
    return HTMLResponse(
        _PAGE.format(
            identifier=escape(key.canonical[:512]),
            facts=escape(facts),
            detail=escape(found.detail[:1000]),
            outcome=escape(found.outcome.value),
        ),
        # The buyer page's headers (CSP, no framing): it shows another node's words.
        headers=PAGE_HEADERS | {"Vary": "Accept", "Cache-Control": "no-store"},
    )


_PAGE: Final = (
    PAGE_HEAD.format(headline="Not verified here")
    + """<body>
<main id="main">
  <section class="card problem" id="elsewhere" data-outcome="{outcome}">
    <h1>This batch is kept by another node, and could not be verified here</h1>
    <p><code>{identifier}</code></p>
    <p>{facts}</p>
    <p class="problem-detail">{detail}</p>
    <p>Nothing from the other node is shown: only what this node's own checks passed.</p>
    <p><a href="/">Start again</a></p>
  </section>
</main>
</body>
</html>
"""
)
