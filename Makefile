# Two commands do all set-up on a fresh machine:
#   make train   -> installs into .venv, trains the default model on the offline simulator
#   make test    -> installs into .venv (with test extras), runs the test suite
# TORCH picks the PyTorch build. The default, torch==2.13.0, is the CPU wheel on the
# project's CI machines and the CUDA wheel from PyPI elsewhere; override for another CUDA:
#   make train TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install train test browser bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP) browser
	$(BIN)/python -m pytest $(ARGS)

# The web page is tested in a real headless Chromium. On Debian/Ubuntu as root this installs
# the system's chromium + chromedriver; elsewhere those tests skip and say why.
browser:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "browser: could not install chromium; the web page tests will skip"; \
	  else echo "browser: no chromedriver (install chromium + chromium-driver to run the web page tests)"; fi; }

bench: $(STAMP)
	$(BIN)/python bench/bench_dataset.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) outputs multirun .cache
