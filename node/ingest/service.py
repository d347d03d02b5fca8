"""Ingest: validate → recover signer → idempotency → event time in the node's window →
participant active with the role → nonce → batch rules on the local view (a batch created
only under a prefix the signer's participant is licensed, on the licence mirror) →
durable write → event hash.

One transaction per call. A single event that breaks a rule raises its typed
:class:`EventRejectedError`; a bulk call accepts the good events and reports each bad
one, and nothing of a bad event is written.

The event hash is an event's identity, and the store holds each hash once. The same
event submitted again gives the same hash and status ``duplicate``, never a second row:
signed by the same key, or by another key of the same participant (its content and nonce
signed again after a key rotation). Signed by another participant, it is refused with
:class:`EventExistsError`. The same holds inside one bulk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from node.chain.reader import ChainBatch
from node.epcis.masterdata import ELEMENT_TYPE, MasterDataElement, is_assertion_of, parse_element
from node.events.batch import BatchState
from node.events.identifiers import (
    Identifier,
    IdentifierKind,
    IdentifierSplit,
    Licence,
    PrefixKind,
    identifier_split,
    names_open_batch,
    parse_identifier,
    parse_record,
)
from node.events.payload import load_canonical
from node.events.rules import (
    Actor,
    Receiver,
    apply,
    check_adoptable,
    check_licence,
    check_not_pallet,
    check_not_records,
    check_role,
)
from node.events.rules import Outcome as RuleOutcome
from node.events.signatures import SignatureVerifier
from node.events.submission import SignedEvent
from node.events.typed_data import ZERO32, Action, Domain
from node.exceptions import (
    BatchInNetworkError,
    BatchRecalledError,
    ChainError,
    EventExistsError,
    EventRejectedError,
    HeadMismatchError,
    InvalidEventError,
    InvalidIdentifierError,
    InvalidIdentifierProofError,
    InvalidMasterDataError,
    InvalidSignatureError,
    InvalidStatusError,
    NonceUsedError,
    NotCustodianError,
    NotReceiverError,
    SignerMismatchError,
    SignerSuspendedError,
    UnknownBatchError,
    UnknownSignerError,
)
from node.ingest.chain_view import (
    ChainBatches,
    OpenPolicy,
    from_chain,
    moved_on,
    unheld_heads,
)
from node.ingest.event_time import EventTimeWindow
from node.participants.sync import CURSOR as PARTICIPANTS_CURSOR
from node.store.models import EventStatus
from node.store.records import EventBatchRow, EventRow, LineageRow, MasterDataRow, SignerView
from node.store.store import Store

_WRITE_ATTEMPTS = 3
#: The refusals that a stale view of a batch another node moved on can cause: on one of
#: these, the batches the event names are read from the chain, and judged again on it.
_STALE_VIEW_REFUSALS = (
    HeadMismatchError,
    NotReceiverError,
    InvalidStatusError,
    NotCustodianError,
    BatchRecalledError,
    BatchInNetworkError,
)


#: The packings, whose pallet is no batch (node.events.rules).
_PACKS = (Action.AGGREGATE, Action.DISAGGREGATE)


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of one submitted event."""

    index: int
    outcome: Outcome
    event_hash: bytes
    error: EventRejectedError | None = None
    #: The key a refused event's signature recovers to (None: it does not recover, or
    #: the event was refused before its signature was checked).
    signer: bytes | None = None


#: A hook run inside the ingest transaction before it commits (see ``submit_many``).
BeforeCommit = Callable[[Connection, dict[int, "IngestResult"]], None]


@dataclass(slots=True)
class _Pending:
    index: int
    signed: SignedEvent
    event_hash: bytes
    signer: bytes | None = None
    result: IngestResult | None = None
    identifiers: dict[bytes, str] = field(default_factory=dict)
    #: Where the prefix of each batch it creates may sit.
    splits: dict[bytes, IdentifierSplit] = field(default_factory=dict)
    #: An anchored-only record: an OBSERVE of something that is no batch.
    record: bool = False
    #: An OBSERVE whose subject is an open identifier: a batch's or a record's, decided on
    #: the batches (:func:`~node.events.identifiers.names_open_batch`).
    open_subject: bool = False
    #: The vocabulary element a master-data assertion (a record) asserts.
    element: MasterDataElement | None = None
    #: The identifier a packing names its pallet by (None: a bare batch id).
    pallet: Identifier | None = None


class _ChainNeeded(Exception):  # noqa: N818 (a signal inside the ingest, never raised out)
    """The call needs the chain's record of these batches: the write transaction is rolled
    back, the chain read outside it (a slow chain never holds the store's write lock), and
    the call written again."""

    def __init__(
        self, batch_ids: set[bytes], *, optional: bool = False, policies: set[int] | None = None
    ) -> None:
        super().__init__(len(batch_ids))
        self.batch_ids = batch_ids
        #: Only to see whether the store's view is stale (a refusal stands without it).
        self.optional = optional
        #: Participants whose node's open-identifier policy the call needs.
        self.policies = policies or set()


@dataclass(frozen=True, slots=True)
class _Policies:
    """What one ingest call knows of open identifiers: each participant's node policy read
    so far (``known``), and the ids under which this node holds anchored-only records."""

    known: dict[int, bool]
    record_keys: Set[bytes]
    readable: bool
    #: The ids packings named as their pallet (node.events.rules.check_not_pallet).
    pallets: Set[bytes] = frozenset()

    def open_allowed(self, split: IdentifierSplit, participant: int) -> bool | None:
        """Whether ``participant``'s node allows the open identifier ``split`` names
        (None for an identifier of a prefix kind); raises :class:`_ChainNeeded` for a
        policy not read yet. False when the node cannot read the chain's policy."""
        if split.kind is not PrefixKind.OTHER:
            return None
        if not self.readable:
            return False
        if participant not in self.known:
            raise _ChainNeeded(set(), policies={participant})
        return self.known[participant]


@dataclass(frozen=True, slots=True)
class _Licences:
    """The licence mirror as one ingest call reads it: the current licence of every
    candidate prefix of the batches the call's events create, and the mirror's head."""

    current: dict[tuple[PrefixKind, str], Licence]
    head: int


class IngestService:
    """Accepts signed events into the store."""

    def __init__(
        self,
        *,
        store: Store,
        domain: Domain,
        verifier: SignatureVerifier | None = None,
        clock: Callable[[], float] = time.time,
        event_times: EventTimeWindow | None = None,
        chain: ChainBatches | None = None,
        open_policy: OpenPolicy | None = None,
    ) -> None:
        """``chain``: BatchRegistry's record of batches (node.ingest.chain_view), asked
        for the batches an event names that the store lacks (another node's lots) or
        knows stale (moved on through another node); None: the store's view only.
        ``open_policy``: whether a participant's node allows open identifiers, as
        ParticipantRegistry answers (read outside the write transaction, once per call
        and participant); None: no node allows them (the policy is the chain's, never the
        node's own configuration)."""
        self.store = store
        self.chain = chain
        self.open_policy = open_policy
        self.domain = domain
        self.verifier = verifier or SignatureVerifier(workers=1)
        self.clock = clock
        #: The eventTime window every event is checked against (node.ingest.event_time).
        self.event_times = event_times or EventTimeWindow()
        self._separator = domain.separator

    def submit(self, signed: SignedEvent) -> IngestResult:
        """Ingest one event; raises its :class:`EventRejectedError` when refused."""
        result = self.submit_many([signed])[0]
        if result.error is not None:
            raise result.error
        return result

    def submit_many(
        self,
        batch: Sequence[SignedEvent],
        *,
        as_participant: int | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> list[IngestResult]:
        """Ingest many events in order, in one transaction; a result for each.

        With ``as_participant`` (the gateway: an API key's participant), an event signed
        by any other participant is rejected with :class:`SignerMismatchError`.

        ``before_commit`` runs inside that transaction once every event is decided, with
        the connection and the results so far (by index): it may write rows of its own
        or raise to roll the whole call back (EPCIS capture is all or nothing).
        """
        pending = [self._prepare(i, signed) for i, signed in enumerate(batch)]
        to_recover = [p for p in pending if p.result is None]
        signers = self.verifier.recover_many(
            [(p.event_hash, p.signed.signature) for p in to_recover]
        )
        for item, signer in zip(to_recover, signers, strict=True):
            if signer is None:
                item.result = _rejected(
                    item, InvalidSignatureError("the signature does not recover to a key")
                )
            item.signer = signer
        live = [p for p in pending if p.result is None]
        fetched: dict[bytes, ChainBatch] = {}
        unread: set[bytes] = set()
        policies: dict[int, bool] = {}
        attempt = 0
        while True:
            try:
                results = self._write(
                    live, as_participant, before_commit, fetched, unread, policies
                )
                break
            except _ChainNeeded as need:
                if need.policies:
                    # Each participant is asked for once: a ChainError is a 503.
                    assert self.open_policy is not None
                    policies |= {p: self.open_policy(p) for p in sorted(need.policies)}
                    continue
                # Each batch is asked for once: the loop ends.
                assert self.chain is not None
                try:
                    fetched |= self.chain(sorted(need.batch_ids))
                except ChainError:
                    if not need.optional:
                        raise  # a batch the store lacks cannot be judged: 503, try again
                    # A refusal on the store's view stands while the chain cannot say
                    # the view is stale.
                    unread |= need.batch_ids
            except IntegrityError:
                # A concurrent writer (PostgreSQL) stored a conflicting batch, event or
                # nonce between our reads and our writes: check everything again.
                attempt += 1
                if attempt == _WRITE_ATTEMPTS:
                    raise
        for item in live:
            item.result = results[item.index]
        return [p.result for p in pending if p.result is not None]

    def _write(
        self,
        live: list[_Pending],
        as_participant: int | None = None,
        before_commit: BeforeCommit | None = None,
        fetched: dict[bytes, ChainBatch] | None = None,
        unread: set[bytes] | None = None,
        policies: dict[int, bool] | None = None,
    ) -> dict[int, IngestResult]:
        results: dict[int, IngestResult] = {}
        fetched = fetched if fetched is not None else {}
        policies = policies if policies is not None else {}
        with self.store.write() as conn:
            views = self.store.participants.signers(
                conn,
                [p.signer for p in live if p.signer] + [p.signed.event.counterparty for p in live],
            )
            # An event already stored is found by its (signer, nonce), the key that keeps
            # it unique, rather than by its hash (node.store.tables: epochs).
            used = self.store.events.used_nonces(conn, [(p.signer or b"", _nonce(p)) for p in live])
            epochs: dict[bytes, int] = {}
            batches = self.store.batches.load(
                conn,
                {b for p in live for b in p.signed.event.batch_ids()},
                for_update=True,
                epochs=epochs,
            )
            # The same hash under another key (rotated, or another participant's) is the
            # same event all the same: found through the batches it names, after the lock
            # on them, so a concurrent writer's copy is committed and seen (PostgreSQL).
            held = self.store.events.holders(
                conn,
                [
                    (p.event_hash, p.signed.event)
                    for p in live
                    if used.get((p.signer or b"", _nonce(p))) != p.event_hash
                ],
                epochs,
            )
            stored = set(batches)
            # Rows of no custody batch: keys of anchored-only records (or of a pallet), and
            # below, the records this call accepts.
            record_keys = set(epochs.keys() - stored)
            # Of those, the ids packings named as their pallet (never a batch's: rules).
            pallets = self._pallets(conn, live, record_keys)
            remote, refreshed = self._chain_states(conn, live, batches, fetched)
            licences = self._licences(conn, live)
            rows: list[EventRow] = []
            assertions: list[MasterDataRow] = []
            lineage: list[LineageRow] = []
            links: list[EventBatchRow] = []
            created: dict[bytes, BatchState] = {}
            changed: dict[bytes, BatchState] = {}
            received_at = int(self.clock() * 1000)
            suspects: set[bytes] = set()
            for item in live:
                key = (item.signer or b"", _nonce(item))
                view = views.get(item.signer or b"")
                holder = held.get(item.event_hash)
                if used.get(key) == item.event_hash or (
                    view is not None and holder == view.participant_id
                ):
                    results[item.index] = IngestResult(
                        item.index, Outcome.DUPLICATE, item.event_hash
                    )
                    continue
                try:
                    # An event already held stays a duplicate (above) whatever the window.
                    self.event_times.check(item.signed.event.event_time, received_at / 1000)
                    outcome = self._check(
                        item,
                        views,
                        used,
                        held,
                        batches,
                        licences,
                        _Policies(policies, record_keys, self.open_policy is not None, pallets),
                        as_participant,
                    )
                except EventRejectedError as error:
                    results[item.index] = _rejected(item, error)
                    if isinstance(error, _STALE_VIEW_REFUSALS):
                        suspects |= (
                            (_must_exist(item) & stored)
                            - fetched.keys()
                            - (unread or set())
                            - created.keys()
                            - changed.keys()
                        )
                    continue
                held[item.event_hash] = views[item.signer or b""].participant_id
                if item.record:
                    record_keys.add(item.signed.event.batch_id)
                if item.signed.event.action in _PACKS:
                    pallets.add(item.signed.event.batch_id)
                used[key] = item.event_hash
                for state in outcome.created:
                    state.identifier = item.identifiers.get(state.batch_id)
                    created[state.batch_id] = state
                for state in outcome.changed:
                    if state.batch_id not in created:
                        changed[state.batch_id] = state
                for batch_id in _must_exist(item) & remote:
                    # Known from the chain: its row is written now, with the state after
                    # this event (the same object the rules changed).
                    state = batches[batch_id]
                    changed.pop(batch_id, None)
                    if batch_id not in created:
                        state.identifier = item.identifiers.get(batch_id)
                        created[batch_id] = state
                lineage.extend(
                    LineageRow(parent=p, child=c, event_hash=item.event_hash)
                    for p, c in outcome.lineage
                )
                event = item.signed.event
                links.extend(
                    EventBatchRow(batch_id=b, event_hash=item.event_hash)
                    for b in event.batch_ids()
                    if b != event.batch_id
                )
                rows.append(self._row(item, views, received_at))
                if item.element is not None:
                    assertions.append(
                        MasterDataRow(
                            key=item.signed.event.batch_id,
                            event_hash=item.event_hash,
                            participant_id=held[item.event_hash],
                            element=item.element.canonical(),
                            received_at=received_at,
                        )
                    )
                results[item.index] = IngestResult(item.index, Outcome.ACCEPTED, item.event_hash)
            if suspects and self.chain is not None:
                raise _ChainNeeded(suspects, optional=True)
            # A stale view the chain corrected is written whether or not an event here
            # moved the batch (it is the chain's record, not this call's doing).
            self.store.batches.save_changed(
                conn, [batches[b] for b in sorted(refreshed - changed.keys())]
            )
            self.store.events.store_accepted(
                conn,
                rows,
                created=list(created.values()),
                changed=list(changed.values()),
                lineage=lineage,
                links=links,
                epochs=epochs,
            )
            self.store.master_data.insert(conn, assertions)
            if before_commit is not None:
                before_commit(conn, results)
        return results

    def _chain_states(
        self,
        conn: Connection,
        live: list[_Pending],
        batches: dict[bytes, BatchState],
        fetched: dict[bytes, ChainBatch],
    ) -> tuple[set[bytes], set[bytes]]:
        """Put the chain's record (``fetched``) into ``batches`` where the store's view
        ends: a batch the store lacks (another node's lot), and a batch whose chain head
        is an event this node does not hold (it moved on through another node; a head
        this node holds means the store is rightly ahead, with events not anchored yet).
        Returns the ids of both kinds. Raises :class:`_ChainNeeded` for a batch the
        store lacks that was not read yet."""
        if self.chain is None:
            return set(), set()
        # A lot commissioned (or output) earlier in the same call is no other node's.
        made_here = {
            b
            for p in live
            if not p.signed.event.adopts()
            for b in p.signed.event.created_batch_ids()
        }
        needed = {b for p in live for b in _must_exist(p)}
        missing = needed - made_here - batches.keys() - fetched.keys()
        if missing:
            raise _ChainNeeded(missing)
        if not fetched:
            return set(), set()
        remote: set[bytes] = set()
        heads = unheld_heads(batches.values(), fetched)
        held = self.store.events.known(conn, sorted(set(heads.values()))) if heads else {}
        refreshed = set(moved_on(batches, fetched, heads, held))
        for batch_id, chain in fetched.items():
            if batch_id not in batches:
                state = from_chain(batch_id, chain)
                if state is not None:
                    batches[batch_id] = state
                    remote.add(batch_id)
        return remote, refreshed

    def _prepare(self, index: int, signed: SignedEvent) -> _Pending:
        event_hash = signed.event.digest(self.domain)
        item = _Pending(index, signed, event_hash)
        try:
            item.identifiers, item.splits, item.record, item.open_subject, item.pallet = (
                _identifiers(signed)
            )
            if item.record:
                item.element = _element(signed)
        except EventRejectedError as error:
            item.result = _rejected(item, error)
        return item

    def _pallets(self, conn: Connection, live: list[_Pending], keys: set[bytes]) -> set[bytes]:
        """The ids among ``keys`` (events stored, no batch) that a batch ``live`` creates
        would take and that stored packings named as their pallet; not an id whose batch
        was forgotten (its creation rejected on-chain: it may be created again)."""
        wanted = [b for p in live for b in p.signed.event.created_batch_ids() if b in keys]
        if not wanted:
            return set()
        return {
            row.record.event.batch_id
            for row in self.store.events.of_batches(conn, wanted)
            if row.record.event.action in _PACKS and row.record.event.batch_id in keys
        }

    def _licences(self, conn: Connection, live: list[_Pending]) -> _Licences:
        """One indexed lookup of the licence mirror for every batch ``live`` creates."""
        wanted = {(s.kind, c) for p in live for s in p.splits.values() for c in s.candidates}
        if not wanted:
            return _Licences({}, 0)
        head = self.store.participants.cursor(conn, PARTICIPANTS_CURSOR)
        return _Licences(self.store.licences.current(conn, wanted), head or 0)

    def _check(
        self,
        item: _Pending,
        views: dict[bytes, SignerView],
        used: dict[tuple[bytes, bytes], bytes],
        held: dict[bytes, int],
        batches: dict[bytes, BatchState],
        licences: _Licences,
        policies: _Policies,
        as_participant: int | None = None,
    ) -> RuleOutcome:
        event = item.signed.event
        signer = item.signer or b""
        view = views.get(signer)
        address = "0x" + signer.hex()
        if view is None or not view.current:
            raise UnknownSignerError(
                "the signer is not the current key of a registered participant", signer=address
            )
        if as_participant is not None and view.participant_id != as_participant:
            raise SignerMismatchError(
                "the event is signed by another participant than the API key's",
                signer=address,
            )
        if not view.active:
            raise SignerSuspendedError("the signer's participant is suspended", signer=address)
        actor = Actor(signer, view.participant_id, view.roles)
        check_role(event, actor)
        if item.event_hash in held:  # (the signer's own participant's copy is a duplicate)
            raise EventExistsError(
                "the node holds this event signed by another participant",
                eventHash=item.event_hash,
                signer=address,
            )
        if (signer, _nonce(item)) in used:
            raise NonceUsedError(
                "the signer already used this nonce", signer=address, nonce=str(event.nonce)
            )
        receiver = None
        if event.action is Action.SHIP:
            target = views.get(event.counterparty)
            if target is not None and target.current:
                receiver = Receiver(target.participant_id, target.roles, target.active)

        def may_create(batch_id: bytes) -> None:
            if batch_id not in item.splits:
                raise _unproven(batch_id)
            split = item.splits[batch_id]
            check_licence(
                split,
                batch_id,
                actor.participant_id,
                licences.current,
                licences.head,
                policies.open_allowed(split, actor.participant_id),
            )
            check_not_records(split, batch_id, batch_id in policies.record_keys)
            check_not_pallet(split, batch_id, batch_id in policies.pallets)

        def may_adopt(batch_id: bytes) -> None:
            if batch_id not in item.splits:
                raise UnknownBatchError(
                    "no such batch: to receive a lot from outside the network, give its "
                    "identifier (a GS1 Digital Link, EPC URN or handle) in the submission's "
                    "identifiers",
                    batchId=batch_id,
                )
            split = item.splits[batch_id]
            check_adoptable(
                split,
                batch_id,
                actor.participant_id,
                licences.current,
                policies.open_allowed(split, actor.participant_id),
            )
            check_not_records(split, batch_id, batch_id in policies.record_keys)
            check_not_pallet(split, batch_id, batch_id in policies.pallets)

        def may_pallet(batch_id: bytes) -> None:
            pallet = item.pallet
            if pallet is None:
                raise _unnamed_pallet(batch_id)
            if pallet.kind in (IdentifierKind.LOGISTIC_UNIT, IdentifierKind.RECORD):
                return  # an SSCC, an asset, any other URI: no batch, nobody's lot
            if pallet.kind is IdentifierKind.OPEN and not names_open_batch(
                exists=batch_id in batches, creates=False
            ):
                return  # an open identifier that names no batch (the rules refuse one that does)
            # A lot, an item or a handle: never under a prefix another participant holds
            # (its brand owner's lot, now or once commissioned), as for a lot adopted.
            check_adoptable(item.splits[batch_id], batch_id, actor.participant_id, licences.current)

        if item.open_subject:
            # An OBSERVE of an open identifier: the batch's when one exists (here, or on
            # the chain), else an anchored-only record under the same key.
            item.record = not names_open_batch(exists=event.batch_id in batches, creates=False)

        return apply(
            event,
            item.event_hash,
            actor,
            batches,
            receiver,
            may_create,
            may_adopt,
            may_pallet,
            record=item.record,
        )

    def _row(self, item: _Pending, views: dict[bytes, SignerView], received_at: int) -> EventRow:
        event = item.signed.event
        signer = item.signer or b""
        return {
            "event_hash": item.event_hash,
            "action": int(event.action),
            "batch_id": event.batch_id,
            "prev_event_hash": event.prev_event_hash,
            "inputs": b"".join(event.inputs),
            "input_prev_hashes": b"".join(event.input_prev_hashes),
            "outputs": b"".join(event.outputs),
            "counterparty": event.counterparty,
            "product": event.product,
            "quantity": str(event.quantity),
            "event_time": event.event_time,
            "location": event.location,
            "payload_hash": event.payload_hash,
            "nonce": _nonce(item),
            "signer": signer,
            "participant_id": views[signer].participant_id,
            "signature": item.signed.signature,
            "payload": item.signed.payload,
            "status": int(EventStatus.ACCEPTED),
            "received_at": received_at,
        }


def _must_exist(item: _Pending) -> set[bytes]:
    """The batches the event acts on that must exist before it (not those it creates, nor
    a pallet): their state decides whether it is accepted."""
    event = item.signed.event
    if (item.record and not item.open_subject) or event.action is Action.COMMISSION:
        return set()  # (an open subject is a batch's when the store or the chain has it)
    if event.action in (Action.TRANSFORM, Action.AGGREGATE, Action.DISAGGREGATE):
        return set(event.inputs) - {ZERO32}
    return {event.batch_id} - {ZERO32}


def _nonce(item: _Pending) -> bytes:
    return item.signed.event.nonce.to_bytes(32, "big")


def _identifiers(
    signed: SignedEvent,
) -> tuple[dict[bytes, str], dict[bytes, IdentifierSplit], bool, bool, Identifier | None]:
    """Canonical identifiers by batch id, each naming a batch of the event; the split of
    each the event creates; and whether the event is an anchored-only record (an OBSERVE
    whose subject is named by a record identifier: an SSCC, an asset, any other URI,
    :func:`~node.events.identifiers.parse_record`). A batch created without one is
    refused where the contract checks it, after the signer and the batch rules
    (``may_create``). Last, whether the event is an OBSERVE of an open identifier, which
    names a batch or a record as the batches say (decided in ``_check``), and the identifier
    a packing (AGGREGATE, DISAGGREGATE) names its pallet by: a record identifier (an SSCC,
    an asset, any other URI) or a batch identifier, whose split is kept to judge it
    (``may_pallet``)."""
    event = signed.event
    packs = event.action in _PACKS
    pallet: Identifier | None = None
    named = event.batch_ids()
    found: dict[bytes, str] = {}
    parsed: dict[bytes, Identifier] = {}
    record = open_subject = False
    for text in signed.identifiers:
        try:
            identifier = parse_identifier(text)
        except InvalidIdentifierError as exc:
            try:
                identifier = parse_record(text)
            except InvalidIdentifierError:
                raise InvalidEventError(str(exc), field="identifiers") from exc
            if packs and identifier.batch_id == event.batch_id:
                pallet = identifier  # a pallet's SSCC, asset or other URI
                continue
            if event.action is not Action.OBSERVE or identifier.batch_id != event.batch_id:
                raise InvalidEventError(
                    f"record identifier {identifier.canonical} names no batch: it may only "
                    "name the subject of an OBSERVE or a packing's pallet",
                    field="identifiers",
                ) from None
            record = True
            continue
        if identifier.kind is IdentifierKind.BATCH_ID:
            continue  # a bare batch id names the batch but gives it no identifier string
        if (
            identifier.kind is IdentifierKind.OPEN
            and event.action is Action.OBSERVE
            and identifier.batch_id == event.batch_id
        ):
            open_subject = True
        if identifier.batch_id not in named:
            raise InvalidEventError(
                f"identifier {identifier.canonical} names none of the event's batches",
                field="identifiers",
            )
        found[identifier.batch_id] = identifier.canonical
        parsed[identifier.batch_id] = identifier
    splits = {
        created: identifier_split(parsed[created])
        for created in signed.event.created_batch_ids()
        if created in parsed
    }
    if packs and event.batch_id in parsed:
        pallet = parsed[event.batch_id]
        splits[event.batch_id] = identifier_split(pallet)
    return found, splits, record, open_subject, pallet


_ELEMENT_MARK = f'"type":"{ELEMENT_TYPE}"'.encode()


def _element(signed: SignedEvent) -> MasterDataElement | None:
    """The vocabulary element a record's payload asserts (node.epcis.masterdata), checked
    to describe the record's own subject; None for any other payload."""
    payload = signed.payload
    if payload is None or _ELEMENT_MARK not in payload:
        return None
    value = load_canonical(payload)
    if not isinstance(value, dict) or value.get("type") != ELEMENT_TYPE:
        return None
    element = parse_element(value)
    if element.key.batch_id != signed.event.batch_id:
        raise InvalidMasterDataError(
            f"the element's id names {element.key.canonical}, not the event's subject",
            field="id",
        )
    if not is_assertion_of(signed.event, element):
        raise InvalidMasterDataError(
            "a master-data assertion is an OBSERVE of its code that names no inputs, outputs, "
            "counterparty, product, quantity or location",
            field="event",
        )
    return element


def _unproven(batch_id: bytes) -> InvalidIdentifierProofError:
    return InvalidIdentifierProofError(
        "a new batch needs its identifier (a GS1 Digital Link, EPC URN or handle) in "
        "the submission's identifiers: the contract lets only the holder of the "
        "identifier's prefix create it, and a bare batch id names no prefix",
        batchId="0x" + batch_id.hex(),
    )


def _unnamed_pallet(batch_id: bytes) -> InvalidIdentifierProofError:
    return InvalidIdentifierProofError(
        "a packing needs its pallet's identifier in the submission's identifiers: an SSCC, "
        "an asset or any other URI, or a lot, an item or a handle under a prefix no other "
        "participant holds; a bare batch id names no prefix, so it could name another "
        "brand's lot",
        batchId="0x" + batch_id.hex(),
    )


def _rejected(item: _Pending, error: EventRejectedError) -> IngestResult:
    return IngestResult(item.index, Outcome.REJECTED, item.event_hash, error, item.signer)
