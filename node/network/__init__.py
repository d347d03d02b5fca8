"""A network of nodes on one chain: which node answers for an identifier, and what this
node makes of its answer (docs/network.md)."""
