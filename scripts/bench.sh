#!/usr/bin/env bash
# bench.sh BIN — speed and memory of every backend, beside PyTorch (issue 8; `make bench`).
# Builds BIN's folder if needed, generates all-atomized one-chain proteins of 1k, 5k,
# 10k, 20k and 45k atoms (`frameprec gen protein --atoms N --atomize-all --chains 1`),
# takes the corpus's largest real case (most atoms in cases/*.h5), and per backend
# records wall time (/usr/bin/time -v), frameprec's own compute time, candidate pairs
# per second and peak RSS; exact_diff, chunked_fp32 and matmul run with 1 and with
# BENCH_JOBS threads and their frames are checked byte-identical. PyTorch's formulations
# (scripts/torch_oracle.py) run on the same cases in the same run where they fit.
# Every backend runs with --search brute and --search grid (SPEC §12) on every case,
# the real case also all-atomized (6ZU5: 166,793 atoms), and the two frames files are
# compared byte for byte; exact_diff's brute force also runs with its plain eval path
# (FRAMEPREC_FUSED=0) beside the fused kernels (exact_diff; matmul_bf16 for the
# identity backends' kernel), in the same run.
# Writes reports/BENCH.md (machine, compiler, flags, date, commands).
# Environment: BENCH_SIZES (default "1000 5000 10000 20000 45000"), BENCH_JOBS
# (default: all cores), BENCH_TORCH_MAX_BYTES (default 8e9: larger PyTorch runs are
# skipped and the model's figure is given), BENCH_MAX_SECONDS (default 60: a backend
# whose run is projected longer from the previous size is skipped, said so),
# BENCH_OUT (default reports/BENCH.md), BENCH_WORK (scratch; default a fresh one),
# BENCH_REAL=0 (leave out the real case, for a quick run), BENCH_STUDY=0 (leave out the
# two corpus studies).
set -u
BIN=${1:-build/frameprec}
BUILD=$(dirname "$BIN")
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-reports/BENCH.md}
SIZES=${BENCH_SIZES:-1000 5000 10000 20000 45000}
JOBS=${BENCH_JOBS:-$(nproc)}
TMAX=${BENCH_TORCH_MAX_BYTES:-8e9}
SMAX=${BENCH_MAX_SECONDS:-60}
W=${BENCH_WORK:-$(mktemp -d /tmp/frameprec-bench.XXXXXX)}
mkdir -p "$W" "$(dirname "$OUT")"

make -s BUILD="$BUILD" "$BIN" >/dev/null || { echo "bench: build failed"; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)"; exit 1; }
HAVE_TORCH=0
$PY -c 'import torch, h5py, numpy' 2>/dev/null && HAVE_TORCH=1
# PyTorch's runs only: their peak RSS then counts tensors freed back to the system (see
# scripts/oracle.sh). frameprec runs as a user runs it: this setting made every large
# allocation a fresh mmap (page faults each time) and the corpus study 25% slower.
TORCH_MALLOC="MALLOC_MMAP_THRESHOLD_=131072"

: >"$W/runs.jsonl"
: >"$W/torch.jsonl"
: >"$W/ident.jsonl"
: >"$W/cases.jsonl"

# Machine, compiler, flags: the compile line of the driver as make would run it.
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "host: $(uname -srm)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores," \
        "flags: $(grep -o -w -E 'avx2|fma|avx512f|avx512vl' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    echo "memory: $(free -g | awk '/Mem:/{print $2}') GB"
    echo "compiler: $(${CC:-cc} --version | head -1)"
    echo "compile: $(make -n -B BUILD="$BUILD" "$BUILD/obj/src/core/driver.o" 2>/dev/null | grep -m1 ' -c ')"
    echo "simd: ${FRAMEPREC_SIMD:-auto (highest the CPU has)}"
    echo "load before: $(uptime)"
    [ $HAVE_TORCH = 1 ] && echo "torch: $($PY -c 'import torch; print(torch.__version__)')"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null) $(git diff --quiet 2>/dev/null || echo '(with local changes)')"
} >"$W/machine.txt"

# Cases.
CASES=""
for n in $SIZES; do
    "$BIN" gen protein --atoms "$n" --atomize-all --chains 1 -o "$W/protein-$n.h5" >/dev/null 2>&1 ||
        { echo "bench: gen $n failed"; exit 1; }
    CASES="$CASES $W/protein-$n.h5"
done
REAL=$($PY - <<'EOF'
import glob, h5py
best = None
for f in sorted(glob.glob("cases/*.h5")):
    try:
        with h5py.File(f, "r") as h:
            n = h["x"].shape[0] * h["x"].shape[1]
    except Exception:
        continue
    if best is None or n > best[0]:
        best = (n, f)
print(best[1] if best else "")
EOF
)
REAL_ALL=""
if [ -n "$REAL" ] && [ "${BENCH_REAL:-1}" = 1 ]; then
    REAL_ALL="$W/$(basename "$REAL" .h5)-all.h5" # the same file, run with --atomize-all
    ln -sf "$(cd "$(dirname "$REAL")" && pwd)/$(basename "$REAL")" "$REAL_ALL"
    CASES="$CASES $REAL $REAL_ALL"
fi
# extra frames flags of a case
case_flags() { [ "$1" = "$REAL_ALL" ] && echo "--atomize-all"; }

# Candidate pairs of a case: per sample, per atomized token whose start atom is
# present, the present atoms of its chain (what the driver evaluates).
for c in $CASES; do
    $PY - "$c" "$(case_flags "$c")" >>"$W/cases.jsonl" <<'EOF'
import h5py, json, sys
import numpy as np
p = sys.argv[1]
all_atoms = sys.argv[2] == "--atomize-all" 
with h5py.File(p, "r") as h:
    S, N = h["x"].shape[0], h["x"].shape[1]
    am = np.asarray(h["atom_mask"][()]).astype(bool)
    tm = np.asarray(h["token_mask"][()]).astype(bool)
    nat = np.asarray(h["num_atoms_per_token"][()]).astype(np.int64)
    asym = np.asarray(h["asym_id"][()]).astype(np.int64)
    start = np.asarray(h["start_atom_index"][()]).astype(np.int64)
    atz = np.asarray(h["is_atomized"][()]).astype(bool)
    name = h.attrs.get("name", b"")
name = name.decode() if isinstance(name, bytes) else str(name)
chain = np.zeros(N, dtype=np.int64)
walk = np.repeat(asym[tm], nat[tm])[:N]
chain[: walk.shape[0]] = walk
ids, counts = np.unique(chain[am], return_counts=True)
size = dict(zip(ids.tolist(), counts.tolist()))
if all_atoms:  # every present atom is an atomized token of its own
    st = np.nonzero(am)[0]
    name += "+atomize_all"
else:
    st = start[atz]
    st = st[am[st]]
pairs = S * int(sum(size[int(chain[s])] for s in st))
print(json.dumps({"file": p, "name": name, "S": int(S), "n_atom": int(N),
                  "n_token": int(len(st) if all_atoms else len(asym)),
                  "atomized": int(len(st) if all_atoms else atz.sum()), "pairs": pairs}))
EOF
done

BACKENDS=$("$BIN" backends | awk 'NR > 1 {print $1}')

run() { # case backend jobs tag search
    local c=$1 b=$2 j=$3 tag=$4 search=${5:-grid} out log
    out="$W/$(basename "$c" .h5).$b.j$j.$search.$tag.h5"
    log="$W/time.log"
    local rc wall rss sec cpu try
    # Runs under a second are timed three times and the fastest kept (with its wall
    # time, RSS and CPU share): on this shared machine one scheduler hiccup is a large
    # share of 40 ms. Grid and brute force get the same treatment.
    for try in 1 2 3; do
        ${BENCH_ENV:-} /usr/bin/time -v "$BIN" frames --backend "$b" -j "$j" --search "$search" \
            $(case_flags "$c") "$c" -o "$out" 2>"$log.$try"
        local trc=$?
        local tsec
        tsec=$(sed -n 's/.*valid frames, \([0-9.]*\) s (search.*/\1/p' "$log.$try")
        if [ "$try" = 1 ] || { [ "$trc" = 0 ] && [ -n "$tsec" ] &&
            awk -v a="$tsec" -v b="$sec" 'BEGIN { exit !(a < b) }'; }; then
            rc=$trc
            sec=$tsec
            cp "$log.$try" "$log"
        fi
        [ "$trc" = 0 ] && [ -n "$tsec" ] && awk -v a="$tsec" 'BEGIN { exit !(a < 1) }' || break
    done
    rm -f "$log.1" "$log.2" "$log.3"
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    cpu=$(sed -n 's/.*Percent of CPU this job got: \([0-9]*\)%.*/\1/p' "$log")
    # The level this run's kernels really used (FRAMEPREC_SIMD only lowers it).
    local ran
    ran=$(sed -n 's/.*simd \([a-z0-9]*\)).*/\1/p' "$log")
    "$PY" "$HERE/jsonline.py" file="$c" backend="$b" jobs:i="$j" tag="$tag" search="$search" \
        rc:i="$rc" wall:n="${wall:-}" rss_kb:n="${rss:-}" seconds:n="${sec:-}" cpu_pct:n="${cpu:-}" \
        simd="${ran:-${SIMD_RAN:-unknown}}" >>"$W/runs.jsonl"
    [ $rc = 0 ] || { echo "bench: $b -j $j on $c failed:"; tail -3 "$log"; }
    echo "${sec:-0}"
}

# Byte-for-byte comparison of two frames files -> one line of ident.jsonl.
ident() { # case backend kind fileA fileB
    $PY - "$@" >>"$W/ident.jsonl" <<'EOF'
import h5py, json, sys
c, b, kind, p1, p2 = sys.argv[1:]
try:
    with h5py.File(p1, "r") as f1, h5py.File(p2, "r") as f2:
        keys = sorted(k for k in f1.keys())
        same = keys == sorted(f2.keys()) and all(
            f1[k][()].tobytes() == f2[k][()].tobytes() for k in keys)
    print(json.dumps({"file": c, "backend": b, "kind": kind, "identical": bool(same), "datasets": keys}))
except Exception as e:  # noqa: BLE001
    print(json.dumps({"file": c, "backend": b, "kind": kind, "identical": False, "error": str(e)}))
EOF
}

# Which SIMD level the kernels run at (frameprec frames prints it).
SIMD_RAN=$("$BIN" frames -b exact_diff "$W/protein-$(echo $SIZES | awk '{print $1}').h5" -o "$W/simd.h5" 2>&1 |
    sed -n 's/.*simd \([a-z0-9]*\)).*/\1/p')
echo "simd: kernels ran at ${SIMD_RAN:-unknown}" >>"$W/machine.txt"

declare -A LAST_SEC LAST_PAIRS
for c in $CASES; do
    base=$(basename "$c" .h5)
    pairs=$(grep "\"file\": \"$c\"" "$W/cases.jsonl" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pairs"])')
    echo "bench: $base ($pairs candidate pairs)"
    for b in $BACKENDS; do
        F="$W/$base.$b"
        # grid, always (its cost does not grow with the pairs)
        [ $b = exact_diff ] && run "$c" "$b" 1 single grid >/dev/null
        run "$c" "$b" "$JOBS" multi grid >/dev/null
        # brute force, unless projected too long from the previous (smaller) case
        if [ -n "${LAST_SEC[$b]:-}" ]; then
            proj=$($PY -c "print(${LAST_SEC[$b]} * $pairs / max(1, ${LAST_PAIRS[$b]}))")
            if $PY -c "import sys; sys.exit(0 if $proj > $SMAX else 1)"; then
                "$PY" "$HERE/jsonline.py" file="$c" backend="$b" jobs:i="$JOBS" search=brute \
                    skipped="projected $(printf '%.0f' "$proj") s from the previous case > BENCH_MAX_SECONDS=$SMAX" \
                    >>"$W/runs.jsonl"
                rm -f "$F".*.h5
                continue
            fi
        fi
        case $b in
        exact_diff | chunked_fp32 | matmul | matmul_bf16)
            run "$c" "$b" 1 single brute >/dev/null
            s=$(run "$c" "$b" "$JOBS" multi brute)
            ident "$c" "$b" threads "$F.j1.brute.single.h5" "$F.j$JOBS.brute.multi.h5"
            ;;
        *) s=$(run "$c" "$b" "$JOBS" multi brute) ;;
        esac
        ident "$c" "$b" search "$F.j$JOBS.brute.multi.h5" "$F.j$JOBS.grid.multi.h5"
        if [ $b = exact_diff ] || [ $b = matmul_bf16 ]; then # the plain eval path, same bits, for the kernel's speed-up
            BENCH_ENV="env FRAMEPREC_FUSED=0" run "$c" "$b" 1 eval-path brute >/dev/null
            ident "$c" "$b" fused "$F.j1.brute.single.h5" "$F.j1.brute.eval-path.h5"
        fi
        # project from the largest case so far (a small real case's fixed costs would
        # project absurd times for a large one)
        if [ -z "${LAST_PAIRS[$b]:-}" ] || [ "$pairs" -gt "${LAST_PAIRS[$b]}" ]; then
            LAST_SEC[$b]=$s
            LAST_PAIRS[$b]=$pairs
        fi
        rm -f "$F".*.h5
    done
    if [ $HAVE_TORCH = 1 ] && [ "$c" != "$REAL_ALL" ]; then
        env "$TORCH_MALLOC" $PY "$HERE/torch_oracle.py" all "$c" --outdir "$W/torch" --threads "$JOBS" \
            --max-bytes "$TMAX" >>"$W/torch.jsonl"
        rm -rf "$W/torch"
    fi
done

# SIMD levels on the largest generated case, one thread (same frames at every level).
big=$(echo $SIZES | tr ' ' '\n' | sort -n | tail -1)
for lvl in scalar avx2 avx512; do
    for search in brute grid; do
        BENCH_ENV="env FRAMEPREC_SIMD=$lvl" run "$W/protein-$big.h5" exact_diff 1 "simd-$lvl" $search >/dev/null
    done
done

# PyTorch models for the skipped runs.
for c in $CASES; do
    n=$(grep "\"file\": \"$c\"" "$W/cases.jsonl" | $PY -c 'import json,sys; r=json.load(sys.stdin); print("%d,%d,%d" % (r["n_atom"], r["n_token"], r["S"]))')
    "$BIN" backends --torch-model "$n" | sed "s|^|$c |" >>"$W/models.txt"
done

# The whole corpus study as `make study` runs it (every case, both atomization modes, 6ZU5
# all-atomized included, offsets 0/10/100/1000), with the grid (the default) and with
# brute force: wall time, CPU share, peak RSS, and whether the results are the same
# (scripts/compare_studies.py: every per-token dataset and count; timings aside).
: >"$W/study.jsonl"
if [ "${BENCH_STUDY:-1}" = 1 ]; then
    for search in grid brute; do
        echo "bench: the corpus study, --search $search"
        /usr/bin/time -v "$BIN" study -j "$JOBS" -q --search $search -o "$W/study-$search" \
            >"$W/study-$search.out" 2>"$W/study-$search.log"
        rc=$?
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/study-$search.log" |
            awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/study-$search.log")
        cpu=$(sed -n 's/.*Percent of CPU this job got: \([0-9]*\)%.*/\1/p' "$W/study-$search.log")
        usr=$(sed -n 's/.*User time (seconds): //p' "$W/study-$search.log")
        "$PY" "$HERE/jsonline.py" search="$search" rc:i="$rc" wall:n="${wall:-}" rss_kb:n="${rss:-}" \
            cpu_pct:n="${cpu:-}" user:n="${usr:-}" >>"$W/study.jsonl"
    done
    $PY "$HERE/compare_studies.py" "$W/study-grid" "$W/study-brute" >>"$W/study.jsonl"
fi

echo "load after: $(uptime)" >>"$W/machine.txt"
$PY "$HERE/bench_report.py" --work "$W" --jobs "$JOBS" --bin "$BIN" -o "$OUT"
echo "bench: report in $OUT (scratch $W)"
