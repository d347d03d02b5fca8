"""TraceNode: a blockchain-backed supply-chain traceability node."""

__version__ = "0.1.0"
