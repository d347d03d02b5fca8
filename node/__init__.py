"""TraceNode: a blockchain-backed supply-chain traceability node."""

import os
from importlib.util import find_spec

__version__ = "0.1.0"

# eth-hash computes keccak-256 for py-evm, py-trie, eth-utils and web3. With both of its
# backends installed it picks pycryptodome (~4.5 µs a hash through cffi) over safe-pysha3's
# C extension (~0.6 µs; a declared dependency), and a relayed operation hashes ~45 times.
# Its documented switch, read at the process's first hash, picks pysha3 unless the
# operator chose otherwise.
if find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
