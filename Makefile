# Every target creates/uses .venv, so a fresh machine needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3978

.PHONY: run test chromium test-embeddings bench bench-knowledge bench-embeddings lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/supportbot serve --config supportbot.example.toml --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test chromium
	$(BIN)/mypy
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The browser tests' Chromium: found where tests/browser.py looks, else installed (apt-get as root,
# else Playwright's download); see tools/ensure-chromium.
chromium: $(VENV)/.installed-test
	tools/ensure-chromium $(VENV)

# The optional embeddings extra: torch's 2.13 CPU build first, so pip never pulls a CUDA build.
$(VENV)/.installed-embeddings: $(VENV)/.installed-test pyproject.toml
	$(BIN)/pip install --quiet 'torch==2.13.0'
	$(BIN)/pip install --quiet -e '.[test,embeddings]'
	touch $@

test-embeddings: $(VENV)/.installed-embeddings
	$(BIN)/mypy
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/test_knowledge_embeddings.py $(PYTEST_ARGS)

bench-embeddings: $(VENV)/.installed-embeddings
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.knowledge_embeddings_bench

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

bench-knowledge: $(VENV)/.installed-test
	$(BIN)/python -m bench.knowledge_bench

lint: $(VENV)/.installed-test
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var
