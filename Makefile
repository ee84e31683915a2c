# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs
# (uv from PyPI, then the locked workspace into .venv) before it runs.

PYTHON ?= python3
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test install uv

demo: install
	$(UV) run ruvector backends
	$(UV) run python examples/stdlib_search.py

test: install
	$(UV) run pytest
	$(UV) run ruvector conformance -q

install: uv
	$(UV) sync --locked --all-packages --all-extras

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.5"
