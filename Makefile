# Inkwell: `make run` serves the demo app on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5001
export INKWELL_BUILTIN_TOKEN_DELAY_MS ?= 30

.PHONY: install run test lint typecheck unit openapi bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	@mkdir -p var
	@$(BIN)/inkwell db upgrade
	@test -s var/demo-app-id || $(BIN)/inkwell apps import examples/apps/demo.yml | tail -n 1 > var/demo-app-id
	@KEY=$$($(BIN)/inkwell keys create $$(cat var/demo-app-id) | tail -n 1); \
	PAGE=$$($(BIN)/inkwell sites publish $$(cat var/demo-app-id) | tail -n 1); \
	echo; echo "Demo app $$(cat var/demo-app-id) is ready. API key (shown once): $$KEY"; echo; \
	echo "Web page: http://$(HOST):$(PORT)$$PAGE"; echo; \
	echo "Blocking:"; \
	echo "  curl -s -X POST http://$(HOST):$(PORT)/v1/completion-messages -H 'Authorization: Bearer '$$KEY -H 'Content-Type: application/json' -d '{\"inputs\": {\"topic\": \"otters\"}, \"user\": \"me\"}'"; \
	echo "Streaming:"; \
	echo "  curl -sN -X POST http://$(HOST):$(PORT)/v1/completion-messages -H 'Authorization: Bearer '$$KEY -H 'Content-Type: application/json' -d '{\"inputs\": {\"topic\": \"otters\"}, \"user\": \"me\", \"response_mode\": \"streaming\"}'"; \
	echo
	$(BIN)/inkwell serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench alembic
	$(BIN)/ruff format --check src tests bench alembic

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

openapi: install
	$(BIN)/inkwell openapi --output openapi.yaml

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scaleout.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
