"""The whole path as a user runs it: a real ``tracenode serve`` process, real HTTP clients.

Two data directories are made (node.bench.serving: participants registered on the
chain, an API key each); then, in rounds that alternate which goes first, each is served
by ``tracenode serve`` in a child process of its own — one as it starts by default
(committing), one with ``--no-commit`` (HTTP ingest only) — and sent the round's signed
mixed-workload events by ``clients`` concurrent keep-alive HTTP clients, each request
one participant's events under its own API key (node.bench.workload), bodies serialised
before the clock starts. Only one server runs at a time; it is stopped (SIGTERM, then
killed) after each round and started again (not timed) for the next.

- ingest only: from the first request sent until the last event is accepted;
- whole path: from the first request sent until every event is anchored. The client
  polls ``GET /v1/anchors`` every ``POLL_S`` seconds from the round's start, while it
  sends (until 5 Dec 2026 only once the last request had returned, so that every window
  anchored mid-round was "seen" at the end of sending: in 20,000-event rounds that made
  an event's wait 5-9 s, p50, instead of what it was), and notes when each window first
  shows; the ingest-only server is polled alike. The round ends when the new windows
  hold every event (the last one's first sighting). Then the proofs of every event, or
  of every k-th in the order accepted when there are more than ``LATENCY_SAMPLE``, are
  fetched (``GET /v1/events/{hash}/proof``, not timed) and each one's window tells when
  it was anchored. accepted → anchored is that time less the time its request returned.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import httpx

from node.bench.burst import latencies
from node.bench.machine import load_average, loads, median_of, rotated
from node.bench.serving import BENCH_PASSWORD, BenchNode
from node.bench.workload import MIXED_STEPS, MixedWorkload, Request
from node.commit.custody import CustodyMode
from node.events.submission import submission_document
from node.keys.keystore import PASSWORD_ENV
from node.runtime import Progress, quiet
from node.testing.serving import serve_command, wait_served

log = logging.getLogger(__name__)

#: Events a round whose proofs time accepted → anchored, at most: at the gateway's
#: default read rate (50 requests a second a key), 20,000 proofs took 100 s a round.
LATENCY_SAMPLE: Final = 4_000
#: Seconds between two looks at /v1/anchors.
POLL_S: Final = 0.1
#: Seconds a round waits at most for serve's integrity monitor to have read every event.
MONITOR_WAIT_S: Final = 120.0
_MONITOR: Final = "monitor_read_all_s_after_anchored"
#: Seconds a request may take (a thousand-event list on a loaded machine included).
REQUEST_TIMEOUT_S: Final = 120.0
_LISTENING = re.compile(r"serving\s.*?\son\s+(http://\S+)\s+\(chain", re.DOTALL)
_STARTS = itertools.count(1)
#: What the served processes run with besides serve's defaults: backpressure off. The
#: ingest-only server never anchors, so its backlog only grows from round to round, and
#: after 300 s it would refuse the bench's events (503 backlogged); the bench measures
#: how fast events are taken and anchored, not when a node says "later".
SERVE_ENV: Final = {"TRACENODE_API_MAX_PROOF_DELAY": "0"}


class ServeProcess:
    """``tracenode serve`` on ``data_dir`` as a child process, on a port the OS picks.

    Ready once it answers ``/readyz`` (within ``startup_timeout`` seconds, or it is
    killed and TimeoutError raised); ``stop()`` sends SIGTERM and kills it if it has not
    exited within ``stop_timeout`` seconds."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        startup_timeout: float = 180.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.command = serve_command(data_dir, 0, *args)
        self.stop_timeout = stop_timeout
        self.log = data_dir.parent / f"{data_dir.name}-serve-{next(_STARTS)}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own command, no shell
            self.command,
            env=os.environ | {PASSWORD_ENV: BENCH_PASSWORD} | SERVE_ENV,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.url = self._wait_ready(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> str:
        """The URL serve says it listens on, once its /readyz answers (wait_served)."""
        deadline = time.monotonic() + timeout
        url = None
        while url is None and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited {self.process.returncode}: {self.output()}")
            self._log_file.flush()
            found = _LISTENING.search(self.log.read_text(errors="replace"))
            url = found.group(1) if found else None
            if url is None:
                time.sleep(0.2)
        why = (
            "it never said where it listens"
            if url is None
            else wait_served(url, self.process, max(0.0, deadline - time.monotonic()))
        )
        if why is None and url is not None:
            return url
        if self.process.poll() is not None:
            raise RuntimeError(f"serve exited {self.process.returncode}: {self.output()}")
        raise TimeoutError(f"serve not ready within {timeout:.0f} s ({why}): {self.output()}")

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log_file.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Site:
    """A data directory to serve, its workload and its participants' API keys."""

    data_dir: Path
    workload: MixedWorkload
    tokens: list[str]
    args: tuple[str, ...]
    rounds: list[list[list[Request]]] = field(default_factory=list)


def prepare_site(
    data_dir: Path,
    participants: int,
    bulk: int,
    args: tuple[str, ...],
    custody: CustodyMode = CustodyMode.ENFORCED,
) -> tuple[Site, dict[str, Any]]:
    """A data directory in the ``custody`` mode with the mixed workload's participants
    registered and an API key each, to serve with ``args``; and its configuration (for a
    bench's JSON)."""
    with BenchNode(data_dir, custody=custody) as bench:
        workload = MixedWorkload(bench.node.domain, participants_count=participants, bulk=bulk)
        ids = bench.register(workload.participants)
        tokens = [bench.api_keys([pid])[0] for pid in ids]
        configuration = bench.configuration(commit="--no-commit" not in args)
    return Site(data_dir, workload, tokens, args), configuration


def send(
    url: str, site: Site, phases: Sequence[Sequence[Request]], clients: int
) -> tuple[float, dict[bytes, float]]:
    """Send ``phases`` to ``url`` over ``clients`` concurrent keep-alive connections;
    returns when the first request went out and each event's hash with the time its
    request returned (``time.monotonic()``). Every event must be accepted."""
    bodies = [
        [
            (
                request.participant,
                json.dumps([submission_document(e) for e in request.events]).encode(),
            )
            for request in phase
        ]
        for phase in phases
    ]
    accepted: dict[bytes, float] = {}
    errors: list[str] = []
    lock = threading.Lock()
    sessions = [httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) for _ in range(clients)]
    began = time.monotonic()
    try:
        for phase in bodies:
            work: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
            for item in phase:
                work.put(item)

            def client(session: httpx.Client, work: queue.SimpleQueue[tuple[int, bytes]]) -> None:
                while True:
                    try:
                        who, body = work.get_nowait()
                    except queue.Empty:
                        return
                    headers = {
                        "Authorization": f"Bearer {site.tokens[who]}",
                        "Content-Type": "application/json",
                    }
                    try:
                        answer = session.post("/v1/events", content=body, headers=headers)
                    except httpx.HTTPError as exc:
                        with lock:
                            errors.append(f"{type(exc).__name__}: {exc}")
                        return
                    now = time.monotonic()
                    if answer.status_code != 202:
                        with lock:
                            errors.append(f"{answer.status_code}: {answer.text[:300]}")
                        return
                    results = answer.json()["results"]
                    with lock:
                        for result in results:
                            if result["outcome"] != "accepted":
                                errors.append(json.dumps(result)[:300])
                            else:
                                accepted[bytes.fromhex(result["eventHash"][2:])] = now

            threads = [
                threading.Thread(target=client, args=(session, work), daemon=True)
                for session in sessions
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=REQUEST_TIMEOUT_S * (len(phase) + 1))
            if errors:
                raise RuntimeError(f"the gateway refused bench events: {errors[:3]}")
    finally:
        for session in sessions:
            session.close()
    return began, accepted


class WindowWatch:
    """Polls ``/v1/anchors`` every ``POLL_S`` seconds in a thread, from the round's start
    (as a client that waits for its events does, while it is still sending: a window
    anchored mid-round is seen then, not when the last request returned), noting when
    each new window is first seen and how many events the new ones hold."""

    def __init__(self, url: str, known: set[int]) -> None:
        self.seen: dict[int, float] = {}
        self.counts: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(url, known), name="bench-window-watch", daemon=True
        )

    def __enter__(self) -> WindowWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_S + 5)

    def _run(self, url: str, known: set[int]) -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
            while not self._stop.is_set():
                try:
                    self.counts = _window_counts(client, self.seen, known)
                except httpx.HTTPError as exc:  # a slow answer: the next poll tells
                    log.debug("a look at /v1/anchors failed: %s", exc)
                self._stop.wait(POLL_S)


def wait_anchored(
    url: str,
    accepted: dict[bytes, float],
    watch: WindowWatch,
    *,
    known: set[int],
    timeout: float,
    tokens: Sequence[str] = (),
    sample: int = LATENCY_SAMPLE,
    when_seen: Callable[[float], None] | None = None,
) -> tuple[float, dict[bytes, float]]:
    """Wait until ``watch`` saw new windows holding every event of ``accepted``; then
    fetch the proofs of every event, or of every k-th when there are more than
    ``sample`` (not timed; a connection per API key of ``tokens``, each under its own
    rate limit, or one without a key). Returns when the last new window was first seen,
    and when each event of the sample was anchored (its window first seen)."""
    deadline = time.monotonic() + timeout
    while sum(watch.counts.values()) < len(accepted):
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench events not anchored within {timeout:.0f} s")
        time.sleep(POLL_S / 2)
    seen = dict(watch.seen)
    done = max(seen.values())
    if when_seen is not None:
        when_seen(done)  # before the proofs are fetched
    keys: Sequence[str | None] = tokens or [None]
    hashes = list(accepted)[:: -(-len(accepted) // sample)]
    parts = [hashes[i :: len(keys)] for i in range(len(keys))]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        windows = list(pool.map(partial(_windows_of, url), keys, parts))
    known.update(seen)
    return done, {
        h: seen[w]
        for part, found in zip(parts, windows, strict=True)
        for h, w in zip(part, found, strict=True)
    }


def monitor_behind(url: str, since: float, timeout: float = MONITOR_WAIT_S) -> dict[str, float]:
    """How far serve's integrity monitor was behind when a round's last window was seen
    (``since``, ``time.monotonic()``): the events it had not read at the first look at
    ``/metrics`` after it, and the seconds from ``since`` until it had read them all
    (not timed: the round is over), or after ``timeout`` how many it still had not
    (``monitor_events_behind_after_wait``). Empty when no monitor runs."""
    first, read_at, last = _monitor_reads(url, timeout)
    if first is None:
        return {}
    found = {"monitor_events_behind_when_anchored": first}
    if read_at is None:
        return found | {"monitor_events_behind_after_wait": last}
    return found | {_MONITOR: max(0.0, read_at - since)}


def monitor_settled(url: str, timeout: float = MONITOR_WAIT_S) -> float:
    """Wait until a serve just started has finished its integrity monitor's first pass
    (a cycle over the whole store, which a long-running node runs every 300 s; until
    then every stored event counts as unread): a round measures a node between cycles.
    Returns the seconds waited (0 when no monitor runs)."""
    began = time.monotonic()
    first, read_at, _ = _monitor_reads(url, timeout)
    if first is None:
        return 0.0
    if read_at is None:
        raise TimeoutError(f"serve's monitor did not finish its first pass in {timeout} s")
    return read_at - began


def _monitor_reads(url: str, timeout: float) -> tuple[float | None, float | None, float]:
    """Looks at ``/metrics``' ``tracenode_monitor_events_behind`` every :data:`POLL_S` s
    until it is 0, at most ``timeout`` s: its first value (None: absent, no monitor
    runs), the ``time.monotonic()`` when it was 0 (None: not within ``timeout``), and its
    last value."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        while True:
            behind = _gauge(client.get("/metrics").text, "tracenode_monitor_events_behind")
            if behind is None:
                return None, None, 0.0
            first = behind if first is None else first
            if behind == 0:
                return first, time.monotonic(), behind
            if time.monotonic() >= deadline:
                return first, None, behind
            time.sleep(POLL_S)


def _gauge(text: str, name: str) -> float | None:
    """The unlabelled sample of ``name`` in Prometheus text (None: absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _windows_of(url: str, token: str | None, hashes: list[bytes]) -> list[int]:
    """The window of each of ``hashes``, from its proof (one keep-alive connection, with
    the API key ``token``); a 429 is waited out as its ``Retry-After`` says."""
    found = []
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S, headers=headers) as client:
        for event_hash in hashes:
            deadline = time.monotonic() + REQUEST_TIMEOUT_S
            while True:
                answer = client.get(f"/v1/events/0x{event_hash.hex()}/proof")
                if answer.status_code != 429 or time.monotonic() > deadline:
                    break
                time.sleep(min(5.0, float(answer.headers.get("Retry-After", "1"))))
            if answer.status_code != 200:
                raise RuntimeError(f"no proof for a bench event: {answer.text[:300]}")
            found.append(int(answer.json()["windowId"]))
    return found


def _window_counts(client: httpx.Client, seen: dict[int, float], known: set[int]) -> dict[int, int]:
    """Note the first-seen time of every new window; the event counts of the new ones."""
    counts: dict[int, int] = {}
    page: str | None = "/v1/anchors?limit=500"
    now = time.monotonic()
    while page is not None:
        answer = client.get(page)
        answer.raise_for_status()
        document = answer.json()
        fresh = [w for w in document["items"] if int(w["windowId"]) not in known]
        for window in fresh:
            seen.setdefault(int(window["windowId"]), now)
            counts[int(window["windowId"])] = int(window["eventCount"])
        page = document["next"] if len(fresh) == len(document["items"]) else None
    return counts


def measure_whole_path(
    *,
    events: int = 4_000,
    rounds: int = 3,
    clients: int = 4,
    bulk: int = 100,
    participants: int = 100,
    custody: CustodyMode = CustodyMode.ENFORCED,
    latency_sample: int = LATENCY_SAMPLE,
    progress: Progress = quiet,
) -> dict[str, Any]:
    lots = max(1, events // len(MIXED_STEPS))
    section: dict[str, Any] = {}
    with loads(section), tempfile.TemporaryDirectory() as tmp:
        progress("whole path: two data directories, participants and API keys")
        whole, whole_config = prepare_site(
            Path(tmp) / "committing", participants, bulk, (), custody
        )
        ingest, ingest_config = prepare_site(
            Path(tmp) / "ingest-only", participants, bulk, ("--no-commit",), custody
        )
        progress(f"whole path: signing {rounds} x {lots * len(MIXED_STEPS):,} events a server")
        for site in (whole, ingest):
            site.rounds = [site.workload.make(lots) for _ in range(rounds)]
        known: set[int] = set()
        by_round: list[dict[str, Any]] = []
        commands = {}

        def ingest_only(index: int) -> dict[str, float]:
            with ServeProcess(ingest.data_dir, *ingest.args) as server:
                commands["ingest_only"] = server.command
                settled = monitor_settled(server.url)
                with WindowWatch(server.url, set()):  # watched alike (none will show)
                    began, accepted = send(server.url, ingest, ingest.rounds[index], clients)
                return {
                    "ingest_events_per_s": len(accepted) / (max(accepted.values()) - began),
                    "ingest_only_monitor_first_pass_s": settled,
                }

        def whole_path(index: int) -> dict[str, float]:
            monitor: dict[str, float] = {}
            with ServeProcess(whole.data_dir, *whole.args) as server:
                commands["whole_path"] = server.command
                settled = monitor_settled(server.url)
                with WindowWatch(server.url, known) as watch:
                    began, accepted = send(server.url, whole, whole.rounds[index], clients)
                    ingested = max(accepted.values()) - began
                    last, anchored = wait_anchored(
                        server.url,
                        accepted,
                        watch,
                        known=known,
                        timeout=120 + len(accepted),
                        tokens=whole.tokens[:clients],
                        sample=latency_sample,
                        when_seen=lambda done: monitor.update(monitor_behind(server.url, done)),
                    )
                return {
                    "committing_ingest_events_per_s": len(accepted) / ingested,
                    "whole_path_events_per_s": len(accepted) / (last - began),
                    **latencies({h: accepted[h] for h in anchored}, anchored),
                    "latency_events": len(anchored),
                    "monitor_first_pass_s": settled,
                    **monitor,
                }

        for index in range(rounds):
            progress(f"whole path: round {index + 1} of {rounds}: serve, serve --no-commit")
            load = load_average()
            measured, only = rotated(
                index, [partial(whole_path, index), partial(ingest_only, index)]
            )
            by_round.append(
                {key: round(value, 3) for key, value in (measured | only).items()}
                | {
                    "whole_vs_ingest_only": round(
                        measured["whole_path_events_per_s"] / only["ingest_events_per_s"], 3
                    ),
                    "committing_vs_ingest_only": round(
                        measured["committing_ingest_events_per_s"] / only["ingest_events_per_s"],
                        3,
                    ),
                    "load_average": load,
                }
            )
    section.update(
        {
            "what": "signed mixed events over HTTP to a real `tracenode serve` process until "
            "every one is anchored (its proof fetched), next to the same over HTTP to "
            "`tracenode serve --no-commit` (ingest only), in the same run, rounds "
            "alternating which goes first",
            "workload": whole.workload.describe() | {"events_per_round": lots * len(MIXED_STEPS)},
            "latency_events": f"accepted → anchored of every event, or of every k-th in the "
            f"order accepted when a round has more than {latency_sample:,} (each round's "
            "latency_events says how many); the whole path's time ends when the last "
            "window is first seen, whichever events are sampled",
            "configuration": {
                "whole_path": whole_config
                | {
                    "as": "tracenode serve (a child process)",
                    "commit_worker": "running (serve's commit process, node/commit/process.py)",
                    "command": _shown(commands.get("whole_path")),
                    "environment": SERVE_ENV,
                },
                "ingest_only": ingest_config
                | {
                    "as": "tracenode serve --no-commit (a child process)",
                    "command": _shown(commands.get("ingest_only")),
                    "environment": SERVE_ENV,
                },
                "http_clients": clients,
                "keep_alive": True,
                "poll_s": POLL_S,
            },
            "rounds": rounds,
            "round_start": "each round's serve starts afresh, and its integrity monitor's "
            "first pass is a cycle over the whole store (a long-running node runs one every "
            "300 s): a round's events are sent once it is done (by_round: "
            "*monitor_first_pass_s), so that a round measures a node between cycles",
            "by_round": by_round,
            "whole_path_events_per_s": median_of(by_round, "whole_path_events_per_s"),
            "ingest_only_events_per_s": median_of(by_round, "ingest_events_per_s"),
            "whole_vs_ingest_only": median_of(by_round, "whole_vs_ingest_only"),
            "committing_vs_ingest_only": median_of(by_round, "committing_vs_ingest_only"),
            "accepted_to_anchored_s_p50": median_of(by_round, "accepted_to_anchored_s_p50"),
            "accepted_to_anchored_s_p99": median_of(by_round, "accepted_to_anchored_s_p99"),
        }
    )
    caught = [float(r[_MONITOR]) for r in by_round if _MONITOR in r]
    if caught:  # serve's integrity monitor ran (it does by default)
        section["monitor"] = (
            "serve's integrity monitor, which gives way to the commit worker's windows "
            "(docs/monitor.md): how many events it had not read when a round's last "
            "window was seen, and the seconds from then until it had read them all "
            "(by_round: monitor_*; /metrics' tracenode_monitor_events_behind)"
        )
        section["monitor_read_all_s_after_anchored_max"] = max(caught)
    return section


def _shown(command: list[str] | None) -> str:
    if command is None:
        return ""
    parts = ["tracenode", *command[3:]]
    return " ".join(
        "DATA_DIR" if "/" in part and Path(part).is_absolute() else part for part in parts
    )
