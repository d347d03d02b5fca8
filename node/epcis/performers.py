"""Who signs each event of an EPCIS document, given the keys of several parties.

A document often holds events of several parties (a shipper's shipping and the
receiver's receiving, as query results usually are). Each TraceEvent is signed by the
party that performed it, and that is decided by the one definition of the batch rules
(``node.events.rules``): for each event in document order, the first key whose signature
the rules accept against the node's view of the batches, as the events before it in the
document leave them (a COMMISSION by the holder of the lot's prefix, a SHIP by the
custodian, a RECEIVE by the party it was shipped to, ...). An event no key may perform
(an OBSERVE, which any participant may sign, included) is signed by the first key, the
submitter's: the node then judges it as for any submission, and refuses it with the
rule's reason when it breaks one. Nobody's signature is forged: each key signs only what
it is given, and the node attributes every event to its signer (docs/epcis.md,
"Multi-party documents").
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from node.epcis.adoption import (
    DECLARED,
    Unheld,
    adopting,
    adoption_refusal,
    anchored_note,
    anchored_only,
    lots_extended,
    splits_of,
)
from node.epcis.digital_link import normalise_gs1_uri
from node.epcis.mapping import (
    MAX_SIGNERS,
    MAX_TRACE_EVENTS,
    MappedDocument,
    MappedEvent,
    PartyResolver,
    chain_signed,
    with_forms,
)
from node.events.batch import BatchState
from node.events.compose import head_effects
from node.events.identifiers import (
    GS1_MAX_PREFIX,
    GS1_MIN_PREFIX,
    IdentifierKind,
    IdentifierSplit,
    Licence,
    PrefixKind,
    identifier_split,
)
from node.events.rules import (
    Actor,
    Receiver,
    apply,
    check_adoptable,
    check_licence,
    check_role,
)
from node.events.signatures import address_of
from node.events.typed_data import Domain, TraceEvent
from node.exceptions import (
    EpcisLimitError,
    EventRejectedError,
    InvalidIdentifierError,
    InvalidIdentifierProofError,
    KeySetError,
)
from node.participants.sync import CURSOR as PARTICIPANTS_CURSOR
from node.store.records import SignerView
from node.store.store import Store


def party_resolver(store: Store, conn: Connection) -> PartyResolver:
    """Names a party or location (PGLN, SGLN or their Digital Links, AI 417 / 414) by the
    participant holding, at the licence mirror's head, the GS1 company prefix licence its
    GLN begins with (licences never overlap: at most one does), so a participant holding
    several company prefixes is found by any of them. One indexed lookup per GLN, in
    ``conn``'s transaction: use the resolver only while it is open."""
    head = store.participants.cursor(conn, PARTICIPANTS_CURSOR) or 0
    found: dict[str, bytes | None] = {}

    def by_gln(gln: str) -> bytes | None:
        candidates = [gln[:length] for length in range(GS1_MIN_PREFIX, GS1_MAX_PREFIX + 1)]
        holder = store.licences.holder_at(conn, PrefixKind.GS1, candidates, head)
        record = None if holder is None else store.participants.get(conn, holder)
        return None if record is None else record.key

    def resolve(identifier: str) -> bytes | None:
        canonical = normalise_gs1_uri(identifier.strip())
        for ai in ("/417/", "/414/"):
            head_of = "https://id.gs1.org" + ai
            if canonical.startswith(head_of):
                gln = canonical[len(head_of) :].split("/", 1)[0]
                if gln not in found:
                    found[gln] = by_gln(gln)
                return found[gln]
        return None

    return resolve


@dataclass(frozen=True, slots=True)
class Performed:
    """One TraceEvent and the private key of the party that signs it."""

    event: TraceEvent
    private_key: bytes


@dataclass(frozen=True, slots=True)
class Performers:
    """Who performs each TraceEvent of a document, on the store's view."""

    signers: tuple[bytes, ...]  # the address that signs each TraceEvent, in order
    events: tuple[tuple[TraceEvent, bytes], ...]  # each composed from the store, its digest
    #: The document as signed: each event's TraceEvents in the form its signer gives them
    #: (lots first seen mid-chain adopted, or the event anchored-only: node/epcis/adoption.py).
    mapped: MappedDocument
    todo: tuple[MappedEvent, ...]  # the TraceEvents signed, in order


def choose_performers(
    *,
    store: Store,
    domain: Domain,
    addresses: Sequence[bytes],
    mapped: MappedDocument,
    indexes: Sequence[int],
    held: Collection[bytes] = (),
) -> Performers:
    """The address among ``addresses`` that performs each TraceEvent of the EPCIS events
    ``indexes`` of ``mapped`` (see the module docstring: the first one the rules accept,
    else the first address), and the TraceEvents so composed: linked to the heads the store
    and the events before leave, each numbered from its signer's next nonce. An event that
    first names lots the network never held is one key's: the first that may adopt them
    and whose TraceEvents the rules accept (else the first that may adopt them), which
    signs their adoption and the event; when no key may, the event is anchored-only
    (node/epcis/adoption.py). ``held``: batches the client's waiting events will have
    brought in by then (the SDK's outbox). The one choice: ``tracenode epcis sign``
    (:func:`compose_for_keys`) and ``POST /v1/epcis/performers`` (the SDK)."""
    addresses = list(dict.fromkeys(addresses))
    if not addresses:
        raise ValueError("at least one key signs a capture request")
    if len(addresses) > MAX_SIGNERS:
        raise KeySetError(f"{len(addresses)} keys sign one document; the limit is {MAX_SIGNERS}")
    base = [m for i in indexes for m in mapped.trace_events[i]]
    named = {b for m in base for b in _named(m)}
    first_seen = [lot for i in indexes for lot in lots_extended(mapped.trace_events[i])]
    splits = _splits(base) | splits_of(first_seen)
    with store.read() as conn:
        views = store.participants.signers(conn, [*addresses, *(m.counterparty for m in base)])
        nonces = {a: store.events.next_nonce(conn, a) for a in addresses}
        states: dict[bytes, BatchState] = store.batches.load(conn, named)
        wanted = {(s.kind, c) for s in splits.values() for c in s.candidates}
        licences = store.licences.current(conn, wanted) if wanted else {}
        head = store.participants.cursor(conn, PARTICIPANTS_CURSOR) or 0
        resolve = party_resolver(store, conn)
        placed = (
            {i: _place(mapped.events[i].data, resolve) for i in indexes}
            if len(addresses) > 1
            else {}
        )
    judge = _Judge(domain, views, splits, licences, head)
    unheld = Unheld({*states, *held})  # ``held``: the client's waiting events' batches
    heads = {batch_id: state.head for batch_id, state in states.items()}
    signers: list[bytes] = []
    events: list[tuple[TraceEvent, bytes]] = []
    todo: list[MappedEvent] = []
    forms: dict[int, tuple[MappedEvent, ...]] = {}
    notes: dict[int, str] = {}
    for index in indexes:
        items = mapped.trace_events[index]
        lots = unheld.lots(items)
        # The party whose place the event names (its business location or read point) is
        # tried first: it most likely performed the event.
        order = sorted(addresses, key=lambda a: a != placed.get(index))
        chosen: list[bytes] = []
        if lots:
            declares = mapped.declares(index)
            able = [
                a
                for a in order
                if not declares and adoption_refusal(views.get(a), lots, licences) is None
            ]
            if able:
                items = adopting(items, lots)
                signer = able[0]  # when the rules accept none: the node refuses it
                for address in able:
                    trial = judge.attempt_all(items, address, heads, nonces, states)
                    if trial is not None:
                        signer, states = address, trial
                        break
                chosen = [signer] * len(items)
            else:
                why = (
                    DECLARED
                    if declares
                    else adoption_refusal(views.get(addresses[0]), lots, licences) or ""
                )
                notes[index] = anchored_note(index, lots, why)
                items = anchored_only(items, mapped.hash_ids[index])
                chosen = [addresses[0]]
            forms[index] = items
        else:
            for item in items:
                signer = addresses[0]  # nobody may: the submitter signs, the node refuses it
                if len(addresses) > 1:
                    for address in order:
                        trial = judge.attempt(item, address, heads, nonces[address], states)
                        if trial is not None:
                            signer, states = address, trial
                            break
                chosen.append(signer)
        for item, signer in zip(items, chosen, strict=True):
            (composed,), effects = chain_signed(
                [item], signers=[signer], heads=heads, nonces=nonces, domain=domain
            )
            heads.update(effects)
            nonces[signer] += 1
            signers.append(signer)
            events.append(composed)
            todo.append(item)
        unheld.take(items)
    if len(todo) > MAX_TRACE_EVENTS:
        raise EpcisLimitError(
            f"the events map to {len(todo)} TraceEvents with their lots' adoptions, more "
            f"than {MAX_TRACE_EVENTS}: send the document in parts",
            pointer="/traceEvents",
        )
    return Performers(tuple(signers), tuple(events), with_forms(mapped, forms, notes), tuple(todo))


def compose_for_keys(
    *,
    store: Store,
    domain: Domain,
    private_keys: Sequence[bytes],
    mapped: MappedDocument,
    indexes: Sequence[int],
) -> tuple[list[Performed], MappedDocument]:
    """The TraceEvents of the EPCIS events ``indexes`` of ``mapped``, in order, each linked
    to the heads the store and the events before it leave, numbered from its signer's next
    nonce, with the key that signs it (:func:`choose_performers`); and the document as
    signed. With one key, every event is that key's."""
    if not private_keys:
        raise ValueError("at least one key signs a capture request")
    keys: dict[bytes, bytes] = {}
    for key in private_keys:
        keys.setdefault(address_of(key), key)
    chosen = choose_performers(
        store=store, domain=domain, addresses=list(keys), mapped=mapped, indexes=indexes
    )
    performed = [
        Performed(event, keys[signer])
        for (event, _digest), signer in zip(chosen.events, chosen.signers, strict=True)
    ]
    return performed, chosen.mapped


@dataclass(frozen=True, slots=True)
class _Judge:
    """The batch rules as ingest applies them, on the node's mirror of participants and
    licences."""

    domain: Domain
    views: Mapping[bytes, SignerView]
    splits: Mapping[bytes, IdentifierSplit]
    licences: Mapping[tuple[PrefixKind, str], Licence]
    head: int

    def attempt(
        self,
        item: MappedEvent,
        address: bytes,
        heads: Mapping[bytes, bytes],
        nonce: int,
        states: Mapping[bytes, BatchState],
    ) -> dict[bytes, BatchState] | None:
        """The batches as ``item`` signed by ``address`` leaves them, or None when the rules
        refuse it (or the key signs for nobody active)."""
        view = self.views.get(address)
        if view is None or not view.current or not view.active:
            return None
        event = item.trace_event(heads=heads, nonce=nonce)
        actor = Actor(address, view.participant_id, view.roles)
        target = self.views.get(event.counterparty)
        receiver = (
            Receiver(target.participant_id, target.roles, target.active)
            if target is not None and target.current
            else None
        )
        trial = {b: copy.copy(s) for b, s in states.items()}

        def may_create(batch_id: bytes) -> None:
            split = self.splits.get(batch_id)
            if split is None:
                raise InvalidIdentifierProofError("no identifier", batchId=batch_id)
            check_licence(split, batch_id, actor.participant_id, self.licences, self.head)

        def may_adopt(batch_id: bytes) -> None:
            split = self.splits.get(batch_id)
            if split is None:
                raise InvalidIdentifierProofError("no identifier", batchId=batch_id)
            check_adoptable(split, batch_id, actor.participant_id, self.licences)

        def may_pallet(batch_id: bytes) -> None:
            # as ingest judges it: a lot, an item or a handle under nobody else's prefix
            split = self.splits.get(batch_id)
            if item.batch is None or item.batch.kind not in _BATCH_KINDS or split is None:
                return
            check_adoptable(split, batch_id, actor.participant_id, self.licences)

        try:
            check_role(event, actor)
            apply(
                event,
                event.digest(self.domain),
                actor,
                trial,
                receiver,
                may_create,
                may_adopt,
                may_pallet,
                record=item.record,
            )
        except EventRejectedError:
            return None
        return trial

    def attempt_all(
        self,
        items: Sequence[MappedEvent],
        address: bytes,
        heads: Mapping[bytes, bytes],
        nonces: Mapping[bytes, int],
        states: Mapping[bytes, BatchState],
    ) -> dict[bytes, BatchState] | None:
        """:meth:`attempt` of one EPCIS event's TraceEvents in order, all signed by
        ``address``; None when the rules refuse any."""
        current, trial, nonce = dict(heads), dict(states), nonces[address]
        for item in items:
            after = self.attempt(item, address, current, nonce, trial)
            if after is None:
                return None
            event = item.trace_event(heads=current, nonce=nonce)
            current.update(head_effects(event, event.digest(self.domain)))
            trial, nonce = after, nonce + 1
        return trial


def _place(data: Mapping[str, Any], resolve: PartyResolver) -> bytes | None:
    """The current key of the participant whose location the event names (its
    ``bizLocation``, else its ``readPoint``), if any."""
    for name in ("bizLocation", "readPoint"):
        place = data.get(name)
        if isinstance(place, dict) and isinstance(place.get("id"), str):
            found = resolve(place["id"])
            if found is not None:
                return found
    return None


#: The identifiers that name a batch and sit under a prefix (a pallet's is judged).
_BATCH_KINDS = (
    IdentifierKind.DIGITAL_LINK_LOT,
    IdentifierKind.DIGITAL_LINK_ITEM,
    IdentifierKind.HANDLE,
)


def _named(item: MappedEvent) -> list[bytes]:
    named = [bytes(i.batch_id) for i in (*item.inputs, *item.outputs)]
    if item.batch is not None:
        named.append(bytes(item.batch.batch_id))
    return named


def _splits(mapped: Sequence[MappedEvent]) -> dict[bytes, IdentifierSplit]:
    """Where the prefix of each identifier a COMMISSION, TRANSFORM or receipt names sits."""
    found: dict[bytes, IdentifierSplit] = {}
    for item in mapped:
        for identifier in (item.batch, *item.outputs):
            if identifier is None:
                continue
            try:
                found[bytes(identifier.batch_id)] = identifier_split(identifier)
            except (InvalidIdentifierError, ValueError):
                continue
    return found
