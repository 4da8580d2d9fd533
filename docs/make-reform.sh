#!/usr/bin/env bash
# Regenerates the measurements behind docs/reform.md into docs/img/reform/ (about 5 s on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/img/reform
mkdir -p "$out"
dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
tally() { dotnet src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll "$@"; }
# Paper 004 §5: 200 rounds, 50 tasks, 750 agents (60% trustworthy), α = 10 (RPTSC) / 11 (REFORM), k = 1..5.
tally rounds run docs/scenarios/reform-paper.json --out "$out" | tee "$out/table.txt"
