# anylambda: make run · make test · make lint · make images
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Engines `make images` builds for: docker, and podman when it is installed.
IMAGE_ENGINES ?= docker $(if $(shell command -v podman 2>/dev/null),podman)

.PHONY: run test lint images clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## make run: start the server (process backend, SQLite, port 9000)
run: $(STAMP)
	$(BIN)/anylambda serve

## make test: the whole suite, in parallel
test: $(STAMP)
	$(BIN)/python -m pytest -n $${PYTEST_WORKERS:-auto} $(PYTEST_ARGS)

## make images: build the runtime images with no registry (cached: fast when current)
images: $(STAMP)
	@for engine in $(IMAGE_ENGINES); do \
		$(BIN)/anylambda images build --engine $$engine || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist
