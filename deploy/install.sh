#!/bin/sh
# Install Tuneloop into a new virtualenv at $1: the bot's dependencies from requirements/base.txt at exactly the
# locked versions (hash-checked; no training library), then Tuneloop itself without touching them.
# The Dockerfile runs it (once with --deps-only before the source is copied, so that layer stays cached);
# tests/test_install.py runs it into a temporary folder.
set -eu
[ "${2:-}" = "--deps-only" ] && deps_only=1 || deps_only=
venv=$1
src=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
    --require-hashes -r "$src/requirements/base.txt"
[ -n "$deps_only" ] && exit 0
"$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check --no-deps "$src"
