# SSC One Card — developer tasks. `make help` lists them.

VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app server
RUFF    := $(VENV)/bin/ruff
# Re-install only when the dependencies change.
STAMP   := $(VENV)/.install-stamp

PORT        ?= 5000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test bench lint format migrate clean kiosk kiosk-screenshots

help:
	@echo "make install   create $(VENV) and install the project (editable) with dev + postgres extras"
	@echo "make run       upgrade the local database, seed demo data if empty, serve on 127.0.0.1:$(PORT)"
	@echo "make test      run the test suite (PYTEST_ARGS='-k card -x' to pass options)"
	@echo "make bench     run the benchmarks; JSON results in bench/results/"
	@echo "make lint      ruff check + ruff format --check"
	@echo "make format    ruff check --fix + ruff format"
	@echo "make migrate   upgrade the local database (DATABASE_URL, or instance/onecard.db)"
	@echo "make kiosk     start the local server (port $(PORT)) and the kiosk app with the demo cards"
	@echo "make kiosk-screenshots  write a PNG of every kiosk screen and state to docs/kiosk/"
	@echo "make clean     remove caches and build artefacts (keeps $(VENV) and instance/)"

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev,postgres,kiosk]'
	touch $@

run: install
	$(FLASK) db upgrade
	$(FLASK) seed demo --if-empty
	@echo ""
	@echo "API base      http://127.0.0.1:$(PORT)"
	@echo "API docs      http://127.0.0.1:$(PORT)/docs/"
	@echo "OpenAPI       http://127.0.0.1:$(PORT)/openapi.json"
	@echo "Health        http://127.0.0.1:$(PORT)/healthz"
	@echo ""
	exec $(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py

lint: install
	$(RUFF) check .
	$(RUFF) format --check .

format: install
	$(RUFF) check --fix .
	$(RUFF) format .

migrate: install
	$(FLASK) db upgrade

# The kiosk against a local server: the server runs in the background and stops when the kiosk
# window closes. Staff passwords and TOTP secrets are printed once by `flask seed demo`.
KIOSK_DIR ?= instance/kiosk

kiosk: install
	$(FLASK) db upgrade
	$(FLASK) seed demo --if-empty
	@$(FLASK) run --host 127.0.0.1 --port $(PORT) & server=$$!; \
	trap 'kill $$server 2>/dev/null' EXIT INT TERM; \
	$(PY) -m kiosk_app --server http://127.0.0.1:$(PORT) --config $(KIOSK_DIR)/terminal.json \
		--demo-cards $(KIOSK_DIR)/demo_cards.json $(KIOSK_ARGS)

kiosk-screenshots: install
	SDL_VIDEODRIVER=offscreen $(PY) -m tools.kiosk_screenshots --out docs/kiosk

# Never removes instance/: it holds the local database and the generated keys.
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis bench/results
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
