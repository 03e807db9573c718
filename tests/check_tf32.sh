#!/usr/bin/env bash
# check_tf32.sh — matmul_tf32 against an independent numpy emulation of PyTorch's cdist
# under TF32 (tests/tf32_numpy.py; issue 14): pick for pick on every atomized token of a
# generated two-chain protein at 0 and 100 Å, for the default (round to nearest, ties
# away) and for every round/acc option; and the emulation must tell the options apart
# (the default's frames disagree with numpy's round=zero), so the check can fail.
# Skipped, saying so, without python3-h5py / python3-numpy. Env: FRAMEPREC, BUILD.
set -u
BIN=${FRAMEPREC:-${BUILD:-build}/frameprec}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
    echo "check_tf32: SKIPPED: python3-h5py / python3-numpy not installed"
    exit 0
fi
W=$(mktemp -d /tmp/frameprec-check-tf32.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
"$BIN" gen protein --atoms 1200 --chains 2 --ligand-atoms 30 --missing 0.05 --samples 2 \
    --atomize-all -o "$W/p.h5" >/dev/null 2>&1 || { echo "check_tf32: gen failed"; exit 1; }
run() { # offset params numpy-args...
    local off=$1 par=$2
    shift 2
    "$BIN" frames -q --backend matmul_tf32 ${par:+--params "$par"} --translate "$off" \
        "$W/p.h5" -o "$W/f.h5" || return 2
    $PY "$HERE/tf32_numpy.py" "$W/p.h5" "$W/f.h5" --translate "$off" "$@"
}
for off in 0 100; do
    for spec in ":" "round=zero:--round zero" "round=nearest_even:--round nearest_even" \
                "acc=tc:--acc tc" "acc=tc,round=zero:--acc tc --round zero"; do
        par=${spec%%:*}
        args=${spec#*:}
        # shellcheck disable=SC2086
        out=$(run "$off" "$par" $args)
        rc=$?
        echo "check_tf32: +$off A, matmul_tf32 ${par:-(default)} vs numpy: $out"
        [ $rc = 0 ] || fail=1
    done
    out=$(run "$off" "" --round zero)
    if [ $? = 0 ]; then
        echo "check_tf32: FAIL: the default's picks equal numpy's round=zero at +$off A: the check cannot tell roundings apart"
        fail=1
    else
        echo "check_tf32: +$off A, default vs numpy round=zero differ as they must: $(echo "$out" | cut -c1-60)"
    fi
done
[ $fail = 0 ] && echo "check_tf32: passed" || echo "check_tf32: FAILED"
exit $fail
