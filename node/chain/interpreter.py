"""The embedded chain's EVM interpreter loop: py-evm's, with less Python per opcode.

py-evm runs every opcode through ``_FastOpcode.__call__``, which calls
``computation.consume_gas``, which calls ``GasMeter.consume_gas`` (a sign check, the
out-of-gas check, a debug-log check) before the opcode's logic; and it reads the code
through a generator. A relayed lifecycle operation executes ~5,000 opcodes, so that
bookkeeping is a large share of what the commit worker spends in py-evm. The loop here
charges an opcode's constant gas in place (the same check, the same ``OutOfGas``) and
reads the code by index; everything else (dynamic gas, memory, calls, precompiles,
creation, EIP-7702 delegation, errors) is py-evm's own code, unchanged.

When py-evm's debug2 tracing is on, py-evm's own loop runs (it logs every opcode).
tests/node/chain/test_interpreter.py holds the two loops to the same results.
"""

from __future__ import annotations

from typing import cast

from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import Halt, OutOfGas
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import _FastOpcode
from eth.vm.opcode_values import STOP


class FastComputation(PragueComputation):
    """Prague's computation, with the interpreter loop described in the module docstring."""

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
