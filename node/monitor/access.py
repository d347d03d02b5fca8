"""Keys and access: rules over the refusal record (node.monitor.refusals), each a pure
function of refusals and of what the participant mirror says of their signers, so that it
is tested on its own; :mod:`node.monitor.stream` gathers the inputs.

- ``refused-signatures`` (medium): a burst of events refused for their signature (it does
  not recover, recovers to no participant's current key, or to another participant than
  the API key's), per participant whose API key sent them, in a time window;
- ``rotated-key-used`` (high): an event signed by a key its participant rotated out (an
  old device, or a stolen old key);
- ``suspended-signer`` (high): an event signed by a suspended participant's key;
- ``nonce-reuse`` (medium): an event signed with a nonce its signer already used for
  another event. Nonces are any unused number (the contract keeps a bitmap per signer,
  docs/events.md): the SDK counts up, others draw 128 random bits, so a *gap* in a
  signer's nonces means nothing and is no rule; a *reuse* is one key signing two events
  under one nonce (a client that lost its state, or a second holder of the key);
- ``rate-limited`` (medium): a caller (API key, or client address) refused for its rate
  again and again in a window;
- ``rpc-abuse`` (medium): a client making many refused (a write, an unknown method, bad
  params) or expensive (eth_getLogs over many blocks) ``/rpc`` calls in a window.

Bursts count per (subject, window): ``window_ms``-long buckets from the epoch, one
incident each, so a long flood updates one alert per window instead of one per refusal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from node.monitor.grading import Confidence, Impact, grade
from node.store.records import Finding, RefusalRecord, SignerView

MINUTE_MS: Final = 60_000
DAY_MS: Final = 24 * 60 * MINUTE_MS

#: Refusals of an event's signature (docs/api.md).
SIGNATURE_CODES: Final = frozenset({"invalid-signature", "unknown-signer", "signer-mismatch"})
RATE_LIMITED: Final = "rate-limited"
RPC_CODES: Final = frozenset({"rpc-refused", "rpc-expensive"})
#: The codes the window rules count: what :mod:`node.monitor.stream` reads per window.
WINDOW_CODES: Final = SIGNATURE_CODES | RPC_CODES | {RATE_LIMITED}


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The thresholds of the keys-and-access rules and how long refusals are kept
    (docs/monitor.md)."""

    #: The length of a burst window (and of its incident's bucket).
    window_ms: int = 10 * MINUTE_MS
    #: Refused signatures of one participant in a window: ``refused-signatures``.
    refused_signatures: int = 10
    #: Rate-limit refusals of one caller in a window: ``rate-limited``.
    rate_limited: int = 50
    #: Refused or expensive /rpc calls of one client in a window: ``rpc-abuse``.
    rpc_calls: int = 50
    #: How long refusals are kept before the monitor prunes them.
    retention_ms: int = 14 * DAY_MS

    def __post_init__(self) -> None:
        if self.window_ms < MINUTE_MS or self.retention_ms < self.window_ms:
            raise ValueError("the window is at least a minute and within the retention")
        if min(self.refused_signatures, self.rate_limited, self.rpc_calls) < 1:
            raise ValueError("thresholds are at least 1")


REFUSED_SIGNATURES = grade(Impact(integrity=2), Confidence.LIKELY)
ROTATED_KEY = grade(Impact(integrity=3), Confidence.LIKELY)
SUSPENDED_SIGNER = grade(Impact(integrity=3), Confidence.LIKELY)
NONCE_REUSE = grade(Impact(integrity=2), Confidence.LIKELY)
RATE_LIMIT = grade(Impact(money=2), Confidence.LIKELY)
RPC_ABUSE = grade(Impact(money=2), Confidence.LIKELY)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _bursts(
    rows: Iterable[RefusalRecord], subject_of: Mapping[int, str | None], window_ms: int
) -> dict[tuple[str, int], list[RefusalRecord]]:
    """Rows by (subject, window bucket); ``subject_of`` by row id (None: not counted)."""
    found: dict[tuple[str, int], list[RefusalRecord]] = {}
    for row in rows:
        subject = subject_of.get(row.id)
        if subject is not None:
            found.setdefault((subject, row.at // window_ms), []).append(row)
    return found


def _window(bucket: int, window_ms: int) -> dict[str, int]:
    return {"windowStart": bucket * window_ms, "windowMs": window_ms}


def check_refused_signatures(rows: Sequence[RefusalRecord], policy: AccessPolicy) -> list[Finding]:
    """Participants whose API keys sent ``policy.refused_signatures`` or more events with
    a refused signature in one window."""
    subjects = {
        r.id: str(r.claimed_participant)
        for r in rows
        if r.code in SIGNATURE_CODES and r.claimed_participant is not None
    }
    severity, points = REFUSED_SIGNATURES
    found: list[Finding] = []
    for (subject, bucket), burst in sorted(_bursts(rows, subjects, policy.window_ms).items()):
        total = sum(r.count for r in burst)
        if total < policy.refused_signatures:
            continue
        codes = Counter[str]()
        for r in burst:
            codes[r.code] += r.count
        found.append(
            Finding(
                kind="refused-signatures",
                severity=severity,
                score=points,
                incident=f"refused-signatures:{subject}:{bucket}",
                detail=(
                    f"{total} events with refused signatures sent with participant "
                    f"{subject}'s API keys in {policy.window_ms // MINUTE_MS} minutes"
                ),
                evidence=_window(bucket, policy.window_ms)
                | {
                    "refusals": total,
                    "threshold": policy.refused_signatures,
                    "codes": dict(sorted(codes.items())),
                    "apiKeys": sorted({r.key_id for r in burst if r.key_id}),
                    "signers": sorted({_hex(r.signer) for r in burst if r.signer}),
                    "eventHashes": [_hex(r.event_hash) for r in burst if r.event_hash][:20],
                },
                participant_id=int(subject),
            )
        )
    return found


def check_rotated_keys(
    rows: Sequence[RefusalRecord], keys: Mapping[bytes, SignerView]
) -> list[Finding]:
    """Events signed by a key that its participant rotated out (one incident per key and
    day)."""
    severity, points = ROTATED_KEY
    found: dict[str, Finding] = {}
    for row in rows:
        view = keys.get(row.signer or b"")
        if row.signer is None or view is None or view.current:
            continue
        incident = f"rotated-key-used:{_hex(row.signer)}:{row.at // DAY_MS}"
        found[incident] = Finding(
            kind="rotated-key-used",
            severity=severity,
            score=points,
            incident=incident,
            detail=(
                f"an event was signed with a key participant {view.participant_id} rotated "
                f"out ({_hex(row.signer)})"
            ),
            evidence={
                "signer": _hex(row.signer),
                "refused": row.code,
                "eventHash": _hex(row.event_hash) if row.event_hash else None,
                "apiKey": row.key_id,
                "client": row.client,
                "at": row.at,
            },
            batch_id=row.batch_ids[0] if row.batch_ids else None,
            event_hash=row.event_hash,
            participant_id=view.participant_id,
        )
    return list(found.values())


def check_suspended_signers(
    rows: Sequence[RefusalRecord], keys: Mapping[bytes, SignerView]
) -> list[Finding]:
    """Events refused because their signer's participant is suspended (one incident per
    participant and day)."""
    severity, points = SUSPENDED_SIGNER
    found: dict[str, Finding] = {}
    for row in rows:
        view = keys.get(row.signer or b"")
        if row.code != "signer-suspended" or row.signer is None or view is None:
            continue
        incident = f"suspended-signer:{view.participant_id}:{row.at // DAY_MS}"
        previous = found.get(incident)
        events = [] if previous is None else list(previous.evidence["eventHashes"])
        if row.event_hash is not None and len(events) < 20:
            events.append(_hex(row.event_hash))
        found[incident] = Finding(
            kind="suspended-signer",
            severity=severity,
            score=points,
            incident=incident,
            detail=f"suspended participant {view.participant_id}'s key signed an event",
            evidence={
                "signer": _hex(row.signer),
                "eventHashes": events,
                "apiKey": row.key_id,
                "client": row.client,
            },
            batch_id=row.batch_ids[0] if row.batch_ids else None,
            event_hash=row.event_hash,
            participant_id=view.participant_id,
        )
    return list(found.values())


def check_nonce_reuse(
    rows: Sequence[RefusalRecord], keys: Mapping[bytes, SignerView]
) -> list[Finding]:
    """Events refused because their signer (a participant's key) already used the nonce for
    another event (one incident per key and day)."""
    severity, points = NONCE_REUSE
    found: dict[str, Finding] = {}
    for row in rows:
        view = keys.get(row.signer or b"")
        if row.code != "nonce-used" or row.signer is None or view is None:
            continue
        incident = f"nonce-reuse:{_hex(row.signer)}:{row.at // DAY_MS}"
        previous = found.get(incident)
        nonces = [] if previous is None else list(previous.evidence["nonces"])
        if row.nonce is not None and len(nonces) < 20:
            nonces.append(str(int.from_bytes(row.nonce, "big")))
        found[incident] = Finding(
            kind="nonce-reuse",
            severity=severity,
            score=points,
            incident=incident,
            detail=(
                f"participant {view.participant_id}'s key signed another event under a "
                "nonce it had already used"
            ),
            evidence={
                "signer": _hex(row.signer),
                "nonces": nonces,
                "eventHash": _hex(row.event_hash) if row.event_hash else None,
                "apiKey": row.key_id,
            },
            event_hash=row.event_hash,
            participant_id=view.participant_id,
        )
    return list(found.values())


def _caller_bursts(
    kind: str,
    rows: Sequence[RefusalRecord],
    subjects: Mapping[int, str],
    threshold: int,
    window_ms: int,
    what: str,
) -> list[Finding]:
    """Findings of ``kind`` for subjects (by row id) with ``threshold`` refusals or more in
    a window."""
    severity, points = RATE_LIMIT if kind == "rate-limited" else RPC_ABUSE
    found: list[Finding] = []
    for (who, bucket), burst in sorted(_bursts(rows, subjects, window_ms).items()):
        total = sum(r.count for r in burst)
        if total < threshold:
            continue
        found.append(
            Finding(
                kind=kind,
                severity=severity,
                score=points,
                incident=f"{kind}:{who}:{bucket}",
                detail=f"{who}: {total} {what} in {window_ms // MINUTE_MS} minutes",
                evidence=_window(bucket, window_ms)
                | {
                    "refusals": total,
                    "threshold": threshold,
                    "methods": sorted({r.detail for r in burst if r.detail != "coalesced"})[:20],
                    "apiKeys": sorted({r.key_id for r in burst if r.key_id}),
                    "clients": sorted({r.client for r in burst if r.client})[:20],
                },
                participant_id=next(
                    (r.claimed_participant for r in burst if r.claimed_participant), None
                ),
            )
        )
    return found


def check_rate_limits(rows: Sequence[RefusalRecord], policy: AccessPolicy) -> list[Finding]:
    """Callers refused for their rate ``policy.rate_limited`` times or more in a window."""
    subjects = {r.id: r.caller for r in rows if r.code == RATE_LIMITED}
    return _caller_bursts(
        "rate-limited",
        rows,
        subjects,
        policy.rate_limited,
        policy.window_ms,
        "requests refused for the rate limit",
    )


def check_rpc_abuse(rows: Sequence[RefusalRecord], policy: AccessPolicy) -> list[Finding]:
    """Clients making ``policy.rpc_calls`` or more refused or expensive /rpc calls in a
    window."""
    subjects = {r.id: f"addr:{r.client}" for r in rows if r.code in RPC_CODES}
    return _caller_bursts(
        "rpc-abuse",
        rows,
        subjects,
        policy.rpc_calls,
        policy.window_ms,
        "refused or expensive /rpc calls",
    )
