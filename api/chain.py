"""The node's chain, shared by request threads and the commit worker.

py-evm (the embedded chain) is not thread-safe: :func:`serialize_requests` puts every
JSON-RPC request made through its ``Web3`` behind one lock, as web3 middleware, so the
commit worker and the routes can share it (``/rpc`` runs elsewhere: api/rpc_readers.py).
External nodes take concurrent requests as they are.
"""

from __future__ import annotations

import threading
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.middleware.base import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

MIDDLEWARE_NAME = "tracenode-serialize"


def serialize_requests(w3: Web3) -> None:
    """On the embedded chain, make every request through ``w3`` take one lock."""
    if not isinstance(w3.provider, EthereumTesterProvider):
        return
    if MIDDLEWARE_NAME not in w3.middleware_onion:
        lock = threading.RLock()

        class Serialized(Web3Middleware):
            def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
                def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                    with lock:
                        return make_request(method, params)

                return middleware

        w3.middleware_onion.add(Serialized, name=MIDDLEWARE_NAME)
