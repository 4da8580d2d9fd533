#!/usr/bin/env bash
# Regenerates the measurements behind docs/learning.md into docs/img/learning/ (about 30–40 min on 2 cores).
# Fashion-MNIST settings need Debian's dataset-fashion-mnist package (or $FASHION_MNIST pointing at the IDX files).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/img/learning
mkdir -p "$out"
dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
tally() { dotnet src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll "$@"; }

# Music genre, real MTurk crowd, 5 seeds: (a) every method with the same classifier (softmax regression, Adam 1e-3),
# (b) every method with its own defaults (tally learn's behaviour).
tally lab learning --setting music-genre --classifier linear --learning-rate 0.001 --seeds 5 --out "$out/music-linear" | tee "$out/music-linear/table.txt"
tally lab learning --setting music-genre --seeds 5 --out "$out/music-default" | tee "$out/music-default/table.txt"

# One tally learn run, for its learning curve (the other files stay out of the repository).
tally learn --dataset music-genre --method maxmig --out /tmp/tally-maxmig-run
mkdir -p "$out/maxmig-run" && cp /tmp/tally-maxmig-run/learning-curve.png /tmp/tally-maxmig-run/epochs.csv "$out/maxmig-run/"

# Max-MIG's expert crowds (paper 001, Appendix B.1) on 1,000 Fashion-MNIST training images, 1,000 test images, 3 seeds.
for c in independent naive-majority correlated; do
  for e in H L; do
    d="$out/experts-$c-$e"
    mkdir -p "$d"
    tally lab learning --setting "experts:$c:$e" --classifier linear --learning-rate 0.001 --train 1000 --test 1000 --seeds 3 \
      --methods mv,ds,em,crowdlayer,conal,maxmig,deepmf,deepbp --out "$d" | tee "$d/table.txt"
  done
done

# Label-free restarts (Max-MIG: highest training MIG), 4 runs per seed, same settings; learning-restarts.csv has every
# run's start, criterion, consistency and accuracies. EM's restarts (highest log-likelihood) on the correlated (H) crowd.
for c in independent naive-majority correlated; do
  for e in H L; do
    d="$out/restarts-$c-$e"
    mkdir -p "$d"
    tally lab learning --setting "experts:$c:$e" --classifier linear --learning-rate 0.001 --train 1000 --test 1000 --seeds 3 \
      --methods maxmig --restarts 4 --out "$d" | tee "$d/table.txt"
  done
done
d="$out/restarts-em-correlated-H"
mkdir -p "$d"
tally lab learning --setting experts:correlated:H --classifier linear --learning-rate 0.001 --train 1000 --test 1000 --seeds 3 \
  --methods em --restarts 4 --out "$d" | tee "$d/table.txt"

# deepBP vs deepMF (paper 003 §4.1): one-coin Beta(2,1) workers on a (3,4)-regular graph plus 2 extreme spammers,
# Fashion-MNIST pullover vs coat, 1,000 training items, 10 seeds (a fresh crowd each).
mkdir -p "$out/sparse"
tally lab learning --setting sparse:2 --classifier linear --learning-rate 0.001 --train 1000 --test 1000 --seeds 10 \
  --methods mv,ds,deepmf,deepbp --out "$out/sparse" | tee "$out/sparse/table.txt"
# The same with 20 extreme spammers (each answering all 1,000 items at random).
mkdir -p "$out/sparse-20"
tally lab learning --setting sparse:20 --classifier linear --learning-rate 0.001 --train 1000 --test 1000 --seeds 10 \
  --methods mv,deepmf,deepbp --out "$out/sparse-20" | tee "$out/sparse-20/table.txt"

# Max-MIG's experiments like for like (paper protocol, tally lab maxmig-table): a reduced table (3,000 training /
# 2,000 test images, 20 epochs, 3 runs; ≈ 70 CPU-minutes) and the full-size run of correlated mistakes (H) (60,000 /
# 10,000 images, 50 epochs, one run; ≈ 6 CPU-minutes). The whole table at full size is ≈ 10 CPU-hours: run
# `tally lab maxmig-table --out DIR` without options for it.
tally lab maxmig-table --train 3000 --test 2000 --epochs 20 --out "$out/maxmig-table-3000" | tee "$out/maxmig-table-3000/table.txt"
tally lab maxmig-table --settings 4.3H --methods maxmig --runs 1 --out "$out/maxmig-table-full-4.3H" | tee "$out/maxmig-table-full-4.3H/table.txt"
