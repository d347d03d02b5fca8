"""The verifier names the brand owner: the ``licence`` check reads, at the block each batch
was created, who held its identifier's prefix (ParticipantRegistry.licenceAt), not who
holds it now. One chain for the module: the farm's prefix 9506000 is revoked and licensed
to the processor after the farm made its milk and after the processor tried to make a lot
under it while the farm held it (the chain refused that COMMISSION; its bundle is built
by tests/licences.py from the commit that anchored it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.schemas import VerificationReport
from node.chain.reader import ChainReader
from node.events.identifiers import PrefixKind
from node.events.typed_data import Action, Role
from node.proofs.bundle import Bundle, BundleBatch
from node.proofs.verify import CheckResult, Outcome, Report, report_json, verify_bundle
from node.testing.harness import TraceNodeHarness
from tests.licences import refused_commission

MILK = "https://id.gs1.org/01/09506000134352/10/BRAND-MILK"
CHEESE = "https://id.gs1.org/01/00614142000011/10/BRAND-CHEESE"
SQUAT = "https://id.gs1.org/01/09506000134352/10/SQUAT-1"
HANDLE = "88.321.7/lot-1"
PENDING = "88.321.7/lot-2"


@dataclass
class Chain:
    harness: TraceNodeHarness
    licensed: int  # the block the maker's handle prefix was licensed at
    revoked: int  # the block the farm's 9506000 was revoked at
    squat_block: int  # the block the processor's refused COMMISSION was anchored in
    squat: Bundle


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with TraceNodeHarness.create(tmp_path_factory.mktemp("licence") / "node") as h:
        h.add_participant("maker", Role.PRODUCER, "88.321")
        licensed = h.node.registry.licences(PrefixKind.HANDLE, "88.321")[0].valid_from
        h.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=10)
        h.submit("farm", Action.SHIP, MILK, to="processor")
        h.submit("processor", Action.RECEIVE, MILK)
        h.submit("processor", Action.TRANSFORM, inputs=[MILK], outputs=[CHEESE], quantity=2)
        h.submit("maker", Action.COMMISSION, HANDLE, product="bolts", quantity=5)
        h.commit()
        squat = refused_commission(h, "processor", SQUAT, "9506000")
        squat_block = squat.events[0].anchor.block_number  # type: ignore[union-attr]
        admin = h.node.admin(h.password)
        h.node.registry.revoke(admin, kind=PrefixKind.GS1, prefix="9506000")
        revoked = h.node.w3.eth.block_number
        h.node.registry.license(
            admin, h.participant_id("processor"), kind=PrefixKind.GS1, prefix="9506000"
        )
        h.submit("maker", Action.COMMISSION, PENDING, product="bolts", quantity=1)
        yield Chain(h, licensed, revoked, squat_block, squat)


def _licence(report: Report, identifier: str) -> CheckResult:
    (batch,) = [b for b in report.batches if b.identifier == identifier]
    (check,) = [c for c in batch.checks if c.check == "licence"]
    return check


def _batch_json(report: Report, identifier: str) -> dict[str, object]:
    document = report_json(report)
    VerificationReport.model_validate(document)  # the API's schema takes it
    batches = document["batches"]
    assert isinstance(batches, list)
    (batch,) = [b for b in batches if b["identifier"] == identifier]
    return batch  # type: ignore[no-any-return]


def test_a_lot_names_the_brand_owner_at_its_creation_not_the_holder_now(chain: Chain) -> None:
    h = chain.harness
    farm, processor = h.participant_id("farm"), h.participant_id("processor")
    assert h.node.registry.current_licence(PrefixKind.GS1, "9506000").holder == processor

    report = h.verify(h.export(CHEESE))

    milk = _licence(report, MILK)
    assert milk.outcome is Outcome.PASS
    granted = h.node.registry.licences(PrefixKind.GS1, "9506000")[0]
    assert milk.detail == (
        f"GTIN 09506000134352: prefix 9506000, licensed to farm since block "
        f"{granted.valid_from} until block {chain.revoked}"
    )
    assert _batch_json(report, MILK)["licence"] == {
        "kind": "gs1",
        "prefix": "9506000",
        "holder": {"id": farm, "name": "farm"},
        "validFrom": str(granted.valid_from),
        "validUntil": str(chain.revoked),
    }
    cheese = _licence(report, CHEESE)  # created by a TRANSFORM
    assert cheese.outcome is Outcome.PASS
    assert cheese.detail.startswith("GTIN 00614142000011: prefix 0614142, licensed to processor")
    assert "until" not in cheese.detail
    assert _batch_json(report, CHEESE)["licence"]["validUntil"] is None  # type: ignore[index]
    assert report.outcome is Outcome.PASS


def test_a_handle_names_the_dot_ancestor_licensed(chain: Chain) -> None:
    h = chain.harness

    report = h.verify(h.export(HANDLE))

    check = _licence(report, HANDLE)
    assert (check.outcome, check.detail) == (
        Outcome.PASS,
        f"handle {HANDLE}: prefix 88.321, licensed to maker since block {chain.licensed}",
    )
    assert _batch_json(report, HANDLE)["licence"] == {
        "kind": "handle",
        "prefix": "88.321",
        "holder": {"id": h.participant_id("maker"), "name": "maker"},
        "validFrom": str(chain.licensed),
        "validUntil": None,
    }


def test_a_creator_that_did_not_hold_the_prefix_then_fails_though_it_holds_it_now(
    chain: Chain,
) -> None:
    """The processor holds 9506000 now; at the block its COMMISSION was anchored the farm
    did: read at that block, the check fails, naming both."""
    h = chain.harness

    report = h.verify(chain.squat)

    check = _licence(report, SQUAT)
    assert check.outcome is Outcome.FAIL
    assert check.detail == (
        f"GTIN 09506000134352: prefix 9506000 was licensed to farm at block "
        f"{chain.squat_block}, not to processor, who created the batch"
    )
    assert _batch_json(report, SQUAT)["licence"]["holder"] == {  # type: ignore[index]
        "id": h.participant_id("farm"),
        "name": "farm",
    }
    assert f"batch {SQUAT}: licence: {check.detail}" in report.failures()


def test_a_creating_event_not_anchored_yet_is_pending(chain: Chain) -> None:
    h = chain.harness

    report = h.verify(h.export(PENDING))

    check = _licence(report, PENDING)
    assert (check.outcome, check.detail) == (
        Outcome.PENDING,
        "event #0, which created the batch, is not anchored yet",
    )
    assert _batch_json(report, PENDING)["licence"] is None
    assert report.outcome is Outcome.PENDING


def test_what_the_bundle_cannot_show_is_skipped_saying_why(chain: Chain) -> None:
    h = chain.harness
    bundle = h.export(CHEESE)
    milk_id = h.batch_id(MILK)
    commission = next(
        e
        for e in bundle.events
        if e.event.action is Action.COMMISSION and e.event.batch_id == milk_id
    )
    without = dataclasses.replace(bundle, events=tuple(e for e in bundle.events if e != commission))
    bare = "0x" + milk_id.hex()
    as_batch_id = dataclasses.replace(
        bundle,
        batches=tuple(
            BundleBatch(b.batch_id, bare) if b.batch_id == milk_id else b for b in bundle.batches
        ),
    )

    outside = _licence(h.verify(without), MILK)
    no_identifier = _licence(h.verify(as_batch_id), bare)

    assert (outside.outcome, outside.detail) == (
        Outcome.SKIPPED,
        "not checked: the event that created the batch is not in the bundle",
    )
    assert no_identifier.outcome is Outcome.SKIPPED
    assert no_identifier.detail == (
        f"{bare} is a bare batch id: it names no identifier, no licence covers it"
    )


def test_licences_are_read_in_the_batched_rounds(chain: Chain) -> None:
    """No eth_call per batch or per prefix: every candidate's current licence is asked in
    the first ReadMany round, and licenceAt in the second only where the current one does
    not answer for the block (9506000, licensed to the processor since the milk was made),
    in fewer calls than there are licence questions."""
    h = chain.harness
    bundle = h.export(CHEESE)
    reader = ChainReader(h.node.w3, h.provenance_service.reader().contracts)

    verify_bundle(bundle, reader)

    current = [key for key in reader._cache if key[0] == "licence"]
    at_block = [key[1:3] for key in reader._cache if key[0] == "licence_at"]
    assert len(current) == 2 * 9  # two GTINs, candidates of 12 down to 4 digits
    assert at_block == [(int(PrefixKind.GS1), "9506000")]
    assert reader.batched
    assert reader.calls < len(current)
