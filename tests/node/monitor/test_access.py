"""The keys-and-access rules and equivocation as pure functions: each beside its near-miss."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.events.typed_data import Action, Role, TraceEvent
from node.monitor.access import (
    MINUTE_MS,
    AccessPolicy,
    check_nonce_reuse,
    check_rate_limits,
    check_refused_signatures,
    check_rotated_keys,
    check_rpc_abuse,
    check_suspended_signers,
)
from node.monitor.equivocation import advanced_heads, check_equivocation
from node.store.models import AlertSeverity, EventStatus
from node.store.records import EventRecord, RefusalRecord, SignerView

POLICY = AccessPolicy()
T0 = 1_800_000_000_000 // POLICY.window_ms * POLICY.window_ms  # a window's start
FARM_KEY, OLD_KEY, STRANGER = b"\x01" * 20, b"\x02" * 20, b"\x09" * 20
KEYS = {
    FARM_KEY: SignerView(7, Role.PRODUCER, True, True),
    OLD_KEY: SignerView(7, Role.PRODUCER, True, False),  # rotated out
}
LOT, HEAD = b"\xaa" * 32, b"\xbb" * 32


def refusal(code: str, n: int = 0, **fields: object) -> RefusalRecord:
    base = RefusalRecord(
        id=n + 1,
        at=T0 + n * 1000,
        code=code,
        caller="key:tn_farm",
        key_id="tn_farm",
        client="203.0.113.9",
        claimed_participant=7,
        signer=None,
        action=None,
        event_hash=None,
        nonce=None,
        batch_ids=(),
        heads=(),
        detail="",
        count=1,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def many(code: str, count: int, *, start: int = 0, **fields: object) -> list[RefusalRecord]:
    return [
        refusal(code, i, event_hash=bytes([i % 256]) * 32, **fields)
        for i in range(start, start + count)
    ]


# ----- refused-signatures -----


@pytest.mark.parametrize(("count", "alerts"), [(9, 0), (10, 1)])
def test_a_burst_of_refused_signatures_for_one_participant(count: int, alerts: int) -> None:
    rows = many("invalid-signature", count // 2) + many(
        "unknown-signer", count - count // 2, start=100, signer=STRANGER
    )

    found = check_refused_signatures(rows, POLICY)

    assert len(found) == alerts
    if found:
        assert (found[0].severity, found[0].participant_id) == (AlertSeverity.MEDIUM, 7)
        assert found[0].evidence["apiKeys"] == ["tn_farm"]


def test_refused_signatures_split_over_two_windows_are_no_burst() -> None:
    window = POLICY.window_ms // 1000  # rows are a second apart
    rows = many("invalid-signature", 9, start=window - 9) + many(
        "invalid-signature", 9, start=window
    )

    assert check_refused_signatures(rows, POLICY) == []


def test_other_refusals_are_no_signature_burst() -> None:
    assert check_refused_signatures(many("head-mismatch", 50), POLICY) == []


def test_a_sampled_flood_counts_its_summary_rows() -> None:
    rows = [*many("signer-mismatch", 3), refusal("signer-mismatch", 50, count=40)]

    (found,) = check_refused_signatures(rows, POLICY)

    assert found.evidence["refusals"] == 43


# ----- rotated keys, suspended signers, nonce reuse -----


def test_a_rotated_out_key_signing_is_high_and_a_stranger_key_is_not_it() -> None:
    rows = [
        refusal("unknown-signer", 0, signer=OLD_KEY, event_hash=b"\x01" * 32),
        refusal("unknown-signer", 1, signer=OLD_KEY, event_hash=b"\x02" * 32),
        refusal("unknown-signer", 2, signer=STRANGER, event_hash=b"\x03" * 32),
        refusal("head-mismatch", 3, signer=FARM_KEY, event_hash=b"\x04" * 32),
    ]

    (found,) = check_rotated_keys(rows, KEYS)

    assert (found.kind, found.severity, found.participant_id) == (
        "rotated-key-used",
        AlertSeverity.HIGH,
        7,
    )


def test_a_suspended_participants_key_signing_is_high() -> None:
    rows = [
        refusal("signer-suspended", 0, signer=FARM_KEY, event_hash=b"\x01" * 32),
        refusal("signer-suspended", 1, signer=FARM_KEY, event_hash=b"\x02" * 32),
    ]

    (found,) = check_suspended_signers(rows, KEYS)

    assert found.severity is AlertSeverity.HIGH
    assert len(found.evidence["eventHashes"]) == 2
    assert check_suspended_signers([refusal("missing-role", signer=FARM_KEY)], KEYS) == []


def test_a_nonce_signed_twice_is_reuse_but_not_from_an_unknown_key() -> None:
    nonce = (17).to_bytes(32, "big")
    rows = [refusal("nonce-used", 0, signer=FARM_KEY, nonce=nonce, event_hash=b"\x05" * 32)]

    (found,) = check_nonce_reuse(rows, KEYS)

    assert (found.kind, found.evidence["nonces"]) == ("nonce-reuse", ["17"])
    assert check_nonce_reuse([replace(rows[0], signer=STRANGER)], KEYS) == []


# ----- rate limits and /rpc -----


@pytest.mark.parametrize(("count", "alerts"), [(49, 0), (50, 1)])
def test_a_key_hitting_the_rate_limit_again_and_again(count: int, alerts: int) -> None:
    rows = [*many("rate-limited", 9), refusal("rate-limited", 20, count=count - 9)]

    found = check_rate_limits(rows, POLICY)

    assert [(f.kind, f.incident.split(":")[1:3]) for f in found] == [
        ("rate-limited", ["key", "tn_farm"])
    ] * alerts


def test_rpc_abuse_counts_per_client_address() -> None:
    rows = many("rpc-refused", 30, detail="eth_sendRawTransaction") + many(
        "rpc-expensive", 20, start=40, detail="eth_getLogs"
    )
    elsewhere = [replace(r, client="198.51.100.1") for r in many("rpc-refused", 49, start=100)]

    (found,) = check_rpc_abuse(rows + elsewhere, POLICY)

    assert found.evidence["refusals"] == 50
    assert found.evidence["methods"] == ["eth_getLogs", "eth_sendRawTransaction"]


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="window"):
        AccessPolicy(window_ms=1000)
    with pytest.raises(ValueError, match="thresholds"):
        AccessPolicy(rate_limited=0)


# ----- equivocation -----


def accepted(
    action: Action, pid: int = 7, signer: bytes = FARM_KEY, **fields: object
) -> EventRecord:
    event = TraceEvent(action, batch_id=LOT, prev_event_hash=HEAD, event_time=1, nonce=1, **fields)  # type: ignore[arg-type]
    return EventRecord(
        id=1,
        event_hash=b"\xee" * 32,
        event=event,
        signer=signer,
        participant_id=pid,
        signature=b"",
        payload=None,
        status=EventStatus.ACCEPTED,
        received_at=T0,
        window_id=None,
        anchor_seq=None,
        tree_index=None,
        proof=(),
        reason=None,
    )


def twin(code: str = "head-mismatch", signer: bytes = FARM_KEY) -> RefusalRecord:
    return refusal(
        code,
        signer=signer,
        action=Action.SHIP,
        event_hash=b"\xdd" * 32,
        batch_ids=(LOT,),
        heads=((LOT, HEAD),),
    )


def test_two_signed_events_on_one_head_are_critical_equivocation() -> None:
    shipped = accepted(Action.SHIP, counterparty=b"\x03" * 20)
    participant_of = {FARM_KEY: 7, OLD_KEY: 7}

    (found,) = check_equivocation([twin()], [shipped], participant_of)
    (rotated,) = check_equivocation([twin(signer=OLD_KEY)], [shipped], participant_of)

    assert (found.kind, found.severity, found.score) == ("equivocation", AlertSeverity.CRITICAL, 88)
    assert {e["refused"] for e in found.evidence["events"]} == {None, "head-mismatch"}
    assert rotated.incident == found.incident  # any key of the participant's


def test_near_misses_of_equivocation() -> None:
    shipped = accepted(Action.SHIP, counterparty=b"\x03" * 20)
    participant_of = {FARM_KEY: 7}

    # refused for another rule, then signed again correctly on the same head
    assert check_equivocation([twin("invalid-receiver")], [shipped], participant_of) == []
    # another participant on the same head (a stale recall by a regulator)
    assert check_equivocation([twin()], [accepted(Action.SHIP, pid=8)], participant_of) == []
    # a signature of no participant's proves nobody signed
    assert check_equivocation([twin(signer=STRANGER)], [shipped], participant_of) == []
    # the same event (one hash) is no twin
    same = replace(twin(), event_hash=shipped.event_hash)
    assert check_equivocation([same], [shipped], participant_of) == []


def test_observations_and_packing_share_heads_without_advancing_them() -> None:
    observe = TraceEvent(Action.OBSERVE, batch_id=LOT, prev_event_hash=HEAD, event_time=1, nonce=1)
    transform = TraceEvent(
        Action.TRANSFORM,
        inputs=(LOT,),
        input_prev_hashes=(HEAD,),
        outputs=(b"\xcc" * 32,),
        quantity=1,
        event_time=1,
        nonce=2,
    )

    assert advanced_heads(observe) == ()
    assert advanced_heads(transform) == ((LOT, HEAD),)


def test_windows_are_minutes() -> None:
    assert POLICY.window_ms == 10 * MINUTE_MS
