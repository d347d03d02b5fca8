"""Messages beyond alerts, and subscriptions, against a real node and real HTTP receivers:
``event.anchored`` and ``batch.recalled`` written to the outbox when a window is confirmed,
each endpoint getting what its types, batches, identifier prefixes and least severity
select, signatures checked with the standardwebhooks package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from node.events.identifiers import parse_identifier
from node.events.typed_data import Action
from node.monitor.service import Monitor
from node.store.models import AlertSeverity
from node.store.records import EndpointRecord
from node.testing.chains import cheese_from_milk
from node.testing.harness import TraceNodeHarness
from node.webhooks.delivery import Deliverer, DeliveryPolicy
from node.webhooks.messages import new_secret
from node.webhooks.subscriptions import subscription
from tests.webhook_receiver import Receiver, verify

GTIN = "09506000134352"  # company prefix 9506000, the farm's
MILK = f"https://id.gs1.org/01/{GTIN}/10/WH-MILK"
# Made by the processor, so under its company prefix 0614142 (only a prefix's holder
# creates lots under it); the handle under the farm's 88.456.
CHEESE = "https://id.gs1.org/01/00614142000011/10/WH-CHEESE"
HANDLE_LOT = "88.456/lot-7"
POLICY = DeliveryPolicy(allow_loopback=True, read_timeout=2.0, connect_timeout=2.0)


def subscribe(
    h: TraceNodeHarness,
    url: str,
    *types: str,
    batches: tuple[str, ...] = (),
    prefixes: tuple[str, ...] = (),
    min_severity: str = "low",
) -> EndpointRecord:
    wanted = subscription(
        types=types, min_severity=min_severity, batches=batches, prefixes=prefixes
    )
    store = h.node.store
    with store.write() as conn:
        return store.webhooks.add_endpoint(
            conn,
            url=url,
            subscription=wanted,
            label="",
            secret=new_secret(),
            now=0,
        )


@contextmanager
def receivers(n: int) -> Iterator[list[tuple[Receiver, str]]]:
    with ExitStack() as stack:
        made = [Receiver() for _ in range(n)]
        yield [(r, stack.enter_context(r.serving())) for r in made]


def deliver(h: TraceNodeHarness) -> None:
    deliverer = Deliverer(h.node.store, POLICY)
    try:
        while deliverer.deliver_due():
            pass
    finally:
        deliverer.close()


def test_a_confirmed_window_tells_each_subscriber_of_its_batches_events(
    tracenode: TraceNodeHarness,
) -> None:
    h = tracenode
    with receivers(4) as [(by_batch, u1), (by_company, u2), (by_handle, u3), (alerts_only, u4)]:
        milk_hook = subscribe(h, u1, "event.anchored", batches=(MILK,))
        company_hook = subscribe(h, u2, "event.anchored", prefixes=("9506000", "0614142"))
        subscribe(h, u3, "event.anchored", prefixes=("88.456",))
        subscribe(h, u4, "alert.raised")
        cheese_from_milk(h, MILK, CHEESE)
        h.submit("farm", Action.COMMISSION, HANDLE_LOT, product="x", quantity=1)
        (window,) = h.commit()
        deliver(h)

    milk = "0x" + parse_identifier(MILK).batch_id.hex()
    cheese = "0x" + parse_identifier(CHEESE).batch_id.hex()
    (message,) = by_batch.got
    assert verify(message, milk_hook.secret)
    body = message.body
    assert body["type"] == "event.anchored"
    assert (body["data"]["batchId"], body["data"]["identifier"]) == (milk, MILK)
    assert [e["action"] for e in body["data"]["events"]] == [
        "commission",
        "ship",
        "receive",
        "transform",
    ]
    place = body["data"]["window"]
    assert place["root"] == "0x" + window.root.hex()
    assert place["blockNumber"] == str(window.block_number)  # a decimal string
    assert place["txHash"] == "0x" + window.tx_hash.hex()
    assert all(isinstance(e["anchorSeq"], str) for e in body["data"]["events"])
    # The company prefixes take both GS1 lots, not the handle; the handle prefix takes it.
    assert sorted(m.body["data"]["batchId"] for m in by_company.got) == sorted([milk, cheese])
    assert all(verify(m, company_hook.secret) for m in by_company.got)
    assert [m.body["data"]["identifier"] for m in by_handle.got] == [HANDLE_LOT]
    assert alerts_only.got == []


def test_a_recall_tells_the_subscribers_of_the_lot_and_of_everything_made_from_it(
    tracenode: TraceNodeHarness,
) -> None:
    h = tracenode
    with receivers(3) as [(cheese_watch, u1), (other_product, u2), (anchored_only, u3)]:
        subscribe(h, u1, "batch.recalled", batches=(CHEESE,))
        subscribe(h, u2, "batch.recalled", prefixes=("https://id.gs1.org/01/09506000134369",))
        subscribe(h, u3, "event.anchored", batches=(CHEESE,))
        cheese_from_milk(h, MILK, CHEESE)
        h.commit()
        recall = h.submit("regulator", Action.RECALL, MILK)
        h.commit()
        deliver(h)

    (message,) = cheese_watch.got
    data = message.body["data"]
    assert message.body["type"] == "batch.recalled"
    assert (data["identifier"], data["eventHash"]) == (MILK, "0x" + recall.hex())
    (affected,) = data["affected"]
    assert affected["identifier"] == CHEESE
    assert affected["madeFrom"] == "0x" + parse_identifier(MILK).batch_id.hex()
    assert data["window"]["blockNumber"].isdigit()
    assert data["eventTime"].isdigit()  # a uint64: a decimal string
    assert other_product.got == []
    # The cheese's own event (its TRANSFORM) was anchored in the first window only.
    assert [m.body["type"] for m in anchored_only.got] == ["event.anchored"]


def test_alerts_reach_the_endpoints_whose_severity_and_prefix_select_them(
    tracenode: TraceNodeHarness,
) -> None:
    h = tracenode
    with receivers(3) as [(critical_gs1, u1), (critical_handles, u2), (high_any, u3)]:
        subscribe(h, u1, "alert.raised", prefixes=("0614142",), min_severity="critical")
        subscribe(h, u2, "alert.raised", prefixes=("88.456",), min_severity="critical")
        subscribe(h, u3, "alert.raised", min_severity="high")
        cheese_from_milk(h, MILK, CHEESE)
        h.submit("regulator", Action.RECALL, MILK)
        h.submit("processor", Action.SHIP, CHEESE, to="shop")  # a recall breach: critical
        h.commit()
        with h.node.store.read() as conn:  # nobody subscribes to anchors or recalls
            before_the_cycle = h.node.store.webhooks.log(conn)
        report = Monitor.of(h.node).cycle()
        deliver(h)

    assert before_the_cycle == []
    (breach,) = [f for f in report.findings if f.kind == "recall-breach"]
    assert breach.severity is AlertSeverity.CRITICAL
    assert [m.body["data"]["kind"] for m in critical_gs1.got] == ["recall-breach"]
    assert critical_handles.got == []
    assert "recall-breach" in [m.body["data"]["kind"] for m in high_any.got]
