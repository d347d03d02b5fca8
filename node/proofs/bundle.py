"""The proof bundle: a self-contained JSON document that proves a batch's provenance.

It holds everything a verifier needs besides the chain itself: the batch and its
ancestors, the lineage links between them, and every event that names them — each with
its EIP-712 fields, the signer's signature, the original payload (whose RFC 8785 form
hashes to ``payloadHash``) and, once anchored, the Merkle proof, root, commit transaction
and block — plus the chain id and the registries' addresses. Every field is checked by
:mod:`node.proofs.verify`, against the chain or against other checked fields: a field no
verifier could check (the export time, the window sequence number) is not in the format.
docs/proofs.md describes it field by field; ``bundle.schema.json`` beside this module is
its JSON Schema.

Pure: parsing and writing only; :mod:`node.proofs.verify` checks a bundle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Final

from eth_utils.address import to_checksum_address
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from node.events.identifiers import parse_identifier
from node.events.jsonsafe import loads_bounded
from node.events.payload import MAX_PAYLOAD_DEPTH, canonical_json, load_canonical
from node.events.submission import parse_event, parse_hex, parse_uint
from node.events.typed_data import BatchStatus, Domain, TraceEvent
from node.exceptions import InvalidBundleError, RequestError, TraceNodeError
from node.proofs.state import StateLeaf
from node.proofs.transitions import Transition

FORMAT: Final = "tracenode-bundle/2"
#: Earlier formats, refused with the reason.
RETIRED: Final = {
    "tracenode-bundle/1": "it carried fields no verifier could check (anchor.seq, exportedAt, "
    "exportedBy): export the bundle again",
}
#: A bundle larger than this is refused before parsing (a provenance of ~20,000 events).
MAX_BUNDLE_BYTES: Final = 64 * 1024 * 1024
#: Deepest JSON nesting accepted: the bundle's own structure plus payloads' own limit.
MAX_BUNDLE_DEPTH: Final = 8 + MAX_PAYLOAD_DEPTH


@dataclass(frozen=True, slots=True)
class ChainRef:
    chain_id: int
    participant_registry: str  # checksummed addresses
    batch_registry: str
    anchor_registry: str

    @property
    def domain(self) -> Domain:
        return Domain(self.chain_id, bytes.fromhex(self.batch_registry[2:]))


@dataclass(frozen=True, slots=True)
class AnchorRef:
    root: bytes
    proof: tuple[bytes, ...]
    tx_hash: bytes  # the transaction that anchored root
    block_number: int


@dataclass(frozen=True, slots=True)
class TransitionRef:
    """A transition leaf of an anchor-only window (its ``eventHash``: the event's own),
    with its proof to the window's transition root."""

    transition: Transition
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class BundleEvent:
    event_hash: bytes  # as stated; the verifier recomputes it
    event: TraceEvent
    signature: bytes
    payload: bytes | None = None  # canonical JSON, None when withheld
    anchor: AnchorRef | None = None
    #: An event of an anchor-only window: what it did to each batch it names.
    transitions: tuple[TransitionRef, ...] = ()


@dataclass(frozen=True, slots=True)
class StateRef:
    """A batch's state leaf in a window's state tree, and where that tree is anchored."""

    root: bytes  # the window's event root
    state_root: bytes
    proof: tuple[bytes, ...]
    leaf: StateLeaf
    block_number: int  # the block AnchorRegistry records for root


@dataclass(frozen=True, slots=True)
class BundleBatch:
    batch_id: bytes
    identifier: str | None = None
    state: StateRef | None = None


@dataclass(frozen=True, slots=True)
class LineageLink:
    parent: bytes
    child: bytes
    event_hash: bytes


@dataclass(frozen=True, slots=True)
class Bundle:
    subject: bytes
    chain: ChainRef
    batches: tuple[BundleBatch, ...]
    lineage: tuple[LineageLink, ...]
    events: tuple[BundleEvent, ...]

    # ----- writing -----

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "subject": _hex(self.subject),
            "chain": {
                "chainId": str(self.chain.chain_id),
                "participantRegistry": self.chain.participant_registry,
                "batchRegistry": self.chain.batch_registry,
                "anchorRegistry": self.chain.anchor_registry,
            },
            "batches": [_batch_json(b) for b in self.batches],
            "lineage": [
                {
                    "parent": _hex(link.parent),
                    "child": _hex(link.child),
                    "eventHash": _hex(link.event_hash),
                }
                for link in self.lineage
            ],
            "events": [_event_json(e) for e in self.events],
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n"

    @property
    def file_name(self) -> str:
        """A safe file name for the bundle: its subject's lot (or batch id) + .bundle.json."""
        name = (self.batches[0].identifier or "0x" + self.subject.hex()).rsplit("/", 1)[-1]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100]
        return safe + ".bundle.json"


def _batch_json(item: BundleBatch) -> dict[str, Any]:
    out: dict[str, Any] = {"batchId": _hex(item.batch_id), "identifier": item.identifier}
    state = item.state
    if state is not None:
        out["state"] = {
            "root": _hex(state.root),
            "stateRoot": _hex(state.state_root),
            "proof": [_hex(p) for p in state.proof],
            **_state_json(state.leaf),
            "blockNumber": str(state.block_number),
        }
    return out


def _event_json(item: BundleEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "eventHash": _hex(item.event_hash),
        "event": item.event.message(),
        "signature": _hex(item.signature),
    }
    if item.payload is not None:
        out["payload"] = load_canonical(item.payload)
    if item.anchor is not None:
        out["anchor"] = {
            "root": _hex(item.anchor.root),
            "proof": [_hex(p) for p in item.anchor.proof],
            "txHash": _hex(item.anchor.tx_hash),
            "blockNumber": str(item.anchor.block_number),
        }
    if item.transitions:
        out["transitions"] = [
            {
                "seq": str(t.transition.seq),
                "signerId": str(t.transition.signer_id),
                "batchId": _hex(t.transition.batch_id),
                "pre": _state_json(t.transition.pre),
                "post": _state_json(t.transition.post),
                "proof": [_hex(p) for p in t.proof],
            }
            for t in item.transitions
        ]
    return out


def _state_json(leaf: StateLeaf) -> dict[str, Any]:
    return {
        "head": _hex(leaf.head),
        "custodian": str(leaf.custodian),
        "status": int(leaf.status),
        "count": str(leaf.count),
    }


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


# ----- reading -----


@cache
def schema() -> dict[str, Any]:
    """The bundle's JSON Schema (draft 2020-12)."""
    text = files("node.proofs").joinpath("bundle.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def loads(text: str | bytes) -> Bundle:
    """Parse a bundle document: JSON, then its schema, then every field strictly."""
    if len(text) > MAX_BUNDLE_BYTES:
        raise InvalidBundleError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        document = loads_bounded(text, max_depth=MAX_BUNDLE_DEPTH)
    except RequestError as exc:
        raise InvalidBundleError(f"the bundle is not acceptable JSON: {exc}") from None
    return parse_bundle(document)


def parse_bundle(document: Any) -> Bundle:
    """A :class:`Bundle` from its JSON document; :class:`InvalidBundleError` names the
    first field that is wrong."""
    old = document.get("format") if isinstance(document, Mapping) else None
    if isinstance(old, str) and old in RETIRED:
        raise InvalidBundleError(f"/format: {old} is retired: {RETIRED[old]}", field="/format")
    error = best_match(Draft202012Validator(schema()).iter_errors(document))
    if error is not None:
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        raise InvalidBundleError(f"{where}: {error.message}", field=where)
    try:
        chain = document["chain"]
        ref = ChainRef(
            chain_id=parse_uint(chain["chainId"], 256, "/chain/chainId"),
            participant_registry=_address(chain["participantRegistry"]),
            batch_registry=_address(chain["batchRegistry"]),
            anchor_registry=_address(chain["anchorRegistry"]),
        )
        batches = tuple(_batch(b, i) for i, b in enumerate(document["batches"]))
        lineage = tuple(
            LineageLink(
                parse_hex(link["parent"], 32, f"/lineage/{i}/parent"),
                parse_hex(link["child"], 32, f"/lineage/{i}/child"),
                parse_hex(link["eventHash"], 32, f"/lineage/{i}/eventHash"),
            )
            for i, link in enumerate(document["lineage"])
        )
        events = tuple(_event(e, i) for i, e in enumerate(document["events"]))
        subject = parse_hex(document["subject"], 32, "/subject")
    except InvalidBundleError:
        raise
    except TraceNodeError as exc:
        pointer = (getattr(exc, "details", None) or {}).get("field")
        raise InvalidBundleError(str(exc), field=pointer) from None
    return Bundle(
        subject=subject,
        chain=ref,
        batches=batches,
        lineage=lineage,
        events=events,
    )


def _address(text: str) -> str:
    return str(to_checksum_address(text))


def _batch(item: Mapping[str, Any], index: int) -> BundleBatch:
    batch_id = parse_hex(item["batchId"], 32, f"/batches/{index}/batchId")
    identifier = item.get("identifier")
    if identifier is not None:
        parsed = parse_identifier(identifier)
        if parsed.batch_id != batch_id:
            raise InvalidBundleError(
                f"identifier {identifier!r} does not name batch 0x{batch_id.hex()}",
                field=f"/batches/{index}/identifier",
            )
    state = None
    if "state" in item:
        where = f"/batches/{index}/state"
        st = item["state"]
        state = StateRef(
            root=parse_hex(st["root"], 32, f"{where}/root"),
            state_root=parse_hex(st["stateRoot"], 32, f"{where}/stateRoot"),
            proof=tuple(parse_hex(p, 32, f"{where}/proof/{k}") for k, p in enumerate(st["proof"])),
            leaf=_state(st, batch_id, where),
            block_number=parse_uint(st["blockNumber"], 64, f"{where}/blockNumber"),
        )
    return BundleBatch(batch_id, identifier, state)


def _event(item: Mapping[str, Any], index: int) -> BundleEvent:
    where = f"/events/{index}"
    message = item["event"]
    try:
        # The schema holds action to a JSON integer, which JSON does not tell from 1.0
        # (nor can a browser's verifier): the event parser, shared with submissions, takes
        # a Python int.
        event = parse_event({**message, "action": int(message["action"])})
        payload = canonical_json(item["payload"]) if "payload" in item else None
    except TraceNodeError as exc:
        inner = (getattr(exc, "details", None) or {}).get("field", "")
        pointer = f"{where}/event/{inner}" if inner else where
        raise InvalidBundleError(f"{pointer}: {exc}", field=pointer) from None
    anchor = None
    if "anchor" in item:
        a = item["anchor"]
        anchor = AnchorRef(
            root=parse_hex(a["root"], 32, f"{where}/anchor/root"),
            proof=tuple(
                parse_hex(p, 32, f"{where}/anchor/proof/{k}") for k, p in enumerate(a["proof"])
            ),
            tx_hash=parse_hex(a["txHash"], 32, f"{where}/anchor/txHash"),
            block_number=parse_uint(a["blockNumber"], 64, f"{where}/anchor/blockNumber"),
        )
    event_hash = parse_hex(item["eventHash"], 32, f"{where}/eventHash")
    return BundleEvent(
        event_hash=event_hash,
        event=event,
        signature=parse_hex(item["signature"], 65, f"{where}/signature"),
        payload=payload,
        anchor=anchor,
        transitions=tuple(
            _transition(t, event_hash, f"{where}/transitions/{k}")
            for k, t in enumerate(item.get("transitions", ()))
        ),
    )


def _transition(item: Mapping[str, Any], event_hash: bytes, where: str) -> TransitionRef:
    batch_id = parse_hex(item["batchId"], 32, f"{where}/batchId")
    return TransitionRef(
        Transition(
            event_hash=event_hash,
            seq=parse_uint(item["seq"], 64, f"{where}/seq"),
            signer_id=parse_uint(item["signerId"], 32, f"{where}/signerId"),
            pre=_state(item["pre"], batch_id, f"{where}/pre"),
            post=_state(item["post"], batch_id, f"{where}/post"),
        ),
        tuple(parse_hex(p, 32, f"{where}/proof/{k}") for k, p in enumerate(item["proof"])),
    )


def _state(item: Mapping[str, Any], batch_id: bytes, where: str) -> StateLeaf:
    return StateLeaf(
        batch_id=batch_id,
        head=parse_hex(item["head"], 32, f"{where}/head"),
        custodian=parse_uint(item["custodian"], 256, f"{where}/custodian"),
        status=BatchStatus(item["status"]),
        count=parse_uint(item["count"], 256, f"{where}/count"),
    )
