"""The capture rate of a 10,000-event EPCIS document, JSON and XML (issue 11's closing note).

    .venv/bin/python -m scripts.bench_epcis_capture [--events 10000] [--rounds 3]

Workload: an EPCIS 2.0 document of N ObjectEvents, each commissioning its own lot
(quantity, read point, an ILMD extension: scripts/bench_epcis_xml.py's events), as EPCIS
2.0 JSON-LD and as the EPCIS 2.0 XML of the same events. A capture request holds at most
1,000 events (docs/epcis.md, "Bounds"), so the document goes as N / 1,000 documents of
1,000 events, one request each, in order, as a client must send it. Fresh lots for each
form and round, so that every event is captured (none is a duplicate).

Timed, for each request, what a user's capture costs end to end on one node: signing
(`tracenode epcis sign`: read, validate, hash IDs, mapping against the node's batch heads,
one EIP-712 signature per TraceEvent) and capture (`POST /v1/epcis/capture`'s
`node.epcis.capture.capture`: the same again on the node's side, the signatures checked,
the ingest rules, storage and query terms), on the node `tracenode serve` runs: a
persistent embedded chain and its SQLite store in a data directory made by `tracenode
init` (node/testing/harness.py). Not timed: HTTP, and the commit worker's relay and
anchoring, which happen after capture has answered. The two forms are timed alternately in
each round (which goes first alternates too). Reported: events/s per form (median of the
rounds), the XML ÷ JSON time per round and its median, the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from node.epcis.capture import Outcome, capture, sign_document
from node.testing.harness import TraceNodeHarness
from scripts.bench_epcis_xml import figures, json_document, xml_document

#: Events per capture request (node/epcis's limit).
PER_REQUEST = 1000


def _capture(harness: TraceNodeHarness, form: str, events: int, tag: str) -> float:
    """Seconds to sign and capture ``events`` events in ``form``, 1,000 per request."""
    node, key = harness.node, bytes(harness.keys["farm"].key)
    documents = []
    for start in range(0, events, PER_REQUEST):
        n = min(PER_REQUEST, events - start)
        chunk = f"{tag}{start // PER_REQUEST:02d}"
        documents.append(
            json.loads(json_document(n, chunk)) if form == "json" else xml_document(n, chunk)
        )
    started = time.perf_counter()
    captured = 0
    for document in documents:
        request = sign_document(
            store=node.store, domain=node.domain, private_key=key, document=document
        )
        results = capture(ingest=node.ingest, request=request)
        captured += sum(r.outcome is Outcome.CAPTURED for r in results)
    seconds = time.perf_counter() - started
    if captured != events:
        raise SystemExit(f"{form}: {captured} of {events} events captured: the benchmark is void")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events of the document")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load_start = os.getloadavg()
    times: dict[str, list[float]] = {"json": [], "xml": []}
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as data_dir:
        harness = TraceNodeHarness.create(Path(data_dir))
        try:
            _capture(harness, "json", 50, "WJ")  # warm caches (schemas) outside the timing
            _capture(harness, "xml", 50, "WX")
            for round_ in range(args.rounds):
                order = ("json", "xml") if round_ % 2 == 0 else ("xml", "json")
                this = {
                    form: _capture(harness, form, args.events, f"R{round_}{form[0].upper()}")
                    for form in order
                }
                for form, seconds in this.items():
                    times[form].append(seconds)
                ratios.append(this["xml"] / this["json"])
        finally:
            harness.close()
    load_end = os.getloadavg()
    result = {
        "workload": (
            f"an EPCIS 2.0 document of {args.events} ObjectEvents (commissioning, quantity, "
            "read point, ILMD extension), as JSON-LD and as XML, sent as documents of "
            f"{PER_REQUEST} events (the per-request limit); timed: sign + capture "
            "(validation, hash IDs, mapping, signatures, ingest rules, storage) on a node "
            "of a persistent embedded chain and SQLite store, as `tracenode serve` runs; "
            "not timed: HTTP, relay and anchoring"
        ),
        "rounds": args.rounds,
        "seconds": {form: [round(s, 2) for s in values] for form, values in times.items()},
    } | figures(args.events, times, ratios, load_start, load_end)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
