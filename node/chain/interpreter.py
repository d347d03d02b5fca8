"""The embedded chain's EVM interpreter loop: py-evm's, with less Python per opcode.

py-evm runs every opcode through ``_FastOpcode.__call__``, which calls
``computation.consume_gas``, which calls ``GasMeter.consume_gas`` (a sign check, the
out-of-gas check, a debug-log check) before the opcode's logic function, which pushes and
pops through the computation's and the stack's methods; and it reads the code through a
generator. A relayed lifecycle operation executes ~5,000 opcodes, two thirds of them
PUSH, JUMPDEST, POP, DUP, SWAP, JUMP and ADD (Solidity's ABI decoding and memory
handling), so that bookkeeping was most of what the commit worker spent in py-evm.

The loop here reads the code by index and keeps the program counter and the gas left in
locals. It executes the commonest opcodes inline, on the stack's list: PUSH0..32,
DUP1..16, SWAP1..16, POP, JUMPDEST, JUMP, JUMPI, MLOAD, MSTORE, ADD, SUB, AND, SHL, SHR,
LT, GT, EQ, ISZERO and NOT: what py-evm's logic functions for them do (the same results,
the same constant and memory gas, the same errors and messages, the stack left as py-evm
leaves it). Words are pushed as integers where py-evm pushes bytes; py-evm's stack holds
either and converts when popped. Every other opcode is py-evm's own, with its constant
gas charged in place (the same check, the same ``OutOfGas``) and the locals written back
before it runs and read after. Dynamic gas beyond memory, calls, precompiles, creation,
EIP-7702 delegation and errors are py-evm's code, unchanged. The inlined opcodes are
checked against py-evm's Prague table (mnemonic and constant gas) at import.

When py-evm's debug2 tracing is on, py-evm's own loop runs (it logs every opcode).
tests/node/chain/test_interpreter.py holds the two loops to the same results: every block
a node mined, edge cases opcode by opcode, and random programs (error, gas left, output,
stack and memory).
"""

from __future__ import annotations

from typing import Any, cast

from eth._utils.numeric import ceil32
from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.constants import GAS_MEMORY, GAS_MEMORY_QUADRATIC_DENOMINATOR, UINT_256_MAX
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
)
from eth.validation import validate_stack_bytes, validate_stack_int
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode
from eth.vm.opcode_values import (
    ADD,
    AND,
    CALLDATALOAD,
    CALLDATASIZE,
    DUP1,
    DUP16,
    EQ,
    GT,
    ISZERO,
    JUMP,
    JUMPDEST,
    JUMPI,
    LT,
    MLOAD,
    MSTORE,
    MUL,
    NOT,
    OR,
    POP,
    PUSH0,
    PUSH1,
    PUSH32,
    SGT,
    SHL,
    SHR,
    SLT,
    STOP,
    SUB,
    SWAP1,
    XOR,
)
from eth.vm.stack import Stack, to_int

#: The EVM's stack limit (py-evm's Stack: "Stack limit reached" past 1,024 items).
_STACK_LIMIT = 1024


class FastStack(Stack):
    """py-evm's stack (ints and bytes as pushed, converted when popped as the other),
    with its checks inlined: the same limit, the same range and size checks (py-evm's
    own validators raise when one fails), the same errors."""

    def push_int(self, value: int) -> None:
        if len(self.values) >= _STACK_LIMIT:
            raise FullStack("Stack limit reached")
        if value.__class__ is not int or not 0 <= value <= UINT_256_MAX:
            validate_stack_int(value)
        self._append(value)

    def push_bytes(self, value: bytes) -> None:
        if len(self.values) >= _STACK_LIMIT:
            raise FullStack("Stack limit reached")
        if value.__class__ is not bytes or len(value) > 32:
            validate_stack_bytes(value)
        self._append(value)

    def pop1_int(self) -> int:
        try:
            value = self._pop()
        except IndexError:
            raise InsufficientStack("Wanted 1 stack item, had none") from None
        return value if value.__class__ is int else to_int(value)

    def pop_ints(self, num_items: int) -> tuple[int, ...]:
        values = self.values
        if num_items > len(values):
            raise InsufficientStack(f"Wanted {num_items} stack items, only had {len(values)}")
        popped: list[Any] = values[-num_items:]
        del values[-num_items:]
        popped.reverse()
        return tuple([v if v.__class__ is int else to_int(v) for v in popped])


class FastComputation(PragueComputation):
    """Prague's computation, with the interpreter loop described in the module docstring."""

    def __init__(
        self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI
    ) -> None:
        super().__init__(state, message, transaction_context)
        self._stack = FastStack()

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        if cls.logger.show_debug2:
            return super().apply_computation(
                state, message, transaction_context, parent_computation
            )
        with cls(state, message, transaction_context) as computation:
            # py-evm's preamble (BaseComputation.apply_computation), as it is.
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            _run(cast("FastComputation", computation))
        return computation


def _run(computation: FastComputation) -> None:
    """Execute ``computation``'s code until an opcode halts it (STOP past the end).

    The program counter and the gas left live in locals while inline opcodes run; they
    are written back before any other opcode runs (which may read or change them), read
    again after it, and written back when an inline opcode raises."""
    code = cast("CodeStream", computation.code)
    raw = code._raw_code_bytes
    end = len(raw)
    jumpdests = _jumpdests(raw)
    meter = computation._gas_meter
    values: list[Any] = cast("FastStack", computation._stack).values
    append = values.append
    pop = values.pop
    memory = cast("Memory", computation._memory)
    calldata = computation.msg.data_as_bytes
    lookup = computation.opcodes
    costs = _INLINE_COSTS if lookup is _INLINE_TABLE else _NO_INLINE
    fast = _FastOpcode
    pc = code.program_counter
    gas = meter.gas_remaining
    synced = False
    try:
        while True:
            opcode = raw[pc] if pc < end else STOP  # past the end: STOP, as CodeStream
            pc += 1
            cost = costs[opcode]
            if cost:
                if cost > gas:
                    raise _out_of_gas(opcode, cost, gas)
                gas -= cost
                if opcode >= PUSH0:
                    if opcode <= PUSH32:
                        if len(values) > _STACK_TOP:
                            raise FullStack("Stack limit reached")
                        size = opcode - PUSH0
                        if size == 1 and pc < end:  # PUSH1, a tenth of all opcodes run
                            append(raw[pc])
                        elif pc + size <= end:
                            append(int.from_bytes(raw[pc : pc + size], "big"))
                        else:  # read past the end: zeros, as push_XX pads
                            append(int.from_bytes(raw[pc:end].ljust(size, b"\x00"), "big"))
                        pc += size
                    elif opcode <= DUP16:
                        if len(values) > _STACK_TOP:
                            raise FullStack("Stack limit reached")
                        try:
                            append(values[DUP1 - 1 - opcode])
                        except IndexError:
                            raise InsufficientStack(
                                f"Insufficient stack items for DUP{opcode - DUP1 + 1}"
                            ) from None
                    else:  # SWAP1..SWAP16
                        position = SWAP1 - 2 - opcode
                        try:
                            values[-1], values[position] = values[position], values[-1]
                        except IndexError:
                            raise InsufficientStack(
                                f"Insufficient stack items for SWAP{opcode - SWAP1 + 1}"
                            ) from None
                elif opcode < POP:  # ADD .. SHR, CALLDATALOAD, CALLDATASIZE
                    if opcode >= CALLDATALOAD:
                        if opcode == CALLDATASIZE:
                            if len(values) > _STACK_TOP:
                                raise FullStack("Stack limit reached")
                            append(len(calldata))
                            continue
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        start = pop()
                        if start.__class__ is not int:
                            start = to_int(start)
                        word = calldata[start : start + 32]
                        if len(word) != 32:  # past the end: zeros, as calldataload pads
                            word = word.ljust(32, b"\x00")
                        append(int.from_bytes(word, "big"))
                        continue
                    if opcode in _UNARY:  # ISZERO, NOT
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        value = pop()
                        if value.__class__ is not int:
                            value = to_int(value)
                        append((0 if value else 1) if opcode == ISZERO else UINT_256_MAX - value)
                        continue
                    if len(values) < 2:
                        raise _insufficient(2, len(values))
                    left = pop()  # the top of the stack is the left operand
                    if left.__class__ is not int:
                        left = to_int(left)
                    right = pop()
                    if right.__class__ is not int:
                        right = to_int(right)
                    if opcode == ADD:
                        append((left + right) & UINT_256_MAX)
                    elif opcode == SUB:
                        append((left - right) & UINT_256_MAX)
                    elif opcode == AND:
                        append(left & right)
                    elif opcode == SHL:
                        append(0 if left >= 256 else (right << left) & UINT_256_MAX)
                    elif opcode == LT:
                        append(1 if left < right else 0)
                    elif opcode == GT:
                        append(1 if left > right else 0)
                    elif opcode == EQ:
                        append(1 if left == right else 0)
                    elif opcode == SHR:
                        append(0 if left >= 256 else right >> left)
                    elif opcode == OR:
                        append(left | right)
                    elif opcode == MUL:
                        append((left * right) & UINT_256_MAX)
                    elif opcode == XOR:
                        append(left ^ right)
                    else:  # SLT, SGT: two's complement
                        if left > _INT_256_MAX:
                            left -= _UINT_256_CEILING
                        if right > _INT_256_MAX:
                            right -= _UINT_256_CEILING
                        append(int(left < right) if opcode == SLT else int(left > right))
                elif opcode == JUMPDEST:
                    pass
                elif opcode == POP:
                    if not values:
                        raise InsufficientStack("Wanted 1 stack item, had none")
                    pop()
                elif opcode in _JUMPS:
                    if opcode == JUMP:
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        destination = pop()
                    else:
                        if len(values) < 2:
                            raise _insufficient(2, len(values))
                        destination = pop()
                        condition = pop()
                        if not (condition if condition.__class__ is int else to_int(condition)):
                            continue
                    if destination.__class__ is not int:
                        destination = to_int(destination)
                    if destination not in jumpdests:
                        if destination >= end or raw[destination] != JUMPDEST:
                            raise InvalidJumpDestination("Invalid Jump Destination")
                        raise InvalidInstruction("Jump resulted in invalid instruction")
                    pc = destination
                else:  # MLOAD, MSTORE: a word, the memory extended (and charged) as py-evm's
                    if opcode == MSTORE:  # py-evm pops the two one at a time
                        if len(values) < 2:
                            values.clear()
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        start = pop()
                        word = pop()
                        word = (
                            word.to_bytes(32, "big")
                            if word.__class__ is int
                            else word.rjust(32, b"\x00")[-32:]
                        )
                    else:
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        start = pop()
                    if start.__class__ is not int:
                        start = to_int(start)
                    stop = start + 32
                    held = len(memory._bytes)
                    if stop > held:
                        fee = _memory_cost(stop) - _memory_cost(held)
                        if fee > gas:
                            raise OutOfGas(
                                f"Out of gas: Needed {fee} - Remaining {gas} - Reason: "
                                f"Expanding memory {ceil32(held)} -> {ceil32(stop)}"
                            )
                        gas -= fee
                        memory.extend(start, 32)
                    if opcode == MSTORE:
                        memory._bytes[start:stop] = word
                    else:
                        append(int.from_bytes(memory._bytes[start:stop], "big"))
                continue
            opcode_fn = lookup.get(opcode)
            if opcode_fn is None:
                opcode_fn = InvalidOpcode(opcode)
            code.program_counter = pc
            meter.gas_remaining = gas
            synced = True
            if type(opcode_fn) is fast:
                cost = opcode_fn.gas_cost
                if cost > gas:
                    raise _out_of_gas(opcode, cost, gas)
                meter.gas_remaining = gas - cost
                opcode_fn.logic_fn(computation)
            else:
                opcode_fn(computation=computation)
            pc = code.program_counter
            gas = meter.gas_remaining
            synced = False
    except Halt:
        pass
    except BaseException:
        if not synced:  # an inline opcode raised: what py-evm's loop would have left
            code.program_counter = pc
            meter.gas_remaining = gas
        raise


def _out_of_gas(opcode: int, cost: int, remaining: int) -> OutOfGas:
    mnemonic = getattr(_INLINE_TABLE.get(opcode), "mnemonic", hex(opcode))
    return OutOfGas(f"Out of gas: Needed {cost} - Remaining {remaining} - Reason: {mnemonic}")


def _jumpdests(code: bytes) -> frozenset[int]:
    """The positions in ``code`` a jump may land on: each JUMPDEST that is an opcode, not a
    PUSH's data (what py-evm's ``CodeStream.is_valid_opcode`` decides position by
    position). Remembered for the last :data:`_JUMPDEST_CODES` codes run."""
    found = _JUMPDEST_CACHE.get(code)
    if found is not None:
        return found
    positions = []
    position = code.find(_JUMPDEST_BYTE)
    scanned = 0
    length = len(code)
    while position != -1:  # walk the opcodes up to each JUMPDEST byte, skipping PUSH data
        while scanned < position:
            opcode = code[scanned]
            scanned += opcode - PUSH0 + 1 if PUSH1 <= opcode <= PUSH32 else 1
        if scanned == position:
            positions.append(position)
            scanned += 1
        position = code.find(_JUMPDEST_BYTE, max(scanned, position + 1))
        if scanned >= length:
            break
    found = frozenset(positions)
    if len(_JUMPDEST_CACHE) >= _JUMPDEST_CODES:
        _JUMPDEST_CACHE.pop(next(iter(_JUMPDEST_CACHE)))
    _JUMPDEST_CACHE[code] = found
    return found


def _memory_cost(size: int) -> int:
    """py-evm's ``memory_gas_cost``: the gas for memory of ``size`` bytes, in words."""
    words = (size + 31) // 32
    return words * GAS_MEMORY + words * words // GAS_MEMORY_QUADRATIC_DENOMINATOR


def _insufficient(wanted: int, had: int) -> InsufficientStack:
    return InsufficientStack(f"Wanted {wanted} stack items, only had {had}")


#: The opcodes :func:`_run` executes itself, by their mnemonics in py-evm's Prague table:
#: what py-evm's logic functions for them do, inline. The table is checked at import.
_INLINE_NAMES: dict[int, str] = {
    ADD: "ADD",
    SUB: "SUB",
    LT: "LT",
    GT: "GT",
    EQ: "EQ",
    ISZERO: "ISZERO",
    AND: "AND",
    NOT: "NOT",
    SHL: "SHL",
    SHR: "SHR",
    MUL: "MUL",
    SLT: "SLT",
    SGT: "SGT",
    OR: "OR",
    XOR: "XOR",
    CALLDATALOAD: "CALLDATALOAD",
    CALLDATASIZE: "CALLDATASIZE",
    POP: "POP",
    JUMP: "JUMP",
    JUMPI: "JUMPI",
    JUMPDEST: "JUMPDEST",
    MLOAD: "MLOAD",
    MSTORE: "MSTORE",
    **{PUSH0 + n: f"PUSH{n}" for n in range(33)},
    **{DUP1 + n: f"DUP{n + 1}" for n in range(16)},
    **{SWAP1 + n: f"SWAP{n + 1}" for n in range(16)},
}
_INLINE_TABLE = FastComputation.opcodes


def _inline_costs() -> tuple[int, ...]:
    """Each opcode's constant gas if :func:`_run` executes it inline, else 0."""
    costs = [0] * 256
    for opcode, name in _INLINE_NAMES.items():
        entry = _INLINE_TABLE.get(opcode)
        if type(entry) is not _FastOpcode or entry.mnemonic != name or entry.gas_cost <= 0:
            raise RuntimeError(f"py-evm's Prague opcode {opcode:#x} is not the {name} inlined here")
        costs[opcode] = entry.gas_cost
    return tuple(costs)


_INLINE_COSTS = _inline_costs()
_NO_INLINE = (0,) * 256
_STACK_TOP = _STACK_LIMIT - 1
_INT_256_MAX = 2**255 - 1
_UINT_256_CEILING = 2**256
_JUMPDEST_BYTE = bytes([JUMPDEST])
#: How many codes' jump destinations :func:`_jumpdests` remembers (the oldest goes first):
#: the node's contracts, a few more; any code an ``eth_call`` brings is analysed once a run.
_JUMPDEST_CODES = 64
_JUMPDEST_CACHE: dict[bytes, frozenset[int]] = {}
_JUMPS = frozenset((JUMP, JUMPI))
_UNARY = frozenset((ISZERO, NOT))


class FastState(PragueState):
    computation_class = FastComputation


class FastPragueVM(PragueVM):
    """Prague, run by :class:`FastComputation`."""

    _state_class = FastState
