"""Provenance across nodes: the parts of a lineage that other nodes hold, each verified here.

A proof bundle holds one node's events. A batch whose earlier history another node holds
(a lot received across nodes, docs/events.md "Cross-node custody") is reported by the
verifier with ``elsewhere_at`` (the first event of this part) and ``extends`` (the head
the chain held when it accepted that event: where the earlier part ends). For each such
batch, :func:`remote_parts`:

1. finds the node that answers for it on-chain (:func:`~node.network.resolution.find_route`,
   through :func:`~node.network.resolution.resolve_elsewhere`);
2. fetches that node's bundle of the batch (bounded: :func:`fetch_bundle`);
3. verifies it with THIS node's verifier against THIS node's view of the chain, its
   ``custody`` being that its history of the batch ends exactly at ``extends``
   (``verify_bundle(..., ends_at=...)``);
4. follows the parts that bundle itself says are held elsewhere, level by level (only
   from a part that passed, or is pending: a failed one's claims lead nowhere).

Later parts too: a batch whose history went on through another node after this bundle's
last event of it (``continued_at``: a SHIP to another node's participant, the chain's head
beyond it) is asked of the node that registered that SHIP's receiver (``Via.RECEIVER``);
its bundle must pass this node's verifier, start by extending exactly the SHIP
(``verify_bundle(..., starts_from=...)``) and reach the chain's head (or be continued
again, and followed). Each join of two parts (a batch and the head between them) is
crossed once, whichever way it was reached. A part the registry says this node holds is
read from this node's own store (``own``), never reported missing.

Bounds: :data:`MAX_DEPTH` levels, :data:`MAX_FETCHES` fetches per answer, the parts of
one level fetched concurrently, all of them within :data:`DEADLINE` seconds; what was not
asked, or did not answer in time, is said so (outcome ``unreachable``, its detail naming
why), with what the chain proves of the batch. A part is ``verified`` only when this
node's verifier passed it.

Cache: a verified part is kept :data:`CACHE_SECONDS` keyed on the chain's block (number
and hash) the verification read, the registries, the batch, its identifier and the head
it must end at: the same question asked of the same chain has the same answer, whatever
the other node says later. A new block is a new key (the route, the licences, the
anchors may have changed). Failures are never cached: the other node may be back.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import partial
from typing import Final, Protocol

from eth_typing import ChecksumAddress

from node.chain.reader import ChainReader
from node.events.identifiers import Identifier, parse_identifier
from node.exceptions import InvalidIdentifierError
from node.network.addresses import DEFAULT_POLICY, AddressPolicy
from node.network.resolution import Elsewhere, RemoteOutcome, resolve_elsewhere
from node.proofs.bundle import Bundle
from node.proofs.verify import Report

#: Levels of other nodes' parts followed (a part of a part of a part).
MAX_DEPTH: Final = 3
#: Other nodes' bundles fetched for one answer, at most.
MAX_FETCHES: Final = 8
#: Seconds all the remote parts of one answer may take together.
DEADLINE: Final = 6.0
#: Parts fetched at once.
WORKERS: Final = 4
#: Seconds a verified part is kept, and how many are kept.
CACHE_SECONDS: Final = 60.0
CACHE_SIZE: Final = 256


@dataclass(frozen=True, slots=True)
class RemotePart:
    """Another node's part of a batch's history, as this node judged it."""

    found: Elsewhere  # the node, what the chain proves, the outcome and this node's report
    #: An earlier part: the head it must end at; a later part: the head it must start
    #: from (the last event of the part before it).
    extends: bytes
    continued_by: bytes | None  # the event that extends that head (None: a later part)
    under: int | None  # the index of the part it joins; None: this node's own
    depth: int  # 1 for a part this node's own bundle joins

    @property
    def later(self) -> bool:
        """A part after the one it joins (its later history), not before."""
        return self.continued_by is None


@dataclass(frozen=True, slots=True)
class _Ask:
    identifier: Identifier
    extends: bytes
    continued_by: bytes | None  # None: a later part, asked of the receiver's node
    under: int | None
    depth: int
    receiver: int = 0  # a later part's: the participant the SHIP it starts from named


_CacheKey = tuple[int, bytes, str, bytes, str, bytes, bool]


class _Cache:
    """Verified parts by (block, block hash, BatchRegistry, batch, identifier, head)."""

    def __init__(self) -> None:
        self._items: OrderedDict[_CacheKey, tuple[float, Elsewhere]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _CacheKey) -> Elsewhere | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or time.monotonic() - item[0] > CACHE_SECONDS:
                return None
            return item[1]

    def put(self, key: _CacheKey, found: Elsewhere) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), found)
            self._items.move_to_end(key)
            while len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class _Resolve(Protocol):
    """resolve_elsewhere with this node's operator and address policy given."""

    def __call__(
        self,
        reader: ChainReader,
        identifier: Identifier,
        *,
        fetch: bool = True,
        ends_at: bytes | None = None,
        starts_from: bytes | None = None,
        through: int = 0,
    ) -> Elsewhere: ...


#: Shared by every answer of this process (the key names the chain and block).
CACHE: Final = _Cache()


def remote_parts(
    reader: ChainReader,
    report: Report,
    *,
    this_operator: ChecksumAddress,
    addresses: AddressPolicy = DEFAULT_POLICY,
    own: Callable[[bytes], Bundle | None] | None = None,
    max_depth: int = MAX_DEPTH,
    max_fetches: int = MAX_FETCHES,
    deadline: float = DEADLINE,
) -> list[RemotePart]:
    """The parts of ``report``'s lineage held by other nodes, in levels (see the module
    docstring); every part read at ``reader``'s block, every other node's URL screened
    under ``addresses`` (node/network/addresses.py); a part the registry says this node
    holds read from ``own`` (this node's bundle of a batch; None: none)."""
    resolve: _Resolve = partial(
        resolve_elsewhere, this_operator=this_operator, addresses=addresses, own=own
    )
    ends = time.monotonic() + deadline
    parts: list[RemotePart] = []
    seen: set[tuple[bytes, bytes]] = set()
    level = _asks(report, None, 1, seen)
    fetched = 0
    # Not a `with` block: leaving one waits for every fetch; a fetch still running at the
    # deadline ends in the background, within fetch_bundle's own bounds.
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="remote-part")
    try:
        while level:
            results: list[tuple[_Ask, Future[Elsewhere] | Elsewhere]] = []
            for ask in level:
                key = _key(reader, ask)
                cached = CACHE.get(key)
                if cached is not None:
                    results.append((ask, cached))
                elif ask.depth > max_depth or fetched >= max_fetches:
                    why = (
                        f"more than {max_depth} levels of other nodes"
                        if ask.depth > max_depth
                        else f"this answer already asked {max_fetches} nodes"
                    )
                    results.append((ask, _not_asked(reader, ask, resolve, why)))
                else:
                    fetched += 1
                    results.append((ask, pool.submit(_judge, reader, ask, resolve)))
            futures = [r for _, r in results if isinstance(r, Future)]
            wait(futures, timeout=max(0.0, ends - time.monotonic()))
            level = []
            for ask, result in results:
                if isinstance(result, Future):
                    if result.done() and result.exception() is None:
                        found = result.result()
                        if found.verified:
                            CACHE.put(_key(reader, ask), found)
                    else:
                        result.cancel()
                        found = _late(reader, ask, resolve, deadline, result)
                else:
                    found = result
                parts.append(RemotePart(found, ask.extends, ask.continued_by, ask.under, ask.depth))
                if found.report is not None and found.outcome in FOLLOWED:
                    # Only a part this node's verifier passed (or that failed nothing yet)
                    # says where to ask next: a failed one's claims lead nowhere.
                    level += _asks(found.report, len(parts) - 1, ask.depth + 1, seen)
            if time.monotonic() >= ends:
                for ask in level:
                    found = _not_asked(
                        reader, ask, resolve, f"the answer's {deadline:g} s were spent"
                    )
                    parts.append(
                        RemotePart(found, ask.extends, ask.continued_by, ask.under, ask.depth)
                    )
                level = []
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return parts


#: The outcomes of a part whose own claims of parts elsewhere are followed.
FOLLOWED: Final = (RemoteOutcome.VERIFIED, RemoteOutcome.PENDING)


def _asks(
    report: Report, under: int | None, depth: int, seen: set[tuple[bytes, bytes]]
) -> list[_Ask]:
    """The batches of ``report`` whose earlier or later history another node holds, each
    join (batch, head between the parts) once."""
    asks = []
    for batch in report.batches:
        identifier = _identifier(batch.identifier, batch.batch_id)
        # A join already asked (a loop, or a part reached twice) is not asked again.
        joined = batch.extends is not None and (batch.batch_id, batch.extends) in seen
        if batch.extends is not None and batch.elsewhere_at is not None and not joined:
            seen.add((batch.batch_id, batch.extends))
            first = report.events[batch.elsewhere_at].event_hash
            asks.append(_Ask(identifier, batch.extends, first, under, depth))
        if batch.continued_at is not None:
            last = report.events[batch.continued_at].event_hash
            if (batch.batch_id, last) not in seen:
                seen.add((batch.batch_id, last))
                asks.append(_Ask(identifier, last, None, under, depth, batch.continued_to))
    return asks


def _identifier(text: str | None, batch_id: bytes) -> Identifier:
    """The batch's identifier as the bundle names it (the verifier checked that it names
    the batch), else its id."""
    if text is not None:
        try:
            key = parse_identifier(text)
        except InvalidIdentifierError:
            key = None
        if key is not None and bytes(key.batch_id) == batch_id:
            return key
    return parse_identifier("0x" + batch_id.hex())


def _key(reader: ChainReader, ask: _Ask) -> _CacheKey:
    return (
        reader.block,
        reader.block_hash,
        reader.contracts.batch_registry,
        bytes(ask.identifier.batch_id),
        ask.identifier.canonical,
        ask.extends,
        ask.continued_by is None,
    )


def _judge(reader: ChainReader, ask: _Ask, resolve: _Resolve) -> Elsewhere:
    # A reader of its own for each thread, at the same block: answers stay consistent.
    own = ChainReader(
        reader.w3, reader.contracts, at=(reader.block, reader.block_hash), carry=reader
    )
    found = _resolve(own, ask, resolve)
    if found.identifier is None and found.report is not None:
        # This node knew the batch by its id only; the bundle names its identifier (read
        # only if it names this very batch: node.proofs.bundle).
        named = [b.identifier for b in found.report.batches if b.batch_id == found.batch_id]
        found = replace(found, identifier=named[0] if named else None)
    return found


def _resolve(reader: ChainReader, ask: _Ask, resolve: _Resolve, *, fetch: bool = True) -> Elsewhere:
    """The part ``ask`` names: an earlier part from the identifier's node, ending at its
    head; a later one from the node of the SHIP's receiver, starting from it."""
    if ask.continued_by is None:
        return resolve(
            reader, ask.identifier, fetch=fetch, starts_from=ask.extends, through=ask.receiver
        )
    return resolve(reader, ask.identifier, fetch=fetch, ends_at=ask.extends)


def _not_asked(reader: ChainReader, ask: _Ask, resolve: _Resolve, why: str) -> Elsewhere:
    found = _resolve(reader, ask, resolve, fetch=False)
    if found.outcome is not RemoteOutcome.UNREACHABLE:
        return found  # no node, or this node: nothing to ask
    return replace(found, detail=f"{found.detail}: {why}")


def _late(
    reader: ChainReader,
    ask: _Ask,
    resolve: _Resolve,
    deadline: float,
    future: Future[Elsewhere],
) -> Elsewhere:
    why = (
        f"no answer within the answer's {deadline:g} s"
        if not future.done()
        else f"it could not be judged ({type(future.exception()).__name__})"
    )
    found = _resolve(reader, ask, resolve, fetch=False)
    if found.route is None or found.outcome is not RemoteOutcome.UNREACHABLE:
        return found
    node = found.route.node
    return replace(found, detail=f"node {node.id} ({node.url}): {why}")
