"""Asynchronous EPCIS capture jobs (``Prefer: respond-async``; docs/epcis.md, "Capture
jobs"): the request is checked whole at once, answered 202 with the running job, and
captured in the background in steps whose progress the job shows; the outcomes are the
synchronous capture's; the queue has a bound; a node stopped mid-job resumes it.

The runner is held back deterministically by the store's own capture-jobs lock, taken by
the test as another process would hold it (no mock): jobs then wait, ``running``, until
the test runs a step itself or lets the runner go."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api import create_app
from node.commit.leader import LeaderLock, leader_lock
from node.epcis.capture import CaptureErrorBehaviour, plan_capture, sign_document
from node.epcis.jobs import CaptureJobs
from node.exceptions import EpcisCaptureQueueFullError
from node.store.apikeys import ApiKeys
from node.testing.harness import TEST_PASSWORD, TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.api.server import Server
from tests.environment import postgres_database
from tests.node.epcis.conftest import commissioning, document, new_lot, receiving
from tests.wait import wait_until

ASYNC = {"Prefer": "respond-async"}
PROCEED = CaptureErrorBehaviour.PROCEED
STEP = 2  # events per step: a five-event document runs in three


def five_events() -> dict[str, Any]:
    """Four lots commissioned and, third, a lot of another company's prefix received
    (refused: licensed elsewhere)."""
    a, b, c, d = (new_lot() for _ in range(4))
    return document(
        commissioning(a), commissioning(b), receiving(new_lot("0614142")),
        commissioning(c), commissioning(d),
    )  # fmt: skip


@dataclass
class Rig:
    client: AppClient
    harness: TraceNodeHarness
    jobs: CaptureJobs
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def signed(self, doc: dict[str, Any]) -> dict[str, Any]:
        return sign_document(
            store=self.harness.node.store,
            domain=self.harness.node.domain,
            private_key=bytes(self.harness.keys["farm"].key),
            document=doc,
        )

    def capture(self, body: Any, **headers: str) -> httpx.Response:
        return self.client.post("/v1/epcis/capture", json=body, headers=self.auth | headers)

    def job(self, location: str) -> dict[str, Any]:
        answer = self.client.get(location, headers=self.auth)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def jobs_count(self) -> int:
        with self.harness.node.store.read() as conn:
            return int(conn.execute(text("SELECT count(*) FROM epcis_capture_jobs")).scalar_one())

    def runner_lock(self) -> LeaderLock:
        """The store's capture-jobs lock, as another process would hold it."""
        lock = leader_lock(self.harness.node.store, "epcis-capture-jobs")
        assert wait_until(lock.try_acquire, 30)  # the runner may hold it a moment
        return lock


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("epcis-async") / "node")
    settings = TEST_SETTINGS.model_copy(update={"capture_step": STEP, "capture_queue": 2})
    app = create_app(harness.node, settings=settings)
    client = AppClient(app)
    token = ApiKeys(harness.node.store).create(participant_id=harness.participant_id("farm"))
    jobs: CaptureJobs = app.state.gateway.capture_jobs
    try:
        yield Rig(client, harness, jobs, token.token)
    finally:
        jobs.close()
        client.close()
        harness.close()


def outcomes(results: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(r["outcome"], r["problem"] and r["problem"]["code"]) for r in results]


def finished(rig: Rig, location: str) -> dict[str, Any]:
    rig.jobs.wake()
    found: dict[str, Any] = wait_until(
        lambda: (job := rig.job(location))["running"] is False and job, 60, interval=0.05
    )
    return found


def test_an_async_capture_answers_at_once_shows_progress_and_ends_as_a_sync_one(rig: Rig) -> None:
    synchronous = rig.capture(rig.signed(five_events()))
    assert synchronous.status_code == 202, synchronous.text
    lock = rig.runner_lock()
    try:
        answer = rig.capture(rig.signed(five_events()), **ASYNC)

        assert answer.status_code == 202, answer.text
        assert answer.headers["Preference-Applied"] == "respond-async"
        accepted = answer.json()
        location = answer.headers["Location"]
        assert location == f"/v1/epcis/capture/{accepted['captureID']}"
        assert (accepted["running"], accepted["eventsTotal"], accepted["eventsDone"]) == (
            True, 5, 0,
        )  # fmt: skip
        assert (accepted["finishedAt"], accepted["results"]) == (None, [])
        assert rig.job(location)["running"] is True  # waits while the runner is held
        # One step run here, as the runner runs it, then left (as a stopping node leaves it).
        stop = threading.Event()
        stop.set()
        assert rig.jobs.run_job(accepted["captureID"], stop) is False
        partial = rig.job(location)
        assert (partial["running"], partial["eventsDone"]) == (True, STEP)
        assert outcomes(partial["results"]) == [("captured", None)] * STEP
    finally:
        lock.release()

    job = finished(rig, location)

    assert job["eventsDone"] == job["eventsTotal"] == 5
    assert job["finishedAt"] is not None
    assert job["success"] is False
    assert outcomes(job["results"]) == outcomes(synchronous.json()["results"])
    assert outcomes(job["results"]) == [
        ("captured", None), ("captured", None), ("refused", "epcis-event-rejected"),
        ("captured", None), ("captured", None),
    ]  # fmt: skip
    assert [e["cause"]["code"] for e in job["errors"]] == ["licensed-elsewhere"]


def test_all_or_nothing_async_is_one_transaction(rig: Rig) -> None:
    answer = rig.capture(
        rig.signed(five_events()), **ASYNC, **{"GS1-Capture-Error-Behaviour": "rollback"}
    )
    assert answer.status_code == 202, answer.text

    job = finished(rig, answer.headers["Location"])

    assert (job["captureErrorBehaviour"], job["success"], job["eventsDone"]) == (
        "rollback",
        False,
        5,
    )
    assert [r["outcome"] for r in job["results"]] == ["refused"] * 5
    codes = [r["problem"]["code"] for r in job["results"]]
    assert codes.count("epcis-capture-rolled-back") == 4


def test_what_the_sync_capture_refuses_whole_is_refused_at_once(rig: Rig) -> None:
    jobs = rig.jobs_count()
    signed = rig.signed(document(commissioning(new_lot()), commissioning(new_lot())))
    signed["traceEvents"] = signed["traceEvents"][:1]
    cases: list[tuple[Any, dict[str, str], int, str]] = [
        ({"document": {"type": "EPCISDocument"}}, {}, 422, "epcis-invalid-document"),
        (signed, {}, 422, "epcis-signature-mismatch"),
        (
            rig.signed(five_events()),
            {"GS1-Capture-Error-Behaviour": "maybe"},
            422,
            "validation-error",
        ),
    ]
    for body, headers, status, code in cases:
        answer = rig.capture(body, **ASYNC, **headers)

        assert answer.status_code == status, answer.text
        assert answer.json()["code"] == code
        assert "Preference-Applied" not in answer.headers
    no_key = rig.client.post("/v1/epcis/capture", json=signed, headers=ASYNC)
    assert no_key.status_code == 401
    assert rig.jobs_count() == jobs  # nothing accepted, nothing written


def test_the_queue_has_a_bound(rig: Rig) -> None:
    lock = rig.runner_lock()
    try:
        accepted = [rig.capture(rig.signed(five_events()), **ASYNC) for _ in range(2)]
        assert [a.status_code for a in accepted] == [202, 202]
        jobs = rig.jobs_count()

        full = rig.capture(rig.signed(five_events()), **ASYNC)

        assert full.status_code == 503, full.text
        assert full.json()["code"] == "epcis-capture-queue-full"
        assert int(full.headers["Retry-After"]) >= 1
        assert rig.jobs_count() == jobs
        # A synchronous capture is not queued: it still runs.
        assert rig.capture(rig.signed(five_events())).status_code == 202
    finally:
        lock.release()
    for answer in accepted:
        assert finished(rig, answer.headers["Location"])["eventsDone"] == 5
    assert rig.capture(rig.signed(five_events()), **ASYNC).status_code == 202


@pytest.mark.slow  # two `tracenode serve` starts (~40 s): scripts/test_async_capture.sh
def test_a_job_left_mid_way_by_a_stopped_node_and_a_killed_serve_is_resumed(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "node"
    harness = TraceNodeHarness.create(data_dir)
    settings = TEST_SETTINGS.model_copy(update={"capture_step": STEP})
    lock = leader_lock(harness.node.store, "epcis-capture-jobs")
    assert lock.try_acquire()  # held by the test throughout, until the last serve
    try:
        app = create_app(harness.node, settings=settings)
        client = AppClient(app)
        jobs: CaptureJobs = app.state.gateway.capture_jobs
        token = ApiKeys(harness.node.store).create(participant_id=harness.participant_id("farm"))
        auth = {"Authorization": f"Bearer {token.token}"}
        signed = sign_document(
            store=harness.node.store,
            domain=harness.node.domain,
            private_key=bytes(harness.keys["farm"].key),
            document=five_events(),
        )
        answer = client.post("/v1/epcis/capture", json=signed, headers=auth | ASYNC)
        assert answer.status_code == 202, answer.text
        location = answer.headers["Location"]
        stop = threading.Event()
        stop.set()
        assert jobs.run_job(answer.json()["captureID"], stop) is False  # one step, then left
        jobs.close()
        client.close()
    finally:
        harness.close()  # the node stops mid-job: two of five events captured

    def job_of(server: Server) -> dict[str, Any]:
        found = httpx.get(server.url + location, headers=auth, timeout=10)
        assert found.status_code == 200, found.text
        job: dict[str, Any] = found.json()
        return job

    env = {"TRACENODE_API_CAPTURE_STEP": str(STEP)}
    killed = Server(data_dir, TEST_PASSWORD, env=env)
    try:
        killed.wait_ready()
        waiting = job_of(killed)  # its runner cannot take the lock the test holds
        assert (waiting["running"], waiting["eventsDone"]) == (True, STEP)
    finally:
        killed.kill()
    lock.release()
    server = Server(data_dir, TEST_PASSWORD, env=env)
    try:
        server.wait_ready()
        job = wait_until(lambda: (found := job_of(server))["running"] is False and found, 60)
    finally:
        assert server.stop() == 0, server.output()

    assert job["eventsDone"] == job["eventsTotal"] == 5
    # The events captured before the stop keep their outcome; none is captured twice.
    assert outcomes(job["results"]) == [
        ("captured", None), ("captured", None), ("refused", "epcis-event-rejected"),
        ("captured", None), ("captured", None),
    ]  # fmt: skip
    traced = [t for r in job["results"] for t in r["traceEvents"]]
    assert len(traced) == len(set(traced)) == 4
    with TraceNodeHarness.create(data_dir) as reopened, reopened.node.store.read() as conn:
        stored = conn.execute(text("SELECT count(*) FROM epcis_events")).scalar_one()
    assert stored == 4


def test_jobs_on_postgresql_are_bounded_progress_and_resume(tmp_path: Path) -> None:
    # The queue's bound under PostgreSQL's advisory lock, progress and resumption there.
    with postgres_database() as url:
        harness = TraceNodeHarness.create(tmp_path / "node", database_url=url)
        try:
            jobs = CaptureJobs(harness.node.ingest, bound=1, step=STEP)
            request = sign_document(
                store=harness.node.store,
                domain=harness.node.domain,
                private_key=bytes(harness.keys["farm"].key),
                document=five_events(),
            )
            planned = plan_capture(ingest=harness.node.ingest, request=request)
            job = jobs.submit(request=request, planned=planned, submitter=None, behaviour=PROCEED)
            with pytest.raises(EpcisCaptureQueueFullError):
                jobs.submit(request=request, planned=planned, submitter=None, behaviour=PROCEED)
            stop = threading.Event()
            stop.set()
            left = jobs.run_job(job.capture_id, stop)
            store = harness.node.store
            with store.read() as conn:
                partial = store.epcis_jobs.get(conn, job.capture_id)

            resumed = jobs.run_job(job.capture_id)

            with store.read() as conn:
                done = store.epcis_jobs.get(conn, job.capture_id)
                kept = store.epcis_jobs.request(conn, job.capture_id)
        finally:
            harness.close()

    assert left is False
    assert partial is not None
    assert partial.events_done == STEP
    assert resumed is True
    assert done is not None
    assert (done.status, done.events_done, kept) == ("failed", 5, None)
    assert [o["outcome"] for o in done.outcomes] == [
        "captured", "captured", "refused", "captured", "captured",
    ]  # fmt: skip
