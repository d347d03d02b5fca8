"""The node's chain, shared by request threads and the commit worker.

py-evm (the embedded chain) is not thread-safe: :func:`serialize_requests` puts every
JSON-RPC request made through a ``Web3`` behind one lock, as web3 middleware, so the
commit worker, the routes and ``/rpc`` can share the chain.
"""

from __future__ import annotations

import threading
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.middleware.base import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

MIDDLEWARE_NAME = "tracenode-serialize"


def is_embedded(w3: Web3) -> bool:
    return isinstance(w3.provider, EthereumTesterProvider)


def serialize_requests(w3: Web3) -> None:
    """Make every request through ``w3`` take one lock (idempotent)."""
    if MIDDLEWARE_NAME in w3.middleware_onion:
        return
    lock = threading.RLock()

    class Serialized(Web3Middleware):
        def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
            def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                with lock:
                    return make_request(method, params)

            return middleware

    w3.middleware_onion.add(Serialized, name=MIDDLEWARE_NAME)
