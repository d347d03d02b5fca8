"""The batch rules, applied to the node's local view of batches.

The same rules as BatchRegistry (docs/contracts.md), in the same order, raising the
same rejection classes, so that what the node accepts the chain accepts unless the
state changed in between. Events the chain does not execute have their own rules here:
OBSERVE attaches to a batch's current head without advancing it, or, as an anchored-only
record of something that is no batch (an SSCC, an asset, any other URI), to no head; AGGREGATE and
DISAGGREGATE name a pallet (``batchId``) and the lots packed or unpacked (``inputs``,
each at its head), signed by their custodian; none of them change custody.

Pure: operates on :class:`BatchState` objects the caller loads and stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from node.events.batch import BatchState
from node.events.identifiers import IdentifierSplit, Licence, PrefixKind
from node.events.lifecycle import transition
from node.events.typed_data import (
    CUSTODY_ROLES,
    MAX_LINKED_BATCHES,
    REQUIRED_ROLES,
    ZERO20,
    ZERO32,
    Action,
    BatchStatus,
    Role,
    TraceEvent,
)
from node.exceptions import (
    BatchExistsError,
    BatchInNetworkError,
    BatchRecalledError,
    HeadMismatchError,
    IdentifierIsRecordError,
    InvalidEventError,
    InvalidReceiverError,
    InvalidStatusError,
    LicenceNotValidError,
    LicensedElsewhereError,
    MissingRoleError,
    NotCustodianError,
    NotRecallerError,
    NotReceiverError,
    OpenIdentifierRefusedError,
    PalletIsBatchError,
    UnknownBatchError,
    UnlicensedIdentifierError,
)

#: Whether the actor may create (or adopt) a batch: raises the identifier rule's refusal
#: when not.
MayCreate = Callable[[bytes], None]


@dataclass(frozen=True, slots=True)
class Actor:
    """The signer as resolved from the participant mirror."""

    key: bytes
    participant_id: int
    roles: Role


@dataclass(frozen=True, slots=True)
class Receiver:
    participant_id: int
    roles: Role
    active: bool


@dataclass(slots=True)
class Outcome:
    """What an accepted event changes: batches created or updated, lineage links."""

    changed: list[BatchState]
    created: list[BatchState]
    lineage: list[tuple[bytes, bytes]]  # (parent, child)


def check_role(event: TraceEvent, actor: Actor) -> None:
    if not actor.roles & REQUIRED_ROLES[event.action]:
        raise MissingRoleError(
            f"{event.action.name} needs one of the roles {REQUIRED_ROLES[event.action]!s}",
            signer=_address(actor.key),
            action=int(event.action),
        )


def check_licence(
    split: IdentifierSplit,
    batch_id: bytes,
    producer: int,
    licences: Mapping[tuple[PrefixKind, str], Licence],
    block: int,
    open_allowed: bool | None = None,
) -> None:
    """BatchRegistry's identifier rule on the licence mirror: ``producer`` may create the
    batch whose identifier splits as ``split`` only under a prefix whose current licence
    (``licences``: the latest of each candidate, as ``currentLicence`` answers) it holds,
    valid at ``block``. The prefix judged is the one the commit path's proof names
    (:meth:`IdentifierSplit.choose`). An identifier of no prefix kind (an open identifier)
    only where ``producer``'s node allows those (``open_allowed``: the chain's
    ``openIdentifiers``; None: not judged here)."""
    if split.kind is PrefixKind.OTHER:
        _check_open(split, batch_id, producer, open_allowed)
        return
    chosen, licence = _judged_licence(split, producer, licences)
    if licence is None or licence.holder != producer:
        raise UnlicensedIdentifierError(
            f"participant {producer} holds no licence of a prefix of {split.canonical}",
            batchId=batch_id,
            participant=producer,
        )
    if not licence.valid_at(block):
        raise LicenceNotValidError(
            f"participant {producer}'s licence of {chosen} is not valid at block {block}",
            batchId=batch_id,
            validFrom=licence.valid_from,
            validUntil=licence.valid_until,
        )


def _check_open(
    split: IdentifierSplit, batch_id: bytes, participant: int, open_allowed: bool | None
) -> None:
    if open_allowed is False:
        raise OpenIdentifierRefusedError(
            f"{split.canonical} is an open identifier (neither GS1 nor a handle: no prefix, "
            f"no brand owner), and participant {participant}'s node does not allow those: "
            "the root allows them per node (tracenode prefix open)",
            batchId=batch_id,
        )


def check_not_records(split: IdentifierSplit, batch_id: bytes, has_records: bool) -> None:
    """The node's rule for an open identifier that already keys anchored-only records
    (``has_records``): it names those records, never a batch, so nothing creates a batch
    under it (:func:`~node.events.identifiers.names_open_batch`). Not the contract's rule:
    the chain knows no records."""
    if split.kind is PrefixKind.OTHER and has_records:
        raise IdentifierIsRecordError(
            f"{split.canonical} already keys anchored-only records on this node, so it names "
            "those records and cannot name a new batch: commission the lot under another "
            "identifier",
            batchId=batch_id,
        )


def check_not_pallet(split: IdentifierSplit, batch_id: bytes, has_events: bool) -> None:
    """The node's rule for a lot, an item or a handle whose id already keys events of no
    batch (``has_events``: for these kinds, only packings can, naming it their pallet): a
    lot or an item is packed, never packed onto, so no batch is made on a pallet's id (its
    history would start with the packings). An open identifier: :func:`check_not_records`.
    Not the contract's rule: the chain executes no packing."""
    if split.kind is not PrefixKind.OTHER and has_events:
        raise PalletIsBatchError(
            f"{split.canonical} is a pallet, named by earlier packings: a lot or an item is "
            "packed, never packed onto, so no batch is made under a pallet's identifier",
            batchId=batch_id,
        )


def _judged_licence(
    split: IdentifierSplit,
    participant: int,
    licences: Mapping[tuple[PrefixKind, str], Licence],
) -> tuple[str | None, Licence | None]:
    """The prefix the commit path's proof names for ``participant`` (:meth:`IdentifierSplit.
    choose`) and its current licence, if any: what the contract judges."""
    holders = {
        c: licences[(split.kind, c)].holder for c in split.candidates if (split.kind, c) in licences
    }
    chosen = split.choose(holders, participant)
    return chosen, licences.get((split.kind, chosen or ""))


def check_adoptable(
    split: IdentifierSplit,
    batch_id: bytes,
    adopter: int,
    licences: Mapping[tuple[PrefixKind, str], Licence],
    open_allowed: bool | None = None,
) -> None:
    """BatchRegistry's rule for a lot adopted from outside the network, on the licence
    mirror: nobody but ``adopter`` may hold the current licence (valid yet or not, even
    expired) of any prefix the identifier can be split at, whichever one a proof names (a
    brand owner in the network creates its own lots, and nobody may take a lot's id first).
    Nobody holding one is fine: the lot comes from a brand outside. An open identifier: only
    where ``adopter``'s node allows those, as for a COMMISSION."""
    if split.kind is PrefixKind.OTHER:
        _check_open(split, batch_id, adopter, open_allowed)
        return
    for candidate in split.candidates:
        licence = licences.get((split.kind, candidate))
        if licence is not None and licence.held and licence.holder != adopter:
            raise LicensedElsewhereError(
                f"{split.canonical} is under prefix {candidate}, licensed to participant "
                f"{licence.holder}: its brand owner is in the network and creates its lots "
                "itself",
                batchId=batch_id,
                holder=licence.holder,
            )


def apply(
    event: TraceEvent,
    event_hash: bytes,
    actor: Actor,
    batches: dict[bytes, BatchState],
    receiver: Receiver | None,
    may_create: MayCreate | None = None,
    may_adopt: MayCreate | None = None,
    may_pallet: MayCreate | None = None,
    *,
    record: bool = False,
) -> Outcome:
    """Check ``event`` against ``batches`` and apply it to them in place.

    ``batches`` holds at least every batch the event names that exists; ``receiver`` is
    the participant whose current key is ``event.counterparty`` (None when unknown);
    ``may_create`` judges the identifier of each batch the event would create, and
    ``may_adopt`` that of a lot a RECEIVE adopts from outside, where the contract does
    (None: not judged here); ``may_pallet`` judges the identifier an AGGREGATE or
    DISAGGREGATE names its pallet by (None: not judged here). ``record``: the event is an
    anchored-only record, an OBSERVE whose subject is named by an identifier that is no
    batch (ingest checked that ``batchId`` derives from it): it has no head and changes
    nothing.
    Raises the rule's :class:`EventRejectedError` and changes nothing when a rule fails.
    """
    action = event.action
    if record:
        return _record(event, event_hash, batches)
    if action is Action.COMMISSION:
        return _commission(event, event_hash, actor, batches, may_create)
    if action is Action.TRANSFORM:
        return _transform(event, event_hash, actor, batches, may_create)
    if action in (Action.AGGREGATE, Action.DISAGGREGATE):
        return _pack(event, actor, batches, may_pallet)
    if action is Action.RECEIVE and (
        event.adopts() or _status(batches, event.batch_id) is BatchStatus.EXPORTED
    ):
        return _adopt(event, event_hash, actor, batches, may_adopt)
    # A SHIP to counterparty zero leaves the network (docs/contracts.md, "Parties outside
    # the network"); any other SHIP names its receiver.
    outside = action is Action.SHIP and event.counterparty == ZERO20
    if not _is_single(event, with_counterparty=action is Action.SHIP and not outside):
        raise InvalidEventError(f"malformed {action.name} event", event_hash=event_hash)
    stored = _existing(batches, event.batch_id, event.prev_event_hash)
    if outside:
        _require_movable(stored, Action.SHIP, BatchStatus.ACTIVE)
        _require_custodian(stored, actor)
    elif action is Action.SHIP:
        _require_movable(stored, Action.SHIP, BatchStatus.ACTIVE)
        _require_custodian(stored, actor)
        if (
            receiver is None
            or not receiver.active
            or not receiver.roles & CUSTODY_ROLES
            or receiver.participant_id == stored.custodian_id
        ):
            raise InvalidReceiverError(
                "the receiver must be another active participant that can hold custody",
                receiver=_address(event.counterparty),
            )
        stored.receiver_id = receiver.participant_id
    elif action is Action.RECEIVE:
        _require_movable(stored, Action.RECEIVE, BatchStatus.IN_TRANSIT)
        if stored.receiver_id != actor.participant_id:
            raise NotReceiverError(
                "only the participant the batch was shipped to receives it",
                batchId=stored.batch_id,
                signer=_address(actor.key),
            )
        stored.receiver_id = 0
    elif action is Action.RECALL:
        if stored.status in (BatchStatus.RECALLED, BatchStatus.DESTROYED):
            raise _invalid_status(stored)
        if stored.producer_id != actor.participant_id and not actor.roles & Role.REGULATOR:
            raise NotRecallerError(
                "only the batch's producer or a regulator recalls it",
                batchId=stored.batch_id,
                signer=_address(actor.key),
            )
        stored.receiver_id = 0
    elif action is Action.DESTROY:
        if stored.status not in (BatchStatus.ACTIVE, BatchStatus.RECALLED):
            raise _invalid_status(stored)
        _require_custodian(stored, actor)
    else:  # OBSERVE: attaches to the current head, changes nothing
        return Outcome([], [], [])
    _move(stored, event, event_hash, actor)
    return Outcome([stored], [], [])


def _commission(
    event: TraceEvent,
    event_hash: bytes,
    actor: Actor,
    batches: dict[bytes, BatchState],
    may_create: MayCreate | None,
) -> Outcome:
    if event.batch_id == ZERO32 or event.quantity == 0 or not _is_single(event, False):
        raise InvalidEventError("malformed COMMISSION event", event_hash=event_hash)
    if event.batch_id in batches:
        raise BatchExistsError("the batch already exists", batchId=event.batch_id)
    if event.prev_event_hash != ZERO32:
        raise _head_mismatch(event.batch_id, ZERO32, event.prev_event_hash)
    if may_create is not None:
        may_create(event.batch_id)
    created = _new_batch(event.batch_id, event, event_hash, actor)
    batches[event.batch_id] = created
    return Outcome([], [created], [])


def _adopt(
    event: TraceEvent,
    event_hash: bytes,
    actor: Actor,
    batches: dict[bytes, BatchState],
    may_adopt: MayCreate | None,
) -> Outcome:
    """A RECEIVE of a lot from outside the network: never seen (no previous event; its
    identifier under a prefix nobody else holds; no known producer), or exported earlier
    and coming back (extending the export). A lot the network holds is never adopted."""
    batch_id = event.batch_id
    if batch_id == ZERO32 or not _is_single(event, False):
        raise InvalidEventError("malformed RECEIVE event", event_hash=event_hash)
    stored = batches.get(batch_id)
    if stored is not None and stored.status is not BatchStatus.EXPORTED:
        raise BatchInNetworkError(
            f"the network holds this batch ({stored.status.name}): it is received from its "
            "custodian's shipment, never adopted from outside",
            batchId=batch_id,
            status=int(stored.status),
        )
    head = ZERO32 if stored is None else stored.head
    if event.prev_event_hash != head:
        raise _head_mismatch(batch_id, head, event.prev_event_hash)
    if stored is None:
        if may_adopt is not None:
            may_adopt(batch_id)
        # producer 0: its history before lies outside the network
        adopted = _new_batch(batch_id, event, event_hash, actor, producer_id=0)
        batches[batch_id] = adopted
        return Outcome([], [adopted], [])
    stored.receiver_id = 0
    _move(stored, event, event_hash, actor)
    return Outcome([stored], [], [])


def _status(batches: dict[bytes, BatchState], batch_id: bytes) -> BatchStatus | None:
    stored = batches.get(batch_id)
    return None if stored is None else stored.status


def _transform(
    event: TraceEvent,
    event_hash: bytes,
    actor: Actor,
    batches: dict[bytes, BatchState],
    may_create: MayCreate | None,
) -> Outcome:
    inputs, outputs = event.inputs, event.outputs
    if (
        not inputs
        or not outputs
        or len(inputs) + len(outputs) > MAX_LINKED_BATCHES
        or len(event.input_prev_hashes) != len(inputs)
        or event.batch_id != ZERO32
        or event.prev_event_hash != ZERO32
        or event.counterparty != ZERO20
        or event.quantity == 0
    ):
        raise InvalidEventError("malformed TRANSFORM event", event_hash=event_hash)
    consumed = []
    for index, (batch_id, prev) in enumerate(zip(inputs, event.input_prev_hashes, strict=True)):
        if batch_id in inputs[:index]:
            raise InvalidEventError("a TRANSFORM input is listed twice", event_hash=event_hash)
        stored = _existing(batches, batch_id, prev)
        _require_movable(stored, Action.TRANSFORM, BatchStatus.ACTIVE)
        _require_custodian(stored, actor)
        consumed.append(stored)
    for index, batch_id in enumerate(outputs):
        if batch_id == ZERO32 or batch_id in outputs[:index]:
            raise InvalidEventError("a TRANSFORM output is zero or repeated", event_hash=event_hash)
        if batch_id in batches:
            raise BatchExistsError("a transformation output already exists", batchId=batch_id)
    if may_create is not None:
        for batch_id in outputs:
            may_create(batch_id)

    for stored in consumed:
        _move(stored, event, event_hash, actor)
    created = [_new_batch(batch_id, event, event_hash, actor) for batch_id in outputs]
    for batch in created:
        batches[batch.batch_id] = batch
    return Outcome(consumed, created, [(i, o) for i in inputs for o in outputs])


def _record(event: TraceEvent, event_hash: bytes, batches: dict[bytes, BatchState]) -> Outcome:
    """An anchored-only record: an OBSERVE of no batch, extending no head."""
    if (
        event.action is not Action.OBSERVE
        or event.batch_id == ZERO32
        or event.batch_id in batches
        or not _is_single(event, False)
    ):
        raise InvalidEventError(
            "malformed record: an OBSERVE of what is no batch", event_hash=event_hash
        )
    if event.prev_event_hash != ZERO32:
        raise _head_mismatch(event.batch_id, ZERO32, event.prev_event_hash)
    return Outcome([], [], [])


def _pack(
    event: TraceEvent,
    actor: Actor,
    batches: dict[bytes, BatchState],
    may_pallet: MayCreate | None,
) -> Outcome:
    """A packing: its lots, each at its head and held by the signer, on a pallet that is
    no custody batch (a lot is packed, never packed onto) and whose identifier the signer
    may name a pallet by (``may_pallet``, at ingest: an SSCC, an asset, any other URI, or
    a lot, an item or a handle under a prefix no other participant holds)."""
    if (
        event.batch_id == ZERO32
        or not event.inputs
        or len(event.inputs) > MAX_LINKED_BATCHES
        or len(event.input_prev_hashes) != len(event.inputs)
        or len(set(event.inputs)) != len(event.inputs)
        or event.outputs
        or event.counterparty != ZERO20
        or event.batch_id in event.inputs
    ):
        raise InvalidEventError(f"malformed {event.action.name} event")
    if event.batch_id in batches:
        raise PalletIsBatchError(
            "the pallet is a custody batch: a lot or an item is packed, never packed onto",
            batchId=event.batch_id,
        )
    for batch_id, prev in zip(event.inputs, event.input_prev_hashes, strict=True):
        stored = _existing(batches, batch_id, prev)
        _require_movable(stored, event.action, BatchStatus.ACTIVE)
        _require_custodian(stored, actor)
    if may_pallet is not None:
        may_pallet(event.batch_id)
    if event.action is Action.AGGREGATE:
        # The lots become part of the pallet's provenance, and the pallet of theirs.
        return Outcome([], [], [(lot, event.batch_id) for lot in event.inputs])
    return Outcome([], [], [])


def _move(stored: BatchState, event: TraceEvent, event_hash: bytes, actor: Actor) -> None:
    """Apply a checked lifecycle event's effect (node.events.lifecycle, the one definition
    of it) to ``stored``: its status and custodian, and its head."""
    moved = transition(event, stored.batch_id, stored.custodian_id, actor.participant_id)
    if moved is None:  # never for an event the rules above executed
        raise InvalidEventError(f"{event.action.name} moves no batch", event_hash=event_hash)
    stored.status, stored.custodian_id = moved
    stored.head = event_hash


def _new_batch(
    batch_id: bytes,
    event: TraceEvent,
    event_hash: bytes,
    actor: Actor,
    *,
    producer_id: int | None = None,
) -> BatchState:
    """A batch the checked ``event`` creates (or adopts from outside: ``producer_id`` 0),
    in the state node.events.lifecycle says the event leaves it."""
    created = BatchState(
        batch_id=batch_id,
        producer_id=actor.participant_id if producer_id is None else producer_id,
        custodian_id=0,
        receiver_id=0,
        status=BatchStatus.NONE,
        head=ZERO32,
        created_by=event_hash,
    )
    _move(created, event, event_hash, actor)
    return created


def _existing(batches: dict[bytes, BatchState], batch_id: bytes, prev: bytes) -> BatchState:
    stored = batches.get(batch_id)
    if stored is None:
        raise UnknownBatchError("no such batch", batchId=batch_id)
    if stored.head != prev:
        raise _head_mismatch(batch_id, stored.head, prev)
    return stored


def _require_movable(stored: BatchState, action: Action, required: BatchStatus) -> None:
    if stored.status is BatchStatus.RECALLED:
        raise BatchRecalledError(
            f"a recalled batch cannot take part in {action.name}", batchId=stored.batch_id
        )
    if stored.status is not required:
        raise _invalid_status(stored)


def _require_custodian(stored: BatchState, actor: Actor) -> None:
    if stored.custodian_id != actor.participant_id:
        raise NotCustodianError(
            "only the batch's custodian may do this",
            batchId=stored.batch_id,
            signer=_address(actor.key),
        )


def _is_single(event: TraceEvent, with_counterparty: bool) -> bool:
    return (
        not event.inputs
        and not event.input_prev_hashes
        and not event.outputs
        and (event.counterparty != ZERO20) == with_counterparty
    )


def _invalid_status(stored: BatchState) -> InvalidStatusError:
    return InvalidStatusError(
        f"the batch is {stored.status.name}", batchId=stored.batch_id, status=int(stored.status)
    )


def _head_mismatch(batch_id: bytes, expected: bytes, given: bytes) -> HeadMismatchError:
    return HeadMismatchError(
        "the event does not extend the batch's current head",
        batchId=batch_id,
        expected=expected,
        given=given,
    )


def _address(key: bytes) -> str:
    return "0x" + key.hex()
