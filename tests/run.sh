#!/usr/bin/env bash
# Sets up what the tests need and runs all of them: a venv with the dev extras, the C
# instruments from ../shared/tools (built into .tools/), then ruff, mypy and pytest.
# Every server a test starts is bound to 127.0.0.1 and stopped by the test itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
make -s -C ../shared/tools OUT="$PWD/.tools" >/dev/null
.venv/bin/ruff check router tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
