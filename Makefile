# One-step set-up: `make quickstart` or `make test` on a fresh clone.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# python3.12 on PATH, or a pyenv/system install of it when the shim is not active.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$p; break; }; done)

.PHONY: venv test quickstart lint bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON312)" || { echo "error: python3.12 not found (aria needs Python 3.12, as the arc-agi toolkit does)"; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest -q

quickstart: venv
	$(VENV)/bin/aria quickstart

lint: venv
	$(VENV)/bin/ruff check aria_cli tests benchmarks

bench: venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
