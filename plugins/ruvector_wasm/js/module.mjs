// The ruvector.wasm instance under Node.js, shared by driver.mjs and embed.mjs: instantiate
// the module, check its exports against the ABI the Python host described (SPEC.json's
// "abi": {"NULL", "exports": {name: parameter count}, ...}), and the helpers every call needs.
import { readFileSync } from "node:fs";

export async function open(wasmPath, abi) {
  const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {});
  const x = instance.exports;
  for (const [name, params] of Object.entries(abi.exports)) {
    if (typeof x[name] !== "function" || x[name].length !== params) {
      throw new Error(`the module's ${name} is not the described function of ${params} parameters`);
    }
  }
  x.rv_init();
  const bytes = () => new Uint8Array(x.memory.buffer); // views go stale when memory grows
  function error() {
    const p = x.rv_error_ptr(), n = x.rv_error_len();
    return new TextDecoder().decode(bytes().slice(p, p + n));
  }
  // copies a typed array (or Buffer) into the module's memory; returns where
  function put(data) {
    const u8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const p = x.rv_alloc(Math.max(1, u8.length));
    if (p === abi.NULL) throw new Error(error());
    bytes().set(u8, p);
    return p;
  }
  return { x, bytes, error, put };
}
