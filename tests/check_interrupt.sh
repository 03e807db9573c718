#!/bin/bash
# Interrupted runs (issue 9): a study killed half-way by SIGINT or SIGTERM leaves the
# previous results intact and no partial files; rerunning finishes the job with the
# same results as an uninterrupted run. Also `frameprec frames` killed while computing
# or writing leaves the previous OUT.h5 intact and no OUT.h5.tmp.*.
# Env: FRAMEPREC (binary), BUILD. Needs h5ls (hdf5-tools) and python3 (json).
set -u
set -m # background jobs get their own process group and keep SIGINT (not ignored)
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
F=${FRAMEPREC:-$BUILD/frameprec}
T=$(mktemp -d /tmp/frameprec-interrupt-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "  FAIL: $*"; fail=1; }
ms() { date +%s%3N; }

mkdir -p "$T/cases"
"$F" gen ligands -o "$T/cases/lig.h5" 2>/dev/null &&
"$F" gen protein --atoms 3000 --samples 2 -o "$T/cases/prot.h5" 2>/dev/null &&
"$F" gen nucleic -o "$T/cases/nuc.h5" 2>/dev/null || { echo "check_interrupt: FAIL (gen)"; exit 1; }

# Every file under DIR is complete: no temporary names, HDF5 files open, JSON parses.
complete() {
    local d=$1 what=$2 f
    if find "$d" -name '*.tmp.*' | grep -q .; then
        bad "$what: partial files left: $(find "$d" -name '*.tmp.*' | tr '\n' ' ')"
    fi
    while IFS= read -r f; do
        case "$f" in
        *.h5) h5ls "$f" >/dev/null 2>&1 || bad "$what: $f is not a readable HDF5 file" ;;
        *.json) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null ||
                    bad "$what: $f is not valid JSON" ;;
        esac
    done < <(find "$d" -type f)
}
# summary.json without the fields that differ from run to run (time, memory, date)
results_of() {
    python3 - "$1" <<'PY'
import json, sys
VOL = {"seconds", "rss_peak", "rss_delta", "created", "truth_seconds", "wall_seconds",
       "memo_rows", "truth_memo_rows",  # how a run was computed (the chain memo), not results
       "peak_rss", "time", "elapsed"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in VOL and "second" not in k and "rss" not in k}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
print(json.dumps(strip(json.load(open(sys.argv[1]))), sort_keys=True))
PY
}
# Starts a command in the background, sends SIG after MS milliseconds, waits; prints
# "status" (128+sig when the signal ended it, 0 when it finished first).
# The command runs through env(1), which execs it: $! is then the frameprec process
# itself (a shell function would leave a subshell between, and killing the subshell
# leaves frameprec running), and --default-signal undoes the SIGINT/SIGQUIT ignore a
# non-interactive shell gives its background jobs, so SIGINT really reaches it.
kill_after() {
    local sig=$1 delay=$2; shift 2
    env --default-signal=INT,TERM,HUP "$@" >"$T/run.out" 2>&1 &
    local pid=$!
    sleep "$(awk "BEGIN{print $delay/1000}")"
    kill -s "$sig" "$pid" 2>/dev/null
    wait "$pid"
    echo $?
}
study() { "$F" study "$T"/cases/*.h5 -q --no-report -o "$@"; }
# the same command as argv, for kill_after (which cannot run a shell function)
study_argv() { STUDY_ARGV=("$F" study "$T"/cases/*.h5 -q --no-report -o "$1"); }

if "$F" study --help >/dev/null 2>&1; then
    # 1. reference: an uninterrupted study, timed
    t0=$(ms)
    study "$T/ref" >"$T/ref.out" 2>&1 || { cat "$T/ref.out"; echo "check_interrupt: FAIL (study)"; exit 1; }
    D=$(( $(ms) - t0 ))
    complete "$T/ref" reference
    ref=$(results_of "$T/ref/summary.json")
    echo "  uninterrupted study: ${D} ms"

    # 2. previous results intact: rerun into the finished directory, interrupt it
    cp -a "$T/ref" "$T/prev"
    for step in "INT 30" "TERM 70"; do
        set -- $step
        sig=$1 frac=$2
        {
            study_argv "$T/prev"
            st=$(kill_after $sig $((D * frac / 100)) "${STUDY_ARGV[@]}")
            [ "$st" = 0 ] || [ "$st" -ge 128 ] || bad "rerun killed by SIG$sig at $frac%: status $st"
            complete "$T/prev" "rerun killed by SIG$sig at $frac%"
            [ -f "$T/prev/summary.json" ] && [ -f "$T/prev/results.h5" ] ||
                bad "SIG$sig at $frac%: previous results gone"
            [ "$(results_of "$T/prev/summary.json")" = "$ref" ] ||
                bad "SIG$sig at $frac%: previous summary.json changed"
        }
    done

    # 3. a fresh study killed half-way, twice, then rerun to completion
    killed=0
    for step in "TERM 50" "INT 40"; do
        set -- $step
        study_argv "$T/fresh"
        st=$(kill_after "$1" $((D * $2 / 100)) "${STUDY_ARGV[@]}")
        [ "$st" -ge 128 ] && killed=$((killed + 1))
        complete "$T/fresh" "fresh study killed by SIG$1 at $2%"
    done
    study "$T/fresh" >"$T/fresh.out" 2>&1 || bad "rerun after the interruptions failed: $(tail -3 "$T/fresh.out")"
    complete "$T/fresh" "resumed study"
    [ -f "$T/fresh/summary.json" ] && [ "$(results_of "$T/fresh/summary.json")" = "$ref" ] ||
        bad "resumed study's results differ from the uninterrupted run"
    echo "  study: killed $killed of 2 fresh runs half-way (others finished first); rerun completed"
else
    echo "  frameprec study not available: only the frames checks run"
fi

# 4. frames: killed while computing or writing, the previous OUT.h5 stays intact
"$F" gen protein --atoms 40000 -o "$T/big.h5" 2>/dev/null
mkdir -p "$T/fr"
t0=$(ms)
"$F" frames --backend exact_diff --atomize-all -q "$T/big.h5" -o "$T/fr/OUT.h5" || bad "frames failed"
D=$(( $(ms) - t0 ))
cp "$T/fr/OUT.h5" "$T/OUT.prev"
n=0
for frac in 50 85 97; do
    for sig in INT TERM; do
        st=$(kill_after $sig $((D * frac / 100)) "$F" frames --backend exact_diff --atomize-all -q \
             "$T/big.h5" -o "$T/fr/OUT.h5")
        [ "$st" -ge 128 ] && n=$((n + 1))
        ls "$T/fr" | grep -q '\.tmp\.' && bad "frames killed by SIG$sig at $frac%: left $(ls "$T/fr")"
        h5ls "$T/fr/OUT.h5" >/dev/null 2>&1 || bad "frames killed by SIG$sig at $frac%: OUT.h5 unreadable"
        cmp -s "$T/fr/OUT.h5" "$T/OUT.prev" || h5diff -q "$T/fr/OUT.h5" "$T/OUT.prev" >/dev/null 2>&1 ||
            [ "$st" = 0 ] || bad "frames killed by SIG$sig at $frac%: OUT.h5 changed"
    done
done
echo "  frames: $n of 6 runs killed ($D ms each uninterrupted), no partial file, OUT.h5 intact"

if [ $fail = 0 ]; then echo "check_interrupt: PASS"; else echo "check_interrupt: FAIL"; exit 1; fi
