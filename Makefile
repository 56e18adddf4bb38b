# make train | make test | make bench — each bootstraps .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The torch build pinned for this project's machines; pyproject.toml only declares ranges.
LINT_PATHS := $(wildcard src tests scripts)
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1

.PHONY: train test bench lint clean-venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

train: $(VENV)/.installed
	$(VENV)/bin/genlab-train $(ARGS)

test: $(VENV)/.installed
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m pytest $(PYTEST_ARGS)

# genlab vs a hand-written PyTorch loop, side by side (not a test: prints ratios, writes bench.json)
bench: $(VENV)/.installed
	$(PY) scripts/bench.py $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check --fix $(LINT_PATHS)
	$(PY) -m ruff format $(LINT_PATHS)

clean-venv:
	rm -rf $(VENV)
