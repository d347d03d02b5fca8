"""The embedded chain's EVM interpreter loop: py-evm's, with less Python per opcode.

py-evm runs every opcode through ``_FastOpcode.__call__``, which calls
``computation.consume_gas``, which calls ``GasMeter.consume_gas`` (a sign check, the
out-of-gas check, a debug-log check) before the opcode's logic; and it reads the code
through a generator. A relayed lifecycle operation executes ~5,000 opcodes, so that
bookkeeping is a large share of what the commit worker spends in py-evm. The loop here
charges an opcode's constant gas in place (the same check, the same ``OutOfGas``) and
reads the code by index; its stack (:class:`FastStack`) checks what py-evm's checks with
fewer calls. Everything else (the opcodes' logic, dynamic gas, memory, calls,
precompiles, creation, EIP-7702 delegation, errors) is py-evm's own code, unchanged.

When py-evm's debug2 tracing is on, py-evm's own loop runs (it logs every opcode).
tests/node/chain/test_interpreter.py holds the two loops to the same results.
"""

from __future__ import annotations

from typing import Any, cast

from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.constants import UINT_256_MAX
from eth.exceptions import FullStack, Halt, InsufficientStack, OutOfGas
from eth.validation import validate_stack_bytes, validate_stack_int
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import _FastOpcode
from eth.vm.opcode_values import STOP
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
    """Execute ``computation``'s code until an opcode halts it (STOP past the end)."""
    code = cast("CodeStream", computation.code)
    raw = code._raw_code_bytes
    meter = computation._gas_meter
    lookup = computation.opcodes
    fast = _FastOpcode
    try:
        while True:
            counter = code.program_counter
            try:
                opcode = raw[counter]
                code.program_counter = counter + 1
            except IndexError:  # past the end: STOP, as py-evm's CodeStream yields
                opcode = STOP
            opcode_fn = lookup.get(opcode)
            if opcode_fn is None:
                opcode_fn = InvalidOpcode(opcode)
            if type(opcode_fn) is fast:
                cost = opcode_fn.gas_cost
                if cost > meter.gas_remaining:
                    raise OutOfGas(
                        f"Out of gas: Needed {cost} - Remaining {meter.gas_remaining} "
                        f"- Reason: {opcode_fn.mnemonic}"
                    )
                meter.gas_remaining -= cost
                opcode_fn.logic_fn(computation)
            else:
                opcode_fn(computation=computation)
    except Halt:
        pass


class FastState(PragueState):
    computation_class = FastComputation


class FastPragueVM(PragueVM):
    """Prague, run by :class:`FastComputation`."""

    _state_class = FastState
