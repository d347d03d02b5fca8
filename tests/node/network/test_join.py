"""``tracenode init --join``'s refusals before anything is made: the embedded chain cannot
be joined, and the address must be one."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.context import init_node
from node.exceptions import ConfigurationError

ADDRESS = "0x" + "11" * 20


def test_the_embedded_chain_cannot_be_joined(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--join needs --chain-url"):
        init_node(tmp_path / "data", "pw", join=ADDRESS)

    assert not (tmp_path / "data").exists()


def test_join_wants_an_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="a BatchRegistry address"):
        init_node(tmp_path / "data", "pw", chain_url="http://127.0.0.1:9", join="registry")

    assert not (tmp_path / "data").exists()
