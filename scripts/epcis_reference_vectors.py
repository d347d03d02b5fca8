"""Recompute tests/node/epcis/vectors/reference_1_9_3.json with GS1's exemplary
implementation of the EPCIS event hash ID (PyPI ``epcis-event-hash-generator`` 1.9.3, MIT),
run on every fixture document it can read: the JSON ones, and the XML ones (fixtures/xml/,
keyed ``xml/NAME``, and GS1's WithExtension documents in fixtures/gs1/, keyed ``gs1/NAME``)
through the reference's own XML reader; GS1's WithFullCombinationOfFields compositions
without their ``xsi:type`` attributes (``gs1/NAME#without-xsi-type``), which the
reference hashes as if they were extension members and TraceNode does not read.

The reference is not a dependency of TraceNode: run this with the Python of a separate
virtual environment that holds it (and nothing of ours)::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install epcis-event-hash-generator==1.9.3
    /tmp/refvenv/bin/python scripts/epcis_reference_vectors.py

It writes the vectors file in place; ``git diff`` shows what changed. Documents the
reference cannot read (tests/node/epcis/test_hashid.py names them) are skipped.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from epcis_event_hash_generator import (  # type: ignore[import-not-found]
    hash_generator,
    json_to_py,
    xml_to_py,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "node" / "epcis" / "fixtures"
VECTORS = ROOT / "tests" / "node" / "epcis" / "vectors" / "reference_1_9_3.json"
#: What the reference cannot read: a query document, a bare event, a typed list item
#: without a type.
UNREADABLE = {"query.jsonld", "bare_event.jsonld", "transaction.jsonld"}
UNREADABLE_XML = {"gs1_9_6_1-query.xml", "transaction.xml"}
#: GS1's WithExtension documents that GS1's XSD refuses (no event to hash).
INVALID_GS1 = {
    "with_extension_transformation_event.xml",
    "full_object_event_all_possible_fields.xml",
    "full_association_event_all_possible_fields.xml",
}


def vectors(path: Path, *, without_xsi_type: bool = False) -> dict[str, list[str]]:
    reader = xml_to_py if path.suffix == ".xml" else json_to_py
    text = path.read_text()
    if without_xsi_type:  # the reference hashes xsi:type attributes as extension members
        text = re.sub(r' xsi:type="[^"]*"', "", text)
    events = reader.event_list_from_epcis_document_str(text)
    prehashes = hash_generator.derive_prehashes_from_events(events)
    hashes = hash_generator.calculate_hashes_from_pre_hashes(prehashes)
    return {"prehashes": list(prehashes), "hashes": list(hashes)}


def main() -> int:
    data = json.loads(VECTORS.read_text())
    data["fixtures"] = (
        {
            path.name: vectors(path)
            for path in sorted(FIXTURES.glob("*.jsonld"))
            if path.name not in UNREADABLE
        }
        | {
            f"xml/{path.name}": vectors(path)
            for path in sorted((FIXTURES / "xml").glob("*.xml"))
            if path.name not in UNREADABLE_XML
        }
        | {
            f"gs1/{path.name}": vectors(path)
            for path in sorted((FIXTURES / "gs1").glob("with_extension_*.xml"))
            if path.name not in INVALID_GS1
        }
        | {
            f"gs1/{path.name}#without-xsi-type": vectors(path, without_xsi_type=True)
            for path in sorted((FIXTURES / "gs1").glob("full_*_event_*.xml"))
            if path.name not in INVALID_GS1
        }
    )
    VECTORS.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(data['fixtures'])} fixtures written to {VECTORS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
