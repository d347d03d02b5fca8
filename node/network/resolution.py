"""Resolving a batch this node's store does not hold, from the node that answers for it.

1. :func:`find_route`: the responsible node, from the chain alone — the current holder of
   a licence of the identifier's prefix → the registrar that registered it → the node it
   operates; else the node whose delegated range covers the prefix; else (an identifier
   of no prefix kind, a bare batch id) the node of the batch's producer on-chain. A
   batch that moved on to a participant of another node (shipped across nodes and
   received there) is answered by its custodian's node instead: that node holds its
   latest events, the only bundle that reaches the chain's head. (An earlier part of a
   lineage is asked of the node of the lot's earliest history, ``origin``; a later part
   of the node of the participant this node's last SHIP of it named,
   :func:`participant_route`: node/network/lineage.py.)
2. :func:`fetch_bundle`: that node's proof bundle, over HTTP with bounded time (connect,
   each read, and the whole answer) and size, no redirects followed.
3. :func:`resolve_elsewhere`: the bundle checked by *this* node's verifier against *this*
   node's view of the chain. Only a bundle of the batch asked for that passes every check
   is ``verified``; whatever else happens, what the chain itself proves (the batch's
   status, custodian, head) is answered beside what could not be fetched or what failed.

The other node is never trusted: its URL is only where to ask, its answer only a claim
this node checks (docs/network.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import httpx
from eth_typing import ChecksumAddress
from web3 import Web3

from node.chain.reader import ChainBatch, ChainReader
from node.chain.registry import NetworkNode
from node.events.digits import is_decimal
from node.events.identifiers import (
    GS1_MAX_PREFIX,
    Identifier,
    IdentifierKind,
    PrefixKind,
    identifier_split,
)
from node.events.jsonsafe import loads_bounded
from node.events.typed_data import BatchStatus
from node.exceptions import (
    InvalidBundleError,
    JsonTooDeepError,
    MalformedJsonError,
    NodeUrlError,
    RemoteNodeError,
)
from node.network.addresses import (
    DEFAULT_POLICY,
    AddressPolicy,
    ScreenedUrl,
    pinned_request,
    screen_url,
)
from node.network.exchange import bounded_client, deadline, error_kind
from node.proofs.bundle import Bundle, parse_bundle
from node.proofs.verify import Outcome, Report, verify_bundle

#: Seconds to open a connection to another node, and to wait for each read of its answer.
CONNECT_TIMEOUT: Final = 2.0
READ_TIMEOUT: Final = 3.0
#: Seconds the whole exchange may take, every address tried, from the first connect to
#: the answer's last byte (node/network/exchange.py: no read or connect outlasts it).
TOTAL_TIMEOUT: Final = 5.0
#: The largest bundle taken from another node, in bytes.
MAX_BUNDLE_BYTES: Final = 8 * 1024 * 1024
#: The most addresses of a node's name tried (each only when the one before refused).
MAX_ADDRESSES: Final = 4


class Via(StrEnum):
    """How the responsible node was found."""

    LICENCE = "licence"  # the prefix's licence holder was registered by its registrar
    RANGE = "range"  # the prefix lies in a range delegated to its registrar
    PRODUCER = "producer"  # the batch's producer on-chain was registered by its registrar
    CUSTODIAN = "custodian"  # the batch moved on to a participant its registrar registered
    RECEIVER = "receiver"  # the receiver of the SHIP this node's part ends at: its registrar


class RemoteOutcome(StrEnum):
    """What came of asking the responsible node (``remote.outcome`` in JSON)."""

    VERIFIED = "verified"  # its bundle passed this node's verifier
    PENDING = "pending"  # nothing failed, but some of its events are not anchored yet
    FAILED = "failed-verification"  # its bundle failed this node's verifier
    UNREACHABLE = "unreachable"  # no connection, or it timed out
    NOT_FOUND = "not-found"  # it answered 404: it holds no such batch either
    INVALID = "invalid-answer"  # an HTTP error, too large, not JSON, not a bundle of it
    REFUSED = "refused-address"  # its URL names an address this node does not fetch from
    NO_NODE = "no-node"  # no registered node answers for the identifier
    THIS_NODE = "this-node"  # the registry names this node, whose store lacks the batch


@dataclass(frozen=True, slots=True)
class Route:
    node: NetworkNode
    via: Via
    prefix: str | None  # the licence's or range's prefix (None: via the producer)
    holder_id: int  # the licence holder (0 unless via a licence)


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """What this node can say of a batch its store lacks."""

    batch_id: bytes
    identifier: str | None
    chain: ChainBatch
    names: dict[int, str]  # participant id -> name, for the chain's producer and custodian
    route: Route | None
    outcome: RemoteOutcome
    detail: str
    bundle_url: str | None
    report: Report | None  # this node's verification of the fetched bundle

    @property
    def verified(self) -> bool:
        return self.outcome is RemoteOutcome.VERIFIED

    @property
    def on_chain(self) -> bool:
        return self.chain.status is not BatchStatus.NONE


def find_route(
    reader: ChainReader, identifier: Identifier, *, origin: bool = False
) -> Route | None:
    """The node that answers for ``identifier``, read from the chain at the reader's block
    (see the module docstring); None when no registered node does. ``origin``: the node
    of the lot's earliest history (its prefix's, else its producer's), not its current
    custodian's: where an earlier part of its history is asked for (a lineage's part that
    must end at a given head, node/network/lineage.py)."""
    route = _prefix_route(reader, identifier)
    if origin:
        return route
    custodian = reader.batch(bytes(identifier.batch_id)).custodian_id
    if custodian:
        registry = reader.participants.functions
        at = reader.block
        node_id = int(
            registry.nodeOf(registry.registrarOf(custodian).call(block_identifier=at)).call(
                block_identifier=at
            )
        )
        if node_id and (route is None or route.node.id != node_id):
            found = NetworkNode.from_abi(registry.node(node_id).call(block_identifier=at))
            prefix, holder = (route.prefix, route.holder_id) if route else (None, 0)
            return Route(found, Via.CUSTODIAN, prefix, holder)
    return route


def _prefix_route(reader: ChainReader, identifier: Identifier) -> Route | None:
    """The node that answers for ``identifier``'s prefix (or its producer)."""
    registry = reader.participants.functions
    at = reader.block
    if identifier.kind is not IdentifierKind.BATCH_ID:
        split = identifier_split(identifier)
        for prefix in split.candidates:
            licence = reader.licence(split.kind, prefix)
            if licence.held and licence.valid_at(at):
                found = _node_of(reader, reader.registrar_of(licence.holder))
                if found is not None:
                    return Route(found, Via.LICENCE, prefix, licence.holder)
        for prefix in _ranges_containing(split.kind, split.candidates):
            holder = registry.rangeHolder(int(split.kind), prefix).call(block_identifier=at)
            if int(holder, 16) != 0:
                found = _node_of(reader, holder)
                if found is not None:
                    return Route(found, Via.RANGE, prefix, 0)
    producer = reader.batch(bytes(identifier.batch_id)).producer_id
    if producer:
        return participant_route(reader, producer, Via.PRODUCER)
    return None


def participant_route(reader: ChainReader, participant_id: int, via: Via) -> Route | None:
    """The node whose registrar registered the participant (``via`` says which one it is
    of the batch: its producer, the receiver of its last SHIP), read from the chain at the
    reader's block; None when that registrar operates no registered node."""
    found = _node_of(reader, reader.registrar_of(participant_id))
    return None if found is None else Route(found, via, None, 0)


def _node_of(reader: ChainReader, registrar: str) -> NetworkNode | None:
    """The node ``registrar`` operates, at the reader's block; None when none."""
    registry = reader.participants.functions
    at = reader.block
    node_id = int(registry.nodeOf(Web3.to_checksum_address(registrar)).call(block_identifier=at))
    if node_id == 0:
        return None
    return NetworkNode.from_abi(registry.node(node_id).call(block_identifier=at))


def _ranges_containing(kind: PrefixKind, candidates: tuple[str, ...]) -> list[str]:
    """Every range that could contain the identifier, longest first: for GS1 each digit
    string the longest candidate starts with (ranges may be shorter than a licence), for
    handles each group prefix; then the whole kind ("")."""
    if kind is PrefixKind.GS1 and candidates:
        longest = candidates[0]
        return [longest[:n] for n in range(min(len(longest), GS1_MAX_PREFIX), -1, -1)]
    if kind is PrefixKind.HANDLE:
        return [*candidates, ""]
    return []


def bundle_url(node_url: str, batch_id: bytes) -> str:
    return f"{node_url.rstrip('/')}/v1/batches/0x{batch_id.hex()}/bundle"


def fetch_bundle(
    url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    total_timeout: float = TOTAL_TIMEOUT,
    max_bytes: int = MAX_BUNDLE_BYTES,
    addresses: AddressPolicy = DEFAULT_POLICY,
) -> Bundle:
    """The proof bundle at ``url``, parsed; :class:`RemoteNodeError` says why not.

    ``url``'s host is looked up first, within ``addresses.resolve_timeout``, and every
    address it resolves to screened (node/network/addresses.py): a URL refused is never
    fetched (reason ``refused-address``). The request goes to the addresses screened (the
    next one only when the connection is refused), never to a second lookup's."""
    target = screen_node_url(url, addresses)
    candidates = target.addresses[:MAX_ADDRESSES]
    body = b""
    with (
        bounded_client(connect_timeout=connect_timeout, read_timeout=read_timeout) as client,
        deadline(total_timeout) as ends,
    ):
        for attempt, address in enumerate(candidates, start=1):
            pinned, headers, extensions = pinned_request(target, address)
            try:
                with client.stream(
                    "GET",
                    pinned,
                    # The body as sent: a compressed answer would be inflated before its
                    # size is counted (one read of a few KiB may inflate a thousandfold).
                    headers={"Accept": "application/json", "Accept-Encoding": "identity"} | headers,
                    extensions=extensions,
                ) as response:
                    body = _read(response, ends, total_timeout, max_bytes)
                break
            except httpx.ConnectError as exc:
                if attempt < len(candidates) and time.monotonic() < ends:
                    continue  # refused at this address: the next one screened
                raise RemoteNodeError(
                    "unreachable", f"it could not be reached ({error_kind(exc)})"
                ) from None
            except httpx.TimeoutException:
                if time.monotonic() >= ends:
                    raise RemoteNodeError("timeout", _too_slow(total_timeout)) from None
                raise RemoteNodeError(
                    "timeout",
                    f"no answer within {connect_timeout:g} s to connect / "
                    f"{read_timeout:g} s to read",
                ) from None
            except httpx.HTTPError as exc:
                raise RemoteNodeError(
                    "unreachable", f"it could not be reached ({error_kind(exc)})"
                ) from None
    try:
        # Bounded nesting: "[" * 100000 would crash the process (node/events/jsonsafe.py).
        document = loads_bounded(body)
    except (JsonTooDeepError, MalformedJsonError) as exc:
        raise RemoteNodeError("not-json", f"its answer is not JSON we take: {exc}") from None
    try:
        return parse_bundle(document)
    except InvalidBundleError as exc:
        raise RemoteNodeError("not-a-bundle", f"its answer is not a proof bundle: {exc}") from None


def screen_node_url(url: str, addresses: AddressPolicy = DEFAULT_POLICY) -> ScreenedUrl:
    """``url`` (another node's, as the registry holds it) screened under ``addresses``;
    :class:`RemoteNodeError` ``refused-address`` when it names an address this node does
    not fetch from (or is malformed), ``unreachable`` / ``timeout`` when its name does not
    resolve (in time)."""
    try:
        return screen_url(url, what="a node's URL", policy=addresses, error=NodeUrlError)
    except NodeUrlError as exc:
        raise RemoteNodeError(_SCREENING.get(exc.reason, "refused-address"), str(exc)) from None


def _read(response: httpx.Response, ends: float, total_timeout: float, max_bytes: int) -> bytes:
    """The body of a 200 answer as sent (never inflated), within ``max_bytes`` and the
    exchange's deadline ``ends``."""
    if response.status_code == 404:
        raise RemoteNodeError("not-found", "it holds no such batch (HTTP 404)")
    if response.status_code != 200:
        raise RemoteNodeError(
            "http-status", f"it answered HTTP {response.status_code}, not a bundle"
        )
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise RemoteNodeError(
            "encoded", "it answered a compressed body; asked for one as it is (identity)"
        )
    declared = response.headers.get("content-length", "")
    if is_decimal(declared) and int(declared) > max_bytes:
        raise RemoteNodeError("too-large", _too_large(max_bytes))
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise RemoteNodeError("too-large", _too_large(max_bytes))
        if time.monotonic() > ends:
            raise RemoteNodeError("timeout", _too_slow(total_timeout))
    return bytes(body)


#: A screening's refusal as a fetch's reason: a name that does not resolve (in time) is
#: unreachable; any other refusal (an address not allowed, a malformed URL) is
#: ``refused-address``.
_SCREENING: Final = {"unresolved": "unreachable", "dns-timeout": "timeout"}


def _too_large(limit: int) -> str:
    return f"its answer is larger than {limit // 1024} KiB"


def _too_slow(total_timeout: float) -> str:
    return f"its answer took longer than {total_timeout:g} s"


@dataclass(frozen=True, slots=True)
class Located:
    """What the chain alone says of a batch this node's store lacks — its record, the
    names of its producer and custodian, the node that answers for it — read, with no
    other node asked and no URL looked up (:func:`locate`)."""

    batch_id: bytes
    identifier: str | None
    chain: ChainBatch
    names: dict[int, str]
    route: Route | None

    @property
    def where(self) -> str:
        """The node that answers for it, as details name it ("" when none)."""
        return "" if self.route is None else f"node {self.route.node.id} ({self.route.node.url})"

    def answer(
        self,
        outcome: RemoteOutcome,
        detail: str,
        url: str | None = None,
        report: Report | None = None,
    ) -> Elsewhere:
        return Elsewhere(
            self.batch_id,
            self.identifier,
            self.chain,
            self.names,
            self.route,
            outcome,
            detail,
            url,
            report,
        )


def locate(
    reader: ChainReader, identifier: Identifier, *, ends_at: bytes | None = None, through: int = 0
) -> Located:
    """What the chain proves of the batch ``identifier`` names, and the node that answers
    for it (:func:`find_route`; ``ends_at`` given: the node of its earliest history;
    ``through``: the node of that participant, :attr:`Via.RECEIVER`), read at
    ``reader``'s block: chain reads only."""
    batch_id = bytes(identifier.batch_id)
    chain = reader.batch(batch_id)
    names = {pid: _name(reader, pid) for pid in {chain.producer_id, chain.custodian_id} - {0}}
    canonical = None if identifier.kind is IdentifierKind.BATCH_ID else identifier.canonical
    route = (
        participant_route(reader, through, Via.RECEIVER)
        if through
        else find_route(reader, identifier, origin=ends_at is not None)
    )
    return Located(batch_id, canonical, chain, names, route)


def resolve_elsewhere(
    reader: ChainReader,
    identifier: Identifier,
    *,
    this_operator: ChecksumAddress,
    fetch: bool = True,
    addresses: AddressPolicy = DEFAULT_POLICY,
    ends_at: bytes | None = None,
    starts_from: bytes | None = None,
    through: int = 0,
    own: Callable[[bytes], Bundle | None] | None = None,
) -> Elsewhere:
    """What the chain proves of the batch ``identifier`` names and, when a registered node
    other than this one (operated by ``this_operator``) answers for it, its proof bundle
    as this node's verifier judges it (see the module docstring): :func:`locate`, then
    :func:`judge`."""
    found = locate(reader, identifier, ends_at=ends_at, through=through)
    return judge(
        reader,
        found,
        this_operator=this_operator,
        fetch=fetch,
        addresses=addresses,
        ends_at=ends_at,
        starts_from=starts_from,
        own=own,
    )


def judge(
    reader: ChainReader,
    located: Located,
    *,
    this_operator: ChecksumAddress,
    fetch: bool = True,
    addresses: AddressPolicy = DEFAULT_POLICY,
    ends_at: bytes | None = None,
    starts_from: bytes | None = None,
    own: Callable[[bytes], Bundle | None] | None = None,
) -> Elsewhere:
    """The answer for ``located``: its node's proof bundle (fetched, or this node's own)
    as this node's verifier judges it. That node's URL is screened under ``addresses``
    (fetched or not: a URL refused is ``refused-address``). ``ends_at``: the head that
    node's part of the batch's history must end at, when this node's part of it continues
    from there (verify_bundle's ``ends_at``; node/network/lineage.py); ``starts_from``:
    the head that node's part must start from, when it continues this node's part
    (``starts_from``; located through the participant this node's last SHIP of the batch
    named as receiver). ``own``: this node's bundle of a batch from its own store (None:
    it holds none), read when the registry names this node: a part this node holds
    itself is judged as any other, never reported missing."""
    batch_id, route = located.batch_id, located.route

    if route is None:
        return located.answer(RemoteOutcome.NO_NODE, "no node of the network answers for it")
    where = located.where
    url: str | None = None
    if route.node.operator == this_operator:
        held = own(batch_id) if own is not None else None
        if held is None:
            return located.answer(
                RemoteOutcome.THIS_NODE,
                f"the registry names this node ({where}), which holds no such batch",
            )
        bundle, where = held, f"this node's own store ({where})"
    else:
        url = bundle_url(route.node.url, batch_id)
        try:
            if not fetch:
                screen_node_url(url, addresses)
                return located.answer(RemoteOutcome.UNREACHABLE, f"{where} was not asked", url)
            bundle = fetch_bundle(url, addresses=addresses)
        except RemoteNodeError as exc:
            outcome = _OUTCOMES.get(exc.reason, RemoteOutcome.INVALID)
            return located.answer(outcome, f"{where}: {exc}", url)
    if bundle.subject != batch_id:
        return located.answer(
            RemoteOutcome.INVALID,
            f"{where} answered the bundle of another batch (0x{bundle.subject.hex()})",
            url,
        )
    report = verify_bundle(
        bundle,
        reader,
        ends_at=None if ends_at is None else {batch_id: ends_at},
        starts_from=None if starts_from is None else {batch_id: starts_from},
    )
    if report.outcome is Outcome.PASS:
        return located.answer(
            RemoteOutcome.VERIFIED,
            f"{where}: its bundle passed this node's verifier",
            url,
            report,
        )
    if report.outcome is Outcome.PENDING:
        return located.answer(
            RemoteOutcome.PENDING,
            f"{where}: its bundle holds events not anchored yet: nothing failed, "
            "nothing is verified",
            url,
            report,
        )
    failures = report.failures()
    shown = "; ".join(failures[:3]) + (
        f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
    )
    return located.answer(
        RemoteOutcome.FAILED,
        f"{where}: its bundle failed this node's verifier: {shown}",
        url,
        report,
    )


#: How a failed fetch is reported (any other reason: an invalid answer).
_OUTCOMES: Final = {
    "timeout": RemoteOutcome.UNREACHABLE,
    "unreachable": RemoteOutcome.UNREACHABLE,
    "not-found": RemoteOutcome.NOT_FOUND,
    "refused-address": RemoteOutcome.REFUSED,
}


def _name(reader: ChainReader, participant_id: int) -> str:
    info = reader.participant(participant_id)
    return info.name if info is not None else ""
