"""Provenance across nodes: the parts of a lineage that other nodes hold, each verified here.

A proof bundle holds one node's events. A batch whose earlier history another node holds
(a lot received across nodes, docs/events.md "Cross-node custody") is reported by the
verifier with ``elsewhere_at`` (the first event of this part) and ``extends`` (the head
the chain held when it accepted that event: where the earlier part ends). For each such
batch, :func:`remote_parts`:

1. finds the node that answers for it on-chain (:func:`~node.network.resolution.find_route`,
   through :func:`~node.network.resolution.locate`);
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
why), with what the chain proves of the batch: read from the chain alone (a late part
from what its worker read), its node's URL never looked up again, so that no lookup
stretches the answer past its deadline. A part is ``verified`` only when this
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
from typing import Final

from eth_typing import ChecksumAddress

from node.chain.reader import ChainReader
from node.events.identifiers import Identifier, parse_identifier
from node.exceptions import InvalidIdentifierError
from node.network.addresses import DEFAULT_POLICY, AddressPolicy
from node.network.resolution import (
    Elsewhere,
    Located,
    RemoteOutcome,
    bundle_url,
    judge,
    locate,
)
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


@dataclass(frozen=True, slots=True)
class _Resolve:
    """Resolution across nodes with this node's operator, address policy and store."""

    this_operator: ChecksumAddress
    addresses: AddressPolicy
    own: Callable[[bytes], Bundle | None] | None

    def locate(self, reader: ChainReader, ask: _Ask) -> Located:
        """The part ``ask`` names, from the chain alone: an earlier part's node is the
        identifier's, a later one's the node of the SHIP's receiver."""
        if ask.continued_by is None:
            return locate(reader, ask.identifier, through=ask.receiver)
        return locate(reader, ask.identifier, ends_at=ask.extends)

    def judge(
        self, reader: ChainReader, ask: _Ask, located: Located, *, fetch: bool = True
    ) -> Elsewhere:
        """``located``'s node asked (``fetch``) for the part, ending at (an earlier part)
        or starting from (a later one) ``ask``'s head, and judged here."""
        later = ask.continued_by is None
        return judge(
            reader,
            located,
            this_operator=self.this_operator,
            addresses=self.addresses,
            own=self.own,
            fetch=fetch,
            starts_from=ask.extends if later else None,
            ends_at=None if later else ask.extends,
        )

    def elsewhere(self, located: Located) -> bool:
        """Whether another node (not this one, and some node) answers for ``located``."""
        route = located.route
        return route is not None and route.node.operator != self.this_operator


class _Slot:
    """Where a part's worker leaves what the chain said of it before asking its node: a
    part late at the deadline is answered from it, with no lookup or read again."""

    located: Located | None = None


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
    resolve = _Resolve(this_operator, addresses, own)
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
            results: list[tuple[_Ask, tuple[Future[Elsewhere], _Slot] | Elsewhere]] = []
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
                    slot = _Slot()
                    results.append((ask, (pool.submit(_judge, reader, ask, resolve, slot), slot)))
            futures = [r[0] for _, r in results if isinstance(r, tuple)]
            wait(futures, timeout=max(0.0, ends - time.monotonic()))
            level = []
            for ask, result in results:
                if isinstance(result, tuple):
                    future, slot = result
                    if future.done() and future.exception() is None:
                        found = future.result()
                        if found.verified:
                            CACHE.put(_key(reader, ask), found)
                    else:
                        future.cancel()
                        found = _late(reader, ask, resolve, deadline, future, slot)
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


def _judge(reader: ChainReader, ask: _Ask, resolve: _Resolve, slot: _Slot) -> Elsewhere:
    # A reader of its own for each thread, at the same block: answers stay consistent.
    own = ChainReader(
        reader.w3, reader.contracts, at=(reader.block, reader.block_hash), carry=reader
    )
    slot.located = resolve.locate(own, ask)
    found = resolve.judge(own, ask, slot.located)
    if found.identifier is None and found.report is not None:
        # This node knew the batch by its id only; the bundle names its identifier (read
        # only if it names this very batch: node.proofs.bundle).
        named = [b.identifier for b in found.report.batches if b.batch_id == found.batch_id]
        found = replace(found, identifier=named[0] if named else None)
    return found


def _not_asked(reader: ChainReader, ask: _Ask, resolve: _Resolve, why: str) -> Elsewhere:
    """A part not asked for (``why``), from the chain alone: its node's URL is neither
    looked up nor screened (that is the asking's part), so the answer's bound holds."""
    located = resolve.locate(reader, ask)
    if not resolve.elsewhere(located):
        return resolve.judge(reader, ask, located, fetch=False)  # no node, or this node
    assert located.route is not None
    url = bundle_url(located.route.node.url, located.batch_id)
    return located.answer(RemoteOutcome.UNREACHABLE, f"{located.where} was not asked: {why}", url)


def _late(
    reader: ChainReader,
    ask: _Ask,
    resolve: _Resolve,
    deadline: float,
    future: Future[Elsewhere],
    slot: _Slot,
) -> Elsewhere:
    """A part its worker did not judge in time, from what the chain said of it (the
    worker's, when it got that far): nothing asked, looked up or verified again."""
    why = (
        f"no answer within the answer's {deadline:g} s"
        if not future.done()
        else f"it could not be judged ({type(future.exception()).__name__})"
    )
    located = slot.located or resolve.locate(reader, ask)
    if located.route is None:
        return resolve.judge(reader, ask, located, fetch=False)  # no node: nothing to ask
    url = (
        bundle_url(located.route.node.url, located.batch_id) if resolve.elsewhere(located) else None
    )
    return located.answer(RemoteOutcome.UNREACHABLE, f"{located.where}: {why}", url)
