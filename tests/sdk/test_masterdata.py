"""The SDK asserts a participant's own master data through a real gateway, and reads every
assertion back (docs/sdk.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.exceptions import InvalidMasterDataError
from tests.sdk.conftest import Gateway
from tests.sdk.test_client import client_for

SITE = "urn:epc:id:pgln:0614141.00000"


def test_a_participant_names_its_own_party_and_reads_it_back(
    gateway: Gateway, tmp_path: Path
) -> None:
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        answer = farm.assert_master_data(
            SITE, name="Alpine Dairy", attributes=[("urn:epcglobal:cbv:mda#city", "Thun")]
        )
        proof = farm.wait_for_proof(answer["eventHash"])
        about = farm.master_data("https://id.gs1.org/417/0614141000005")
        with pytest.raises(InvalidMasterDataError):
            farm.assert_master_data("urn:epc:class:lgtin:0614141.012345.L1", name="a lot")

    assert answer["outcome"] == "asserted"
    assert proof.event_hash == answer["eventHash"]
    (said,) = about["assertions"]
    assert (said["name"], said["address"], said["vocabularyType"]) == (
        "Alpine Dairy",
        "Thun",
        "urn:epcglobal:epcis:vtype:Party",
    )
    assert said["saidBy"]["holderOf"] == "0614141"
    assert about["shown"]["eventHash"] == answer["eventHash"]
