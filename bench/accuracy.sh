#!/usr/bin/env bash
# Accuracy of every method on every bundled dataset, measured by running `tally aggregate` (the README's table).
# Usage: bench/accuracy.sh [METHODS...]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
tally() { dotnet src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll "$@"; }
methods=("${@:-mv wawa zbs ds onecoin glad mace kos mmsr}")
datasets=(duck dog face)
echo "| method | duck | dog | face |"
echo "|---|---|---|---|"
for m in ${methods[@]}; do
  row="| $m"
  for d in "${datasets[@]}"; do
    out=$(tally aggregate --dataset "$d" --method "$m" 2>&1 || true)
    acc=$(echo "$out" | grep -oE 'accuracy[^0-9]*[0-9]+\.[0-9]+' | grep -oE '[0-9]+\.[0-9]+$' || true)
    [ -z "$acc" ] && acc="n/a"
    row="$row | $acc"
  done
  echo "$row |"
done
