"""Measure gas per relayed operation and per anchored event on the embedded chain.

Real transactions on py-evm (eth-tester): the figures include the 21,000 base cost and
calldata, shared across the operations of one relay call. Prints a Markdown table.

    python scripts/gas_table.py [--sizes 1 10 100]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from node.chain.deploy import contract, deploy_contracts
from node.chain.embedded import embedded_web3
from node.events.identifiers import identifier_split, parse_identifier
from node.events.typed_data import Action, Domain, Role, TraceEvent

PRODUCT = keccak(b"https://id.gs1.org/01/09506000134352")
LOT_BASE = "https://id.gs1.org/01/09506000134352/10/L"


class Bench:
    def __init__(self) -> None:
        self.w3: Web3 = embedded_web3()
        self.admin, self.node = list(self.w3.eth.accounts)[:2]
        deployment = deploy_contracts(self.w3, admin=self.admin, node=self.node)
        self.batches: Contract = contract(self.w3, "BatchRegistry", deployment.batch_registry)
        registry = deployment.participant_registry
        self.participants = contract(self.w3, "ParticipantRegistry", registry)
        self.domain = Domain(deployment.chain_id, bytes.fromhex(deployment.batch_registry[2:]))
        self.farm = self._register("farm", Role.PRODUCER, "9506000")
        self.carrier = self._register("carrier", Role.LOGISTICS)
        self.processor = self._register("processor", Role.PROCESSOR)
        self.nonces: dict[str, int] = {}
        self.heads: dict[bytes, bytes] = {}
        self.seq = 1

    def _register(self, name: str, roles: Role, prefix: str = "") -> LocalAccount:
        account: LocalAccount = Account.create()
        self.participants.functions.register(account.address, name, int(roles), prefix).transact(
            {"from": self.admin}
        )
        return account

    def sign(
        self, event: TraceEvent, account: LocalAccount, proofs: Sequence[tuple[bytes, int]] = ()
    ) -> tuple[Any, ...]:
        """The ABI tuple of a SignedEvent, with the identifier proofs of the batches it creates."""
        digest = event.digest(self.domain)
        signature = Account.unsafe_sign_hash(digest, account.key)
        for batch_id in (event.batch_id, *event.inputs, *event.outputs):
            if batch_id != bytes(32):
                self.heads[batch_id] = digest
        return (
            event.as_abi_tuple(),
            signature.v,
            signature.r.to_bytes(32, "big"),
            signature.s.to_bytes(32, "big"),
            list(proofs),
        )

    def nonce(self, account: LocalAccount) -> int:
        value = self.nonces.get(account.address, 0)
        self.nonces[account.address] = value + 1
        return value

    def relay(self, signed: Sequence[tuple[Any, ...]]) -> int:
        tx = self.batches.functions.relay(list(signed)).transact(
            {"from": self.node, "gas": 29_000_000}
        )
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        accepted = self.batches.events.EventAccepted().process_receipt(receipt, errors=DISCARD)
        assert len(accepted) == len(signed), "every measured operation must be accepted"
        return int(receipt["gasUsed"])

    def anchor(self, window: int) -> int:
        root = os.urandom(32)
        tx = self.batches.functions.commit([], root, self.seq, window).transact({"from": self.node})
        self.seq += window
        return int(self.w3.eth.wait_for_transaction_receipt(tx)["gasUsed"])

    # -- operations, each building n signed events on batches made beforehand --

    def commission(self, n: int) -> list[tuple[Any, ...]]:
        """COMMISSIONs of new lots of GTIN 09506000134352, each with its identifier proof
        (the farm holds company prefix 9506000), as the commit worker relays them."""
        signed = []
        for _ in range(n):
            lot = parse_identifier(f"{LOT_BASE}{os.urandom(6).hex().upper()}")
            event = TraceEvent(
                Action.COMMISSION,
                batch_id=lot.batch_id,
                product=PRODUCT,
                quantity=1000,
                event_time=1_732_000_000_000,
                payload_hash=os.urandom(32),
                nonce=self.nonce(self.farm),
            )
            signed.append(self.sign(event, self.farm, [identifier_split(lot).proof("9506000")]))
        return signed

    def fresh_lots(self, n: int) -> list[bytes]:
        signed = self.commission(n)
        for chunk in range(0, n, 200):
            self.relay(signed[chunk : chunk + 200])
        return [bytes(item[0][1]) for item in signed]

    def ship(self, lots: list[bytes]) -> list[tuple[Any, ...]]:
        carrier = bytes.fromhex(self.carrier.address[2:])
        return [
            self.sign(
                TraceEvent(
                    Action.SHIP,
                    batch_id=lot,
                    prev_event_hash=self.heads[lot],
                    counterparty=carrier,
                    event_time=1_732_000_100_000,
                    payload_hash=os.urandom(32),
                    nonce=self.nonce(self.farm),
                ),
                self.farm,
            )
            for lot in lots
        ]

    def receive(self, lots: list[bytes]) -> list[tuple[Any, ...]]:
        return [
            self.sign(
                TraceEvent(
                    Action.RECEIVE,
                    batch_id=lot,
                    prev_event_hash=self.heads[lot],
                    event_time=1_732_000_200_000,
                    payload_hash=os.urandom(32),
                    nonce=self.nonce(self.carrier),
                ),
                self.carrier,
            )
            for lot in lots
        ]


def measure(bench: Bench, sizes: Sequence[int]) -> dict[str, dict[int, int]]:
    def per_op(build: Callable[[int], list[tuple[Any, ...]]]) -> dict[int, int]:
        # Largest first, so that one-time costs (a signer's first nonce word) do not land
        # on the single-operation figure.
        return {n: bench.relay(build(n)) // n for n in sorted(sizes, reverse=True)}

    results = {"COMMISSION": per_op(bench.commission)}
    shipped: dict[int, list[bytes]] = {}

    def ship(n: int) -> list[tuple[Any, ...]]:
        shipped[n] = bench.fresh_lots(n)
        return bench.ship(shipped[n])

    results["SHIP"] = per_op(ship)
    results["RECEIVE"] = per_op(lambda n: bench.receive(shipped[n]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    bench = Bench()
    results = measure(bench, args.sizes)
    header = " | ".join(f"batch of {n}" for n in args.sizes)
    print(f"| operation, gas per op | {header} |")
    print("|---|" + "---:|" * len(args.sizes))
    for name, by_size in results.items():
        print(f"| {name} | " + " | ".join(f"{by_size[n]:,}" for n in args.sizes) + " |")
    print()
    bench.anchor(1)  # the node's first window also creates its sequence slot
    print("| anchor (commit with no operations) | gas | gas per event |")
    print("|---|---:|---:|")
    for window in (100, 1000, 10_000):
        gas = bench.anchor(window)
        print(f"| window of {window:,} events | {gas:,} | {gas / window:.1f} |")


if __name__ == "__main__":
    main()
