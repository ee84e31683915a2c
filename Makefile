# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs
# (uv from PyPI, then the locked workspace into .venv) before it runs.

PYTHON ?= python3
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test install uv

DEMO := .demo
QUERIES := "how do I parse command line options" "read a compressed archive" "run code in another thread" "compare two floating point numbers"

demo: install
	$(UV) run ruvector backends
	$(UV) run python -m ruvector_core.corpus $(DEMO)/stdlib-docs
	$(UV) run ruvector index $(DEMO)/stdlib-docs --db $(DEMO)/store
	@for q in $(QUERIES); do $(UV) run ruvector query --db $(DEMO)/store "$$q" -k 3 || exit 1; done

test: install
	cargo test --release --quiet --manifest-path crates/ruvector-kernels/Cargo.toml
	$(UV) run pytest
	$(UV) run ruvector conformance -q

install: uv
	$(UV) sync --locked --all-packages --all-extras

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.5"
