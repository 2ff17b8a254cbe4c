# The README's two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-system lint bench clean-state

# pip's own output goes to $(VENV)/install.log (its last lines are shown if it fails); the terminal gets two lines.
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON) -m venv"; $(PYTHON) -m venv $(VENV); }
	@echo "installing vpnrunbook and its pinned dependencies into $(VENV) (about 2 min the first time; pip's output: $(VENV)/install.log)"
	@start=$$(date +%s); \
	{ $(PY) -m pip install --upgrade pip && $(PY) -m pip install --progress-bar off -e '.[test]'; } >$(VENV)/install.log 2>&1 \
	  || { tail -n 25 $(VENV)/install.log; echo "install failed: the whole output is in $(VENV)/install.log"; exit 1; }; \
	$(PY) -m compileall -q vpnrunbook >/dev/null; \
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (vpnrunbook)" >/dev/null 2>&1; \
	echo "installed in $$(( $$(date +%s) - start )) s: $(VENV)/bin/vpnrunbook"
	@# compileall: as a wheel install does, the package's bytecode, which an editable install under
	@# PYTHONDONTWRITEBYTECODE never gets (every kernel would compile the package's sources again)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vpnrunbook demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The suite without the system tests, in parallel workers: each test file stays on one worker (--dist loadfile),
# so a module's fixtures (an emulator state, a demo run) are built once. TEST_WORKERS=1 runs it serially.
TEST_WORKERS ?= 4
test: lint
	$(PY) -m pytest -m "not system" -n $(TEST_WORKERS) --dist loadfile

# The system tests (tests/conftest.py SYSTEM_TESTS: JupyterLab in chromium, strongSwan, the Azure CLI), one at a
# time: each needs root, chromium or strongSwan, or it is skipped with the reason (with VPNRUNBOOK_CI=1, failed).
test-system: $(STAMP)
	$(PY) -m pytest -m system

bench: $(STAMP)
	$(PY) -m benchmarks

clean-state:
	@# deleting evidence by hand is what the signer's anchor reports; discard declares it (issue 21 item 5)
	@if [ -x $(VENV)/bin/vpnrunbook ] && [ -d evidence ]; then $(VENV)/bin/vpnrunbook evidence discard --evidence-dir evidence --yes; fi
	rm -rf .vpnrunbook evidence
