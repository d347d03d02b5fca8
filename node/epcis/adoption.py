"""Lots first seen mid-chain: an EPCIS stream that starts in the middle of a lot's life.

An existing EPCIS repository's events name lots that this network never held: a brand
owner ships items it commissioned before it joined, a processor transforms inputs whose
history was captured elsewhere, a party declares such a transformation in error. The
mapping (node/epcis/mapping.py) makes each such event what it says about those lots; this
module brings the lots into the network first, by the one rule the contract already has
for a lot from outside: a RECEIVE that names no previous event *adopts* it
(BatchRegistry ``_adopt`` / ``_checkAdoptable``, docs/contracts.md "Parties outside the
network"). No contract change.

For each EPCIS event, in document order, the lots its TraceEvents would extend (a SHIP's,
an OBSERVE's, a RECALL's, a DESTROY's lot, a TRANSFORM's inputs, the lots a pallet
packs: ``lots_extended`` in node/epcis/mapping.py, with the two forms, pure functions
the SDK uses too) that the network does not hold and no earlier event of the document
brought in are *first seen* here. What the event becomes depends on its signer,
by the contract's adoption rule (:func:`adoption_refusal`):

- the signer may adopt them (an active participant with a custody role, and nobody else
  in the network holds the licence of the lot's prefix: the brand owner itself, or a lot
  of a brand outside the network): the event maps to one adopting RECEIVE of each lot,
  then its own TraceEvents, all signed by that signer (``adopting``). The batch's
  producer stays unknown (0): the adoption is never shown as a production, and says
  "history before this event was not captured by this network";
- it may not (a lot licensed to another participant, who never named it here; a signer
  with no custody role), or the event is a declaration of error (which states that the
  event naming the lots was in error, so it brings none in): the event is
  **anchored-only** with that reason (one OBSERVE
  record of its hash ID, ``anchored_only``): recorded, signed and anchored,
  attributed to its signer, custody not tracked, nothing attributed to a lot.

The signer's side (node/epcis/performers.py: ``tracenode epcis sign``, the SDK through
``POST /v1/epcis/performers``) chooses the signer and so the form; the node re-derives
the same from the signature at capture (node/epcis/capture.py), and an adoption signed
for a lot the network came to hold in between is refused for that event alone
(``epcis-adoption-raced``): the lot is never adopted twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Final

from node.epcis.mapping import MappedEvent, adopting, anchored_only, lots_extended
from node.events.identifiers import (
    Identifier,
    IdentifierSplit,
    Licence,
    PrefixKind,
    identifier_split,
)
from node.events.rules import check_adoptable
from node.events.typed_data import CUSTODY_ROLES, Action
from node.exceptions import EventRejectedError, InvalidIdentifierError
from node.store.records import SignerView

__all__ = [
    "DECLARED",
    "FIRST_SEEN",
    "Unheld",
    "adopted_note",
    "adopting",
    "adoption_refusal",
    "anchored_note",
    "anchored_only",
    "lots_extended",
    "names",
    "splits_of",
]

#: Why an error declaration that first names lots is anchored-only: it adopts nothing.
DECLARED: Final = (
    "a declaration of error brings no lot into the network (it states that the event "
    "naming them was in error)"
)
#: What an adoption of a lot first seen mid-chain says, everywhere it is shown.
FIRST_SEEN: Final = (
    "first seen mid-chain: history before this event was not captured by this network"
)


class Unheld:
    """Which lots an event of a document sees for the first time: not held by the network
    (``held``: the batches the store knows, any status) and not brought in by an earlier
    event of the document (:meth:`take`)."""

    def __init__(self, held: Collection[bytes]) -> None:
        self._held = set(held)

    def lots(self, items: Sequence[MappedEvent]) -> tuple[Identifier, ...]:
        return tuple(lot for lot in lots_extended(items) if bytes(lot.batch_id) not in self._held)

    def held(self, lot: bytes) -> bool:
        return lot in self._held

    def take(self, items: Iterable[MappedEvent]) -> None:
        """The event's chosen TraceEvents were signed: what they create or adopt is held."""
        for item in items:
            if item.record:
                continue
            if item.action in (Action.COMMISSION, Action.RECEIVE) and item.batch is not None:
                self._held.add(bytes(item.batch.batch_id))
            self._held.update(bytes(o.batch_id) for o in item.outputs)


def splits_of(lots: Iterable[Identifier]) -> dict[bytes, IdentifierSplit]:
    """Where the prefix of each lot sits (lots of no prefix kind left out)."""
    found: dict[bytes, IdentifierSplit] = {}
    for lot in lots:
        try:
            found[bytes(lot.batch_id)] = identifier_split(lot)
        except (InvalidIdentifierError, ValueError):
            continue
    return found


def adoption_refusal(
    view: SignerView | None,
    lots: Sequence[Identifier],
    licences: Mapping[tuple[PrefixKind, str], Licence],
) -> str | None:
    """Why the signer ``view`` may not adopt ``lots`` (first seen mid-chain), or None when
    it may: BatchRegistry's rule for a RECEIVE that adopts (a custody role, and no other
    participant holding the licence of the lot's prefix: ``check_adoptable``)."""
    if view is None or not view.current or not view.active:
        return "its signer is no active participant's current key"
    if not view.roles & CUSTODY_ROLES:
        return f"its signer, participant {view.participant_id}, holds no custody role"
    for lot in lots:
        try:
            split = identifier_split(lot)
            check_adoptable(split, bytes(lot.batch_id), view.participant_id, licences)
        except (EventRejectedError, InvalidIdentifierError, ValueError) as exc:
            return f"its signer, participant {view.participant_id}, may not adopt them: {exc}"
    return None


def anchored_note(index: int, lots: Sequence[Identifier], why: str) -> str:
    """The reason an event with lots first seen mid-chain is anchored-only."""
    return (
        f"event {index} is anchored-only (recorded and anchored, custody not tracked): it "
        f"first names lots the network never held ({names(lots)}), and {why}"
    )


def adopted_note(lots: Sequence[Identifier]) -> str:
    """What a captured event that adopts lots first seen mid-chain says of them."""
    return f"adopted {names(lots)}, {FIRST_SEEN}"


def names(lots: Sequence[Identifier]) -> str:
    """The lots' canonical identifiers, as a message names them."""
    return ", ".join(lot.canonical for lot in lots)
