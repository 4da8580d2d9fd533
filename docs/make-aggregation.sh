#!/usr/bin/env bash
# Regenerates the measurements behind docs/aggregation.md (tables as CSV and markdown, curves as PNG) into
# docs/aggregation/. Takes a few minutes on 2 cores.
# Usage: docs/make-aggregation.sh [SEEDS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
out=docs/aggregation
mkdir -p "$out"
dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
tally() { dotnet src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll "$@"; }
all=$(tally methods | awk -F'│' 'NR>3 && NF>2 {gsub(/ /,"",$2); if ($2!="") print $2}' | paste -sd, -)
if [ "${SKIP_DATASETS:-0}" != 1 ]; then
for d in duck dog face; do
  tally compare --dataset "$d" --methods "$all" --csv "$out/datasets-$d.csv" --plot "$out/datasets-$d.png" | tee "$out/datasets-$d.txt"
done
fi
[ "${ONLY_DATASETS:-0}" = 1 ] && exit 0
curves=${CURVE_METHODS:-mv,ds,mf,bp}
tally lab aggregation prior --methods "$curves" --seeds "$seeds" --csv "$out/prior.csv" --plot "$out/prior.png" | tee "$out/prior.txt"
tally lab aggregation spammers --methods "$curves" --seeds "$seeds" --csv "$out/spammers.csv" --plot "$out/spammers.png" | tee "$out/spammers.txt"
adv=${ADVERSARY_METHODS:-mv,ds,robust-ds}
for e in rowdy-constant rowdy-flip rowdy-pattern adversaries collusion; do
  tally lab aggregation "$e" --methods "$adv" --seeds "$seeds" --csv "$out/$e.csv" --plot "$out/$e.png" | tee "$out/$e.txt"
done
