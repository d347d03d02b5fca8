"""The alert log, kept honest (docs/monitor.md, "The alert log").

Every revision of every alert is an entry of an append-only chain of EIP-712
``AlertRevision`` struct hashes, written with the alert (node.store.alertlog). Here:

- :class:`AlertLogSealer` signs each new entry with the node key (EIP-712, in the domain of
  the node's AnchorRegistry) and anchors the log's head on AnchorRegistry
  (``anchorAlertLog``). It runs where the node key sends transactions one at a time: in
  the commit worker's idle turns (``serve``), so that it never races a window for a nonce.
- :func:`check_alert_log` is the rule ``alert-log-mismatch`` (critical): the store's alerts
  and log no longer match what the node signed and the chain holds — an alert deleted,
  edited or rolled back, or the log itself rewritten or cut short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3

from node.chain.deploy import Deployment, contract
from node.chain.errors import call_reverted
from node.chain.transact import send_transaction
from node.events.signatures import recover_signer, sign_digest
from node.events.typed_data import ZERO32, AlertRevision, Domain
from node.exceptions import InvalidSignatureError
from node.monitor.grading import Confidence, Impact, grade
from node.store.alerts import alert_content, content_hash
from node.store.records import AlertLogRecord, AlertRecord, Finding, LogAnchor
from node.store.store import Store

log = logging.getLogger(__name__)

#: Entries read or signed per page.
PAGE = 500
#: Deleting or editing the record of an incident hides it: proven (signatures and the
#: chain), and it misleads whoever reads the alerts.
SEVERITY, SCORE = grade(Impact(integrity=3, safety=1), Confidence.PROVEN)
KIND = "alert-log-mismatch"


def alert_log_domain(chain_id: int, anchor_registry: str) -> Domain:
    """The EIP-712 domain of a node's alert log: TraceNode v1, its chain, its AnchorRegistry."""
    return Domain(chain_id, bytes.fromhex(anchor_registry.removeprefix("0x")))


def anchored_log(
    w3: Web3, anchor_registry: ChecksumAddress, node: bytes
) -> tuple[bytes, int] | None:
    """The latest head of ``node``'s alert log on AnchorRegistry, and its count (zero, 0
    before the first anchor); None when the AnchorRegistry was deployed before it kept
    alert logs (a node made by an earlier version: its log is signed, not anchored)."""
    registry = contract(w3, "AnchorRegistry", anchor_registry)
    try:
        head, count = registry.functions.alertLogOf(Web3.to_checksum_address(node)).call()
    except Exception as exc:
        if call_reverted(exc):
            return None
        raise
    return bytes(head), int(count)


def _entry(e: AlertLogRecord) -> AlertRevision:
    return AlertRevision(
        seq=e.seq, prev=e.prev, alert_id=e.alert_id, revision=e.revision, content=e.content
    )


@dataclass
class AlertLogSealer:
    """Signs the alert log's new entries and anchors its head, with the node key."""

    store: Store
    w3: Web3
    deployment: Deployment
    node: LocalAccount
    #: Seconds between anchors while the log grows (each anchor is a transaction).
    anchor_interval: float = 60.0
    #: Seconds between looks for entries to sign (``tick`` is called far more often).
    seal_interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _anchored: float = field(default=float("-inf"), init=False)
    _sealed: float = field(default=float("-inf"), init=False)
    _unanchorable: bool = field(default=False, init=False)

    def seal(self) -> int:
        """Sign every unsigned entry that extends the log as it should (each naming the one
        before it and hashing to its hash); how many were signed. A broken entry stops the
        signing there: the monitor reports it (``alert-log-mismatch``)."""
        domain = alert_log_domain(self.deployment.chain_id, self.deployment.anchor_registry)
        signed = 0
        while True:
            with self.store.read() as conn:
                pending = self.store.alert_log.unsealed(conn, limit=PAGE)
                before = self.store.alert_log.get(conn, pending[0].seq - 1) if pending else None
            if not pending:
                return signed
            prev = before.hash if before is not None else ZERO32
            sound = []
            for e in pending:
                if e.prev != prev or _entry(e).struct_hash() != e.hash:
                    log.error("alert-log entry %d does not extend the log: not signed", e.seq)
                    break
                sound.append(e)
                prev = e.hash
            with self.store.write() as conn:
                for e in sound:
                    digest = _entry(e).digest(domain)
                    signature = sign_digest(digest, bytes(self.node.key))
                    self.store.alert_log.seal(conn, e.seq, digest=digest, signature=signature)
            signed += len(sound)
            if len(sound) < len(pending):
                return signed

    def anchor(self) -> LogAnchor | None:
        """Anchor the log's head if it grew since the last anchor; the new anchor, or None.

        Only signed entries are anchored: sign first (:meth:`seal`)."""
        with self.store.read() as conn:
            state = self.store.alert_log.state(conn)
            head = self.store.alert_log.get(conn, state.seq) if state.seq else None
        anchored = state.anchor.count if state.anchor is not None else 0
        if head is None or head.signature is None or head.seq <= anchored:
            return None
        node = bytes.fromhex(self.node.address[2:])
        if anchored_log(self.w3, self.deployment.anchor_registry, node) is None:
            if not self._unanchorable:
                log.warning("this AnchorRegistry keeps no alert logs: the log is signed only")
            self._unanchorable = True
            return None
        registry = contract(self.w3, "AnchorRegistry", self.deployment.anchor_registry)
        receipt = send_transaction(
            self.w3, registry.functions.anchorAlertLog(head.hash, head.seq), self.node
        )
        done = LogAnchor(
            head=head.hash,
            count=head.seq,
            block_number=int(receipt["blockNumber"]),
            tx_hash=bytes(receipt["transactionHash"]),
        )
        with self.store.write() as conn:
            self.store.alert_log.anchored(conn, done)
        log.info("alert log anchored: %d entries, block %d", done.count, done.block_number)
        return done

    def tick(self) -> None:
        """Sign what is new, and anchor at most every ``anchor_interval`` seconds; a failure
        is logged and tried again at the next turn (for the commit worker's idle turns)."""
        now = self.clock()
        if now - self._sealed < self.seal_interval:
            return
        self._sealed = now
        try:
            self.seal()
            if now - self._anchored >= self.anchor_interval and self.anchor() is not None:
                self._anchored = now
        except Exception as exc:  # the chain or the store away: the next turn tries again
            log.warning("alert log not sealed or anchored (%s); trying again", exc)


def say_alert_log(evidence: Mapping[str, object]) -> str:
    """``alert-log-mismatch`` in plain words."""
    return "The node's record of its own warnings was altered."


def _finding(detail: str, incident: str, evidence: dict[str, object]) -> Finding:
    return Finding(
        kind=KIND,
        severity=SEVERITY,
        score=SCORE,
        incident=f"{KIND}:{incident}",
        detail=detail,
        evidence=evidence,
    )


def _hex(data: bytes | None) -> str | None:
    return None if data is None else "0x" + data.hex()


def check_log(
    entries: Sequence[AlertLogRecord],
    anchored: tuple[bytes, int] | None,
    node: bytes,
    domain: Domain,
) -> list[Finding]:
    """The log against itself (each entry names the one before, hashes to its hash, and is
    signed by the node key), and against its head on the chain."""
    found: list[Finding] = []
    prev = ZERO32
    for i, e in enumerate(entries, start=1):
        broken = None
        if e.seq != i:
            broken = f"entry {i} is missing (the next holds position {e.seq})"
        elif e.prev != prev:
            broken = f"entry {i} does not name the entry before it"
        elif _entry(e).struct_hash() != e.hash:
            broken = f"entry {i}'s fields no longer hash to its hash"
        elif e.signature is not None:
            try:
                signer = recover_signer(_entry(e).digest(domain), e.signature)
            except InvalidSignatureError:
                signer = b""
            if signer != node or e.digest != _entry(e).digest(domain):
                broken = f"entry {i} is not signed by the node key"
        if broken is not None:
            found.append(
                _finding(
                    f"the alert log was rewritten: {broken}",
                    "log",
                    {"seq": str(i), "hash": _hex(e.hash)},
                )
            )
            break
        prev = e.hash
    head, count = anchored if anchored is not None else (ZERO32, 0)
    if count > len(entries):
        found.append(
            _finding(
                f"the chain anchored {count} alert-log entries; the store holds {len(entries)}",
                "anchor",
                {"anchoredCount": str(count), "anchoredHead": _hex(head), "stored": len(entries)},
            )
        )
    elif count and entries[count - 1].hash != head:
        found.append(
            _finding(
                f"alert-log entry {count} differs from the head anchored on-chain",
                "anchor",
                {
                    "anchoredCount": str(count),
                    "anchoredHead": _hex(head),
                    "storedHash": _hex(entries[count - 1].hash),
                },
            )
        )
    return found


def check_alerts(alerts: Sequence[AlertRecord], entries: Sequence[AlertLogRecord]) -> list[Finding]:
    """Each alert against its latest revision in the log: deleted, edited, rolled back to an
    earlier revision, or never logged."""
    latest = {e.alert_id: e for e in entries}
    found: list[Finding] = []
    for a in alerts:
        logged = latest.pop(a.id, None)
        evidence: dict[str, object] = {"alertId": a.id, "revision": a.revision}
        if logged is None:
            if entries:  # an empty log adopts the alerts it finds (AlertRepository.adopt)
                detail = f"alert {a.id} is not in the alert log"
                found.append(_finding(detail, f"alert:{a.id}", evidence))
            continue
        evidence |= {"seq": str(logged.seq), "loggedRevision": logged.revision}
        if a.log is None or a.log.seq != logged.seq:
            found.append(
                _finding(
                    f"alert {a.id} shows revision {a.revision}; the log's latest is "
                    f"{logged.revision}",
                    f"alert:{a.id}",
                    evidence,
                )
            )
        elif content_hash(alert_content(a)) != logged.content:
            found.append(
                _finding(
                    f"alert {a.id} was edited after revision {logged.revision} was logged",
                    f"alert:{a.id}",
                    evidence
                    | {
                        "loggedContent": _hex(logged.content),
                        "storedContent": _hex(content_hash(alert_content(a))),
                    },
                )
            )
    for alert_id, logged in latest.items():
        found.append(
            _finding(
                f"alert {alert_id} was deleted (the log holds its revision {logged.revision})",
                f"alert:{alert_id}",
                {"alertId": alert_id, "seq": str(logged.seq), "loggedRevision": logged.revision},
            )
        )
    return found
