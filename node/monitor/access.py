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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

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


#: The impact and confidence of the rules over one signer's refused events (``_signed``).
SIGNED_IMPACTS: Final = {
    "rotated-key-used": (Impact(integrity=3), Confidence.LIKELY),
    "suspended-signer": (Impact(integrity=3), Confidence.LIKELY),
    "nonce-reuse": (Impact(integrity=2), Confidence.LIKELY),
}
#: The caller of a refusal made by the chain (node.monitor.stream).
CHAIN_CALLER: Final = "chain"
REFUSED_SIGNATURES = grade(Impact(integrity=2), Confidence.LIKELY)
ROTATED_KEY = grade(*SIGNED_IMPACTS["rotated-key-used"])
SUSPENDED_SIGNER = grade(*SIGNED_IMPACTS["suspended-signer"])
NONCE_REUSE = grade(*SIGNED_IMPACTS["nonce-reuse"])
RATE_LIMIT = grade(Impact(money=2), Confidence.LIKELY)
RPC_ABUSE = grade(Impact(money=2), Confidence.LIKELY)
GRADES: Final = {
    "refused-signatures": REFUSED_SIGNATURES,
    "rotated-key-used": ROTATED_KEY,
    "suspended-signer": SUSPENDED_SIGNER,
    "nonce-reuse": NONCE_REUSE,
    "rate-limited": RATE_LIMIT,
    "rpc-abuse": RPC_ABUSE,
}


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


def _signed(
    kind: str,
    rows: Sequence[RefusalRecord],
    keys: Mapping[bytes, SignerView],
    counts: Callable[[RefusalRecord, SignerView], bool],
    subject: Callable[[bytes, SignerView], str],
    detail: Callable[[bytes, SignerView], str],
    listed: tuple[str, Callable[[RefusalRecord], str | None]],
) -> list[Finding]:
    """One ``kind`` finding per subject and day for the refused events signed by a
    participant's key that ``counts``; its evidence lists up to 20 of ``listed``.

    A refusal by the chain alone (``caller`` "chain": the node accepted the event, its
    mirror showing the key current and the participant active) is graded *suspected*: the
    rotation or suspension may have come after the event was signed, the event lost when
    the chain executed it later, or in the mirror's lag before the node knew; nothing in
    the refusal tells which. One refusal by the node itself makes the incident *likely*.
    """
    name, item = listed
    found: dict[str, Finding] = {}
    by_node: set[str] = set()  # incidents with a refusal the node itself made
    for row in rows:
        view = keys.get(row.signer or b"")
        if row.signer is None or view is None or not counts(row, view):
            continue
        incident = f"{kind}:{subject(row.signer, view)}:{row.at // DAY_MS}"
        if row.caller != CHAIN_CALLER:
            by_node.add(incident)
        previous = found.get(incident)
        items = [] if previous is None else list(previous.evidence[name])
        value = item(row)
        if value is not None and len(items) < 20:
            items.append(value)
        certain = incident in by_node
        impact, _ = SIGNED_IMPACTS[kind]
        severity, points = GRADES[kind] if certain else grade(impact, Confidence.SUSPECTED)
        found[incident] = Finding(
            kind=kind,
            severity=severity,
            score=points,
            incident=incident,
            detail=detail(row.signer, view)
            + (
                ""
                if certain
                else " (refused by the chain only: the node had accepted it while the key "
                "was current to it, so it may have been signed before the change and lost)"
            ),
            evidence={
                "signer": _hex(row.signer),
                "refused": row.code,
                "refusedBy": "node" if certain else "chain",
                name: items,
                "apiKey": row.key_id,
                "client": row.client,
            },
            batch_id=row.batch_ids[0] if row.batch_ids else None,
            event_hash=row.event_hash,
            participant_id=view.participant_id,
        )
    return list(found.values())


def _event_hash(row: RefusalRecord) -> str | None:
    return None if row.event_hash is None else _hex(row.event_hash)


def check_rotated_keys(
    rows: Sequence[RefusalRecord], keys: Mapping[bytes, SignerView]
) -> list[Finding]:
    """Events signed by a key that its participant rotated out (one incident per key and
    day)."""
    return _signed(
        "rotated-key-used",
        rows,
        keys,
        lambda row, view: not view.current,
        lambda key, view: _hex(key),
        lambda key, view: (
            f"an event was signed with a key participant {view.participant_id} rotated out "
            f"({_hex(key)})"
        ),
        ("eventHashes", _event_hash),
    )


def check_suspended_signers(
    rows: Sequence[RefusalRecord], keys: Mapping[bytes, SignerView]
) -> list[Finding]:
    """Events refused because their signer's participant is suspended (one incident per
    participant and day)."""
    return _signed(
        "suspended-signer",
        rows,
        keys,
        lambda row, view: row.code == "signer-suspended",
        lambda key, view: str(view.participant_id),
        lambda key, view: f"suspended participant {view.participant_id}'s key signed an event",
        ("eventHashes", _event_hash),
    )


def check_nonce_reuse(
    rows: Sequence[RefusalRecord], keys: Mapping[bytes, SignerView]
) -> list[Finding]:
    """Events refused because their signer (a participant's key) already used the nonce for
    another event (one incident per key and day)."""
    return _signed(
        "nonce-reuse",
        rows,
        keys,
        lambda row, view: row.code == "nonce-used",
        lambda key, view: _hex(key),
        lambda key, view: (
            f"participant {view.participant_id}'s key signed another event under a nonce it "
            "had already used"
        ),
        (
            "nonces",
            lambda row: None if row.nonce is None else str(int.from_bytes(row.nonce, "big")),
        ),
    )


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
    severity, points = GRADES[kind]
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


#: Each key-and-access rule in plain words, for the buyer's page (they name no party).
_SAYINGS: Final[Mapping[str, str]] = {
    "refused-signatures": "Many events with signatures that do not check were refused.",
    "rotated-key-used": "An event for this lot was signed with a key that had been replaced.",
    "suspended-signer": "An event for this lot was signed by a party that had been suspended.",
    "nonce-reuse": "Two different events were signed under one sequence number by one key.",
    "rate-limited": "A client sent far more requests than it is allowed.",
    "rpc-abuse": "A client sent many refused or costly requests to the chain interface.",
}


def say_access(kind: str) -> Callable[[Mapping[str, Any]], str]:
    """The plain-words sentence of key-and-access rule ``kind``."""
    sentence = _SAYINGS[kind]
    return lambda _evidence: sentence
