// Runs ruvector.wasm's sentence encoder under Node.js (WebAssembly built in, no npm
// packages), so that tests/test_node.py can compare its vectors with wasmtime's.
//
//   node embed.mjs MODULE.wasm SPEC.json BLOB IDS.u32 LENGTHS.u32 OUT.f32
//
// SPEC.json: {"abi": {"OK", "NULL", "exports": {name: parameter count}}}, the ABI from the
// Python host's description; BLOB is an encoder weight blob; IDS.u32 and LENGTHS.u32 are
// little-endian uint32 (the texts' token ids one after another, and each text's length).
// Writes OUT.f32: the embeddings, row-major little-endian float32.
import { readFileSync, writeFileSync } from "node:fs";
import { open } from "./module.mjs";

const [wasmPath, specPath, blobPath, idsPath, lengthsPath, outPath] = process.argv.slice(2);
const abi = JSON.parse(readFileSync(specPath, "utf8")).abi;
const { OK, NULL } = abi;
const { x, bytes, error, put } = await open(wasmPath, abi);

const blob = readFileSync(blobPath);
const bp = put(blob);
const h = x.rv_encoder_load(bp, blob.length);
if (h === NULL) throw new Error(error());
x.rv_free(bp, blob.length);
const dp = x.rv_alloc(8);
if (x.rv_encoder_dims(h, dp) !== OK) throw new Error(error());
const hidden = new Uint32Array(x.memory.buffer, dp, 2)[0];

const ids = readFileSync(idsPath), lengths = readFileSync(lengthsPath);
const texts = lengths.length / 4;
const ip = put(ids), lp = put(lengths), op = x.rv_alloc(4 * texts * hidden);
if (x.rv_encoder_embed(h, ip, ids.length / 4, lp, texts, op) !== OK) throw new Error(error());
writeFileSync(outPath, bytes().slice(op, op + 4 * texts * hidden));
