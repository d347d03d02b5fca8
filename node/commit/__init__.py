"""The commit worker: accepted events become on-chain facts and Merkle proofs
(docs/design.md §5)."""
