"""EPCIS capture jobs (EPCIS 2.0 REST bindings, docs/epcis.md "Capture jobs"): every
capture that ran is recorded as a job, with who submitted it, when it started and
finished, the error behaviour it asked for, and each event's and master-data element's
outcome.

A synchronous capture (the default) is complete when ``POST /v1/epcis/capture`` answers,
and its job is written once, after the capture (:func:`record_job`). An asynchronous one
(``Prefer: respond-async``) is checked whole, written running with its request, and
answered at once; :class:`CaptureJobs` runs it in the background, its progress written as
it goes. A request refused whole (malformed, over the limits, signing other TraceEvents
than its document maps to) ran no capture and leaves no job.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import Connection, text

from node.commit.leader import leader_lock
from node.epcis.capture import (
    AssertionOutcome,
    AssertionResult,
    CaptureErrorBehaviour,
    CaptureStopped,
    EpcisResult,
    Outcome,
    PlannedCapture,
    plan_capture,
    refusal_json,
    run_capture,
)
from node.exceptions import (
    DependencyUnavailableError,
    EpcisCaptureQueueFullError,
    EpcisError,
    TraceNodeError,
)
from node.ingest.service import IngestService
from node.store.availability import store_unavailable
from node.store.engine import advisory_key
from node.store.epcis_jobs import stored_json
from node.store.records import CaptureJobRecord
from node.store.store import Store

log = logging.getLogger(__name__)

SUCCEEDED: Final = "succeeded"  # no event or element refused
FAILED: Final = "failed"  # an event or element refused (the others kept unless rollback)
#: The key marking a stored outcome as a master-data element's (not an event's).
MASTER_DATA: Final = "masterData"


def new_capture_id() -> str:
    """An opaque, unguessable captureID."""
    return "cap_" + secrets.token_hex(16)


def record_job(
    store: Store,
    *,
    submitter: int | None,
    behaviour: CaptureErrorBehaviour,
    results: Sequence[EpcisResult],
    created_at: int,
    finished_at: int,
    assertions: Sequence[AssertionResult] = (),
) -> CaptureJobRecord:
    """Record a capture that ran: its events' outcomes as :meth:`EpcisResult.as_json`
    gives them, then its header's master-data elements' (:meth:`AssertionResult.as_json`,
    marked ``"masterData": true``). It failed when an event or an element was refused, as
    the capture's own answer says."""
    refused = any(r.outcome is Outcome.REFUSED for r in results) or any(
        a.outcome is AssertionOutcome.REFUSED for a in assertions
    )
    with store.write() as conn:
        return store.epcis_jobs.add(
            conn,
            capture_id=new_capture_id(),
            submitter=submitter,
            created_at=created_at,
            finished_at=finished_at,
            behaviour=str(behaviour),
            status=FAILED if refused else SUCCEEDED,
            outcomes=[r.as_json() for r in results]
            + [a.as_json() | {MASTER_DATA: True} for a in assertions],
            events_total=len(results),
            events_done=len(results),
        )


def job_path(capture_id: str) -> str:
    """Where the gateway serves a job (the capture's ``Location``)."""
    return f"/v1/epcis/capture/{capture_id}"


# ----- asynchronous jobs (``Prefer: respond-async``) -----

RUNNING: Final = "running"
#: Seconds between looks at the store for jobs to run when nothing wakes the runner (a
#: job accepted by another process sharing the store, a lock freed).
POLL_SECONDS: Final = 2.0


class CaptureJobs:
    """The bounded worker of asynchronous capture jobs.

    The store is the queue: a job is written, with its signed request, before the
    request is answered (:meth:`submit`), and runs from there. At most ``bound`` jobs wait
    or run at once on a store (:meth:`submit` refuses beyond,
    :class:`~node.exceptions.EpcisCaptureQueueFullError`); one thread of one process at a
    time runs them, oldest first (the process holding the store's capture-jobs lock while
    it runs them, a lock like the commit leader's: node/commit/leader.py), ``step`` events per
    transaction, the job's progress written in each step's transaction. A node stopped
    (or killed) mid-job resumes it when it starts again: the events decided before keep
    their outcomes, the others are captured then.
    """

    def __init__(
        self,
        ingest: IngestService,
        *,
        bound: int,
        step: int,
        clock: Callable[[], float] = time.time,
        retry_after: int = 5,
    ) -> None:
        self.ingest = ingest
        self.store = ingest.store
        self.bound = bound
        self.step = step
        self.clock = clock
        self.retry_after = retry_after
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Plans of jobs this process accepted and has not run yet (at most ``bound``).
        self._plans: dict[str, PlannedCapture] = {}

    def start(self, stop: threading.Event | None = None) -> None:
        """Run jobs in a thread of this process (:meth:`run`) until ``stop`` is set or
        :meth:`close`; once, however often it is called."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = stop or threading.Event()
            self._thread = threading.Thread(
                target=self.run, args=(self._stop,), name="capture-jobs", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread (a job is left between two steps, to be resumed)."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def wake(self) -> None:
        """Have the runner look for jobs now rather than at its next poll."""
        self._wake.set()

    def admit(self) -> None:
        """Refuse at once while the queue is full (:meth:`submit` checks again)."""
        with self.store.read() as conn:
            waiting = self.store.epcis_jobs.count_unfinished(conn)
        if waiting >= self.bound:
            raise self._full(waiting)

    def _full(self, waiting: int) -> EpcisCaptureQueueFullError:
        return EpcisCaptureQueueFullError(
            f"{waiting} asynchronous capture jobs wait or run, as many as this node allows: "
            "send the request again later, or capture synchronously",
            retry_after=self.retry_after,
        )

    def submit(
        self,
        *,
        request: Any,
        planned: PlannedCapture,
        submitter: int | None,
        behaviour: CaptureErrorBehaviour,
    ) -> CaptureJobRecord:
        """Accept a job for ``request``, checked whole already (``planned``:
        :func:`plan_capture`), written running, its request kept until it finishes; its
        plan kept in memory for the runner of this process."""
        body = stored_json(request)
        store = self.store
        with store.write() as conn:
            if store.dialect == "postgresql":  # concurrent admissions count one at a time
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key("capture-jobs")}
                )
            waiting = store.epcis_jobs.count_unfinished(conn)
            if waiting >= self.bound:
                raise self._full(waiting)
            job = store.epcis_jobs.add(
                conn,
                capture_id=new_capture_id(),
                submitter=submitter,
                created_at=int(self.clock() * 1000),
                finished_at=None,
                behaviour=str(behaviour),
                status=RUNNING,
                outcomes=[],
                events_total=planned.events,
                events_done=0,
                request=body,
            )
        with self._lock:
            self._plans[job.capture_id] = planned
        self.wake()
        return job

    def run(self, stop: threading.Event, *, poll: float = POLL_SECONDS) -> None:
        """Until ``stop`` is set: when jobs wait, take the store's capture-jobs lock if it
        is free and run them, oldest first, then let the lock go; a job is left between
        two steps when ``stop`` is set, and resumed by whoever runs jobs next."""
        lock = leader_lock(self.store, "epcis-capture-jobs")
        while not stop.is_set():
            try:
                with self.store.read() as conn:
                    waiting = self.store.epcis_jobs.count_unfinished(conn)
                    if self._plans:  # jobs another process ran: their plans go
                        running = set(self.store.epcis_jobs.unfinished(conn))
                        with self._lock:
                            self._plans = {k: p for k, p in self._plans.items() if k in running}
                if waiting and lock.try_acquire():
                    try:
                        self.run_waiting(stop)
                    finally:
                        lock.release()
            except Exception as exc:  # the store down: try again after a while
                log.warning("capture jobs: %s", store_unavailable(exc) or exc)
                log.debug("capture jobs failed", exc_info=exc)
            if stop.is_set():
                break
            self._wake.wait(poll)
            self._wake.clear()

    def run_waiting(self, stop: threading.Event | None = None) -> int:
        """Run every job waiting now, oldest first (the caller runs jobs: it holds the
        lock); how many finished."""
        with self.store.read() as conn:
            waiting = self.store.epcis_jobs.unfinished(conn)
        finished = 0
        for capture_id in waiting:
            if stop is not None and stop.is_set():
                break
            finished += self.run_job(capture_id, stop)
        return finished

    def run_job(self, capture_id: str, stop: threading.Event | None = None) -> bool:
        """Run (or resume) one job to its end; False when ``stop`` (looked at after each
        step) left it between two steps, or the store or the chain could not be reached:
        it runs again later, from where it was left.

        The plan :meth:`submit` was given is used when this process has it (the request
        is not checked twice); a job resumed, or one whose plan the store outdated while
        it waited (another capture stored its events meanwhile), is planned again from
        its stored request and the store as it is now."""
        cached = self._take_plan(capture_id)
        for planned in ([cached] if cached is not None else []) + [None]:
            finished = self._run(capture_id, planned, stop, last=planned is None)
            if finished is not None:
                return finished
        return False

    def _run(
        self,
        capture_id: str,
        planned: PlannedCapture | None,
        stop: threading.Event | None,
        *,
        last: bool,
    ) -> bool | None:
        """One attempt of :meth:`run_job`: None when a plan made before the job ran was
        refused whole (outdated): the job is planned again."""
        store = self.store
        with store.read() as conn:
            job = store.epcis_jobs.get(conn, capture_id)
            body = store.epcis_jobs.request(conn, capture_id) if planned is None else b""
        if job is None or body is None or job.finished_at is not None:
            return False
        start = job.events_done or 0
        before = [o for o in job.outcomes if not o.get(MASTER_DATA)][:start]
        elements: list[AssertionResult] = []

        def progress(conn: Connection | None, done: int, results: list[EpcisResult]) -> None:
            outcomes = before + [r.as_json() for r in results[start:done]]
            if conn is not None:
                store.epcis_jobs.progress(conn, capture_id, events_done=done, outcomes=outcomes)
                return
            with store.write() as own:
                store.epcis_jobs.progress(own, capture_id, events_done=done, outcomes=outcomes)

        try:
            if planned is None:
                planned = plan_capture(
                    ingest=self.ingest,
                    request=json.loads(body),
                    as_participant=None,  # relayed events are their signers' (docs/epcis.md)
                    behaviour=CaptureErrorBehaviour(job.behaviour),
                    submitter=job.submitter,
                )
            results = run_capture(
                planned,
                clock=self.clock,
                master_data=elements,
                step=self.step,
                progress=progress,
                start=start,
                stop=stop,
            )
        except CaptureStopped:
            return False
        except DependencyUnavailableError as exc:
            log.warning("capture job %s waits: %s", capture_id, exc)
            return False
        except EpcisError as exc:
            if not exc.outcomes:  # the whole request refused (the node changed meanwhile)
                if not last:
                    return None
                self._finish(job, [], [], start, error=refusal_json(exc))
                return True
            results = [r for r in exc.outcomes if isinstance(r, EpcisResult)]
            elements = [r for r in exc.outcomes if isinstance(r, AssertionResult)]
        except TraceNodeError as exc:
            self._finish(job, [], [], start, error={"code": exc.code, "detail": str(exc)})
            return True
        except Exception as exc:
            log.error("capture job %s failed", capture_id, exc_info=exc)
            self._finish(job, [], [], start, error=_FAILED)
            return True
        self._finish(job, [*before, *(r.as_json() for r in results[start:])], elements, None)
        return True

    def _take_plan(self, capture_id: str) -> PlannedCapture | None:
        with self._lock:
            return self._plans.pop(capture_id, None)

    def _finish(
        self,
        job: CaptureJobRecord,
        outcomes: list[dict[str, Any]],
        elements: Sequence[AssertionResult],
        done: int | None,
        *,
        error: dict[str, Any] | None = None,
    ) -> None:
        """The job finished: every event's outcome, or (``error``: the whole request
        refused) the outcomes of the events decided before (``done`` of them)."""
        store = self.store
        if error is not None:
            with store.read() as conn:
                found = store.epcis_jobs.get(conn, job.capture_id)
            kept = [] if found is None else list(found.outcomes)
            outcomes, done = kept, (found.events_done if found is not None else 0) or 0
        refused = (
            error is not None
            or any(o.get("outcome") == str(Outcome.REFUSED) for o in outcomes)
            or any(a.outcome is AssertionOutcome.REFUSED for a in elements)
        )
        with store.write() as conn:
            store.epcis_jobs.finish(
                conn,
                job.capture_id,
                finished_at=int(self.clock() * 1000),
                status=FAILED if refused else SUCCEEDED,
                events_done=len(outcomes) if done is None else done,
                outcomes=outcomes + [a.as_json() | {MASTER_DATA: True} for a in elements],
                error=error,
            )


#: A job that failed on a defect of the node's (logged), not on its request (the
#: gateway's ``internal-error``, 500).
_FAILED: Final = {"code": "internal-error", "detail": "the capture failed; see the node's log"}
