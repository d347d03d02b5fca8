"""ChainReader on the embedded chain reads BatchRegistry's custody records,
ParticipantRegistry's current licences and key records, and AnchorRegistry's anchors,
state roots and window commitments from storage (one request a contract, no EVM): its
answers must be the contracts' own views' answers, in every state each record can be in,
at the head and at earlier blocks. A reader carried to a newer block keeps only the
answers no block can change."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain.reader import ChainReader, Contracts
from node.commit.custody import CustodyMode
from node.events.identifiers import PrefixKind
from node.events.typed_data import Action, BatchStatus
from node.testing import chains
from node.testing.harness import TraceNodeHarness
from tests.conftest import Chain
from tests.node.participants.test_sync import HOSTILE_NAMES, register_raw

MILK = "https://id.gs1.org/01/09506000134352/10/R-MILK"
CHEESE = "https://id.gs1.org/01/00614142000011/10/R-CHEESE"
SHIPPED = "https://id.gs1.org/01/09506000134352/10/R-SHIPPED"
RECALLED = "https://id.gs1.org/01/09506000134352/10/R-RECALLED"
NEVER = "https://id.gs1.org/01/09506000134352/10/R-NEVER"


def _reader(
    h: TraceNodeHarness, *, storage: bool, at: int | None = None, carry: ChainReader | None = None
) -> ChainReader:
    d = h.node.deployment
    contracts = Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
    block = None
    if at is not None:
        header = h.node.w3.eth.get_block(at)
        block = (at, bytes(header["hash"]))
    reader = ChainReader(h.node.w3, contracts, at=block, carry=carry)
    reader.storage = storage
    return reader


def _address(account: str) -> bytes:
    return bytes.fromhex(account.removeprefix("0x"))


UNKNOWN_ROOT = b"\x01" * 32


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


def test_keys_and_anchors_from_storage_are_what_the_contracts_answer(
    tracenode: TraceNodeHarness, tmp_path: Path
) -> None:
    h = tracenode
    first = h.wait_for_proof(h.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=5))
    before = h.node.w3.eth.block_number
    old = _address(h.keys["farm"].address)
    h.rotate("farm")  # the old key's record gets an end
    second = h.wait_for_proof(h.submit("farm", Action.SHIP, MILK, to="processor"))
    keys = [
        old,
        _address(h.keys["farm"].address),  # registered after `before`
        _address(h.keys["processor"].address),
        _address(h.new_key().address),  # never registered
    ]
    roots = [first.root, second.root, UNKNOWN_ROOT]
    nodes = [_address(h.node.config.node_address), _address(h.new_key().address)]

    for at in (None, before):
        stored, executed = _reader(h, storage=True, at=at), _reader(h, storage=False, at=at)
        for reader in (stored, executed):
            reader.prefetch(roots=roots, state_roots=roots, transition_roots=roots, keys=keys)
        assert stored.calls == 2  # one request a contract
        assert [stored.key(k) for k in keys] == [executed.key(k) for k in keys]
        assert [stored.next_sequence(n) for n in nodes] == [
            executed.next_sequence(n) for n in nodes
        ]
        for ask in (ChainReader.anchor, ChainReader.state_root, ChainReader.commitment):
            assert [ask(stored, r) for r in roots] == [ask(executed, r) for r in roots]

    now = _reader(h, storage=True)
    assert now.key(old).valid_until > before
    assert now.key(keys[1]).valid_from > before
    assert now.key(keys[3]).participant_id == 0
    assert [now.next_sequence(n) for n in nodes] == [3, 1]  # two events anchored; none
    anchored = now.anchor(second.root)
    assert anchored is not None
    assert anchored.block_number == second.block_number
    assert now.anchor(UNKNOWN_ROOT) is None
    assert any(now.state_root(first.root))
    assert not any(now.commitment(first.root))
    assert _reader(h, storage=True, at=before).anchor(second.root) is None

    # An anchor-only window keeps a commitment to its two roots, not a state root.
    with TraceNodeHarness.create(tmp_path / "anchor-only", custody=CustodyMode.ANCHOR_ONLY) as a:
        window = a.wait_for_proof(
            a.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=5)
        ).root
        stored, executed = _reader(a, storage=True), _reader(a, storage=False)
        for reader in (stored, executed):
            reader.prefetch(roots=[window], state_roots=[window], transition_roots=[window])
        assert stored.calls == 1
        assert any(stored.commitment(window))
        assert stored.anchor(window) == executed.anchor(window)
        assert stored.commitment(window) == executed.commitment(window)
        assert stored.window_roots(window) == executed.window_roots(window)


def test_a_reader_carried_to_a_new_block_asks_again_only_what_a_block_can_change(
    tracenode: TraceNodeHarness,
) -> None:
    h = tracenode
    root = h.wait_for_proof(
        h.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=5)
    ).root
    farm = _address(h.keys["farm"].address)
    old = _reader(h, storage=False)
    old.prefetch(roots=[root, UNKNOWN_ROOT], state_roots=[root, UNKNOWN_ROOT], keys=[farm])
    assert not any(old.commitment(root))  # an enforced window: no commitment, for ever
    h.submit("farm", Action.SHIP, MILK, to="processor")
    h.commit()  # new blocks

    new = _reader(h, storage=False, carry=old)
    assert new.block > old.block
    assert (new.anchor(root), new.state_root(root), new.commitment(root)) == (
        old.anchor(root),
        old.state_root(root),
        old.commitment(root),
    )
    assert new.calls == 0  # all lasting: the root is anchored, so is its commitment
    new.commitment(UNKNOWN_ROOT)  # a root not anchored yet may be anchored with one
    new.anchor(UNKNOWN_ROOT)
    new.key(farm)  # a key may be rotated
    assert new.calls == 3


@pytest.mark.parametrize(("raw", "shown"), HOSTILE_NAMES)
def test_a_name_that_is_not_text_is_read_as_the_text_the_node_makes_of_it(
    chain: Chain, raw: bytes, shown: str
) -> None:
    """A participant's name is whatever bytes its registrar sent: read alone or
    prefetched, it is the text node.chain.text makes of it (it raised
    UnicodeDecodeError, so a bundle naming that participant could not be verified)."""
    hostile = register_raw(chain, raw)
    d = chain.deployment
    contracts = Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
    alone, prefetched = ChainReader(chain.w3, contracts), ChainReader(chain.w3, contracts)
    prefetched.prefetch(participants=[hostile, 1])

    for reader in (alone, prefetched):
        found = reader.participant(hostile)
        assert found is not None
        assert found.name == shown
        assert reader.participant(1) is not None
    assert prefetched.calls == 1  # both answered by the one batch of reads
