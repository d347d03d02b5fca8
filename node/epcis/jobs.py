"""EPCIS capture jobs (EPCIS 2.0 REST bindings, docs/epcis.md "Capture jobs"): every
capture that ran is recorded as a job, with who submitted it, when it started and
finished, the error behaviour it asked for, and each event's and master-data element's
outcome.

TraceNode's capture is synchronous: the job is complete when ``POST /v1/epcis/capture``
answers (``running`` is never seen true), and is written once, after the capture. A
request refused whole (malformed, over the limits, signing other TraceEvents than its
document maps to) ran no capture and leaves no job.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final

from node.epcis.capture import (
    AssertionOutcome,
    AssertionResult,
    CaptureErrorBehaviour,
    EpcisResult,
    Outcome,
)
from node.store.records import CaptureJobRecord
from node.store.store import Store

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
        )


def job_path(capture_id: str) -> str:
    """Where the gateway serves a job (the capture's ``Location``)."""
    return f"/v1/epcis/capture/{capture_id}"
