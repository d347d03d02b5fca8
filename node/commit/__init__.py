"""The commit worker: accepted events become on-chain facts and Merkle proofs (DESIGN.md §5)."""
