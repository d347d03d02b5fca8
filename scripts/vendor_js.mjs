// Copy the browser verifier's cryptography into the api package, so the node serves it
// itself (api/routes/verify_page.py) under a strict CSP: no CDN, no build tool at run time.
//
// Noble's audited ESM builds, pinned exactly in package.json: @noble/hashes (keccak_256)
// and @noble/curves (secp256k1 recovery). Starting from the two modules the verifier
// imports, this follows every static `import … from` / `export … from` and copies only the
// files reached, each unchanged but for two things: a bare specifier across the packages
// (`@noble/hashes/sha2`) becomes a relative path (`../noble-hashes/sha2.js`), because a
// browser resolves bare specifiers only through an import map, which would be an inline
// script; and the `sourceMappingURL` comment goes, as the source maps are not copied. Nothing is downloaded; a version that is not the pinned one, or an import this
// cannot resolve, stops setup.
//
//   node scripts/vendor_js.mjs        (scripts/setup.sh runs it)
//
// Output: api/static/vendor/noble-hashes/, api/static/vendor/noble-curves/ (git-ignored),
// each with the package's LICENSE. Idempotent: files already up to date are not rewritten.

import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep, posix } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "api", "static", "vendor");
const packages = {
  "@noble/hashes": { dir: "noble-hashes", entries: ["sha3.js"] },
  "@noble/curves": { dir: "noble-curves", entries: ["secp256k1.js"] },
};
const pinned = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).devDependencies;

function fail(message) {
  console.error(`vendor_js: ${message}`);
  process.exit(1);
}

// Where each package's ESM build is, checked against the exact pin.
const sources = {};
for (const name of Object.keys(packages)) {
  const base = join(root, "node_modules", name);
  const manifest = JSON.parse(readFileSync(join(base, "package.json"), "utf8"));
  if (pinned[name] !== manifest.version) {
    fail(`${name} ${manifest.version} is installed, package.json pins ${pinned[name]}: run npm ci`);
  }
  sources[name] = join(base, "esm");
}

const IMPORT = /^(?:import|export)\b[^;]*?\bfrom\s*(["'])([^"']+)\1/gm;

// file (absolute, in node_modules) -> { pkg, rel } ; walked breadth first
const found = new Map();
const queue = [];
function visit(pkg, rel) {
  const file = join(sources[pkg], rel);
  if (found.has(file)) return;
  if (!existsSync(file)) fail(`${pkg}: no ${rel} in its ESM build`);
  found.set(file, { pkg, rel });
  queue.push(file);
}
for (const [pkg, { entries }] of Object.entries(packages)) for (const e of entries) visit(pkg, e);

const outputs = new Map(); // output path -> text
while (queue.length) {
  const file = queue.shift();
  const { pkg, rel } = found.get(file);
  const text = readFileSync(file, "utf8");
  const rewritten = text.replace(IMPORT, (statement, quote, specifier) => {
    if (specifier.startsWith("./") || specifier.startsWith("../")) {
      const next = posix.normalize(posix.join(posix.dirname(rel), specifier));
      if (next.startsWith("../")) fail(`${pkg}/${rel} imports ${specifier}, outside its package`);
      visit(pkg, next);
      return statement;
    }
    const owner = Object.keys(packages).find((p) => specifier.startsWith(p + "/"));
    if (!owner) fail(`${pkg}/${rel} imports ${specifier}, which is not vendored`);
    const sub = specifier.slice(owner.length + 1) + ".js";
    visit(owner, sub);
    const from = posix.dirname(posix.join(packages[pkg].dir, rel));
    let path = posix.relative(from, posix.join(packages[owner].dir, sub));
    if (!path.startsWith(".")) path = "./" + path;
    return statement.replace(`${quote}${specifier}${quote}`, `${quote}${path}${quote}`);
  });
  const unmapped = rewritten.replace(/^\/\/# sourceMappingURL=.*\n?/m, "");
  outputs.set(join(target, packages[pkg].dir, ...rel.split("/")), unmapped);
}
for (const [name, { dir }] of Object.entries(packages)) {
  const license = join(root, "node_modules", name, "LICENSE");
  outputs.set(join(target, dir, "LICENSE"), readFileSync(license, "utf8"));
}

// Write what changed; remove what is no longer reached (an older version's files).
let written = 0;
for (const [path, text] of outputs) {
  if (existsSync(path) && readFileSync(path, "utf8") === text) continue;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  written += 1;
}
function prune(dir) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (!outputs.has(path)) {
      rmSync(path);
    }
  }
}
prune(target);
if (written) {
  const where = relative(root, target).split(sep).join("/");
  console.log(`vendor_js: ${written} file(s) written to ${where} (${outputs.size} in all)`);
}
