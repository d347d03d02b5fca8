"""Asynchronous EPCIS capture (``Prefer: respond-async``) against the synchronous one:
how soon the request is answered, and what the background capture costs in all.

    .venv/bin/python -m scripts.bench_epcis_async [--events 1000] [--rounds 5] [--step 200]

Workload: one capture request of N ObjectEvents (default 1,000, the per-request limit:
docs/epcis.md, "Bounds"), each commissioning its own lot (scripts/bench_epcis_xml.py's
events), EPCIS 2.0 JSON-LD, signed by `tracenode epcis sign`'s function (not timed), on a
node of a persistent embedded chain and its SQLite store (node/testing/harness.py), as
`tracenode serve` runs it. Fresh lots for each capture, so every event is captured.

Timed, on the node's side, what `POST /v1/epcis/capture` runs (HTTP not timed):
- sync: `node.epcis.capture.capture`, the whole capture inside the request;
- async answer: what the request runs before its 202 (the request checked whole:
  `plan_capture`, and the job written with its request: `CaptureJobs.submit`);
- async total: that, then the job run to its end as the runner runs it
  (`CaptureJobs.run_job`: the plan made for the answer, ingested `--step` events per
  transaction, the progress written with each step, the job finished).
The two paths alternate in each round (which goes first alternates too). Reported: the
seconds of each per round, their medians, async total ÷ sync per round and its median,
async answer ÷ sync, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from node.epcis.capture import (
    CaptureErrorBehaviour,
    Outcome,
    capture,
    plan_capture,
    sign_document,
)
from node.epcis.jobs import CaptureJobs
from node.testing.harness import TraceNodeHarness
from scripts.bench_epcis_xml import json_document


def _signed(harness: TraceNodeHarness, events: int, tag: str) -> dict[str, object]:
    return sign_document(
        store=harness.node.store,
        domain=harness.node.domain,
        private_key=bytes(harness.keys["farm"].key),
        document=json.loads(json_document(events, tag)),
    )


def _sync(harness: TraceNodeHarness, events: int, tag: str) -> float:
    request = _signed(harness, events, tag)
    started = time.perf_counter()
    results = capture(ingest=harness.node.ingest, request=request)
    seconds = time.perf_counter() - started
    if sum(r.outcome is Outcome.CAPTURED for r in results) != events:
        raise SystemExit("sync: not every event captured: the benchmark is void")
    return seconds


def _async(
    jobs: CaptureJobs, harness: TraceNodeHarness, events: int, tag: str
) -> tuple[float, float]:
    request = _signed(harness, events, tag)
    started = time.perf_counter()
    planned = plan_capture(ingest=harness.node.ingest, request=request)
    job = jobs.submit(
        request=request,
        planned=planned,
        submitter=None,
        behaviour=CaptureErrorBehaviour.PROCEED,
    )
    answered = time.perf_counter() - started
    if not jobs.run_job(job.capture_id):
        raise SystemExit("async: the job did not finish: the benchmark is void")
    total = time.perf_counter() - started
    store = harness.node.store
    with store.read() as conn:
        done = store.epcis_jobs.get(conn, job.capture_id)
    if done is None or sum(o.get("outcome") == "captured" for o in done.outcomes) != events:
        raise SystemExit("async: not every event captured: the benchmark is void")
    return answered, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="events of the request")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--step", type=int, default=200, help="events per async step")
    args = parser.parse_args()
    load_start = os.getloadavg()
    sync: list[float] = []
    answers: list[float] = []
    totals: list[float] = []
    with tempfile.TemporaryDirectory() as data_dir:
        harness = TraceNodeHarness.create(Path(data_dir))
        jobs = CaptureJobs(harness.node.ingest, bound=16, step=args.step)
        try:
            _sync(harness, 50, "WS")  # warm caches (schemas) outside the timing
            _async(jobs, harness, 50, "WA")
            for round_ in range(args.rounds):
                tags = (f"S{round_:02d}", f"A{round_:02d}")
                if round_ % 2 == 0:
                    sync.append(_sync(harness, args.events, tags[0]))
                    answer, total = _async(jobs, harness, args.events, tags[1])
                else:
                    answer, total = _async(jobs, harness, args.events, tags[1])
                    sync.append(_sync(harness, args.events, tags[0]))
                answers.append(answer)
                totals.append(total)
        finally:
            harness.close()
    load_end = os.getloadavg()
    ratios = [t / s for t, s in zip(totals, sync, strict=True)]
    result = {
        "workload": (
            f"one capture request of {args.events} commissioning ObjectEvents (JSON-LD), "
            f"async in steps of {args.step} events; node side of POST /v1/epcis/capture on "
            "a persistent embedded chain and SQLite store; not timed: signing, HTTP, relay "
            "and anchoring"
        ),
        "rounds": args.rounds,
        "seconds": {
            "sync": [round(s, 3) for s in sync],
            "async_answer": [round(s, 3) for s in answers],
            "async_total": [round(s, 3) for s in totals],
        },
        "sync_events_per_s": round(args.events / statistics.median(sync)),
        "async_events_per_s": round(args.events / statistics.median(totals)),
        "async_total_vs_sync_median": round(statistics.median(ratios), 3),
        "async_answer_vs_sync_median": round(
            statistics.median(a / s for a, s in zip(answers, sync, strict=True)), 3
        ),
        "cpus": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
