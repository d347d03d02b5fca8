"""The node's exceptions: one root, one class per failure a caller may handle.

    TraceNodeError
    ├── EventRejectedError                  an event refused by a rule (locally or on-chain;
    │   │                                   ``contract_error`` names the matching custom error)
    │   ├── InvalidEventError (ValueError)  fields that can never be valid as written
    │   │   ├── UnsupportedActionError
    │   │   ├── InvalidPayloadError
    │   │   │   └── InvalidMasterDataError  a master-data assertion's element malformed
    │   │   └── PayloadMismatchError
    │   ├── EventTimeOutOfRangeError (ValueError)  eventTime outside the node's window
    │   ├── InvalidSignatureError (ValueError)
    │   ├── UnknownSignerError, SignerSuspendedError, MissingRoleError, NonceUsedError
    │   ├── UnlicensedIdentifierError       a batch created under a prefix its producer does
    │   │   │                               not hold
    │   │   └── LicenceNotValidError, InvalidIdentifierProofError, OpenIdentifierRefusedError,
    │   │       LicensedElsewhereError
    │   ├── EventExistsError                the same event (hash) is held, signed by another
    │   │                                   participant
    │   ├── IdentifierIsRecordError         a batch created under an open identifier that
    │   │                                   keys records here (no contract twin)
    │   ├── PalletIsBatchError              a packing's pallet that is a custody batch, or a
    │   │                                   batch made on a pallet's id (no contract twin)
    │   └── BatchExistsError, UnknownBatchError, HeadMismatchError, BatchRecalledError,
    │       InvalidStatusError, NotCustodianError, InvalidReceiverError,
    │       NotReceiverError, NotRecallerError, BatchInNetworkError
    ├── InvalidIdentifierError (ValueError) a batch identifier in no accepted spelling
    │                                       (bad GTIN check digit, lot outside CSET 82, ...)
    ├── KeystoreError (ValueError)          a key file missing, malformed, or the wrong password
    ├── ConfigurationError (ValueError)     a data directory or setting the node cannot use
    │   └── ProductTableError               the monitor's product table (docs/monitor.md)
    ├── ChainError (RuntimeError)           a transaction failed or the chain is unreachable
    │   ├── ChainUnavailableError           (also a DependencyUnavailableError, below)
    │   ├── CommitRevertedError             a window's commit reverted as a whole (retried)
    │   ├── CommitTooLargeError             a window's commit would exceed the gas cap
    │   ├── CommitPendingError              a window not final when the wait ended
    │   └── InsufficientFundsError          the node key cannot pay for a commit
    ├── ArtifactError (RuntimeError)        contract artifacts missing or inconsistent
    ├── ChainStoreError (RuntimeError)      the embedded chain's data directory is unusable
    │   └── ChainLockedError                another process has the data directory open
    ├── InvalidBundleError (ValueError)     a proof bundle that is not JSON or breaks its schema
    ├── ContractError                       a contract refused a call with a custom error
    │   (``name`` and ``args`` decoded from the selector by ``node.chain.errors``)
    └── EpcisError (ValueError)             an EPCIS capture or event refused; its event index
        │                                   and the JSON pointer of the bad field
        ├── EpcisDocumentError              not an EPCIS 2.0 document, or fails GS1's schema
        ├── EpcisLimitError                 too large, too deep, too many events
        ├── EpcisMappingError               a valid EPCIS event TraceNode cannot map (a
        │                                   malformed lot, a shipment to no known party)
        ├── EpcisSignatureMismatchError     signed TraceEvents that the document does not map to
        ├── EpcisEventIdConflictError       an eventID that names another event
        ├── EpcisEventRejectedError         a mapped TraceEvent refused by a rule (``cause``)
        ├── EpcisDependencyError            an event extending a refused event's head
        ├── EpcisAdoptionChangedError       a lot first seen mid-chain, signed for as the
        │                                   network held it then, not as it holds it now
        ├── EpcisMasterDataError            a master-data element of the header refused
        └── EpcisRolledBackError            an event left out by an all-or-nothing capture
    (and EpcisQueryError (ValueError): an EPCIS query parameter the node does not answer;
     EpcisNamedQueryExistsError, EpcisSubscriptionError (ValueError): a named query's name
     taken, a subscription the node cannot serve)
    │
    │   the partner gateway's (each code is an HTTP problem type, docs/api.md):
    ├── (EventRejectedError) SignerMismatchError   signed by another participant than the key's
    ├── NotFoundError (LookupError)         EventNotFoundError, BatchNotFoundError,
    │                                       ParticipantNotFoundError, PrefixNotFoundError,
    │                                       ApiKeyNotFoundError,
    │                                       AlertNotFoundError, WebhookNotFoundError,
    │                                       EpcisEventNotFoundError, LinkTypeNotFoundError,
    │                                       EpcisCaptureJobNotFoundError,
    │                                       EpcisNamedQueryNotFoundError,
    │                                       EpcisSubscriptionNotFoundError
    ├── UrlRefusedError (ValueError)        a URL the node will not send a request to
    │   ├── WebhookUrlError                 a webhook URL
    │   └── NodeUrlError                    another node's URL (the node registry's)
    ├── WebhookSubscriptionError (ValueError)  a subscription's filters that name nothing
    │                                       valid (a message type, severity, batch, prefix)
    ├── NotAnchoredError                    a proof asked for before the event is anchored
    ├── AuthenticationError                 no API key, or an unknown or revoked one
    ├── PermissionDeniedError               a valid key that may not do this
    ├── RequestError (ValueError)           MalformedJsonError, JsonTooDeepError,
    │                                       RequestTooLargeError, TooManyItemsError,
    │                                       UnsupportedMediaTypeError, InvalidParametersError,
    │                                       RateLimitedError, MethodNotAllowedError,
    │                                       NotAcceptableError, RequestTimeoutError
    └── DependencyUnavailableError          the store or the chain cannot be reached now
        ├── StoreUnavailableError           (``retry_after``: try again later)
        ├── ChainUnavailableError
        ├── BackloggedError                 anchoring cannot keep up: submit later
        └── EpcisCaptureQueueFullError      asynchronous capture jobs at their bound
    (and RegistrarUnavailableError: the node runs without its registrar key;
     NotReadyError: its store or chain does not answer)
    │
    │   the supplier SDK's (node/sdk, a client of a remote gateway):
    ├── GatewayError                        an answer the SDK cannot use (``problem``, ``status``)
    │   ├── GatewayMismatchError (ValueError)  /v1/info's types or domain are not what it
    │   │                                   claims, or not the outbox's
    │   └── GatewayUnavailableError (ConnectionError)  no useful answer after every retry
    ├── KeySetError (ValueError)            a key set with a key given twice, or too many
    ├── OutboxError (RuntimeError)          the outbox directory is unusable
    │   └── OutboxLockedError               another client has it open
    └── ProofTimeoutError (TimeoutError)    an event not anchored within the time allowed

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


class InvalidMasterDataError(InvalidPayloadError):
    """A master-data assertion's vocabulary element that is malformed, too large or too
    deep, or whose id names a batch or another code than the event's subject
    (node.epcis.masterdata); ``field`` names the member."""

    code = "invalid-master-data"


class PayloadMismatchError(InvalidEventError):
    """The payload given with an event does not hash to its ``payloadHash``."""

    code = "payload-mismatch"


class EventTimeOutOfRangeError(EventRejectedError, ValueError):
    """``eventTime`` outside the window the node accepts at ingest (node.ingest.event_time):
    before its earliest time, or further ahead of the node's clock than it allows (a time
    ahead may become acceptable later, so this is not an :class:`InvalidEventError`). The
    contract does not check times, so no custom error matches; verification of events
    already accepted never applies the window."""

    code = "event-time-out-of-range"


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


class EventExistsError(EventRejectedError):
    """The node already holds this event (the same hash: the same content and nonce),
    signed by another participant. An event hash is an event's identity, held once and
    signed by one participant; the same participant signing it again with another key
    (after a rotation) gets ``duplicate`` instead. No contract error matches it: the
    second signature never leaves the node."""

    code = "event-exists"


class BatchExistsError(EventRejectedError):
    code = "batch-exists"
    contract_error = "BatchRegistryBatchExists"


class PalletIsBatchError(EventRejectedError):
    """An AGGREGATE or DISAGGREGATE names as its pallet a batch that exists as a custody
    batch (a lot or an item): a lot is packed, never packed onto, so nobody adds ancestors
    or events to a lot through a packing (docs/events.md, "Pallets"). The node's rule and
    both verifiers': the chain executes no packing."""

    code = "pallet-is-batch"


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


class BatchInNetworkError(EventRejectedError):
    """A RECEIVE with no previous event adopts a lot from outside the network, but the
    network holds that lot: it is received from its custodian's shipment, never adopted
    (docs/contracts.md, "Parties outside the network")."""

    code = "batch-in-network"
    contract_error = "BatchRegistryBatchInNetwork"


class UnlicensedIdentifierError(EventRejectedError):
    """A batch created under an identifier prefix its producer does not hold: the licence
    of the prefix is someone else's, or nobody's (docs/contracts.md, "Identifier
    authority"). Its subclasses say what else was wrong with the identifier."""

    code = "unlicensed-identifier"
    contract_error = "BatchRegistryUnlicensedIdentifier"


class LicenceNotValidError(UnlicensedIdentifierError):
    """The producer's licence of the prefix is not valid at that block: not yet, expired,
    or revoked."""

    code = "licence-not-valid"
    contract_error = "BatchRegistryLicenceNotValid"


class InvalidIdentifierProofError(UnlicensedIdentifierError):
    """No identifier that hashes to the new batch's id, with its prefix where the
    identifier's kind puts it, was given (a bare batch id can never create a batch)."""

    code = "invalid-identifier-proof"
    contract_error = "BatchRegistryInvalidIdentifierProof"


class OpenIdentifierRefusedError(UnlicensedIdentifierError):
    """An identifier that is neither GS1 nor a handle, from a node whose policy does not
    allow those."""

    code = "open-identifier-refused"
    contract_error = "BatchRegistryOpenIdentifierRefused"


class IdentifierIsRecordError(EventRejectedError):
    """A batch created under an open identifier that already keys anchored-only records on
    this node: it names those records, never a batch (docs/events.md, "Open
    identifiers"). The node's rule, not the contract's: the chain knows no records."""

    code = "identifier-is-record"


class LicensedElsewhereError(UnlicensedIdentifierError):
    """A lot adopted from outside the network under an identifier whose prefix another
    participant holds: its brand owner is in the network and creates its lots itself."""

    code = "licensed-elsewhere"
    contract_error = "BatchRegistryLicensedElsewhere"


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


class ProductTableError(ConfigurationError):
    """The monitor's product table is unreadable or invalid: ``source`` names the file and
    ``key`` the first bad entry (dotted, as in the TOML)."""

    code = "product-table-invalid"

    def __init__(self, message: str, *, source: str, key: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.key = key


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


class InvalidBundleError(TraceNodeError, ValueError):
    """A proof bundle that is not JSON, breaks its schema, or holds a malformed field;
    ``field`` is the JSON pointer of the first bad field when known."""

    code = "invalid-bundle"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EpcisError(TraceNodeError, ValueError):
    """An EPCIS capture, or one event of it, refused: nothing of it was written.

    ``event_index`` is the position of the offending EPCIS event in the document's event
    list (None for a document-level problem); ``pointer`` is the RFC 6901 JSON pointer of
    the bad field, from the root of the document (or of the capture request). Raised for a
    whole capture that wrote nothing, ``outcomes`` holds what became of every event
    (``node.epcis.capture.EpcisResult``), when they are known.
    """

    code = "epcis-invalid"

    def __init__(self, message: str, *, event_index: int | None = None, pointer: str = "") -> None:
        super().__init__(message)
        self.event_index = event_index
        self.pointer = pointer
        self.outcomes: tuple[Any, ...] = ()


class EpcisQueryError(TraceNodeError, ValueError):
    """An EPCIS query the node does not answer: an unknown or malformed parameter (EPCIS
    2.0 QueryParameterException). ``parameter`` names it."""

    code = "epcis-query-invalid"

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class EpcisNamedQueryExistsError(TraceNodeError):
    """A named query's name the owner already gave another query (or too many queries)."""

    code = "epcis-query-exists"


class EpcisSubscriptionError(TraceNodeError, ValueError):
    """A query subscription the node cannot serve: a destination it will not send to, a
    mode it does not run, too many subscriptions (docs/epcis.md, "Subscriptions")."""

    code = "epcis-subscription-invalid"


class EpcisDocumentError(EpcisError):
    """Not JSON, not an EPCIS 2.0 document, or not valid against GS1's JSON Schema."""

    code = "epcis-invalid-document"


class EpcisXmlError(EpcisDocumentError):
    """An EPCIS XML document refused: not well-formed, carrying a DTD or an entity, not
    valid against the XML schema of its EPCIS version, or holding an element that is no
    EPCIS field. ``line`` and ``path`` (an XPath) name the place in the XML when known."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        path: str | None = None,
        event_index: int | None = None,
    ) -> None:
        super().__init__(message, event_index=event_index)
        self.line = line
        self.path = path


class EpcisLimitError(EpcisError):
    """A document or request beyond the node's limits (bytes, nesting, events, lists)."""

    code = "epcis-too-large"


class EpcisMappingError(EpcisError):
    """A valid EPCIS event that maps to no TraceNode event (no batch, no known receiver)."""

    code = "epcis-unmappable"


class EpcisEventIdConflictError(EpcisError):
    """An ``eventID`` that already names another event (with another hash ID), earlier in the
    same document or captured before: EPCIS event IDs are unique, so one of the two is
    wrong."""

    code = "epcis-event-id-conflict"


class EpcisDependencyError(EpcisError):
    """An event that extends a head an earlier, refused event of the same capture would
    have set (``depends_on`` is that event's index): it cannot be captured without it."""

    code = "epcis-dependency-refused"

    def __init__(
        self, message: str, *, depends_on: int, event_index: int | None = None, pointer: str = ""
    ) -> None:
        super().__init__(message, event_index=event_index, pointer=pointer)
        self.depends_on = depends_on


class EpcisAdoptionChangedError(EpcisError):
    """An event that first names lots the network never held, signed in a form the node no
    longer derives (docs/epcis.md, "Lots first seen mid-chain"): the lot was brought into
    the network between signing and capture (another event adopted or created it), or its
    signer may adopt what it signed as anchored-only. Nothing of the event is written; the
    client signs it again."""

    code = "epcis-adoption-changed"


class EpcisMasterDataError(EpcisError):
    """An element of the header's master data (``epcisHeader.epcisMasterData``) that is
    malformed, names a batch, or that the request does not assert (node.epcis.masterdata)."""

    code = "epcis-invalid-master-data"


class EpcisRolledBackError(EpcisError):
    """An event not captured only because another was refused and the capture asked for
    all or nothing (``GS1-Capture-Error-Behaviour: rollback``)."""

    code = "epcis-capture-rolled-back"


class EpcisSignatureMismatchError(EpcisError):
    """The signed TraceEvents of a capture request are not the ones the document maps to."""

    code = "epcis-signature-mismatch"


class EpcisEventRejectedError(EpcisError):
    """A TraceEvent mapped from the document was refused by a rule; ``cause`` is that
    rejection (its ``code`` names the rule), ``results`` the outcome of every event."""

    code = "epcis-event-rejected"

    def __init__(
        self,
        message: str,
        *,
        cause: EventRejectedError,
        event_index: int | None = None,
        pointer: str = "",
        results: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(message, event_index=event_index, pointer=pointer)
        self.cause = cause
        self.results = results


# ----- the partner gateway's errors (HTTP problem types derive from these codes) -----


class SignerMismatchError(EventRejectedError):
    """The event is signed by a participant other than the one the API key belongs to."""

    code = "signer-mismatch"


class NotFoundError(TraceNodeError, LookupError):
    """Something asked for by its id that the node does not hold."""

    code = "not-found"


class EventNotFoundError(NotFoundError):
    code = "event-not-found"


class BatchNotFoundError(NotFoundError):
    code = "batch-not-found"


class ParticipantNotFoundError(NotFoundError):
    code = "participant-not-found"


class PrefixNotFoundError(NotFoundError):
    """An identifier prefix that no licence was ever granted for."""

    code = "prefix-not-found"


class ApiKeyNotFoundError(NotFoundError):
    code = "api-key-not-found"


class AlertNotFoundError(NotFoundError):
    code = "alert-not-found"


class WebhookNotFoundError(NotFoundError):
    code = "webhook-not-found"


class EpcisEventNotFoundError(NotFoundError):
    code = "epcis-event-not-found"


class EpcisCaptureJobNotFoundError(NotFoundError):
    """No capture job of that captureID that the caller may read."""

    code = "epcis-capture-job-not-found"


class EpcisNamedQueryNotFoundError(NotFoundError):
    code = "epcis-query-not-found"


class EpcisSubscriptionNotFoundError(NotFoundError):
    code = "epcis-subscription-not-found"


class LinkTypeNotFoundError(NotFoundError):
    """Resolution: ``?linkType=`` names no link the identifier has on this node."""

    code = "link-type-not-found"


class UrlRefusedError(TraceNodeError, ValueError):
    """A URL the node will not send a request of its own to (node/network/addresses.py):
    malformed, not http(s), a host name that does not resolve (within its bound), or one
    naming a private, loopback, link-local (cloud metadata), multicast or reserved
    address. ``reason``: ``malformed``, ``unresolved``, ``dns-timeout`` or
    ``refused-address``."""

    code = "url-refused"

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


class WebhookUrlError(UrlRefusedError):
    """A webhook URL the node will not send to (docs/monitor.md)."""

    code = "webhook-url-refused"


class NodeUrlError(UrlRefusedError):
    """Another node's URL, as the node registry holds it, that this node will not fetch
    from (docs/network.md, "What is screened")."""

    code = "node-url-refused"


class WebhookSubscriptionError(TraceNodeError, ValueError):
    """A webhook subscription's filters the node cannot use: an unknown message type or
    severity, a batch or identifier prefix in no accepted spelling, too many of them
    (docs/monitor.md, "Subscriptions")."""

    code = "webhook-subscription-invalid"


class NotAnchoredError(TraceNodeError):
    """A proof was asked for an event that is not (or not yet) anchored."""

    code = "not-anchored"


class AuthenticationError(TraceNodeError):
    """No API key, or one the node does not know or has revoked."""

    code = "unauthenticated"


class PermissionDeniedError(TraceNodeError):
    """A valid API key that may not do this (e.g. a participant's key on an admin route)."""

    code = "forbidden"


class RequestError(TraceNodeError, ValueError):
    """A request the gateway refuses before reading it as events (shape, size, rate)."""

    code = "invalid-request"


class MalformedJsonError(RequestError):
    code = "malformed-json"


class JsonTooDeepError(RequestError):
    code = "json-too-deep"


class RequestTooLargeError(RequestError):
    code = "request-too-large"


class TooManyItemsError(RequestError):
    code = "too-many-items"


class UnsupportedMediaTypeError(RequestError):
    code = "unsupported-media-type"


class InvalidParametersError(RequestError):
    """Parameters or a body that fail their declared schema (``errors`` lists each field)."""

    code = "validation-error"

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


class RateLimitedError(RequestError):
    """Too many requests for one API key (or one address, without a key)."""

    code = "rate-limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MethodNotAllowedError(RequestError):
    code = "method-not-allowed"


class NotAcceptableError(RequestError):
    """No representation of the resource in a media type the request accepts."""

    code = "not-acceptable"


class RegistrarUnavailableError(TraceNodeError):
    """The node runs without its registrar (admin) key, so it cannot register participants."""

    code = "registrar-unavailable"


class NotReadyError(TraceNodeError):
    """The node cannot serve: its store or its chain does not answer."""

    code = "not-ready"


class RequestTimeoutError(RequestError):
    """The request's body did not arrive in time (a client that stalls or trickles)."""

    code = "request-timeout"


class DependencyUnavailableError(TraceNodeError):
    """Something the node needs to answer — its store or its chain — cannot be reached now.
    Nothing was done; the same request may succeed after ``retry_after`` seconds."""

    code = "dependency-unavailable"
    #: What is missing: "store" or "chain".
    dependency: ClassVar[str] = "dependency"
    #: Seconds a caller should wait before trying again (HTTP Retry-After).
    RETRY_AFTER: ClassVar[int] = 5

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = self.RETRY_AFTER if retry_after is None else retry_after


class BackloggedError(DependencyUnavailableError):
    """Anchoring cannot keep up: a new event's predicted wait for its proof passes the
    gateway's bound (node.commit.backlog). Nothing was done; send it again after
    ``retry_after`` seconds."""

    code = "backlogged"
    dependency = "commit"

    def __init__(self, message: str, *, retry_after: int, predicted_seconds: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.predicted_seconds = predicted_seconds


class EpcisCaptureQueueFullError(DependencyUnavailableError):
    """As many asynchronous capture jobs wait or run as the node allows
    (node.epcis.jobs): nothing was done; send the request again after ``retry_after``
    seconds, or capture synchronously."""

    code = "epcis-capture-queue-full"
    dependency = "capture-jobs"


class StoreUnavailableError(DependencyUnavailableError):
    """The database cannot be reached (refused, timed out, connection lost) or is busy
    beyond its wait (node.store.availability classifies the driver's errors)."""

    code = "store-unavailable"
    dependency = "store"


class ChainUnavailableError(DependencyUnavailableError, ChainError):
    """The chain's JSON-RPC node cannot be reached, or did not answer in time
    (node.chain.availability classifies the client's errors)."""

    code = "chain-unavailable"
    dependency = "chain"


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


# ----- the supplier SDK (node/sdk) -----


class GatewayError(TraceNodeError):
    """A gateway answered something the SDK cannot use: not a TraceNode gateway, an
    unexpected status, or a problem whose code this SDK does not know (``problem``)."""

    code = "gateway-error"

    def __init__(
        self, message: str, *, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem


class GatewayMismatchError(GatewayError, ValueError):
    """The gateway's ``/v1/info`` publishes EIP-712 types other than node/events/typed_data.py's,
    a domain that is not the chain and BatchRegistry it names, or a domain (or signer)
    other than the one the outbox's waiting events were signed for."""

    code = "gateway-mismatch"


class GatewayUnavailableError(GatewayError, ConnectionError):
    """No useful answer after every retry (network errors, 5xx, 429 beyond the wait the
    client allows). Nothing is lost: signed events stay in the outbox until a flush."""

    code = "gateway-unavailable"


class KeySetError(TraceNodeError, ValueError):
    """A key set the SDK will not sign an EPCIS document with: a key given twice (the
    client's own included), or more keys than node.epcis.mapping.MAX_SIGNERS."""

    code = "invalid-key-set"


class OutboxError(TraceNodeError, RuntimeError):
    """The outbox directory cannot be used (unwritable, or holding files it did not write)."""

    code = "outbox-error"


class OutboxLockedError(OutboxError):
    """Another client (in this or another process) has the outbox open."""

    code = "outbox-locked"


class ProofTimeoutError(TraceNodeError, TimeoutError):
    """An event was not anchored (or was rejected) within the time allowed."""

    code = "proof-timeout"


class RemoteNodeError(TraceNodeError):
    """Another node of the network could not give what was asked of it: unreachable, too
    slow, an HTTP error, an answer too large, compressed when asked for as it is, not JSON,
    or not a proof bundle of the batch asked for (node.network.resolution). ``reason`` is
    one of those, as a short code."""

    code = "remote-node"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
