"""The embedded chain's interpreter loop (node.chain.interpreter) computes what py-evm's
own loop computes: every block a node mined with it (contracts deployed, participants
registered, a lifecycle relayed and anchored, reverted calls, a loop out of gas) is
imported, fully validated (state root, receipts, gas used, logs), by a chain that runs
py-evm's Prague VM as it ships."""

from __future__ import annotations

from typing import Any, cast

import pytest
from eth.abc import ComputationAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.code_stream import CodeStream
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.message import Message
from eth.vm.stack import to_int
from eth_tester import PyEVMBackend
from eth_typing import Address, BlockNumber, HexStr
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from node.chain.embedded import GENESIS_TIMESTAMP
from node.chain.interpreter import FastComputation, FastPragueVM, _jumpdests
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


# -- opcode by opcode: the loop's inline opcodes against py-evm's, on random programs --

#: Opcodes the loop executes inline, and others it hands to py-evm (halting, reverting,
#: reading the program counter or the gas, undefined), so programs move between the two.
_INLINE = [
    *(0x01, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15),  # ADD MUL SUB LT GT SLT SGT EQ ISZERO
    *(0x16, 0x17, 0x18, 0x19, 0x1B, 0x1C, 0x35, 0x36),  # AND OR XOR NOT SHL SHR CALLDATALOAD/SIZE
    *(0x50, 0x51, 0x52, 0x56, 0x57, 0x5B, 0x5F),  # POP MLOAD MSTORE JUMP JUMPI JUMPDEST PUSH0
    *range(0x80, 0xA0),  # DUP1..16, SWAP1..16
]
_HANDED_ON = [
    *(0x04, 0x1A, 0x1D, 0x20, 0x37),  # DIV BYTE SAR KECCAK256 CALLDATACOPY
    *(0x53, 0x58, 0x59, 0x5A, 0x5E),  # MSTORE8 PC MSIZE GAS MCOPY
]
_ENDS = [0x00, 0x0C, 0xF3, 0xFD, 0xFE]  # STOP (undefined) RETURN REVERT INVALID
SENDER = Address(b"\x11" * 20)
TARGET = Address(b"\x22" * 20)


@pytest.fixture(scope="module")
def bare_chain() -> MiningChain:
    """A Prague chain run by the fast loop, to execute messages against its genesis state."""
    chain_class = MiningChain.configure(
        vm_configuration=((BlockNumber(0), FastPragueVM),), chain_id=131277322940537
    )
    return cast(
        "MiningChain",
        chain_class.from_genesis(
            AtomicDB(),
            PyEVMBackend.generate_genesis_params(overrides={"timestamp": GENESIS_TIMESTAMP}),
            PyEVMBackend.generate_genesis_state(),
        ),
    )


#: error (type, message) or None, gas left, output, stack, memory
Outcome = tuple[tuple[str, str] | None, int, bytes, list[int], bytes]


def _outcome(
    chain: MiningChain, computation: type[ComputationAPI], code: bytes, gas: int, data: bytes
) -> Outcome:
    """All a computation of ``code`` leaves: its error (type and message), gas left, output,
    stack (as integers, the two loops keep words as bytes or integers alike) and memory."""
    state = chain.get_vm().state
    message = Message(gas=gas, to=TARGET, sender=SENDER, value=0, data=data, code=code)
    context = state.get_transaction_context_class()(gas_price=1, origin=SENDER)
    result = computation.apply_computation(state, message, context)
    error = (type(result.error).__name__, str(result.error)) if result.is_error else None
    stack = [to_int(v) for v in cast("Any", result)._stack.values]
    memory = bytes(cast("Any", result)._memory._bytes)
    return error, result.get_gas_remaining(), bytes(result.output), stack, memory


def _same(chain: MiningChain, code: bytes, gas: int = 100_000, data: bytes = b"") -> Outcome:
    fast = _outcome(chain, FastComputation, code, gas, data)
    assert fast == _outcome(chain, PragueComputation, code, gas, data), code.hex()
    return fast


_small = st.integers(0, 80).map(lambda v: bytes([0x60, v]))  # offsets, shifts, jump targets
_words = st.one_of(
    _small,
    _small,
    _small,
    st.integers(1, 32).flatmap(
        lambda n: st.binary(min_size=n, max_size=n).map(lambda d: bytes([0x5F + n]) + d)
    ),
    st.sampled_from([0x7F]).map(lambda p: bytes([p]) + b"\xff" * 32),  # 2**256 - 1
)
_programs = st.tuples(
    st.lists(_words, min_size=4, max_size=16).map(b"".join),  # something on the stack
    st.lists(
        st.one_of(
            st.sampled_from(_INLINE + _HANDED_ON).map(lambda o: bytes([o])),
            _words,
            st.sampled_from(_INLINE).map(lambda o: bytes([o])),
        ),
        max_size=60,
    ).map(b"".join),
    st.sampled_from(_ENDS).map(lambda o: bytes([o])),
).map(b"".join)


@given(
    program=_programs,
    cut=st.integers(0, 4),
    gas=st.one_of(st.integers(0, 4_000), st.just(1_000_000)),
    data=st.binary(max_size=40),
)
@settings(max_examples=1000)
def test_random_programs_leave_what_py_evms_loop_leaves(
    bare_chain: MiningChain, program: bytes, cut: int, gas: int, data: bytes
) -> None:
    _same(bare_chain, program[: len(program) - cut] if cut else program, gas, data)


def _push(value: int) -> bytes:
    return bytes([0x7F]) + value.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("name", "code", "gas", "error"),
    [
        ("full stack on the 1,025th push", b"\x5f" * 1025, 10_000, "FullStack"),
        ("full stack on a dup", b"\x5f" * 1024 + b"\x80", 10_000, "FullStack"),
        ("1,024 pushes fit", b"\x5f" * 1024, 10_000, None),
        ("swap16 short of one item", b"\x5f" * 16 + b"\x9f", 1_000, "InsufficientStack"),
        ("swap16 with 17 items", b"\x5f" * 16 + b"\x60\x07\x9f", 1_000, None),
        ("dup16 short of one item", b"\x5f" * 15 + b"\x8f", 1_000, "InsufficientStack"),
        ("add on one item", b"\x60\x01\x01", 1_000, "InsufficientStack"),
        ("iszero on none", b"\x15", 1_000, "InsufficientStack"),
        ("pop on none", b"\x50", 1_000, "InsufficientStack"),
        ("jumpi on one item", b"\x60\x01\x57", 1_000, "InsufficientStack"),
        ("push32 past the end", b"\x7f\x01\x02", 1_000, None),
        ("push1 as the last byte", b"\x60\x07\x60", 1_000, None),
        ("jump past the end", b"\x60\xff\x56", 1_000, "InvalidJumpDestination"),
        ("jump to a non-JUMPDEST", b"\x60\x00\x56", 1_000, "InvalidJumpDestination"),
        ("jump into push data", b"\x60\x04\x56\x60\x5b", 1_000, "InvalidInstruction"),
        ("jump to a huge target", _push(2**256 - 1) + b"\x56", 1_000, "InvalidJumpDestination"),
        ("jumpi not taken on a bad target", b"\x5f\x60\xff\x57\x60\x2a", 1_000, None),
        ("jumpi taken", b"\x60\x01\x60\x06\x57\xfe\x5b\x60\x2a", 1_000, None),
        ("a loop runs out of gas", b"\x5b\x5f\x56", 5_000, "OutOfGas"),
        ("push one gas short", b"\x60\x01", 2, "OutOfGas"),
        ("push with its gas exactly", b"\x60\x01", 3, None),
        ("mstore at a huge offset", b"\x60\x01" + _push(2**255) + b"\x52", 100_000, "OutOfGas"),
        ("mstore's memory one gas short", b"\x60\x01\x5f\x52", 3 + 2 + 3 + 2, "OutOfGas"),
        ("mstore's memory exactly", b"\x60\x01\x5f\x52", 3 + 2 + 3 + 3, None),
        ("mload grows memory", b"\x60\x41\x51\x60\x10\x51", 1_000, None),
        ("mstore of a big word", _push(2**256 - 1) + b"\x60\x03\x52", 1_000, None),
        ("add wraps", _push(2**256 - 1) + b"\x60\x02\x01", 1_000, None),
        ("sub wraps", b"\x60\x02\x60\x01\x03", 1_000, None),
        ("shl by 255 and 256", b"\x60\x01\x60\xff\x1b\x60\x01\x61\x01\x00\x1b", 1_000, None),
        (
            "shr by 255 and 256",
            _push(2**255) + b"\x60\xff\x1c" + _push(2**255) + b"\x61\x01\x00\x1c",
            1_000,
            None,
        ),
        ("not", b"\x5f\x19\x60\x05\x19", 1_000, None),
        (
            "slt and sgt across the sign",
            _push(2**255) + b"\x60\x01\x81\x81\x12\x82\x82\x13",
            1_000,
            None,
        ),
        ("mul wraps", _push(2**255 + 3) + b"\x60\x04\x02", 1_000, None),
        (
            "calldataload past the end",
            b"\x60\x30\x35" + _push(2**256 - 1) + b"\x35\x36",
            1_000,
            None,
        ),
        ("calldatasize on a full stack", b"\x5f" * 1024 + b"\x36", 10_000, "FullStack"),
        (
            "calldata words compared",
            b"\x5f\x35\x60\x20\x35\x10\x5f\x35\x60\x20\x35\x14\x11",
            1_000,
            None,
        ),
    ],
)
def test_edges_leave_what_py_evms_loop_leaves(
    bare_chain: MiningChain, name: str, code: bytes, gas: int, error: str | None
) -> None:
    outcome = _same(bare_chain, code, gas, data=b"\x01" * 31 + b"\x02" + b"\x03" * 32)
    assert (outcome[0][0] if outcome[0] else None) == error, name


@given(
    code=st.lists(
        st.one_of(
            st.sampled_from([0x5B, 0x60, 0x61, 0x7E, 0x7F, 0x00]).map(lambda o: bytes([o])),
            st.binary(min_size=1, max_size=3),
        ),
        max_size=120,
    ).map(b"".join)
)
@settings(max_examples=500)
def test_jump_destinations_are_py_evms_valid_jumpdests(code: bytes) -> None:
    stream = CodeStream(code)
    expected = {i for i, byte in enumerate(code) if byte == 0x5B and stream.is_valid_opcode(i)}
    assert _jumpdests(code) == expected
