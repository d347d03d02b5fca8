"""The batches' state on the chain, for the ingest: where the store's view ends.

Several nodes share one deployment on one chain, and each relays its own participants'
events (docs/events.md, "Cross-node custody"). A lot that node A's participant shipped
to node B's participant is unknown to B's store; B's ingest then judges the RECEIVE on
BatchRegistry's own record of the batch (producer, custodian, receiver, status, head),
read here, and nothing else: no other node's answer is trusted. The same read refreshes
a batch the store knows but whose chain head moved on through another node.

Every read is bounded: the JSON-RPC client's timeout (a node's chain connection), and a
chain that cannot be read is a :class:`~node.exceptions.ChainError` (HTTP 503), never a
refusal the chain would not give.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from web3 import Web3
from web3.exceptions import Web3Exception

from node.chain.availability import CHAIN_CONNECTION_ERRORS, chain_unavailable
from node.chain.deploy import contract
from node.chain.reader import ChainBatch, ChainReader, Contracts
from node.events.batch import BatchState
from node.events.typed_data import ZERO32, BatchStatus
from node.exceptions import ChainError

#: The chain's record of each batch asked for (status NONE: the chain has no such batch).
ChainBatches = Callable[[Sequence[bytes]], dict[bytes, ChainBatch]]
#: Whether a participant's node allows open identifiers (ParticipantRegistry's
#: ``openIdentifiers``, now): the root's policy, which no node sets for itself.
OpenPolicy = Callable[[int], bool]

_READ_ERRORS: tuple[type[Exception], ...] = (
    *CHAIN_CONNECTION_ERRORS,
    Web3Exception,
    OSError,
    ValueError,
)
#: ``created_by`` of a batch the store learnt from the chain: the event that created it
#: is held by another node (or lies outside the network), not by this one.
FROM_CHAIN = ZERO32


class ChainView:
    """Reads BatchRegistry's record of batches at the latest block, many in one call."""

    def __init__(self, w3: Web3, contracts: Contracts) -> None:
        self.w3 = w3
        self.contracts = contracts

    def __call__(self, batch_ids: Sequence[bytes]) -> dict[bytes, ChainBatch]:
        try:
            reader = ChainReader(self.w3, self.contracts)
            reader.prefetch(batches=batch_ids)
            return {batch_id: reader.batch(batch_id) for batch_id in batch_ids}
        except _READ_ERRORS as exc:
            unavailable = chain_unavailable(exc)
            if unavailable is not None:
                raise unavailable from exc
            raise ChainError(f"the batches' state could not be read from the chain: {exc}") from exc

    def open_identifiers(self, participant_id: int) -> bool:
        """:data:`OpenPolicy` on the chain: whether the root allows open identifiers for
        the node that registered ``participant_id``."""
        try:
            registry = contract(self.w3, "ParticipantRegistry", self.contracts.participant_registry)
            return bool(registry.functions.openIdentifiers(participant_id).call())
        except _READ_ERRORS as exc:
            unavailable = chain_unavailable(exc)
            if unavailable is not None:
                raise unavailable from exc
            raise ChainError(f"the open-identifier policy could not be read: {exc}") from exc


def from_chain(batch_id: bytes, chain: ChainBatch) -> BatchState | None:
    """The chain's record as the store's view of a batch whose creation this node does not
    hold (``created_by`` :data:`FROM_CHAIN`); None when the chain has no such batch."""
    if chain.status is BatchStatus.NONE:
        return None
    return BatchState(
        batch_id=batch_id,
        producer_id=chain.producer_id,
        custodian_id=chain.custodian_id,
        receiver_id=chain.receiver_id,
        status=chain.status,
        head=chain.head,
        created_by=FROM_CHAIN,
    )


def unheld_heads(
    states: Iterable[BatchState], chain: Mapping[bytes, ChainBatch]
) -> dict[bytes, bytes]:
    """The chain's head of each of ``states`` whose chain record names another head than
    the store's (by batch id): ask the store which of them it holds (:func:`moved_on`)."""
    return {
        s.batch_id: chain[s.batch_id].head
        for s in states
        if s.batch_id in chain
        and chain[s.batch_id].status is not BatchStatus.NONE
        and chain[s.batch_id].head != s.head
    }


def moved_on(
    states: Mapping[bytes, BatchState],
    chain: Mapping[bytes, ChainBatch],
    heads: Mapping[bytes, bytes],
    held: Collection[bytes],
) -> list[bytes]:
    """Follow the chain where a batch moved on through another node: its chain head
    (``heads``, from :func:`unheld_heads`) is an event this node does not hold (``held``:
    those it holds). A head it holds means the store is rightly ahead, with events not
    anchored yet. Each such state takes the chain's record, in place; their ids."""
    moved = []
    for batch_id, head in heads.items():
        if head in held:
            continue
        state, record = states[batch_id], chain[batch_id]
        state.producer_id, state.custodian_id = record.producer_id, record.custodian_id
        state.receiver_id, state.status, state.head = (
            record.receiver_id,
            record.status,
            record.head,
        )
        moved.append(batch_id)
    return moved
