#!/usr/bin/env bash
# Speed of the answers-CSV reader, one revision against another, for bench/README.md ("Readers").
# Usage: bench/readers.sh [OLD_REV] [NEW_REV] [RUNS]     (defaults: 187d564 HEAD 5; ROWS=10000000 in the environment)
#
# Builds both revisions (Release) in temporary git worktrees, writes two ROWS-row task,worker,label files (10 answers
# per task, 1,000 workers, 2 classes): plain.csv (labels cat/dog) and quoted.csv (labels café and "big, dog", a quoted
# field with a delimiter), then runs `tally aggregate FILE --method mv` for old and new in turn (old new old new ...),
# RUNS times each after one warm-up of each. Majority vote takes ≈ 0.2 s, so the process's time is mostly reading.
# Prints one line per run (wall seconds and peak RSS from /usr/bin/time -v, and the "+ X reading" seconds the program
# reports) and a summary: min / median / max per revision and file, and the median of the paired new/old ratios.
# Needs git, dotnet, python3 and /usr/bin/time. The files are kept in ${TALLY_READERS_DATA:-/tmp/tally-readers}.
set -euo pipefail
cd "$(dirname "$0")/.."
old_rev=${1:-187d564}; new_rev=${2:-HEAD}; runs=${3:-5}; rows=${ROWS:-10000000}
data=${TALLY_READERS_DATA:-/tmp/tally-readers}
work=$(mktemp -d)
cleanup() {
  for v in old new; do [ -d "$work/$v" ] && git worktree remove --force "$work/$v" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for v in old new; do
  rev=$old_rev; [ "$v" = new ] && rev=$new_rev
  git worktree add --detach "$work/$v" "$rev" >/dev/null 2>&1
  echo "# $v = $(git -C "$work/$v" log -1 --format='%h %s' | cut -c1-100)" >&2
  (cd "$work/$v" && dotnet build -c Release src/Tally.Cli -v quiet -nologo >/dev/null)
done

mkdir -p "$data"
for variant in plain quoted; do
  f="$data/$variant-$rows.csv"
  [ -s "$f" ] && continue
  echo "# writing $f" >&2
  python3 - "$f" "$variant" "$rows" <<'EOF'
import sys
out, variant, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
labels = ["cat", "dog"] if variant == "plain" else ["café", "\"big, dog\""]
seed = 12345
with open(out, "w", encoding="utf-8", newline="\n") as f:
    f.write("task,worker,label\n")
    buf = []
    for t in range(rows // 10):
        for j in range(10):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            w = (t * 7 + j * 101) % 1000  # 10 distinct workers per task
            buf.append(f"t{t},w{w},{labels[(seed >> 16) & 1]}\n")
        if len(buf) >= 100000:
            f.write("".join(buf)); buf = []
    f.write("".join(buf))
EOF
done

one() { # one VERSION FILE -> "wall_s peak_mb reading_s"
  local out="$work/out.txt" tv="$work/time.txt"
  /usr/bin/time -v -o "$tv" dotnet "$work/$1/src/Tally.Cli/bin/Release/net10.0/Tally.Cli.dll" \
    aggregate "$2" --method mv >"$out" 2>&1
  local wall rss reading
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$tv")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$tv")
  reading=$(grep -o '+ [0-9.]* reading' "$out" | awk '{print $2}')
  echo "$wall $rss ${reading:-NA}"
}

results="$work/results.csv"
echo "file,run,version,wall_s,peak_mb,reading_s"
for variant in plain quoted; do
  f="$data/$variant-$rows.csv"
  one old "$f" >/dev/null; one new "$f" >/dev/null # warm-up (file cache, disk)
  for r in $(seq 1 "$runs"); do
    for v in old new; do
      read -r wall rss reading < <(one "$v" "$f")
      echo "$variant,$r,$v,$wall,$rss,$reading" | tee -a "$results"
    done
  done
done

echo
echo "file,version,stat,wall_s,reading_s,peak_mb  (min / median / max over $runs runs; ratio = median of new/old pairs)"
for variant in plain quoted; do
  for v in old new; do
    for col in 4 6 5; do
      grep "^$variant,[0-9]*,$v," "$results" | cut -d, -f$col | sort -g | awk '{a[NR] = $1} END {printf "%s / %s / %s\n", a[1], a[int((NR + 1) / 2)], a[NR]}'
    done | paste -sd, | sed "s|^|$variant,$v,min/median/max,|"
  done
  for col in 4 6; do
    paste -d, <(grep "^$variant,[0-9]*,old," "$results" | cut -d, -f$col) <(grep "^$variant,[0-9]*,new," "$results" | cut -d, -f$col) |
      awk -F, '{print $2 / $1}' | sort -g | awk '{a[NR] = $1} END {printf "%.3f\n", a[int((NR + 1) / 2)]}'
  done | paste -sd, | sed "s|^|$variant,new/old,median ratio,|"
done
