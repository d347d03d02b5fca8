"""Bulk ingest through HTTP next to the library path, measured in the same run.

    python -m api.bench [--events 20000] [--bulk 1000]

Both paths ingest fresh signed COMMISSION events (node.bench.ingest.EventFactory) into
the same kind of store (SQLite in a fresh data directory): the library through
``IngestService.submit_many``, HTTP through ``POST /v1/events`` of a real uvicorn server
in this process, in lists of ``--bulk`` events, bodies serialised before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from api.main import create_app
from api.settings import ApiSettings
from node.bench.ingest import EventFactory
from node.context import Node, init_node
from node.events.submission import SignedEvent, submission_document
from node.store.apikeys import ApiKeys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--port", type=int, default=18_765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "node"
        init_node(data_dir, "bench")
        with Node(data_dir) as node:
            factory = EventFactory(producers=1, domain=node.domain)
            factory.register(node.store)
            token = ApiKeys(node.store).create(participant_id=1).token
            library = factory.make(args.events)
            start = time.perf_counter()
            for i in range(0, len(library), args.bulk):
                node.ingest.submit_many(library[i : i + args.bulk], as_participant=1)
            library_rate = len(library) / (time.perf_counter() - start)

            bodies = [
                json.dumps([submission_document(s) for s in chunk]).encode()
                for chunk in _chunks(factory.make(args.events), args.bulk)
            ]
            settings = ApiSettings(rate_per_second=1e6, rate_burst=10**6)
            app = create_app(node, settings=settings)
            server = uvicorn.Server(
                uvicorn.Config(app, port=args.port, log_level="warning", lifespan="off")
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=120) as client:
                start = time.perf_counter()
                accepted = 0
                for body in bodies:
                    answer = client.post("/v1/events", content=body, headers=headers)
                    accepted += answer.json()["accepted"]
                http_rate = args.events / (time.perf_counter() - start)
            server.should_exit = True
            thread.join()
            if accepted != args.events:
                raise SystemExit(f"only {accepted} of {args.events} events were accepted")
    print(
        json.dumps(
            {
                "events": args.events,
                "bulk": args.bulk,
                "library_events_per_s": round(library_rate),
                "http_events_per_s": round(http_rate),
                "http_vs_library": round(http_rate / library_rate, 3),
            }
        )
    )


def _chunks(items: list[SignedEvent], size: int) -> list[list[SignedEvent]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


if __name__ == "__main__":
    main()
