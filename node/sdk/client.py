"""The supplier's client of a TraceNode gateway (docs/sdk.md).

Everything a supplier does goes through the outbox: an event is composed (from the
gateway's ``/v1/info`` domain, the batches' heads and the signer's next nonce), signed,
written to the outbox, and only then sent. :meth:`Client.flush` sends what waits, oldest
first, in lists up to the gateway's limits, retrying network errors, 5xx and 429 with
bounded backoff; an event leaves the outbox only when the gateway answered ``accepted``
or ``duplicate`` (the event hash is the idempotency key, so a resend after a lost answer
is harmless), and a refused one is kept aside with its problem.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3

from node.chain.reader import ChainReader, Contracts
from node.epcis import masterdata
from node.epcis.mapping import MAX_SIGNERS, chain_signed
from node.events import compose
from node.events.compose import EventSpec
from node.events.digits import is_decimal
from node.events.identifiers import parse_identifier
from node.events.signatures import recover_signer, sign_digest
from node.events.submission import (
    SignedEvent,
    parse_event,
    parse_hex,
    parse_uint,
    submission_document,
)
from node.events.typed_data import ZERO20, Action, Domain, TraceEvent
from node.exceptions import (
    BatchNotFoundError,
    EpcisError,
    EventRejectedError,
    GatewayError,
    GatewayMismatchError,
    GatewayUnavailableError,
    InvalidBundleError,
    InvalidEventError,
    InvalidSignatureError,
    KeySetError,
    NotFoundError,
    OutboxError,
    ProofTimeoutError,
    TraceNodeError,
    UnknownSignerError,
)
from node.proofs.bundle import Bundle, loads, parse_bundle
from node.proofs.verify import Report, verify_bundle
from node.sdk import epcis
from node.sdk.http import Http, Retry, RetryPolicy, error_from_problem, problem_error
from node.sdk.info import GatewayInfo
from node.sdk.outbox import Entry, Kind, NewEntry, Outbox, encode

Outcome = Literal["accepted", "duplicate", "rejected", "queued"]
#: Whole-request answers that say the client is misconfigured, not that an entry is bad:
#: the entries stay in the outbox and the error is raised.
_CONFIGURATION_STATUSES: Final = frozenset({401, 403, 404, 405, 406, 415})
#: Bytes kept free below the gateway's body limit (the list's brackets and commas).
_BODY_MARGIN: Final = 1024


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one outbox entry: a signed event, or an EPCIS capture request."""

    seq: int
    kind: Kind
    event_hashes: tuple[str, ...]
    outcome: Outcome
    problem: dict[str, Any] | None = None  # why the gateway refused it
    results: tuple[dict[str, Any], ...] = ()  # EPCIS: the gateway's result per EPCIS event
    location: str | None = None  # EPCIS: the capture job's path on the gateway (Location)

    @property
    def event_hash(self) -> str:
        """The (first) event hash, 0x hex."""
        return self.event_hashes[0] if self.event_hashes else ""

    def error(self) -> TraceNodeError | None:
        """The typed error of a refused entry."""
        if self.problem is None:
            return None
        return error_from_problem(self.problem, status=self.problem.get("status"))


@dataclass(slots=True)
class FlushReport:
    """One flush: a delivery per entry the gateway answered, and what still waits."""

    deliveries: list[Delivery] = field(default_factory=list)
    pending: int = 0  # entries still in the outbox
    error: GatewayUnavailableError | None = None  # why the flush stopped early

    def count(self, outcome: Outcome) -> int:
        return sum(1 for d in self.deliveries if d.outcome == outcome)

    @property
    def accepted(self) -> int:
        return self.count("accepted")

    @property
    def duplicate(self) -> int:
        return self.count("duplicate")

    @property
    def rejected(self) -> int:
        return self.count("rejected")


@dataclass(frozen=True, slots=True)
class Proof:
    """An anchored event's Merkle proof (``GET /v1/events/{hash}/proof``)."""

    event_hash: str
    leaf: str
    root: str
    proof: tuple[str, ...]
    tree_index: int
    anchor_seq: int
    window_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    chain_id: int
    anchor_registry: str

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Proof:
        try:
            return cls(
                event_hash=str(document["eventHash"]),
                leaf=str(document["leaf"]),
                root=str(document["root"]),
                proof=tuple(str(p) for p in document["proof"]),
                tree_index=int(document["treeIndex"]),
                anchor_seq=parse_uint(document["anchorSeq"], 64, "anchorSeq"),
                window_id=int(document["windowId"]),
                tx_hash=str(document["txHash"]),
                block_number=parse_uint(document["blockNumber"], 64, "blockNumber"),
                block_hash=str(document["blockHash"]),
                chain_id=parse_uint(document["chainId"], 256, "chainId"),
                anchor_registry=str(document["anchorRegistry"]),
            )
        except (KeyError, TypeError, ValueError, InvalidEventError) as exc:
            raise GatewayError(f"the gateway's proof document is malformed: {exc}") from None


def account_of(key: LocalAccount | bytes | str) -> LocalAccount:
    """An eth-account ``LocalAccount`` from one, or from a raw private key (bytes or hex)."""
    if isinstance(key, LocalAccount):
        return key
    try:
        account: LocalAccount = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise InvalidSignatureError(f"not a secp256k1 private key: {type(exc).__name__}") from None
    return account


class Client:
    """A participant's client of one gateway: signs with ``key``, submits with ``api_key``.

    ``outbox``: a directory where signed events wait until the gateway has them (created
    if missing; one client at a time), or None to keep them in memory only. No request
    is made until one is needed: a client can be made, and events signed and queued,
    while the gateway is away (from what an earlier run remembered in the outbox).
    """

    def __init__(
        self,
        url: str,
        *,
        key: LocalAccount | bytes | str | None = None,
        api_key: str | None = None,
        outbox: str | os.PathLike[str] | Outbox | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        on_retry: Callable[[Retry], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        capture_wait: float | None = None,
    ) -> None:
        self.account = account_of(key) if key is not None else None
        #: EPCIS captures asynchronously (``Prefer: respond-async``), each capture job
        #: waited for at most this many seconds (None: synchronous captures).
        self.capture_wait = capture_wait
        self.url = url.rstrip("/")
        self.http = Http(
            self.url,
            api_key=api_key,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            transport=transport,
            on_retry=on_retry,
        )
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self._lock = threading.RLock()
        self._info: GatewayInfo | None = None
        self._info_from_memory = False
        try:
            self._bind_signer()
        except BaseException:
            self.close()
            raise

    # ----- lifetime -----

    def close(self) -> None:
        self.http.close()
        self.outbox.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> str:
        """The signing key's address (EIP-55)."""
        return self._signer().address

    def _signer(self) -> LocalAccount:
        if self.account is None:
            raise OutboxError("this client has no signing key: give Client(key=...)")
        return self.account

    def _bind_signer(self) -> None:
        """An outbox numbers one signer's nonces: refuse another's while its events wait."""
        if self.account is None:
            return
        self.outbox.bind(self.account.address)

    # ----- the gateway's info -----

    @property
    def info(self) -> GatewayInfo:
        """``/v1/info``, checked (:class:`GatewayMismatchError` when the gateway's types or
        domain are not what it claims); the outbox's copy while the gateway is away (read
        again at the next flush)."""
        with self._lock:
            if self._info is None:
                self._load_info()
            assert self._info is not None
            return self._info

    @property
    def domain(self) -> Domain:
        return self.info.domain

    def _load_info(self) -> None:
        remembered = self.outbox.meta("info")
        try:
            document = self.http.get_json("/v1/info", attempts=1 if remembered else None)
        except GatewayUnavailableError:
            if remembered is None:
                raise
            if self._info is None:
                self._info = GatewayInfo.parse(remembered)
                self._info_from_memory = True
            return
        info = GatewayInfo.parse(document)
        signed_for = self.outbox.meta("domain")
        if signed_for is not None and signed_for != info.domain.as_json() and self.outbox.count():
            raise GatewayMismatchError(
                f"the outbox's waiting events were signed for the domain {signed_for}; this "
                f"gateway's is {info.domain.as_json()} (another chain or deployment)"
            )
        self.outbox.set_meta(info=info.document, domain=info.domain.as_json())
        self._info = info
        self._info_from_memory = False

    # ----- reading the gateway -----

    def event(self, event_hash: str | bytes) -> dict[str, Any]:
        """``GET /v1/events/{hash}``: status, the signed event, its window and proof."""
        document: dict[str, Any] = self.http.get_json(f"/v1/events/{_hash_text(event_hash)}")
        return document

    def batch(self, identifier: str) -> dict[str, Any]:
        """``GET /v1/batches/{id}``: status, custodian, head, lineage."""
        document: dict[str, Any] = self.http.get_json(f"/v1/batches/{_batch_ref(identifier)}")
        return document

    def provenance(self, identifier: str) -> dict[str, Any]:
        """``GET /v1/batches/{id}/provenance``: the node's verification report."""
        document: dict[str, Any] = self.http.get_json(
            f"/v1/batches/{_batch_ref(identifier)}/provenance"
        )
        return document

    def master_data(self, code: str) -> dict[str, Any]:
        """``GET /v1/masterdata/{code}``: every assertion about a code, and the one shown."""
        document: dict[str, Any] = self.http.get_json(f"/v1/masterdata/{quote(code, safe='')}")
        return document

    def assert_master_data(
        self,
        code: str,
        *,
        name: str | None = None,
        attributes: Sequence[tuple[str, Any]] = (),
        vocabulary: str | None = None,
    ) -> dict[str, Any]:
        """Sign an assertion of what ``code`` is called (its CBV ``name`` and further
        ``attributes``, as (URI, value)) and ``POST /v1/masterdata`` it, at once (not
        through the outbox): the gateway's answer. Raises the typed refusal."""
        named = [(masterdata.cbv_attribute("name"), name)] if name is not None else []
        element = masterdata.build_element(
            code, vocabulary=vocabulary, attributes=[*named, *attributes]
        )
        with self._lock:
            signed = masterdata.sign_assertion(
                element,
                domain=self.domain,
                private_key=bytes(self._signer().key),
                nonce=self._next_nonce(),
                event_time=int(time.time() * 1000),
            )
            answer: dict[str, Any] = self.http.post_json(
                "/v1/masterdata", submission_document(signed), status=202
            )
            remembered = int(self.outbox.meta("next_nonce") or 0)
            self.outbox.set_meta(next_nonce=max(remembered, signed.event.nonce + 1))
        return answer

    def participant(self, ref: str | int) -> dict[str, Any]:
        """``GET /v1/participants/{address or id}``."""
        document: dict[str, Any] = self.http.get_json(
            f"/v1/participants/{quote(str(ref), safe='')}"
        )
        return document

    def bundle(self, identifier: str) -> Bundle:
        """``GET /v1/batches/{id}/bundle``, parsed (``Bundle.dumps()`` writes it out);
        :class:`InvalidBundleError` when the gateway answers the bundle of another batch
        (which would verify, as that batch's proof)."""
        asked = _batch_ref(identifier)
        found = parse_bundle(self.http.get_json(f"/v1/batches/{asked}/bundle"))
        if _hex(found.subject) != asked:
            raise InvalidBundleError(
                f"the gateway answered the bundle of batch {_hex(found.subject)}, not of "
                f"{identifier} ({asked})",
                field="/subject",
            )
        return found

    def verify(
        self, bundle: Bundle | Mapping[str, Any] | str | bytes, *, rpc_url: str | None = None
    ) -> Report:
        """Check ``bundle`` against the chain through any EVM JSON-RPC endpoint (default:
        the gateway's own read-only ``/rpc``), trusting nothing the gateway says."""
        if isinstance(bundle, str | bytes):
            bundle = loads(bundle)
        elif not isinstance(bundle, Bundle):
            bundle = parse_bundle(bundle)
        headers = self.http.headers if rpc_url is None else {}
        provider = Web3.HTTPProvider(
            rpc_url or f"{self.url}/rpc",
            request_kwargs={
                "timeout": 30,
                "headers": {"Content-Type": "application/json", **headers},
            },
        )
        chain = bundle.chain
        contracts = Contracts(
            Web3.to_checksum_address(chain.participant_registry),
            Web3.to_checksum_address(chain.batch_registry),
            Web3.to_checksum_address(chain.anchor_registry),
        )
        try:
            reader = ChainReader(Web3(provider), contracts)
        except (OSError, ValueError) as exc:
            raise GatewayUnavailableError(
                f"no JSON-RPC answer at {provider.endpoint_uri}: {exc}"
            ) from None
        return verify_bundle(bundle, reader)

    def wait_for_proof(
        self, event_hash: str | bytes, *, timeout: float = 60.0, poll: float = 0.5
    ) -> Proof:
        """The event's proof once the node anchored it. Meanwhile the outbox is flushed
        (an event still waiting there is sent first). Raises the event's typed rejection
        when the chain refused it, :class:`ProofTimeoutError` after ``timeout`` seconds."""
        wanted = _hash_text(event_hash)
        deadline = time.monotonic() + timeout
        while True:
            waiting = self._waiting(wanted)
            if waiting:
                self.flush()
            try:
                document = self.http.get_json(f"/v1/events/{wanted}", attempts=1)
            except GatewayUnavailableError:
                document = None
            except NotFoundError:
                if not waiting and not self._waiting(wanted):
                    raise
                document = None
            if document is not None:
                status = document.get("status")
                if status == "anchored" and isinstance(document.get("proof"), Mapping):
                    return Proof.from_json(document["proof"])
                if status == "rejected":
                    rejection = document.get("rejection")
                    if isinstance(rejection, Mapping):
                        raise error_from_problem(rejection, status=rejection.get("status"))
                    raise EventRejectedError(f"the chain rejected {wanted}")
            if time.monotonic() + poll > deadline:
                raise ProofTimeoutError(f"{wanted} not anchored within {timeout:g} s")
            time.sleep(poll)

    def _waiting(self, event_hash: str) -> bool:
        return any(event_hash in e.event_hashes for e in self.outbox.pending())

    # ----- composing and signing -----

    def sign(self, specs: Iterable[EventSpec]) -> list[SignedEvent]:
        """Sign events extending the batches' heads (the outbox's waiting events first,
        else the gateway's), numbered from the signer's next nonce. Nothing is queued."""
        with self._lock:
            specs = list(specs)
            domain = self.domain
            counterparties = [self._counterparty(spec) for spec in specs]
            created = {batch for spec in specs for batch in _created(spec)}
            wanted = {b for spec in specs for b in compose.heads_needed(spec)} - created
            heads = self._heads(wanted)
            nonce = self._next_nonce()
            key = bytes(self._signer().key)
            signed: list[SignedEvent] = []
            for spec, counterparty in zip(specs, counterparties, strict=True):
                event, payload, identifiers = compose.compose(
                    spec, counterparty=counterparty, heads=heads, nonce=nonce
                )
                digest = event.digest(domain)
                heads.update(compose.head_effects(event, digest))
                signed.append(SignedEvent(event, sign_digest(digest, key), payload, identifiers))
                nonce += 1
            return signed

    def _counterparty(self, spec: EventSpec) -> bytes:
        action = compose.parse_action(spec.action)
        if action is not Action.SHIP:
            if spec.to is not None:
                raise InvalidEventError(f"{action.name} has no receiver (--to)", field="to")
            return ZERO20
        if spec.to is None:
            raise InvalidEventError("SHIP needs a receiver: its address or id", field="to")
        text = str(spec.to)
        if text == compose.OUTSIDE:  # a party outside the network: the lot is exported
            return ZERO20
        if text.startswith(("0x", "0X")):
            return parse_hex(text, 20, "to")
        if not is_decimal(text):
            raise InvalidEventError(
                f"receiver {text!r} is neither an address nor an id", field="to"
            )
        return parse_hex(self.participant(text).get("address"), 20, "to")

    def _heads(self, batch_ids: Iterable[bytes]) -> dict[bytes, bytes]:
        """Current heads: the outbox's waiting events' first, else the gateway's (else what
        the outbox last heard, while the gateway is away). An unknown batch is absent."""
        pending = {_bytes(k): _bytes(v) for k, v in self.outbox.pending_heads().items()}
        heads: dict[bytes, bytes] = {}
        remote = [b for b in dict.fromkeys(batch_ids) if b not in pending]
        remembered = {
            _bytes(k): _bytes(v)
            for k, v in self.outbox.remembered_heads(_hex(b) for b in remote).items()
        }
        fetched: dict[str, str] = {}
        offline = False
        for batch_id in remote:
            if not offline:
                try:
                    state = self.http.get_json(
                        f"/v1/batches/{_hex(batch_id)}",
                        attempts=1 if batch_id in remembered else None,
                    )
                    head = _head_of(state)
                    heads[batch_id] = head
                    fetched[_hex(batch_id)] = _hex(head)
                    continue
                except BatchNotFoundError:
                    continue
                except GatewayUnavailableError:
                    offline = True
                    if batch_id not in remembered:
                        raise
            if batch_id not in remembered:
                raise GatewayUnavailableError(
                    f"the gateway is away and the outbox does not know the head of batch "
                    f"{_hex(batch_id)}"
                )
            heads[batch_id] = remembered[batch_id]
        self.outbox.remember_heads(fetched)
        heads.update(pending)
        return heads

    def _next_nonce(self) -> int:
        """The larger of the gateway's next nonce for this key and one past every nonce
        this outbox handed out (nonces need only be unused)."""
        used = self.outbox.max_nonce()
        remembered = self.outbox.meta("next_nonce")
        local = max(int(remembered or 0), used + 1 if used is not None else 0)
        known_locally = remembered is not None or used is not None
        try:
            answer = self.http.get_json(
                f"/v1/participants/{self.address}/nonce", attempts=1 if known_locally else None
            )
        except GatewayUnavailableError:
            if not known_locally:
                raise
            return local
        except NotFoundError:
            raise GatewayError(
                "the gateway does not tell nonces (GET /v1/participants/{address}/nonce)"
            ) from None
        try:
            remote = parse_uint(answer.get("nextNonce"), 256, "nextNonce")
        except (AttributeError, InvalidEventError):
            raise GatewayError(f"the gateway's nonce answer is malformed: {answer!r}") from None
        if answer.get("participantId") is None:
            raise UnknownSignerError(
                f"{self.address} is not the current key of a participant of this node",
                signer=self.address,
            )
        return max(local, remote)

    # ----- queueing and sending -----

    def submit(
        self,
        action: Action | str,
        batch: str | None = None,
        *,
        send: bool = True,
        **fields: Any,
    ) -> Delivery:
        """Sign one event (fields as :class:`EventSpec`), queue it and flush: its delivery
        (``accepted``, ``duplicate``, or ``queued`` while the gateway is away). Raises the
        typed rejection (``HeadMismatchError``, ``NotCustodianError``, ...) when the
        gateway refused it; the event is then kept aside in the outbox."""
        (delivery,) = self.submit_many([EventSpec(action, batch, **fields)], send=send)
        if delivery.outcome == "rejected":
            error = delivery.error()
            assert error is not None
            raise error
        return delivery

    def submit_many(self, specs: Iterable[EventSpec], *, send: bool = True) -> list[Delivery]:
        """Sign, queue and (unless ``send=False``) flush many events, chained in order:
        a delivery for each (``rejected`` ones carry their problem)."""
        with self._lock:
            return self.send(self.sign(specs), flush=send)

    def send(
        self, signed: Sequence[SignedEvent] | SignedEvent, *, flush: bool = True
    ) -> list[Delivery]:
        """Queue events signed elsewhere (checked and hashed under the gateway's domain)
        and flush: a delivery for each."""
        with self._lock:
            items = [signed] if isinstance(signed, SignedEvent) else list(signed)
            domain = self.domain
            entries = []
            for item in items:
                digest = item.event.digest(domain)
                entries.append(
                    NewEntry(
                        kind="event",
                        body=submission_document(item),
                        event_hashes=(_hex(digest),),
                        heads=_hex_map(compose.head_effects(item.event, digest)),
                        max_nonce=self._own_nonce(item.event, digest, item.signature),
                    )
                )
            return self._queue_and_flush(entries, flush)

    def capture_epcis(
        self,
        document: Any,
        *,
        keys: Sequence[LocalAccount | bytes | str] = (),
        send: bool = True,
    ) -> Delivery:
        """Map an EPCIS 2.0 document (docs/epcis.md: JSON, or EPCIS 2.0 / 1.2 XML as a
        string), sign its TraceEvents and capture it (``POST /v1/epcis/capture``, an
        outcome per event) through the outbox. Raises the typed
        EPCIS error when the document is invalid, or the gateway refused it.

        ``keys``: the private keys of other parties whose events the document holds
        (docs/sdk.md, "Multi-party documents"). The gateway tells which address performs
        each TraceEvent (``POST /v1/epcis/performers``, the rules ``tracenode epcis sign``
        applies) and each key's next nonce; each event is signed here with its
        performer's key (no key leaves the client), one nobody may perform with this
        client's. :class:`KeySetError` for a key given twice or too many keys,
        :class:`UnknownSignerError` for a key that is no participant's current key,
        :class:`GatewayMismatchError` when the gateway names a key the client does not
        hold: nothing is queued."""
        with self._lock:
            domain = self.domain
            others = self._key_set(keys)
            waiting = self._waiting_epcis()
            plan = epcis.plan_capture(
                document,
                lambda ids, parties: _with_waiting(self._epcis_lookup(ids, parties), waiting),
            )
            main = _address_of(self._signer())
            accounts = {main: self._signer(), **{_address_of(a): a for a in others}}
            signers = [main] * len(plan.todo)
            nonces: dict[bytes, int] = {}
            if plan.todo:
                if others or epcis.extended_batches(plan):
                    plan, signers, nonces = self._performers(document, plan, list(accounts))
                nonces[main] = self._next_nonce()
            wanted = {b for item in plan.todo for b in item.heads_needed()}
            created = {b for item in plan.todo for b in epcis.created_batches(item)}
            heads = self._heads(wanted - created) if plan.todo else {}
            events, effects = chain_signed(
                plan.todo, signers=signers, heads=heads, nonces=nonces, domain=domain
            )
            signed = [
                {
                    "event": event.message(),
                    "signature": _hex(sign_digest(digest, bytes(accounts[signer].key))),
                }
                for (event, digest), signer in zip(events, signers, strict=True)
            ]
            # Another key's nonces are not this outbox's to count: remember the next one.
            used = {_hex(s): e.nonce + 1 for (e, _d), s in zip(events, signers, strict=True)}
            used.pop(_hex(main), None)
            own = [e.nonce for (e, _d), s in zip(events, signers, strict=True) if s == main]
            body: dict[str, Any] = {"document": document, "traceEvents": signed}
            if plan.elements:
                # The header's master data: the submitter's to assert, numbered after its
                # events (as tracenode epcis sign does).
                first = max(own) + 1 if own else nonces.get(main, None) or self._next_nonce()
                body["masterData"] = self._assertions(plan.elements, first, domain)
                own.append(first + len(plan.elements) - 1)
            entry = NewEntry(
                kind="epcis",
                body=body,
                event_hashes=tuple(_hex(digest) for _event, digest in events),
                heads=_hex_map(effects),
                max_nonce=max(own, default=None),
            )
            meta = {"signer_nonces": self._signer_nonces() | used} if used else None
            (delivery,) = self._queue_and_flush([entry], send, meta=meta)
            if delivery.outcome == "rejected":
                error = delivery.error()
                assert error is not None
                raise error
            return delivery

    def _assertions(
        self, elements: Sequence[masterdata.MasterDataElement], first: int, domain: Domain
    ) -> list[dict[str, Any]]:
        """Each element's assertion signed by this client's key, at nonces from ``first``."""
        now = int(time.time() * 1000)
        key = bytes(self._signer().key)
        found: list[dict[str, Any]] = []
        for offset, element in enumerate(elements):
            signed = masterdata.sign_assertion(
                element, domain=domain, private_key=key, nonce=first + offset, event_time=now
            )
            found.append({"event": signed.event.message(), "signature": _hex(signed.signature)})
        return found

    def _key_set(self, keys: Sequence[LocalAccount | bytes | str]) -> list[LocalAccount]:
        """The other parties' keys, checked: each once, this client's not among them."""
        if isinstance(keys, str | bytes | LocalAccount):
            raise KeySetError("keys is a list of private keys, not one key")
        accounts = [account_of(k) for k in keys]
        seen = {self._signer().address}
        for account in accounts:
            if account.address in seen:
                raise KeySetError(f"the key of {account.address} is given twice")
            seen.add(account.address)
        if len(seen) > MAX_SIGNERS:
            raise KeySetError(f"{len(seen)} keys sign one document; the limit is {MAX_SIGNERS}")
        return accounts

    def _performers(
        self, document: Any, plan: epcis.CapturePlan, addresses: Sequence[bytes]
    ) -> tuple[epcis.CapturePlan, list[bytes], dict[bytes, int]]:
        """The gateway's choice of the address that performs each TraceEvent of ``plan``
        (checked: one per TraceEvent, each a key this client holds), the plan with the
        events that first name lots the network never held in the form the gateway gives
        (adopting them, or anchored-only: docs/epcis.md "Lots first seen mid-chain"; the
        gateway re-derives the same at capture), and the next nonce of each address but
        the first (this outbox counts the first's)."""
        answer = self.http.post_json(
            "/v1/epcis/performers",
            {
                "document": document,
                "events": list(plan.fresh),
                "signers": list(map(_hex, addresses)),
                # Lots this outbox's waiting events bring in: extended, never adopted.
                "held": sorted(
                    {b.lower() for b in self.outbox.pending_heads()}
                    & {_hex(b) for b in epcis.extended_batches(plan)}
                ),
            },
        )
        try:
            performers = [parse_hex(a, 20, "performer") for a in answer["performers"]]
            told = {
                parse_hex(s["address"], 20, "address"): (
                    parse_uint(s["nextNonce"], 256, "nextNonce"),
                    s["participantId"],
                )
                for s in answer["signers"]
            }
            forms = [
                epcis.FirstSeen(
                    int(f["index"]),
                    tuple(str(lot) for lot in f["adopts"]),
                    None if f["anchoredOnly"] is None else str(f["anchoredOnly"]),
                )
                for f in answer.get("firstSeen", [])
            ]
            plan = epcis.with_first_seen(plan, forms)
        except (KeyError, TypeError, AttributeError, ValueError, InvalidEventError) as exc:
            raise GatewayError(f"the gateway's performers answer is malformed: {exc}") from None
        if len(performers) != len(plan.todo) or set(told) != set(addresses):
            raise GatewayError(
                "the gateway's performers answer does not name a performer per TraceEvent "
                "and each signer once"
            )
        for performer in performers:
            if performer not in addresses:
                raise GatewayMismatchError(
                    f"the gateway names {to_checksum_address(performer)} to sign an event: a "
                    "key this client does not hold"
                )
        remembered = self._signer_nonces()
        nonces: dict[bytes, int] = {}
        for address in addresses[1:]:
            nonce, participant = told[address]
            if participant is None:
                raise UnknownSignerError(
                    f"{to_checksum_address(address)} is not the current key of a participant "
                    "of this node",
                    signer=to_checksum_address(address),
                )
            nonces[address] = max(nonce, int(remembered.get(_hex(address), 0)))
        return plan, performers, nonces

    def _signer_nonces(self) -> dict[str, int]:
        """The next nonce of each other key this outbox signed with (``keys=``)."""
        remembered = self.outbox.meta("signer_nonces")
        return dict(remembered) if isinstance(remembered, dict) else {}

    def send_capture(self, request: Mapping[str, Any], *, flush: bool = True) -> Delivery:
        """Queue a capture request signed elsewhere (``tracenode epcis sign``) and flush;
        raises the typed EPCIS error when the gateway refused it (kept aside)."""
        with self._lock:
            domain = self.domain
            if not isinstance(request, Mapping) or not isinstance(request.get("traceEvents"), list):
                raise EpcisError("a capture request has a document and a traceEvents list")
            hashes: list[str] = []
            effects: dict[bytes, bytes] = {}
            nonces: list[int] = []
            for k, entry in enumerate(request["traceEvents"]):
                if not isinstance(entry, Mapping):
                    raise EpcisError(
                        f"traceEvents[{k}] is not an object", pointer=f"/traceEvents/{k}"
                    )
                try:
                    event = parse_event(entry.get("event"))  # type: ignore[arg-type]
                    signature = parse_hex(entry.get("signature"), 65, "signature")
                except InvalidEventError as exc:
                    raise EpcisError(
                        f"traceEvents[{k}]: {exc}", pointer=f"/traceEvents/{k}"
                    ) from None
                digest = event.digest(domain)
                hashes.append(_hex(digest))
                effects.update(compose.head_effects(event, digest))
                own = self._own_nonce(event, digest, signature)
                nonces.extend([own] if own is not None else [])
            new = NewEntry(
                "epcis", dict(request), tuple(hashes), _hex_map(effects), max(nonces, default=None)
            )
            (delivery,) = self._queue_and_flush([new], flush)
            if delivery.outcome == "rejected":
                error = delivery.error()
                assert error is not None
                raise error
            return delivery

    def _waiting_epcis(self) -> set[str]:
        """Hash IDs of the EPCIS events of captures still in the outbox: they will be held
        by the gateway before anything signed now reaches it."""
        found: set[str] = set()
        for entry in self.outbox.pending():
            if entry.kind == "epcis":
                found.update(epcis.hash_ids(entry.body.get("document")))
        return found

    def _own_nonce(self, event: TraceEvent, digest: bytes, signature: bytes) -> int | None:
        """The event's nonce when this client's key signed it (another signer's nonces are
        not this outbox's to count)."""
        if self.account is None:
            return None
        try:
            signer = recover_signer(digest, signature)
        except InvalidSignatureError:
            return None
        return event.nonce if signer == bytes.fromhex(self.account.address[2:]) else None

    def _epcis_lookup(
        self, hash_ids: Sequence[str], parties: Sequence[str]
    ) -> tuple[set[str], dict[str, bytes | None]]:
        answer = self.http.post_json(
            "/v1/epcis/lookup", {"hashIds": list(hash_ids), "parties": list(parties)}
        )
        try:
            known = set(answer["known"])
            resolved = {
                str(party): parse_hex(address, 20, "party") if address is not None else None
                for party, address in answer["parties"].items()
            }
        except (KeyError, TypeError, AttributeError, InvalidEventError) as exc:
            raise GatewayError(f"the gateway's EPCIS lookup answer is malformed: {exc}") from None
        return known, resolved

    def _queue_and_flush(
        self, entries: Sequence[NewEntry], flush: bool, *, meta: dict[str, Any] | None = None
    ) -> list[Delivery]:
        used = [e.max_nonce for e in entries if e.max_nonce is not None]
        remembered = int(self.outbox.meta("next_nonce") or 0)
        meta = dict(meta or {})
        if used:
            meta["next_nonce"] = max(remembered, max(used) + 1)
        added = self.outbox.add(entries, meta=meta)
        queued = {e.seq: Delivery(e.seq, e.kind, e.event_hashes, "queued") for e in added}
        if flush:
            report = self.flush()
            for delivery in report.deliveries:
                if delivery.seq in queued:
                    queued[delivery.seq] = delivery
        return [queued[e.seq] for e in added]

    def flush(self) -> FlushReport:
        """Send every waiting entry, oldest first: events in lists up to the gateway's
        limits, EPCIS captures one by one. Stops (``error`` set, entries kept) when the
        gateway stays away after every retry; raises when it refuses the client itself
        (bad API key, wrong URL: 401, 403, 404 ...)."""
        with self._lock:
            report = FlushReport()
            entries = self.outbox.pending()
            if entries:
                try:
                    if self._info_from_memory:
                        self._load_info()  # the gateway may be back: check it again
                    info = self.info
                except GatewayUnavailableError as exc:
                    report.error = exc
                    report.pending = len(entries)
                    return report
                budget = info.max_body_bytes - _BODY_MARGIN
                start = 0
                while start < len(entries):
                    group = _group(entries, start, info.max_events_per_request, budget)
                    start += len(group)
                    try:
                        self._deliver(group, report)
                    except GatewayUnavailableError as exc:
                        report.error = exc
                        break
            report.pending = self.outbox.count()
            return report

    def _deliver(self, group: list[Entry], report: FlushReport) -> None:
        if group[0].kind == "epcis":
            response = self.http.send(
                "POST",
                "/v1/epcis/capture",
                content=_body(group[0]),
                headers=None if self.capture_wait is None else {"Prefer": "respond-async"},
            )
        else:
            content = b"[" + b",".join(_body(e) for e in group) + b"]"
            response = self.http.send("POST", "/v1/events", content=content)
        if response.status_code == 202:
            try:
                answer = response.json()
            except ValueError:
                raise GatewayError("the gateway's 202 answer is not JSON", status=202) from None
            if group[0].kind == "epcis":
                location = response.headers.get("location")
                if isinstance(answer, dict) and answer.get("running") is True:
                    answer = self._finished_job(location)
                    if not any(r.get("outcome") != "refused" for r in answer["results"]):
                        # Nothing of it held: refused, as the synchronous answer would be.
                        problem = next(iter(answer["errors"]), {}) | {"events": answer["results"]}
                        self._refused(group[0], problem, report)
                        return
                self._captured(group[0], answer, report, location)
            else:
                self._submitted(group, answer, report)
            return
        error = problem_error(response)
        if response.status_code in _CONFIGURATION_STATUSES and not isinstance(
            error, EventRejectedError | EpcisError
        ):
            raise error
        if not 400 <= response.status_code < 500:
            raise error
        if len(group) > 1:
            # One bad entry spoils a list only as a whole-request problem (too large, too
            # deep ...): halve until it is alone.
            middle = len(group) // 2
            self._deliver(group[:middle], report)
            self._deliver(group[middle:], report)
            return
        problem = error.problem if isinstance(error, GatewayError) and error.problem else None
        if problem is None:
            try:
                problem = response.json()
            except ValueError:
                problem = {"code": error.code, "status": response.status_code, "detail": str(error)}
        self._refused(group[0], problem, report)

    def _finished_job(self, location: str | None) -> dict[str, Any]:
        """An asynchronous capture's job, polled at ``location`` until it finishes, for at
        most :attr:`capture_wait` seconds (then :class:`GatewayUnavailableError`: the
        entry stays in the outbox, and sending it again is idempotent)."""
        if location is None:
            raise GatewayError("the gateway's asynchronous capture answer has no Location")
        location = own_path(self.url, location)
        deadline = time.monotonic() + (self.capture_wait or 0.0)
        pause = 0.1
        while True:
            response = self.http.send("GET", location)
            if response.status_code != 200:
                raise problem_error(response)
            try:
                job = response.json()
            except ValueError:
                raise GatewayError("the gateway's capture job is not JSON", status=200) from None
            if not isinstance(job, dict) or not isinstance(job.get("results"), list):
                raise GatewayError("the gateway's capture job has no results")
            if job.get("running") is not True:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise GatewayUnavailableError(
                    f"capture job {location} still runs after {self.capture_wait} s "
                    f"({job.get('eventsDone')} of {job.get('eventsTotal')} events): it is kept "
                    "in the outbox, and sending it again captures nothing twice"
                )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 2.0)

    def _submitted(self, group: list[Entry], answer: Any, report: FlushReport) -> None:
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(group):
            raise GatewayError("the gateway's bulk answer does not hold a result per event")
        delivered: list[Entry] = []
        for entry, result in zip(group, results, strict=True):
            outcome = result.get("outcome") if isinstance(result, dict) else None
            stated = result.get("eventHash") if isinstance(result, dict) else None
            if stated is not None and str(stated).lower() != entry.event_hashes[0].lower():
                raise GatewayMismatchError(
                    f"the gateway hashes event {entry.event_hashes[0]} as {stated}: it "
                    "signs under another domain than its /v1/info states"
                )
            if outcome in ("accepted", "duplicate"):
                delivered.append(entry)
                report.deliveries.append(
                    Delivery(entry.seq, entry.kind, entry.event_hashes, outcome)
                )
            elif outcome == "rejected":
                problem = result.get("problem")
                self._refused(entry, problem if isinstance(problem, dict) else {}, report)
            else:
                raise GatewayError(f"unknown outcome {outcome!r} in the gateway's answer")
        self._delivered(delivered)

    def _captured(
        self, entry: Entry, answer: Any, report: FlushReport, location: str | None
    ) -> None:
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise GatewayError("the gateway's capture answer has no results")
        items = tuple(r for r in results if isinstance(r, dict))
        written = {
            str(h).lower()
            for r in items
            if r.get("outcome") in ("captured", "anchored-only")
            for h in r.get("traceEvents") or []
        }
        report.deliveries.append(
            Delivery(
                entry.seq,
                entry.kind,
                entry.event_hashes,
                "accepted" if written else "duplicate",
                results=items,
                location=location,
            )
        )
        # Events refused while others were captured left no head: remember only written ones.
        kept = {b: h for b, h in entry.heads.items() if h.lower() in written}
        self._delivered([replace(entry, heads=kept)])

    def _delivered(self, entries: list[Entry]) -> None:
        if not entries:
            return
        self.outbox.delivered(entries)
        heads: dict[str, str] = {}
        for entry in entries:
            heads.update(entry.heads)
        self.outbox.remember_heads(heads)

    def _refused(self, entry: Entry, problem: dict[str, Any], report: FlushReport) -> None:
        self.outbox.reject(entry, problem)
        report.deliveries.append(
            Delivery(entry.seq, entry.kind, entry.event_hashes, "rejected", problem)
        )


def _with_waiting(
    answer: tuple[set[str], dict[str, bytes | None]], waiting: set[str]
) -> tuple[set[str], dict[str, bytes | None]]:
    known, parties = answer
    return known | waiting, parties


def _group(entries: list[Entry], start: int, limit: int, budget: int) -> list[Entry]:
    """Consecutive event entries from ``start`` that fit one request (an EPCIS entry, or
    an event larger than the budget, goes alone)."""
    first = entries[start]
    if first.kind == "epcis":
        return [first]
    group = [first]
    size = first.size + 2
    for entry in entries[start + 1 :]:
        if entry.kind != "event" or len(group) >= limit or size + entry.size + 1 > budget:
            break
        group.append(entry)
        size += entry.size + 1
    return group


def _body(entry: Entry) -> bytes:
    return (entry.text or encode(entry.body)).encode()


def _created(spec: EventSpec) -> list[bytes]:
    action = compose.parse_action(spec.action)
    if action is Action.COMMISSION and spec.batch is not None:
        return [compose.named_batch(spec.batch)[0]]
    if action is Action.TRANSFORM:
        return [compose.named_batch(text)[0] for text in spec.outputs]
    return []


def _head_of(state: Any) -> bytes:
    try:
        return parse_hex(state.get("head"), 32, "head")
    except (AttributeError, InvalidEventError):
        raise GatewayError(f"the gateway's batch document has no head: {state!r:.200}") from None


def _hash_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidEventError("an event hash is 32 bytes", field="eventHash")
        return _hex(value)
    return _hex(parse_hex(value, 32, "eventHash"))


def own_path(gateway: str, location: str) -> str:
    """``location`` (a ``Location`` the gateway answered) as a path on ``gateway``; a
    :class:`GatewayError` when it names another origin, where the client's API key, sent
    with every request, must never go."""
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        own = urlsplit(gateway)
        if (parts.scheme.lower(), parts.netloc.lower()) != (own.scheme.lower(), own.netloc.lower()):
            raise GatewayError(
                f"the gateway's Location {location[:200]!r} is on another origin: not followed"
            )
        location = urlunsplit(("", "", parts.path, parts.query, ""))
        prefix = own.path.rstrip("/")
        if prefix and location.startswith(prefix + "/"):
            location = location[len(prefix) :]
    if not location.startswith("/") or location.startswith("//"):
        raise GatewayError(f"the gateway's Location {location[:200]!r} is not a path")
    return location


def _batch_ref(identifier: str) -> str:
    """The 0x batch id of any identifier spelling (checked here, one path segment)."""
    return _hex(bytes(parse_identifier(identifier).batch_id))


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _address_of(account: LocalAccount) -> bytes:
    return bytes.fromhex(account.address[2:])


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _hex_map(values: Mapping[bytes, bytes]) -> dict[str, str]:
    return {_hex(k): _hex(v) for k, v in values.items()}


__all__ = [
    "Client",
    "Delivery",
    "EventSpec",
    "FlushReport",
    "Proof",
    "Retry",
    "RetryPolicy",
]
