"""Decode the contracts' custom errors (from revert data or EventRejected reasons).

The one place where a Solidity custom error becomes a typed Python exception: selectors
are read from the committed ABIs, so a new error in the contracts is known here as soon
as the artifacts are exported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_tester.exceptions import TransactionFailed
from eth_utils.address import to_checksum_address
from web3.exceptions import BadFunctionCallOutput, ContractCustomError, ContractLogicError

from node.chain.artifacts import CONTRACT_NAMES, load
from node.events.hashing import keccak
from node.exceptions import ContractError, EventRejectedError, rejection_classes


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]


def _canonical_type(param: dict[str, object]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        components = param.get("components", [])
        assert isinstance(components, list)
        return "(" + ",".join(_canonical_type(c) for c in components) + ")" + kind[5:]
    return kind


@cache
def error_specs() -> dict[bytes, ErrorSpec]:
    """Every custom error of the deployed contracts, by 4-byte selector."""
    specs: dict[bytes, ErrorSpec] = {}
    for contract in CONTRACT_NAMES:
        for item in load(contract).abi:
            if item.get("type") != "error":
                continue
            types = tuple(_canonical_type(p) for p in item["inputs"])
            selector = keccak(f"{item['name']}({','.join(types)})".encode())[:4]
            names = tuple(p["name"] or f"arg{i}" for i, p in enumerate(item["inputs"]))
            specs[selector] = ErrorSpec(item["name"], names, types)
    return specs


def decode_error(data: bytes) -> EventRejectedError | ContractError:
    """The typed error for revert data ``data``.

    A BatchRegistry rule becomes the same :class:`EventRejectedError` subclass that the
    node's local checks raise, with the error's arguments as ``details``; any other
    custom error becomes a :class:`ContractError` (an unknown selector is ``Unknown``).
    """
    selector = data[:4]
    spec = error_specs().get(selector)
    if spec is None:
        return ContractError("Unknown", {"data": data}, selector)
    try:
        values = decode(list(spec.arg_types), data[4:])
    except DecodingError:
        return ContractError(spec.name, {"data": data[4:]}, selector)
    args = {
        name: _arg(kind, value)
        for name, kind, value in zip(spec.arg_names, spec.arg_types, values, strict=True)
    }
    rejection = rejection_classes().get(spec.name)
    if rejection is not None:
        return rejection(ContractError(spec.name, args, selector).args[0], **args)
    return ContractError(spec.name, args, selector)


def _arg(kind: str, value: Any) -> Any:
    """An error argument as problem documents carry it: addresses checksummed, uint64 and
    uint256 as decimal strings (as every such JSON value), smaller integers as numbers."""
    if kind == "address":
        return to_checksum_address(value)
    if kind in ("uint64", "uint256"):
        return str(value)
    return value


def _bytes_from_repr(text: str) -> bytes | None:
    """eth-tester's ``call`` reports revert data as the repr of its bytes (``"b'...'"``)."""
    text = text.removeprefix("execution reverted: ")
    if not (text.startswith(("b'", 'b"')) and len(text) < 100_000):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, bytes) else None


def call_reverted(exc: BaseException) -> bool:
    """Whether a failed call reverted (with or without data: a function the contract does
    not have reverts empty), rather than the chain failing to answer."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContractLogicError | BadFunctionCallOutput | TransactionFailed):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a failed call, whichever backend raised it.

    JSON-RPC nodes surface it as web3's ``ContractCustomError`` (hex string); the embedded
    eth-tester chain raises ``TransactionFailed`` with the bytes as its argument, which
    web3's tester provider re-raises as text with the original as its context.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContractCustomError) and isinstance(seen.data, str):
            return bytes.fromhex(seen.data.removeprefix("0x"))
        if isinstance(seen, TransactionFailed) and seen.args:
            data = seen.args[0]
            if isinstance(data, Exception) and data.args:
                data = data.args[0]
            if isinstance(data, str):
                data = _bytes_from_repr(data)
            if isinstance(data, bytes) and len(data) >= 4:
                return data
        seen = seen.__cause__ or seen.__context__
    return None
