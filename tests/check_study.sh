#!/bin/bash
# check_study.sh — the study on a fast subset of the built-in corpus (offsets 0 and
# 1000 Å, both atomization modes), gated by `frameprec check` against the committed
# baseline reports/baseline.json; then the gate must fail on a deliberately worsened
# backend (the --inject-fault test hook) and name it; shards merged equal the whole.
# Env: FRAMEPREC = binary (default build/frameprec).
set -u
FP=${FRAMEPREC:-build/frameprec}
cd "$(dirname "$0")/.."
BASE=reports/baseline.json
SUBSET="cases/133d.h5 cases/1as5.h5 cases/1a8o.h5 cases/1ubi-all.h5"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

for c in $SUBSET; do
  [ -f "$c" ] || { echo "check_study: $c missing (the corpus is built by 'make cases')"; exit 1; }
done
[ -f "$BASE" ] || { echo "check_study: $BASE missing"; exit 1; }

# 1. the fast study, gated by the committed baseline
if "$FP" study $SUBSET --offsets 0,1000 -j 2 -q -o "$T/s" >"$T/study.log" 2>&1; then
  ok "study on the fast subset"
else
  bad "study on the fast subset"; cat "$T/study.log"
fi
for f in results.h5 summary.json report.md report.html; do
  [ -s "$T/s/$f" ] || bad "study wrote no $f"
done
[ -d "$T/s/.work" ] && bad "study left its .work directory behind"
ls "$T/s" | grep -q '\.tmp\.' && bad "study left temporary files"
if "$FP" check --baseline "$BASE" "$T/s" >"$T/check.log" 2>&1; then
  ok "check passes against $BASE"
else
  bad "check against $BASE"; cat "$T/check.log"
fi
grep -q "not in the baseline" "$T/check.log" && grep -q ", 0 not in the baseline" "$T/check.log" ||
  { bad "the subset is not covered by $BASE (regenerate it)"; cat "$T/check.log"; }
n=$(wc -c <"$T/s/report.md")
[ "$n" -lt 60000 ] && ok "report.md is $n characters" || bad "report.md is $n characters (>= 60000)"
if "$FP" report "$T/s" -o "$T/new/report-dir" >/dev/null 2>&1 &&
   cmp -s "$T/s/report.md" "$T/new/report-dir/report.md"; then
  ok "report regenerates the same report.md into a new directory"
else
  bad "report into a new directory"
fi
# the study writes summary.json and the report from the runs it holds; read back from
# results.h5 (merge of the one directory, report) they must be the same files
if "$FP" merge -o "$T/m1" "$T/s" >/dev/null 2>&1 && cmp -s "$T/s/summary.json" "$T/m1/summary.json" &&
   cmp -s "$T/s/report.html" "$T/new/report-dir/report.html"; then
  ok "summary.json and report.html from the runs held equal those read back from results.h5"
else
  bad "summary.json or report.html differ from those read back from results.h5"
fi

# 2. a deliberately worsened backend must fail the gate, named case by case
for b in matmul chunked_fp32; do
  "$FP" study $SUBSET --offsets 0,1000 -q --inject-fault $b -o "$T/f-$b" >/dev/null 2>&1 ||
    bad "study --inject-fault $b"
  "$FP" check --baseline "$BASE" "$T/f-$b" >"$T/fault.log" 2>&1
  rc=$?
  if [ $rc = 1 ] && grep -q "^FAIL .* $b: " "$T/fault.log" && grep -q "check: FAIL" "$T/fault.log"; then
    ok "check exits 1 on worsened $b and names it"
  else
    bad "check on worsened $b: exit $rc"; cat "$T/fault.log"
  fi
done

# 3. shards merged give the same tables as the whole study
for i in 0 1; do
  "$FP" study $SUBSET --offsets 0,1000 -q --no-report --shard $i/2 -o "$T/sh$i" >/dev/null 2>&1 ||
    bad "study --shard $i/2"
done
mkdir -p "$T/m"
"$FP" merge -o "$T/m" "$T/sh0" "$T/sh1" >/dev/null 2>&1 || bad "merge"
strip() { sed -e 's/"\(seconds\|truth_seconds\|rss_peak\|rss_delta\|memo_rows\|truth_memo_rows\)": [^,}]*//g' -e '/"created"/d' "$1"; }
if cmp -s <(strip "$T/m/summary.json") <(strip "$T/s/summary.json"); then
  ok "merged shards equal the whole study"
else
  bad "merged shards differ from the whole study"
fi

# 4. the chain memo: 1ubi-all's native and all-atomized runs have the same chain and
# rows, so the second is answered from the first; without the memo, the same study
memo_rows() { grep -o '"memo_rows": [0-9]*' "$1" | awk '{s += $2} END {print s + 0}'; }
"$FP" study $SUBSET --offsets 0,1000 -j 2 -q --no-report --no-chain-memo -o "$T/nomemo" \
  >/dev/null 2>&1 || bad "study --no-chain-memo"
n1=$(memo_rows "$T/s/summary.json"); n0=$(memo_rows "$T/nomemo/summary.json")
if [ "$n1" -gt 0 ] && [ "$n0" = 0 ]; then
  ok "the chain memo answered $n1 rows (none with --no-chain-memo)"
else
  bad "memo rows: $n1 with the memo, $n0 without"
fi
if cmp -s <(strip "$T/nomemo/summary.json") <(strip "$T/s/summary.json"); then
  ok "the study with the chain memo equals the one without"
else
  bad "the chain memo changed the study's results"
fi
"$FP" merge -o "$T/m" "$T/sh0" "$T/sh0" >/dev/null 2>&1 && bad "merge accepted overlapping shards" ||
  ok "merge refuses overlapping shards"

[ $fail = 0 ] && echo "check_study: all passed" || echo "check_study: FAILED"
exit $fail
