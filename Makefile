# The two commands: `make demo` and `make test`. Both create .venv and install on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= out/demo

.PHONY: install toolchain demo lint test test-pythons wheel-smoke bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

# As root, installs the ARM cross compiler and QEMU from Debian packages when missing.
toolchain:
	@bash .ci/install-toolchain.sh

demo: install
	@bash examples/demo.sh $(BIN) $(OUT)

# The package is ruff-formatted, ruff-clean and mypy-clean (pyproject.toml's settings); a finding fails `make test`.
lint: install
	$(BIN)/ruff format --check edgetrain
	$(BIN)/ruff check edgetrain
	$(BIN)/mypy edgetrain

test: install toolchain lint
	$(BIN)/python -m pytest -q

# The core tests (tests/core-tests.txt) on Python 3.11, 3.12 and 3.13, each in .venv-py3.X with the
# core and pytest/hypothesis only (no extras). Not part of `make test`: .ci/run runs it after.
test-pythons:
	@bash .ci/test-pythons.sh

# Builds the wheel, installs it in a fresh venv outside the checkout, runs the README's CLI flow.
wheel-smoke:
	@bash .ci/wheel-smoke.sh

bench: install
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .venv-py3.* out build dist *.egg-info
