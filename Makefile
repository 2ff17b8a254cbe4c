# The README's two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean-state

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# as a wheel install does: the package's bytecode, which an editable install under PYTHONDONTWRITEBYTECODE
	@# never gets (every kernel would compile the package's sources again)
	$(PY) -m compileall -q vpnrunbook >/dev/null
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (vpnrunbook)" >/dev/null
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vpnrunbook demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks

clean-state:
	@# deleting evidence by hand is what the signer's anchor reports; discard declares it (issue 21 item 5)
	@if [ -x $(VENV)/bin/vpnrunbook ] && [ -d evidence ]; then $(VENV)/bin/vpnrunbook evidence discard --evidence-dir evidence --yes; fi
	rm -rf .vpnrunbook evidence
