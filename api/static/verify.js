// The verifier page (/verify): read a proof bundle (from this node, or a file the buyer
// chooses or drops), check it in this browser with verify-core.js against a JSON-RPC
// endpoint (this node's /rpc, or any other the buyer enters), and show every check as it
// completes.
//
// Everything from the bundle, the node and the RPC endpoint is inserted as text (text
// nodes, setAttribute), never as markup: the page runs under Trusted Types with no policy.

import { ACTIONS, BundleError, MAX_BUNDLE_BYTES, RpcError, Rpc, checksumAddress, eventChecks, keccakHex, readBundle, verifyBundle } from "./verify-core.js";

// What each check means, in a buyer's words (the check's own name is shown beside it).
const PLAIN = {
  chain: "The chain and its three contracts are the ones the bundle names, and they are wired to each other",
  lineage: "Every ingredient is in the bundle, and every link is backed by a signed event",
  "event-hash": "The event is exactly what was signed (its EIP-712 hash)",
  signature: "The signature is valid",
  payload: "The details (readings, certificates …) are the ones that were signed",
  "merkle-proof": "Its Merkle proof leads to the anchored root",
  "root-on-chain": "The root is anchored on the chain, in that block, by that transaction",
  "accepted-on-chain": "The BatchRegistry contract accepted it (anchor-only: the custody rules, replayed in this browser, accept it)",
  signer: "The signer was a registered participant, active, with the right role, at that block",
  "hash-chain": "It follows its batch's previous event: no gap, no fork",
  identifier: "The identifier names this batch",
  licence: "Whoever made the batch held its identifier's prefix (the brand) at that block",
  custody: "Where the batch stands on the chain (anchor-only: by the replayed rules) is where its events lead",
  complete: "No event of the batch is left out: the bundle holds every event its anchored state counts",
};
const MARKS = { pass: "✓", fail: "✗", pending: "…", skipped: "–", checking: "○", unchecked: "?" };
const WORDS = { pass: "passed", fail: "FAILED", pending: "not anchored yet", skipped: "does not apply", checking: "checking", unchecked: "not checked" };
const ACTION_WORDS = {
  COMMISSION: "Produced",
  OBSERVE: "Observed",
  SHIP: "Shipped",
  RECEIVE: "Received",
  TRANSFORM: "Transformed",
  AGGREGATE: "Packed",
  DISAGGREGATE: "Unpacked",
  RECALL: "Recalled",
  DESTROY: "Destroyed",
};
const DEFAULT_TIMEOUT = 15; // seconds per request to the RPC endpoint

// ----- building the DOM from text -----

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

function short(hex) {
  return hex.length > 18 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex;
}

function time(ms) {
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? String(ms) : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// ----- the page -----

const form = document.getElementById("source");
const idInput = document.getElementById("bundle-id");
const fileInput = document.getElementById("bundle-file");
const rpcInput = document.getElementById("rpc-url");
const drop = document.getElementById("drop");
const statusLine = document.getElementById("status");
const reportSection = document.getElementById("report");
const verdict = document.getElementById("verdict");
const facts = document.getElementById("bundle-facts");
const bundleList = document.getElementById("bundle-check-list");
const eventList = document.getElementById("events");
const batchList = document.getElementById("batches");

const params = new URLSearchParams(window.location.search);
const ownRpc = new URL("/rpc", window.location.href).href;
const seconds = Number(params.get("timeout"));
const timeoutSeconds = Number.isFinite(seconds) && seconds >= 1 && seconds <= 120 ? seconds : DEFAULT_TIMEOUT;
let run = 0; // the current run; a newer one makes older callbacks stale
let lastFile = null;

function say(text, kind = "info") {
  statusLine.className = `status ${kind}`;
  statusLine.textContent = text;
}

function checkItem(check) {
  return h(
    "li",
    { class: "check", "data-check": check, "data-outcome": "checking" },
    h("span", { class: "check-mark", "aria-hidden": "true" }, MARKS.checking),
    h("span", { class: "check-name" }, PLAIN[check] || check, " ", h("code", {}, check)),
    h("span", { class: "check-outcome" }, WORDS.checking),
    h("span", { class: "check-detail" }),
  );
}

function setCheck(item, outcome, detail) {
  item.dataset.outcome = outcome;
  item.querySelector(".check-mark").textContent = MARKS[outcome] || "?";
  item.querySelector(".check-outcome").textContent = WORDS[outcome] || outcome;
  item.querySelector(".check-detail").textContent = detail || "";
}

function skeleton(bundle, rpcUrl, source) {
  const names = new Map(bundle.batches.map((b) => [b.batchId, b.identifier]));
  const subject = names.get(bundle.subject) || bundle.subject;
  clear(facts).append(
    h("p", {}, "Bundle of ", h("strong", { class: "subject" }, subject), ` (${source}): ${bundle.events.length} events, ${bundle.batches.length} batches.`),
    h(
      "dl",
      { class: "contracts" },
      [
        ["Chain", bundle.chain.chainId.toString()],
        ["ParticipantRegistry", checksumAddress(bundle.chain.participantRegistry)],
        ["BatchRegistry", checksumAddress(bundle.chain.batchRegistry)],
        ["AnchorRegistry", checksumAddress(bundle.chain.anchorRegistry)],
        ["Checked against", rpcUrl],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", { class: "hash" }, v)]),
    ),
    h("p", { class: "muted", id: "published" }),
  );
  clear(bundleList).append(checkItem("chain"), checkItem("lineage"));
  clear(eventList).append(
    ...bundle.events.map((item, index) => {
      const e = item.event;
      const action = ACTIONS[e.action];
      const batches = [e.batchId, ...e.inputs, ...e.outputs].filter((b) => !/^0x0+$/.test(b));
      return h(
        "li",
        { class: "event", "data-index": index, "data-event": item.eventHash, "data-outcome": "checking" },
        h(
          "p",
          { class: "event-title" },
          h("span", { class: "event-index" }, `#${index}`),
          " ",
          h("strong", {}, ACTION_WORDS[action] || action),
          " · ",
          [...new Set(batches)].map((b, i) => [i ? ", " : "", names.get(b) || short(b)]),
          " · ",
          time(e.eventTime),
        ),
        h("p", { class: "event-signer muted" }),
        h("ul", { class: "checks" }, eventChecks(e).map(checkItem)),
      );
    }),
  );
  clear(batchList).append(
    ...bundle.batches.map((b, index) =>
      h(
        "li",
        { class: "batch", "data-index": index, "data-batch": b.batchId, "data-outcome": "checking" },
        h("p", { class: "batch-title" }, h("strong", {}, b.identifier || b.batchId)),
        h("ul", { class: "checks" }, checkItem("identifier"), checkItem("licence"), checkItem("custody"), checkItem("complete")),
      ),
    ),
  );
  setVerdict("checking", "Checking …", `0 of ${countChecks()} checks done.`);
  reportSection.hidden = false;
  reportSection.scrollIntoView({ block: "start" });
  published(bundle);
}

/** This node's /v1/info contracts, or null (asked once per page, within the timeout). */
let infoAnswer = null;
function nodeContracts() {
  infoAnswer ||= (async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutSeconds * 1000);
    try {
      const response = await fetch("/v1/info", { headers: { Accept: "application/json" }, cache: "no-store", signal: controller.signal });
      if (!response.ok) return null;
      const info = await response.json();
      return info && info.contracts && typeof info.contracts === "object" ? info.contracts : null;
    } catch {
      return null; // the comparison and the fraud marks are optional
    } finally {
      clearTimeout(timer);
    }
  })();
  return infoAnswer;
}

/** Whether this node publishes the three contracts the bundle names. */
function sameContracts(theirs, bundle) {
  return ["participantRegistry", "batchRegistry", "anchorRegistry"].every(
    (k) => typeof theirs[k] === "string" && theirs[k].toLowerCase() === bundle.chain[k],
  );
}

/** The CustodyChallenge whose fraud marks the verifier reads: the one this node publishes
 * (an anchor-only deployment's) when it publishes the bundle's contracts, else none (the
 * report then says the marks were not read). verify-core.js checks that it reads the
 * bundle's registries before it believes a mark. */
async function challengeFor(bundle) {
  const theirs = await nodeContracts();
  const address = theirs && theirs.custodyChallenge;
  return typeof address === "string" && /^0x[0-9a-fA-F]{40}$/.test(address) && sameContracts(theirs, bundle) ? address : null;
}

async function published(bundle) {
  // This node's own contracts, for comparison: information, not a check (the bundle may
  // come from another node of the consortium, or another chain).
  const note = document.getElementById("published");
  try {
    const theirs = await nodeContracts();
    if (!theirs || !note.isConnected) return;
    const same = sameContracts(theirs, bundle);
    note.textContent = same
      ? "This node publishes the same three contracts (/v1/info). Compare them with the ones your consortium publishes."
      : "This node publishes other contracts than the bundle names (/v1/info): the bundle is from another deployment. Compare its contracts with the ones your consortium publishes.";
    note.dataset.same = String(same);
  } catch {
    // the comparison is optional
  }
}

function countChecks() {
  return document.querySelectorAll("#report li.check").length;
}

function countDone() {
  return document.querySelectorAll('#report li.check:not([data-outcome="checking"])').length;
}

function setVerdict(outcome, title, text, lines = []) {
  verdict.dataset.outcome = outcome;
  clear(verdict).append(
    h("p", { class: "verdict-title" }, h("span", { class: "badge" }, title)),
    h("p", {}, text),
    lines.length ? h("ul", { class: "failures" }, lines.map((l) => h("li", {}, l))) : "",
  );
}

function onCheck(ticket) {
  return (scope, index, result) => {
    if (ticket !== run) return;
    let holder;
    if (scope === "bundle") holder = bundleList;
    else if (scope === "event") holder = eventList.querySelector(`li.event[data-index="${index}"]`);
    else holder = batchList.querySelector(`li.batch[data-index="${index}"]`);
    let item = holder && holder.querySelector(`li.check[data-check="${result.check}"]`);
    if (!item && holder && scope !== "bundle") {
      // a check the event did not expect: an observation's accepted-on-chain, failed by its
      // window's fraud mark (anchor-only)
      item = checkItem(result.check);
      holder.querySelector("ul.checks").append(item);
    }
    if (!item) return;
    setCheck(item, result.outcome, result.detail);
    if (scope !== "bundle") holder.dataset.outcome = worstOf(holder);
    if (verdict.dataset.outcome === "checking") {
      setVerdict("checking", "Checking …", `${countDone()} of ${countChecks()} checks done.`);
    }
  };
}

const RANK = { skipped: 0, pass: 0, checking: 1, unchecked: 1, pending: 2, fail: 3 };

function worstOf(holder) {
  let out = "pass";
  for (const item of holder.querySelectorAll("li.check")) if (RANK[item.dataset.outcome] > RANK[out]) out = item.dataset.outcome;
  return out;
}

function finished(report) {
  const events = report.events.length;
  for (const li of eventList.querySelectorAll("li.event")) {
    const entry = report.events[Number(li.dataset.index)];
    if (entry && entry.participant.id) {
      li.querySelector(".event-signer").textContent = `Signed by ${entry.participant.name || "participant " + entry.participant.id} (${entry.signer})`;
    } else if (entry && entry.signer) {
      li.querySelector(".event-signer").textContent = `Signed by ${entry.signer}`;
    }
    li.dataset.outcome = entry ? entry.outcome : li.dataset.outcome;
  }
  for (const li of batchList.querySelectorAll("li.batch")) {
    const batch = report.batches[Number(li.dataset.index)];
    if (batch) li.dataset.outcome = batch.outcome;
  }
  const where = `chain ${report.chainId}${report.block ? `, block ${report.block}` : ""}`;
  if (report.outcome === "pass") {
    setVerdict("pass", "✓ Verified in your browser", `Every check of ${events} events and ${report.batches.length} batches holds against ${where}.`);
  } else if (report.outcome === "pending") {
    const waiting = report.events.filter((e) => e.outcome === "pending").length;
    setVerdict(
      "pending",
      "… Not yet anchored",
      `Nothing failed, but ${waiting} of ${events} events are not anchored on the chain yet: the node commits waiting events every few seconds. Check again in a moment.`,
    );
  } else {
    const count = report.failures.length;
    setVerdict("fail", "✗ Verification failed", `${count} check${count === 1 ? "" : "s"} failed against ${where}, each marked ✗ below:`, report.failures);
  }
  say("");
}

function stopped(message) {
  for (const item of document.querySelectorAll('#report li.check[data-outcome="checking"]')) {
    setCheck(item, "unchecked", "not checked: the verification stopped");
  }
  for (const li of document.querySelectorAll("#report li.event, #report li.batch")) li.dataset.outcome = worstOf(li);
  setVerdict("error", "Could not finish the check", message);
  say(message, "error");
}

function rpcUrl() {
  const text = rpcInput.value.trim() || ownRpc;
  let url;
  try {
    url = new URL(text, window.location.href);
  } catch {
    return null;
  }
  return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
}

/** The batch id an identifier typed here names, as the page can tell without the node's
 * word: a 0x batch id is itself; a canonical identifier's is its keccak (what a batch id
 * is). Another spelling (an EPC URN, a Digital Link on another domain) cannot be matched
 * here: the node's answer to it is not taken as that batch's. */
function askedBatch(id) {
  return /^0x[0-9a-fA-F]{64}$/.test(id) ? id.toLowerCase() : keccakHex(new TextEncoder().encode(id));
}

/** The bundle answered is not (shown to be) of the batch asked for: nothing is checked. */
function wrongBatch(id, bundle) {
  for (const item of document.querySelectorAll('#report li.check[data-outcome="checking"]')) {
    setCheck(item, "unchecked", "not checked: the bundle is not of the batch asked for");
  }
  for (const li of document.querySelectorAll("#report li.event, #report li.batch")) li.dataset.outcome = worstOf(li);
  const named = (bundle.batches.find((b) => b.batchId === bundle.subject) || {}).identifier || bundle.subject;
  setVerdict(
    "fail",
    "✗ Not the batch you asked for",
    `You asked this node for ${id}; it answered the bundle of ${named} (batch ${bundle.subject}). A proof of another batch says nothing of yours. Ask with the batch id (0x…) or the identifier as the buyer's page shows it, which this page matches itself.`,
  );
  say("");
}

async function check(load, source, id = null) {
  const ticket = ++run;
  const url = rpcUrl();
  if (!url) {
    say("The JSON-RPC endpoint must be an http:// or https:// URL.", "error");
    return;
  }
  reportSection.hidden = true;
  say("Reading the bundle …");
  let bundle;
  try {
    bundle = readBundle(await load());
  } catch (error) {
    if (ticket !== run) return;
    say(error instanceof BundleError ? `This is not a proof bundle TraceNode can check: ${error.message}` : String(error.message || error), "error");
    return;
  }
  if (ticket !== run) return;
  skeleton(bundle, url, source);
  if (id !== null && askedBatch(id) !== bundle.subject) {
    wrongBatch(id, bundle);
    return;
  }
  say(`Checking against ${url} …`);
  const rpc = new Rpc(url, { timeoutMs: timeoutSeconds * 1000 });
  const challenge = await challengeFor(bundle);
  if (ticket !== run) return;
  try {
    const report = await verifyBundle(bundle, rpc, { onCheck: onCheck(ticket), challenge });
    if (ticket === run) finished(report);
  } catch (error) {
    if (ticket !== run) return;
    if (error instanceof RpcError) stopped(`The chain could not be asked: ${error.message}.`);
    else stopped(`The verifier stopped: ${error.message || error}`);
  }
}

async function fromNode(id) {
  let response;
  try {
    response = await fetch(`/v1/batches/${encodeURIComponent(id)}/bundle`, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch {
    throw new Error("This node did not answer. Try again in a moment.");
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const problem = await response.json();
      if (typeof problem.detail === "string") detail = problem.detail;
    } catch {
      // not a problem document
    }
    const messages = {
      404: "This node has no batch by that identifier.",
      422: "That is not a batch identifier this node understands.",
      401: "This node shows batches to API key holders only.",
      429: "Too many requests: wait a moment and try again.",
    };
    throw new Error(`${messages[response.status] || "The node could not give the bundle."} ${detail}`);
  }
  return response.text();
}

function fromFile(file) {
  return async () => {
    if (file.size > MAX_BUNDLE_BYTES) throw new BundleError(`the file is larger than ${MAX_BUNDLE_BYTES} bytes`);
    return file.text();
  };
}

function remember() {
  const query = new URLSearchParams();
  if (idInput.value.trim()) query.set("id", idInput.value.trim());
  if (rpcInput.value.trim() && rpcInput.value.trim() !== ownRpc) query.set("rpc", rpcInput.value.trim());
  if (params.has("timeout")) query.set("timeout", params.get("timeout"));
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const id = idInput.value.trim();
  remember();
  if (id) check(() => fromNode(id), "from this node", id);
  else if (lastFile) check(fromFile(lastFile), `file ${lastFile.name}`);
  else say("Type a batch identifier, or choose a bundle file.", "error");
});

function useFile(file) {
  if (!file) return;
  lastFile = file;
  idInput.value = "";
  remember();
  check(fromFile(file), `file ${file.name}`);
}

fileInput.addEventListener("change", () => useFile(fileInput.files[0]));
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  useFile(event.dataTransfer && event.dataTransfer.files[0]);
});

rpcInput.value = params.get("rpc") || ownRpc;
idInput.value = params.get("id") || "";
if (idInput.value.trim()) {
  check(() => fromNode(idInput.value.trim()), "from this node", idInput.value.trim());
} else {
  say("");
}
