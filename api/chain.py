"""The node's chain, shared by request threads and the commit worker.

py-evm (the embedded chain) is not thread-safe: :func:`serialize_requests` puts every
JSON-RPC request made through its ``Web3`` behind one lock, as web3 middleware, so the
commit worker, the routes and ``/rpc`` can share it. External nodes take concurrent
requests as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.middleware import combine_middleware
from web3.middleware.base import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

MIDDLEWARE_NAME = "tracenode-serialize"
RawRequest = Callable[[str, list[Any]], RPCResponse]


def is_embedded(w3: Web3) -> bool:
    return isinstance(w3.provider, EthereumTesterProvider)


def serialize_requests(w3: Web3) -> RawRequest:
    """On the embedded chain, make every request through ``w3`` take one lock; return a
    function sending a raw JSON-RPC request (through that lock, without web3's own
    request and result formatting: /rpc serves what the chain says)."""
    provider = w3.provider
    if not isinstance(provider, EthereumTesterProvider):
        return lambda method, params: provider.make_request(RPCEndpoint(method), params)
    if MIDDLEWARE_NAME not in w3.middleware_onion:
        lock = threading.RLock()

        class Serialized(Web3Middleware):
            def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
                def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                    with lock:
                        return make_request(method, params)

                return middleware

        w3.middleware_onion.add(Serialized, name=MIDDLEWARE_NAME)
    serialized = w3.middleware_onion.get(MIDDLEWARE_NAME)
    assert serialized is not None
    return _raw(w3, provider, (serialized,))


def raw_requests(w3: Web3) -> RawRequest:
    """A function sending a raw JSON-RPC request through ``w3``'s provider, without web3's
    request and result formatting (nor any lock: for a ``w3`` only one thread uses)."""
    provider = w3.provider
    if not isinstance(provider, EthereumTesterProvider):
        return lambda method, params: provider.make_request(RPCEndpoint(method), params)
    return _raw(w3, provider, ())


def _raw(w3: Web3, provider: EthereumTesterProvider, outer: tuple[Any, ...]) -> RawRequest:
    # Only ``outer`` and eth-tester's own formatting (not the ENS and validation layers
    # web3 adds for its Python API, which choke on raw JSON-RPC filter params).
    request = combine_middleware(
        middleware=(*outer, *provider._middleware),
        w3=w3,
        provider_request_fn=provider.make_request,
    )
    return lambda method, params: request(RPCEndpoint(method), params)
