"""The embedded chain: py-evm through eth-tester, in this process.

Issue #4 persists it in the data directory; this module is where that happens.
"""

from __future__ import annotations

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3


def embedded_web3() -> Web3:
    """A fresh in-process chain with eth-tester's funded, unlocked development accounts."""
    tester = EthereumTester(backend=PyEVMBackend())
    return Web3(EthereumTesterProvider(tester))
