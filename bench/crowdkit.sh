#!/usr/bin/env bash
# Tally and Crowd-Kit side by side, whole process against whole process (start-up, reading the CSV, fitting,
# writing the labels), on the same generated files. Prints one Markdown table: method, file, answers, iterations,
# Tally s, Crowd-Kit s, ratio, both accuracies against the generating truth, both peak RSS.
#
# Usage: bench/crowdkit.sh [quick|full|SHAPE...]
#   quick (default)  1M answers, K = 2 and K = 5: every method both tools have
#   full             quick, plus DS, MV and Wawa on two 10M-answer files: friendly (1M tasks, 2,000 workers)
#                    and shuffled rows with 2M tasks and 100,000 workers (Crowd-Kit needs ~5 min per DS run there)
#   SHAPE            any of: 1m-k2 1m-k5 10m-friendly 10m-shuffled (and 100k-k2, a quick check of the script)
# Environment: CROWDKIT=DIR (default ../shared/peers/crowd-kit), PYTHON (default /usr/bin/python3),
#   WORK=DIR for the generated files (default /tmp/tally-crowdkit), TALLY=path of the tally program (default: the
#   Release build, built here). REUSE_CROWDKIT=1 keeps Crowd-Kit's figures from an earlier run on the same files
#   (its runs take minutes; Tally's are rerun); REUSE_CROWDKIT="glad mace" keeps them for those methods only.
#   METHODS="mv wawa ds" runs only those of each file's methods (Crowd-Kit's GLAD and MACE take 10–20 minutes at 1M).
#   TALLY_RUNS=N runs Tally N times (default 3) and reports the run of median wall time; Crowd-Kit runs once.
# Crowd-Kit is skipped, with a message, when Python, its packages or the snapshot are missing (a clone has no
# ../shared): the Tally columns are still filled. Needs /usr/bin/time (Debian package "time") for peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

crowdkit=${CROWDKIT:-$root/../shared/peers/crowd-kit}
python=${PYTHON:-/usr/bin/python3}
work=${WORK:-/tmp/tally-crowdkit}
mkdir -p "$work"

if [ -z "${TALLY:-}" ]; then
  dotnet build src/Tally.Cli -c Release -v quiet -nologo >/dev/null
  TALLY=$root/src/Tally.Cli/bin/Release/net10.0/tally
fi
[ -x /usr/bin/time ] || { echo "bench/crowdkit.sh needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

have_crowdkit=1
if [ ! -d "$crowdkit/crowdkit" ]; then
  echo "Crowd-Kit skipped: no snapshot at $crowdkit (set CROWDKIT=DIR)" >&2; have_crowdkit=0
elif ! PYTHONPATH=$crowdkit "$python" -c "import crowdkit.aggregation" 2>/dev/null; then
  echo "Crowd-Kit skipped: $python cannot import it (apt-get install python3-pandas python3-scipy python3-sklearn python3-nltk python3-attr python3-tqdm)" >&2
  have_crowdkit=0
fi

case "${1:-quick}" in
  quick) shapes=(1m-k2 1m-k5) ;;
  full) shapes=(1m-k2 1m-k5 10m-friendly 10m-shuffled) ;;
  *) shapes=("$@") ;;
esac

# make_file SHAPE: writes $work/SHAPE/answers.csv and truth.csv once.
make_file() {
  local dir=$work/$1
  [ -f "$dir/answers.csv" ] && return
  case $1 in
    100k-k2) "$TALLY" simulate ds --tasks 20000 --workers 100 --per-task 5 --class-count 2 --seed 1 --out "$dir" >/dev/null ;;
    1m-k2) "$TALLY" simulate ds --tasks 200000 --workers 200 --per-task 5 --class-count 2 --seed 1 --out "$dir" >/dev/null ;;
    1m-k5) "$TALLY" simulate ds --tasks 200000 --workers 200 --per-task 5 --class-count 5 --seed 1 --out "$dir" >/dev/null ;;
    10m-friendly) "$TALLY" simulate ds --tasks 1000000 --workers 2000 --per-task 10 --class-count 2 --seed 1 --out "$dir" >/dev/null ;;
    10m-shuffled)
      "$TALLY" simulate ds --tasks 2000000 --workers 100000 --per-task 5 --class-count 2 --seed 1 --out "$dir.tmp" >/dev/null
      mkdir -p "$dir"
      { head -1 "$dir.tmp/answers.csv"; tail -n +2 "$dir.tmp/answers.csv" | shuf --random-source=<(yes); } > "$dir/answers.csv"
      mv "$dir.tmp/truth.csv" "$dir/truth.csv"; rm -rf "$dir.tmp" ;;
    *) echo "unknown shape $1" >&2; exit 2 ;;
  esac
}

# accuracy LABELS TRUTH: share of the truth's tasks whose label (second column) equals the truth.
accuracy() {
  awk -F, 'NR == FNR { if (FNR > 1) t[$1] = $2; next } FNR > 1 && ($1 in t) { n++; if ($2 == t[$1]) c++ }
           END { if (n) printf "%.2f%%", 100 * c / n; else printf "—" }' "$2" "$1"
}

# timed OUT_PREFIX COMMAND...: runs the command, leaves "seconds peak_MB" in OUT_PREFIX.time.
timed() {
  local prefix=$1; shift
  if /usr/bin/time -f "%e %M %U %S" -o "$prefix.time" "$@" >"$prefix.log" 2>&1; then
    # seconds, peak MB, CPU seconds (user + system; kept for the record, e.g. when the machine was busy)
    awk '{ printf "%.2f %d %.2f\n", $1, $2 / 1024, $3 + $4 }' "$prefix.time" > "$prefix.t" && mv "$prefix.t" "$prefix.time"
  else
    echo "failed: $* (log: $prefix.log)" >&2; echo "— —" > "$prefix.time"
  fi
}

# timed_median RUNS OUT_PREFIX COMMAND...: runs the command RUNS times, leaves the run of median wall time in
# OUT_PREFIX.time (Tally's runs take seconds, and one slow or lucky run on a noisy machine must not set the ratio).
timed_median() {
  local runs=$1 prefix=$2; shift 2
  for ((r = 1; r <= runs; r++)); do timed "$prefix.run$r" "$@"; done
  for ((r = 1; r <= runs; r++)); do cat "$prefix.run$r.time"; done | sort -n | sed -n "$(( (runs + 1) / 2 ))p" > "$prefix.time"
  cp "$prefix.run1.log" "$prefix.log"
  for ((r = 1; r <= runs; r++)); do rm -f "$prefix.run$r.time" "$prefix.run$r.log"; done
}

# methods SHAPE: "method iterations" pairs. Iteration counts are the same for both tools and exact (tolerance 0 in
# Tally, −∞ in Crowd-Kit; GLAD 5, as Crowd-Kit's GLAD takes ~100 s an iteration at 1M answers); MMSR keeps both tools' defaults (10,000 iterations at most, tolerance 1e-10) and MACE
# both tools' 10 restarts of 50 iterations.
methods() {
  case $1 in
    1m-k2|100k-k2) echo "mv 0 wawa 0 zbs 100 ds 20 onecoin 20 glad 5 mace 50 mmsr 0 kos 10" ;;
    # Not GLAD and MACE at K = 5: Crowd-Kit's GLAD passed 23 GB of resident memory on this 24 GB machine before it
    # finished (its MACE took 19.8 GB at K = 2), so they would take the machine down rather than give a time.
    1m-k5) echo "mv 0 wawa 0 zbs 100 ds 20 onecoin 20" ;;
    *) echo "mv 0 wawa 0 ds 20" ;;
  esac
}

echo "| method | file | answers | iterations | Tally s | Crowd-Kit s | ratio | Tally accuracy | Crowd-Kit accuracy | Tally peak MB | Crowd-Kit peak MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for shape in "${shapes[@]}"; do
  make_file "$shape"
  file=$work/$shape/answers.csv truth=$work/$shape/truth.csv
  answers=$(( $(wc -l < "$file") - 1 ))
  set -- $(methods "$shape")
  while [ $# -gt 0 ]; do
    m=$1 n=$2; shift 2
    [ -n "${METHODS:-}" ] && case " $METHODS " in *" $m "*) ;; *) continue ;; esac
    out=$work/$shape/$m
    mkdir -p "$out"
    args=(aggregate "$file" --method "$m" --out "$out/tally")
    case $m in
      mv|wawa) ;;
      mmsr) ;;
      *) args+=(-n "$n" --tolerance 0) ;;
    esac
    timed_median "${TALLY_RUNS:-3}" "$out/tally" "$TALLY" "${args[@]}"
    read -r ts tm _ < "$out/tally.time"
    ta=$( [ -f "$out/tally/labels.csv" ] && accuracy "$out/tally/labels.csv" "$truth" || echo —)
    cs=— cm=— ca=— ratio=—
    reuse=0
    case " ${REUSE_CROWDKIT:-} " in *" 1 "*|*" $m "*) [ -f "$out/crowdkit.time" ] && reuse=1 ;; esac
    if [ $have_crowdkit = 1 ] && [ $reuse = 0 ]; then
      timed "$out/crowdkit" env PYTHONPATH="$crowdkit" "$python" "$root/bench/crowdkit_run.py" "$m" "$file" "$out/crowdkit.csv" "$n"
    fi
    if [ $have_crowdkit = 1 ]; then
      read -r cs cm _ < "$out/crowdkit.time"
      ca=$( [ -f "$out/crowdkit.csv" ] && accuracy "$out/crowdkit.csv" "$truth" || echo —)
      [ "$cs" != — ] && [ "$ts" != — ] && ratio=$(awk -v a="$cs" -v b="$ts" 'BEGIN { printf "%.1f×", a / b }')
    fi
    iters=$( [ "$n" = 0 ] && { [ $m = mmsr ] && echo "≤ 10,000" || echo —; } || echo "$n")
    [ $m = mace ] && iters="10 × 50"
    printf "| %s | %s | %'d | %s | %s | %s | %s | %s | %s | %s | %s |\n" \
      "$m" "$shape" "$answers" "$iters" "$ts" "$cs" "$ratio" "$ta" "$ca" "$tm" "$cm"
  done
done
