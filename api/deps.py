"""What routes depend on: the gateway's parts, and who is calling (``Annotated`` deps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from eth_account.signers.local import LocalAccount
from fastapi import Depends, Path
from starlette.requests import HTTPConnection

from api.backpressure import BacklogWatch
from api.health import Health
from api.limits import RateLimiter
from api.metrics import Metrics
from api.rpc_readers import RpcExecutor
from api.settings import ApiSettings, WebSettings
from node.commit.worker import CommitPolicy
from node.context import Node
from node.epcis.jobs import CaptureJobs
from node.events.identifiers import MAX_IDENTIFIER_LENGTH, unquote_strict
from node.exceptions import AuthenticationError, PermissionDeniedError, RegistrarUnavailableError
from node.monitor.refusals import RefusalLog
from node.monitor.service import WatchMark
from node.provenance.service import ProvenanceService
from node.store.apikeys import ApiKeyRecord, ApiKeys


@dataclass
class CommitStatus:
    """How this process takes part in committing (``tracenode serve`` updates it)."""

    policy: CommitPolicy = field(default_factory=CommitPolicy)
    runs_worker: bool = False  # whether this process competes for the commit lock
    leader: bool = False  # whether it holds the lock now
    #: How far the integrity monitor (here or in the commit process) has read; None: no
    #: monitor runs (or its commit process is not up).
    watched: WatchMark | None = None


@dataclass
class Gateway:
    """Everything the routes use, built once by ``create_app``: routes take it as
    :data:`GatewayDep` and reach every part through it; nothing is attached later."""

    node: Node
    settings: ApiSettings
    keys: ApiKeys
    limiter: RateLimiter
    metrics: Metrics
    commit: CommitStatus
    #: Where /rpc calls run (reader processes, or the external node), and their limiter.
    rpc: RpcExecutor
    rpc_limiter: RateLimiter
    #: Bounded looks at the store and the chain (/readyz, /metrics).
    health: Health
    #: The commit backlog, for backpressure on submissions, /v1/info and /metrics.
    backlog: BacklogWatch
    #: Provenance, traces and bundles; it keeps its chain answers between requests.
    provenance: ProvenanceService
    #: What the gateway refuses, for the monitor (api/refusals.py).
    refusals: RefusalLog
    #: Asynchronous EPCIS capture jobs: their bounded queue and runner (node/epcis/jobs.py).
    capture_jobs: CaptureJobs
    #: The page's settings, None when TRACENODE_WEB_* are wrong (``web_error`` says how).
    web: WebSettings | None
    web_error: str | None = None
    registrar: LocalAccount | None = None


def get_gateway(request: HTTPConnection) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def get_caller(request: HTTPConnection, gateway: GatewayDep) -> ApiKeyRecord | None:
    """The API key of the request (``Authorization: Bearer tn_...``), if any; every caller,
    keyed or not, is rate-limited here. A WebSocket authenticates in its route, after the
    handshake, so that a refusal is a problem and a close code (api/routes/epcis_named.py)."""
    if request.scope["type"] == "websocket":
        return None
    header = request.headers.get("authorization")
    if header is None:
        gateway.limiter.check(caller_key(request, None))
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("use 'Authorization: Bearer <API key>'")
    record = gateway.keys.authenticate(token.strip())
    # Who asked, for the refusal record (api/refusals.py): the key's public id only.
    request.state.api_key_id = record.key_id
    request.state.api_participant = record.participant_id
    gateway.limiter.check(caller_key(request, record))
    return record


def caller_key(request: HTTPConnection, record: ApiKeyRecord | None) -> str:
    """Whom a rate applies to: the API key, or the client's address without one."""
    if record is not None:
        return f"key:{record.key_id}"
    return f"addr:{request.client.host if request.client else 'unknown'}"


CallerDep = Annotated[ApiKeyRecord | None, Depends(get_caller)]


def require_reader(caller: CallerDep, gateway: GatewayDep) -> ApiKeyRecord | None:
    """Reads are public unless TRACENODE_API_PUBLIC_READS=false; then any key may read."""
    if caller is None and not gateway.settings.public_reads:
        raise AuthenticationError("this node serves reads to API key holders only")
    return caller


def require_participant(caller: CallerDep) -> ApiKeyRecord:
    if caller is None:
        raise AuthenticationError("submitting events needs a participant's API key")
    if caller.participant_id is None:
        raise PermissionDeniedError("submitting events needs a participant's API key")
    return caller


def require_admin(caller: CallerDep) -> ApiKeyRecord:
    if caller is None:
        raise AuthenticationError("this needs the admin API key")
    if not caller.admin:
        raise PermissionDeniedError("this needs the admin API key")
    return caller


def get_registrar(gateway: GatewayDep) -> LocalAccount:
    if gateway.registrar is None:
        raise RegistrarUnavailableError("this node runs without its registrar (admin) key")
    return gateway.registrar


ReaderDep = Annotated[ApiKeyRecord | None, Depends(require_reader)]
ParticipantKeyDep = Annotated[ApiKeyRecord, Depends(require_participant)]
AdminDep = Annotated[ApiKeyRecord, Depends(require_admin)]
RegistrarDep = Annotated[LocalAccount, Depends(get_registrar)]


def strictly_decoded(request: HTTPConnection, value: str, what: str) -> str:
    """``value``, a path parameter, once the path as sent is known to be UTF-8 when
    percent-decoded: the server decodes a path with errors='replace', so ``%ff`` would
    reach the identifier parser as U+FFFD. :class:`InvalidIdentifierError` (422) otherwise,
    as the parser says of a Digital Link's values (node.events.identifiers.unquote_strict)."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):  # without the query string (some clients put it there)
        unquote_strict(raw.split(b"?", 1)[0].decode("latin-1"), what)
    return value


def batch_ref(
    request: HTTPConnection,
    ref: Annotated[
        str,
        Path(
            alias="id",
            min_length=1,
            max_length=MAX_IDENTIFIER_LENGTH,
            description=(
                "A GS1 Digital Link, an EPC URN (lgtin / sgtin), a handle (88.123.45/lot) "
                "or the 0x batch id; percent-encode it as one path segment or write it as is."
            ),
        ),
    ],
) -> str:
    return strictly_decoded(request, ref, "the identifier")


#: A batch in a path: any identifier spelling or the 0x batch id (one path parameter),
#: decoded strictly (:func:`strictly_decoded`). Its length bound is the identifier
#: parser's (node.events.identifiers), so that the OpenAPI document allows exactly what
#: the parser does not refuse for length.
BatchRef = Annotated[str, Depends(batch_ref)]
