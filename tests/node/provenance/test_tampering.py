"""Every field of a real proof bundle matters: change any one of them and verification
fails, naming the check that catches it and no other.

The bundle comes from a real node (the story of conftest.py, committed on its embedded
chain). ``FIELDS`` lists every field path of the format with the checks that must fail
when it changes; a test compares it with the paths the real bundle has, so a field added
to the exporter without a check (or a listed one the exporter no longer writes) fails
here. Each field is checked twice: by the node's own reader (``POST /v1/verify``, the
provenance page) and by a reader built from the bundle's addresses (``tracenode verify
--rpc``, the SDK).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from web3 import Web3

from node.chain.reader import ChainReader, Contracts
from node.events.typed_data import Action
from node.exceptions import InvalidBundleError
from node.proofs.bundle import Bundle, parse_bundle
from node.proofs.verify import Outcome, Report, verify_bundle
from node.testing.harness import TraceNodeHarness
from tests.node.provenance.conftest import run_story

Doc = dict[str, Any]
Path = tuple[str | int, ...]

#: Refused when read: InvalidBundleError naming the field.
PARSE = frozenset({"(refused when read)"})
EVENT_HASH = frozenset({"event-hash"})

#: Every field path of tracenode-bundle/2 (list indexes as *, anything inside a payload
#: as **), and the checks that fail, and only those, when it changes.
FIELDS: dict[str, frozenset[str]] = {
    "/format": PARSE,
    "/subject": frozenset({"lineage"}),
    "/chain/chainId": frozenset({"chain"}),
    "/chain/participantRegistry": frozenset({"chain"}),
    "/chain/batchRegistry": frozenset({"chain"}),
    "/chain/anchorRegistry": frozenset({"chain"}),
    "/batches/*/batchId": PARSE,  # keccak256 of the identifier
    "/batches/*/identifier": PARSE,
    # The state leaf of the batch's latest window, its proof and anchor: only completeness.
    "/batches/*/state/root": frozenset({"complete"}),
    "/batches/*/state/stateRoot": frozenset({"complete"}),
    "/batches/*/state/proof/*": frozenset({"complete"}),
    "/batches/*/state/head": frozenset({"complete"}),
    "/batches/*/state/custodian": frozenset({"complete"}),
    "/batches/*/state/status": frozenset({"complete"}),
    "/batches/*/state/count": frozenset({"complete"}),
    "/batches/*/state/blockNumber": frozenset({"complete"}),
    "/lineage/*/parent": frozenset({"lineage"}),
    "/lineage/*/child": frozenset({"lineage"}),
    "/lineage/*/eventHash": frozenset({"lineage"}),
    "/events/*/eventHash": EVENT_HASH,
    "/events/*/event/action": EVENT_HASH,
    "/events/*/event/batchId": EVENT_HASH,
    "/events/*/event/prevEventHash": EVENT_HASH,
    "/events/*/event/inputs/*": EVENT_HASH,
    "/events/*/event/inputPrevHashes/*": EVENT_HASH,
    "/events/*/event/outputs/*": EVENT_HASH,
    "/events/*/event/counterparty": EVENT_HASH,
    "/events/*/event/product": EVENT_HASH,
    "/events/*/event/quantity": EVENT_HASH,
    "/events/*/event/eventTime": EVENT_HASH,
    "/events/*/event/location": EVENT_HASH,
    "/events/*/event/payloadHash": EVENT_HASH,
    "/events/*/event/nonce": EVENT_HASH,
    "/events/*/signature": frozenset({"signature"}),  # the last byte is v: 27 or 28
    "/events/*/payload/**": frozenset({"payload"}),
    "/events/*/anchor/root": frozenset({"merkle-proof", "root-on-chain"}),
    "/events/*/anchor/proof/*": frozenset({"merkle-proof"}),
    "/events/*/anchor/txHash": frozenset({"root-on-chain"}),
    "/events/*/anchor/blockNumber": frozenset({"root-on-chain"}),
}


def leaves(node: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every scalar in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*path, index))
    else:
        yield path


def pattern(path: Path) -> str:
    text = "/" + "/".join("*" if isinstance(p, int) else p for p in path)
    return re.sub(r"^(/events/\*/payload)/.*$", r"\1/**", text)


def tamper(value: Any) -> Any:
    """The value changed as little as its type allows (a hex digit, a decimal unit, a
    character)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    assert isinstance(value, str), value
    if re.fullmatch(r"0x[0-9a-fA-F]+", value):
        return value[:-1] + ("1" if value[-1] == "0" else "0")
    if re.fullmatch(r"[0-9]+", value):
        return str(int(value) + 1)
    return value[:-1] + ("x" if value[-1] != "x" else "y")


def altered(document: Doc, path: Path) -> Doc:
    changed = copy.deepcopy(document)
    parent: Any = changed
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = tamper(parent[path[-1]])
    return changed


def failed_checks(report: Report) -> set[str]:
    checks = [c for c in report.checks if c.outcome is Outcome.FAIL]
    checks += [c for e in report.events for c in e.failures]
    checks += [c for b in report.batches for c in b.checks if c.outcome is Outcome.FAIL]
    return {c.check.value for c in checks}


@dataclass
class Real:
    harness: TraceNodeHarness
    document: Doc
    outsiders: dict[Contracts, ChainReader] = field(default_factory=dict)

    def instances(self, wanted: str) -> list[Path]:
        """The concrete paths of ``wanted``: every one, but for an event's fields the
        first of each action (the checks differ by action, not by event)."""
        found: dict[object, Path] = {}
        for path in leaves(self.document):
            if pattern(path) != wanted:
                continue
            if path[0] == "events":
                event = self.document["events"][path[1]]["event"]
                found.setdefault((event["action"], path[2:]), path)
            else:
                found[path] = path
        return list(found.values())

    def outcomes(self, document: Doc) -> list[tuple[str, frozenset[str]]]:
        """What the node's reader and an outsider's reader make of ``document``."""
        try:
            bundle = parse_bundle(document)
        except InvalidBundleError:
            return [("read", PARSE)]
        node = self.harness.provenance_service.reader()
        return [
            ("node", frozenset(failed_checks(verify_bundle(bundle, node)))),
            ("outsider", frozenset(failed_checks(verify_bundle(bundle, self.outsider(bundle))))),
        ]

    def outsider(self, bundle: Bundle) -> ChainReader:
        """A reader of the bundle's own addresses, as ``tracenode verify --rpc`` makes."""
        chain = bundle.chain
        contracts = Contracts(
            Web3.to_checksum_address(chain.participant_registry),
            Web3.to_checksum_address(chain.batch_registry),
            Web3.to_checksum_address(chain.anchor_registry),
        )
        if contracts not in self.outsiders:
            self.outsiders[contracts] = ChainReader(self.harness.node.w3, contracts)
        return self.outsiders[contracts]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Real]:
    """One real node and bundle for the module: verifying changes nothing on the chain."""
    with TraceNodeHarness.create(tmp_path_factory.mktemp("tampering") / "node") as harness:
        story = run_story(harness)
        yield Real(harness, harness.export(story.slices).as_json())


def test_the_real_bundle_verifies_both_ways(real: Real) -> None:
    assert real.outcomes(real.document) == [("node", frozenset()), ("outsider", frozenset())]
    bundle = parse_bundle(real.document)
    report = verify_bundle(bundle, real.harness.provenance_service.reader())
    assert report.outcome is Outcome.PASS
    assert all(e.block_number is not None for e in report.events)  # all anchored


def test_every_field_of_the_bundle_is_listed(real: Real) -> None:
    """A field the exporter writes and FIELDS does not list is a field nobody proved
    to be checked; a listed field the exporter no longer writes is a stale entry."""
    assert {pattern(p) for p in leaves(real.document)} == set(FIELDS)


@pytest.mark.parametrize("where", list(FIELDS))
def test_changing_any_field_fails_naming_only_its_check(real: Real, where: str) -> None:
    expected = FIELDS[where]
    instances = real.instances(where)
    assert instances, f"the real bundle has no {where}"
    wrong = {}
    for path in instances:
        for reader, failed in real.outcomes(altered(real.document, path)):
            if failed != expected:
                wrong["/" + "/".join(map(str, path)) + f" ({reader})"] = sorted(failed)
    assert not wrong, f"expected exactly {sorted(expected)}: {wrong}"


@pytest.mark.parametrize("action", ["COMMISSION", "OBSERVE"])
def test_a_real_transaction_that_did_not_anchor_the_root_fails(real: Real, action: str) -> None:
    """The bundle's transaction must be the root's own, for an anchored-only event too:
    any other transaction of the chain (here, the first one: the deployment) fails."""
    w3 = real.harness.node.w3
    first = w3.eth.get_block(1)["transactions"][0]
    assert isinstance(first, bytes)  # a hash: the block was asked without full transactions
    other = "0x" + first.hex()
    changed = copy.deepcopy(real.document)
    event = next(e for e in changed["events"] if e["event"]["action"] == int(Action[action]))
    assert event["anchor"]["txHash"] != other
    event["anchor"]["txHash"] = other
    report = verify_bundle(parse_bundle(changed), real.harness.provenance_service.reader())
    assert failed_checks(report) == {"root-on-chain"}
    (failure,) = report.failures()
    assert "did not anchor the root" in failure
