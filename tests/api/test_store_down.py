"""A real ``tracenode serve`` on a PostgreSQL of the test's own, stopped mid-test: writes
and reads answer 503 ``store-unavailable`` with ``Retry-After`` and one log line each (no
traceback), ``/metrics`` still answers with ``tracenode_store_up 0`` and the commit
leader's gauge, ``/readyz`` is 503; once the database is back, everything is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.server import SERVE_PASSWORD, Server, commission, prepare, read_metrics, timed
from tests.api.test_server import wait_anchored
from tests.postgres import ThrowawayPostgres, started_postgres

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    yield from started_postgres()


def test_a_stopped_database_is_503_with_retry_after_and_metrics_still_answer(
    tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    data_dir = tmp_path / "data"
    farm, token = prepare(data_dir, database_url=postgres.url)
    auth = {"Authorization": f"Bearer {token}"}
    server = Server(data_dir, SERVE_PASSWORD, "--commit-interval", "0.2")
    try:
        server.wait_ready()
        first = httpx.post(
            f"{server.url}/v1/events",
            json=commission(server.url, farm, "88.123.45/store-1", 1),
            headers=auth,
            timeout=30,
        )
        assert first.status_code == 202, first.text
        first_hash = first.json()["eventHash"]
        assert wait_anchored(server.url, first_hash)["status"] == "anchored"
        second = commission(server.url, farm, "88.123.45/store-2", 2)

        postgres.stop()
        write, write_time = timed(
            lambda: httpx.post(f"{server.url}/v1/events", json=second, headers=auth, timeout=30)
        )
        batch, batch_time = timed(
            lambda: httpx.get(f"{server.url}/v1/batches/88.123.45/store-1", timeout=30)
        )
        event, event_time = timed(
            lambda: httpx.get(f"{server.url}/v1/events/{first_hash}", timeout=30)
        )
        metrics = read_metrics(server.url, timeout=30)
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        log = server.log.read_text(errors="replace")

        for answer, took in ((write, write_time), (batch, batch_time), (event, event_time)):
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == PROBLEM_JSON
            assert answer.headers["retry-after"].isdigit()
            problem = answer.json()
            assert problem["code"] == "store-unavailable"
            assert problem["type"] == "urn:tracenode:problem:store-unavailable"
            assert problem["dependency"] == "store"
            assert problem["retryAfter"] == int(answer.headers["retry-after"]) > 0
            assert took < 10  # refused at once; bounded by the connect timeout (5 s) at worst
        assert metrics["tracenode_store_up"] == 0
        assert metrics["tracenode_chain_up"] == 1
        assert "tracenode_commit_leader" in metrics
        assert not any(name.startswith("tracenode_events{") for name in metrics)
        assert ready.status_code == 503
        assert ready.json()["store"] is False
        assert ready.json()["chain"] is True
        for path in ("/v1/events", "/v1/batches/88.123.45/store-1", f"/v1/events/{first_hash}"):
            lines = [line for line in log.splitlines() if f" {path}: 503 store-unavailable" in line]
            assert len(lines) == 1, log

        postgres.start()
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.2)
        again = httpx.post(f"{server.url}/v1/events", json=second, headers=auth, timeout=30)
        assert again.status_code == 202, again.text
        assert again.json()["outcome"] == "accepted"  # the refused request wrote nothing
        assert wait_anchored(server.url, again.json()["eventHash"])["status"] == "anchored"
        assert read_metrics(server.url)["tracenode_store_up"] == 1
        # Nothing — requests, the commit leader, the participant sync — logged a traceback
        # for the outage: each failure is one line.
        assert "Traceback" not in server.log.read_text(errors="replace"), server.output()
    finally:
        server.stop()
