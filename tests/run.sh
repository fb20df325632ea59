#!/usr/bin/env bash
# Sets up what the tests need and runs all of them: a venv with the dev extras, the C
# instruments from ../shared/tools (built into .tools/), then ruff, mypy and pytest.
# Every server a test starts is bound to 127.0.0.1 and stopped by the test itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
make -s -C ../shared/tools OUT="$PWD/.tools" >/dev/null
# The console's browser test: headless Chromium and its driver from Debian's packages
# (nothing downloads a browser); without root or apt the test skips and says why.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            chromium chromium-driver; } >/dev/null \
            || echo "run.sh: chromium not installed; the console browser test skips" >&2
    else
        echo "run.sh: chromium missing (not root); the console browser test skips" >&2
    fi
fi
# PostgreSQL for the store tests (both backends): Debian's server binaries, started by the
# tests themselves (pytest-postgresql, 127.0.0.1, a free port, under the test folder).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            postgresql; } >/dev/null \
            || echo "run.sh: postgresql not installed; the PostgreSQL tests skip" >&2
    else
        echo "run.sh: postgresql missing (not root); the PostgreSQL tests skip" >&2
    fi
fi
# Redis for the shared-state tests (pytest-redis starts Debian's redis-server per test on
# 127.0.0.1, a free port, a temp folder); without it those tests skip and say why.
if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            redis-server; } >/dev/null \
            || echo "run.sh: redis-server not installed; the Redis tests skip" >&2
    else
        echo "run.sh: redis-server missing (not root); the Redis tests skip" >&2
    fi
fi
.venv/bin/ruff check router tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
