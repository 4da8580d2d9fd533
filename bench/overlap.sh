#!/usr/bin/env bash
# Dynamic overlap vs fixed overlap at the same answer budget, on a live `tally serve` (bench/README.md's table).
# Per seed: two projects on one server (fixed: 3 answers per task; dynamic: 2, then tasks whose majority share is below
# 0.9 re-asked up to 5), the same simulated crowd (`tally simulate crowd`, the same truth file and seed) and a budget
# of TASKS x 3 answers; round 0 closed with majority vote; accuracy of the service's labels against the truth, and of
# Dawid-Skene on the same answers (`tally aggregate --method ds`).
# Needs bash, curl, awk, sed and the .NET SDK. Usage: bench/overlap.sh [SEEDS...]  (default 1 2 3 4 5; TASKS=300)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
cli=src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll
tally() { dotnet "$cli" "$@"; }
seeds=(${@:-1 2 3 4 5})
tasks=${TASKS:-300}
budget=$((tasks * 3))
crowd=(--careful 8 --careful-accuracy 0.85 --noisy 18 --noisy-accuracy 0.65 --accuracy-spread 0.1 --spammers 4)

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The service on a free port: it prints the address it listens on.
dotnet "$cli" serve --port 0 --data "$work/data" >"$work/serve.log" 2>"$work/serve.err" &
server=$!
for _ in $(seq 600); do grep -q 'listening on' "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
url=$(grep -oE 'http://[0-9.]+:[0-9]+' "$work/serve.err" | head -n 1)
[ -n "$url" ] || { echo "tally serve did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
post() { curl -fsS -X POST "$url$1" -H "Authorization: Bearer $2" -H "Content-Type: ${4:-application/json}" --data-binary "$3"; }
key=$(post /requesters "$(cat "$work/data/admin.key")" '{"name":"overlap"}' | field key)

# Accuracy (%) of a task,label,… CSV against a task,truth CSV.
score() { awk -F, 'NR == FNR { if (FNR > 1) t[$1] = $2; next } FNR > 1 { n++; if (t[$1] == $2) ok++ } END { printf "%.1f", 100 * ok / n }' "$1" "$2"; }

echo "$tasks tasks, K = 3, a budget of $budget answers; 8 careful (0.85) + 18 noisy (0.65) workers (spread 0.1) + 4 spammers"
echo
echo "| seed | mv, fixed (3) | mv, dynamic (2–5) | ds, fixed (3) | ds, dynamic (2–5) |"
echo "|---|---|---|---|---|"
for seed in "${seeds[@]}"; do
  # A uniform random truth: the truth.csv of `tally simulate ds` (its answers are not used).
  tally simulate ds --tasks "$tasks" --workers 1 --per-task 1 --class-count 3 --seed "$seed" --out "$work/truth-$seed" >/dev/null
  truth="$work/truth-$seed/truth.csv"
  mv=() ds=()
  for arm in "fixed 3 3" "dynamic 2 5"; do
    read -r name min max <<<"$arm"
    p=$(post /projects "$key" "{\"name\":\"$name-$seed\",\"classes\":[\"0\",\"1\",\"2\"],\"minAnswers\":$min,\"maxAnswers\":$max,\"confidenceTarget\":0.9,\"method\":\"mv\",\"seed\":$seed}" | field id)
    (echo id; cut -d, -f1 "$truth" | tail -n +2) | post "/projects/$p/tasks" "$key" @- text/csv >/dev/null
    tally simulate crowd --server "$url" --project "$p" --key "$key" --truth "$truth" "${crowd[@]}" --answer-budget "$budget" --seed "$seed" >/dev/null
    post "/projects/$p/rounds/0/close" "$key" '' >/dev/null
    curl -fsS "$url/projects/$p/labels?format=csv" -H "Authorization: Bearer $key" >"$work/labels.csv"
    curl -fsS "$url/projects/$p/answers?format=csv" -H "Authorization: Bearer $key" >"$work/answers.csv"
    mv+=("$(score "$truth" "$work/labels.csv")")
    acc=$(tally aggregate "$work/answers.csv" --method ds --classes 0,1,2 --truth "$truth" | grep -oE 'accuracy[^0-9]*[0-9]+\.[0-9]+' | grep -oE '[0-9]+\.[0-9]+$')
    ds+=("$(printf '%.1f' "$acc")")
  done
  echo "| $seed | ${mv[0]}% | ${mv[1]}% | ${ds[0]}% | ${ds[1]}% |"
done | tee "$work/table"
awk -F'|' '{ for (i = 3; i <= 6; i++) { gsub(/[% ]/, "", $i); s[i] += $i } n++ }
  END { printf "| mean | %.1f%% | %.1f%% | %.1f%% | %.1f%% |\n", s[3] / n, s[4] / n, s[5] / n, s[6] / n }' "$work/table"
