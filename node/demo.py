"""The demo supply chain: farm → processor (a transformation) → cold-chain logistics
with temperature readings → retailer, and one recall — signed by five participants,
checked, stored, committed on-chain and anchored with proofs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from node.commit.worker import CommitWorker
from node.context import Node
from node.events.identifiers import parse_identifier
from node.events.signatures import address_of
from node.events.typed_data import Action, Role
from node.ingest.compose import compose_event
from node.keys.keystore import create_keystore, load_keystore
from node.runtime import Progress, quiet

PARTIES: tuple[tuple[str, str, Role, str], ...] = (
    ("farm", "Green Valley Farm", Role.PRODUCER, "9506000"),
    ("dairy", "Alpine Dairy Processing", Role.PROCESSOR, "0614142"),
    ("carrier", "ColdChain Logistics", Role.LOGISTICS, ""),
    ("shop", "Corner Grocer", Role.RETAILER, "88.123.45"),
    ("authority", "Food Safety Authority", Role.REGULATOR, ""),
)
#: Where each participant signs from (GS1 SGLNs of their sites; the carrier's reefer truck).
SITES: dict[str, str] = {
    "farm": "urn:epc:id:sgln:0614141.00001.0",
    "dairy": "urn:epc:id:sgln:0614142.00001.0",
    "carrier": "urn:epc:id:sgln:0614142.00009.7",
    "shop": "urn:epc:id:sgln:0614141.00042.0",
    "authority": "urn:epc:id:sgln:0614141.00099.0",
}
MILK_GTIN = "09506000134352"
CHEESE_GTIN = "00614142000011"


@dataclass
class DemoEvent:
    label: str
    action: Action
    event_hash: bytes
    batch: str


@dataclass
class DemoReport:
    events: list[DemoEvent] = field(default_factory=list)
    windows: int = 0
    anchored: int = 0
    rejected: int = 0
    lots: dict[str, str] = field(default_factory=dict)


def run_demo(node: Node, password: str, progress: Progress = quiet) -> DemoReport:
    """Register the demo participants (once), run one supply chain, and commit it.

    The node key is opened first: a wrong password fails before anything is written."""
    progress("opening the node key")
    node_key = node.node_key(password)
    keys = _participants(node, password, progress)
    report = DemoReport()
    run = secrets.token_hex(3).upper()
    milk = [f"https://id.gs1.org/01/{MILK_GTIN}/10/MILK-{run}-{i}" for i in (1, 2)]
    cheese = f"https://id.gs1.org/01/{CHEESE_GTIN}/10/CHEESE-{run}"
    report.lots = {"milk-1": milk[0], "milk-2": milk[1], "cheese": cheese}
    start = int(time.time() * 1000) - 6 * 3_600_000
    clock = iter(range(start, start + 10**9, 600_000))

    story = _Story(node, keys, report, clock)
    emit = story.emit
    to = story.to

    progress("signing, checking and storing the supply chain's events")
    farm_site = "urn:epc:id:sgln:0614141.00001.0"
    for lot in milk:
        emit(
            "milking",
            "farm",
            Action.COMMISSION,
            lot,
            product=f"https://id.gs1.org/01/{MILK_GTIN}",
            quantity=1200,
            location=farm_site,
            payload={"bizStep": "commissioning", "quantity": {"value": 1200, "uom": "LTR"}},
        )
    emit(
        "organic certificate",
        "farm",
        Action.OBSERVE,
        milk[0],
        location=farm_site,
        payload={
            "certificationInfo": {
                "certificationStandard": "EU organic 2018/848",
                "certificationAgency": "Control body DE-ÖKO-006",
                "certificationIdentification": f"CERT-{run}",
            }
        },
    )
    for lot in milk:
        emit("to the dairy", "farm", Action.SHIP, lot, counterparty=to("dairy"))
        emit("at the dairy", "dairy", Action.RECEIVE, lot)
    emit(
        "cheese making",
        "dairy",
        Action.TRANSFORM,
        inputs=milk,
        outputs=[cheese],
        product=f"https://id.gs1.org/01/{CHEESE_GTIN}",
        quantity=240,
        location="urn:epc:id:sgln:0614142.00001.0",
        payload={
            "bizStep": "transforming",
            "outputQuantity": {"value": 240, "uom": "KGM"},
            # instance/lot master data: the buyer page shades a chilled product's safe range
            "ilmd": {"tn:storage": "chilled"},
        },
    )
    emit("to the carrier", "dairy", Action.SHIP, cheese, counterparty=to("carrier"))
    emit("picked up", "carrier", Action.RECEIVE, cheese)
    for hour, celsius in enumerate((3.8, 4.1, 4.4)):
        emit(
            "reefer temperature",
            "carrier",
            Action.OBSERVE,
            cheese,
            payload={
                "sensorElementList": [
                    {
                        "sensorReport": [
                            {
                                "type": "gs1:Temperature",
                                "value": celsius,
                                "uom": "CEL",
                                "time": f"+{hour}h",
                            }
                        ]
                    }
                ]
            },
        )
    emit("to the shop", "carrier", Action.SHIP, cheese, counterparty=to("shop"))
    emit("on the shelf", "shop", Action.RECEIVE, cheese)
    emit(
        "recall: residue found",
        "authority",
        Action.RECALL,
        milk[1],
        payload={"reason": "antibiotic residue above limit in a retained sample"},
    )

    progress("committing on-chain: the events relayed and their Merkle root, per window")
    story.commit(node_key)
    return report


@dataclass
class _Story:
    """Signs, checks and stores the demo's events on one node, and commits them."""

    node: Node
    keys: dict[str, bytes]
    report: DemoReport
    clock: Iterator[int]

    def emit(
        self,
        label: str,
        who: str,
        action: Action,
        batch: str | None = None,
        heads: dict[bytes, bytes] | None = None,
        **kw: Any,
    ) -> bytes:
        # Every event says where it happened: signed as the location's hash, and readable
        # in the payload (EPCIS's bizLocation), which the buyer page shows.
        site = kw.pop("location", None) or SITES[who]
        kw["location"] = site
        kw["payload"] = {**(kw.get("payload") or {}), "bizLocation": {"id": site}}
        signed = compose_event(
            store=self.node.store,
            domain=self.node.domain,
            private_key=self.keys[who],
            action=action,
            batch=batch,
            event_time=next(self.clock),
            heads=heads,
            **kw,
        )
        result = self.node.ingest.submit(signed)
        self.report.events.append(
            DemoEvent(label, action, result.event_hash, batch or kw["outputs"][0])
        )
        return result.event_hash

    def to(self, who: str) -> bytes:
        return address_of(self.keys[who])

    def commit(self, node_key: LocalAccount) -> None:
        """Commit every stored event on-chain, window by window."""
        worker = CommitWorker(
            store=self.node.store,
            client=self.node.commit_client(),
            node=node_key,
        )
        while (result := worker.commit_once()) is not None:
            self.report.windows += 1
            self.report.anchored += result.anchored
            self.report.rejected += result.rejected


def run_network_demo(
    first: Node, second: Node, password: str, progress: Progress = quiet
) -> DemoReport:
    """The demo's story across two nodes of one chain (``tracenode demo --network``): the
    farm and the dairy on ``first`` (the milk commissioned, shipped to the dairy and made
    into cheese), the retailer on ``second``; the dairy ships the cheese to the retailer
    through ``first`` and the retailer receives it through ``second``, each node relaying
    and anchoring its own participants' events (docs/network.md)."""
    progress("opening the node keys")
    keys = {first: first.node_key(password), second: second.node_key(password)}
    farm_dairy = _participants(first, password, progress, ("farm", "dairy"))
    retailer = _participants(second, password, progress, ("shop",))
    first.sync_participants()  # the retailer, registered by the second node's registrar
    report = DemoReport()
    run = secrets.token_hex(3).upper()
    milk = f"https://id.gs1.org/01/{MILK_GTIN}/10/MILK-{run}"
    cheese = f"https://id.gs1.org/01/{CHEESE_GTIN}/10/CHEESE-{run}"
    report.lots = {"milk": milk, "cheese": cheese}
    start = int(time.time() * 1000) - 6 * 3_600_000
    clock = iter(range(start, start + 10**9, 600_000))
    story = _Story(first, farm_dairy | {"shop": retailer["shop"]}, report, clock)

    progress("node 1: the farm's milk, the dairy's cheese, shipped to the retailer")
    story.emit(
        "milking",
        "farm",
        Action.COMMISSION,
        milk,
        product=f"https://id.gs1.org/01/{MILK_GTIN}",
        quantity=1200,
        payload={"bizStep": "commissioning", "quantity": {"value": 1200, "uom": "LTR"}},
    )
    story.emit("to the dairy", "farm", Action.SHIP, milk, counterparty=story.to("dairy"))
    story.emit("at the dairy", "dairy", Action.RECEIVE, milk)
    story.emit(
        "cheese making",
        "dairy",
        Action.TRANSFORM,
        inputs=[milk],
        outputs=[cheese],
        product=f"https://id.gs1.org/01/{CHEESE_GTIN}",
        quantity=240,
        payload={"bizStep": "transforming", "outputQuantity": {"value": 240, "uom": "KGM"}},
    )
    shipped = story.emit(
        "to the retailer (node 2)", "dairy", Action.SHIP, cheese, counterparty=story.to("shop")
    )
    progress("node 1 commits its events on-chain")
    story.commit(keys[first])

    progress("node 2: the retailer receives the cheese, as the chain says it was shipped")
    there = _Story(second, retailer, report, clock)
    there.emit(
        "on the shelf (node 2)",
        "shop",
        Action.RECEIVE,
        cheese,
        heads={parse_identifier(cheese).batch_id: shipped},
    )
    progress("node 2 commits its events on-chain")
    there.commit(keys[second])
    return report


def _participants(
    node: Node, password: str, progress: Progress, slugs: tuple[str, ...] | None = None
) -> dict[str, bytes]:
    """The demo's participant keys (``slugs``' only, if given), registering each
    participant the first time (by ``node``'s registrar)."""
    node.sync_participants()
    with node.store.read() as conn:
        registered = {row.name for row in node.store.participants.all(conn)}
    admin = None
    keys: dict[str, bytes] = {}
    for slug, name, roles, prefix in PARTIES:
        if slugs is not None and slug not in slugs:
            continue
        path = node.data_dir / "keystore" / "participants" / f"demo-{slug}.json"
        if path.exists():
            progress(f"opening {name}'s key")
            account = load_keystore(path, password)
        else:
            progress(f"creating {name}'s key (encrypted)")
            account = create_keystore(path, password)
        keys[slug] = bytes(account.key)
        if name not in registered:
            progress(f"registering {name} on-chain")
            admin = admin or node.admin(password)
            node.registry.register(
                admin,
                key=to_checksum_address(account.address),
                name=name,
                roles=roles,
                prefix=prefix,
            )
    node.sync_participants()
    return keys
