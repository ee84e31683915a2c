#!/usr/bin/env bash
# Builds rust/ (Rust) into python/ruvector_wasm/ruvector.wasm, byte for byte the same file on
# every run and from any checkout directory.
#
# Toolchain: Debian's rustc 1.63 with the wasm32 standard library
#   apt-get install -y rustc cargo libstd-rust-dev-wasm32 lld
# (rustup's toolchains work too, but only the pinned compiler reproduces the shipped bytes).
#
# Usage: plugins/ruvector_wasm/build.sh [OUTPUT]      (default: python/ruvector_wasm/ruvector.wasm)
# Environment:
#   RUSTC                          compiler to use (default /usr/bin/rustc)
#   RUVECTOR_WASM_ANY_RUSTC=1      build with another rustc version (the bytes will differ)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$HERE/../.." && pwd -P)"          # the repository root (holds crates/)
OUT="$(realpath -m "${1:-$HERE/python/ruvector_wasm/ruvector.wasm}")"
RUSTC="${RUSTC:-/usr/bin/rustc}"
PINNED_RUSTC="rustc 1.63.0"

version="$("$RUSTC" --version)"
if [[ "$version" != "$PINNED_RUSTC"* && "${RUVECTOR_WASM_ANY_RUSTC:-0}" != 1 ]]; then
    echo "build.sh: $RUSTC is '$version'; the shipped module is built with '$PINNED_RUSTC'" >&2
    echo "          (Debian: apt-get install rustc cargo libstd-rust-dev-wasm32 lld;" >&2
    echo "           set RUVECTOR_WASM_ANY_RUSTC=1 to build with this compiler anyway)" >&2
    exit 2
fi

BUILD_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ruvector-wasm-build.XXXXXX")"
trap 'rm -rf "$BUILD_DIR"' EXIT

# rustc is driven directly rather than through cargo: cargo derives each crate's
# `-C metadata` (and so its symbol names, which decide the function order in the output)
# from the checkout's absolute path, so the same sources built in two directories differ.
# Here every input is named relative to the repository root and every flag is pinned;
# nothing from the environment (RUSTFLAGS, CARGO_*) is read. rust/Cargo.toml describes
# the same build for `cargo check` / `cargo build` during development.
COMMON=(
    --edition 2021
    --target wasm32-unknown-unknown
    -C target-feature=+simd128
    -C opt-level=3
    -C codegen-units=1
    -C debuginfo=0
    -C panic=abort
    -C embed-bitcode=yes
    "--remap-path-prefix=$ROOT=/ruvector"
    "--remap-path-prefix=$BUILD_DIR=/build"
    --cap-lints warn
)
cd "$ROOT"
env -u RUSTFLAGS -u RUSTC_WRAPPER -u RUSTC_BOOTSTRAP SOURCE_DATE_EPOCH=0 "$RUSTC" "${COMMON[@]}" \
    --crate-name ruvector_kernels --crate-type rlib -C metadata=ruvector-kernels-0.1.0 \
    -o "$BUILD_DIR/libruvector_kernels.rlib" crates/ruvector-kernels/src/lib.rs
env -u RUSTFLAGS -u RUSTC_WRAPPER -u RUSTC_BOOTSTRAP SOURCE_DATE_EPOCH=0 "$RUSTC" "${COMMON[@]}" \
    --crate-name ruvector_wasm --crate-type cdylib -C metadata=ruvector-wasm-module-0.1.0 \
    -C lto=fat -C strip=symbols \
    --extern ruvector_kernels="$BUILD_DIR/libruvector_kernels.rlib" -L "dependency=$BUILD_DIR" \
    -o "$BUILD_DIR/ruvector_wasm.wasm" plugins/ruvector_wasm/rust/src/lib.rs

mkdir -p "$(dirname "$OUT")"
cp "$BUILD_DIR/ruvector_wasm.wasm" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$(sha256sum "$OUT" | cut -d' ' -f1)  $(stat -c %s "$OUT") bytes  $OUT"
