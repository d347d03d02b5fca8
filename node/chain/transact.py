"""Send contract transactions from a local key or an unlocked account, on any chain.

A call that would revert is caught at gas estimation and raised as its decoded, typed
error (node.chain.errors), so the caller sees ``NotCustodianError`` — not a hex blob.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import TxReceipt

from node.chain.errors import decode_error, revert_data
from node.exceptions import ChainError

Sender = LocalAccount | ChecksumAddress


def sender_address(sender: Sender) -> ChecksumAddress:
    return sender.address if isinstance(sender, LocalAccount) else sender


def send_transaction(w3: Web3, call: Any, sender: Sender, *, gas: int | None = None) -> TxReceipt:
    """Send ``call`` (a web3 contract function or constructor) and wait for its receipt."""
    address = sender_address(sender)
    params: dict[str, Any] = {"from": address}
    if gas is not None:
        params["gas"] = gas
    try:
        if isinstance(sender, LocalAccount):
            params["nonce"] = w3.eth.get_transaction_count(address, "pending")
            tx = call.build_transaction(params)
            signed = sender.sign_transaction(tx)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        else:
            tx_hash = call.transact(params)
    except Exception as exc:
        data = revert_data(exc)
        if data is not None:
            raise decode_error(data) from exc
        raise
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise ChainError(f"transaction 0x{bytes(receipt['transactionHash']).hex()} reverted")
    return receipt
