"""The embedded chain's interpreter loop (node.chain.interpreter) computes what py-evm's
own loop computes: every block a node mined with it (contracts deployed, participants
registered, a lifecycle relayed and anchored, reverted calls, a loop out of gas) is
imported, fully validated (state root, receipts, gas used, logs), by a chain that runs
py-evm's Prague VM as it ships."""

from __future__ import annotations

from typing import Any, cast

from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth_tester import PyEVMBackend
from eth_typing import BlockNumber, HexStr
from web3 import Web3

from node.chain.embedded import GENESIS_TIMESTAMP
from node.chain.interpreter import FastComputation
from node.testing import chains
from node.testing.harness import TraceNodeHarness

MILK = "https://id.gs1.org/01/09506000134352/10/I-MILK"
CHEESE = "https://id.gs1.org/01/00614142000011/10/I-CHEESE"
#: Creation code that loops until its gas runs out: JUMPDEST PUSH1 0 JUMP.
LOOP = HexStr("0x5b600056")


def test_blocks_mined_with_the_fast_loop_validate_under_py_evms_loop(
    tracenode: TraceNodeHarness,
) -> None:
    h = tracenode
    chains.cheese_from_milk(h, MILK, CHEESE)
    h.commit()
    w3 = h.node.w3
    sender = w3.eth.accounts[0]
    registry = h.node.deployment.batch_registry
    reverted = w3.eth.send_transaction(  # a function BatchRegistry does not have
        {"from": sender, "to": registry, "data": HexStr("0xdeadbeef"), "gas": 100_000}
    )
    starved = w3.eth.send_transaction({"from": sender, "data": LOOP, "gas": 100_000})
    assert w3.eth.get_transaction_receipt(reverted)["status"] == 0
    starved_receipt = w3.eth.get_transaction_receipt(starved)
    assert (starved_receipt["status"], starved_receipt["gasUsed"]) == (0, 100_000)
    fast = _chain(w3)
    assert fast.get_vm().state.computation_class is FastComputation
    plain_class = cast(
        "type[MiningChain]",
        type(
            "PlainChain",
            (MiningChain,),
            {"chain_id": fast.chain_id, "vm_configuration": ((BlockNumber(0), PragueVM),)},
        ),
    )
    plain = plain_class.from_genesis(
        AtomicDB(),
        PyEVMBackend.generate_genesis_params(overrides={"timestamp": GENESIS_TIMESTAMP}),
        PyEVMBackend.generate_genesis_state(),
    )
    head = fast.get_canonical_head()

    for number in range(1, head.block_number + 1):
        plain.import_block(fast.get_canonical_block_by_number(BlockNumber(number)))

    assert plain.get_canonical_head() == head
    assert head.block_number > 20


def _chain(w3: Web3) -> Any:
    """The py-evm chain under an embedded chain's ``w3``."""
    return cast("Any", w3.provider).ethereum_tester.backend.chain
