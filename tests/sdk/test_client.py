"""The SDK against a real gateway: uvicorn over a harness node with its commit worker
running, reached directly or through a real proxy that drops connections and answers 503
on purpose. Nothing of the SDK is mocked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import ApiSettings
from node.events.identifiers import parse_identifier
from node.events.typed_data import Action
from node.exceptions import (
    EventNotFoundError,
    GatewayMismatchError,
    GatewayUnavailableError,
    InvalidBundleError,
    NotCustodianError,
    OutboxError,
    ProofTimeoutError,
    SignerSuspendedError,
)
from node.proofs.verify import Outcome
from node.sdk import Client, EventSpec, Retry, RetryPolicy
from tests.sdk.conftest import FAST, Gateway, GatewayFactory, Proxy

GTIN = "09506000134352"
QUICK = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)


def lot(name: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/10/{name}"


def client_for(gateway: Gateway, who: str, outbox: Path | None, **options: Any) -> Client:
    return Client(
        options.pop("url", gateway.url),
        api_key=gateway.tokens[who],
        key=gateway.harness.keys[who],
        outbox=outbox,
        **options,
    )


def test_from_nothing_to_a_verified_proof(gateway: Gateway, tmp_path: Path) -> None:
    with client_for(gateway, "farm", tmp_path / "outbox") as client:
        delivery = client.submit(Action.COMMISSION, lot("SDK-1"), product="milk", quantity=500)
        proof = client.wait_for_proof(delivery.event_hash, timeout=60)
        bundle = client.bundle(lot("SDK-1"))
        report = client.verify(bundle)  # through the gateway's own /rpc
        provenance = client.provenance(lot("SDK-1"))

    assert delivery.outcome == "accepted"
    assert proof.event_hash == delivery.event_hash
    assert proof.chain_id == client.info.chain_id
    assert [e.event_hash.hex() for e in bundle.events] == [delivery.event_hash[2:]]
    assert report.outcome is Outcome.PASS, report.failures()
    assert provenance["outcome"] == "pass"


def test_a_bundle_of_another_batch_than_the_one_asked_for_is_refused(
    gateway: Gateway, tmp_path: Path
) -> None:
    # It would verify, as the other batch's proof: the page and the SDK once showed
    # "pass" for a lot whose bundle a gateway had swapped.
    with client_for(gateway, "farm", tmp_path / "outbox") as client:
        for name in ("SWAP-A", "SWAP-B"):
            done = client.submit(Action.COMMISSION, lot(name), product="milk", quantity=5)
            client.wait_for_proof(done.event_hash, timeout=60)
        other = httpx.get(f"{gateway.url}/v1/batches/{_id(lot('SWAP-B'))}/bundle").json()
    asked = f"/v1/batches/{_id(lot('SWAP-A'))}/bundle"
    proxy = Proxy(gateway.url, rewrite={asked: lambda _answer: other})
    try:
        with client_for(gateway, "farm", tmp_path / "outbox", url=proxy.url) as client:
            with pytest.raises(InvalidBundleError, match="the bundle of batch") as raised:
                client.bundle(lot("SWAP-A"))
            held = client.bundle(lot("SWAP-B"))
    finally:
        proxy.close()

    assert raised.value.field == "/subject"
    assert "0x" + held.subject.hex() == _id(lot("SWAP-B"))


def _id(identifier: str) -> str:
    return "0x" + bytes(parse_identifier(identifier).batch_id).hex()


def test_lots_are_packed_onto_an_sscc_pallet_and_unpacked(gateway: Gateway, tmp_path: Path) -> None:
    # The gateway needs a pallet named (docs/events.md, "Pallets"); an SSCC is no batch,
    # so the SDK once had only the pallet's bare id to give, which the gateway refuses.
    sscc = "https://id.gs1.org/00/106141411234567897"
    with client_for(gateway, "farm", tmp_path / "outbox") as client:
        client.submit(Action.COMMISSION, lot("PACKED-1"), product="milk", quantity=5)
        packed = client.submit(Action.AGGREGATE, sscc, inputs=[lot("PACKED-1")])
        unpacked = client.submit(Action.DISAGGREGATE, sscc, inputs=[lot("PACKED-1")])

    assert (packed.outcome, unpacked.outcome) == ("accepted", "accepted")


def test_a_batch_of_many_is_sent_in_lists_within_the_gateways_limit(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gateway = make_gateway(FAST.model_copy(update={"max_events_per_request": 40}))
    proxy = Proxy(gateway.url)
    lots = [lot(f"MANY-{i}") for i in range(50)]
    processor = gateway.harness.keys["processor"].address
    try:
        with client_for(gateway, "farm", tmp_path / "farm", url=proxy.url) as farm:
            shipped = farm.submit_many(
                [EventSpec("commission", x, product="milk", quantity=10) for x in lots]
                + [EventSpec("ship", x, to=processor) for x in lots]
            )
        with client_for(gateway, "processor", tmp_path / "processor", url=proxy.url) as client:
            received = client.submit_many([EventSpec("receive", x) for x in lots])
            proof = client.wait_for_proof(received[-1].event_hash)
            state = client.batch(lots[-1])
        sizes = [seen.items for seen in proxy.posts()]
    finally:
        proxy.close()

    assert [d.outcome for d in shipped + received] == ["accepted"] * 150
    assert sizes == [40, 40, 20, 40, 10]  # 100 events from the farm, 50 from the processor
    assert gateway.event_rows() == 150
    assert proof.event_hash == received[-1].event_hash
    assert state["status"] == "ACTIVE"
    assert state["custodian"]["address"] == processor
    assert state["head"] == received[-1].event_hash


def test_offline_events_wait_in_the_outbox_and_are_accepted_once_when_the_gateway_is_back(
    gateway: Gateway, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    processor = gateway.harness.keys["processor"].address
    with client_for(gateway, "farm", outbox) as client:
        first = client.submit("commission", lot("OFF-1"), product="milk", quantity=5)
    gateway.stop()
    with client_for(gateway, "farm", outbox, retry=QUICK) as client:
        queued = [
            client.submit("observe", lot("OFF-1"), payload={"temperature": 4.5}),
            client.submit("ship", lot("OFF-1"), to=processor),  # extends the commission
            client.submit("commission", lot("OFF-2"), product="milk", quantity=7),
            client.submit("ship", lot("OFF-2"), to=processor),  # extends a waiting event
        ]
        offline = client.flush()
    with (
        client_for(gateway, "farm", tmp_path / "fresh", retry=QUICK) as fresh,
        pytest.raises(GatewayUnavailableError),  # a new outbox knows nothing to sign with
    ):
        fresh.submit("commission", lot("OFF-3"), product="milk", quantity=1)
    stored_before = gateway.event_rows()
    gateway.start()
    with client_for(gateway, "farm", outbox) as client:  # a later run of the supplier
        back = client.flush()
        again = client.flush()
        states = [client.event(d.event_hash)["status"] for d in queued]
        batches = [client.batch(lot("OFF-1")), client.batch(lot("OFF-2"))]
        nonces = [client.event(d.event_hash)["event"]["nonce"] for d in [first, *queued]]

    assert [d.outcome for d in queued] == ["queued"] * 4
    assert offline.error is not None
    assert offline.pending == 4
    assert stored_before == 1
    assert [d.outcome for d in back.deliveries] == ["accepted"] * 4
    assert [d.event_hash for d in back.deliveries] == [d.event_hash for d in queued]
    assert back.pending == 0
    assert again.deliveries == []
    assert gateway.event_rows() == 5  # each event exactly once
    assert set(states) <= {"accepted", "anchored"}
    assert [b["head"] for b in batches] == [queued[1].event_hash, queued[3].event_hash]
    assert [b["status"] for b in batches] == ["IN_TRANSIT", "IN_TRANSIT"]
    assert len(set(nonces)) == 5


def test_a_gateway_failing_mid_request_is_retried_without_duplicates(
    gateway: Gateway, proxy: Proxy, tmp_path: Path
) -> None:
    # The first list reaches the gateway and is stored, but the answer is lost; then a 503,
    # then a connection reset before forwarding; then the answer comes through.
    proxy.faults["POST /v1/events"] = ["drop", "503", "reset"]
    retries: list[Retry] = []
    with client_for(
        gateway,
        "farm",
        tmp_path / "outbox",
        url=proxy.url,
        on_retry=retries.append,
        retry=RetryPolicy(attempts=4, base_delay=0.05),
    ) as client:
        deliveries = client.submit_many(
            [
                EventSpec("commission", lot(f"DROP-{i}"), product="milk", quantity=1)
                for i in range(5)
            ]
        )
        pending = client.outbox.count()

    assert [p.status for p in proxy.posts()] == [None, 503, None, 202]
    assert [r.status for r in retries] == [None, 503, None]
    assert [d.outcome for d in deliveries] == ["duplicate"] * 5  # stored by the first try
    assert pending == 0
    assert gateway.event_rows() == 5


#: A lot of the processor's (under its own company prefix, 0614142).
THEIRS = "https://id.gs1.org/01/00614142000011/10/THEIRS"


def test_a_refused_event_is_kept_aside_with_its_problem(gateway: Gateway, tmp_path: Path) -> None:
    gateway.harness.submit("processor", Action.COMMISSION, THEIRS, product="x", quantity=1)
    processor = gateway.harness.keys["processor"].address
    with client_for(gateway, "farm", tmp_path / "outbox") as client:
        client.submit("commission", lot("OURS"), product="milk", quantity=3)
        with pytest.raises(NotCustodianError):
            client.submit("ship", THEIRS, to=processor)
        mixed = client.submit_many(
            [EventSpec("observe", lot("OURS")), EventSpec("destroy", THEIRS)]
        )
        later = client.submit("ship", lot("OURS"), to=processor)
        rejected = client.outbox.rejected()
        waiting = client.outbox.count()
        client.outbox.requeue(rejected[0].seq)  # sent again, refused again
        retried = client.flush()
        client.outbox.discard(rejected[1].seq)
        with pytest.raises(OutboxError):
            client.outbox.discard(rejected[1].seq)
        left = client.outbox.rejected()

    assert [d.outcome for d in mixed] == ["accepted", "rejected"]
    assert mixed[1].problem is not None
    assert mixed[1].problem["code"] == "not-custodian"
    assert later.outcome == "accepted"
    assert [e.problem["code"] for e in rejected if e.problem] == ["not-custodian"] * 2
    assert rejected[0].body["event"]["action"] == int(Action.SHIP)
    assert waiting == 0
    assert [d.outcome for d in retried.deliveries] == ["rejected"]
    assert [e.seq for e in left] == [rejected[0].seq]


def test_rate_limited_requests_wait_as_the_gateway_asks(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gateway = make_gateway(ApiSettings(rate_per_second=2, rate_burst=3))
    retries: list[Retry] = []
    with client_for(gateway, "farm", tmp_path / "outbox", on_retry=retries.append) as client:
        deliveries = [
            client.submit("commission", lot(f"RATE-{i}"), product="milk", quantity=1)
            for i in range(3)
        ]

    limited = [r for r in retries if r.status == 429]
    assert [d.outcome for d in deliveries] == ["accepted"] * 3
    assert limited, retries
    assert all(r.retry_after is not None and r.retry_after >= 1 for r in limited)
    assert all(r.delay == r.retry_after for r in limited)


def test_a_longer_wait_than_allowed_leaves_the_event_queued(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gateway = make_gateway(ApiSettings(rate_per_second=0.5, rate_burst=2))
    impatient = RetryPolicy(max_retry_after=0.5)
    with client_for(gateway, "farm", tmp_path / "outbox", retry=impatient) as client:
        started = time.monotonic()
        delivery = client.submit("commission", lot("LATER"), product="milk", quantity=1)
        waited = time.monotonic() - started
        report = client.flush()

    assert delivery.outcome == "queued"
    assert waited < 2  # it did not sit out the gateway's Retry-After
    assert isinstance(report.error, GatewayUnavailableError)
    assert report.pending == 1
    assert gateway.event_rows() == 0


def test_a_gateway_whose_domain_is_not_what_it_claims_is_refused(
    gateway: Gateway, proxy: Proxy, tmp_path: Path
) -> None:
    def other_chain(info: dict[str, Any]) -> dict[str, Any]:
        domain = info["eip712"]["domain"] | {"chainId": 1}
        return info | {"eip712": info["eip712"] | {"domain": domain}}

    def other_types(info: dict[str, Any]) -> dict[str, Any]:
        types = info["eip712"]["types"] | {"TraceEvent": info["eip712"]["types"]["TraceEvent"][1:]}
        return info | {"eip712": info["eip712"] | {"types": types}}

    proxy.rewrite["/v1/info"] = other_chain
    with client_for(gateway, "farm", tmp_path / "a", url=proxy.url) as client:
        with pytest.raises(GatewayMismatchError, match="domain"):
            client.submit("commission", lot("MISMATCH"), product="milk", quantity=1)
        assert client.outbox.count() == 0
    proxy.rewrite["/v1/info"] = other_types
    with (
        client_for(gateway, "farm", tmp_path / "b", url=proxy.url) as client,
        pytest.raises(GatewayMismatchError, match="types"),
    ):
        client.submit("commission", lot("MISMATCH"), product="milk", quantity=1)

    assert gateway.event_rows() == 0


def test_waiting_events_are_never_sent_to_a_gateway_of_another_domain(
    gateway: Gateway, proxy: Proxy, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    with client_for(gateway, "farm", outbox) as client:
        client.submit("commission", lot("DOMAIN"), product="milk", quantity=1, send=False)

    def redeployed(info: dict[str, Any]) -> dict[str, Any]:  # consistent, but another chain
        domain = info["eip712"]["domain"] | {"chainId": 99}
        return info | {"chainId": 99, "eip712": info["eip712"] | {"domain": domain}}

    proxy.rewrite["/v1/info"] = redeployed
    with client_for(gateway, "farm", outbox, url=proxy.url) as client:
        with pytest.raises(GatewayMismatchError, match="outbox"):
            client.flush()
        assert client.outbox.count() == 1
    assert proxy.posts() == []


def test_an_event_the_chain_refuses_is_raised_with_the_contracts_reason(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gateway = make_gateway(commit=False)  # commits only when the test says
    with client_for(gateway, "farm", tmp_path / "farm") as client:
        sent = client.submit("commission", lot("SUSPENDED"), product="milk", quantity=1)
        gateway.harness.suspend("farm")  # after the node accepted it, before the chain saw it
        gateway.harness.commit()
        with pytest.raises(SignerSuspendedError) as refused:
            client.wait_for_proof(sent.event_hash, timeout=30)
        with pytest.raises(EventNotFoundError):
            client.wait_for_proof("0x" + "ab" * 32, timeout=30)
    with client_for(gateway, "processor", tmp_path / "processor") as client:
        # Under the processor's own company prefix (the milk GTIN's, 9506000, is the farm's).
        cheese = "https://id.gs1.org/01/00614142000011/10/UNCOMMITTED"
        waiting = client.submit("commission", cheese, product="cheese", quantity=1)
        with pytest.raises(ProofTimeoutError):
            client.wait_for_proof(waiting.event_hash, timeout=0.5, poll=0.1)

    assert sent.outcome == "accepted"
    assert waiting.outcome == "accepted"
    assert refused.value.contract_error == "BatchRegistrySignerSuspended"
