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
    if [ "$rc" = "$want" ] && grep -Eq -- "$re" "$T/err" "$T/out"; then
        ok "$what"
    else
        bad "$what: exit $rc (want $want), output:"; cat "$T/err" "$T/out" | head -5
    fi
}

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

[ $fail = 0 ] && echo "check_trust: all passed" || echo "check_trust: FAILED"
exit $fail
