#!/usr/bin/env bash
# oracle.sh BIN — PyTorch as the oracle (issue 8; `make oracle`).
# Runs scripts/torch_oracle.py (Debian's python3-torch, /usr/bin/python3) over the
# corpus cases that fit in memory here plus a few generated ones, runs frameprec on the
# same cases, compares them token by token (scripts/oracle_compare.py), measures the
# PyTorch formulations' peak memory at several sizes against each backend's SPEC §6
# model, and writes reports/ORACLE.md. Exit status 1 when exact_diff does not pick
# exactly like PyTorch's original formula outside exact computed ties, or when the
# float-mask and boolean-mask formulations are not bit-identical.
# Environment: ORACLE_CASES (case files; default cases/*.h5 + generated),
# ORACLE_MAX_BYTES (default 12e9: skip a formulation whose estimated peak is larger),
# ORACLE_THREADS (default 2, for PyTorch and frameprec alike), ORACLE_SIZES (memory
# sweep, default "1000 2000 4000 8000"; empty to skip), ORACLE_OUT (report path),
# ORACLE_WORK (scratch folder, default a fresh temporary one).
set -u
BIN=${1:-build/frameprec}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${ORACLE_OUT:-reports/ORACLE.md}
MAXB=${ORACLE_MAX_BYTES:-12e9}
THREADS=${ORACLE_THREADS:-2}
SIZES=${ORACLE_SIZES-1000 2000 4000 8000}
WORK=${ORACLE_WORK:-$(mktemp -d /tmp/frameprec-oracle.XXXXXX)}
mkdir -p "$WORK" "$(dirname "$OUT")"

if ! $PY -c 'import torch, h5py, numpy' 2>/dev/null; then
    echo "oracle: python3-torch (and python3-h5py, python3-numpy) not installed for $PY;"
    echo "        install with: sudo apt-get install -y python3-torch python3-h5py python3-numpy"
    exit 2
fi
[ -x "$BIN" ] || { echo "oracle: no frameprec binary at $BIN (make first)"; exit 2; }

# Large allocations straight from mmap, so freed tensors leave the RSS at once and the
# measured high-water mark is the tensors alive together (glibc's adaptive threshold
# would otherwise keep freed 10-30 MB blocks resident and inflate chunked forms).
export MALLOC_MMAP_THRESHOLD_=131072

: >"$WORK/torch.jsonl"
: >"$WORK/cmp.jsonl"
: >"$WORK/fpr.jsonl"
: >"$WORK/mem.jsonl"

# Generated cases: known ties and fillers (ligands), nucleotides, an all-atomized
# protein, several chains with masked atoms and ligands.
gen() { "$BIN" gen "$@" >/dev/null 2>&1 || echo "oracle: gen $* failed"; }
if [ -z "${ORACLE_CASES:-}" ]; then
    gen ligands -o "$WORK/gen-ligands.h5"
    gen nucleic -o "$WORK/gen-nucleic.h5"
    gen protein --atoms 2000 --atomize-all -o "$WORK/gen-protein-2000-all.h5"
    gen protein --atoms 3000 --chains 3 --ligand-atoms 60 --missing 0.05 --samples 2 \
        -o "$WORK/gen-protein-3000-3ch.h5"
    CASES="$WORK/gen-ligands.h5 $WORK/gen-nucleic.h5 $WORK/gen-protein-2000-all.h5 \
$WORK/gen-protein-3000-3ch.h5 $(ls cases/*.h5 2>/dev/null | tr '\n' ' ')"
else
    CASES=$ORACLE_CASES
fi

fpr_run() { # case backend params label
    local c=$1 be=$2 par=$3 lab=$4 base out log
    base=$(basename "$c" .h5)
    out="$WORK/$base.$lab.h5"
    log=$("$BIN" frames --backend "$be" ${par:+-p "$par"} -j "$THREADS" "$c" -o "$out" 2>&1)
    local rc=$?
    local sec
    sec=$(printf '%s\n' "$log" | sed -n 's/.*valid frames, \([0-9.]*\) s .*/\1/p')
    "$PY" "$HERE/jsonline.py" file="$c" label="$lab" rc:i="$rc" seconds:n="${sec:-}" >>"$WORK/fpr.jsonl"
    [ $rc = 0 ] || echo "oracle: frameprec $be on $c failed: $log"
}

cmp_run() { # case ref other mode label
    local c=$1 base
    base=$(basename "$c" .h5)
    [ -f "$WORK/$base.$2.h5" ] && [ -f "$WORK/$base.$3.h5" ] || return 0
    $PY "$HERE/oracle_compare.py" "$c" "$WORK/$base.$2.h5" "$WORK/$base.$3.h5" \
        --ties "$4" --label "$base|$5" >>"$WORK/cmp.jsonl"
}

for c in $CASES; do
    [ -f "$c" ] || continue
    base=$(basename "$c" .h5)
    echo "oracle: $base"
    $PY "$HERE/torch_oracle.py" all "$c" --outdir "$WORK" --threads "$THREADS" \
        --max-bytes "$MAXB" >>"$WORK/torch.jsonl"
    fpr_run "$c" exact_diff "" exact_diff
    fpr_run "$c" matmul "" matmul
    fpr_run "$c" matmul "fma=0" matmul_nofma
    fpr_run "$c" cdist_direct "" cdist_direct
    fpr_run "$c" cdist_direct "fma=0" cdist_direct_nofma
    # the direct kernel as PyTorch's DEFAULT CPU capability builds it (no FMA); only
    # where the default-dispatch run fitted (--max-bytes)
    if [ -f "$WORK/$base.torch_cdist_nomm.h5" ]; then
        ATEN_CPU_CAPABILITY=default $PY "$HERE/torch_oracle.py" run "$c" --form cdist_nomm \
            --threads "$THREADS" -o "$WORK/$base.torch_cdist_nomm_default.h5" >/dev/null 2>&1 ||
            echo "oracle: torch cdist_nomm (ATEN_CPU_CAPABILITY=default) on $c failed"
    fi
    for f in orig bool rows chunked atomized_rows; do
        cmp_run "$c" exact_diff "torch_$f" diff "exact_diff vs torch $f"
    done
    cmp_run "$c" torch_orig torch_bool none "torch orig (float mask) vs bool mask"
    cmp_run "$c" matmul torch_cdist values "matmul (seq, fma=1) vs torch cdist"
    cmp_run "$c" matmul_nofma torch_cdist values "matmul fma=0 vs torch cdist"
    cmp_run "$c" cdist_direct torch_cdist_nomm values "cdist_direct vs torch cdist donot_use_mm"
    cmp_run "$c" cdist_direct_nofma torch_cdist_nomm_default values \
        "cdist_direct fma=0 vs torch cdist donot_use_mm, ATEN_CPU_CAPABILITY=default"
    rm -f "$WORK/$base".*.h5
done

# Memory: PyTorch measured peaks vs the backends' and the candidates' models, on
# all-atomized proteins (T = A = N) and on the same proteins as residues (T ~ N/8, no
# atomized token: the seed's out-of-memory monomer in small).
for n in $SIZES; do
  for kind in all native; do
    c="$WORK/mem-$n-$kind.h5"
    if [ $kind = all ]; then gen protein --atoms "$n" --atomize-all -o "$c"
    else gen protein --atoms "$n" -o "$c"; fi
    echo "oracle: memory at $n atoms ($kind)"
    $PY "$HERE/torch_oracle.py" all "$c" --outdir "$WORK/mem" --threads "$THREADS" \
        --max-bytes "$MAXB" >>"$WORK/mem.jsonl"
    $PY - "$c" "$BIN" >>"$WORK/cand-models.txt" <<'PYEOF'
import subprocess, sys, h5py
with h5py.File(sys.argv[1], "r") as h:
    S, N = h["x"].shape[0], h["x"].shape[1]
    T, A = h["restype"].shape[0], int((h["is_atomized"][()] > 0).sum())
out = subprocess.run([sys.argv[2], "candidates", "--torch-model", "%d,%d,%d,%d" % (N, T, A, S)],
                     capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    print("%d %d %d %s" % (N, T, A, line))
PYEOF
    "$BIN" backends --torch-model "$n" >"$WORK/model-$n.txt"
    "$BIN" backends --torch-model "$n" --backend chunked_fp32 \
        --params "rows=1024,cols=$n" | sed 's/^chunked_fp32/chunked_fp32@rows=1024,cols=N/' \
        >>"$WORK/model-$n.txt"
    rm -rf "$WORK/mem" "$c"
  done
done

$PY "$HERE/oracle_report.py" --work "$WORK" --bin "$BIN" --threads "$THREADS" -o "$OUT"
rc=$?
echo "oracle: report in $OUT (scratch $WORK)"
exit $rc
