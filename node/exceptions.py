"""The node's exceptions: one root, one class per failure a caller may handle.

    TraceNodeError
    ├── InvalidEventError (ValueError)      an event that can never be valid as written
    ├── ArtifactError (RuntimeError)        contract artifacts missing or inconsistent
    └── ContractError                       a contract refused a call with a custom error
        (``name`` and ``args`` decoded from the selector by ``node.chain.errors``)

Each exception carries a stable ``code`` that outer layers (CLI, HTTP problem types)
use instead of the message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TraceNodeError(Exception):
    """Root of every error the node raises on purpose."""

    code: ClassVar[str] = "tracenode-error"


class InvalidEventError(TraceNodeError, ValueError):
    """An event whose fields cannot form a valid TraceEvent."""

    code = "invalid-event"


class ArtifactError(TraceNodeError, RuntimeError):
    """The packaged contract artifacts are missing or inconsistent."""

    code = "artifact-error"


class ContractError(TraceNodeError):
    """A contract reverted (or rejected a relayed event) with a custom error."""

    code = "contract-error"

    def __init__(self, name: str, args: dict[str, Any], selector: bytes) -> None:
        self.name = name
        self.args_by_name = args
        self.selector = selector
        shown = ", ".join(f"{key}={_show(value)}" for key, value in args.items())
        super().__init__(f"{name}({shown})")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
