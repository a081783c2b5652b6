# Two entry points on a fresh Linux machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared/assets
export REIDCAM_WEIGHTS_DIR ?= $(abspath $(SHARED)/weights)
export REIDCAM_MEDIA_DIR ?= $(abspath $(SHARED)/media)
export YOLO_AUTOINSTALL := false
MEDIA := $(REIDCAM_MEDIA_DIR)/market1501_2cam

.PHONY: install install-dev install-cluster run serve cluster test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-cluster: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[cluster]"

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"

## Person search on the Market-1501 demo frames (two cameras); results in ./out/market
run: install
	$(BIN)/reidcam search \
	  --query $(MEDIA)/query/0001_c1s1_001051_00.jpg --query $(MEDIA)/query/0001_c6s1_009601_00.jpg \
	  --source "c1=$(MEDIA)/frames/c1s1_*.jpg" --source "c3=$(MEDIA)/frames/c3s1_*.jpg" \
	  --out out/market

## The web UI on the two demo cameras: open http://127.0.0.1:8000
serve: install
	$(BIN)/reidcam serve \
	  --source "c1=$(MEDIA)/frames/c1s1_*.jpg" --source "c3=$(MEDIA)/frames/c3s1_*.jpg"

## Distributed mode on loopback: nats-server, embedded PostgreSQL + pgvector, the demo cameras, two
## workers, the memory service, the web on http://127.0.0.1:8000; Ctrl-C stops all (scripts/cluster.sh)
cluster: install-cluster
	REIDCAM=$(BIN)/reidcam scripts/cluster.sh

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src/reidcam

## Lint, then every test: fast ones plus the real-model ones (skipped with a reason when the assets are missing).
## Ends with one summary of the skipped tests and why (README 'Quick start' says what enables them).
test: lint
	$(BIN)/python -m pytest -m "not slow" -q --junitxml=.pytest-report.xml; status=$$?; \
	  $(BIN)/python tests/skip_summary.py .pytest-report.xml; exit $$status

clean:
	rm -rf $(VENV) out cluster-data .pytest_cache .ruff_cache .mypy_cache .pytest-report.xml
