# anylambda: make run · make test · make lint · make images · make bench
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Engines `make images` builds for: docker, and podman when it is installed.
IMAGE_ENGINES ?= docker $(if $(shell command -v podman 2>/dev/null),podman)

.PHONY: run test lint images bench clean

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

## make bench: benchmarks against AWS's RIE; prints a table, writes JSON to $(BENCH_JSON)
## (installs wrk with apt when missing; BENCH_ARGS="--quick" or "--only sequential" ...)
BENCH_JSON ?= benchmarks/results/latest.json
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m benchmarks --json $(BENCH_JSON) $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist
