"""Who signs each event of an EPCIS document, given the keys of several parties.

A document often holds events of several parties (a shipper's shipping and the
receiver's receiving, as query results usually are). Each TraceEvent is signed by the
party that performed it, and that is decided by the one definition of the batch rules
(``node.ingest.rules``): for each event in document order, the first key whose signature
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.epcis.mapping import MAX_SIGNERS, MappedEvent, chain_signed
from node.events.batch import BatchState
from node.events.identifiers import IdentifierSplit, Licence, PrefixKind, identifier_split
from node.events.signatures import address_of
from node.events.typed_data import Domain, TraceEvent
from node.exceptions import (
    EventRejectedError,
    InvalidIdentifierError,
    InvalidIdentifierProofError,
    KeySetError,
)
from node.ingest.rules import (
    Actor,
    Receiver,
    apply,
    check_adoptable,
    check_licence,
    check_role,
)
from node.participants.sync import CURSOR as PARTICIPANTS_CURSOR
from node.store.records import SignerView
from node.store.store import Store


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


def choose_performers(
    *,
    store: Store,
    domain: Domain,
    addresses: Sequence[bytes],
    mapped: Sequence[MappedEvent],
) -> Performers:
    """The address among ``addresses`` that performs each TraceEvent of ``mapped`` (see
    the module docstring: the first one the rules accept, else the first address), and
    the TraceEvents so composed: linked to the heads the store and the events before leave,
    each numbered from its signer's next nonce. The one choice: ``tracenode epcis sign``
    (:func:`compose_for_keys`) and ``POST /v1/epcis/performers`` (the SDK's key sets)."""
    addresses = list(dict.fromkeys(addresses))
    if not addresses:
        raise ValueError("at least one key signs a capture request")
    if len(addresses) > MAX_SIGNERS:
        raise KeySetError(f"{len(addresses)} keys sign one document; the limit is {MAX_SIGNERS}")
    named = {b for m in mapped for b in _named(m)}
    splits = _splits(mapped)
    with store.read() as conn:
        views = store.participants.signers(conn, [*addresses, *(m.counterparty for m in mapped)])
        nonces = {a: store.events.next_nonce(conn, a) for a in addresses}
        states: dict[bytes, BatchState] = store.batches.load(conn, named)
        wanted = {(s.kind, c) for s in splits.values() for c in s.candidates}
        licences = store.licences.current(conn, wanted) if wanted else {}
        head = store.participants.cursor(conn, PARTICIPANTS_CURSOR) or 0
    judge = _Judge(domain, views, splits, licences, head)
    heads = {batch_id: state.head for batch_id, state in states.items()}
    signers: list[bytes] = []
    events: list[tuple[TraceEvent, bytes]] = []
    for item in mapped:
        chosen = addresses[0]  # nobody may: the submitter signs, the node refuses it
        if len(addresses) > 1:
            for address in addresses:
                trial = judge.attempt(item, address, heads, nonces[address], states)
                if trial is not None:
                    chosen, states = address, trial
                    break
        (composed,), effects = chain_signed(
            [item], signers=[chosen], heads=heads, nonces=nonces, domain=domain
        )
        heads.update(effects)
        nonces[chosen] += 1
        signers.append(chosen)
        events.append(composed)
    return Performers(tuple(signers), tuple(events))


def compose_for_keys(
    *,
    store: Store,
    domain: Domain,
    private_keys: Sequence[bytes],
    mapped: Sequence[MappedEvent],
) -> list[Performed]:
    """The TraceEvents of ``mapped``, in order, each linked to the heads the store and the
    events before it leave, numbered from its signer's next nonce, with the key that signs
    it (:func:`choose_performers`). With one key, every event is that key's."""
    if not private_keys:
        raise ValueError("at least one key signs a capture request")
    keys: dict[bytes, bytes] = {}
    for key in private_keys:
        keys.setdefault(address_of(key), key)
    chosen = choose_performers(store=store, domain=domain, addresses=list(keys), mapped=mapped)
    return [
        Performed(event, keys[signer])
        for (event, _digest), signer in zip(chosen.events, chosen.signers, strict=True)
    ]


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
                record=item.record,
            )
        except EventRejectedError:
            return None
        return trial


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
