#!/bin/bash
# check_search.sh — SPEC §12 on real structures: for every backend, `frames --search grid`
# writes a frames file identical to `--search brute` (h5diff: every dataset, bit for bit:
# indices, phi, valid_frame_mask, top values, the truth's ties and margins), in both
# atomization modes and at offsets 0 and 1000 Å.
# Env: FRAMEPREC = binary (default build/frameprec); CASES = the case files (default: a
# fast subset of the corpus; `make bench` passes the whole corpus).
set -u
FP=${FRAMEPREC:-build/frameprec}
cd "$(dirname "$0")/.."
CASES=${CASES:-"cases/133d.h5 cases/1as5.h5 cases/1ubi.h5 cases/3mht.h5"}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
n=0
backends=$("$FP" backends | awk 'NR > 1 && $1 ~ /^[a-z0-9_]+$/ {print $1}')
[ -n "$backends" ] || { echo "check_search: no backends listed"; exit 1; }
for c in $CASES; do
  [ -f "$c" ] || { echo "check_search: $c missing"; exit 1; }
  for mode in native all; do
    for off in 0 1000; do
      extra=""
      [ $mode = all ] && extra="--atomize-all"
      for b in $backends; do
        "$FP" frames -q -b "$b" --search brute $extra --translate $off "$c" -o "$T/brute.h5" &&
          "$FP" frames -q -b "$b" --search grid -j 2 $extra --translate $off "$c" -o "$T/grid.h5" ||
          { echo "FAIL frames $b $c $mode $off"; fail=1; continue; }
        if h5diff -q "$T/brute.h5" "$T/grid.h5" >/dev/null 2>&1; then
          n=$((n + 1))
        else
          echo "FAIL grid differs from brute: $b $c $mode offset $off"; fail=1
        fi
      done
    done
  done
done
# every SIMD level gives the same bits (the fused kernels of exact_diff and the identity, the scans of values and of sums)
c=$(echo $CASES | awk '{print $NF}')
for b in exact_diff matmul matmul_bf16 cdist_direct; do
  for s in brute grid; do
    "$FP" frames -q -b $b --search $s --atomize-all "$c" -o "$T/auto.h5" || fail=1
    for lvl in scalar avx2 avx512; do
      FRAMEPREC_SIMD=$lvl "$FP" frames -q -b $b --search $s --atomize-all "$c" -o "$T/lvl.h5" || fail=1
      h5diff -q "$T/auto.h5" "$T/lvl.h5" >/dev/null 2>&1 && n=$((n + 1)) ||
        { echo "FAIL FRAMEPREC_SIMD=$lvl differs: $b --search $s $c"; fail=1; }
    done
  done
done
[ $fail = 0 ] && echo "check_search: all $n comparisons identical (grid = brute for every backend, native and atomize-all, offsets 0, 1000; every SIMD level)" ||
  echo "check_search: FAILED"
exit $fail
