"""Both verifiers refuse the same forgeries of an honest bundle: ``tracenode verify``
(node/proofs/verify.py) and the browser's (api/static/verify-core.js), run against one
real node's embedded chain through a read-only JSON-RPC endpoint, agree check by check,
detail by detail (``assert_same_reports``), and both fail what no honest export holds — a
copy of an event standing in for one left out."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from node.events.rules import apply
from node.events.typed_data import Action
from node.exceptions import InvalidBundleError
from node.proofs.bundle import loads, schema
from node.proofs.verify import report_json
from node.testing.harness import TraceNodeHarness
from tests.web.test_verify_core import _checks, assert_same_reports, node_js
from tests.web.test_verify_core_anchor_only import _JsonRpc

Doc = dict[str, Any]


@dataclass
class Served:
    harness: TraceNodeHarness
    rpc: str

    def reports(self, cases: dict[str, Doc]) -> dict[str, Doc]:
        """Both verifiers' reports of each bundle, asserted the same; tracenode verify's."""
        theirs = node_js(
            """
            const out = {};
            for (const [name, doc] of Object.entries(data.cases)) {
              out[name] = await core.verifyBundle(core.parseBundle(doc), new core.Rpc(data.rpc));
            }
            console.log(JSON.stringify(out));
            """,
            {"cases": cases, "rpc": self.rpc},
        )
        ours = {}
        for name, doc in cases.items():
            ours[name] = report_json(self.harness.verify(loads(json.dumps(doc))))
            assert_same_reports(theirs[name], ours[name], name)
        return ours


@pytest.fixture
def served(tracenode: TraceNodeHarness) -> Iterator[Served]:
    """The node, and a JSON-RPC endpoint onto its chain (as its /rpc answers)."""
    handler = type("Rpc", (_JsonRpc,), {"w3": tracenode.node.w3, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(tracenode, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _check(report: Doc, where: str) -> tuple[str, str]:
    found: tuple[str, str] = _checks(report)[where]
    return found


LOT = "https://id.gs1.org/01/00614141000012/10/LOT-DUP"


def test_a_repeated_event_cannot_stand_in_for_one_left_out(served: Served) -> None:
    """The excursion reading replaced by a second copy of the good one: the count of
    events and the hash chain alone would not tell (observations move no head, and the
    copy names the same previous event). Both verifiers fail the copy (``hash-chain``) and
    count it once (``complete``); a copy added besides fails the same two checks."""
    h = served.harness
    h.submit("farm", Action.COMMISSION, LOT, product="milk", quantity=10)
    h.submit("farm", Action.OBSERVE, LOT, payload={"temp": 4, "ok": True})
    h.submit("farm", Action.OBSERVE, LOT, payload={"temp": 31, "excursion": True})
    h.submit("farm", Action.SHIP, LOT, to="processor")
    h.submit("processor", Action.RECEIVE, LOT)
    h.commit()
    honest: Doc = h.export(LOT).as_json()
    ok, excursion = (i for i, e in enumerate(honest["events"]) if e["event"]["action"] == 2)
    replaced = copy.deepcopy(honest)
    replaced["events"][excursion] = copy.deepcopy(honest["events"][ok])
    added = copy.deepcopy(honest)
    added["events"].insert(excursion, copy.deepcopy(honest["events"][ok]))
    shipped = copy.deepcopy(honest)  # a lifecycle event repeated at the end
    shipped["events"].append(copy.deepcopy(honest["events"][3]))

    reports = served.reports(
        {"honest": honest, "replaced": replaced, "added": added, "shipped": shipped}
    )

    assert reports["honest"]["outcome"] == "pass", reports["honest"]["failures"]
    repeat = f"the event repeats event #{ok}: a bundle holds each event once"
    batch = reports["replaced"]["batches"][0]["batchId"]
    assert _check(reports["replaced"], f"event #{excursion} hash-chain") == ("fail", repeat)
    assert _check(reports["replaced"], f"batch {batch} complete") == (
        "fail",
        "incomplete: the state anchored at block "
        f"{honest['batches'][0]['state']['blockNumber']} counts 5 events of this batch, the "
        f"bundle holds 4 distinct ones (event #{excursion} repeats #{ok})",
    )
    assert _check(reports["added"], f"event #{excursion} hash-chain") == ("fail", repeat)
    assert _check(reports["added"], f"batch {batch} complete")[0] == "fail"
    assert _check(reports["shipped"], "event #5 hash-chain") == (
        "fail",
        "the event repeats event #3: a bundle holds each event once",
    )
    for name in ("replaced", "added", "shipped"):
        failed = {line.split(": ")[1] for line in reports[name]["failures"]}
        assert failed == {"hash-chain", "complete"}, (name, reports[name]["failures"])


PALLET_LOT = "https://id.gs1.org/01/00614141000012/10/PAL-LOT-{}"
PALLET = "88.456.1/PALLET-X"


def test_a_pallet_bundle_cannot_leave_out_a_packed_lot(served: Served) -> None:
    """Two lots packed on a pallet, one recalled since: the pallet's bundle without the
    recalled lot (its batch, link and events gone) fails ``lineage`` in both verifiers, and
    one that keeps the lot and drops only its link says which link it lacks; the honest
    bundle passes."""
    h = served.harness
    for n in (1, 2):
        h.submit("farm", Action.COMMISSION, PALLET_LOT.format(n), product="milk", quantity=10)
    h.submit("farm", Action.AGGREGATE, PALLET, inputs=[PALLET_LOT.format(1), PALLET_LOT.format(2)])
    h.commit()
    h.submit("farm", Action.RECALL, PALLET_LOT.format(2))
    h.commit()
    honest: Doc = h.export(PALLET).as_json()
    recalled = "0x" + h.batch_id(PALLET_LOT.format(2)).hex()
    packing = next(e["eventHash"] for e in honest["events"] if e["event"]["action"] == 6)
    hidden = copy.deepcopy(honest)
    hidden["batches"] = [b for b in honest["batches"] if b["batchId"] != recalled]
    hidden["lineage"] = [link for link in honest["lineage"] if link["parent"] != recalled]
    hidden["events"] = [
        e
        for e in honest["events"]
        if e["event"]["action"] == 6 or e["event"]["batchId"] != recalled
    ]
    unlinked = copy.deepcopy(honest)
    unlinked["lineage"] = [link for link in honest["lineage"] if link["parent"] != recalled]

    reports = served.reports({"honest": honest, "hidden": hidden, "unlinked": unlinked})

    assert reports["honest"]["outcome"] == "pass", reports["honest"]["failures"]
    pallet = honest["subject"]
    assert _check(reports["hidden"], "bundle lineage") == (
        "fail",
        f"packing {packing} put 1 batch(es) missing from the bundle on pallet {pallet}",
    )
    assert reports["hidden"]["failures"] == [
        f"bundle: lineage: packing {packing} put 1 batch(es) missing from the bundle on "
        f"pallet {pallet}"
    ]
    lineage = _check(reports["unlinked"], "bundle lineage")
    assert lineage[0] == "fail"
    assert f"the lineage lacks {recalled} -> {pallet}, made by event {packing}" in lineage[1]


def test_an_event_of_another_batch_is_not_part_of_a_bundle(served: Served) -> None:
    """Lot B's certificate spliced into lot A's bundle: real, signed and anchored, but of
    no batch of the bundle. Both verifiers fail it (``hash-chain``), and nothing else."""
    h = served.harness
    a, b = (f"https://id.gs1.org/01/00614141000012/10/LOT-{x}" for x in "AB")
    h.submit("farm", Action.COMMISSION, a, product="milk", quantity=10)
    h.submit("farm", Action.COMMISSION, b, product="milk", quantity=10)
    h.submit("regulator", Action.OBSERVE, b, payload={"certificate": "organic"})
    h.commit()
    honest: Doc = h.export(a).as_json()
    spliced = copy.deepcopy(honest)
    spliced["events"] += [e for e in h.export(b).as_json()["events"] if e["event"]["action"] == 2]

    reports = served.reports({"honest": honest, "spliced": spliced})

    assert reports["honest"]["outcome"] == "pass", reports["honest"]["failures"]
    assert _check(reports["spliced"], "event #1 hash-chain") == (
        "fail",
        "the event names no batch of the bundle: a bundle holds only its batches' events",
    )
    assert {line.split(": ")[1] for line in reports["spliced"]["failures"]} == {"hash-chain"}


def test_both_verifiers_read_one_spelling_of_numbers_and_hex(served: Served) -> None:
    """A bundle carries every uint256 and uint64 as a decimal string and its hex with a
    lowercase 0x (the schema, as the node exports it): a JSON number beyond 2^53 (no exact
    JavaScript value), a whole JSON float (which JavaScript cannot tell from an integer)
    or an 0X prefix is refused by both verifiers and the schema alike, naming the field;
    an action, a JSON integer, reads the same however JSON spells it."""
    h = served.harness
    h.submit("farm", Action.COMMISSION, LOT, product="milk", quantity=2**53 + 1)
    h.commit()
    honest: Doc = h.export(LOT).as_json()
    Draft202012Validator(schema()).validate(honest)  # the export follows the rule

    def spelled(path: tuple[str | int, ...], value: Any) -> Doc:
        doc = copy.deepcopy(honest)
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = value(parent[path[-1]])
        return doc

    refused = {
        "/events/0/event/quantity": spelled(("events", 0, "event", "quantity"), int),
        "/events/0/event/nonce": spelled(("events", 0, "event", "nonce"), int),
        "/events/0/anchor/blockNumber": spelled(("events", 0, "anchor", "blockNumber"), float),
        "/chain/chainId": spelled(("chain", "chainId"), int),
        "/batches/0/state/count": spelled(("batches", 0, "state", "count"), float),
        "/events/0/event/location": spelled(
            ("events", 0, "event", "location"), lambda v: "0X" + v[2:]
        ),
        "/events/0/event/counterparty": spelled(
            ("events", 0, "event", "counterparty"), lambda v: "0X" + v[2:]
        ),
    }
    accepted = spelled(("events", 0, "event", "action"), float)
    theirs = node_js(
        """
        console.log(JSON.stringify(Object.fromEntries(Object.entries(data).map(([name, doc]) => {
          try { core.parseBundle(doc); return [name, ["accepted", ""]]; }
          catch (error) { return [name, [error.constructor.name, error.message]]; }
        }))));
        """,
        {**refused, "accepted": accepted},
    )

    for where, doc in refused.items():
        assert theirs[where][0] == "BundleError", where
        assert theirs[where][1].startswith(where + ":"), theirs[where]
        with pytest.raises(InvalidBundleError) as refusal:
            loads(json.dumps(doc))
        assert str(refusal.value).startswith(where), (where, str(refusal.value))
        assert not Draft202012Validator(schema()).is_valid(doc), where
    assert theirs["accepted"] == ["accepted", ""]
    assert '"action": 1.0' in json.dumps(accepted)
    assert Draft202012Validator(schema()).is_valid(accepted)
    reports = served.reports({"action 1.0": accepted})
    assert reports["action 1.0"]["outcome"] == "pass", reports["action 1.0"]["failures"]


FOREIGN_LOT = "https://id.gs1.org/01/00614141000012/10/FOREIGN-{}"


def test_a_packing_onto_a_lot_fails_in_both_verifiers(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node without the pallet rule (node.events.rules, ``pallet-is-batch``) let the
    carrier pack its lot onto the farm's lot X, and onto the farm's lot Y before the farm
    made it: X's bundle holds the carrier's packing, Y's starts with it. Both verifiers fail
    the packing onto X, and Y's COMMISSION after a packing named it a pallet (``hash-chain``),
    in the same words."""
    import node.ingest.service as ingest

    h = served.harness
    x, y, r = (FOREIGN_LOT.format(n) for n in ("X", "Y", "R"))
    h.submit("farm", Action.COMMISSION, x, product="milk", quantity=10)
    h.submit("farm", Action.COMMISSION, r, product="milk", quantity=10)
    h.submit("farm", Action.SHIP, r, to="carrier")
    h.submit("carrier", Action.RECEIVE, r)

    def unchecked(
        event: Any,
        event_hash: bytes,
        actor: Any,
        batches: Any,
        receiver: Any,
        *hooks: Any,
        record: bool = False,
    ) -> Any:
        """The rules as they were: the pallet not judged, nor a lot made on a pallet's id."""
        pallet = batches.pop(event.batch_id, None) if event.action in (6, 7) else None
        try:
            return apply(event, event_hash, actor, batches, receiver, record=record)
        finally:
            if pallet is not None:
                batches[event.batch_id] = pallet

    monkeypatch.setattr(ingest, "apply", unchecked)
    h.submit("carrier", Action.AGGREGATE, x, inputs=[r])
    h.submit("carrier", Action.AGGREGATE, y, inputs=[r])
    h.submit("farm", Action.COMMISSION, y, product="milk", quantity=10)
    monkeypatch.undo()
    h.commit()
    bundles = {"x": h.export(x).as_json(), "y": h.export(y).as_json()}

    reports = served.reports(bundles)

    words = "a lot or an item is packed, never packed onto"
    x_id, y_id = (bundles[n]["subject"] for n in ("x", "y"))
    packing = next(i for i, e in enumerate(bundles["x"]["events"]) if e["event"]["action"] == 6)
    assert _check(reports["x"], f"event #{packing} hash-chain") == (
        "fail",
        f"pallet {x_id} is a custody batch: {words}",
    )
    made = next(
        i
        for i, e in enumerate(bundles["y"]["events"])
        if e["event"]["action"] == 1 and e["event"]["batchId"] == y_id
    )
    assert _check(reports["y"], f"event #{made} hash-chain") == (
        "fail",
        f"batch {y_id} was a pallet before it was made: {words}",
    )
    for name in ("x", "y"):
        assert reports[name]["outcome"] == "fail"
