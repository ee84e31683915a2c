# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs
# (uv, then the locked workspace into .venv) before it runs.

PYTHON ?= python3
# uv: the one on PATH, else one that pip puts into .tools/ (--target: the interpreter's own
# packages are left alone, so neither PEP 668 nor pip's warning about root gets in the way)
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
export UV_PYTHON_DOWNLOADS := never
# rustup's toolchain builds the native backend; Debian's rustc 1.63 (below) only the wasm module
export PATH := $(HOME)/.cargo/bin:$(PATH)
# the test suite rebuilds the shipped ruvector.wasm and fails if it differs from the source
export RUVECTOR_WASM_REBUILD := 1
# Ray started under `uv run` would rebuild the project in a fresh environment for each worker
# (only the core, no extras, so no ray); the workspace's .venv already has everything
export RAY_ENABLE_UV_RUN_RUNTIME_ENV := 0
WASM_TOOLCHAIN := rustc libstd-rust-dev-wasm32 lld

.PHONY: demo test lint install uv wasm-toolchain fuzz

DEMO := .demo
QUERIES := "how do I parse command line options" "read a compressed archive" "run code in another thread" "compare two floating point numbers"

demo: install
	$(UV) run ruvector backends
	$(UV) run python -m ruvector_core.corpus $(DEMO)/stdlib-docs
	$(UV) run ruvector index $(DEMO)/stdlib-docs --db $(DEMO)/store
	@for q in $(QUERIES); do $(UV) run ruvector query --db $(DEMO)/store "$$q" -k 3 || exit 1; done
	$(UV) run ruvector add --db $(DEMO)/store --replace --id ana-tea --meta user=ana --meta kind=preference "Ana prefers green tea in the morning"
	$(UV) run ruvector add --db $(DEMO)/store --replace --id bo-tea --meta user=bo --meta kind=preference "Bo never drinks tea after noon"
	$(UV) run ruvector query --db $(DEMO)/store "what does the user like to drink" -k 2 --where '{"user": "bo"}'
	$(UV) run ruvector query --db $(DEMO)/store "compress a tarfile with gzip" -k 3 --mode hybrid --namespace files

test: lint wasm-toolchain
	@command -v node >/dev/null || { echo "make test needs Node.js (the wasm cross-engine test)"; exit 1; }
	cargo test --release --quiet --all-features --manifest-path crates/ruvector-kernels/Cargo.toml
	$(UV) run pytest
	$(UV) run ruvector conformance -q

# The index loader's long fuzz job, apart from make test (which runs a short one): random,
# checksum-correct and crafted inputs against every backend, each worker under a 4 GiB
# address-space limit; e.g. make fuzz FUZZ_ARGS="--backend native --workers 2".
FUZZ_INPUTS ?= 1000000
fuzz: install
	$(UV) run python -m ruvector_conformance.fuzz --inputs $(FUZZ_INPUTS) $(FUZZ_ARGS)

# The project's habits, each a tool that fails on a finding: lint and format (ruff, rustfmt,
# clippy), types (mypy, strict for the core; stubtest for the native module's stub) and the
# layers (import-linter contracts in pyproject.toml).
RUST_CRATES := crates/ruvector-kernels plugins/ruvector_native/rust plugins/ruvector_wasm/rust
lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports
	$(UV) run python -m mypy.stubtest ruvector_native._native
	@for crate in $(RUST_CRATES) crates/ruvector-kernels/fuzz; do cargo fmt --check --manifest-path $$crate/Cargo.toml || exit 1; done
	@for crate in $(RUST_CRATES); do cargo clippy --quiet --all-targets --all-features --manifest-path $$crate/Cargo.toml -- -D warnings || exit 1; done

install: uv
	$(UV) sync --locked --all-packages --all-extras

# Debian's Rust 1.63 with the wasm32 standard library: what reproduces the shipped module.
wasm-toolchain:
	@dpkg -s $(WASM_TOOLCHAIN) >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(WASM_TOOLCHAIN); }

uv: $(UV)

$(TOOLS)/bin/uv:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target $(TOOLS) "uv>=0.5"
