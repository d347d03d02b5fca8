"""BatchRegistry.commit on any chain: build and sign the transaction (nonce, fees, gas),
send exactly those bytes (again, after a crash, a drop or a reorg), read back what the
contract accepted and rejected, and tell whether the transaction's nonce is spent.

Nonce: the node key's count of *mined* transactions. The commit worker has at most one
window in flight and settles it before building the next, so every earlier transaction
of the node key is mined by then; a foreign transaction still waiting in a pool at that
nonce is replaced (or refuses ours until it is mined, which then spends the nonce and
the window is rebuilt). Choosing the pool's count instead would queue the commit behind
a transaction that may never be mined.

Fees: EIP-1559 from the chain — the node's suggested priority fee, and a fee cap of twice
the latest base fee plus that tip, so the transaction stays includable while the base fee
doubles. TraceNode's contracts need a Cancun chain, so every chain they run on has a base
fee (possibly zero, as on a free-gas consortium network).

Gas: on a JSON-RPC chain the limit is the node's estimate plus a margin, capped by the
latest block's gas limit and by EIP-7825's per-transaction cap (2**24); a window that
needs more is reported (CommitTooLargeError) so that the worker splits it. Estimation
also catches a commit that would revert as a whole before anything is signed. On the
embedded chain (in-process py-evm) estimation would run the whole window about ten times
over, seconds for a full window, and nothing competes for its blocks: there the limit is
a fixed COMMIT_GAS_LIMIT, and a whole-window revert is found in the receipt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, TransactionNotFound
from web3.types import BlockData, BlockIdentifier, RPCEndpoint

from node.chain.deploy import Deployment, contract
from node.chain.embedded import RECEIPT_LOGS, is_embedded
from node.chain.errors import decode_error, revert_data
from node.chain.logs import relayed_outcomes
from node.chain.reader import ChainReader, Contracts
from node.commit.custody import CustodyMode
from node.events.hashing import keccak
from node.events.identifiers import (
    IdentifierSplit,
    identifier_split,
    parse_identifier,
)
from node.events.typed_data import BatchStatus, TraceEvent
from node.exceptions import (
    ChainError,
    CommitRevertedError,
    CommitTooLargeError,
    InsufficientFundsError,
)

#: The proof that a new batch's id derives from an identifier under a prefix, as
#: BatchRegistry's IdentifierProof: (canonical identifier, UTF-8; prefix length).
IdentifierProof = tuple[bytes, int]
#: One relayed operation: the event, its signature, and the proofs of the batches it creates.
Operation = tuple[TraceEvent, bytes, Sequence[IdentifierProof]]
#: What the contract makes of an identifier the node cannot prove (unknown, or a bare
#: batch id): BatchRegistryInvalidIdentifierProof, so the event is rejected on-chain.
NO_PROOF: Final[IdentifierProof] = (b"", 0)

#: Gas the node allows one commit on the embedded chain: under its 30M block, ~400 operations.
COMMIT_GAS_LIMIT: Final = 29_000_000
#: EIP-7825 (Osaka): no transaction may use more gas, whatever the block gas limit.
TX_GAS_CAP: Final = 2**24
#: Margin over the estimate: the chain's state may move between estimation and inclusion.
GAS_MARGIN_PERCENT: Final = 25
GAS_MARGIN_FIXED: Final = 50_000
#: A replacement must raise both fee fields by at least 10 % (geth, anvil); +25 % makes
#: each further replacement of a stuck nonce count.
REPLACEMENT_BUMP_PERCENT: Final = 125
CANCEL_GAS: Final = 21_000
#: Gas allowed AnchorRegistry.anchorState where it is not estimated (it uses ~48,000).
STATE_GAS_LIMIT: Final = 100_000
#: Gas allowed AnchorRegistry.anchorWindow where it is not estimated (it uses ~87,000: two
#: fresh slots, the anchor and the roots' commitment; ~170,000 for a node's first).
WINDOW_GAS_LIMIT: Final = 300_000


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    tx_hash: bytes

    def fields(self) -> dict[str, Any]:
        """The signed transaction's fields (nonce, gas, fee fields, ...)."""
        if not self.raw or self.raw[0] > 0x7F:
            raise ChainError(f"0x{self.tx_hash.hex()} is not a typed (EIP-2718) transaction")
        return dict(TypedTransaction.from_bytes(HexBytes(self.raw)).as_dict())

    @property
    def nonce(self) -> int:
        return int(self.fields()["nonce"])


@dataclass(frozen=True, slots=True)
class CommitReceipt:
    """What a mined commit did: its block, and the fate of each relayed event."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    succeeded: bool
    accepted: frozenset[bytes]
    rejected: dict[bytes, bytes]  # event hash -> ABI-encoded custom error
    gas_used: int


class CommitClient:
    """The node's side of BatchRegistry and AnchorRegistry.

    ``estimate_gas``: None (the default) estimates on JSON-RPC chains and not on the
    in-process embedded chain (see the module docstring). ``custody``: the node's custody
    mode, which decides how the commit worker anchors a window (node.commit.custody).
    """

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        *,
        estimate_gas: bool | None = None,
        custody: CustodyMode = CustodyMode.ENFORCED,
    ) -> None:
        self.w3 = w3
        self.custody = custody
        self.batches: Contract = contract(w3, "BatchRegistry", deployment.batch_registry)
        self.anchors: Contract = contract(w3, "AnchorRegistry", deployment.anchor_registry)
        self.contracts = Contracts(
            deployment.participant_registry, deployment.batch_registry, deployment.anchor_registry
        )
        #: The in-process embedded chain (its own methods: node.chain.embedded).
        self.embedded = is_embedded(w3)
        if estimate_gas is None:
            estimate_gas = not self.embedded
        self.estimate_gas = estimate_gas
        self._reader: ChainReader | None = None

    def reader(self) -> ChainReader:
        """A reader of the chain as it is now, carrying the previous one's lasting answers
        and contract objects (node.chain.reader)."""
        self._reader = ChainReader(self.w3, self.contracts, carry=self._reader)
        return self._reader

    def next_sequence(self, node: str) -> int:
        return self.reader().next_sequence(bytes.fromhex(node.removeprefix("0x")))

    def batch_state(self, batch_id: bytes) -> tuple[int, int, int, BatchStatus, bytes]:
        producer, custodian, receiver, status, head = self.batches.functions.batch(batch_id).call()
        return int(producer), int(custodian), int(receiver), BatchStatus(status), bytes(head)

    # ----- identifier proofs -----

    def identifier_proofs(
        self, events: Sequence[tuple[TraceEvent, int]], identifiers: dict[bytes, str | None]
    ) -> list[tuple[IdentifierProof, ...]]:
        """For each (event, signer's participant id), the proofs of the batches the event
        creates (node/events/identifiers.py's split); ``identifiers`` maps batch ids to
        their canonical identifiers. The licences of every candidate prefix are read in
        one ReadMany call; the prefix chosen is the candidate the producer holds, or when
        it holds none the first one held by anyone (else the longest), so that the
        contract names the refusal."""
        splits = {}
        for event, _ in events:
            for batch_id in event.created_batch_ids():
                text = identifiers.get(batch_id)
                try:
                    splits[batch_id] = identifier_split(parse_identifier(text)) if text else None
                except ValueError:
                    splits[batch_id] = None
        reader = self.reader()
        reader.prefetch(
            licences={(s.kind, c) for s in splits.values() if s is not None for c in s.candidates}
        )
        return [
            tuple(identifier_proof(splits[b], producer, reader) for b in event.created_batch_ids())
            for event, producer in events
        ]

    # ----- building -----

    def build_commit(
        self,
        node: LocalAccount,
        events: Sequence[Operation],
        *,
        root: bytes,
        first_seq: int,
        event_count: int,
    ) -> SignedTx:
        """Sign (without sending) the commit of ``events`` (event, signature, identifier
        proofs) and a root.

        Raises CommitRevertedError when estimation shows the commit would revert as a
        whole, CommitTooLargeError when it needs more gas than a transaction may use,
        InsufficientFundsError when the node key cannot pay for it at the fee cap.
        """
        data = commit_calldata(events, root=root, first_seq=first_seq, event_count=event_count)
        return self._sign(node, self.batches.address, data, COMMIT_GAS_LIMIT, "the commit")

    def _sign(
        self, node: LocalAccount, to: str, data: bytes, fixed_gas: int, what: str
    ) -> SignedTx:
        """Sign a call of ``to`` from the node key at its next mined nonce: gas estimated
        plus a margin on a JSON-RPC chain, ``fixed_gas`` on the embedded one (see the
        module docstring); CommitRevertedError when estimation shows ``what`` would
        revert, CommitTooLargeError, InsufficientFundsError."""
        call: dict[str, Any] = {"from": node.address, "to": to, "data": data}
        latest = self.w3.eth.get_block("latest")
        cap = self.gas_cap(latest)
        gas = min(cap, fixed_gas)
        if self.estimate_gas:
            try:
                estimate = int(self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
            except Exception as exc:
                reverted = revert_data(exc)
                if reverted is not None:
                    cause = decode_error(reverted)
                    raise CommitRevertedError(f"{what} would revert: {cause}", cause=cause) from exc
                raise ChainError(f"could not estimate {what}'s gas: {exc}") from exc
            gas = estimate * (100 + GAS_MARGIN_PERCENT) // 100 + GAS_MARGIN_FIXED
            if gas > cap:
                raise CommitTooLargeError(gas, cap)
        params: dict[str, Any] = {
            "type": 2,
            "chainId": self.w3.eth.chain_id,
            "to": to,
            "value": 0,
            "data": data,
            "nonce": self.w3.eth.get_transaction_count(node.address, "latest"),
            "gas": gas,
            **self.fees(latest),
        }
        most = gas * params["maxFeePerGas"]
        balance = int(self.w3.eth.get_balance(node.address))
        if balance < most:
            raise InsufficientFundsError(node.address, balance, most)
        signed = node.sign_transaction(params)
        return SignedTx(bytes(signed.raw_transaction), bytes(signed.hash))

    def build_cancel(self, node: LocalAccount, replaced: SignedTx) -> SignedTx:
        """A no-op transfer to itself at ``replaced``'s nonce that outbids it.

        Whichever of the two is mined spends the nonce; the other can then never be.
        """
        old = replaced.fields()
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.w3.eth.chain_id,
            "nonce": int(old["nonce"]),
            "to": node.address,
            "value": 0,
            "gas": CANCEL_GAS,
            **self._outbidding(old),
        }
        signed = node.sign_transaction(tx)
        return SignedTx(bytes(signed.raw_transaction), bytes(signed.hash))

    def build_replacement(self, node: LocalAccount, replaced: SignedTx) -> SignedTx:
        """The very call ``replaced`` makes (same nonce, target, data and gas), with fees
        that outbid it: for a transaction whose effect is still wanted once it has been
        priced out (the state root's, node.commit.worker), where a window is rebuilt."""
        old = replaced.fields()
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.w3.eth.chain_id,
            "nonce": int(old["nonce"]),
            "to": Web3.to_checksum_address(HexBytes(old["to"])),
            "value": int(old.get("value", 0)),
            "data": bytes(HexBytes(old.get("data", b""))),
            "gas": int(old["gas"]),
            **self._outbidding(old),
        }
        most = tx["gas"] * tx["maxFeePerGas"]
        balance = int(self.w3.eth.get_balance(node.address))
        if balance < most:
            raise InsufficientFundsError(node.address, balance, most)
        signed = node.sign_transaction(tx)
        return SignedTx(bytes(signed.raw_transaction), bytes(signed.hash))

    def _outbidding(self, old: dict[str, Any]) -> dict[str, int]:
        """EIP-1559 fee fields that replace ``old`` in a pool (each fee raised by the
        replacement bump, or today's fees when they are higher)."""
        fees = self.fees()
        tip = max(
            fees["maxPriorityFeePerGas"],
            _bumped(int(old.get("maxPriorityFeePerGas", old.get("gasPrice", 0)))),
        )
        cap = max(
            fees["maxFeePerGas"], _bumped(int(old.get("maxFeePerGas", old.get("gasPrice", 0))))
        )
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": max(cap, tip)}

    def build_anchor_state(self, node: LocalAccount, root: bytes, state_root: bytes) -> SignedTx:
        """Sign (without sending) ``AnchorRegistry.anchorState(root, stateRoot)`` for the
        node's latest window ``root`` (node.proofs.state)."""
        data = bytes(HexBytes(self.anchors.encode_abi("anchorState", [root, state_root])))
        return self._sign(node, self.anchors.address, data, STATE_GAS_LIMIT, "anchorState")

    def build_anchor_window(
        self,
        node: LocalAccount,
        *,
        root: bytes,
        state_root: bytes,
        transition_root: bytes,
        first_seq: int,
        event_count: int,
    ) -> SignedTx:
        """Sign (without sending) ``AnchorRegistry.anchorWindow(root, stateRoot,
        transitionRoot, firstSeq, eventCount)``: an anchor-only window in one transaction
        (node.proofs.transitions). Raises as :meth:`build_commit`."""
        data = anchor_window_calldata(
            root=root,
            state_root=state_root,
            transition_root=transition_root,
            first_seq=first_seq,
            event_count=event_count,
        )
        return self._sign(node, self.anchors.address, data, WINDOW_GAS_LIMIT, "anchorWindow")

    def window_commitment_of(self, root: bytes, *, at: BlockIdentifier = "latest") -> bytes:
        """The anchor-only window ``root``'s commitment to its state and transition roots
        (node.chain.logs.window_commitment; zero bytes: an enforced window, or none)."""
        return bytes(self.anchors.functions.windowCommitmentOf(root).call(block_identifier=at))

    def state_root_of(self, root: bytes, *, at: BlockIdentifier = "latest") -> bytes:
        """The state root anchored for the window ``root`` at block ``at`` (zero bytes:
        none)."""
        return bytes(self.anchors.functions.stateRootOf(root).call(block_identifier=at))

    def fees(self, latest: BlockData | None = None) -> dict[str, int]:
        """EIP-1559 fee fields for a transaction sent now (``latest``: the head block)."""
        base = (latest or self.w3.eth.get_block("latest")).get("baseFeePerGas")
        if base is None:
            raise ChainError("the chain has no EIP-1559 base fee (TraceNode needs Cancun rules)")
        tip = int(self.w3.eth.max_priority_fee)
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * int(base) + tip}

    def gas_cap(self, latest: BlockData | None = None) -> int:
        """The most gas one transaction may use: the block gas limit, and EIP-7825's cap."""
        block_limit = int((latest or self.w3.eth.get_block("latest"))["gasLimit"])
        return min(block_limit, TX_GAS_CAP) if self.estimate_gas else block_limit

    # ----- sending and watching -----

    def send(self, tx: SignedTx) -> None:
        """Send ``tx``; sending the same bytes again is harmless (already known / mined).

        Raises ChainError when the node refused it and does not have it.
        """
        try:
            self.w3.eth.send_raw_transaction(tx.raw)
        except Exception as exc:
            # The node's message says why ("already known", "nonce too low", ...) in no
            # standard words: its state is what counts.
            if not self.known(tx.tx_hash):
                raise ChainError(f"the node refused 0x{tx.tx_hash.hex()}: {exc}") from exc

    def known(self, tx_hash: bytes) -> bool:
        """Whether the node has the transaction (waiting in its pool, or mined)."""
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> bytes:
        return bytes(self.w3.eth.get_block(number)["hash"])

    def nonce_spent(self, address: str, nonce: int, *, at: BlockIdentifier) -> bool:
        """Whether a transaction of ``address`` with ``nonce`` was mined by block ``at``."""
        count = self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), at)
        return int(count) > nonce

    def anchored(self, root: bytes, *, at: BlockIdentifier = "latest") -> bool:
        """Whether ``root`` is anchored in the chain's state at block ``at``."""
        return bool(self.anchors.functions.isAnchored(root).call(block_identifier=at))

    def canonical(self, receipt: CommitReceipt) -> bool:
        """Whether the receipt's block is (still) the chain's block at that height."""
        try:
            block = self.w3.eth.get_block(receipt.block_number)
        except BlockNotFound:  # a height the chain no longer has, after a reorg
            return False
        return bytes(block["hash"]) == receipt.block_hash

    def receipt(self, tx_hash: bytes) -> CommitReceipt | None:
        """The commit's receipt, or None while it is not mined. On the embedded chain, read
        without web3's formatting of every log (:data:`node.chain.embedded.RECEIPT_LOGS`:
        a window's receipt holds a log or two per operation)."""
        receipt: Any
        if self.embedded:
            # Through the manager, so through the middleware that serialises the embedded
            # chain's requests (node.chain.embedded.serialize_requests).
            receipt = self.w3.manager.request_blocking(
                RPCEndpoint(RECEIPT_LOGS), ["0x" + bytes(tx_hash).hex()]
            )
            if receipt is None:
                return None
        else:
            try:
                receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
        accepted, rejected = relayed_outcomes(receipt["logs"], self.batches.address)
        return CommitReceipt(
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]),
            block_hash=bytes(receipt["blockHash"]),
            succeeded=receipt["status"] == 1,
            accepted=accepted,
            rejected=rejected,
            gas_used=int(receipt["gasUsed"]),
        )


_COMMIT_TYPES: Final = (
    "((uint8,bytes32,bytes32,bytes32[],bytes32[],bytes32[],address,bytes32,uint256,uint64,"
    "bytes32,bytes32,uint256),uint8,bytes32,bytes32,(bytes,uint8)[])[]",
    "bytes32",
    "uint64",
    "uint32",
)
COMMIT_SELECTOR: Final = keccak(("commit(" + ",".join(_COMMIT_TYPES) + ")").encode())[:4]


def commit_calldata(
    events: Sequence[Operation], *, root: bytes, first_seq: int, event_count: int
) -> bytes:
    """``BatchRegistry.commit(SignedEvent[], root, firstSeq, eventCount)`` calldata, encoded
    directly with eth-abi (web3's generic contract encoder spent a tenth of the commit
    path's time walking a thousand events); a test checks it against the ABI."""
    signed = [
        (event.as_abi_tuple(), signature[64], signature[:32], signature[32:64], list(proofs))
        for event, signature, proofs in events
    ]
    return COMMIT_SELECTOR + encode(list(_COMMIT_TYPES), [signed, root, first_seq, event_count])


_ANCHOR_WINDOW_TYPES: Final = ("bytes32", "bytes32", "bytes32", "uint64", "uint32")
ANCHOR_WINDOW_SELECTOR: Final = keccak(
    ("anchorWindow(" + ",".join(_ANCHOR_WINDOW_TYPES) + ")").encode()
)[:4]


def anchor_window_calldata(
    *, root: bytes, state_root: bytes, transition_root: bytes, first_seq: int, event_count: int
) -> bytes:
    """``AnchorRegistry.anchorWindow`` calldata (a test checks it against the ABI)."""
    return ANCHOR_WINDOW_SELECTOR + encode(
        list(_ANCHOR_WINDOW_TYPES), [root, state_root, transition_root, first_seq, event_count]
    )


def _bumped(fee: int) -> int:
    return math.ceil(fee * REPLACEMENT_BUMP_PERCENT / 100) + 1


def identifier_proof(
    split: IdentifierSplit | None, producer: int, reader: ChainReader
) -> IdentifierProof:
    """The proof of a new batch's identifier the contract takes from ``producer``: under the
    candidate prefix it holds, else the first one anyone holds (else the longest); NO_PROOF
    for an identifier the node cannot prove."""
    if split is None:
        return NO_PROOF
    holders = {c: reader.licence(split.kind, c).holder for c in split.candidates}
    return split.proof(split.choose(holders, producer))
