#!/usr/bin/env bash
# oracle_gpu.sh BIN — `make oracle-gpu` (issue 14): the real GPU as evidence.
# On a machine with CUDA (python3-torch built with CUDA, a device visible), runs
# OpenFold3's frame-atom function through scripts/torch_frames.py on the GPU — the
# original difference formula and the torch.cdist version, each under float32 matmul
# precision "highest" and "high" (what OpenFold3 sets) — over the cases below, imports
# the four runs into a frameprec study (SPEC §11) and writes reports/GPU.md: per case,
# how many atomized tokens' picks differ from each frameprec emulation (matmul's fma and
# orders, every matmul_tf32 round/acc option, exact_diff) and from the truth.
# Without CUDA: prints "oracle-gpu: SKIPPED: no CUDA device" and exits 0.
# Environment: GPU_CASES (default: the corpus cases with at most GPU_MAX_ATOMS atoms, plus
# generated ones), GPU_MAX_ATOMS (default 30000: the original formula holds ~29 N^2 bytes
# on the device, 26 GB at 30k atoms), GPU_OFFSETS (default 0,1000), GPU_MODES (default
# native,all),
# GPU_MAX_ATOMIZE_ALL (default 20000), GPU_OUT (default reports/GPU.md), GPU_WORK
# (scratch, default a fresh temporary folder), GPU_DEVICE (default cuda; "cpu" is a dry run
# of the whole pipeline on the CPU, for tests/check_oracle_gpu.sh — its report says so).
set -u
BIN=${1:-build/frameprec}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
DEV=${GPU_DEVICE:-cuda}
if [ "$DEV" = cuda ] &&
   ! $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() and torch.cuda.device_count() > 0 else 1)' 2>/dev/null; then
    echo "oracle-gpu: SKIPPED: no CUDA device"
    exit 0
fi
[ -x "$BIN" ] || { echo "oracle-gpu: no frameprec binary at $BIN (make first)"; exit 2; }
OUT=${GPU_OUT:-reports/GPU.md}
OFFS=${GPU_OFFSETS:-0,1000}
MODES=${GPU_MODES:-native,all}
MAXA=${GPU_MAX_ATOMS:-30000}
MAXALL=${GPU_MAX_ATOMIZE_ALL:-20000}
WORK=${GPU_WORK:-$(mktemp -d /tmp/frameprec-gpu.XXXXXX)}
mkdir -p "$WORK/cases" "$(dirname "$OUT")"
[ "$DEV" = cuda ] && $PY -c 'import torch; print("oracle-gpu: torch %s, CUDA %s, %s" % (torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0)))'

if [ -z "${GPU_CASES:-}" ]; then
    "$BIN" gen ligands -o "$WORK/cases/gen-ligands.h5" >/dev/null
    "$BIN" gen nucleic -o "$WORK/cases/gen-nucleic.h5" >/dev/null
    "$BIN" gen protein --atoms 3000 --chains 3 --ligand-atoms 60 --missing 0.05 --samples 2 \
        -o "$WORK/cases/gen-protein-3000.h5" >/dev/null
    CASES="$WORK/cases/gen-ligands.h5 $WORK/cases/gen-nucleic.h5 $WORK/cases/gen-protein-3000.h5"
    for c in cases/*.h5; do
        [ -f "$c" ] || continue
        n=$("$BIN" info "$c" | sed -n 's/^atoms *\([0-9]*\).*/\1/p')
        [ -n "$n" ] && [ "$n" -le "$MAXA" ] && CASES="$CASES $c"
    done
else
    CASES=$GPU_CASES
fi

fail=0
runs=""
for fn in original cdist; do
    for prec in highest high; do
        lab="${DEV/cuda/gpu}_${fn}_${prec}"
        echo "oracle-gpu: $lab"
        # shellcheck disable=SC2086
        if $PY "$HERE/torch_frames.py" $CASES -o "$WORK/$lab" --function "builtin:$fn" \
            --device "$DEV" --matmul-precision "$prec" --offsets "$OFFS" --modes "$MODES" \
            --max-atomize-all "$MAXALL" >"$WORK/$lab.log" 2>&1; then
            runs="$runs $lab=$WORK/$lab"
        else
            echo "oracle-gpu: torch_frames.py $lab failed:"; tail -5 "$WORK/$lab.log"; fail=1
        fi
    done
done
[ -n "$runs" ] || { echo "oracle-gpu: no GPU run succeeded"; exit 1; }
imports=""
for r in $runs; do imports="$imports --import $r"; done
# shellcheck disable=SC2086
"$BIN" study $CASES --offsets "$OFFS" --modes "$MODES" --max-atomize-all "$MAXALL" \
    -j "$(nproc)" -q -o "$WORK/study" $imports || { echo "oracle-gpu: study --import failed"; fail=1; }
# shellcheck disable=SC2086
$PY "$HERE/gpu_report.py" --bin "$BIN" --work "$WORK" -o "$OUT" $runs || fail=1
echo "oracle-gpu: report in $OUT (scratch $WORK; the study with the GPU rows: $WORK/study)"
exit $fail
