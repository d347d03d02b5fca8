"""Which chain-client errors mean "the chain's JSON-RPC node cannot be reached now".

web3's HTTP provider raises ``requests``' errors as they are: a refused or reset
connection, a timeout, a gateway in front of the node answering 502 / 503 / 504.
:func:`chain_unavailable` gives those as a typed
:class:`~node.exceptions.ChainUnavailableError` (a :class:`ChainError` too), so the
gateway answers 503 with ``Retry-After`` and one log line (api/problems.py registers its
handler for :data:`CHAIN_CONNECTION_ERRORS`) instead of a bug's 500.
"""

from __future__ import annotations

from typing import Final

import requests
from web3.exceptions import ProviderConnectionError

from node.exceptions import ChainUnavailableError

#: The client classes whose instances may mean the chain is unreachable.
CHAIN_CONNECTION_ERRORS: Final[tuple[type[Exception], ...]] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.HTTPError,
    ProviderConnectionError,
)
#: HTTP statuses of a proxy or load balancer whose node behind it does not answer.
_UNAVAILABLE_STATUSES: Final = frozenset({502, 503, 504})


def chain_unavailable(error: BaseException) -> ChainUnavailableError | None:
    """``error`` as a :class:`ChainUnavailableError` when it says the chain's node cannot
    be reached or did not answer in time; None otherwise."""
    if isinstance(error, ChainUnavailableError):
        return error
    if isinstance(error, requests.HTTPError):
        status = error.response.status_code if error.response is not None else None
        if status not in _UNAVAILABLE_STATUSES:
            return None
        return ChainUnavailableError(f"the chain's JSON-RPC endpoint answers HTTP {status}")
    if isinstance(error, requests.Timeout):
        return ChainUnavailableError("the chain's JSON-RPC node did not answer in time")
    if isinstance(error, requests.ConnectionError | ProviderConnectionError):
        return ChainUnavailableError("the chain's JSON-RPC node cannot be reached")
    return None
