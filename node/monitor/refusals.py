"""The refusal log: what the gateway refuses, written to the store's refusal record for
the monitor's rules over the ingest stream (docs/monitor.md, "The refusal record").

A refusal is a client's error, answered 4xx; recording it must never turn that answer
into a 5xx nor make a flood of refusals a flood of writes:

- each refusal is written in a short transaction of its own, after the decision; if the
  store fails, the refusal is logged (one line, no secrets) and the answer is unchanged;
- per caller (API key or client address) and problem code, the first ``sample``
  refusals of each minute are written in full; beyond that they are counted, and the
  count is written as a summary row (no event fields) each time it doubles (1, 2, 4, …)
  and, for the rest, with the first refusal of a later minute (anyone's): at most
  ``sample`` + log2(n) + 1 rows for n refusals; at least half of each caller's refusals
  of a minute are counted as they happen, all of them once refusals go on;
- at most ``rows_per_minute`` rows are written per minute by one process whatever the
  callers; beyond, refusals are only counted, and the count logged once a minute;
- the state is bounded: at most ``max_callers`` (caller, code) pairs are remembered;
- a store that failed is left alone for ``pause`` seconds (refusals meanwhile are only
  counted and logged), so that a flood of refusals while the database is down does not
  wait on its connection timeout, and the gateway's threads with it, once per refusal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from node.events.submission import SignedEvent
from node.events.typed_data import TraceEvent
from node.ingest.service import IngestResult
from node.monitor.equivocation import advanced_heads
from node.store.records import RefusalRow
from node.store.store import Store

log = logging.getLogger(__name__)

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Attempt:
    """One refused request as the gateway saw it."""

    code: str  # the problem's code, or rpc-refused / rpc-expensive
    caller: str  # key:<keyId> or addr:<client address>
    client: str = ""
    key_id: str | None = None
    claimed_participant: int | None = None  # the API key's participant
    event: TraceEvent | None = None
    event_hash: bytes | None = None
    signer: bytes | None = None  # the key the signature recovers to
    detail: str = ""


def attempt(
    who: Attempt,
    code: str,
    *,
    signed: SignedEvent | None = None,
    result: IngestResult | None = None,
    detail: str = "",
) -> Attempt:
    """``who``'s refusal with ``code``, about the event ``signed`` and its ``result``."""
    return replace(
        who,
        code=code,
        event=None if signed is None else signed.event,
        event_hash=None if result is None else result.event_hash,
        signer=None if result is None else result.signer,
        detail=detail,
    )


@dataclass(slots=True)
class _Caller:
    first: Attempt  # who, for the summary rows
    minute: int
    full: int = 0  # rows written in full this minute
    over: int = 0  # refusals beyond the sample this minute
    reported: int = 0  # of ``over``, how many summary rows already carry


class RefusalLog:
    """Writes refusals to ``store.refusals``, sampled and bounded (module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        sample: int = 10,
        rows_per_minute: int = 600,
        max_callers: int = 10_000,
        pause: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sample = sample
        self.rows_per_minute = rows_per_minute
        self.max_callers = max_callers
        self.pause = pause
        self.clock = clock
        self._down_until = 0.0  # clock time: the store failed; leave it alone until then
        self._callers: OrderedDict[tuple[str, str], _Caller] = OrderedDict()
        self._lock = threading.Lock()
        self._minute = 0
        self._rows = 0  # rows written this minute
        self._unrecorded = 0  # refusals this minute the budget left unwritten

    def note(self, attempt: Attempt) -> None:
        """Record ``attempt`` as the sampling allows; never raises."""
        try:
            rows = self._plan(attempt)
            if rows and self.clock() < self._down_until:
                with self._lock:
                    self._unrecorded += sum(r["count"] for r in rows)
                return
            for row in rows:
                with self.store.write() as conn:
                    self.store.refusals.add(conn, row)
        except Exception as exc:  # the refusal's answer stands whatever the store does
            self._down_until = self.clock() + self.pause
            log.warning(
                "refusal %s by %s not recorded: %s; not recording for %g s",
                attempt.code,
                attempt.caller,
                type(exc).__name__,
                self.pause,
            )

    def _plan(self, attempt: Attempt) -> list[RefusalRow]:
        """The rows to write for ``attempt`` (none, its own, and/or a summary)."""
        now = int(self.clock() * 1000)
        minute = now // MINUTE_MS
        rows: list[RefusalRow] = []
        with self._lock:
            if minute != self._minute:
                if self._unrecorded:
                    log.warning(
                        "%d refusals not recorded in the last minute (at most %d rows a minute)",
                        self._unrecorded,
                        self.rows_per_minute,
                    )
                self._minute, self._rows, self._unrecorded = minute, 0, 0
                # The minute ended: every caller's uncounted rest, in a row each.
                for ended in self._callers.values():
                    if ended.over > ended.reported:
                        last = (ended.minute + 1) * MINUTE_MS - 1  # counted in its own minute
                        rows.append(_summary(ended.first, last, ended.over - ended.reported))
                        ended.reported = ended.over
            key = (attempt.caller, attempt.code)
            state = self._callers.pop(key, None)
            if state is None or state.minute != minute:
                state = _Caller(attempt, minute)
            self._callers[key] = state
            while len(self._callers) > self.max_callers:
                self._callers.popitem(last=False)
            if state.full < self.sample:
                state.full += 1
                rows.append(_row(attempt, now))
            else:
                state.over += 1
                if state.over & (state.over - 1) == 0:  # a power of two: the count doubled
                    rows.append(_summary(attempt, now, state.over - state.reported))
                    state.reported = state.over
            allowed = max(0, self.rows_per_minute - self._rows)
            if len(rows) > allowed:
                self._unrecorded += sum(r["count"] for r in rows[allowed:])
                rows = rows[:allowed]
            self._rows += len(rows)
        return rows


def _row(attempt: Attempt, now: int) -> RefusalRow:
    event = attempt.event
    heads = advanced_heads(event) if event is not None else ()
    return RefusalRow(
        at=now,
        code=attempt.code[:64],
        caller=attempt.caller[:96],
        key_id=attempt.key_id,
        client=attempt.client[:64],
        claimed_participant=attempt.claimed_participant,
        signer=attempt.signer,
        action=None if event is None else int(event.action),
        event_hash=attempt.event_hash,
        nonce=None if event is None else event.nonce.to_bytes(32, "big"),
        batch_ids=b"" if event is None else b"".join(sorted(event.batch_ids())),
        heads=b"".join(b + p for b, p in heads),
        detail=attempt.detail[:256],
        count=1,
    )


def _summary(attempt: Attempt, now: int, count: int) -> RefusalRow:
    """A row standing for ``count`` refusals of one caller and code, without their events."""
    bare = replace(attempt, event=None, event_hash=None, signer=None, detail="coalesced")
    row = _row(bare, now)
    row["count"] = count
    return row
