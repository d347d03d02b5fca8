"""Backpressure over HTTP: while a new event's predicted wait for its proof passes the
bound, submissions are 503 ``backlogged`` with Retry-After and nothing is stored; once
anchoring catches up they are accepted again; /v1/info and /metrics show the backlog."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api import create_app
from api.backpressure import FRESH_FOR, BacklogWatch
from node.events.submission import submission_document
from node.events.typed_data import Action
from node.ingest.compose import compose_event
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient

BOUND = 30.0  # TRACENODE_API_MAX_PROOF_DELAY here


@dataclass
class Rig:
    harness: TraceNodeHarness
    client: AppClient
    token: str
    now: list[float]  # the backlog watch's clock

    def submit(self, lot: str) -> tuple[int, dict[str, object], dict[str, str]]:
        signed = compose_event(
            store=self.harness.node.store,
            domain=self.harness.node.domain,
            private_key=bytes(self.harness.keys["farm"].key),
            action=Action.COMMISSION,
            batch=lot,
            quantity=1,
        )
        answer = self.client.post(
            "/v1/events",
            json=submission_document(signed),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        return answer.status_code, answer.json(), dict(answer.headers)

    def later(self, seconds: float) -> None:
        self.now[0] += seconds


@pytest.fixture
def rig(tracenode: TraceNodeHarness) -> Iterator[Rig]:
    settings = TEST_SETTINGS.model_copy(update={"max_proof_delay": BOUND})
    app = create_app(tracenode.node, settings=settings)
    now = [0.0]
    gateway = app.state.gateway
    gateway.backlog = BacklogWatch(tracenode.node.store, interval=1.0, clock=lambda: now[0])
    client = AppClient(app)
    token = (
        ApiKeys(tracenode.node.store).create(participant_id=tracenode.participant_id("farm")).token
    )
    yield Rig(tracenode, client, token, now)
    client.close()


def test_a_stalled_queue_refuses_submissions_until_anchoring_catches_up(rig: Rig) -> None:
    rig.now[0] = time.time()
    status, _, _ = rig.submit("88.456/BP-1")
    assert status == 202  # nothing waits yet

    rig.later(BOUND + 5)  # the event waited past the bound, nothing anchored
    status, problem, headers = rig.submit("88.456/BP-2")

    assert status == 503
    assert problem["code"] == "backlogged"
    assert problem["dependency"] == "commit"
    assert headers["retry-after"] == "30"
    assert float(str(problem["predictedSeconds"])) >= BOUND
    with rig.harness.node.store.read() as conn:
        assert rig.harness.node.store.events.count(conn) == 1  # the refused one not stored
    info = rig.client.get("/v1/info").json()["backlog"]
    assert info["queued"] == 1
    assert info["stalled"] is True
    assert info["maxProofDelaySeconds"] == BOUND
    metrics = rig.client.get("/metrics").text
    assert "tracenode_commit_predicted_proof_seconds" in metrics

    rig.harness.commit()
    rig.later(FRESH_FOR)  # the watch reads the store again
    status, _, _ = rig.submit("88.456/BP-3")
    assert status == 202
    rig.later(FRESH_FOR)
    assert rig.client.get("/v1/info").json()["backlog"]["queued"] == 1


def test_a_bound_of_zero_turns_backpressure_off(tracenode: TraceNodeHarness) -> None:
    settings = TEST_SETTINGS.model_copy(update={"max_proof_delay": 0.0})
    app = create_app(tracenode.node, settings=settings)
    client = AppClient(app)
    token = (
        ApiKeys(tracenode.node.store).create(participant_id=tracenode.participant_id("farm")).token
    )
    try:
        now = [1e12]  # far in the future: every waiting event looks ancient
        app.state.gateway.backlog = BacklogWatch(
            tracenode.node.store, interval=1.0, clock=lambda: now[0]
        )
        tracenode.submit("farm", Action.COMMISSION, "88.456/OFF-1", quantity=1)
        signed = compose_event(
            store=tracenode.node.store,
            domain=tracenode.node.domain,
            private_key=bytes(tracenode.keys["farm"].key),
            action=Action.COMMISSION,
            batch="88.456/OFF-2",
            quantity=1,
        )
        answer = client.post(
            "/v1/events",
            json=submission_document(signed),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 202, answer.text
    finally:
        client.close()
