// TraceNode's buyer page: type, paste or scan a batch identifier; see where the batch
// came from, whether every step verifies on-chain, and where it went.
//
// Everything the API returns is inserted as text (text nodes, setAttribute): never as
// markup. The page's Content-Security-Policy enforces Trusted Types with no policy, so
// handing a string to any HTML-parsing sink would throw rather than parse it.

const SVG_NS = "http://www.w3.org/2000/svg";
const ZERO32 = "0x" + "0".repeat(64);
const HASH = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const GS1 = /^https:\/\/id\.gs1\.org\/01\/([0-9]{14})\/(10|21)\/(.+)$/;

const ACTIONS = {
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

// The verifier's checks (node/proofs/verify.py), as a buyer would name a failure.
const CHECKS = {
  chain: "Wrong chain or contracts",
  "event-hash": "Altered event",
  signature: "Bad signature",
  payload: "Altered details",
  signer: "Signer not authorised",
  "hash-chain": "Broken history",
  "merkle-proof": "Proof mismatch",
  "root-on-chain": "Root not on chain",
  "accepted-on-chain": "Refused on chain",
  identifier: "Wrong identifier",
  lineage: "Missing ingredient",
  custody: "Custody mismatch",
};

const STATUS = {
  ACTIVE: "Active",
  IN_TRANSIT: "In transit",
  CONSUMED: "Used up",
  RECALLED: "Recalled",
  DESTROYED: "Destroyed",
  PALLET: "Pallet",
  NONE: "Not on chain yet",
};

// "gs1:Temperature", "urn:epcglobal:cbv:bizstep:shipping", "https://gs1.org/voc/Temperature"
const VOCABULARY_PREFIX = /^(?:(?:[A-Za-z][\w.-]*:)+(?!\/)|https?:\/\/.*\/)/;

const UNITS = { CEL: "°C", FAH: "°F", KEL: "K", KGM: "kg", GRM: "g", LTR: "L", MTR: "m", P1: "%" };

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

// ----- building the DOM from text -----

function safeHref(value) {
  const text = String(value);
  return /^(\/(?!\/)|\?|#|https?:\/\/)/i.test(text) ? text : null;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (/^on/i.test(name) || name === "style") throw new Error(`refusing attribute ${name}`);
    if (name === "href" || name === "src") {
      const href = safeHref(value);
      if (href !== null) node.setAttribute(name, href);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

function clear(node) {
  node.replaceChildren();
  return node;
}

// ----- small helpers -----

function short(hex, keep = 6) {
  const text = String(hex || "");
  return text.length > 2 * keep + 3 ? `${text.slice(0, keep + 2)}…${text.slice(-keep)}` : text;
}

function time(ms) {
  const value = Number(ms);
  if (!Number.isFinite(value)) return { text: String(ms), iso: "" };
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return { text: String(ms), iso: "" };
  return { text: dateTime.format(date), iso: date.toISOString(), date };
}

function timeElement(ms) {
  const t = time(ms);
  return h("time", { datetime: t.iso || null, title: t.iso ? `${t.iso} (UTC)` : null }, t.text);
}

function unit(uom) {
  return UNITS[uom] || (uom ? String(uom) : "");
}

function quantity(q) {
  if (!q || typeof q !== "object") return null;
  if (q.value === undefined) return null;
  const u = unit(q.uom);
  return u ? `${q.value} ${u}` : String(q.value);
}

function pageHref(identifier) {
  return `?id=${encodeURIComponent(identifier)}`;
}

/** How to show an identifier: a title (lot, serial, handle suffix) and what it belongs to. */
function describe(identifier, batchId) {
  const text = identifier || "";
  const gs1 = GS1.exec(text);
  if (gs1) {
    let value = gs1[3];
    try {
      value = decodeURIComponent(value);
    } catch {
      /* shown as is */
    }
    return {
      title: `${gs1[2] === "10" ? "Lot" : "Item"} ${value}`,
      short: value,
      sub: `GTIN ${gs1[1]}`,
    };
  }
  const handle = /^([0-9]+(?:\.[0-9]+)+)\/(.+)$/s.exec(text);
  if (handle) return { title: handle[2], short: handle[2], sub: `Handle ${handle[1]}` };
  if (text) return { title: text, short: text, sub: "" };
  return { title: `Batch ${short(batchId)}`, short: short(batchId, 4), sub: "" };
}

function clip(text, max) {
  const value = String(text);
  return value.length > max ? value.slice(0, max - 1) + "…" : value;
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", { class: "visually-hidden", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const before = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => {
    button.textContent = before;
  }, 1500);
}

function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "copy", "data-copy": text }, label);
  button.addEventListener("click", () => copy(text, button));
  return button;
}

function codeLine(text, title) {
  return h(
    "div",
    { class: "command" },
    title ? h("p", { class: "command-title" }, title) : null,
    h("pre", {}, h("code", {}, text)),
    copyButton(text),
  );
}

function hashRow(label, value) {
  return h(
    "div",
    { class: "hash-row" },
    h("span", { class: "hash-label" }, label),
    h("code", { class: "hash", title: value }, value),
    copyButton(value),
  );
}

// ----- reading the overview -----

/** Joins the report, the bundle, the batch and the trace into what the page shows. */
function model(data) {
  const report = data.provenance;
  const bundle = data.bundle;
  const subject = report.subject;
  const names = new Map(); // batch id -> identifier
  for (const [batchId, identifier] of Object.entries(data.names || {})) names.set(batchId, identifier);
  for (const b of bundle.batches) if (b.identifier) names.set(b.batchId, b.identifier);
  for (const b of data.trace.batches) if (b.identifier) names.set(b.batchId, b.identifier);
  const people = new Map(); // address (lowercase) -> name
  const addPerson = (address, name) => {
    if (address && name) people.set(String(address).toLowerCase(), name);
  };
  for (const e of report.events) addPerson(e.signer, e.participant && e.participant.name);
  if (data.batch) {
    for (const key of ["producer", "custodian", "receiver"]) {
      const p = data.batch[key];
      if (p) addPerson(p.address, p.name);
    }
  }
  const statuses = new Map(); // batch id -> on-chain status
  for (const b of report.batches) statuses.set(b.batchId, b.status);
  for (const b of data.trace.batches) if (!statuses.has(b.batchId)) statuses.set(b.batchId, b.status);
  const events = report.events.map((e, i) => {
    const item = bundle.events.length === report.events.length ? bundle.events[i] : null;
    return {
      report: e,
      message: item ? item.event : null,
      payload: item && item.payload !== undefined ? item.payload : null,
      anchor: item ? item.anchor || null : null,
      storedHash: item ? item.eventHash : e.eventHash,
    };
  });
  return { data, report, bundle, subject, names, people, statuses, events };
}

function batchName(m, batchId) {
  return describe(m.names.get(batchId), batchId);
}

function personName(m, address) {
  if (!address || address === "0x" + "0".repeat(40)) return null;
  return m.people.get(String(address).toLowerCase()) || short(address, 4);
}

function failingChecks(checks) {
  return (checks || []).filter((c) => c.outcome === "fail");
}

function badge(outcome, checks, { large = false } = {}) {
  const cls = `badge ${outcome}${large ? " large" : ""}`;
  if (outcome === "pass") return h("span", { class: cls }, large ? "✓ Every step verified" : "✓ Verified");
  if (outcome === "pending") return h("span", { class: cls }, "… Not yet anchored");
  if (large) return h("span", { class: cls }, "✗ Verification failed");
  const first = failingChecks(checks)[0];
  const label = first ? CHECKS[first.check] || first.check : "Failed";
  return h("span", { class: cls, title: first ? first.detail : null }, `✗ ${label}`);
}

/** Readable facts from an event's payload (EPCIS-style fields the demo and capture use). */
function payloadFacts(payload) {
  const facts = [];
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return facts;
  const cert = payload.certificationInfo;
  if (cert && typeof cert === "object") {
    const parts = [cert.certificationStandard, cert.certificationAgency && `by ${cert.certificationAgency}`]
      .filter(Boolean)
      .join(" ");
    facts.push(["Certificate", parts + (cert.certificationIdentification ? ` (${cert.certificationIdentification})` : "")]);
  }
  for (const reading of sensorReadings(payload)) {
    facts.push([reading.label, `${reading.value} ${reading.unit}`.trim()]);
  }
  if (payload.quantity) facts.push(["Quantity", quantity(payload.quantity)]);
  if (payload.outputQuantity) facts.push(["Output", quantity(payload.outputQuantity)]);
  if (typeof payload.reason === "string") facts.push(["Reason", payload.reason]);
  if (typeof payload.bizStep === "string") {
    facts.push(["Business step", payload.bizStep.replace(VOCABULARY_PREFIX, "")]);
  }
  return facts.filter(([, value]) => value);
}

function place(payload) {
  if (!payload || typeof payload !== "object") return null;
  for (const key of ["bizLocation", "readPoint"]) {
    const value = payload[key];
    if (value && typeof value === "object" && typeof value.id === "string") return value.id;
    if (typeof value === "string") return value;
  }
  return typeof payload.location === "string" ? payload.location : null;
}

function sensorReadings(payload) {
  const out = [];
  const elements = payload && Array.isArray(payload.sensorElementList) ? payload.sensorElementList : [];
  for (const element of elements) {
    const reports = element && Array.isArray(element.sensorReport) ? element.sensorReport : [];
    for (const r of reports) {
      if (!r || typeof r !== "object") continue;
      const value = typeof r.value === "number" ? r.value : Number.parseFloat(r.value);
      if (!Number.isFinite(value)) continue;
      const type = typeof r.type === "string" ? r.type.replace(VOCABULARY_PREFIX, "") : "Reading";
      out.push({ type, label: type, value, uom: r.uom || "", unit: unit(r.uom), time: r.time });
    }
  }
  return out;
}

// ----- the sections -----

function recallBanners(m) {
  const banners = [];
  const recallOf = (batchId) =>
    m.events.find((e) => e.report.action === "RECALL" && e.report.batchIds.includes(batchId));
  const recalled = m.report.batches.filter((b) => b.status === "RECALLED");
  const own = m.data.batch && m.data.batch.status === "RECALLED";
  for (const b of recalled) {
    const isSubject = b.batchId === m.subject;
    const recall = recallOf(b.batchId);
    const who = recall ? recall.report.participant.name || short(recall.report.signer, 4) : null;
    const reason = recall && recall.payload && typeof recall.payload.reason === "string" ? recall.payload.reason : null;
    const name = batchName(m, b.batchId);
    const when = recall ? time(recall.report.eventTime).text : null;
    const details = h(
      "p",
      {},
      who ? `Recalled by ${who}` : "Recalled",
      when ? ` on ${when}` : "",
      reason ? `: ${reason}` : ".",
    );
    if (isSubject) {
      const made = m.data.trace.count;
      banners.push(
        h(
          "section",
          { class: "recall", role: "alert", "data-recall": "self" },
          h("h2", {}, "⚠ RECALLED — do not sell or consume this batch"),
          details,
          made > 0
            ? h("p", {}, h("a", { href: "#downstream" }, `${made} batch${made === 1 ? " was" : "es were"} made from it`), " — see where it went below.")
            : null,
        ),
      );
    } else {
      banners.push(
        h(
          "section",
          { class: "recall", role: "alert", "data-recall": "ancestor" },
          h("h2", {}, "⚠ Made from a recalled batch"),
          h(
            "p",
            {},
            "This batch was made from ",
            h("a", { href: pageHref(m.names.get(b.batchId) || b.batchId) }, name.title),
            name.sub ? ` (${name.sub})` : "",
            ", which has been recalled.",
          ),
          details,
        ),
      );
    }
  }
  if (own && !recalled.some((b) => b.batchId === m.subject)) {
    banners.push(h("section", { class: "recall", role: "alert", "data-recall": "self" }, h("h2", {}, "⚠ RECALLED — do not sell or consume this batch")));
  }
  return banners;
}

function summary(m) {
  const data = m.data;
  const name = describe(data.identifier, m.subject);
  const report = m.report;
  const batch = data.batch;
  const anchored = report.events.filter((e) => e.blockNumber !== null).length;
  let verdict;
  if (report.outcome === "pass") {
    verdict = `Every signature, signer, Merkle proof and on-chain record checks out: ${report.events.length} events on ${report.batches.length} batch${report.batches.length === 1 ? "" : "es"}, all anchored on chain ${report.chainId}.`;
  } else if (report.outcome === "pending") {
    verdict = `Nothing failed; ${report.events.length - anchored} of ${report.events.length} events are not anchored on-chain yet.`;
  } else {
    verdict = `${report.failures.length} check${report.failures.length === 1 ? "" : "s"} failed:`;
  }
  const facts = [];
  const status = batch ? batch.status : m.statuses.get(m.subject) || "NONE";
  const fact = (label, ...value) => facts.push(h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, ...value)));
  fact("Status", h("span", { class: `chip status-${String(status).toLowerCase()}` }, STATUS[status] || status));
  if (name.sub) fact(name.sub.startsWith("GTIN") ? "Product" : "Prefix", name.sub.replace(/^(GTIN|Handle) /, ""));
  if (batch && batch.producer && batch.producer.name) fact("Producer", batch.producer.name);
  if (batch && batch.custodian && batch.custodian.name) {
    fact(status === "CONSUMED" ? "Last held by" : "Held by", batch.custodian.name);
  }
  if (batch && batch.receiver && batch.receiver.name) fact("On its way to", batch.receiver.name);
  if (batch && batch.parents.length) {
    fact(
      "Made from",
      batch.parents.map((p, i) => [i ? ", " : "", h("a", { href: pageHref(m.names.get(p) || p) }, batchName(m, p).title)]),
    );
  }
  if (batch && batch.children.length) {
    fact(
      "Made into",
      batch.children.map((c, i) => [i ? ", " : "", h("a", { href: pageHref(m.names.get(c) || c) }, batchName(m, c).title)]),
    );
  }
  fact("Batch id", h("code", { class: "hash", title: m.subject }, short(m.subject, 8)), copyButton(m.subject));

  const qr = h(
    "figure",
    { class: "qr" },
    h("img", { src: data.links.qrSvg, alt: `QR code: ${data.links.label}`, width: 148, height: 148 }),
    h(
      "figcaption",
      {},
      h("span", { class: "label-url" }, data.links.label),
      h("a", { href: data.links.qrPng, download: `${clip(name.short, 40).replace(/[^A-Za-z0-9._-]/g, "_")}-qr.png` }, "Download PNG"),
    ),
  );

  return h(
    "section",
    { class: "card summary", id: "summary" },
    h(
      "div",
      { class: "summary-main" },
      h("p", { class: "eyebrow" }, name.sub || "Batch"),
      h("h1", { class: "batch-title" }, name.title),
      h("p", { class: "identifier" }, data.identifier),
      h(
        "div",
        { class: `verdict ${report.outcome}`, "data-outcome": report.outcome },
        badge(report.outcome, [], { large: true }),
        h("p", {}, verdict),
        report.outcome === "fail" ? h("ul", { class: "failures" }, report.failures.map((f) => h("li", {}, f))) : null,
      ),
      h("dl", { class: "facts" }, facts),
    ),
    qr,
  );
}

function eventTitle(m, e) {
  const r = e.report;
  const readings = sensorReadings(e.payload);
  if (r.action === "OBSERVE" && readings.length) return "Sensor reading";
  if (r.action === "OBSERVE" && e.payload && e.payload.certificationInfo) return "Certified";
  if (r.action === "TRANSFORM" && e.message) {
    const outs = e.message.outputs.map((o) => batchName(m, o).short).join(", ");
    return `Made ${outs}`;
  }
  return ACTIONS[r.action] || r.action;
}

function eventBatches(m, e) {
  const r = e.report;
  if (r.action === "TRANSFORM" && e.message) {
    const link = (id) => h("a", { href: pageHref(m.names.get(id) || id) }, batchName(m, id).short);
    const ins = e.message.inputs.map((id, i) => [i ? " + " : "", link(id)]);
    const outs = e.message.outputs.map((id, i) => [i ? " + " : "", link(id)]);
    return h("span", { class: "event-batches" }, ins, " → ", outs);
  }
  return h(
    "span",
    { class: "event-batches" },
    r.batchIds.map((id, i) => [i ? ", " : "", id === m.subject ? batchName(m, id).short : h("a", { href: pageHref(m.names.get(id) || id) }, batchName(m, id).short)]),
  );
}

// The commands as they run in a clone of TraceNode's repository once `bash scripts/setup.sh`
// has installed them (docs/web.md); where they are on the PATH, `tracenode` and `cast` alone.
const TRACENODE = ".venv/bin/tracenode";
const CAST = "node_modules/.bin/cast";
const IN_A_CLONE = "Run it in a clone of TraceNode's repository, after bash scripts/setup.sh (which installs both tools there); with TraceNode or Foundry installed, tracenode and cast alone do the same.";

function castCommand(m, e) {
  if (!e.anchor) return null;
  const registry = m.report.contracts.anchorRegistry;
  const proof = `[${e.anchor.proof.join(",")}]`;
  return `${CAST} call ${registry} "verifyEvent(bytes32,bytes32[],bytes32)(bool)" ${e.anchor.root} "${proof}" ${e.report.eventHash} --rpc-url ${m.data.links.rpc}`;
}

function eventProof(m, e) {
  const r = e.report;
  const rows = [];
  if (r.blockNumber !== null) rows.push(h("p", {}, `Anchored in block ${r.blockNumber} on chain ${m.report.chainId}.`));
  else if (!e.anchor) rows.push(h("p", {}, "Not anchored on-chain yet: the node commits waiting events every few seconds."));
  rows.push(hashRow("Event", r.eventHash));
  if (r.txHash) rows.push(hashRow("Transaction", r.txHash));
  if (r.root) rows.push(hashRow("Merkle root", r.root));
  const links = [];
  if (e.anchor && HASH.test(e.storedHash)) links.push(h("a", { href: `/v1/events/${e.storedHash}/proof`, class: "proof-link" }, "Proof (JSON)"));
  if (HASH.test(e.storedHash)) links.push(h("a", { href: `/v1/events/${e.storedHash}` }, "Event (JSON)"));
  const explorer = m.data.links.explorerTx;
  if (explorer && r.txHash && HASH.test(r.txHash)) {
    links.push(h("a", { href: explorer.replace("{tx}", r.txHash), rel: "noopener noreferrer", target: "_blank" }, "Transaction in the explorer"));
  }
  if (links.length) rows.push(h("p", { class: "links" }, links.map((l, i) => [i ? " · " : "", l])));
  const cast = castCommand(m, e);
  if (cast) rows.push(codeLine(cast, "Check this event's proof on the chain yourself (in a clone of TraceNode, after bash scripts/setup.sh; with Foundry installed, cast alone):"));
  rows.push(
    h(
      "ul",
      { class: "checks" },
      r.checks.map((c) =>
        h(
          "li",
          { class: `check ${c.outcome}`, "data-check": c.check },
          h("span", { class: "check-mark" }, { pass: "✓", fail: "✗", pending: "…", skipped: "–" }[c.outcome] || "?"),
          h("span", { class: "check-name" }, c.check),
          c.detail ? h("span", { class: "check-detail" }, c.detail) : null,
        ),
      ),
    ),
  );
  return h("details", { class: "proof" }, h("summary", {}, "Proof and checks"), rows);
}

function timeline(m) {
  const items = m.events.map((e) => {
    const r = e.report;
    const who = r.participant && r.participant.name ? r.participant.name : r.signer ? short(r.signer, 4) : "unknown signer";
    const where = place(e.payload);
    const lines = [];
    if (r.action === "SHIP" && e.message) lines.push(["To", personName(m, e.message.counterparty)]);
    if (where) lines.push(["Where", where]);
    else if (e.message && e.message.location && e.message.location !== ZERO32) {
      lines.push(["Where", h("span", { title: `keccak-256 of the location the signer named: ${e.message.location}` }, `signed location ${short(e.message.location, 4)}`)]);
    }
    if (e.message && e.message.quantity && e.message.quantity !== "0" && !(e.payload && (e.payload.quantity || e.payload.outputQuantity))) {
      lines.push(["Quantity", e.message.quantity]);
    }
    lines.push(...payloadFacts(e.payload));
    const failures = failingChecks(r.checks);
    return h(
      "li",
      { class: `event ${r.outcome} action-${r.action.toLowerCase()}`, "data-event": r.eventHash, "data-outcome": r.outcome },
      h(
        "div",
        { class: "event-head" },
        h("div", { class: "event-what" }, h("h3", {}, eventTitle(m, e)), eventBatches(m, e)),
        badge(r.outcome, r.checks),
      ),
      h("p", { class: "event-meta" }, timeElement(r.eventTime), " · ", h("span", { class: "who" }, who)),
      lines.length ? h("dl", { class: "event-facts" }, lines.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))) : null,
      failures.length
        ? h("ul", { class: "event-failures" }, failures.map((c) => h("li", {}, h("strong", {}, `${CHECKS[c.check] || c.check}: `), c.detail)))
        : null,
      eventProof(m, e),
    );
  });
  const rejected = m.report.rejected || [];
  return h(
    "section",
    { class: "card", id: "timeline" },
    h("h2", {}, "What happened"),
    h("p", { class: "muted" }, `${m.events.length} signed events on this batch and everything it was made from, oldest first.`),
    h("ol", { class: "timeline" }, items),
    rejected.length
      ? h("p", { class: "muted" }, `${rejected.length} further event${rejected.length === 1 ? " was" : "s were"} refused by the chain and ${rejected.length === 1 ? "is" : "are"} not shown.`)
      : null,
  );
}

// ----- sensor chart -----

function series(m) {
  const groups = new Map();
  for (const e of m.events) {
    for (const reading of sensorReadings(e.payload)) {
      const at = Date.parse(reading.time);
      const x = Number.isFinite(at) && /^\d{4}-/.test(String(reading.time)) ? at : Number(e.report.eventTime);
      const key = `${reading.type}|${reading.uom}`;
      if (!groups.has(key)) groups.set(key, { type: reading.type, unit: reading.unit, points: [] });
      groups.get(key).points.push({ x, y: reading.value, failed: e.report.outcome === "fail" });
    }
  }
  for (const g of groups.values()) g.points.sort((a, b) => a.x - b.x);
  return [...groups.values()];
}

function chart(group) {
  const W = 640;
  const H = 220;
  const pad = { left: 52, right: 16, top: 16, bottom: 34 };
  const xs = group.points.map((p) => p.x);
  const ys = group.points.map((p) => p.y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 3600000, x1 + 3600000];
  const span = y1 - y0 || Math.abs(y1) || 1;
  y0 -= span * 0.25;
  y1 += span * 0.25;
  const px = (x) => pad.left + ((x - x0) / (x1 - x0)) * (W - pad.left - pad.right);
  const py = (y) => H - pad.bottom - ((y - y0) / (y1 - y0)) * (H - pad.top - pad.bottom);
  const ticks = [0, 1, 2, 3].map((i) => y0 + ((y1 - y0) * i) / 3);
  const decimals = span < 5 ? 1 : 0;
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${group.type} readings in ${group.unit}` },
    s("title", {}, `${group.type} (${group.unit}): ${group.points.map((p) => p.y).join(", ")}`),
    ticks.map((t) =>
      s(
        "g",
        { class: "tick" },
        s("line", { x1: pad.left, x2: W - pad.right, y1: py(t), y2: py(t) }),
        s("text", { x: pad.left - 8, y: py(t) + 4, "text-anchor": "end" }, `${t.toFixed(decimals)}`),
      ),
    ),
    s("text", { class: "axis-label", x: pad.left, y: H - 10 }, time(x0 + (xs.length === 1 ? 3600000 : 0)).text),
    xs.length > 1 ? s("text", { class: "axis-label", x: W - pad.right, y: H - 10, "text-anchor": "end" }, time(x1).text) : null,
    s("polyline", { class: "line", points: group.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ") }),
    group.points.map((p) =>
      s(
        "circle",
        { class: p.failed ? "point failed" : "point", cx: px(p.x).toFixed(1), cy: py(p.y).toFixed(1), r: 5 },
        s("title", {}, `${p.y} ${group.unit} — ${time(p.x).text}`),
      ),
    ),
    group.points.map((p) =>
      s("text", { class: "value", x: px(p.x).toFixed(1), y: (py(p.y) - 10).toFixed(1), "text-anchor": "middle" }, `${p.y}`),
    ),
  );
  const values = group.points.map((p) => p.y);
  return h(
    "figure",
    { class: "chart-figure", "data-series": group.type },
    h("figcaption", {}, `${group.type} (${group.unit}) — ${values.length} reading${values.length === 1 ? "" : "s"}, min ${Math.min(...values)}, max ${Math.max(...values)}`),
    svg,
  );
}

function sensors(m) {
  const groups = series(m);
  if (!groups.length) return null;
  return h("section", { class: "card", id: "sensors" }, h("h2", {}, "Sensor readings"), groups.map(chart));
}

// ----- lineage graph -----

function lineageGraph(m) {
  const edges = new Map(); // "parent|child|event"
  const addEdge = (parent, child, via) => edges.set(`${parent}|${child}|${via}`, { parent, child, via });
  for (const l of m.bundle.lineage) addEdge(l.parent, l.child, l.eventHash);
  for (const b of m.data.trace.batches) b.parents.forEach((p, i) => addEdge(p, b.batchId, b.via[i]));
  if (!edges.size) return null;

  const nodes = new Map(); // id -> {id, kind, preds:Set}
  const node = (id, kind) => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, preds: new Set(), layer: 0 });
    return nodes.get(id);
  };
  const actionOf = new Map(m.events.map((e) => [e.storedHash, e]));
  for (const { parent, child, via } of edges.values()) {
    node(parent, "batch");
    node(`e:${via}`, "event").preds.add(parent);
    node(child, "batch").preds.add(`e:${via}`);
  }
  for (let round = 0; round < nodes.size; round++) {
    let moved = false;
    for (const n of nodes.values()) {
      for (const p of n.preds) {
        const want = nodes.get(p).layer + 1;
        if (want > n.layer) {
          n.layer = want;
          moved = true;
        }
      }
    }
    if (!moved) break;
  }
  const layers = [];
  for (const n of nodes.values()) (layers[n.layer] ||= []).push(n);
  // Left to right on a wide screen; top to bottom on a phone.
  const vertical = window.matchMedia("(max-width: 40rem)").matches;
  const across = Math.max(...layers.map((l) => l.length));
  const batchW = 150;
  const eventW = 112;
  const half = (n) => (n.kind === "batch" ? { w: batchW / 2, h: 22 } : { w: eventW / 2, h: 18 });
  const step = vertical ? 76 : 172; // between layers
  const slot = vertical ? batchW + 14 : 64; // between nodes of one layer
  const W = vertical ? across * slot : layers.length * step;
  const H = vertical ? layers.length * step : across * slot + 16;
  const pos = new Map();
  layers.forEach((layer, li) => {
    if (li > 0) {
      const centre = (n) => {
        const at = [...n.preds].map((p) => pos.get(p)).filter(Boolean).map((p) => p.cross);
        return at.length ? at.reduce((a, b) => a + b, 0) / at.length : 0;
      };
      layer.sort((a, b) => centre(a) - centre(b));
    }
    const start = ((vertical ? W : H) - layer.length * slot) / 2;
    layer.forEach((n, i) => {
      const along = li * step + step / 2;
      const cross = start + i * slot + slot / 2;
      pos.set(n.id, vertical ? { x: cross, y: along, cross } : { x: along, y: cross, cross });
    });
  });

  const paths = [];
  for (const n of nodes.values()) {
    for (const p of n.preds) {
      const a = pos.get(p);
      const b = pos.get(n.id);
      const from = half(nodes.get(p));
      const to = half(n);
      let d;
      if (vertical) {
        const [y1, y2] = [a.y + from.h, b.y - to.h - 4];
        const mid = (y1 + y2) / 2;
        d = `M${a.x},${y1} C${a.x},${mid} ${b.x},${mid} ${b.x},${y2}`;
      } else {
        const [x1, x2] = [a.x + from.w, b.x - to.w - 4];
        const mid = (x1 + x2) / 2;
        d = `M${x1},${a.y} C${mid},${a.y} ${mid},${b.y} ${x2},${b.y}`;
      }
      paths.push(s("path", { class: "edge", d, "marker-end": "url(#arrow)" }));
    }
  }
  const boxes = [];
  for (const n of nodes.values()) {
    const { x, y } = pos.get(n.id);
    if (n.kind === "event") {
      const e = actionOf.get(n.id.slice(2));
      const action = e ? e.report.action : "TRANSFORM";
      const when = e ? time(e.report.eventTime) : null;
      boxes.push(
        s(
          "g",
          { class: `node event-node ${e ? e.report.outcome : ""}` },
          s("rect", { x: x - eventW / 2, y: y - 18, width: eventW, height: 36, rx: 18 }),
          s("text", { x, y: y - 2, "text-anchor": "middle", class: "node-title" }, ACTIONS[action] || action),
          when && when.date ? s("text", { x, y: y + 12, "text-anchor": "middle", class: "node-sub" }, timeOnly.format(when.date)) : null,
        ),
      );
      continue;
    }
    const name = batchName(m, n.id);
    const status = m.statuses.get(n.id) || "NONE";
    const cls = `node batch-node status-${String(status).toLowerCase()}${n.id === m.subject ? " subject" : ""}`;
    const inner = [
      s("title", {}, `${m.names.get(n.id) || n.id} — ${STATUS[status] || status}`),
      s("rect", { x: x - batchW / 2, y: y - 22, width: batchW, height: 44, rx: 8 }),
      s("text", { x, y: y - 4, "text-anchor": "middle", class: "node-title" }, clip(name.short, 20)),
      s("text", { x, y: y + 13, "text-anchor": "middle", class: "node-sub" }, status === "RECALLED" ? "⚠ RECALLED" : STATUS[status] || status),
    ];
    boxes.push(
      n.id === m.subject
        ? s("g", { class: cls, "data-batch": n.id }, inner)
        : s("a", { href: pageHref(m.names.get(n.id) || n.id), class: cls, "data-batch": n.id }, inner),
    );
  }
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: `lineage${vertical ? " vertical" : ""}`, role: "img", "aria-label": "Lineage: inputs, transformations, outputs" },
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))),
    paths,
    boxes,
  );
  return h(
    "section",
    { class: "card", id: "lineage" },
    h("h2", {}, "Made from, made into"),
    h("p", { class: "muted" }, "From the inputs to what was made from them. Select a batch to open it."),
    h("div", { class: "graph-scroll" }, svg),
  );
}

// ----- downstream -----

function downstream(m) {
  const trace = m.data.trace;
  const others = trace.batches.filter((b) => b.depth > 0);
  const recalled = m.statuses.get(m.subject) === "RECALLED";
  const heading = recalled ? "Where it went — for the recall" : "Where it went";
  const who = (p) => (p ? p.name || `participant ${p.id}` : null);
  const items = others.map((b) => {
    const name = describe(b.identifier, b.batchId);
    const held = [who(b.custodian) && `held by ${who(b.custodian)}`, who(b.inTransitTo) && `on its way to ${who(b.inTransitTo)}`]
      .filter(Boolean)
      .join(", ");
    const received = b.receivedBy.map(who).filter(Boolean);
    return h(
      "li",
      { class: `downstream-item status-${String(b.status).toLowerCase()}`, "data-batch": b.batchId },
      h("a", { href: pageHref(b.identifier || b.batchId) }, name.title),
      name.sub ? h("span", { class: "muted" }, ` ${name.sub}`) : null,
      " ",
      h("span", { class: `chip status-${String(b.status).toLowerCase()}` }, STATUS[b.status] || b.status),
      h(
        "p",
        { class: "muted" },
        b.depth === 1 ? "Made directly from this lot" : `${b.depth} steps on`,
        held ? `; ${held}` : "",
        received.length ? `; received by ${received.join(" → ")}` : "",
        ".",
      ),
    );
  });
  return h(
    "section",
    { class: `card${recalled ? " downstream-recall" : ""}`, id: "downstream" },
    h("h2", {}, heading),
    others.length
      ? [h("p", {}, `${others.length} batch${others.length === 1 ? " was" : "es were"} made from this lot on this node:`), h("ul", { class: "downstream" }, items)]
      : h("p", { class: "muted" }, "Nothing made from this batch is recorded on this node."),
  );
}

// ----- check it yourself -----

function verifyYourself(m) {
  const links = m.data.links;
  const verify = `${TRACENODE} verify ${links.bundleFile} --rpc ${links.rpc}`;
  const ownEvents = m.events.filter((e) => e.anchor && e.report.batchIds.includes(m.subject));
  const last = ownEvents[ownEvents.length - 1] || m.events.filter((e) => e.anchor).pop();
  const contracts = m.report.contracts;
  return h(
    "section",
    { class: "card", id: "verify" },
    h("h2", {}, "Check it yourself"),
    h(
      "p",
      {},
      "The proof bundle holds every event above with its signature, its details and its Merkle proof. Check it against the chain with software that never sees this node's database:",
    ),
    h("p", {}, h("a", { class: "button", href: `/verify?id=${encodeURIComponent(m.data.identifier)}`, id: "verify-in-browser" }, "Check it yourself in your browser"), " Nothing to install: the checks of the commands below, run by your browser against this node's JSON-RPC or any other of the same chain."),
    h("p", {}, h("a", { class: "button", href: links.bundle, download: links.bundleFile, id: "bundle-download" }, `Download the proof bundle (${links.bundleFile})`)),
    codeLine(verify, "With TraceNode's verifier, against this node's read-only JSON-RPC (or any RPC of the same chain), the downloaded bundle in the folder you run it in:"),
    last ? codeLine(castCommand(m, last), "One event's Merkle proof, straight from the AnchorRegistry contract with Foundry's cast:") : null,
    h("p", { class: "muted", id: "commands-hint" }, IN_A_CLONE),
    h(
      "p",
      { class: "muted" },
      `Chain ${m.report.chainId}. Compare these contract addresses with the ones the consortium publishes (this node shows its own at `,
      h("a", { href: "/v1/info" }, "/v1/info"),
      "):",
    ),
    hashRow("AnchorRegistry", contracts.anchorRegistry),
    hashRow("BatchRegistry", contracts.batchRegistry),
    hashRow("ParticipantRegistry", contracts.participantRegistry),
  );
}

// ----- loading -----

const result = document.getElementById("result");
const intro = document.getElementById("intro");
const statusLine = document.getElementById("status");
const input = document.getElementById("id-input");
let loading = 0;

function say(text, kind = "info") {
  statusLine.className = `status ${kind}`;
  statusLine.textContent = text;
}

async function problemOf(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body : { detail: response.statusText };
  } catch {
    return { detail: `${response.status} ${response.statusText}` };
  }
}

async function load(id) {
  const ticket = ++loading;
  input.value = id;
  intro.hidden = true;
  clear(result).hidden = true;
  say("Checking every signature and proof against the chain…");
  let response;
  try {
    response = await fetch(`/v1/batches/${encodeURIComponent(id)}/overview`, { headers: { Accept: "application/json" } });
  } catch {
    if (ticket === loading) say("The node did not answer. Try again in a moment.", "error");
    return;
  }
  if (ticket !== loading) return;
  if (!response.ok) {
    const problem = await problemOf(response);
    if (ticket !== loading) return;
    const messages = {
      404: "This node has no batch by that identifier.",
      422: "That is not a batch identifier this node understands.",
      401: "This node shows batches to API key holders only.",
      429: "Too many requests: wait a moment and try again.",
    };
    say(`${messages[response.status] || "The node could not answer."} ${problem.detail}`, "error");
    document.title = "TraceNode — not found";
    return;
  }
  const data = await response.json();
  if (ticket !== loading) return;
  render(model(data));
}

function render(m) {
  const name = describe(m.data.identifier, m.subject);
  document.title = `${name.title} — TraceNode`;
  append(clear(result), [
    recallBanners(m),
    summary(m),
    timeline(m),
    sensors(m),
    lineageGraph(m),
    downstream(m),
    verifyYourself(m),
  ]);
  result.hidden = false;
  result.dataset.outcome = m.report.outcome;
  say("");
}

function fromLocation() {
  const id = new URLSearchParams(window.location.search).get("id");
  if (id && id.trim()) {
    load(id.trim());
  } else {
    intro.hidden = false;
    clear(result).hidden = true;
    say("");
  }
}

function openBatch(id) {
  const target = `?id=${encodeURIComponent(id)}`;
  if (window.location.search !== target) history.pushState(null, "", target);
  load(id);
}

document.getElementById("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = input.value.trim();
  if (id) openBatch(id);
});

result.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a") : null;
  if (!link) return;
  const href = link.getAttribute("href") || "";
  if (href.startsWith("?id=") && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    event.preventDefault();
    const id = new URLSearchParams(href.slice(1)).get("id");
    if (id) {
      openBatch(id);
      window.scrollTo(0, 0);
    }
  }
});

window.addEventListener("popstate", fromLocation);

// ----- scanning -----

/** What a scanned code names: this page's ?id=, a Digital Link, a GS1 element string. */
function fromScanned(raw) {
  const text = String(raw).trim();
  try {
    const url = new URL(text);
    const id = url.searchParams.get("id");
    if (url.origin === window.location.origin && id) return id;
    return text;
  } catch {
    /* not a URL */
  }
  const bracketed = /^\(01\)([0-9]{14})\((10|21)\)(.+)$/.exec(text);
  const plain = /^01([0-9]{14})(10|21)([^\x1d]+)$/.exec(text.replace(/^\]Q3|^\]d2/, ""));
  const parts = bracketed || plain;
  if (parts) return `https://id.gs1.org/01/${parts[1]}/${parts[2]}/${encodeURIComponent(parts[3])}`;
  return text;
}

const scanButton = document.getElementById("scan");
const scanner = document.getElementById("scanner");
const video = document.getElementById("camera");
let stream = null;

function stopScanning() {
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  video.srcObject = null;
  scanner.hidden = true;
}

async function scan() {
  let detector;
  try {
    const supported = await window.BarcodeDetector.getSupportedFormats();
    const formats = ["qr_code", "data_matrix"].filter((f) => supported.includes(f));
    if (!formats.length) throw new Error("no QR support");
    detector = new window.BarcodeDetector({ formats });
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    stopScanning();
    say("This browser cannot read QR codes with the camera here: type or paste the identifier instead.", "error");
    return;
  }
  scanner.hidden = false;
  video.srcObject = stream;
  await video.play();
  const tick = async () => {
    if (!stream) return;
    try {
      const codes = await detector.detect(video);
      if (codes.length) {
        stopScanning();
        openBatch(fromScanned(codes[0].rawValue));
        return;
      }
    } catch {
      /* the next frame may do */
    }
    setTimeout(tick, 200);
  };
  tick();
}

if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  scanButton.hidden = false;
  scanButton.addEventListener("click", scan);
  document.getElementById("scan-stop").addEventListener("click", stopScanning);
}

fromLocation();
