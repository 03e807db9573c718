#!/bin/bash
# check_trust.sh — SPEC §7 trust rules at the command line (issue 13): the gate fails when
# it compared nothing, JSON inputs that are FIFOs or devices are refused, outputs never
# replace their inputs, links, FIFOs or devices. Every case here was a silent pass, a
# hang or lost data before; each line names what it guards.
# Env: FRAMEPREC (binary).
set -u
FP=${FRAMEPREC:-build/frameprec}
cd "$(dirname "$0")/.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
# expect RC MESSAGE-REGEX DESCRIPTION -- COMMAND...: exit status RC and a message on stderr
expect() {
    local want=$1 re=$2 what=$3
    shift 4
    timeout 20 "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" = "$want" ] && { [ -z "$re" ] || grep -Eq -- "$re" "$T/err" "$T/out"; }; then
        ok "$what"
    else
        bad "$what: exit $rc (want $want), output:"; cat "$T/err" "$T/out" | head -5
    fi
}

# ASan/UBSan builds (make asan) hold shadow memory: peak-RSS bounds are not checked there
sanitized=$(ldd "$FP" 2>/dev/null | grep -c -e libasan -e libubsan)
"$FP" gen ligands -o "$T/lig.h5" 2>/dev/null || { echo "check_trust: gen failed"; exit 1; }
"$FP" study "$T/lig.h5" --offsets 0 --modes native -q --no-report -o "$T/s" >/dev/null 2>&1 ||
    { echo "check_trust: study failed"; exit 1; }

# --- the gate fails when it compared nothing
printf '{"format": "frameprec-baseline", "version": 1, "entries": []}\n' >"$T/empty.json"
expect 1 "has no entries" "check fails on an empty baseline" -- "$FP" check --baseline "$T/empty.json" "$T/s"
expect 1 "not in the baseline" "check fails on results the baseline lacks" -- \
    "$FP" check --baseline reports/baseline.json "$T/s"
expect 1 "covers none" "check fails even with --allow-new when nothing compares" -- \
    "$FP" check --allow-new --baseline reports/baseline.json "$T/s"
"$FP" check --write-baseline "$T/own.json" "$T/s" 2>/dev/null
expect 0 "1 of 1|[0-9]+ of [0-9]+ run x backend results compared" "check passes its own baseline" -- \
    "$FP" check --baseline "$T/own.json" "$T/s"
expect 2 "only the reference" "study --backends truth is refused (0 backends)" -- \
    "$FP" study "$T/lig.h5" --backends truth -q -o "$T/t"
expect 2 "twice" "study --backends matmul,matmul is refused" -- \
    "$FP" study "$T/lig.h5" --backends matmul,matmul -q -o "$T/t"

# --- FIFOs and devices are never read (a FIFO blocked forever) nor replaced
mkfifo "$T/fifo"
expect 1 "FIFO" "check --baseline FIFO is refused" -- "$FP" check --baseline "$T/fifo" "$T/s"
expect 1 "FIFO" "a FIFO as a case is refused" -- "$FP" info "$T/fifo"
expect 2 "FIFO" "check --write-baseline FIFO is refused" -- "$FP" check --write-baseline "$T/fifo" "$T/s"
[ -p "$T/fifo" ] && ok "the FIFO is still a FIFO" || bad "the FIFO was replaced"
expect 2 "one of this command's inputs" "check --write-baseline over its own results is refused" -- \
    "$FP" check --write-baseline "$T/s/results.h5" "$T/s"

# --- outputs: never the input, a symbolic link, a FIFO, a device; never an empty path
cp "$T/lig.h5" "$T/in.h5"
expect 2 "one of this command's inputs" "frames -o IN.h5 (its own input) is refused" -- \
    "$FP" frames --backend fp64 "$T/in.h5" -o "$T/in.h5"
cmp -s "$T/lig.h5" "$T/in.h5" && ok "the input is unchanged" || bad "frames overwrote its input"
ln -s "$T/lig.h5" "$T/link.h5"
expect 2 "symbolic link" "frames -o SYMLINK is refused" -- "$FP" frames --backend fp64 "$T/in.h5" -o "$T/link.h5"
[ -L "$T/link.h5" ] && cmp -s "$T/lig.h5" "$T/in.h5" && ok "the link and its target are unchanged" ||
    bad "the symbolic link was replaced"
expect 2 "FIFO" "frames -o FIFO is refused" -- "$FP" frames --backend fp64 "$T/in.h5" -o "$T/fifo"
if [ "$(id -u)" = 0 ] && mknod "$T/null" c 1 3 2>/dev/null; then
    expect 2 "character device" "frames -o DEVICE is refused" -- \
        "$FP" frames --backend fp64 "$T/in.h5" -o "$T/null"
    [ -c "$T/null" ] && ok "the device is still a device" || bad "the device was replaced"
    expect 2 "character device" "gen -o DEVICE is refused" -- "$FP" gen ligands -o "$T/null"
fi
expect 2 "empty output" "study -o '' is refused" -- "$FP" study "$T/lig.h5" -q -o ''
expect 2 "empty output" "report -o '' is refused" -- "$FP" report "$T/s" -o ''
expect 2 "empty output" "merge -o '' is refused" -- "$FP" merge -o '' "$T/s"
[ -e /.work ] && bad "study -o '' created /.work" || ok "nothing written to /"

# --- resume reuses finished work only for the same case bytes, options and program
# summary.json without what differs from run to run (time, memory, date)
tables() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items()
                if k not in ("seconds", "truth_seconds", "rss_peak", "rss_delta", "created", "notes",
                             "memo_rows", "truth_memo_rows")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
print(json.dumps(strip({"totals": d["totals"], "runs": d["runs"]}), sort_keys=True))
EOF
}
SO="--offsets 0,100 --backends matmul,matmul_bf16,fp64 -q --no-report --keep-work"
"$FP" gen protein --atoms 400 --atomize-all --seed 1 -o "$T/c.h5" 2>/dev/null
"$FP" study "$T/c.h5" $SO -o "$T/r" >/dev/null 2>&1 || bad "study (resume test)"
"$FP" gen protein --atoms 400 --atomize-all --seed 2 -o "$T/c.h5" 2>/dev/null  # same name, new coordinates
"$FP" study "$T/c.h5" $SO -o "$T/r" >/dev/null 2>&1 || bad "study rerun (resume test)"
"$FP" study "$T/c.h5" $SO -o "$T/fresh" >/dev/null 2>&1 || bad "fresh study (resume test)"
[ "$(tables "$T/r/summary.json")" = "$(tables "$T/fresh/summary.json")" ] &&
    ok "a rerun after the case changed (same name) recomputes" ||
    bad "a rerun after the case changed reused stale work"
"$FP" study "$T/c.h5" $SO --inject-fault matmul -o "$T/f" >/dev/null 2>&1 || bad "study --inject-fault"
"$FP" study "$T/c.h5" $SO -o "$T/f" >/dev/null 2>&1 || bad "clean rerun after --inject-fault"
[ "$(tables "$T/f/summary.json")" = "$(tables "$T/fresh/summary.json")" ] &&
    ok "a clean rerun after --inject-fault recomputes the corrupted runs" ||
    bad "a clean rerun after --inject-fault reused corrupted work"
"$FP" study "$T/c.h5" $SO -o "$T/fresh" >/dev/null 2>&1
[ "$(tables "$T/fresh/summary.json")" = "$(tables "$T/r/summary.json")" ] &&
    ok "an unchanged rerun reuses its work (same tables)" || bad "an unchanged rerun changed its tables"

# --- the whole plan is validated before the first computation
expect 2 "both named .* one file given twice" "the same case twice is refused" -- \
    "$FP" study "$T/lig.h5" "$T/lig.h5" -q -o "$T/dup"
cp "$T/lig.h5" "$T/lig2.h5"
expect 2 "both named" "two files with one name are refused" -- "$FP" study "$T/lig.h5" "$T/lig2.h5" -q -o "$T/dup"
expect 2 "lists 0 twice" "--offsets 0,0 is refused" -- "$FP" study "$T/lig.h5" --offsets 0,0 -q -o "$T/dup"
[ -e "$T/dup" ] && bad "a refused plan created its output directory" || ok "a refused plan writes nothing"

# --- merge refuses shards that do not form one study, naming the difference
"$FP" gen nucleic -o "$T/nuc.h5" 2>/dev/null
MS="--no-report -q --modes native"
"$FP" study "$T/lig.h5" "$T/nuc.h5" $MS --offsets 0,10 --backends fp64 --shard 0/2 -o "$T/m0" >/dev/null 2>&1
"$FP" study "$T/lig.h5" "$T/nuc.h5" $MS --offsets 0,10 --backends fp64 --shard 1/2 -o "$T/m1" >/dev/null 2>&1
"$FP" study "$T/lig.h5" "$T/nuc.h5" $MS --offsets 0,10 --backends fp64,matmul --shard 1/2 -o "$T/mb" >/dev/null 2>&1
"$FP" study "$T/lig.h5" $MS --offsets 0,10 --backends fp64 --shard 1/2 -o "$T/mc" >/dev/null 2>&1
"$FP" study "$T/lig.h5" "$T/nuc.h5" $MS --offsets 0,100 --backends fp64 --shard 1/2 -o "$T/mo" >/dev/null 2>&1
"$FP" study "$T/lig.h5" "$T/nuc.h5" $MS --offsets 0,10 --backends fp64 --shard 1/3 -o "$T/m3" >/dev/null 2>&1
expect 0 "2 inputs" "merge of both shards works" -- "$FP" merge --no-report -o "$T/mm" "$T/m0" "$T/m1"
expect 1 "backends fp64' vs 'backends fp64,matmul" "merge refuses other --backends" -- "$FP" merge -o "$T/mx" "$T/m0" "$T/mb"
expect 1 "not shards of one study" "merge refuses another case set" -- "$FP" merge -o "$T/mx" "$T/m0" "$T/mc"
expect 1 "offsets 0,10' vs 'offsets 0,100" "merge refuses other offsets" -- "$FP" merge -o "$T/mx" "$T/m0" "$T/mo"
expect 1 "shards 2' vs 'shards 3" "merge refuses another shard count" -- "$FP" merge -o "$T/mx" "$T/m0" "$T/m3"
expect 1 "shard 1/2 is missing" "merge refuses a missing shard" -- "$FP" merge -o "$T/mx" "$T/m0"
expect 1 "given twice" "merge refuses a shard given twice" -- "$FP" merge -o "$T/mx" "$T/m0" "$T/m0" "$T/m1"
[ -e "$T/mx/results.h5" ] && bad "a refused merge wrote results" || ok "a refused merge writes nothing"

# --- two studies into one directory: the second is refused while the first runs
"$FP" gen protein --atoms 3000 --atomize-all -o "$T/big.h5" 2>/dev/null
"$FP" study "$T/big.h5" --offsets 0,10,100,1000 --modes native -q --no-report -o "$T/lk" >"$T/lk.log" 2>&1 &
pid=$!
for i in $(seq 200); do [ -d "$T/lk/.work" ] && break; sleep 0.05; done
expect 2 "another frameprec process is writing this directory" "a second study into a locked -o is refused" -- \
    "$FP" study "$T/lig.h5" -q -o "$T/lk"
expect 2 "another frameprec process is writing this directory" "a merge into a locked -o is refused" -- \
    "$FP" merge -o "$T/lk" "$T/m0" "$T/m1"
expect 2 "another frameprec process is writing this directory" "a report into a locked -o is refused" -- \
    "$FP" report "$T/m0" -o "$T/lk"
wait $pid && ok "the first study finishes" || { bad "the first study failed"; cat "$T/lk.log"; }

# --- option values: each gets its own message
expect 2 "must be finite" "--offsets nan is refused as an option" -- "$FP" study "$T/lig.h5" --offsets nan -q -o "$T/o"
expect 2 "within ±1e6" "--offsets 2e6 is refused as an option" -- "$FP" study "$T/lig.h5" --offsets 0,2e6 -q -o "$T/o"
expect 2 "^frameprec frames: error: --translate 1e\+30" "--translate 1e30 is blamed on the option" -- \
    "$FP" frames --backend fp64 --translate 1e30 "$T/lig.h5" -o "$T/o.h5"
expect 2 "--shard needs I/N" "--shard 1/2x is refused" -- "$FP" study "$T/lig.h5" --shard 1/2x -q -o "$T/o"
expect 2 "--modes takes" "--modes nativeall is refused" -- "$FP" study "$T/lig.h5" --modes nativeall -q -o "$T/o"
expect 2 "FRAMEPREC_SIMD=bogus" "FRAMEPREC_SIMD=bogus is refused" -- env FRAMEPREC_SIMD=bogus "$FP" info "$T/lig.h5"
expect 2 "at least 1 byte" "--max-memory 0 is refused" -- "$FP" study "$T/lig.h5" --max-memory 0 -q -o "$T/o"
expect 2 "at least 1 byte" "--max-memory 0.5 is refused" -- "$FP" frames --backend fp64 --max-memory 0.5 "$T/lig.h5" -o "$T/o.h5"
offs=$(seq -s, 0 69)
"$FP" study "$T/lig.h5" --offsets "$offs" --modes native --backends fp64 -q --no-report -o "$T/o70" >/dev/null 2>&1
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['runs']))" "$T/o70/summary.json" 2>/dev/null)
[ "$n" = 70 ] && ok "70 --offsets give 70 runs (none dropped)" || bad "70 --offsets gave ${n:-no} runs"

# --- --max-memory bounds a study: refused before computing when a run would exceed it
"$FP" gen protein --atoms 2000 --atomize-all --samples 8 -o "$T/mem.h5" 2>/dev/null
expect 1 "over the memory limit" "study --max-memory 40M refuses a run that needs more" -- \
    "$FP" study "$T/mem.h5" --offsets 0 --modes native --max-memory 40M -q --no-report -o "$T/mem"
if "$FP" study "$T/mem.h5" --offsets 0 --modes native --max-memory 160M -q --no-report -o "$T/mem2" 2>"$T/err"; then
    peak=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(int(max(b['rss_peak'] for r in d['runs'] for b in r['backends'].values())))" "$T/mem2/summary.json")
    if [ "$sanitized" != 0 ]; then
        echo "skip study peak under --max-memory: a sanitizer build"
    else
        [ "$peak" -le $((160 * 1048576)) ] && ok "a study allowed 160M peaked at $peak bytes" ||
            bad "a study allowed 160M peaked at $peak bytes"
    fi
else
    bad "study --max-memory 160M: $(cat "$T/err")"
fi

# --- --max-memory bounds frames: a case is refused unless its peak fits
"$FP" gen protein --atoms 60000 --atomize-all -o "$T/m60k.h5" 2>/dev/null
expect 1 "over the memory limit" "frames --max-memory 30M refuses 60k atomized atoms (peak ~40 MB)" -- \
    "$FP" frames --backend truth --max-memory 30M -q "$T/m60k.h5" -o "$T/m60k-f.h5"
peak=$(python3 -c '
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 if rc == 0 else "failed")' \
    "$FP" frames --backend truth --max-memory 100M -q "$T/m60k.h5" -o "$T/m60k-f.h5")
if [ "$sanitized" != 0 ]; then
    echo "skip frames peak under --max-memory: a sanitizer build (its shadow memory is not the program's)"
else
    [ "$peak" != failed ] && [ "$peak" -le $((100 * 1048576)) ] && ok "frames allowed 100M peaked at $peak bytes" ||
        bad "frames --max-memory 100M: peak $peak"
fi

# --- write failures (a full disk; here a file-size limit, the same write errors): a
# message and exit 1, no temporary file left, never a signal (SIGSEGV in libhdf5 before)
full() { (trap '' XFSZ; ulimit -f "$1"; shift; "$@"); }
mkdir -p "$T/full"
for w in "gen protein --atoms 20000 -o $T/full/g.h5" \
         "frames --backend fp64 $T/big.h5 -o $T/full/f.h5" \
         "study $T/big.h5 --offsets 0 --modes native --backends fp64 -q -o $T/full/s" \
         "check --write-baseline $T/full/b.json $T/o70"; do
    full 1 "$FP" $w >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc = 1 ] && grep -Eq "disk full|cannot write|writing failed" "$T/err"; then
        ok "a failed write ends with a message and exit 1: ${w%% *}"
    else
        bad "a failed write (${w%% *}): exit $rc: $(head -c 300 "$T/err")"
    fi
done
left=$(find "$T/full" -name '*.tmp.*' | wc -l)
[ "$left" = 0 ] && ok "no temporary file left after the failed writes" || bad "$left temporary files left"

# --- same input, same options: byte-identical files (no HDF5 object timestamps)
"$FP" gen ligands -o "$T/same1.h5" 2>/dev/null
"$FP" frames --backend truth -q "$T/same1.h5" -o "$T/fr1.h5"
sleep 1.1
"$FP" gen ligands -o "$T/same2.h5" 2>/dev/null
"$FP" frames --backend truth -q "$T/same1.h5" -o "$T/fr2.h5"
cmp -s "$T/same1.h5" "$T/same2.h5" && ok "gen writes byte-identical files" || bad "gen output differs between runs"
cmp -s "$T/fr1.h5" "$T/fr2.h5" && ok "frames writes byte-identical files" || bad "frames output differs between runs"

# --- names from case files: escaped in reports, any length, (checked with h5py)
PY=/usr/bin/python3
if $PY -c 'import h5py' 2>/dev/null; then
    rename() { $PY -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); f.attrs["name"] = sys.argv[2]' "$1" "$2"; }
    cp "$T/lig.h5" "$T/html.h5"
    rename "$T/html.h5" '<img src=x onerror=alert(1)>**bold**'
    "$FP" study "$T/html.h5" --offsets 0 --modes native --backends fp64 -q -o "$T/html" >/dev/null 2>&1 ||
        bad "study of a case named with HTML"
    if grep -qE '(^|[^\\])<img' "$T/html/report.md" || grep -q '<img' "$T/html/report.html" ||
       ! grep -q '&lt;img' "$T/html/report.html" || ! grep -qF '\*\*bold' "$T/html/report.md"; then
        bad "a case name's HTML reaches the report unescaped"
    else
        ok "a case name's HTML and Markdown are escaped in report.md and report.html"
    fi
    cp "$T/lig.h5" "$T/long.h5"
    rename "$T/long.h5" "$(printf 'n%.0s' $(seq 300))"
    expect 0 "" "a 300-character case name studies fine" -- \
        "$FP" study "$T/long.h5" --offsets 0 --modes native --backends fp64 -q --no-report -o "$T/long"
    expect 1 "attribute 'inf' = 0.5 does not exceed" "a case with inf = 0.5 is refused before computing" -- \
        bash -c "cp '$T/lig.h5' '$T/inf.h5' && $PY -c \"import h5py; h5py.File('$T/inf.h5','r+').attrs['inf']=0.5\" && '$FP' study '$T/lig.h5' '$T/inf.h5' -q -o '$T/infdir'"
    [ -e "$T/infdir" ] && bad "the refused study created its directory" || ok "nothing computed or written for it"
else
    echo "skip names from case files: python3-h5py not installed"
fi

# --- make test under nohup (SIGINT ignored): the signal test sets the action it needs
B=${BUILD:-build}
if [ -x "$B/tests/test_badinput" ]; then
    (trap '' INT; "$B/tests/test_badinput" >"$T/bi.log" 2>&1) && ok "test_badinput passes with SIGINT ignored" ||
        { bad "test_badinput with SIGINT ignored"; tail -5 "$T/bi.log"; }
fi

[ $fail = 0 ] && echo "check_trust: all passed" || echo "check_trust: FAILED"
exit $fail
