#!/usr/bin/env bash
# Timed runs for bench/README.md: each configuration in its own process so peak memory is that run's own.
# Usage: bench/run.sh [LABELS...]   (default: 1000000 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench/Tally.Bench -c Release -v quiet -nologo >/dev/null
bin=bench/Tally.Bench/bin/Release/net10.0/Tally.Bench.dll
sizes=("${@:-1000000 10000000}")
echo "method,labels,classes,iterations,seconds,labels_iter_per_s,peak_mb,accuracy"
for n in ${sizes[@]}; do
  for k in 2 5; do
    for m in mv ds onecoin; do
      dotnet "$bin" timed "$m" "$n" "$k" 20
    done
  done
done
