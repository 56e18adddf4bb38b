# make train | make test | make test-fast | make bench — each bootstraps .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The torch build pinned for this project's machines; pyproject.toml only declares ranges, and
# requirements.lock pins everything else to the versions the suite passed with (`make lock`).
LINT_PATHS := $(wildcard src tests scripts)
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1

.PHONY: train test test-fast bench lint lock clean-venv

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The recipe exits with genlab-train's status (make reports a failure as its own 2); its last line
# says where the commands are: make does not activate the venv, so a bare genlab-train afterwards
# is "command not found"
TRAIN_HINT := the genlab commands are in $(VENV)/bin, not on PATH: run "source $(VENV)/bin/activate", \
then genlab-train --help (or call $(VENV)/bin/genlab-train directly)
train: $(VENV)/.installed
	@printf '%s\n' '$(subst ','\'',$(VENV)/bin/genlab-train $(ARGS))'; \
	$(VENV)/bin/genlab-train $(ARGS); status=$$?; \
	printf '%s\n' '$(subst ','\'',$(TRAIN_HINT))'; exit $$status

# pytest-xdist: one worker per core (TEST_WORKERS=0 runs in this process, for pdb); a test
# file's tests stay in one worker, which builds its module fixtures once
TEST_WORKERS ?= auto
XDIST := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile)

# What CI runs: both lint checks and every test, then the 20 slowest
test: $(VENV)/.installed
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m pytest $(XDIST) --durations=20 $(PYTEST_ARGS)

# The edit loop: the in-process tests, none marked slow or process (a process start or signal,
# which tests/conftest.py refuses in a test without the mark); make test before a commit
test-fast: $(VENV)/.installed
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m pytest $(XDIST) -m "not process and not slow" --durations=10 $(PYTEST_ARGS)

# genlab vs a hand-written PyTorch loop, side by side (not a test: prints ratios, writes bench.json)
bench: $(VENV)/.installed
	$(PY) scripts/bench.py $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check --fix $(LINT_PATHS)
	$(PY) -m ruff format $(LINT_PATHS)

# Re-resolve requirements.lock from pyproject.toml with uv: LOCK_UPGRADE=1 takes the newest
# releases the ranges allow, otherwise the versions installed in .venv are kept. torch's own
# stack (torch, torchvision, triton, nvidia-*) comes from TORCH_PIN, so the lock leaves it out.
lock: $(VENV)/.installed
	$(PY) -m pip install --quiet uv
	$(PY) -m pip list --format=freeze --exclude genlab --exclude uv > $(VENV)/freeze.txt
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
		--annotation-style line $(if $(LOCK_UPGRADE),,-c $(VENV)/freeze.txt) \
		$$(sed -n 's/^\(torch\|torchvision\|triton\|nvidia-[a-z0-9-]*\)==.*/--no-emit-package \1/p' \
		$(VENV)/freeze.txt) -o requirements.lock

clean-venv:
	rm -rf $(VENV)
