"""The node's exceptions: one root, one class per failure a caller may handle.

    TraceNodeError
    ├── EventRejectedError                  an event refused by a rule (locally or on-chain;
    │   │                                   ``contract_error`` names the matching custom error)
    │   ├── InvalidEventError (ValueError)  fields that can never be valid as written
    │   │   ├── UnsupportedActionError
    │   │   ├── InvalidPayloadError
    │   │   └── PayloadMismatchError
    │   ├── InvalidSignatureError (ValueError)
    │   ├── UnknownSignerError, SignerSuspendedError, MissingRoleError, NonceUsedError
    │   └── BatchExistsError, UnknownBatchError, HeadMismatchError, BatchRecalledError,
    │       InvalidStatusError, NotCustodianError, InvalidReceiverError,
    │       NotReceiverError, NotRecallerError
    ├── InvalidIdentifierError (ValueError) a batch identifier in no accepted spelling
    │                                       (bad GTIN check digit, lot outside CSET 82, ...)
    ├── KeystoreError (ValueError)          a key file missing, malformed, or the wrong password
    ├── ConfigurationError (ValueError)     a data directory or setting the node cannot use
    ├── ChainError (RuntimeError)           a transaction failed or the chain is unreachable
    │   ├── CommitRevertedError             a window's commit reverted as a whole (retried)
    │   ├── CommitTooLargeError             a window's commit would exceed the gas cap
    │   ├── CommitPendingError              a window not final when the wait ended
    │   └── InsufficientFundsError          the node key cannot pay for a commit
    ├── ArtifactError (RuntimeError)        contract artifacts missing or inconsistent
    ├── ChainStoreError (RuntimeError)      the embedded chain's data directory is unusable
    │   └── ChainLockedError                another process has the data directory open
    └── ContractError                       a contract refused a call with a custom error
        (``name`` and ``args`` decoded from the selector by ``node.chain.errors``)

Each exception carries a stable ``code`` that outer layers (CLI, HTTP problem types)
use instead of the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar


class TraceNodeError(Exception):
    """Root of every error the node raises on purpose."""

    code: ClassVar[str] = "tracenode-error"


class EventRejectedError(TraceNodeError):
    """An event refused by a rule, by the node's local checks or by the contract.

    ``contract_error`` names the BatchRegistry custom error for the same rule, so that a
    rejection decoded from the chain and one found locally are the same Python class.
    ``details`` holds the rule's arguments (batch id, signer, ...) for problem documents.
    """

    code: ClassVar[str] = "event-rejected"
    contract_error: ClassVar[str | None] = None

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class InvalidEventError(EventRejectedError, ValueError):
    """An event whose fields cannot form a valid TraceEvent for its action."""

    code = "invalid-event"
    contract_error = "BatchRegistryMalformedEvent"


class UnsupportedActionError(InvalidEventError):
    code = "unsupported-action"
    contract_error = "BatchRegistryUnsupportedAction"


class InvalidPayloadError(InvalidEventError):
    """A payload with no canonical JSON form (NaN, huge numbers, too large)."""

    code = "invalid-payload"


class PayloadMismatchError(InvalidEventError):
    """The payload given with an event does not hash to its ``payloadHash``."""

    code = "payload-mismatch"


class InvalidSignatureError(EventRejectedError, ValueError):
    code = "invalid-signature"
    contract_error = "BatchRegistryInvalidSignature"


class UnknownSignerError(EventRejectedError):
    """The signer is not the current key of any registered participant."""

    code = "unknown-signer"
    contract_error = "BatchRegistryUnknownSigner"


class SignerSuspendedError(EventRejectedError):
    code = "signer-suspended"
    contract_error = "BatchRegistrySignerSuspended"


class MissingRoleError(EventRejectedError):
    code = "missing-role"
    contract_error = "BatchRegistryMissingRole"


class NonceUsedError(EventRejectedError):
    code = "nonce-used"
    contract_error = "BatchRegistryNonceUsed"


class BatchExistsError(EventRejectedError):
    code = "batch-exists"
    contract_error = "BatchRegistryBatchExists"


class UnknownBatchError(EventRejectedError):
    code = "unknown-batch"
    contract_error = "BatchRegistryUnknownBatch"


class HeadMismatchError(EventRejectedError):
    """The event does not extend the batch's current head (stale or forked)."""

    code = "head-mismatch"
    contract_error = "BatchRegistryHeadMismatch"


class BatchRecalledError(EventRejectedError):
    code = "batch-recalled"
    contract_error = "BatchRegistryBatchRecalled"


class InvalidStatusError(EventRejectedError):
    code = "invalid-status"
    contract_error = "BatchRegistryInvalidStatus"


class NotCustodianError(EventRejectedError):
    code = "not-custodian"
    contract_error = "BatchRegistryNotCustodian"


class InvalidReceiverError(EventRejectedError):
    code = "invalid-receiver"
    contract_error = "BatchRegistryInvalidReceiver"


class NotReceiverError(EventRejectedError):
    code = "not-receiver"
    contract_error = "BatchRegistryNotReceiver"


class NotRecallerError(EventRejectedError):
    code = "not-recaller"
    contract_error = "BatchRegistryNotRecaller"


def rejection_classes() -> dict[str, type[EventRejectedError]]:
    """Every rejection class that mirrors a contract error, by the error's name."""
    found: dict[str, type[EventRejectedError]] = {}
    pending: list[type[EventRejectedError]] = [EventRejectedError]
    while pending:
        cls = pending.pop()
        if cls.contract_error is not None:
            found.setdefault(cls.contract_error, cls)
        pending.extend(cls.__subclasses__())
    return found


class InvalidIdentifierError(TraceNodeError, ValueError):
    """A batch identifier that no accepted spelling (Digital Link, EPC URN, handle, batch
    id) can parse; the message says what is wrong."""

    code = "invalid-identifier"


class KeystoreError(TraceNodeError, ValueError):
    """A key file that is missing, malformed, already there, or whose password is wrong."""

    code = "keystore-error"


class ConfigurationError(TraceNodeError, ValueError):
    """A data directory or setting that the node cannot run with."""

    code = "configuration-error"


class ChainError(TraceNodeError, RuntimeError):
    """The chain could not do what was asked (a failed transaction, an unreachable node)."""

    code = "chain-error"


class ArtifactError(TraceNodeError, RuntimeError):
    """The packaged contract artifacts are missing or inconsistent."""

    code = "artifact-error"


class ChainStoreError(TraceNodeError, RuntimeError):
    """The embedded chain's data directory holds no usable chain (or a different one)."""

    code = "chain-store-error"


class ChainLockedError(ChainStoreError):
    """Another process (or another open chain in this one) holds the data directory."""

    code = "chain-locked"

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is in use by another process (pid {holder})")


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


class CommitRevertedError(ChainError):
    """A window's commit transaction reverted as a whole (found by gas estimation before
    sending, or in its mined receipt); its events are back in the queue.

    ``cause`` is the contract's decoded error when the chain reported one.
    """

    code = "commit-reverted"

    def __init__(self, message: str, cause: TraceNodeError | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class CommitTooLargeError(ChainError):
    """A window's commit needs more gas than one transaction may use on this chain."""

    code = "commit-too-large"

    def __init__(self, needed: int, limit: int) -> None:
        super().__init__(f"the commit needs {needed} gas; one transaction may use {limit}")
        self.needed = needed
        self.limit = limit


class CommitPendingError(ChainError):
    """A window's transaction is not final yet (not mined, or not enough confirmations)
    when the wait timed out or was stopped; the window stays prepared and the next
    ``commit_once`` resumes it."""

    code = "commit-pending"


class InsufficientFundsError(ChainError):
    """The node key's balance cannot pay for a commit at its gas limit and fee cap; the
    operator must fund the key (nothing was prepared or sent)."""

    code = "insufficient-funds"

    def __init__(self, address: str, balance: int, needed: int) -> None:
        super().__init__(
            f"the node key {address} holds {balance} wei; a commit may cost up to {needed} wei"
        )
        self.address = address
        self.balance = balance
        self.needed = needed
