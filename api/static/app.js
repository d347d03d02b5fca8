// TraceNode's buyer page: type, paste or scan a batch identifier; see where the batch
// came from, whether every step verifies on-chain, and where it went.
//
// Everything the API returns is inserted as text (text nodes, setAttribute): never as
// markup. The page's Content-Security-Policy enforces Trusted Types with no policy, so
// handing a string to any HTML-parsing sink would throw rather than parse it.

const SVG_NS = "http://www.w3.org/2000/svg";
const ZERO32 = "0x" + "0".repeat(64);
const ZERO20 = "0x" + "0".repeat(40);
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
  complete: "Events left out",
};

const STATUS = {
  ACTIVE: "Active",
  IN_TRANSIT: "In transit",
  CONSUMED: "Used up",
  RECALLED: "Recalled",
  DESTROYED: "Destroyed",
  EXPORTED: "Shipped out of TraceNode",
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

function timeElement(ms, { sameDayAs = null } = {}) {
  const t = time(ms);
  const near = sameDayAs !== null ? time(sameDayAs) : null;
  const text = t.date && near && near.date && t.date.toDateString() === near.date.toDateString() ? timeOnly.format(t.date) : t.text;
  return h("time", { datetime: t.iso || null, title: t.iso ? `${t.iso} (UTC)` : null }, text);
}

function unit(uom) {
  return Object.hasOwn(UNITS, uom) ? UNITS[uom] : uom ? String(uom) : "";
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

async function copy(text, button, what) {
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
  button.textContent = "Copied";
  document.getElementById("announce").textContent = `Copied ${what}.`;
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1500);
}

/** A "Copy" button whose accessible name says what it copies ("Copy the Merkle root of
 * event 3, Shipped"): seventy buttons all named "Copy" tell a screen reader nothing. */
function copyButton(text, what) {
  const button = h("button", { type: "button", class: "copy", "data-copy": text, "aria-label": `Copy ${what}` }, "Copy");
  button.addEventListener("click", () => copy(text, button, what));
  return button;
}

function codeLine(text, title, what) {
  return h(
    "div",
    { class: "command" },
    title ? h("p", { class: "command-title" }, title) : null,
    h("pre", {}, h("code", {}, text)),
    copyButton(text, what),
  );
}

function hashRow(label, value, what) {
  return h(
    "div",
    { class: "hash-row" },
    h("span", { class: "hash-label" }, label),
    h("code", { class: "hash", title: value }, value),
    copyButton(value, what),
  );
}

/** Whole seconds as words a buyer reads at a glance: "3 days", "5 hours", "12 minutes". */
function duration(seconds) {
  const s = Math.abs(Number(seconds));
  const unitOf = (n, one) => `${n} ${one}${n === 1 ? "" : "s"}`;
  if (s >= 36 * 3600) return unitOf(Math.round(s / 86400), "day");
  if (s >= 90 * 60) return unitOf(Math.round(s / 3600), "hour");
  if (s >= 90) return unitOf(Math.round(s / 60), "minute");
  return unitOf(Math.round(s), "second");
}

/** The GS1 check digit of a GLN's first twelve digits. */
function gs1Check(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) sum += Number(digits[digits.length - 1 - i]) * (i % 2 === 0 ? 3 : 1);
  return String((10 - (sum % 10)) % 10);
}

/** A location code in a form a person reads: an SGLN URN (urn:epc:id:sgln:0614141.00001.0)
 * or a GLN Digital Link becomes "GLN 0614141000012" (", extension 7" when there is one);
 * anything else is shown as it is. */
function shortLocation(text) {
  const sgln = /^urn:epc:id:sgln:([0-9]+)\.([0-9]*)\.(.+)$/.exec(text);
  if (sgln && sgln[1].length + sgln[2].length === 12) {
    const body = sgln[1] + sgln[2];
    return `GLN ${body}${gs1Check(body)}${sgln[3] !== "0" ? `, extension ${sgln[3]}` : ""}`;
  }
  const link = /^https?:\/\/[^/]+\/414\/([0-9]{13})(?:\/254\/([^/?#]+))?$/.exec(text);
  if (link) return `GLN ${link[1]}${link[2] ? `, extension ${link[2]}` : ""}`;
  return null;
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
      // The node's prediction of the wait for a proof, for events not anchored yet.
      anchoringSeconds: data.anchoring ? Number(data.anchoring.predictedSeconds) : null,
      number: i + 1,
    };
  });
  const m = { data, report, bundle, subject, names, people, statuses, events };
  m.recalled = recalledBatches(m);
  return m;
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

function badge(outcome, checks, { summary = false } = {}) {
  const cls = `badge ${outcome}`;
  if (outcome === "pass") return h("span", { class: cls }, summary ? "✓ All checks passed" : "✓ Verified");
  if (outcome === "pending") return h("span", { class: cls }, "… Not yet anchored");
  if (summary) return h("span", { class: cls }, "✗ Verification failed");
  const first = failingChecks(checks)[0];
  const label = first ? CHECKS[first.check] || first.check : "Failed";
  return h("span", { class: cls, title: first ? first.detail : null }, `✗ ${label}`);
}

/** Readable facts from an event's payload (EPCIS-style fields the demo and capture use). */
function payloadFacts(payload) {
  const facts = [];
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return facts;
  const cert = payload.certificationInfo;
  // EPCIS 2.0: a certificate's URI, or a list of them; the demo's own form: an object
  const certs = typeof cert === "string" ? [cert] : Array.isArray(cert) ? cert.filter((c) => typeof c === "string") : [];
  if (certs.length) facts.push(["Certificate", certs.join(", ")]);
  if (cert && typeof cert === "object" && !Array.isArray(cert)) {
    const parts = [cert.certificationStandard, cert.certificationAgency && `by ${cert.certificationAgency}`]
      .filter(Boolean)
      .join(" ");
    facts.push(["Certificate", parts + (cert.certificationIdentification ? ` (${cert.certificationIdentification})` : "")]);
  }
  for (const reading of sensorReadings(payload)) {
    const at = reading.time && /^\d{4}-/.test(reading.time) && Number.isFinite(Date.parse(reading.time)) ? ` at ${time(Date.parse(reading.time)).text}` : "";
    if (reading.value === undefined) {
      facts.push([reading.label, reading.text + at]);
      continue;
    }
    const range = reading.range ? ` (safe range ${reading.range.min}–${reading.range.max} ${reading.unit})` : "";
    const stats = statsText(reading.stats, "");
    facts.push([reading.label, `${reading.value} ${reading.unit}`.trim() + (stats ? ` (${stats})` : "") + at + range]);
  }
  const ilmd = payload.ilmd && typeof payload.ilmd === "object" ? payload.ilmd : {};
  const storage = payload[STORAGE_KEY] || ilmd[STORAGE_KEY];
  if (typeof storage === "string") facts.push(["Storage", storage]);
  if (payload.quantity) facts.push(["Quantity", quantity(payload.quantity)]);
  if (payload.outputQuantity) facts.push(["Output", quantity(payload.outputQuantity)]);
  if (typeof payload.reason === "string") facts.push(["Reason", payload.reason]);
  // a party outside the network (docs/events.md): where a lot went, or came from
  if (typeof payload.destination === "string") facts.push(["Destination", payload.destination]);
  if (typeof payload.source === "string") facts.push(["Came from", payload.source]);
  // EPCIS: the parties and places a shipment went to, or a receipt came from
  for (const [list, key, label] of [
    ["destinationList", "destination", "Destination"],
    ["sourceList", "source", "Came from"],
  ]) {
    const named = Array.isArray(payload[list]) ? payload[list].map((e) => e && e[key]).filter((v) => typeof v === "string") : [];
    if (named.length) facts.push([label, named.join(", ")]);
  }
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

/** A number from a sensor report's member (EPCIS gives numbers; XML-born ones may be text). */
function reportNumber(value) {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : null;
}

/** A sensor report's statistics (EPCIS 2.0: minValue, maxValue, meanValue, sDev), those given. */
function readingStats(r) {
  const stats = {};
  for (const [key, name] of [["minValue", "min"], ["meanValue", "mean"], ["maxValue", "max"], ["sDev", "sd"]]) {
    const v = reportNumber(r[key]);
    if (v !== null) stats[name] = v;
  }
  return stats;
}

/**
 * Every reading of an event's sensor elements (EPCIS 2.0 sensorElementList): a number (its
 * `value`, else its `meanValue` when only statistics are given) with its statistics, which
 * the charts draw; or a text (`stringValue`, `booleanValue`, `uriValue`, `hexBinaryValue`,
 * an `exception`), which only the event's facts show. Its time: the report's own, else its
 * element's `sensorMetadata.time` (or `startTime`), else the event's.
 */
function sensorReadings(payload) {
  const out = [];
  const elements = payload && Array.isArray(payload.sensorElementList) ? payload.sensorElementList : [];
  for (const element of elements) {
    if (!element || typeof element !== "object") continue;
    const meta = element.sensorMetadata && typeof element.sensorMetadata === "object" ? element.sensorMetadata : {};
    const reports = Array.isArray(element.sensorReport) ? element.sensorReport : [];
    for (const r of reports) {
      if (!r || typeof r !== "object") continue;
      const type = typeof r.type === "string" ? r.type.replace(VOCABULARY_PREFIX, "") : "Reading";
      const time = [r.time, meta.time, meta.startTime].find((t) => typeof t === "string");
      const base = { type, label: type, uom: typeof r.uom === "string" ? r.uom : "", unit: unit(r.uom), time };
      const stats = readingStats(r);
      const value = reportNumber(r.value) ?? (stats.mean !== undefined ? stats.mean : null);
      if (value !== null) out.push({ ...base, value, stats, range: statedRange(r) });
      for (const key of ["stringValue", "uriValue", "hexBinaryValue"]) {
        if (typeof r[key] === "string") out.push({ ...base, text: r[key] });
      }
      if (typeof r.booleanValue === "boolean") out.push({ ...base, text: r.booleanValue ? "yes" : "no" });
      if (value === null && Object.keys(stats).length) out.push({ ...base, text: statsText(stats, base.unit) });
      if (typeof r.exception === "string") out.push({ ...base, label: `${type}: exception`, text: r.exception.replace(VOCABULARY_PREFIX, "") });
    }
  }
  return out;
}

/** The numeric readings, which the charts draw. */
function numericReadings(payload) {
  return sensorReadings(payload).filter((r) => r.value !== undefined);
}

function statsText(stats, unitText) {
  const parts = [];
  if (stats.min !== undefined) parts.push(`min ${stats.min}`);
  if (stats.mean !== undefined) parts.push(`mean ${stats.mean}`);
  if (stats.max !== undefined) parts.push(`max ${stats.max}`);
  if (stats.sd !== undefined) parts.push(`sd ${stats.sd}`);
  return parts.length ? `${parts.join(", ")}${unitText ? ` ${unitText}` : ""}` : "";
}

// ----- the sections -----

/** Every recalled batch this page is about, the one set the safety banner, the summary,
 * the lineage graph and "Where it went" read (as m.recalled): each batch a RECALL event of
 * the proof names, unless that event failed verification (pending counts: a recall
 * waiting for its commit counts already), whatever its status since — a recalled lot may
 * be destroyed by its custodian and then reads DESTROYED, still recalled; the chain's
 * RECALLED statuses; and the node's view, the batch's own status and recall state. */
function recalledBatches(m) {
  const recalled = new Set(m.report.batches.filter((b) => b.status === "RECALLED").map((b) => b.batchId));
  for (const e of m.report.events) {
    if (e.action === "RECALL" && e.outcome !== "fail") for (const id of e.batchIds) recalled.add(id);
  }
  const batch = m.data.batch;
  if (batch && (batch.status === "RECALLED" || (batch.recall && batch.recall.state === "recalled"))) recalled.add(m.subject);
  if (batch && batch.recall) for (const r of batch.recall.recalledInputs) recalled.add(r.batchId);
  return recalled;
}

function recallDetails(m, batchId) {
  const recall = m.events.find((e) => e.report.action === "RECALL" && e.report.batchIds.includes(batchId));
  if (!recall) return { text: "Recalled." };
  const who = recall.report.participant.name || short(recall.report.signer, 4);
  const reason = recall.payload && typeof recall.payload.reason === "string" ? recall.payload.reason : null;
  return {
    who,
    reason,
    text: [`Recalled by ${who} on ${time(recall.report.eventTime).text}`, reason ? `: ${reason}` : "."].join(""),
  };
}

/** The page's first statement: is this batch safe to sell and eat, as far as this node
 * knows — recalled, made from something recalled, or no recall recorded — and what to do. */
function safety(m) {
  const recalled = m.recalled;
  const self = recalled.has(m.subject);
  const inputs = [...recalled].filter((id) => id !== m.subject);
  const sections = [];
  const buyerAdvice = "If you have bought it, take it back to the shop or throw it away.";
  if (self) {
    const made = m.data.trace.count;
    sections.push(
      h(
        "section",
        { class: "recall safety", role: "alert", "data-recall": "self", "data-safety": "recalled", id: "safety" },
        h("h2", {}, "⚠ RECALLED — do not sell or consume this batch"),
        h("p", {}, recallDetails(m, m.subject).text),
        h("p", { class: "advice" }, h("strong", {}, "What to do: "), "do not sell, serve or eat it. ", buyerAdvice),
        made > 0
          ? h("p", {}, h("a", { href: "#downstream" }, `${made} batch${made === 1 ? " was" : "es were"} made from it`), " — see where it went below.")
          : null,
      ),
    );
  }
  if (inputs.length) {
    const producer = m.data.batch && m.data.batch.producer && m.data.batch.producer.name;
    const own = m.data.batch ? STATUS[m.data.batch.status] || m.data.batch.status : null;
    sections.push(
      h(
        "section",
        { class: "recall safety", role: "alert", "data-recall": "ancestor", "data-safety": "made-from-recalled", id: self ? null : "safety" },
        h("h2", {}, "⚠ Made from a recalled batch — do not sell or consume it"),
        inputs.map((id) => {
          const name = batchName(m, id);
          return h(
            "p",
            { class: "recalled-input" },
            "It was made from ",
            h("a", { href: pageHref(m.names.get(id) || id) }, name.title),
            name.sub ? ` (${name.sub})` : "",
            `, which has been recalled. ${recallDetails(m, id).text}`,
          );
        }),
        h(
          "p",
          { class: "advice" },
          h("strong", {}, "What to do: "),
          `do not sell, serve or eat it until ${producer ? `its producer, ${producer},` : "its producer"} or a food-safety authority says it is safe. `,
          buyerAdvice,
        ),
        own && !self
          ? h("p", { class: "recall-note" }, `Its own status on the chain is still “${own}”: a recall marks only the lot it names, not what was made from it.`)
          : null,
      ),
    );
  }
  if (!sections.length) {
    sections.push(
      h(
        "section",
        { class: "safety safety-none", "data-safety": "none", id: "safety" },
        h("h2", {}, "No recall recorded"),
        h("p", {}, "This node records no recall of this batch or of anything it was made from."),
      ),
    );
  }
  if (m.report.outcome === "fail") {
    sections.push(
      h(
        "p",
        { class: "safety-warning", role: "alert" },
        h("strong", {}, "Some records of this batch failed verification: "),
        "what this page shows may not be what was signed. See “What was checked”.",
      ),
    );
  }
  return sections;
}

/** The event that created the batch (its commissioning or the transformation that made it). */
/** The lot's open critical and high alerts from this node's integrity monitor, in the plain
 * words each rule says (the overview's `alerts`: no evidence, no participant, no key). */
function monitorAlerts(m) {
  const alerts = Array.isArray(m.data.alerts) ? m.data.alerts : [];
  if (!alerts.length) return null;
  const items = alerts.map((a) => {
    const severity = a.severity === "critical" ? "critical" : "high";
    return h(
      "li",
      { class: `monitor-alert severity-${severity}`, "data-rule": String(a.rule), "data-severity": severity },
      h("span", { class: `chip severity-${severity}` }, severity === "critical" ? "Critical" : "High"),
      " ",
      h("span", { class: "alert-says" }, String(a.says)),
      h(
        "p",
        { class: "muted" },
        "Found ",
        timeElement(a.since),
        a.status === "acknowledged" ? "; the node's operator is looking into it." : "; not yet looked into.",
      ),
    );
  });
  return h(
    "section",
    { class: "monitor-alerts", id: "alerts", role: "alert" },
    h("h2", {}, `⚠ This node's monitor warns about this lot (${alerts.length})`),
    h("ul", {}, items),
    h("p", { class: "muted" }, "Warnings are the node's own checks of its records; they are not a recall."),
  );
}

function summary(m) {
  const data = m.data;
  const name = describe(data.identifier, m.subject);
  const batch = data.batch;
  const facts = [];
  // The node's status (a recall waiting for its commit shows at once); labelled as the
  // chain's only when the chain says the same.
  const onChain = m.statuses.get(m.subject) || "NONE";
  const status = batch ? batch.status : onChain;
  const fact = (label, ...value) => facts.push(h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, ...value)));
  const recalledSelf = m.recalled.has(m.subject);
  const derived = !recalledSelf && m.recalled.size > 0;
  fact(
    status === onChain ? "Status on the chain" : "Status on this node",
    h("span", { class: `chip status-${String(status).toLowerCase()}` }, STATUS[status] || status),
    recalledSelf && status !== "RECALLED" ? [" ", h("span", { class: "chip status-recalled" }, "Recalled")] : null,
    derived ? [" ", h("span", { class: "chip status-recalled" }, "Made from a recalled batch")] : null,
    status === onChain
      ? null
      : h("span", { class: "muted status-chain" }, ` (on the chain: ${onChain === "NONE" ? "not yet recorded" : STATUS[onChain] || onChain}, until the node's next commit)`),
  );
  if (name.sub) fact(name.sub.startsWith("GTIN") ? "Product" : "Prefix", name.sub.replace(/^(GTIN|Handle) /, ""));
  const product = name.sub.startsWith("GTIN") ? namedCode(m, `https://id.gs1.org/01/${name.sub.slice(5)}`) : null;
  if (product) fact("Product name", product);
  if (batch && batch.producer && batch.producer.name) fact("Producer", batch.producer.name);
  else if (adoptedHere(m)) {
    const b = m.report.batches.find((x) => x.batchId === m.subject);
    fact("Producer", b.firstSeenMidChain ? "Not known here: first seen mid-chain, its history before was not captured by this network" : "Not known here: it came from outside TraceNode");
  }
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
  fact("Batch id", h("code", { class: "hash", title: m.subject }, short(m.subject, 8)), copyButton(m.subject, "the batch id"));

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
      h("dl", { class: "facts" }, facts),
    ),
    qr,
  );
}

// The verifier's checks, grouped as a reader asks about them.
const CHECK_GROUPS = [
  { key: "signed", checks: ["event-hash", "signature", "payload", "signer"] },
  { key: "anchored", checks: ["merkle-proof", "root-on-chain"] },
  { key: "custody", checks: ["hash-chain", "accepted-on-chain", "custody", "lineage", "identifier"] },
  { key: "brand", checks: ["licence"] },
  { key: "complete", checks: ["complete"] },
];

function groupOutcome(m, checks) {
  const all = [...m.report.checks, ...m.report.events.flatMap((e) => e.checks), ...m.report.batches.flatMap((b) => b.checks)].filter((c) =>
    checks.includes(c.check),
  );
  if (all.some((c) => c.outcome === "fail")) return "fail";
  if (all.some((c) => c.outcome === "pending")) return "pending";
  return all.some((c) => c.outcome === "pass") ? "pass" : "skipped";
}

/** Whether the page's batch was received from outside TraceNode (its report's adoptedAt). */
function adoptedHere(m) {
  const b = m.report && m.report.batches.find((x) => x.batchId === m.subject);
  return Boolean(b && b.adoptedAt !== null && b.adoptedAt !== undefined);
}

function contractRef(address) {
  return h("code", { class: "address", title: address }, short(address, 4));
}

/**
 * Brand ownership, from the subject's `licence` check (node/proofs/verify.py): who held
 * the identifier's prefix at the block the batch was created. {checked: [text…]} for the
 * "What was checked" list, or {notChecked: text} saying why it could not be checked.
 */
function brandOwnership(m, contracts) {
  const batch = m.report.batches.find((b) => b.batchId === m.subject);
  const check = batch && batch.checks.find((c) => c.check === "licence");
  if (!check) return {};
  const name = describe(batch.identifier, m.subject);
  const licence = batch.licence;
  const adopted = batch.adoptedAt !== null && batch.adoptedAt !== undefined;
  if (check.outcome === "pass" && adopted && !licence) {
    return {
      notChecked: `no prefix of ${name.sub} is licensed in this network, so who owns its brand is not known here: the batch was received from outside TraceNode.`,
    };
  }
  if (check.outcome === "pass" && licence && adopted) {
    const kind = licence.kind === "gs1" ? "GS1 company prefix" : "handle prefix";
    return {
      checked: [
        `Brand ownership: ${licence.holder.name || `participant ${licence.holder.id}`}, who received this batch from outside TraceNode, holds the licence of its ${kind} ${licence.prefix} (ParticipantRegistry `,
        contractRef(contracts.participantRegistry),
        `: since block ${licence.validFrom}).`,
      ],
    };
  }
  if (check.outcome === "pass" && licence) {
    const kind = licence.kind === "gs1" ? "GS1 company prefix" : "handle prefix";
    const until = licence.validUntil ? `, until block ${licence.validUntil}` : "";
    return {
      checked: [
        `Brand ownership: ${licence.holder.name || `participant ${licence.holder.id}`} created this batch under ${name.sub} holding the licence of its ${kind} ${licence.prefix} (ParticipantRegistry `,
        contractRef(contracts.participantRegistry),
        `: since block ${licence.validFrom}${until}).`,
      ],
    };
  }
  if (check.outcome === "fail") return { checked: [`Brand ownership: its creator did not hold the licence of its prefix when it created it. ${check.detail}.`] };
  if (check.outcome === "pending") {
    return { checked: ["Brand ownership: the event that created this batch is not anchored yet; who held its prefix at that block is checked once it is."] };
  }
  const open = /: node-local identifier: .*open-identifier policy of (.*) \(a policy, not a licence\)$/.exec(check.detail);
  if (open) {
    return {
      notChecked: `${batch.identifier} is a node-local identifier: no prefix, no brand owner. It is allowed by the open-identifier policy of ${open[1]}; that is a policy, not a licence, so nothing says who owns the brand.`,
    };
  }
  if (/the event that created the batch is not in the bundle/.test(check.detail)) {
    return { notChecked: "the event that created this batch is not in its proof, so who held its prefix when it was created cannot be checked." };
  }
  return { notChecked: check.detail.replace(/^not checked: /, "") + "." };
}

/**
 * Completeness, from each batch's `complete` check (node/proofs/verify.py): the proof holds
 * every event of its batches up to the state their latest windows anchored.
 */
function completeness(m, contracts) {
  const checks = m.report.batches.map((b) => b.checks.find((c) => c.check === "complete")).filter(Boolean);
  if (!checks.length) return {};
  const subject = m.report.batches.find((b) => b.batchId === m.subject);
  const own = subject && subject.checks.find((c) => c.check === "complete");
  const failed = checks.filter((c) => c.outcome === "fail");
  if (failed.length) return { checked: [`Completeness: events are left out of this proof, or added to it. ${failed[0].detail}.`] };
  const proven = checks.filter((c) => c.outcome === "pass" || c.outcome === "pending");
  if (!proven.length) return { notChecked: "no window of these batches' events has an anchored state yet, so the proof cannot show that it leaves nothing out." };
  return {
    checked: [
      "Completeness: for each batch, AnchorRegistry ",
      contractRef(contracts.anchorRegistry),
      " holds the state its latest window left it in (last event, custodian, status, number of events), and this proof holds exactly those events",
      own && (own.outcome === "pass" || own.outcome === "pending") ? ` (${own.detail})` : "",
      ".",
    ],
  };
}

/** What was checked, against what — and what was not: a statement, not a headline. */
function checked(m) {
  const report = m.report;
  const contracts = report.contracts;
  const events = report.events.length;
  const anchored = report.events.filter((e) => e.blockNumber !== null);
  const roots = new Set(anchored.map((e) => e.root));
  const blocks = [...new Set(anchored.map((e) => e.blockNumber))].sort((a, b) => a - b);
  const mined = anchored.map((e) => e.anchoredAt).filter(Boolean).map((a) => Number(a.timestamp) * 1000);
  const batches = report.batches.length;
  let verdict;
  if (report.outcome === "pass") {
    verdict = `All checks passed for ${events} events on ${batches} batch${batches === 1 ? "" : "es"}:`;
  } else if (report.outcome === "pending") {
    verdict = `Nothing failed; ${events - anchored.length} of ${events} events are not anchored on-chain yet.`;
  } else {
    verdict = `${report.failures.length} check${report.failures.length === 1 ? "" : "s"} failed:`;
  }
  const mark = { pass: "✓", fail: "✗", pending: "…", skipped: "–" };
  const item = (group, ...text) => {
    const outcome = groupOutcome(m, CHECK_GROUPS.find((g) => g.key === group).checks);
    return h("li", { class: `check-group ${outcome}`, "data-group": group }, h("span", { class: "check-mark", "aria-hidden": "true" }, mark[outcome]), h("span", {}, ...text));
  };
  const span = mined.length
    ? (() => {
        const [first, last] = [Math.min(...mined), Math.max(...mined)];
        return first === last ? ` on ${time(first).text}` : ` between ${time(first).text} and ${time(last).text}`;
      })()
    : "";
  const list = h(
    "ul",
    { class: "checked-list" },
    item(
      "signed",
      `Signatures: each event is signed by a participant registered in ParticipantRegistry `,
      contractRef(contracts.participantRegistry),
      ", holding the role its action needs when it was anchored; its details hash to what was signed.",
    ),
    item(
      "anchored",
      `Anchoring: each event's Merkle proof leads to ${roots.size === 1 ? "a root" : `one of ${roots.size} roots`} that AnchorRegistry `,
      contractRef(contracts.anchorRegistry),
      ` holds on chain ${report.chainId}`,
      blocks.length ? ` (block${blocks.length === 1 ? "" : "s"} ${blocks.length === 1 ? blocks[0] : `${blocks[0]}–${blocks[blocks.length - 1]}`}, mined${span})` : "",
      ".",
    ),
    item(
      "custody",
      "History and custody: each event extends its batch's previous one; BatchRegistry ",
      contractRef(contracts.batchRegistry),
      report.batches.some((b) => b.continuedAt !== null && b.continuedAt !== undefined)
        ? " accepted every lifecycle event and holds the same custodian and status, except for a lot whose later history another node recorded (its status and custodian now are the chain's, below)."
        : " accepted every lifecycle event and holds the same custodian and status.",
    ),
  );
  const notChecked = [];
  const complete = completeness(m, contracts);
  if (complete.checked) list.append(item("complete", ...complete.checked));
  if (complete.notChecked) notChecked.push(h("li", { "data-not-checked": "complete" }, h("strong", {}, "Completeness: "), complete.notChecked));
  const brand = brandOwnership(m, contracts);
  if (brand.checked) list.append(item("brand", ...brand.checked));
  if (brand.notChecked) notChecked.push(h("li", { "data-not-checked": "brand" }, h("strong", {}, "Brand ownership: "), brand.notChecked));
  for (const b of report.batches) {
    const name = batchName(m, b.batchId).short;
    if (b.adoptedAt !== null && b.adoptedAt !== undefined) {
      const e = report.events[b.adoptedAt];
      const by = (e.participant && e.participant.name) || short(e.signer || "", 4);
      notChecked.push(
        h(
          "li",
          { "data-not-checked": "outside", "data-batch": b.batchId },
          h("strong", {}, "History outside TraceNode: "),
          b.firstSeenMidChain
            ? `${name} was first seen mid-chain: ${by} adopted it with the first event that names it here (event #${b.adoptedAt}). History before this event was not captured by this network; who made it is not recorded here and not checked.`
            : `${name} was received from outside TraceNode by ${by} (event #${b.adoptedAt}). What happened to it before, and who made it, is not recorded here and not checked.`,
        ),
      );
    }
    if (b.elsewhereAt !== null && b.elsewhereAt !== undefined) {
      const part = remotePartOf(m, b.batchId, "earlier");
      if (part && part.verified) {
        list.append(
          partVerified(
            "elsewhere",
            b.batchId,
            `History on another node: what happened to ${name} before event #${b.elsewhereAt} was recorded by ${nodeName(part)}. Its proof was fetched from there and passed this node's verifier, ending at the very event #${b.elsewhereAt} continued`,
          ),
        );
      } else {
        notChecked.push(
          h(
            "li",
            { "data-not-checked": "elsewhere", "data-batch": b.batchId },
            h("strong", {}, "History on another node: "),
            `what happened to ${name} before event #${b.elsewhereAt} was recorded by another TraceNode node and is not in this proof. The chain confirms that event #${b.elsewhereAt} continued the history the chain held, but the earlier steps are not checked here`,
            part ? `: ${part.remote.detail}.` : ".",
          ),
        );
      }
    }
    if (b.continuedAt !== null && b.continuedAt !== undefined) {
      const part = remotePartOf(m, b.batchId, "later");
      const who = (p) => (p ? p.name || `participant ${p.id}` : "nobody");
      if (part && part.verified) {
        list.append(
          partVerified(
            "later",
            b.batchId,
            `Later history on another node: what happened to ${name} after event #${b.continuedAt} was recorded by ${nodeName(part)}. Its proof was fetched from there and passed this node's verifier, starting from the very event #${b.continuedAt} and reaching the chain's last event of it`,
          ),
        );
      } else {
        const chain = part ? part.chain : null;
        notChecked.push(
          h(
            "li",
            { "data-not-checked": "later", "data-batch": b.batchId },
            h("strong", {}, "Later history on another node: "),
            `${name} was shipped to another TraceNode node's participant (event #${b.continuedAt}); what happened to it after is recorded there and is not in this proof. The chain records it ${chain ? chain.status : b.status}, held by ${chain ? who(chain.custodian) : b.custodian.name || `participant ${b.custodian.id}`}; the later steps are not checked here`,
            part ? `: ${part.remote.detail}.` : ".",
          ),
        );
      }
    }
    if (b.status === "EXPORTED") {
      notChecked.push(
        h(
          "li",
          { "data-not-checked": "exported", "data-batch": b.batchId },
          h("strong", {}, "Left TraceNode: "),
          `${name} was shipped out of TraceNode to a party outside the network. What happened to it after is not recorded here.`,
        ),
      );
    }
  }
  const gaps = report.events.filter((e) => e.timeGap).length;
  notChecked.push(
    h(
      "li",
      { "data-not-checked": "times" },
      h("strong", {}, "Claimed times: "),
      "the time each event states is the signer's word. The chain only proves when it was anchored, shown beside each event",
      gaps ? `; ${gaps} event${gaps === 1 ? " claims a time" : "s claim times"} far from it (flagged below).` : ".",
    ),
  );
  return h(
    "section",
    { class: "card checked", id: "checked" },
    h("h2", {}, "What was checked"),
    h(
      "div",
      { class: `verdict ${report.outcome}`, "data-outcome": report.outcome },
      badge(report.outcome, [], { summary: true }),
      h("p", {}, verdict),
      report.outcome === "fail" ? h("ul", { class: "failures" }, report.failures.map((f) => h("li", {}, f))) : null,
    ),
    list,
    h("h3", {}, "Not checked"),
    h("ul", { class: "not-checked" }, notChecked),
    h("p", { class: "muted" }, "The checks ran on this node with the verifier anyone can run: ", h("a", { href: "#verify" }, "check it yourself"), "."),
  );
}

// ----- history held by other nodes (provenance's remoteParts, docs/network.md) -----

function remotePartOf(m, batchId, direction) {
  return (m.report.remoteParts || []).find((p) => p.batchId === batchId && p.under === null && (p.direction || "earlier") === direction) || null;
}

/** A "What was checked" line for a part of the lineage another node holds, verified here. */
function partVerified(group, batchId, text) {
  return h(
    "li",
    { class: "check-group pass", "data-group": group, "data-batch": batchId },
    h("span", { class: "check-mark", "aria-hidden": "true" }, "✓"),
    h("span", {}, `${text} (`, h("a", { href: "#elsewhere" }, "shown below"), ")."),
  );
}

function nodeName(part) {
  return part.node ? `node ${part.node.id} (${part.node.url})` : "another node";
}

/** Each part of the lineage another node holds: fetched from the node the chain names and
 * checked by this node's verifier. Its events and brand owner are shown only when that
 * check passed; otherwise what the chain proves of the batch and why the part is missing. */
function elsewhereParts(m) {
  const parts = m.report.remoteParts || [];
  if (!parts.length) return null;
  return h(
    "section",
    { class: "card elsewhere", id: "elsewhere" },
    h("h2", {}, "History from other nodes"),
    h("p", { class: "muted" }, "Steps of this lineage recorded by other TraceNode nodes: earlier ones, and what happened after a lot was shipped to another node's participant. This node found each node on the chain, fetched its proof and checked it with its own verifier against the chain: nothing the other node says is shown unless that check passed."),
    h(
      "ul",
      { class: "remote-parts" },
      parts.map((p) => remotePart(m, p)),
    ),
  );
}

function remotePart(m, part) {
  const name = describe(part.identifier, part.batchId);
  const verified = part.verified === true;
  const outcome = verified ? "pass" : part.remote.outcome === "pending" ? "pending" : "fail";
  const label = verified ? "✓ Verified by this node" : outcome === "pending" ? "… Not yet anchored" : "✗ Not verified";
  const from = verified ? `from ${nodeName(part)}, verified by this node` : `from ${nodeName(part)}: not verified here`;
  const body = [
    h(
      "p",
      { class: "part-source" },
      h("span", { class: `badge ${outcome}` }, label),
      " ",
      " ",
      h("span", { class: "part-direction" }, part.direction === "later" ? "Later history of" : "Earlier history of"),
      " ",
      h("strong", {}, `${name.title}${name.sub ? ` (${name.sub})` : ""}`),
      ` ${from}.`,
    ),
  ];
  const report = part.verification;
  const batch = report && report.batches.find((b) => b.batchId === part.batchId);
  if (verified && batch) {
    const licence = batch.checks.find((c) => c.check === "licence");
    if (licence && licence.outcome === "pass" && batch.licence) body.push(h("p", { class: "part-brand" }, h("strong", {}, "Brand owner: "), licence.detail));
    body.push(
      h(
        "ol",
        { class: "part-events" },
        report.events.map((e) =>
          h(
            "li",
            { "data-event": e.eventHash },
            h("strong", {}, ACTIONS[e.action] || e.action),
            ` by ${(e.participant && e.participant.name) || short(e.signer || "", 4)}`,
            e.blockNumber !== null ? `, anchored in block ${e.blockNumber}` : ", not anchored yet",
          ),
        ),
      ),
    );
  } else {
    const chain = part.chain;
    const who = (p) => (p ? p.name || `participant ${p.id}` : "nobody");
    body.push(
      h(
        "p",
        { class: "part-chain" },
        chain.status === "NONE"
          ? "The chain records no such batch."
          : `What the chain proves: ${chain.status}, produced by ${who(chain.producer)}, held by ${who(chain.custodian)}.`,
      ),
      h("p", { class: "problem-detail" }, part.remote.detail),
    );
  }
  return h(
    "li",
    { class: `remote-part ${outcome}`, "data-part": part.batchId, "data-direction": part.direction || "earlier", "data-verified": String(verified), "data-outcome": part.remote.outcome },
    body,
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
  if (r.action === "SHIP" && e.message && e.message.counterparty === ZERO20) return "Shipped out of TraceNode";
  if (r.action === "RECEIVE" && e.message && e.message.prevEventHash === ZERO32) {
    const midChain = m.report.batches.some((b) => b.adoptedAt === e.number - 1 && b.firstSeenMidChain);
    return midChain ? "First seen mid-chain: history before this event was not captured by this network" : "Received from outside TraceNode";
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

/** "event 3, Shipped": how a copy button or a flag names the event it belongs to. */
function eventLabel(m, e) {
  return `event ${e.number}, ${eventTitle(m, e)}`;
}

function eventProof(m, e) {
  const r = e.report;
  const rows = [];
  const label = eventLabel(m, e);
  if (r.blockNumber !== null) {
    const mined = r.anchoredAt ? `, mined ${time(Number(r.anchoredAt.timestamp) * 1000).text}` : "";
    rows.push(h("p", {}, `Anchored in block ${r.blockNumber} on chain ${m.report.chainId}${mined}.`));
  } else if (!e.anchor) rows.push(h("p", {}, "Not anchored on-chain yet: the node commits waiting events every few seconds."));
  rows.push(hashRow("Event", r.eventHash, `the event hash of ${label}`));
  if (r.txHash) rows.push(hashRow("Transaction", r.txHash, `the transaction hash of ${label}`));
  if (r.root) rows.push(hashRow("Merkle root", r.root, `the Merkle root of ${label}`));
  const links = [];
  if (e.anchor && HASH.test(e.storedHash)) links.push(h("a", { href: `/v1/events/${e.storedHash}/proof`, class: "proof-link" }, "Proof (JSON)"));
  if (HASH.test(e.storedHash)) links.push(h("a", { href: `/v1/events/${e.storedHash}` }, "Event (JSON)"));
  const explorer = m.data.links.explorerTx;
  if (explorer && r.txHash && HASH.test(r.txHash)) {
    links.push(h("a", { href: explorer.replace("{tx}", r.txHash), rel: "noopener noreferrer", target: "_blank" }, "Transaction in the explorer"));
  }
  if (links.length) rows.push(h("p", { class: "links" }, links.map((l, i) => [i ? " · " : "", l])));
  const cast = castCommand(m, e);
  if (cast) rows.push(codeLine(cast, "Check this event's proof on the chain yourself (in a clone of TraceNode, after bash scripts/setup.sh; with Foundry installed, cast alone):", `the cast command checking ${label}`));
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

/** When the event says it happened, when the chain first saw it, and a flag when the two
 * are far apart (the node's thresholds: node/provenance/timing.py, docs/web.md). */
function eventTimes(e) {
  const r = e.report;
  const lines = [h("span", { class: "claimed" }, "Claimed ", timeElement(r.eventTime))];
  if (r.anchoredAt) {
    const at = Number(r.anchoredAt.timestamp) * 1000;
    lines.push(" · ", h("span", { class: "anchored-at" }, "anchored ", timeElement(at, { sameDayAs: Number(r.eventTime) }), ` (block ${r.blockNumber})`));
  } else if (r.blockNumber === null) {
    const wait = e.anchoringSeconds;
    const text = wait !== null && Number.isFinite(wait) ? `anchoring, about ${duration(Math.max(1, Math.round(wait)))}` : "not anchored yet";
    lines.push(" · ", h("span", { class: "anchored-at pending" }, text));
  }
  const gap = r.timeGap;
  let flag = null;
  if (gap && r.anchoredAt) {
    const by = time(Number(r.anchoredAt.timestamp) * 1000).text;
    const far = duration(gap.seconds);
    flag =
      gap.kind === "claimed-after-anchoring"
        ? h(
            "p",
            { class: "time-gap", "data-gap": gap.kind },
            h("strong", {}, `⚠ Claims a time ${far} after it was anchored. `),
            `That cannot be right: the chain shows this event existed by ${by}. The signer's clock, or the time it states, is wrong.`,
          )
        : h(
            "p",
            { class: "time-gap", "data-gap": gap.kind },
            h("strong", {}, `⚠ Anchored ${far} after the time it claims. `),
            `The chain only shows this event existed by ${by}; nothing confirms the earlier time. It may have been recorded late, or its time may be wrong.`,
          );
  }
  return { line: h("p", { class: "event-times" }, lines), flag };
}

// ----- master data (docs/epcis.md "Master data"): names of codes, each with who says it -----

/** What the node shows a location, party or product code is called (node/epcis/names.py:
 * the brand owner's anchored assertion, else the latest anchored one), or null. */
function masterName(m, code) {
  const named = (m.report && m.report.masterData) || {};
  return typeof code === "string" && Object.hasOwn(named, code) ? named[code] : null;
}

/** A named code: its name and address, who says so, and the raw code, small, linking to
 * every assertion about it; null for a code nobody has named (verified). */
function namedCode(m, code) {
  const n = masterName(m, code);
  if (!n || !n.name) return null;
  const who = n.saidBy.participant || `participant ${n.saidBy.participantId}`;
  const says = n.saidBy.brandOwner ? `says ${who}, holder of ${n.saidBy.holderOf}` : `says ${who}`;
  return h(
    "span",
    { class: "named", "data-code": code },
    h("span", { class: "named-name" }, n.name),
    n.address ? h("span", { class: "named-address" }, ` · ${n.address}`) : null,
    " ",
    h("span", { class: "named-says", title: `Signed and anchored by ${who} (event ${n.eventHash})` }, `(${says})`),
    " ",
    h("a", { class: "named-code", href: n.link, title: "Every assertion about this code" }, h("code", {}, code)),
  );
}

/** Facts whose value lists codes (sources, destinations) with each named code's name. */
function namedFacts(m, facts) {
  return facts.map(([label, value]) => {
    if (typeof value !== "string") return [label, value];
    const parts = value.split(", ");
    const named = parts.map((code) => namedCode(m, code));
    if (!named.some(Boolean)) return [label, value];
    return [label, h("span", {}, parts.map((code, i) => [i ? ", " : "", named[i] || code]))];
  });
}

function placeFact(m, e, where) {
  const named = namedCode(m, where);
  if (named) return named;
  const readable = shortLocation(where);
  if (!readable) return where;
  return h(
    "span",
    { class: "place" },
    h("span", { class: "place-name", title: where }, readable),
    copyButton(where, `the location code of ${eventLabel(m, e)} (${where})`),
  );
}

/**
 * An event declared in error (EPCIS errorDeclaration, docs/epcis.md "Corrections"): it
 * stays on the page, struck through, with the declared reason and links to what corrects
 * it. The chain is append-only: nothing it executed is undone by a declaration.
 */
function correctionNote(m, c) {
  const shown = new Set(m.events.map((e) => e.report.eventHash));
  const link = (hash, text) => (shown.has(hash) ? h("a", { href: `#event-${hash}` }, text) : h("code", { title: hash }, short(hash, 4)));
  const when = Number.isFinite(Date.parse(c.declarationTime)) ? ` on ${time(Date.parse(c.declarationTime)).text}` : "";
  const reason = c.reason ? `: ${c.reason.replace(VOCABULARY_PREFIX, "").replaceAll("_", " ")}` : "";
  const fixes = c.correctiveEventIds.map((id) => {
    const hashes = c.correctiveEvents[id] || [];
    return hashes.length ? link(hashes[0], id) : h("span", { title: "not held by this node" }, id);
  });
  return h(
    "p",
    { class: "correction", "data-correction": c.hashId },
    h("strong", {}, "Declared in error"),
    `${when}${reason}. `,
    c.declaredBy.length ? ["Declaration: ", link(c.declaredBy[0], "its event"), ". "] : null,
    fixes.length ? ["Corrected by ", fixes.map((f, i) => [i ? ", " : "", f]), "."] : "No corrective event named.",
  );
}

function timeline(m) {
  const items = m.events.map((e) => {
    const r = e.report;
    const who = r.participant && r.participant.name ? r.participant.name : r.signer ? short(r.signer, 4) : "unknown signer";
    const where = place(e.payload);
    const lines = [];
    if (r.action === "SHIP" && e.message) lines.push(["To", personName(m, e.message.counterparty)]);
    if (where) lines.push(["Where", placeFact(m, e, where)]);
    else if (e.message && e.message.location && e.message.location !== ZERO32) {
      lines.push(["Where", h("span", { title: `keccak-256 of the location the signer named: ${e.message.location}` }, `signed location ${short(e.message.location, 4)}`)]);
    }
    if (e.message && e.message.quantity && e.message.quantity !== "0" && !(e.payload && (e.payload.quantity || e.payload.outputQuantity))) {
      lines.push(["Quantity", e.message.quantity]);
    }
    lines.push(...namedFacts(m, payloadFacts(e.payload)));
    const failures = failingChecks(r.checks);
    const times = eventTimes(e);
    const title = eventTitle(m, e);
    return h(
      "li",
      {
        class: `event ${r.outcome} action-${r.action.toLowerCase()}${r.timeGap ? " gap" : ""}${r.correction ? " corrected" : ""}`,
        "data-event": r.eventHash,
        "data-outcome": r.outcome,
        id: `event-${r.eventHash}`,
      },
      h(
        "div",
        { class: "event-head" },
        h("div", { class: "event-what" }, h("h3", {}, r.correction ? h("del", {}, title) : title), eventBatches(m, e)),
        badge(r.outcome, r.checks),
      ),
      r.correction ? correctionNote(m, r.correction) : null,
      h("p", { class: "event-meta" }, h("span", { class: "who" }, who)),
      times.line,
      times.flag,
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
    h(
      "p",
      { class: "muted" },
      `${m.events.length} signed events on this batch and everything it was made from, oldest first. Each shows the time its signer claims and when the chain anchored it.`,
    ),
    h("ol", { class: "timeline" }, items),
    rejected.length
      ? h("p", { class: "muted" }, `${rejected.length} further event${rejected.length === 1 ? " was" : "s were"} refused by the chain and ${rejected.length === 1 ? "is" : "are"} not shown.`)
      : null,
  );
}

// ----- sensor chart -----

/** A payload's own statement of a reading's safe range: {"tn:safeRange": {"min", "max"}} on
 * the sensor report, in the report's unit (docs/web.md). */
const RANGE_KEY = "tn:safeRange";
/** A batch marked chilled by the event that created it: {"tn:storage": "chilled"} in its
 * payload or in the payload's ilmd (EPCIS instance/lot master data). */
const STORAGE_KEY = "tn:storage";
/** The range shaded for a chilled product when no reading states one: 0–5 °C, a fridge's
 * range as food-safety agencies advise it (e.g. the UK Food Standards Agency). */
const CHILLED_CEL = { min: 0, max: 5 };
/** The least span of a chart's y axis, by unit: a 0.6 °C drift is not drawn as a cliff. */
const MIN_SPAN = { CEL: 10, KEL: 10, FAH: 18 };

function statedRange(report) {
  const range = report && report[RANGE_KEY];
  if (!range || typeof range !== "object") return null;
  const min = Number(range.min);
  const max = Number(range.max);
  return Number.isFinite(min) && Number.isFinite(max) && min < max ? { min, max } : null;
}

function chilledBatches(m) {
  const chilled = new Set();
  for (const e of m.events) {
    const p = e.payload;
    if (!p || typeof p !== "object") continue;
    const ilmd = p.ilmd && typeof p.ilmd === "object" ? p.ilmd : {};
    if (p[STORAGE_KEY] !== "chilled" && ilmd[STORAGE_KEY] !== "chilled") continue;
    if (e.report.action === "COMMISSION") e.report.batchIds.forEach((b) => chilled.add(b));
    if (e.report.action === "TRANSFORM" && e.message) e.message.outputs.forEach((b) => chilled.add(b));
  }
  return chilled;
}

function series(m) {
  const groups = new Map();
  for (const e of m.events) {
    for (const reading of numericReadings(e.payload)) {
      const at = Date.parse(reading.time);
      const x = Number.isFinite(at) && /^\d{4}-/.test(String(reading.time)) ? at : Number(e.report.eventTime);
      const key = `${reading.type}|${reading.uom}`;
      if (!groups.has(key)) groups.set(key, { type: reading.type, uom: reading.uom, unit: reading.unit, points: [] });
      groups.get(key).points.push({
        x,
        y: reading.value,
        failed: e.report.outcome === "fail",
        range: reading.range,
        batches: e.report.batchIds,
        by: e.report.participant.name || short(e.report.signer, 4),
      });
    }
  }
  const chilled = chilledBatches(m);
  for (const g of groups.values()) {
    g.points.sort((a, b) => a.x - b.x);
    const ranges = g.points.map((p) => p.range);
    const first = ranges[0];
    if (first && ranges.every((r) => r && r.min === first.min && r.max === first.max)) {
      g.band = { ...first, source: "stated", by: [...new Set(g.points.map((p) => p.by))] };
    } else if (g.uom === "CEL" && g.points.every((p) => p.batches.some((b) => chilled.has(b)))) {
      g.band = { ...CHILLED_CEL, source: "chilled" };
    } else {
      g.band = null;
    }
    for (const p of g.points) p.outside = g.band !== null && (p.y < g.band.min || p.y > g.band.max);
  }
  return [...groups.values()];
}

function niceStep(span, count) {
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 2.5, 5]) if (raw <= f * magnitude) return f * magnitude;
  return 10 * magnitude;
}

const axisTime = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });

function number(value) {
  return String(Number(value.toFixed(2)));
}

/** The chart drawn for a width in CSS pixels (one SVG unit a pixel, so 13 px text is
 * 13 px on a phone too), the y axis at least MIN_SPAN wide, the safe band shaded. */
function chart(group, width) {
  const W = Math.max(260, Math.floor(width));
  const H = W < 480 ? 210 : 240;
  const pad = { left: 46, right: 16, top: 24, bottom: 32 };
  const xs = group.points.map((p) => p.x);
  const ys = group.points.map((p) => p.y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) [x0, x1] = [x0 - 3600000, x1 + 3600000];
  let [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  if (group.band) [lo, hi] = [Math.min(lo, group.band.min), Math.max(hi, group.band.max)];
  const least = Object.hasOwn(MIN_SPAN, group.uom) ? MIN_SPAN[group.uom] : Math.max(1, Math.abs(hi) * 0.2, Math.abs(lo) * 0.2);
  if (hi - lo < least) [lo, hi] = [(lo + hi) / 2 - least / 2, (lo + hi) / 2 + least / 2];
  const step = niceStep(hi - lo, 4);
  const y0 = Math.floor(lo / step) * step;
  const y1 = Math.ceil(hi / step) * step;
  const inset = 18; // the first and last points clear of the axis labels
  const px = (x) => pad.left + inset + ((x - x0) / (x1 - x0)) * (W - pad.left - pad.right - 2 * inset);
  const py = (y) => H - pad.bottom - ((y - y0) / (y1 - y0)) * (H - pad.top - pad.bottom);
  // A value's label goes above its point; of two points close together, the lower one's
  // label goes below it, so the two never overlap.
  const above = group.points.map(() => true);
  for (let i = 1; i < group.points.length; i++) {
    const [p, q] = [group.points[i], group.points[i - 1]];
    if (Math.abs(px(p.x) - px(q.x)) >= 34) continue;
    const higher = py(p.y) < py(q.y);
    above[i] = higher;
    above[i - 1] = !higher;
  }
  const ticks = [];
  for (let v = y0; v <= y1 + step / 2; v += step) ticks.push(v);
  const band = group.band;
  const labels =
    xs.length > 1
      ? [
          s("text", { class: "axis-label", x: pad.left, y: H - 8 }, axisTime.format(new Date(x0))),
          s("text", { class: "axis-label", x: W - pad.right, y: H - 8, "text-anchor": "end" }, axisTime.format(new Date(x1))),
        ]
      : [s("text", { class: "axis-label", x: px(xs[0]), y: H - 8, "text-anchor": "middle" }, axisTime.format(new Date(xs[0])))];
  return s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", role: "img", "aria-label": `${group.type} readings in ${group.unit}` },
    s("title", {}, `${group.type} (${group.unit}): ${group.points.map((p) => p.y).join(", ")}`),
    band
      ? s(
          "rect",
          { class: "safe-band", x: pad.left, width: W - pad.left - pad.right, y: py(band.max), height: py(band.min) - py(band.max) },
          s("title", {}, `Safe range ${band.min}–${band.max} ${group.unit}`),
        )
      : null,
    ticks.map((v) =>
      s(
        "g",
        { class: "tick" },
        s("line", { x1: pad.left, x2: W - pad.right, y1: py(v), y2: py(v) }),
        s("text", { x: pad.left - 8, y: py(v) + 4, "text-anchor": "end" }, number(v)),
      ),
    ),
    labels,
    s("polyline", { class: "line", points: group.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ") }),
    group.points.map((p) =>
      s(
        "circle",
        { class: `point${p.failed ? " failed" : ""}${p.outside ? " outside" : ""}`, cx: px(p.x).toFixed(1), cy: py(p.y).toFixed(1), r: 5 },
        s("title", {}, `${p.y} ${group.unit} — ${time(p.x).text}${p.outside ? " — outside the safe range" : ""}`),
      ),
    ),
    group.points.map((p, i) =>
      s(
        "text",
        { class: `value${p.outside ? " outside" : ""}`, x: px(p.x).toFixed(1), y: (py(p.y) + (above[i] ? -10 : 20)).toFixed(1), "text-anchor": "middle" },
        `${p.y}`,
      ),
    ),
  );
}

const charts = new WeakMap(); // figure -> its series

function bandNote(group) {
  const band = group.band;
  if (!band) return null;
  const range = `${band.min}–${band.max} ${group.unit}`;
  const outside = group.points.filter((p) => p.outside).length;
  return h(
    "p",
    { class: "band-note", "data-band": band.source },
    band.source === "stated"
      ? `Shaded: the safe range, ${range}, as the readings state it (signed by ${band.by.join(", ")}).`
      : `Shaded: ${range}, the usual safe range for chilled food. The product is marked chilled; this range is TraceNode's default, not stated in the readings.`,
    outside ? h("strong", {}, ` ${outside} reading${outside === 1 ? " is" : "s are"} outside it.`) : null,
  );
}

function sensors(m) {
  const groups = series(m);
  if (!groups.length) return null;
  return h(
    "section",
    { class: "card", id: "sensors" },
    h("h2", {}, "Sensor readings"),
    groups.map((group) => {
      const values = group.points.map((p) => p.y);
      const figure = h(
        "figure",
        { class: "chart-figure", "data-series": group.type },
        h("figcaption", {}, `${group.type} (${group.unit}) — ${values.length} reading${values.length === 1 ? "" : "s"}, min ${Math.min(...values)}, max ${Math.max(...values)}`),
        bandNote(group),
        h("div", { class: "chart-box" }),
      );
      charts.set(figure, group);
      return figure;
    }),
  );
}

/** Draws (or redraws, for a new width) every chart on the page at its box's width. */
function drawCharts() {
  for (const figure of result.querySelectorAll("figure.chart-figure")) {
    const group = charts.get(figure);
    const box = figure.querySelector(".chart-box");
    if (group && box) clear(box).append(chart(group, box.clientWidth));
  }
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
  // A batch made, at any depth in this graph, from a recalled one.
  const tainted = new Map();
  const fromRecalled = (id, seen = new Set()) => {
    if (tainted.has(id)) return tainted.get(id);
    if (seen.has(id)) return false;
    seen.add(id);
    const n = nodes.get(id);
    const hit = [...n.preds].some((p) => (nodes.get(p).kind === "batch" && m.recalled.has(p)) || fromRecalled(p, seen));
    tainted.set(id, hit);
    return hit;
  };
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
    const recalled = m.recalled.has(n.id); // also once destroyed, or waiting for its commit
    const derived = !recalled && fromRecalled(n.id);
    const shown = recalled ? "RECALLED" : status;
    const cls = `node batch-node status-${String(shown).toLowerCase()}${n.id === m.subject ? " subject" : ""}${derived ? " from-recalled" : ""}`;
    const said = recalled && status !== "RECALLED" ? `Recalled, now ${STATUS[status] || status}` : STATUS[status] || status;
    const inner = [
      s("title", {}, `${m.names.get(n.id) || n.id} — ${said}${derived ? ", made from a recalled batch" : ""}`),
      s("rect", { x: x - batchW / 2, y: y - 22, width: batchW, height: 44, rx: 8 }),
      s("text", { x, y: y - 4, "text-anchor": "middle", class: "node-title" }, clip(name.short, 20)),
      s(
        "text",
        { x, y: y + 13, "text-anchor": "middle", class: "node-sub" },
        recalled ? "⚠ RECALLED" : derived ? "⚠ From a recalled lot" : STATUS[status] || status,
      ),
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
  const recalled = m.recalled.has(m.subject);
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
    { class: "card", id: "verify", tabindex: "-1" },
    h("h2", {}, "Check it yourself"),
    h(
      "p",
      {},
      "The proof bundle holds every event above with its signature, its details and its Merkle proof. Check it against the chain with software that never sees this node's database:",
    ),
    h("p", {}, h("a", { class: "button", href: `/verify?id=${encodeURIComponent(m.data.identifier)}`, id: "verify-in-browser" }, "Check it yourself in your browser"), " Nothing to install: the checks of the commands below, run by your browser against this node's JSON-RPC or any other of the same chain."),
    h("p", {}, h("a", { class: "button", href: links.bundle, download: links.bundleFile, id: "bundle-download" }, `Download the proof bundle (${links.bundleFile})`)),
    codeLine(verify, "With TraceNode's verifier, against this node's read-only JSON-RPC (or any RPC of the same chain), the downloaded bundle in the folder you run it in:", "the tracenode verify command"),
    last
      ? codeLine(castCommand(m, last), "One event's Merkle proof, straight from the AnchorRegistry contract with Foundry's cast:", `the cast command checking the proof of ${eventLabel(m, last)}`)
      : null,
    h("p", { class: "muted", id: "commands-hint" }, IN_A_CLONE),
    h(
      "p",
      { class: "muted" },
      `Chain ${m.report.chainId}. Compare these contract addresses with the ones the consortium publishes (this node shows its own at `,
      h("a", { href: "/v1/info" }, "/v1/info"),
      "):",
    ),
    hashRow("AnchorRegistry", contracts.anchorRegistry, "the AnchorRegistry contract address"),
    hashRow("BatchRegistry", contracts.batchRegistry, "the BatchRegistry contract address"),
    hashRow("ParticipantRegistry", contracts.participantRegistry, "the ParticipantRegistry contract address"),
  );
}

// ----- loading -----

const result = document.getElementById("result");
const intro = document.getElementById("intro");
const statusLine = document.getElementById("status");
const input = document.getElementById("id-input");
const skipToBundle = document.getElementById("skip-bundle");
let loading = 0;

function say(text, kind = "info") {
  statusLine.className = `status ${kind}`;
  statusLine.textContent = text;
}

async function problemOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body;
  } catch {
    /* not a problem document */
  }
  return { detail: "", code: null };
}

/** What went wrong, said once: the node's own detail only where it adds to the sentence. */
function problemText(response, problem, asked) {
  const code = problem.code || String(response.status);
  switch (problem.code) {
    case "batch-not-found":
      return `This node has no record of ${asked}. It may be recorded on another node, or not recorded yet.`;
    case "invalid-identifier":
      return asked === null ? problem.detail : `Not a batch identifier: ${problem.detail}`;
    case "unauthenticated":
      return "This node shows batches to API key holders only.";
    case "rate-limited":
      return "Too many requests: wait a moment and try again.";
    default:
      break;
  }
  const said = problem.detail ? `: ${problem.detail}` : ".";
  if (response.status >= 500) return `The node cannot answer right now${said} (error code ${code})`;
  return `The node refused this${said} (error code ${code})`;
}

async function fetchJson(url, ticket) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch {
    if (ticket === loading) say("The node did not answer. Try again in a moment.", "error");
    return null;
  }
  if (ticket !== loading) return null;
  if (!response.ok) return { response, problem: await problemOf(response) };
  return { response, data: await response.json() };
}

function failed(text) {
  say(text, "error");
  document.title = "TraceNode — not found";
}

function startLoading(text, message) {
  const ticket = ++loading;
  input.value = text;
  intro.hidden = true;
  skipToBundle.hidden = true;
  clear(result).hidden = true;
  say(message);
  return ticket;
}

async function load(id) {
  const ticket = startLoading(id, "Checking every signature and proof against the chain…");
  const answer = await fetchJson(`/v1/batches/${encodeURIComponent(id)}/overview`, ticket);
  if (answer === null || ticket !== loading) return;
  if (answer.problem) {
    failed(problemText(answer.response, answer.problem, id));
    return;
  }
  render(model(answer.data));
}

/** Whatever was typed, pasted or scanned, read by the node (GET /v1/search, one parser for
 * every spelling): one batch opens its page; a product or a lot code lists its batches. */
async function search(text) {
  const ticket = startLoading(text, "Looking it up…");
  const answer = await fetchJson(`/v1/search?q=${encodeURIComponent(text)}`, ticket);
  if (answer === null || ticket !== loading) return;
  if (answer.problem) {
    failed(problemText(answer.response, answer.problem, null));
    return;
  }
  const found = answer.data;
  if (found.kind === "batch") {
    history.replaceState(null, "", pageHref(found.identifier));
    load(found.identifier);
    return;
  }
  renderMatches(found);
}

function renderMatches(found) {
  const product = found.kind === "product";
  const what = product ? `GTIN ${found.gtin}` : `lot ${found.lot}`;
  const n = found.batches.length;
  document.title = `${product ? "GTIN" : "Lot"} ${product ? found.gtin : found.lot} — TraceNode`;
  const items = found.batches.map((b) => {
    const name = describe(b.identifier, b.batchId);
    const status = String(b.status).toLowerCase();
    return h(
      "li",
      { class: `match status-${status}`, "data-batch": b.batchId },
      h("a", { href: b.page }, name.title),
      name.sub && !product ? h("span", { class: "muted" }, ` ${name.sub}`) : null, // a product's: said above
      " ",
      h("span", { class: `chip status-${status}` }, STATUS[b.status] || b.status),
      b.producer && b.producer.name ? h("p", { class: "muted" }, `Produced by ${b.producer.name}.`) : null,
    );
  });
  let count;
  if (n === 0) {
    count = product ? "This node holds no lot or item of this product." : "This node holds no batch with this lot code.";
  } else {
    const batches = `${n} batch${n === 1 ? "" : "es"}`;
    count = found.truncated
      ? `The first ${batches}, in order of their identifiers: more match. Type the whole identifier from the label to find one.`
      : `${batches} on this node:`;
  }
  append(clear(result), [
    h(
      "section",
      { class: "card", id: "matches", "data-kind": found.kind },
      h("h1", {}, product ? `Lots and items of ${what}` : `Batches with ${what}`),
      h("p", { class: "match-count" }, count),
      n ? h("ul", { class: "matches" }, items) : null,
      n === 0
        ? h("p", { class: "muted" }, "Check the code against the pack, or type the whole identifier from the label: its link, or the text under its barcode.")
        : null,
    ),
  ]);
  result.hidden = false;
  say("");
}

function render(m) {
  const name = describe(m.data.identifier, m.subject);
  document.title = `${name.title} — TraceNode`;
  append(clear(result), [
    safety(m),
    monitorAlerts(m),
    summary(m),
    checked(m),
    elsewhereParts(m),
    timeline(m),
    sensors(m),
    lineageGraph(m),
    downstream(m),
    verifyYourself(m),
  ]);
  result.hidden = false;
  result.dataset.outcome = m.report.outcome;
  skipToBundle.hidden = false;
  drawCharts();
  say("");
}

function fromLocation() {
  const params = new URLSearchParams(window.location.search);
  const id = (params.get("id") || "").trim();
  const query = (params.get("q") || "").trim();
  if (id) {
    load(id);
  } else if (query) {
    search(query);
  } else {
    intro.hidden = false;
    clear(result).hidden = true;
    say("");
  }
}

function openBatch(id) {
  const target = pageHref(id);
  if (window.location.search !== target) history.pushState(null, "", target);
  load(id);
}

/** Looks up what was typed or scanned, as it was: the node reads it. */
function openQuery(text) {
  const target = `?q=${encodeURIComponent(text)}`;
  if (window.location.search !== target) history.pushState(null, "", target);
  search(text);
}

document.getElementById("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (text) openQuery(text);
});

/** Follows a link within the page by moving focus (and the view) to its target, without
 * touching the URL: a keyboard user lands where the link said, and ?id= stays as it is. */
function jumpTo(targetId) {
  const target = document.getElementById(targetId);
  if (!target) return false;
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.focus({ preventScroll: true });
  target.scrollIntoView({ block: "start" });
  return true;
}

document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[href^='#']") : null;
  if (link && jumpTo(link.getAttribute("href").slice(1))) event.preventDefault();
});

result.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a") : null;
  if (!link) return;
  const href = link.getAttribute("href") || "";
  if (/^\/?\?id=/.test(href) && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    event.preventDefault();
    const id = new URLSearchParams(href.slice(href.indexOf("?") + 1)).get("id");
    if (id) {
      openBatch(id);
      window.scrollTo(0, 0);
    }
  }
});

window.addEventListener("popstate", fromLocation);

// Charts are drawn at their box's width: draw them again when it changes (a phone turned).
let drawnWidth = window.innerWidth;
let redraw = null;
window.addEventListener("resize", () => {
  if (window.innerWidth === drawnWidth) return;
  clearTimeout(redraw);
  redraw = setTimeout(() => {
    drawnWidth = window.innerWidth;
    if (!result.hidden) drawCharts();
  }, 150);
});

// ----- scanning -----

/** A scanned code: this node's own page URL opens its batch; anything else (a Digital Link,
 * raw GS1 barcode data) goes to the node to read. */
function openScanned(raw) {
  const text = String(raw).trim();
  try {
    const url = new URL(text);
    const id = url.searchParams.get("id");
    if (url.origin === window.location.origin && id) {
      openBatch(id);
      return;
    }
  } catch {
    /* not a URL */
  }
  openQuery(text);
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
        openScanned(codes[0].rawValue);
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
