# Herald: `make up` runs everything locally; `make test` runs the whole test suite on real servers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up worker test lint fmt clean broadcast-scale bench chaos vendor screenshots

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "installing Herald and its dependencies into $(VENV) (about a minute; log: $(VENV)/install.log)"
	@$(BIN)/pip install --upgrade pip > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/pip install -e '.[dev]' >> $(VENV)/install.log 2>&1 || (tail -50 $(VENV)/install.log; exit 1)
	@touch $(STAMP)

up: $(STAMP)  ## Temporal dev server + PostgreSQL + worker + API, in the foreground
	PYTHONUNBUFFERED=1 $(BIN)/python -m devstack

worker: $(STAMP)  ## one more worker against a running stack (TEMPORAL_ADDRESS; DATABASE_URL, or HERALD_EMBEDDED=true to join make up's database)
	$(BIN)/python worker.py

# Two pytest workers, each with servers of its own; a test file stays on one worker, with its module's fixtures.
# PYTEST_WORKERS=0 runs the tests in this process.
PYTEST_WORKERS ?= 2
test: $(STAMP)  ## the whole suite on a real Temporal server and a real PostgreSQL
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

N ?= 20000
broadcast-scale: $(STAMP)  ## a broadcast to N users on its own stack (QUICK=1: 300 users)
	$(BIN)/python -m bench.broadcast_scale --users $(if $(QUICK),300,$(N)) $(if $(QUICK),--page-size 100,)

# make bench [N=2000] [C=20] [QUICK=1] [SOAK=600]: results in bench/results/ (JSON + PNG), a table on stdout
bench: $(STAMP)  ## throughput and latency next to Temporal's own floor, all in one run
	$(BIN)/python -m bench $(if $(QUICK),--quick,) $(if $(SOAK),--soak $(SOAK),) \
		$(if $(filter command line,$(origin N)),--n $(N),) $(if $(C),--c $(C),)
	$(if $(SOAK),,$(BIN)/python -m bench.decompose $(if $(QUICK),--quick,))

vendor: $(STAMP)  ## re-fetch the dashboard's pinned JS libraries from the npm registry (sha256-checked)
	$(BIN)/python -m api.web.vendor

screenshots: $(STAMP)  ## a PNG of every dashboard page into docs/screenshots/ (needs /usr/bin/chromium)
	HERALD_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots PATH=$(CURDIR)/$(BIN):$$PATH \
		$(BIN)/python -m pytest tests/web/test_screenshots.py -q

# make chaos [QUICK=1] [ONLY=scenario]: faults under load on a real stack; results in chaos/results/
chaos: $(STAMP)  ## the reliability suite: every accepted notification ends exactly once, whatever fails
	$(BIN)/python -m chaos $(if $(QUICK),--quick,) $(if $(ONLY),--only $(ONLY),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
