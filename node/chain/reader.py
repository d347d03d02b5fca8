"""Read-only views of the three registries, for verifiers: nothing here sends a transaction.

A :class:`ChainReader` answers the questions a proof check asks of the chain — is this
root anchored and when, whose key was this at block N and what could it do, what did a
commit transaction accept, where does a batch stand now — and remembers each answer for
its lifetime, so verifying a hundred events signed by five keys in three windows costs a
handful of calls, not hundreds. Open a new reader to see a newer chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TransactionNotFound
from web3.types import RPCEndpoint

from node.chain.artifacts import load
from node.chain.deploy import contract
from node.chain.embedded import STORAGE_MANY, is_embedded
from node.chain.logs import WINDOW_ANCHORED, anchored_roots, committed_roots, relayed_outcomes
from node.chain.registry import Licence
from node.chain.text import chain_text, raw_strings
from node.events.hashing import keccak
from node.events.identifiers import PrefixKind, prefix_key
from node.events.typed_data import BatchStatus, Role
from node.exceptions import ChainError

#: A view reverted: web3 raises ContractLogicError from a JSON-RPC node, eth-tester
#: (the embedded chain) TransactionFailed.
_REVERTED = (ContractLogicError, TransactionFailed)


@dataclass(frozen=True, slots=True)
class Contracts:
    """Where the registries are; a bundle names them, a data directory records them."""

    participant_registry: ChecksumAddress
    batch_registry: ChecksumAddress
    anchor_registry: ChecksumAddress


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    first_seq: int
    event_count: int
    block_number: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Whose ``key`` is: participant 0 when it was never registered."""

    participant_id: int
    valid_from: int
    valid_until: int  # 0 while the key is current


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    participant_id: int
    key: bytes
    roles: Role
    active: bool
    name: str
    prefix: str


@dataclass(frozen=True, slots=True)
class ChainBatch:
    producer_id: int
    custodian_id: int
    receiver_id: int
    status: BatchStatus
    head: bytes


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What one commit transaction did: the events it relayed, the roots it anchored."""

    block_number: int
    succeeded: bool
    accepted: frozenset[bytes]
    rejected: dict[bytes, bytes]  # event hash -> ABI-encoded custom error
    roots: frozenset[bytes] = frozenset()  # anchored in AnchorRegistry by this transaction


@dataclass(frozen=True, slots=True)
class _Query:
    """One view call: its cache key, the call, how to turn its result into the answer,
    and the answer when it reverts (``_RAISE``: let the error through)."""

    key: tuple[Any, ...]
    contract: Contract
    function: str
    args: tuple[Any, ...]
    convert: Callable[[Any], Any]
    reverted: Any = None
    #: Its ``string`` outputs decoded as raw bytes (node.chain.text): on-chain text that
    #: may not be UTF-8, made text by ``convert`` with ``chain_text``.
    raw_strings: bool = False


_RAISE: Final = object()
#: BatchRegistry's storage slot of ``_batches`` (``forge inspect BatchRegistry
#: storage-layout``; held to ``batch()`` by tests/node/chain/test_reader.py).
BATCHES_SLOT: Final = 3
#: ParticipantRegistry's storage slot of ``_currentLicences`` (``forge inspect
#: ParticipantRegistry storage-layout``; held to ``currentLicence()`` by the same tests).
LICENCES_SLOT: Final = 8
#: ParticipantRegistry's storage slot of ``_keys`` (held to ``keyRecord()``, likewise).
KEYS_SLOT: Final = 5
#: AnchorRegistry's storage slots of ``_anchors``, ``_stateRoots`` and
#: ``_windowCommitments``, and of ``_lastSequence`` (``forge inspect AnchorRegistry
#: storage-layout``; held to ``anchorOf()``, ``stateRootOf()``, ``windowCommitmentOf()``
#: and ``nextSequence()`` by the same tests).
ANCHORS_SLOT: Final = 1
LAST_SEQUENCE_SLOT: Final = 2
STATE_ROOTS_SLOT: Final = 6
COMMITMENTS_SLOT: Final = 7
#: The questions the embedded chain answers from storage, by the contract they ask.
_FROM_STORAGE: Final = {
    "batch": "batch_registry",
    "licence": "participant_registry",
    "key": "participant_registry",
    "anchor": "anchor_registry",
    "state_root": "anchor_registry",
    "commitment": "anchor_registry",
    "next_sequence": "anchor_registry",
}
#: Calls per ReadMany execution. Its gas must stay well under what a public endpoint
#: gives an eth_call (this node's /rpc: node/chain/jsonrpc.py DEFAULT_CALL_GAS, 3M): the costliest
#: question, ``participant``, needs ~100k gas each (1,652,407 for 16 in one call, measured),
#: so 12 need ~1.3M. (The returned data, under 400 bytes an answer, also stays far under
#: the EIP-170 limit of 24,576 bytes.)
_CHUNK: Final = 12


class ChainReader:
    """Cached read-only calls to the registries at ``contracts`` on ``w3``.

    Single questions are answered by one ``eth_call`` each; :meth:`prefetch` answers many
    in one ``eth_call`` that runs ReadMany's creation code (nothing is deployed), which is
    what makes verifying a hundred events cost a few calls instead of dozens.
    """

    def __init__(
        self,
        w3: Web3,
        contracts: Contracts,
        *,
        at: tuple[int, bytes] | None = None,
        carry: ChainReader | None = None,
        challenge: ChecksumAddress | None = None,
    ) -> None:
        """Read the chain as it is at block ``at`` (number, hash; default: the latest).

        ``carry``: an older reader on the same chain whose answers that can never change
        (anchored roots, roles at past blocks, participants' names, mined transactions)
        are taken over, so only what may have changed is asked again.

        ``challenge``: the deployment's CustodyChallenge (the anchor-only mode), whose fraud
        marks :meth:`fraud` reads; None: this reader knows none.
        """
        self.w3 = w3
        self.contracts = contracts
        if at is None:
            latest = w3.eth.get_block("latest")
            at = (int(latest["number"]), bytes(latest["hash"]))
        self.block, self.block_hash = at
        # web3's contract objects take milliseconds to build: a carried reader's serve.
        same = (
            carry if carry is not None and carry.w3 is w3 and carry.contracts == contracts else None
        )
        self.participants: Contract = (
            same.participants
            if same
            else contract(w3, "ParticipantRegistry", contracts.participant_registry)
        )
        self.batches: Contract = (
            same.batches if same else contract(w3, "BatchRegistry", contracts.batch_registry)
        )
        self.anchors: Contract = (
            same.anchors if same else contract(w3, "AnchorRegistry", contracts.anchor_registry)
        )
        self.challenge: Contract | None = None
        if challenge is not None:
            held = same.challenge if same else None
            self.challenge = (
                held
                if held is not None and held.address == challenge
                else contract(w3, "CustodyChallenge", challenge)
            )
        self._cache: dict[tuple[Any, ...], Any] = {}
        self.calls = 0  # eth_calls made (for tests and benchmarks)
        self.blocks_read = 0  # block headers fetched (block_times)
        self.batched = True  # False once the endpoint refused a ReadMany call
        #: The embedded chain: some answers are read from storage (_from_storage).
        self.storage = is_embedded(w3)
        if carry is not None and carry.contracts == contracts:
            self._cache.update(carry.lasting_answers())

    def lasting_answers(self) -> dict[tuple[Any, ...], Any]:
        """The answers no later block can change.

        A root, once anchored, stays (AnchorRegistry never overwrites), and so does its
        window commitment, zero or not: ``anchorWindow`` writes it in the very transaction
        that anchors the root, and no root is anchored twice. A contract's code stays (an
        address without code may get some later), and with it what the contract answers
        (:meth:`registries_answer`); a participant's roles and status at a past block are
        history; a participant's name is set once; a mined transaction's receipt and a
        mined block's timestamp are final (on an external chain, past its confirmations:
        the node only anchors what it waited for).
        """
        anchored = {key[1] for key, value in self._cache.items() if key[0] == "anchor" and value}
        return {
            key: value
            for key, value in self._cache.items()
            if key[0] in ("chain_id", "status", "commit", "answers", "block_time")
            or (key[0] in ("anchor", "code") and value)
            or (key[0] in ("state_root", "commitment") and any(value))
            or (key[0] == "commitment" and key[1] in anchored)
            or key[0] == "window_roots"
            or (key[0] == "participant" and value is not None)
        }

    def _cached(self, key: tuple[Any, ...], fetch: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def _get(self, query: _Query) -> Any:
        if query.key in self._cache:
            return self._cache[query.key]
        if self.storage and query.key[0] in _FROM_STORAGE:
            self._from_storage([query])
            return self._cache[query.key]
        self.calls += 1
        try:
            if query.raw_strings:
                data = self.w3.eth.call(
                    {
                        "to": query.contract.address,
                        "data": HexBytes(
                            query.contract.encode_abi(query.function, list(query.args))
                        ),
                    },
                    block_identifier=self.block,
                )
                raw = self._decode(query, bytes(data))
            else:
                function = query.contract.functions[query.function](*query.args)
                raw = function.call(block_identifier=self.block)
        except _REVERTED:
            if query.reverted is _RAISE:
                raise
            value = query.reverted
        else:
            value = query.convert(raw)
        self._cache[query.key] = value
        return value

    def prefetch(
        self,
        *,
        roots: Iterable[bytes] = (),
        state_roots: Iterable[bytes] = (),
        transition_roots: Iterable[bytes] = (),
        keys: Iterable[bytes] = (),
        statuses: Iterable[tuple[int, int]] = (),
        participants: Iterable[int] = (),
        batches: Iterable[bytes] = (),
        licences: Iterable[tuple[PrefixKind, str]] = (),
        licences_at: Iterable[tuple[PrefixKind, str, int]] = (),
    ) -> None:
        """Answer many questions at once (in ReadMany batches) and remember the answers
        (an anchor-only window's roots: its commitment; its log is read when asked for)."""
        state_roots, transition_roots = tuple(state_roots), tuple(transition_roots)
        queries = [
            *(self._anchor_query(r) for r in roots),
            *(self._state_root_query(r) for r in state_roots),
            *(self._commitment_query(r) for r in (*state_roots, *transition_roots)),
            *(self._key_query(k) for k in keys),
            *(self._status_query(p, b) for p, b in statuses),
            *(self._participant_query(p) for p in participants),
            *(self._batch_query(b) for b in batches),
            *(self._licence_query(kind, prefix) for kind, prefix in licences),
            *(self._licence_at_query(kind, prefix, block) for kind, prefix, block in licences_at),
        ]
        self._ask(queries)

    def licence(self, kind: PrefixKind, prefix: str) -> Licence:
        """The latest licence of ``prefix`` (holder 0 when it was never licensed)."""
        return self._get(self._licence_query(kind, prefix))  # type: ignore[no-any-return]

    def licence_at(self, kind: PrefixKind, prefix: str, block: int) -> Licence:
        """The licence of ``prefix`` valid at ``block`` (holder 0 when none was), as it
        stands now: a later revocation shows in its ``valid_until`` and ``held``."""
        return self._get(self._licence_at_query(kind, prefix, block))  # type: ignore[no-any-return]

    def _ask(self, queries: Iterable[_Query]) -> None:
        """Answer ``queries`` not answered yet, in ReadMany batches where the endpoint can
        (on the embedded chain, batches' custody and prefixes' current licences come
        from storage: :meth:`_batches_stored`, :meth:`_licences_stored`)."""
        pending = list({q.key: q for q in queries if q.key not in self._cache}.values())
        if self.storage:
            self._from_storage([q for q in pending if q.key[0] in _FROM_STORAGE])
            pending = [q for q in pending if q.key[0] not in _FROM_STORAGE]
        for start in range(0, len(pending), _CHUNK):
            chunk = pending[start : start + _CHUNK]
            if self.batched:
                try:
                    self._read_many(chunk)
                    continue
                except Exception:
                    # An endpoint that does not run a call without 'to' (some gateways
                    # and providers refuse it): the same answers, one call each.
                    self.batched = False
            for query in chunk:
                self._get(query)

    def _from_storage(self, queries: list[_Query]) -> None:
        """Answer ``queries`` (kinds of :data:`_FROM_STORAGE`) from the registries' storage
        at this reader's block: one request a contract, however many questions."""
        wanted: dict[str, list[tuple[_Query, list[int]]]] = {}
        for query in queries:
            wanted.setdefault(_FROM_STORAGE[query.key[0]], []).append((query, _slots(query)))
        for registry, asked in wanted.items():
            values = iter(
                self._stored(
                    getattr(self.contracts, registry), [s for _, slots in asked for s in slots]
                )
            )
            for query, slots in asked:
                self._cache[query.key] = _decode_stored(query.key[0], [next(values) for _ in slots])

    def _stored(self, address: ChecksumAddress, slots: list[int]) -> list[int]:
        """The values of ``slots`` of ``address`` at this reader's block, in one request
        (the embedded chain's :data:`STORAGE_MANY`)."""
        self.calls += 1
        # Through the manager, so through the middleware that serialises the embedded
        # chain's requests (node.chain.embedded.serialize_requests).
        answer = self.w3.manager.request_blocking(
            RPCEndpoint(STORAGE_MANY), [address, [hex(slot) for slot in slots], self.block]
        )
        return [int(value, 16) for value in answer]

    def _read_many(self, queries: list[_Query]) -> None:
        reader = load("ReadMany")
        targets = [q.contract.address for q in queries]
        calldata = [
            bytes(HexBytes(q.contract.encode_abi(q.function, args=list(q.args)))) for q in queries
        ]
        arguments = self.w3.codec.encode(["address[]", "bytes[]"], [targets, calldata])
        self.calls += 1
        returned = self.w3.eth.call(
            {"data": HexBytes(reader.bytecode + arguments.hex())}, block_identifier=self.block
        )
        ok, results = self.w3.codec.decode(["bool[]", "bytes[]"], returned)
        for query, succeeded, data in zip(queries, ok, results, strict=True):
            if not succeeded:
                if query.reverted is _RAISE:
                    self._get(query)  # ask again on its own, to raise the real error
                    continue
                self._cache[query.key] = query.reverted
                continue
            self._cache[query.key] = query.convert(self._decode(query, data))

    def _decode(self, query: _Query, data: bytes) -> Any:
        """``query``'s returned ``data`` decoded by its function's outputs (one output as
        itself, several as a tuple)."""
        function = query.contract.get_function_by_name(query.function)
        types = [_abi_type(output) for output in function.abi["outputs"]]
        if query.raw_strings:
            types = [raw_strings(t) for t in types]
        decoded = self.w3.codec.decode(types, data)
        return decoded[0] if len(types) == 1 else decoded

    # ----- the questions -----

    def _licence_query(self, kind: PrefixKind, prefix: str) -> _Query:
        return _Query(
            ("licence", int(kind), prefix),
            self.participants,
            "currentLicence",
            (prefix_key(kind, prefix),),
            Licence.from_abi,
            _RAISE,
        )

    def _licence_at_query(self, kind: PrefixKind, prefix: str, block: int) -> _Query:
        return _Query(
            ("licence_at", int(kind), prefix, block),
            self.participants,
            "licenceAt",
            (int(kind), prefix, block),
            Licence.from_abi,
            _RAISE,
        )

    def _anchor_query(self, root: bytes) -> _Query:
        return _Query(
            ("anchor", root),
            self.anchors,
            "anchorOf",
            (root,),
            lambda r: AnchorInfo(int(r[0]), int(r[1]), int(r[2]), int(r[3])),
            None,  # AnchorRegistryUnknownRoot
        )

    def _state_root_query(self, root: bytes) -> _Query:
        return _Query(
            ("state_root", root),
            self.anchors,
            "stateRootOf",
            (root,),
            bytes,
            bytes(32),  # an AnchorRegistry from before state roots: none
        )

    def _commitment_query(self, root: bytes) -> _Query:
        return _Query(
            ("commitment", root),
            self.anchors,
            "windowCommitmentOf",
            (root,),
            bytes,
            bytes(32),  # an AnchorRegistry from before the window commitment: none
        )

    def _key_query(self, key: bytes) -> _Query:
        return _Query(
            ("key", key),
            self.participants,
            "keyRecord",
            (Web3.to_checksum_address(key),),
            lambda r: KeyInfo(int(r[0]), int(r[1]), int(r[2])),
            _RAISE,
        )

    def _status_query(self, participant_id: int, block: int) -> _Query:
        return _Query(
            ("status", participant_id, block),
            self.participants,
            "statusAt",
            (participant_id, block),
            lambda r: (Role(r[0]), bool(r[1])),
            _RAISE,
        )

    def _participant_query(self, participant_id: int) -> _Query:
        return _Query(
            ("participant", participant_id),
            self.participants,
            "participant",
            (participant_id,),
            lambda r: ParticipantInfo(
                int(r[0]),
                bytes(HexBytes(r[1])),
                Role(r[2]),
                bool(r[3]),
                chain_text(r[4]),
                chain_text(r[5]),
            ),
            None,  # unknown participant
            raw_strings=True,  # a name is whatever bytes its registrar sent
        )

    def _batch_query(self, batch_id: bytes) -> _Query:
        return _Query(
            ("batch", batch_id),
            self.batches,
            "batch",
            (batch_id,),
            lambda r: ChainBatch(int(r[0]), int(r[1]), int(r[2]), BatchStatus(r[3]), bytes(r[4])),
            _RAISE,
        )

    def registries_answer(self) -> tuple[bool, bool]:
        """Whether the contract at ``participant_registry`` answers as a ParticipantRegistry
        (``keyRecord``) and the one at ``anchor_registry`` as an AnchorRegistry
        (``nextSequence``): neither has the other's functions, so two registries named the
        wrong way round are told apart before anything else is asked of them."""
        nobody = Web3.to_checksum_address(bytes(20))
        probes = [
            _Query(
                ("answers", "participants"),
                self.participants,
                "keyRecord",
                (nobody,),
                lambda _: True,
                False,
            ),
            _Query(
                ("answers", "anchors"),
                self.anchors,
                "nextSequence",
                (nobody,),
                lambda _: True,
                False,
            ),
        ]
        self._ask(probes)
        return bool(self._cache[probes[0].key]), bool(self._cache[probes[1].key])

    def chain_id(self) -> int:
        return int(self._cached(("chain_id",), lambda: self.w3.eth.chain_id))

    def head(self) -> int:
        """The block this reader reads at."""
        return self.block

    def code(self, address: ChecksumAddress) -> bytes:
        """The runtime code at ``address`` (empty: no contract)."""
        result: bytes = self._cached(
            ("code", address),
            lambda: bytes(self.w3.eth.get_code(address, block_identifier=self.block)),
        )
        return result

    def has_code(self, address: ChecksumAddress) -> bool:
        return bool(self.code(address))

    def anchor(self, root: bytes) -> AnchorInfo | None:
        """When and for which sequence numbers ``root`` was anchored; None if never."""
        result: AnchorInfo | None = self._get(self._anchor_query(root))
        return result

    def state_root(self, root: bytes) -> bytes:
        """The state root anchored for the window ``root`` (32 zero bytes: none): by
        ``anchorState`` for an enforced window, in its commitment for an anchor-only one
        (:meth:`window_roots`)."""
        result: bytes = self._get(self._state_root_query(root))
        if any(result):
            return result
        roots = self.window_roots(root)
        return roots[0] if roots is not None else result

    def transition_root(self, root: bytes) -> bytes:
        """The transition root anchored for the window ``root`` (32 zero bytes: an
        enforced window; non-zero: an anchor-only one, node.proofs.transitions)."""
        roots = self.window_roots(root)
        return roots[1] if roots is not None else bytes(32)

    def commitment(self, root: bytes) -> bytes:
        """AnchorRegistry's ``windowCommitmentOf(root)``: an anchor-only window's
        commitment to its state and transition roots (32 zero bytes: any other window)."""
        result: bytes = self._get(self._commitment_query(root))
        return result

    def window_roots(self, root: bytes) -> tuple[bytes, bytes] | None:
        """The (state root, transition root) of the anchor-only window ``root``; None for
        any other window. The chain keeps only their commitment (:meth:`commitment`): the
        roots are read from the window's ``WindowAnchored`` log, in its anchor block, and
        taken only when they hash to it (ChainError when no log there does: an endpoint
        that lost or withholds the log)."""
        key = ("window_roots", root)
        if key in self._cache:
            known: tuple[bytes, bytes] = self._cache[key]
            return known
        commitment = self.commitment(root)
        if not any(commitment):
            return None
        anchored = self.anchor(root)
        if anchored is None:
            raise ChainError(f"window 0x{root.hex()} has a commitment but no anchor")
        self.calls += 1
        logs = self.w3.eth.get_logs(
            {
                "address": self.contracts.anchor_registry,
                # Hex strings: eth-tester (the embedded chain) matches no HexBytes topic.
                "topics": ["0x" + WINDOW_ANCHORED.hex(), "0x" + root.hex()],
                "fromBlock": anchored.block_number,
                "toBlock": anchored.block_number,
            }
        )
        roots = committed_roots(logs, self.contracts.anchor_registry, root, commitment)
        if roots is None:
            raise ChainError(
                f"window 0x{root.hex()}: no WindowAnchored log in block "
                f"{anchored.block_number} carries roots that hash to its commitment "
                f"0x{commitment.hex()}"
            )
        self._cache[key] = roots
        return roots

    def fraud(self, root: bytes) -> int | None:
        """How CustodyChallenge marked the window ``root`` (its FraudKind: 0, not marked);
        None when this reader knows no CustodyChallenge."""
        if self.challenge is None:
            return None
        result: int = self._get(
            _Query(("fraud", root), self.challenge, "fraudOf", (root,), lambda r: int(r[0]), 0)
        )
        return result

    def next_sequence(self, node: bytes) -> int:
        """AnchorRegistry's ``nextSequence(node)``: the first sequence number of the node's
        next window."""
        result: int = self._get(
            _Query(
                ("next_sequence", node),
                self.anchors,
                "nextSequence",
                (Web3.to_checksum_address(node),),
                int,
                _RAISE,
            )
        )
        return result

    def key(self, key: bytes) -> KeyInfo:
        known = self._cache.get(("key", key))  # asked per event: skip building the query
        result: KeyInfo = known if known is not None else self._get(self._key_query(key))
        return result

    def status_at(self, participant_id: int, block: int) -> tuple[Role, bool]:
        """The participant's roles and whether it was active, at the end of ``block``."""
        result: tuple[Role, bool] = self._get(self._status_query(participant_id, block))
        return result

    def participant(self, participant_id: int) -> ParticipantInfo | None:
        """The participant; a carried-over answer's roles, status and key may be old
        (only its name is lasting): ask :meth:`status_at` and :meth:`key` for those."""
        result: ParticipantInfo | None = self._get(self._participant_query(participant_id))
        return result

    def batch(self, batch_id: bytes) -> ChainBatch:
        result: ChainBatch = self._get(self._batch_query(batch_id))
        return result

    def registrar_of(self, participant_id: int) -> ChecksumAddress:
        """The registrar that registered the participant (a node's operator, or the root):
        which node's participant it is (ParticipantRegistry ``registrarOf``)."""
        result: ChecksumAddress = self._get(
            _Query(
                ("registrar", participant_id),
                self.participants,
                "registrarOf",
                (participant_id,),
                Web3.to_checksum_address,
                _RAISE,
            )
        )
        return result

    def block_times(self, numbers: Iterable[int]) -> dict[int, int]:
        """The timestamp (Unix seconds) of each of the blocks ``numbers``: one header read
        per distinct block this reader (or the one it carried answers from) has not read
        yet, however many events were anchored in it. Blocks above :meth:`head` are left
        out: this reader does not see them."""
        wanted = {int(n) for n in numbers if 0 <= int(n) <= self.block}
        for number in sorted(wanted):
            key = ("block_time", number)
            if key not in self._cache:
                self.blocks_read += 1
                self._cache[key] = int(self.w3.eth.get_block(number)["timestamp"])
        return {number: int(self._cache[("block_time", number)]) for number in wanted}

    def commit_outcome(self, tx_hash: bytes) -> CommitOutcome | None:
        """What the commit ``tx_hash`` accepted and rejected, and the roots it anchored;
        None if no such transaction."""

        def fetch() -> CommitOutcome | None:
            try:
                receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
            block = int(receipt["blockNumber"])
            roots = anchored_roots(receipt["logs"], self.contracts.anchor_registry)
            if receipt["to"] is None or Web3.to_checksum_address(receipt["to"]) != (
                self.contracts.batch_registry
            ):
                return CommitOutcome(block, False, frozenset(), {}, roots)
            accepted, rejected = relayed_outcomes(receipt["logs"], self.batches.address)
            return CommitOutcome(block, receipt["status"] == 1, accepted, rejected, roots)

        result: CommitOutcome | None = self._cached(("commit", tx_hash), fetch)
        return result


def _abi_type(output: dict[str, Any]) -> str:
    """The ABI type string of a function output, tuples (structs) spelled out."""
    kind = str(output["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in output["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _mapping_slot(key: bytes, slot: int) -> int:
    """Where a ``mapping(bytes32 => ...)`` (or ``mapping(address => ...)``, ``key`` the
    address's 20 bytes) at ``slot`` keeps ``key``'s value (its first slot)."""
    return int.from_bytes(keccak(bytes(key).rjust(32, b"\0") + slot.to_bytes(32, "big")))


def _slots(query: _Query) -> list[int]:
    """The storage slots that answer ``query`` (a kind of :data:`_FROM_STORAGE`).

    The layouts are ``forge inspect <contract> storage-layout``'s, and
    tests/node/chain/test_reader.py holds every answer read this way to the contract's
    own view, in every state the record can be in, at the head and at earlier blocks.
    """
    kind, subject = query.key[0], query.key[1]
    if kind == "batch":  # _batches: the packed custody record, then the head
        first = _mapping_slot(subject, BATCHES_SLOT)
        return [first, first + 1]
    if kind == "licence":  # _currentLicences, by prefix key (the call's argument)
        return [_mapping_slot(query.args[0], LICENCES_SLOT)]
    if kind == "key":  # _keys, by address
        return [_mapping_slot(subject, KEYS_SLOT)]
    slot = {  # one slot a key; a kind not named here is a KeyError, never another's slot
        "anchor": ANCHORS_SLOT,
        "state_root": STATE_ROOTS_SLOT,
        "commitment": COMMITMENTS_SLOT,
        "next_sequence": LAST_SEQUENCE_SLOT,  # _lastSequence, by node address
    }[kind]
    return [_mapping_slot(subject, slot)]


def _decode_stored(kind: str, values: list[int]) -> Any:
    """The answer the contract's view gives, from the values of :func:`_slots`."""
    packed = values[0]
    if kind == "batch":
        # producer, custodian, receiver (uint32 each) and status (uint8) from the
        # low-order end; the next slot holds the head.
        return ChainBatch(
            packed & 0xFFFFFFFF,
            (packed >> 32) & 0xFFFFFFFF,
            (packed >> 64) & 0xFFFFFFFF,
            BatchStatus((packed >> 96) & 0xFF),
            values[1].to_bytes(32, "big"),
        )
    if kind == "licence":  # holder (uint32), validFrom, validUntil (uint48 each), held
        return Licence(
            packed & 0xFFFFFFFF,
            (packed >> 32) & 0xFFFFFFFFFFFF,
            (packed >> 80) & 0xFFFFFFFFFFFF,
            (packed >> 128) & 0xFF != 0,
        )
    if kind == "key":  # participantId (uint32), validFrom, validUntil (uint48 each)
        return KeyInfo(
            packed & 0xFFFFFFFF, (packed >> 32) & 0xFFFFFFFFFFFF, (packed >> 80) & 0xFFFFFFFFFFFF
        )
    if kind == "anchor":
        # firstSeq (uint64), eventCount (uint32), blockNumber (uint48), timestamp
        # (uint40), windowNode (uint32); anchorOf reverts (None here) while eventCount is 0.
        count = (packed >> 64) & 0xFFFFFFFF
        if count == 0:
            return None
        return AnchorInfo(
            packed & 0xFFFFFFFFFFFFFFFF,
            count,
            (packed >> 96) & 0xFFFFFFFFFFFF,
            (packed >> 144) & 0xFFFFFFFFFF,
        )
    if kind == "next_sequence":  # the node's last sequence number (uint64), plus one
        return (packed + 1) & 0xFFFFFFFFFFFFFFFF  # nextSequence wraps as it does
    if kind in ("state_root", "commitment"):
        return packed.to_bytes(32, "big")
    raise KeyError(f"no stored answer to {kind!r} questions")
