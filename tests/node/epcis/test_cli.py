"""``tracenode epcis sign`` and ``tracenode epcis capture`` on a real data directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from node.cli import app
from tests.node.epcis.conftest import (
    commissioning,
    commissioning_xml,
    document,
    new_lot,
    receiving,
    shipping,
)

PASSWORD = "correct horse battery staple"


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--data-dir", str(data_dir)], env={"TRACENODE_PASSWORD": PASSWORD}
    )
    return result.exit_code, result.output


def test_sign_then_capture_a_document(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "init")[0] == 0
    for name, roles, prefix in (("Farm", "producer", "0614141"), ("Dairy", "processor", "0614142")):
        code, output = run(
            data, "participant", "add", name, "--roles", roles, "--prefix", prefix, "--create-key"
        )
        assert code == 0, output
    keys = sorted((data / "keystore" / "participants").glob("*.json"))
    farm_key = next(k for k in keys if "farm" in k.name.lower())
    lot = new_lot()
    doc = tmp_path / "doc.jsonld"
    doc.write_text(json.dumps(document(commissioning(lot), shipping(lot))))
    request = tmp_path / "request.json"

    signed, sign_output = run(
        data, "epcis", "sign", str(doc), "--key", str(farm_key), "-o", str(request)
    )
    captured, capture_output = run(data, "epcis", "capture", str(request), "--json")
    again, again_output = run(data, "epcis", "capture", str(request), "--json")
    tampered = json.loads(request.read_text())
    tampered["document"]["epcisBody"]["eventList"][1]["bizStep"] = "inspecting"
    request.write_text(json.dumps(tampered))
    refused, refused_output = run(data, "epcis", "capture", str(request))

    assert signed == 0, sign_output
    assert len(json.loads(request.read_text())["traceEvents"]) == 2
    assert captured == 0, capture_output
    assert [r["outcome"] for r in json.loads(capture_output)] == ["captured", "captured"]
    assert again == 0, again_output
    assert [r["outcome"] for r in json.loads(again_output)] == ["duplicate", "duplicate"]
    assert refused == 1
    assert "[epcis-signature-mismatch]" in refused_output
    assert "capture job" not in refused_output  # refused whole: no capture ran, no job
    # Without --json the capture says where its job is served.
    doc.write_text(json.dumps(document(commissioning(new_lot()))))
    run(data, "epcis", "sign", str(doc), "--key", str(farm_key), "-o", str(request))
    shown, shown_output = run(data, "epcis", "capture", str(request))
    assert shown == 0, shown_output
    assert re.search(r"capture job /v1/epcis/capture/cap_[0-9a-f]{32}", shown_output)

    # an EPCIS XML file is signed and captured as its JSON form would be
    xml = tmp_path / "doc.xml"
    xml.write_text(commissioning_xml(new_lot(), version="1"))
    xml_signed, xml_sign_output = run(
        data, "epcis", "sign", str(xml), "--key", str(farm_key), "-o", str(request)
    )
    xml_captured, xml_output = run(data, "epcis", "capture", str(request), "--json")
    assert xml_signed == 0, xml_sign_output
    assert json.loads(request.read_text())["document"] == xml.read_text()
    assert xml_captured == 0, xml_output
    assert [r["outcome"] for r in json.loads(xml_output)] == ["captured"]

    # a document of two parties, signed with both keys: each event by its performer
    dairy_key = next(k for k in keys if "dairy" in k.name.lower())
    milk = new_lot()
    doc.write_text(json.dumps(document(commissioning(milk), shipping(milk), receiving(milk))))
    two, two_output = run(data, "epcis", "sign", str(doc), "--key", str(farm_key),
                          "--key", str(dairy_key), "-o", str(request))  # fmt: skip
    both, both_output = run(data, "epcis", "capture", str(request), "--json")
    assert two == 0, two_output
    assert both == 0, both_output
    assert [r["outcome"] for r in json.loads(both_output)] == ["captured"] * 3

    # lots first seen mid-chain: the farm's own lot adopted (the note printed), the dairy's
    # anchored-only with why (printed when signing)
    doc.write_text(json.dumps(document(shipping(new_lot()), shipping(new_lot("0614142")))))
    mid, mid_output = run(
        data, "epcis", "sign", str(doc), "--key", str(farm_key), "-o", str(request)
    )
    assert mid == 0, mid_output
    assert "anchored-only event 1 is anchored-only" in " ".join(mid_output.split())
    noted, noted_output = run(data, "epcis", "capture", str(request))
    assert noted == 0, noted_output
    flat = " ".join(noted_output.split())
    assert "first seen mid-chain: history before this event was not captured" in flat
