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

.PHONY: install train test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/bench_dataset.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) outputs multirun .cache
