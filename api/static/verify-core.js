// TraceNode's proof-bundle verifier, in the browser (and under Node, for tests).
//
// The same checks as `tracenode verify` (node/proofs/verify.py, the reference), against any
// EVM JSON-RPC endpoint, with nothing from the node that served the page but the files:
//
//   chain             the RPC serves the bundle's chain id; there is code at the three
//                     registries; ParticipantRegistry and AnchorRegistry answer as what they
//                     are named; the BatchRegistry was built with those two (their addresses
//                     are PUSH32 immutables in its runtime code)
//   event-hash        the EIP-712 digest of the fields (domain: the bundle's chain id and
//                     BatchRegistry) equals the stated eventHash
//   signature         the signature recovers to a key (low-s, v 27/28: the contract's rules)
//   payload           keccak256 of the payload's RFC 8785 form is payloadHash
//   merkle-proof      the proof leads from the event's leaf to the stated root
//                     (OpenZeppelin StandardMerkleTree: leaf = keccak256(keccak256(hash)))
//   root-on-chain     AnchorRegistry.anchorOf(root) answers, in the stated block, and the
//                     stated transaction's receipt has AnchorRegistry's RootAnchored(root)
//   accepted-on-chain (lifecycle actions) that receipt has BatchRegistry's EventAccepted; in
//                     an anchor-only window (windowCommitmentOf(root) non-zero) the custody
//                     rules replayed from the bundle accept it (applyRules, below), its
//                     anchored transitions are the bundle's, and CustodyChallenge.fraudOf(root)
//                     has not marked the window (when the page knows the CustodyChallenge)
//   signer            ParticipantRegistry: the key's record (participant, valid from/until)
//                     and the participant's roles and status at the root's block
//   hash-chain        each event names a batch of the bundle, and its batch's previous
//                     event in the bundle
//   identifier        keccak256(utf8(identifier)) is the batch id
//   licence           ParticipantRegistry.licenceAt(kind, prefix, block): the participant
//                     whose event created the batch held its identifier's prefix at the
//                     block that event was anchored in (the brand owner, named)
//   custody           BatchRegistry.batch(id): head, status and custodian are where the
//                     batch's events lead (anchor-only windows: where the replay leads)
//   lineage           the subject first, every batch its ancestor, every link backed by an
//                     event of the bundle, no input of a transformation nor lot of a pallet
//                     missing, each with its link
//   complete          AnchorRegistry.stateRootOf(root): the batch's state leaf (head,
//                     custodian, status, event count) is in its latest window's anchored
//                     state, and the bundle holds exactly those events (node/proofs/state.py)
//
// An anchor-only window's state and transition roots are not stored on-chain: AnchorRegistry
// keeps their commitment (windowCommitmentOf(root), windowCommitment below) and its
// WindowAnchored log carries them; the page reads that log (eth_getLogs, the window's
// anchor block) and takes the roots only when they hash to the commitment.
//
// Cryptography is noble's (audited, pinned in package.json, served by the node from
// api/static/vendor: scripts/vendor_js.mjs). ABI encoding is by hand, for a few fixed view
// calls and four event topics; their selectors are computed below with keccak256 from
// the signatures, and tests/web/test_verify_core.py compares them with the contracts' ABIs.

import { keccak_256 } from "./vendor/noble-hashes/sha3.js";
import { secp256k1 } from "./vendor/noble-curves/secp256k1.js";

export const FORMAT = "tracenode-bundle/2";
const RETIRED = {
  "tracenode-bundle/1":
    "it carried fields no verifier could check (anchor.seq, exportedAt, exportedBy): export the bundle again",
};
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
const MAX_LIST_ITEMS = 64;
const MAX_PROOF = 64;

// ----- bytes -----

const utf8 = new TextEncoder();
const HEX = /^0x[0-9a-fA-F]*$/;

export function hexToBytes(hex) {
  const digits = hex.slice(2);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.substr(2 * i, 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  let out = "0x";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function word(value) {
  // a uint as a 32-byte big-endian word
  let v = BigInt(value);
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function keccak(bytes) {
  return keccak_256(bytes);
}

export function keccakHex(bytes) {
  return bytesToHex(keccak_256(bytes));
}

const ZERO32 = "0x" + "0".repeat(64);

export function checksumAddress(hex) {
  const lower = hex.slice(2).toLowerCase();
  const hashed = keccakHex(utf8.encode(lower)).slice(2);
  let out = "0x";
  for (let i = 0; i < 40; i++) out += parseInt(hashed[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

// ----- the event model (node/events/typed_data.py) -----

export const ACTIONS = {
  1: "COMMISSION",
  2: "OBSERVE",
  3: "SHIP",
  4: "RECEIVE",
  5: "TRANSFORM",
  6: "AGGREGATE",
  7: "DISAGGREGATE",
  8: "RECALL",
  9: "DESTROY",
};
const ON_CHAIN = new Set([1, 3, 4, 5, 8, 9]); // executed by BatchRegistry; the rest are anchored only
const ROLES = { PRODUCER: 1, PROCESSOR: 2, LOGISTICS: 4, RETAILER: 8, AUDITOR: 16, REGULATOR: 32 };
const CUSTODY_ROLES = 1 | 2 | 4 | 8;
const REQUIRED_ROLES = { 1: 1, 3: CUSTODY_ROLES, 4: CUSTODY_ROLES, 9: CUSTODY_ROLES, 5: 1 | 2, 8: 63, 2: 63, 6: CUSTODY_ROLES, 7: CUSTODY_ROLES };
const STATUSES = ["NONE", "ACTIVE", "IN_TRANSIT", "CONSUMED", "RECALLED", "DESTROYED", "EXPORTED"];
const STATUS_AFTER = { 1: "ACTIVE", 3: "IN_TRANSIT", 4: "ACTIVE", 8: "RECALLED", 9: "DESTROYED" };

export const TRACE_EVENT_FIELDS = [
  ["action", "uint8"],
  ["batchId", "bytes32"],
  ["prevEventHash", "bytes32"],
  ["inputs", "bytes32[]"],
  ["inputPrevHashes", "bytes32[]"],
  ["outputs", "bytes32[]"],
  ["counterparty", "address"],
  ["product", "bytes32"],
  ["quantity", "uint256"],
  ["eventTime", "uint64"],
  ["location", "bytes32"],
  ["payloadHash", "bytes32"],
  ["nonce", "uint256"],
];
export const TRACE_EVENT_TYPE = `TraceEvent(${TRACE_EVENT_FIELDS.map(([k, t]) => `${t} ${k}`).join(",")})`;
const TRACE_EVENT_TYPEHASH = keccak(utf8.encode(TRACE_EVENT_TYPE));
const DOMAIN_TYPEHASH = keccak(
  utf8.encode("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
);
const NAME_HASH = keccak(utf8.encode("TraceNode"));
const VERSION_HASH = keccak(utf8.encode("1"));

/** The EIP-712 domain separator: TraceNode v1, the chain id, BatchRegistry. */
export function domainSeparator(chainId, verifyingContract) {
  return keccak(
    concat(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, word(chainId), new Uint8Array(12), hexToBytes(verifyingContract)),
  );
}

function listHash(items) {
  return keccak(concat(...items.map(hexToBytes)));
}

/** hashStruct(TraceEvent) for a parsed event (hex strings, BigInt uints). */
export function structHash(e) {
  return keccak(
    concat(
      TRACE_EVENT_TYPEHASH,
      word(e.action),
      hexToBytes(e.batchId),
      hexToBytes(e.prevEventHash),
      listHash(e.inputs),
      listHash(e.inputPrevHashes),
      listHash(e.outputs),
      new Uint8Array(12),
      hexToBytes(e.counterparty),
      hexToBytes(e.product),
      word(e.quantity),
      word(e.eventTime),
      hexToBytes(e.location),
      hexToBytes(e.payloadHash),
      word(e.nonce),
    ),
  );
}

/** The event hash: keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(event)), as 0x hex. */
export function eventDigest(event, separator) {
  return keccakHex(concat(new Uint8Array([0x19, 0x01]), separator, structHash(event)));
}

function batchIdsOf(e) {
  return [...new Set([e.batchId, ...e.inputs, ...e.outputs])].filter((b) => b !== ZERO32);
}

// ----- identifier prefixes (node/events/identifiers.py identifier_split) -----

const GS1_KEY_PREFIX = "https://id.gs1.org/01/";
const GS1_MIN_PREFIX = 4;
const GS1_MAX_PREFIX = 12;
const MAX_HANDLE_PREFIX = 64;
const GS1_CANONICAL = /^https:\/\/id\.gs1\.org\/01\/([0-9]{14})\//;
const HANDLE_CANONICAL = /^([0-9]+(?:\.[0-9]+)+)\//;
const BARE_BATCH_ID = /^0[xX][0-9a-fA-F]{64}$/;
export const PREFIX_KINDS = { GS1: 1, HANDLE: 2, OTHER: 3 };

/**
 * Where the prefix of a canonical identifier can sit, as identifier_split says:
 * {kind: "GS1" | "HANDLE" | "OTHER", candidates} (longest first), or null for a bare batch
 * id (it names no identifier). tests/web/test_verify_core.py holds it to the Python.
 */
export function identifierSplit(identifier) {
  if (BARE_BATCH_ID.test(identifier)) return null;
  const gs1 = GS1_CANONICAL.exec(identifier);
  if (gs1) {
    const candidates = [];
    for (let length = GS1_MAX_PREFIX; length >= GS1_MIN_PREFIX; length--) candidates.push(gs1[1].slice(1, 1 + length));
    return { kind: "GS1", candidates };
  }
  const handle = HANDLE_CANONICAL.exec(identifier);
  if (handle) {
    const groups = handle[1].split(".");
    const candidates = [];
    for (let count = groups.length; count > 0; count--) {
      const prefix = groups.slice(0, count).join(".");
      if (prefix.length <= MAX_HANDLE_PREFIX) candidates.push(prefix);
    }
    return { kind: "HANDLE", candidates };
  }
  return { kind: "OTHER", candidates: [] };
}

// ----- Merkle proofs (node/events/merkle.py: OpenZeppelin StandardMerkleTree) -----

export function leafHash(eventHash) {
  return keccak(keccak(hexToBytes(eventHash)));
}

function hashPair(a, b) {
  return keccak(compareBytes(a, b) < 0 ? concat(a, b) : concat(b, a));
}

/** A batch's state leaf, ABI-encoded (node/proofs/state.py StateLeaf.encoded). */
export function stateLeafEncoded(batchId, head, custodian, status, count) {
  return concat(hexToBytes(batchId), hexToBytes(head), word(custodian), word(status), word(count));
}

/** The root `proof` leads to from a state leaf (0x hex out). */
export function processStateProof(leaf, proof) {
  let node = keccak(keccak(stateLeafEncoded(leaf.batchId, leaf.head, leaf.custodian, leaf.status, leaf.count)));
  for (const sibling of proof) node = hashPair(node, hexToBytes(sibling));
  return bytesToHex(node);
}

/** A transition leaf of an anchor-only window, ABI-encoded (node/proofs/transitions.py). */
export function transitionLeafEncoded(eventHash, t) {
  return concat(
    hexToBytes(eventHash),
    word(t.seq),
    word(t.signerId),
    hexToBytes(t.batchId),
    ...[t.pre, t.post].flatMap((s) => [hexToBytes(s.head), word(s.custodian), word(s.status), word(s.count)]),
  );
}

/** The root `proof` leads to from a transition leaf (0x hex out). */
export function processTransitionProof(eventHash, t) {
  let node = keccak(keccak(transitionLeafEncoded(eventHash, t)));
  for (const sibling of t.proof) node = hashPair(node, hexToBytes(sibling));
  return bytesToHex(node);
}

/** An anchor-only window's commitment to its two roots, as AnchorRegistry.windowCommitment
 * and node/chain/logs.py window_commitment compute it: keccak256(abi.encode(stateRoot,
 * transitionRoot)) (0x hex in and out; tests/web hold the three to each other). */
export function windowCommitment(stateRoot, transitionRoot) {
  return keccakHex(concat(hexToBytes(stateRoot), hexToBytes(transitionRoot)));
}

/** The root `proof` leads to from the leaf of `eventHash` (0x hex in, 0x hex out). */
export function processProof(eventHash, proof) {
  let node = leafHash(eventHash);
  for (const sibling of proof) node = hashPair(node, hexToBytes(sibling));
  return bytesToHex(node);
}

// ----- signatures (node/events/signatures.py: OpenZeppelin ECDSA's rules) -----

const N = secp256k1.CURVE.n;
const HALF_N = N / 2n;

export class SignatureError extends Error {}

/** The address (0x, lowercase) that signed `digest` (0x hex), or a SignatureError. */
export function recoverSigner(digest, signature) {
  const sig = hexToBytes(signature);
  if (sig.length !== 65) throw new SignatureError(`a signature is 65 bytes, not ${sig.length}`);
  const v = sig[64];
  const recid = v >= 27 ? v - 27 : v;
  if (recid !== 0 && recid !== 1) throw new SignatureError(`signature v must be 27 or 28, not ${v}`);
  const r = BigInt(bytesToHex(sig.subarray(0, 32)));
  const s = BigInt(bytesToHex(sig.subarray(32, 64)));
  if (!(r > 0n && r < N)) throw new SignatureError("signature r is out of range");
  if (!(s > 0n && s <= HALF_N)) throw new SignatureError("signature s must be in the lower half of the curve order");
  let point;
  try {
    point = new secp256k1.Signature(r, s).addRecoveryBit(recid).recoverPublicKey(hexToBytes(digest).slice());
  } catch {
    throw new SignatureError("the signature does not recover to a public key");
  }
  const uncompressed = point.toRawBytes(false);
  return bytesToHex(keccak(uncompressed.subarray(1)).subarray(12));
}

// ----- RFC 8785 (JSON Canonicalization Scheme) -----

/** The RFC 8785 form of a JSON value: ECMAScript's own number and string serialisation,
 * object members sorted by UTF-16 code units, no whitespace. */
export function canonicalJson(value) {
  if (value === null || value === true || value === false) return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error("a number that is not finite has no JSON form");
    return JSON.stringify(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  throw new Error(`a ${typeof value} has no JSON form`);
}

export function payloadHash(payload) {
  return keccakHex(utf8.encode(canonicalJson(payload)));
}

// ----- reading a bundle (node/proofs/bundle.py and its JSON Schema) -----

export class BundleError extends Error {}

function fail(where, message) {
  throw new BundleError(`${where}: ${message}`);
}

function object(value, where, required, optional = []) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) fail(where, "must be an object");
  for (const key of required) if (!(key in value)) fail(where, `lacks ${key}`);
  const extra = Object.keys(value).filter((k) => !required.includes(k) && !optional.includes(k));
  if (extra.length) fail(where, `has unknown fields ${extra.sort().join(", ")}`);
  return value;
}

function hex(value, length, where) {
  if (typeof value !== "string" || !HEX.test(value) || value.length !== 2 + 2 * length) {
    fail(where, `must be ${length} bytes of 0x-prefixed hex`);
  }
  return value.toLowerCase();
}

// A uint256 or uint64 is a decimal string, never a JSON number (the bundle's schema, $defs/uint):
// a number beyond 2^53 has no exact JavaScript value, and 23.0 is not told from 23.
function uint(value, bits, where) {
  if (typeof value !== "string") fail(where, "must be a decimal string");
  if (!/^[0-9]{1,78}$/.test(value)) fail(where, "must be a decimal integer");
  const n = BigInt(value);
  if (n >= 1n << BigInt(bits)) fail(where, `must fit in uint${bits}`);
  return n;
}

// A small integer (an action, a status) is a JSON integer.
function integer(value, max, where) {
  if (!Number.isInteger(value) || value < 0 || value > max) fail(where, `must be an integer from 0 to ${max}`);
  return value;
}

function list(value, where, max) {
  if (!Array.isArray(value)) fail(where, "must be a list");
  if (value.length > max) fail(where, `has more than ${max} items`);
  return value;
}

export function parseEvent(value, where = "event") {
  object(value, where, TRACE_EVENT_FIELDS.map(([k]) => k));
  const action = integer(value.action, 255, `${where}/action`);
  if (!ACTIONS[action]) fail(`${where}/action`, `${action} is not a TraceNode action`);
  const hashes = (key) => list(value[key], `${where}/${key}`, MAX_LIST_ITEMS).map((h, i) => hex(h, 32, `${where}/${key}/${i}`));
  return {
    action,
    batchId: hex(value.batchId, 32, `${where}/batchId`),
    prevEventHash: hex(value.prevEventHash, 32, `${where}/prevEventHash`),
    inputs: hashes("inputs"),
    inputPrevHashes: hashes("inputPrevHashes"),
    outputs: hashes("outputs"),
    counterparty: hex(value.counterparty, 20, `${where}/counterparty`),
    product: hex(value.product, 32, `${where}/product`),
    quantity: uint(value.quantity, 256, `${where}/quantity`),
    eventTime: uint(value.eventTime, 63, `${where}/eventTime`),
    location: hex(value.location, 32, `${where}/location`),
    payloadHash: hex(value.payloadHash, 32, `${where}/payloadHash`),
    nonce: uint(value.nonce, 256, `${where}/nonce`),
  };
}

function parseState(value, batchId, where) {
  const s = object(value, where, ["root", "stateRoot", "proof", "head", "custodian", "status", "count", "blockNumber"]);
  integer(s.status, 6, `${where}/status`);
  return {
    root: hex(s.root, 32, `${where}/root`),
    stateRoot: hex(s.stateRoot, 32, `${where}/stateRoot`),
    proof: list(s.proof, `${where}/proof`, MAX_PROOF).map((p, k) => hex(p, 32, `${where}/proof/${k}`)),
    leaf: {
      batchId,
      head: hex(s.head, 32, `${where}/head`),
      custodian: uint(s.custodian, 256, `${where}/custodian`),
      status: s.status,
      count: uint(s.count, 256, `${where}/count`),
    },
    blockNumber: uint(s.blockNumber, 64, `${where}/blockNumber`),
  };
}

function parseLeafState(value, where) {
  const s = object(value, where, ["head", "custodian", "status", "count"]);
  integer(s.status, 6, `${where}/status`);
  return {
    head: hex(s.head, 32, `${where}/head`),
    custodian: uint(s.custodian, 256, `${where}/custodian`),
    status: s.status,
    count: uint(s.count, 256, `${where}/count`),
  };
}

function parseTransition(value, where) {
  const t = object(value, where, ["seq", "signerId", "batchId", "pre", "post", "proof"]);
  return {
    seq: uint(t.seq, 64, `${where}/seq`),
    signerId: uint(t.signerId, 32, `${where}/signerId`),
    batchId: hex(t.batchId, 32, `${where}/batchId`),
    pre: parseLeafState(t.pre, `${where}/pre`),
    post: parseLeafState(t.post, `${where}/post`),
    proof: list(t.proof, `${where}/proof`, MAX_PROOF).map((p, k) => hex(p, 32, `${where}/proof/${k}`)),
  };
}

/** A bundle from its parsed JSON document; a BundleError names the first wrong field. */
export function parseBundle(doc) {
  if (doc && typeof doc === "object" && typeof doc.format === "string" && RETIRED[doc.format]) {
    fail("/format", `${doc.format} is retired: ${RETIRED[doc.format]}`);
  }
  object(doc, "the bundle", ["format", "subject", "chain", "batches", "lineage", "events"]);
  if (doc.format !== FORMAT) fail("/format", `must be ${FORMAT}`);
  const chain = object(doc.chain, "/chain", ["chainId", "participantRegistry", "batchRegistry", "anchorRegistry"]);
  const batches = list(doc.batches, "/batches", 100000).map((b, i) => {
    object(b, `/batches/${i}`, ["batchId"], ["identifier", "state"]);
    const identifier = b.identifier ?? null;
    if (identifier !== null && (typeof identifier !== "string" || identifier.length > 512)) {
      fail(`/batches/${i}/identifier`, "must be a string of at most 512 characters, or null");
    }
    const batchId = hex(b.batchId, 32, `/batches/${i}/batchId`);
    return { batchId, identifier, state: "state" in b ? parseState(b.state, batchId, `/batches/${i}/state`) : null };
  });
  if (!batches.length) fail("/batches", "must name at least the subject");
  return {
    subject: hex(doc.subject, 32, "/subject"),
    chain: {
      chainId: uint(chain.chainId, 256, "/chain/chainId"),
      participantRegistry: hex(chain.participantRegistry, 20, "/chain/participantRegistry"),
      batchRegistry: hex(chain.batchRegistry, 20, "/chain/batchRegistry"),
      anchorRegistry: hex(chain.anchorRegistry, 20, "/chain/anchorRegistry"),
    },
    batches,
    lineage: list(doc.lineage, "/lineage", 1000000).map((l, i) => {
      object(l, `/lineage/${i}`, ["parent", "child", "eventHash"]);
      return {
        parent: hex(l.parent, 32, `/lineage/${i}/parent`),
        child: hex(l.child, 32, `/lineage/${i}/child`),
        eventHash: hex(l.eventHash, 32, `/lineage/${i}/eventHash`),
      };
    }),
    events: list(doc.events, "/events", 1000000).map((item, i) => {
      const where = `/events/${i}`;
      object(item, where, ["eventHash", "event", "signature"], ["payload", "anchor", "transitions"]);
      let anchor = null;
      if ("anchor" in item) {
        const a = object(item.anchor, `${where}/anchor`, ["root", "proof", "txHash", "blockNumber"]);
        anchor = {
          root: hex(a.root, 32, `${where}/anchor/root`),
          proof: list(a.proof, `${where}/anchor/proof`, MAX_PROOF).map((p, k) => hex(p, 32, `${where}/anchor/proof/${k}`)),
          txHash: hex(a.txHash, 32, `${where}/anchor/txHash`),
          blockNumber: uint(a.blockNumber, 64, `${where}/anchor/blockNumber`),
        };
      }
      return {
        eventHash: hex(item.eventHash, 32, `${where}/eventHash`),
        event: parseEvent(item.event, `${where}/event`),
        signature: hex(item.signature, 65, `${where}/signature`),
        hasPayload: "payload" in item,
        payload: item.payload,
        anchor,
        transitions: "transitions" in item ? list(item.transitions, `${where}/transitions`, 128).map((t, k) => parseTransition(t, `${where}/transitions/${k}`)) : [],
      };
    }),
  };
}

// ----- JSON-RPC -----

export class RpcError extends Error {}

class Reverted extends Error {}

/**
 * A JSON-RPC client: every HTTP request bounded by `timeoutMs` (AbortController); calls
 * sent in batches of `batchSize` where the endpoint answers batches, one by one where it
 * does not (some providers refuse them).
 */
export class Rpc {
  constructor(url, { timeoutMs = 15000, batchSize = 20, fetch: fetchImpl = globalThis.fetch } = {}) {
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.batchSize = batchSize;
    this.fetch = (...args) => fetchImpl.call(globalThis, ...args); // fetch needs its global as `this`
    this.batched = true;
    this.requests = 0; // HTTP requests made (tests read it)
    this.nextId = 1;
  }

  async post(body) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    this.requests += 1;
    let response;
    try {
      response = await this.fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal,
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
      });
      const text = await response.text();
      return { status: response.status, ok: response.ok, text };
    } catch (error) {
      if (controller.signal.aborted) {
        throw new RpcError(`${this.url} did not answer within ${this.timeoutMs / 1000} s`);
      }
      if (!(error instanceof TypeError)) throw error; // fetch's network failures are TypeErrors
      throw new RpcError(
        `could not reach ${this.url}: it is down, the address is wrong, or it does not accept requests from this page (CORS)`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Answers to `calls` ([method, params] pairs), in order: {result} or {error}. */
  async many(calls) {
    const answers = [];
    for (let start = 0; start < calls.length; start += this.batchSize) {
      const chunk = calls.slice(start, start + this.batchSize);
      answers.push(...(await this.chunk(chunk)));
    }
    return answers;
  }

  async chunk(calls) {
    if (this.batched && calls.length > 1) {
      const requests = calls.map(([method, params]) => ({ jsonrpc: "2.0", id: this.nextId++, method, params }));
      const reply = await this.post(requests);
      const parsed = reply.ok ? parseJson(reply.text) : undefined;
      if (Array.isArray(parsed)) {
        const byId = new Map(parsed.filter((a) => a && typeof a === "object").map((a) => [a.id, a]));
        if (requests.every((r) => byId.has(r.id))) return requests.map((r) => byId.get(r.id));
      }
      if (reply.status === 429) throw new RpcError(`${this.url} answered 429: too many requests, try again in a moment`);
      this.batched = false; // no batches here: one call per request from now on
    }
    const answers = [];
    for (const [method, params] of calls) {
      const reply = await this.post({ jsonrpc: "2.0", id: this.nextId++, method, params });
      if (!reply.ok) throw new RpcError(`${this.url} answered HTTP ${reply.status} to ${method}`);
      const parsed = parseJson(reply.text);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new RpcError(`${this.url} did not answer ${method} with JSON-RPC`);
      }
      answers.push(parsed);
    }
    return answers;
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function reverted(error) {
  return error && (error.code === 3 || /revert/i.test(String(error.message)));
}

function describeError(method, error) {
  const message = error && typeof error === "object" ? String(error.message).slice(0, 200) : String(error);
  return `${method}: the endpoint answered an error: ${message}`;
}

// ----- the contract calls (selectors from their signatures) -----

export const SIGNATURES = {
  keyRecord: "keyRecord(address)",
  statusAt: "statusAt(uint32,uint48)",
  participant: "participant(uint32)",
  anchorOf: "anchorOf(bytes32)",
  stateRootOf: "stateRootOf(bytes32)",
  windowCommitmentOf: "windowCommitmentOf(bytes32)",
  nextSequence: "nextSequence(address)",
  batch: "batch(bytes32)",
  licenceAt: "licenceAt(uint8,string,uint48)",
  registrarOf: "registrarOf(uint32)",
  fraudOf: "fraudOf(bytes32)", // CustodyChallenge's (the anchor-only mode)
  registries: "registries()",
};
export const SELECTORS = Object.fromEntries(
  Object.entries(SIGNATURES).map(([name, sig]) => [name, keccakHex(utf8.encode(sig)).slice(0, 10)]),
);
export const TOPICS = {
  EventAccepted: keccakHex(utf8.encode("EventAccepted(bytes32,address,uint32,uint256)")),
  EventRejected: keccakHex(utf8.encode("EventRejected(uint256,bytes32,bytes)")),
  RootAnchored: keccakHex(utf8.encode("RootAnchored(bytes32,address,uint64,uint32)")),
  WindowAnchored: keccakHex(utf8.encode("WindowAnchored(bytes32,address,bytes32,bytes32)")),
};

function callData(name, ...args) {
  // every argument of these calls is a static 32-byte word
  return SELECTORS[name] + args.map((a) => (typeof a === "string" ? a.slice(2).padStart(64, "0") : bytesToHex(word(a)).slice(2))).join("");
}

function licenceAtData(kind, prefix, block) {
  // (uint8 kind, string prefix, uint48 block): the string's offset, then its length and bytes
  const bytes = utf8.encode(prefix);
  const padded = new Uint8Array(Math.ceil(bytes.length / 32) * 32);
  padded.set(bytes);
  return SELECTORS.licenceAt + [word(kind), word(96), word(block), word(bytes.length), padded].map((w) => bytesToHex(w).slice(2)).join("");
}

function words(data, count, what) {
  if (typeof data !== "string" || !HEX.test(data) || data.length < 2 + 64 * count || data.length % 2) {
    throw new RpcError(`the endpoint's answer to ${what} is not ABI data`);
  }
  const out = [];
  for (let i = 0; i < (data.length - 2) / 64; i++) out.push(BigInt("0x" + data.slice(2 + 64 * i, 66 + 64 * i)));
  return out;
}

function decodeString(data, offset) {
  const bytes = hexToBytes(data);
  const length = Number(BigInt(bytesToHex(bytes.subarray(offset, offset + 32))));
  return new TextDecoder().decode(bytes.subarray(offset + 32, offset + 32 + Math.min(length, 1024)));
}

function decodeParticipant(data) {
  const w = words(data, 7, "participant");
  const base = Number(w[0]); // the tuple's offset
  const at = (k) => w[base / 32 + k];
  return {
    id: Number(at(0)),
    roles: Number(at(2)),
    active: at(3) !== 0n,
    name: decodeString(data, base + Number(at(4))),
  };
}

function decodeBytes(data) {
  const bytes = hexToBytes(data);
  const offset = Number(BigInt(bytesToHex(bytes.subarray(0, 32))));
  const length = Number(BigInt(bytesToHex(bytes.subarray(offset, offset + 32))));
  return bytesToHex(bytes.subarray(offset + 32, offset + 32 + length));
}

/** What the chain says, pinned to one block, asked in few JSON-RPC round trips. */
export class ChainView {
  constructor(rpc, contracts, challenge = null) {
    this.rpc = rpc;
    this.contracts = contracts;
    this.challenge = challenge; // the deployment's CustodyChallenge, or null: none known
    this.answers = new Map();
  }

  async pin() {
    const [chainId, block] = await this.rpc.many([
      ["eth_chainId", []],
      ["eth_getBlockByNumber", ["latest", false]],
    ]);
    if (chainId.error) throw new RpcError(describeError("eth_chainId", chainId.error));
    if (block.error) throw new RpcError(describeError("eth_getBlockByNumber", block.error));
    const number = block.result && block.result.number;
    if (typeof chainId.result !== "string" || !HEX.test(chainId.result) || typeof number !== "string" || !HEX.test(number)) {
      throw new RpcError("the endpoint's answers to eth_chainId and eth_getBlockByNumber are not JSON-RPC quantities");
    }
    this.chainId = BigInt(chainId.result);
    this.head = BigInt(number);
    this.tag = "0x" + this.head.toString(16);
  }

  /** Ask `queries` not answered yet: {key, method, params, convert(result), onRevert}. */
  async ask(queries) {
    const fresh = [...new Map(queries.filter((q) => !this.answers.has(q.key)).map((q) => [q.key, q])).values()];
    const answers = await this.rpc.many(fresh.map((q) => [q.method, q.params]));
    fresh.forEach((q, i) => {
      const answer = answers[i];
      if (answer.error) {
        if (q.method === "eth_call" && reverted(answer.error) && "onRevert" in q) {
          this.answers.set(q.key, q.onRevert);
          return;
        }
        throw new RpcError(describeError(`${q.method} (${q.what})`, answer.error));
      }
      this.answers.set(q.key, q.convert(answer.result));
    });
  }

  get(key) {
    return this.answers.get(key);
  }

  call(key, to, data, what, convert, onRevert) {
    const query = { key, what, method: "eth_call", params: [{ to, data }, this.tag], convert };
    if (onRevert !== undefined) query.onRevert = onRevert;
    return query;
  }

  code(address) {
    return {
      key: `code:${address}`,
      what: "code",
      method: "eth_getCode",
      params: [checksumAddress(address), this.tag],
      convert: (r) => {
        if (typeof r !== "string" || !HEX.test(r)) throw new RpcError("the endpoint's answer to eth_getCode is not hex");
        return r.toLowerCase();
      },
    };
  }

  probes() {
    const nobody = "0x" + "0".repeat(40);
    return [
      this.call("answers:participants", this.contracts.participantRegistry, callData("keyRecord", nobody), "keyRecord", () => true, false),
      this.call("answers:anchors", this.contracts.anchorRegistry, callData("nextSequence", nobody), "nextSequence", () => true, false),
    ];
  }

  anchor(root) {
    return this.call(
      `anchor:${root}`,
      this.contracts.anchorRegistry,
      callData("anchorOf", root),
      "anchorOf",
      (r) => {
        const w = words(r, 4, "anchorOf");
        return { firstSeq: w[0], eventCount: w[1], blockNumber: w[2], timestamp: w[3] };
      },
      null, // AnchorRegistryUnknownRoot
    );
  }

  stateRoot(root) {
    return this.call(
      `state:${root}`,
      this.contracts.anchorRegistry,
      callData("stateRootOf", root),
      "stateRootOf",
      (r) => "0x" + words(r, 1, "stateRootOf")[0].toString(16).padStart(64, "0"),
      ZERO32, // an AnchorRegistry from before state roots: none
    );
  }

  commitment(root) {
    return this.call(
      `commitment:${root}`,
      this.contracts.anchorRegistry,
      callData("windowCommitmentOf", root),
      "windowCommitmentOf",
      (r) => "0x" + words(r, 1, "windowCommitmentOf")[0].toString(16).padStart(64, "0"),
      ZERO32, // an AnchorRegistry from before the anchor-only mode: none
    );
  }

  /** The roots the WindowAnchored logs of `root` in block `block` carry: [{stateRoot, transitionRoot}]. */
  windowLogs(root, block) {
    const at = "0x" + BigInt(block).toString(16);
    return {
      key: `windowlogs:${root}`,
      what: "WindowAnchored",
      method: "eth_getLogs",
      params: [{ address: this.contracts.anchorRegistry, topics: [TOPICS.WindowAnchored, root], fromBlock: at, toBlock: at }],
      convert: (logs) => {
        if (!Array.isArray(logs)) throw new RpcError("the endpoint's answer to eth_getLogs is not a list");
        return logs
          .filter(
            (l) =>
              l &&
              String(l.address).toLowerCase() === this.contracts.anchorRegistry &&
              Array.isArray(l.topics) &&
              l.topics.length === 3 &&
              String(l.topics[0]).toLowerCase() === TOPICS.WindowAnchored &&
              String(l.topics[1]).toLowerCase() === root &&
              typeof l.data === "string" &&
              /^0x[0-9a-fA-F]{128}$/.test(l.data),
          )
          .map((l) => ({ stateRoot: "0x" + l.data.slice(2, 66).toLowerCase(), transitionRoot: "0x" + l.data.slice(66).toLowerCase() }));
      },
    };
  }

  /** Each anchor-only window's roots among `roots` (asked: anchor, stateRoot, commitment),
   * from its WindowAnchored log, taken only when they hash to its commitment: answers
   * `transition:${root}` (ZERO32: not anchor-only) and, for an anchor-only window,
   * `state:${root}`. An endpoint without such a log is an RpcError (tracenode verify's ChainError). */
  async windowRoots(roots) {
    const anchorOnly = [...new Set(roots)].filter((r) => this.get(`commitment:${r}`) !== ZERO32 && this.get(`anchor:${r}`));
    await this.ask(anchorOnly.map((r) => this.windowLogs(r, this.get(`anchor:${r}`).blockNumber)));
    for (const root of new Set(roots)) {
      if (!anchorOnly.includes(root)) {
        this.answers.set(`transition:${root}`, ZERO32);
        continue;
      }
      const commitment = this.get(`commitment:${root}`);
      const found = this.get(`windowlogs:${root}`).find((l) => windowCommitment(l.stateRoot, l.transitionRoot) === commitment);
      if (!found) {
        throw new RpcError(`window ${root}: no WindowAnchored log in its anchor block carries roots that hash to its commitment ${commitment}`);
      }
      this.answers.set(`transition:${root}`, found.transitionRoot);
      this.answers.set(`state:${root}`, found.stateRoot);
    }
  }

  /** CustodyChallenge.registries(): the three registries it reads, or null (no CustodyChallenge). */
  challengeRegistries() {
    return this.call(
      "challenge:registries",
      this.challenge,
      callData("registries"),
      "registries",
      (r) => (typeof r === "string" && HEX.test(r) && r.length >= 2 + 64 * 3 ? words(r, 3, "registries").map((w) => "0x" + w.toString(16).padStart(40, "0")) : null),
      null,
    );
  }

  /** CustodyChallenge.fraudOf(root): how the window was marked (its FraudKind; 0: not marked). */
  fraud(root) {
    return this.call(`fraud:${root}`, this.challenge, callData("fraudOf", root), "fraudOf", (r) => Number(words(r, 3, "fraudOf")[0]), 0);
  }

  key(address) {
    return this.call(`key:${address}`, this.contracts.participantRegistry, callData("keyRecord", address), "keyRecord", (r) => {
      const w = words(r, 3, "keyRecord");
      return { participantId: Number(w[0]), validFrom: w[1], validUntil: w[2] };
    });
  }

  status(participantId, block) {
    return this.call(
      `status:${participantId}:${block}`,
      this.contracts.participantRegistry,
      callData("statusAt", participantId, block),
      "statusAt",
      (r) => {
        const w = words(r, 2, "statusAt");
        return { roles: Number(w[0] & 0xffn), active: w[1] !== 0n };
      },
    );
  }

  registrar(id) {
    return this.call(`registrar:${id}`, this.contracts.participantRegistry, callData("registrarOf", id), "registrarOf", (r) => {
      const w = words(r, 1, "registrarOf");
      return "0x" + w[0].toString(16).padStart(40, "0");
    });
  }

  participant(id) {
    return this.call(`participant:${id}`, this.contracts.participantRegistry, callData("participant", id), "participant", decodeParticipant, null);
  }

  batch(batchId) {
    return this.call(`batch:${batchId}`, this.contracts.batchRegistry, callData("batch", batchId), "batch", (r) => {
      const w = words(r, 5, "batch");
      return {
        producerId: Number(w[0]),
        custodianId: Number(w[1]),
        receiverId: Number(w[2]),
        status: STATUSES[Number(w[3])] || `status ${w[3]}`,
        head: "0x" + w[4].toString(16).padStart(64, "0"),
      };
    });
  }

  licenceAt(kind, prefix, block) {
    return this.call(
      `licence:${kind}:${prefix}:${block}`,
      this.contracts.participantRegistry,
      licenceAtData(PREFIX_KINDS[kind], prefix, block),
      "licenceAt",
      (r) => {
        const w = words(r, 4, "licenceAt");
        return { holder: Number(w[0]), validFrom: w[1], validUntil: w[2], held: w[3] !== 0n };
      },
    );
  }

  receipt(txHash) {
    return {
      key: `commit:${txHash}`,
      what: "receipt",
      method: "eth_getTransactionReceipt",
      params: [txHash],
      convert: (r) => this.outcome(r),
    };
  }

  /** What a commit transaction did (node/chain/logs.py): roots anchored, events accepted or rejected. */
  outcome(receipt) {
    if (receipt === null || receipt === undefined) return null;
    if (typeof receipt !== "object" || !Array.isArray(receipt.logs)) throw new RpcError("the endpoint's receipt has no logs");
    const logs = receipt.logs.map((log) => ({
      address: String(log.address).toLowerCase(),
      topics: (Array.isArray(log.topics) ? log.topics : []).map((t) => String(t).toLowerCase()),
      data: String(log.data),
    }));
    const roots = new Set(
      logs
        .filter((l) => l.address === this.contracts.anchorRegistry && l.topics.length === 3 && l.topics[0] === TOPICS.RootAnchored)
        .map((l) => l.topics[1]),
    );
    const blockNumber = BigInt(receipt.blockNumber);
    const to = receipt.to ? String(receipt.to).toLowerCase() : null;
    const accepted = new Set();
    const rejected = new Map();
    if (to === this.contracts.batchRegistry) {
      for (const l of logs) {
        if (l.address !== this.contracts.batchRegistry || !l.topics.length) continue;
        if (l.topics[0] === TOPICS.EventAccepted && l.topics.length === 4) accepted.add(l.topics[1]);
        else if (l.topics[0] === TOPICS.EventRejected && l.topics.length === 3) rejected.set(l.topics[2], decodeBytes(l.data));
      }
    }
    return { blockNumber, roots, accepted, rejected };
  }
}

// ----- the checks -----

const RANK = { skipped: 0, pass: 0, pending: 1, fail: 2 };

export function worst(outcomes) {
  let out = "pass";
  for (const o of outcomes) if (RANK[o] > RANK[out]) out = o;
  return out;
}

const ALTERED = "not checked: the event's fields do not hash to its eventHash (event-hash)";
const NO_CHAIN = "not checked: the bundle's chain or contracts are not the RPC's (chain)";

/** The checks each event gets, in the order they are reported. */
export function eventChecks(event) {
  const checks = ["event-hash", "signature", "payload", "merkle-proof", "root-on-chain"];
  if (ON_CHAIN.has(event.action)) checks.push("accepted-on-chain");
  checks.push("signer", "hash-chain");
  return checks;
}

function result(check, outcome, detail = "") {
  return { check, outcome, detail };
}

function roleNames(roles) {
  return Object.entries(ROLES)
    .filter(([, bit]) => roles & bit)
    .map(([name]) => name)
    .join("/");
}

function pushCode(address) {
  // how solc writes an immutable address into runtime code: PUSH32, left-padded
  return "7f" + "0".repeat(24) + address.slice(2);
}

/**
 * Check `bundle` (from parseBundle) against the chain behind `rpc`.
 *
 * `onCheck(scope, index, result)` is called as each result is known (scope "bundle",
 * "event" or "batch"; index into bundle.events or bundle.batches): the checks that need no
 * chain first, then the chain's. Returns the report, shaped as `tracenode verify --json`'s.
 * An RpcError (the endpoint did not answer, or answered nonsense) propagates.
 */
export async function verifyBundle(bundle, rpc, { onCheck = () => {}, challenge = null } = {}) {
  const chain = bundle.chain;
  const separator = domainSeparator(chain.chainId, chain.batchRegistry);
  const known = new Set(bundle.batches.map((b) => b.batchId));
  const report = {
    subject: bundle.subject,
    outcome: "pass",
    chainId: chain.chainId.toString(),
    contracts: {
      participantRegistry: checksumAddress(chain.participantRegistry),
      batchRegistry: checksumAddress(chain.batchRegistry),
      anchorRegistry: checksumAddress(chain.anchorRegistry),
    },
    block: null, // the block every answer of the chain is pinned to
    checks: [],
    failures: [],
    batches: [],
    events: [],
  };
  const emit = (scope, index, target, r) => {
    target.checks.push(r);
    onCheck(scope, index, r);
  };

  // --- what needs no chain: digests, signatures, payloads, proofs, hash chains, lineage
  const heads = new Map();
  const pallets = new Set(); // the batch ids the bundle's packings named as pallets
  const elsewhere = new Map(); // batch id -> the event whose earlier history is held elsewhere
  const altered = new Map(); // stated and computed hashes of altered events -> index
  const seen = new Map(); // each event's first index in the bundle
  const repeats = new Map(); // an event that repeats one -> that index
  const byBatch = new Map();
  const local = bundle.events.map((item, index) => {
    const event = item.event;
    const digest = eventDigest(event, separator);
    const entry = {
      index,
      eventHash: digest,
      action: ACTIONS[event.action],
      batchIds: batchIdsOf(event).sort(),
      eventTime: event.eventTime.toString(),
      signer: null,
      participant: { id: 0, name: "" },
      blockNumber: null,
      txHash: item.anchor ? item.anchor.txHash : null,
      root: item.anchor ? item.anchor.root : null,
      outcome: "pass",
      checks: [],
    };
    report.events.push(entry);
    for (const b of batchIdsOf(event)) {
      if (!byBatch.has(b)) byBatch.set(b, []);
      byBatch.get(b).push(index);
    }
    const state = { entry, digest, signer: null, altered: false };
    if (digest !== item.eventHash) {
      emit("event", index, entry, result("event-hash", "fail", `the event's fields hash to ${digest}, not the stated ${item.eventHash}: a field was altered`));
      altered.set(digest, index);
      altered.set(item.eventHash, index);
      state.altered = true;
      for (const check of ["signature", "payload", "signer", "hash-chain"]) emit("event", index, entry, result(check, "skipped", ALTERED));
      if (item.anchor) emit("event", index, entry, result("merkle-proof", "skipped", ALTERED));
      else localPending(item, index, entry, emit);
      return state;
    }
    emit("event", index, entry, result("event-hash", "pass"));
    if (!seen.has(digest)) seen.set(digest, index);
    // A second copy of an event says nothing new, moves nothing and counts once: a copy
    // must not stand in for an event the bundle leaves out.
    if (seen.get(digest) !== index) state.repeats = seen.get(digest);
    try {
      state.signer = recoverSigner(digest, item.signature);
      entry.signer = checksumAddress(state.signer);
      emit("event", index, entry, result("signature", "pass", `signed by ${entry.signer}`));
    } catch (error) {
      if (!(error instanceof SignatureError)) throw error;
      emit("event", index, entry, result("signature", "fail", `bad signature: ${error.message}`));
    }
    checkPayload(item, index, entry, emit);
    if (!item.anchor) {
      localPending(item, index, entry, emit);
    } else if (processProof(digest, item.anchor.proof) === item.anchor.root) {
      emit("event", index, entry, result("merkle-proof", "pass"));
    } else {
      emit("event", index, entry, result("merkle-proof", "fail", `the proof does not lead from the event to root ${item.anchor.root}`));
    }
    if (state.repeats !== undefined) {
      repeats.set(index, state.repeats);
      emit("event", index, entry, result("hash-chain", "fail", repeated(state.repeats)));
      return state;
    }
    const before = [];
    const chained = checkHashChain(event, digest, heads, known, altered, before, pallets);
    if (chained) emit("event", index, entry, chained);
    else if (!item.anchor) {
      const accepted = ON_CHAIN.has(event.action) ? "pending" : undefined;
      emit("event", index, entry, hashChainElsewhere(before, accepted, elsewhere, index));
    } else state.before = before; // judged once the chain answers
    return state;
  });
  bundle.batches.forEach((b, index) => {
    const batch = {
      batchId: b.batchId,
      identifier: b.identifier,
      outcome: "pass",
      parents: [],
      status: "NONE",
      custodian: { id: 0, name: "" },
      licence: null,
      events: byBatch.get(b.batchId) || [],
      adoptedAt: null,
      firstSeenMidChain: false,
      elsewhereAt: null,
      continuedAt: null,
      continuedTo: null,
      chainHead: null,
      checks: [],
    };
    report.batches.push(batch);
    if (b.identifier === null) emit("batch", index, batch, result("identifier", "skipped", "no identifier"));
    else if (keccakHex(utf8.encode(b.identifier)) === b.batchId) emit("batch", index, batch, result("identifier", "pass", b.identifier));
    else emit("batch", index, batch, result("identifier", "fail", `keccak256 of ${JSON.stringify(b.identifier)} is not the batch id ${b.batchId}`));
  });
  const parents = checkLineage(bundle, report, local, altered);
  report.batches.forEach((batch) => (batch.parents = parents.get(batch.batchId) || []));
  onCheck("bundle", 0, report.checks[report.checks.length - 1]);

  // --- the chain
  const view = new ChainView(rpc, chain, challenge === null ? null : challenge.toLowerCase());
  await view.pin();
  report.block = view.head.toString();
  const problem = await chainProblem(view, chain);
  const chainResult = problem
    ? result("chain", "fail", problem)
    : result(
        "chain",
        "pass",
        `chain ${chain.chainId}; BatchRegistry ${report.contracts.batchRegistry} calls ParticipantRegistry ${report.contracts.participantRegistry} and AnchorRegistry ${report.contracts.anchorRegistry}`,
      );
  report.checks.unshift(chainResult);
  onCheck("bundle", 0, chainResult);
  if (problem) {
    // As tracenode verify: nothing else is checked (a wrong chain id alone makes every
    // event's hash differ), so what was shown before the chain answered is withdrawn.
    const withdraw = (scope, index, target, checks) => {
      target.checks = [];
      for (const check of checks) emit(scope, index, target, result(check, "skipped", NO_CHAIN));
    };
    bundle.events.forEach((item, index) => withdraw("event", index, report.events[index], eventChecks(item.event)));
    report.batches.forEach((batch, index) => withdraw("batch", index, batch, ["identifier", "licence", "custody", "complete"]));
    report.checks = [chainResult];
    const lineage = result("lineage", "skipped", NO_CHAIN);
    report.checks.push(lineage);
    onCheck("bundle", 0, lineage);
    return finish(report);
  }

  const signers = [...new Set(local.filter((s) => s.signer).map((s) => s.signer))];
  const roots = [...bundle.events.filter((e) => e.anchor).map((e) => e.anchor.root), ...bundle.batches.filter((b) => b.state).map((b) => b.state.root)];
  await view.ask([
    ...roots.map((r) => view.anchor(r)),
    ...roots.map((r) => view.stateRoot(r)),
    ...roots.map((r) => view.commitment(r)),
    ...signers.map((k) => view.key(k)),
    ...bundle.batches.map((b) => view.batch(b.batchId)),
    ...bundle.events.filter((e) => e.anchor).map((e) => view.receipt(e.anchor.txHash)),
    ...bundle.events.filter((e) => e.event.action === 3 && e.event.counterparty !== ZERO20).map((e) => view.key(e.event.counterparty)),
    ...(view.challenge ? [view.challengeRegistries(), ...roots.map((r) => view.fraud(r))] : []),
  ]);
  // A CustodyChallenge that does not read the bundle's registries: its marks mean nothing.
  const wired = view.challenge ? view.get("challenge:registries") : null;
  if (!wired || wired.join() !== [chain.participantRegistry, chain.anchorRegistry, chain.batchRegistry].join()) view.challenge = null;
  // The participants anchor-only SHIPs name, as the custody rules take them (at the window's block).
  const shipments = bundle.events.filter(
    (e) => e.event.action === 3 && e.event.counterparty !== ZERO20 && e.anchor && view.get(`anchor:${e.anchor.root}`) && anchorOnly(view, e.anchor.root),
  );
  const statuses = [];
  const people = new Set();
  local.forEach((state, index) => {
    if (!state.signer) return;
    const pid = view.get(`key:${state.signer}`).participantId;
    if (pid === 0) return;
    people.add(pid);
    const anchor = bundle.events[index].anchor;
    const anchored = anchor ? view.get(`anchor:${anchor.root}`) : null;
    statuses.push(view.status(pid, anchored ? anchored.blockNumber : view.head));
  });
  for (const e of shipments) {
    const key = view.get(`key:${e.event.counterparty}`);
    if (key.participantId !== 0) statuses.push(view.status(key.participantId, view.get(`anchor:${e.anchor.root}`).blockNumber));
  }
  for (const b of bundle.batches) people.add(view.get(`batch:${b.batchId}`).custodianId);
  people.delete(0);
  const creators = creatorsOf(bundle);
  const licences = [];
  for (const b of bundle.batches) {
    const split = b.identifier === null ? null : identifierSplit(b.identifier);
    const index = creators.get(b.batchId);
    const anchor = index === undefined ? null : bundle.events[index].anchor;
    const anchored = anchor ? view.get(`anchor:${anchor.root}`) : null;
    if (split && anchored) for (const c of split.candidates) licences.push(view.licenceAt(split.kind, c, anchored.blockNumber));
  }
  // (anchor-only windows' roots, from their logs, in the same round)
  await Promise.all([view.ask([...statuses, ...[...people].map((p) => view.participant(p)), ...licences]), view.windowRoots(roots)]);
  // the names of licence holders who are not the creators (a failed licence check)
  const holders = licences.map((q) => view.get(q.key).holder).filter((h) => h !== 0 && view.get(`participant:${h}`) === undefined);
  await view.ask([...new Set(holders)].map((h) => view.participant(h)));

  // --- per event: the anchor, the acceptance, the signer
  const steps = new Map(); // batch id -> lifecycle steps
  const leaves = new Map(); // batch id -> its state leaf as the bundle's events leave it
  // Anchor-only windows: the batches as the custody rules leave them, replayed from the
  // bundle (batch id -> batch, applyRules'); the batches so checked.
  const rules = new Map();
  const replayed = new Set();
  local.forEach((state, index) => {
    const item = bundle.events[index];
    const entry = state.entry;
    const block = checkAnchor(item, state, view, index, emit);
    if (state.altered) return;
    checkSigner(item, state, block, view, index, emit);
    if (state.repeats !== undefined) {
      if (state.anchorOnly) emit("event", index, entry, result("accepted-on-chain", "skipped", `not checked: ${repeated(state.repeats)}`));
      return;
    }
    const moves = advanceLeaves(item.event, state.digest, entry.participant.id, leaves);
    if (state.anchorOnly) {
      for (const b of batchIdsOf(item.event)) replayed.add(b);
      emit("event", index, entry, checkReplay(item, state, block, moves, known, rules, view));
    } else if (block !== null && anchorOnly(view, item.anchor.root) && view.challenge && view.get(`fraud:${item.anchor.root}`)) {
      // an observation or packing of a window proven fraudulent
      emit("event", index, entry, result("accepted-on-chain", "fail", fraudulent(item.anchor.root)));
    }
    if (state.before) {
      const accepted = entry.checks.find((c) => c.check === "accepted-on-chain");
      emit("event", index, entry, hashChainElsewhere(state.before, accepted && accepted.outcome, elsewhere, index));
    }
    advance(item, state.digest, entry, steps);
  });

  // --- per batch: custody (first, what a batch continued on another node needs asked)
  const shipped = [];
  for (const batch of report.batches) {
    const last = continuable(batch, view, steps.get(batch.batchId) || []);
    if (last) shipped.push(last);
  }
  await view.ask(shipped.map((s) => view.key(s.receiver)));
  const receivers = shipped.map((s) => [s.custodian, view.get(`key:${s.receiver}`).participantId]).filter(([, r]) => r !== 0);
  await view.ask(receivers.flatMap(([c, r]) => [view.registrar(c), view.registrar(r), view.participant(r)]));
  report.batches.forEach((batch, index) => {
    const createdAt = creators.get(batch.batchId);
    if (createdAt !== undefined && adopts(bundle.events[createdAt].event)) {
      batch.adoptedAt = createdAt;
      batch.firstSeenMidChain = firstSeenMidChain(bundle, createdAt);
    }
    if (elsewhere.has(batch.batchId)) batch.elsewhereAt = elsewhere.get(batch.batchId);
    emit("batch", index, batch, checkLicence(batch, bundle, report, local, creators, view));
    let custody = replayed.has(batch.batchId)
      ? replayedCustody(batch, rules.get(batch.batchId), steps.get(batch.batchId) || [], view, report, asOf(bundle.batches[index], batch, report))
      : checkCustody(batch, view, steps.get(batch.batchId) || [], report);
    const broken = batch.events.filter((i) => report.events[i].checks.some((c) => c.check === "hash-chain" && c.outcome === "fail"));
    if (custody.outcome === "fail" && altered.size) {
      custody = result("custody", "skipped", `not checked: ${alteredEvents(altered)}`);
    } else if (custody.outcome === "fail" && broken.length) {
      custody = result(
        "custody",
        "skipped",
        `not checked: the batch's history in the bundle is broken at event ${broken.map((i) => `#${i}`).join(", ")} (hash-chain)`,
      );
    }
    emit("batch", index, batch, custody);
    emit("batch", index, batch, checkComplete(bundle.batches[index], batch, bundle, report, view, altered, broken, repeats));
  });
  return finish(report);
}

function localPending(item, index, entry, emit) {
  emit("event", index, entry, result("merkle-proof", "pending", "not anchored yet"));
  emit("event", index, entry, result("root-on-chain", "pending", "not anchored yet"));
  if (ON_CHAIN.has(item.event.action)) emit("event", index, entry, result("accepted-on-chain", "pending", "not anchored yet"));
}

function checkPayload(item, index, entry, emit) {
  const event = item.event;
  if (!item.hasPayload) {
    emit("event", index, entry, result("payload", "skipped", event.payloadHash === ZERO32 ? "no payload" : "payload withheld"));
    return;
  }
  let hash;
  try {
    hash = payloadHash(item.payload);
  } catch (error) {
    emit("event", index, entry, result("payload", "fail", `the payload has no canonical JSON form: ${error.message}`));
    return;
  }
  if (hash === event.payloadHash) emit("event", index, entry, result("payload", "pass"));
  else emit("event", index, entry, result("payload", "fail", "the payload does not hash to payloadHash (keccak256 of its RFC 8785 form)"));
}

async function chainProblem(view, chain) {
  if (view.chainId !== chain.chainId) return `the bundle is for chain ${chain.chainId}, the RPC serves chain ${view.chainId}`;
  const named = [
    ["participantRegistry", chain.participantRegistry],
    ["batchRegistry", chain.batchRegistry],
    ["anchorRegistry", chain.anchorRegistry],
  ];
  await view.ask([...named.map(([, a]) => view.code(a)), ...view.probes()]);
  const missing = named.filter(([, a]) => view.get(`code:${a}`) === "0x");
  if (missing.length) return "no contract at " + missing.map(([n, a]) => `${n} ${checksumAddress(a)}`).join(", ");
  const registries = [named[0], named[2]];
  const strangers = registries.filter((_, i) => !view.get(i === 0 ? "answers:participants" : "answers:anchors"));
  if (strangers.length) return strangers.map(([n, a]) => `the contract at ${n} ${checksumAddress(a)} does not answer as one`).join("; ");
  const code = view.get(`code:${chain.batchRegistry}`);
  const unwired = registries.filter(([, a]) => !code.includes(pushCode(a)));
  if (unwired.length) {
    return `the BatchRegistry at ${checksumAddress(chain.batchRegistry)} was not built with ${unwired
      .map(([n, a]) => `${n} ${checksumAddress(a)}`)
      .join(" or ")} (its code holds the registries it calls)`;
  }
  return "";
}

function checkAnchor(item, state, view, index, emit) {
  const anchor = item.anchor;
  const entry = state.entry;
  if (!anchor) return null;
  const lifecycle = ON_CHAIN.has(item.event.action);
  const info = view.get(`anchor:${anchor.root}`);
  if (info === null) {
    emit("event", index, entry, result("root-on-chain", "fail", `AnchorRegistry holds no root ${anchor.root}`));
    if (lifecycle) emit("event", index, entry, result("accepted-on-chain", "skipped", "not checked: the root is not on the chain (root-on-chain)"));
    return null;
  }
  entry.blockNumber = info.blockNumber.toString();
  const outcome = view.get(`commit:${anchor.txHash}`);
  const problems = [];
  if (anchor.blockNumber !== info.blockNumber) {
    problems.push(`the bundle says block ${anchor.blockNumber}, AnchorRegistry anchored the root in block ${info.blockNumber}`);
  }
  if (outcome === null) problems.push(`there is no transaction ${anchor.txHash} on the chain`);
  else if (!outcome.roots.has(anchor.root)) {
    problems.push(
      `transaction ${anchor.txHash} (block ${outcome.blockNumber}) did not anchor the root (AnchorRegistry anchored it in block ${info.blockNumber})`,
    );
  }
  emit(
    "event",
    index,
    entry,
    problems.length
      ? result("root-on-chain", "fail", problems.join("; "))
      : result("root-on-chain", "pass", `anchored in block ${info.blockNumber} by transaction ${anchor.txHash} (a window of ${info.eventCount} events)`),
  );
  if (!lifecycle) return info.blockNumber;
  if (!state.altered && view.get(`transition:${anchor.root}`) !== ZERO32) {
    state.anchorOnly = view.get(`transition:${anchor.root}`); // judged by checkReplay
    return info.blockNumber;
  }
  if (outcome === null || !outcome.roots.has(anchor.root)) {
    emit("event", index, entry, result("accepted-on-chain", "skipped", "not checked: the transaction is not the root's (root-on-chain)"));
  } else if (state.altered) {
    emit("event", index, entry, result("accepted-on-chain", "skipped", ALTERED));
  } else if (outcome.accepted.has(state.digest)) {
    emit("event", index, entry, result("accepted-on-chain", "pass", `BatchRegistry accepted it in ${anchor.txHash}`));
  } else if (outcome.rejected.has(state.digest)) {
    emit("event", index, entry, result("accepted-on-chain", "fail", `BatchRegistry rejected it: error ${outcome.rejected.get(state.digest)}`));
  } else {
    emit("event", index, entry, result("accepted-on-chain", "fail", `BatchRegistry did not execute it in transaction ${anchor.txHash}`));
  }
  return info.blockNumber;
}

function checkSigner(item, state, block, view, index, emit) {
  const entry = state.entry;
  if (!state.signer) {
    emit("event", index, entry, result("signer", "skipped", "not checked: no key (signature)"));
    return;
  }
  const at = block !== null ? block : view.head;
  const key = view.get(`key:${state.signer}`);
  const address = checksumAddress(state.signer);
  if (key.participantId === 0) {
    emit("event", index, entry, result("signer", "fail", `${address} is not a registered key`));
    return;
  }
  entry.participant.id = key.participantId;
  const info = view.get(`participant:${key.participantId}`);
  entry.participant.name = info ? info.name : "";
  const who = `${entry.participant.name || "participant " + key.participantId} (${address})`;
  let detail;
  if (at < key.validFrom) detail = `${who}: the key was registered at block ${key.validFrom}, after block ${at}`;
  else if (key.validUntil && at >= key.validUntil) detail = `${who}: the key was rotated out at block ${key.validUntil}, before block ${at}`;
  else {
    const { roles, active } = view.get(`status:${key.participantId}:${at}`);
    const needed = REQUIRED_ROLES[item.event.action];
    if (!active) detail = `${who} was suspended at block ${at}`;
    else if (!(roles & needed)) detail = `${who} lacked the role for ${ACTIONS[item.event.action]} at block ${at}`;
    else {
      emit("event", index, entry, result("signer", "pass", `${who}, active ${roleNames(roles & needed)} at block ${at}`));
      return;
    }
  }
  emit("event", index, entry, result("signer", "fail", detail));
}

function repeated(first) {
  return `the event repeats event #${first}: a bundle holds each event once`;
}

// A batch's first event in the bundle that extends an event the bundle lacks: history held
// by another node when BatchRegistry accepted it (it executes an event only on the head).
const ELSEWHERE = "history before this event is held by another node";

// An event that names no batch of the bundle: not the bundle's (node/proofs/verify.py FOREIGN).
const FOREIGN = "the event names no batch of the bundle: a bundle holds only its batches' events";

// A packing's pallet is no custody batch (verify.py _pallet_is_batch, _made_on_pallet).
const palletIsBatch = (batchId) => `pallet ${batchId} is a custody batch: a lot or an item is packed, never packed onto`;
const madeOnPallet = (batchId) => `batch ${batchId} was a pallet before it was made: a lot or an item is packed, never packed onto`;

function checkHashChain(event, digest, heads, known, altered, before, pallets) {
  if (!batchIdsOf(event).some((b) => known.has(b))) return result("hash-chain", "fail", FOREIGN);
  const problems = [];
  const depends = new Set();
  const expect = (batchId, prev) => {
    if (!known.has(batchId)) return;
    if (altered.has(prev)) {
      depends.add(altered.get(prev));
      return;
    }
    const head = heads.get(batchId);
    if (head === undefined) before.push([batchId, prev]);
    else if (head !== prev) problems.push(`batch ${batchId}: names previous event ${prev}, the bundle's last is ${head}`);
  };
  const updates = new Map();
  const pairs = () => event.inputs.slice(0, Math.min(event.inputs.length, event.inputPrevHashes.length)).map((b, i) => [b, event.inputPrevHashes[i]]);
  if (event.action === 6 || event.action === 7) {
    if (heads.has(event.batchId)) problems.push(palletIsBatch(event.batchId));
    pallets.add(event.batchId);
  }
  const made = event.action === 1 || adopts(event) ? [event.batchId] : event.action === 5 ? event.outputs : [];
  for (const batchId of made) if (pallets.has(batchId) && !heads.has(batchId)) problems.push(madeOnPallet(batchId));
  if (event.action === 1) {
    if (event.prevEventHash !== ZERO32) problems.push("a COMMISSION names no previous event");
    if (heads.has(event.batchId)) problems.push(`batch ${event.batchId} was created twice`);
    updates.set(event.batchId, digest);
  } else if (adopts(event)) {
    // a lot received from outside: its history here starts with it
    if (heads.has(event.batchId)) problems.push(`batch ${event.batchId} is received from outside TraceNode, but the bundle holds earlier events of it`);
    updates.set(event.batchId, digest);
  } else if (event.action === 5) {
    for (const [batchId, prev] of pairs()) {
      expect(batchId, prev);
      updates.set(batchId, digest);
    }
    for (const batchId of event.outputs) {
      if (heads.has(batchId)) problems.push(`output ${batchId} existed before`);
      updates.set(batchId, digest);
    }
  } else if (event.action === 6 || event.action === 7) {
    for (const [batchId, prev] of pairs()) expect(batchId, prev);
  } else {
    expect(event.batchId, event.prevEventHash);
    if (event.action !== 2) updates.set(event.batchId, digest);
  }
  for (const [k, v] of updates) heads.set(k, v);
  if (problems.length) return result("hash-chain", "fail", problems.join("; "));
  if (before.length) return null; // judged on the event's acceptance: hashChainElsewhere
  if (depends.size) {
    const which = [...depends].sort((a, b) => a - b).map((i) => `#${i}`).join(", ");
    return result("hash-chain", "skipped", `not checked: it extends event ${which}, whose fields were altered`);
  }
  return result("hash-chain", "pass");
}

// The hash-chain check of an event that extends what the bundle lacks (checkHashChain),
// once its accepted-on-chain outcome is known ("pending" when not anchored, undefined when
// the action is not executed on-chain).
function hashChainElsewhere(before, accepted, elsewhere, index) {
  if (accepted !== "pass" && accepted !== "pending") {
    return result("hash-chain", "fail", before.map(([b]) => `batch ${b} has no earlier event in the bundle`).join("; "));
  }
  for (const [b] of before) if (!elsewhere.has(b)) elsewhere.set(b, index);
  const named = before.map(([, prev]) => prev).join(", ");
  return accepted === "pass"
    ? result("hash-chain", "skipped", `${ELSEWHERE}: it extends ${named}, the batch's head on-chain when BatchRegistry accepted it (accepted-on-chain)`)
    : result("hash-chain", "pending", `${ELSEWHERE}: it extends ${named}, which the chain must hold as the batch's head: checked once anchored`);
}

/** The status and custodian a lifecycle event leaves `batchId` in; null when it does not
 * move the batch (node/events/lifecycle.py transition). */
function transition(event, batchId, custodian, signerId) {
  if (!ON_CHAIN.has(event.action)) return null;
  if (event.action === 5) return event.outputs.includes(batchId) ? { status: "ACTIVE", custodian: signerId } : { status: "CONSUMED", custodian };
  // A SHIP to counterparty zero leaves the network (docs/contracts.md).
  if (event.action === 3 && event.counterparty === ZERO20) return { status: "EXPORTED", custodian };
  return { status: STATUS_AFTER[event.action], custodian: event.action === 1 || event.action === 4 ? signerId : custodian };
}

// ----- the custody rules (node/events/rules.py), as the verifier's replay needs them -----
//
// A second implementation, in a second language, of the rules ingest applies to every
// event (BatchRegistry's, whose on-chain twin CustodyChallenge re-executes): what
// node/proofs/verify.py _check_replay asks of node.events.rules.apply to replay the
// lifecycle events of anchor-only windows — no identifier or licence rule (the licence
// check judges those), no anchored-only records. Each function names the Python one it
// mirrors, message for message; tests/web/test_custody_rules.py holds them to it on random
// sequences of events. A batch here: {batchId, producerId, custodianId, receiverId,
// status (a STATUSES name), head, createdBy}.

/** node/events/typed_data.py MAX_LINKED_BATCHES: inputs and outputs one event may name. */
export const MAX_LINKED_BATCHES = 64;
const ZERO20 = "0x" + "0".repeat(40);

/** A refusal by a custody rule: `kind` is the code of the Python class (node/exceptions.py). */
export class RuleError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/**
 * rules.apply (no may_create, may_adopt or record, as the verifier calls it): check `event`
 * against `batches` (a Map of batch id to batch) and apply it to them in place, or throw the
 * rule's RuleError and change nothing. `actor`: the signer, {participantId, roles};
 * `receiver`: the participant a SHIP names, {participantId, roles, active}, or null.
 */
export function applyRules(event, eventHash, actor, batches, receiver) {
  const action = event.action;
  if (action === 1) return commissionRule(event, eventHash, actor, batches);
  if (action === 5) return transformRule(event, eventHash, actor, batches);
  if (action === 6 || action === 7) return packRule(event, actor, batches);
  if (action === 4 && (adopts(event) || (batches.has(event.batchId) && batches.get(event.batchId).status === "EXPORTED"))) {
    return adoptRule(event, eventHash, actor, batches);
  }
  // A SHIP to counterparty zero leaves the network; any other SHIP names its receiver.
  const outside = action === 3 && event.counterparty === ZERO20;
  if (!isSingle(event, action === 3 && !outside)) throw new RuleError("invalid-event", `malformed ${ACTIONS[action]} event`);
  const stored = existing(batches, event.batchId, event.prevEventHash);
  if (action === 3) {
    requireMovable(stored, action, "ACTIVE");
    requireCustodian(stored, actor);
    if (!outside) {
      if (receiver === null || !receiver.active || !(receiver.roles & CUSTODY_ROLES) || receiver.participantId === stored.custodianId) {
        throw new RuleError("invalid-receiver", "the receiver must be another active participant that can hold custody");
      }
      stored.receiverId = receiver.participantId;
    }
  } else if (action === 4) {
    requireMovable(stored, action, "IN_TRANSIT");
    if (stored.receiverId !== actor.participantId) throw new RuleError("not-receiver", "only the participant the batch was shipped to receives it");
    stored.receiverId = 0;
  } else if (action === 8) {
    if (stored.status === "RECALLED" || stored.status === "DESTROYED") throw invalidStatus(stored);
    if (stored.producerId !== actor.participantId && !(actor.roles & ROLES.REGULATOR)) {
      throw new RuleError("not-recaller", "only the batch's producer or a regulator recalls it");
    }
    stored.receiverId = 0;
  } else if (action === 9) {
    if (stored.status !== "ACTIVE" && stored.status !== "RECALLED") throw invalidStatus(stored);
    requireCustodian(stored, actor);
  } else return; // OBSERVE: attaches to the current head, changes nothing
  moveBatch(stored, event, eventHash, actor);
}

/** rules._commission */
function commissionRule(event, eventHash, actor, batches) {
  if (event.batchId === ZERO32 || event.quantity === 0n || !isSingle(event, false)) throw new RuleError("invalid-event", "malformed COMMISSION event");
  if (batches.has(event.batchId)) throw new RuleError("batch-exists", "the batch already exists");
  if (event.prevEventHash !== ZERO32) throw headMismatch();
  batches.set(event.batchId, newBatch(event.batchId, event, eventHash, actor));
}

/** rules._adopt: a RECEIVE of a lot from outside the network, never seen or exported. */
function adoptRule(event, eventHash, actor, batches) {
  if (event.batchId === ZERO32 || !isSingle(event, false)) throw new RuleError("invalid-event", "malformed RECEIVE event");
  const stored = batches.get(event.batchId);
  if (stored !== undefined && stored.status !== "EXPORTED") {
    throw new RuleError(
      "batch-in-network",
      `the network holds this batch (${stored.status}): it is received from its custodian's shipment, never adopted from outside`,
    );
  }
  if (event.prevEventHash !== (stored === undefined ? ZERO32 : stored.head)) throw headMismatch();
  if (stored === undefined) {
    batches.set(event.batchId, newBatch(event.batchId, event, eventHash, actor, 0)); // producer 0: from outside
    return;
  }
  stored.receiverId = 0;
  moveBatch(stored, event, eventHash, actor);
}

/** rules._transform */
function transformRule(event, eventHash, actor, batches) {
  const { inputs, outputs } = event;
  if (
    !inputs.length ||
    !outputs.length ||
    inputs.length + outputs.length > MAX_LINKED_BATCHES ||
    event.inputPrevHashes.length !== inputs.length ||
    event.batchId !== ZERO32 ||
    event.prevEventHash !== ZERO32 ||
    event.counterparty !== ZERO20 ||
    event.quantity === 0n
  ) {
    throw new RuleError("invalid-event", "malformed TRANSFORM event");
  }
  const consumed = [];
  inputs.forEach((batchId, index) => {
    if (inputs.slice(0, index).includes(batchId)) throw new RuleError("invalid-event", "a TRANSFORM input is listed twice");
    const stored = existing(batches, batchId, event.inputPrevHashes[index]);
    requireMovable(stored, 5, "ACTIVE");
    requireCustodian(stored, actor);
    consumed.push(stored);
  });
  outputs.forEach((batchId, index) => {
    if (batchId === ZERO32 || outputs.slice(0, index).includes(batchId)) throw new RuleError("invalid-event", "a TRANSFORM output is zero or repeated");
    if (batches.has(batchId)) throw new RuleError("batch-exists", "a transformation output already exists");
  });
  for (const stored of consumed) moveBatch(stored, event, eventHash, actor);
  for (const batchId of outputs) batches.set(batchId, newBatch(batchId, event, eventHash, actor));
}

/** rules.PalletIsBatchError's wording: a packing never names a custody batch as its pallet. */
const PALLET_IS_BATCH = "the pallet is a custody batch: a lot or an item is packed, never packed onto";

/** rules._pack: AGGREGATE and DISAGGREGATE move nothing, their lots at their heads, on a
 * pallet that is no custody batch. */
function packRule(event, actor, batches) {
  const inputs = event.inputs;
  if (
    event.batchId === ZERO32 ||
    !inputs.length ||
    inputs.length > MAX_LINKED_BATCHES ||
    event.inputPrevHashes.length !== inputs.length ||
    new Set(inputs).size !== inputs.length ||
    event.outputs.length ||
    event.counterparty !== ZERO20 ||
    inputs.includes(event.batchId)
  ) {
    throw new RuleError("invalid-event", `malformed ${ACTIONS[event.action]} event`);
  }
  if (batches.has(event.batchId)) throw new RuleError("pallet-is-batch", PALLET_IS_BATCH);
  inputs.forEach((batchId, index) => {
    const stored = existing(batches, batchId, event.inputPrevHashes[index]);
    requireMovable(stored, event.action, "ACTIVE");
    requireCustodian(stored, actor);
  });
}

/** rules._move: the checked event's effect (transition, the lifecycle's twin) and head. */
function moveBatch(stored, event, eventHash, actor) {
  const moved = transition(event, stored.batchId, stored.custodianId, actor.participantId);
  if (moved === null) throw new RuleError("invalid-event", `${ACTIONS[event.action]} moves no batch`);
  stored.status = moved.status;
  stored.custodianId = moved.custodian;
  stored.head = eventHash;
}

/** rules._new_batch */
function newBatch(batchId, event, eventHash, actor, producerId = actor.participantId) {
  const created = { batchId, producerId, custodianId: 0, receiverId: 0, status: "NONE", head: ZERO32, createdBy: eventHash };
  moveBatch(created, event, eventHash, actor);
  return created;
}

/** rules._existing */
function existing(batches, batchId, prev) {
  const stored = batches.get(batchId);
  if (stored === undefined) throw new RuleError("unknown-batch", "no such batch");
  if (stored.head !== prev) throw headMismatch();
  return stored;
}

/** rules._require_movable */
function requireMovable(stored, action, required) {
  if (stored.status === "RECALLED") throw new RuleError("batch-recalled", `a recalled batch cannot take part in ${ACTIONS[action]}`);
  if (stored.status !== required) throw invalidStatus(stored);
}

/** rules._require_custodian */
function requireCustodian(stored, actor) {
  if (stored.custodianId !== actor.participantId) throw new RuleError("not-custodian", "only the batch's custodian may do this");
}

/** rules._is_single */
function isSingle(event, withCounterparty) {
  return !event.inputs.length && !event.inputPrevHashes.length && !event.outputs.length && (event.counterparty !== ZERO20) === withCounterparty;
}

/** rules._invalid_status */
function invalidStatus(stored) {
  return new RuleError("invalid-status", `the batch is ${stored.status}`);
}

/** rules._head_mismatch */
function headMismatch() {
  return new RuleError("head-mismatch", "the event does not extend the batch's current head");
}

function advance(item, digest, entry, steps) {
  const event = item.event;
  if (!ON_CHAIN.has(event.action)) return;
  const anchored = item.anchor !== null;
  for (const b of batchIdsOf(event)) {
    if (!steps.has(b)) steps.set(b, []);
    const h = steps.get(b);
    const moved = transition(event, b, h.length ? h[h.length - 1].custodian : 0, entry.participant.id);
    // a SHIP to a participant: the key it names (node/proofs/verify.py _Step.receiver)
    const receiver = moved && moved.status === "IN_TRANSIT" ? event.counterparty.toLowerCase() : null;
    if (moved) h.push({ eventHash: digest, status: moved.status, custodian: moved.custodian, anchored, receiver });
  }
}

/** Where `indexes` (events of the bundle, in order) lead `batchId`: node/proofs/state.py replay. */
function replayState(batchId, indexes, bundle, report) {
  const state = { head: ZERO32, custodian: 0, status: "NONE", count: 0 };
  for (const i of indexes) {
    state.count += 1;
    const moved = transition(bundle.events[i].event, batchId, state.custodian, report.events[i].participant.id);
    if (moved) Object.assign(state, { head: report.events[i].eventHash, status: moved.status, custodian: moved.custodian });
  }
  return state;
}

/** complete: as node/proofs/verify.py _check_complete, detail for detail. */
function checkComplete(item, batch, bundle, report, view, altered, broken, repeats) {
  const indexes = batch.events.filter((i) => !repeats.has(i));
  const again = batch.events.filter((i) => repeats.has(i));
  const stated = item.state;
  const incomplete = (detail) => result("complete", "fail", detail);
  const covered = indexes.filter((i) => {
    const a = bundle.events[i].anchor;
    return a && view.get(`state:${a.root}`) !== ZERO32;
  });
  if (!stated) {
    if (covered.length) {
      return incomplete(`the window of event #${covered[covered.length - 1]} has an anchored state root; the bundle carries no state for this batch`);
    }
    if (indexes.some((i) => bundle.events[i].anchor)) {
      return result("complete", "skipped", "not proven: no window of this batch's events has an anchored state root");
    }
    return result("complete", "pending", "no event of this batch is anchored yet");
  }
  const anchored = view.get(`anchor:${stated.root}`);
  const onChain = view.get(`state:${stated.root}`);
  if (!anchored) return incomplete(`the state's window root ${stated.root} is not anchored`);
  if (anchored.blockNumber !== stated.blockNumber) {
    return incomplete(`the state's window root was anchored in block ${anchored.blockNumber}, not ${stated.blockNumber}`);
  }
  if (onChain === ZERO32) return incomplete(`AnchorRegistry holds no state root for window ${stated.root}`);
  if (onChain !== stated.stateRoot) return incomplete(`AnchorRegistry's state root for the window is ${onChain}, not ${stated.stateRoot}`);
  if (processStateProof(stated.leaf, stated.proof) !== stated.stateRoot) {
    return incomplete("the state proof does not lead from the batch's state leaf to the state root");
  }
  const block = stated.blockNumber;
  const later = covered.filter((i) => {
    const a = view.get(`anchor:${bundle.events[i].anchor.root}`);
    return (a ? a.blockNumber : 0n) > block;
  });
  if (later.length) {
    return incomplete(`event #${later[later.length - 1]} was anchored after block ${block} in a window with a state root: the bundle's state is not the batch's latest`);
  }
  if (altered.size) return result("complete", "skipped", `not checked: ${alteredEvents(altered)}`);
  const leaf = stated.leaf;
  const count = Number(leaf.count);
  if (BigInt(indexes.length) < leaf.count) {
    const distinct = again.length ? ` distinct ones (event #${again[0]} repeats #${repeats.get(again[0])})` : "";
    return incomplete(`incomplete: the state anchored at block ${block} counts ${leaf.count} events of this batch, the bundle holds ${indexes.length}${distinct}`);
  }
  if (again.length) {
    return incomplete(`event #${again[0]} repeats event #${repeats.get(again[0])}: the state anchored at block ${block} counts each event of this batch once`);
  }
  if (broken.length) {
    return result("complete", "skipped", `not checked: the batch's history in the bundle is broken at event ${broken.map((i) => `#${i}`).join(", ")} (hash-chain)`);
  }
  const unsigned = indexes.slice(0, count).filter((i) => report.events[i].participant.id === 0);
  if (unsigned.length) return result("complete", "skipped", `not checked: event #${unsigned[0]}'s signer is not a participant (signer)`);
  const replayed = replayState(item.batchId, indexes.slice(0, count), bundle, report);
  if (replayed.head !== leaf.head) {
    return incomplete(`incomplete: the state anchored at block ${block} ends at event ${leaf.head}; the bundle's first ${count} events of this batch end at ${replayed.head}`);
  }
  const status = STATUSES[leaf.status];
  if (replayed.status !== status || BigInt(replayed.custodian) !== leaf.custodian) {
    return incomplete(`the state anchored at block ${block} is ${status}, custodian ${leaf.custodian}; the events lead to ${replayed.status}, custodian ${replayed.custodian}`);
  }
  const extra = indexes.slice(count);
  const counted = extra.filter((i) => bundle.events[i].anchor && bundle.events[i].anchor.blockNumber <= block);
  if (counted.length) {
    return incomplete(`event #${counted[0]} was anchored by block ${block}, but the state anchored then counts ${count} events of this batch, and the bundle holds more`);
  }
  if (extra.length) {
    return result("complete", "pending", `${count} events complete as anchored at block ${block}; ${extra.length} later event(s) not covered by an anchored state yet`);
  }
  const limit = anchorOnly(view, stated.root) ? `; ${unseen(block)}` : "";
  return result("complete", "pass", `complete: ${count} events, as anchored at block ${block}${limit}`);
}

function alteredEvents(altered) {
  const indexes = [...new Set(altered.values())].sort((a, b) => a - b);
  return "the fields of event " + indexes.map((i) => `#${i}`).join(", ") + " were altered";
}

/** The lineage links an event makes, [parent, child]: a transformation's from each input to
 * each output, a packing's from each lot to its pallet; none for any other event
 * (node/proofs/verify.py _made_from). */
function madeFrom(event) {
  if (event.action === 5) return event.outputs.flatMap((c) => event.inputs.map((p) => [p, c]));
  if (event.action === 6) return event.inputs.map((p) => [p, event.batchId]);
  return [];
}

function links(event, parent, child) {
  return Boolean(event) && madeFrom(event).some(([p, c]) => p === parent && c === child);
}

function checkLineage(bundle, report, local, altered) {
  const bundleEvents = new Map();
  local.forEach((s, i) => {
    if (!altered.has(s.digest)) bundleEvents.set(s.digest, bundle.events[i].event);
  });
  const known = bundle.batches.map((b) => b.batchId);
  const members = new Set(known);
  const parents = new Map();
  const problems = [];
  let unchecked = 0;
  if (known[0] !== bundle.subject) problems.push(`the subject ${bundle.subject} is not the bundle's first batch ${known[0]}`);
  if (members.size !== known.length) problems.push("a batch is listed twice");
  for (const link of bundle.lineage) {
    if (!parents.has(link.child)) parents.set(link.child, []);
    parents.get(link.child).push(link.parent);
    if (!members.has(link.parent) || !members.has(link.child)) {
      problems.push(`link ${link.parent} -> ${link.child} names a batch that is not in the bundle`);
    } else if (altered.has(link.eventHash)) {
      unchecked += 1;
    } else if (!links(bundleEvents.get(link.eventHash), link.parent, link.child)) {
      problems.push(`link ${link.parent} -> ${link.child} is not backed by a transformation or packing event of the bundle`);
    }
  }
  const reached = new Set([bundle.subject]);
  const queue = [bundle.subject];
  while (queue.length) {
    for (const parent of parents.get(queue.pop()) || []) {
      if (!reached.has(parent)) {
        reached.add(parent);
        queue.push(parent);
      }
    }
  }
  const strays = known.filter((b) => !reached.has(b));
  if (strays.length) {
    problems.push(`${strays.length} batch(es) are not ancestors of the subject through the lineage links: ${strays.join(", ")}`);
  }
  const linked = new Set(bundle.lineage.map((l) => `${l.parent}:${l.child}:${l.eventHash}`));
  for (const [eventHash, event] of bundleEvents) {
    const made = madeFrom(event).filter(([, c]) => members.has(c));
    if (!made.length) continue;
    const missing = event.inputs.filter((b) => !members.has(b));
    if (missing.length && event.action === 5) problems.push(`transformation ${eventHash} consumed ${missing.length} batch(es) missing from the bundle`);
    else if (missing.length) problems.push(`packing ${eventHash} put ${missing.length} batch(es) missing from the bundle on pallet ${event.batchId}`);
    const unlinked = made.filter(([p, c]) => members.has(p) && !linked.has(`${p}:${c}:${eventHash}`));
    if (unlinked.length) problems.push(`the lineage lacks ${unlinked.map(([p, c]) => `${p} -> ${c}`).join(", ")}, made by event ${eventHash}`);
  }
  let r;
  if (problems.length) r = result("lineage", "fail", problems.join("; "));
  else if (unchecked) r = result("lineage", "skipped", `${unchecked} link(s) not checked: ${alteredEvents(altered)}`);
  else r = result("lineage", "pass", `${bundle.lineage.length} link(s)`);
  report.checks.push(r);
  return parents;
}

/** Whether an event is a RECEIVE of a lot never seen: adopted from outside the network. */
function adopts(e) {
  return e.action === 4 && e.prevEventHash === ZERO32;
}

/** Whether the adoption at `index` is of a lot first seen mid-chain (docs/epcis.md): the
 * bundle's next event extending it was signed over the same payload (one EPCIS event: the
 * lot's adoption and the event that first named it) and is no receipt. */
function firstSeenMidChain(bundle, index) {
  const adoption = bundle.events[index];
  for (const later of bundle.events.slice(index + 1)) {
    const e = later.event;
    if (e.prevEventHash === adoption.eventHash || e.inputPrevHashes.includes(adoption.eventHash)) {
      return e.payloadHash === adoption.event.payloadHash && e.action !== 4;
    }
  }
  return false;
}

/** For each batch, the first event of the bundle that creates it (its COMMISSION, the
 * TRANSFORM that output it, or the RECEIVE that adopted it from outside; index into its events). */
function creatorsOf(bundle) {
  const creators = new Map();
  bundle.events.forEach((item, index) => {
    const e = item.event;
    const created = e.action === 1 || adopts(e) ? [e.batchId] : e.action === 5 ? e.outputs : [];
    for (const b of created) if (!creators.has(b)) creators.set(b, index);
  });
  return creators;
}

function who(view, id) {
  const info = view.get(`participant:${id}`);
  return info && info.name ? info.name : `participant ${id}`;
}

function checkLicence(batch, bundle, report, local, creators, view) {
  const identifier = batch.identifier;
  if (identifier === null) return result("licence", "skipped", "no identifier");
  if (batch.checks.some((c) => c.check === "identifier" && c.outcome === "fail")) {
    return result("licence", "skipped", "not checked: the identifier does not name the batch (identifier)");
  }
  const split = identifierSplit(identifier);
  if (split === null) return result("licence", "skipped", `${identifier} is a bare batch id: it names no identifier, no licence covers it`);
  const index = creators.get(batch.batchId);
  if (split.kind === "OTHER") {
    const creator = index === undefined ? 0 : report.events[index].participant.id;
    const node = creator ? `${who(view, creator)}'s node` : "the node that created it";
    return result(
      "licence",
      "skipped",
      `${identifier}: node-local identifier: no prefix, no brand owner; allowed by the open-identifier policy of ${node} (a policy, not a licence)`,
    );
  }
  if (index === undefined) return result("licence", "skipped", "not checked: the event that created the batch is not in the bundle");
  const entry = report.events[index];
  if (local[index].altered) {
    return result("licence", "skipped", `not checked: the fields of event #${index}, which created the batch, were altered (event-hash)`);
  }
  if (!bundle.events[index].anchor) return result("licence", "pending", `event #${index}, which created the batch, is not anchored yet`);
  if (entry.blockNumber === null) {
    return result("licence", "skipped", `not checked: the root of event #${index}, which created the batch, is not on the chain (root-on-chain)`);
  }
  if (entry.participant.id === 0) {
    return result("licence", "skipped", `not checked: event #${index}, which created the batch, has no registered signer (signer)`);
  }
  const block = entry.blockNumber;
  const named = split.kind === "GS1" ? `GTIN ${identifier.slice(GS1_KEY_PREFIX.length, GS1_KEY_PREFIX.length + 14)}` : `handle ${identifier}`;
  let held = null;
  for (const prefix of split.candidates) {
    const licence = view.get(`licence:${split.kind}:${prefix}:${block}`);
    if (licence.holder === entry.participant.id) {
      held = [prefix, licence];
      break;
    }
    if (held === null && licence.holder !== 0) held = [prefix, licence];
  }
  const creator = who(view, entry.participant.id);
  const adopted = adopts(bundle.events[index].event);
  const came = batch.firstSeenMidChain ? "first seen mid-chain (history before it not captured here), adopted" : "received from outside TraceNode";
  if (held === null && adopted) {
    return result(
      "licence",
      "pass",
      `${named}: ${came} by ${creator} at block ${block}; no prefix of it is licensed in the network, so its brand owner is outside it`,
    );
  }
  if (held === null) return result("licence", "fail", `${named}: no prefix of it was licensed to anyone at block ${block}, when ${creator} created the batch`);
  const [prefix, licence] = held;
  const holder = who(view, licence.holder);
  batch.licence = {
    kind: split.kind.toLowerCase(),
    prefix,
    holder: { id: licence.holder, name: (view.get(`participant:${licence.holder}`) || { name: "" }).name },
    validFrom: licence.validFrom.toString(),
    validUntil: licence.validUntil ? licence.validUntil.toString() : null,
  };
  if (licence.holder !== entry.participant.id) {
    const did = !adopted ? "created the batch" : batch.firstSeenMidChain ? "adopted it first seen mid-chain" : "received it from outside";
    return result("licence", "fail", `${named}: prefix ${prefix} was licensed to ${holder} at block ${block}, not to ${creator}, who ${did}`);
  }
  const until = licence.validUntil ? ` until block ${licence.validUntil}` : "";
  return result("licence", "pass", `${named}: prefix ${prefix}, licensed to ${holder} since block ${licence.validFrom}${until}`);
}

/** The last step of a batch's history when it may have been continued on another node (a
 * SHIP to a participant, anchored, the chain's head beyond the bundle): its receiver's key
 * and shipper are asked of the chain before custody is judged. */
function continuable(batch, view, history) {
  const onChain = view.get(`batch:${batch.batchId}`);
  const last = history[history.length - 1];
  if (!last || !last.receiver || !last.anchored || history.some((s) => s.eventHash === onChain.head)) return null;
  return last;
}

/** custody of a batch continued on another node (node/proofs/verify.py _continued). */
function continuedElsewhere(batch, view, history, head, report) {
  const last = history[history.length - 1];
  if (!last.receiver || !last.anchored) return null;
  const receiver = view.get(`key:${last.receiver}`).participantId;
  if (receiver === 0 || view.get(`registrar:${receiver}`) === view.get(`registrar:${last.custodian}`)) return null;
  batch.continuedAt = [...batch.events].reverse().find((i) => report.events[i].eventHash === last.eventHash);
  batch.continuedTo = receiver;
  batch.chainHead = head;
  const now = batch.custodian.name || `participant ${batch.custodian.id}`;
  return result(
    "custody",
    "skipped",
    `${CONTINUED}: the chain's head is ${head}, after this bundle's last event ${last.eventHash}, a SHIP to ${who(view, receiver)}, another node's participant; the chain records it ${batch.status}, held by ${now}`,
  );
}

const CONTINUED = "continued on another node";

/** Each batch's (pre, post) state leaf for one event (node/proofs/state.py advance). */
function advanceLeaves(event, digest, signerId, leaves) {
  const moves = [];
  for (const b of batchIdsOf(event).sort()) {
    const pre = leaves.get(b) || { head: ZERO32, custodian: 0n, status: 0, count: 0n };
    const moved = transition(event, b, Number(pre.custodian), signerId);
    const post = moved
      ? { head: digest, custodian: BigInt(moved.custodian), status: STATUSES.indexOf(moved.status), count: pre.count + 1n }
      : { ...pre, count: pre.count + 1n };
    leaves.set(b, post);
    moves.push([b, pre, post]);
  }
  return moves;
}

const sameLeaf = (a, b) => a.head === b.head && a.custodian === b.custodian && a.status === b.status && a.count === b.count;

/** Whether `root` is an anchor-only window's (AnchorRegistry keeps a commitment to its roots). */
function anchorOnly(view, root) {
  return view.get(`commitment:${root}`) !== ZERO32;
}

/** The participant a SHIP names (its key current at `block`), as the custody rules take it
 * (node/proofs/verify.py _receiver). */
function receiverOf(event, block, view) {
  if (event.action !== 3 || event.counterparty === ZERO20) return null;
  const key = view.get(`key:${event.counterparty}`);
  if (key.participantId === 0 || block < key.validFrom) return null;
  if (key.validUntil && block >= key.validUntil) return null;
  const { roles, active } = view.get(`status:${key.participantId}:${block}`);
  return { participantId: key.participantId, roles, active };
}

/** A state leaf in words (node/proofs/verify.py _leaf_text). */
function leafText(leaf) {
  return `(head ${leaf.head.slice(0, 14)}…, ${STATUSES[leaf.status]}, custodian ${leaf.custodian}, ${leaf.count} events)`;
}

/**
 * accepted-on-chain of a lifecycle event of an anchor-only window, where nothing executed
 * it on-chain (node/proofs/verify.py _check_replay, detail for detail): the custody rules
 * (applyRules) accept it on the batches as the bundle's earlier events left them, with its
 * signer's roles at the window's block; its transitions are leaves of the window's anchored
 * transition root, signed by its signer, from and to the states the bundle's events lead to
 * (`moves`: advanceLeaves); and CustodyChallenge has not marked the window fraudulent.
 */
function checkReplay(item, state, block, moves, known, rules, view) {
  const entry = state.entry;
  if (entry.participant.id === 0) return result("accepted-on-chain", "skipped", "not checked: the signer is not a participant (signer)");
  const root = state.anchorOnly;
  const window = view.get(`anchor:${item.anchor.root}`);
  const event = item.event;
  const problems = [];
  const { roles } = view.get(`status:${entry.participant.id}:${block}`);
  try {
    applyRules(event, state.digest, { participantId: entry.participant.id, roles }, rules, receiverOf(event, block, view));
  } catch (error) {
    if (!(error instanceof RuleError)) throw error;
    problems.push(`it breaks a custody rule: ${error.message}`);
  }
  const stated = new Map(item.transitions.map((t) => [t.batchId, t]));
  const named = batchIdsOf(event).sort();
  if (item.transitions.map((t) => t.batchId).join() !== named.join()) {
    problems.push(
      `the bundle carries transitions of ${stated.size} batch(es), in some order; the event names ${named.length}, each needs one (ascending batch id)`,
    );
  }
  for (const [b, pre, post] of moves) {
    const t = stated.get(b);
    if (!t) continue;
    const where = `batch ${b}`;
    if (processTransitionProof(state.digest, t) !== root) {
      problems.push(`${where}: the transition's proof does not lead to the window's anchored transition root ${root}`);
    } else if (t.seq < window.firstSeq || t.seq >= window.firstSeq + window.eventCount) {
      problems.push(
        `${where}: the anchored transition's sequence number ${t.seq} lies outside its window's, ${window.firstSeq} to ${window.firstSeq + window.eventCount - 1n}`,
      );
    } else if (Number(t.signerId) !== entry.participant.id) {
      problems.push(`${where}: the anchored transition names signer ${t.signerId}, the event was signed by participant ${entry.participant.id}`);
    } else if (known.has(b) && !(sameLeaf(t.pre, pre) && sameLeaf(t.post, post))) {
      problems.push(
        `${where}: the anchored transition goes from ${leafText(t.pre)} to ${leafText(t.post)}; the bundle's events lead from ${leafText(pre)} to ${leafText(post)}`,
      );
    }
  }
  const fraud = view.challenge ? view.get(`fraud:${item.anchor.root}`) : null;
  if (fraud) problems.unshift(fraudulent(item.anchor.root));
  else if (problems.length) problems.push("the window is fraudulent: anyone may prove it on-chain (tracenode challenge)");
  if (problems.length) return result("accepted-on-chain", "fail", problems.join("; "));
  return result("accepted-on-chain", "pass", fraud === null ? `${REPLAYED}; ${UNMARKED}` : REPLAYED);
}

/** How a report says that an event's custody was checked in an anchor-only window. */
const REPLAYED = "custody: checked by replay, anchor-only window (challengeable)";
/** How a report says it could not read a window's fraud mark. */
const UNMARKED = "fraud marks not read: this verifier knows no CustodyChallenge";

function fraudulent(root) {
  return `window ${root} was proven fraudulent on-chain (CustodyChallenge): none of its events is custody-proven`;
}

/** custody held: the batch `status`, held by `holder` (`how`: how that was checked);
 * pending while `later` events are not committed (node/proofs/verify.py _held). */
function held(status, holder, later, how = "") {
  if (later) return result("custody", "pending", `${later} event(s) not committed yet`);
  return result("custody", "pass", `${status}, held by ${holder}${how}`);
}

/** custody of a batch moved in anchor-only windows: no contract holds its state, the custody
 * rules replayed from the bundle do, as of the block of its state (`asOfBlock`) only
 * (node/proofs/verify.py _replayed_custody). */
function replayedCustody(batch, state, history, view, report, asOfBlock) {
  const broken = batch.events.filter((i) => report.events[i].checks.some((c) => c.check === "accepted-on-chain" && c.outcome === "fail"));
  if (broken.length) {
    return result(
      "custody",
      "fail",
      `event ${broken.map((i) => `#${i}`).join(", ")} broke the custody rules in an anchor-only window (accepted-on-chain): its custody is not proven`,
    );
  }
  if (!state) return result("custody", "fail", "no event of the bundle made this batch");
  batch.status = state.status;
  batch.custodian.id = state.custodianId;
  batch.custodian.name = who(view, state.custodianId);
  return held(state.status, batch.custodian.name, history.filter((s) => !s.anchored).length, `: ${REPLAYED}; ${unseen(asOfBlock)}`);
}

/** What a check of an anchor-only batch cannot see (node/proofs/verify.py LATER_UNSEEN). */
const LATER_UNSEEN =
  "later windows cannot be seen on-chain in anchor-only mode (the chain keeps no head per batch): an event after it, a RECALL too, would not show here";

function unseen(block) {
  return block === null ? LATER_UNSEEN : `as of block ${block}: ${LATER_UNSEEN}`;
}

/** The block an anchor-only batch's checks hold as of: its state's window's, else the last its
 * events were anchored in (null: none is; node/proofs/verify.py _as_of). */
function asOf(item, batch, report) {
  if (item.state) return item.state.blockNumber;
  const blocks = batch.events.map((i) => report.events[i].blockNumber).filter((b) => b !== null).map(BigInt);
  return blocks.length ? blocks.reduce((a, b) => (a > b ? a : b)) : null;
}

function checkCustody(batch, view, history, report) {
  const onChain = view.get(`batch:${batch.batchId}`);
  batch.status = onChain.status;
  batch.custodian.id = onChain.custodianId;
  if (onChain.custodianId) {
    const info = view.get(`participant:${onChain.custodianId}`);
    batch.custodian.name = info ? info.name : "";
  }
  if (!history.length) {
    if (onChain.status === "NONE") return result("custody", "skipped", "not a custody unit (a pallet)");
    return result("custody", "fail", "the chain holds this batch, the bundle has no event that made it");
  }
  const position = history.findIndex((step) => step.eventHash === onChain.head);
  if (position < 0) {
    if (onChain.status === "NONE" && !history.some((s) => s.anchored)) return result("custody", "pending", "not on the chain yet");
    const continued = continuedElsewhere(batch, view, history, onChain.head, report);
    if (continued) return continued;
    return result(
      "custody",
      "fail",
      `the chain's last event for this batch, ${onChain.head}, is not in the bundle: the bundle is older than the chain or leaves events out`,
    );
  }
  const later = history.slice(position + 1);
  if (later.some((s) => s.anchored)) {
    return result("custody", "fail", `the chain's last event for this batch is ${onChain.head}; the bundle's later events were never executed on-chain`);
  }
  const step = history[position];
  if (onChain.status !== step.status || (step.custodian && onChain.custodianId !== step.custodian)) {
    return result(
      "custody",
      "fail",
      `on-chain ${onChain.status}, custodian ${onChain.custodianId}; the events lead to ${step.status}, custodian ${step.custodian}`,
    );
  }
  if (later.length) return result("custody", "pending", `${later.length} event(s) not committed yet`);
  return result("custody", "pass", `${onChain.status}, held by ${batch.custodian.name || onChain.custodianId}`);
}

function finish(report) {
  for (const e of report.events) e.outcome = worst(e.checks.map((c) => c.outcome));
  for (const b of report.batches) b.outcome = worst(b.checks.map((c) => c.outcome));
  report.outcome = worst([...report.checks.map((c) => c.outcome), ...report.events.map((e) => e.outcome), ...report.batches.map((b) => b.outcome)]);
  const lines = report.checks.filter((c) => c.outcome === "fail").map((c) => `bundle: ${c.check}: ${c.detail}`);
  for (const e of report.events) {
    for (const c of e.checks) if (c.outcome === "fail") lines.push(`event #${e.index} ${e.eventHash} (${e.action}): ${c.check}: ${c.detail}`);
  }
  for (const b of report.batches) {
    for (const c of b.checks) if (c.outcome === "fail") lines.push(`batch ${b.identifier || b.batchId}: ${c.check}: ${c.detail}`);
  }
  report.failures = lines;
  return report;
}

/** Read a bundle from text: size, JSON, then every field. */
export function readBundle(text) {
  if (text.length > MAX_BUNDLE_BYTES) throw new BundleError(`the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new BundleError(`the bundle is not JSON: ${error.message}`);
  }
  return parseBundle(doc);
}
