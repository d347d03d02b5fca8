"""How much reading an EPCIS document as XML costs next to reading it as JSON.

    .venv/bin/python -m scripts.bench_epcis_xml [--events 1000] [--rounds 7]

Workload: one EPCISDocument of N ObjectEvents (each commissions its own lot: quantity,
read point, an ILMD extension), written once as EPCIS 2.0 JSON-LD and once as the EPCIS
2.0 XML of the same events (node/epcis/xmldoc.py reads the latter as the former). What is
timed is what `tracenode epcis sign` and capture do with a document before any signing
or storage, for each form: read it (JSON parse, or XML parse + DTD/size checks + XML
schema + conversion), validate it against GS1's JSON Schema, compute every event's CBV
2.0 hash ID and map every event to TraceEvents. Signing, the store and the chain are the
same for both forms and are not timed. The two forms are timed alternately in each round
(which goes first alternates too), so that both see the same machine; the output gives
the median per form, the ratio XML ÷ JSON per round and its median, and the load average
before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from node.epcis.document import load_document, parse_document
from node.epcis.hashid import event_hash_id
from node.epcis.mapping import map_document

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EX = "https://ns.example.com/epcis/"


def _lot(i: int, tag: str = "B") -> str:
    return f"urn:epc:class:lgtin:0614141.012345.{tag}{i:06d}"


def json_document(n: int, tag: str = "B") -> str:
    """N commissioning events, of lots ``{tag}000000`` on (fresh lots for a fresh tag)."""
    events = [
        {
            "type": "ObjectEvent",
            "eventTime": "2024-05-06T06:30:00+02:00",
            "eventTimeZoneOffset": "+02:00",
            "epcList": [],
            "action": "ADD",
            "bizStep": "commissioning",
            "readPoint": {"id": "urn:epc:id:sgln:0614141.00001.0"},
            "quantityList": [{"epcClass": _lot(i, tag), "quantity": 100 + i, "uom": "KGM"}],
            "ilmd": {"ex:herd": f"H-{i}"},
        }
        for i in range(n)
    ]
    return json.dumps(
        {
            "@context": [CONTEXT, {"ex": EX}],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2024-05-06T08:00:00Z",
            "epcisBody": {"eventList": events},
        }
    )


def xml_document(n: int, tag: str = "B") -> str:
    """The EPCIS 2.0 XML of :func:`json_document`'s events."""
    events = "".join(
        "<ObjectEvent><eventTime>2024-05-06T06:30:00+02:00</eventTime>"
        "<eventTimeZoneOffset>+02:00</eventTimeZoneOffset><epcList/><action>ADD</action>"
        "<bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>"
        "<readPoint><id>urn:epc:id:sgln:0614141.00001.0</id></readPoint>"
        f"<quantityList><quantityElement><epcClass>{_lot(i, tag)}</epcClass>"
        f"<quantity>{100 + i}</quantity><uom>KGM</uom></quantityElement></quantityList>"
        f"<ilmd><ex:herd>H-{i}</ex:herd></ilmd></ObjectEvent>\n"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:ex="{EX}" '
        'schemaVersion="2.0" creationDate="2024-05-06T08:00:00Z">'
        f"<EPCISBody><EventList>\n{events}</EventList></EPCISBody></epcis:EPCISDocument>"
    )


def _read(document: Any) -> list[str]:
    parsed = parse_document(document)
    ids = [event_hash_id(e.data, e.context) for e in parsed.events]
    map_document(parsed.events, lambda _identifier: None)
    return ids


def _timed(data: bytes) -> tuple[float, list[str]]:
    """The file's bytes read as `tracenode epcis sign` reads them, then _read."""
    start = time.perf_counter()
    ids = _read(load_document(data))
    return time.perf_counter() - start, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="events per document (≤ 1000)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    as_json, as_xml = json_document(args.events).encode(), xml_document(args.events).encode()
    load_start = os.getloadavg()
    _timed(as_json)  # warm caches (schemas, vocabularies) outside the timing
    _timed(as_xml)
    times: dict[str, list[float]] = {"json": [], "xml": []}
    ratios: list[float] = []
    for round_ in range(args.rounds):
        order = ("json", "xml") if round_ % 2 == 0 else ("xml", "json")
        this: dict[str, float] = {}
        ids: dict[str, list[str]] = {}
        for form in order:
            seconds, ids[form] = _timed(as_json if form == "json" else as_xml)
            this[form] = seconds
            times[form].append(seconds)
        if ids["json"] != ids["xml"]:
            raise SystemExit("the two forms gave different hash IDs: the benchmark is void")
        ratios.append(this["xml"] / this["json"])
    load_end = os.getloadavg()
    result = {
        "workload": (
            f"one EPCISDocument of {args.events} ObjectEvents (commissioning, quantity, read "
            "point, ILMD extension), EPCIS 2.0 JSON-LD vs EPCIS 2.0 XML of the same events; "
            "timed: read + validate + hash IDs + mapping, no signing or storage"
        ),
        "rounds": args.rounds,
        "bytes": {"json": len(as_json), "xml": len(as_xml)},
    } | figures(args.events, times, ratios, load_start, load_end)
    print(json.dumps(result, indent=2))


def figures(
    events: int,
    times: dict[str, list[float]],
    ratios: list[float],
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
) -> dict[str, Any]:
    """The figures of an interleaved JSON / XML run: events/s per form (median of the
    rounds), XML ÷ JSON time per round and its median, and the machine's load."""
    return {
        "json_events_per_s": round(events / statistics.median(times["json"])),
        "xml_events_per_s": round(events / statistics.median(times["xml"])),
        "xml_vs_json_time_median": round(statistics.median(ratios), 3),
        "xml_vs_json_time_per_round": [round(r, 3) for r in ratios],
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_start": [round(v, 2) for v in load_start],
            "load_average_end": [round(v, 2) for v in load_end],
        },
    }


if __name__ == "__main__":
    main()
