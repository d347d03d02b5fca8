"""Encrypted key files (Web3 Secret Storage v3, scrypt), as geth, MetaMask and cast use.

The password comes from the environment (``TRACENODE_PASSWORD``) or a prompt; it is
never written anywhere, and no key leaves these files unencrypted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.exceptions import KeystoreError

PASSWORD_ENV: Final = "TRACENODE_PASSWORD"  # noqa: S105 - the variable's name, not a password


def create_keystore(
    path: Path,
    password: str,
    private_key: bytes | None = None,
    *,
    pbkdf2_iterations: int | None = None,
) -> LocalAccount:
    """Write a new encrypted key file at ``path`` (never overwriting) and return the account.

    The key is encrypted with scrypt (eth-account's default work factor) unless
    ``pbkdf2_iterations`` asks for PBKDF2 with that many rounds: for throwaway test nodes
    only (node.testing), where a second per key file adds up.
    """
    if path.exists():
        raise KeystoreError(f"{path} already exists; refusing to overwrite a key file")
    account: LocalAccount = Account.from_key(private_key) if private_key else Account.create()
    if pbkdf2_iterations is None:
        document = Account.encrypt(account.key, password)
    else:
        document = Account.encrypt(
            account.key, password, kdf="pbkdf2", iterations=pbkdf2_iterations
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with owner-only permissions before any secret is written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
    return account


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt the key file at ``path``."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeystoreError(f"no key file at {path}") from None
    except ValueError as exc:
        raise KeystoreError(f"{path} is not a key file: {exc}") from None
    try:
        key = Account.decrypt(document, password)
    except ValueError:
        raise KeystoreError(f"wrong password for {path}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def keystore_address(path: Path) -> str:
    """The address a key file holds, read without decrypting it."""
    try:
        address = json.loads(path.read_text())["address"]
    except (OSError, ValueError, KeyError) as exc:
        raise KeystoreError(f"{path} is not a key file: {exc}") from None
    return "0x" + str(address).removeprefix("0x")
