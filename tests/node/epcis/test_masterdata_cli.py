"""``tracenode masterdata set|show`` on a local node: a participant names its own plant,
attributed to it; a lot is refused and nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

from tests.node.epcis.test_cli import run

PLANT = "urn:epc:id:sgln:0614141.00042.0"


def test_set_then_show_names_a_plant_attributed_to_its_brand_owner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "init")[0] == 0
    code, output = run(
        data, "participant", "add", "Farm", "--roles", "producer", "--prefix", "0614141",
        "--create-key",
    )  # fmt: skip
    assert code == 0, output
    (key,) = (data / "keystore" / "participants").glob("*.json")

    named, named_output = run(
        data, "masterdata", "set", PLANT, "--key", str(key),
        "--name", "Alpine Dairy, Plant 2", "--city", "Thun", "--country", "CH",
    )  # fmt: skip
    lot, lot_output = run(
        data, "masterdata", "set", "urn:epc:class:lgtin:0614141.012345.L1",
        "--key", str(key), "--name", "a lot",
    )  # fmt: skip
    shown, shown_output = run(data, "masterdata", "show", "https://id.gs1.org/414/0614141000425")

    assert named == 0, named_output
    assert "accepted" in named_output
    assert lot != 0
    assert "invalid-master-data" in lot_output
    assert shown == 0, shown_output
    about = json.loads(shown_output)
    (assertion,) = about["assertions"]
    assert (assertion["name"], assertion["address"]) == ("Alpine Dairy, Plant 2", "Thun, CH")
    assert assertion["saidBy"]["participant"] == "Farm"
    assert assertion["saidBy"]["holderOf"] == "0614141"
    assert assertion["status"] == "accepted"
    assert about["shown"] is None  # not anchored yet: never shown as verified
