#!/usr/bin/env bash
# pg_ctl for pytest-postgresql's process fixture: PostgreSQL refuses to run as root, so
# as root this runs Debian's pg_ctl as the `postgres` user, giving it the test folder
# (the data directory's parent: the log file is there too) and a way through its parents.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ "$(id -u)" != 0 ]; then exec "$bin/pg_ctl" "$@"; fi
data=""
prev=""
for arg in "$@"; do
    case "$prev" in -D|--pgdata) data="$arg" ;; esac
    case "$arg" in --pgdata=*) data="${arg#--pgdata=}" ;; esac
    prev="$arg"
done
# Not on stop: the server is still writing there (a file it removes while chown -R walks
# the folder made chown, so the stop, fail now and then at the end of a session).
if [ -n "$data" ] && [ "${1:-}" != stop ]; then
    folder=$(dirname "$data")
    mkdir -p "$folder"
    chown -R postgres: "$folder"
    dir="$folder"
    while [ "$dir" != / ]; do dir=$(dirname "$dir"); chmod o+x "$dir"; done
fi
cd /
exec runuser -u postgres -- "$bin/pg_ctl" "$@"
