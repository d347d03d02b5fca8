"""ChainReader on the embedded chain reads BatchRegistry's custody records and
ParticipantRegistry's current licences from storage (one request, no EVM): its answers
must be the contracts' own ``batch()`` and ``currentLicence()`` answers, in every state a
batch or a licence can be in, at the head and at earlier blocks."""

from __future__ import annotations

from node.chain.reader import ChainReader, Contracts
from node.events.identifiers import PrefixKind
from node.events.typed_data import Action, BatchStatus
from node.testing import chains
from node.testing.harness import TraceNodeHarness

MILK = "https://id.gs1.org/01/09506000134352/10/R-MILK"
CHEESE = "https://id.gs1.org/01/00614142000011/10/R-CHEESE"
SHIPPED = "https://id.gs1.org/01/09506000134352/10/R-SHIPPED"
RECALLED = "https://id.gs1.org/01/09506000134352/10/R-RECALLED"
NEVER = "https://id.gs1.org/01/09506000134352/10/R-NEVER"


def _reader(h: TraceNodeHarness, *, storage: bool, at: int | None = None) -> ChainReader:
    d = h.node.deployment
    contracts = Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
    block = None
    if at is not None:
        header = h.node.w3.eth.get_block(at)
        block = (at, bytes(header["hash"]))
    reader = ChainReader(h.node.w3, contracts, at=block)
    reader.storage = storage
    return reader


def test_custody_from_storage_is_what_the_contract_answers(tracenode: TraceNodeHarness) -> None:
    h = tracenode
    chains.cheese_from_milk(h, MILK, CHEESE)  # milk consumed, cheese held by the processor
    h.submit("farm", Action.COMMISSION, SHIPPED, product="milk", quantity=5)
    h.submit("farm", Action.SHIP, SHIPPED, to="processor")  # a receiver, in transit
    h.commit()
    in_transit = h.node.w3.eth.block_number
    h.submit("processor", Action.RECEIVE, SHIPPED)
    h.submit("farm", Action.COMMISSION, RECALLED, product="milk", quantity=5)
    h.submit("regulator", Action.RECALL, RECALLED)
    h.commit()
    ids = [h.batch_id(x) for x in (MILK, CHEESE, SHIPPED, RECALLED, NEVER)]

    for at in (None, in_transit):
        stored, executed = _reader(h, storage=True, at=at), _reader(h, storage=False, at=at)
        stored.prefetch(batches=ids)
        executed.prefetch(batches=ids)
        assert stored.calls == 1  # one request for them all
        assert [stored.batch(b) for b in ids] == [executed.batch(b) for b in ids]

    now = _reader(h, storage=True)
    statuses = [now.batch(b).status for b in ids]
    assert statuses == [
        BatchStatus.CONSUMED,
        BatchStatus.ACTIVE,
        BatchStatus.ACTIVE,
        BatchStatus.RECALLED,
        BatchStatus.NONE,
    ]
    then = _reader(h, storage=True, at=in_transit).batch(h.batch_id(SHIPPED))
    assert then.status is BatchStatus.IN_TRANSIT
    assert then.receiver_id == h.participant_id("processor")
    assert then.custodian_id == h.participant_id("farm")


def test_licences_from_storage_are_what_the_contract_answers(tracenode: TraceNodeHarness) -> None:
    h = tracenode
    admin = h.node.admin(h.password)
    registry = h.node.registry
    registry.revoke(admin, kind=PrefixKind.GS1, prefix="9506000")  # held no more
    before = h.node.w3.eth.block_number
    head = before + 1
    registry.license(  # valid in a window that has an end
        admin,
        h.participant_id("processor"),
        kind=PrefixKind.GS1,
        prefix="0614149",
        valid_from=head + 5,
        valid_until=2**48 - 1,
    )
    prefixes = [
        (PrefixKind.GS1, "0614141"),  # held, from its grant, no end
        (PrefixKind.GS1, "9506000"),  # revoked
        (PrefixKind.GS1, "0614149"),  # valid from a later block until a far one
        (PrefixKind.HANDLE, "88.456"),
        (PrefixKind.GS1, "0000001"),  # never licensed
    ]

    for at in (None, before):
        stored, executed = _reader(h, storage=True, at=at), _reader(h, storage=False, at=at)
        stored.prefetch(licences=prefixes)
        executed.prefetch(licences=prefixes)
        assert stored.calls == 1  # one request for them all
        assert [stored.licence(*p) for p in prefixes] == [executed.licence(*p) for p in prefixes]

    now = _reader(h, storage=True)
    farm, revoked, later, _, never = (now.licence(*p) for p in prefixes)
    assert (farm.holder, farm.held, farm.valid_until) == (h.participant_id("farm"), True, 0)
    assert (revoked.holder, revoked.held) == (h.participant_id("farm"), False)
    assert later.holder == h.participant_id("processor")
    assert (later.valid_from, later.valid_until) == (head + 5, 2**48 - 1)
    assert (never.holder, never.held) == (0, False)
    assert _reader(h, storage=True, at=before).licence(*prefixes[2]).holder == 0
