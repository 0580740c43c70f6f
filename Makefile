# The two commands: `make demo` and `make test`. Both create .venv and install on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUT ?= out/demo

.PHONY: install toolchain demo test bench clean

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

test: install toolchain
	$(BIN)/python -m pytest -q

bench: install
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) out build *.egg-info
