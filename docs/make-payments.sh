#!/usr/bin/env bash
# Regenerates the measurements behind docs/payments.md into docs/payments/ (a few minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/payments
mkdir -p "$out"
dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
tally() { dotnet src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll "$@"; }
# lab gap writes gap.csv into an --out folder; each is moved to NAME.csv here.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# (a) Mechanism 1's error grows linearly in α; the robust mechanisms' too at small m, n.
tally lab gap --vary alpha --values 0,0.05,0.1,0.15,0.2,0.25,0.3 --agents 90 --tasks 3000 --seeds 10 --out "$tmp/gap-alpha" --plot "$out/gap-alpha.png" | tee "$out/gap-alpha.txt"
mv "$tmp/gap-alpha/gap.csv" "$out/gap-alpha.csv"
# (b) α = 0.1, growing m: n = 30 and n = 90.
tally lab gap --vary tasks --values 300,1000,3000,10000 --agents 30 --adversary-fraction 0.1 --seeds 10 --out "$tmp/gap-m-n30" --plot "$out/gap-m-n30.png" | tee "$out/gap-m-n30.txt"
mv "$tmp/gap-m-n30/gap.csv" "$out/gap-m-n30.csv"
tally lab gap --vary tasks --values 1000,3000,10000 --agents 90 --adversary-fraction 0.1 --seeds 6 --out "$tmp/gap-m-n90" --plot "$out/gap-m-n90.png" | tee "$out/gap-m-n90.txt"
mv "$tmp/gap-m-n90/gap.csv" "$out/gap-m-n90.csv"
# (c) incentives at α = 0.1, m = 1000, n = 30.
for s in constant pattern; do
  tally lab peer --signal-prior ds:2,0.8 --agents 30 --tasks 1000 --adversary-fraction 0.1 --adversary-strategy "$s" --seeds 20 \
    --mechanisms ca,dmi,tvd-mi,rmif-symmetric,rmif-ds | tee "$out/peer-$s.txt"
done
# edX priors, α = 0.
tally lab edx --mechanisms ca,dmi,tvd-mi,rptsc --seeds 10 | tee "$out/edx.txt"
