#!/usr/bin/env bash
# The service under load, for bench/README.md ("The service under load"): builds the bench (Release) and runs
# `Tally.Bench serve-load`: tally serve in the bench's process (ServerHost.Build, Kestrel on 127.0.0.1, a free port),
# one worker per client, each client with its own HTTP connection over loopback; SQLite in a temporary folder and/or
# PostgreSQL 15 in a throwaway cluster made for the run (initdb on a free port, fsync on, removed afterwards).
#
# Usage: bench/serve-load.sh [sqlite|postgres|both] [--clients 64] [--seconds 20] [--warmup 3] [--batch 1]
#                            [--tasks 200000] [--leases N] [--mode answer|cycle|both] [--max-requests 2000000]
#                            [--replicas N]   (postgres only: N services over the one database, clients spread over them)
#        RUNS=3 bench/serve-load.sh ...     the whole run RUNS times over (report the median and the spread)
# Prints one CSV row per engine and mode (answers/s over the window after the warm-up, latency percentiles of the
# answer requests, answers per commit and per log flush = per fsync), with '#' lines of context. Needs only dotnet; PostgreSQL runs need
# the Debian postgresql package (/usr/lib/postgresql/15/bin: apt-get install postgresql). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-both}" != sqlite ] && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  echo "serve-load.sh: PostgreSQL 15 not found in /usr/lib/postgresql/15/bin (apt-get install postgresql), or run: $0 sqlite" >&2
  exit 2
fi
dotnet build bench/Tally.Bench -c Release -v quiet -nologo >/dev/null
bin=bench/Tally.Bench/bin/Release/net10.0/Tally.Bench.dll
for run in $(seq 1 "${RUNS:-1}"); do
  [ "${RUNS:-1}" -gt 1 ] && echo "# run $run of $RUNS"
  dotnet "$bin" serve-load "$@"
done
