"""The ingest rules on open identifiers (node/ingest/rules.py), without a chain: the
policy as the ingest read it, and the record rule."""

from __future__ import annotations

import pytest

from node.events.identifiers import identifier_split, parse_identifier
from node.exceptions import IdentifierIsRecordError, OpenIdentifierRefusedError
from node.ingest.rules import check_adoptable, check_licence, check_not_records

OPEN = parse_identifier("urn:acme:lot:7")
GS1 = parse_identifier("https://id.gs1.org/01/09506000134352/10/LOT-7")


def test_an_open_identifier_needs_its_nodes_policy() -> None:
    split = identifier_split(OPEN)
    with pytest.raises(OpenIdentifierRefusedError, match="participant 3's node does not allow"):
        check_licence(split, OPEN.batch_id, 3, {}, 10, open_allowed=False)
    with pytest.raises(OpenIdentifierRefusedError):
        check_adoptable(split, OPEN.batch_id, 3, {}, open_allowed=False)
    check_licence(split, OPEN.batch_id, 3, {}, 10, open_allowed=True)
    check_adoptable(split, OPEN.batch_id, 3, {}, open_allowed=True)


def test_a_key_that_holds_records_names_no_new_batch() -> None:
    split = identifier_split(OPEN)
    with pytest.raises(IdentifierIsRecordError, match="already keys anchored-only records"):
        check_not_records(split, OPEN.batch_id, has_records=True)
    check_not_records(split, OPEN.batch_id, has_records=False)
    # GS1 and handle identifiers are never record keys: the rule does not apply
    check_not_records(identifier_split(GS1), GS1.batch_id, has_records=True)
