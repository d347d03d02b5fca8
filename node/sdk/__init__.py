"""TraceNode's Python SDK for suppliers: a client of a remote gateway (docs/sdk.md).

    from node.sdk import Client

    with Client("https://node.example", api_key=TOKEN, key=PRIVATE_KEY, outbox="outbox") as c:
        delivery = c.submit("commission", "https://id.gs1.org/01/09506000134352/10/LOT-7",
                            product="milk", quantity=500)
        proof = c.wait_for_proof(delivery.event_hash)

Importable without the node's server side: it needs httpx, eth-account and web3 (to
verify bundles against a chain), never the store, SQLAlchemy or FastAPI.
"""

from __future__ import annotations

from node.events.compose import EventSpec
from node.sdk.client import Client, Delivery, FlushReport, Proof
from node.sdk.http import Retry, RetryPolicy
from node.sdk.info import GatewayInfo
from node.sdk.outbox import Entry, Outbox

__all__ = [
    "Client",
    "Delivery",
    "Entry",
    "EventSpec",
    "FlushReport",
    "GatewayInfo",
    "Outbox",
    "Proof",
    "Retry",
    "RetryPolicy",
]
