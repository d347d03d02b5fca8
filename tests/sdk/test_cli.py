"""``tracenode event submit`` and ``tracenode epcis capture`` with ``--gateway``: the same
commands, through the SDK to a remote gateway instead of a local data directory."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from api.cli import app
from node.epcis.capture import sign_document
from node.events.submission import submission_document
from node.sdk import EventSpec
from tests.node.epcis.conftest import commissioning, document, new_lot
from tests.sdk.conftest import Gateway
from tests.sdk.test_client import client_for, lot


def run(gateway: Gateway, *args: str, who: str = "farm") -> Result:
    harness = gateway.harness
    return CliRunner().invoke(
        app,
        list(args),
        env={"TRACENODE_PASSWORD": harness.password, "TRACENODE_API_KEY": gateway.tokens[who]},
    )


def keystore(gateway: Gateway, who: str) -> str:
    return str(gateway.harness.node.data_dir / "keystore" / "participants" / f"test-{who}.json")


def test_event_submit_signs_and_submits_through_a_gateway(gateway: Gateway) -> None:
    farm = keystore(gateway, "farm")
    made = run(gateway, "event", "submit", "--gateway", gateway.url, "--keystore", farm,
               "--action", "commission", "--batch", lot("CLI-1"), "--product", "milk",
               "--quantity", "5")  # fmt: skip
    processor_id = str(gateway.harness.participant_id("processor"))
    shipped = run(gateway, "event", "submit", "--gateway", gateway.url, "--keystore", farm,
                  "--action", "ship", "--batch", lot("CLI-1"), "--to", processor_id)  # fmt: skip
    with client_for(gateway, "farm", None) as client:
        state = client.batch(lot("CLI-1"))

    assert made.exit_code == 0, made.output
    assert shipped.exit_code == 0, shipped.output
    assert "accepted" in made.output
    assert state["status"] == "IN_TRANSIT"
    assert state["receiver"]["id"] == int(processor_id)
    assert state["head"] in shipped.output


def test_event_submit_sends_a_file_of_signed_submissions(gateway: Gateway, tmp_path: Path) -> None:
    with client_for(gateway, "farm", None) as client:
        signed = client.sign(
            EventSpec("commission", lot(f"FILE-{i}"), product="milk", quantity=1) for i in range(4)
        )
    file = tmp_path / "signed.json"
    file.write_text(json.dumps([submission_document(s) for s in signed] + [{"event": {}}]))

    first = run(gateway, "event", "submit", "--gateway", gateway.url, "--file", str(file))
    again = run(gateway, "event", "submit", "--gateway", gateway.url, "--file", str(file))

    assert first.exit_code == 0, first.output
    assert "accepted: 4, duplicate: 0, rejected: 1, queued: 0" in first.output
    assert "accepted: 0, duplicate: 4, rejected: 1, queued: 0" in again.output
    assert gateway.event_rows() == 4


def test_an_unreachable_gateway_keeps_the_event_in_the_outbox_until_the_next_run(
    gateway: Gateway, tmp_path: Path
) -> None:
    farm = keystore(gateway, "farm")
    outbox = str(tmp_path / "outbox")
    common = ["event", "submit", "--gateway", gateway.url, "--keystore", farm, "--retries", "1"]
    first = run(gateway, *common, "--outbox", outbox, "--action", "commission",
                "--batch", lot("Q-1"), "--product", "milk", "--quantity", "1")  # fmt: skip
    gateway.stop()
    queued = run(gateway, *common, "--outbox", outbox, "--action", "observe", "--batch", lot("Q-1"))
    lost = run(gateway, *common, "--action", "observe", "--batch", lot("Q-1"))
    gateway.start()
    sent = run(gateway, *common, "--outbox", outbox, "--action", "observe", "--batch", lot("Q-1"))

    assert first.exit_code == 0, first.output
    assert queued.exit_code == 0, queued.output
    assert "queued" in queued.output
    assert lost.exit_code == 1
    assert "gateway-unavailable" in lost.output
    assert sent.exit_code == 0, sent.output
    assert sent.output.count("accepted") == 2  # the queued event first, then the new one
    assert gateway.event_rows() == 3


def test_epcis_capture_signs_a_document_through_a_gateway(gateway: Gateway, tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(document(commissioning(new_lot()))))
    farm = keystore(gateway, "farm")

    unsigned = run(gateway, "epcis", "capture", str(doc), "--gateway", gateway.url)
    captured = run(gateway, "epcis", "capture", str(doc), "--gateway", gateway.url,
                   "--key", farm, "--json")  # fmt: skip
    again = run(gateway, "epcis", "capture", str(doc), "--gateway", gateway.url,
                "--key", farm, "--json", "--async", "--wait", "30")  # fmt: skip

    assert unsigned.exit_code == 1
    assert "configuration-error" in unsigned.output
    assert captured.exit_code == 0, captured.output
    assert [r["outcome"] for r in json.loads(captured.output)] == ["captured"]
    assert again.exit_code == 0, again.output  # captured asynchronously, the job waited for
    assert [r["outcome"] for r in json.loads(again.output)] == ["duplicate"]


def test_epcis_capture_sends_a_signed_request_through_a_gateway(
    gateway: Gateway, tmp_path: Path
) -> None:
    harness = gateway.harness
    files = []
    for name in ("ours", "other"):
        request = sign_document(
            store=harness.node.store,
            domain=harness.node.domain,
            private_key=bytes(harness.keys["farm"].key),
            document=document(commissioning(new_lot())),
        )
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(request))

    captured = run(gateway, "epcis", "capture", str(files[0]), "--gateway", gateway.url)
    refused = run(gateway, "epcis", "capture", str(files[1]), "--gateway", gateway.url,
                  "--async", "--wait", "30", who="shop")  # fmt: skip

    assert captured.exit_code == 0, captured.output
    assert "captured" in captured.output
    # Where the gateway serves its capture job (docs/epcis.md, "Capture jobs").
    assert f"capture job {gateway.url.rstrip('/')}/v1/epcis/capture/cap_" in captured.output
    # The shop's key may not submit the farm's events: captured asynchronously, nothing of
    # it held, it is refused as the synchronous answer refuses it.
    assert refused.exit_code == 1
    assert "epcis-event-rejected" in refused.output
    assert gateway.event_rows() == 1
