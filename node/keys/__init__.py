"""Signing keys at rest: Web3 Secret Storage (encrypted JSON) files."""
