"""``GET /v1/info`` read and checked: the gateway's domain and types are what the SDK signs
with, so they are checked against the one definition (node/events/typed_data.py) and
against what the gateway itself claims (its chain id and BatchRegistry) before any use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.events.submission import parse_hex, parse_uint
from node.events.typed_data import (
    DOMAIN_NAME,
    DOMAIN_VERSION,
    Action,
    Domain,
    TraceEvent,
    typed_data,
)
from node.exceptions import GatewayError, GatewayMismatchError, InvalidEventError


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """What the SDK uses of ``/v1/info`` (``document`` is all of it)."""

    chain_id: int
    domain: Domain
    participant_registry: str
    batch_registry: str
    anchor_registry: str
    node_version: str
    max_events_per_request: int
    max_body_bytes: int
    document: dict[str, Any]

    @classmethod
    def parse(cls, document: Any) -> GatewayInfo:
        """Check ``document`` and read it; :class:`GatewayMismatchError` when its EIP-712
        types or action numbers are not TraceNode's, or its domain is not the chain and
        BatchRegistry it names; :class:`GatewayError` when it is not an info document."""
        try:
            eip712 = _object(document, "eip712")
            contracts = _object(document, "contracts")
            limits = _object(document, "limits")
            chain_id = parse_uint(document["chainId"], 256, "chainId")
            batch_registry = _address(contracts, "batchRegistry")
            info = cls(
                chain_id=chain_id,
                domain=Domain(chain_id, bytes.fromhex(batch_registry[2:])),
                participant_registry=_address(contracts, "participantRegistry"),
                batch_registry=batch_registry,
                anchor_registry=_address(contracts, "anchorRegistry"),
                node_version=str(document.get("nodeVersion", "")),
                max_events_per_request=_int(limits, "maxEventsPerRequest"),
                max_body_bytes=_int(limits, "maxBodyBytes"),
                document=dict(document),
            )
        except (KeyError, TypeError, ValueError, InvalidEventError) as exc:
            raise GatewayError(f"/v1/info is not a TraceNode info document: {exc}") from None
        expected = typed_data(TraceEvent(Action.COMMISSION), info.domain)
        if eip712.get("types") != expected["types"]:
            raise GatewayMismatchError(
                "the gateway's EIP-712 types are not TraceNode's (node/events/typed_data.py): "
                "refusing to sign for it"
            )
        if eip712.get("primaryType") != expected["primaryType"]:
            raise GatewayMismatchError("the gateway's primaryType is not TraceEvent")
        claimed = eip712.get("domain")
        if not isinstance(claimed, Mapping) or not _same_domain(claimed, expected["domain"]):
            raise GatewayMismatchError(
                f"the gateway's EIP-712 domain {claimed!r} is not {DOMAIN_NAME} v{DOMAIN_VERSION} "
                f"on the chain ({chain_id}) and BatchRegistry ({batch_registry}) it names"
            )
        if document.get("actions") != {a.name: int(a) for a in Action}:
            raise GatewayMismatchError("the gateway numbers actions differently from TraceNode")
        if info.max_events_per_request < 1 or info.max_body_bytes < 1:
            raise GatewayError("/v1/info gives limits below 1")
        return info


def _same_domain(claimed: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    if set(claimed) != set(expected):
        return False
    address = claimed["verifyingContract"]
    return (
        claimed["name"] == expected["name"]
        and claimed["version"] == expected["version"]
        and isinstance(claimed["chainId"], str | int)
        and not isinstance(claimed["chainId"], bool)
        and str(claimed["chainId"]) == str(expected["chainId"])
        and isinstance(address, str)
        and address.lower() == str(expected["verifyingContract"]).lower()
    )


def _object(document: Any, key: str) -> Mapping[str, Any]:
    value = document[key]
    if not isinstance(value, Mapping):
        raise TypeError(f"{key} is not an object")
    return value


def _int(document: Mapping[str, Any], key: str) -> int:
    value = document[key]
    if type(value) is not int:
        raise TypeError(f"{key} is not an integer")
    return value


def _address(document: Mapping[str, Any], key: str) -> str:
    value = document[key]
    parse_hex(value, 20, key)
    return str(value)
