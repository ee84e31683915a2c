// Runs ruvector.wasm under Node.js (WebAssembly built in, no npm packages): builds an index,
// searches it and serializes it, so that tests/test_node.py can compare with wasmtime.
//
//   node driver.mjs MODULE.wasm SPEC.json BASE.f32 QUERIES.f32 OUT_PREFIX
//
// SPEC.json: {"dimensions", "m", "ef_construction", "ef_search", "metric" (a metric code),
// "seed", "ids": [...], "k", "ef", "delete": [...ids], "allow": [...ids], "abi": {"OK", "FAILED",
// "NULL", "GREW", "NONE", "exports": {name: parameter count}}}, the ABI from the Python host's
// description; BASE.f32 and QUERIES.f32 are row-major little-endian float32. Writes
// OUT_PREFIX.json ({"ids", "scores", "batch_ids", "batch_scores", "len"}, and the same four
// searches filtered to "allow" under "filtered") and OUT_PREFIX.idx (the serialized index).
import { readFileSync, writeFileSync } from "node:fs";
import { open } from "./module.mjs";

const [wasmPath, specPath, basePath, queryPath, outPrefix] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const { OK, FAILED, NULL, GREW, NONE } = spec.abi;
const { x, bytes, error, put } = await open(wasmPath, spec.abi);
function f32file(path) {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const d = spec.dimensions;
const h = x.rv_index_new(d, spec.m, spec.ef_construction, spec.ef_search, spec.metric, BigInt(spec.seed), spec.storage ?? 0, spec.floats ?? 1);
if (h === NULL) throw new Error(error());

// insert every row in one call, as the Python host does
const enc = new TextEncoder();
const encoded = spec.ids.map((s) => enc.encode(s));
const offsets = new Uint32Array(encoded.length + 1);
encoded.forEach((e, i) => { offsets[i + 1] = offsets[i] + e.length; });
const text = new Uint8Array(offsets[encoded.length]);
encoded.forEach((e, i) => text.set(e, offsets[i]));
const base = f32file(basePath);
const tp = put(text), op = put(offsets), vp = put(base);
if (x.rv_insert(h, tp, text.length, op, encoded.length, vp) !== OK) throw new Error(error());
const nodeIds = [...spec.ids];
for (const id of spec.delete || []) {
  const raw = enc.encode(id);
  if (x.rv_delete(h, put(raw), raw.length) === FAILED) throw new Error(`delete ${id} failed`);
}

// searches: plain, then filtered to spec.allow (a mask of one byte per node)
const queries = f32file(queryPath);
const nq = queries.length / d;
const k = spec.k, ef = spec.ef;
const qp = x.rv_alloc(4 * d), rp = x.rv_alloc(8 * k);
const bq = put(queries), bn = x.rv_alloc(4 * nq * k), bs = x.rv_alloc(4 * nq * k);
const allowed = new Set(spec.allow || []);
const mask = Uint8Array.from(nodeIds, (id) => (allowed.has(id) ? 1 : 0));
const mp = put(mask);
// each search's arguments between ef and its outputs: none, or the mask
const plain = { one: x.rv_search, all: x.rv_search_batch, filter: [] };
const filtered = { one: x.rv_search_filtered, all: x.rv_search_batch_filtered, filter: [mp, mask.length] };

function run({ one, all, filter }) {
  const out = { ids: [], scores: [], batch_ids: [], batch_scores: [] };
  // one call per query
  for (let i = 0; i < nq; i++) {
    new Float32Array(x.memory.buffer, qp, d).set(queries.subarray(i * d, (i + 1) * d));
    const result = one(h, qp, k, ef, ...filter, rp);
    if (result === FAILED) throw new Error(error());
    const count = result & ~GREW;
    const words = new Uint32Array(x.memory.buffer, rp, 2 * count);
    const floats = new Float32Array(x.memory.buffer, rp, 2 * count);
    const ids = [], scores = [];
    for (let j = 0; j < count; j++) {
      ids.push(nodeIds[words[2 * j]]);
      scores.push(floats[2 * j + 1]);
    }
    out.ids.push(ids);
    out.scores.push(scores);
  }
  // all queries in one call
  if (all(h, bq, nq, k, ef, ...filter, bn, bs) === FAILED) throw new Error(error());
  const nodes = new Uint32Array(x.memory.buffer, bn, nq * k);
  const scores = new Float32Array(x.memory.buffer, bs, nq * k);
  for (let i = 0; i < nq; i++) {
    const row = [], srow = [];
    for (let j = 0; j < k; j++) {
      const node = nodes[i * k + j];
      row.push(node === NONE ? null : nodeIds[node]);
      srow.push(node === NONE ? null : scores[i * k + j]);
    }
    out.batch_ids.push(row);
    out.batch_scores.push(srow);
  }
  return out;
}
const out = { ...run(plain), filtered: run(filtered), len: x.rv_len(h) };

// the one index format
const lp = x.rv_alloc(4);
const sp = x.rv_serialize(h, lp);
if (sp === NULL) throw new Error(error());
const length = new Uint32Array(x.memory.buffer, lp, 1)[0];
writeFileSync(outPrefix + ".idx", bytes().slice(sp, sp + length));
writeFileSync(outPrefix + ".json", JSON.stringify(out));
