#!/usr/bin/env bash
# Regenerates the measurements behind docs/sharing.md into docs/sharing/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/sharing
mkdir -p "$out"
dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
tally() { dotnet src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll "$@"; }
# --seed 1: the published numbers were measured with seed 1, the default of `tally share lab` before it became 0.
for m in 5 10 30 100; do tally share lab --agents "$m" --seed 1 --replications 2000 --plot "$out/lab-m$m.png" | tee "$out/lab-m$m.txt"; done
for rule in pool threshold; do tally share lab --agents 10 --rule "$rule" --seed 1 --replications 2000 --plot "$out/naive-$rule.png" | tee "$out/naive-$rule.txt"; done
for m in 3 4; do tally share lab --agents "$m" --seed 1 2>&1 | tee "$out/lab-m$m.txt" || true; done
