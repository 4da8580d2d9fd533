#!/usr/bin/env bash
# Timed runs for bench/README.md: each configuration in its own process so peak memory is that run's own.
# Usage: bench/run.sh [LABELS...]   (default: 1000000 10000000)
# Environment: METHODS (default: every method), CLASSES (default: "2 5"), ITERATIONS (default: 20),
#              BENCH (a Tally.Bench.dll to run instead of building this tree's, e.g. a copy of an older build),
#              TIMEOUT (seconds per configuration, default 600; a run that exceeds it prints TIMEOUT).
# Needs only dotnet (not farm-bench). kos is binary-only and runs for K = 2 alone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BENCH:-}" ]; then
  dotnet build bench/Tally.Bench -c Release -v quiet -nologo >/dev/null
  BENCH=bench/Tally.Bench/bin/Release/net10.0/Tally.Bench.dll
fi
sizes=("${@:-1000000 10000000}")
methods=(${METHODS:-mv wawa zbs ds onecoin glad mace mmsr kos mf bp spectral robust-ds})
classes=(${CLASSES:-2 5})
echo "method,labels,classes,iterations,seconds,labels_iter_per_s,peak_mb,accuracy,cpu_s,max_gap_s"
for n in ${sizes[@]}; do
  for k in ${classes[@]}; do
    for m in ${methods[@]}; do
      [ "$m" = kos ] && [ "$k" != 2 ] && continue
      timeout "${TIMEOUT:-600}" dotnet "$BENCH" timed "$m" "$n" "$k" "${ITERATIONS:-20}" || echo "$m,$n,$k,TIMEOUT"
    done
  done
done
