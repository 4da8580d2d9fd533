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
# compare and lab aggregation write comparison.csv / sweep.csv into an --out folder; each is moved to NAME.csv here.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
all=$(tally methods | awk -F'│' '/╰/ {exit} NR>3 && NF>2 {gsub(/ /,"",$2); if ($2!="") print $2}' | paste -sd, -)
if [ "${SKIP_DATASETS:-0}" != 1 ]; then
for d in duck dog face; do
  tally compare --dataset "$d" --methods "$all" --out "$tmp/datasets-$d" --plot "$out/datasets-$d.png" | tee "$out/datasets-$d.txt"
  mv "$tmp/datasets-$d/comparison.csv" "$out/datasets-$d.csv"
done
fi
[ "${ONLY_DATASETS:-0}" = 1 ] && exit 0
curves=${CURVE_METHODS:-mv,ds,mf,bp}
tally lab aggregation prior --methods "$curves" --seeds "$seeds" --out "$tmp/prior" --plot "$out/prior.png" | tee "$out/prior.txt"
mv "$tmp/prior/sweep.csv" "$out/prior.csv"
tally lab aggregation spammers --methods "$curves" --seeds "$seeds" --out "$tmp/spammers" --plot "$out/spammers.png" | tee "$out/spammers.txt"
mv "$tmp/spammers/sweep.csv" "$out/spammers.csv"
adv=${ADVERSARY_METHODS:-mv,ds,robust-ds}
for e in rowdy-constant rowdy-flip rowdy-pattern adversaries collusion; do
  tally lab aggregation "$e" --methods "$adv" --seeds "$seeds" --out "$tmp/$e" --plot "$out/$e.png" | tee "$out/$e.txt"
  mv "$tmp/$e/sweep.csv" "$out/$e.csv"
done
# Section 6: imbalanced classes (10 seeds, as in the document).
tally lab aggregation imbalance --methods mv,ds,mf,bp,spectral,robust-ds --seeds 10 --values 0.5,0.1,0.03 \
  --out "$tmp/imbalance" | tee "$out/imbalance.txt"
mv "$tmp/imbalance/sweep.csv" "$out/imbalance.csv"
# Section 7: numeric answers on the bundled emotion set.
for m in mean median trimmed-mean lfc lfc-n lfc-t catd pm; do
  tally aggregate --dataset emotion --type numeric -m "$m"
done | tee "$out/emotion.txt"
