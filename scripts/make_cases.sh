#!/bin/bash
# make_cases.sh — rebuild the committed corpus cases/ from Debian packages (`make cases`).
#
# Every case comes from a real PDB entry shipped in a Debian package (list and options:
# scripts/corpus_cases.txt). The packages are fetched with `apt-get download` and
# unpacked with `dpkg -x` into a temporary folder: nothing is installed and nothing is
# pinned; the version used is recorded in cases/MANIFEST.md and in each case's `source`
# attribute. Then every case is validated (scripts/corpus_check.py: SPEC §7 and Appendix A)
# and, when a frameprec binary is at hand ($FRAMEPREC, else $BUILD/frameprec, else
# build/frameprec), checked by `frameprec info` and run through `frameprec frames` with
# every backend that `frameprec backends` lists.
#
#   bash scripts/make_cases.sh            rebuild cases/ in place
#   bash scripts/make_cases.sh --check    rebuild into a temporary folder and compare
#                                         byte for byte with cases/ (exit 1 on difference)
# Environment: CASES_DIR (default cases), FRAMEPREC, NO_FRAMES=1 to skip the binary runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
TABLE=scripts/corpus_cases.txt
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

if ! $PY -c 'import gemmi, h5py, numpy' 2>/dev/null; then
    echo "make_cases: needs python3-gemmi python3-h5py python3-numpy (make pydeps)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $CHECK = 1 ]; then OUT=$work/cases; else OUT=${CASES_DIR:-cases}; fi
mkdir -p "$OUT" "$work/debs" "$work/pkg"

# ---- fetch and unpack the packages
packages=$(awk '!/^[[:space:]]*#/ && NF {print $3}' $TABLE | sort -u)
: > "$work/versions"
for p in $packages; do
    if ! (cd "$work/debs" && apt-get download -q "$p" >/dev/null 2>&1); then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq
            (cd "$work/debs" && apt-get download -q "$p" >/dev/null)
        else
            echo "make_cases: apt-get download $p failed (run apt-get update?)" >&2
            exit 1
        fi
    fi
    deb=$(ls "$work/debs/${p}_"*.deb)
    ver=$(dpkg-deb -f "$deb" Version)
    dpkg -x "$deb" "$work/pkg/$p"
    echo "$p $ver" >> "$work/versions"
    echo "make_cases: $p $ver"
done

# ---- convert
rm -f "$OUT"/*.h5
while read -r name entry pkg path opts _; do
    case "$name" in ''|'#'*) continue ;; esac
    ver=$(awk -v p="$pkg" '$1 == p {print $2}' "$work/versions")
    args=()
    [ "$opts" != - ] && IFS=, read -r -a args <<< "$opts"
    $PY scripts/cif2case.py "$work/pkg/$pkg/$path" -o "$OUT/$name.h5" --name "$name" \
        --entry "$entry" --origin "Debian package $pkg $ver, /$path" "${args[@]}"
done < $TABLE

# ---- validate
$PY scripts/corpus_check.py check "$OUT"/*.h5

FP=${FRAMEPREC:-${BUILD:-build}/frameprec}
if [ "${NO_FRAMES:-0}" != 1 ] && [ -x "$FP" ]; then
    backends=$("$FP" backends | awk 'NR > 1 && NF {print $1}' | grep -v -e '^-' -e '^name$' || true)
    echo "make_cases: running $FP frames with backends:" $backends
    fail=0
    for c in "$OUT"/*.h5; do
        if ! "$FP" info "$c" > "$work/info.log" 2>&1; then
            echo "make_cases: FAIL $FP info $c"; cat "$work/info.log"; fail=1
        fi
        for b in $backends; do
            if ! "$FP" frames --backend "$b" "$c" -o "$work/frames.h5" > "$work/frames.log" 2>&1; then
                echo "make_cases: FAIL $FP frames --backend $b $c"; cat "$work/frames.log"; fail=1
            fi
        done
        echo "make_cases: $c: frameprec info and frames (every backend) done"
    done
    [ $fail = 0 ] || { echo "make_cases: frameprec frames failed on some case"; exit 1; }
else
    echo "make_cases: no frameprec binary at $FP (or NO_FRAMES=1): frames runs skipped"
fi

# ---- manifest and checksums
$PY scripts/corpus_check.py manifest $TABLE "$work/versions" "$OUT" > "$OUT/MANIFEST.md"
(cd "$OUT" && sha256sum *.h5 > SHA256SUMS)
du -sh "$OUT"

if [ $CHECK = 1 ]; then
    if diff -r "$OUT" "${CASES_DIR:-cases}" > "$work/diff" 2>&1; then
        echo "make_cases: --check: rebuilt corpus is identical to ${CASES_DIR:-cases}/ byte for byte"
    else
        cat "$work/diff"
        echo "make_cases: --check: rebuilt corpus DIFFERS from ${CASES_DIR:-cases}/"
        exit 1
    fi
fi
